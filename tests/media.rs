//! Media through the protocol: a webrtcbin peer (acting as the browser) drives Rheo over its
//! WebSocket exactly as the Kurento hello-world and magic-mirror tutorials do.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start_server, Client};
use gst::prelude::*;
use rheo_pipelines::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

const MESSI: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
const MEDIA_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs offer/answer and trickle ICE between `peer` and the endpoint `w` until `done` (a
/// blocking wait on the peer) returns. Returns the time from sending processOffer to `done`.
async fn negotiate_and_wait(
    c: &mut Client,
    w: &str,
    peer: &Arc<TestPeer>,
    done: impl FnOnce(&TestPeer) -> bool + Send + 'static,
) -> Duration {
    c.subscribe(w, "IceCandidateFound").await;
    let offer = {
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || peer.create_offer()).await.unwrap().expect("peer offer")
    };
    let started = Instant::now();
    let answer = c.invoke(w, "processOffer", json!({"offer": offer})).await["value"].as_str().unwrap().to_owned();
    assert!(answer.starts_with("v=0"), "{answer}");
    {
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || peer.set_answer(&answer)).await.unwrap().expect("answer applies");
    }
    c.invoke(w, "gatherCandidates", Value::Null).await;
    let waiter = {
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || done(&peer))
    };
    tokio::pin!(waiter);
    let deadline = tokio::time::Instant::now() + MEDIA_TIMEOUT;
    loop {
        for (mline, cand) in peer.take_local_candidates() {
            let candidate = json!({"candidate": cand, "sdpMid": mline.to_string(), "sdpMLineIndex": mline,
                                   "__module__": "kurento", "__type__": "IceCandidate"});
            c.invoke(w, "addIceCandidate", json!({"candidate": candidate})).await;
        }
        for ev in c.take_events(|e| e["type"] == "IceCandidateFound") {
            let cand = &ev["data"]["candidate"];
            peer.add_remote_candidate(cand["sdpMLineIndex"].as_u64().unwrap() as u32, cand["candidate"].as_str().unwrap());
        }
        tokio::select! {
            r = &mut waiter => {
                assert!(r.unwrap(), "media did not arrive within the timeout");
                return started.elapsed();
            }
            _ = c.wait_any_frame(Duration::from_millis(50)) => {}
        }
        assert!(tokio::time::Instant::now() < deadline, "negotiation timed out");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_world_loopback_returns_the_frames_it_was_sent() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c.create("WebRtcEndpoint", json!({"mediaPipeline": p})).await;
    for ev in ["MediaStateChanged", "MediaSessionStarted", "NewCandidatePairSelected", "IceGatheringDone", "MediaFlowInStateChanged"] {
        c.subscribe(&w, ev).await;
    }
    c.invoke(&w, "connect", json!({"sink": w})).await;
    // A distinctive colour: orange-ish (R high, G mid, B low).
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xffe08020)).unwrap());
    let elapsed = negotiate_and_wait(&mut c, &w, &peer, |p| p.wait_frames(30, MEDIA_TIMEOUT)).await;
    println!("processOffer -> 30th frame back: {elapsed:?}");
    let [r, g, b] = peer.mean_rgb_of_last_frame().unwrap();
    assert!((r - 224.0).abs() < 30.0 && (g - 128.0).abs() < 30.0 && (b - 32.0).abs() < 30.0, "colour {r} {g} {b}");

    c.event(|e| e["type"] == "MediaSessionStarted").await;
    c.event(|e| e["type"] == "IceGatheringDone").await;
    let ev = c.event(|e| e["type"] == "NewCandidatePairSelected").await;
    assert!(ev["data"]["candidatePair"]["localCandidate"].as_str().unwrap().starts_with("candidate:"));
    let ev = c.event(|e| e["type"] == "MediaStateChanged").await;
    assert_eq!((ev["data"]["oldState"].clone(), ev["data"]["newState"].clone()), (json!("DISCONNECTED"), json!("CONNECTED")));
    c.event(|e| e["type"] == "MediaFlowInStateChanged" && e["data"]["state"] == "FLOWING").await;
    assert_eq!(c.invoke(&w, "isMediaTranscoding", json!({"mediaType": "VIDEO"})).await["value"], false);
    assert_eq!(c.invoke(&w, "isMediaFlowingIn", json!({"mediaType": "VIDEO"})).await["value"], true);
    let stats = c.invoke(&w, "getStats", json!({"mediaType": "VIDEO"})).await["value"].clone();
    let inbound = stats.as_object().unwrap().values().find(|s| s["type"] == "inboundrtp").expect("inbound stats");
    assert!(inbound["packetsReceived"].as_u64().unwrap() > 0, "{stats}");
    assert!(c.invoke(&w, "getLocalSessionDescriptor", Value::Null).await["value"].as_str().unwrap().starts_with("v=0"));
    c.ok("release", json!({"object": p})).await;
}

/// An opaque 64x64 PNG of one colour, made with GStreamer.
fn solid_png(path: &std::path::Path, argb: u32) {
    let launch = format!(
        "videotestsrc pattern=solid-color foreground-color={argb} num-buffers=1 ! video/x-raw,width=64,height=64 ! pngenc ! filesink location={}",
        path.display()
    );
    let pipeline = gst::parse::launch(&launch).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos, gst::MessageType::Error]);
    assert!(matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)));
    pipeline.set_state(gst::State::Null).unwrap();
}

fn is_pure_blue(f: &rheo_pipelines::test_peer::Frame, x: usize, y: usize) -> bool {
    let o = (y * f.width + x) * 3;
    let (r, g, b) = (f.rgb[o] as i32, f.rgb[o + 1] as i32, f.rgb[o + 2] as i32);
    b > 200 && r < 60 && g < 60
}

