// The crowd detector demo in headless Chromium: the fake camera plays Debian's vtest.avi
// (pedestrians on a walkway); the page shows the live occupancy of its region.
//
// Environment: RHEO_HTTP_URL (http://host:port; the page finds /kurento on the same host).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ARTIFACTS, HTTP_URL, artifact, launchChromium, tracePage } from './lib/harness.mjs';

const MEDIA_TIMEOUT = 45000;

/** The first 8 s of vtest.avi as 640x480@30 I420. */
function pedestriansY4m() {
  const out = path.join(ARTIFACTS, 'vtest-640x480.y4m');
  execFileSync('gst-launch-1.0', ['-q',
    'filesrc', 'location=/usr/share/doc/opencv-doc/examples/data/vtest.avi', '!', 'decodebin', '!',
    'videoconvert', '!', 'videoscale', '!', 'videorate', '!',
    'video/x-raw,width=640,height=480,framerate=30/1,pixel-aspect-ratio=1/1', '!',
    'identity', 'eos-after=240', '!', 'videoconvert', '!', 'video/x-raw,format=I420', '!',
    'y4menc', '!', 'filesink', `location=${out}`],
  { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120000 });
  return out;
}

let browser;
before(async () => {
  browser = await launchChromium({ y4m: pedestriansY4m() });
});
after(async () => {
  if (browser) await browser.close();
});

describe('crowd detector demo', () => {
  test('shows the live occupancy of the walkway', { timeout: 120000 }, async () => {
    const page = await browser.newPage();
    tracePage(page, 'crowddetector');
    try {
      await page.goto(`${HTTP_URL}/crowddetector/`, { timeout: 20000 });
      await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
      await page.click('#start');
      await page.waitForFunction(
        () => (window.demoState.crowd && window.demoState.crowd.occupancy) || window.demoState.error,
        null, { timeout: MEDIA_TIMEOUT, polling: 250 });
      const state = await page.evaluate(() => ({ error: window.demoState.error, crowd: window.demoState.crowd }));
      await page.screenshot({ path: artifact('crowddetector.png') });
      assert.equal(state.error, null, `the page shows an error: ${state.error}`);
      const occ = state.crowd.occupancy;
      console.log(`[crowddetector] occupancy ${occ.occupancyPercentage}% level ${occ.occupancyLevel} (${occ.roiId})`);
      assert.equal(occ.roiId, 'roi1');
      assert.ok(occ.occupancyPercentage >= 0 && occ.occupancyPercentage <= 100, `occupancy ${occ.occupancyPercentage}`);
      assert.notEqual(await page.locator('#occupancy').textContent(), '–', 'the metric is shown');
      await page.click('#stop');
      await page.waitForFunction(() => window.demoState.state === 'stopped', null, { timeout: 15000 });
    } finally {
      await page.close();
    }
  });
});
