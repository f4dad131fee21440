//! Benchmark (not a test): CPU of one Rheo session next to the bare GStreamer pipeline doing the
//! same media work (bench/bare_session.py), measured side by side in one run.
//!
//! A webrtcbin peer in this process sends 640x480@30 VP8 (Debian's messi5.jpg) and receives the
//! result; only the server process's CPU (user+sys from /proc) is counted.
//!
//! cargo build --release --workspace   (the filters' plugin, for the bare pipeline)
//! cargo run --release --example session_cpu -- loopback 10
//! cargo run --release --example session_cpu -- magicmirror 10
//! cargo run --release --example session_cpu -- record-webm 10   (loopback + WEBM recording)
//! cargo run --release --example session_cpu -- record-mp4 10    (H.264 in, loopback + MP4)
//! cargo run --release --example session_cpu -- play-webm 10     (a VP8 WEBM played to the peer)
//! cargo run --release --example session_cpu -- rtp-in 10        (plain RTP VP8 in, to the peer)
//! cargo run --release --example session_cpu -- loss-0.5 10      (loopback, 0.5 % of the peer's
//! cargo run --release --example session_cpu -- loss-2 10         packets lost on their way out)

#[path = "../tests/common/mod.rs"]
mod common;
mod release_server;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Client;
use release_server::{cpu_ticks, stop, ReleaseServer};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

struct Figures {
    setup: Duration,
    cpu_percent: f64,
    fps: f64,
    rss_mib: f64,
    /// Recording modes, Rheo only: how long `stopAndWait` took, and what the file holds.
    stop_and_wait: Option<(Duration, String)>,
    /// Rheo only: its encoders and decoders at the end of the run (from /metrics).
    codecs: Option<(f64, f64)>,
}

/// One unlabelled gauge of Rheo's /metrics.
fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Measures `pid` for `secs` once media flows.
fn measure(pid: u32, peer: &TestPeer, setup: Duration, secs: u64) -> Figures {
    let (t0, f0, start) = (cpu_ticks(pid), peer.frames_received(), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (t1, f1, wall) = (
        cpu_ticks(pid),
        peer.frames_received(),
        start.elapsed().as_secs_f64(),
    );
    Figures {
        setup,
        cpu_percent: (t1 - t0) as f64 / 100.0 / wall * 100.0,
        fps: (f1 - f0) as f64 / wall,
        rss_mib: rss_mib(pid),
        stop_and_wait: None,
        codecs: None,
    }
}

/// The peer of every run: the face photo, as VP8 or (for MP4 recording) H.264; for the loss
/// modes, losing that share of the packets it sends (after its retransmission buffer, as a
/// network would).
fn peer_config(mode: &str) -> PeerConfig {
    let config = PeerConfig::image(common::face_image().to_str().unwrap());
    if mode == "record-mp4" {
        config.with_h264()
    } else if let Some(loss) = loss_percent(mode) {
        config.with_loss(loss / 100.0, 0.0)
    } else {
        config
    }
}

/// `loss-<percent>`: a loopback whose peer loses this share of what it sends.
fn loss_percent(mode: &str) -> Option<f64> {
    mode.strip_prefix("loss-")?.parse().ok()
}

/// The file `play-webm` plays: 640x480@30 VP8, long enough for warm-up and measurement, made
/// once per run.
fn playback_file(secs: u64) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("rheo-bench-{}-play.webm", std::process::id()));
    if !path.exists() {
        let frames = (secs + 20) * 30;
        common::run_to_eos(&format!(
            "videotestsrc num-buffers={frames} pattern=ball ! \
             video/x-raw,width=640,height=480,framerate=30/1 ! \
             vp8enc deadline=1 cpu-used=8 target-bitrate=1500000 keyframe-max-dist=60 ! \
             webmmux ! filesink location={}",
            path.display()
        ));
    }
    path
}

/// `rtp-in`: the external RTP sender, in this process (not counted): 640x480@30 VP8 at
/// 1.5 Mb/s to `port` on 127.0.0.1, until dropped.
struct RtpSender(gst::Pipeline);

impl RtpSender {
    fn start(port: u16) -> RtpSender {
        use gst::prelude::*;
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=480,framerate=30/1 ! \
             vp8enc deadline=1 cpu-used=8 target-bitrate=1500000 keyframe-max-dist=60 ! \
             rtpvp8pay pt=96 ! udpsink host=127.0.0.1 port={port}"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        RtpSender(pipeline)
    }
}

