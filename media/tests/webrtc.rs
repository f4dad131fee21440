//! Real-media WebRTC tests against a webrtcbin test peer.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::peer::Frame;
use common::*;
use gst::prelude::*;
use rheo_media::*;

const T: Duration = Duration::from_secs(20);

fn pipeline(log: &Arc<EventLog>) -> MediaPipeline {
    init().expect("init");
    MediaPipeline::new("p", log.sink(), common::loopback_settings()).expect("pipeline")
}

fn assert_color(rgb: [f64; 3], want: [f64; 3], tol: f64) {
    for c in 0..3 {
        assert!(
            (rgb[c] - want[c]).abs() < tol,
            "mean colour {rgb:?} differs from sent {want:?}"
        );
    }
}

#[test]
fn loopback_returns_sent_video_without_transcoding() {
    let log = EventLog::new();
    let p = pipeline(&log);
    let ep = WebRtcEndpoint::create(&p, "ep", WebRtcOptions::default()).unwrap();
    // Like the tutorials: connect before processOffer.
    ep.connect(&ep, MediaKind::Video).unwrap();
    ep.connect(&ep, MediaKind::Audio).unwrap();
    // Distinctive colour: orange-ish (ARGB).
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xffe07020).with_audio()).unwrap());
    let (pump, t0) = negotiate(&peer, &ep, &log);
    assert!(
        peer.wait_frames(30, T),
        "no frames came back (got {})",
        peer.frames_received()
    );
    let first = peer.first_frame_at().unwrap().duration_since(t0);
    eprintln!(
        "LOOPBACK process_offer → first frame back: {} ms",
        first.as_millis()
    );
    assert!(peer.wait_audio(20, T), "no audio came back");
    let rgb = peer.mean_rgb_of_last_frame().unwrap();
    assert_color(rgb, [0xe0 as f64, 0x70 as f64, 0x20 as f64], 20.0);
    assert_eq!(p.encoder_count(), 0);
    assert_eq!(p.decoder_count(), 0);
    assert!(!ep.is_media_transcoding(MediaKind::Video));
    assert!(ep.is_media_flowing_in(MediaKind::Video));
    assert!(ep.is_media_flowing_out(MediaKind::Video));
    let w = ep.webrtc().unwrap();
    assert_eq!(w.media_state(), MediaState::Connected);
    assert_eq!(w.connection_state(), ConnectionState::Connected);
    assert!(log
        .wait_for(T, |e| matches!(e.event, MediaEvent::MediaSessionStarted))
        .is_some());
    assert!(log
        .wait_for(T, |e| matches!(e.event, MediaEvent::IceGatheringDone))
        .is_some());
    assert!(
        log.wait_for(T, |e| matches!(
            e.event,
            MediaEvent::NewCandidatePairSelected { .. }
        ))
        .is_some(),
        "no NewCandidatePairSelected"
    );
    let pairs = w.candidate_pairs();
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert!(pairs[0].local_candidate.contains("typ"), "{pairs:?}");
    assert!(w
        .ice_states()
        .iter()
        .any(|(_, _, s)| matches!(s, IceComponentState::Connected | IceComponentState::Ready)));
    assert!(
        wait_until(Duration::from_secs(10), || ep
            .stats(Some(MediaKind::Video))
            .iter()
            .any(|s| !s.inbound && s.packets > 0)),
        "outbound stats: {:?}",
        ep.stats(Some(MediaKind::Video))
    );
    assert!(w.local_description().unwrap().contains("VP8"));
    drop(pump);
    p.release();
}

#[test]
fn passthrough_in_between() {
    let log = EventLog::new();
    let p = pipeline(&log);
    let ep = WebRtcEndpoint::create(&p, "ep", WebRtcOptions::default()).unwrap();
    let pass = PassThrough::create(&p, "pass").unwrap();
    ep.connect(&pass, MediaKind::Video).unwrap();
    pass.connect(&ep, MediaKind::Video).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff20c040)).unwrap());
    let (pump, _) = negotiate(&peer, &ep, &log);
    assert!(peer.wait_frames(30, T), "no frames came back");
    assert_color(
        peer.mean_rgb_of_last_frame().unwrap(),
        [0x20 as f64, 0xc0 as f64, 0x40 as f64],
        20.0,
    );
    assert_eq!(p.encoder_count(), 0);
    assert_eq!(p.decoder_count(), 0);
    assert!(pass.is_media_flowing_in(MediaKind::Video));
    assert!(pass.is_media_flowing_out(MediaKind::Video));
    assert!(!pass.is_media_transcoding(MediaKind::Video));
    drop(pump);
    p.release();
}

