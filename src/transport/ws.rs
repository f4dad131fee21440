//! The `/kurento` WebSocket: text JSON-RPC frames, executed in arrival order per connection;
//! and the `/demo-signaling` relay's, handed to `signaling`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info, info_span, Instrument};

use super::lanes::{self, Lane};
use super::{Head, Site};
use crate::control::{Admission, Connection, Core, Outbox};

/// Why the server closed a client's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    MessageTooBig,
    UnreadMessages,
    ReadDeadline,
}

impl CloseReason {
    pub const ALL: [CloseReason; 3] = [
        CloseReason::MessageTooBig,
        CloseReason::UnreadMessages,
        CloseReason::ReadDeadline,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::MessageTooBig => "message_too_big",
            CloseReason::UnreadMessages => "unread_messages",
            CloseReason::ReadDeadline => "read_deadline",
        }
    }
}

/// Connections the server closed, by reason (for `/metrics`).
#[derive(Default)]
pub struct ServerCloses([std::sync::atomic::AtomicU64; 3]);

impl ServerCloses {
    pub fn count(&self, reason: CloseReason) -> u64 {
        self.0[reason as usize].load(std::sync::atomic::Ordering::Relaxed)
    }

    fn add(&self, reason: CloseReason) {
        self.0[reason as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Sizes one `/kurento` connection may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest message (and frame) a client may send.
    pub max_message_bytes: usize,
    /// Replies and events queued for a client that does not read them, before it is cut off.
    pub max_queued_bytes: usize,
    /// How long a client may send nothing complete (pongs count; it is pinged meanwhile).
    pub read_deadline: Duration,
}

pub(super) async fn serve<S>(
    mut stream: S,
    peer: SocketAddr,
    head: &Head,
    core: Arc<Core>,
    site: &Site,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(key) = head.header("sec-websocket-key") else {
        // 500, as KMS (WebSocket++) answers: its Docker health check treats that as alive.
        return super::http::respond(
            &mut stream,
            500,
            "text/plain",
            b"missing Sec-WebSocket-Key\n",
            true,
        )
        .await;
    };
    if !site.origin_admitted(head, peer) {
        return super::http::respond(
            &mut stream,
            403,
            "text/plain",
            b"origin not allowed (setting allowed_origins)\n",
            true,
        )
        .await;
    }
    // No subprotocol is selected: Kurento clients send none.
    let accept = derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await?;
    let limits = site.ws_limits;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes));
    let mut socket = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;

    // KMS accepts `/kurento` with any query string and closes anything else with 1002. The
    // refusals are close frames with a reason, which clients can show; an HTTP error status
    // would reach them only as a failed handshake.
    let route = head.route();
    let route = route.strip_prefix('/').unwrap_or(route);
    let signaling = (route == "demo-signaling")
        .then_some(site.signaling.as_ref())
        .flatten();
    let refusal = if route != "kurento" && signaling.is_none() {
        Some((CloseCode::Protocol, "Invalid path"))
    } else {
        match &site.access_token {
            Some(token) if !head.carries_token(token) => {
                info!(%peer, "WebSocket refused: access token missing or invalid");
                Some((CloseCode::Policy, "Invalid access token"))
            }
            _ => None,
        }
    };
    let admission = match refusal {
        Some(_) => None,
        None => match core.admit(peer.ip()) {
            Ok(admission) => Some(admission),
            Err(e) => {
                info!(%peer, "WebSocket refused: {}", e.message);
                let frame = CloseFrame {
                    code: CloseCode::Policy,
                    reason: "Too many connections from this address".into(),
                };
                let _ = socket.send(Message::Close(Some(frame))).await;
                return Ok(());
            }
        },
    };
    let (Some(admission), None) = (admission, refusal) else {
        let (code, reason) = refusal.unwrap_or((CloseCode::Policy, "Refused"));
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
        return Ok(());
    };
    if let Some(relay) = signaling {
        super::signaling::run(socket, peer, relay, shutdown).await;
        return Ok(());
    }
    run(
        socket,
        peer,
        core,
        admission,
        limits,
        &site.server_closes,
        shutdown,
    )
    .await;
    Ok(())
}

