// Shared helpers of the Rheo end-to-end tests: configuration, timeouts, headless Chromium with a
// fake camera, the fake-camera .y4m, a TCP proxy that can cut connections, artifacts.
import { execFileSync } from 'node:child_process';
import {
  closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(HERE, '..');

export const WS_URL = process.env.RHEO_WS_URL || 'ws://127.0.0.1:8888/kurento';
export const HTTP_URL = (process.env.RHEO_HTTP_URL || 'http://127.0.0.1:8888').replace(/\/+$/, '');
export const CHROMIUM = process.env.RHEO_CHROMIUM || '/usr/bin/chromium';
export const SAMPLE_IMAGE = '/usr/share/doc/opencv-doc/examples/data/messi5.jpg';

/** Where screenshots and frame dumps go (kept after the run for debugging). */
export const ARTIFACTS = process.env.RHEO_E2E_ARTIFACTS || mkdtempSync(path.join(os.tmpdir(), 'rheo-e2e-'));
mkdirSync(ARTIFACTS, { recursive: true });

/** Reject with a descriptive error if `promise` does not settle within `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Wait for an event on an EventEmitter, with a timeout. Resolves with the event's arguments. */
export function once(emitter, event, ms, what = `event '${event}'`) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), ms, what);
}

/** Poll `check` (sync or async) until it returns a truthy value; reject after `ms`. */
export async function waitUntil(check, ms, what, intervalMs = 100) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Call a kurento-client method in callback form (the promise form hides server errors). */
export function call(target, method, ...args) {
  return new Promise((resolve, reject) => {
    target[method](...args, (error, value) => (error ? reject(error) : resolve(value)));
  });
}

/** Same as `call`, but resolves with the error (or null) instead of rejecting. */
export function callForError(target, method, ...args) {
  return new Promise((resolve) => {
    target[method](...args, (error, value) => resolve({ error, value }));
  });
}

// ---- fake camera -------------------------------------------------------------------------------

/**
 * The fake camera shows opencv-doc's messi5.jpg (548x342, one player, a blurred crowd), made
 * into a 640x480 30 fps I420 .y4m for Chromium's --use-file-for-fake-video-capture.
 *
 * Profiles (RHEO_E2E_CAMERA):
 *  - `webcam` (default): the player's upper body, cropped to 4:3 (x 110..384, y 40..245 of the
 *    photo) and scaled up, so the face is ~90 px wide as in a webcam shot;
 *  - `full`: the whole photo stretched to 640x480; the face is only ~45 px wide (~23 px in a
 *    320-wide detection image, below what a Haar cascade with scale factor 1.2 finds there).
 *
 * Face boxes (pixels of the 640x480 frame) were measured with OpenCV's Haar cascades
 * (a one-off C++ measurement) and with Rheo's own rheofaceoverlay element (gst-launch, `rheo-faces`
 * messages): webcam: rheofaceoverlay at detection-width 320 finds x 268 y 124 92x92 (alt2:
 * 274,126 84x84); full: frontalface_alt2 x 264 y 149 45x45, default cascade at 640 also a
 * false 94x94 box at 284,112 (rheofaceoverlay at its default 320 finds nothing).
 * The magic-mirror hat spans 1.6 face sizes starting 0.35 face widths left of and 1.2 face
 * heights above the face; HAT_BOX is a generous box around where that lands.
 */
const CAMERAS = {
  webcam: {
    crop: { left: 110, right: 164, top: 40, bottom: 97 },
    face: [268, 124, 360, 216], // x0, y0, x1, y1 in 640x480
    hat: [180, 0, 440, 200], // expected ~236..383 x 14..161
  },
  full: {
    crop: null,
    face: [264, 149, 309, 194],
    hat: [170, 0, 410, 215], // expected ~248..320 x 95..167 (+ the false box's 251..401 x 0..150)
  },
};
export const CAMERA_NAME = process.env.RHEO_E2E_CAMERA || 'webcam';
const CAMERA = CAMERAS[CAMERA_NAME];
if (!CAMERA) throw new Error(`RHEO_E2E_CAMERA must be one of ${Object.keys(CAMERAS).join(', ')}`);
const frac = ([x0, y0, x1, y1]) => ({ x0: x0 / 640, y0: y0 / 480, x1: x1 / 640, y1: y1 / 480 });
/** Where the face is, as fractions of the frame. */
export const FACE_BOX = frac(CAMERA.face);
/** Where the hat must show up, as fractions of the frame. */
export const HAT_BOX = frac(CAMERA.hat);
/** Minimum hat-coloured area inside HAT_BOX, as a fraction of the frame (~800 px at 640x480). */
export const HAT_MIN_FRACTION = 800 / (640 * 480);
/** Maximum hat-coloured area anywhere in a frame without the filter (~60 px at 640x480). */
export const NO_HAT_MAX_FRACTION = 60 / (640 * 480);

