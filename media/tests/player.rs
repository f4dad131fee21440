//! PlayerEndpoint: files made here with GStreamer are played into a WebRtcEndpoint whose
//! browser-like peer decodes what arrives.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rheo_media::*;

struct Session {
    pipeline: MediaPipeline,
    player: Element,
    log: Arc<EventLog>,
    peer: Arc<TestPeer>,
    _pump: Pump,
}

/// A player of `file` connected to a WebRtcEndpoint negotiated with a VP8 peer.
fn session(name: &str, file: &Path) -> Session {
    session_of(name, format!("file://{}", file.display()), true)
}

/// A player of `uri` connected (video, and audio with `audio`) to a WebRtcEndpoint negotiated
/// with a VP8 peer.
fn session_of(name: &str, uri: String, audio: bool) -> Session {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new(name, log.sink(), loopback_settings()).unwrap();
    let player = PlayerEndpoint::create(
        &pipeline,
        "player",
        PlayerOptions {
            uri,
            network_cache_ms: 200,
        },
    )
    .unwrap();
    let endpoint = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    player.connect(&endpoint, MediaKind::Video).unwrap();
    let mut config = PeerConfig::color(0xff3060a0);
    if audio {
        player.connect(&endpoint, MediaKind::Audio).unwrap();
        config = config.with_audio();
    }
    let peer = Arc::new(TestPeer::new(config).unwrap());
    let (pump, _) = negotiate(&peer, &endpoint, &log);
    Session {
        pipeline,
        player,
        log,
        peer,
        _pump: pump,
    }
}

fn end_of_stream(s: &Session, timeout: Duration) -> bool {
    s.log
        .wait_for(timeout, |e| {
            e.element == "player" && matches!(e.event, MediaEvent::EndOfStream)
        })
        .is_some()
}

#[test]
fn a_vp8_webm_reaches_the_browser_without_transcoding() {
    let s = session("play-webm", &sample("vp8.webm"));
    let player = s.player.player().unwrap();
    player.play().unwrap();
    assert_eq!(player.state(), UriEndpointState::Start);
    assert!(
        s.peer.wait_frames(30, Duration::from_secs(20)),
        "no frames reached the peer"
    );
    assert_eq!(s.pipeline.encoder_count(), 0);
    assert_eq!(s.pipeline.decoder_count(), 0);
    let info = player.video_info();
    assert!(info.seekable, "{info:?}");
    assert!(info.duration_ms.abs_diff(3000) < 200, "{info:?}");
    assert!(player.position_ms() > 0);
    // Played in real time: the end comes after about 3 s, not at once.
    assert!(end_of_stream(&s, Duration::from_secs(10)), "no EndOfStream");
    let frames = s.peer.frames_received();
    assert!((60..=100).contains(&frames), "{frames} frames of 90");
    s.pipeline.release();
}

#[test]
fn pause_seek_and_stop() {
    let s = session("play-seek", &sample("vp8.webm"));
    let player = s.player.player().unwrap();
    player.play().unwrap();
    assert!(s.peer.wait_frames(10, Duration::from_secs(20)));
    player.pause().unwrap();
    assert_eq!(player.state(), UriEndpointState::Pause);
    let paused_at = s.peer.frames_received();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        s.peer.frames_received() <= paused_at + 3,
        "frames kept coming while paused"
    );
    player.set_position_ms(2500).unwrap();
    player.play().unwrap();
    // From 2.5 s, the end comes within about half a second.
    assert!(
        end_of_stream(&s, Duration::from_secs(3)),
        "no EndOfStream after the seek"
    );
    player.stop();
    assert_eq!(player.state(), UriEndpointState::Stop);
    assert_eq!(player.position_ms(), 0);
    // Played again from the start after a stop.
    let before = s.peer.frames_received();
    player.play().unwrap();
    assert!(s.peer.wait_frames(before + 20, Duration::from_secs(10)));
    s.pipeline.release();
}

#[test]
fn an_h264_mp4_is_transcoded_for_a_vp8_browser() {
    let s = session("play-mp4", &sample("h264.mp4"));
    let player = s.player.player().unwrap();
    player.play().unwrap();
    assert!(
        s.peer.wait_frames(30, Duration::from_secs(20)),
        "no frames reached the peer"
    );
    assert!(s.pipeline.encoder_count() >= 1, "VP8 for the browser");
    s.pipeline.release();
}