/// A silent client is pinged a few times within the read deadline: a client stuck in the
/// middle of a frame cannot answer, so its connection ends instead of holding its buffer.
const PINGS_PER_DEADLINE: u32 = 3;

/// How long the requests a client sent before the server closed it are read and dropped.
const CLOSE_DRAIN: Duration = Duration::from_secs(2);

/// Requests read ahead of the one running; beyond that the socket is not read (backpressure).
const REQUEST_QUEUE: usize = 64;

async fn run<S>(
    socket: WebSocketStream<S>,
    peer: SocketAddr,
    core: Arc<Core>,
    admission: Admission,
    limits: WsLimits,
    closes: &ServerCloses,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = socket.split();
    // Replies and events share one outbox, so they leave in the order they were produced.
    let (outbox, mut outgoing) = Outbox::new(limits.max_queued_bytes);
    let overflow = outgoing.overflow_signal();
    // Pings and the close frame, written beside the outbox.
    let (control_tx, mut control_rx) = mpsc::unbounded_channel::<Message>();
    let conn = core.open_connection(outbox.clone());
    let conn_id = conn.id;
    let span = info_span!("ws", conn = conn.id, %peer);
    let writer = tokio::spawn(
        async move {
            loop {
                tokio::select! {
                    // Pings and the close frame first: a close must not lose to the end of
                    // the outbox.
                    biased;
                    control = control_rx.recv() => match control {
                        Some(close @ Message::Close(_)) => {
                            let _ = sink.send(close).await;
                            break;
                        }
                        Some(other) => {
                            if sink.send(other).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    text = outgoing.recv() => match text {
                        Some(text) => {
                            if sink.send(Message::text(text)).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                }
            }
            let _ = sink.close().await;
        }
        .instrument(span.clone()),
    );
    // Requests about one pipeline run in arrival order (clients pipeline them and rely on it);
    // those about different pipelines run side by side (see `lanes`).
    let (request_tx, mut request_rx) = mpsc::channel::<String>(REQUEST_QUEUE);
    let current_session = Arc::new(parking_lot::Mutex::new(None::<String>));
    let worker = {
        let (core, outbox, current_session) =
            (core.clone(), outbox.clone(), current_session.clone());
        let admission = Arc::new(admission);
        let mut conn = conn;
        let request_span = span.clone();
        tokio::spawn(
            async move {
                // One permit per request running; a request that runs alone takes them all.
                let running = Arc::new(Semaphore::new(REQUEST_QUEUE));
                let all = REQUEST_QUEUE as u32;
                // Per pipeline: whether its latest request has finished.
                let mut last_of: HashMap<String, watch::Receiver<bool>> = HashMap::new();
                while let Some(text) = request_rx.recv().await {
                    let lane = lanes::lane_of(&text, conn.session.as_deref());
                    if lane == Lane::Barrier {
                        let alone = running.clone().acquire_many_owned(all).await;
                        let slot = admission.request_slot().await;
                        let reply = core.handle_text(&mut conn, &text).await;
                        current_session.lock().clone_from(&conn.session);
                        drop((slot, alone));
                        if let Some(reply) = reply {
                            if !outbox.send(reply) {
                                break;
                            }
                        }
                        continue;
                    }
                    let Ok(permit) = running.clone().acquire_owned().await else {
                        break;
                    };
                    let order = match lane {
                        Lane::Pipeline(key) => {
                            let (done, finished) = watch::channel(false);
                            if last_of.len() > REQUEST_QUEUE {
                                last_of.retain(|_, finished| !*finished.borrow());
                            }
                            Some((last_of.insert(key, finished), done))
                        }
                        _ => None,
                    };
                    // Lane requests neither bind nor switch the session: a copy will do.
                    let mut conn = Connection {
                        id: conn.id,
                        session: conn.session.clone(),
                    };
                    let (core, outbox, admission) =
                        (core.clone(), outbox.clone(), admission.clone());
                    tokio::spawn(
                        async move {
                            let done = match order {
                                Some((previous, done)) => {
                                    if let Some(mut previous) = previous {
                                        // Err: the previous request's task is gone; go on.
                                        let _ = previous.wait_for(|finished| *finished).await;
                                    }
                                    Some(done)
                                }
                                None => None,
                            };
                            let slot = admission.request_slot().await;
                            let reply = core.handle_text(&mut conn, &text).await;
                            drop(slot);
                            if let Some(reply) = reply {
                                outbox.send(reply);
                            }
                            if let Some(done) = done {
                                let _ = done.send(true);
                            }
                            drop(permit);
                        }
                        .instrument(request_span.clone()),
                    );
                }
                // The requests still running finish (their objects are registered or released
                // consistently) before the connection is closed.
                let _ = running.acquire_many(all).await;
                conn
            }
            .instrument(span.clone()),
        )
    };
    let mut closed_by_server = false;
    let mut close = |why: Option<CloseReason>, code: CloseCode, reason: &'static str| {
        if let Some(why) = why {
            closed_by_server = true;
            closes.add(why);
        }
        let _ = control_tx.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })));
    };
    let unread = "Outgoing messages not read";
    let ping_every = limits.read_deadline / PINGS_PER_DEADLINE;
    async {
        debug!("connected");
        let mut last_heard = Instant::now();
        let mut next_ping = last_heard + ping_every;
        loop {
            let msg = tokio::select! {
                msg = source.next() => msg,
                _ = tokio::time::sleep_until(next_ping) => {
                    if last_heard.elapsed() >= limits.read_deadline {
                        info!("closing: nothing complete received for {:?}", limits.read_deadline);
                        close(Some(CloseReason::ReadDeadline), CloseCode::Policy, "Read deadline exceeded");
                        break;
                    }
                    let _ = control_tx.send(Message::Ping(Vec::new().into()));
                    next_ping = Instant::now() + ping_every;
                    continue;
                }
                _ = overflow.overflowed() => {
                    info!(limit = limits.max_queued_bytes, "closing: the client does not read its messages");
                    close(Some(CloseReason::UnreadMessages), CloseCode::Policy, unread);
                    break;
                }
                Ok(_) = shutdown.wait_for(|stop| *stop) => {
                    close(None, CloseCode::Away, "Server shutting down");
                    break;
                }
            };
            last_heard = Instant::now();
            next_ping = last_heard + ping_every;
            let text = match msg {
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                Some(Err(WsError::Capacity(e))) => {
                    info!("closing: {e}");
                    close(Some(CloseReason::MessageTooBig), CloseCode::Size, "Message too big");
                    break;
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            };
            let session = current_session.lock().clone();
            if let Some(pong) = core.quick_ping(&text, session.as_deref()) {
                if !outbox.send(pong) {
                    break;
                }
                continue;
            }
            if request_tx.send(text).await.is_err() {
                // The worker stops when the outbox overflows.
                if overflow.is_set() {
                    info!(limit = limits.max_queued_bytes, "closing: the client does not read its messages");
                    close(Some(CloseReason::UnreadMessages), CloseCode::Policy, unread);
                }
                break;
            }
        }
        debug!("disconnected");
    }
    .instrument(span)
    .await;
    drop(request_tx);
    // The request running finishes (its objects are registered or released consistently).
    let conn = worker.await.ok();
    core.close_connection(conn_id);
    drop(conn);
    drop(outbox);
    drop(control_tx);
    // A client that never reads would hold the writer forever.
    let mut writer = writer;
    if tokio::time::timeout(limits.read_deadline, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    } else if closed_by_server {
        // Requests the client sent before our close would make the kernel reset the
        // connection and discard the close frame: read them, briefly, until the client's close.
        let drain = async { while let Some(Ok(_)) = source.next().await {} };
        let _ = tokio::time::timeout(CLOSE_DRAIN, drain).await;
    }
}