/** The fake-camera .y4m: RHEO_Y4M if it exists (run.sh makes it), else built once here. */
export function fakeCameraY4m() {
  const given = process.env.RHEO_Y4M;
  if (given && existsSync(given) && statSync(given).size > 0) return given;
  const out = given || path.join(ARTIFACTS, `messi5-${CAMERA_NAME}-640x480.y4m`);
  if (existsSync(out) && statSync(out).size > 0) return out;
  buildY4m(out);
  return out;
}

/**
 * The fake camera turned anticlockwise by `degrees` about the frame's centre (black corners), as
 * a head tilted to its left; built once.
 */
export function turnedCameraY4m(degrees) {
  const out = path.join(ARTIFACTS, `messi5-${CAMERA_NAME}-turned${degrees}-640x480.y4m`);
  if (existsSync(out) && statSync(out).size > 0) return out;
  return buildY4m(out, 150, degrees);
}

/** Where the face's centre is in the camera turned anticlockwise by `degrees`, in fractions. */
export function turnedFaceCentre(degrees) {
  const [x0, y0, x1, y1] = CAMERA.face;
  const [dx, dy] = [(x0 + x1) / 2 - 320, (y0 + y1) / 2 - 240];
  const [s, c] = [Math.sin((degrees * Math.PI) / 180), Math.cos((degrees * Math.PI) / 180)];
  // Anticlockwise on screen, where y points down.
  return { x: (320 + dx * c + dy * s) / 640, y: (240 - dx * s + dy * c) / 480 };
}

export function buildY4m(out, frames = 150, turnDegrees = 0) {
  const c = CAMERA.crop;
  const crop = c ? ['videocrop', `left=${c.left}`, `right=${c.right}`, `top=${c.top}`, `bottom=${c.bottom}`, '!'] : [];
  // GStreamer's rotate turns anticlockwise for a positive angle, in radians.
  const turn = turnDegrees ? ['videoconvert', '!', 'rotate', `angle=${(turnDegrees * Math.PI) / 180}`, '!'] : [];
  execFileSync('gst-launch-1.0', ['-q',
    'filesrc', `location=${SAMPLE_IMAGE}`, '!', 'jpegdec', '!', 'videoconvert', '!', ...crop,
    'videoscale', '!', 'video/x-raw,width=640,height=480,pixel-aspect-ratio=1/1', '!', ...turn,
    'imagefreeze', `num-buffers=${frames}`, '!', 'videorate', '!', 'video/x-raw,framerate=30/1', '!',
    'videoconvert', '!', 'video/x-raw,format=I420', '!', 'y4menc', '!', 'filesink', `location=${out}`],
  { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60000 });
  const fd = openSync(out, 'r');
  const buf = Buffer.alloc(64);
  readSync(fd, buf, 0, 64, 0);
  closeSync(fd);
  const header = buf.toString('latin1').split('\n')[0];
  if (!/^YUV4MPEG2 /.test(header) || !/ W640 /.test(header) || !/ H480 /.test(header) || !/ C420/.test(header)) {
    throw new Error(`unexpected y4m header in ${out}: ${header}`);
  }
  return out;
}

// ---- Chromium ----------------------------------------------------------------------------------

/** Start headless Chromium with a fake camera; returns a Playwright BrowserContext. */
export async function launchChromium({ y4m = fakeCameraY4m(), extraArgs = [] } = {}) {
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'rheo-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    timeout: 60000,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${y4m}`,
      '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      // getUserMedia needs a secure context; http://127.0.0.1 is one, another host is not.
      `--unsafely-treat-insecure-origin-as-secure=${HTTP_URL}`,
      ...extraArgs,
    ],
  });
  const origClose = context.close.bind(context);
  context.close = async () => {
    await withTimeout(origClose(), 30000, 'closing Chromium').catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return context;
}

