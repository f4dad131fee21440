//! RtpEndpoint: plain RTP with GStreamer senders and receivers in this process, as the
//! rtp-receiver tutorial pairs Rheo with `gst-launch-1.0`, and two RtpEndpoints offering and
//! answering each other.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use gst::prelude::*;
use rheo_media::*;

/// The `m=` port of the first m-line of `sdp`.
fn first_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=")?.split(' ').nth(1)?.parse().ok())
        .expect("an m-line with a port")
}

/// A running GStreamer pipeline, stopped when dropped.
struct Running(gst::Pipeline);

impl Running {
    fn launch(description: &str) -> Running {
        Self::prepare(description, |_| {})
    }

    /// `configure` sets what gst-launch syntax cannot (a key buffer) before it plays.
    fn prepare(description: &str, configure: impl FnOnce(&gst::Pipeline)) -> Running {
        init().unwrap();
        let pipeline = gst::parse::launch(description)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        configure(&pipeline);
        pipeline.set_state(gst::State::Playing).unwrap();
        Running(pipeline)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// A free UDP port (for the external side's own sockets).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_external_vp8_sender_reaches_a_browser_without_transcoding() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("rtp-in", log.sink(), loopback_settings()).unwrap();
    let rtp = RtpEndpoint::create(&pipeline, "rtp", RtpOptions::default()).unwrap();
    let webrtc = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    rtp.connect(&webrtc, MediaKind::Video).unwrap();
    let sender_port = free_udp_port();
    // As the rtp-receiver tutorial: the sender's description, video only, send only.
    let offer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=sender\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {sender_port} RTP/AVPF 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=sendonly\r\n"
    );
    let answer = rtp.rtp().unwrap().process_offer(&offer).unwrap();
    assert!(answer.contains("a=recvonly"), "{answer}");
    assert!(answer.contains("c=IN IP4 127.0.0.1"), "{answer}");
    let port = first_port(&answer);
    assert!(port.is_multiple_of(2) && port > 0, "{answer}");
    let _sender = Running::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         vp8enc deadline=1 keyframe-max-dist=60 ! rtpvp8pay pt=96 ! udpsink host=127.0.0.1 port={port}"
    ));
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    let (_pump, _) = negotiate(&peer, &webrtc, &log);
    assert!(
        peer.wait_frames(30, Duration::from_secs(20)),
        "no frames from the RTP sender reached the browser"
    );
    assert_eq!(pipeline.decoder_count(), 0);
    assert_eq!(pipeline.encoder_count(), 0);
    assert_eq!(rtp.rtp().unwrap().media_state(), MediaState::Connected);
    assert!(log
        .snapshot()
        .iter()
        .any(|e| e.element == "rtp" && matches!(e.event, MediaEvent::MediaStateChanged { .. })));
    pipeline.release();
}

#[test]
fn a_browser_reaches_an_external_receiver() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("rtp-out", log.sink(), loopback_settings()).unwrap();
    let rtp = RtpEndpoint::create(&pipeline, "rtp", RtpOptions::default()).unwrap();
    let webrtc = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    webrtc.connect(&rtp, MediaKind::Video).unwrap();
    let receiver_port = free_udp_port();
    let receiver = Running::launch(&format!(
        "udpsrc address=127.0.0.1 port={receiver_port} \
         caps=\"application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96\" ! \
         rtpvp8depay ! vp8dec ! appsink name=sink emit-signals=false sync=false"
    ));
    let frames = count_samples(&receiver);
    let offer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=receiver\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {receiver_port} RTP/AVPF 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=recvonly\r\n"
    );
    let answer = rtp.rtp().unwrap().process_offer(&offer).unwrap();
    assert!(answer.contains("a=sendonly"), "{answer}");
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    let (_pump, _) = negotiate(&peer, &webrtc, &log);
    assert!(
        wait_until(Duration::from_secs(20), || frames.load(Ordering::SeqCst)
            >= 30),
        "{} frames reached the external receiver",
        frames.load(Ordering::SeqCst)
    );
    assert_eq!(pipeline.encoder_count(), 0);
    pipeline.release();
}

/// Pipeline A: a browser's stream into an RtpEndpoint; pipeline B: an RtpEndpoint out to a
/// second browser. A offers (video, sending only), B answers, as two media servers would.
struct Relay {
    log: Arc<EventLog>,
    a: MediaPipeline,
    b: MediaPipeline,
    presenter: Element,
    viewer: Element,
    rtp_a: Element,
    rtp_b: Element,
    offer: String,
    answer: String,
}

