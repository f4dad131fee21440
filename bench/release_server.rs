//! What the server benchmarks share: the release `rheo` as a child process on a free loopback
//! port (killed when dropped), and a process's CPU time from /proc.
#![allow(dead_code)] // each benchmark uses part of it

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `target/release/rheo` on 127.0.0.1, ICE on loopback, warnings only.
pub struct ReleaseServer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ReleaseServer {
    /// Starts it and waits until it accepts connections.
    pub fn start(root: &std::path::Path) -> ReleaseServer {
        let port = free_port();
        let child = Command::new(root.join("target/release/rheo"))
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--network-interfaces",
                "lo",
            ])
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("target/release/rheo runs (cargo build --release first)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "rheo did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        ReleaseServer { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// SIGTERM, then waits for the exit.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// User + system CPU of `pid`, in clock ticks (1/100 s).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}
