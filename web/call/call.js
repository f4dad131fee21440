// One-to-one call (Kurento's one2one-call, one2one-call-recording and one2one-call-advanced):
// two pages register names with the /demo-signaling relay; the callee's page, on accepting,
// builds the call on the media server (one pipeline, one WebRtcEndpoint per side, connected
// crosswise; recorders and a FaceOverlayFilter by mode) and tells the caller which endpoint is
// theirs. Either side hangs up; a page that vanishes ends the call for the other.
//
// `window.demoState`: { state, error, name, peer, remoteFrames, recordings, playbackFrames }.

import { KurentoConnection, KurentoError, defaultServerUrl } from '../js/kurento-jsonrpc.js';
import { DemoSignaling } from '../js/demo-signaling.js';
import { connectEndpoint } from '../js/endpoint-peer.js';

const $ = (id) => document.getElementById(id);
const mode = document.body.dataset.mode; // basic | recording | advanced
const recording = mode === 'recording' || mode === 'advanced';
const HAT_URL = new URL('../magicmirror/img/hat.png', location.href).href;

const demoState = {
  state: 'idle', error: null, name: null, peer: null, remoteFrames: 0,
  recordings: null, playbackFrames: { caller: 0, callee: 0 },
};
window.demoState = demoState;

let signaling = null;
let call = null; // { peer, role, rpc, stream, endpointPeer, pipeline, recorders }
let incoming = null; // name of a caller waiting for an answer

function log(text) {
  console.log(`[call] ${text}`);
  const box = $('log');
  box.textContent += `${new Date().toISOString().slice(11, 23)} ${text}\n`;
}

function setState(state) {
  demoState.state = state;
  $('state').textContent = state;
  log(`state: ${state}`);
  const registered = state !== 'idle' && state !== 'registering';
  const inCall = ['calling', 'in call', 'connecting'].includes(state);
  $('name').disabled = registered;
  $('register').disabled = registered;
  $('peer').disabled = !registered || inCall;
  $('call').disabled = !registered || inCall;
  $('stop').disabled = !inCall;
}

function showError(e) {
  const text = e instanceof KurentoError || e instanceof Error ? e.message : String(e);
  demoState.error = text;
  $('error').textContent = text;
  $('error').hidden = false;
  log(`ERROR: ${text}`);
}

function clearError() {
  demoState.error = null;
  $('error').hidden = true;
}

setInterval(() => {
  demoState.remoteFrames = Number($('remote-video').dataset.frames || 0);
  for (const who of ['caller', 'callee']) {
    const v = $(`${who}-recording`);
    if (v) demoState.playbackFrames[who] = Number(v.dataset.frames || 0);
  }
}, 200);

async function openMedia() {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  $('local-video').srcObject = stream;
  const rpc = new KurentoConnection(defaultServerUrl());
  await rpc.open();
  return { stream, rpc };
}

// ---- register ----------------------------------------------------------------------------

$('register-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearError();
  const name = $('name').value.trim();
  if (!name) return showError(new Error('Choose a name first'));
  setState('registering');
  signaling = new DemoSignaling();
  signaling.on('message', onMessage);
  signaling.on('peer-left', (who) => {
    if (call && call.peer === who) endCall(`${who} left`, false);
    if (incoming === who) dismissIncoming();
  });
  signaling.on('error', (message, to) => {
    if (call && to === call.peer && demoState.state === 'calling') {
      endCall(null, false);
      showError(new Error(message));
    } else {
      log(`relay: ${message}`);
    }
  });
  signaling.on('closed', (why) => showError(new Error(`Lost the signaling relay: ${why}`)));
  try {
    await signaling.join(`one2one-${mode}`, name);
    demoState.name = name;
    setState('registered');
  } catch (e) {
    signaling = null;
    setState('idle');
    showError(e);
  }
});

// ---- caller ------------------------------------------------------------------------------

$('call-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearError();
  const peer = $('peer').value.trim();
  if (!peer || peer === demoState.name) return showError(new Error('Name someone else to call'));
  call = { peer, role: 'caller' };
  demoState.peer = peer;
  setState('calling');
  try {
    Object.assign(call, await openMedia());
    signaling.send(peer, { id: 'incomingCall' });
  } catch (e) {
    showError(e);
    endCall(null, false);
  }
});

async function onAccepted(msg) {
  setState('connecting');
  call.pipeline = msg.pipeline;
  demoState.recordings = msg.recordings || null;
  call.endpointPeer = await connectEndpoint({
    rpc: call.rpc, endpoint: msg.endpoint, stream: call.stream, video: $('remote-video'), log,
  });
  setState('in call');
}

// ---- callee ------------------------------------------------------------------------------

function dismissIncoming() {
  incoming = null;
  $('incoming').hidden = true;
}

function onIncoming(from) {
  if (call || incoming) {
    signaling.send(from, { id: 'callResponse', response: 'rejected', message: `${demoState.name} is busy` });
    return;
  }
  incoming = from;
  $('caller').textContent = from;
  $('incoming').hidden = false;
}

$('reject').addEventListener('click', () => {
  if (!incoming) return;
  signaling.send(incoming, { id: 'callResponse', response: 'rejected', message: `${demoState.name} declined the call` });
  dismissIncoming();
});

