//! Benchmark (not a test): one presenter (the face photo, 640x480@30 VP8) to N receive-only
//! viewers (webrtcbin peers that count packets and decode nothing: browsers would cost this
//! machine more than the server), through Rheo (a presenter WebRtcEndpoint connected to N
//! viewer endpoints, as the one2many-call tutorial), and beside it in the same run through
//! `bench/bare_fanout.py` (one webrtcbin in, `tee` to N webrtcbin out, nothing else). Server CPU
//! per viewer at 10, 50 and 100 viewers.
//!
//! cargo build --release --workspace && cargo build --release --examples
//! ./target/release/examples/one2many_cpu 10

#[path = "../tests/common/mod.rs"]
mod common;
mod release_server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Client;
use release_server::{cpu_ticks, stop, ReleaseServer};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

struct Figures {
    cpu: f64,
    /// Packets per second per viewer: the least and the mean.
    packets: (f64, f64),
}

fn presenter_peer() -> Arc<TestPeer> {
    let face = common::face_image();
    Arc::new(TestPeer::new(PeerConfig::image(face.to_str().unwrap())).unwrap())
}

/// CPU of `pid` and the viewers' packet rates over `secs`.
fn measure(pid: u32, viewers: &[Arc<TestPeer>], secs: u64) -> Figures {
    std::thread::sleep(Duration::from_secs(3));
    let before: Vec<u64> = viewers.iter().map(|v| v.packets_received()).collect();
    let (t0, start) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let wall = start.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - t0) as f64 / 100.0 / wall * 100.0;
    let rates: Vec<f64> = viewers
        .iter()
        .zip(before)
        .map(|(v, b)| (v.packets_received() - b) as f64 / wall)
        .collect();
    Figures {
        cpu,
        packets: (
            rates.iter().copied().fold(f64::INFINITY, f64::min),
            rates.iter().sum::<f64>() / rates.len() as f64,
        ),
    }
}

async fn connected(c: &mut Client, w: &str, peer: &Arc<TestPeer>) {
    c.negotiate_with_peer(w, peer, |p| {
        let deadline = Instant::now() + WAIT;
        while p.selected_pair().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        p.selected_pair().is_some()
    })
    .await;
}

async fn rheo(root: &std::path::Path, n: usize, secs: u64) -> Figures {
    let server = ReleaseServer::start(root);
    let mut c = Client::connect(server.addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let presenter = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let presenting = presenter_peer();
    connected(&mut c, &presenter, &presenting).await;
    let mut viewers = Vec::new();
    let mut last = String::new();
    for _ in 0..n {
        let w = c
            .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
            .await;
        c.invoke(&presenter, "connect", json!({"sink": w})).await;
        let peer = Arc::new(TestPeer::new(PeerConfig::receive_only()).unwrap());
        connected(&mut c, &w, &peer).await;
        viewers.push(peer);
        last = w;
    }
    let transcoding = c
        .invoke(&last, "isMediaTranscoding", json!({"mediaType": "VIDEO"}))
        .await["value"]
        .clone();
    assert_eq!(
        transcoding, false,
        "viewers get the presenter's VP8 as sent"
    );
    let pid = server.pid();
    tokio::task::spawn_blocking(move || {
        let figures = measure(pid, &viewers, secs);
        drop(presenting);
        figures
    })
    .await
    .unwrap()
}

/// The bare baseline: the Python fan-out, signalled over its stdin and stdout.
fn bare(root: &std::path::Path, n: usize, secs: u64) -> Figures {
    let mut child = Command::new("/usr/bin/python3")
        .arg(root.join("bench/bare_fanout.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 bench/bare_fanout.py runs");
    let to_child = Arc::new(Mutex::new(child.stdin.take().unwrap()));
    let from_child = BufReader::new(child.stdout.take().unwrap());
    let peers: Arc<Mutex<HashMap<usize, Arc<TestPeer>>>> = Arc::default();
    let routed = peers.clone();
    std::thread::spawn(move || {
        for line in from_child.lines() {
            let Ok(line) = line else { break };
            let msg: Value = serde_json::from_str(&line).unwrap();
            let index = msg["peer"].as_u64().unwrap() as usize;
            let Some(peer) = routed.lock().unwrap().get(&index).cloned() else {
                continue;
            };
            if let Some(answer) = msg["answer"].as_str() {
                peer.set_answer(answer).unwrap();
            } else if let Some(c) = msg["candidate"].as_str() {
                peer.add_remote_candidate(msg["mline"].as_u64().unwrap() as u32, c);
            }
        }
    });
    let connect = |index: usize, peer: &Arc<TestPeer>| {
        peers.lock().unwrap().insert(index, peer.clone());
        let offer = peer.create_offer().unwrap();
        let write = |v: Value| writeln!(to_child.lock().unwrap(), "{v}").unwrap();
        write(json!({"peer": index, "offer": offer}));
        let deadline = Instant::now() + WAIT;
        while peer.selected_pair().is_none() {
            for (mline, cand) in peer.take_local_candidates() {
                write(json!({"peer": index, "candidate": cand, "mline": mline}));
            }
            assert!(
                Instant::now() < deadline,
                "bare peer {index} did not connect"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        for (mline, cand) in peer.take_local_candidates() {
            write(json!({"peer": index, "candidate": cand, "mline": mline}));
        }
    };
    let presenting = presenter_peer();
    connect(0, &presenting);
    let viewers: Vec<Arc<TestPeer>> = (1..=n)
        .map(|i| {
            let peer = Arc::new(TestPeer::new(PeerConfig::receive_only()).unwrap());
            connect(i, &peer);
            peer
        })
        .collect();
    let figures = measure(child.id(), &viewers, secs);
    drop(presenting);
    stop(&mut child);
    figures
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let sizes: Vec<usize> = std::env::args()
        .nth(2)
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 50, 100]);
    gst::init().unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("one presenter (640x480@30 VP8) to N receive-only viewers, {secs} s measured:");
    println!("| viewers | Rheo CPU (% of one core) | bare CPU | ratio | per viewer, Rheo / bare | packets/s per viewer, Rheo / bare (least) |");
    println!("|---|---|---|---|---|---|");
    for n in sizes {
        let r = rt.block_on(rheo(&root, n, secs));
        let b = bare(&root, n, secs);
        println!(
            "| {n} | {:.1} | {:.1} | {:.2} | {:.2} / {:.2} | {:.0} / {:.0} |",
            r.cpu,
            b.cpu,
            r.cpu / b.cpu,
            r.cpu / n as f64,
            b.cpu / n as f64,
            r.packets.0,
            b.packets.0
        );
    }
}
