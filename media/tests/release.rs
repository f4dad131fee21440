//! release(): threads, sockets and GStreamer objects return to baseline.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use gst::prelude::*;
use rheo_media::*;

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One full session: pipeline, loopback endpoint + passthrough, negotiation, media, release.
/// Returns weak refs to the pipeline and to the endpoint's bin to check they are finalized.
fn session(i: usize) -> (gst::glib::WeakRef<gst::Pipeline>, usize, usize) {
    let log = EventLog::new();
    let p =
        MediaPipeline::new(&format!("rel{i}"), log.sink(), common::loopback_settings()).unwrap();
    let ep = WebRtcEndpoint::create(&p, "ep", WebRtcOptions::default()).unwrap();
    let pass = PassThrough::create(&p, "pass").unwrap();
    ep.connect(&pass, MediaKind::Video).unwrap();
    pass.connect(&ep, MediaKind::Video).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff102030).with_audio()).unwrap());
    let (pump, _) = negotiate(&peer, &ep, &log);
    assert!(
        peer.wait_frames(10, Duration::from_secs(20)),
        "session {i}: no media"
    );
    let elements_while_running = p.gst_pipeline().iterate_recurse().into_iter().count();
    let threads_while_running = thread_count();
    drop(pump);
    // Element release empties the pipeline.
    pass.release();
    ep.release();
    ep.release(); // idempotent
    assert_eq!(
        p.gst_pipeline().children().len(),
        0,
        "elements left in the pipeline after release"
    );
    let weak = p.gst_pipeline().downgrade();
    p.release();
    p.release(); // idempotent
    drop(peer);
    (weak, elements_while_running, threads_while_running)
}

#[test]
fn release_returns_threads_sockets_and_objects_to_baseline() {
    init().unwrap();
    // Warm up GStreamer's global pools, plugin loading and the DTLS certificate.
    let (w, _, _) = session(0);
    assert!(
        wait_until(Duration::from_secs(10), || w.upgrade().is_none()),
        "warm-up pipeline leaked"
    );
    let base_threads = thread_count();
    let base_fds = fd_count();
    let mut peak_threads = 0;
    for i in 1..=3 {
        let (weak, n, t) = session(i);
        peak_threads = peak_threads.max(t);
        assert!(n > 10, "session {i} had only {n} elements");
        assert!(
            wait_until(Duration::from_secs(10), || weak.upgrade().is_none()),
            "session {i}: the gst::Pipeline was not finalized after release (leaked reference)"
        );
    }
    let ok_threads = wait_until(Duration::from_secs(20), || thread_count() <= base_threads);
    let ok_fds = wait_until(Duration::from_secs(10), || fd_count() <= base_fds);
    eprintln!(
        "threads: baseline {base_threads}, after release {} (peak during sessions {peak_threads}); fds: baseline {base_fds}, after {}",
        thread_count(),
        fd_count()
    );
    assert!(
        ok_threads,
        "threads did not return to baseline {base_threads}: {}",
        thread_count()
    );
    assert!(
        ok_fds,
        "fds did not return to baseline {base_fds}: {}",
        fd_count()
    );
}
