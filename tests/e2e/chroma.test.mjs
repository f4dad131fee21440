// The chroma demo in headless Chromium: the fake camera shows a green screen with a moving ball
// (made with GStreamer's videotestsrc); after calibration on the green, the page's remote video
// shows the chosen background image where the green was.
//
// Environment: RHEO_HTTP_URL (http://host:port; the page finds /kurento on the same host).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ARTIFACTS, HTTP_URL, artifact, launchChromium, saveDataUrl, tracePage } from './lib/harness.mjs';

const MEDIA_TIMEOUT = 45000;

/** 5 s of 640x480@30 I420: a red ball bouncing over a flat green background. */
function greenScreenY4m() {
  const out = path.join(ARTIFACTS, 'greenscreen-640x480.y4m');
  execFileSync('gst-launch-1.0', ['-q',
    'videotestsrc', 'pattern=ball', 'background-color=0xff20b040', 'foreground-color=0xffe02020',
    'num-buffers=150', '!', 'video/x-raw,width=640,height=480,framerate=30/1', '!',
    'videoconvert', '!', 'video/x-raw,format=I420', '!', 'y4menc', '!', 'filesink', `location=${out}`],
  { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60000 });
  return out;
}

/** Fractions of the remote frame that look like the green screen and like the sunset image. */
async function analyse(page) {
  return page.evaluate(() => {
    const video = document.querySelector('#remote-video');
    if (!video || !video.videoWidth) return null;
    const w = video.videoWidth;
    const h = video.videoHeight;
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.drawImage(video, 0, 0, w, h);
    const px = g.getImageData(0, 0, w, h).data;
    let green = 0;
    let sunset = 0;
    for (let y = 0; y < h; y++) {
      // The sunset background (web/chroma/img/make-backgrounds.py) is a vertical gradient:
      // its expected colour depends on the row only (the sun disc aside).
      const t = y / (h - 1);
      const er = 40 + 215 * t;
      const eg = 20 + 110 * t;
      const eb = 90 - 60 * t;
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 4;
        const r = px[i];
        const gr = px[i + 1];
        const b = px[i + 2];
        if (gr > r + 60 && gr > b + 40) green++;
        if (Math.abs(r - er) < 40 && Math.abs(gr - eg) < 40 && Math.abs(b - eb) < 40) sunset++;
      }
    }
    return { width: w, height: h, green: green / (w * h), sunset: sunset / (w * h), dataUrl: canvas.toDataURL('image/png') };
  });
}

let browser;
before(async () => {
  browser = await launchChromium({ y4m: greenScreenY4m() });
});
after(async () => {
  if (browser) await browser.close();
});

describe('chroma demo', () => {
  test('replaces the green screen with the chosen background', { timeout: 120000 }, async () => {
    const page = await browser.newPage();
    tracePage(page, 'chroma');
    try {
      await page.goto(`${HTTP_URL}/chroma/`, { timeout: 20000 });
      await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
      await page.selectOption('#background', 'img/sunset.png');
      await page.click('#start');
      // Calibration takes the first ~60 frames; wait well past it.
      await page.waitForFunction(() => window.demoState.remoteFrames > 150 || window.demoState.error,
        null, { timeout: MEDIA_TIMEOUT, polling: 250 });
      const state = await page.evaluate(() => window.demoState);
      assert.equal(state.error, null, `the page shows an error: ${state.error}`);
      let frame = null;
      const deadline = Date.now() + 20000;
      while (Date.now() < deadline) {
        frame = await analyse(page);
        if (frame && frame.sunset > 0.6 && frame.green < 0.02) break;
        await page.waitForTimeout(250);
      }
      saveDataUrl(frame.dataUrl, 'chroma-remote-frame.png');
      await page.screenshot({ path: artifact('chroma.png') });
      console.log(`[chroma] ${frame.width}x${frame.height}: green ${(frame.green * 100).toFixed(1)}%, sunset ${(frame.sunset * 100).toFixed(1)}%`);
      assert.ok(frame.green < 0.02, `green left in the picture: ${frame.green}`);
      assert.ok(frame.sunset > 0.6, `background visible: ${frame.sunset}`);
      await page.click('#stop');
      await page.waitForFunction(() => window.demoState.state === 'stopped', null, { timeout: 15000 });
    } finally {
      await page.close();
    }
  });
});
