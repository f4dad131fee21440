// PythonFilter: a Python filter of the server's python_filters_dir, named by `module`, with
// `params` (a JSON object as a string) as its ctx.params. Its events are named by the filter
// (ctx.emit), so any plain name may be listened to.
var inherits = require('inherits');
var kurentoClient = require('kurento-client');

var disguise = kurentoClient.disguise;
var Transaction = kurentoClient.TransactionsManager.Transaction;
var Filter = kurentoClient.register.abstracts.Filter;

function noop(error, result) {
  if (error) console.trace(error);
  return result;
}

function PythonFilter() {
  PythonFilter.super_.call(this);
}
inherits(PythonFilter, Filter);

/** The filter's module name (a file of the server's python_filters_dir). */
PythonFilter.prototype.getModule = function (callback) {
  var transaction = (arguments[0] instanceof Transaction)
    ? Array.prototype.shift.apply(arguments)
    : undefined;
  if (!arguments.length) callback = undefined;
  callback = (callback || noop).bind(this);
  return disguise(this._invoke(transaction, 'getModule', callback), this);
};

PythonFilter.constructorParams = {
  mediaPipeline: { type: 'kurento.MediaPipeline', required: true },
  module: { type: 'String', required: true },
  params: { type: 'String' },
};

// kurento-client subscribes only to the event names a class lists; a Python filter names its
// own, so every plain name (a letter, then letters, digits, _) is accepted.
var events = Filter.events.slice();
var plainName = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
events.indexOf = function (name) {
  var known = Array.prototype.indexOf.call(this, name);
  if (known >= 0) return known;
  return plainName.test(name) ? 0 : -1;
};
PythonFilter.events = events;

PythonFilter.check = function (key, value) {
  if (!(value instanceof PythonFilter)) {
    throw kurentoClient.checkType.ChecktypeError(key, PythonFilter, value);
  }
};

module.exports = PythonFilter;
