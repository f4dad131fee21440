// RTP receiver (Kurento's rtp-receiver tutorial): an RtpEndpoint answers the description of an
// external VP8 sender, and its video goes to the page through a receive-only WebRtcEndpoint.
// The page shows the gst-launch-1.0 command that sends to the port of Rheo's answer.
//
// `window.demoState.rtp` reports { host, port, srtp, command, args, state } for the tests.
import { setupLoopbackDemo } from '../js/loopback-demo.js';

const $ = (id) => document.getElementById(id);
const commandBox = $('command');
const rtpText = $('rtp-state');
const SSRC = 445566;

function randomKey() {
  // 30 characters of key and salt, as Kurento's SDES `key`.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(30));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

const hex = (text) => Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, '0')).join('');

// The external sender as an SDP offer: VP8, send only. Its own address matters only for the
// RTCP Rheo sends back.
function senderOffer(key) {
  const lines = [
    'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=gst-launch sender', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=video 5004 ${key ? 'RTP/SAVPF' : 'RTP/AVPF'} 96`,
    'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 nack pli', 'a=sendonly',
  ];
  if (key) lines.push(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${btoa(key)}`);
  return lines.join('\r\n') + '\r\n';
}

function senderArgs(host, port, key) {
  const args = ['-q', 'videotestsrc', 'is-live=true', 'pattern=ball', '!',
    'video/x-raw,width=640,height=480,framerate=30/1', '!',
    'vp8enc', 'deadline=1', 'keyframe-max-dist=60', '!',
    'rtpvp8pay', 'pt=96', `ssrc=${SSRC}`, '!'];
  if (key) args.push(`application/x-rtp,ssrc=(uint)${SSRC}`, '!', 'srtpenc', `key=${hex(key)}`, '!');
  args.push('udpsink', `host=${host}`, `port=${port}`);
  return args;
}

const quote = (a) => (/[^\w=.,:/!-]/.test(a) ? `'${a}'` : a);

setupLoopbackDemo({
  title: 'rtpreceiver',
  receiveOnly: true,
  async buildGraph(ctx) {
    const srtp = $('srtp').checked;
    const senderKey = srtp ? randomKey() : null;
    const params = { mediaPipeline: ctx.pipeline };
    if (srtp) params.crypto = { __module__: 'kurento', __type__: 'SDES', crypto: 'AES_128_CM_HMAC_SHA1_80', key: randomKey() };
    const rtp = await ctx.rpc.create('RtpEndpoint', params);
    const status = { srtp, state: 'waiting for RTP', host: null, port: null, command: '', args: [] };
    window.demoState.rtp = status;
    rtpText.textContent = status.state;
    await ctx.rpc.subscribe(rtp, 'MediaStateChanged', (d) => {
      status.state = d.newState === 'CONNECTED' ? 'receiving' : d.newState.toLowerCase();
      rtpText.textContent = status.state;
    });
    await ctx.rpc.subscribe(rtp, 'Error', (d) => ctx.showError(new Error(`RtpEndpoint: ${d.description}`)));
    await ctx.rpc.invoke(rtp, 'connect', { sink: ctx.webRtc, mediaType: 'VIDEO' });
    const answer = await ctx.rpc.invoke(rtp, 'processOffer', { offer: senderOffer(senderKey) });
    const video = answer.split(/\r?\n/).find((l) => l.startsWith('m=video '));
    const connection = answer.split(/\r?\n/).find((l) => l.startsWith('c=IN IP4 '));
    status.port = Number(video.split(' ')[1]);
    status.host = connection.split(' ')[2];
    status.args = senderArgs(status.host, status.port, senderKey);
    status.command = `gst-launch-1.0 ${status.args.map(quote).join(' ')}`;
    commandBox.textContent = status.command;
    ctx.log(`RtpEndpoint answers on ${status.host}:${status.port}${srtp ? ' (SRTP)' : ''}`);
  },
});
