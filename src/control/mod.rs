//! Sessions, the object registry, subscriptions, transactions and garbage collection: the
//! Kurento methods on top of the class catalogue. No sockets here: transport hands in text
//! frames and takes out text frames.

pub mod capacity;
mod events;
mod isolation;
mod outbox;
mod params;
pub mod quotas;
mod sessions;
pub mod state;
mod transactions;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rheo_media as media;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::objects::{
    self, catalogue, Args, Media, MediaObject, Settings, World, SERVER_MANAGER_ID,
};
use crate::protocol::{self, KurentoError, ParseFailure};
pub use outbox::{Outbox, OutboxReceiver};
use params::{with_session, Params};
pub use quotas::{Quota, Quotas};
pub use state::ConnId;
use state::State;

type Result<T> = std::result::Result<T, KurentoError>;

/// The server's control plane. Shared by all connections (`Arc<Core>`).
pub struct Core {
    state: Mutex<State>,
    /// Outgoing text frames of each live connection.
    connections: Mutex<HashMap<ConnId, Outbox>>,
    next_conn: std::sync::atomic::AtomicU64,
    /// Generated once per start; `connect` returns it so clients notice restarts.
    pub server_id: String,
    settings: Settings,
    media_events: media::EventSink,
    quotas: Quotas,
    /// Whether sessions see only their own objects (setting `session_isolation`).
    isolation: std::sync::atomic::AtomicBool,
    /// What each client address holds: its open WebSocket connections and its request slots.
    per_address: Mutex<HashMap<std::net::IpAddr, AddressShare>>,
    /// Requests refused by each quota.
    pub refusals: quotas::Refusals,
    /// Requests waiting because their address has `max_requests_in_flight_per_ip` running.
    pub requests_waiting: std::sync::atomic::AtomicU64,
    /// The file descriptor headroom check.
    pub capacity: capacity::Capacity,
}

/// One client address's share of the server.
struct AddressShare {
    connections: usize,
    /// `max_requests_in_flight_per_ip` permits, shared by the address's connections: a request
    /// runs on the blocking pool, so one address cannot take all of its threads.
    requests: Arc<tokio::sync::Semaphore>,
}

/// One admitted connection (see [`Core::admit`]).
pub struct Admission {
    core: Arc<Core>,
    address: std::net::IpAddr,
    requests: Arc<tokio::sync::Semaphore>,
}

