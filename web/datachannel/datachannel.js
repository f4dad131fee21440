// Data channel loopback (Kurento's hello-world-data-channel): a WebRtcEndpoint with
// useDataChannels connected to itself echoes the page's data channel.
//
// `window.demoState.channel` reports { state, sent, received } for the tests.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);
const input = $('message');
const sendButton = $('send');
const receivedList = $('received');
const channelText = $('channel-state');
let channel = null;

function showChannel(status, state) {
  status.state = state;
  channelText.textContent = state;
  const open = state === 'open';
  input.disabled = !open;
  sendButton.disabled = !open;
}

setupLoopbackDemo({
  title: 'datachannel',
  dataChannel: true,
  async buildGraph(ctx) {
    const status = { state: 'connecting', sent: [], received: [] };
    window.demoState.channel = status;
    receivedList.textContent = '';
    channel = ctx.channel;
    showChannel(status, 'connecting');
    channel.onopen = () => showChannel(status, 'open');
    channel.onclose = () => showChannel(status, 'closed');
    channel.onmessage = (ev) => {
      const text = typeof ev.data === 'string' ? ev.data : `<${ev.data.byteLength ?? ev.data.size} bytes>`;
      status.received.push(text);
      const item = document.createElement('li');
      item.textContent = text;
      receivedList.appendChild(item);
    };
    await ctx.rpc.invoke(ctx.webRtc, 'connect', { sink: ctx.webRtc });
    ctx.log('WebRtcEndpoint (useDataChannels) connected to itself');
  },
});

$('message-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = input.value;
  if (!channel || channel.readyState !== 'open' || !text) return;
  channel.send(text);
  window.demoState.channel.sent.push(text);
  input.value = '';
});
