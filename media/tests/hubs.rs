//! Hubs with webrtcbin peers: Dispatcher and DispatcherOneToMany route whole streams between
//! HubPorts, switch live, and never decode or encode.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::peer::Frame;
use common::*;
use rheo_media::*;

const T: Duration = Duration::from_secs(20);

/// A participant: a browser (a colour), its WebRtcEndpoint, and its port of the hub, connected
/// both ways as Kurento's hub tutorials do.
struct Participant {
    peer: Arc<TestPeer>,
    port: Element,
    _pump: Pump,
}

const RED: u32 = 0xffd02020;
const GREEN: u32 = 0xff20c040;
const BLUE: u32 = 0xff2040d0;

fn rgb(argb: u32) -> [f64; 3] {
    [(argb >> 16) & 0xff, (argb >> 8) & 0xff, argb & 0xff].map(|c| c as f64)
}

/// A participant sending video only, frame-coded: each picture carries its number in squares
/// along the top.
fn join(
    pipeline: &MediaPipeline,
    hub: &Hub,
    log: &Arc<EventLog>,
    name: &str,
    argb: u32,
) -> Participant {
    let config = PeerConfig::color(argb).with_frame_code();
    join_with(pipeline, hub, log, name, config, &[MediaKind::Video])
}

/// A browser with `config` on its own endpoint, connected both ways to a new port of `hub` for
/// each of `media`.
fn join_with(
    pipeline: &MediaPipeline,
    hub: &Hub,
    log: &Arc<EventLog>,
    name: &str,
    config: PeerConfig,
    media: &[MediaKind],
) -> Participant {
    let endpoint = WebRtcEndpoint::create(pipeline, name, WebRtcOptions::default()).unwrap();
    let port = hub
        .create_port(&format!("{}/{name}-port", hub.id()))
        .unwrap();
    for &kind in media {
        endpoint.connect(&port, kind).unwrap();
        port.connect(&endpoint, kind).unwrap();
    }
    let peer = Arc::new(TestPeer::new(config).unwrap());
    let (pump, _) = negotiate(&peer, &endpoint, log);
    Participant {
        peer,
        port,
        _pump: pump,
    }
}

/// Whether a picture is of `argb`'s colour (below the frame-code squares).
fn of_colour(f: &Frame, argb: u32) -> bool {
    let want = rgb(argb);
    let got = f.mean_rgb(0, 100, f.width, f.height - 100);
    (0..3).all(|c| (got[c] - want[c]).abs() < 40.0)
}

/// Waits until `who` receives pictures of `argb`'s colour.
fn sees(who: &Participant, argb: u32) -> bool {
    who.peer
        .wait_frame_where(T, |f| of_colour(f, argb))
        .is_some()
}

/// The number of the last frame `sender` sent before `at`.
fn last_sent_before(sender: &TestPeer, at: std::time::Instant) -> Option<u32> {
    (0..1u32 << peer::FRAME_CODE_BITS)
        .filter_map(|code| Some((code, sender.frame_sent_at(code)?)))
        .filter(|(_, sent)| *sent <= at)
        .max_by_key(|(_, sent)| *sent)
        .map(|(code, _)| code)
}

#[test]
fn a_dispatcher_routes_ports_to_ports_and_switches_live_without_transcoding() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("dispatcher", log.sink(), loopback_settings()).unwrap();
    let hub = Hub::create(&pipeline, "dispatcher/hub", HubKind::Dispatcher).unwrap();
    let a = join(&pipeline, &hub, &log, "a", RED);
    let b = join(&pipeline, &hub, &log, "b", GREEN);
    let c = join(&pipeline, &hub, &log, "c", BLUE);
    // A and B see each other; C watches A.
    hub.connect(a.port.id(), b.port.id()).unwrap();
    hub.connect(b.port.id(), a.port.id()).unwrap();
    hub.connect(a.port.id(), c.port.id()).unwrap();
    assert!(sees(&b, RED), "b sees a");
    assert!(sees(&a, GREEN), "a sees b");
    assert!(sees(&c, RED), "c sees a");
    // C switches to B, live.
    hub.connect(b.port.id(), c.port.id()).unwrap();
    assert!(sees(&c, GREEN), "c switched to b");
    assert_eq!((pipeline.decoder_count(), pipeline.encoder_count()), (0, 0));
    // Bad input: a port of another hub, an unknown port, an operation of another hub kind.
    let other = Hub::create(&pipeline, "dispatcher/other", HubKind::Dispatcher).unwrap();
    let stranger = other.create_port("dispatcher/other/x").unwrap();
    let e = hub.connect(stranger.id(), a.port.id()).unwrap_err();
    assert!(
        e.message.contains("not a port of this hub"),
        "{}",
        e.message
    );
    assert!(hub.connect("nope", a.port.id()).is_err());
    assert!(hub.set_source(a.port.id()).is_err());
    // A leaves: B and C lose their source, and nothing breaks.
    a.port.release();
    hub.connect(c.port.id(), b.port.id()).unwrap();
    assert!(sees(&b, BLUE), "b sees c after a left");
    pipeline.release();
}

