//! Benchmark (not a test): a Composite of 4 participants. Each sends the face photo as
//! 640x480@30 VP8 and a tone as Opus; Rheo decodes the 4 inputs, lays them out in an 800x600@15
//! grid, encodes it once as VP8 for everyone, and mixes each participant's audio from the other
//! three. Beside it, in the same run, `gst-launch-1.0` does the same media work bare: 4 RTP
//! inputs decoded into a `compositor`, one VP8 encoder fanned out with `tee`, 4 mix-minus
//! `audiomixer`s and Opus encoders (its inputs sent by another gst-launch process, not measured).
//!
//! cargo build --release --workspace && cargo build --release --examples
//! ./target/release/examples/composite_cpu 10

#[path = "../tests/common/mod.rs"]
mod common;
mod release_server;

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Client;
use release_server::{cpu_ticks, free_port, stop, ReleaseServer};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

const PARTICIPANTS: usize = 4;
const WAIT: Duration = Duration::from_secs(30);

/// CPU % of one core of `pid` over `secs`.
fn cpu_percent(pid: u32, secs: u64) -> f64 {
    let (t0, start) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    (cpu_ticks(pid) - t0) as f64 / 100.0 / start.elapsed().as_secs_f64() * 100.0
}

/// Rheo's CPU, threads and the grid's frame rate at one participant.
async fn rheo(root: &std::path::Path, secs: u64) -> (f64, usize, f64) {
    let server = ReleaseServer::start(root);
    let mut c = Client::connect(server.addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let hub = c
        .create(
            "Composite",
            json!({"mediaPipeline": p, "width": 800, "height": 600, "framerate": 15}),
        )
        .await;
    let face = common::face_image();
    let mut peers = Vec::new();
    for _ in 0..PARTICIPANTS {
        let w = c
            .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
            .await;
        let port = c.create("HubPort", json!({"hub": hub})).await;
        c.invoke(&w, "connect", json!({"sink": port})).await;
        c.invoke(&port, "connect", json!({"sink": w})).await;
        let peer = Arc::new(
            TestPeer::new(PeerConfig::image(face.to_str().unwrap()).with_audio()).unwrap(),
        );
        c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(15, WAIT))
            .await;
        peers.push(peer);
    }
    let pid = server.pid();
    let first = peers[0].clone();
    tokio::task::spawn_blocking(move || {
        first.wait_frames(first.frames_received() + 30, WAIT);
        let (f0, start) = (first.frames_received(), Instant::now());
        let cpu = cpu_percent(pid, secs);
        let fps = (first.frames_received() - f0) as f64 / start.elapsed().as_secs_f64();
        (cpu, threads(pid), fps)
    })
    .await
    .unwrap()
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

fn gst_launch(description: &str) -> Child {
    Command::new("gst-launch-1.0")
        .arg("-q")
        .args(description.split_whitespace())
        .spawn()
        .expect("gst-launch-1.0 runs")
}

/// The bare pipeline's CPU and threads.
fn bare(secs: u64) -> (f64, usize) {
    let face = common::face_image();
    let ports: Vec<(u16, u16)> = (0..PARTICIPANTS)
        .map(|_| (free_port(), free_port()))
        .collect();
    let sink = free_port();
    let mut mixer = String::from("compositor name=comp background=black latency=100000000 ");
    for i in 0..PARTICIPANTS {
        let (x, y) = ((i % 2) * 400, (i / 2) * 300);
        mixer.push_str(&format!(
            "sink_{i}::xpos={x} sink_{i}::ypos={y} sink_{i}::width=400 sink_{i}::height=300 \
             sink_{i}::sizing-policy=keep-aspect-ratio "
        ));
    }
    mixer.push_str(
        "! video/x-raw,width=800,height=600,framerate=15/1 ! videoconvert \
         ! vp8enc deadline=1 cpu-used=8 threads=1 end-usage=cbr target-bitrate=1500000 \
         keyframe-max-dist=60 error-resilient=partitions lag-in-frames=0 \
         ! rtpvp8pay ! tee name=vt ",
    );
    for (i, (video, audio)) in ports.iter().enumerate() {
        mixer.push_str(&format!(
            "vt. ! queue ! udpsink host=127.0.0.1 port={sink} sync=false \
             udpsrc port={video} caps=application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96 \
             ! rtpjitterbuffer latency=100 ! rtpvp8depay ! vp8dec threads=1 ! videoconvert ! comp.sink_{i} \
             udpsrc port={audio} caps=application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111 \
             ! rtpjitterbuffer latency=100 ! rtpopusdepay ! opusdec ! audioconvert ! audioresample \
             ! audio/x-raw,format=S16LE,rate=48000,channels=2 ! tee name=at{i} \
             audiomixer name=am{i} latency=100000000 ! audio/x-raw,rate=48000 ! opusenc frame-size=20 \
             ! rtpopuspay ! udpsink host=127.0.0.1 port={sink} sync=false "
        ));
    }
    for i in 0..PARTICIPANTS {
        for j in (0..PARTICIPANTS).filter(|j| *j != i) {
            mixer.push_str(&format!("at{i}. ! queue ! am{j}. "));
        }
    }
    let mut sender = String::new();
    for (video, audio) in &ports {
        sender.push_str(&format!(
            "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=640,height=480 \
             ! imagefreeze is-live=true ! video/x-raw,framerate=30/1 ! videoconvert \
             ! vp8enc deadline=1 cpu-used=8 threads=1 end-usage=cbr target-bitrate=1500000 \
             keyframe-max-dist=60 lag-in-frames=0 ! rtpvp8pay pt=96 mtu=1200 \
             ! udpsink host=127.0.0.1 port={video} \
             audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc \
             ! rtpopuspay pt=111 ! udpsink host=127.0.0.1 port={audio} ",
            face.display()
        ));
    }
    let mut mixing = gst_launch(&mixer);
    std::thread::sleep(Duration::from_millis(500));
    let mut sending = gst_launch(&sender);
    std::thread::sleep(Duration::from_secs(3));
    let cpu = cpu_percent(mixing.id(), secs);
    let threads = threads(mixing.id());
    stop(&mut sending);
    stop(&mut mixing);
    (cpu, threads)
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    gst::init().unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (rheo_cpu, rheo_threads, fps) = rt.block_on(rheo(&root, secs));
    let (bare_cpu, bare_threads) = bare(secs);
    println!(
        "Composite of {PARTICIPANTS} (640x480@30 VP8 + Opus in, 800x600@15 grid out), {secs} s:"
    );
    println!("| | CPU (% of one core) | threads | grid fps |");
    println!("|---|---|---|---|");
    println!("| Rheo | {rheo_cpu:.1} | {rheo_threads} | {fps:.1} |");
    println!("| bare gst-launch | {bare_cpu:.1} | {bare_threads} | 15 (set) |");
    println!("ratio: {:.2}", rheo_cpu / bare_cpu);
}
