//! Benchmark (not a test): one presenter (the face photo, 640x480@30 VP8) to N receive-only
//! viewers (webrtcbin peers that count packets and decode nothing: browsers would cost this
//! machine more than the server), through Rheo (a presenter WebRtcEndpoint connected to N
//! viewer endpoints, as the one2many-call tutorial), and beside it in the same run through
//! `bench/bare_fanout.py` (one webrtcbin in, `tee` to N webrtcbin out, nothing else) and the
//! raw UDP forwarding floor (a process that sends each packet it receives on to N UDP sockets,
//! at the same packet rate). Server CPU per output packet, threads and memory per viewer, at
//! 10, 50, 100 and 200 viewers.
//!
//! cargo build --release --workspace && cargo build --release --examples
//! ./target/release/examples/one2many_cpu 10 [10,50,100,200]

#[path = "../tests/common/mod.rs"]
mod common;
mod release_server;
mod viewers;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Client;
use release_server::{cpu_ticks, stop, ReleaseServer};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};
use viewers::{connected, load_average, measure, presenter_peer, threads_and_rss, Figures, WAIT};

async fn rheo(root: &std::path::Path, n: usize, secs: u64) -> Figures {
    let server = ReleaseServer::start(root);
    let mut c = Client::connect(server.addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let presenter = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let presenting = presenter_peer();
    connected(&mut c, &presenter, &presenting).await;
    let before = threads_and_rss(server.pid());
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
        let figures = measure(pid, &viewers, secs, before);
        // After the measurement, so that sampling does not add to the figures.
        if let Some(mut perf) = profile(pid, n, secs) {
            let _ = perf.wait();
        }
        drop(presenting);
        figures
    })
    .await
    .unwrap()
}

/// With `RHEO_PERF_DIR` set: a `perf record -g` of the server, still serving the same viewers, to
/// `<dir>/rheo-<n>.data` (`perf report -i ... --no-children --sort dso` gives where the time
/// goes).
fn profile(pid: u32, n: usize, secs: u64) -> Option<std::process::Child> {
    let dir = std::env::var_os("RHEO_PERF_DIR")?;
    let out = std::path::Path::new(&dir).join(format!("rheo-{n}.data"));
    Command::new("perf")
        .args(["record", "-g", "-q", "-p", &pid.to_string(), "-o"])
        .arg(out)
        .args(["--", "sleep", &secs.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .ok()
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
    let before = threads_and_rss(child.id());
    let viewers: Vec<Arc<TestPeer>> = (1..=n)
        .map(|i| {
            let peer = Arc::new(TestPeer::new(PeerConfig::receive_only()).unwrap());
            connect(i, &peer);
            peer
        })
        .collect();
    let figures = measure(child.id(), &viewers, secs, before);
    drop(presenting);
    stop(&mut child);
    figures
}

/// The floor: this program as `one2many_cpu udp-forward <port>...` receives packets on a UDP
/// socket and sends each on to every port, with nothing else. Fed `pps` packets of 1200 bytes a
/// second for `secs`; microseconds of its CPU per packet sent.
fn udp_floor(n: usize, pps: f64, secs: u64) -> f64 {
    let sinks: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("udp-forward")
        .args(
            sinks
                .iter()
                .map(|s| s.local_addr().unwrap().port().to_string()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let feed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let packet = [0x80u8; 1200];
    let interval = Duration::from_secs_f64(1.0 / pps);
    let start = Instant::now();
    let t0 = cpu_ticks(child.id());
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        feed.send_to(&packet, ("127.0.0.1", port)).unwrap();
        sent += 1;
        let due = interval * sent as u32;
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let cpu_secs = (cpu_ticks(child.id()) - t0) as f64 / 100.0;
    stop(&mut child);
    cpu_secs * 1e6 / (sent as f64 * n as f64)
}

/// `udp-forward <port>...`: the floor's forwarder (see [`udp_floor`]).
fn udp_forward(ports: &[u16]) -> ! {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    println!("{}", socket.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let targets: Vec<std::net::SocketAddr> = ports
        .iter()
        .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let mut buf = [0u8; 2048];
    loop {
        let Ok(len) = socket.recv(&mut buf) else {
            std::process::exit(0)
        };
        for target in &targets {
            let _ = socket.send_to(&buf[..len], target);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("udp-forward") {
        let ports: Vec<u16> = args[2..].iter().map(|p| p.parse().unwrap()).collect();
        udp_forward(&ports);
    }
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let sizes: Vec<usize> = std::env::args()
        .nth(2)
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 50, 100, 200]);
    gst::init().unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srtp = rheo_media::srtp_library();
    println!(
        "one presenter (640x480@30 VP8) to N receive-only viewers, {secs} s measured; \
         the viewers' SRTP (this process): {} ({})",
        srtp.version,
        srtp.crypto()
    );
    println!("| viewers | load | CPU, % of one core: Rheo / bare | µs per packet sent: Rheo / bare / UDP floor | Rheo ÷ bare | Rheo ÷ floor | threads per viewer: Rheo / bare | RSS KiB per viewer: Rheo / bare | packets/s per viewer, least: Rheo / bare |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let at = load_average();
        let r = rt.block_on(rheo(&root, n, secs));
        let b = bare(&root, n, secs);
        let floor = udp_floor(n, r.packets.1, secs);
        let (rp, bp) = (r.micros_per_packet(n), b.micros_per_packet(n));
        let per_viewer = |(a, b): (u64, u64)| b.saturating_sub(a) as f64 / n as f64;
        println!(
            "| {n} | {at} | {:.1} / {:.1} | {rp:.1} / {bp:.1} / {floor:.1} | {:.2} | {:.1} | {:.1} / {:.1} | {:.0} / {:.0} | {:.0} / {:.0} |",
            r.cpu,
            b.cpu,
            rp / bp,
            rp / floor,
            per_viewer(r.threads),
            per_viewer(b.threads),
            per_viewer(r.rss_kib),
            per_viewer(b.rss_kib),
            r.packets.0,
            b.packets.0
        );
    }
}
