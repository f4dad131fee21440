// Python filters in the browser: WebRtcEndpoint -> rheopython.PythonFilter (the file chosen
// from /python-filters) -> back to the same WebRtcEndpoint. A filter names its own events and a
// subscription names one event, so the page listens for the examples' event names and for those
// given in ?events=a,b. ?module= preselects a filter.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const select = document.getElementById('module');
const doc = document.getElementById('module-doc');
const eventsView = document.getElementById('events');
const query = new URLSearchParams(location.search);
const listened = ['MotionDetected', 'FacesBlurred', ...(query.get('events') || '').split(',').filter(Boolean)];

const listing = fetch('../python-filters').then((r) => r.json()).then(({ filters }) => {
  for (const f of filters) {
    const option = document.createElement('option');
    option.value = f.name;
    option.textContent = f.name;
    option.dataset.doc = f.doc;
    select.append(option);
  }
  if (query.get('module')) select.value = query.get('module');
  const describe = () => { doc.textContent = select.selectedOptions[0]?.dataset.doc || ''; };
  select.addEventListener('change', describe);
  describe();
  window.demoState.filters = filters.map((f) => f.name);
});

setupLoopbackDemo({
  title: 'python',
  async buildGraph({ rpc, pipeline, webRtc, log, showError }) {
    await listing;
    const module = select.value;
    if (!module) throw new Error('this server has no Python filters (python_filters_dir)');
    const filter = await rpc.create('rheopython.PythonFilter', { mediaPipeline: pipeline, module });
    window.demoState.filter = filter;
    window.demoState.events = [];
    for (const name of listened) {
      await rpc.subscribe(filter, name, (d) => {
        window.demoState.events.push({ name, ...d });
        const { source, tags, timestampMillis, type, ...fields } = d;
        eventsView.textContent += `${new Date().toLocaleTimeString()} ${name} ${JSON.stringify(fields)}\n`;
      });
    }
    rpc.subscribe(filter, 'Error', (d) => showError(new Error(`Filter error: ${d.description || d.type}`)))
      .catch((e) => log(`subscribe Error failed: ${e.message}`));
    await rpc.invoke(webRtc, 'connect', { sink: filter });
    await rpc.invoke(filter, 'connect', { sink: webRtc });
    log(`WebRtcEndpoint -> PythonFilter(${module}) -> WebRtcEndpoint`);
  },
});
