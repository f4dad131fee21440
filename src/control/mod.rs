//! Sessions, the object registry, subscriptions, transactions and garbage collection: the
//! Kurento methods on top of the class catalogue. No sockets here: transport hands in text
//! frames and takes out text frames.

pub mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rheo_pipelines as media;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::objects::{
    self, catalogue, Args, Link, Media, MediaObject, Settings, World, SERVER_MANAGER_ID,
};
use crate::protocol::{self, KurentoError, ParseFailure};
pub use state::ConnId;
use state::State;

type Result<T> = std::result::Result<T, KurentoError>;

/// The server's control plane. Shared by all connections (`Arc<Core>`).
pub struct Core {
    state: Mutex<State>,
    /// Outgoing text frames of each live connection.
    connections: Mutex<HashMap<ConnId, mpsc::UnboundedSender<String>>>,
    next_conn: std::sync::atomic::AtomicU64,
    /// Generated once per start; `connect` returns it so clients notice restarts.
    pub server_id: String,
    settings: Settings,
    media_events: media::EventSink,
}

/// Per-connection state kept by the transport: the session it is bound to.
pub struct Connection {
    pub id: ConnId,
    pub session: Option<String>,
}

impl Core {
    /// Creates the core and starts routing media events (needs a tokio runtime).
    pub fn new(settings: Settings) -> Arc<Core> {
        let (tx, mut rx) = mpsc::unbounded_channel::<media::ElementEvent>();
        let core = Arc::new(Core {
            state: Mutex::new(State::default()),
            connections: Mutex::new(HashMap::new()),
            next_conn: 1.into(),
            server_id: uuid::Uuid::new_v4().to_string(),
            settings,
            // Called from streaming threads: an unbounded send never blocks.
            media_events: Arc::new(move |ev| {
                let _ = tx.send(ev);
            }),
        });
        let sm = MediaObject::new(
            SERVER_MANAGER_ID.to_owned(),
            &catalogue::SERVER_MANAGER,
            None,
            Media::ServerManager,
        );
        core.state
            .lock()
            .objects
            .insert(SERVER_MANAGER_ID.to_owned(), Arc::new(sm));
        let weak = Arc::downgrade(&core);
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let Some(core) = weak.upgrade() else { break };
                core.route_media_event(ev);
            }
        });
        core
    }

    /// Registers a connection and the channel its outgoing frames go to.
    pub fn open_connection(&self, tx: mpsc::UnboundedSender<String>) -> Connection {
        let id = self
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.connections.lock().insert(id, tx);
        Connection { id, session: None }
    }

    /// Unbinds the connection's sessions. Nothing is released: sessions outlive connections and
    /// are garbage-collected later, as in KMS.
    pub fn close_connection(&self, conn: &Connection) {
        self.connections.lock().remove(&conn.id);
        let mut st = self.state.lock();
        for s in st.sessions.values_mut() {
            if s.bound == Some(conn.id) {
                s.bound = None;
                s.kept_alive = true;
            }
        }
    }

    /// Handles one text frame; returns the response frame, if any.
    pub async fn handle_text(
        self: &Arc<Self>,
        conn: &mut Connection,
        text: &str,
    ) -> Option<String> {
        let request = match protocol::parse_request(text) {
            Ok(r) => r,
            Err(ParseFailure::NotJson) => {
                return Some(
                    protocol::failure(&Value::Null, &KurentoError::parse_error()).to_string(),
                )
            }
            Err(ParseFailure::InvalidRequest) => {
                return Some(
                    protocol::failure(&Value::Null, &KurentoError::invalid_request()).to_string(),
                )
            }
            Err(ParseFailure::BadParams(id)) => {
                return Some(protocol::failure(&id, &KurentoError::params_required()).to_string())
            }
        };
        let mut params = request.params;
        // Requests without a session run in the connection's current one.
        if let (Some(p), Some(s)) = (params.as_mut(), conn.session.as_ref()) {
            if !p.contains_key("sessionId") {
                p.insert("sessionId".into(), Value::from(s.clone()));
            }
        } else if let (None, Some(s), "ping") = (&params, &conn.session, request.method.as_str()) {
            // Parameterless pings echo the connection's session too.
            params = Some(Map::from_iter([(
                "sessionId".to_owned(),
                Value::from(s.clone()),
            )]));
        }
        let outcome = self
            .execute(conn.id, &request.method, params.as_ref())
            .await;
        if let Ok(result) = &outcome {
            if let Some(s) = result.get("sessionId").and_then(Value::as_str) {
                self.bind(conn, s);
            }
        }
        let id = request.id?;
        Some(
            match outcome {
                Ok(result) => protocol::success(&id, result),
                Err(e) => protocol::failure(&id, &e),
            }
            .to_string(),
        )
    }

    fn bind(&self, conn: &mut Connection, session: &str) {
        conn.session = Some(session.to_owned());
        if let Some(s) = self.state.lock().sessions.get_mut(session) {
            s.bound = Some(conn.id);
            s.kept_alive = true;
        }
    }

    /// Runs one method. Boxed because transactions recurse into it.
    fn execute<'a>(
        self: &'a Arc<Self>,
        conn: ConnId,
        method: &'a str,
        params: Option<&'a Map<String, Value>>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value>> + Send + 'a>> {
        Box::pin(async move {
            let p = Params(params);
            match method {
                "ping" => Ok(with_session(
                    json!({"value": "pong"}),
                    p.opt_str("sessionId")?,
                )),
                "connect" => self.connect(p),
                "describe" => self.describe(p.required()?),
                "create" => self.create(p.required()?).await,
                "invoke" => self.invoke(p.required()?).await,
                "subscribe" => self.subscribe(p.required()?),
                "unsubscribe" => self.unsubscribe(p.required()?),
                "release" => self.release(p.required()?).await,
                "transaction" => self.transaction(conn, p.required()?).await,
                "closeSession" => self.close_session(p.required()?).await,
                "keepAlive" => self.keep_alive(p.required()?),
                "ref" => self.reference(p.required()?, true),
                "unref" => self.reference(p.required()?, false),
                _ => Err(KurentoError::method_not_found()),
            }
        })
    }

    fn connect(&self, p: Params<'_>) -> Result<Value> {
        let mut st = self.state.lock();
        let session = match p.opt_str("sessionId")? {
            Some(s) => {
                let sess = st
                    .sessions
                    .get_mut(s)
                    .ok_or_else(KurentoError::invalid_session)?;
                sess.kept_alive = true;
                s.to_owned()
            }
            None => {
                let s = uuid::Uuid::new_v4().to_string();
                st.sessions.entry(s.clone()).or_default().kept_alive = true;
                s
            }
        };
        Ok(json!({"serverId": self.server_id, "sessionId": session}))
    }

    fn describe(&self, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let obj = self.lookup_and_ref(&session, p.str("object")?)?;
        Ok(json!({
            "hierarchy": obj.class.hierarchy(),
            "qualifiedType": obj.class.qualified_name(),
            "type": obj.class.name,
            "sessionId": session,
        }))
    }

    async fn create(self: &Arc<Self>, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let type_name = p.str("type")?;
        let class = catalogue::factory(type_name)
            .ok_or_else(|| KurentoError::factory_not_found(type_name))?;
        let ctor = match p.raw("constructorParams") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(KurentoError::param_type("constructorParams", "object")),
        };
        let uuid = uuid::Uuid::new_v4().to_string();
        let core = self.clone();
        let events = self.media_events.clone();
        let obj = blocking(move || {
            objects::create(core.as_ref(), class, Args::new(Some(&ctor)), &uuid, events)
        })
        .await?;
        let obj = Arc::new(obj);
        let id = obj.id.clone();
        let orphaned = {
            let mut st = self.state.lock();
            // The pipeline may have been released while the element was being built.
            let parent_gone = obj
                .pipeline
                .as_ref()
                .is_some_and(|p| !st.objects.contains_key(p));
            if !parent_gone {
                st.objects.insert(id.clone(), obj.clone());
                st.reference(&session, &id);
            }
            parent_gone
        };
        if orphaned {
            blocking(move || {
                obj.release_media();
                Ok(())
            })
            .await?;
            return Err(KurentoError::object_not_found(obj_parent_or(&id)));
        }
        debug!(object = %id, %session, "created");
        self.raise_on_manager("ObjectCreated", "object", &id);
        Ok(json!({"value": id, "sessionId": session}))
    }

    async fn invoke(self: &Arc<Self>, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let obj = self.lookup_and_ref(&session, p.str("object")?)?;
        let operation = p.str("operation")?.to_owned();
        let op_params = match p.raw("operationParams") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m.clone()),
            Some(_) => {
                return Err(KurentoError::marshall(
                    "'operationParams' should be an object",
                ))
            }
        };
        let core = self.clone();
        let value = blocking(move || {
            objects::invoke(
                core.as_ref(),
                &obj,
                &operation,
                Args::new(op_params.as_ref()),
            )
        })
        .await?;
        let mut result = json!({"sessionId": session});
        if let Some(v) = value {
            result["value"] = v;
        }
        Ok(result)
    }

    fn subscribe(&self, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let event_type = p.str("type")?;
        let obj = self.lookup_and_ref(&session, p.str("object")?)?;
        if !obj.class.supports_event(event_type) {
            return Err(KurentoError::event_not_supported(event_type));
        }
        let sub = uuid::Uuid::new_v4().to_string();
        let key = (session.clone(), obj.id.clone(), event_type.to_owned());
        let mut st = self.state.lock();
        st.subscriptions
            .entry(key.clone())
            .or_default()
            .push(sub.clone());
        st.subscription_index.insert(sub.clone(), key);
        Ok(json!({"value": sub, "sessionId": session}))
    }

    fn unsubscribe(&self, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let sub = p.str("subscription")?;
        let mut st = self.state.lock();
        st.touch(&session);
        if let Some(key) = st.subscription_index.remove(sub) {
            if let Some(list) = st.subscriptions.get_mut(&key) {
                list.retain(|s| s != sub);
                if list.is_empty() {
                    st.subscriptions.remove(&key);
                }
            }
        }
        Ok(json!({"sessionId": session}))
    }

    async fn release(self: &Arc<Self>, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let id = p.str("object")?;
        self.state.lock().touch(&session);
        // Idempotent: unknown or already released objects still succeed (KMS swallows it).
        self.release_objects(id).await;
        Ok(json!({"sessionId": session}))
    }

    /// Removes an object (and a pipeline's elements) from the registry, frees its media and
    /// raises ObjectDestroyed for each.
    async fn release_objects(self: &Arc<Self>, id: &str) {
        let removed = {
            let mut st = self.state.lock();
            if id == SERVER_MANAGER_ID || !st.objects.contains_key(id) {
                return;
            }
            let ids = st.release_set(id);
            st.remove_objects(&ids)
        };
        let Some(root) = removed.iter().find(|o| o.id == id).cloned() else {
            return;
        };
        let ids: Vec<String> = removed.iter().map(|o| o.id.clone()).collect();
        let released = blocking(move || {
            root.release_media();
            Ok(())
        });
        if let Err(e) = released.await {
            warn!(object = id, error = %e, "release failed");
        }
        for removed_id in ids {
            self.raise_on_manager("ObjectDestroyed", "objectId", &removed_id);
        }
    }

    async fn transaction(self: &Arc<Self>, conn: ConnId, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let Some(Value::Array(ops)) = p.raw("operations") else {
            return Err(KurentoError::param_type("operations", "array"));
        };
        let mut responses: Vec<Value> = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let (op_id, outcome) = self
                .transaction_op(conn, &session, index, op, &responses)
                .await;
            let failed = outcome.is_err();
            responses.push(match outcome {
                Ok(result) => protocol::success(&op_id, result),
                Err(e) => protocol::failure(&op_id, &e),
            });
            if failed {
                break;
            }
        }
        Ok(json!({"value": responses, "sessionId": session}))
    }

    async fn transaction_op(
        self: &Arc<Self>,
        conn: ConnId,
        session: &str,
        index: usize,
        op: &Value,
        done: &[Value],
    ) -> (Value, Result<Value>) {
        let op_id = op.get("id").cloned().unwrap_or(Value::Null);
        if op_id.as_u64() != Some(index as u64) {
            let e = KurentoError::malformed_transaction(format!(
                "Id of request '{index}' should be '{index}'"
            ));
            return (op_id, Err(e));
        }
        let Some(method) = op.get("method").and_then(Value::as_str) else {
            return (op_id, Err(KurentoError::invalid_request()));
        };
        let mut params = match op.get("params") {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(_) => return (op_id, Err(KurentoError::params_required())),
        };
        if let Err(e) = resolve_newrefs(&mut params, done) {
            return (op_id, Err(e));
        }
        let Value::Object(mut params) = params else {
            unreachable!("params is an object")
        };
        params.insert("sessionId".into(), Value::from(session));
        let outcome = self.execute(conn, method, Some(&params)).await;
        (op_id, outcome)
    }

    async fn close_session(self: &Arc<Self>, p: Params<'_>) -> Result<Value> {
        let session = p.str("sessionId")?.to_owned();
        let release_all = p.raw("release").and_then(Value::as_bool).unwrap_or(false);
        let roots = {
            let mut st = self.state.lock();
            if release_all {
                let refs: Vec<String> = st
                    .sessions
                    .get(&session)
                    .map(|s| s.refs.iter().cloned().collect())
                    .unwrap_or_default();
                st.drop_session(&session);
                refs
            } else {
                st.drop_session(&session)
            }
        };
        for id in roots {
            self.release_objects(&id).await;
        }
        Ok(Value::Null)
    }

    fn keep_alive(&self, p: Params<'_>) -> Result<Value> {
        let session = p.str("sessionId")?;
        let mut st = self.state.lock();
        let s = st
            .sessions
            .get_mut(session)
            .ok_or_else(KurentoError::invalid_session)?;
        s.kept_alive = true;
        Ok(json!({"sessionId": session}))
    }

    fn reference(&self, p: Params<'_>, add: bool) -> Result<Value> {
        let session = p.str("sessionId")?;
        let id = p.str("object")?;
        if add {
            self.lookup_and_ref(session, id)?;
        } else if let Some(s) = self.state.lock().sessions.get_mut(session) {
            s.refs.remove(id);
            s.kept_alive = true;
        }
        Ok(json!({"sessionId": session}))
    }

    fn lookup_and_ref(&self, session: &str, id: &str) -> Result<Arc<MediaObject>> {
        let mut st = self.state.lock();
        if id.starts_with("newref:") {
            return Err(KurentoError::newref_outside_transaction(id));
        }
        let obj = st
            .objects
            .get(id)
            .cloned()
            .ok_or_else(|| KurentoError::object_not_found(id))?;
        st.reference(session, id);
        Ok(obj)
    }

    /// One garbage-collection pass: drops sessions that were neither bound to a live connection
    /// nor touched since the previous pass, and releases what only they referenced.
    pub async fn collect_garbage(self: &Arc<Self>) {
        let roots = {
            let mut st = self.state.lock();
            let mut dead = Vec::new();
            for (id, s) in st.sessions.iter_mut() {
                if s.bound.is_some() || s.kept_alive {
                    s.kept_alive = false;
                } else {
                    dead.push(id.clone());
                }
            }
            let mut roots = Vec::new();
            for id in dead {
                debug!(session = %id, "session garbage-collected");
                roots.extend(st.drop_session(&id));
            }
            roots
        };
        for id in roots {
            self.release_objects(&id).await;
        }
    }

    /// Runs [`Core::collect_garbage`] every `period` until the core is dropped.
    pub fn spawn_garbage_collector(self: &Arc<Self>, period: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(core) = weak.upgrade() else { break };
                core.collect_garbage().await;
            }
        });
    }

    /// Releases every pipeline (shutdown).
    pub async fn release_all(self: &Arc<Self>) {
        for id in self.pipelines() {
            self.release_objects(&id).await;
        }
    }

    fn route_media_event(&self, ev: media::ElementEvent) {
        let Some(obj) = self.state.lock().objects.get(&ev.element).cloned() else {
            return;
        };
        if let Some((event_type, fields)) = objects::events::kurento_event(&ev.event) {
            self.raise(&obj, &event_type, fields);
        }
    }

    fn raise_on_manager(&self, event_type: &str, field: &str, id: &str) {
        let Some(sm) = self.state.lock().objects.get(SERVER_MANAGER_ID).cloned() else {
            return;
        };
        let mut fields = Map::new();
        fields.insert(field.to_owned(), Value::from(id));
        self.raise(&sm, event_type, fields);
    }

    /// Number of live objects other than the ServerManager (tests and metrics).
    pub fn object_count(&self) -> usize {
        self.state.lock().objects.len() - 1
    }

    /// The number of sessions and every live object, taken under one lock (for /metrics; the
    /// objects are examined after the lock is released).
    pub fn snapshot(&self) -> (usize, Vec<Arc<MediaObject>>) {
        let st = self.state.lock();
        (st.sessions.len(), st.objects.values().cloned().collect())
    }
}