$('accept').addEventListener('click', async () => {
  if (!incoming) return;
  const peer = incoming;
  dismissIncoming();
  call = { peer, role: 'callee' };
  demoState.peer = peer;
  setState('connecting');
  try {
    Object.assign(call, await openMedia());
    const rpc = call.rpc;
    call.pipeline = await rpc.create('MediaPipeline');
    const callerEndpoint = await rpc.create('WebRtcEndpoint', { mediaPipeline: call.pipeline });
    const calleeEndpoint = await rpc.create('WebRtcEndpoint', { mediaPipeline: call.pipeline });
    if (mode === 'advanced') {
      // The caller's video reaches the callee through a FaceOverlayFilter.
      const filter = await rpc.create('FaceOverlayFilter', { mediaPipeline: call.pipeline });
      await rpc.invoke(filter, 'setOverlayedImage', {
        uri: HAT_URL, offsetXPercent: -0.35, offsetYPercent: -1.2, widthPercent: 1.6, heightPercent: 1.6,
      });
      await rpc.invoke(callerEndpoint, 'connect', { sink: filter });
      await rpc.invoke(filter, 'connect', { sink: calleeEndpoint });
    } else {
      await rpc.invoke(callerEndpoint, 'connect', { sink: calleeEndpoint });
    }
    await rpc.invoke(calleeEndpoint, 'connect', { sink: callerEndpoint });
    let recordings = null;
    if (recording) {
      const stamp = Date.now();
      recordings = { caller: `call-${stamp}-${peer}.webm`, callee: `call-${stamp}-${demoState.name}.webm` };
      call.recorders = [];
      for (const [who, endpoint] of [['caller', callerEndpoint], ['callee', calleeEndpoint]]) {
        const recorder = await rpc.create('RecorderEndpoint', { mediaPipeline: call.pipeline, uri: recordings[who] });
        await rpc.invoke(endpoint, 'connect', { sink: recorder });
        await rpc.invoke(recorder, 'record');
        call.recorders.push(recorder);
      }
    }
    demoState.recordings = recordings;
    signaling.send(peer, { id: 'callResponse', response: 'accepted', pipeline: call.pipeline, endpoint: callerEndpoint, recordings });
    call.endpointPeer = await connectEndpoint({
      rpc, endpoint: calleeEndpoint, stream: call.stream, video: $('remote-video'), log,
    });
    setState('in call');
  } catch (e) {
    showError(e);
    signaling.send(peer, { id: 'stop' });
    endCall(null, false);
  }
});

// ---- both --------------------------------------------------------------------------------

function onMessage(from, msg) {
  if (!msg || typeof msg !== 'object') return;
  if (msg.id === 'incomingCall') return onIncoming(from);
  if (!call || from !== call.peer) return;
  if (msg.id === 'callResponse') {
    if (msg.response === 'accepted') {
      onAccepted(msg).catch((e) => { showError(e); signaling.send(from, { id: 'stop' }); endCall(null, false); });
    } else {
      endCall(null, false);
      showError(new Error(msg.message || 'The call was rejected'));
    }
  } else if (msg.id === 'stop') {
    endCall(`${from} hung up`, false);
  }
}

$('stop').addEventListener('click', () => endCall('hung up', true));

async function endCall(why, tellPeer) {
  const c = call;
  call = null;
  if (!c) return;
  if (tellPeer && signaling) signaling.send(c.peer, { id: 'stop' });
  if (c.endpointPeer) c.endpointPeer.close();
  if (c.stream) for (const t of c.stream.getTracks()) t.stop();
  $('local-video').srcObject = null;
  try {
    // The recorders finish their files before the pipeline goes; both sides release it
    // (whichever is first; the other's release is a no-op).
    if (c.recorders) for (const r of c.recorders) await c.rpc.invoke(r, 'stopAndWait').catch(() => {});
    if (c.pipeline && c.rpc) await c.rpc.release(c.pipeline).catch(() => {});
  } finally {
    if (c.rpc) c.rpc.close();
  }
  demoState.peer = null;
  setState('registered');
  if (why) log(why);
  if (demoState.recordings && $('playback-section')) $('playback-section').hidden = false;
}

// ---- playback of the recordings ----------------------------------------------------------

const playButton = $('play');
if (playButton) {
  playButton.addEventListener('click', async () => {
    const recordings = demoState.recordings;
    if (!recordings) return;
    clearError();
    $('playback-state').textContent = 'starting';
    try {
      const rpc = new KurentoConnection(defaultServerUrl());
      await rpc.open();
      const pipeline = await rpc.create('MediaPipeline');
      let ended = 0;
      for (const who of ['caller', 'callee']) {
        const player = await rpc.create('PlayerEndpoint', { mediaPipeline: pipeline, uri: recordings[who] });
        const endpoint = await rpc.create('WebRtcEndpoint', { mediaPipeline: pipeline });
        await rpc.invoke(player, 'connect', { sink: endpoint });
        await rpc.subscribe(player, 'EndOfStream', async () => {
          ended += 1;
          if (ended === 2) {
            $('playback-state').textContent = 'ended';
            await rpc.release(pipeline).catch(() => {});
            rpc.close();
          }
        });
        await connectEndpoint({ rpc, endpoint, video: $(`${who}-recording`), log });
        await rpc.invoke(player, 'play');
      }
      $('playback-state').textContent = 'playing';
    } catch (e) {
      $('playback-state').textContent = 'failed';
      showError(e);
    }
  });
}

window.addEventListener('pagehide', () => { if (call) endCall('page closed', true); });
setState('idle');
