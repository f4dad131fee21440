// Rheo's `rheowhip` module for kurento-client: register it once, then create the endpoints.
//   const kurentoClient = require('kurento-client');
//   kurentoClient.register(require('kurento-module-rheowhip'));
//   const whip = await pipeline.create('WhipEndpoint');   // OBS publishes to await whip.getUrl()
//   whip.on('MediaSessionStarted', () => console.log('OBS is live'));
//   await whip.connect(webRtcEndpoint);                   // ... and browsers watch it
//   const whep = await pipeline.create('WhepEndpoint');   // a WHEP player watches await whep.getUrl()
var endpointClass = require('./endpoint');

Object.defineProperty(exports, 'name', { value: 'rheowhip' });
Object.defineProperty(exports, 'version', { value: '0.1.0' });

exports.WhipEndpoint = endpointClass('WhipEndpoint');
exports.WhepEndpoint = endpointClass('WhepEndpoint');
