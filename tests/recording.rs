//! RecorderEndpoint through the protocol, as Kurento's recorder tutorials drive it: a WebRTC
//! loopback that is also recorded, `record`, `stopAndWait`, and the file decoded afterwards.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{start_server, Client, ScratchDir, MEDIA_TIMEOUT};
use rheo_media::test_media_file::inspect;
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

async fn recorder(c: &mut Client, p: &str, uri: &str, profile: Option<&str>) -> Value {
    let mut params = json!({"mediaPipeline": p, "uri": uri});
    if let Some(profile) = profile {
        params["mediaProfile"] = json!(profile);
    }
    c.request(
        "create",
        json!({"type": "RecorderEndpoint", "constructorParams": params}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_recorder_tutorial_records_a_playable_file() {
    let root = ScratchDir::new("recording-root");
    let (addr, _) = start_server(&["--media-root", root.to_str().unwrap()]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let uri = format!("file://{}/tutorial.webm", root.display());
    let r = recorder(&mut c, &p, &uri, None).await["result"]["value"]
        .as_str()
        .expect("recorder created")
        .to_owned();
    for ev in ["Recording", "Stopped", "UriEndpointStateChanged"] {
        c.subscribe(&r, ev).await;
    }
    c.invoke(&w, "connect", json!({"sink": w})).await;
    c.invoke(&w, "connect", json!({"sink": r})).await;
    let peer = Arc::new(
        TestPeer::new(PeerConfig::color(0xff3060a0).with_audio().with_frame_code()).unwrap(),
    );
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(10, MEDIA_TIMEOUT))
        .await;
    assert_eq!(c.invoke(&r, "getState", Value::Null).await["value"], "STOP");
    c.invoke(&r, "record", Value::Null).await;
    c.event(|e| e["type"] == "UriEndpointStateChanged" && e["data"]["state"] == "START")
        .await;
    c.event(|e| e["type"] == "Recording").await;
    assert_eq!(
        c.invoke(&r, "getState", Value::Null).await["value"],
        "START"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.invoke(&r, "stopAndWait", Value::Null).await;
    c.event(|e| e["type"] == "Stopped").await;
    c.event(|e| e["type"] == "UriEndpointStateChanged" && e["data"]["state"] == "STOP")
        .await;
    assert_eq!(c.invoke(&r, "getUri", Value::Null).await["value"], uri);
    assert_eq!(
        c.invoke(&r, "isMediaTranscoding", json!({"mediaType": "VIDEO"}))
            .await["value"],
        false
    );

    let path = root.join("tutorial.webm");
    let f = tokio::task::spawn_blocking(move || inspect(&path))
        .await
        .unwrap()
        .unwrap();
    assert!(
        f.codecs.contains(&"video/x-vp8".into()) && f.codecs.contains(&"audio/x-opus".into()),
        "{f:?}"
    );
    assert!(f.video_frames >= 45, "about 2 s at 30 fps: {f:?}");
    assert!(f.audio_buffers > 0, "{f:?}");
    let (missing, in_order) = f.frame_code_gaps();
    assert!(in_order && missing * 20 < f.video_frames, "{f:?}");

    // Played back to the same browser, as the tutorial's second half does.
    let player = c
        .create("PlayerEndpoint", json!({"mediaPipeline": p, "uri": uri}))
        .await;
    c.subscribe(&player, "EndOfStream").await;
    c.invoke(&player, "connect", json!({"sink": w})).await;
    let before = peer.frames_received();
    c.invoke(&player, "play", Value::Null).await;
    let info = c.invoke(&player, "getVideoInfo", Value::Null).await["value"].clone();
    assert_eq!(info["isSeekable"], true, "{info}");
    let duration = info["duration"].as_i64().unwrap();
    assert!((1500..=2600).contains(&duration), "{info}");
    c.event(|e| e["type"] == "EndOfStream").await;
    let played = peer.frames_received() - before;
    assert!(played >= 30, "{played} frames played back");
    assert_eq!(
        c.invoke(&w, "isMediaTranscoding", json!({"mediaType": "VIDEO"}))
            .await["value"],
        false,
        "a VP8 WEBM into a VP8 endpoint"
    );
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recorder_arguments_are_checked() {
    let root = ScratchDir::new("recording-errors");
    let (addr, _) = start_server(&["--media-root", root.to_str().unwrap()]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let inside = format!("file://{}/a.mp4", root.display());
    for (profile, named) in [
        ("FLV", "not supported"),
        ("MPEG2", "not a MediaProfileSpecType"),
    ] {
        let e = recorder(&mut c, &p, &inside, Some(profile)).await["error"].clone();
        assert_eq!(e["code"], 40001, "{e}");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(profile) && message.contains(named), "{e}");
    }
    // Outside the root and missing read the same.
    let nowhere = "no such file in the server's media root";
    for uri in [
        "file:///etc/rheo.webm".to_string(),
        format!("file://{}/../escape.webm", root.display()),
        format!("file://{}/missing/dir.webm", root.display()),
    ] {
        let e = recorder(&mut c, &p, &uri, None).await["error"].clone();
        assert_eq!(e["code"], 40107, "{uri}: {e}");
        assert!(e["message"].as_str().unwrap().contains(nowhere), "{e}");
    }
    let e = recorder(&mut c, &p, "rtsp://127.0.0.1/x", None).await["error"].clone();
    assert_eq!(e["code"], 40107, "{e}");
    // A player reads only what exists in the root, with the same wording.
    for uri in [
        "file:///etc/passwd".to_string(),
        format!("file://{}/missing.webm", root.display()),
    ] {
        let e = c
            .request(
                "create",
                json!({"type": "PlayerEndpoint",
                       "constructorParams": {"mediaPipeline": p, "uri": uri}}),
            )
            .await["error"]
            .clone();
        assert_eq!(e["code"], 40107, "{uri}: {e}");
        assert!(e["message"].as_str().unwrap().contains(nowhere), "{e}");
    }
    // A profile it supports, inside the root: created, stopped without ever recording.
    let ok = recorder(&mut c, &p, &inside, Some("MP4_VIDEO_ONLY")).await;
    let r = ok["result"]["value"].as_str().expect("created").to_owned();
    // Connected without a media type, as the tutorials do: the video (and data) it takes.
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.invoke(&w, "connect", json!({"sink": r})).await;
    let links = c.invoke(&w, "getSinkConnections", Value::Null).await["value"].clone();
    let kinds: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"VIDEO") && !kinds.contains(&"AUDIO"),
        "{links}"
    );
    c.invoke(&r, "stop", Value::Null).await;
    c.invoke(&r, "pause", Value::Null).await;
    assert_eq!(c.invoke(&r, "getState", Value::Null).await["value"], "STOP");
    let hierarchy = c.ok("describe", json!({"object": r})).await["hierarchy"].clone();
    assert!(
        hierarchy
            .as_array()
            .unwrap()
            .contains(&json!("kurento.UriEndpoint")),
        "{hierarchy}"
    );
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vanished_client_leaves_a_complete_file() {
    let root = ScratchDir::new("recording-vanished");
    let (addr, _) = start_server(&[
        "--media-root",
        root.to_str().unwrap(),
        "--gc-period-secs",
        "1",
    ])
    .await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let r = c
        .create(
            "RecorderEndpoint",
            json!({"mediaPipeline": p, "uri": "vanished.mkv", "mediaProfile": "MKV"}),
        )
        .await;
    c.invoke(&w, "connect", json!({"sink": w})).await;
    c.invoke(&w, "connect", json!({"sink": r})).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0).with_audio()).unwrap());
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(10, MEDIA_TIMEOUT))
        .await;
    c.subscribe(&r, "Recording").await;
    c.invoke(&r, "record", Value::Null).await;
    c.event(|e| e["type"] == "Recording").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Gone without a word: the session is collected and its recording finished.
    let mut watcher = Client::connect(addr).await;
    watcher
        .subscribe("manager_ServerManager", "ObjectDestroyed")
        .await;
    c.close().await;
    watcher
        .event(|e| e["type"] == "ObjectDestroyed" && e["data"]["objectId"] == p.as_str())
        .await;
    let path = root.join("vanished.mkv");
    let f = tokio::task::spawn_blocking(move || inspect(&path))
        .await
        .unwrap()
        .unwrap();
    assert!(f.declared_duration.is_some(), "a finished MKV: {f:?}");
    assert!(
        f.video_span() >= Duration::from_millis(1500) && f.audio_buffers > 0,
        "{f:?}"
    );
}

