// Show data channel (Kurento's datachannel-show-text): WebRtcEndpoint (useDataChannels) →
// KmsShowData → the same endpoint. Text sent on the page's data channel is drawn on the video.
//
// `window.demoState.channel` reports { state, sent } for the tests.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);
const input = $('message');
const sendButton = $('send');
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
  title: 'showdata',
  dataChannel: true,
  async buildGraph(ctx) {
    const status = { state: 'connecting', sent: [] };
    window.demoState.channel = status;
    channel = ctx.channel;
    showChannel(status, 'connecting');
    channel.onopen = () => showChannel(status, 'open');
    channel.onclose = () => showChannel(status, 'closed');
    const showData = await ctx.rpc.create('datachannelexample.KmsShowData', { mediaPipeline: ctx.pipeline });
    await ctx.rpc.invoke(ctx.webRtc, 'connect', { sink: showData });
    await ctx.rpc.invoke(showData, 'connect', { sink: ctx.webRtc });
    ctx.log('WebRtcEndpoint (useDataChannels) → KmsShowData → WebRtcEndpoint');
  },
});

$('message-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = input.value;
  if (!channel || channel.readyState !== 'open') return;
  // A blank text clears what is shown. It goes as one space: not every stack delivers empty
  // data channel messages.
  channel.send(text.trim() === '' ? ' ' : text);
  window.demoState.channel.sent.push(text);
});
