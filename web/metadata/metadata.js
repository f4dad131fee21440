// Metadata: WebRtcEndpoint -> KmsDetectFaces -> KmsShowFaces -> back to the same WebRtcEndpoint.
// The faces travel between the two filters as buffer metadata, not through this page.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

setupLoopbackDemo({
  title: 'metadata',
  async buildGraph({ rpc, pipeline, webRtc, log, showError }) {
    const detect = await rpc.create('datachannelexample.KmsDetectFaces', { mediaPipeline: pipeline });
    const show = await rpc.create('datachannelexample.KmsShowFaces', { mediaPipeline: pipeline });
    window.demoState.filter = detect;
    for (const f of [detect, show]) {
      rpc.subscribe(f, 'Error', (d) => showError(new Error(`Filter error: ${d.description || d.type}`)))
        .catch((e) => log(`subscribe Error failed: ${e.message}`));
    }
    await rpc.invoke(webRtc, 'connect', { sink: detect });
    await rpc.invoke(detect, 'connect', { sink: show });
    await rpc.invoke(show, 'connect', { sink: webRtc });
    log('WebRtcEndpoint -> KmsDetectFaces -> KmsShowFaces -> WebRtcEndpoint');
  },
});
