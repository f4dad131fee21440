// A small JSON-RPC 2.0 client for the Kurento protocol, written for the Rheo demos.
//
// It talks to the media server directly over one WebSocket (ws(s)://<host>/kurento by default):
//   - requests carry increasing integer ids and resolve one promise each;
//   - the server's sessionId is adopted from every successful result and injected into the
//     params of later requests (pings excepted), so all calls share one Kurento session;
//   - `onEvent` notifications are dispatched to the handlers subscribed for (object, type);
//   - a `ping` keeps the session alive every 60 s;
//   - error responses reject with a KurentoError carrying the server's code and data.
//
// No dependencies, no build step: an ES module for modern browsers.

const DEFAULT_TIMEOUT_MS = 20000;
const PING_INTERVAL_MS = 60000;

/** An error reported by the media server (or by this client: timeouts, closed socket). */
export class KurentoError extends Error {
  constructor(message, code, data) {
    super(message);
    this.name = 'KurentoError';
    this.code = code;
    this.data = data;
  }
}

/** The default server URL: the same host and port as the page, path /kurento.
 *  `?ws=ws://host:port/kurento` in the page URL overrides it (handy during development), and
 *  `?access_token=T` is passed on, as kurento-client's `access_token` option does. */
export function defaultServerUrl(loc = window.location) {
  const params = new URLSearchParams(loc.search);
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = new URL(params.get('ws') || `${scheme}//${loc.host}/kurento`);
  const token = params.get('access_token');
  if (token && !url.searchParams.has('access_token')) url.searchParams.set('access_token', token);
  return url.toString();
}

/** ICE servers for RTCPeerConnection: TURN credentials minted by the server (TURN REST
 *  scheme), or none when the server has no TURN secret configured. */
export async function fetchIceServers(loc = window.location) {
  const token = new URLSearchParams(loc.search).get('access_token');
  const query = token ? `?access_token=${encodeURIComponent(token)}` : '';
  try {
    const reply = await fetch(`/turn-credentials${query}`, { cache: 'no-store' });
    if (!reply.ok) return [];
    const body = await reply.json();
    return Array.isArray(body.iceServers) ? body.iceServers : [];
  } catch {
    return [];
  }
}

export class KurentoConnection {
  /**
   * @param {string} url  ws:// or wss:// URL of the Kurento endpoint
   * @param {{requestTimeout?: number, pingInterval?: number}} [options]
   */
  constructor(url = defaultServerUrl(), options = {}) {
    this.url = url;
    this.requestTimeout = options.requestTimeout ?? DEFAULT_TIMEOUT_MS;
    this.pingInterval = options.pingInterval ?? PING_INTERVAL_MS;
    this.sessionId = undefined;
    this._nextId = 0;
    this._pending = new Map(); // id -> {resolve, reject, timer, method}
    this._handlers = new Map(); // "object\u0000type" -> Set<handler>
    this._subscriptions = new Map(); // "object\u0000type" -> subscription id
    this._closeListeners = new Set();
    this._ws = null;
    this._pingTimer = null;
    this._opened = null;
    this.closed = false;
    this.closeReason = null;
  }