fn relay(name: &str, options: impl Fn() -> RtpOptions) -> Relay {
    init().unwrap();
    let log = EventLog::new();
    let a = MediaPipeline::new(&format!("{name}-a"), log.sink(), loopback_settings()).unwrap();
    let b = MediaPipeline::new(&format!("{name}-b"), log.sink(), loopback_settings()).unwrap();
    let presenter = WebRtcEndpoint::create(&a, "presenter", WebRtcOptions::default()).unwrap();
    let rtp_a = RtpEndpoint::create(&a, "rtp-a", options()).unwrap();
    let rtp_b = RtpEndpoint::create(&b, "rtp-b", options()).unwrap();
    let viewer = WebRtcEndpoint::create(&b, "viewer", WebRtcOptions::default()).unwrap();
    presenter.connect(&rtp_a, MediaKind::Video).unwrap();
    rtp_b.connect(&viewer, MediaKind::Video).unwrap();
    let offer = rtp_a
        .rtp()
        .unwrap()
        .generate_offer(OfferOptions {
            offer_to_receive_audio: false,
            offer_to_receive_video: false,
        })
        .unwrap();
    let answer = rtp_b.rtp().unwrap().process_offer(&offer).unwrap();
    rtp_a.rtp().unwrap().process_answer(&answer).unwrap();
    Relay {
        log,
        a,
        b,
        presenter,
        viewer,
        rtp_a,
        rtp_b,
        offer,
        answer,
    }
}

#[test]
fn two_rtp_endpoints_offer_and_answer_and_carry_a_call_between_pipelines() {
    let Relay {
        log,
        a,
        b,
        presenter,
        viewer,
        rtp_a,
        rtp_b,
        answer,
        ..
    } = relay("cascade", RtpOptions::default);
    assert_eq!(rtp_a.rtp().unwrap().remote_description().unwrap(), answer);
    // The presenter sends a keyframe only when asked: the viewer, joining later, sees
    // pictures only if its keyframe request travels B -> A -> presenter.
    let presenting = Arc::new(
        TestPeer::new(PeerConfig::color(0xff3060a0).with_keyframe_interval(100_000)).unwrap(),
    );
    let viewing = Arc::new(TestPeer::new(PeerConfig::color(0xff00ff00)).unwrap());
    let (_p1, _) = negotiate(&presenting, &presenter, &log);
    assert!(
        wait_until(Duration::from_secs(20), || rtp_b
            .rtp()
            .unwrap()
            .media_state()
            == MediaState::Connected),
        "no RTP from A reached B"
    );
    std::thread::sleep(Duration::from_secs(1));
    let (_p2, _) = negotiate(&viewing, &viewer, &log);
    assert!(
        viewing.wait_frames(30, Duration::from_secs(20)),
        "the viewer on B got no frames from the presenter on A"
    );
    for p in [&a, &b] {
        assert_eq!(p.encoder_count(), 0);
        assert_eq!(p.decoder_count(), 0);
    }
    // Negotiation errors.
    let again = rtp_a.rtp().unwrap().process_answer(&answer).unwrap_err();
    assert_eq!(again.kind, ErrorKind::AnswerAlreadyProcessed);
    a.release();
    b.release();
}

#[test]
fn hostile_descriptions_are_refused_without_harm() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("rtp-hostile", log.sink(), loopback_settings()).unwrap();
    // An answer whose m-lines do not match the offer (KMS #430 crashed on it).
    let offerer = RtpEndpoint::create(&pipeline, "offerer", RtpOptions::default()).unwrap();
    let o = offerer.rtp().unwrap();
    assert_eq!(
        o.process_answer("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
            .unwrap_err()
            .kind,
        ErrorKind::NoOfferGenerated
    );
    o.generate_offer(OfferOptions {
        offer_to_receive_audio: true,
        offer_to_receive_video: true,
    })
    .unwrap();
    let one_line = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                    m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
    let e = o.process_answer(one_line).unwrap_err();
    assert_eq!(e.kind, ErrorKind::SdpNegotiation, "{}", e.message);
    assert!(o.process_answer("garbage").is_err());
    // A camera's H.264 with an absurd sprop-parameter-sets (kms-core PR #17) and unknown
    // codecs: answered, what cannot be served rejected.
    let camera = RtpEndpoint::create(&pipeline, "camera", RtpOptions::default()).unwrap();
    let huge = "Z".repeat(100_000);
    let offer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video 6000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 packetization-mode=1;sprop-parameter-sets={huge},{huge};profile-level-id=ffffff\r\na=sendonly\r\n\
         m=audio 6002 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100\r\na=sendonly\r\n"
    );
    let answer = camera.rtp().unwrap().process_offer(&offer).unwrap();
    let ports: Vec<&str> = answer
        .lines()
        .filter(|l| l.starts_with("m="))
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(ports.len(), 2, "{answer}");
    assert_ne!(ports[0], "0", "H.264 is served: {answer}");
    assert_eq!(
        ports[1], "0",
        "the unknown audio codec is rejected: {answer}"
    );
    assert_eq!(
        camera
            .rtp()
            .unwrap()
            .process_offer(&offer)
            .unwrap_err()
            .kind,
        ErrorKind::AlreadyNegotiated
    );
    pipeline.release();
}

