//! A Kurento client inside the server: WHIP and WHEP sessions drive the control plane with the
//! requests an application server would send, so quotas, validation, events and release work
//! for them exactly as for applications.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::control::{ConnId, Connection, Core, Outbox};

/// Bytes of events the client may have queued and not yet dispatched.
const OUTBOX_LIMIT: usize = 16 * 1024 * 1024;

/// A failed request: Kurento's code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    pub code: i64,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// An event of an object the client subscribed to.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: String,
    pub data: Value,
}

type Listeners = Arc<Mutex<HashMap<String, Vec<mpsc::UnboundedSender<Event>>>>>;

/// One connection and one session on the control plane.
pub struct LocalClient {
    core: Arc<Core>,
    conn: ConnId,
    session: String,
    next_id: AtomicU64,
    listeners: Listeners,
}

impl LocalClient {
    /// Opens a connection and a session (needs a tokio runtime).
    pub async fn open(core: Arc<Core>) -> Result<LocalClient, CallError> {
        let (outbox, mut frames) = Outbox::new(OUTBOX_LIMIT);
        let mut conn = core.open_connection(outbox);
        let listeners: Listeners = Arc::default();
        let dispatch = listeners.clone();
        tokio::spawn(async move {
            while let Some(frame) = frames.recv().await {
                dispatch_event(&dispatch, &frame);
            }
        });
        let reply = core
            .handle_text(
                &mut conn,
                &json!({"jsonrpc": "2.0", "id": 0, "method": "connect"}).to_string(),
            )
            .await;
        let session = result_of(reply)?
            .get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| CallError {
                code: -32603,
                message: "connect gave no session".into(),
            })?;
        Ok(LocalClient {
            core,
            conn: conn.id,
            session,
            next_id: AtomicU64::new(1),
            listeners,
        })
    }

    /// The control plane it talks to.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Sends one request; its result, or Kurento's error.
    pub async fn call(&self, method: &str, mut params: Value) -> Result<Value, CallError> {
        if let Some(p) = params.as_object_mut() {
            p.insert("sessionId".into(), Value::from(self.session.clone()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut conn = Connection {
            id: self.conn,
            session: Some(self.session.clone()),
        };
        let reply = self.core.handle_text(&mut conn, &request.to_string()).await;
        result_of(reply)
    }

    /// `create`: the new object's id.
    pub async fn create(&self, kind: &str, params: Value) -> Result<String, CallError> {
        let result = self
            .call("create", json!({"type": kind, "constructorParams": params}))
            .await?;
        result
            .get("value")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| CallError {
                code: -32603,
                message: format!("create {kind} gave no object"),
            })
    }

    /// `invoke`: the operation's return value (`null` for none).
    pub async fn invoke(
        &self,
        object: &str,
        operation: &str,
        params: Value,
    ) -> Result<Value, CallError> {
        let result = self
            .call(
                "invoke",
                json!({"object": object, "operation": operation, "operationParams": params}),
            )
            .await?;
        Ok(result.get("value").cloned().unwrap_or(Value::Null))
    }

    pub async fn release(&self, object: &str) -> Result<(), CallError> {
        self.call("release", json!({"object": object}))
            .await
            .map(drop)
    }

    /// Subscribes to `events` of `object`; they arrive on the returned channel until the object
    /// is gone or the receiver is dropped.
    pub async fn listen(
        &self,
        object: &str,
        events: &[&str],
    ) -> Result<mpsc::UnboundedReceiver<Event>, CallError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.listeners
            .lock()
            .entry(object.to_owned())
            .or_default()
            .push(tx);
        for kind in events {
            self.call("subscribe", json!({"type": kind, "object": object}))
                .await?;
        }
        Ok(rx)
    }

    /// Forgets the listeners of `object` (after its release).
    pub fn forget(&self, object: &str) {
        self.listeners.lock().remove(object);
    }
}

fn result_of(reply: Option<String>) -> Result<Value, CallError> {
    let reply: Value = reply
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or(Value::Null);
    if let Some(error) = reply.get("error") {
        return Err(CallError {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(-32603),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_owned(),
        });
    }
    Ok(reply.get("result").cloned().unwrap_or(Value::Null))
}

fn dispatch_event(listeners: &Listeners, frame: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(frame) else {
        return;
    };
    if frame.get("method").and_then(Value::as_str) != Some("onEvent") {
        return;
    }
    let value = &frame["params"]["value"];
    let (Some(object), Some(kind)) = (value["object"].as_str(), value["type"].as_str()) else {
        return;
    };
    let mut listeners = listeners.lock();
    if let Some(senders) = listeners.get_mut(object) {
        let event = Event {
            kind: kind.to_owned(),
            data: value["data"].clone(),
        };
        senders.retain(|tx| tx.send(event.clone()).is_ok());
    }
}
