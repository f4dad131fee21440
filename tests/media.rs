//! Media through the protocol: a webrtcbin peer (acting as the browser) drives Rheo over its
//! WebSocket exactly as the Kurento hello-world and magic-mirror tutorials do.

mod common;

use std::sync::Arc;

use common::{face_image, start_server, Client, ScratchDir, MEDIA_TIMEOUT};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn hello_world_loopback_returns_the_frames_it_was_sent() {
    let (mut c, p, w) = common::endpoint_session(&[]).await;
    for ev in [
        "MediaStateChanged",
        "MediaSessionStarted",
        "NewCandidatePairSelected",
        "IceGatheringDone",
        "MediaFlowInStateChanged",
    ] {
        c.subscribe(&w, ev).await;
    }
    c.invoke(&w, "connect", json!({"sink": w})).await;
    // A distinctive colour: orange-ish (R high, G mid, B low).
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xffe08020)).unwrap());
    let elapsed = c
        .negotiate_with_peer(&w, &peer, |p| p.wait_frames(30, MEDIA_TIMEOUT))
        .await;
    println!("processOffer -> 30th frame back: {elapsed:?}");
    let [r, g, b] = peer.mean_rgb_of_last_frame().unwrap();
    assert!(
        (r - 224.0).abs() < 30.0 && (g - 128.0).abs() < 30.0 && (b - 32.0).abs() < 30.0,
        "colour {r} {g} {b}"
    );

    c.event(|e| e["type"] == "MediaSessionStarted").await;
    c.event(|e| e["type"] == "IceGatheringDone").await;
    let ev = c.event(|e| e["type"] == "NewCandidatePairSelected").await;
    assert!(ev["data"]["candidatePair"]["localCandidate"]
        .as_str()
        .unwrap()
        .starts_with("candidate:"));
    let ev = c.event(|e| e["type"] == "MediaStateChanged").await;
    assert_eq!(
        (
            ev["data"]["oldState"].clone(),
            ev["data"]["newState"].clone()
        ),
        (json!("DISCONNECTED"), json!("CONNECTED"))
    );
    c.event(|e| e["type"] == "MediaFlowInStateChanged" && e["data"]["state"] == "FLOWING")
        .await;
    assert_eq!(
        c.invoke(&w, "isMediaTranscoding", json!({"mediaType": "VIDEO"}))
            .await["value"],
        false
    );
    assert_eq!(
        c.invoke(&w, "isMediaFlowingIn", json!({"mediaType": "VIDEO"}))
            .await["value"],
        true
    );
    let stats = c
        .invoke(&w, "getStats", json!({"mediaType": "VIDEO"}))
        .await["value"]
        .clone();
    let inbound = stats
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["type"] == "inboundrtp")
        .expect("inbound stats");
    assert!(inbound["packetsReceived"].as_u64().unwrap() > 0, "{stats}");
    assert!(
        c.invoke(&w, "getLocalSessionDescriptor", Value::Null).await["value"]
            .as_str()
            .unwrap()
            .starts_with("v=0")
    );
    c.ok("release", json!({"object": p})).await;
}

/// An opaque 64x64 PNG of one colour, made with GStreamer.
fn solid_png(path: &std::path::Path, argb: u32) {
    common::run_to_eos(&format!(
        "videotestsrc pattern=solid-color foreground-color={argb} num-buffers=1 ! video/x-raw,width=64,height=64 ! pngenc ! filesink location={}",
        path.display()
    ));
}

fn is_pure_blue(f: &rheo_media::test_peer::Frame, x: usize, y: usize) -> bool {
    let o = (y * f.width + x) * 3;
    let (r, g, b) = (f.rgb[o] as i32, f.rgb[o + 1] as i32, f.rgb[o + 2] as i32);
    b > 200 && r < 60 && g < 60
}

