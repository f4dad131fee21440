// Pointer detector: WebRtcEndpoint -> pointerdetector.PointerDetectorFilter -> back to the same
// WebRtcEndpoint; WindowIn/WindowOut light up the window indicators.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);
const windowParam = (id, upperRightY) => ({
  id, width: 50, height: 50, upperRightX: 500, upperRightY,
  __module__: 'pointerdetector', __type__: 'PointerDetectorWindowMediaParam',
});

let current = null; // {rpc, filter}
window.demoState = window.demoState || {};

function showWindow(id, active) {
  const el = $(id);
  if (el) el.classList.toggle('active', active);
  window.demoState.windowEvents = (window.demoState.windowEvents || []).concat([`${active ? 'in' : 'out'}:${id}`]);
}

setupLoopbackDemo({
  title: 'pointerdetector',
  async buildGraph({ rpc, pipeline, webRtc, log, showError }) {
    const filter = await rpc.create('pointerdetector.PointerDetectorFilter', {
      mediaPipeline: pipeline,
      calibrationRegion: {
        topRightCornerX: 5, topRightCornerY: 5, width: 30, height: 30,
        __module__: 'pointerdetector', __type__: 'WindowParam',
      },
    });
    window.demoState.filter = filter;
    current = { rpc, filter };
    await rpc.subscribe(filter, 'WindowIn', (d) => { log(`WindowIn ${d.windowId}`); showWindow(d.windowId, true); });
    await rpc.subscribe(filter, 'WindowOut', (d) => { log(`WindowOut ${d.windowId}`); showWindow(d.windowId, false); });
    rpc.subscribe(filter, 'Error', (d) => showError(new Error(`Filter error: ${d.description || d.type}`)))
      .catch((e) => log(`subscribe Error (filter) failed: ${e.message}`));
    await rpc.invoke(filter, 'addWindow', { window: windowParam('window0', 150) });
    await rpc.invoke(filter, 'addWindow', { window: windowParam('window1', 250) });
    await rpc.invoke(webRtc, 'connect', { sink: filter });
    await rpc.invoke(filter, 'connect', { sink: webRtc });
    $('calibrate').disabled = false;
    log('WebRtcEndpoint -> PointerDetectorFilter -> WebRtcEndpoint');
  },
});

$('calibrate').addEventListener('click', async () => {
  if (!current) return;
  try {
    await current.rpc.invoke(current.filter, 'trackColorFromCalibrationRegion');
  } catch (e) {
    const box = $('error');
    box.textContent = `Calibration: ${e.message}`;
    box.hidden = false;
  }
});