fn srtp_options(suite: SrtpSuite) -> RtpOptions {
    RtpOptions {
        crypto: Some(SrtpKey::random(suite).unwrap()),
    }
}

#[test]
fn two_srtp_endpoints_carry_a_call_encrypted() {
    let Relay {
        log,
        a,
        b,
        presenter,
        viewer,
        offer,
        answer,
        ..
    } = relay("srtp", || srtp_options(SrtpSuite::Aes256Sha1_80));
    assert!(
        offer.contains("RTP/SAVPF") && offer.contains("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:"),
        "{offer}"
    );
    assert!(
        answer.contains("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:"),
        "{answer}"
    );
    let presenting = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    let viewing = Arc::new(TestPeer::new(PeerConfig::color(0xff00ff00)).unwrap());
    let (_p1, _) = negotiate(&presenting, &presenter, &log);
    let (_p2, _) = negotiate(&viewing, &viewer, &log);
    assert!(
        viewing.wait_frames(30, Duration::from_secs(20)),
        "no frames over SRTP"
    );
    assert!(!log
        .snapshot()
        .iter()
        .any(|e| matches!(e.event, MediaEvent::Error { .. })));
    a.release();
    b.release();
}

/// An SRTP sender (srtpenc with `sender_key`) announcing `announced_key` in its offer, to an
/// RtpEndpoint with SDES whose output goes to a browser; returns the browser's peer and the log.
fn srtp_sender_to_browser(
    name: &str,
    sender_key: &SrtpKey,
    announced_key: &SrtpKey,
) -> (MediaPipeline, Arc<TestPeer>, Arc<EventLog>, Running, Pump) {
    use base64::Engine;
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new(name, log.sink(), loopback_settings()).unwrap();
    let rtp =
        RtpEndpoint::create(&pipeline, "rtp", srtp_options(SrtpSuite::Aes128Sha1_80)).unwrap();
    let webrtc = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    rtp.connect(&webrtc, MediaKind::Video).unwrap();
    let inline = base64::engine::general_purpose::STANDARD.encode(&announced_key.master);
    let offer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=sender\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {} RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n\
         a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{inline}\r\na=sendonly\r\n",
        free_udp_port()
    );
    let answer = rtp.rtp().unwrap().process_offer(&offer).unwrap();
    assert!(
        answer.contains("RTP/SAVPF") && answer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80"),
        "{answer}"
    );
    let port = first_port(&answer);
    let key = sender_key.master.clone();
    let sender = Running::prepare(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=1234 ! \
         application/x-rtp,ssrc=(uint)1234 ! srtpenc name=enc ! udpsink host=127.0.0.1 port={port}"
    ), |p| {
        let enc = p.by_name("enc").unwrap();
        enc.set_property("key", gst::Buffer::from_slice(key));
    });
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    let (pump, _) = negotiate(&peer, &webrtc, &log);
    (pipeline, peer, log, sender, pump)
}

#[test]
fn an_external_srtp_sender_reaches_a_browser() {
    let key = SrtpKey::random(SrtpSuite::Aes128Sha1_80).unwrap();
    let (pipeline, peer, _log, _sender, _pump) = srtp_sender_to_browser("srtp-in", &key, &key);
    assert!(
        peer.wait_frames(30, Duration::from_secs(20)),
        "no frames from the SRTP sender"
    );
    pipeline.release();
}

