//! Negotiating offers with many m-sections must not grow the server: 200 negotiations at the
//! default m-section limit (16), each on a new pipeline released after it, through the real
//! protocol. Two measures: the bytes malloc holds for the program (a leak shows as growth), and
//! resident memory after trimming (what an operator sees; it also counts what the allocator and
//! the thread stack cache retain, so its bound is looser). GLib's slice allocator is switched to
//! plain malloc, as its magazines would otherwise count as held. A file of its own, so that no
//! other test shares the process whose memory it reads.

mod common;

use serde_json::{json, Value};

use common::{start_server, Client};

const M_SECTIONS: usize = 16;
const WARM_UP: usize = 40;
const NEGOTIATIONS: usize = 200;
/// Measured here: before the fixes (a fresh SSRC and its never-freed quark per sent m-line, no
/// m-section limit) 3.5 KiB of heap and 3.9 KiB of RSS per negotiation; then 0.7–1.0 KiB of heap
/// (allocator retention: heaptrack finds 40 bytes per negotiation still allocated, the SSRC
/// pool's quarks) and 0–3 KiB of RSS. On 2026-12-08, 13 runs gave 0.85–2.12 KiB of heap, with
/// and without WHIP: the bound sits between that spread and the 3.5 KiB leak it is there for.
const MAX_RSS_GROWTH_PER_NEGOTIATION_KIB: f64 = 8.0;
const MAX_HEAP_GROWTH_PER_NEGOTIATION_KIB: f64 = 3.0;

/// A browser-like offer: audio and video m-sections alternating, each with its own SSRC (new
/// ones every time, as browsers draw them), all in one BUNDLE group.
fn offer(n: usize) -> String {
    let mids: Vec<String> = (0..M_SECTIONS).map(|m| m.to_string()).collect();
    let mut sdp = format!(
        "v=0\r\no=- {n} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE {}\r\n\
         a=msid-semantic: WMS\r\n",
        mids.join(" ")
    );
    for m in 0..M_SECTIONS {
        let ssrc = 1_000_000 + (n * M_SECTIONS + m) as u32 * 7919;
        let (kind, pt, rtpmap) = if m % 2 == 0 {
            ("audio", 111, "opus/48000/2")
        } else {
            ("video", 96, "VP8/90000")
        };
        sdp += &format!(
            "m={kind} 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
             a=mid:{m}\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
             a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
             a=setup:actpass\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:{pt} {rtpmap}\r\n\
             a=ssrc:{ssrc} cname:rheo-memory-test\r\n"
        );
    }
    sdp
}

async fn negotiate(c: &mut Client, n: usize) {
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let answer = c
        .invoke(&w, "processOffer", json!({"offer": offer(n)}))
        .await;
    let sections = answer["value"].as_str().unwrap().matches("\r\nm=").count();
    assert_eq!(sections, M_SECTIONS, "{answer}");
    c.invoke(&w, "gatherCandidates", Value::Null).await;
    c.ok("release", json!({"object": p})).await;
}

/// `(heap in use, resident memory)` in KiB, after returning free heap pages to the system.
fn settled_memory_kib() -> (u64, u64) {
    // SAFETY: malloc_trim only releases free memory and mallinfo2 only reads counters; both are
    // safe at any time.
    let heap = unsafe {
        libc::malloc_trim(0);
        let info = libc::mallinfo2();
        (info.uordblks + info.hblkhd) as u64 / 1024
    };
    (heap, rheo::process_stats::rss_kib())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_negotiations_at_the_m_section_limit_keep_no_memory() {
    if std::env::var_os("G_SLICE").is_none() {
        // GLib reads G_SLICE when it is loaded: measure in a process started with it.
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "two_hundred_negotiations_at_the_m_section_limit_keep_no_memory",
                "--nocapture",
            ])
            .env("G_SLICE", "always-malloc")
            // mallinfo2 counts the main arena only: keep every thread's allocations there.
            .env("MALLOC_ARENA_MAX", "1")
            .status()
            .unwrap();
        assert!(status.success(), "{status}");
        return;
    }
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    for n in 0..WARM_UP {
        negotiate(&mut c, n).await;
    }
    let fds_before = rheo::process_stats::open_fds();
    let (heap_before, rss_before) = settled_memory_kib();
    for n in WARM_UP..WARM_UP + NEGOTIATIONS {
        negotiate(&mut c, n).await;
    }
    // Releases finish on the server's own threads; let the last ones settle.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (heap_after, rss_after) = settled_memory_kib();
    let per_negotiation =
        |before: u64, after: u64| after.saturating_sub(before) as f64 / NEGOTIATIONS as f64;
    let heap = per_negotiation(heap_before, heap_after);
    let rss = per_negotiation(rss_before, rss_after);
    eprintln!(
        "over {NEGOTIATIONS} negotiations of {M_SECTIONS} m-sections: heap in use \
         {heap_before} -> {heap_after} KiB ({heap:.2} KiB each), RSS {rss_before} -> \
         {rss_after} KiB ({rss:.2} KiB each)"
    );
    assert!(
        heap < MAX_HEAP_GROWTH_PER_NEGOTIATION_KIB,
        "{heap:.2} KiB of heap kept per negotiation"
    );
    assert!(
        rss < MAX_RSS_GROWTH_PER_NEGOTIATION_KIB,
        "{rss:.2} KiB of RSS kept per negotiation"
    );
    let fds_after = rheo::process_stats::open_fds();
    assert!(
        fds_after <= fds_before + 2,
        "descriptors {fds_before} -> {fds_after}"
    );
}
