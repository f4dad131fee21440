// Hello World: WebRtcEndpoint connected to itself (loopback through the media server), with
// the end-to-end latency inside the server from its stats (as Kurento's loopback-stats
// tutorial: `setLatencyStats(true)`, then `getStats('VIDEO')`'s `endpoint` entry).
//
// `window.demoState.e2eLatencyMs` reports the latest figure for the tests.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const latencyText = document.getElementById('latency');
const STATS_PERIOD_MS = 1000;
let timer = null;

async function showLatency({ rpc, webRtc, log }) {
  try {
    const stats = await rpc.invoke(webRtc, 'getStats', { mediaType: 'VIDEO' });
    const endpoint = Object.values(stats).find((s) => s.type === 'endpoint');
    const video = endpoint && (endpoint.E2ELatency || []).find((l) => l.type === 'VIDEO');
    if (!video) return;
    const ms = video.avg / 1e6;
    window.demoState.e2eLatencyMs = ms;
    latencyText.textContent = `${ms.toFixed(1)} ms`;
  } catch (e) {
    log(`getStats failed: ${e.message}`);
  }
}

setupLoopbackDemo({
  title: 'helloworld',
  // The browser tutorial sends processOffer, gatherCandidates and connect back to back; the
  // server handles them in order, so connecting after the offer works as well as before.
  async afterOffer(ctx) {
    const { rpc, webRtc, pipeline, log } = ctx;
    await rpc.invoke(webRtc, 'connect', { sink: webRtc });
    log('WebRtcEndpoint connected to itself');
    await rpc.invoke(pipeline, 'setLatencyStats', { latencyStats: true });
    clearInterval(timer);
    timer = setInterval(() => showLatency(ctx), STATS_PERIOD_MS);
  },
});

document.getElementById('stop').addEventListener('click', () => {
  clearInterval(timer);
  latencyText.textContent = '–';
});