#[test]
fn a_one_to_many_dispatcher_reaches_late_viewers_and_switches_presenters() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("one-to-many", log.sink(), loopback_settings()).unwrap();
    let hub = Hub::create(&pipeline, "one-to-many/hub", HubKind::DispatcherOneToMany).unwrap();
    let a = join(&pipeline, &hub, &log, "a", RED);
    let b = join(&pipeline, &hub, &log, "b", GREEN);
    hub.set_source(a.port.id()).unwrap();
    assert!(sees(&b, RED), "b sees the presenter a");
    // A viewer that joins later gets the presenter too.
    let c = join(&pipeline, &hub, &log, "c", BLUE);
    assert!(sees(&c, RED), "the late viewer c sees a");
    // B presents: everyone else switches, starting at a keyframe (asked for at once: the
    // peers' own keyframes come only every 2 s). Measured with the frame numbers: how long
    // until C decodes B's first frame, and how many of B's frames that skipped.
    let switched = std::time::Instant::now();
    let at_switch = last_sent_before(&b.peer, switched).expect("b has been sending");
    hub.set_source(b.port.id()).unwrap();
    let first = c
        .peer
        .wait_frame_where(T, |f| of_colour(f, GREEN))
        .expect("c switched to b");
    let reached = switched.elapsed();
    let first_code = first.frame_code().expect("a frame-coded picture");
    assert!(sees(&a, GREEN), "a sees b");
    // From then on only B's pictures, numbered in order.
    let from = c.peer.frames_received();
    assert!(c.peer.wait_frames(from + 30, T));
    let later = c.peer.last_frame().unwrap();
    assert!(of_colour(&later, GREEN), "no picture of a after the switch");
    let later_code = later.frame_code().unwrap();
    assert!(
        later_code.wrapping_sub(first_code) % (1 << peer::FRAME_CODE_BITS) >= 25,
        "b's frames in order: {first_code} then {later_code}"
    );
    println!(
        "the switch reached c in {reached:?}: b's frame {first_code}, {} frames after the one b \
         was sending at the switch",
        first_code.wrapping_sub(at_switch) % (1 << peer::FRAME_CODE_BITS)
    );
    assert_eq!((pipeline.decoder_count(), pipeline.encoder_count()), (0, 0));
    // A receive-only viewer (kurento-utils' WebRtcPeerRecvonly) gets the presenter too.
    let endpoint = WebRtcEndpoint::create(&pipeline, "d", WebRtcOptions::default()).unwrap();
    let port = hub.create_port("one-to-many/hub/d-port").unwrap();
    port.connect(&endpoint, MediaKind::Video).unwrap();
    let viewer = Arc::new(TestPeer::new(PeerConfig::receive_only()).unwrap());
    let (_pump, _) = negotiate(&viewer, &endpoint, &log);
    assert!(
        wait_until(T, || viewer.packets_received() > 100),
        "{} packets reached the receive-only viewer",
        viewer.packets_received()
    );
    hub.remove_source().unwrap();
    assert!(hub.connect(a.port.id(), b.port.id()).is_err());
    // A released hub takes its ports along and makes no more.
    hub.release();
    assert!(a.port.is_released() && c.port.is_released());
    assert!(hub.create_port("one-to-many/hub/late").is_err());
    pipeline.release();
}

/// A participant of a Composite sending video and audio.
fn join_mix(
    pipeline: &MediaPipeline,
    hub: &Hub,
    log: &Arc<EventLog>,
    name: &str,
    argb: u32,
) -> Participant {
    let config = PeerConfig::color(argb).with_audio();
    join_with(
        pipeline,
        hub,
        log,
        name,
        config,
        &[MediaKind::Audio, MediaKind::Video],
    )
}

fn near(got: [f64; 3], argb: u32) -> bool {
    let want = rgb(argb);
    (0..3).all(|c| (got[c] - want[c]).abs() < 45.0)
}

