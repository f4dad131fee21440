//! WHIP (RFC 9725) and WHEP without an application server: `POST /whip/<stream>` publishes a
//! stream into a pipeline of its own (through the stream's configured filters, if any) and
//! `POST /whep/<stream>` watches it. Each session is a WebRtcEndpoint made through the control
//! plane ([`client::LocalClient`]), so quotas, limits and release are the protocol's own.
//! `transport::whip` speaks the HTTP side.

mod app;
pub mod client;
pub mod sdpfrag;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::{info, warn};

use client::{CallError, Event, LocalClient};

/// How long the server's ICE candidates may take to gather before the answer goes without the
/// rest.
pub(super) const GATHERING_LIMIT: Duration = Duration::from_secs(5);

/// Which side of a stream a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// WHIP: the one client sending the stream.
    Publisher,
    /// WHEP: one of its viewers.
    Viewer,
}

impl Role {
    pub fn path(self) -> &'static str {
        match self {
            Role::Publisher => "/whip/",
            Role::Viewer => "/whep/",
        }
    }
}

/// One stream's settings (`[whip_streams.<name>]` in the configuration file).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// A token of this stream's own, required (as `Authorization: Bearer`) to publish and to
    /// watch it, besides the server's `access_token`.
    pub token: Option<String>,
    /// Filters the published stream goes through before its viewers, in order.
    #[serde(default)]
    pub filters: Vec<FilterSettings>,
}

/// One filter of a stream: a Kurento class, its constructor parameters (the pipeline is added)
/// and operations to invoke on it once made.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FilterSettings {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub params: serde_json::Map<String, Value>,
    #[serde(default)]
    pub invoke: Vec<Invocation>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Invocation {
    pub operation: String,
    #[serde(default)]
    pub params: serde_json::Map<String, Value>,
}

/// The gateway's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WhipSettings {
    /// Whether any stream name may be published, or only the configured ones.
    pub open_streams: bool,
    pub streams: HashMap<String, StreamSettings>,
    /// A session whose client has not connected by then is ended.
    pub connect_timeout: Duration,
    /// A connected session whose client is gone this long (no media in from a publisher, ICE
    /// disconnected for a viewer) is ended.
    pub idle_timeout: Duration,
    /// Sessions one client address may hold at once (publishers and viewers).
    pub max_sessions_per_ip: usize,
}

impl Default for WhipSettings {
    fn default() -> Self {
        WhipSettings {
            open_streams: true,
            streams: HashMap::new(),
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(15),
            max_sessions_per_ip: 200,
        }
    }
}

/// Why a request was refused: the HTTP status and a short text.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }

    /// A control-plane error as HTTP: bad SDP is the client's fault, a limit is 503.
    fn from_call(what: &str, e: CallError) -> Refusal {
        Refusal::new(status_of(e.code), format!("{what}: {}", e.message))
    }
}

/// The HTTP status of a Kurento error code.
fn status_of(code: i64) -> u16 {
    match code {
        40001 | 40107 | 40201..=40299 | 40400..=40499 => 400,
        40009 => 503,
        _ => 500,
    }
}

/// A control-plane error met directly (an application endpoint's negotiation).
fn refusal_of(what: &str, e: crate::protocol::KurentoError) -> Refusal {
    Refusal::new(status_of(e.code), format!("{what}: {}", e.message))
}

/// A PATCH's checks: the ETag (`*` for an ICE restart), the body, and no ICE restart.
fn check_trickle(
    etag: &str,
    ufrag: Option<&str>,
    if_match: Option<&str>,
    body: &str,
) -> Result<sdpfrag::Fragment, Refusal> {
    if let Some(tag) = if_match {
        if tag != "*" && tag.trim_matches('"') != etag.trim_matches('"') {
            return Err(Refusal::new(412, "the session's ETag does not match"));
        }
    }
    let fragment = sdpfrag::parse(body)
        .ok_or_else(|| Refusal::new(400, "the body is not a trickle-ice-sdpfrag"))?;
    if fragment.ufrag.is_some() && fragment.ufrag.as_deref() != ufrag {
        return Err(Refusal::new(
            422,
            "ICE restarts are not supported: start a new session",
        ));
    }
    Ok(fragment)
}