#[test]
fn bad_sdp_is_rejected_and_pipeline_keeps_working() {
    let log = EventLog::new();
    let p = pipeline(&log);
    let ep = WebRtcEndpoint::create(&p, "bad", WebRtcOptions::default()).unwrap();
    let w = ep.webrtc().unwrap();
    let e = w.process_offer("this is not an SDP").unwrap_err();
    assert_eq!(e.kind, ErrorKind::SdpParse);
    assert_eq!(
        w.local_description().unwrap_err().kind,
        ErrorKind::NoLocalSdp
    );
    assert_eq!(
        w.remote_description().unwrap_err().kind,
        ErrorKind::NoRemoteSdp
    );

    // Valid SDP whose only codec is one we do not support (VP9 video, G722 audio).
    let vp9_only = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 9\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
        a=fingerprint:sha-256 43:26:45:4F:78:31:DF:17:60:AE:99:F9:D9:A0:45:81:67:47:E2:BE:04:78:A3:B0:F5:D9:F7:5C:ED:90:D4:A0\r\n\
        a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:9 G722/8000\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 98\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
        a=fingerprint:sha-256 43:26:45:4F:78:31:DF:17:60:AE:99:F9:D9:A0:45:81:67:47:E2:BE:04:78:A3:B0:F5:D9:F7:5C:ED:90:D4:A0\r\n\
        a=setup:actpass\r\na=mid:1\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:98 VP9/90000\r\n";
    // As KMS: answered with every m-line rejected (port 0), not an error.
    let ep2 = WebRtcEndpoint::create(&p, "bad2", WebRtcOptions::default()).unwrap();
    let answer = ep2.webrtc().unwrap().process_offer(vp9_only).unwrap();
    let ports: Vec<&str> = answer
        .lines()
        .filter(|l| l.starts_with("m="))
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(ports, ["0", "0"], "{answer}");
    assert!(answer.contains("a=mid:1"), "{answer}");
    assert_eq!(
        ep2.webrtc().unwrap().remote_description().unwrap(),
        vp9_only
    );
    // Nothing built for it.
    let dot = ep2.gstreamer_dot();
    assert!(
        !dot.contains("sink_0"),
        "the rejected offer left a sink pad"
    );
    // The failed endpoint can still negotiate, and the pipeline works.
    let good = WebRtcEndpoint::create(&p, "good", WebRtcOptions::default()).unwrap();
    good.connect(&good, MediaKind::Video).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff4040e0)).unwrap());
    let (pump, _) = negotiate(&peer, &good, &log);
    assert!(
        peer.wait_frames(10, T),
        "valid endpoint after bad SDP got no frames"
    );
    // The same endpoint that failed to parse accepts a valid offer afterwards.
    let peer2 = Arc::new(TestPeer::new(PeerConfig::color(0xff4040e0)).unwrap());
    let offer2 = peer2.create_offer().unwrap();
    assert!(w.process_offer(&offer2).is_ok());
    assert_eq!(
        w.process_offer(&offer2).unwrap_err().kind,
        ErrorKind::AlreadyNegotiated
    );
    drop(pump);
    p.release();
}