/// Top-left corner of some `size`x`size` block of pure blue pixels, if the frame has one.
fn solid_blue_block(f: &rheo_media::test_peer::Frame, size: usize) -> Option<(usize, usize)> {
    // Summed-area table of the blue mask.
    let (w, h) = (f.width, f.height);
    let mut sat = vec![0u32; (w + 1) * (h + 1)];
    for y in 0..h {
        for x in 0..w {
            sat[(y + 1) * (w + 1) + x + 1] = is_pure_blue(f, x, y) as u32
                + sat[y * (w + 1) + x + 1]
                + sat[(y + 1) * (w + 1) + x]
                - sat[y * (w + 1) + x];
        }
    }
    let full = (size * size) as u32;
    (0..h.saturating_sub(size))
        .flat_map(|y| (0..w.saturating_sub(size)).map(move |x| (x, y)))
        .find(|&(x, y)| {
            let at = |xx: usize, yy: usize| sat[yy * (w + 1) + xx];
            at(x + size, y + size) + at(x, y) - at(x + size, y) - at(x, y + size) == full
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn magic_mirror_draws_the_overlay_on_the_face() {
    let dir = ScratchDir::new("mm");
    let png = dir.join("blue.png");
    solid_png(&png, 0xff0000ff);
    let (mut c, p, w) = common::endpoint_session(&[]).await;
    let f = c
        .create("FaceOverlayFilter", json!({"mediaPipeline": p}))
        .await;
    // A missing image and an unreachable server are errors, not silence.
    let e = c
        .invoke_err(
            &f,
            "setOverlayedImage",
            json!({"uri": "file:///nonexistent/hat.png", "offsetXPercent": 0.0,
        "offsetYPercent": 0.0, "widthPercent": 1.0, "heightPercent": 1.0}),
        )
        .await;
    assert_eq!(e["code"], 40107, "{e}");
    let e = c
        .invoke_err(
            &f,
            "setOverlayedImage",
            json!({"uri": "http://127.0.0.1:9/hat.png", "offsetXPercent": 0.0,
        "offsetYPercent": 0.0, "widthPercent": 1.0, "heightPercent": 1.0}),
        )
        .await;
    assert_eq!(e["code"], 40107, "{e}");
    // Geometry (0, 0, 1, 1): the overlay covers exactly the face box.
    c.invoke(
        &f,
        "setOverlayedImage",
        json!({"uri": format!("file://{}", png.display()), "offsetXPercent": 0.0,
        "offsetYPercent": 0.0, "widthPercent": 1.0, "heightPercent": 1.0}),
    )
    .await;
    c.loop_through(&w, &f).await;

    let peer = Arc::new(TestPeer::new(PeerConfig::image(face_image().to_str().unwrap())).unwrap());
    // The overlay is opaque blue, so a drawn face is a solid blue block (the jersey's stripes
    // are blue-ish too, but never solid over 48x48).
    let found = Arc::new(std::sync::Mutex::new(None));
    let slot = found.clone();
    let elapsed = c
        .negotiate_with_peer(&w, &peer, move |p| {
            let frame = p.wait_frame_where(MEDIA_TIMEOUT, |fr| solid_blue_block(fr, 48).is_some());
            let seen = frame.is_some();
            *slot.lock().unwrap() = frame;
            seen
        })
        .await;
    println!("processOffer -> first frame with the overlay: {elapsed:?}");
    let frame = found.lock().unwrap().take().unwrap();
    if let Ok(dir) = std::env::var("RHEO_TEST_DUMP") {
        let mut ppm = format!("P6 {} {} 255\n", frame.width, frame.height).into_bytes();
        ppm.extend_from_slice(&frame.rgb);
        std::fs::write(std::path::Path::new(&dir).join("magic-mirror.ppm"), ppm).unwrap();
    }
    let (x, y) = solid_blue_block(&frame, 48).unwrap();
    let blue = (0..frame.height)
        .flat_map(|y| (0..frame.width).map(move |x| (x, y)))
        .filter(|&(x, y)| is_pure_blue(&frame, x, y))
        .count();
    assert!(
        blue < frame.width * frame.height / 3,
        "the overlay is face-sized, not the frame: {blue} blue pixels"
    );
    assert!(
        x > 0 && y > 0,
        "the face box is inside the picture (block at {x},{y})"
    );
    assert_eq!(
        c.invoke(&f, "isMediaTranscoding", json!({"mediaType": "VIDEO"}))
            .await["value"],
        true
    );

    c.invoke(&f, "unsetOverlayedImage", Value::Null).await;
    let peer2 = peer.clone();
    let cleared = tokio::task::spawn_blocking(move || {
        peer2.wait_frame_where(MEDIA_TIMEOUT, |fr| solid_blue_block(fr, 24).is_none())
    })
    .await
    .unwrap();
    assert!(
        cleared.is_some(),
        "overlay removed after unsetOverlayedImage"
    );
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_vanishing_mid_negotiation_harms_nobody() {
    let (addr, core) = start_server(&["--gc-period-secs", "1"]).await;
    let mut watcher = Client::connect(addr).await;
    watcher
        .subscribe("manager_ServerManager", "ObjectDestroyed")
        .await;
    let kept = watcher.create("MediaPipeline", Value::Null).await;

    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let peer = TestPeer::new(PeerConfig::color(0xff00ff00)).unwrap();
    let offer = tokio::task::spawn_blocking(move || peer.create_offer())
        .await
        .unwrap()
        .unwrap();
    // Send processOffer and gatherCandidates, then vanish without reading the answers.
    c.send_raw(&json!({"jsonrpc": "2.0", "method": "invoke", "id": 100,
        "params": {"object": w, "operation": "processOffer", "operationParams": {"offer": offer}, "sessionId": c.session}}).to_string()).await;
    c.send_raw(
        &json!({"jsonrpc": "2.0", "method": "invoke", "id": 101,
        "params": {"object": w, "operation": "gatherCandidates", "sessionId": c.session}})
        .to_string(),
    )
    .await;
    drop(c);

    // The abandoned pipeline is collected; the watcher's is not.
    watcher
        .event(|e| e["type"] == "ObjectDestroyed" && e["data"]["objectId"] == p.as_str())
        .await;
    assert_eq!(
        watcher.ok("describe", json!({"object": kept})).await["type"],
        "MediaPipeline"
    );
    assert_eq!(core.object_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn candidates_use_the_configured_port_range() {
    let (mut c, p, w) =
        common::endpoint_session(&["--min-port", "41000", "--max-port", "41099"]).await;
    c.invoke(&w, "connect", json!({"sink": w})).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff2040e0)).unwrap());
    c.subscribe(&w, "IceGatheringDone").await;
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(5, MEDIA_TIMEOUT))
        .await;
    c.event(|e| e["type"] == "IceGatheringDone").await;
    // Candidates forwarded during negotiation were consumed; ask for the local SDP's too.
    let local = c.invoke(&w, "getLocalSessionDescriptor", Value::Null).await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let pair = c.invoke(&w, "getICECandidatePairs", Value::Null).await["value"].clone();
    let local_candidate = pair[0]["localCandidate"]
        .as_str()
        .expect("a selected pair")
        .to_owned();
    let port: u16 = local_candidate
        .split_whitespace()
        .nth(5)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (41000..=41099).contains(&port),
        "selected local candidate {local_candidate}"
    );
    for line in local.lines().filter(|l| l.starts_with("a=candidate:")) {
        let port: u16 = line.split_whitespace().nth(5).unwrap().parse().unwrap();
        assert!((41000..=41099).contains(&port), "{line}");
    }
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recvonly_and_sendonly_endpoints_answer_with_those_directions() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    for (option, direction) in [("recvonly", "a=recvonly"), ("sendonly", "a=sendonly")] {
        let w = c
            .create("WebRtcEndpoint", json!({"mediaPipeline": p, option: true}))
            .await;
        let peer = TestPeer::new(PeerConfig::color(0xff808080)).unwrap();
        let offer = tokio::task::spawn_blocking(move || peer.create_offer())
            .await
            .unwrap()
            .unwrap();
        let answer = c.invoke(&w, "processOffer", json!({"offer": offer})).await["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let video = answer
            .split("m=")
            .find(|m| m.starts_with("video"))
            .expect("a video m-line");
        assert!(video.contains(direction), "{option}: {video}");
    }
    let e = c
        .err("create", json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": p, "recvonly": true, "sendonly": true}}))
        .await;
    assert_eq!(e["code"], 40001);
}

#[tokio::test(flavor = "multi_thread")]
async fn host_candidates_announce_the_external_ipv4() {
    // TEST-NET-3 address: only announced, never sent to (the peer is not given the candidates).
    let (mut c, p, w) = common::endpoint_session(&["--external-ipv4", "203.0.113.7"]).await;
    c.subscribe(&w, "IceCandidateFound").await;
    c.subscribe(&w, "IceGatheringDone").await;
    let peer = TestPeer::new(PeerConfig::color(0xff808080)).unwrap();
    let offer = tokio::task::spawn_blocking(move || peer.create_offer())
        .await
        .unwrap()
        .unwrap();
    c.invoke(&w, "processOffer", json!({"offer": offer})).await;
    c.invoke(&w, "gatherCandidates", Value::Null).await;
    c.event(|e| e["type"] == "IceGatheringDone").await;
    let found = c.take_events(|e| e["type"] == "IceCandidateFound");
    let hosts: Vec<String> = found
        .iter()
        .map(|e| {
            e["data"]["candidate"]["candidate"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        // IPv4 host candidates (IPv6 ones keep their address).
        .filter(|c| c.contains("typ host") && c.split(' ').nth(4).is_some_and(|a| a.contains('.')))
        .collect();
    assert!(!hosts.is_empty(), "host candidates: {found:?}");
    for cand in hosts {
        assert_eq!(cand.split(' ').nth(4), Some("203.0.113.7"), "{cand}");
    }
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chroma_filter_replaces_the_key_colour_with_the_background() {
    let dir = ScratchDir::new("chroma");
    let png = dir.join("blue.png");
    solid_png(&png, 0xff2030d0);
    let (mut c, p, w) = common::endpoint_session(&[]).await;
    let window = json!({"topRightCornerX": 5, "topRightCornerY": 5, "width": 30, "height": 30,
                        "__module__": "chroma", "__type__": "WindowParam"});
    let f = c
        .create("chroma.ChromaFilter", json!({"mediaPipeline": p, "window": window,
                                              "backgroundImage": format!("file://{}", png.display())}))
        .await;
    c.loop_through(&w, &f).await;
    // The camera shows nothing but a green screen: after calibration the whole picture is the
    // background image.
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff30c040)).unwrap());
    let blue = |fr: &rheo_media::test_peer::Frame| {
        let [r, g, b] = fr.mean_rgb_all();
        (r - 32.0).abs() < 30.0 && (g - 48.0).abs() < 30.0 && (b - 208.0).abs() < 30.0
    };
    c.negotiate_with_peer(&w, &peer, move |p| {
        p.wait_frame_where(MEDIA_TIMEOUT, blue).is_some()
    })
    .await;
    // Without a background the keyed area is a neutral grey, not the green.
    c.invoke(&f, "unsetBackground", Value::Null).await;
    let peer2 = peer.clone();
    let grey = tokio::task::spawn_blocking(move || {
        peer2.wait_frame_where(MEDIA_TIMEOUT, |fr| {
            let [r, g, b] = fr.mean_rgb_all();
            (r - g).abs() < 20.0 && (g - b).abs() < 20.0 && (r - 128.0).abs() < 40.0
        })
    })
    .await
    .unwrap();
    assert!(grey.is_some(), "neutral grey after unsetBackground");
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pointer_detector_events_reach_the_client() {
    let (mut c, p, w) = common::endpoint_session(&[]).await;
    let region = json!({"topRightCornerX": 5, "topRightCornerY": 5, "width": 30, "height": 30});
    let f = c
        .create(
            "pointerdetector.PointerDetectorFilter",
            json!({"mediaPipeline": p, "calibrationRegion": region}),
        )
        .await;
    c.subscribe(&f, "WindowIn").await;
    c.subscribe(&f, "WindowOut").await;
    c.loop_through(&w, &f).await;
    // A camera filled with one saturated colour: once tracked, the "pointer" is the whole
    // picture, centred at (320, 240), inside a window placed there.
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff2040e0)).unwrap());
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(10, MEDIA_TIMEOUT))
        .await;
    c.invoke(&f, "trackColorFromCalibrationRegion", Value::Null)
        .await;
    let window = json!({"id": "centre", "width": 100, "height": 100, "upperRightX": 270, "upperRightY": 190,
                        "__module__": "pointerdetector", "__type__": "PointerDetectorWindowMediaParam"});
    c.invoke(&f, "addWindow", json!({"window": window})).await;
    let ev = c.event(|e| e["type"] == "WindowIn").await;
    assert_eq!(ev["object"], f.as_str());
    assert_eq!(ev["data"]["windowId"], "centre");
    assert_eq!(ev["data"]["source"], f.as_str());
    assert!(ev["data"]["timestampMillis"].is_string());
    c.invoke(&f, "removeWindow", json!({"windowId": "centre"}))
        .await;
    let ev = c.event(|e| e["type"] == "WindowOut").await;
    assert_eq!(ev["data"]["windowId"], "centre");
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gstreamer_filter_runs_any_element_and_its_properties_change_live() {
    let (mut c, p, w) = common::endpoint_session(&[]).await;
    let f = c
        .create(
            "GStreamerFilter",
            json!({"mediaPipeline": p, "command": "videobalance saturation=0.0"}),
        )
        .await;
    c.loop_through(&w, &f).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xffd02020)).unwrap());
    // Saturation 0: the red picture comes back grey.
    let grey = |fr: &rheo_media::test_peer::Frame| {
        let [r, g, b] = fr.mean_rgb_all();
        (r - g).abs() < 15.0 && (g - b).abs() < 15.0
    };
    c.negotiate_with_peer(&w, &peer, move |p| {
        p.wait_frame_where(MEDIA_TIMEOUT, grey).is_some()
    })
    .await;
    c.invoke(
        &f,
        "setElementProperty",
        json!({"propertyName": "saturation", "propertyValue": "1.0"}),
    )
    .await;
    let peer2 = peer.clone();
    let red = tokio::task::spawn_blocking(move || {
        peer2.wait_frame_where(MEDIA_TIMEOUT, |fr| {
            let [r, g, b] = fr.mean_rgb_all();
            r > g + 100.0 && r > b + 100.0
        })
    })
    .await
    .unwrap();
    assert!(red.is_some(), "colour back after setElementProperty");
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faces_travel_as_metadata_from_detect_faces_to_show_faces() {
    let (mut c, p, w) = common::endpoint_session(&[]).await;
    let detect = c
        .create(
            "datachannelexample.KmsDetectFaces",
            json!({"mediaPipeline": p}),
        )
        .await;
    let show = c.create("KmsShowFaces", json!({"mediaPipeline": p})).await;
    c.invoke(&w, "connect", json!({"sink": detect})).await;
    c.invoke(&detect, "connect", json!({"sink": show})).await;
    c.invoke(&show, "connect", json!({"sink": w})).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::image(face_image().to_str().unwrap())).unwrap());
    // KmsShowFaces outlines the faces in pure green; the photo has no such green.
    let outlined = |fr: &rheo_media::test_peer::Frame| {
        let green = (0..fr.height)
            .flat_map(|y| (0..fr.width).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let o = (y * fr.width + x) * 3;
                let (r, g, b) = (fr.rgb[o] as i32, fr.rgb[o + 1] as i32, fr.rgb[o + 2] as i32);
                g > 200 && r < 90 && b < 90
            })
            .count();
        green > 300
    };
    c.negotiate_with_peer(&w, &peer, move |p| {
        p.wait_frame_where(MEDIA_TIMEOUT, outlined).is_some()
    })
    .await;
    c.ok("release", json!({"object": p})).await;
}

