// Rheo's `rheopython` module for kurento-client: register it once, then create PythonFilters.
//   const kurentoClient = require('kurento-client');
//   kurentoClient.register(require('kurento-module-rheopython'));
//   const filter = await pipeline.create('PythonFilter', { module: 'motion', params: '{}' });
//   filter.on('MotionDetected', (event) => console.log(event.area));
Object.defineProperty(exports, 'name', { value: 'rheopython' });
Object.defineProperty(exports, 'version', { value: '0.1.0' });

exports.PythonFilter = require('./PythonFilter');
