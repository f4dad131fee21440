// The call demos with several browsers, each its own Chromium process with its own fake camera
// (a solid colour), finding each other through /demo-signaling. Each page must show the other
// party's video, not its own.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import {
  HTTP_URL, artifact, closeTo, launchChromium, solidCameraY4m, tracePage, videoColour, waitUntil,
} from './lib/harness.mjs';

const MEDIA_TIMEOUT = 45000;
const RED = 0xd02020;
const BLUE = 0x2040d0;
const GREEN = 0x20c040;

const browsers = {};
before(async () => {
  browsers.red = await launchChromium({ y4m: solidCameraY4m('red', RED) });
  browsers.blue = await launchChromium({ y4m: solidCameraY4m('blue', BLUE) });
  browsers.green = await launchChromium({ y4m: solidCameraY4m('green', GREEN) });
});
after(async () => {
  for (const b of Object.values(browsers)) await b.close();
});

async function openDemo(browser, demo, name) {
  const page = await browser.newPage();
  tracePage(page, `${demo}-${name}`);
  await page.goto(`${HTTP_URL}/${demo}/`, { timeout: 20000 });
  await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
  await page.fill('#name', name);
  await page.click('#register');
  await page.waitForFunction(() => window.demoState.state === 'registered' || window.demoState.error,
    null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.demoState.error), null);
  return page;
}

/** Alice (red camera) calls Bob (blue camera), Bob accepts; both see the other. */
async function callAndAnswer(demo) {
  const alice = await openDemo(browsers.red, demo, 'alice');
  const bob = await openDemo(browsers.blue, demo, 'bob');
  await alice.fill('#peer', 'bob');
  await alice.click('#call');
  await bob.waitForSelector('#incoming:not([hidden])', { timeout: 10000 });
  assert.equal(await bob.textContent('#caller'), 'alice');
  await bob.click('#accept');
  for (const [page, other, colour] of [[alice, 'bob', BLUE], [bob, 'alice', RED]]) {
    await page.waitForFunction(() => window.demoState.remoteFrames > 20 || window.demoState.error,
      null, { timeout: MEDIA_TIMEOUT, polling: 250 });
    assert.equal(await page.evaluate(() => window.demoState.error), null);
    const seen = await waitUntil(async () => {
      const c = await videoColour(page, '#remote-video');
      return closeTo(c, colour) ? c : null;
    }, 10000, `${other}'s colour on the page`, 250);
    console.log(`[${demo}] ${other === 'bob' ? 'alice' : 'bob'} sees ${other}: ${seen.map(Math.round)}`);
  }
  return { alice, bob };
}

