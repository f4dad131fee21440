// One-to-many (Kurento's one2many-call): the presenter's page builds the pipeline and one
// receive-only WebRtcEndpoint per viewer who asks (through /demo-signaling), connected from the
// presenter's endpoint. The presenter is the relay member named "presenter", so there is one
// at a time; viewers take random names.
//
// `window.demoState`: { state, error, role, viewers, remoteFrames }.

import { KurentoConnection, KurentoError, defaultServerUrl } from '../js/kurento-jsonrpc.js';
import { DemoSignaling } from '../js/demo-signaling.js';
import { connectEndpoint } from '../js/endpoint-peer.js';

const ROOM = 'one2many';
const PRESENTER = 'presenter';
const $ = (id) => document.getElementById(id);
const demoState = { state: 'idle', error: null, role: null, viewers: 0, remoteFrames: 0 };
window.demoState = demoState;

let session = null; // { role, signaling, rpc, stream, pipeline, endpoint, peer, viewers: Map }

function log(text) {
  console.log(`[one2many] ${text}`);
  $('log').textContent += `${new Date().toISOString().slice(11, 23)} ${text}\n`;
}

function setState(state) {
  demoState.state = state;
  $('state').textContent = state;
  const busy = state !== 'idle';
  $('present').disabled = busy;
  $('view').disabled = busy;
  $('stop').disabled = !busy;
  log(`state: ${state}`);
}

function showViewers(n) {
  demoState.viewers = n;
  $('viewers').textContent = String(n);
}

function showError(e) {
  const text = e instanceof KurentoError || e instanceof Error ? e.message : String(e);
  demoState.error = text;
  $('error').textContent = text;
  $('error').hidden = false;
  log(`ERROR: ${text}`);
}

setInterval(() => { demoState.remoteFrames = Number($('remote-video').dataset.frames || 0); }, 200);

async function open(role, name) {
  $('error').hidden = true;
  demoState.error = null;
  demoState.role = role;
  const s = { role, viewers: new Map() };
  session = s;
  s.signaling = new DemoSignaling();
  s.signaling.on('closed', (why) => { if (session === s) { showError(new Error(`Lost the signaling relay: ${why}`)); stop(); } });
  await s.signaling.join(ROOM, name);
  s.rpc = new KurentoConnection(defaultServerUrl());
  await s.rpc.open();
  return s;
}

// ---- presenter -----------------------------------------------------------------------------

$('present').addEventListener('click', async () => {
  setState('starting');
  try {
    const s = await open('presenter', PRESENTER).catch((e) => {
      throw /taken/.test(e.message) ? new Error('Someone else is presenting; try View') : e;
    });
    s.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    $('local-video').srcObject = s.stream;
    s.pipeline = await s.rpc.create('MediaPipeline');
    s.endpoint = await s.rpc.create('WebRtcEndpoint', { mediaPipeline: s.pipeline });
    s.peer = await connectEndpoint({ rpc: s.rpc, endpoint: s.endpoint, stream: s.stream, receive: false, log });
    s.signaling.on('message', (from, msg) => onViewerMessage(s, from, msg));
    s.signaling.on('peer-left', (who) => dropViewer(s, who));
    showViewers(0);
    s.signaling.broadcast({ id: 'presenting' });
    setState('presenting');
  } catch (e) {
    showError(e);
    stop();
  }
});

async function onViewerMessage(s, from, msg) {
  if (!msg || msg.id !== 'view' || s.viewers.has(from)) return;
  try {
    const endpoint = await s.rpc.create('WebRtcEndpoint', { mediaPipeline: s.pipeline });
    s.viewers.set(from, endpoint);
    await s.rpc.invoke(s.endpoint, 'connect', { sink: endpoint });
    s.signaling.send(from, { id: 'viewerEndpoint', endpoint });
    announceViewers(s);
  } catch (e) {
    s.signaling.send(from, { id: 'refused', message: e.message });
  }
}

async function dropViewer(s, who) {
  const endpoint = s.viewers.get(who);
  if (!endpoint) return;
  s.viewers.delete(who);
  announceViewers(s);
  await s.rpc.release(endpoint).catch(() => {});
}

function announceViewers(s) {
  showViewers(s.viewers.size);
  s.signaling.broadcast({ id: 'viewers', count: s.viewers.size });
}

// ---- viewer --------------------------------------------------------------------------------

$('view').addEventListener('click', async () => {
  setState('joining');
  try {
    const name = `viewer-${Math.random().toString(36).slice(2, 8)}`;
    const s = await open('viewer', name);
    s.signaling.on('error', (message, to) => {
      if (to === PRESENTER) { showError(new Error('No one is presenting yet')); stop(); }
    });
    s.signaling.on('peer-left', (who) => {
      if (who === PRESENTER) { log('the presenter left'); stop(); }
    });
    s.signaling.on('message', async (from, msg) => {
      if (from !== PRESENTER || !msg) return;
      if (msg.id === 'viewers') showViewers(msg.count);
      if (msg.id === 'refused') { showError(new Error(msg.message)); stop(); }
      if (msg.id === 'viewerEndpoint') {
        try {
          s.endpoint = msg.endpoint;
          s.peer = await connectEndpoint({ rpc: s.rpc, endpoint: msg.endpoint, video: $('remote-video'), log });
          setState('viewing');
        } catch (e) {
          showError(e);
          stop();
        }
      }
    });
    s.signaling.send(PRESENTER, { id: 'view' });
  } catch (e) {
    showError(e);
    stop();
  }
});

// ---- both ----------------------------------------------------------------------------------

async function stop() {
  const s = session;
  session = null;
  if (!s) return;
  if (s.peer) s.peer.close();
  if (s.stream) for (const t of s.stream.getTracks()) t.stop();
  $('local-video').srcObject = null;
  $('remote-video').srcObject = null;
  if (s.role === 'presenter' && s.signaling && s.signaling.ws) s.signaling.broadcast({ id: 'stopped' });
  try {
    if (s.rpc && s.pipeline) await s.rpc.release(s.pipeline).catch(() => {});
    if (s.rpc && s.role === 'viewer' && s.endpoint) await s.rpc.release(s.endpoint).catch(() => {});
  } finally {
    if (s.rpc) s.rpc.close();
    if (s.signaling) s.signaling.close();
  }
  showViewers(0);
  demoState.role = null;
  setState('idle');
}

$('stop').addEventListener('click', stop);
window.addEventListener('pagehide', () => { if (session) stop(); });
setState('idle');