#[test]
fn a_missing_or_broken_source_fails_at_play() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("play-errors", log.sink(), loopback_settings()).unwrap();
    let text = std::env::temp_dir().join(format!("rheo-player-{}-text.webm", std::process::id()));
    std::fs::write(&text, "not a video\n").unwrap();
    let server = FileServer::start(&sample("vp8.webm"));
    for (id, uri) in [
        (
            "not-found",
            server.url.replace("sample.webm", "missing.webm"),
        ),
        ("missing", "file:///nonexistent/rheo.webm".to_string()),
        ("text", format!("file://{}", text.display())),
        ("refused", "http://127.0.0.1:9/x.webm".to_string()),
        // GStreamer must not follow a redirect itself: the control plane follows them under
        // the URI policy and hands over the last URL.
        (
            "redirect",
            server.url.replace("sample.webm", "redirect.webm"),
        ),
    ] {
        let player = PlayerEndpoint::create(
            &pipeline,
            id,
            PlayerOptions {
                uri: uri.clone(),
                network_cache_ms: 200,
            },
        )
        .unwrap();
        let e = player.player().unwrap().play().unwrap_err();
        assert!(e.message.contains(&uri), "{uri}: {}", e.message);
        if id == "not-found" {
            assert!(e.message.contains("Not Found"), "{}", e.message);
        }
        assert_eq!(player.player().unwrap().state(), UriEndpointState::Stop);
    }
    let _ = std::fs::remove_file(text);
    pipeline.release();
}

/// Serves one file over HTTP/1.1 on 127.0.0.1, with byte ranges (and `/redirect.webm`, a
/// redirect to it); counts the ranged requests.
struct FileServer {
    url: String,
    ranged: Arc<std::sync::atomic::AtomicUsize>,
}

impl FileServer {
    fn start(file: &Path) -> FileServer {
        use std::io::{BufRead, BufReader, Write};
        let body = Arc::new(std::fs::read(file).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/sample.webm", listener.local_addr().unwrap());
        let ranged = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = ranged.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (body, counter) = (body.clone(), counter.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    loop {
                        let mut start = 0usize;
                        let mut request = String::new();
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(range) = lower.strip_prefix("range: bytes=") {
                                start = range.split('-').next().unwrap().trim().parse().unwrap();
                                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            request.push_str(&line);
                        }
                        let first = request.lines().next().unwrap_or("");
                        if first.contains(" /redirect.webm ") {
                            let moved = "HTTP/1.1 302 Found\r\nLocation: /sample.webm\r\n\
                                         Content-Length: 0\r\n\r\n";
                            if stream.write_all(moved.as_bytes()).is_err() {
                                return;
                            }
                            continue;
                        }
                        if !first.contains(" /sample.webm ") {
                            let missing = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
                            if stream.write_all(missing.as_bytes()).is_err() {
                                return;
                            }
                            continue;
                        }
                        let part = &body[start.min(body.len())..];
                        let head = if start > 0 {
                            format!(
                                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\n",
                                body.len() - 1,
                                body.len()
                            )
                        } else {
                            "HTTP/1.1 200 OK\r\n".to_string()
                        };
                        let head = format!(
                            "{head}Accept-Ranges: bytes\r\nContent-Type: video/webm\r\nContent-Length: {}\r\n\r\n",
                            part.len()
                        );
                        if stream.write_all(head.as_bytes()).is_err()
                            || (!request.starts_with("HEAD") && stream.write_all(part).is_err())
                        {
                            return;
                        }
                    }
                });
            }
        });
        FileServer { url, ranged }
    }
}