  /** Open the socket. Resolves once it is open; rejects if it cannot be opened. */
  open() {
    if (this._opened) return this._opened;
    this._opened = new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (e) {
        reject(new KurentoError(`Cannot open ${this.url}: ${e.message}`, -1));
        return;
      }
      this._ws = ws;
      let isOpen = false;
      ws.onopen = () => {
        isOpen = true;
        this._startPing();
        resolve(this);
      };
      ws.onmessage = (msg) => this._onMessage(msg.data);
      ws.onerror = () => {
        if (!isOpen) reject(new KurentoError(`Cannot connect to ${this.url}`, -1));
      };
      ws.onclose = (ev) => {
        const wasClosedByUs = this.closed;
        this.closeReason = ev.reason || `code ${ev.code}`;
        this._teardown(new KurentoError(
          `Connection to the media server closed (code ${ev.code}${ev.reason ? ': ' + ev.reason : ''})`, -1));
        if (!isOpen) reject(new KurentoError(`Cannot connect to ${this.url}`, -1));
        if (isOpen && !wasClosedByUs) for (const l of this._closeListeners) l(ev);
      };
    });
    return this._opened;
  }

  /** Register a callback for an unexpected close of the socket. */
  onClose(listener) {
    this._closeListeners.add(listener);
  }

  /** Close the socket; pending requests fail. Server-side objects are not released. */
  close() {
    this.closed = true;
    if (this._ws && this._ws.readyState <= WebSocket.OPEN) this._ws.close(1000);
    this._teardown(new KurentoError('Connection closed by the client', -1));
  }

  /**
   * Send one JSON-RPC request and resolve with its `result` object.
   * @param {string} method
   * @param {object} [params]
   */
  async request(method, params) {
    await this.open();
    if (!this._ws || this._ws.readyState !== WebSocket.OPEN) {
      const why = this.closeReason ? ` (closed: ${this.closeReason})` : '';
      throw new KurentoError(`Not connected to the media server${why}`, -1);
    }
    const id = this._nextId++;
    const message = { jsonrpc: '2.0', method, id };
    if (params !== undefined || (method !== 'ping' && this.sessionId !== undefined)) {
      message.params = { ...(params || {}) };
      if (method !== 'ping' && this.sessionId !== undefined && message.params.sessionId === undefined) {
        message.params.sessionId = this.sessionId;
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new KurentoError(`Request '${method === 'invoke' ? params.operation : method}' timed out after ${this.requestTimeout} ms`, -2));
      }, this.requestTimeout);
      const what = method === 'invoke' ? `${params.operation}` : method;
      this._pending.set(id, { resolve, reject, timer, method: what });
      this._ws.send(JSON.stringify(message));
    });
  }

  // ---- Kurento methods -------------------------------------------------------------------

  /** create: returns the new object's id. */
  async create(type, constructorParams) {
    const params = { type, properties: {} };
    if (constructorParams && Object.keys(constructorParams).length) {
      params.constructorParams = constructorParams;
    }
    return (await this.request('create', params)).value;
  }

  /** invoke: returns the operation's value (undefined for void operations). */
  async invoke(object, operation, operationParams) {
    const params = { object, operation };
    if (operationParams !== undefined) params.operationParams = operationParams;
    return (await this.request('invoke', params)).value;
  }

  /** release an object (and, for a pipeline, everything in it). */
  async release(object) {
    await this.request('release', { object });
    this._forget(object);
  }

  /** describe: {type, qualifiedType, hierarchy}. */
  describe(object) {
    return this.request('describe', { object });
  }

  ping() {
    return this.request('ping');
  }

  /**
   * Subscribe `handler(data, event)` to events of `type` raised on `object`.
   * The server is asked once per (object, type); later handlers share that subscription.
   * Returns a function that removes the handler (and unsubscribes when it was the last one).
   */
  async subscribe(object, type, handler) {
    const key = object + '\u0000' + type;
    let set = this._handlers.get(key);
    const first = !set;
    if (first) {
      set = new Set();
      this._handlers.set(key, set);
    }
    set.add(handler);
    if (first) {
      try {
        const result = await this.request('subscribe', { object, type });
        this._subscriptions.set(key, result.value);
      } catch (e) {
        this._handlers.delete(key);
        throw e;
      }
    }
    return async () => {
      const handlers = this._handlers.get(key);
      if (!handlers) return;
      handlers.delete(handler);
      if (handlers.size === 0) {
        this._handlers.delete(key);
        const subscription = this._subscriptions.get(key);
        this._subscriptions.delete(key);
        if (subscription !== undefined && !this.closed) {
          await this.request('unsubscribe', { object, subscription });
        }
      }
    };
  }

  // ---- internals ---------------------------------------------------------------------------

  _forget(object) {
    for (const key of [...this._handlers.keys()]) {
      const id = key.split('\u0000')[0];
      if (id === object || id.startsWith(object + '/')) {
        this._handlers.delete(key);
        this._subscriptions.delete(key);
      }
    }
  }

  _startPing() {
    // The first ping goes out immediately, as kurento-client does; then one per interval.
    this.request('ping', { interval: this.pingInterval }).catch(() => {});
    this._pingTimer = setInterval(() => {
      this.ping().catch(() => { /* a lost ping is reported by the socket closing */ });
    }, this.pingInterval);
  }

  _teardown(error) {
    if (this._pingTimer) clearInterval(this._pingTimer);
    this._pingTimer = null;
    for (const [id, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(error);
      this._pending.delete(id);
    }
  }

  _onMessage(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      console.warn('kurento-jsonrpc: unparsable message', text);
      return;
    }
    if (!msg || msg.jsonrpc !== '2.0') {
      console.warn('kurento-jsonrpc: not a JSON-RPC 2.0 message', msg);
      return;
    }
    if (typeof msg.method === 'string') {
      this._onNotification(msg);
      return;
    }
    const pending = this._pending.get(msg.id);
    if (!pending) {
      console.warn('kurento-jsonrpc: response to an unknown request', msg);
      return;
    }
    this._pending.delete(msg.id);
    clearTimeout(pending.timer);
    if (msg.error) {
      const e = msg.error;
      pending.reject(new KurentoError(
        `${pending.method}: ${e.message || 'error'} (code ${e.code}${e.data && e.data.type ? ', ' + e.data.type : ''})`,
        e.code, e.data));
      return;
    }
    const result = msg.result || {};
    if (result.sessionId !== undefined && result.value !== 'pong') this.sessionId = result.sessionId;
    pending.resolve(result);
  }

  _onNotification(msg) {
    if (msg.method !== 'onEvent') {
      console.warn('kurento-jsonrpc: unexpected notification', msg.method);
      return;
    }
    const value = msg.params && msg.params.value;
    if (!value) return;
    const handlers = this._handlers.get(value.object + '\u0000' + value.type);
    if (!handlers) return;
    for (const h of [...handlers]) {
      try {
        h(value.data || {}, value);
      } catch (e) {
        console.error('kurento-jsonrpc: event handler failed', e);
      }
    }
  }
}