#[test]
fn candidates_only_after_gather_candidates() {
    let log = EventLog::new();
    let p = pipeline(&log);
    let ep = WebRtcEndpoint::create(&p, "ep", WebRtcOptions::default()).unwrap();
    let w = ep.webrtc().unwrap();
    // A remote candidate before the offer is queued, an empty one accepted.
    assert!(w.add_ice_candidate("", "0", 0).is_ok());
    // Candidates that do not follow RFC 8839's grammar are invalid arguments (40001).
    assert_eq!(
        w.add_ice_candidate("garbage", "0", 0).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff808080)).unwrap());
    let offer = peer.create_offer().unwrap();
    for (m, c) in peer.wait_local_candidates(Duration::from_secs(5)) {
        w.add_ice_candidate(&c, "0", m).unwrap();
    }
    let answer = w.process_offer(&offer).unwrap();
    peer.set_answer(&answer).unwrap();
    // webrtcbin gathers during set-local-description; wait until gathering is complete
    // internally (bounded), then check that nothing was emitted.
    let gathered = log.wait_for(Duration::from_secs(3), |e| {
        matches!(
            e.event,
            MediaEvent::IceCandidateFound { .. } | MediaEvent::IceGatheringDone
        )
    });
    assert!(
        gathered.is_none(),
        "candidate emitted before gatherCandidates: {gathered:?}"
    );
    w.gather_candidates().unwrap();
    let c = log.wait_for(T, |e| {
        matches!(e.event, MediaEvent::IceCandidateFound { .. })
    });
    let Some(ElementEvent {
        event: MediaEvent::IceCandidateFound {
            candidate, sdp_mid, ..
        },
        ..
    }) = c
    else {
        panic!("no candidate after gatherCandidates");
    };
    assert!(candidate.starts_with("candidate:"), "{candidate}");
    assert!(
        !sdp_mid.is_empty() && answer.contains(&format!("a=mid:{sdp_mid}")),
        "mid {sdp_mid:?}"
    );
    assert!(log
        .wait_for(T, |e| matches!(e.event, MediaEvent::IceGatheringDone))
        .is_some());
    p.release();
}

#[test]
fn generate_offer_and_process_answer() {
    // Server as offerer: the endpoint offers, the peer (a webrtcbin answerer) answers.
    let log = EventLog::new();
    let p = pipeline(&log);
    let ep = WebRtcEndpoint::create(&p, "off", WebRtcOptions::default()).unwrap();
    let w = ep.webrtc().unwrap();
    assert_eq!(
        w.process_answer("v=0\r\n").unwrap_err().kind,
        ErrorKind::NoOfferGenerated
    );
    let offer = w
        .generate_offer(OfferOptions {
            offer_to_receive_audio: true,
            offer_to_receive_video: true,
        })
        .unwrap();
    assert!(offer.contains("VP8") && offer.contains("OPUS"), "{offer}");
    let local = w.local_description().unwrap();
    assert_eq!(local, offer);
    assert_eq!(
        w.process_answer("garbage").unwrap_err().kind,
        ErrorKind::SdpParse
    );
    // Loopback through the server-offered session.
    ep.connect(&ep, MediaKind::Video).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff60a0e0).with_audio()).unwrap());
    let answer = peer
        .answer_offer(&offer)
        .expect("peer answers the server's offer");
    let local = w.process_answer(&answer).unwrap();
    assert_eq!(local, offer);
    assert_eq!(w.remote_description().unwrap(), answer);
    assert_eq!(
        w.process_answer(&answer).unwrap_err().kind,
        ErrorKind::AnswerAlreadyProcessed
    );
    w.gather_candidates().unwrap();
    let pump = Pump::start(peer.clone(), ep.clone(), log.clone());
    assert!(
        peer.wait_frames(30, T),
        "no frames in the server-offered session"
    );
    assert_color(
        peer.mean_rgb_of_last_frame().unwrap(),
        [0x60 as f64, 0xa0 as f64, 0xe0 as f64],
        20.0,
    );
    assert_eq!(p.encoder_count(), 0);
    drop(pump);
    p.release();
}

