//! Server-side CPU of a 10 s 640x480@30 VP8+Opus loopback, with the test peer in a child
//! process so getrusage(RUSAGE_SELF) counts the media server only. Reports numbers; asserts only
//! that media flowed (speed is never asserted).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rheo_pipelines::*;

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

fn unesc(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn rusage(who: i32) -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The peer side, run in a child process by `server_cpu_of_10s_loopback`.
#[test]
#[ignore = "child-process entry point of server_cpu_of_10s_loopback"]
fn child_peer_main() {
    assert!(
        std::env::var("RHEO_PEER_CHILD").is_ok(),
        "run only as the child peer"
    );
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3080c0).with_audio()).unwrap());
    println!("RHEO:OFFER {}", esc(&peer.create_offer().unwrap()));
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin()
            .lock()
            .lines()
            .map_while(std::result::Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(a) = line.strip_prefix("ANSWER ") {
                    peer.set_answer(&unesc(a)).unwrap();
                } else if let Some(c) = line.strip_prefix("CAND ") {
                    let (m, cand) = c.split_once(' ').unwrap();
                    peer.add_remote_candidate(m.parse().unwrap(), cand);
                } else if line == "STOP" {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        for (m, c) in peer.take_local_candidates() {
            println!("RHEO:CAND {m} {c}");
        }
        println!("RHEO:FRAMES {}", peer.frames_received());
        std::io::stdout().flush().unwrap();
    }
}

#[test]
fn server_cpu_of_10s_loopback() {
    init().unwrap();
    let log = EventLog::new();
    let p = MediaPipeline::new("cpu", log.sink(), WebRtcSettings::default()).unwrap();
    let ep = p
        .create_webrtc_endpoint("ep", WebRtcOptions::default())
        .unwrap();
    ep.connect(&ep, MediaKind::Video).unwrap();
    ep.connect(&ep, MediaKind::Audio).unwrap();
    let w = ep.webrtc().unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_peer_main",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RHEO_PEER_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            // libtest may print "test child_peer_main ... " before our first line.
            if let Some(i) = line.find("RHEO:") {
                if tx.send(line[i + 5..].to_string()).is_err() {
                    break;
                }
            }
        }
    });

    let mut frames = 0u64;
    let mut cursor = 0usize;
    let mut t_offer = None;
    let mut measure: Option<(Instant, f64, u64)> = None;
    let mut result = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
            if let Some(o) = line.strip_prefix("OFFER ") {
                t_offer = Some(Instant::now());
                let answer = w.process_offer(&unesc(o)).unwrap();
                writeln!(stdin, "ANSWER {}", esc(&answer)).unwrap();
                w.gather_candidates().unwrap();
            } else if let Some(c) = line.strip_prefix("CAND ") {
                let (m, cand) = c.split_once(' ').unwrap();
                w.add_ice_candidate(cand, "", m.parse().unwrap()).unwrap();
            } else if let Some(n) = line.strip_prefix("FRAMES ") {
                frames = n.parse().unwrap();
            }
        }
        let events = log.snapshot();
        for e in &events[cursor..] {
            if let MediaEvent::IceCandidateFound {
                candidate,
                sdp_mline_index,
                ..
            } = &e.event
            {
                writeln!(stdin, "CAND {sdp_mline_index} {candidate}").unwrap();
            }
        }
        cursor = events.len();
        match measure {
            None if frames >= 30 => {
                measure = Some((Instant::now(), rusage(libc::RUSAGE_SELF), frames))
            }
            Some((t0, cpu0, f0)) if t0.elapsed() >= Duration::from_secs(10) => {
                let wall = t0.elapsed().as_secs_f64();
                result = Some((
                    (rusage(libc::RUSAGE_SELF) - cpu0) / wall * 100.0,
                    (frames - f0) as f64 / wall,
                    wall,
                ));
                break;
            }
            _ => {}
        }
    }
    let _ = writeln!(stdin, "STOP");
    drop(stdin);
    let end = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
        }
        let _ = rx.recv_timeout(Duration::from_millis(50));
    }
    let _ = reader.join();
    let peer_cpu = rusage(libc::RUSAGE_CHILDREN);
    p.release();
    let (cpu, fps, wall) = result.unwrap_or_else(|| panic!("loopback media never reached 30 frames at the peer (frames {frames}, offer {t_offer:?})"));
    eprintln!(
        "SERVER CPU (VP8+Opus loopback, 640x480@30, peer in a child process): {cpu:.1}% of one core over {wall:.1} s; \
         peer received {fps:.1} fps; peer process total CPU {peer_cpu:.1} s; offer→{frames} frames since {:?}",
        t_offer.map(|t| t.elapsed())
    );
    assert!(fps > 0.0, "no media during the measurement");
}
