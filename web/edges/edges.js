// The SDK tutorial's example filter in the browser: WebRtcEndpoint -> edgeexample.EdgeOutlineFilter
// -> back to the same WebRtcEndpoint. Rheo's JSON-RPC client needs no client module for it.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

setupLoopbackDemo({
  title: 'edges',
  async buildGraph({ rpc, pipeline, webRtc, log, showError }) {
    const edges = await rpc.create('edgeexample.EdgeOutlineFilter', { mediaPipeline: pipeline, threshold: 60 });
    window.demoState.filter = edges;
    await rpc.subscribe(edges, 'EdgeLevelChanged', (d) => {
      document.getElementById('level').textContent = `${d.level} (${d.edgePercentage.toFixed(1)}% edges)`;
      window.demoState.edgeLevel = d;
    });
    rpc.subscribe(edges, 'Error', (d) => showError(new Error(`Filter error: ${d.description || d.type}`)))
      .catch((e) => log(`subscribe Error failed: ${e.message}`));
    await rpc.invoke(webRtc, 'connect', { sink: edges });
    await rpc.invoke(edges, 'connect', { sink: webRtc });
    log('WebRtcEndpoint -> EdgeOutlineFilter -> WebRtcEndpoint');
  },
});