describe('call demos', () => {
  test('one-to-one: a call, each side sees the other, hang up; a vanished page ends the call', { timeout: 120000 }, async () => {
    const { alice, bob } = await callAndAnswer('call');
    try {
      await alice.screenshot({ path: artifact('call-alice.png') });
      await alice.click('#stop');
      await bob.waitForFunction(() => window.demoState.state === 'registered', null, { timeout: 10000 });
      // Calling someone who is not there is an error on the page.
      await alice.fill('#peer', 'nobody');
      await alice.click('#call');
      await alice.waitForFunction(() => window.demoState.error, null, { timeout: 10000 });
      assert.match(await alice.evaluate(() => window.demoState.error), /no one named 'nobody'/);
      // A second call; Bob's page then vanishes mid-call.
      await alice.fill('#peer', 'bob');
      await alice.click('#call');
      await bob.waitForSelector('#incoming:not([hidden])', { timeout: 10000 });
      await bob.click('#accept');
      await alice.waitForFunction(() => window.demoState.state === 'in call', null, { timeout: MEDIA_TIMEOUT });
      await bob.close();
      await alice.waitForFunction(() => window.demoState.state === 'registered', null, { timeout: 15000 });
    } finally {
      await alice.close();
      if (!bob.isClosed()) await bob.close();
    }
  });

  for (const demo of ['call-recording', 'call-advanced']) {
  test(`${demo}: both sides are recorded and play back`, { timeout: 120000 }, async () => {
    const { alice, bob } = await callAndAnswer(demo);
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const recordings = await bob.evaluate(() => window.demoState.recordings);
      await bob.click('#stop');
      await alice.waitForFunction(() => window.demoState.state === 'registered', null, { timeout: 10000 });
      // with-rheo.sh gives the server /tmp as its media root.
      for (const file of Object.values(recordings)) {
        await waitUntil(async () => existsSync(`/tmp/${file}`), 10000, `the recording ${file}`, 250);
      }
      await alice.waitForSelector('#playback-section:not([hidden])', { timeout: 10000 });
      await alice.click('#play');
      await alice.waitForFunction(
        () => window.demoState.playbackFrames.caller > 10 && window.demoState.playbackFrames.callee > 10,
        null, { timeout: MEDIA_TIMEOUT, polling: 250 });
      const caller = await videoColour(alice, '#caller-recording');
      const callee = await videoColour(alice, '#callee-recording');
      console.log(`[${demo}] ${JSON.stringify(recordings)} play back as ${caller.map(Math.round)} and ${callee.map(Math.round)}`);
      assert.ok(closeTo(caller, RED) && closeTo(callee, BLUE), 'each recording is its side');
      await alice.screenshot({ path: artifact(`${demo}-playback.png`) });
    } finally {
      await alice.close();
      await bob.close();
    }
  });
  }

  test('one-to-many: viewers watch the presenter, a late viewer too, and the count follows', { timeout: 120000 }, async () => {
    const presenter = await browsers.red.newPage();
    tracePage(presenter, 'one2many-presenter');
    const viewers = [];
    try {
      await presenter.goto(`${HTTP_URL}/one2many/`, { timeout: 20000 });
      await presenter.click('#present');
      await presenter.waitForFunction(() => window.demoState.state === 'presenting' || window.demoState.error,
        null, { timeout: MEDIA_TIMEOUT });
      assert.equal(await presenter.evaluate(() => window.demoState.error), null);
      for (let i = 0; i < 2; i++) {
        // The second viewer joins a while after the first.
        const viewer = await browsers.blue.newPage();
        tracePage(viewer, `one2many-viewer${i}`);
        viewers.push(viewer);
        await viewer.goto(`${HTTP_URL}/one2many/`, { timeout: 20000 });
        await viewer.click('#view');
        await viewer.waitForFunction(() => window.demoState.remoteFrames > 20 || window.demoState.error,
          null, { timeout: MEDIA_TIMEOUT, polling: 250 });
        assert.equal(await viewer.evaluate(() => window.demoState.error), null);
        await waitUntil(async () => closeTo(await videoColour(viewer, '#remote-video'), RED), 10000,
          'the presenter on the viewer page', 250);
        await presenter.waitForFunction((n) => window.demoState.viewers === n, i + 1, { timeout: 10000 });
      }
      await viewers[0].waitForFunction(() => window.demoState.viewers === 2, null, { timeout: 10000 });
      await viewers[0].click('#stop');
      await presenter.waitForFunction(() => window.demoState.viewers === 1, null, { timeout: 10000 });
      await presenter.click('#stop');
      await viewers[1].waitForFunction(() => window.demoState.state === 'idle', null, { timeout: 10000 });
    } finally {
      await presenter.close();
      for (const v of viewers) await v.close();
    }
  });

  async function joinRoom(browser, name, { mixed = false } = {}) {
    const page = await browser.newPage();
    tracePage(page, `groupcall-${name}`);
    await page.goto(`${HTTP_URL}/groupcall/`, { timeout: 20000 });
    await page.fill('#room', 'e2e');
    await page.fill('#name', name);
    if (mixed) await page.check('#mixed');
    await page.click('#join');
    await page.waitForFunction(() => window.demoState.state === 'in room' || window.demoState.error,
      null, { timeout: MEDIA_TIMEOUT });
    assert.equal(await page.evaluate(() => window.demoState.error), null);
    return page;
  }

  test('group call: three see each other, and one leaves', { timeout: 150000 }, async () => {
    const people = [['alice', browsers.red, RED], ['bob', browsers.blue, BLUE], ['carol', browsers.green, GREEN]];
    const pages = {};
    try {
      for (const [name, browser] of people) pages[name] = await joinRoom(browser, name);
      for (const [name] of people) {
        for (const [other, , colour] of people.filter(([n]) => n !== name)) {
          await pages[name].waitForFunction((o) => (window.demoState.members[o] || 0) > 20, other,
            { timeout: MEDIA_TIMEOUT, polling: 250 });
          await waitUntil(async () => closeTo(await videoColour(pages[name], `video[data-member="${other}"]`), colour),
            10000, `${other} on ${name}'s page`, 250);
        }
      }
      await pages.alice.screenshot({ path: artifact('groupcall-alice.png') });
      await pages.carol.close();
      for (const name of ['alice', 'bob']) {
        await pages[name].waitForFunction(() => !('carol' in window.demoState.members), null, { timeout: 10000 });
      }
    } finally {
      for (const page of Object.values(pages)) if (!page.isClosed()) await page.close();
    }
  });

  test('group call, mixed: one picture of the room each, recorded as one file', { timeout: 120000 }, async () => {
    const alice = await joinRoom(browsers.red, 'alice', { mixed: true });
    const bob = await joinRoom(browsers.blue, 'bob', { mixed: true });
    try {
      for (const page of [alice, bob]) {
        // Two cells side by side: alice joined first (left), bob second (right).
        await waitUntil(async () => closeTo(await videoColour(page, '#mix-video', [0.15, 0.4, 0.2, 0.2]), RED)
          && closeTo(await videoColour(page, '#mix-video', [0.65, 0.4, 0.2, 0.2]), BLUE),
        MEDIA_TIMEOUT, 'both cells of the mix', 250);
      }
      await alice.screenshot({ path: artifact('groupcall-mixed.png') });
      await alice.click('#record');
      await new Promise((r) => setTimeout(r, 2000));
      const uri = await alice.evaluate(() => window.demoState.recording);
      await alice.click('#stop-record');
      await alice.waitForFunction(() => /saved/.test(document.querySelector('#recording').textContent), null, { timeout: 20000 });
      assert.ok(existsSync(`/tmp/${uri}`), `the room's recording /tmp/${uri}`);
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
