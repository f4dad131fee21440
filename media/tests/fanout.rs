//! The one-to-many path with webrtcbin peers: one presenter's packets reach every viewer from
//! one shared payloader, in order, with each viewer's own sequence numbers continuous; a viewer
//! that stops reading costs the others nothing; a late viewer gets a keyframe; a switch of
//! source keeps every viewer's numbering continuous.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rheo_media::*;

const T: Duration = Duration::from_secs(20);
const RED: u32 = 0xffd02020;
const GREEN: u32 = 0xff20c040;

/// Frame codes modulo this.
const CODES: u32 = 1 << peer::FRAME_CODE_BITS;

fn viewer(
    pipeline: &MediaPipeline,
    log: &Arc<EventLog>,
    name: &str,
) -> (Arc<TestPeer>, Element, Pump) {
    let endpoint = WebRtcEndpoint::create(pipeline, name, WebRtcOptions::default()).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff000000)).unwrap());
    let (pump, _) = negotiate(&peer, &endpoint, log);
    (peer, endpoint, pump)
}

/// The frames `presenter` sent between `from` and `to`.
fn frames_sent_between(presenter: &TestPeer, from: Instant, to: Instant) -> usize {
    (0..CODES)
        .filter_map(|code| presenter.frame_sent_at(code))
        .filter(|at| *at >= from && *at < to)
        .count()
}

/// A receiver's RTP sequence numbers went on by one each packet, but for a few packets lost
/// for good on a loaded machine (each a forward step of two to four): a sender renumbering
/// wrongly, at a start or a switch, jumps by anything.
fn continuous(jumps: &[u16]) -> bool {
    jumps.len() <= 3 && jumps.iter().all(|j| (2..=4).contains(j))
}

/// Each step between consecutive frame codes goes forward by at least one frame.
fn in_order(codes: &[u32]) -> bool {
    codes
        .windows(2)
        .all(|w| (1..CODES / 2).contains(&(w[1].wrapping_sub(w[0]) % CODES)))
}

#[test]
fn every_viewer_gets_the_presenters_frames_in_order_from_one_payloader() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("fanout", log.sink(), loopback_settings()).unwrap();
    let presenter_endpoint =
        WebRtcEndpoint::create(&pipeline, "presenter", WebRtcOptions::default()).unwrap();
    let presenter = Arc::new(TestPeer::new(PeerConfig::color(RED).with_frame_code()).unwrap());
    let (_presenter_pump, _) = negotiate(&presenter, &presenter_endpoint, &log);
    let viewers: Vec<_> = (0..4)
        .map(|i| viewer(&pipeline, &log, &format!("viewer{i}")))
        .collect();
    for (_, endpoint, _) in &viewers {
        presenter_endpoint
            .connect(endpoint, MediaKind::Video)
            .unwrap();
    }
    for (peer, _, _) in &viewers {
        assert!(peer.wait_frames(10, T), "a viewer got no frames");
    }
    assert_eq!(pipeline.packetizer_count(), 1, "one payloader for all");
    assert_eq!(pipeline.encoder_count(), 0);
    let from = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let to = Instant::now();
    let sent = frames_sent_between(&presenter, from, to);
    assert!(sent > 60, "the presenter sent {sent} frames in 4 s");
    for (i, (peer, _, _)) in viewers.iter().enumerate() {
        let codes: Vec<u32> = peer
            .frame_arrivals(from)
            .into_iter()
            .filter(|(_, at)| *at < to)
            .map(|(code, _)| code)
            .collect();
        assert!(
            in_order(&codes),
            "viewer {i}: frames out of order: {codes:?}"
        );
        assert!(
            codes.len() * 10 >= sent * 9,
            "viewer {i} decoded {} of the {sent} frames sent",
            codes.len()
        );
        assert!(
            continuous(&peer.video_sequence_jumps()),
            "viewer {i}: RTP numbering broke: {:?}",
            peer.video_sequence_jumps()
        );
    }
    // The last viewer leaving stops the payloader.
    for (_, endpoint, _) in &viewers {
        presenter_endpoint
            .disconnect(endpoint, MediaKind::Video)
            .unwrap();
    }
    assert_eq!(pipeline.packetizer_count(), 0);
    pipeline.release();
}

