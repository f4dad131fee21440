// Magic Mirror: WebRtcEndpoint -> FaceOverlayFilter -> back to the same WebRtcEndpoint.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

// Absolute http(s) URL: the media server downloads the image itself. `?hat=<url>` picks
// another image.
const HAT_URL = new URL(new URLSearchParams(location.search).get('hat') || 'img/hat.png', location.href).href;

setupLoopbackDemo({
  title: 'magicmirror',
  async buildGraph({ rpc, pipeline, webRtc, log, showError }) {
    const filter = await rpc.create('FaceOverlayFilter', { mediaPipeline: pipeline });
    window.demoState.filter = filter;
    rpc.subscribe(filter, 'Error', (d) => showError(new Error(`Filter error: ${d.description || d.type}`)))
      .catch((e) => log(`subscribe Error (filter) failed: ${e.message}`));
    // Hat box relative to each detected face: 0.35 face widths to the left, 1.2 face heights
    // above, 1.6 x 1.6 face sizes.
    await rpc.invoke(filter, 'setOverlayedImage', {
      uri: HAT_URL,
      offsetXPercent: -0.35,
      offsetYPercent: -1.2,
      widthPercent: 1.6,
      heightPercent: 1.6,
    });
    log(`overlay image: ${HAT_URL}`);
    await rpc.invoke(webRtc, 'connect', { sink: filter });
    await rpc.invoke(filter, 'connect', { sink: webRtc });
    log('WebRtcEndpoint -> FaceOverlayFilter -> WebRtcEndpoint');
  },
});
