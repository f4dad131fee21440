//! What the one-to-many benchmarks share: N receive-only webrtcbin viewers measured against a
//! server process (its CPU, threads and memory, and the packets each viewer got).
#![allow(dead_code)] // each benchmark uses part of it

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, Client};
use crate::release_server::cpu_ticks;
use rheo_media::test_peer::{PeerConfig, TestPeer};

pub const WAIT: Duration = Duration::from_secs(30);

pub struct Figures {
    pub cpu: f64,
    /// Packets per second per viewer: the least and the mean.
    pub packets: (f64, f64),
    /// Threads and resident memory (KiB) of the server: before the viewers joined, and with them.
    pub threads: (u64, u64),
    pub rss_kib: (u64, u64),
}

impl Figures {
    /// Microseconds of server CPU per packet a viewer received.
    pub fn micros_per_packet(&self, viewers: usize) -> f64 {
        self.cpu / 100.0 * 1e6 / (self.packets.1 * viewers as f64)
    }
}

/// A field of /proc/<pid>/status, in its own unit.
pub fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

pub fn threads_and_rss(pid: u32) -> (u64, u64) {
    (status_field(pid, "Threads:"), status_field(pid, "VmRSS:"))
}

pub fn presenter_peer() -> Arc<TestPeer> {
    let face = common::face_image();
    Arc::new(TestPeer::new(PeerConfig::image(face.to_str().unwrap())).unwrap())
}

/// CPU of `pid` and the viewers' packet rates over `secs`; `idle`: the server's threads and
/// RSS before the viewers joined.
pub fn measure(pid: u32, viewers: &[Arc<TestPeer>], secs: u64, idle: (u64, u64)) -> Figures {
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
    let now = threads_and_rss(pid);
    Figures {
        cpu,
        packets: (
            rates.iter().copied().fold(f64::INFINITY, f64::min),
            rates.iter().sum::<f64>() / rates.len() as f64,
        ),
        threads: (idle.0, now.0),
        rss_kib: (idle.1, now.1),
    }
}

pub async fn connected(c: &mut Client, w: &str, peer: &Arc<TestPeer>) {
    c.negotiate_with_peer(w, peer, |p| {
        let deadline = Instant::now() + WAIT;
        while p.selected_pair().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        p.selected_pair().is_some()
    })
    .await;
}

/// The machine's one-minute load average, as /proc/loadavg gives it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .next()
        .unwrap_or("?")
        .to_owned()
}