fn obj_parent_or(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

impl World for Core {
    fn object(&self, id: &str) -> Result<Arc<MediaObject>> {
        self.state
            .lock()
            .objects
            .get(id)
            .cloned()
            .ok_or_else(|| KurentoError::object_not_found(id))
    }

    fn children(&self, id: &str) -> Vec<String> {
        let st = self.state.lock();
        let mut ids: Vec<String> = st
            .objects
            .values()
            .filter(|o| o.pipeline.as_deref() == Some(id))
            .map(|o| o.id.clone())
            .collect();
        ids.sort();
        ids
    }

    fn pipelines(&self) -> Vec<String> {
        let st = self.state.lock();
        let mut ids: Vec<String> = st
            .objects
            .values()
            .filter(|o| o.media_pipeline().is_some())
            .map(|o| o.id.clone())
            .collect();
        ids.sort();
        ids
    }

    fn sessions(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.state.lock().sessions.keys().cloned().collect();
        ids.sort();
        ids
    }

    fn links_of(&self, id: &str) -> Vec<Link> {
        self.state
            .lock()
            .links
            .iter()
            .filter(|l| l.source == id || l.sink == id)
            .cloned()
            .collect()
    }

    fn add_link(&self, link: Link) -> Option<Link> {
        let mut st = self.state.lock();
        let old = st
            .links
            .iter()
            .position(|l| l.sink == link.sink && l.media == link.media)
            .map(|i| st.links.remove(i));
        st.links.push(link);
        old
    }

    fn remove_link(&self, link: &Link) -> bool {
        let mut st = self.state.lock();
        let before = st.links.len();
        st.links.retain(|l| l != link);
        st.links.len() != before
    }

    fn raise(&self, object: &MediaObject, event_type: &str, fields: Map<String, Value>) {
        let targets: Vec<ConnId> = {
            let st = self.state.lock();
            st.subscriptions
                .keys()
                .filter(|(_, obj, ty)| obj == &object.id && ty == event_type)
                .filter_map(|(session, _, _)| st.sessions.get(session).and_then(|s| s.bound))
                .collect()
        };
        if targets.is_empty() {
            return;
        }
        let data = {
            let s = object.state.lock();
            objects::events::event_data(
                &object.id,
                event_type,
                &s.tags,
                s.send_tags_in_events,
                fields,
            )
        };
        let frame = protocol::event_notification(&object.id, event_type, data).to_string();
        let conns = self.connections.lock();
        for conn in targets {
            if let Some(tx) = conns.get(&conn) {
                let _ = tx.send(frame.clone());
            }
        }
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// Runs blocking object code (media calls) off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)))
        .await
        .map_err(KurentoError::internal)?
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            Err(KurentoError::internal(what))
        })
}

