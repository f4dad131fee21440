// Hello World with recording: the loopback of Hello World, recorded by a RecorderEndpoint into
// the server's media folder; then the file is finished and played back to the page by a
// PlayerEndpoint connected to the same WebRtcEndpoint.
//
// `window.demoState.recording` reports { state, uri, ended, playbackFrames } for the tests.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);
const playButton = $('play');
const recordingText = $('recording-state');
let current = null; // { ctx, recorder } of the running session

function showRecording(recording, state) {
  recording.state = state;
  recordingText.textContent = state;
}

const demo = setupLoopbackDemo({
  title: 'recorder',
  async buildGraph(ctx) {
    const profile = $('profile').value;
    const mediaProfile = $('video-only').checked ? `${profile}_VIDEO_ONLY` : profile;
    // A plain name: the server puts it in its media folder.
    const uri = `rheo-recording-${Date.now()}.${profile.toLowerCase()}`;
    const recording = { state: 'created', uri, ended: false, playbackFrames: 0 };
    window.demoState.recording = recording;
    const recorder = await ctx.rpc.create('RecorderEndpoint',
      { mediaPipeline: ctx.pipeline, uri, mediaProfile });
    await ctx.rpc.subscribe(recorder, 'Recording', () => showRecording(recording, 'recording'));
    await ctx.rpc.subscribe(recorder, 'Stopped', () => showRecording(recording, 'stopped'));
    await ctx.rpc.subscribe(recorder, 'Error', (d) => ctx.showError(new Error(`Recorder error: ${d.description}`)));
    await ctx.rpc.invoke(ctx.webRtc, 'connect', { sink: ctx.webRtc });
    await ctx.rpc.invoke(ctx.webRtc, 'connect', { sink: recorder });
    ctx.log(`RecorderEndpoint (${mediaProfile}) writing ${uri}`);
    current = { ctx, recorder, recording };
  },
  async afterOffer(ctx) {
    await ctx.rpc.invoke(current.recorder, 'record');
    playButton.disabled = false;
  },
});

async function stopAndPlay() {
  const session = current;
  if (!session) return;
  playButton.disabled = true;
  const { ctx, recorder, recording } = session;
  try {
    await ctx.rpc.invoke(recorder, 'stopAndWait');
    showRecording(recording, 'stopped');
    const player = await ctx.rpc.create('PlayerEndpoint',
      { mediaPipeline: ctx.pipeline, uri: recording.uri });
    await ctx.rpc.subscribe(player, 'EndOfStream', () => {
      recording.ended = true;
      recording.playbackFrames = window.demoState.remoteFrames - recording.framesBefore;
      showRecording(recording, 'played to the end');
      ctx.log(`EndOfStream after ${recording.playbackFrames} frames`);
    });
    await ctx.rpc.subscribe(player, 'Error', (d) => ctx.showError(new Error(`Player error: ${d.description}`)));
    await ctx.rpc.invoke(player, 'connect', { sink: ctx.webRtc });
    recording.framesBefore = window.demoState.remoteFrames;
    await ctx.rpc.invoke(player, 'play');
    const info = await ctx.rpc.invoke(player, 'getVideoInfo');
    showRecording(recording, `playing (${(info.duration / 1000).toFixed(1)} s)`);
    ctx.log(`PlayerEndpoint playing ${recording.uri}: ${JSON.stringify(info)}`);
  } catch (e) {
    ctx.showError(e);
  }
}

playButton.addEventListener('click', stopAndPlay);
$('stop').addEventListener('click', () => { current = null; playButton.disabled = true; });
window.recorderDemo = demo;
