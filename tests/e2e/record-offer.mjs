// Records the SDP offer headless Chromium makes for one audio and one video track, as a browser
// app sending its camera and microphone does. The media crate's SDP tests read the result, so
// that they check Rheo against a real browser's offer, kept in the repository.
//   node record-offer.mjs ../../media/tests/data/offer-chromium156.sdp
import { writeFileSync } from 'node:fs';

import { launchChromium } from './lib/harness.mjs';

const out = process.argv[2];
if (!out) throw new Error('usage: node record-offer.mjs OUT.sdp');
const browser = await launchChromium({ y4m: '/dev/null' });
try {
  const page = await browser.newPage();
  await page.goto('about:blank');
  const { sdp, version } = await page.evaluate(async () => {
    // Tracks without getUserMedia: a canvas for video, an oscillator for audio.
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 480;
    canvas.getContext('2d').fillRect(0, 0, 10, 10);
    const video = canvas.captureStream(30).getVideoTracks()[0];
    const audioCtx = new AudioContext();
    const dest = audioCtx.createMediaStreamDestination();
    audioCtx.createOscillator().connect(dest);
    const audio = dest.stream.getAudioTracks()[0];
    const stream = new MediaStream([audio, video]);
    const pc = new RTCPeerConnection();
    pc.addTrack(audio, stream);
    pc.addTrack(video, stream);
    const offer = await pc.createOffer();
    pc.close();
    return { sdp: offer.sdp, version: navigator.userAgent.match(/Chrome\/([\d.]+)/)[1] };
  });
  writeFileSync(out, sdp);
  console.log(`record-offer: Chromium ${version}, ${sdp.length} bytes -> ${out}`);
} finally {
  await browser.close();
}
