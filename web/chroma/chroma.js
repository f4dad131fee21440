// Chroma: WebRtcEndpoint -> chroma.ChromaFilter -> back to the same WebRtcEndpoint.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);
// Backgrounds are absolute URLs: the media server downloads them itself.
const backgroundUrl = (value) => (value ? new URL(value, location.href).href : '');

let current = null; // {rpc, filter} while a session runs

setupLoopbackDemo({
  title: 'chroma',
  async buildGraph({ rpc, pipeline, webRtc, log, showError }) {
    const window_ = {
      topRightCornerX: Number($('win-x').value),
      topRightCornerY: Number($('win-y').value),
      width: Number($('win-w').value),
      height: Number($('win-h').value),
      __module__: 'chroma',
      __type__: 'WindowParam',
    };
    const params = { mediaPipeline: pipeline, window: window_ };
    const background = backgroundUrl($('background').value);
    if (background) params.backgroundImage = background;
    const filter = await rpc.create('chroma.ChromaFilter', params);
    window.demoState.filter = filter;
    current = { rpc, filter };
    rpc.subscribe(filter, 'Error', (d) => showError(new Error(`Filter error: ${d.description || d.type}`)))
      .catch((e) => log(`subscribe Error (filter) failed: ${e.message}`));
    log(`calibration window ${window_.topRightCornerX},${window_.topRightCornerY} ${window_.width}x${window_.height}; background ${background || 'none'}`);
    await rpc.invoke(webRtc, 'connect', { sink: filter });
    await rpc.invoke(filter, 'connect', { sink: webRtc });
    log('WebRtcEndpoint -> ChromaFilter -> WebRtcEndpoint');
  },
});

// Changing the background while running: setBackground / unsetBackground.
$('background').addEventListener('change', async () => {
  if (!current) return;
  const uri = backgroundUrl($('background').value);
  try {
    if (uri) await current.rpc.invoke(current.filter, 'setBackground', { uri });
    else await current.rpc.invoke(current.filter, 'unsetBackground');
  } catch (e) {
    const box = $('error');
    box.textContent = `Background: ${e.message}`;
    box.hidden = false;
  }
});
