// Group call (Kurento's group-call): members of a /demo-signaling room share one pipeline. The
// first member creates it (and, in mixed mode, a Composite); later members ask a member for
// it. Each member publishes one endpoint; everyone else connects it into an endpoint of their
// own to receive it. In mixed mode each member has one endpoint and one HubPort instead.
// Members release what they made when they leave; when a page vanishes, the others release
// its endpoint.
//
// `window.demoState`: { state, error, name, room, mixed, members: {name: frames}, mixFrames,
//                       recording }.

import { KurentoConnection, KurentoError, defaultServerUrl } from '../js/kurento-jsonrpc.js';
import { DemoSignaling } from '../js/demo-signaling.js';
import { connectEndpoint } from '../js/endpoint-peer.js';

const $ = (id) => document.getElementById(id);
const demoState = {
  state: 'idle', error: null, name: null, room: null, mixed: false, members: {}, mixFrames: 0, recording: null,
};
window.demoState = demoState;

let session = null;
// { signaling, rpc, stream, mixed, room: {pipeline, composite, published: {name: endpoint}},
//   own: {endpoint, peer, port}, incoming: Map(name -> {endpoint, peer, figure}), recorder }

function log(text) {
  console.log(`[groupcall] ${text}`);
  $('log').textContent += `${new Date().toISOString().slice(11, 23)} ${text}\n`;
}

function setState(state) {
  demoState.state = state;
  $('state').textContent = state;
  const inRoom = state !== 'idle';
  for (const id of ['room', 'name', 'mixed', 'join']) $(id).disabled = inRoom;
  $('leave').disabled = !inRoom;
  log(`state: ${state}`);
}

function showError(e) {
  const text = e instanceof KurentoError || e instanceof Error ? e.message : String(e);
  demoState.error = text;
  $('error').textContent = text;
  $('error').hidden = false;
  log(`ERROR: ${text}`);
}

function tile(caption) {
  const figure = document.createElement('figure');
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  const label = document.createElement('figcaption');
  label.textContent = caption;
  figure.append(video, label);
  $('tiles').appendChild(figure);
  return { figure, video };
}

setInterval(() => {
  if (!session) return;
  const members = {};
  for (const [name, inc] of session.incoming) members[name] = Number(inc.video.dataset.frames || 0);
  demoState.members = members;
  if (session.own && session.own.video) demoState.mixFrames = Number(session.own.video.dataset.frames || 0);
}, 200);

$('join-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('error').hidden = true;
  demoState.error = null;
  const room = $('room').value.trim();
  const name = $('name').value.trim();
  if (!room || !name) return showError(new Error('Choose a room and a name'));
  const mixed = $('mixed').checked;
  const s = { mixed, incoming: new Map(), room: null, own: null };
  session = s;
  setState('joining');
  try {
    s.signaling = new DemoSignaling();
    s.signaling.on('message', (from, msg) => onMessage(s, from, msg).catch(showError));
    s.signaling.on('peer-left', (who) => onLeft(s, who).catch(showError));
    s.signaling.on('closed', (why) => { if (session === s) { showError(new Error(`Lost the signaling relay: ${why}`)); leave(); } });
    // Mixed and plain rooms of the same name are different rooms.
    const peers = await s.signaling.join(`group-${mixed ? 'mixed' : 'plain'}-${room}`, name);
    demoState.name = name;
    demoState.room = room;
    demoState.mixed = mixed;
    s.rpc = new KurentoConnection(defaultServerUrl());
    await s.rpc.open();
    s.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    $('local-video').srcObject = s.stream;
    if (peers.length === 0) {
      const pipeline = await s.rpc.create('MediaPipeline');
      const composite = mixed ? await s.rpc.create('Composite', { mediaPipeline: pipeline }) : null;
      s.room = { pipeline, composite, published: {} };
      await publish(s);
    } else {
      // Anyone in the room knows it; the first one answers.
      s.signaling.send(peers[0], { id: 'hello' });
    }
  } catch (e) {
    showError(e);
    leave();
  }
});

async function publish(s) {
  const { rpc, room } = s;
  const endpoint = await rpc.create('WebRtcEndpoint', { mediaPipeline: room.pipeline });
  if (s.mixed) {
    const port = await rpc.create('HubPort', { hub: room.composite });
    await rpc.invoke(endpoint, 'connect', { sink: port });
    await rpc.invoke(port, 'connect', { sink: endpoint });
    const { video } = tile('The room, mixed');
    video.id = 'mix-video';
    s.own = { endpoint, port, video };
    s.own.peer = await connectEndpoint({ rpc, endpoint, stream: s.stream, video, log });
    $('record-controls').hidden = false;
  } else {
    s.own = { endpoint };
    s.own.peer = await connectEndpoint({ rpc, endpoint, stream: s.stream, receive: false, log });
    for (const [name, published] of Object.entries(room.published)) await receive(s, name, published);
  }
  room.published[demoState.name] = endpoint;
  s.signaling.broadcast({ id: 'publishing', endpoint });
  setState('in room');
}