#[tokio::test(flavor = "multi_thread")]
async fn magic_mirror_draws_the_overlay_on_the_face() {
    let (addr, _) = start_server(&[]).await;
    let dir = std::env::temp_dir().join(format!("rheo-mm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("blue.png");
    solid_png(&png, 0xff0000ff);

    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c.create("WebRtcEndpoint", json!({"mediaPipeline": p})).await;
    let f = c.create("FaceOverlayFilter", json!({"mediaPipeline": p})).await;
    // A missing image and an unreachable server are errors, not silence.
    let e = c.invoke_err(&f, "setOverlayedImage", json!({"uri": "file:///nonexistent/hat.png", "offsetXPercent": 0.0,
        "offsetYPercent": 0.0, "widthPercent": 1.0, "heightPercent": 1.0})).await;
    assert_eq!(e["code"], 40107, "{e}");
    let e = c.invoke_err(&f, "setOverlayedImage", json!({"uri": "http://127.0.0.1:9/hat.png", "offsetXPercent": 0.0,
        "offsetYPercent": 0.0, "widthPercent": 1.0, "heightPercent": 1.0})).await;
    assert_eq!(e["code"], 40107, "{e}");
    // Geometry (0, 0, 1, 1): the overlay covers exactly the face box.
    c.invoke(&f, "setOverlayedImage", json!({"uri": format!("file://{}", png.display()), "offsetXPercent": 0.0,
        "offsetYPercent": 0.0, "widthPercent": 1.0, "heightPercent": 1.0})).await;
    c.invoke(&w, "connect", json!({"sink": f})).await;
    c.invoke(&f, "connect", json!({"sink": w})).await;

    let peer = Arc::new(TestPeer::new(PeerConfig::image(MESSI)).unwrap());
    let blue_enough = |fr: &rheo_pipelines::test_peer::Frame| {
        let mut n = 0;
        for y in 0..fr.height {
            for x in 0..fr.width {
                n += is_pure_blue(fr, x, y) as usize;
            }
        }
        n > 400
    };
    let elapsed = negotiate_and_wait(&mut c, &w, &peer, move |p| p.wait_frame_where(MEDIA_TIMEOUT, blue_enough).is_some()).await;
    println!("processOffer -> first frame with the overlay: {elapsed:?}");
    let frame = peer.last_frame().unwrap();
    // The blue pixels form one box in the upper half of the picture (Messi's face), not the
    // whole frame.
    let (mut minx, mut miny, mut maxx, mut maxy, mut n) = (usize::MAX, usize::MAX, 0, 0, 0);
    for y in 0..frame.height {
        for x in 0..frame.width {
            if is_pure_blue(&frame, x, y) {
                (minx, miny, maxx, maxy, n) = (minx.min(x), miny.min(y), maxx.max(x), maxy.max(y), n + 1);
            }
        }
    }
    let area = (maxx - minx + 1) * (maxy - miny + 1);
    assert!(n as f64 > 0.8 * area as f64, "blue pixels fill their bounding box: {n} of {area}");
    assert!(area < frame.width * frame.height / 4, "overlay is face-sized, not the frame: {area}");
    assert!(maxy < frame.height * 2 / 3, "the face is in the upper part of messi5.jpg: y {miny}..{maxy}");
    assert_eq!(c.invoke(&f, "isMediaTranscoding", json!({"mediaType": "VIDEO"})).await["value"], true);

    c.invoke(&f, "unsetOverlayedImage", Value::Null).await;
    let peer2 = peer.clone();
    let cleared = tokio::task::spawn_blocking(move || {
        peer2.wait_frame_where(MEDIA_TIMEOUT, |fr| (0..fr.height).step_by(4).all(|y| (0..fr.width).step_by(4).all(|x| !is_pure_blue(fr, x, y))))
    })
    .await
    .unwrap();
    assert!(cleared.is_some(), "overlay removed after unsetOverlayedImage");
    c.ok("release", json!({"object": p})).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_vanishing_mid_negotiation_harms_nobody() {
    let (addr, core) = start_server(&["--gc-period-secs", "1"]).await;
    let mut watcher = Client::connect(addr).await;
    watcher.subscribe("manager_ServerManager", "ObjectDestroyed").await;
    let kept = watcher.create("MediaPipeline", Value::Null).await;

    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c.create("WebRtcEndpoint", json!({"mediaPipeline": p})).await;
    let peer = TestPeer::new(PeerConfig::color(0xff00ff00)).unwrap();
    let offer = tokio::task::spawn_blocking(move || peer.create_offer()).await.unwrap().unwrap();
    // Send processOffer and gatherCandidates, then vanish without reading the answers.
    c.send_raw(&json!({"jsonrpc": "2.0", "method": "invoke", "id": 100,
        "params": {"object": w, "operation": "processOffer", "operationParams": {"offer": offer}, "sessionId": c.session}}).to_string()).await;
    c.send_raw(&json!({"jsonrpc": "2.0", "method": "invoke", "id": 101,
        "params": {"object": w, "operation": "gatherCandidates", "sessionId": c.session}}).to_string()).await;
    drop(c);

    // The abandoned pipeline is collected; the watcher's is not.
    watcher.event(|e| e["type"] == "ObjectDestroyed" && e["data"]["objectId"] == p.as_str()).await;
    assert_eq!(watcher.ok("describe", json!({"object": kept})).await["type"], "MediaPipeline");
    assert_eq!(core.object_count(), 1);
}