#[test]
fn a_wrong_srtp_key_gives_no_media_and_an_error() {
    let used = SrtpKey::random(SrtpSuite::Aes128Sha1_80).unwrap();
    let announced = SrtpKey::random(SrtpSuite::Aes128Sha1_80).unwrap();
    let (pipeline, peer, log, _sender, _pump) =
        srtp_sender_to_browser("srtp-wrong", &used, &announced);
    let error = log.wait_for(Duration::from_secs(20), |e| {
        e.element == "rtp"
            && matches!(&e.event, MediaEvent::Error { kind, .. } if kind == "SRTP_DECRYPT_ERROR")
    });
    assert!(error.is_some(), "no Error event for the wrong key");
    assert_eq!(peer.frames_received(), 0);
    pipeline.release();
}

#[test]
fn an_srtp_endpoint_rejects_plain_rtp_m_lines() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("srtp-plain", log.sink(), loopback_settings()).unwrap();
    let rtp =
        RtpEndpoint::create(&pipeline, "rtp", srtp_options(SrtpSuite::Aes128Sha1_32)).unwrap();
    let offer = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
    let answer = rtp.rtp().unwrap().process_offer(offer).unwrap();
    assert!(answer.contains("m=video 0 RTP/AVP 96"), "{answer}");
    pipeline.release();
}

/// Counts the buffers an appsink named `sink` in `running` receives.
fn count_samples(running: &Running) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let counted = count.clone();
    running
        .0
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap()
        .set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let _ = s.pull_sample();
                    counted.fetch_add(1, Ordering::SeqCst);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    count
}

#[test]
fn an_external_pcmu_sender_is_heard_by_a_browser_through_one_decoder_and_one_opus_encoder() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("pcmu-in", log.sink(), loopback_settings()).unwrap();
    let rtp = RtpEndpoint::create(&pipeline, "rtp", RtpOptions::default()).unwrap();
    let webrtc = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    rtp.connect(&webrtc, MediaKind::Audio).unwrap();
    // A SIP gateway's offer: G.711 by its static payload types, no rtpmap.
    let offer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=gateway\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0 8\r\na=sendonly\r\n",
        free_udp_port()
    );
    let answer = rtp.rtp().unwrap().process_offer(&offer).unwrap();
    assert!(
        answer.contains("m=audio") && answer.contains("a=rtpmap:0 PCMU/8000"),
        "{answer}"
    );
    let port = first_port(&answer);
    let _sender = Running::launch(&format!(
        "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! \
         rtppcmupay pt=0 ! udpsink host=127.0.0.1 port={port}"
    ));
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0).with_audio()).unwrap());
    let (_pump, _) = negotiate(&peer, &webrtc, &log);
    assert!(
        peer.wait_audio(50, Duration::from_secs(20)),
        "no audio from the PCMU sender reached the browser"
    );
    assert_eq!((pipeline.decoder_count(), pipeline.encoder_count()), (1, 1));
    assert!(rtp.is_media_transcoding(MediaKind::Audio));
    pipeline.release();
}

#[test]
fn a_browser_is_heard_by_an_external_pcma_receiver() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("pcma-out", log.sink(), loopback_settings()).unwrap();
    let rtp = RtpEndpoint::create(&pipeline, "rtp", RtpOptions::default()).unwrap();
    let webrtc = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    webrtc.connect(&rtp, MediaKind::Audio).unwrap();
    let receiver_port = free_udp_port();
    let receiver = Running::launch(&format!(
        "udpsrc address=127.0.0.1 port={receiver_port} \
         caps=\"application/x-rtp,media=audio,encoding-name=PCMA,clock-rate=8000,payload=8\" ! \
         rtppcmadepay ! alawdec ! appsink name=sink emit-signals=false sync=false"
    ));
    let buffers = count_samples(&receiver);
    let offer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=phone\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {receiver_port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=recvonly\r\n"
    );
    let answer = rtp.rtp().unwrap().process_offer(&offer).unwrap();
    assert!(
        answer.contains("a=rtpmap:8 PCMA/8000") && answer.contains("a=sendonly"),
        "{answer}"
    );
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0).with_audio()).unwrap());
    let (_pump, _) = negotiate(&peer, &webrtc, &log);
    assert!(
        wait_until(Duration::from_secs(20), || buffers.load(Ordering::SeqCst)
            >= 50),
        "{} audio buffers reached the external receiver",
        buffers.load(Ordering::SeqCst)
    );
    assert_eq!((pipeline.decoder_count(), pipeline.encoder_count()), (1, 1));
    pipeline.release();
}

