//! Benchmark (not a test): what relaying one stream between two Rheo servers costs. One server
//! sending a presenter's 640x480@30 VP8 straight to a viewer, against the same call split over
//! two release servers joined by an SRTP RtpEndpoint pair (`docs/SCALE-OUT.md`); the servers'
//! CPU (user+sys from /proc) and the frames' latency from the presenter's encoder input to the
//! viewer's decoder output (frame numbers drawn into the pictures) are measured side by side in
//! one run.
//!
//! cargo build --release --workspace && cargo run --release --example cascade_cpu -- 10

#[path = "../tests/common/mod.rs"]
mod common;
mod release_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Client;
use release_server::{cpu_ticks, ReleaseServer};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

fn presenter_peer() -> Arc<TestPeer> {
    let face = common::face_image();
    Arc::new(TestPeer::new(PeerConfig::image(face.to_str().unwrap()).with_frame_code()).unwrap())
}

/// Negotiates `peer` with `w`, done once ICE chose a path (the presenter receives nothing).
async fn connect_presenter(c: &mut Client, w: &str, peer: &Arc<TestPeer>) {
    c.negotiate_with_peer(w, peer, |p| {
        let deadline = Instant::now() + WAIT;
        while p.selected_pair().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        p.selected_pair().is_some()
    })
    .await;
}

/// What one set-up measured.
struct Measured {
    /// CPU % of one core, per server.
    cpu: Vec<f64>,
    fps: f64,
    /// Median and 90th percentile frame latency, ms.
    latency: (f64, f64),
}

/// CPU % of each of `pids` over `secs`, the viewer's frame rate, and the latency of the frames
/// the viewer received meanwhile.
fn measure(pids: &[u32], presenter: &TestPeer, viewer: &TestPeer, secs: u64) -> Measured {
    viewer.wait_frames(viewer.frames_received() + 60, WAIT);
    let before: Vec<u64> = pids.iter().map(|p| cpu_ticks(*p)).collect();
    let (f0, start) = (viewer.frames_received(), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let wall = start.elapsed().as_secs_f64();
    let cpu = pids
        .iter()
        .zip(before)
        .map(|(p, t0)| (cpu_ticks(*p) - t0) as f64 / 100.0 / wall * 100.0)
        .collect();
    let mut latencies: Vec<f64> = viewer
        .frame_arrivals(start)
        .into_iter()
        .filter_map(|(code, arrived)| {
            let sent = presenter.frame_sent_at(code)?;
            let ms = arrived.checked_duration_since(sent)?.as_secs_f64() * 1000.0;
            // A code from the previous turn of the counter would read as ~34 s.
            (ms < 5000.0).then_some(ms)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .copied()
    };
    Measured {
        cpu,
        fps: (viewer.frames_received() - f0) as f64 / wall,
        latency: (at(0.5).unwrap_or(f64::NAN), at(0.9).unwrap_or(f64::NAN)),
    }
}

async fn direct(root: &std::path::Path, secs: u64) -> Measured {
    let s = ReleaseServer::start(root);
    let mut c = Client::connect(s.addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let presenter = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let viewer = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.invoke(
        &presenter,
        "connect",
        json!({"sink": viewer, "mediaType": "VIDEO"}),
    )
    .await;
    let presenting = presenter_peer();
    connect_presenter(&mut c, &presenter, &presenting).await;
    let viewing = Arc::new(TestPeer::new(PeerConfig::color(0xff00ff00)).unwrap());
    c.negotiate_with_peer(&viewer, &viewing, |p| p.wait_frames(30, WAIT))
        .await;
    let pid = s.pid();
    tokio::task::spawn_blocking(move || measure(&[pid], &presenting, &viewing, secs))
        .await
        .unwrap()
}

async fn relayed(root: &std::path::Path, secs: u64) -> Measured {
    let (a, b) = (ReleaseServer::start(root), ReleaseServer::start(root));
    let mut ca = Client::connect(a.addr).await;
    let mut cb = Client::connect(b.addr).await;
    let srtp = |p: &str| {
        json!({"mediaPipeline": p, "crypto": {"__module__": "kurento", "__type__": "SDES",
               "crypto": "AES_128_CM_HMAC_SHA1_80"}})
    };
    let pa = ca.create("MediaPipeline", Value::Null).await;
    let presenter = ca
        .create("WebRtcEndpoint", json!({"mediaPipeline": pa}))
        .await;
    let out = ca.create("RtpEndpoint", srtp(&pa)).await;
    ca.invoke(
        &presenter,
        "connect",
        json!({"sink": out, "mediaType": "VIDEO"}),
    )
    .await;
    let pb = cb.create("MediaPipeline", Value::Null).await;
    let inbound = cb.create("RtpEndpoint", srtp(&pb)).await;
    let viewer = cb
        .create("WebRtcEndpoint", json!({"mediaPipeline": pb}))
        .await;
    cb.invoke(
        &inbound,
        "connect",
        json!({"sink": viewer, "mediaType": "VIDEO"}),
    )
    .await;
    let options = json!({"options": {"__module__": "kurento", "__type__": "OfferOptions",
                                      "offerToReceiveAudio": false, "offerToReceiveVideo": false}});
    let offer = ca.invoke(&out, "generateOffer", options).await["value"].clone();
    let answer = cb
        .invoke(&inbound, "processOffer", json!({"offer": offer}))
        .await["value"]
        .clone();
    ca.invoke(&out, "processAnswer", json!({"answer": answer}))
        .await;
    let presenting = presenter_peer();
    connect_presenter(&mut ca, &presenter, &presenting).await;
    let viewing = Arc::new(TestPeer::new(PeerConfig::color(0xff00ff00)).unwrap());
    cb.negotiate_with_peer(&viewer, &viewing, |p| p.wait_frames(30, WAIT))
        .await;
    let pids = [a.pid(), b.pid()];
    tokio::task::spawn_blocking(move || measure(&pids, &presenting, &viewing, secs))
        .await
        .unwrap()
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    gst::init().unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let one = rt.block_on(direct(&root, secs));
    let relay = rt.block_on(relayed(&root, secs));
    let (a, b) = (relay.cpu[0], relay.cpu[1]);
    println!("presenter -> viewer, 640x480@30 VP8, {secs} s measured:");
    println!("| set-up | server CPU (% of one core) | viewer fps | latency median / p90 (ms) |");
    println!("|---|---|---|---|");
    println!(
        "| one server | {:.1} | {:.1} | {:.1} / {:.1} |",
        one.cpu[0], one.fps, one.latency.0, one.latency.1
    );
    println!(
        "| relayed A -> B (SRTP) | A {a:.1} + B {b:.1} = {:.1} | {:.1} | {:.1} / {:.1} |",
        a + b,
        relay.fps,
        relay.latency.0,
        relay.latency.1
    );
    println!(
        "added by the relay: {:.1} % of a core, {:.1} ms median latency",
        a + b - one.cpu[0],
        relay.latency.0 - one.latency.0
    );
}
