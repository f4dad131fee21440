//! Packet loss on a peer's network path, in a loopback (the peer's video sent back to it): lost
//! packets come back through NACK and RTX both ways, and a packet lost for good costs the
//! receivers one broken frame and a keyframe request, never a freeze until the next keyframe.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rheo_media::*;

/// The share of the frames sent that came back, over a window of this long, after start-up.
const WINDOW: Duration = Duration::from_secs(8);
const LOSS: f64 = 0.02;

struct Outcome {
    delivered: f64,
    video: Vec<RtpStats>,
}

fn loopback_with(config: PeerConfig, name: &str) -> Outcome {
    init().expect("init");
    let log = EventLog::new();
    let p = MediaPipeline::new(name, log.sink(), loopback_settings()).expect("pipeline");
    let ep = WebRtcEndpoint::create(&p, "ep", WebRtcOptions::default()).unwrap();
    ep.connect(&ep, MediaKind::Video).unwrap();
    let peer = Arc::new(TestPeer::new(config.with_frame_code()).unwrap());
    let (pump, _) = negotiate(&peer, &ep, &log);
    assert!(
        peer.wait_frames(30, Duration::from_secs(20)),
        "no frames came back"
    );
    let (sent, received) = (peer.frames_sent(), peer.frames_received());
    std::thread::sleep(WINDOW);
    let delivered = (peer.frames_received() - received) as f64 / (peer.frames_sent() - sent) as f64;
    let video = ep.stats(Some(MediaKind::Video));
    eprintln!(
        "{name}: {:.0} % of the frames sent came back; {video:?}",
        delivered * 100.0
    );
    drop(pump);
    p.release();
    Outcome { delivered, video }
}

fn face() -> PeerConfig {
    // A photo: its frames take several packets each, so a lost packet breaks a frame.
    PeerConfig::image(MESSI)
}

#[test]
fn packets_lost_on_the_way_in_are_asked_for_again() {
    let out = loopback_with(face().with_loss(LOSS, 0.0), "loss-in");
    let asked: u64 = out
        .video
        .iter()
        .filter(|s| s.inbound)
        .map(|s| s.nack_count)
        .sum();
    assert!(asked > 0, "Rheo sent no NACK: {:?}", out.video);
    assert!(
        out.delivered > 0.85,
        "only {:.0} % of the frames came back",
        out.delivered * 100.0
    );
}

#[test]
fn packets_lost_on_the_way_out_are_sent_again() {
    let out = loopback_with(face().with_loss(0.0, LOSS), "loss-out");
    let asked: u64 = out
        .video
        .iter()
        .filter(|s| !s.inbound)
        .map(|s| s.nack_count)
        .sum();
    assert!(
        asked > 0,
        "the peer's NACKs never reached Rheo: {:?}",
        out.video
    );
    assert!(
        out.delivered > 0.85,
        "only {:.0} % of the frames came back",
        out.delivered * 100.0
    );
}

#[test]
fn without_retransmission_a_lost_packet_does_not_hold_back_the_frames_after_it() {
    let out = loopback_with(face().without_nack().with_loss(LOSS, 0.0), "loss-no-nack");
    assert!(
        out.delivered > 0.8,
        "only {:.0} % of the frames came back: the stream waited for keyframes",
        out.delivered * 100.0
    );
}

#[test]
fn one_viewers_loss_does_not_hold_back_another_viewer() {
    init().expect("init");
    let log = EventLog::new();
    let p = MediaPipeline::new("loss-viewers", log.sink(), loopback_settings()).expect("pipeline");
    let pres = WebRtcEndpoint::create(&p, "pres", WebRtcOptions::default()).unwrap();
    let presenter = Arc::new(TestPeer::new(face().with_frame_code()).unwrap());
    let mut pumps = vec![negotiate(&presenter, &pres, &log).0];
    // A viewer on a bad line that cannot ask for lost packets, and one on a clean line.
    let mut viewers = Vec::new();
    for (name, config) in [
        (
            "lossy",
            PeerConfig::color(0xff000000)
                .without_nack()
                .with_loss(0.0, 0.1),
        ),
        ("clean", PeerConfig::color(0xff000000)),
    ] {
        let view = WebRtcEndpoint::create(&p, name, WebRtcOptions::default()).unwrap();
        pres.connect(&view, MediaKind::Video).unwrap();
        let viewer = Arc::new(TestPeer::new(config).unwrap());
        pumps.push(negotiate(&viewer, &view, &log).0);
        assert!(
            viewer.wait_frames(10, Duration::from_secs(20)),
            "{name} got no frames"
        );
        viewers.push(viewer);
    }
    let clean = &viewers[1];
    let (sent, received) = (presenter.frames_sent(), clean.frames_received());
    std::thread::sleep(WINDOW);
    let delivered =
        (clean.frames_received() - received) as f64 / (presenter.frames_sent() - sent) as f64;
    eprintln!(
        "the clean viewer got {:.0} % of the frames",
        delivered * 100.0
    );
    assert!(
        delivered > 0.9,
        "the clean viewer got only {:.0} % of the frames beside a lossy one",
        delivered * 100.0
    );
    drop(pumps);
    p.release();
}