/// A session made by a POST.
#[derive(Debug, Clone)]
pub struct Created {
    pub resource: String,
    pub answer: String,
    pub etag: String,
}

struct Stream {
    pipeline: String,
    /// The element the stream's media leaves from: the publisher's endpoint or its last filter.
    tail: String,
}

struct Session {
    /// Its client address's share, given back when the session is dropped.
    _slot: IpSlot,
    role: Role,
    stream: String,
    endpoint: String,
    etag: String,
    /// The client's ICE username fragment: a PATCH with another one is an ICE restart.
    ufrag: Option<String>,
}

/// The WHIP and WHEP sessions of the server.
pub struct Gateway {
    client: LocalClient,
    settings: WhipSettings,
    state: Mutex<State>,
    /// Client sessions of applications' WhipEndpoints and WhepEndpoints, by token.
    app: Mutex<HashMap<String, app::AppSession>>,
    /// Sessions held by each client address.
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// Offers refused by `max_sessions_per_ip`.
    refused_per_ip: AtomicU64,
}

/// One session's share of its client address's `max_sessions_per_ip`.
pub(crate) struct IpSlot {
    ip: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[derive(Default)]
struct State {
    streams: HashMap<String, Stream>,
    /// Stream names being published right now (the POST still answering).
    starting: std::collections::HashSet<String>,
    sessions: HashMap<String, Session>,
}

impl Gateway {
    pub async fn start(
        core: Arc<crate::control::Core>,
        settings: WhipSettings,
    ) -> Result<Arc<Gateway>, String> {
        let client = LocalClient::open(core)
            .await
            .map_err(|e| format!("WHIP gateway: {e}"))?;
        Ok(Arc::new(Gateway {
            client,
            settings,
            state: Mutex::default(),
            app: Mutex::default(),
            per_ip: Arc::default(),
            refused_per_ip: AtomicU64::new(0),
        }))
    }

    /// A slot of `ip`'s `max_sessions_per_ip`, or 429 when it has them all.
    fn take_slot(&self, ip: IpAddr) -> Result<IpSlot, Refusal> {
        let mut counts = self.per_ip.lock();
        let n = counts.entry(ip).or_default();
        if *n >= self.settings.max_sessions_per_ip {
            if *n == 0 {
                counts.remove(&ip);
            }
            self.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::new(
                429,
                "too many WHIP/WHEP sessions from this address (whip_max_sessions_per_ip)",
            ));
        }
        *n += 1;
        Ok(IpSlot {
            ip,
            counts: self.per_ip.clone(),
        })
    }

    /// The per-address limit and the offers it refused.
    pub fn per_ip_limit(&self) -> (usize, u64) {
        (
            self.settings.max_sessions_per_ip,
            self.refused_per_ip.load(Ordering::Relaxed),
        )
    }

    /// A stream name: letters, digits, `-`, `_` and `.`, 1 to 64 of them, not starting with `.`.
    pub fn valid_name(name: &str) -> bool {
        (1..=64).contains(&name.len())
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    }

    /// The stream's own token, if it has one; `Err` when the stream may not be used at all.
    pub fn stream_token(&self, name: &str) -> Result<Option<&str>, Refusal> {
        if !Self::valid_name(name) {
            return Err(Refusal::new(404, format!("no stream named {name:?}")));
        }
        match self.settings.streams.get(name) {
            Some(s) => Ok(s.token.as_deref()),
            None if self.settings.open_streams => Ok(None),
            None => Err(Refusal::new(
                404,
                format!("no stream named {name:?} is configured"),
            )),
        }
    }