#[test]
fn an_http_source_plays_and_seeks_with_ranges() {
    let server = FileServer::start(&sample("vp8.webm"));
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("play-http", log.sink(), loopback_settings()).unwrap();
    let player = PlayerEndpoint::create(
        &pipeline,
        "player",
        PlayerOptions {
            uri: server.url.clone(),
            network_cache_ms: 200,
        },
    )
    .unwrap();
    let endpoint = WebRtcEndpoint::create(&pipeline, "ep", WebRtcOptions::default()).unwrap();
    player.connect(&endpoint, MediaKind::Video).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    let (_pump, _) = negotiate(&peer, &endpoint, &log);
    let p = player.player().unwrap();
    p.play().unwrap();
    assert!(
        peer.wait_frames(15, Duration::from_secs(20)),
        "no frames over HTTP"
    );
    assert!(p.video_info().seekable, "{:?}", p.video_info());
    assert_eq!(pipeline.decoder_count(), 0);
    // A seek asks the server for the rest of the file from the new place.
    let before = server.ranged.load(std::sync::atomic::Ordering::SeqCst);
    p.set_position_ms(2000).unwrap();
    assert!(
        log.wait_for(Duration::from_secs(5), |e| {
            e.element == "player" && matches!(e.event, MediaEvent::EndOfStream)
        })
        .is_some(),
        "no EndOfStream after seeking to 2 s of 3"
    );
    assert!(
        server.ranged.load(std::sync::atomic::Ordering::SeqCst) > before,
        "the seek made a ranged request"
    );
    pipeline.release();
}

/// The RTSP server of the camera tests, stopped whatever happens to the test; it reports the
/// TEARDOWN requests it gets.
struct RtspCamera {
    child: std::process::Child,
    port: u16,
    heard: std::sync::mpsc::Receiver<String>,
}