#[test]
fn a_composite_shows_every_input_in_its_cell_and_mixes_the_others_audio() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("composite", log.sink(), loopback_settings()).unwrap();
    let composite = HubKind::Composite {
        width: 800,
        height: 600,
        framerate: 15,
    };
    let hub = Hub::create(&pipeline, "composite/hub", composite).unwrap();
    let a = join_mix(&pipeline, &hub, &log, "a", RED);
    let b = join_mix(&pipeline, &hub, &log, "b", GREEN);
    // Two inputs: side by side, each 640x480 picture kept 4:3 in its 400x600 cell.
    let grid = |f: &Frame| {
        f.width == 800
            && near(f.mean_rgb(180, 280, 40, 40), RED)
            && near(f.mean_rgb(580, 280, 40, 40), GREEN)
            && near(f.mean_rgb(180, 20, 40, 40), 0xff000000)
    };
    assert!(
        a.peer.wait_frame_where(T, grid).is_some(),
        "a sees the grid"
    );
    assert!(
        b.peer.wait_frame_where(T, grid).is_some(),
        "b sees the grid"
    );
    assert!(
        a.peer.wait_audio(50, T) && b.peer.wait_audio(50, T),
        "each hears the other"
    );
    // One decoder per input and media; one VP8 encoder for the grid, one Opus encoder per
    // participant's mix.
    assert_eq!(pipeline.decoder_count(), 4);
    assert_eq!(pipeline.encoder_count(), 3);

    // A third joins: four cells (2x2), the third bottom left.
    let c = join_mix(&pipeline, &hub, &log, "c", BLUE);
    let four = |f: &Frame| {
        near(f.mean_rgb(180, 130, 40, 40), RED)
            && near(f.mean_rgb(580, 130, 40, 40), GREEN)
            && near(f.mean_rgb(180, 430, 40, 40), BLUE)
    };
    assert!(
        c.peer.wait_frame_where(T, four).is_some(),
        "c sees the 2x2 grid"
    );
    assert_eq!(pipeline.encoder_count(), 4, "still one video encoder");
    // A's browser stops sending (its tab froze): the mix goes on for the others.
    use gst::prelude::*;
    a.peer.pipeline().set_state(gst::State::Paused).unwrap();
    let before = b.peer.frames_received();
    assert!(
        b.peer.wait_frames(before + 30, T),
        "the grid still flows to b"
    );
    // A leaves: the others go on, in two cells again.
    a.port.release();
    let two = |f: &Frame| {
        near(f.mean_rgb(180, 280, 40, 40), GREEN) && near(f.mean_rgb(580, 280, 40, 40), BLUE)
    };
    assert!(b.peer.wait_frame_where(T, two).is_some(), "b sees b and c");
    hub.release();
    assert!(b.port.is_released() && c.port.is_released());
    pipeline.release();
}

#[test]
fn alpha_blending_draws_the_master_full_size_and_the_others_where_asked() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("alpha", log.sink(), loopback_settings()).unwrap();
    let hub = Hub::create(&pipeline, "alpha/hub", HubKind::AlphaBlending).unwrap();
    let a = join_mix(&pipeline, &hub, &log, "a", RED);
    let b = join_mix(&pipeline, &hub, &log, "b", GREEN);
    // Once media flows, the master's size is known and the picture takes it.
    assert!(a.peer.wait_frames(1, T), "the blend reaches a");
    hub.set_master(a.port.id(), 0).unwrap();
    let corner = Placement {
        x: 0.0,
        y: 0.0,
        width: 0.25,
        height: 0.25,
        z: 1,
    };
    hub.set_port_properties(b.port.id(), corner).unwrap();
    let blended = |f: &Frame| {
        f.width == 640
            && near(f.mean_rgb(40, 30, 60, 40), GREEN)
            && near(f.mean_rgb(400, 300, 60, 60), RED)
    };
    assert!(
        a.peer.wait_frame_where(T, blended).is_some(),
        "a sees b over a's picture"
    );
    assert!(
        b.peer.wait_frame_where(T, blended).is_some(),
        "b sees the same"
    );
    // Bad input.
    let outside = Placement { x: 1.5, ..corner };
    assert!(hub.set_port_properties(b.port.id(), outside).is_err());
    assert!(hub.set_master("alpha/nope", 0).is_err());
    assert!(
        hub.connect(a.port.id(), b.port.id()).is_err(),
        "not a Dispatcher"
    );
    pipeline.release();
}

#[test]
fn a_mixer_routes_video_and_mixes_the_audio_connected_to_each_port() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("mixer", log.sink(), loopback_settings()).unwrap();
    let hub = Hub::create(&pipeline, "mixer/hub", HubKind::Mixer).unwrap();
    let a = join_mix(&pipeline, &hub, &log, "a", RED);
    let b = join_mix(&pipeline, &hub, &log, "b", GREEN);
    let c = join_mix(&pipeline, &hub, &log, "c", BLUE);
    // C gets A's video and hears both A and B; nobody else gets anything.
    hub.mixer_connect(MediaKind::Video, a.port.id(), c.port.id())
        .unwrap();
    for source in [&a, &b] {
        hub.mixer_connect(MediaKind::Audio, source.port.id(), c.port.id())
            .unwrap();
    }
    assert!(sees(&c, RED), "c sees a");
    assert!(c.peer.wait_audio(50, T), "c hears the mix");
    // Switch C's video to B: routed, not transcoded.
    hub.mixer_connect(MediaKind::Video, b.port.id(), c.port.id())
        .unwrap();
    assert!(sees(&c, GREEN), "c sees b");
    // One audio decoder per input; the video is never decoded.
    assert_eq!(pipeline.decoder_count(), 3);
    assert!(hub
        .mixer_disconnect(MediaKind::Audio, a.port.id(), c.port.id())
        .unwrap());
    assert!(!hub
        .mixer_disconnect(MediaKind::Audio, a.port.id(), c.port.id())
        .unwrap());
    assert!(hub
        .mixer_disconnect(MediaKind::Video, b.port.id(), c.port.id())
        .unwrap());
    assert!(
        hub.set_source(a.port.id()).is_err(),
        "not a DispatcherOneToMany"
    );
    pipeline.release();
}