#[test]
fn late_viewer_gets_keyframe_via_pli_and_flow_events() {
    // Presenter's encoder makes a keyframe only every 100 s: a viewer connected later sees
    // video only if its keyframe request reaches the presenter's browser (PLI/FIR).
    let log = EventLog::new();
    let p = pipeline(&log);
    let pres = WebRtcEndpoint::create(&p, "pres", WebRtcOptions::default()).unwrap();
    let view = WebRtcEndpoint::create(&p, "view", WebRtcOptions::default()).unwrap();
    let presenter = Arc::new(
        TestPeer::new(PeerConfig::color(0xffc02090).with_keyframe_interval(3000)).unwrap(),
    );
    let viewer = Arc::new(TestPeer::new(PeerConfig::color(0xff000000)).unwrap());
    let (pump1, _) = negotiate(&presenter, &pres, &log);
    let (pump2, _) = negotiate(&viewer, &view, &log);
    assert!(
        log.wait_for(T, |e| e.element == "pres"
            && matches!(
                e.event,
                MediaEvent::MediaFlowOut {
                    media: MediaKind::Video,
                    flowing: true
                }
            ))
        .is_some(),
        "presenter media never flowed"
    );
    // Let the presenter's first keyframe pass, then join.
    assert!(
        !viewer.wait_frames(1, Duration::from_millis(1500)),
        "viewer got frames before connect"
    );
    let t = Instant::now();
    pres.connect(&view, MediaKind::Video).unwrap();
    assert!(
        viewer.wait_frames(5, Duration::from_secs(10)),
        "late viewer never got a keyframe"
    );
    eprintln!(
        "LATE JOIN connect → first frame: {} ms",
        viewer
            .first_frame_at()
            .unwrap()
            .duration_since(t)
            .as_millis()
    );
    assert_color(
        viewer.mean_rgb_of_last_frame().unwrap(),
        [0xc0 as f64, 0x20 as f64, 0x90 as f64],
        20.0,
    );
    assert_eq!(p.encoder_count(), 0);
    assert!(view.is_media_flowing_in(MediaKind::Video));
    // Disconnect: the viewer's input stops flowing (NOT_FLOWING after ~2 s).
    pres.disconnect(&view, MediaKind::Video).unwrap();
    assert!(
        log.wait_for(Duration::from_secs(6), |e| e.element == "view"
            && matches!(
                e.event,
                MediaEvent::MediaFlowIn {
                    media: MediaKind::Video,
                    flowing: false
                }
            ))
        .is_some(),
        "no MediaFlowIn NOT_FLOWING after disconnect"
    );
    assert!(!view.is_media_flowing_in(MediaKind::Video));
    drop(pump1);
    drop(pump2);
    p.release();
}

#[test]
fn chromium_offer_gets_answer_with_interop_workarounds() {
    // The recorded Chromium 156 offer: the answer must pick VP8/96 and Opus/111 from it, keep the
    // TWCC extmap, carry a=ssrc for every sending m-line and no profile-level-id.
    let log = EventLog::new();
    let p = pipeline(&log);
    let ep = WebRtcEndpoint::create(&p, "chrome", WebRtcOptions::default()).unwrap();
    ep.connect(&ep, MediaKind::Video).unwrap();
    ep.connect(&ep, MediaKind::Audio).unwrap();
    // Recorded from Chromium 156 by tests/e2e/record-offer.mjs.
    let offer = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/offer-chromium156.sdp"
    ))
    .expect("sample offer");
    let answer = ep.webrtc().unwrap().process_offer(&offer).unwrap();
    let sections: Vec<&str> = answer.split("m=").skip(1).collect();
    let video = sections
        .iter()
        .find(|s| s.starts_with("video"))
        .expect("video m-line");
    let audio = sections
        .iter()
        .find(|s| s.starts_with("audio"))
        .expect("audio m-line");
    assert!(video.starts_with("video 9 UDP/TLS/RTP/SAVPF 96"), "{video}");
    assert!(video.contains("a=rtpmap:96 VP8/90000"), "{video}");
    assert!(audio.contains("a=rtpmap:111 OPUS/48000/2"), "{audio}");
    for s in [video, audio] {
        assert!(
            s.contains("a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"),
            "no TWCC extmap: {s}"
        );
        assert!(s.contains("a=ssrc:"), "no a=ssrc: {s}");
        assert!(s.contains("a=sendrecv"), "{s}");
    }
    assert!(!answer.contains("profile-level-id"));
    p.release();
}

#[test]
fn h264_loopback_without_transcoding() {
    let log = EventLog::new();
    let p = pipeline(&log);
    let ep = WebRtcEndpoint::create(&p, "ep", WebRtcOptions::default()).unwrap();
    ep.connect(&ep, MediaKind::Video).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff2060d0).with_h264()).unwrap());
    let (pump, _) = negotiate(&peer, &ep, &log);
    assert!(peer.wait_frames(30, T), "no H.264 frames came back");
    assert_color(
        peer.mean_rgb_of_last_frame().unwrap(),
        [0x20 as f64, 0x60 as f64, 0xd0 as f64],
        20.0,
    );
    assert!(ep
        .webrtc()
        .unwrap()
        .local_description()
        .unwrap()
        .contains("H264"));
    assert_eq!(p.encoder_count(), 0);
    assert_eq!(p.decoder_count(), 0);
    drop(pump);
    p.release();
}

