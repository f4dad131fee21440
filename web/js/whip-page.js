// The WHIP and WHEP demo pages: publish the camera (`publish: true`) and/or watch the stream back
// over WHEP. `waitForStream: true` keeps asking while the stream is not published yet (404), as a
// player waiting for OBS does. The stream name and token come from the page's inputs (or
// `?stream=` and `?token=`).
//
// For automated tests the page exposes `window.demoState`: { state, error, remoteFrames }.

import { countFrames, publish, streamUrl, watch } from './whip-client.js';

const RETRY_MS = 1000;

export function setupWhipPage({ title, publish: publishing = false, waitForStream = false }) {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const streamInput = $('stream');
  const tokenInput = $('token');
  if (params.get('stream')) streamInput.value = params.get('stream');
  if (params.get('token')) tokenInput.value = params.get('token');
  const demoState = { state: 'idle', error: null, remoteFrames: 0 };
  window.demoState = demoState;
  let sessions = [];
  let cameraStream = null;
  let stopped = true;

  const log = (text) => {
    console.log(`[${title}] ${text}`);
    const box = $('log');
    box.textContent += `${new Date().toISOString().slice(11, 23)} ${text}\n`;
  };
  const setState = (state) => {
    demoState.state = state;
    $('state').textContent = state;
    log(`state: ${state}`);
  };
  const showError = (e) => {
    demoState.error = e.message || String(e);
    $('error').textContent = demoState.error;
    $('error').hidden = false;
    log(`ERROR: ${demoState.error}`);
  };
  const showUrls = () => {
    for (const kind of ['whip', 'whep']) {
      const box = $(`${kind}-url`);
      if (box) box.textContent = streamUrl(kind, streamInput.value || 'stream');
    }
  };
  streamInput.addEventListener('input', showUrls);
  showUrls();
  countFrames($('remote-video'), demoState);

  async function watchStream(stream, token) {
    for (;;) {
      try {
        const session = await watch({
          url: streamUrl('whep', stream), token, log,
          onTrack: (media) => { $('remote-video').srcObject = media; },
        });
        return session;
      } catch (e) {
        if (!(waitForStream && e.status === 404) || stopped) throw e;
        if (demoState.state !== 'waiting for the stream') setState('waiting for the stream');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        if (stopped) throw new Error('stopped');
      }
    }
  }

  async function start() {
    $('start').disabled = true;
    $('stop').disabled = false;
    $('error').hidden = true;
    demoState.error = null;
    stopped = false;
    const stream = streamInput.value.trim() || 'stream';
    const token = tokenInput.value.trim() || undefined;
    try {
      if (publishing) {
        setState('starting camera');
        cameraStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: params.get('audio') !== '0' });
        $('local-video').srcObject = cameraStream;
        setState('publishing');
        sessions.push(await publish({ url: streamUrl('whip', stream), token, stream: cameraStream, log }));
      }
      setState(waitForStream ? 'waiting for the stream' : 'connecting');
      sessions.push(await watchStream(stream, token));
      if (stopped) {
        await stop();
        return;
      }
      setState(publishing ? 'publishing and watching' : 'watching');
    } catch (e) {
      if (stopped) return;
      showError(e);
      await stop(false);
    }
  }

  async function stop(userAction = true) {
    stopped = true;
    for (const session of sessions.reverse()) await session.close();
    sessions = [];
    if (cameraStream) cameraStream.getTracks().forEach((t) => t.stop());
    cameraStream = null;
    $('remote-video').srcObject = null;
    $('stop').disabled = true;
    $('start').disabled = false;
    if (userAction) setState('stopped');
  }

  $('start').addEventListener('click', start);
  $('stop').addEventListener('click', () => stop());
  window.addEventListener('pagehide', () => stop(false));
}
