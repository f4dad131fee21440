// Rheo driven by the real kurento-client 7.3.0 (npm), the way the Kurento Node tutorials do it.
// The WebRTC peer is a headless Chromium page (Node has no WebRTC): it makes the SDP offer with
// a fake camera, and the call is completed in the page.
//
// Environment: RHEO_WS_URL (ws://host:port/kurento), RHEO_HTTP_URL (http://host:port, serves web/).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import kurento from 'kurento-client';

// Module filters, as the Kurento tutorials register them (the strict client checks getInfo).
kurento.register('kurento-module-crowddetector');
kurento.register('kurento-module-chroma');
// Kurento publishes datachannelexample's client for Java only; this is its Node equivalent.
kurento.register(datachannelexample);
// Rheo's own module, as an application installs it (npm install <rheo>/clients/kurento-module-rheopython).
kurento.register(createRequire(import.meta.url)('../../clients/kurento-module-rheopython'));
kurento.register(createRequire(import.meta.url)('../../clients/kurento-module-rheowhip'));

import { datachannelexample } from './lib/datachannelexample.mjs';
import {
  HTTP_URL, WS_URL, analyseVideoFrame, artifact, call, callForError, captionPixels, installPeer,
  launchChromium, once, saveDataUrl, startTcpProxy, tracePage, waitUntil, withTimeout,
} from './lib/harness.mjs';

const CONNECT_TIMEOUT = 20000;
const MEDIA_TIMEOUT = 45000;

/**
 * Connect with the callback form, which waits for the client's strict getInfo check. Resolves
 * with `{client}`, the KurentoClient instance itself, wrapped: the client is a thenable (a
 * promise would adopt it and yield a copy), and the object handed to the callback is such a
 * copy, without the non-enumerable `sessionId`.
 */
function connectClient(url = WS_URL, options = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const client = kurento(url, { request_timeout: 10000, ...options },
      (error) => (error ? reject(error) : resolve({ client })));
  }), CONNECT_TIMEOUT, `kurento-client connecting to ${url}`);
}

let browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  if (browser) await browser.close();
});

/** A fresh page on the server's own origin (a secure context for getUserMedia). */
async function newPeerPage(name) {
  const page = await browser.newPage();
  tracePage(page, name);
  await page.goto(`${HTTP_URL}/`, { timeout: 20000 });
  return page;
}

/**
 * The Kurento Node tutorials' negotiation of one page with one WebRtcEndpoint: candidates both
 * ways (the page's also before the offer), processOffer, gatherCandidates. `beforeOffer` runs
 * once the page's peer exists. Returns once the page decodes more than 30 frames (or, for a page
 * that `receives` nothing, once ICE connects).
 */
async function negotiatePage(page, webRtc, { name, peer = {}, beforeOffer = async () => {}, receives = true }) {
  // Local candidates from the page go to the endpoint, also before the offer (as the tutorial
  // flushes its queue right after creating the endpoint).
  let candidatesSent = 0;
  const candidateErrors = [];
  await page.exposeFunction('rheoSendCandidate', (c) => {
    const candidate = kurento.getComplexType('IceCandidate')(c);
    webRtc.addIceCandidate(candidate, (error) => {
      if (error) candidateErrors.push(error);
      else candidatesSent++;
    });
  });
  await installPeer(page, peer);
  await beforeOffer();

  let candidatesReceived = 0;
  webRtc.on('IceCandidateFound', (event) => {
    const c = kurento.getComplexType('IceCandidate')(event.candidate);
    candidatesReceived++;
    page.evaluate((c) => window.peer.addRemote(c), {
      candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex,
    }).catch((e) => console.log(`[${name}] addRemote failed: ${e.message}`));
  });

  const offer = await page.evaluate(() => window.peer.offer());
  assert.match(offer, /^v=0/);
  await waitUntil(() => candidatesSent > 0 || candidateErrors.length, 10000,
    'the first local candidate to be accepted by addIceCandidate');
  assert.deepEqual(candidateErrors, [], 'addIceCandidate before processOffer failed');

  const answer = await call(webRtc, 'processOffer', offer);
  assert.match(answer, /^v=0/, 'processOffer returns an SDP answer');
  assert.match(answer, /m=video/, 'the answer has a video section');
  await page.evaluate((sdp) => window.peer.answer(sdp), answer);
  await call(webRtc, 'gatherCandidates');

  let stats;
  try {
    stats = await waitUntil(async () => {
      const s = await page.evaluate(() => window.peer.videoStats());
      const done = receives ? s.framesDecoded > 30 : ['connected', 'completed'].includes(s.ice);
      return done ? s : null;
    }, MEDIA_TIMEOUT, receives ? 'more than 30 decoded frames of the returned video' : 'ICE connected', 250);
  } finally {
    const last = await page.evaluate(() => window.peer.videoStats()).catch(() => null);
    console.log(`[${name}] candidates sent ${candidatesSent}, received ${candidatesReceived}, stats ${JSON.stringify(last)}`);
    await page.screenshot({ path: artifact(`${name}.png`) }).catch(() => {});
  }
  assert.ok(candidatesReceived > 0, 'IceCandidateFound events arrived');
  assert.deepEqual(candidateErrors, [], 'addIceCandidate failed');
  return stats;
}