    /// WHIP: publishes `name` with `offer` from `client`.
    pub async fn publish(
        self: &Arc<Self>,
        client: IpAddr,
        name: &str,
        offer: &str,
    ) -> Result<Created, Refusal> {
        let slot = self.take_slot(client)?;
        {
            let mut st = self.state.lock();
            if st.streams.contains_key(name) || !st.starting.insert(name.to_owned()) {
                return Err(Refusal::new(
                    409,
                    format!("stream {name:?} is already being published"),
                ));
            }
        }
        let made = self.make_stream(name).await;
        let (pipeline, publisher, tail) = match made {
            Ok(made) => made,
            Err(e) => {
                self.state.lock().starting.remove(name);
                return Err(e);
            }
        };
        let answered = self.answer(&publisher, offer).await;
        self.state.lock().starting.remove(name);
        match answered {
            Ok((created, events)) => {
                let mut st = self.state.lock();
                st.streams
                    .insert(name.to_owned(), Stream { pipeline, tail });
                st.sessions.insert(
                    created.resource.clone(),
                    Session {
                        _slot: slot,
                        role: Role::Publisher,
                        stream: name.to_owned(),
                        endpoint: publisher,
                        etag: created.etag.clone(),
                        ufrag: sdpfrag::ufrag_of(offer),
                    },
                );
                drop(st);
                info!(stream = name, resource = %created.resource, "WHIP: publishing");
                self.watch_liveness(created.resource.clone(), Role::Publisher, events);
                Ok(created)
            }
            Err(e) => {
                let _ = self.client.release(&pipeline).await;
                Err(e)
            }
        }
    }

    /// WHEP: a viewer of `name` with `offer` from `client`.
    pub async fn view(
        self: &Arc<Self>,
        client: IpAddr,
        name: &str,
        offer: &str,
    ) -> Result<Created, Refusal> {
        let slot = self.take_slot(client)?;
        let (pipeline, tail) = {
            let st = self.state.lock();
            let stream = st.streams.get(name).ok_or_else(|| {
                Refusal::new(404, format!("stream {name:?} is not being published"))
            })?;
            (stream.pipeline.clone(), stream.tail.clone())
        };
        let endpoint = self
            .client
            .create("WebRtcEndpoint", json!({"mediaPipeline": pipeline}))
            .await
            .map_err(|e| Refusal::from_call("cannot make the viewer's endpoint", e))?;
        let connected = self
            .client
            .invoke(&tail, "connect", json!({"sink": endpoint}))
            .await;
        let answered = match connected {
            Ok(_) => self.answer(&endpoint, offer).await,
            Err(e) => Err(Refusal::from_call("cannot connect the viewer", e)),
        };
        let (created, events) = match answered {
            Ok(answered) => answered,
            Err(e) => {
                let _ = self.client.release(&endpoint).await;
                return Err(e);
            }
        };
        {
            let mut st = self.state.lock();
            if !st.streams.contains_key(name) {
                // The stream ended meanwhile, and its pipeline with the endpoint.
                return Err(Refusal::new(404, format!("stream {name:?} ended")));
            }
            st.sessions.insert(
                created.resource.clone(),
                Session {
                    _slot: slot,
                    role: Role::Viewer,
                    stream: name.to_owned(),
                    endpoint,
                    etag: created.etag.clone(),
                    ufrag: sdpfrag::ufrag_of(offer),
                },
            );
        }
        info!(stream = name, resource = %created.resource, "WHEP: a viewer joined");
        self.watch_liveness(created.resource.clone(), Role::Viewer, events);
        Ok(created)
    }

    /// PATCH: trickled candidates for a session. `if_match` is the request's `If-Match`.
    pub async fn trickle(
        &self,
        role: Role,
        name: &str,
        resource: &str,
        if_match: Option<&str>,
        body: &str,
    ) -> Result<(), Refusal> {
        let (endpoint, etag, ufrag) = self.session(role, name, resource)?;
        let fragment = check_trickle(&etag, ufrag.as_deref(), if_match, body)?;
        for c in fragment.candidates {
            let candidate = json!({
                "__module__": "kurento", "__type__": "IceCandidate",
                "candidate": c.candidate,
                "sdpMid": c.mid.unwrap_or_else(|| c.mline_index.to_string()),
                "sdpMLineIndex": c.mline_index,
            });
            self.client
                .invoke(
                    &endpoint,
                    "addIceCandidate",
                    json!({"candidate": candidate}),
                )
                .await
                .map_err(|e| Refusal::from_call("bad candidate", e))?;
        }
        Ok(())
    }

    /// DELETE: ends a session (a publisher's ends its stream and its viewers).
    pub async fn end(&self, role: Role, name: &str, resource: &str) -> Result<(), Refusal> {
        self.session(role, name, resource)?;
        self.end_session(resource, "the client ended it").await;
        Ok(())
    }