#[test]
fn vp8_presenter_to_h264_viewer_transcodes_once() {
    let log = EventLog::new();
    let p = pipeline(&log);
    let pres = WebRtcEndpoint::create(&p, "pres", WebRtcOptions::default()).unwrap();
    let view = WebRtcEndpoint::create(&p, "view", WebRtcOptions::default()).unwrap();
    pres.connect(&view, MediaKind::Video).unwrap();
    let presenter = Arc::new(TestPeer::new(PeerConfig::color(0xffd0d020)).unwrap());
    let viewer = Arc::new(TestPeer::new(PeerConfig::color(0xff000000).with_h264()).unwrap());
    let (pump1, _) = negotiate(&presenter, &pres, &log);
    let (pump2, _) = negotiate(&viewer, &view, &log);
    if !viewer.wait_frames(30, T) {
        std::fs::write("/tmp/h264.dot", p.gstreamer_dot()).unwrap();
        panic!(
            "H.264 viewer got no frames (dec {} enc {}, pres out {}, view in {})",
            p.decoder_count(),
            p.encoder_count(),
            pres.is_media_flowing_out(MediaKind::Video),
            view.is_media_flowing_in(MediaKind::Video)
        );
    }
    assert_color(
        viewer.mean_rgb_of_last_frame().unwrap(),
        [0xd0 as f64, 0xd0 as f64, 0x20 as f64],
        25.0,
    );
    assert_eq!(p.decoder_count(), 1);
    assert_eq!(p.encoder_count(), 1);
    assert!(pres.is_media_transcoding(MediaKind::Video));
    assert!(view.is_media_transcoding(MediaKind::Video));
    // The encoder runs in realtime mode (never GStreamer's defaults).
    let enc = p
        .gst_pipeline()
        .iterate_recurse()
        .into_iter()
        .flatten()
        .find(|e| e.factory().map(|f| f.name() == "x264enc").unwrap_or(false))
        .expect("x264enc in the pipeline");
    let preset = format!("{:?}", enc.property_value("speed-preset"));
    assert!(preset.to_lowercase().contains("ultrafast"), "{preset}");
    assert!(log
        .wait_for(T, |e| e.element == "pres"
            && matches!(
                &e.event,
                MediaEvent::MediaTranscoding {
                    transcoding: true,
                    ..
                }
            ))
        .is_some());
    // Disconnect: decoder and encoder go away.
    pres.disconnect(&view, MediaKind::Video).unwrap();
    assert_eq!(p.decoder_count(), 0);
    assert_eq!(p.encoder_count(), 0);
    assert!(log
        .wait_for(T, |e| e.element == "pres"
            && matches!(
                &e.event,
                MediaEvent::MediaTranscoding {
                    transcoding: false,
                    ..
                }
            ))
        .is_some());
    drop(pump1);
    drop(pump2);
    p.release();
}

#[test]
fn new_connect_replaces_previous_source() {
    let log = EventLog::new();
    let p = pipeline(&log);
    let a = WebRtcEndpoint::create(&p, "a", WebRtcOptions::default()).unwrap();
    let b = WebRtcEndpoint::create(&p, "b", WebRtcOptions::default()).unwrap();
    let view = WebRtcEndpoint::create(&p, "view", WebRtcOptions::default()).unwrap();
    let peer_a = Arc::new(TestPeer::new(PeerConfig::color(0xffe02020)).unwrap());
    let peer_b = Arc::new(TestPeer::new(PeerConfig::color(0xff2020e0)).unwrap());
    let viewer = Arc::new(TestPeer::new(PeerConfig::color(0xff000000)).unwrap());
    a.connect(&view, MediaKind::Video).unwrap();
    let (pa, _) = negotiate(&peer_a, &a, &log);
    let (pb, _) = negotiate(&peer_b, &b, &log);
    let (pv, _) = negotiate(&viewer, &view, &log);
    let red = |f: &Frame| {
        let c = f.mean_rgb_all();
        c[0] > 180.0 && c[2] < 80.0
    };
    let blue = |f: &Frame| {
        let c = f.mean_rgb_all();
        c[2] > 180.0 && c[0] < 80.0
    };
    assert!(
        viewer.wait_frame_where(T, red).is_some(),
        "viewer never saw A"
    );
    b.connect(&view, MediaKind::Video).unwrap();
    assert!(
        viewer.wait_frame_where(T, blue).is_some(),
        "viewer never switched to B"
    );
    // A's output no longer feeds the viewer: it has no consumer left.
    a.disconnect(&view, MediaKind::Video).unwrap(); // not connected any more: a no-op
    assert!(
        viewer
            .wait_frame_where(Duration::from_secs(2), red)
            .is_none(),
        "A still reaches the viewer"
    );
    assert_eq!(p.encoder_count(), 0);
    drop((pa, pb, pv));
    p.release();
}

