//! Benchmark (not a test): Rheo under many sessions, each figure beside bare webrtcbin doing the
//! same media work in the same run (`bench/bare_loopbacks.py`: one process, one webrtcbin per
//! session looping its VP8 back, NACK on). The load peers are cheap: each sends a pre-encoded
//! 640x480@30 VP8 file as it is and counts what comes back without decoding it.
//!
//! cargo build --release -p rheo && cargo build --release --example scale
//! ./target/release/examples/scale sessions 1,10,20,40 10   CPU, RSS, threads, fds per session
//! ./target/release/examples/scale joins 50 10              50 joins within 10 s
//! ./target/release/examples/scale churn 200                create/release cycles: RSS slope
//! ./target/release/examples/scale release 50               release latency, one connection

#[path = "../tests/common/mod.rs"]
mod common;
mod release_server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Client;
use release_server::{cpu_ticks, stop, ReleaseServer};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// What /proc tells of a process.
#[derive(Clone, Copy, Default)]
struct Usage {
    rss_mib: f64,
    threads: f64,
    fds: f64,
}

fn usage(pid: u32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    Usage {
        rss_mib: field("VmRSS:") / 1024.0,
        threads: field("Threads:"),
        fds: fds as f64,
    }
}

/// The file every load peer sends: 60 s of a moving test pattern as 640x480@30 VP8 at about
/// 1.5 Mb/s, a keyframe every 2 s (one session's set-up and measurement fit in it).
fn load_file() -> String {
    let path = std::env::temp_dir().join(format!("rheo-scale-{}.webm", std::process::id()));
    if !path.exists() {
        let made = Command::new("gst-launch-1.0")
            .args([
                "-q",
                "videotestsrc",
                "num-buffers=1800",
                "pattern=smpte",
                "horizontal-speed=3",
            ])
            .args([
                "!",
                "video/x-raw,width=640,height=480,framerate=30/1",
                "!",
                "vp8enc",
            ])
            .args(["deadline=1", "cpu-used=8", "threads=2", "end-usage=cbr"])
            .args([
                "target-bitrate=1500000",
                "keyframe-max-dist=60",
                "!",
                "webmmux",
            ])
            .args(["!", "filesink", &format!("location={}", path.display())])
            .status()
            .expect("gst-launch-1.0 runs");
        assert!(made.success(), "the load file was made");
    }
    path.display().to_string()
}

fn load_peer(file: &str) -> Arc<TestPeer> {
    Arc::new(TestPeer::new(PeerConfig::prerecorded(file)).expect("load peer"))
}

