// WHIP and WHEP from a page: an RTCPeerConnection whose offer is POSTed to Rheo's /whip/<stream>
// (publish) or /whep/<stream> (watch); the 201's body is the answer, its Location the session
// that DELETE ends. The offer waits for ICE gathering (at most GATHER_MS), so that one POST
// carries every candidate; the ICE servers come from the answer's Link headers, as WHIP says.

const GATHER_MS = 2000;

/** An HTTP failure of a WHIP/WHEP request: the status and the server's short text. */
export class WhipError extends Error {
  constructor(status, text) {
    super(`${status}: ${text.trim() || 'request failed'}`);
    this.status = status;
  }
}

/** The URL of a stream: `kind` is 'whip' or 'whep'. */
export function streamUrl(kind, stream) {
  return new URL(`/${kind}/${encodeURIComponent(stream)}`, location.href).href;
}

function waitForGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, GATHER_MS);
  });
}

/** `rel="ice-server"` Link headers as RTCIceServers. */
export function iceServersFromLinks(linkHeader) {
  if (!linkHeader) return [];
  return linkHeader.split(/,(?=\s*<)/).flatMap((link) => {
    const m = link.match(/<([^>]+)>(.*)/);
    if (!m || !/rel="?ice-server"?/.test(m[2])) return [];
    const param = (name) => (m[2].match(new RegExp(`${name}="([^"]*)"`)) || [])[1];
    const server = { urls: m[1] };
    if (param('username')) {
      server.username = param('username');
      server.credential = param('credential');
    }
    return [server];
  });
}

/**
 * Opens a WHIP or WHEP session. `setup(pc)` adds tracks or transceivers before the offer.
 * Returns `{pc, location, close()}`; `close` DELETEs the session and closes the connection.
 */
export async function openSession({ url, token, setup, log = () => {} }) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  try {
    setup(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    const headers = { 'Content-Type': 'application/sdp' };
    if (token) headers.Authorization = `Bearer ${token}`;
    log(`POST ${url}`);
    const response = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp });
    const body = await response.text();
    if (response.status !== 201) throw new WhipError(response.status, body);
    const location = new URL(response.headers.get('Location'), url).href;
    const iceServers = iceServersFromLinks(response.headers.get('Link'));
    if (iceServers.length) pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
    log(`201 Created: ${location}`);
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    return {
      pc,
      location,
      async close() {
        pc.close();
        await fetch(location, { method: 'DELETE', headers: token ? { Authorization: `Bearer ${token}` } : {} })
          .catch(() => {});
      },
    };
  } catch (e) {
    pc.close();
    throw e;
  }
}

/** Publishes `stream` (a MediaStream) to `url`. */
export function publish({ url, token, stream, log }) {
  return openSession({
    url, token, log,
    setup: (pc) => stream.getTracks().forEach((track) => pc.addTransceiver(track, { direction: 'sendonly' })),
  });
}

/** Watches `url`; `onTrack(stream)` gets what arrives. */
export function watch({ url, token, onTrack, log }) {
  return openSession({
    url, token, log,
    setup: (pc) => {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.ontrack = (event) => onTrack(event.streams[0] || new MediaStream([event.track]));
    },
  });
}

/** Counts the decoded frames of `video` into `state.remoteFrames`. */
export function countFrames(video, state) {
  const onFrame = () => {
    if (video.videoWidth > 0) state.remoteFrames++;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}