impl RtspCamera {
    /// A live VP8 camera at rtsp://127.0.0.1:<port>/test (`port` 0: any free port).
    fn start(port: u16) -> RtspCamera {
        use std::io::BufRead;
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rtsp_server.py"))
            .arg(
                "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=480,framerate=30/1 \
                 ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay name=pay0 pt=96 )",
            )
            .arg(port.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs tests/rtsp_server.py");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().unwrap().unwrap();
        let port = ready
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .expect("the server is ready");
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(|l| l.ok()) {
                let _ = said.send(line);
            }
        });
        RtspCamera { child, port, heard }
    }

    fn uri(&self) -> String {
        format!("rtsp://127.0.0.1:{}/test", self.port)
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A player of `camera` connected to a WebRtcEndpoint negotiated with a VP8 peer, playing.
fn camera_session(name: &str, camera: &RtspCamera) -> Session {
    let s = session_of(name, camera.uri(), false);
    s.player.player().unwrap().play().unwrap();
    assert!(
        s.peer.wait_frames(30, Duration::from_secs(20)),
        "no frames from the camera"
    );
    s
}

#[test]
fn an_rtsp_camera_plays_and_release_tears_it_down() {
    let camera = RtspCamera::start(0);
    let s = camera_session("play-rtsp", &camera);
    assert_eq!(
        s.pipeline.decoder_count(),
        0,
        "VP8 from the camera as it is"
    );
    s.pipeline.release();
    assert_eq!(
        camera
            .heard
            .recv_timeout(Duration::from_secs(10))
            .as_deref(),
        Ok("teardown"),
        "release sends TEARDOWN"
    );
}

#[test]
fn a_camera_that_drops_is_reported_and_reconnected() {
    let camera = RtspCamera::start(0);
    let port = camera.port;
    let s = camera_session("play-rtsp-drop", &camera);
    let peer = s.peer.clone();
    drop(camera);
    let reported = s.log.wait_for(Duration::from_secs(30), |e| {
        e.element == "player"
            && matches!(&e.event, MediaEvent::Error { description, .. } if description.contains("reconnecting"))
    });
    assert!(reported.is_some(), "no Error event when the camera dropped");
    assert_eq!(
        s.player.player().unwrap().state(),
        UriEndpointState::Start,
        "still playing, as far as the application is concerned"
    );
    let camera = RtspCamera::start(port);
    let before = peer.frames_received();
    assert!(
        peer.wait_frames(before + 30, Duration::from_secs(30)),
        "no frames after the camera came back"
    );
    s.pipeline.release();
    drop(camera);
}

#[test]
fn the_demo_sample_video_is_generated_once_and_complete() {
    init().unwrap();
    let dir = std::env::temp_dir().join(format!("rheo-sample-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = ensure_sample_video(&dir).unwrap();
    assert_eq!(path, dir.join(SAMPLE_VIDEO_NAME));
    let file = common::media_file::inspect(&path).unwrap();
    assert!(
        file.codecs.iter().any(|c| c.contains("vp8"))
            && file.codecs.iter().any(|c| c.contains("opus")),
        "{:?}",
        file.codecs
    );
    let expected = Duration::from_secs(SAMPLE_VIDEO_SECONDS.into());
    assert!(
        file.video_span().abs_diff(expected) < Duration::from_millis(500),
        "{:?}",
        file.video_span()
    );
    assert_eq!(file.video_frames, u64::from(SAMPLE_VIDEO_SECONDS) * 30);
    // Only the finished file is left, and a second start keeps it as it is.
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert_eq!(ensure_sample_video(&dir).unwrap(), path);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        written
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_send_data_demo_clip_shows_its_qr_code_throughout() {
    use gst::prelude::*;
    init().unwrap();
    let dir = std::env::temp_dir().join(format!("rheo-qr-sample-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = ensure_qr_sample_video(&dir).unwrap();
    assert_eq!(path, dir.join(QR_SAMPLE_VIDEO_NAME));
    // GStreamer's own zbar element reads it, in every second of the clip.
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! matroskademux ! vp8dec ! videoconvert ! zbar cache=false ! fakesink",
        path.display()
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut seconds = std::collections::BTreeSet::new();
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(30)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "barcode" {
                    assert_eq!(s.get::<&str>("symbol").unwrap(), QR_SAMPLE_TEXT);
                    seconds.insert(s.get::<u64>("timestamp").unwrap() / 1_000_000_000);
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(seconds.len() as u32, SAMPLE_VIDEO_SECONDS, "{seconds:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_recorder_that_stops_on_end_of_stream_finishes_its_file_when_the_played_file_ends() {
    init().unwrap();
    let log = EventLog::new();
    let pipeline = MediaPipeline::new("play-record", log.sink(), loopback_settings()).unwrap();
    let player = PlayerEndpoint::create(
        &pipeline,
        "player",
        PlayerOptions {
            uri: format!("file://{}", sample("vp8.webm").display()),
            network_cache_ms: 200,
        },
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("rheo-play-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recorder = |id: &str, stop_on_end_of_stream: bool| {
        let rec = RecorderEndpoint::create(
            &pipeline,
            id,
            RecorderOptions {
                target: RecordTarget::File(dir.join(format!("{id}.webm"))),
                profile: MediaProfile::from_kurento("WEBM").unwrap(),
                stop_on_end_of_stream,
            },
        )
        .unwrap();
        player.connect(&rec, MediaKind::Video).unwrap();
        player.connect(&rec, MediaKind::Audio).unwrap();
        rec
    };
    let stopping = recorder("stopping", true);
    let going_on = recorder("going-on", false);
    player.player().unwrap().play().unwrap();
    stopping.recorder().unwrap().record().unwrap();
    going_on.recorder().unwrap().record().unwrap();
    let stopped = |id: &'static str, wait: Duration| {
        log.wait_for(wait, |e| {
            e.element == id && matches!(e.event, MediaEvent::Stopped)
        })
        .is_some()
    };
    assert!(
        stopped("stopping", Duration::from_secs(15)),
        "the recorder did not stop at the end of the stream"
    );
    assert!(log
        .wait_for(Duration::from_secs(5), |e| {
            e.element == "player" && matches!(e.event, MediaEvent::EndOfStream)
        })
        .is_some());
    let file = common::media_file::inspect(&dir.join("stopping.webm")).unwrap();
    assert!(
        // From the first keyframe after `record` (one each second) to the end of the 3 s file.
        file.video_span().as_secs_f64() > 1.8 && file.video_frames >= 55,
        "{:?} over {:?}",
        file.video_frames,
        file.video_span()
    );
    // Without the option, the recorder keeps recording after the end.
    assert!(!stopped("going-on", Duration::from_millis(500)));
    assert_eq!(
        going_on.recorder().unwrap().state(),
        UriEndpointState::Start
    );
    pipeline.release();
    let _ = std::fs::remove_dir_all(&dir);
}
