// Crowd detector: WebRtcEndpoint -> crowddetector.CrowdDetectorFilter -> back to the endpoint;
// the three live metrics of the region come from the filter's events.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);
const LEVELS = ['low', 'medium', 'high', 'very high'];

function parseRegion(text) {
  return text.trim().split(/\s+/).map((pair) => {
    const [x, y] = pair.split(',').map(Number);
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) throw new Error(`bad corner '${pair}' (use x,y between 0 and 1)`);
    return { x, y, __module__: 'crowddetector', __type__: 'RelativePoint' };
  });
}

setupLoopbackDemo({
  title: 'crowddetector',
  async buildGraph({ rpc, pipeline, webRtc, log, showError }) {
    const roi = {
      id: 'roi1',
      points: parseRegion($('roi').value),
      regionOfInterestConfig: {
        occupancyLevelMin: 10, occupancyLevelMed: 35, occupancyLevelMax: 65, occupancyNumFramesToEvent: 5,
        fluidityLevelMin: 10, fluidityLevelMed: 35, fluidityLevelMax: 65, fluidityNumFramesToEvent: 5,
        sendOpticalFlowEvent: true, opticalFlowNumFramesToEvent: 3, opticalFlowNumFramesToReset: 3,
        opticalFlowAngleOffset: 0, __module__: 'crowddetector', __type__: 'RegionOfInterestConfig',
      },
      __module__: 'crowddetector',
      __type__: 'RegionOfInterest',
    };
    const filter = await rpc.create('crowddetector.CrowdDetectorFilter', { mediaPipeline: pipeline, rois: [roi] });
    window.demoState.filter = filter;
    window.demoState.crowd = {};
    const show = (id, text, key, value) => {
      $(id).textContent = text;
      window.demoState.crowd[key] = value;
    };
    await rpc.subscribe(filter, 'CrowdDetectorOccupancy', (d) =>
      show('occupancy', `${d.occupancyPercentage.toFixed(1)}% (${LEVELS[d.occupancyLevel] || d.occupancyLevel})`, 'occupancy', d));
    await rpc.subscribe(filter, 'CrowdDetectorFluidity', (d) =>
      show('fluidity', `${d.fluidityPercentage.toFixed(1)}% (${LEVELS[d.fluidityLevel] || d.fluidityLevel})`, 'fluidity', d));
    await rpc.subscribe(filter, 'CrowdDetectorDirection', (d) =>
      show('direction', `${Math.round(d.directionAngle)}°`, 'direction', d));
    rpc.subscribe(filter, 'Error', (d) => showError(new Error(`Filter error: ${d.description || d.type}`)))
      .catch((e) => log(`subscribe Error (filter) failed: ${e.message}`));
    await rpc.invoke(webRtc, 'connect', { sink: filter });
    await rpc.invoke(filter, 'connect', { sink: webRtc });
    log('WebRtcEndpoint -> CrowdDetectorFilter -> WebRtcEndpoint');
  },
});
