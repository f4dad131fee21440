// One browser-side RTCPeerConnection bound to one WebRtcEndpoint on the media server: the
// page's offer goes to processOffer, candidates trickle both ways. The call demos use one per
// endpoint (send and receive, send only, or receive only).
//
//   const peer = await connectEndpoint({rpc, endpoint, stream, receive: true, video, log});
//   ... peer.close();
//
// `stream`: local tracks to send (none: receive only). `receive`: whether to receive.
// `video`: the <video> the received media plays in; its frames are counted in
// `video.dataset.frames` for the tests.

import { fetchIceServers } from './kurento-jsonrpc.js';

export function countFrames(video) {
  video.dataset.frames = '0';
  if (!('requestVideoFrameCallback' in HTMLVideoElement.prototype)) return;
  const onFrame = () => {
    video.dataset.frames = String(Number(video.dataset.frames) + 1);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

export async function connectEndpoint({ rpc, endpoint, stream = null, receive = true, video = null, log = () => {} }) {
  const iceServers = await fetchIceServers();
  const pc = new RTCPeerConnection({ iceServers });
  if (stream) {
    for (const track of stream.getTracks()) {
      pc.addTransceiver(track, { direction: receive ? 'sendrecv' : 'sendonly', streams: [stream] });
    }
  } else {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
  }
  if (video && receive) {
    pc.ontrack = (ev) => {
      let remote = ev.streams[0];
      if (!remote) {
        remote = video.srcObject || new MediaStream();
        remote.addTrack(ev.track);
      }
      if (video.srcObject !== remote) {
        video.srcObject = remote;
        video.play().catch(() => {});
        countFrames(video);
      }
    };
  }
  const remoteCandidates = [];
  let answered = false;
  await rpc.subscribe(endpoint, 'IceCandidateFound', (data) => {
    const c = data.candidate;
    const init = { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
    if (answered) pc.addIceCandidate(init).catch((e) => log(`addIceCandidate: ${e.message}`));
    else remoteCandidates.push(init);
  });
  pc.onicecandidate = (ev) => {
    if (!ev.candidate || !ev.candidate.candidate) return;
    const c = ev.candidate;
    rpc.invoke(endpoint, 'addIceCandidate', {
      candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex },
    }).catch((e) => log(`addIceCandidate (server): ${e.message}`));
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const answer = await rpc.invoke(endpoint, 'processOffer', { offer: offer.sdp });
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  answered = true;
  for (const c of remoteCandidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
  await rpc.invoke(endpoint, 'gatherCandidates');
  return {
    pc,
    close() {
      pc.close();
      if (video) video.srcObject = null;
    },
  };
}
