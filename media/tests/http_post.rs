//! HttpPostEndpoint: a file pushed in chunks, as the HTTP side does, plays into a
//! WebRtcEndpoint whose browser-like peer decodes what arrives.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rheo_media::*;

struct Session {
    pipeline: MediaPipeline,
    endpoint: Element,
    log: Arc<EventLog>,
    peer: Arc<TestPeer>,
    _pump: Pump,
}

fn session(name: &str, disconnection_timeout: Duration) -> Session {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new(name, log.sink(), loopback_settings()).unwrap();
    let endpoint = HttpPostEndpoint::create(
        &pipeline,
        "post",
        HttpPostOptions {
            token: format!("{name}token{}", std::process::id()).replace('-', ""),
            disconnection_timeout,
        },
    )
    .unwrap();
    let webrtc = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    endpoint.connect(&webrtc, MediaKind::Video).unwrap();
    endpoint.connect(&webrtc, MediaKind::Audio).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0).with_audio()).unwrap());
    let (pump, _) = negotiate(&peer, &webrtc, &log);
    Session {
        pipeline,
        endpoint,
        log,
        peer,
        _pump: pump,
    }
}

impl Session {
    fn target(&self) -> UploadTarget {
        upload_target(self.endpoint.http_post().unwrap().token()).expect("registered")
    }

    fn wait_event(&self, timeout: Duration, want: fn(&MediaEvent) -> bool) -> Option<MediaEvent> {
        self.log
            .wait_for(timeout, |e| e.element == "post" && want(&e.event))
            .map(|e| e.event)
    }
}

/// Pushes `bytes` in 16 KiB pieces, as the HTTP side does with a request body.
fn push_all(upload: &Upload, bytes: &[u8]) {
    for chunk in bytes.chunks(16 << 10) {
        upload.push(chunk.to_vec()).unwrap();
    }
}

#[test]
fn an_uploaded_webm_plays_without_transcoding_and_ends_with_end_of_stream() {
    let s = session("post-webm", Duration::from_secs(2));
    let file = std::fs::read(sample("vp8.webm")).unwrap();
    let target = s.target();
    let upload = target.begin().unwrap();
    // One upload at a time.
    assert_eq!(target.begin().err(), Some(UploadRefused::Busy));
    push_all(&upload, &file);
    upload.finish().unwrap();
    assert!(
        s.peer.wait_frames(30, Duration::from_secs(20)),
        "no frames reached the peer"
    );
    assert_eq!(s.pipeline.encoder_count(), 0);
    assert_eq!(s.pipeline.decoder_count(), 0);
    assert!(
        s.wait_event(Duration::from_secs(10), |e| matches!(
            e,
            MediaEvent::EndOfStream
        ))
        .is_some(),
        "no EndOfStream"
    );
    // Played at its pace, so the peer saw most of the 90 frames.
    let frames = s.peer.frames_received();
    assert!((60..=100).contains(&frames), "{frames} frames of 90");
    assert_eq!(target.begin().err(), Some(UploadRefused::Ended));
    s.pipeline.release();
    assert!(upload_target(s.endpoint.http_post().unwrap().token()).is_none());
}

#[test]
fn a_lost_connection_is_resumed_by_the_next_post() {
    let s = session("post-resume", Duration::from_secs(5));
    let file = std::fs::read(sample("vp8.webm")).unwrap();
    let (first, rest) = file.split_at(file.len() / 3);
    let target = s.target();
    let upload = target.begin().unwrap();
    push_all(&upload, first);
    drop(upload); // the connection is lost
    let upload = target.begin().unwrap();
    push_all(&upload, rest);
    upload.finish().unwrap();
    assert!(
        s.wait_event(Duration::from_secs(15), |e| matches!(
            e,
            MediaEvent::EndOfStream
        ))
        .is_some(),
        "no EndOfStream"
    );
    let frames = s.peer.frames_received();
    assert!((60..=100).contains(&frames), "{frames} frames of 90");
    s.pipeline.release();
}

#[test]
fn a_lost_connection_not_resumed_ends_the_stream_after_the_timeout() {
    let s = session("post-lost", Duration::from_millis(500));
    let file = std::fs::read(sample("vp8.webm")).unwrap();
    let target = s.target();
    let upload = target.begin().unwrap();
    push_all(&upload, &file[..file.len() / 2]);
    drop(upload);
    assert!(
        s.wait_event(Duration::from_secs(15), |e| matches!(
            e,
            MediaEvent::EndOfStream
        ))
        .is_some(),
        "no EndOfStream after the disconnection timeout"
    );
    assert_eq!(target.begin().err(), Some(UploadRefused::Ended));
    s.pipeline.release();
}

#[test]
fn an_upload_that_is_not_media_is_an_error_event() {
    let s = session("post-text", Duration::from_secs(2));
    let upload = s.target().begin().unwrap();
    let text = "this is not a video\n".repeat(4000);
    // The decoder gives up on the bytes: pushing fails, or the error event comes, or both.
    let _ = text
        .as_bytes()
        .chunks(4096)
        .try_for_each(|chunk| upload.push(chunk.to_vec()));
    let refused = upload.finish().unwrap_err();
    assert!(
        refused.message.contains("the upload"),
        "{}",
        refused.message
    );
    let error = s
        .wait_event(Duration::from_secs(20), |e| {
            matches!(e, MediaEvent::Error { .. })
        })
        .expect("an Error event");
    let MediaEvent::Error { description, .. } = error else {
        unreachable!()
    };
    assert!(description.contains("the upload"), "{description}");
    s.pipeline.release();
}