/// Waits (bounded) until `peer` got its first packet back.
fn first_packet(peer: &TestPeer) -> bool {
    let deadline = Instant::now() + WAIT;
    while peer.packets_received() == 0 {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// A Rheo loopback session on `c`: its pipeline, and how long the answer and the first packet
/// back took from `processOffer`.
async fn rheo_session(c: &mut Client, peer: &Arc<TestPeer>) -> (String, Duration, Duration) {
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.invoke(&w, "connect", json!({"sink": w})).await;
    let (answer, first) = c.negotiate_with_peer_timed(&w, peer, first_packet).await;
    (p, answer, first)
}

/// The bare baseline process, signalled over its stdin and stdout.
struct Bare {
    child: Child,
    to_child: Arc<Mutex<ChildStdin>>,
    peers: Arc<Mutex<HashMap<usize, Arc<TestPeer>>>>,
    answered: Arc<Mutex<HashMap<usize, Instant>>>,
    released: Arc<Mutex<HashMap<usize, f64>>>,
}

impl Bare {
    fn start(root: &std::path::Path) -> Bare {
        let mut child = Command::new("/usr/bin/python3")
            .arg(root.join("bench/bare_loopbacks.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 bench/bare_loopbacks.py runs");
        let to_child = Arc::new(Mutex::new(child.stdin.take().unwrap()));
        let from_child = BufReader::new(child.stdout.take().unwrap());
        let bare = Bare {
            child,
            to_child,
            peers: Arc::default(),
            answered: Arc::default(),
            released: Arc::default(),
        };
        let (peers, answered, released) = (
            bare.peers.clone(),
            bare.answered.clone(),
            bare.released.clone(),
        );
        std::thread::spawn(move || {
            for line in from_child.lines() {
                let Ok(line) = line else { break };
                let msg: Value = serde_json::from_str(&line).unwrap();
                let index = msg["peer"].as_u64().unwrap() as usize;
                if let Some(ms) = msg["released_ms"].as_f64() {
                    released.lock().unwrap().insert(index, ms);
                    continue;
                }
                let Some(peer) = peers.lock().unwrap().get(&index).cloned() else {
                    continue;
                };
                if let Some(answer) = msg["answer"].as_str() {
                    answered.lock().unwrap().insert(index, Instant::now());
                    peer.set_answer(answer).unwrap();
                } else if let Some(c) = msg["candidate"].as_str() {
                    peer.add_remote_candidate(msg["mline"].as_u64().unwrap() as u32, c);
                }
            }
        });
        std::thread::sleep(Duration::from_millis(500));
        bare
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn write(&self, v: Value) {
        writeln!(self.to_child.lock().unwrap(), "{v}").unwrap();
    }

    /// Session `index` for `peer`: how long the answer and the first packet back took.
    fn session(&self, index: usize, peer: &Arc<TestPeer>) -> (Duration, Duration) {
        self.peers.lock().unwrap().insert(index, peer.clone());
        let offer = peer.create_offer().unwrap();
        let started = Instant::now();
        self.write(json!({"peer": index, "offer": offer}));
        while peer.packets_received() == 0 {
            for (mline, cand) in peer.take_local_candidates() {
                self.write(json!({"peer": index, "candidate": cand, "mline": mline}));
            }
            assert!(
                started.elapsed() < WAIT,
                "bare session {index} got no media"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let answered = self.answered.lock().unwrap()[&index];
        (answered - started, started.elapsed())
    }

    /// Takes session `index` down; how long that took in the bare process, in ms.
    fn release(&self, index: usize) -> f64 {
        self.write(json!({"peer": index, "release": true}));
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(ms) = self.released.lock().unwrap().remove(&index) {
                self.peers.lock().unwrap().remove(&index);
                return ms;
            }
            assert!(
                Instant::now() < deadline,
                "bare release {index} did not end"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// CPU (% of one core) of `pid` over `secs`, and the least packet rate back among `peers`.
fn load(pid: u32, peers: &[Arc<TestPeer>], secs: u64) -> (f64, f64) {
    std::thread::sleep(Duration::from_secs(3));
    let before: Vec<u64> = peers.iter().map(|p| p.packets_received()).collect();
    let (t0, start) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let wall = start.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid) - t0) as f64 / wall;
    let least = peers
        .iter()
        .zip(before)
        .map(|(p, b)| (p.packets_received() - b) as f64 / wall)
        .fold(f64::INFINITY, f64::min);
    (cpu, least)
}

struct SessionFigures {
    cpu: f64,
    per_session: Usage,
    least_packets: f64,
}

fn per_session(idle: Usage, loaded: Usage, n: usize) -> Usage {
    let n = n as f64;
    Usage {
        rss_mib: (loaded.rss_mib - idle.rss_mib) / n,
        threads: (loaded.threads - idle.threads) / n,
        fds: (loaded.fds - idle.fds) / n,
    }
}

async fn rheo_sessions(root: &std::path::Path, file: &str, n: usize, secs: u64) -> SessionFigures {
    let server = ReleaseServer::start(root);
    let mut c = Client::connect(server.addr).await;
    // The idle figures after one connection and a first pipeline, as the server keeps them.
    let warm = c.create("MediaPipeline", Value::Null).await;
    c.ok("release", json!({"object": warm})).await;
    let idle = usage(server.pid());
    let mut peers = Vec::new();
    for _ in 0..n {
        let peer = load_peer(file);
        rheo_session(&mut c, &peer).await;
        peers.push(peer);
    }
    let pid = server.pid();
    tokio::task::spawn_blocking(move || {
        let (cpu, least_packets) = load(pid, &peers, secs);
        SessionFigures {
            cpu,
            per_session: per_session(idle, usage(pid), peers.len()),
            least_packets,
        }
    })
    .await
    .unwrap()
}

fn bare_sessions(root: &std::path::Path, file: &str, n: usize, secs: u64) -> SessionFigures {
    let bare = Bare::start(root);
    let idle = usage(bare.pid());
    let peers: Vec<Arc<TestPeer>> = (0..n)
        .map(|i| {
            let peer = load_peer(file);
            bare.session(i, &peer);
            peer
        })
        .collect();
    let (cpu, least_packets) = load(bare.pid(), &peers, secs);
    SessionFigures {
        cpu,
        per_session: per_session(idle, usage(bare.pid()), n),
        least_packets,
    }
}

fn sessions(root: &std::path::Path, rt: &tokio::runtime::Runtime, sizes: &[usize], secs: u64) {
    let file = load_file();
    println!("N loopback sessions (pre-encoded 640x480@30 VP8 each), {secs} s measured:");
    println!("| N | CPU % Rheo / bare (ratio) | RSS MiB per session | threads per session | fds per session | least packets/s back |");
    println!("|---|---|---|---|---|---|");
    for &n in sizes {
        let r = rt.block_on(rheo_sessions(root, &file, n, secs));
        let b = bare_sessions(root, &file, n, secs);
        println!(
            "| {n} | {:.1} / {:.1} ({:.2}) | {:.2} / {:.2} | {:.1} / {:.1} | {:.1} / {:.1} | {:.0} / {:.0} |",
            r.cpu,
            b.cpu,
            r.cpu / b.cpu.max(0.01),
            r.per_session.rss_mib,
            b.per_session.rss_mib,
            r.per_session.threads,
            b.per_session.threads,
            r.per_session.fds,
            b.per_session.fds,
            r.least_packets,
            b.least_packets
        );
    }
}

/// `n` joins spread over `secs`, each on its own connection (as many users at once).
async fn rheo_joins(root: &std::path::Path, file: &str, n: usize, secs: u64) -> Vec<(f64, f64)> {
    let server = ReleaseServer::start(root);
    let addr = server.addr;
    let gap = Duration::from_secs_f64(secs as f64 / n as f64);
    let mut joins = Vec::new();
    for i in 0..n {
        let file = file.to_owned();
        joins.push(tokio::spawn(async move {
            tokio::time::sleep(gap * i as u32).await;
            let peer = tokio::task::spawn_blocking(move || load_peer(&file))
                .await
                .unwrap();
            let mut c = Client::connect(addr).await;
            let (_, answer, first) = rheo_session(&mut c, &peer).await;
            (c, peer, answer, first)
        }));
    }
    let mut times = Vec::new();
    let mut keep = Vec::new();
    for j in joins {
        let (c, peer, answer, first) = j.await.expect("every join succeeds");
        times.push((answer.as_secs_f64() * 1e3, first.as_secs_f64() * 1e3));
        keep.push((c, peer));
    }
    times
}

fn bare_joins(root: &std::path::Path, file: &str, n: usize, secs: u64) -> Vec<(f64, f64)> {
    let bare = Arc::new(Bare::start(root));
    let gap = Duration::from_secs_f64(secs as f64 / n as f64);
    let joins: Vec<_> = (0..n)
        .map(|i| {
            let (bare, file) = (bare.clone(), file.to_owned());
            std::thread::spawn(move || {
                std::thread::sleep(gap * i as u32);
                let peer = load_peer(&file);
                let (answer, first) = bare.session(i, &peer);
                (peer, answer.as_secs_f64() * 1e3, first.as_secs_f64() * 1e3)
            })
        })
        .collect();
    let done: Vec<_> = joins.into_iter().map(|j| j.join().unwrap()).collect();
    done.iter().map(|(_, a, f)| (*a, *f)).collect()
}

fn joins(root: &std::path::Path, rt: &tokio::runtime::Runtime, n: usize, secs: u64) {
    let file = load_file();
    let r = rt.block_on(rheo_joins(root, &file, n, secs));
    let b = bare_joins(root, &file, n, secs);
    println!("{n} joins within {secs} s (each: offer -> answer, offer -> first packet back), ms:");
    println!("| server | answer p50 | answer p90 | answer max | first packet p50 | first packet p90 | first packet max |");
    println!("|---|---|---|---|---|---|---|");
    for (name, times) in [("Rheo", r), ("bare webrtcbin", b)] {
        let mut answers: Vec<f64> = times.iter().map(|t| t.0).collect();
        let mut firsts: Vec<f64> = times.iter().map(|t| t.1).collect();
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            percentile(&mut answers, 0.5),
            percentile(&mut answers, 0.9),
            percentile(&mut answers, 1.0),
            percentile(&mut firsts, 0.5),
            percentile(&mut firsts, 0.9),
            percentile(&mut firsts, 1.0)
        );
    }
}

/// RSS (MiB) after the first `warm` cycles and after all `cycles`: each cycle one session set up
/// until media flows back, then released.
async fn rheo_churn(root: &std::path::Path, file: &str, cycles: usize, warm: usize) -> (f64, f64) {
    let server = ReleaseServer::start(root);
    let mut c = Client::connect(server.addr).await;
    let mut after_warm = 0.0;
    for i in 0..cycles {
        let peer = load_peer(file);
        let (p, _, _) = rheo_session(&mut c, &peer).await;
        c.ok("release", json!({"object": p})).await;
        drop(peer);
        if i + 1 == warm {
            after_warm = usage(server.pid()).rss_mib;
        }
    }
    (after_warm, usage(server.pid()).rss_mib)
}

fn bare_churn(root: &std::path::Path, file: &str, cycles: usize, warm: usize) -> (f64, f64) {
    let bare = Bare::start(root);
    let mut after_warm = 0.0;
    for i in 0..cycles {
        let peer = load_peer(file);
        bare.session(i, &peer);
        bare.release(i);
        drop(peer);
        if i + 1 == warm {
            after_warm = usage(bare.pid()).rss_mib;
        }
    }
    (after_warm, usage(bare.pid()).rss_mib)
}

fn churn(root: &std::path::Path, rt: &tokio::runtime::Runtime, cycles: usize) {
    let file = load_file();
    let warm = (cycles / 10).max(1);
    let r = rt.block_on(rheo_churn(root, &file, cycles, warm));
    let b = bare_churn(root, &file, cycles, warm);
    let span = (cycles - warm) as f64;
    println!("{cycles} cycles of one loopback session set up and released; RSS after cycle {warm} and {cycles}:");
    println!("| server | RSS MiB after {warm} | after {cycles} | slope, KiB per cycle |");
    println!("|---|---|---|---|");
    for (name, (w, end)) in [("Rheo", r), ("bare webrtcbin", b)] {
        println!(
            "| {name} | {w:.1} | {end:.1} | {:.1} |",
            (end - w) * 1024.0 / span
        );
    }
}

/// `n` sessions on one connection, then released: each release alone (ms), then all `n` of a
/// second batch sent at once on that connection (total ms).
async fn rheo_release(root: &std::path::Path, file: &str, n: usize) -> (Vec<f64>, f64) {
    let server = ReleaseServer::start(root);
    let mut c = Client::connect(server.addr).await;
    let mut one_by_one = Vec::new();
    for batch in 0..2 {
        let mut pipelines = Vec::new();
        let mut peers = Vec::new();
        for _ in 0..n {
            let peer = load_peer(file);
            let (p, _, _) = rheo_session(&mut c, &peer).await;
            pipelines.push(p);
            peers.push(peer);
        }
        if batch == 0 {
            for p in &pipelines {
                let started = Instant::now();
                c.ok("release", json!({"object": p})).await;
                one_by_one.push(started.elapsed().as_secs_f64() * 1e3);
            }
            continue;
        }
        let session = c.session.clone().unwrap();
        let started = Instant::now();
        for (i, p) in pipelines.iter().enumerate() {
            let msg = json!({"jsonrpc": "2.0", "method": "release", "id": 1_000_000 + i,
                             "params": {"object": p, "sessionId": session}});
            c.send_raw(&msg.to_string()).await;
        }
        let mut answered = 0;
        while answered < n {
            let frame = c.next_frame().await.expect("connection open");
            if frame["id"].as_u64().is_some_and(|id| id >= 1_000_000) {
                assert!(frame.get("error").is_none(), "{frame}");
                answered += 1;
            }
        }
        return (one_by_one, started.elapsed().as_secs_f64() * 1e3);
    }
    unreachable!()
}

fn bare_release(root: &std::path::Path, file: &str, n: usize) -> Vec<f64> {
    let bare = Bare::start(root);
    let peers: Vec<Arc<TestPeer>> = (0..n)
        .map(|i| {
            let peer = load_peer(file);
            bare.session(i, &peer);
            peer
        })
        .collect();
    let times = (0..n).map(|i| bare.release(i)).collect();
    drop(peers);
    times
}

fn release(root: &std::path::Path, rt: &tokio::runtime::Runtime, n: usize) {
    let file = load_file();
    let (mut r, burst) = rt.block_on(rheo_release(root, &file, n));
    let mut b = bare_release(root, &file, n);
    println!("releasing {n} loopback sessions one after another, ms per release:");
    println!("| server | p50 | p90 | max |");
    println!("|---|---|---|---|");
    for (name, times) in [
        ("Rheo (request to response)", &mut r),
        ("bare webrtcbin (to NULL)", &mut b),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            percentile(times, 0.5),
            percentile(times, 0.9),
            percentile(times, 1.0)
        );
    }
    println!("Rheo: {n} releases sent at once on one connection, all answered in {burst:.0} ms");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("sessions");
    let number =
        |i: usize, default: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    gst::init().unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    match mode {
        "sessions" => {
            let sizes: Vec<usize> = args
                .get(2)
                .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
                .unwrap_or_else(|| vec![1, 10, 20, 40]);
            sessions(&root, &rt, &sizes, number(3, 10));
        }
        "joins" => joins(&root, &rt, number(2, 50) as usize, number(3, 10)),
        "churn" => churn(&root, &rt, number(2, 200) as usize),
        "release" => release(&root, &rt, number(2, 50) as usize),
        _ => panic!("mode: sessions | joins | churn | release"),
    }
    let _ = std::fs::remove_file(load_file());
}