impl Admission {
    /// Waits, without holding a thread, until the address may run one more request; the
    /// request runs while the returned permit lives.
    pub async fn request_slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        if let Ok(permit) = self.requests.clone().try_acquire_owned() {
            return permit;
        }
        let waiting = &self.core.requests_waiting;
        waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let permit = self.requests.clone().acquire_owned().await;
        waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        permit.expect("the semaphore is never closed")
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.core.per_address.lock();
        if let Some(share) = open.get_mut(&self.address) {
            share.connections -= 1;
            if share.connections == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Per-connection state kept by the transport: the session it is bound to.
pub struct Connection {
    pub id: ConnId,
    pub session: Option<String>,
}

impl Core {
    /// Creates the core with the default quotas (needs a tokio runtime).
    pub fn new(settings: Settings) -> Arc<Core> {
        Self::with_quotas(settings, Quotas::default())
    }

    /// Creates the core and starts routing media events (needs a tokio runtime).
    pub fn with_quotas(settings: Settings, quotas: Quotas) -> Arc<Core> {
        let (tx, mut rx) = mpsc::unbounded_channel::<media::ElementEvent>();
        let core = Arc::new(Core {
            state: Mutex::new(State::default()),
            connections: Mutex::new(HashMap::new()),
            next_conn: 1.into(),
            server_id: uuid::Uuid::new_v4().to_string(),
            settings,
            quotas,
            per_address: Mutex::new(HashMap::new()),
            isolation: false.into(),
            refusals: quotas::Refusals::default(),
            requests_waiting: 0.into(),
            capacity: capacity::Capacity::new(quotas.fd_reserve as u64),
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

    /// Registers a connection and the outbox its outgoing frames go to.
    pub fn open_connection(&self, outbox: Outbox) -> Connection {
        let id = self
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.connections.lock().insert(id, outbox);
        Connection { id, session: None }
    }

    /// Unbinds the connection's sessions. Nothing is released: sessions outlive connections and
    /// are garbage-collected later, as in KMS.
    pub fn close_connection(&self, conn: ConnId) {
        self.connections.lock().remove(&conn);
        let mut st = self.state.lock();
        for s in st.sessions.values_mut() {
            if s.bound == Some(conn) {
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
                return Some(protocol::reply(
                    &protocol::Id::null(),
                    &Err(KurentoError::parse_error()),
                ))
            }
            Err(ParseFailure::InvalidRequest) => {
                return Some(protocol::reply(
                    &protocol::Id::null(),
                    &Err(KurentoError::invalid_request()),
                ))
            }
            Err(ParseFailure::BadParams(id)) => {
                return Some(protocol::reply(&id, &Err(KurentoError::params_required())))
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
        let session_quota = self.check_session_quota(conn.id, &request.method, params.as_ref());
        let outcome = match session_quota {
            Err(e) => Err(e),
            Ok(()) => {
                self.execute(conn.id, &request.method, params.as_ref())
                    .await
            }
        };
        if let Ok(result) = &outcome {
            if let Some(s) = result.get("sessionId").and_then(Value::as_str) {
                self.bind(conn, s);
            }
        }
        let id = request.id?;
        Some(protocol::reply(&id, &outcome))
    }

    /// The reply to `text` if it is a `ping` that may overtake the requests queued before it:
    /// one naming no session or `session`, the connection's current one. A slow request on a
    /// connection must not make its keep-alive pings time out.
    pub fn quick_ping(&self, text: &str, session: Option<&str>) -> Option<String> {
        if !text.contains("ping") {
            return None;
        }
        let request = protocol::parse_request(text).ok()?;
        if request.method != "ping" {
            return None;
        }
        let named = match request.params.as_ref().map(|p| p.get("sessionId")) {
            None | Some(None) => None,
            Some(Some(Value::String(s))) => Some(s.as_str()),
            Some(Some(_)) => return None,
        };
        if named.is_some() && named != session {
            return None;
        }
        let result = with_session(json!({"value": "pong"}), named.or(session));
        Some(protocol::reply(&request.id?, &Ok(result)))
    }

    /// Counts a new connection from `address`, or refuses it over the per-address quota. The
    /// connection stays counted until the admission is dropped.
    pub fn admit(self: &Arc<Self>, address: std::net::IpAddr) -> Result<Admission> {
        let mut open = self.per_address.lock();
        let share = open.entry(address).or_insert_with(|| AddressShare {
            connections: 0,
            requests: Arc::new(tokio::sync::Semaphore::new(
                self.quotas.max_requests_in_flight_per_ip,
            )),
        });
        if share.connections >= self.quotas.max_connections_per_ip {
            return Err(self.refusals.refuse(Quota::ConnectionsPerIp, &self.quotas));
        }
        share.connections += 1;
        Ok(Admission {
            core: self.clone(),
            address,
            requests: share.requests.clone(),
        })
    }

    /// Makes sessions see and touch only their own objects (set once, at start-up).
    pub fn set_session_isolation(&self, on: bool) {
        self.isolation
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn session_isolation(&self) -> bool {
        self.isolation.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The quotas in force.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// Refuses a request that would bind this connection to one session more than its quota:
    /// a new session (`connect` without one, or an id the server does not know yet) or one
    /// bound elsewhere.
    fn check_session_quota(
        &self,
        conn: ConnId,
        method: &str,
        params: Option<&Map<String, Value>>,
    ) -> Result<()> {
        let named = params
            .and_then(|p| p.get("sessionId"))
            .and_then(Value::as_str);
        let st = self.state.lock();
        let already_bound = match named {
            Some(s) => st.sessions.get(s).is_some_and(|s| s.bound == Some(conn)),
            None => method != "connect",
        };
        if already_bound {
            return Ok(());
        }
        let bound = st
            .sessions
            .values()
            .filter(|s| s.bound == Some(conn))
            .count();
        if bound >= self.quotas.max_sessions_per_connection {
            return Err(self
                .refusals
                .refuse(Quota::SessionsPerConnection, &self.quotas));
        }
        Ok(())
    }

    /// The quota a new object would exceed, checked under the registry lock that inserts it.
    fn object_quota(&self, st: &State, obj: &MediaObject, session: &str) -> Option<Quota> {
        let is_pipeline = |o: &MediaObject| o.class.name == "MediaPipeline";
        match obj.pipeline.as_deref() {
            None if is_pipeline(obj) => {
                let total = st.objects.values().filter(|o| is_pipeline(o)).count();
                let mine = st.sessions.get(session).map_or(0, |s| {
                    s.refs
                        .iter()
                        .filter_map(|id| st.objects.get(id))
                        .filter(|o| is_pipeline(o))
                        .count()
                });
                if total >= self.quotas.max_pipelines {
                    Some(Quota::Pipelines)
                } else if mine >= self.quotas.max_pipelines_per_session {
                    Some(Quota::PipelinesPerSession)
                } else {
                    None
                }
            }
            None => None,
            Some(pipeline) => {
                let elements = st
                    .objects
                    .values()
                    .filter(|o| o.pipeline.as_deref() == Some(pipeline))
                    .count();
                (elements >= self.quotas.max_elements_per_pipeline)
                    .then_some(Quota::ElementsPerPipeline)
            }
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
                "connect" => self.connect(conn, p),
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

    fn connect(&self, conn: ConnId, p: Params<'_>) -> Result<Value> {
        let live = |c: ConnId| c != conn && self.connections.lock().contains_key(&c);
        let mut st = self.state.lock();
        let session = match p.opt_str("sessionId")? {
            Some(s) => {
                let sess = st
                    .sessions
                    .get_mut(s)
                    .ok_or_else(KurentoError::invalid_session)?;
                // Isolated, a session in use by another live connection cannot be taken over
                // (its events would follow the intruder).
                if self.session_isolation() && sess.bound.is_some_and(live) {
                    return Err(KurentoError::invalid_session());
                }
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
        self.capacity.check()?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let core = self.clone();
        let events = self.media_events.clone();
        let owner = session.clone();
        let obj = blocking(move || {
            let view = isolation::SessionView {
                core: &core,
                session: &owner,
            };
            objects::create(&view, class, Args::new(Some(&ctor)), &uuid, events)
        })
        .await?;
        let mut obj = obj;
        obj.owner = Some(session.clone());
        let obj = Arc::new(obj);
        let id = obj.id.clone();
        let refused = {
            let mut st = self.state.lock();
            // The pipeline may have been released while the element was being built.
            let parent_gone = obj
                .pipeline
                .as_ref()
                .is_some_and(|p| !st.objects.contains_key(p));
            let refused = if parent_gone {
                Some(KurentoError::object_not_found(obj_parent_or(&id)))
            } else {
                self.object_quota(&st, &obj, &session)
                    .map(|quota| self.refusals.refuse(quota, &self.quotas))
            };
            if refused.is_none() {
                st.objects.insert(id.clone(), obj.clone());
                st.reference(&session, &id);
            }
            refused
        };
        if let Some(refusal) = refused {
            blocking(move || {
                obj.release_media();
                Ok(())
            })
            .await?;
            return Err(refusal);
        }
        debug!(object = %id, %session, "created");
        self.raise_on_manager("ObjectCreated", "object", &id, Some(&session));
        Ok(json!({"value": id, "sessionId": session}))
    }

    async fn invoke(self: &Arc<Self>, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let obj = self.lookup_and_ref(&session, p.str("object")?)?;
        let operation = p.str("operation")?.to_owned();
        // What opens sockets or files: refused before GLib would run out of descriptors.
        if matches!(
            operation.as_str(),
            "processOffer"
                | "processAnswer"
                | "generateOffer"
                | "gatherCandidates"
                | "play"
                | "record"
        ) {
            self.capacity.check()?;
        }
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
        let caller = session.clone();
        let value = blocking(move || {
            let view = isolation::SessionView {
                core: &core,
                session: &caller,
            };
            objects::invoke(&view, &obj, &operation, Args::new(op_params.as_ref()))
        })
        .await?;
        let mut result = json!({"sessionId": session});
        if let Some(v) = value {
            result["value"] = v;
        }
        Ok(result)
    }

    async fn release(self: &Arc<Self>, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let id = p.str("object")?;
        let mine = {
            let mut st = self.state.lock();
            st.touch(&session);
            st.objects
                .get(id)
                .is_none_or(|o| isolation::visible_to(self.session_isolation(), o, &session))
        };
        // Idempotent: unknown or already released objects still succeed (KMS swallows it), and
        // so do, untouched, another session's under isolation.
        if mine {
            self.release_objects(id).await;
        }
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
        let ids: Vec<(String, Option<String>)> = removed
            .iter()
            .map(|o| (o.id.clone(), o.owner.clone()))
            .collect();
        let released = blocking(move || {
            root.release_media();
            Ok(())
        });
        if let Err(e) = released.await {
            warn!(object = id, error = %e, "release failed");
        }
        for (removed_id, owner) in ids {
            self.raise_on_manager("ObjectDestroyed", "objectId", &removed_id, owner.as_deref());
        }
    }

    /// Releases every pipeline (shutdown).
    pub async fn release_all(self: &Arc<Self>) {
        for id in self.pipelines() {
            self.release_objects(&id).await;
        }
    }

    /// Whether object `id` is still registered (not released).
    pub fn has_object(&self, id: &str) -> bool {
        self.state.lock().objects.contains_key(id)
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
            .filter(|o| o.parent() == Some(id))
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

    fn raise(&self, object: &MediaObject, event_type: &str, fields: Map<String, Value>) {
        self.deliver_event(object, event_type, fields, None);
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