#[test]
fn a_viewer_that_stops_reading_does_not_slow_the_others() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("stalled", log.sink(), loopback_settings()).unwrap();
    let presenter_endpoint =
        WebRtcEndpoint::create(&pipeline, "presenter", WebRtcOptions::default()).unwrap();
    let presenter = Arc::new(TestPeer::new(PeerConfig::color(RED).with_frame_code()).unwrap());
    let (_presenter_pump, _) = negotiate(&presenter, &presenter_endpoint, &log);
    let viewers: Vec<_> = (0..3)
        .map(|i| viewer(&pipeline, &log, &format!("viewer{i}")))
        .collect();
    for (_, endpoint, _) in &viewers {
        presenter_endpoint
            .connect(endpoint, MediaKind::Video)
            .unwrap();
    }
    for (peer, _, _) in &viewers {
        assert!(peer.wait_frames(10, T), "a viewer got no frames");
    }
    viewers[0].0.stop_reading();
    // What was already past its sockets still plays out.
    std::thread::sleep(Duration::from_secs(1));
    let stalled_at = viewers[0].0.frames_received();
    // The stalled viewer's packets pile up in its socket and are dropped there; the server's
    // packets to it go on being sent and never wait.
    let from = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let to = Instant::now();
    let sent = frames_sent_between(&presenter, from, to);
    assert!(sent > 60, "the presenter sent {sent} frames in 4 s");
    for (i, (peer, _, _)) in viewers.iter().enumerate().skip(1) {
        let got = peer
            .frame_arrivals(from)
            .into_iter()
            .filter(|(_, at)| *at < to)
            .count();
        assert!(
            got * 10 >= sent * 9,
            "viewer {i} decoded {got} of the {sent} frames sent beside a stalled viewer"
        );
    }
    assert!(
        viewers[0].0.frames_received() <= stalled_at + 2,
        "the stalled viewer stopped reading"
    );
    pipeline.release();
}

#[test]
fn a_late_viewer_gets_a_keyframe_at_once() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("late", log.sink(), loopback_settings()).unwrap();
    let presenter_endpoint =
        WebRtcEndpoint::create(&pipeline, "presenter", WebRtcOptions::default()).unwrap();
    // Keyframes only when asked for: the encoder's own interval is 100 s.
    let presenter = Arc::new(
        TestPeer::new(
            PeerConfig::color(RED)
                .with_frame_code()
                .with_keyframe_interval(3000),
        )
        .unwrap(),
    );
    let (_presenter_pump, _) = negotiate(&presenter, &presenter_endpoint, &log);
    let (first, first_endpoint, _first_pump) = viewer(&pipeline, &log, "first");
    presenter_endpoint
        .connect(&first_endpoint, MediaKind::Video)
        .unwrap();
    assert!(first.wait_frames(10, T), "the first viewer got no frames");
    std::thread::sleep(Duration::from_secs(3));
    let (late, late_endpoint, _late_pump) = viewer(&pipeline, &log, "late");
    let joined = Instant::now();
    presenter_endpoint
        .connect(&late_endpoint, MediaKind::Video)
        .unwrap();
    assert!(
        late.wait_frames(10, Duration::from_secs(10)),
        "the late viewer decoded {} frames in 10 s: no keyframe reached it",
        late.frames_received()
    );
    let first_frame = late.first_frame_at().unwrap();
    assert!(first_frame >= joined);
    // The presenter's stream to the first viewer went on meanwhile.
    let before = first.frames_received();
    assert!(first.wait_frames(before + 10, T));
    pipeline.release();
}

#[test]
fn a_switch_of_source_keeps_each_viewers_numbering_continuous() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("switch", log.sink(), loopback_settings()).unwrap();
    let hub = Hub::create(&pipeline, "switch/hub", HubKind::DispatcherOneToMany).unwrap();
    let mut presenters = Vec::new();
    for (name, colour) in [("a", RED), ("b", GREEN)] {
        let endpoint = WebRtcEndpoint::create(&pipeline, name, WebRtcOptions::default()).unwrap();
        let port = hub.create_port(&format!("switch/hub/{name}")).unwrap();
        endpoint.connect(&port, MediaKind::Video).unwrap();
        let peer = Arc::new(TestPeer::new(PeerConfig::color(colour).with_frame_code()).unwrap());
        let (pump, _) = negotiate(&peer, &endpoint, &log);
        presenters.push((peer, port, pump));
    }
    let (viewer_peer, viewer_endpoint, _viewer_pump) = viewer(&pipeline, &log, "viewer");
    let viewer_port = hub.create_port("switch/hub/viewer").unwrap();
    viewer_port
        .connect(&viewer_endpoint, MediaKind::Video)
        .unwrap();
    let is = |argb: u32| {
        move |f: &peer::Frame| {
            let want = [(argb >> 16) & 0xff, (argb >> 8) & 0xff, argb & 0xff].map(|c| c as f64);
            let got = f.mean_rgb(0, 100, f.width, f.height - 100);
            (0..3).all(|c| (got[c] - want[c]).abs() < 40.0)
        }
    };
    hub.set_source(presenters[0].1.id()).unwrap();
    assert!(
        viewer_peer.wait_frame_where(T, is(RED)).is_some(),
        "the viewer sees a"
    );
    for _ in 0..2 {
        hub.set_source(presenters[1].1.id()).unwrap();
        assert!(
            viewer_peer.wait_frame_where(T, is(GREEN)).is_some(),
            "switched to b"
        );
        hub.set_source(presenters[0].1.id()).unwrap();
        assert!(
            viewer_peer.wait_frame_where(T, is(RED)).is_some(),
            "back to a"
        );
    }
    let frames = viewer_peer.frames_received();
    assert!(viewer_peer.wait_frames(frames + 15, T));
    assert!(
        continuous(&viewer_peer.video_sequence_jumps()),
        "the viewer's RTP numbering broke across the switches: {:?}",
        viewer_peer.video_sequence_jumps()
    );
    assert_eq!((pipeline.decoder_count(), pipeline.encoder_count()), (0, 0));
    pipeline.release();
}
