// Plate detector: WebRtcEndpoint -> platedetector.PlateDetectorFilter -> back to the endpoint;
// every PlateDetected event adds the plate to the list.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);

setupLoopbackDemo({
  title: 'platedetector',
  async buildGraph({ rpc, pipeline, webRtc, log, showError }) {
    const filter = await rpc.create('platedetector.PlateDetectorFilter', { mediaPipeline: pipeline });
    window.demoState.filter = filter;
    window.demoState.plates = [];
    await rpc.subscribe(filter, 'PlateDetected', (d) => {
      window.demoState.plates.push(d.plate);
      const li = document.createElement('li');
      li.textContent = `${new Date().toLocaleTimeString()}  ${d.plate}`;
      $('plates').prepend(li);
      log(`PlateDetected ${d.plate}`);
    });
    rpc.subscribe(filter, 'Error', (d) => showError(new Error(`Filter error: ${d.description || d.type}`)))
      .catch((e) => log(`subscribe Error (filter) failed: ${e.message}`));
    await rpc.invoke(webRtc, 'connect', { sink: filter });
    await rpc.invoke(filter, 'connect', { sink: webRtc });
    log('WebRtcEndpoint -> PlateDetectorFilter -> WebRtcEndpoint');
  },
});
