//! Benchmark (not a test): group calls of 4 and 8 as Kurento's group-call tutorial builds them:
//! each participant sends the face photo (640x480@30 VP8) on one endpoint and receives each
//! other participant on an endpoint of its own (receive-only webrtcbin peers that count packets
//! and decode nothing). The server's CPU and threads, and the packets each receiver gets.
//!
//! cargo build --release --workspace && cargo build --release --examples
//! ./target/release/examples/groupcall_cpu 10

#[path = "../tests/common/mod.rs"]
mod common;
mod release_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Client;
use release_server::{cpu_ticks, ReleaseServer};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

struct Figures {
    cpu: f64,
    threads: usize,
    /// Packets per second per receiving endpoint, the least and the mean.
    packets: (f64, f64),
}

async fn connect(c: &mut Client, w: &str, peer: &Arc<TestPeer>) {
    c.negotiate_with_peer(w, peer, |p| {
        let deadline = Instant::now() + WAIT;
        while p.selected_pair().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        p.selected_pair().is_some()
    })
    .await;
}

async fn room(root: &std::path::Path, n: usize, secs: u64) -> Figures {
    let server = ReleaseServer::start(root);
    let mut c = Client::connect(server.addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let face = common::face_image();
    let mut outgoing = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..n {
        let w = c
            .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
            .await;
        let peer = Arc::new(TestPeer::new(PeerConfig::image(face.to_str().unwrap())).unwrap());
        connect(&mut c, &w, &peer).await;
        outgoing.push(w);
        senders.push(peer);
    }
    let mut receivers = Vec::new();
    for (i, source) in outgoing.iter().enumerate() {
        for _ in (0..n).filter(|j| *j != i) {
            let w = c
                .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
                .await;
            c.invoke(source, "connect", json!({"sink": w})).await;
            let peer = Arc::new(TestPeer::new(PeerConfig::receive_only()).unwrap());
            connect(&mut c, &w, &peer).await;
            receivers.push(peer);
        }
    }
    let pid = server.pid();
    tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs(3));
        let before: Vec<u64> = receivers.iter().map(|r| r.packets_received()).collect();
        let (t0, start) = (cpu_ticks(pid), Instant::now());
        std::thread::sleep(Duration::from_secs(secs));
        let wall = start.elapsed().as_secs_f64();
        let cpu = (cpu_ticks(pid) - t0) as f64 / 100.0 / wall * 100.0;
        let rates: Vec<f64> = receivers
            .iter()
            .zip(before)
            .map(|(r, b)| (r.packets_received() - b) as f64 / wall)
            .collect();
        let least = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
        drop(senders);
        Figures {
            cpu,
            threads,
            packets: (least, mean),
        }
    })
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
    println!("group call, each sending 640x480@30 VP8, {secs} s measured:");
    println!("| participants | endpoints | server CPU (% of one core) | threads | packets/s per receiver (least / mean) |");
    println!("|---|---|---|---|---|");
    for n in [4, 8] {
        let f = rt.block_on(room(&root, n, secs));
        println!(
            "| {n} | {} | {:.1} | {} | {:.0} / {:.0} |",
            n * n,
            f.cpu,
            f.threads,
            f.packets.0,
            f.packets.1
        );
    }
}