/// A 640x480 PNG showing a QR code of `data` (rendered by GStreamer's qroverlay).
fn qr_png(path: &std::path::Path, data: &str) {
    common::run_to_eos(&format!(
        "videotestsrc pattern=white num-buffers=1 ! video/x-raw,width=640,height=480 ! \
         qroverlay data=\"{data}\" x=50 y=50 pixel-size=6 ! videoconvert ! pngenc ! filesink location={}",
        path.display()
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn zbar_filter_reports_codes_to_the_client() {
    let dir = ScratchDir::new("zbar");
    let png = dir.join("qr.png");
    qr_png(&png, "RHEO QR TEST");
    let (mut c, p, w) = common::endpoint_session(&[]).await;
    let z = c.create("ZBarFilter", json!({"mediaPipeline": p})).await;
    assert!(z.ends_with("_kurento.ZBarFilter"), "{z}");
    c.subscribe(&z, "CodeFound").await;
    c.loop_through(&w, &z).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::image(png.to_str().unwrap())).unwrap());
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(5, MEDIA_TIMEOUT))
        .await;
    let ev = c.event(|e| e["type"] == "CodeFound").await;
    assert_eq!(ev["object"], z.as_str());
    assert_eq!(ev["data"]["codeType"], "QR-Code");
    assert_eq!(ev["data"]["value"], "RHEO QR TEST");
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn image_overlay_filter_draws_where_asked() {
    let dir = ScratchDir::new("overlay");
    let png = dir.join("blue.png");
    solid_png(&png, 0xff0000ff);
    let (mut c, p, w) = common::endpoint_session(&[]).await;
    let o = c
        .create("kurento.ImageOverlayFilter", json!({"mediaPipeline": p}))
        .await;
    // The right half of the picture, stretched.
    c.invoke(
        &o,
        "addImage",
        json!({"id": "half", "uri": format!("file://{}", png.display()),
        "offsetXPercent": 0.5, "offsetYPercent": 0.0, "widthPercent": 0.5, "heightPercent": 1.0,
        "keepAspectRatio": false, "center": false}),
    )
    .await;
    c.loop_through(&w, &o).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff20c020)).unwrap());
    let split = |fr: &rheo_media::test_peer::Frame| {
        let [_, lg, lb] = fr.mean_rgb(0, 0, fr.width / 2 - 8, fr.height);
        let [_, rg, rb] = fr.mean_rgb(fr.width / 2 + 8, 0, fr.width / 2 - 8, fr.height);
        lg > 150.0 && lb < 80.0 && rb > 200.0 && rg < 60.0
    };
    c.negotiate_with_peer(&w, &peer, move |p| {
        p.wait_frame_where(MEDIA_TIMEOUT, split).is_some()
    })
    .await;
    c.invoke(&o, "removeImage", json!({"id": "half"})).await;
    let peer2 = peer.clone();
    let green = tokio::task::spawn_blocking(move || {
        peer2.wait_frame_where(MEDIA_TIMEOUT, |fr| {
            let [_, g, b] = fr.mean_rgb_all();
            g > 150.0 && b < 80.0
        })
    })
    .await
    .unwrap();
    assert!(green.is_some(), "the image is gone after removeImage");
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_stats_give_the_loopback_stats_tutorial_its_e2e_latency() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let f = c
        .create(
            "GStreamerFilter",
            json!({"mediaPipeline": p, "command": "videoflip method=horizontal-flip"}),
        )
        .await;
    c.loop_through(&w, &f).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(30, MEDIA_TIMEOUT))
        .await;
    let typed = |stats: &Value, ty: &str| -> Option<Value> {
        stats
            .as_object()?
            .values()
            .find(|s| s["type"] == ty)
            .cloned()
    };
    // Off (the default): no latency entries.
    let stats = c
        .invoke(&w, "getStats", json!({"mediaType": "VIDEO"}))
        .await["value"]
        .clone();
    assert!(typed(&stats, "endpoint").is_none(), "{stats}");
    assert!(typed(&stats, "inboundrtp").is_some(), "{stats}");

    c.invoke(&p, "setLatencyStats", json!({"latencyStats": true}))
        .await;
    assert_eq!(
        c.invoke(&p, "getLatencyStats", Value::Null).await["value"],
        true
    );
    peer.wait_frames(peer.frames_received() + 30, MEDIA_TIMEOUT);
    let stats = c
        .invoke(&w, "getStats", json!({"mediaType": "VIDEO"}))
        .await["value"]
        .clone();
    let endpoint = typed(&stats, "endpoint").expect("an endpoint entry");
    assert_eq!(endpoint["__type__"], "EndpointStats");
    let e2e = &endpoint["E2ELatency"][0];
    assert_eq!(e2e["type"], "VIDEO");
    let avg_ns = e2e["avg"].as_f64().unwrap();
    // From the receiving endpoint's depayloader, through the filter, to the sending one.
    assert!(avg_ns > 0.0 && avg_ns < 1e9, "E2E latency {avg_ns} ns");
    let filter = c.invoke(&f, "getStats", Value::Null).await["value"].clone();
    let element = typed(&filter, "element").expect("an element entry for the filter");
    assert_eq!(element["__type__"], "ElementStats");
    assert!(element["inputLatency"][0]["avg"].as_f64().unwrap() > 0.0);

    c.invoke(&p, "setLatencyStats", json!({"latencyStats": false}))
        .await;
    let stats = c.invoke(&w, "getStats", Value::Null).await["value"].clone();
    assert!(typed(&stats, "endpoint").is_none(), "{stats}");
    c.ok("release", json!({"object": p})).await;
}

