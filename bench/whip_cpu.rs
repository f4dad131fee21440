//! Benchmark (not a test): one WHIP publisher (the face photo as 640x480@30 VP8, a webrtcbin
//! peer speaking WHIP over HTTP, its candidates trickled with PATCH) to N WHEP viewers
//! (receive-only webrtcbin peers), beside the same stream through Kurento-protocol
//! WebRtcEndpoints (a presenter endpoint connected to N viewer endpoints, as one2many-call), in
//! the same run: the time from the publisher's offer to the first frame decoded by a viewer
//! that asks at once, and the server's CPU, threads and memory with N viewers.
//!
//! cargo build --release --workspace && cargo build --release --examples
//! ./target/release/examples/whip_cpu 10 [10,50]

#[path = "../tests/common/mod.rs"]
mod common;
mod release_server;
mod viewers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Client;
use release_server::ReleaseServer;
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use viewers::{connected, load_average, measure, presenter_peer, threads_and_rss, Figures, WAIT};

/// One HTTP request; the status, the `Location` header and the body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    kind: &str,
    body: &str,
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {kind}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .unwrap_or_default()
        .to_owned();
    (status, location, body.to_owned())
}

/// A WHIP or WHEP session for `peer` at `path`: offer, answer, then the peer's candidates
/// trickled until it has a candidate pair. Returns the session's location.
async fn whip_session(addr: SocketAddr, path: &str, peer: &Arc<TestPeer>) -> String {
    let offer = {
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || peer.create_offer().unwrap())
            .await
            .unwrap()
    };
    let (status, location, answer) = http(addr, "POST", path, "application/sdp", &offer).await;
    assert_eq!(status, 201, "{path}: {answer}");
    {
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || peer.set_answer(&answer).unwrap())
            .await
            .unwrap();
    }
    let mids: Vec<String> = offer
        .lines()
        .filter_map(|l| l.strip_prefix("a=mid:"))
        .map(str::to_owned)
        .collect();
    let deadline = Instant::now() + WAIT;
    while peer.selected_pair().is_none() {
        assert!(Instant::now() < deadline, "{path}: no candidate pair");
        let candidates = peer.take_local_candidates();
        if candidates.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let mut fragment = String::new();
        for (index, mid) in mids.iter().enumerate() {
            fragment.push_str(&format!(
                "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:{mid}\r\n"
            ));
            for (_, candidate) in candidates.iter().filter(|(m, _)| *m as usize == index) {
                fragment.push_str(&format!("a={candidate}\r\n"));
            }
        }
        let (status, _, body) = http(
            addr,
            "PATCH",
            &location,
            "application/trickle-ice-sdpfrag",
            &fragment,
        )
        .await;
        assert_eq!(status, 204, "PATCH {location}: {body}");
    }
    location
}

/// Waits for the first decoded frame of `peer`.
async fn first_frame(peer: &Arc<TestPeer>) -> Instant {
    let peer = peer.clone();
    tokio::task::spawn_blocking(move || {
        assert!(peer.wait_frames(1, WAIT), "no frame");
        peer.first_frame_at().unwrap()
    })
    .await
    .unwrap()
}

/// A viewer that decodes (the receive-only ones only count packets).
fn decoding_viewer() -> Arc<TestPeer> {
    Arc::new(TestPeer::new(PeerConfig::color(0xff000000)).unwrap())
}

async fn over_whip(root: &std::path::Path, n: usize, secs: u64) -> (Duration, Figures) {
    let server = ReleaseServer::start(root);
    let addr = server.addr;
    let publisher = presenter_peer();
    let started = Instant::now();
    whip_session(addr, "/whip/bench", &publisher).await;
    let first = decoding_viewer();
    let location = whip_session(addr, "/whep/bench", &first).await;
    let to_first_frame = first_frame(&first).await - started;
    http(addr, "DELETE", &location, "text/plain", "").await;
    drop(first);
    let before = threads_and_rss(server.pid());
    let mut watching = Vec::new();
    for _ in 0..n {
        let peer = Arc::new(TestPeer::new(PeerConfig::receive_only()).unwrap());
        whip_session(addr, "/whep/bench", &peer).await;
        watching.push(peer);
    }
    let pid = server.pid();
    let figures = tokio::task::spawn_blocking(move || {
        let figures = measure(pid, &watching, secs, before);
        drop(publisher);
        figures
    })
    .await
    .unwrap();
    (to_first_frame, figures)
}

async fn over_kurento(root: &std::path::Path, n: usize, secs: u64) -> (Duration, Figures) {
    let server = ReleaseServer::start(root);
    let mut c = Client::connect(server.addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let started = Instant::now();
    let presenter = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let presenting = presenter_peer();
    connected(&mut c, &presenter, &presenting).await;
    let first = decoding_viewer();
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.invoke(&presenter, "connect", json!({"sink": w})).await;
    connected(&mut c, &w, &first).await;
    let to_first_frame = first_frame(&first).await - started;
    c.ok("release", json!({"object": w})).await;
    drop(first);
    let before = threads_and_rss(server.pid());
    let mut watching = Vec::new();
    for _ in 0..n {
        let w = c
            .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
            .await;
        c.invoke(&presenter, "connect", json!({"sink": w})).await;
        let peer = Arc::new(TestPeer::new(PeerConfig::receive_only()).unwrap());
        connected(&mut c, &w, &peer).await;
        watching.push(peer);
    }
    let pid = server.pid();
    let figures = tokio::task::spawn_blocking(move || {
        let figures = measure(pid, &watching, secs, before);
        drop(presenting);
        figures
    })
    .await
    .unwrap();
    (to_first_frame, figures)
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let sizes: Vec<usize> = std::env::args()
        .nth(2)
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 50]);
    gst::init().unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("one publisher (640x480@30 VP8) to N viewers, {secs} s measured");
    println!("| viewers | load | offer to a viewer's first frame, ms: WHIP+WHEP / Kurento protocol | CPU % of one core: WHIP / Kurento | ratio | threads per viewer: WHIP / Kurento | RSS KiB per viewer: WHIP / Kurento | packets/s per viewer, least: WHIP / Kurento |");
    println!("|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let at = load_average();
        let (wt, w) = rt.block_on(over_whip(&root, n, secs));
        let (kt, k) = rt.block_on(over_kurento(&root, n, secs));
        let per_viewer = |(a, b): (u64, u64)| b.saturating_sub(a) as f64 / n as f64;
        println!(
            "| {n} | {at} | {} / {} | {:.1} / {:.1} | {:.2} | {:.1} / {:.1} | {:.0} / {:.0} | {:.0} / {:.0} |",
            wt.as_millis(),
            kt.as_millis(),
            w.cpu,
            k.cpu,
            w.cpu / k.cpu,
            per_viewer(w.threads),
            per_viewer(k.threads),
            per_viewer(w.rss_kib),
            per_viewer(k.rss_kib),
            w.packets.0,
            k.packets.0
        );
    }
}