#[test]
fn element_errors_become_error_events_of_that_element() {
    let log = EventLog::new();
    let p = pipeline(&log);
    let ep = WebRtcEndpoint::create(&p, "the-endpoint", WebRtcOptions::default()).unwrap();
    let _other = PassThrough::create(&p, "other").unwrap();
    // A GStreamer element inside the endpoint fails (as a decoder or a socket would).
    let inner = p
        .gst_pipeline()
        .iterate_recurse()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == "webrtcbin"))
        .expect("the endpoint's webrtcbin");
    let msg = gst::message::Error::builder(gst::StreamError::Decode, "corrupt frame")
        .src(&inner)
        .build();
    inner.post_message(msg).unwrap();
    let ev = log
        .wait_for(T, |e| matches!(e.event, MediaEvent::Error { .. }))
        .expect("an Error event");
    assert_eq!(ev.element, "the-endpoint");
    let MediaEvent::Error {
        kind, description, ..
    } = ev.event
    else {
        unreachable!()
    };
    assert_eq!(kind, "STREAM_ERROR_DECODE");
    assert!(description.contains("corrupt frame"), "{description}");
    // The pipeline goes on: the endpoint still negotiates.
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff808080)).unwrap());
    let offer = peer.create_offer().unwrap();
    assert!(ep.webrtc().unwrap().process_offer(&offer).is_ok());
    p.release();
}

/// The threading contract: negotiation holds no lock while it waits on webrtcbin, so another
/// thread's queries and connections on the same pipeline go on meanwhile. While processOffer
/// runs, webrtcbin's `on-new-transceiver` handler waits for that thread to finish a round of
/// them: were a lock held across webrtcbin's work, the round could not finish and the handler
/// would give up.
#[test]
fn queries_and_connections_go_on_while_an_endpoint_negotiates() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let log = EventLog::new();
    let p = pipeline(&log);
    let ep = WebRtcEndpoint::create(&p, "negotiating", WebRtcOptions::default()).unwrap();
    ep.connect(&ep, MediaKind::Video).unwrap();
    ep.connect(&ep, MediaKind::Audio).unwrap();
    let pass = PassThrough::create(&p, "pass").unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff2080e0).with_audio()).unwrap());
    let offer = peer.create_offer().unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let querier = {
        let (ep, pass, done, rounds) = (ep.clone(), pass.clone(), done.clone(), rounds.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let w = ep.webrtc().unwrap();
                let _ = w.local_description();
                let _ = w.remote_description();
                let _ = w.media_state();
                let _ = ep.links();
                ep.connect(&pass, MediaKind::Video).unwrap();
                assert!(ep.disconnect(&pass, MediaKind::Video).unwrap());
                rounds.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    let webrtcbin = p
        .gst_pipeline()
        .iterate_recurse()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == "webrtcbin"))
        .expect("the endpoint's webrtcbin");
    let handled = Arc::new(AtomicUsize::new(0));
    let gave_up = Arc::new(AtomicUsize::new(0));
    {
        let (rounds, handled, gave_up) = (rounds.clone(), handled.clone(), gave_up.clone());
        webrtcbin.connect("on-new-transceiver", false, move |_| {
            handled.fetch_add(1, Ordering::SeqCst);
            // A round that starts after this point, and ends.
            let target = rounds.load(Ordering::SeqCst) + 2;
            if !wait_until(Duration::from_secs(10), || {
                rounds.load(Ordering::SeqCst) >= target
            }) {
                gave_up.fetch_add(1, Ordering::SeqCst);
            }
            None
        });
    }
    let answer = ep.webrtc().unwrap().process_offer(&offer).unwrap();
    done.store(true, Ordering::SeqCst);
    querier.join().expect("the querying thread");
    assert!(
        handled.load(Ordering::SeqCst) > 0,
        "no transceiver was made"
    );
    assert_eq!(
        gave_up.load(Ordering::SeqCst),
        0,
        "the other thread's queries waited for webrtcbin"
    );
    assert!(answer.contains("m=video"), "{answer}");
    // A second negotiation is refused, and the first one's result stands.
    assert!(ep.webrtc().unwrap().process_offer(&offer).is_err());
    assert_eq!(ep.webrtc().unwrap().local_description().unwrap(), answer);
    p.release();
}

