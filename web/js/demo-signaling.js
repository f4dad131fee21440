// Client of Rheo's /demo-signaling relay: join a room under a name, then pass JSON messages to
// other pages (the part of the Kurento tutorials that their application servers play).
//
//   const sig = new DemoSignaling();
//   const peers = await sig.join('one2one', 'alice');   // names already in the room
//   sig.on('message', (from, data) => ...); sig.on('peer-joined', name => ...);
//   sig.on('peer-left', name => ...); sig.on('error', (message, to) => ...);
//   sig.send('bob', {id: 'call'}); sig.broadcast({id: 'hello'});

export class DemoSignaling {
  constructor(loc = window.location) {
    const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = new URL(`${scheme}//${loc.host}/demo-signaling`);
    const token = new URLSearchParams(loc.search).get('access_token');
    if (token) url.searchParams.set('access_token', token);
    this.url = url.toString();
    this.handlers = { message: [], 'peer-joined': [], 'peer-left': [], error: [], closed: [] };
    this.ws = null;
  }

  on(type, handler) {
    this.handlers[type].push(handler);
  }

  _emit(type, ...args) {
    for (const h of this.handlers[type]) h(...args);
  }

  /** Opens the relay and joins `room` as `name`; resolves with the names already there. */
  join(room, name) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let joined = false;
      ws.onopen = () => ws.send(JSON.stringify({ type: 'join', room, name }));
      ws.onerror = () => { if (!joined) reject(new Error('cannot reach the signaling relay')); };
      ws.onclose = (ev) => {
        if (!joined) reject(new Error(`signaling relay closed: ${ev.reason || ev.code}`));
        else this._emit('closed', ev.reason || String(ev.code));
      };
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data);
        if (!joined) {
          if (msg.type === 'joined') {
            joined = true;
            resolve(msg.peers);
          } else {
            reject(new Error(msg.message || 'join refused'));
            ws.close();
          }
          return;
        }
        if (msg.type === 'message') this._emit('message', msg.from, msg.data);
        else if (msg.type === 'peer-joined') this._emit('peer-joined', msg.name);
        else if (msg.type === 'peer-left') this._emit('peer-left', msg.name);
        else if (msg.type === 'error') this._emit('error', msg.message, msg.to);
      };
    });
  }

  send(to, data) {
    this.ws.send(JSON.stringify({ type: 'send', to, data }));
  }

  broadcast(data) {
    this.ws.send(JSON.stringify({ type: 'broadcast', data }));
  }

  close() {
    if (this.ws) this.ws.close();
  }
}