    /// Streams being published, and sessions (publishers and viewers).
    pub fn counts(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.streams.len(), st.sessions.len())
    }

    fn session(
        &self,
        role: Role,
        name: &str,
        resource: &str,
    ) -> Result<(String, String, Option<String>), Refusal> {
        let st = self.state.lock();
        match st.sessions.get(resource) {
            Some(s) if s.role == role && s.stream == name => {
                Ok((s.endpoint.clone(), s.etag.clone(), s.ufrag.clone()))
            }
            _ => Err(Refusal::new(404, "no such session")),
        }
    }

    /// A new pipeline with the publisher's endpoint and the stream's filters after it.
    async fn make_stream(&self, name: &str) -> Result<(String, String, String), Refusal> {
        let pipeline = self
            .client
            .create("MediaPipeline", json!({}))
            .await
            .map_err(|e| Refusal::from_call("cannot make the stream's pipeline", e))?;
        match self.make_chain(name, &pipeline).await {
            Ok((publisher, tail)) => Ok((pipeline, publisher, tail)),
            Err(e) => {
                let _ = self.client.release(&pipeline).await;
                Err(e)
            }
        }
    }

    async fn make_chain(&self, name: &str, pipeline: &str) -> Result<(String, String), Refusal> {
        let publisher = self
            .client
            .create("WebRtcEndpoint", json!({"mediaPipeline": pipeline}))
            .await
            .map_err(|e| Refusal::from_call("cannot make the publisher's endpoint", e))?;
        let filters = self
            .settings
            .streams
            .get(name)
            .map(|s| s.filters.clone())
            .unwrap_or_default();
        let mut tail = publisher.clone();
        for filter in filters {
            let mut params = filter.params.clone();
            params.insert("mediaPipeline".into(), Value::from(pipeline));
            let what = format!("stream {name:?}: filter {}", filter.kind);
            let made = self
                .client
                .create(&filter.kind, Value::Object(params))
                .await
                .map_err(|e| Refusal::from_call(&what, e))?;
            for call in &filter.invoke {
                self.client
                    .invoke(&made, &call.operation, Value::Object(call.params.clone()))
                    .await
                    .map_err(|e| Refusal::from_call(&what, e))?;
            }
            self.client
                .invoke(&tail, "connect", json!({"sink": made}))
                .await
                .map_err(|e| Refusal::from_call(&what, e))?;
            tail = made;
        }
        Ok((publisher, tail))
    }

    /// Negotiates `endpoint` with the client's `offer`; the answer carries every candidate
    /// gathered within [`GATHERING_LIMIT`].
    async fn answer(
        &self,
        endpoint: &str,
        offer: &str,
    ) -> Result<(Created, mpsc::UnboundedReceiver<Event>), Refusal> {
        let mut events = self
            .client
            .listen(
                endpoint,
                &[
                    "IceCandidateFound",
                    "IceGatheringDone",
                    "ConnectionStateChanged",
                    "MediaFlowInStateChanged",
                ],
            )
            .await
            .map_err(|e| Refusal::from_call("cannot follow the endpoint", e))?;
        let answer = self
            .client
            .invoke(endpoint, "processOffer", json!({"offer": offer}))
            .await
            .map_err(|e| Refusal::from_call("bad offer", e))?;
        let answer = answer.as_str().unwrap_or_default().to_owned();
        self.client
            .invoke(endpoint, "gatherCandidates", json!({}))
            .await
            .map_err(|e| Refusal::from_call("cannot gather candidates", e))?;
        let mut candidates = Vec::new();
        let deadline = tokio::time::Instant::now() + GATHERING_LIMIT;
        let mut later = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(e)) if e.kind == "IceCandidateFound" => {
                    let c = &e.data["candidate"];
                    if let Some(text) = c["candidate"].as_str() {
                        let index = c["sdpMLineIndex"].as_u64().unwrap_or(0) as u32;
                        candidates.push((text.to_owned(), index));
                    }
                }
                Ok(Some(e)) if e.kind == "IceGatheringDone" => break,
                Ok(Some(e)) => later.push(e),
                Ok(None) => return Err(Refusal::new(500, "the endpoint went away")),
                Err(_) => {
                    warn!(
                        endpoint,
                        "ICE gathering unfinished; answering with what it found"
                    );
                    break;
                }
            }
        }
        // Events that came during gathering go back in front for the liveness watch.
        let (tx, rx) = mpsc::unbounded_channel();
        for e in later {
            let _ = tx.send(e);
        }
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if tx.send(e).is_err() {
                    break;
                }
            }
        });
        let resource = uuid::Uuid::new_v4().simple().to_string();
        Ok((
            Created {
                answer: sdpfrag::with_candidates(&answer, &candidates),
                etag: format!("\"{}\"", &uuid::Uuid::new_v4().simple().to_string()[..16]),
                resource,
            },
            rx,
        ))
    }

    /// Ends the session when its client does not connect in time or goes away.
    fn watch_liveness(
        self: &Arc<Self>,
        resource: String,
        role: Role,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        let gateway = Arc::downgrade(self);
        let (connect_timeout, idle_timeout) =
            (self.settings.connect_timeout, self.settings.idle_timeout);
        tokio::spawn(async move {
            // Whether the client ever connected, is connected now, and each kind of media it
            // sends is flowing.
            let (mut ever_connected, mut connected) = (false, false);
            let mut flowing: HashMap<String, bool> = HashMap::new();
            let reason = loop {
                let media_stopped = !flowing.is_empty() && flowing.values().all(|f| !f);
                let alive = connected && !(role == Role::Publisher && media_stopped);
                let limit = match (ever_connected, alive) {
                    (false, _) => connect_timeout,
                    (true, true) => Duration::MAX,
                    (true, false) => idle_timeout,
                };
                let event = match tokio::time::timeout(limit, events.recv()).await {
                    Ok(Some(e)) => e,
                    // The endpoint is gone: the session was ended.
                    Ok(None) => return,
                    Err(_) if !ever_connected => break "its client did not connect in time",
                    Err(_) => break "its client went away",
                };
                tracing::debug!(%resource, kind = %event.kind, data = %event.data, "WHIP session event");
                match event.kind.as_str() {
                    "ConnectionStateChanged" => {
                        connected = event.data["newState"] == "CONNECTED";
                        ever_connected |= connected;
                    }
                    "MediaFlowInStateChanged" => {
                        let kind = event.data["mediaType"].as_str().unwrap_or("").to_owned();
                        flowing.insert(kind, event.data["state"] == "FLOWING");
                    }
                    _ => {}
                }
            };
            if let Some(gateway) = gateway.upgrade() {
                gateway.end_session(&resource, reason).await;
            }
        });
    }

    async fn end_session(&self, resource: &str, reason: &str) {
        let (release, ended) = {
            let mut st = self.state.lock();
            let Some(session) = st.sessions.remove(resource) else {
                return;
            };
            match session.role {
                Role::Viewer => (
                    session.endpoint.clone(),
                    vec![(resource.to_owned(), session)],
                ),
                Role::Publisher => {
                    let stream = st.streams.remove(&session.stream);
                    let viewers: Vec<String> = st
                        .sessions
                        .iter()
                        .filter(|(_, s)| s.stream == session.stream)
                        .map(|(id, _)| id.clone())
                        .collect();
                    let mut ended: Vec<(String, Session)> = viewers
                        .into_iter()
                        .filter_map(|id| st.sessions.remove(&id).map(|s| (id, s)))
                        .collect();
                    let pipeline = stream.map(|s| s.pipeline).unwrap_or_default();
                    ended.push((resource.to_owned(), session));
                    (pipeline, ended)
                }
            }
        };
        for (id, session) in &ended {
            self.client.forget(&session.endpoint);
            info!(stream = %session.stream, resource = %id, reason, "WHIP/WHEP session ended");
        }
        if let Err(e) = self.client.release(&release).await {
            warn!(object = %release, error = %e, "WHIP: release failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_plain() {
        assert!(Gateway::valid_name("cam-1.main_2"));
        assert!(!Gateway::valid_name(""));
        assert!(!Gateway::valid_name(".hidden"));
        assert!(!Gateway::valid_name("a/b"));
        assert!(!Gateway::valid_name(&"x".repeat(65)));
    }

    #[test]
    fn control_plane_errors_become_http_statuses() {
        let e = |code| CallError {
            code,
            message: "m".into(),
        };
        assert_eq!(Refusal::from_call("x", e(40201)).status, 400);
        assert_eq!(Refusal::from_call("x", e(40009)).status, 503);
        assert_eq!(Refusal::from_call("x", e(40003)).status, 500);
    }
}