#[test]
fn a_plain_rtp_offer_is_answered_rejected_as_kms_does() {
    init().unwrap();
    let log = EventLog::new();
    let p = MediaPipeline::new("webrtc-plain-rtp", log.sink(), loopback_settings()).unwrap();
    let ep = WebRtcEndpoint::create(&p, "ep", WebRtcOptions::default()).unwrap();
    let offer = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
    let answer = ep.webrtc().unwrap().process_offer(offer).unwrap();
    assert!(answer.contains("m=video 0 RTP/AVP 96"), "{answer}");
    assert_eq!(ep.webrtc().unwrap().remote_description().unwrap(), offer);
    p.release();
}

fn data_endpoint(p: &MediaPipeline, id: &str) -> Element {
    WebRtcEndpoint::create(
        p,
        id,
        WebRtcOptions {
            use_data_channels: true,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn data_channels_echo_in_a_loopback_and_carry_a_chat_between_endpoints() {
    init().unwrap();
    let log = EventLog::new();
    let p = MediaPipeline::new("data-channels", log.sink(), loopback_settings()).unwrap();
    // The hello-world-data-channel loopback.
    let echo = data_endpoint(&p, "echo");
    echo.connect(&echo, MediaKind::Data).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    let channel = peer.create_data_channel("dataChannel");
    let (_pump, _) = negotiate(&peer, &echo, &log);
    assert!(channel.wait_open(T), "the channel did not open");
    for text in ["one", "two", "three"] {
        channel.send_text(text);
    }
    channel.send_bytes(&[1, 2, 3]);
    assert_eq!(
        channel.wait_messages(4, T),
        ["one", "two", "three", "<3 bytes>"],
        "echoed in order, text and binary"
    );
    assert!(log
        .wait_for(T, |e| e.element == "echo"
            && matches!(e.event, MediaEvent::DataChannelOpened { .. }))
        .is_some());
    let stats = echo.webrtc().unwrap().data_channel_stats();
    assert_eq!(stats.len(), 1, "{stats:?}");
    let s = &stats[0];
    assert_eq!((s.label.as_str(), s.state), ("dataChannel", "open"));
    assert_eq!((s.messages_received, s.messages_sent), (4, 4), "{s:?}");
    assert_eq!((s.bytes_received, s.bytes_sent), (14, 14), "{s:?}");

    // A one-to-one chat: each endpoint's messages go to the other.
    let (alice, bob) = (data_endpoint(&p, "alice"), data_endpoint(&p, "bob"));
    alice.connect(&bob, MediaKind::Data).unwrap();
    bob.connect(&alice, MediaKind::Data).unwrap();
    let alice_peer = Arc::new(TestPeer::new(PeerConfig::color(0xff00ff00)).unwrap());
    let bob_peer = Arc::new(TestPeer::new(PeerConfig::color(0xffff0000)).unwrap());
    let alice_channel = alice_peer.create_data_channel("chat");
    let bob_channel = bob_peer.create_data_channel("chat");
    let (_p1, _) = negotiate(&alice_peer, &alice, &log);
    let (_p2, _) = negotiate(&bob_peer, &bob, &log);
    assert!(alice_channel.wait_open(T) && bob_channel.wait_open(T));
    // The server's side of each channel is open too before anything is sent (a message that
    // arrives while no channel of the receiving endpoint is open is not delivered).
    for id in ["alice", "bob"] {
        assert!(log
            .wait_for(T, |e| e.element == id
                && matches!(e.event, MediaEvent::DataChannelOpened { .. }))
            .is_some());
    }
    alice_channel.send_text("hello bob");
    bob_channel.send_text("hello alice");
    assert_eq!(bob_channel.wait_messages(1, T), ["hello bob"]);
    assert_eq!(alice_channel.wait_messages(1, T), ["hello alice"]);

    p.release();
}
