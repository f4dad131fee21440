//! `/demo-signaling`: the small relay the call demos use to find each other, as the Kurento
//! tutorials' application servers do. Pages join a room under a name and pass JSON to one
//! another (offers to call, accepts, hang-ups); the relay only forwards, and reaches no Kurento
//! object. Media goes through `/kurento` as in every other demo.
//!
//! From a page: `{"type":"join","room":R,"name":N}` → `{"type":"joined","room":R,"name":N,
//! "peers":[names]}` (the others get `{"type":"peer-joined","name":N}`);
//! `{"type":"send","to":M,"data":D}` → M gets `{"type":"message","from":N,"data":D}`;
//! `{"type":"broadcast","data":D}` → every other member gets the same. When a page leaves or
//! vanishes the others get `{"type":"peer-left","name":N}`. Mistakes get
//! `{"type":"error","message":…}` (a `send` to nobody also names `to`).

use std::collections::HashMap;
use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

/// Longest room or member name, in characters.
pub const MAX_NAME: usize = 64;
/// Most members of one room.
pub const MAX_MEMBERS: usize = 64;
/// Most rooms at once.
pub const MAX_ROOMS: usize = 1024;
/// Largest message a page may send (SDP offers fit many times over).
pub const MAX_MESSAGE: usize = 64 << 10;
/// Messages queued to one slow page before it is dropped.
const MAX_QUEUED: usize = 256;

/// The rooms of every connected page.
#[derive(Default)]
pub struct Relay {
    rooms: Mutex<HashMap<String, HashMap<String, mpsc::Sender<String>>>>,
}

/// Where a page is.
struct Membership {
    room: String,
    name: String,
}

impl Relay {
    fn join(
        &self,
        room: &str,
        name: &str,
        tx: &mpsc::Sender<String>,
    ) -> Result<Vec<String>, String> {
        let valid = |s: &str| {
            !s.is_empty() && s.chars().count() <= MAX_NAME && s.chars().all(|c| !c.is_control())
        };
        if !valid(room) || !valid(name) {
            return Err(format!(
                "room and name must be 1 to {MAX_NAME} printable characters"
            ));
        }
        let mut rooms = self.rooms.lock();
        if !rooms.contains_key(room) && rooms.len() >= MAX_ROOMS {
            return Err("too many rooms on this server".into());
        }
        let members = rooms.entry(room.to_owned()).or_default();
        if members.contains_key(name) {
            return Err(format!("the name '{name}' is taken in room '{room}'"));
        }
        if members.len() >= MAX_MEMBERS {
            return Err(format!("room '{room}' is full ({MAX_MEMBERS} members)"));
        }
        let mut peers: Vec<String> = members.keys().cloned().collect();
        peers.sort();
        let joined = json!({"type": "peer-joined", "name": name}).to_string();
        for member in members.values() {
            let _ = member.try_send(joined.clone());
        }
        members.insert(name.to_owned(), tx.clone());
        Ok(peers)
    }

    fn leave(&self, who: &Membership) {
        let mut rooms = self.rooms.lock();
        let Some(members) = rooms.get_mut(&who.room) else {
            return;
        };
        members.remove(&who.name);
        let left = json!({"type": "peer-left", "name": who.name}).to_string();
        for member in members.values() {
            let _ = member.try_send(left.clone());
        }
        if members.is_empty() {
            rooms.remove(&who.room);
        }
    }

    /// Sends to `to` (or, with `None`, to every other member); whether anyone got it.
    fn relay(&self, from: &Membership, to: Option<&str>, data: Value) -> bool {
        let text = json!({"type": "message", "from": from.name, "data": data}).to_string();
        let rooms = self.rooms.lock();
        let Some(members) = rooms.get(&from.room) else {
            return false;
        };
        let mut delivered = false;
        for (name, member) in members {
            let addressed = match to {
                Some(to) => name == to,
                None => *name != from.name,
            };
            if addressed && member.try_send(text.clone()).is_ok() {
                delivered = true;
            }
        }
        delivered
    }

    /// Handles one page's message; returns the reply for it, if any.
    fn handle(
        &self,
        text: &str,
        me: &mut Option<Membership>,
        tx: &mpsc::Sender<String>,
    ) -> Option<Value> {
        let error = |message: String| Some(json!({"type": "error", "message": message}));
        if text.len() > MAX_MESSAGE {
            return error(format!("messages are at most {MAX_MESSAGE} bytes"));
        }
        let Ok(msg) = serde_json::from_str::<Value>(text) else {
            return error("not a JSON message".into());
        };
        let field = |name: &str| msg.get(name).and_then(Value::as_str);
        match (field("type"), me.as_ref()) {
            (Some("join"), None) => {
                let (Some(room), Some(name)) = (field("room"), field("name")) else {
                    return error("join needs a room and a name".into());
                };
                match self.join(room, name, tx) {
                    Ok(peers) => {
                        *me = Some(Membership {
                            room: room.to_owned(),
                            name: name.to_owned(),
                        });
                        Some(json!({"type": "joined", "room": room, "name": name, "peers": peers}))
                    }
                    Err(message) => error(message),
                }
            }
            (Some("join"), Some(m)) => {
                error(format!("already in room '{}' as '{}'", m.room, m.name))
            }
            (Some("send"), Some(m)) => {
                let Some(to) = field("to") else {
                    return error("send needs 'to'".into());
                };
                let data = msg.get("data").cloned().unwrap_or(Value::Null);
                if self.relay(m, Some(to), data) {
                    None
                } else {
                    Some(json!({"type": "error", "to": to,
                                "message": format!("no one named '{to}' in room '{}'", m.room)}))
                }
            }
            (Some("broadcast"), Some(m)) => {
                let data = msg.get("data").cloned().unwrap_or(Value::Null);
                self.relay(m, None, data);
                None
            }
            (Some("send" | "broadcast"), None) => error("join a room first".into()),
            _ => error("unknown message type (join, send, broadcast)".into()),
        }
    }