/// setVideoFormat: the recorder gets H.264 at 15 fps from a browser that sends VP8 at 30 fps;
/// asking for what the endpoint sends removes the stage again.
#[tokio::test(flavor = "multi_thread")]
async fn set_video_format_reshapes_what_connections_receive() {
    let root = ScratchDir::new("video-format");
    let (addr, _) = start_server(&["--media-root", root.to_str().unwrap()]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    for (caps, code) in [
        (json!({"codec": "VP9"}), 40001),
        (json!({"codec": "MPEG2"}), 40001),
        (
            json!({"codec": "H264", "framerate": {"numerator": 0, "denominator": 1}}),
            40001,
        ),
        (
            json!({"codec": "H264", "framerate": {"numerator": 1000, "denominator": 1}}),
            40001,
        ),
        (json!({"codec": "H264", "framerate": "fast"}), 40001),
        (json!("H264"), 40001),
    ] {
        let e = c
            .invoke_err(&w, "setVideoFormat", json!({"caps": caps}))
            .await;
        assert_eq!(e["code"], code, "{caps}: {e}");
    }
    for caps in [
        json!({"codec": "G722"}),
        json!({"codec": "OPUS", "bitrate": 10}),
        json!({"codec": "OPUS", "bitrate": -5}),
        json!({"bitrate": 32000}),
    ] {
        let e = c
            .invoke_err(&w, "setAudioFormat", json!({"caps": caps}))
            .await;
        assert_eq!(e["code"], 40001, "{caps}: {e}");
    }
    // Accepted; nothing is built while no connection takes the audio.
    c.invoke(
        &w,
        "setAudioFormat",
        json!({"caps": {"codec": "PCMU", "bitrate": 0}}),
    )
    .await;
    c.invoke(
        &w,
        "setAudioFormat",
        json!({"caps": {"codec": "OPUS", "bitrate": 32000}}),
    )
    .await;
    assert_eq!(
        c.invoke(&w, "isMediaTranscoding", json!({"mediaType": "AUDIO"}))
            .await["value"],
        false
    );

    c.invoke(
        &w,
        "setVideoFormat",
        json!({"caps": {"__module__": "kurento", "__type__": "VideoCaps", "codec": "H264",
                        "framerate": {"__module__": "kurento", "__type__": "Fraction",
                                      "numerator": 15, "denominator": 1}}}),
    )
    .await;
    let uri = format!("file://{}/shaped.mkv", root.display());
    let r = recorder(&mut c, &p, &uri, Some("MKV_VIDEO_ONLY")).await["result"]["value"]
        .as_str()
        .expect("recorder created")
        .to_owned();
    c.invoke(&w, "connect", json!({"sink": r, "mediaType": "VIDEO"}))
        .await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff2080c0)).unwrap());
    c.negotiate_with_peer(&w, &peer, |_| true).await;
    let deadline = tokio::time::Instant::now() + MEDIA_TIMEOUT;
    while c
        .invoke(&r, "isMediaFlowingIn", json!({"mediaType": "VIDEO"}))
        .await["value"]
        != true
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no video reached the recorder"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.invoke(&r, "record", Value::Null).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        c.invoke(&w, "isMediaTranscoding", json!({"mediaType": "VIDEO"}))
            .await["value"],
        true
    );
    c.invoke(&r, "stopAndWait", Value::Null).await;
    let path = root.join("shaped.mkv");
    let f = tokio::task::spawn_blocking(move || inspect(&path))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.codecs, ["video/x-h264"], "{f:?}");
    let fps = f.video_frames as f64 / f.video_span().as_secs_f64();
    assert!((12.0..=17.0).contains(&fps), "{fps} fps: {f:?}");

    // What the endpoint sends anyway: no stage. (The recorder goes first: its file is H.264,
    // so it would keep an encoder of its own.)
    c.ok("release", json!({"object": r})).await;
    c.invoke(&w, "setVideoFormat", json!({"caps": {"codec": "VP8"}}))
        .await;
    assert_eq!(
        c.invoke(&w, "isMediaTranscoding", json!({"mediaType": "VIDEO"}))
            .await["value"],
        false
    );
    c.ok("release", json!({"object": p})).await;
}
