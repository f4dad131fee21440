// Hello World: WebRtcEndpoint connected to itself (loopback through the media server).
import { setupLoopbackDemo } from '../js/loopback-demo.js';

setupLoopbackDemo({
  title: 'helloworld',
  // The browser tutorial sends processOffer, gatherCandidates and connect back to back; the
  // server handles them in order, so connecting after the offer works as well as before.
  async afterOffer({ rpc, webRtc, log }) {
    await rpc.invoke(webRtc, 'connect', { sink: webRtc });
    log('WebRtcEndpoint connected to itself');
  },
});