fn with_session(mut result: Value, session: Option<&str>) -> Value {
    if let Some(s) = session {
        result["sessionId"] = Value::from(s);
    }
    result
}

/// Replaces `"newref:N"` strings anywhere in `value` by the id created by operation N.
fn resolve_newrefs(value: &mut Value, done: &[Value]) -> Result<()> {
    match value {
        Value::String(s) => {
            if let Some(n) = s.strip_prefix("newref:") {
                let id = n
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| done.get(i))
                    .and_then(|r| r.get("result")?.get("value")?.as_str())
                    .ok_or_else(|| {
                        KurentoError::malformed_transaction(format!("Reference '{s}' not found"))
                    })?;
                *s = id.to_owned();
            }
        }
        Value::Array(items) => {
            for v in items {
                resolve_newrefs(v, done)?;
            }
        }
        Value::Object(map) => {
            for v in map.values_mut() {
                resolve_newrefs(v, done)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Top-level params of a request, with KMS's -32000 wording for missing or mistyped members.
#[derive(Clone, Copy)]
struct Params<'a>(Option<&'a Map<String, Value>>);

impl<'a> Params<'a> {
    fn required(self) -> Result<Self> {
        match self.0 {
            Some(_) => Ok(self),
            None => Err(KurentoError::params_required()),
        }
    }

    fn raw(&self, name: &str) -> Option<&'a Value> {
        self.0.and_then(|m| m.get(name))
    }

    fn str(&self, name: &str) -> Result<&'a str> {
        match self.raw(name) {
            None | Some(Value::Null) => Err(KurentoError::missing_param(name)),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(KurentoError::param_type(name, "string")),
        }
    }

    fn opt_str(&self, name: &str) -> Result<Option<&'a str>> {
        match self.raw(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(KurentoError::param_type(name, "string")),
        }
    }

    /// The request's session, or a new one (methods that reference objects mint sessions).
    fn session(&self) -> String {
        match self.raw("sessionId") {
            Some(Value::String(s)) => s.clone(),
            _ => uuid::Uuid::new_v4().to_string(),
        }
    }
}
