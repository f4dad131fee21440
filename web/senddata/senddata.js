// Send data channel (Kurento's datachannel-send-qr): PlayerEndpoint → KmsSendData →
// WebRtcEndpoint (useDataChannels). The codes read in the video arrive on the page's channel.
//
// `window.demoState.channel` reports { state, received } and `window.demoState.player`
// { uri, state } for the tests.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);
const receivedList = $('received');
const channelText = $('channel-state');
const playerText = $('player-state');

function showPlayer(status, state) {
  status.state = state;
  playerText.textContent = state;
}

setupLoopbackDemo({
  title: 'senddata',
  receiveOnly: true,
  dataChannel: true,
  async buildGraph(ctx) {
    const channelStatus = { state: 'connecting', received: [] };
    const uri = $('uri').value.trim();
    const playerStatus = { uri, state: 'created' };
    window.demoState.channel = channelStatus;
    window.demoState.player = playerStatus;
    receivedList.textContent = '';
    channelText.textContent = 'connecting';
    ctx.channel.onopen = () => { channelStatus.state = channelText.textContent = 'open'; };
    ctx.channel.onclose = () => { channelStatus.state = channelText.textContent = 'closed'; };
    ctx.channel.onmessage = (ev) => {
      const text = typeof ev.data === 'string' ? ev.data : `<${ev.data.byteLength ?? ev.data.size} bytes>`;
      channelStatus.received.push(text);
      const item = document.createElement('li');
      item.textContent = text;
      receivedList.appendChild(item);
    };
    const player = await ctx.rpc.create('PlayerEndpoint', { mediaPipeline: ctx.pipeline, uri });
    const sendData = await ctx.rpc.create('datachannelexample.KmsSendData', { mediaPipeline: ctx.pipeline });
    await ctx.rpc.subscribe(player, 'EndOfStream', () => showPlayer(playerStatus, 'end of stream'));
    await ctx.rpc.subscribe(player, 'Error', (d) => ctx.showError(new Error(`Player error: ${d.description || d.type}`)));
    await ctx.rpc.invoke(player, 'connect', { sink: sendData });
    await ctx.rpc.invoke(sendData, 'connect', { sink: ctx.webRtc });
    ctx.log(`PlayerEndpoint (${uri}) → KmsSendData → WebRtcEndpoint (useDataChannels)`);
    ctx.player = player;
    ctx.playerStatus = playerStatus;
  },
  async afterOffer(ctx) {
    await ctx.rpc.invoke(ctx.player, 'play');
    showPlayer(ctx.playerStatus, 'playing');
  },
});
