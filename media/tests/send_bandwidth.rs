//! The bitrate Rheo encodes at for a receiver: within the endpoint's min/maxVideoSendBandwidth
//! (Kurento's defaults, 100 and 500 kbps), down when the receiver reports loss, and for an
//! encoder shared by several receivers, the least any of them can take.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use gst::prelude::*;
use rheo_media::*;

const T: Duration = Duration::from_secs(20);

/// The VP8 encoder's bitrate, in kbps.
fn encoder_kbps(p: &MediaPipeline) -> u32 {
    let bits_per_second = p
        .gst_pipeline()
        .iterate_recurse()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == "vp8enc"))
        .expect("vp8enc in the pipeline")
        .property::<i32>("target-bitrate");
    (bits_per_second / 1000) as u32
}

/// An H.264 presenter and receive-only VP8 viewers (as browsers in one2many, they send
/// receiver reports about what they get): one decoder and one encoder serve them all.
fn transcoded_call(
    name: &str,
    viewers: &[PeerConfig],
) -> (MediaPipeline, Vec<Element>, Vec<Arc<TestPeer>>, Vec<Pump>) {
    init().expect("init");
    let log = EventLog::new();
    let p = MediaPipeline::new(name, log.sink(), loopback_settings()).expect("pipeline");
    let pres = WebRtcEndpoint::create(&p, "pres", WebRtcOptions::default()).unwrap();
    let presenter = Arc::new(TestPeer::new(PeerConfig::image(MESSI).with_h264()).unwrap());
    let mut pumps = vec![negotiate(&presenter, &pres, &log).0];
    let mut endpoints = vec![pres.clone()];
    let mut peers = vec![presenter];
    for (i, config) in viewers.iter().enumerate() {
        let view =
            WebRtcEndpoint::create(&p, &format!("view{i}"), WebRtcOptions::default()).unwrap();
        pres.connect(&view, MediaKind::Video).unwrap();
        let viewer = Arc::new(TestPeer::new(config.clone()).unwrap());
        pumps.push(negotiate(&viewer, &view, &log).0);
        assert!(
            wait_until(T, || viewer.packets_received() > 100),
            "viewer {i} got no media"
        );
        endpoints.push(view);
        peers.push(viewer);
    }
    assert_eq!(p.encoder_count(), 1);
    (p, endpoints, peers, pumps)
}

fn bounds(endpoint: &Element, min_kbps: u32, max_kbps: u32) {
    endpoint
        .sdp_endpoint()
        .unwrap()
        .set_video_send_bandwidth(min_kbps, max_kbps);
}

#[test]
fn the_encoder_keeps_to_the_maximum_and_backs_off_when_the_receiver_loses_packets() {
    let viewer = PeerConfig::receive_only();
    let (p, endpoints, peers, pumps) = transcoded_call("bandwidth-one", &[viewer]);
    assert_eq!(encoder_kbps(&p), 500, "Kurento's default maximum");
    bounds(&endpoints[1], 100, 1200);
    assert_eq!(encoder_kbps(&p), 1200);
    bounds(&endpoints[1], 100, 300);
    assert_eq!(encoder_kbps(&p), 300);
    // Reports without loss keep it at the maximum.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(encoder_kbps(&p), 300);
    drop((pumps, peers));
    p.release();
}

#[test]
fn reported_loss_lowers_the_bitrate_down_to_the_minimum() {
    // A third of what the viewer is sent is lost on its way: its receiver reports say so
    // (a webrtcbin viewer reports every few seconds).
    let lossy = PeerConfig::receive_only().with_loss(0.0, 0.35);
    let (p, endpoints, peers, pumps) = transcoded_call("bandwidth-loss", &[lossy]);
    bounds(&endpoints[1], 250, 400);
    let reports = Duration::from_secs(40);
    assert!(
        wait_until(reports, || encoder_kbps(&p) < 380),
        "still {} kbps after reports of heavy loss",
        encoder_kbps(&p)
    );
    assert!(
        wait_until(reports, || encoder_kbps(&p) == 250),
        "{} kbps: the estimate goes down to the minimum and stops there",
        encoder_kbps(&p)
    );
    drop((pumps, peers));
    p.release();
}

#[test]
fn a_shared_encoder_serves_the_receiver_that_can_take_the_least() {
    let viewers = [PeerConfig::receive_only(), PeerConfig::receive_only()];
    let (p, endpoints, peers, pumps) = transcoded_call("bandwidth-shared", &viewers);
    bounds(&endpoints[1], 100, 900);
    bounds(&endpoints[2], 100, 250);
    assert_eq!(encoder_kbps(&p), 250);
    endpoints[0]
        .disconnect(&endpoints[2], MediaKind::Video)
        .unwrap();
    assert_eq!(encoder_kbps(&p), 900, "the slow receiver left");
    drop((pumps, peers));
    p.release();
}