/// The show-data-channel tutorial: WebRtcEndpoint (data channels) → KmsShowData → the same
/// endpoint; what the browser types on its channel appears on its returned video.
#[tokio::test(flavor = "multi_thread")]
async fn show_data_draws_what_the_data_channel_says_on_the_video() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create(
            "WebRtcEndpoint",
            json!({"mediaPipeline": p, "useDataChannels": true}),
        )
        .await;
    let show = c
        .create(
            "datachannelexample.KmsShowData",
            json!({"mediaPipeline": p}),
        )
        .await;
    assert!(show.ends_with("_datachannelexample.KmsShowData"), "{show}");
    let described = c.ok("describe", json!({"object": show})).await;
    assert_eq!(
        described["hierarchy"],
        json!(["kurento.MediaElement", "kurento.MediaObject"])
    );
    c.loop_through(&w, &show).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    let channel = peer.create_data_channel("dataChannel");
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(10, MEDIA_TIMEOUT))
        .await;
    // Nothing drawn before a message: the bottom of the picture is the peer's colour.
    let bottom = |fr: &rheo_media::test_peer::Frame| {
        let rows = fr.height * 3 / 4..fr.height;
        let (mut bright, mut dark) = (0, 0);
        for y in rows {
            for x in 0..fr.width {
                let o = (y * fr.width + x) * 3;
                let px = &fr.rgb[o..o + 3];
                bright += usize::from(px.iter().all(|&v| v > 200));
                dark += usize::from(px.iter().all(|&v| v < 50));
            }
        }
        (bright, dark)
    };
    assert_eq!(bottom(&peer.last_frame().unwrap()), (0, 0));
    let open = tokio::task::spawn_blocking(move || {
        let open = channel.wait_open(MEDIA_TIMEOUT);
        channel.send_text("Hello from the data channel");
        open
    })
    .await
    .unwrap();
    assert!(open, "the channel opened");
    let peer2 = peer.clone();
    let drawn = tokio::task::spawn_blocking(move || {
        peer2.wait_frame_where(MEDIA_TIMEOUT, |fr| {
            let (bright, dark) = bottom(fr);
            bright > 100 && dark > 1000
        })
    })
    .await
    .unwrap();
    assert!(drawn.is_some(), "white text on a dark box at the bottom");
    let [r, g, b] = drawn.unwrap().mean_rgb(0, 0, 200, 100);
    assert!(
        (r - 48.0).abs() < 30.0 && (g - 96.0).abs() < 30.0 && (b - 160.0).abs() < 30.0,
        "the rest of the picture is untouched: {r} {g} {b}"
    );
    c.ok("release", json!({"object": p})).await;
}

