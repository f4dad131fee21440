// Player: a PlayerEndpoint connected to a receive-only WebRtcEndpoint, as Kurento's player
// tutorial. Pause and resume, a seek bar from getVideoInfo and getPosition, EndOfStream shown.
//
// `window.demoState.player` reports { uri, state, durationMs, positionMs, seekable, ended }
// for the tests.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);
const pauseButton = $('pause');
const seekBar = $('seek');
const positionText = $('position');
const playerText = $('player-state');
const POSITION_POLL_MS = 500;

let current = null; // { ctx, player, status, timer }

function show(status, state) {
  status.state = state;
  playerText.textContent = state;
}

function seconds(ms) {
  return (ms / 1000).toFixed(1);
}

function showPosition(status) {
  if (!seekBar.matches(':active')) seekBar.value = String(status.positionMs);
  positionText.textContent = status.durationMs > 0
    ? `${seconds(status.positionMs)} / ${seconds(status.durationMs)} s`
    : `${seconds(status.positionMs)} s (live)`;
}

async function pollPosition(session) {
  if (current !== session || session.status.state !== 'playing') return;
  try {
    session.status.positionMs = await session.ctx.rpc.invoke(session.player, 'getPosition');
    showPosition(session.status);
  } catch (e) {
    session.ctx.log(`getPosition failed: ${e.message}`);
  }
}

const demo = setupLoopbackDemo({
  title: 'player',
  receiveOnly: true,
  async buildGraph(ctx) {
    const uri = $('uri').value.trim();
    const status = { uri, state: 'created', durationMs: 0, positionMs: 0, seekable: false, ended: false };
    window.demoState.player = status;
    const player = await ctx.rpc.create('PlayerEndpoint', { mediaPipeline: ctx.pipeline, uri });
    await ctx.rpc.subscribe(player, 'EndOfStream', () => {
      status.ended = true;
      status.positionMs = status.durationMs;
      showPosition(status);
      show(status, 'end of stream');
      pauseButton.disabled = true;
      ctx.log('EndOfStream');
    });
    await ctx.rpc.subscribe(player, 'Error', (d) => ctx.showError(new Error(`Player error: ${d.description}`)));
    await ctx.rpc.invoke(player, 'connect', { sink: ctx.webRtc });
    ctx.log(`PlayerEndpoint for ${uri}`);
    current = { ctx, player, status, timer: null };
  },
  async afterOffer(ctx) {
    const session = current;
    const { player, status } = session;
    await ctx.rpc.invoke(player, 'play');
    show(status, 'playing');
    const info = await ctx.rpc.invoke(player, 'getVideoInfo');
    ctx.log(`VideoInfo ${JSON.stringify(info)}`);
    status.durationMs = info.duration;
    status.seekable = info.isSeekable;
    seekBar.max = String(Math.max(info.duration, 0));
    seekBar.disabled = !info.isSeekable;
    pauseButton.disabled = false;
    showPosition(status);
    session.timer = setInterval(() => pollPosition(session), POSITION_POLL_MS);
  },
});

async function togglePause() {
  const session = current;
  if (!session) return;
  const { ctx, player, status } = session;
  try {
    if (status.state === 'playing') {
      await ctx.rpc.invoke(player, 'pause');
      show(status, 'paused');
      pauseButton.textContent = 'Resume';
    } else if (status.state === 'paused') {
      await ctx.rpc.invoke(player, 'play');
      show(status, 'playing');
      pauseButton.textContent = 'Pause';
    }
  } catch (e) {
    ctx.showError(e);
  }
}

async function seek() {
  const session = current;
  if (!session || session.status.ended) return;
  const position = Number(seekBar.value);
  try {
    await session.ctx.rpc.invoke(session.player, 'setPosition', { position });
    session.status.positionMs = position;
    showPosition(session.status);
    session.ctx.log(`seek to ${seconds(position)} s`);
  } catch (e) {
    session.ctx.showError(e);
  }
}

function endSession() {
  if (current && current.timer) clearInterval(current.timer);
  current = null;
  pauseButton.disabled = true;
  pauseButton.textContent = 'Pause';
  seekBar.disabled = true;
}

pauseButton.addEventListener('click', togglePause);
seekBar.addEventListener('change', seek);
$('stop').addEventListener('click', endSession);
window.playerDemo = { ...demo, seek: (ms) => { seekBar.value = String(ms); return seek(); } };