    /// Members of `room` (tests and metrics).
    pub fn members(&self, room: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .rooms
            .lock()
            .get(room)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

enum Event {
    FromPage(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    ToPage(String),
    Stop,
}

/// Runs one page's connection until it closes, the relay drops it, or the server stops.
pub(super) async fn run<S>(
    socket: WebSocketStream<S>,
    peer: SocketAddr,
    relay: &Relay,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = socket.split();
    let (tx, mut rx) = mpsc::channel::<String>(MAX_QUEUED);
    let mut me: Option<Membership> = None;
    let mut stopping = false;
    debug!(%peer, "demo signaling connected");
    loop {
        // The select only picks what happened; the awaits come after it (a shutdown's guard
        // must not live across them).
        let event = tokio::select! {
            msg = source.next() => Event::FromPage(msg),
            Some(out) = rx.recv() => Event::ToPage(out),
            Ok(_) = shutdown.wait_for(|stop| *stop) => Event::Stop,
        };
        match event {
            Event::FromPage(msg) => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                };
                if let Some(reply) = relay.handle(&text, &mut me, &tx) {
                    if sink.send(Message::text(reply.to_string())).await.is_err() {
                        break;
                    }
                }
            }
            Event::ToPage(out) => {
                if sink.send(Message::text(out)).await.is_err() {
                    break;
                }
            }
            Event::Stop => {
                stopping = true;
                break;
            }
        }
    }
    if stopping {
        let frame = CloseFrame {
            code: CloseCode::Away,
            reason: "Server shutting down".into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    if let Some(m) = &me {
        relay.leave(m);
    }
    debug!(%peer, "demo signaling disconnected");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(
        relay: &Relay,
    ) -> (
        mpsc::Sender<String>,
        mpsc::Receiver<String>,
        Option<Membership>,
    ) {
        let (tx, rx) = mpsc::channel(16);
        let _ = relay;
        (tx, rx, None)
    }

    fn next(rx: &mut mpsc::Receiver<String>) -> Value {
        serde_json::from_str(&rx.try_recv().expect("a message")).unwrap()
    }

    #[test]
    fn pages_join_rooms_message_each_other_and_are_told_who_leaves() {
        let relay = Relay::default();
        let (atx, mut arx, mut alice) = page(&relay);
        let (btx, mut brx, mut bob) = page(&relay);
        let joined = relay
            .handle(
                r#"{"type":"join","room":"r","name":"alice"}"#,
                &mut alice,
                &atx,
            )
            .unwrap();
        assert_eq!(joined["peers"], json!([]));
        let joined = relay
            .handle(r#"{"type":"join","room":"r","name":"bob"}"#, &mut bob, &btx)
            .unwrap();
        assert_eq!(joined["peers"], json!(["alice"]));
        assert_eq!(
            next(&mut arx),
            json!({"type": "peer-joined", "name": "bob"})
        );

        assert!(relay
            .handle(
                r#"{"type":"send","to":"bob","data":{"call":1}}"#,
                &mut alice,
                &atx
            )
            .is_none());
        assert_eq!(
            next(&mut brx),
            json!({"type": "message", "from": "alice", "data": {"call": 1}})
        );
        let e = relay
            .handle(r#"{"type":"send","to":"carol","data":1}"#, &mut alice, &atx)
            .unwrap();
        assert_eq!(
            (e["type"].as_str(), e["to"].as_str()),
            (Some("error"), Some("carol"))
        );
        relay.handle(r#"{"type":"broadcast","data":"hi"}"#, &mut bob, &btx);
        assert_eq!(next(&mut arx)["data"], "hi");
        assert!(brx.try_recv().is_err(), "not to the sender");

        // A taken name, bad names, unknown types, sending before joining.
        let (ctx, _crx, mut carol) = page(&relay);
        for bad in [
            r#"{"type":"join","room":"r","name":"bob"}"#,
            r#"{"type":"join","room":"","name":"x"}"#,
            r#"{"type":"send","to":"bob","data":1}"#,
            r#"{"type":"dance"}"#,
            "not json",
        ] {
            let e = relay.handle(bad, &mut carol, &ctx).unwrap();
            assert_eq!(e["type"], "error", "{bad}: {e}");
        }
        assert!(carol.is_none());

        relay.leave(bob.as_ref().unwrap());
        assert_eq!(next(&mut arx), json!({"type": "peer-left", "name": "bob"}));
        assert_eq!(relay.members("r"), ["alice"]);
        relay.leave(alice.as_ref().unwrap());
        assert!(relay.rooms.lock().is_empty(), "empty rooms go");
    }
}