impl Drop for RtpSender {
    fn drop(&mut self) {
        use gst::prelude::*;
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// The sender's description (VP8, send only) for `rtp-in`.
const RTP_SENDER_OFFER: &str =
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=sender\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
     m=video 5004 RTP/AVPF 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=sendonly\r\n";

/// Where a recording mode writes, and its Kurento profile.
fn recording(mode: &str) -> Option<(std::path::PathBuf, &'static str)> {
    let (ext, profile) = match mode {
        "record-webm" => ("webm", "WEBM"),
        "record-mp4" => ("mp4", "MP4"),
        _ => return None,
    };
    let name = format!("rheo-bench-{}-{mode}.{ext}", std::process::id());
    Some((std::env::temp_dir().join(name), profile))
}

async fn run_rheo(root: &std::path::Path, mode: &str, secs: u64) -> Figures {
    let server = ReleaseServer::start(root);
    let addr = server.addr;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let mut recorder = None;
    let mut _sender = None;
    if mode == "loopback" || loss_percent(mode).is_some() {
        c.invoke(&w, "connect", json!({"sink": w})).await;
    } else if mode == "rtp-in" {
        let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": p})).await;
        c.invoke(&rtp, "connect", json!({"sink": w, "mediaType": "VIDEO"}))
            .await;
        let answer = c
            .invoke(&rtp, "processOffer", json!({"offer": RTP_SENDER_OFFER}))
            .await["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let port = common::video_port(&answer).expect("a video port in the answer");
        _sender = Some(RtpSender::start(port));
    } else if mode == "play-webm" {
        let uri = format!("file://{}", playback_file(secs).display());
        let player = c
            .create("PlayerEndpoint", json!({"mediaPipeline": p, "uri": uri}))
            .await;
        c.invoke(&player, "connect", json!({"sink": w})).await;
        c.invoke(&player, "play", Value::Null).await;
    } else if let Some((path, profile)) = recording(mode) {
        let r = c
            .create(
                "RecorderEndpoint",
                json!({"mediaPipeline": p, "uri": format!("file://{}", path.display()),
                       "mediaProfile": profile}),
            )
            .await;
        c.invoke(&w, "connect", json!({"sink": w})).await;
        c.invoke(&w, "connect", json!({"sink": r})).await;
        recorder = Some((r, path));
    } else {
        let f = c
            .create("FaceOverlayFilter", json!({"mediaPipeline": p}))
            .await;
        let hat = format!(
            "file://{}",
            root.join("web/magicmirror/img/hat.png").display()
        );
        c.invoke(
            &f,
            "setOverlayedImage",
            json!({"uri": hat, "offsetXPercent": -0.35, "offsetYPercent": -1.2,
            "widthPercent": 1.6, "heightPercent": 1.6}),
        )
        .await;
        c.invoke(&w, "connect", json!({"sink": f})).await;
        c.invoke(&f, "connect", json!({"sink": w})).await;
    }
    let peer = Arc::new(TestPeer::new(peer_config(mode)).unwrap());
    let setup = c
        .negotiate_with_peer(&w, &peer, |p| p.wait_frames(1, Duration::from_secs(20)))
        .await;
    if let Some((r, _)) = &recorder {
        c.invoke(r, "record", Value::Null).await;
    }
    let pid = server.pid();
    let peer2 = peer.clone();
    let mut figures = tokio::task::spawn_blocking(move || {
        peer2.wait_frames(60, Duration::from_secs(20));
        measure(pid, &peer2, setup, secs)
    })
    .await
    .unwrap();
    if let Some((r, path)) = &recorder {
        let started = Instant::now();
        c.invoke(r, "stopAndWait", Value::Null).await;
        let took = started.elapsed();
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let held = match rheo_media::test_media_file::inspect(path) {
            Ok(f) => format!(
                "{} KiB, {} video frames over {:.1} s, codecs {:?}",
                size / 1024,
                f.video_frames,
                f.video_span().as_secs_f64(),
                f.codecs
            ),
            Err(e) => format!("{} KiB, does not decode: {e}", size / 1024),
        };
        figures.stop_and_wait = Some((took, held));
        let _ = std::fs::remove_file(path);
    }
    figures.codecs = Some((metric(addr, "rheo_encoders"), metric(addr, "rheo_decoders")));
    figures
}

fn run_bare(root: &std::path::Path, mode: &str, secs: u64) -> Figures {
    let hat = format!(
        "file://{}",
        root.join("web/magicmirror/img/hat.png").display()
    );
    let target = recording(mode).map(|(path, _)| path);
    let rtp_port = (mode == "rtp-in").then(|| {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    });
    let target_arg = if mode == "play-webm" {
        playback_file(secs).display().to_string()
    } else if let Some(port) = rtp_port {
        port.to_string()
    } else {
        target
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    let bare_mode = if loss_percent(mode).is_some() {
        "loopback"
    } else {
        mode
    };
    let mut child = Command::new("/usr/bin/python3")
        .args([
            root.join("bench/bare_session.py").to_str().unwrap(),
            bare_mode,
            &hat,
            &target_arg,
        ])
        .env("GST_PLUGIN_PATH", root.join("target/release"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 bench/bare_session.py runs");
    let mut to_child = child.stdin.take().unwrap();
    let from_child = BufReader::new(child.stdout.take().unwrap());
    let peer = Arc::new(TestPeer::new(peer_config(mode)).unwrap());
    let offer = peer.create_offer().unwrap();
    let started = Instant::now();
    writeln!(to_child, "{}", json!({"offer": offer})).unwrap();
    let reader_peer = peer.clone();
    std::thread::spawn(move || {
        for line in from_child.lines() {
            let Ok(line) = line else { break };
            let msg: Value = serde_json::from_str(&line).unwrap();
            if let Some(answer) = msg["answer"].as_str() {
                reader_peer.set_answer(answer).unwrap();
            } else if let Some(c) = msg["candidate"].as_str() {
                reader_peer.add_remote_candidate(msg["mline"].as_u64().unwrap() as u32, c);
            }
        }
    });
    let _sender = rtp_port.map(RtpSender::start);
    while !peer.wait_frames(1, Duration::from_millis(20)) {
        for (mline, cand) in peer.take_local_candidates() {
            writeln!(to_child, "{}", json!({"candidate": cand, "mline": mline})).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bare session got no media"
        );
    }
    let setup = started.elapsed();
    peer.wait_frames(60, Duration::from_secs(20));
    let figures = measure(child.id(), &peer, setup, secs);
    drop(_sender);
    drop(to_child);
    stop(&mut child);
    if let Some(path) = target {
        let _ = std::fs::remove_file(path);
    }
    figures
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("loopback")
        .to_owned();
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    assert!(
        [
            "loopback",
            "magicmirror",
            "record-webm",
            "record-mp4",
            "play-webm",
            "rtp-in"
        ]
        .contains(&mode.as_str())
            || loss_percent(&mode).is_some(),
        "mode: loopback | magicmirror | record-webm | record-mp4 | play-webm | rtp-in | loss-<percent>"
    );
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    gst::init().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rheo = rt.block_on(run_rheo(&root, &mode, secs));
    let bare = run_bare(&root, &mode, secs);
    let codec = if mode == "record-mp4" { "H.264" } else { "VP8" };
    println!("{mode} session, 640x480@30 {codec}, {secs} s measured after warm-up:");
    println!("| server | CPU (% of one core) | output fps | RSS MiB | offer -> first frame back |");
    println!("|---|---|---|---|---|");
    for (name, f) in [("rheo", &rheo), ("bare gst pipeline", &bare)] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.0} | {} ms |",
            f.cpu_percent,
            f.fps,
            f.rss_mib,
            f.setup.as_millis()
        );
    }
    println!(
        "CPU ratio rheo / bare: {:.2}; fps ratio: {:.2}",
        rheo.cpu_percent / bare.cpu_percent.max(0.01),
        rheo.fps / bare.fps.max(0.01)
    );
    if let Some((encoders, decoders)) = rheo.codecs {
        println!("rheo's encoders: {encoders}, decoders: {decoders}");
    }
    if let Some((took, held)) = rheo.stop_and_wait {
        println!(
            "stopAndWait -> complete file: {} ms; the file: {held}",
            took.as_millis()
        );
    }
}
