// The browser demos in web/, served by Rheo itself, driven in headless Chromium with a fake
// camera that shows a real photo with a face (opencv-doc's messi5.jpg; see lib/harness.mjs).
//
// Environment: RHEO_HTTP_URL (http://host:port; the pages find /kurento on the same host).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import {
  FACE_BOX, HAT_BOX, HAT_MIN_FRACTION, HTTP_URL, NO_HAT_MAX_FRACTION, analyseVideoFrame, artifact,
  captionPixels, launchChromium, saveDataUrl, tracePage, turnedCameraY4m, turnedFaceCentre, waitUntil,
} from './lib/harness.mjs';

const MEDIA_TIMEOUT = 45000;
const HAT_TIMEOUT = 20000;

let browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  if (browser) await browser.close();
});

/**
 * The direction from the face's centre to the hat's, in degrees clockwise from straight up: the
 * magic mirror's hat (offset -0.35, -1.2, size 1.6 face sizes) sits 3° left of the head's up.
 */
function hatDirection(frame, faceCentre) {
  const [dx, dy] = [(frame.centroid.x - faceCentre.x) * frame.width, (frame.centroid.y - faceCentre.y) * frame.height];
  return (Math.atan2(dx, -dy) * 180) / Math.PI;
}

/**
 * GStreamer's WHIP/WHEP client elements (built by scripts/build-webrtchttp.sh before the tests
 * enter their network namespace), and an interface for their ICE: libnice never gathers on
 * loopback, the namespace's only one, so a veth pair inside it gives them an address.
 */
function whipClientPlugins() {
  const root = new URL('../..', import.meta.url).pathname;
  const dir = execFileSync('bash', [`${root}/scripts/build-webrtchttp.sh`], { encoding: 'utf8' }).trim();
  if (process.env.RHEO_IN_LOOPBACK_NS === '1') {
    const ip = (args) => { try { execFileSync('ip', args.split(' '), { stdio: 'ignore' }); } catch { /* exists */ } };
    ip('link add rheo-whip0 type veth peer name rheo-whip1');
    ip('addr add 10.254.0.1/32 dev rheo-whip0');
    ip('link set rheo-whip0 up');
    ip('link set rheo-whip1 up');
  }
  return dir;
}

/**
 * A 640x480 I420 Y4M clip whose frame n carries n in its picture: ten 64-pixel squares along the
 * top, white where n's bit is set (the server's tests' frame code).
 */
function frameCodedY4m(out, frames) {
  const [w, h] = [640, 480];
  const fd = openSync(out, 'w');
  writeSync(fd, `YUV4MPEG2 W${w} H${h} F30:1 Ip A1:1 C420jpeg\n`);
  const frame = Buffer.alloc(w * h * 3 / 2, 128);
  for (let n = 0; n < frames; n++) {
    for (let bit = 0; bit < 10; bit++) {
      const value = (n >> bit) & 1 ? 235 : 16;
      for (let y = 0; y < 64; y++) frame.fill(value, y * w + bit * 64, y * w + bit * 64 + 64);
    }
    writeSync(fd, 'FRAME\n');
    writeSync(fd, frame);
  }
  closeSync(fd);
  return out;
}

/** Open a demo, press Start and wait for more than 30 frames of the returned video. */
async function startDemo(demo, context = browser, query = '') {
  const page = await context.newPage();
  tracePage(page, demo);
  await page.goto(`${HTTP_URL}/${demo}/${query}`, { timeout: 20000 });
  await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
  await page.click('#start');
  try {
    await page.waitForFunction(
      () => window.demoState.remoteFrames > 30 || window.demoState.error,
      null, { timeout: MEDIA_TIMEOUT, polling: 250 });
  } catch (e) {
    const state = await page.evaluate(() => window.demoState).catch(() => null);
    await page.screenshot({ path: artifact(`${demo}-timeout.png`) }).catch(() => {});
    throw new Error(`${demo}: no remote video after ${MEDIA_TIMEOUT} ms; demoState ${JSON.stringify(state)}`);
  }
  const state = await page.evaluate(() => window.demoState);
  console.log(`[${demo}] frames ${state.remoteFrames}, media ${state.mediaState}, flow out ${state.flowOut}, ICE ${state.iceState}`);
  if (state.error) await page.screenshot({ path: artifact(`${demo}-error.png`) }).catch(() => {});
  assert.equal(state.error, null, `${demo} shows an error`);
  assert.ok(state.remoteFrames > 30, `${demo}: remote frames ${state.remoteFrames}`);
  const shownError = await page.locator('#error').isVisible();
  assert.equal(shownError, false, 'no error is shown on the page');
  return page;
}

