// A browser on another machine (tests/deploy/remote-browser.sh runs this in its own network
// namespace) opens the magic mirror over https:// on the server's LAN address, accepts the
// self-signed certificate, and must see the hat on the returned video.
//   node remote-browser.mjs https://192.168.77.1:8433/magicmirror/ [--ice-path direct|relay]
//        [--spki BASE64]
// --ice-path: the candidate pair ICE selected must (relay) or must not (direct) go through TURN.
// --spki: accept only the certificate with this public key (base64 SHA-256 of its SPKI), as a
//   browser that was told to trust that certificate once; any other certificate fails the load.
import {
  HAT_BOX, HAT_MIN_FRACTION, analyseVideoFrame, artifact, launchChromium, tracePage, waitUntil,
} from './lib/harness.mjs';

const url = process.argv[2];
const option = (name) => {
  const i = process.argv.indexOf(name);
  return i > 2 ? process.argv[i + 1] : undefined;
};
const expectPath = option('--ice-path');
const spki = option('--spki');
if (expectPath && !['direct', 'relay'].includes(expectPath)) throw new Error(`--ice-path ${expectPath}`);
// --ignore-certificate-errors is the user clicking "Proceed" on the self-signed certificate.
const certArg = spki ? `--ignore-certificate-errors-spki-list=${spki}` : '--ignore-certificate-errors';
const browser = await launchChromium({ extraArgs: [certArg] });
let failure = null;
try {
  const page = await browser.newPage();
  tracePage(page, 'remote-magicmirror');
  await page.goto(url, { timeout: 20000 });
  await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
  if (!(await page.evaluate(() => window.isSecureContext))) throw new Error('not a secure context: no camera');
  await page.click('#start');
  await page.waitForFunction(() => window.demoState.remoteFrames > 30 || window.demoState.error,
    null, { timeout: 45000, polling: 250 });
  const state = await page.evaluate(() => window.demoState);
  if (state.error) throw new Error(`the page shows an error: ${state.error}`);
  const hat = await waitUntil(async () => {
    const f = await analyseVideoFrame(page, '#remote-video', HAT_BOX);
    return f && f.inBoxFraction >= HAT_MIN_FRACTION ? f : null;
  }, 20000, 'the hat above the face', 300);
  const log = await page.locator('#log').textContent();
  if (!/TURN relay: turn:/.test(log)) throw new Error('the page got no TURN credentials');
  const path = await waitUntil(() => page.evaluate(() => window.demoState.icePath), 10000, 'the selected ICE pair');
  const relayed = path.local === 'relay' || path.remote === 'relay';
  // Under the relay-only policy every packet goes through TURN; the local candidate shows as
  // prflx when the relay reaches the server from a private address (coturn beside Rheo).
  const viaTurn = path.local === 'relay' || (path.relayOnly && path.local === 'prflx');
  if (expectPath === 'relay' && !viaTurn) throw new Error(`ICE path ${path.local} -> ${path.remote}, not relayed`);
  if (expectPath === 'direct' && relayed) throw new Error(`ICE path ${path.local} -> ${path.remote}, not direct`);
  console.log(`remote-browser: ${state.remoteFrames}+ frames, ICE ${state.iceState}, ` +
    `path ${path.local} -> ${path.remote} (${path.protocol}), hat pixels ${hat.inBox}`);
  await page.screenshot({ path: artifact('remote-magicmirror.png') });
  await page.click('#stop');
} catch (e) {
  failure = e;
} finally {
  await browser.close();
}
if (failure) {
  console.error(`remote-browser: FAILED: ${failure.message}`);
  process.exit(1);
}
