// A browser on a lossy line (tests/deploy/remote-browser.sh drops 2 % of the UDP packets each
// way in its network namespace) runs the Hello World loopback, and NACK and RTX must work both
// ways with Chromium: Rheo asks for what Chromium's packets lost and Chromium sends them again,
// Chromium asks for what Rheo's packets lost and Rheo sends them again, and the video keeps
// playing.
//   node lossy-browser.mjs https://192.168.77.1:8433/helloworld/
import { launchChromium, tracePage } from './lib/harness.mjs';

const url = process.argv[2];
const WINDOW_MS = 10000;
const browser = await launchChromium({ extraArgs: ['--ignore-certificate-errors'] });

/** The video's RTP counters in Chromium's getStats. */
function videoCounters(page) {
  return page.evaluate(async () => {
    const stats = await window.demoState.peerConnection.getStats();
    const c = {};
    stats.forEach((s) => {
      if (s.kind !== 'video') return;
      if (s.type === 'inbound-rtp') {
        c.framesDecoded = s.framesDecoded || 0;
        c.nacksSent = s.nackCount || 0;
        c.retransmittedReceived = s.retransmittedPacketsReceived || 0;
        c.packetsLost = s.packetsLost || 0;
        c.freezes = s.freezeCount || 0;
      } else if (s.type === 'outbound-rtp') {
        c.nacksReceived = (c.nacksReceived || 0) + (s.nackCount || 0);
        c.retransmittedSent = (c.retransmittedSent || 0) + (s.retransmittedPacketsSent || 0);
      }
    });
    return c;
  });
}

let failure = null;
try {
  const page = await browser.newPage();
  tracePage(page, 'lossy-helloworld');
  await page.goto(url, { timeout: 20000 });
  await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
  await page.click('#start');
  await page.waitForFunction(() => window.demoState.remoteFrames > 60 || window.demoState.error,
    null, { timeout: 45000, polling: 250 });
  const error = await page.evaluate(() => window.demoState.error);
  if (error) throw new Error(`the page shows an error: ${error}`);
  const before = await videoCounters(page);
  await page.waitForTimeout(WINDOW_MS);
  const after = await videoCounters(page);
  const d = (k) => (after[k] || 0) - (before[k] || 0);
  const fps = d('framesDecoded') / (WINDOW_MS / 1000);
  console.log(`lossy-browser: ${fps.toFixed(1)} fps decoded; Chromium sent ${after.nacksSent} NACKs and got ` +
    `${after.retransmittedReceived} retransmissions; Rheo sent ${after.nacksReceived} NACKs and got ` +
    `${after.retransmittedSent}; ${after.packetsLost} packets lost for good, ${after.freezes} freezes`);
  if (!(after.nacksReceived > 0 && after.retransmittedSent > 0)) {
    throw new Error('Rheo did not ask Chromium for its lost packets, or got none back');
  }
  if (!(after.nacksSent > 0 && after.retransmittedReceived > 0)) {
    throw new Error('Chromium asked Rheo for lost packets and got none back');
  }
  // A stream that waited for keyframes after each loss would decode a fraction of its 30 fps.
  if (fps < 20) throw new Error(`only ${fps.toFixed(1)} fps decoded on a line losing 2 %`);
  await page.click('#stop');
} catch (e) {
  failure = e;
} finally {
  await browser.close();
}
if (failure) {
  console.error(`lossy-browser: FAILED: ${failure.message}`);
  process.exit(1);
}
