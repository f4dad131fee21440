// What WhipEndpoint and WhepEndpoint share: a SessionEndpoint with a URL. MediaSessionStarted
// tells the application that a WHIP (or WHEP) client's offer was answered, MediaSessionTerminated
// that the client left.
var inherits = require('inherits');
var kurentoClient = require('kurento-client');

var disguise = kurentoClient.disguise;
var Transaction = kurentoClient.TransactionsManager.Transaction;
var SessionEndpoint = kurentoClient.register.abstracts.SessionEndpoint;

function noop(error, result) {
  if (error) console.trace(error);
  return result;
}

/** A class named `name` whose objects have `getUrl`. */
module.exports = function endpointClass(name) {
  function Endpoint() {
    Endpoint.super_.call(this);
  }
  inherits(Endpoint, SessionEndpoint);
  Object.defineProperty(Endpoint, 'name', { value: name });

  /** The URL to hand to the WHIP or WHEP client (its only credential). */
  Endpoint.prototype.getUrl = function (callback) {
    var transaction = (arguments[0] instanceof Transaction)
      ? Array.prototype.shift.apply(arguments)
      : undefined;
    if (!arguments.length) callback = undefined;
    callback = (callback || noop).bind(this);
    return disguise(this._invoke(transaction, 'getUrl', callback), this);
  };

  Endpoint.constructorParams = {
    mediaPipeline: { type: 'kurento.MediaPipeline', required: true },
  };
  Endpoint.events = SessionEndpoint.events;

  Endpoint.check = function (key, value) {
    if (!(value instanceof Endpoint)) {
      throw kurentoClient.checkType.ChecktypeError(key, Endpoint, value);
    }
  };
  return Endpoint;
};
