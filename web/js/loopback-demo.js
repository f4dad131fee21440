// Shared logic of the loopback demos: the browser sends its camera to the media server through
// a WebRtcEndpoint, the server routes it (directly, or through a filter) back into the same
// endpoint, and the browser shows what comes back.
//
// A demo page supplies `buildGraph({rpc, pipeline, webRtc})`, called after the WebRtcEndpoint
// exists and before the SDP offer is processed, and optionally `afterOffer(...)`.
//
// For automated tests the page exposes `window.demoState`:
//   { state, error, remoteFrames, mediaState, flowOut, iceState, icePath, pipeline, webRtc }
//
// `receiveOnly: true` (the player) opens no camera: the browser offers to receive audio and
// video only. `dataChannel: true` creates the endpoint with `useDataChannels` and opens a channel
// before the offer (`ctx.channel`), as kurento-utils does.
//
// `?ice=relay` sends everything through the TURN relay (iceTransportPolicy "relay"): a way to
// check that the relay works before relying on it.

import { KurentoConnection, KurentoError, defaultServerUrl, fetchIceServers } from './kurento-jsonrpc.js';

export function setupLoopbackDemo({ buildGraph, afterOffer, title, receiveOnly = false, dataChannel = false }) {
  const $ = (id) => document.getElementById(id);
  const localVideo = $('local-video');
  const remoteVideo = $('remote-video');
  const startButton = $('start');
  const stopButton = $('stop');
  const stateText = $('state');
  const mediaText = $('media-state');
  const errorBox = $('error');
  const logBox = $('log');

  const params = new URLSearchParams(location.search);
  const wantAudio = params.get('audio') !== '0';
  const relayOnly = params.get('ice') === 'relay';

  const demoState = {
    state: 'idle',
    error: null,
    remoteFrames: 0,
    mediaState: null,
    flowOut: null,
    iceState: null,
    icePath: null, // {local, remote, protocol, relayOnly}: candidate types of the selected pair
    pipeline: null,
    webRtc: null,
    peerConnection: null, // the call's RTCPeerConnection, whose getStats tests read
  };
  window.demoState = demoState;

  let session = null; // {rpc, pc, stream, pipeline, webRtc, stopped}

  function log(text) {
    const line = `${new Date().toISOString().slice(11, 23)} ${text}`;
    console.log(`[${title}] ${text}`);
    if (logBox) {
      logBox.textContent += line + '\n';
      logBox.scrollTop = logBox.scrollHeight;
    }
  }

  function setState(state) {
    demoState.state = state;
    stateText.textContent = state;
    log(`state: ${state}`);
  }

  // Server-side view of the media, from MediaStateChanged and MediaFlowOutStateChanged.
  function showMedia() {
    const parts = [];
    if (demoState.mediaState) parts.push(demoState.mediaState.toLowerCase());
    if (demoState.flowOut) parts.push(`flow out ${demoState.flowOut.toLowerCase().replace('_', ' ')}`);
    if (mediaText) mediaText.textContent = parts.length ? parts.join(', ') : '–';
  }

  function showError(err) {
    const text = err instanceof KurentoError || err instanceof Error ? err.message : String(err);
    demoState.error = text;
    errorBox.textContent = text;
    errorBox.hidden = false;
    log(`ERROR: ${text}`);
  }

  function clearError() {
    demoState.error = null;
    errorBox.textContent = '';
    errorBox.hidden = true;
  }

  function setButtons(running) {
    startButton.disabled = running;
    stopButton.disabled = !running;
  }

  // ---- remote frame counting ---------------------------------------------------------------

  let frameCallbackActive = false;
  function countRemoteFrames() {
    if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
      if (frameCallbackActive) return;
      frameCallbackActive = true;
      const onFrame = () => {
        if (remoteVideo.videoWidth > 0) demoState.remoteFrames++;
        remoteVideo.requestVideoFrameCallback(onFrame);
      };
      remoteVideo.requestVideoFrameCallback(onFrame);
    } else {
      // Fallback: count advances of currentTime on a decoded video.
      let last = -1;
      setInterval(() => {
        if (remoteVideo.videoWidth > 0 && remoteVideo.currentTime !== last) {
          last = remoteVideo.currentTime;
          demoState.remoteFrames++;
        }
      }, 33);
    }
  }

  // The candidate pair ICE chose: host, srflx, prflx or relay at each end.
  async function showIcePath(pc) {
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
    });
    if (!pair) stats.forEach((r) => { if (!pair && r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r; });
    if (!pair) return;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    if (!local || !remote) return;
    demoState.icePath = { local: local.candidateType, remote: remote.candidateType, protocol: local.protocol, relayOnly };
    log(`ICE path: ${local.candidateType} -> ${remote.candidateType} (${local.protocol})`);
  }

  // ---- start / stop ------------------------------------------------------------------------

  async function start() {
    clearError();
    setButtons(true);
    demoState.remoteFrames = 0;
    demoState.mediaState = demoState.flowOut = demoState.iceState = demoState.icePath = null;
    showMedia();
    const s = { rpc: null, pc: null, stream: null, pipeline: null, webRtc: null, stopped: false };
    session = s;
    try {
      if (!receiveOnly) {
        setState('opening camera');
        s.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: wantAudio });
        localVideo.srcObject = s.stream;
      }

      setState('connecting to media server');
      s.rpc = new KurentoConnection(defaultServerUrl());
      s.rpc.onClose((ev) => {
        const why = ev && ev.reason ? `: ${ev.reason}` : '';
        if (!s.stopped) showError(new Error(`Lost the connection to the media server${why}`));
      });
      await s.rpc.open();
      if (s.stopped) return;

      const iceServers = await fetchIceServers();
      log(iceServers.length ? `TURN relay: ${iceServers[0].urls.join(', ')}` : 'no TURN relay offered by the server');
      if (s.stopped) return;
      if (relayOnly && !iceServers.length) throw new Error('?ice=relay needs a TURN relay, and the server offers none');
      const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: relayOnly ? 'relay' : 'all' });
      if (relayOnly) log('ICE: relay only (?ice=relay)');
      s.pc = pc;
      demoState.peerConnection = pc;
      s.channel = dataChannel ? pc.createDataChannel('dataChannel') : null;
      if (receiveOnly) {
        pc.addTransceiver('video', { direction: 'recvonly' });
        if (wantAudio) pc.addTransceiver('audio', { direction: 'recvonly' });
      } else {
        for (const track of s.stream.getTracks()) pc.addTrack(track, s.stream);
      }
      pc.ontrack = (ev) => {
        // Tracks without a stream (no msid) are gathered into one, so audio joins the video.
        let stream = ev.streams[0];
        if (!stream) {
          stream = remoteVideo.srcObject || new MediaStream();
          stream.addTrack(ev.track);
        }
        if (remoteVideo.srcObject !== stream) {
          remoteVideo.srcObject = stream;
          remoteVideo.play().catch(() => { /* autoplay rules; the video element has autoplay */ });
          countRemoteFrames();
        }
      };
      pc.oniceconnectionstatechange = () => {
        demoState.iceState = pc.iceConnectionState;
        log(`ICE connection state: ${pc.iceConnectionState}`);
        if (pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed') {
          showIcePath(pc).catch((e) => log(`ICE path unknown: ${e.message}`));
        }
        if (pc.iceConnectionState === 'failed' && !s.stopped) {
          showError(new Error('ICE failed: no network path to the media server'));
        }
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'failed' && !s.stopped) {
          showError(new Error('WebRTC connection failed (ICE/DTLS)'));
        }
      };

      // Local candidates are queued until the WebRtcEndpoint exists.
      const localCandidates = [];
      let sendCandidate = (c) => localCandidates.push(c);
      pc.onicecandidate = (ev) => {
        if (ev.candidate && ev.candidate.candidate) sendCandidate(ev.candidate);
      };

      setState('creating offer');
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);

      setState('creating media pipeline');
      s.pipeline = await s.rpc.create('MediaPipeline');
      demoState.pipeline = s.pipeline;
      if (s.stopped) return;
      s.rpc.subscribe(s.pipeline, 'Error', (d) => showError(new Error(`Pipeline error: ${d.description || d.type}`)))
        .catch((e) => log(`subscribe Error (pipeline) failed: ${e.message}`));

      s.webRtc = await s.rpc.create('WebRtcEndpoint',
        dataChannel ? { mediaPipeline: s.pipeline, useDataChannels: true } : { mediaPipeline: s.pipeline });
      demoState.webRtc = s.webRtc;
      if (s.stopped) return;

      // Remote candidates are queued until the answer has been applied.
      const remoteCandidates = [];
      let answerApplied = false;
      const addRemote = (c) => pc.addIceCandidate(c).catch((e) => log(`addIceCandidate failed: ${e.message}`));
      await s.rpc.subscribe(s.webRtc, 'IceCandidateFound', (data) => {
        const c = data.candidate;
        const init = { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
        if (answerApplied) addRemote(init);
        else remoteCandidates.push(init);
      });
      const watch = (type, fn) => s.rpc.subscribe(s.webRtc, type, fn)
        .catch((e) => log(`subscribe ${type} failed: ${e.message}`));
      watch('MediaStateChanged', (d) => {
        demoState.mediaState = d.newState;
        showMedia();
        log(`MediaStateChanged: ${d.oldState} -> ${d.newState}`);
      });
      watch('MediaFlowOutStateChanged', (d) => {
        if (d.mediaType === 'VIDEO' || !demoState.flowOut) demoState.flowOut = d.state;
        showMedia();
        log(`MediaFlowOutStateChanged: ${d.mediaType} ${d.state}`);
      });
      watch('Error', (d) => showError(new Error(`WebRtcEndpoint error: ${d.description || d.type}`)));

      // Flush the local candidates gathered so far, then send the rest as they come.
      sendCandidate = (c) => {
        s.rpc.invoke(s.webRtc, 'addIceCandidate', {
          candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex },
        }).catch((e) => { if (!s.stopped) showError(e); });
      };
      for (const c of localCandidates.splice(0)) sendCandidate(c);

      const ctx = { rpc: s.rpc, pipeline: s.pipeline, webRtc: s.webRtc, channel: s.channel, log, showError, setState };
      if (buildGraph) await buildGraph(ctx);
      if (s.stopped) return;

      setState('negotiating');
      const answer = await s.rpc.invoke(s.webRtc, 'processOffer', { offer: pc.localDescription.sdp });
      if (s.stopped) return;
      const gathering = s.rpc.invoke(s.webRtc, 'gatherCandidates');
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      answerApplied = true;
      for (const c of remoteCandidates.splice(0)) addRemote(c);
      await gathering;
      if (afterOffer) await afterOffer(ctx);
      setState('running');
    } catch (e) {
      showError(e);
      if (session === s) {
        session = null;
        await teardown(s);
        setButtons(false);
        setState('failed');
      }
    }
  }

  // Release the server-side pipeline (and with it every element), then close everything local.
  async function teardown(s) {
    s.stopped = true;
    try {
      if (s.pipeline && s.rpc && !s.rpc.closed) await s.rpc.release(s.pipeline);
    } catch (e) {
      if (!demoState.error) showError(e);
    }
    if (s.rpc) s.rpc.close();
    if (s.pc) s.pc.close();
    if (s.stream) for (const t of s.stream.getTracks()) t.stop();
    if (localVideo) localVideo.srcObject = null;
    remoteVideo.srcObject = null;
  }

  async function stop() {
    const s = session;
    session = null;
    setButtons(false);
    if (!s) return;
    setState('stopping');
    await teardown(s);
    setState('stopped');
  }

  startButton.addEventListener('click', start);
  stopButton.addEventListener('click', stop);
  window.addEventListener('pagehide', () => { if (session) stop(); });
  setButtons(false);
  setState('idle');
  log(`media server: ${defaultServerUrl()}`);
  return { start, stop, demoState };
}