/** Receives `name`'s published endpoint on an endpoint of this page's own. */
async function receive(s, name, published) {
  if (s.mixed || s.incoming.has(name) || name === demoState.name) return;
  const endpoint = await s.rpc.create('WebRtcEndpoint', { mediaPipeline: s.room.pipeline });
  const { figure, video } = tile(name);
  video.dataset.member = name;
  s.incoming.set(name, { endpoint, figure, video });
  await s.rpc.invoke(published, 'connect', { sink: endpoint });
  s.incoming.get(name).peer = await connectEndpoint({ rpc: s.rpc, endpoint, video, log });
}

async function onMessage(s, from, msg) {
  if (!msg || session !== s) return;
  if (msg.id === 'hello' && s.room) {
    s.signaling.send(from, { id: 'room', ...s.room });
  } else if (msg.id === 'room' && !s.room) {
    s.room = { pipeline: msg.pipeline, composite: msg.composite, published: { ...msg.published } };
    await publish(s);
  } else if (msg.id === 'publishing' && s.room) {
    s.room.published[from] = msg.endpoint;
    if (s.own) await receive(s, from, msg.endpoint);
  }
}

async function onLeft(s, who) {
  if (session !== s || !s.room) return;
  const published = s.room.published[who];
  delete s.room.published[who];
  const inc = s.incoming.get(who);
  s.incoming.delete(who);
  if (inc) {
    if (inc.peer) inc.peer.close();
    inc.figure.remove();
    await s.rpc.release(inc.endpoint).catch(() => {});
  }
  // A page that vanished leaves its endpoint behind: whoever sees it go releases it.
  if (published) await s.rpc.release(published).catch(() => {});
}

// ---- recording the mixed room --------------------------------------------------------------

$('record').addEventListener('click', async () => {
  const s = session;
  if (!s || !s.mixed || s.recorder) return;
  try {
    const uri = `group-${demoState.room}-${Date.now()}.webm`;
    const port = await s.rpc.create('HubPort', { hub: s.room.composite });
    const recorder = await s.rpc.create('RecorderEndpoint', { mediaPipeline: s.room.pipeline, uri });
    await s.rpc.invoke(port, 'connect', { sink: recorder });
    await s.rpc.invoke(recorder, 'record');
    s.recorder = { port, recorder, uri };
    demoState.recording = uri;
    $('recording').textContent = `to ${uri}`;
    $('record').disabled = true;
    $('stop-record').disabled = false;
  } catch (e) {
    showError(e);
  }
});

async function stopRecording(s) {
  const rec = s.recorder;
  if (!rec) return;
  s.recorder = null;
  await s.rpc.invoke(rec.recorder, 'stopAndWait').catch(() => {});
  await s.rpc.release(rec.recorder).catch(() => {});
  await s.rpc.release(rec.port).catch(() => {});
  $('recording').textContent = `saved as ${rec.uri} in the media folder`;
  $('record').disabled = false;
  $('stop-record').disabled = true;
}

$('stop-record').addEventListener('click', () => session && stopRecording(session));

// ---- leaving ------------------------------------------------------------------------------

async function leave() {
  const s = session;
  session = null;
  if (!s) return;
  if (s.signaling) s.signaling.close();
  if (s.stream) for (const t of s.stream.getTracks()) t.stop();
  $('local-video').srcObject = null;
  for (const inc of s.incoming.values()) {
    if (inc.peer) inc.peer.close();
    inc.figure.remove();
  }
  if (s.own && s.own.peer) s.own.peer.close();
  if (s.own && s.own.video) s.own.video.closest('figure').remove();
  try {
    if (s.rpc) {
      await stopRecording(s);
      const made = [...[...s.incoming.values()].map((i) => i.endpoint)];
      if (s.own) made.push(s.own.endpoint, ...(s.own.port ? [s.own.port] : []));
      for (const id of made) await s.rpc.release(id).catch(() => {});
    }
  } finally {
    if (s.rpc) s.rpc.close();
  }
  $('record-controls').hidden = true;
  demoState.members = {};
  setState('idle');
}

$('leave').addEventListener('click', leave);
window.addEventListener('pagehide', () => { if (session) leave(); });
setState('idle');