#[test]
fn set_audio_format_re_encodes_a_browsers_opus_at_the_asked_bitrate() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("opus-bitrate", log.sink(), loopback_settings()).unwrap();
    let rtp = RtpEndpoint::create(&pipeline, "rtp", RtpOptions::default()).unwrap();
    let webrtc = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    webrtc
        .set_output_format(
            MediaKind::Audio,
            Some(OutputFormat::audio(Format::Opus, Some(12_000)).unwrap()),
        )
        .unwrap();
    assert!(OutputFormat::audio(Format::Opus, Some(1)).is_err());
    assert!(OutputFormat::audio(Format::Vp8, None).is_err());
    webrtc.connect(&rtp, MediaKind::Audio).unwrap();
    let receiver_port = free_udp_port();
    let receiver = Running::launch(&format!(
        "udpsrc address=127.0.0.1 port={receiver_port} ! appsink name=sink emit-signals=false sync=false"
    ));
    let bytes = Arc::new(AtomicU64::new(0));
    let packets = Arc::new(AtomicU64::new(0));
    let (counted_bytes, counted_packets) = (bytes.clone(), packets.clone());
    receiver
        .0
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap()
        .set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    let size = sample.buffer().map_or(0, |b| b.size());
                    counted_bytes.fetch_add(size as u64, Ordering::SeqCst);
                    counted_packets.fetch_add(1, Ordering::SeqCst);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    let offer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=receiver\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {receiver_port} RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=recvonly\r\n"
    );
    rtp.rtp().unwrap().process_offer(&offer).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0).with_audio()).unwrap());
    let (_pump, _) = negotiate(&peer, &webrtc, &log);
    assert!(
        wait_until(Duration::from_secs(20), || packets.load(Ordering::SeqCst)
            >= 200),
        "{} packets reached the receiver",
        packets.load(Ordering::SeqCst)
    );
    // 20 ms packets: at 12 kb/s about 30 bytes of Opus each (plus 12 of RTP header); the
    // browser's own stream (opusenc's default, 64 kb/s and more) is several times that.
    let mean = bytes.load(Ordering::SeqCst) / packets.load(Ordering::SeqCst);
    assert!(mean < 80, "{mean} bytes per packet");
    assert!(webrtc.is_media_transcoding(MediaKind::Audio));
    assert_eq!((pipeline.decoder_count(), pipeline.encoder_count()), (0, 1));
    pipeline.release();
}

#[test]
fn an_h264_receiver_in_packetization_mode_0_gets_whole_nal_units() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("h264-mode0", log.sink(), loopback_settings()).unwrap();
    let rtp = RtpEndpoint::create(&pipeline, "rtp", RtpOptions::default()).unwrap();
    let webrtc = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    webrtc.connect(&rtp, MediaKind::Video).unwrap();
    let receiver_port = free_udp_port();
    let receiver = Running::launch(&format!(
        "udpsrc address=127.0.0.1 port={receiver_port} ! appsink name=sink emit-signals=false sync=false"
    ));
    // NAL unit types of the packets' first payload byte (after the 12-byte RTP header).
    let types = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let seen = types.clone();
    receiver
        .0
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap()
        .set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                        if map.len() > 12 {
                            seen.lock().unwrap().push(map[12] & 0x1f);
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    let offer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=receiver\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {receiver_port} RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n\
         a=fmtp:97 profile-level-id=42e01f\r\na=recvonly\r\n"
    );
    let answer = rtp.rtp().unwrap().process_offer(&offer).unwrap();
    assert!(answer.contains("packetization-mode=0"), "{answer}");
    // The photo at 320x240: keyframes of tens of kilobytes, far above the 1200-byte MTU (which
    // would fragment them) and below what one packet carries (at 640x480 they exceed 65000
    // bytes, which nothing can send to a mode-0 receiver whole).
    let mut config = PeerConfig::image(MESSI).with_h264();
    (config.width, config.height) = (320, 240);
    let peer = Arc::new(TestPeer::new(config).unwrap());
    let (_pump, _) = negotiate(&peer, &webrtc, &log);
    assert!(
        wait_until(Duration::from_secs(20), || types
            .lock()
            .unwrap()
            .contains(&5)),
        "no whole keyframe (IDR, type 5) reached the receiver: {:?}",
        types.lock().unwrap()
    );
    let types = types.lock().unwrap().clone();
    assert!(
        types.iter().all(|t| (1..=23).contains(t)),
        "only single NAL unit packets (no STAP-A 24, no FU-A 28): {types:?}"
    );
    assert_eq!(pipeline.encoder_count(), 0);
    pipeline.release();
}