/** Forward a page's console errors and failures to the test log (prefixed). */
export function tracePage(page, name) {
  page.on('console', (msg) => {
    if (process.env.RHEO_E2E_VERBOSE || msg.type() === 'error' || msg.type() === 'warning') {
      console.log(`[${name} console.${msg.type()}] ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => console.log(`[${name} pageerror] ${err.message}`));
}

export function artifact(name) {
  return path.join(ARTIFACTS, name);
}

export function saveDataUrl(dataUrl, name) {
  const file = artifact(name);
  writeFileSync(file, Buffer.from(dataUrl.split(',')[1], 'base64'));
  return file;
}

// ---- TCP proxy ---------------------------------------------------------------------------------

/**
 * A TCP proxy in front of the server, so a test can cut every live connection (as a network
 * failure or a server-side drop would) while new connections keep working.
 */
export async function startTcpProxy(targetUrl) {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port || (target.protocol === 'wss:' ? 443 : 80));
  const targetHost = target.hostname.replace(/^\[|\]$/g, '');
  const pairs = new Set();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect(targetPort, targetHost);
    const pair = { client, upstream };
    pairs.add(pair);
    const done = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    get accepted() { return accepted; },
    get live() { return pairs.size; },
    /** Reset every live connection (RST both ways). */
    dropAll() {
      for (const { client, upstream } of [...pairs]) {
        client.resetAndDestroy ? client.resetAndDestroy() : client.destroy();
        upstream.destroy();
      }
    },
    close() {
      this.dropAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- in-page WebRTC peer (for the kurento-client tests) ---------------------------------------

/**
 * Install `window.peer` in a page: an RTCPeerConnection with the fake camera that makes the
 * offer, passes local candidates to `window.rheoSendCandidate` (exposed by the test), queues
 * remote candidates until the answer is applied, and reports decoded frames.
 */
export async function installPeer(page, { audio = true, dataChannel = false, recvonly = false } = {}) {
  await page.evaluate(async ({ audio, dataChannel, recvonly }) => {
    const pc = new RTCPeerConnection();
    if (recvonly) {
      // As kurento-utils' WebRtcPeerRecvonly: no camera, receive-only transceivers.
      pc.addTransceiver('video', { direction: 'recvonly' });
      if (audio) pc.addTransceiver('audio', { direction: 'recvonly' });
    } else {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio });
      for (const t of stream.getTracks()) pc.addTrack(t, stream);
    }
    // As kurento-utils with `dataChannels: true`: one channel, opened before the offer.
    const channel = dataChannel ? pc.createDataChannel('dataChannel') : null;
    const messages = [];
    if (channel) {
      channel.binaryType = 'arraybuffer';
      channel.onmessage = (ev) => messages.push(typeof ev.data === 'string' ? ev.data : { bytes: ev.data.byteLength });
    }
    const video = document.createElement('video');
    video.autoplay = true;
    video.muted = true;
    video.playsInline = true;
    video.id = 'peer-remote';
    video.width = 640;
    video.height = 480;
    document.body.appendChild(video);
    pc.ontrack = (ev) => {
      if (ev.track.kind === 'video') {
        video.srcObject = ev.streams[0] || new MediaStream([ev.track]);
        video.play().catch(() => {});
      }
    };
    const remoteQueue = [];
    let answered = false;
    pc.onicecandidate = (ev) => {
      if (ev.candidate && ev.candidate.candidate) {
        window.rheoSendCandidate({
          candidate: ev.candidate.candidate,
          sdpMid: ev.candidate.sdpMid,
          sdpMLineIndex: ev.candidate.sdpMLineIndex,
        });
      }
    };
    window.peer = {
      pc,
      video,
      channel,
      messages,
      async offer() {
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        return offer.sdp;
      },
      async answer(sdp) {
        await pc.setRemoteDescription({ type: 'answer', sdp });
        answered = true;
        for (const c of remoteQueue.splice(0)) await pc.addIceCandidate(c);
      },
      async addRemote(c) {
        if (answered) await pc.addIceCandidate(c);
        else remoteQueue.push(c);
      },
      async videoStats() {
        const stats = await pc.getStats();
        let framesDecoded = 0;
        let frameWidth = 0;
        let frameHeight = 0;
        stats.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') {
            framesDecoded = s.framesDecoded || 0;
            frameWidth = s.frameWidth || 0;
            frameHeight = s.frameHeight || 0;
          }
        });
        return { framesDecoded, frameWidth, frameHeight, ice: pc.iceConnectionState };
      },
    };
  }, { audio, dataChannel, recvonly });
}

// ---- pixel analysis (runs in the page) ---------------------------------------------------------

/**
 * Grab the current frame of a <video> (by CSS selector) and count "hat coloured" pixels
 * (saturated magenta), overall and inside a box given in fractions of the frame.
 * Returns {width, height, total, inBox, centroid: {x, y} (fractions) | null, dataUrl}.
 */
export async function analyseVideoFrame(page, selector, box) {
  return page.evaluate(({ selector, box }) => {
    const video = document.querySelector(selector);
    if (!video || !video.videoWidth) return null;
    const w = video.videoWidth;
    const h = video.videoHeight;
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.drawImage(video, 0, 0, w, h);
    const px = g.getImageData(0, 0, w, h).data;
    let total = 0;
    let inBox = 0;
    let sx = 0;
    let sy = 0;
    const bx0 = box.x0 * w;
    const bx1 = box.x1 * w;
    const by0 = box.y0 * h;
    const by1 = box.y1 * h;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 4;
        const r = px[i];
        const gr = px[i + 1];
        const b = px[i + 2];
        if (r > 170 && b > 170 && gr < 110 && Math.abs(r - b) < 90) {
          total++;
          if (x >= bx0 && x < bx1 && y >= by0 && y < by1) {
            inBox++;
            sx += x;
            sy += y;
          }
        }
      }
    }
    return {
      width: w,
      height: h,
      total,
      inBox,
      // fraction of the frame's pixels, so the figures do not depend on the decoded size
      totalFraction: total / (w * h),
      inBoxFraction: inBox / (w * h),
      centroid: inBox ? { x: sx / inBox / w, y: sy / inBox / h } : null,
      dataUrl: canvas.toDataURL('image/png'),
    };
  }, { selector, box });
}

/**
 * Count, in the bottom quarter of a <video>'s current frame, the near-white and near-black
 * pixels: KmsShowData's caption (white text on a dark box). Returns {bright, dark} as fractions
 * of the frame's pixels, or null before the video has a frame.
 */
export async function captionPixels(page, selector) {
  return page.evaluate((selector) => {
    const video = document.querySelector(selector);
    if (!video || !video.videoWidth) return null;
    const w = video.videoWidth;
    const h = video.videoHeight;
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.drawImage(video, 0, 0, w, h);
    const top = Math.floor(h * 0.75);
    const px = g.getImageData(0, top, w, h - top).data;
    let bright = 0;
    let dark = 0;
    for (let i = 0; i < px.length; i += 4) {
      const [r, gr, b] = [px[i], px[i + 1], px[i + 2]];
      if (r > 200 && gr > 200 && b > 200) bright++;
      if (r < 50 && gr < 50 && b < 50) dark++;
    }
    return { bright: bright / (w * h), dark: dark / (w * h) };
  }, selector);
}

/** A fake camera of one solid colour (`rgb` as 0xRRGGBB), 640x480 at 30 fps, built once. */
export function solidCameraY4m(name, rgb) {
  const out = path.join(ARTIFACTS, `solid-${name}-640x480.y4m`);
  if (existsSync(out) && statSync(out).size > 0) return out;
  const argb = (0xff000000 + rgb).toString();
  execFileSync('gst-launch-1.0', ['-q',
    'videotestsrc', 'pattern=solid-color', `foreground-color=${argb}`, 'num-buffers=150', '!',
    'video/x-raw,width=640,height=480,framerate=30/1,format=I420', '!', 'y4menc', '!',
    'filesink', `location=${out}`],
  { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60000 });
  return out;
}

/** The mean colour [r, g, b] of a box of a <video>'s current frame (fractions x, y, w, h;
 *  the middle half by default), or null. */
export async function videoColour(page, selector, box = [0.25, 0.25, 0.5, 0.5]) {
  return page.evaluate(({ selector, box }) => {
    const video = document.querySelector(selector);
    if (!video || !video.videoWidth) return null;
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 48;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.drawImage(video, 0, 0, 64, 48);
    const [x, y, w, h] = box;
    const px = g.getImageData(Math.round(x * 64), Math.round(y * 48), Math.round(w * 64), Math.round(h * 48)).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < px.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += px[i + c];
    return sum.map((s) => s / (px.length / 4));
  }, { selector, box });
}

/** Whether `colour` is within `tolerance` of 0xRRGGBB `rgb` on every channel. */
export function closeTo(colour, rgb, tolerance = 50) {
  if (!colour) return false;
  const want = [(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff];
  return colour.every((c, i) => Math.abs(c - want[i]) < tolerance);
}