/// The send-data-channel tutorial: PlayerEndpoint (a clip with a QR code) → KmsSendData →
/// WebRtcEndpoint (data channels); the browser receives the code over its channel.
#[tokio::test(flavor = "multi_thread")]
async fn send_data_sends_the_codes_of_a_played_clip_over_the_data_channel() {
    let root = ScratchDir::new("send-data");
    let clip = root.join("qr.webm");
    common::run_to_eos(&format!(
        "videotestsrc pattern=white num-buffers=90 ! video/x-raw,width=640,height=480,framerate=30/1 ! \
         qroverlay data=\"RHEO SEND DATA\" x=50 y=50 pixel-size=6 ! videoconvert ! \
         vp8enc deadline=1 ! webmmux ! filesink location={}",
        clip.display()
    ));
    let (addr, _) = start_server(&["--media-root", root.to_str().unwrap()]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create(
            "WebRtcEndpoint",
            json!({"mediaPipeline": p, "useDataChannels": true}),
        )
        .await;
    let player = c
        .create(
            "PlayerEndpoint",
            json!({"mediaPipeline": p, "uri": format!("file://{}", clip.display())}),
        )
        .await;
    let send = c.create("KmsSendData", json!({"mediaPipeline": p})).await;
    assert!(send.ends_with("_datachannelexample.KmsSendData"), "{send}");
    c.invoke(&player, "connect", json!({"sink": send})).await;
    c.invoke(&send, "connect", json!({"sink": w})).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff000000)).unwrap());
    let channel = Arc::new(peer.create_data_channel("dataChannel"));
    let opened = channel.clone();
    c.negotiate_with_peer(&w, &peer, move |_| opened.wait_open(MEDIA_TIMEOUT))
        .await;
    c.invoke(&player, "play", Value::Null).await;
    let peer2 = peer.clone();
    let (messages, frames) = tokio::task::spawn_blocking(move || {
        let messages = channel.wait_messages(1, MEDIA_TIMEOUT);
        (messages, peer2.wait_frames(10, MEDIA_TIMEOUT))
    })
    .await
    .unwrap();
    assert!(frames, "the clip reaches the browser too");
    let first = messages.first().expect("a message over the data channel");
    assert!(
        first.starts_with("Code detected in time ")
            && first.ends_with(", type QR-Code, symbol RHEO SEND DATA"),
        "{first}"
    );
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gstreamer_filters_picture_is_what_the_browser_gets() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let f = c
        .create(
            "GStreamerFilter",
            json!({"mediaPipeline": p, "command": "videoflip method=vertical-flip"}),
        )
        .await;
    c.loop_through(&w, &f).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0).with_frame_code()).unwrap());
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(30, MEDIA_TIMEOUT))
        .await;
    // Kurento's way of writing a flip (GStreamer 1.22 alone ignores `method`).
    // Upside down, the frame number's squares are at the bottom: the top rows hold none.
    let frame = peer.last_frame().unwrap();
    let top = frame.mean_rgb(0, 0, frame.width, 64);
    let bottom = frame.mean_rgb(0, frame.height - 64, frame.width, 64);
    assert!(
        (0..3).all(|c| (top[c] - [0x30, 0x60, 0xa0][c] as f64).abs() < 30.0),
        "the top rows are the peer's colour: {top:?} (bottom {bottom:?})"
    );
}