/**
 * The Kurento Node tutorial flow, with an optional filter between the endpoint's output and its
 * input. Returns once the page decodes more than 30 frames of the returned video.
 */
async function loopbackCall(page, { buildGraph, name, webRtcParams = {}, peer = {} }) {
  const { client } = await connectClient();
  let pipeline;
  try {
    pipeline = await call(client, 'create', 'MediaPipeline');
    const webRtc = await call(pipeline, 'create', 'WebRtcEndpoint', webRtcParams);
    const stats = await negotiatePage(page, webRtc, {
      name, peer, beforeOffer: () => buildGraph({ pipeline, webRtc }),
    });
    return { client, pipeline, webRtc, stats };
  } catch (e) {
    if (pipeline) await callForError(pipeline, 'release');
    client.close();
    throw e;
  }
}

describe('kurento-client 7.3.0', () => {
  test('hello world: WebRtcEndpoint loopback with a Chromium peer', { timeout: 90000 }, async () => {
    const page = await newPeerPage('kc-helloworld');
    try {
      const { client, pipeline, webRtc } = await loopbackCall(page, {
        name: 'kc-helloworld',
        buildGraph: async ({ webRtc }) => call(webRtc, 'connect', webRtc),
      });
      // A few of the calls the tutorials make along the way.
      const state = await call(webRtc, 'getMediaState');
      assert.ok(['CONNECTED', 'DISCONNECTED'].includes(state), `getMediaState = ${state}`);
      await call(pipeline, 'release');
      client.close();
    } finally {
      await page.close();
    }
  });

  test('magic mirror: FaceOverlayFilter with the hat served over HTTP', { timeout: 90000 }, async () => {
    const page = await newPeerPage('kc-magicmirror');
    try {
      const hatUrl = `${HTTP_URL}/magicmirror/img/hat.png`;
      const { client, pipeline } = await loopbackCall(page, {
        name: 'kc-magicmirror',
        buildGraph: async ({ pipeline, webRtc }) => {
          const filter = await call(pipeline, 'create', 'FaceOverlayFilter');
          await call(filter, 'setOverlayedImage', hatUrl, -0.35, -1.2, 1.6, 1.6);
          await call(webRtc, 'connect', filter);
          await call(filter, 'connect', webRtc);
        },
      });
      // Informational here (browser.test.mjs asserts the hat's position).
      const frame = await analyseVideoFrame(page, '#peer-remote', { x0: 0, x1: 1, y0: 0, y1: 1 });
      if (frame) {
        saveDataUrl(frame.dataUrl, 'kc-magicmirror-frame.png');
        console.log(`[kc-magicmirror] ${frame.width}x${frame.height}, hat-coloured pixels: ${frame.total}`);
      }
      await call(pipeline, 'release');
      client.close();
    } finally {
      await page.close();
    }
  });

  test('PythonFilter: the blur_faces example blurs the face and its event reaches the app', { timeout: 90000 }, async () => {
    const page = await newPeerPage('kc-python');
    try {
      let blurred = null;
      const { client, pipeline } = await loopbackCall(page, {
        name: 'kc-python',
        buildGraph: async ({ pipeline, webRtc }) => {
          const filter = await call(pipeline, 'create', 'PythonFilter',
            { module: 'blur_faces', params: JSON.stringify({ strength: 31 }) });
          filter.on('FacesBlurred', (event) => { if (event.count > 0) blurred = blurred || event; });
          assert.equal(await call(filter, 'getModule'), 'blur_faces');
          await call(webRtc, 'connect', filter);
          await call(filter, 'connect', webRtc);
        },
      });
      await waitUntil(() => blurred, MEDIA_TIMEOUT, 'a FacesBlurred event');
      console.log(`[kc-python] ${JSON.stringify(blurred)}`);
      assert.equal(blurred.type, 'FacesBlurred');
      assert.equal(blurred.count, 1);
      // A module name that is not one of the server's filters is refused with 40001.
      const refused = await new Promise((resolve) => {
        pipeline.create('PythonFilter', { module: '../etc/passwd' }, (error) => resolve(error));
      });
      assert.ok(refused, 'create refused');
      assert.equal(refused.code, 40001, JSON.stringify(refused));
      await call(pipeline, 'release');
      client.close();
    } finally {
      await page.close();
    }
  });

  test('WhipEndpoint and WhepEndpoint: a browser publishes to getUrl, another watches, the app hears both ends', { timeout: 90000 }, async () => {
    const { client } = await connectClient();
    const pipeline = await call(client, 'create', 'MediaPipeline');
    const publisher = await newPeerPage('kc-whip');
    const viewer = await newPeerPage('kc-whep');
    try {
      const whip = await call(pipeline, 'create', 'WhipEndpoint');
      const whep = await call(pipeline, 'create', 'WhepEndpoint');
      let started = false;
      let ended = false;
      whip.on('MediaSessionStarted', () => { started = true; });
      whip.on('MediaSessionTerminated', () => { ended = true; });
      await call(whip, 'connect', whep);
      // The URLs name the server's address; the pages reach it on the test's.
      const onTestServer = (url) => `${HTTP_URL}${new URL(url).pathname}`;
      const whipUrl = onTestServer(await call(whip, 'getUrl'));
      const whepUrl = onTestServer(await call(whep, 'getUrl'));
      assert.match(whipUrl, /\/whip-endpoint\/[0-9a-f]{32}$/);
      await publisher.evaluate(async (url) => {
        const whipClient = await import('/js/whip-client.js');
        const camera = await navigator.mediaDevices.getUserMedia({ video: true });
        window.session = await whipClient.publish({ url, stream: camera });
      }, whipUrl);
      await waitUntil(() => started, MEDIA_TIMEOUT, 'MediaSessionStarted');
      await viewer.evaluate(async (url) => {
        const whipClient = await import('/js/whip-client.js');
        const video = document.createElement('video');
        video.muted = true;
        video.autoplay = true;
        document.body.append(video);
        window.watched = { remoteFrames: 0 };
        whipClient.countFrames(video, window.watched);
        window.session = await whipClient.watch({ url, onTrack: (stream) => { video.srcObject = stream; } });
      }, whepUrl);
      await viewer.waitForFunction(() => window.watched.remoteFrames > 30, null, { timeout: MEDIA_TIMEOUT, polling: 250 });
      await publisher.evaluate(() => window.session.close());
      await waitUntil(() => ended, 15000, 'MediaSessionTerminated');
      await viewer.evaluate(() => window.session.close());
    } finally {
      await call(pipeline, 'release').catch(() => {});
      client.close();
      await publisher.close();
      await viewer.close();
    }
  });

  test('module filters: crowd detector events and a chroma filter through the real client', { timeout: 90000 }, async () => {
    const page = await newPeerPage('kc-crowd');
    try {
      const RegionOfInterest = kurento.getComplexType('crowddetector.RegionOfInterest');
      const RegionOfInterestConfig = kurento.getComplexType('crowddetector.RegionOfInterestConfig');
      const RelativePoint = kurento.getComplexType('crowddetector.RelativePoint');
      const WindowParam = kurento.getComplexType('chroma.WindowParam');
      let occupancy = null;
      const { client, pipeline } = await loopbackCall(page, {
        name: 'kc-crowd',
        buildGraph: async ({ pipeline, webRtc }) => {
          const roi = RegionOfInterest({
            id: 'roi1',
            points: [RelativePoint({ x: 0, y: 0 }), RelativePoint({ x: 1, y: 0 }),
              RelativePoint({ x: 1, y: 1 }), RelativePoint({ x: 0, y: 1 })],
            regionOfInterestConfig: RegionOfInterestConfig({
              occupancyLevelMin: 10, occupancyLevelMed: 35, occupancyLevelMax: 65, occupancyNumFramesToEvent: 5,
              fluidityLevelMin: 10, fluidityLevelMed: 35, fluidityLevelMax: 65, fluidityNumFramesToEvent: 5,
              sendOpticalFlowEvent: false, opticalFlowNumFramesToEvent: 3, opticalFlowNumFramesToReset: 3,
              opticalFlowAngleOffset: 0,
            }),
          });
          const crowd = await call(pipeline, 'create', 'crowddetector.CrowdDetectorFilter', { rois: [roi] });
          crowd.on('CrowdDetectorOccupancy', (event) => { occupancy = occupancy || event; });
          const chroma = await call(pipeline, 'create', 'chroma.ChromaFilter',
            { window: WindowParam({ topRightCornerX: 5, topRightCornerY: 5, width: 30, height: 30 }) });
          await call(webRtc, 'connect', crowd);
          await call(crowd, 'connect', chroma);
          await call(chroma, 'connect', webRtc);
        },
      });
      await waitUntil(() => occupancy, MEDIA_TIMEOUT, 'a CrowdDetectorOccupancy event');
      console.log(`[kc-crowd] ${JSON.stringify(occupancy)}`);
      assert.equal(occupancy.roiId, 'roi1');
      assert.equal(occupancy.type, 'CrowdDetectorOccupancy');
      assert.equal(typeof occupancy.occupancyPercentage, 'number');
      assert.equal(typeof occupancy.occupancyLevel, 'number');
      await call(pipeline, 'release');
      client.close();
    } finally {
      await page.close();
    }
  });

  test('recorder tutorial: the loopback recorded to a WEBM file and played back', { timeout: 90000 }, async () => {
    const page = await newPeerPage('kc-recorder');
    const path = `/tmp/rheo-e2e-recorder-${randomUUID()}.webm`;
    const uri = `file://${path}`;
    try {
      let recorder;
      const { client, pipeline, webRtc } = await loopbackCall(page, {
        name: 'kc-recorder',
        // As Kurento's browser recorder tutorial: both elements in one create call.
        buildGraph: async ({ pipeline, webRtc }) => {
          [recorder] = await call(pipeline, 'create',
            [{ type: 'RecorderEndpoint', params: { uri } }]);
          await call(webRtc, 'connect', webRtc);
          await call(webRtc, 'connect', recorder);
        },
      });
      const recording = once(recorder, 'Recording', 15000, "the recorder's Recording event");
      await call(recorder, 'record');
      await recording;
      assert.equal(await call(recorder, 'getState'), 'START');
      await new Promise((r) => setTimeout(r, 3000));
      const stopped = once(recorder, 'Stopped', 15000, "the recorder's Stopped event");
      await call(recorder, 'stop');
      await stopped;
      assert.equal(await call(recorder, 'getUri'), uri);
      // The whole file decodes: Matroska with VP8 video, no transcoding on the way.
      const out = execFileSync('gst-launch-1.0', ['-q', 'filesrc', `location=${path}`, '!',
        'matroskademux', '!', 'vp8dec', '!', 'fakesink'], { timeout: 30000 }).toString();
      console.log(`[kc-recorder] ${path} decoded ${out.trim()}`);
      assert.equal(await call(recorder, 'isMediaTranscoding', 'VIDEO'), false);

      // The tutorial's playback: a PlayerEndpoint sends the file back to the page.
      const player = await call(pipeline, 'create', 'PlayerEndpoint', { uri });
      await call(player, 'connect', webRtc);
      const ended = once(player, 'EndOfStream', 20000, "the player's EndOfStream event");
      const before = (await page.evaluate(() => window.peer.videoStats())).framesDecoded;
      await call(player, 'play');
      const info = await call(player, 'getVideoInfo');
      assert.equal(info.isSeekable, true, JSON.stringify(info));
      await ended;
      const after = (await page.evaluate(() => window.peer.videoStats())).framesDecoded;
      console.log(`[kc-recorder] played back ${after - before} frames, video info ${JSON.stringify(info)}`);
      assert.ok(after - before > 30, `frames decoded during playback: ${after - before}`);
      await call(pipeline, 'release');
      client.close();
    } finally {
      await page.close();
      if (existsSync(path)) rmSync(path);
    }
  });

  test('show-data-channel: the text the page sends is drawn on its video by KmsShowData', { timeout: 90000 }, async () => {
    const page = await newPeerPage('kc-showdata');
    let client;
    try {
      let pipeline;
      ({ client, pipeline } = await loopbackCall(page, {
        name: 'kc-showdata',
        webRtcParams: { useDataChannels: true },
        peer: { dataChannel: true },
        buildGraph: async ({ pipeline, webRtc }) => {
          const showData = await call(pipeline, 'create', 'KmsShowData');
          assert.ok(showData.id.endsWith('_datachannelexample.KmsShowData'), showData.id);
          await call(webRtc, 'connect', showData);
          await call(showData, 'connect', webRtc);
        },
      }));
      const before = await captionPixels(page, '#peer-remote');
      await page.waitForFunction(() => window.peer.channel.readyState === 'open', null, { timeout: 20000 });
      await page.evaluate(() => window.peer.channel.send('Hello from kurento-client'));
      const drawn = await waitUntil(async () => {
        const c = await captionPixels(page, '#peer-remote');
        return c && c.bright > 0.001 && c.dark > 0.01 ? c : null;
      }, 20000, 'the caption on the returned video', 200);
      console.log(`[kc-showdata] bottom quarter before ${JSON.stringify(before)}, after ${JSON.stringify(drawn)}`);
      await page.screenshot({ path: artifact('kc-showdata-caption.png') });
      await call(pipeline, 'release');
    } finally {
      if (client) client.close();
      await page.close();
    }
  });

  test('send-data-channel: KmsSendData sends the QR code of a played clip to the page', { timeout: 90000 }, async () => {
    // with-rheo.sh gives the server /tmp as its media root, where it writes the QR clip at start.
    await waitUntil(async () => existsSync('/tmp/rheo-qr-sample.webm'), 30000, 'the QR sample clip', 250);
    const page = await newPeerPage('kc-senddata');
    let client;
    try {
      let pipeline;
      ({ client, pipeline } = await loopbackCall(page, {
        name: 'kc-senddata',
        webRtcParams: { useDataChannels: true },
        peer: { dataChannel: true },
        buildGraph: async ({ pipeline, webRtc }) => {
          const player = await call(pipeline, 'create', 'PlayerEndpoint', { uri: 'file:///tmp/rheo-qr-sample.webm' });
          const sendData = await call(pipeline, 'create', 'KmsSendData');
          await call(player, 'connect', sendData);
          await call(sendData, 'connect', webRtc);
          await call(player, 'play');
        },
      }));
      const messages = await waitUntil(async () => {
        const m = await page.evaluate(() => window.peer.messages);
        return m.length ? m : null;
      }, 20000, 'a code over the data channel', 200);
      console.log(`[kc-senddata] ${messages.length} messages, first: ${messages[0]}`);
      assert.match(messages[0],
        /^Code detected in time \d+, type QR-Code, symbol Hello from Rheo: a QR code read in the video$/);
      await call(pipeline, 'release');
    } finally {
      if (client) client.close();
      await page.close();
    }
  });

  test('one2one-call: two pages, two endpoints connected crosswise, media both ways', { timeout: 120000 }, async () => {
    const { client } = await connectClient();
    const pages = [await newPeerPage('kc-one2one-caller'), await newPeerPage('kc-one2one-callee')];
    try {
      // As the tutorial's server does once the callee accepts.
      const pipeline = await call(client, 'create', 'MediaPipeline');
      const caller = await call(pipeline, 'create', 'WebRtcEndpoint');
      const callee = await call(pipeline, 'create', 'WebRtcEndpoint');
      await call(caller, 'connect', callee);
      await call(callee, 'connect', caller);
      const [a, b] = await Promise.all([
        negotiatePage(pages[0], caller, { name: 'kc-one2one-caller' }),
        negotiatePage(pages[1], callee, { name: 'kc-one2one-callee' }),
      ]);
      console.log(`[kc-one2one] caller decoded ${a.framesDecoded}, callee ${b.framesDecoded}`);
      assert.equal(await call(caller, 'isMediaTranscoding', 'VIDEO'), false);
      await call(pipeline, 'release');
    } finally {
      client.close();
      for (const page of pages) await page.close();
    }
  });

  test('one2many-call: a presenter and two receive-only viewers, one of them late', { timeout: 120000 }, async () => {
    const { client } = await connectClient();
    const presenterPage = await newPeerPage('kc-one2many-presenter');
    const viewerPages = [];
    try {
      const pipeline = await call(client, 'create', 'MediaPipeline');
      const presenter = await call(pipeline, 'create', 'WebRtcEndpoint');
      // The presenter's own page receives nothing; it is done once ICE connects.
      await negotiatePage(presenterPage, presenter, { name: 'kc-one2many-presenter', receives: false });
      for (let i = 0; i < 2; i++) {
        const page = await newPeerPage(`kc-one2many-viewer${i}`);
        viewerPages.push(page);
        const viewer = await call(pipeline, 'create', 'WebRtcEndpoint');
        await call(presenter, 'connect', viewer);
        const stats = await negotiatePage(page, viewer, { name: `kc-one2many-viewer${i}`, peer: { recvonly: true } });
        console.log(`[kc-one2many] viewer ${i} decoded ${stats.framesDecoded}`);
        assert.equal(await call(viewer, 'isMediaTranscoding', 'VIDEO'), false);
      }
      await call(pipeline, 'release');
    } finally {
      client.close();
      await presenterPage.close();
      for (const page of viewerPages) await page.close();
    }
  });

  test('HttpPostEndpoint: getUrl, then a file uploaded as a form plays to its end', { timeout: 90000 }, async () => {
    // with-rheo.sh gives the server /tmp as its media root, where it writes the sample at start.
    await waitUntil(async () => existsSync('/tmp/rheo-sample.webm'), 30000, 'the sample video', 250);
    const { client } = await connectClient();
    const pipeline = await call(client, 'create', 'MediaPipeline');
    const httpPost = await call(pipeline, 'create', 'HttpPostEndpoint', { disconnectionTimeout: 5 });
    const url = await call(httpPost, 'getUrl');
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/http-post\/[0-9a-f]{32}$/);
    const started = once(httpPost, 'MediaSessionStarted', 20000, 'MediaSessionStarted');
    const ended = once(httpPost, 'EndOfStream', 40000, "the endpoint's EndOfStream event");
    // As an HTML form posts a file.
    const form = new FormData();
    form.append('file', new Blob([readFileSync('/tmp/rheo-sample.webm')], { type: 'video/webm' }), 'sample.webm');
    const response = await fetch(url, { method: 'POST', body: form });
    assert.equal(response.status, 200, await response.text());
    await started;
    await ended;
    const again = await fetch(url, { method: 'POST', body: 'more' });
    assert.equal(again.status, 410, 'one upload per endpoint');
    await call(pipeline, 'release');
    const gone = await fetch(url, { method: 'POST', body: 'more' });
    assert.equal(gone.status, 404, 'the URL goes with the endpoint');
    client.close();
  });

  test('hello-world-data-channel: the loopback echoes the data channel, text and binary', { timeout: 90000 }, async () => {
    const page = await newPeerPage('kc-datachannel');
    let client;
    try {
      let opened = null;
      let pipeline;
      let webRtc;
      ({ client, pipeline, webRtc } = await loopbackCall(page, {
        name: 'kc-datachannel',
        webRtcParams: { useDataChannels: true },
        peer: { dataChannel: true },
        buildGraph: async ({ webRtc }) => {
          webRtc.on('DataChannelOpened', (event) => { opened = event; });
          await call(webRtc, 'connect', webRtc);
        },
      }));
      await page.waitForFunction(() => window.peer.channel.readyState === 'open', null, { timeout: 20000 });
      await waitUntil(() => opened, 20000, 'the DataChannelOpened event');
      assert.equal(typeof opened.channelId, 'number');
      // In order, up to the announced 64 KiB; the browser itself refuses more.
      const big = 'x'.repeat(60000);
      const refused = await page.evaluate((big) => {
        for (const m of ['one', 'two', 'three']) window.peer.channel.send(m);
        window.peer.channel.send(new Uint8Array([1, 2, 3, 4, 5]).buffer);
        window.peer.channel.send(big);
        try {
          window.peer.channel.send('y'.repeat(100000));
          return null;
        } catch (e) {
          return e.name;
        }
      }, big);
      assert.equal(refused, 'TypeError', 'a 100 kB message is over the announced max-message-size');
      assert.equal(await page.evaluate(() => window.peer.pc.sctp.maxMessageSize), 65536);
      const messages = await waitUntil(async () => {
        const m = await page.evaluate(() => window.peer.messages);
        return m.length >= 5 ? m : null;
      }, 20000, 'the echoed messages', 200);
      console.log(`[kc-datachannel] opened ${JSON.stringify(opened)}, echoed ${messages.length} messages`);
      assert.deepEqual(messages.slice(0, 4), ['one', 'two', 'three', { bytes: 5 }]);
      assert.equal(messages[4].length, big.length);
      const stats = Object.values(await call(webRtc, 'getStats'));
      const channelStats = stats.find((s) => s.type === 'datachannel');
      assert.ok(channelStats, `a datachannel entry in ${JSON.stringify(stats.map((s) => s.type))}`);
      assert.equal(channelStats.label, 'dataChannel');
      assert.equal(channelStats.messagesReceived, 5);
      assert.equal(channelStats.messagesSent, 5);
      await call(pipeline, 'release');
    } finally {
      if (client) client.close();
      await page.close();
    }
  });

  test('reconnection keeps the session and its objects', { timeout: 60000 }, async () => {
    const proxy = await startTcpProxy(WS_URL);
    let client;
    let other;
    try {
      ({ client } = await connectClient(proxy.url));
      const pipeline = await call(client, 'create', 'MediaPipeline');
      const pipelineId = pipeline.id;
      const sessionId = client.sessionId;
      assert.ok(sessionId, 'the client adopted a sessionId');

      // A pipeline this client has never seen, so that looking it up after the reconnection
      // needs a real `describe` round trip on the new socket.
      ({ client: other } = await connectClient(WS_URL));
      const foreign = await call(other, 'create', 'MediaPipeline');

      const reconnected = once(client, 'reconnected', 30000, "kurento-client's 'reconnected' event");
      const accepted = proxy.accepted;
      proxy.dropAll();
      const [sameSession] = await reconnected;
      assert.equal(sameSession, true, 'reconnected(true): the server still knew the session');
      assert.ok(proxy.accepted > accepted, 'the client opened a new connection');
      assert.equal(client.sessionId, sessionId, 'the sessionId is unchanged');

      const again = await withTimeout(call(client, 'getMediaobjectById', pipelineId), 10000, 'getMediaobjectById');
      assert.equal(again.id, pipelineId);
      const name = await withTimeout(call(pipeline, 'getName'), 10000, 'getName after reconnection');
      assert.equal(typeof name, 'string');
      const described = await withTimeout(call(client, 'getMediaobjectById', foreign.id), 10000,
        'describe of another pipeline after reconnection');
      assert.equal(described.id, foreign.id);
      assert.equal(client.sessionId, sessionId, 'the sessionId is still unchanged');

      await call(pipeline, 'release');
      await call(foreign, 'release');
    } finally {
      if (client) client.close();
      if (other) other.close();
      await proxy.close();
    }
  });

  test('errors reach the callback form', { timeout: 60000 }, async () => {
    const { client } = await connectClient();
    try {
      const missing = `${randomUUID()}_kurento.MediaPipeline`;
      const { error: notFound } = await withTimeout(callForError(client, 'getMediaobjectById', missing),
        10000, 'describe of an unknown object');
      assert.ok(notFound, 'describe of an unknown object fails');
      assert.equal(notFound.code, 40101, `code ${notFound.code}: ${notFound.message}`);
      assert.match(notFound.message, / not found/);

      const pipeline = await call(client, 'create', 'MediaPipeline');
      const webRtc = await call(pipeline, 'create', 'WebRtcEndpoint');
      const { error: badOffer } = await withTimeout(callForError(webRtc, 'processOffer', 'this is not SDP'),
        10000, 'processOffer with garbage');
      assert.ok(badOffer, 'processOffer with an invalid offer fails');
      assert.equal(typeof badOffer.code, 'number', `error has a numeric code: ${badOffer.message}`);
      console.log(`[errors] bad processOffer -> ${badOffer.code} ${badOffer.message}`);

      // The session still works after the errors.
      const info = await call(webRtc, 'getMediaState');
      assert.equal(typeof info, 'string');
      await call(pipeline, 'release');
    } finally {
      client.close();
    }
  });
});
