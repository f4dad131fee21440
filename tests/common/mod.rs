//! A Kurento JSON-RPC test client over a real WebSocket, and an in-process Rheo on port 0.
#![allow(dead_code)]

pub mod process;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rheo_media::test_peer::TestPeer;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TIMEOUT: Duration = Duration::from_secs(20);
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(20);

/// `GET path` over `stream` (HTTP/1.1, `Connection: close`); returns (status, body).
pub async fn get_over<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .expect("reply within the timeout")
        .unwrap();
    parse_response(&raw)
}

/// The status and body of a raw HTTP/1.1 response (status 0 when there is none).
pub fn parse_response(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The port of the first `m=video` line of a session description.
pub fn video_port(sdp: &str) -> Option<u16> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=video ")?.split(' ').next()?.parse().ok())
}

pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    get_over(stream, &addr.to_string(), path).await
}

/// Polls `f` every 50 ms until it holds or `timeout` passes; whether it held.
pub async fn wait_until_async(timeout: Duration, f: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Starts Rheo in-process on 127.0.0.1 with a random port.
pub async fn start_server(extra: &[&str]) -> (SocketAddr, Arc<rheo::control::Core>) {
    rheo_media::init().expect("GStreamer initialises");
    let mut args = vec![
        "rheo",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--network-interfaces",
        "lo",
    ];
    args.extend_from_slice(extra);
    let config = rheo::config::Config::load_from(args).expect("valid test configuration");
    rheo::spawn_server(&config).await.expect("server starts")
}

/// A server, a connected client, a MediaPipeline and a WebRtcEndpoint in it: `(client,
/// pipeline id, endpoint id)`.
pub async fn endpoint_session(extra: &[&str]) -> (Client, String, String) {
    let (addr, _) = start_server(extra).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({ "mediaPipeline": p }))
        .await;
    (c, p, w)
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    pub session: Option<String>,
    events: VecDeque<Value>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Self::connect_path(addr, "/kurento").await
    }

    /// A client whose connection comes from `source` (any 127.x.y.z address on loopback), so
    /// that the server sees another client address.
    pub async fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let url = format!("ws://{addr}/kurento");
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .expect("websocket connects");
        Self::over(ws)
    }

    pub async fn connect_path(addr: SocketAddr, path: &str) -> Client {
        let url = format!("ws://{addr}{path}");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Self::over(ws)
    }

    fn over(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            next_id: 0,
            session: None,
            events: VecDeque::new(),
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    /// Next frame of any kind, parsed.
    pub async fn next_frame(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .expect("a frame within the timeout")?;
            match msg {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(&t).expect("server sends JSON"))
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(Message::Binary(_)) => panic!("server sent a binary frame"),
                Ok(_) => continue,
            }
        }
    }

    /// The response to the request with `id`, queueing events that arrive first.
    pub async fn response(&mut self, id: &Value) -> Value {
        loop {
            let frame = self.next_frame().await.expect("connection open");
            if frame.get("method").and_then(Value::as_str) == Some("onEvent") {
                self.events.push_back(frame);
            } else if frame.get("id") == Some(id) {
                return frame;
            } else {
                panic!("unexpected frame {frame}");
            }
        }
    }

    /// Sends a request as kurento-client does (sessionId stamped from the last result).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut params = params;
        if let (Some(s), Some(p)) = (&self.session, params.as_object_mut()) {
            p.entry("sessionId").or_insert(json!(s));
        }
        let msg = if params.is_null() {
            json!({"jsonrpc": "2.0", "method": method, "id": id})
        } else {
            json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id})
        };
        self.send_raw(&msg.to_string()).await;
        let resp = self.response(&json!(id)).await;
        assert_eq!(resp["jsonrpc"], "2.0");
        if let Some(s) = resp.pointer("/result/sessionId").and_then(Value::as_str) {
            self.session = Some(s.to_owned());
        }
        resp
    }

    /// A request that must succeed; returns `result`.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let resp = self.request(method, params.clone()).await;
        assert!(
            resp.get("error").is_none(),
            "{method} {params} failed: {resp}"
        );
        resp["result"].clone()
    }

    /// A request that must fail; returns `error`.
    pub async fn err(&mut self, method: &str, params: Value) -> Value {
        let resp = self.request(method, params.clone()).await;
        assert!(
            resp.get("result").is_none(),
            "{method} {params} should fail: {resp}"
        );
        resp["error"].clone()
    }

    pub async fn create(&mut self, type_name: &str, ctor: Value) -> String {
        let params = if ctor.is_null() {
            json!({"type": type_name, "properties": {}})
        } else {
            json!({"type": type_name, "constructorParams": ctor, "properties": {}})
        };
        self.ok("create", params).await["value"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    pub async fn invoke(&mut self, object: &str, operation: &str, params: Value) -> Value {
        let mut p = json!({"object": object, "operation": operation});
        if !params.is_null() {
            p["operationParams"] = params;
        }
        self.ok("invoke", p).await
    }

    pub async fn invoke_err(&mut self, object: &str, operation: &str, params: Value) -> Value {
        let mut p = json!({"object": object, "operation": operation});
        if !params.is_null() {
            p["operationParams"] = params;
        }
        self.err("invoke", p).await
    }

    pub async fn subscribe(&mut self, object: &str, event: &str) -> String {
        self.ok("subscribe", json!({"object": object, "type": event}))
            .await["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The next event matching `pred` (events queued earlier first).
    pub async fn event(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(pos) = self.events.iter().position(|e| pred(&e["params"]["value"])) {
            return self.events.remove(pos).unwrap()["params"]["value"].clone();
        }
        loop {
            let frame = self.next_frame().await.expect("connection open");
            let value = frame["params"]["value"].clone();
            if frame["method"] == "onEvent" && pred(&value) {
                return value;
            }
            if frame["method"] == "onEvent" {
                self.events.push_back(frame);
            } else {
                panic!("unexpected frame while waiting for an event: {frame}");
            }
        }
    }

    /// Events received so far (without waiting).
    pub fn queued_events(&self) -> Vec<Value> {
        self.events
            .iter()
            .map(|f| f["params"]["value"].clone())
            .collect()
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

impl Client {
    /// Removes and returns the queued events matching `pred`.
    pub fn take_events(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let (hit, keep): (Vec<_>, Vec<_>) = self
            .events
            .drain(..)
            .partition(|f| pred(&f["params"]["value"]));
        self.events = keep.into();
        hit.into_iter()
            .map(|f| f["params"]["value"].clone())
            .collect()
    }

    /// Waits up to `window` for one incoming frame and queues it if it is an event.
    pub async fn wait_any_frame(&mut self, window: Duration) {
        if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(window, self.ws.next()).await {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["method"], "onEvent", "unexpected frame {v}");
            self.events.push_back(v);
        }
    }
    /// Runs offer/answer and trickle ICE between `peer` and the endpoint `w` until `done` (a
    /// blocking wait on the peer) returns. Returns the time from sending processOffer to `done`.
    pub async fn negotiate_with_peer(
        &mut self,
        w: &str,
        peer: &Arc<TestPeer>,
        done: impl FnOnce(&TestPeer) -> bool + Send + 'static,
    ) -> Duration {
        self.negotiate_with_peer_timed(w, peer, done).await.1
    }

    /// [`Self::negotiate_with_peer`], also telling how long `processOffer` took to answer.
    pub async fn negotiate_with_peer_timed(
        &mut self,
        w: &str,
        peer: &Arc<TestPeer>,
        done: impl FnOnce(&TestPeer) -> bool + Send + 'static,
    ) -> (Duration, Duration) {
        self.subscribe(w, "IceCandidateFound").await;
        let offer = {
            let peer = peer.clone();
            tokio::task::spawn_blocking(move || peer.create_offer())
                .await
                .unwrap()
                .expect("peer offer")
        };
        let started = Instant::now();
        let answer = self
            .invoke(w, "processOffer", json!({"offer": offer}))
            .await["value"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(answer.starts_with("v=0"), "{answer}");
        let answered = started.elapsed();
        {
            let peer = peer.clone();
            tokio::task::spawn_blocking(move || peer.set_answer(&answer))
                .await
                .unwrap()
                .expect("answer applies");
        }
        self.invoke(w, "gatherCandidates", Value::Null).await;
        let waiter = {
            let peer = peer.clone();
            tokio::task::spawn_blocking(move || done(&peer))
        };
        tokio::pin!(waiter);
        let deadline = tokio::time::Instant::now() + MEDIA_TIMEOUT;
        loop {
            for (mline, cand) in peer.take_local_candidates() {
                let candidate = json!({"candidate": cand, "sdpMid": mline.to_string(), "sdpMLineIndex": mline,
                                       "__module__": "kurento", "__type__": "IceCandidate"});
                self.invoke(w, "addIceCandidate", json!({"candidate": candidate}))
                    .await;
            }
            for ev in self.take_events(|e| e["type"] == "IceCandidateFound") {
                let cand = &ev["data"]["candidate"];
                peer.add_remote_candidate(
                    cand["sdpMLineIndex"].as_u64().unwrap() as u32,
                    cand["candidate"].as_str().unwrap(),
                );
            }
            tokio::select! {
                r = &mut waiter => {
                    assert!(r.unwrap(), "media did not arrive within the timeout");
                    return (answered, started.elapsed());
                }
                _ = self.wait_any_frame(Duration::from_millis(50)) => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "negotiation timed out"
            );
        }
    }
}

/// Runs a gst-launch description to end-of-stream (bounded), e.g. to write a test image.
pub fn run_to_eos(launch: &str) {
    use gst::prelude::*;
    gst::init().unwrap();
    let pipeline = gst::parse::launch(launch).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(10),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)),
        "{launch} ran to the end"
    );
}

/// Debian's messi5.jpg cropped around the face (Haar at 320 px misses it in the full photo),
/// written once per process as a JPEG the test peer can send.
pub fn face_image() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("rheo-face-{}.jpg", std::process::id()));
        run_to_eos(&format!(
            "filesrc location=/usr/share/doc/opencv-doc/examples/data/messi5.jpg ! jpegdec ! videoconvert ! \
             videocrop left=145 right=123 bottom=132 ! jpegenc ! filesink location={}",
            path.display()
        ));
        path
    })
    .clone()
}

impl Client {
    /// Connects `endpoint -> element -> endpoint` (all media types), as the filter tutorials do.
    pub async fn loop_through(&mut self, endpoint: &str, element: &str) {
        self.invoke(endpoint, "connect", json!({ "sink": element }))
            .await;
        self.invoke(element, "connect", json!({ "sink": endpoint }))
            .await;
    }
}

/// A temporary directory for one test's files, removed when dropped.
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    pub fn new(name: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("rheo-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }
}

impl std::ops::Deref for ScratchDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