async function stopDemo(page) {
  await page.click('#stop');
  await page.waitForFunction(() => window.demoState.state === 'stopped', null, { timeout: 15000 });
  const state = await page.evaluate(() => window.demoState);
  assert.equal(state.error, null, `stopping shows an error: ${state.error}`);
}

describe('browser demos', () => {
  test('index links both demos', { timeout: 30000 }, async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${HTTP_URL}/`, { timeout: 20000 });
      const links = await page.$$eval('a', (as) => as.map((a) => a.getAttribute('href')));
      assert.ok(links.some((h) => h.includes('helloworld')), `links: ${links}`);
      assert.ok(links.some((h) => h.includes('magicmirror')), `links: ${links}`);
      assert.ok(links.some((h) => h.includes('recorder')), `links: ${links}`);
      assert.ok(links.some((h) => h.includes('player')), `links: ${links}`);
      assert.ok(links.some((h) => h.includes('datachannel')), `links: ${links}`);
      assert.ok(links.some((h) => h.includes('rtpreceiver')), `links: ${links}`);
      assert.ok(links.some((h) => h.includes('obs')), `links: ${links}`);
      const hat = await page.request.get(`${HTTP_URL}/magicmirror/img/hat.png`);
      assert.equal(hat.status(), 200);
      assert.match(hat.headers()['content-type'] || '', /image\/png/);
    } finally {
      await page.close();
    }
  });

  test('hello world page plays the returned video, without a hat', { timeout: 90000 }, async () => {
    const page = await startDemo('helloworld');
    try {
      const frame = await analyseVideoFrame(page, '#remote-video', HAT_BOX);
      assert.ok(frame, 'the remote video has a frame');
      saveDataUrl(frame.dataUrl, 'helloworld-remote-frame.png');
      await page.screenshot({ path: artifact('helloworld.png') });
      console.log(`[helloworld] remote ${frame.width}x${frame.height}, hat-coloured pixels ${frame.total}`);
      assert.ok(frame.totalFraction <= NO_HAT_MAX_FRACTION,
        `no hat colour without the filter (found ${frame.total} px)`);
      // The loopback-stats figure: end-to-end latency inside the server, from getStats.
      await page.waitForFunction(() => window.demoState.e2eLatencyMs > 0, null, { timeout: 15000, polling: 250 });
      const latency = await page.evaluate(() => window.demoState.e2eLatencyMs);
      console.log(`[helloworld] E2E latency in the server ${latency.toFixed(2)} ms`);
      assert.ok(latency < 1000, `E2E latency ${latency} ms`);
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  test('magic mirror page puts the hat above the face', { timeout: 90000 }, async () => {
    const page = await startDemo('magicmirror');
    try {
      let frame = null;
      try {
        // Face detection may take a few frames to lock on: wait for the hat, with a timeout.
        frame = await waitUntil(async () => {
          const f = await analyseVideoFrame(page, '#remote-video', HAT_BOX);
          return f && f.inBoxFraction >= HAT_MIN_FRACTION ? f : ((frame = f), null);
        }, HAT_TIMEOUT, 'hat-coloured pixels above the face', 300);
      } finally {
        if (frame) {
          saveDataUrl(frame.dataUrl, 'magicmirror-remote-frame.png');
          console.log(`[magicmirror] remote ${frame.width}x${frame.height}, hat-coloured pixels ${frame.total}, ` +
            `in the box ${frame.inBox}, centroid ${JSON.stringify(frame.centroid)}`);
        }
        await page.screenshot({ path: artifact('magicmirror.png') }).catch(() => {});
      }
      // The hat sits on the head: its centre is above the middle of the face and roughly
      // over it horizontally.
      const faceMidY = (FACE_BOX.y0 + FACE_BOX.y1) / 2;
      assert.ok(frame.centroid.y < faceMidY, `hat centre y ${frame.centroid.y.toFixed(3)} above face centre ${faceMidY.toFixed(3)}`);
      assert.ok(frame.centroid.x > FACE_BOX.x0 - 0.1 && frame.centroid.x < FACE_BOX.x1 + 0.1,
        `hat centre x ${frame.centroid.x.toFixed(3)} over the face (${FACE_BOX.x0.toFixed(3)}..${FACE_BOX.x1.toFixed(3)})`);
      // Upright head (BlazeFace measures -1.3° on this picture): the hat stands straight up (FACE_BOX
      // is Haar's box, whose centre is 12 px right of BlazeFace's: about 8° here).
      const direction = hatDirection(frame, { x: (FACE_BOX.x0 + FACE_BOX.x1) / 2, y: (FACE_BOX.y0 + FACE_BOX.y1) / 2 });
      console.log(`[magicmirror] hat ${direction.toFixed(1)}° from straight up`);
      assert.ok(Math.abs(direction) < 15, `hat ${direction.toFixed(1)}° from straight up`);
      const state = await page.evaluate(() => window.demoState);
      assert.equal(state.error, null);
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  test('magic mirror: the hat tilts with a tilted head (BlazeFace follows the roll)', { timeout: 120000 }, async () => {
    // The camera turned 20° anticlockwise: the head leans about 20° to its left. Kurento's Haar
    // cascade hardly finds such a face and draws an upright hat; Rheo's hat turns with it.
    const turn = 20;
    const tilted = await launchChromium({ y4m: turnedCameraY4m(turn) });
    try {
      const page = await startDemo('magicmirror', tilted);
      const face = turnedFaceCentre(turn);
      const around = { x0: face.x - 0.3, y0: 0, x1: face.x + 0.3, y1: face.y };
      let frame = null;
      try {
        frame = await waitUntil(async () => {
          const f = await analyseVideoFrame(page, '#remote-video', around);
          return f && f.inBoxFraction >= HAT_MIN_FRACTION ? f : ((frame = f), null);
        }, HAT_TIMEOUT, 'hat-coloured pixels above the tilted face', 300);
      } finally {
        if (frame) saveDataUrl(frame.dataUrl, 'magicmirror-tilted-remote-frame.png');
        await page.screenshot({ path: artifact('magicmirror-tilted.png') }).catch(() => {});
      }
      const direction = hatDirection(frame, face);
      console.log(`[magicmirror-tilted] face at ${JSON.stringify(face)}, hat centroid ${JSON.stringify(frame.centroid)}, ` +
        `${direction.toFixed(1)}° from straight up`);
      // The head's up is 20° anticlockwise (-20°), the hat 3° further.
      assert.ok(direction < -12 && direction > -33, `hat ${direction.toFixed(1)}° from straight up, expected about -23°`);
      await stopDemo(page);
      await page.close();
    } finally {
      await tilted.close();
    }
  });

  test('python filters page lists the server\'s filters and runs the chosen one', { timeout: 90000 }, async () => {
    const page = await startDemo('python', browser, '?module=blur_faces');
    try {
      const state = await page.evaluate(() => window.demoState);
      assert.deepEqual(state.filters, ['blur_faces', 'cartoon', 'edges', 'motion']);
      const event = await waitUntil(async () => {
        const events = await page.evaluate(() => window.demoState.events || []);
        return events.find((e) => e.name === 'FacesBlurred' && e.count > 0);
      }, MEDIA_TIMEOUT, 'a FacesBlurred event on the page');
      console.log(`[python] ${JSON.stringify(event)}`);
      assert.equal(event.count, 1);
      const shown = await page.locator('#events').textContent();
      assert.match(shown, /FacesBlurred \{"count":1\}/);
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  test('a server error is shown in the page (overlay image that cannot be fetched)', { timeout: 60000 }, async () => {
    const page = await browser.newPage();
    tracePage(page, 'magicmirror-bad-hat');
    try {
      // Nothing listens on port 9 (discard) of the server's host: the server cannot fetch it,
      // and must say so with an error response or an Error event.
      const badHat = new URL(HTTP_URL);
      badHat.port = '9';
      badHat.pathname = '/no-such-hat.png';
      await page.goto(`${HTTP_URL}/magicmirror/?hat=${encodeURIComponent(badHat.href)}`, { timeout: 20000 });
      await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
      await page.click('#start');
      await page.waitForFunction(() => window.demoState.error, null, { timeout: 30000, polling: 250 });
      const text = await page.locator('#error').textContent();
      console.log(`[magicmirror-bad-hat] shown: ${text}`);
      assert.ok(await page.locator('#error').isVisible(), 'the error area is visible');
      assert.ok(text.length > 0);
      await page.screenshot({ path: artifact('magicmirror-bad-hat.png') });
    } finally {
      await page.close();
    }
  });

  test('metadata page outlines the face found by the previous filter', { timeout: 90000 }, async () => {
    const page = await startDemo('metadata');
    try {
      const green = await page.evaluate(() => {
        const video = document.querySelector('#remote-video');
        const canvas = document.createElement('canvas');
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        const g = canvas.getContext('2d', { willReadFrequently: true });
        let best = 0;
        // A few frames: the outline is on every frame once the first detection is done.
        g.drawImage(video, 0, 0);
        const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 0; i < px.length; i += 4) {
          if (px[i + 1] > 200 && px[i] < 90 && px[i + 2] < 90) best++;
        }
        return best;
      });
      await page.screenshot({ path: artifact('metadata.png') });
      console.log(`[metadata] outline-green pixels: ${green}`);
      assert.ok(green > 300, `the face outline is drawn (${green} green pixels)`);
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  test('the SDK example filter runs in the browser and raises its event', { timeout: 90000 }, async () => {
    const page = await startDemo('edges');
    try {
      await page.waitForFunction(() => window.demoState.edgeLevel, null, { timeout: 20000 });
      const level = await page.evaluate(() => window.demoState.edgeLevel);
      console.log(`[edges] ${JSON.stringify(level)}`);
      assert.ok(['LOW', 'HIGH'].includes(level.level), `level ${level.level}`);
      await page.screenshot({ path: artifact('edges.png') });
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  for (const [profile, videoOnly] of [['WEBM', false], ['MP4', true]]) {
    test(`recorder page records ${profile}${videoOnly ? ' video only' : ''} and plays it back`, { timeout: 120000 }, async () => {
      const page = await browser.newPage();
      tracePage(page, `recorder-${profile}`);
      try {
        await page.goto(`${HTTP_URL}/recorder/`, { timeout: 20000 });
        await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
        await page.selectOption('#profile', profile);
        if (videoOnly) await page.check('#video-only');
        await page.click('#start');
        await page.waitForFunction(
          () => (window.demoState.recording && window.demoState.recording.state === 'recording') || window.demoState.error,
          null, { timeout: MEDIA_TIMEOUT, polling: 250 });
        assert.equal(await page.evaluate(() => window.demoState.error), null);
        await new Promise((r) => setTimeout(r, 3000));
        await page.click('#play');
        await page.waitForFunction(
          () => window.demoState.recording.ended || window.demoState.error,
          null, { timeout: 30000, polling: 250 });
        const state = await page.evaluate(() => window.demoState);
        console.log(`[recorder ${profile}] ${JSON.stringify(state.recording)}`);
        await page.screenshot({ path: artifact(`recorder-${profile}.png`) });
        assert.equal(state.error, null, `the page shows an error: ${state.error}`);
        assert.ok(state.recording.playbackFrames > 30, `frames played back: ${state.recording.playbackFrames}`);
        await stopDemo(page);
      } finally {
        await page.close();
      }
    });
  }

  test('player page plays the sample video, pauses, seeks and shows the end', { timeout: 120000 }, async () => {
    // with-rheo.sh gives the server /tmp as its media root, where it writes the sample at start.
    await waitUntil(async () => existsSync('/tmp/rheo-sample.webm'), 30000, 'the sample video', 250);
    const page = await startDemo('player');
    try {
      const frames = () => page.evaluate(() => window.demoState.remoteFrames);
      const player = () => page.evaluate(() => window.demoState.player);
      assert.equal((await player()).state, 'playing');
      const info = await player();
      assert.ok(info.seekable && Math.abs(info.durationMs - 10000) < 500, JSON.stringify(info));

      await page.click('#pause');
      await page.waitForFunction(() => window.demoState.player.state === 'paused', null, { timeout: 10000 });
      await new Promise((r) => setTimeout(r, 500));
      const pausedAt = await frames();
      await new Promise((r) => setTimeout(r, 1500));
      const whilePaused = (await frames()) - pausedAt;
      assert.ok(whilePaused <= 3, `${whilePaused} frames arrived while paused`);

      await page.click('#pause');
      await page.waitForFunction((n) => window.demoState.remoteFrames > n + 15, pausedAt, { timeout: 15000, polling: 250 });

      // Seek close to the end: about 2 s of video (60 frames) remain, not the rest of the 10 s.
      const positionBefore = (await player()).positionMs;
      const framesBefore = await frames();
      await page.evaluate(() => window.playerDemo.seek(8000));
      await page.waitForFunction(
        () => window.demoState.player.ended || window.demoState.error, null, { timeout: 15000, polling: 250 });
      const state = await page.evaluate(() => window.demoState);
      const framesAfterSeek = state.remoteFrames - framesBefore;
      console.log(`[player] ${JSON.stringify(state.player)}: seek from ${positionBefore} ms to 8000 ms, ` +
        `${framesAfterSeek} frames to the end`);
      await page.screenshot({ path: artifact('player.png') });
      assert.equal(state.error, null, `the page shows an error: ${state.error}`);
      assert.equal(await page.textContent('#player-state'), 'end of stream');
      assert.ok(positionBefore < 7000, `the seek starts before 7 s (${positionBefore} ms)`);
      assert.ok(framesAfterSeek < 110, `${framesAfterSeek} frames between the seek to 8 s and the end`);
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  test('data channel page echoes typed messages', { timeout: 90000 }, async () => {
    const page = await startDemo('datachannel');
    try {
      await page.waitForFunction(() => window.demoState.channel && window.demoState.channel.state === 'open',
        null, { timeout: 20000 });
      for (const text of ['hello', 'rheo']) {
        await page.fill('#message', text);
        await page.click('#send');
      }
      await page.waitForFunction(() => window.demoState.channel.received.length >= 2, null, { timeout: 20000 });
      const channel = await page.evaluate(() => window.demoState.channel);
      assert.deepEqual(channel.received, ['hello', 'rheo']);
      assert.equal(await page.locator('#received li').count(), 2);
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  test('show data page draws the typed text on the returned video', { timeout: 90000 }, async () => {
    const page = await startDemo('showdata');
    try {
      await page.waitForFunction(() => window.demoState.channel && window.demoState.channel.state === 'open',
        null, { timeout: 20000 });
      const plain = await captionPixels(page, '#remote-video');
      await page.fill('#message', 'Rheo shows this');
      await page.click('#send');
      const drawn = await waitUntil(async () => {
        const c = await captionPixels(page, '#remote-video');
        return c && c.bright > 0.001 && c.dark > 0.01 ? c : null;
      }, 20000, 'the caption on the returned video', 200);
      console.log(`[showdata] bottom quarter before ${JSON.stringify(plain)}, with the caption ${JSON.stringify(drawn)}`);
      await page.screenshot({ path: artifact('showdata.png') });
      // An empty text clears it.
      await page.fill('#message', '');
      await page.click('#send');
      await waitUntil(async () => {
        const c = await captionPixels(page, '#remote-video');
        return c && c.dark < plain.dark + (drawn.dark - plain.dark) / 4;
      }, 20000, 'the caption to go', 200);
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  test('send data page lists the codes read in the QR clip', { timeout: 90000 }, async () => {
    await waitUntil(async () => existsSync('/tmp/rheo-qr-sample.webm'), 30000, 'the QR sample clip', 250);
    const page = await startDemo('senddata');
    try {
      await page.waitForFunction(() => window.demoState.channel && window.demoState.channel.received.length > 0,
        null, { timeout: 20000 });
      const state = await page.evaluate(() => window.demoState);
      console.log(`[senddata] received ${JSON.stringify(state.channel.received.slice(0, 3))}`);
      assert.match(state.channel.received[0], /type QR-Code, symbol Hello from Rheo: a QR code read in the video$/);
      assert.ok(await page.locator('#received li').count() >= 1);
      await page.screenshot({ path: artifact('senddata.png') });
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  for (const srtp of [false, true]) {
    test(`rtp receiver page shows what gst-launch-1.0 sends${srtp ? ' over SRTP' : ''}`, { timeout: 90000 }, async () => {
      const page = await browser.newPage();
      tracePage(page, `rtpreceiver${srtp ? '-srtp' : ''}`);
      let sender = null;
      try {
        await page.goto(`${HTTP_URL}/rtpreceiver/`, { timeout: 20000 });
        await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
        if (srtp) await page.check('#srtp');
        await page.click('#start');
        await page.waitForFunction(
          () => (window.demoState.rtp && window.demoState.rtp.port) || window.demoState.error,
          null, { timeout: MEDIA_TIMEOUT, polling: 250 });
        const rtp = await page.evaluate(() => window.demoState.rtp);
        assert.equal(await page.evaluate(() => window.demoState.error), null);
        assert.equal(await page.textContent('#command'), rtp.command);
        console.log(`[rtpreceiver] ${rtp.command}`);
        // The command shown on the page, run as a user would.
        sender = spawn('gst-launch-1.0', rtp.args, { stdio: 'ignore' });
        await page.waitForFunction(() => window.demoState.remoteFrames > 30 || window.demoState.error,
          null, { timeout: MEDIA_TIMEOUT, polling: 250 });
        const state = await page.evaluate(() => window.demoState);
        assert.equal(state.error, null, `the page shows an error: ${state.error}`);
        assert.equal(state.rtp.state, 'receiving');
        await page.screenshot({ path: artifact(`rtpreceiver${srtp ? '-srtp' : ''}.png`) });
        await stopDemo(page);
      } finally {
        if (sender) sender.kill();
        await page.close();
      }
    });
  }

  test('player page reports a missing file', { timeout: 60000 }, async () => {
    const page = await browser.newPage();
    tracePage(page, 'player-missing');
    try {
      await page.goto(`${HTTP_URL}/player/`, { timeout: 20000 });
      await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
      await page.fill('#uri', 'no-such-video.webm');
      await page.click('#start');
      // The error is shown at once; the session is released, then the state reads "failed".
      await page.waitForFunction(() => window.demoState.state === 'failed', null, { timeout: 20000, polling: 250 });
      const error = await page.evaluate(() => window.demoState.error);
      assert.match(error, /no such file in the server's media root/);
    } finally {
      await page.close();
    }
  });

  test('plate detector page plays the returned video (no plate in view, none listed)', { timeout: 90000 }, async () => {
    const page = await startDemo('platedetector');
    try {
      const plates = await page.evaluate(() => window.demoState.plates);
      assert.deepEqual(plates, [], 'no plate in the fake camera');
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  test('pointer detector page plays the returned video and asks for calibration', { timeout: 90000 }, async () => {
    const page = await startDemo('pointerdetector');
    try {
      assert.equal(await page.locator('#calibrate').isEnabled(), true, 'Calibrate is enabled once running');
      await page.screenshot({ path: artifact('pointerdetector.png') });
      await stopDemo(page);
    } finally {
      await page.close();
    }
  });

  test('WHIP page publishes the camera and watches it back over WHEP; the OBS and WHEP players show it', { timeout: 120000 }, async () => {
    const publisher = await startDemo('whip', browser, '?stream=e2e-whip&audio=0');
    const players = [];
    try {
      const frame = await analyseVideoFrame(publisher, '#remote-video', HAT_BOX);
      assert.ok(frame && frame.width > 0, 'the stream watched back has pictures');
      saveDataUrl(frame.dataUrl, 'whip-remote-frame.png');
      for (const demo of ['obs', 'whep']) {
        players.push(await startDemo(demo, browser, '?stream=e2e-whip'));
      }
      const metrics = await (await fetch(`${HTTP_URL}/metrics`)).text();
      assert.match(metrics, /^rheo_whip_streams 1$/m);
      assert.match(metrics, /^rheo_whip_sessions 4$/m, 'one publisher and three viewers');
      for (const page of players) await stopDemo(page);
      await stopDemo(publisher);
      await waitUntil(async () => /^rheo_whip_sessions 0$/m.test(await (await fetch(`${HTTP_URL}/metrics`)).text()), 10000);
    } finally {
      for (const page of players) await page.close();
      await publisher.close();
    }
  });

  test('a frame-coded clip published by GStreamer\'s whipsink reaches Chromium over WHEP frame by frame', { timeout: 120000 }, async () => {
    const plugins = whipClientPlugins();
    const clip = frameCodedY4m(artifact('frame-coded.y4m'), 360);
    const publisher = spawn('gst-launch-1.0', ['-q', 'filesrc', `location=${clip}`, '!', 'y4mdec', '!',
      'clocksync', '!', 'vp8enc', 'deadline=1', 'keyframe-max-dist=30', '!', 'rtpvp8pay', 'pt=96', '!',
      'application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000', '!',
      'whipsink', `whip-endpoint=${HTTP_URL}/whip/e2e-coded`],
    { stdio: 'ignore', env: { ...process.env, GST_PLUGIN_PATH: plugins } });
    const page = await browser.newPage();
    tracePage(page, 'whep-coded');
    try {
      await page.goto(`${HTTP_URL}/whep/`, { timeout: 20000 });
      await waitUntil(async () => /^rheo_whip_streams 1$/m.test(await (await fetch(`${HTTP_URL}/metrics`)).text()),
        20000, 'whipsink to publish');
      await page.evaluate(async (url) => {
        const whipClient = await import('/js/whip-client.js');
        const video = document.getElementById('remote-video');
        const canvas = document.createElement('canvas');
        [canvas.width, canvas.height] = [640, 64];
        const g = canvas.getContext('2d', { willReadFrequently: true });
        window.codes = [];
        const onFrame = () => {
          if (video.videoWidth === 640) {
            g.drawImage(video, 0, 0, 640, 64, 0, 0, 640, 64);
            const { data } = g.getImageData(0, 0, 640, 64);
            let code = 0;
            for (let bit = 0; bit < 10; bit++) {
              // The mean of each 64-pixel square's middle, as the server's tests read it.
              let sum = 0;
              for (let y = 16; y < 48; y++) {
                for (let x = bit * 64 + 16; x < bit * 64 + 48; x++) {
                  const i = (y * 640 + x) * 4;
                  sum += (data[i] + data[i + 1] + data[i + 2]) / 3;
                }
              }
              if (sum / (32 * 32) > 128) code |= 1 << bit;
            }
            if (window.codes[window.codes.length - 1] !== code) window.codes.push(code);
          }
          video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
        window.session = await whipClient.watch({ url, onTrack: (stream) => { video.srcObject = stream; } });
      }, `${HTTP_URL}/whep/e2e-coded`);
      await page.waitForFunction(() => window.codes.length > 110, null, { timeout: 30000, polling: 250 });
      // From the second second on: the first pictures come while the stream settles.
      const codes = (await page.evaluate(() => window.codes)).slice(30);
      const forward = codes.slice(1).filter((c, i) => c > codes[i]).length;
      const span = codes[codes.length - 1] - codes[0] + 1;
      console.log(`[whep-coded] ${codes.length} distinct frames over a span of ${span}, ${forward} steps forward`);
      assert.ok(forward >= (codes.length - 1) * 0.95, `frames out of order: ${codes}`);
      assert.ok(codes.length >= span * 0.85, `${codes.length} of ${span} frames: ${codes}`);
      await page.evaluate(() => window.session.close());
    } finally {
      publisher.kill();
      await page.close();
    }
  });

  test('the WHEP player waits for a stream; a broken offer is refused', { timeout: 60000 }, async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${HTTP_URL}/whep/?stream=e2e-nobody`, { timeout: 20000 });
      await page.click('#start');
      await page.waitForFunction(() => window.demoState.state === 'waiting for the stream', null, { timeout: 10000 });
      await page.click('#stop');
      await page.waitForFunction(() => window.demoState.state === 'stopped', null, { timeout: 10000 });
      const response = await fetch(`${HTTP_URL}/whip/e2e-bad`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0' });
      assert.equal(response.status, 400, 'a broken offer is refused');
    } finally {
      await page.close();
    }
  });

  test('an unreachable media server is reported in the page', { timeout: 30000 }, async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${HTTP_URL}/helloworld/?ws=${encodeURIComponent('ws://127.0.0.1:9/kurento')}`, { timeout: 20000 });
      await page.click('#start');
      await page.waitForFunction(() => window.demoState.error, null, { timeout: 20000 });
      const state = await page.evaluate(() => window.demoState);
      assert.match(state.error, /Cannot connect/);
      assert.equal(state.state, 'failed');
      assert.equal(await page.locator('#start').isEnabled(), true, 'Start can be pressed again');
    } finally {
      await page.close();
    }
  });
});
