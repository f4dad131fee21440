//! Benchmark (not a test): data channel round trip and throughput through Rheo's echo (a
//! WebRtcEndpoint with `useDataChannels` connected to itself, in a release server process),
//! next to a bare webrtcbin pair doing the same echo in this process, measured in one run.
//!
//! cargo build --release --workspace && cargo run --release --example datachannel_rtt

#[path = "../tests/common/mod.rs"]
mod common;
mod release_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Client;
use gst::prelude::*;
use release_server::ReleaseServer;
use rheo_media::test_peer::{PeerChannel, PeerConfig, TestPeer};
use serde_json::{json, Value};

const PINGS: usize = 300;
const BURST: usize = 5000;
const BURST_BYTES: usize = 100;
const WAIT: Duration = Duration::from_secs(60);

struct Figures {
    rtt_median_ms: f64,
    rtt_p95_ms: f64,
    messages_per_s: f64,
}

/// Sequential pings, then a burst, over `channel`, which echoes.
fn measure(channel: &PeerChannel) -> Figures {
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..PINGS {
        let sent = Instant::now();
        channel.send_text(&format!("ping {i}"));
        let got = channel.wait_messages(i + 1, WAIT);
        assert_eq!(got.len(), i + 1, "no echo for ping {i}");
        rtts.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    rtts.sort_by(|a, b| a.total_cmp(b));
    let payload = "x".repeat(BURST_BYTES);
    let started = Instant::now();
    for _ in 0..BURST {
        channel.send_text(&payload);
    }
    let got = channel.wait_messages(PINGS + BURST, WAIT);
    assert_eq!(got.len(), PINGS + BURST, "the burst was not all echoed");
    Figures {
        rtt_median_ms: rtts[PINGS / 2],
        rtt_p95_ms: rtts[PINGS * 95 / 100],
        messages_per_s: BURST as f64 / started.elapsed().as_secs_f64(),
    }
}

async fn through_rheo(root: &std::path::Path) -> Figures {
    let server = ReleaseServer::start(root);
    let mut c = Client::connect(server.addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create(
            "WebRtcEndpoint",
            json!({"mediaPipeline": p, "useDataChannels": true}),
        )
        .await;
    c.invoke(&w, "connect", json!({"sink": w})).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    let channel = Arc::new(peer.create_data_channel("bench"));
    let opened = channel.clone();
    c.negotiate_with_peer(&w, &peer, move |_| opened.wait_open(WAIT))
        .await;
    let figures = tokio::task::spawn_blocking(move || measure(&channel))
        .await
        .unwrap();
    drop(server);
    figures
}

/// The same echo between two webrtcbins in this process: B echoes what A's channel sends.
fn bare_pair() -> Figures {
    let a = TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap();
    let b = TestPeer::new(PeerConfig::color(0xff00ff00)).unwrap();
    let channel = a.create_data_channel("bench");
    let webrtcbin = b.pipeline().by_name("peer").expect("the peer's webrtcbin");
    webrtcbin.connect("on-data-channel", false, |args| {
        let dc = args[1].get::<gst_webrtc::WebRTCDataChannel>().ok()?;
        dc.connect_on_message_string(|dc, text| {
            let _ = dc.send_string_full(text);
        });
        None
    });
    let offer = a.create_offer().unwrap();
    let answer = b.answer_offer(&offer).unwrap();
    a.set_answer(&answer).unwrap();
    let deadline = Instant::now() + WAIT;
    while !channel.wait_open(Duration::from_millis(20)) {
        for (m, cand) in a.take_local_candidates() {
            b.add_remote_candidate(m, &cand);
        }
        for (m, cand) in b.take_local_candidates() {
            a.add_remote_candidate(m, &cand);
        }
        assert!(Instant::now() < deadline, "the bare pair did not connect");
    }
    measure(&channel)
}

fn main() {
    gst::init().unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rheo = rt.block_on(through_rheo(&root));
    let bare = bare_pair();
    println!("data channel echo, {PINGS} sequential pings, then {BURST} messages of {BURST_BYTES} bytes:");
    println!("| echo | RTT median ms | RTT p95 ms | messages/s |");
    println!("|---|---|---|---|");
    for (name, f) in [
        ("rheo (WebRtcEndpoint loopback)", &rheo),
        ("bare webrtcbin pair", &bare),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} |",
            f.rtt_median_ms, f.rtt_p95_ms, f.messages_per_s
        );
    }
}
