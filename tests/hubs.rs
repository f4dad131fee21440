//! Hubs through the protocol, as Kurento's applications drive them: HubPorts of a Dispatcher
//! or DispatcherOneToMany, WebRtcEndpoints connected into and from them, switching live.

mod common;

use std::sync::Arc;

use common::{start_server, Client, MEDIA_TIMEOUT};
use rheo_media::test_peer::{Frame, PeerConfig, TestPeer};
use serde_json::{json, Value};

const RED: u32 = 0xffd02020;
const GREEN: u32 = 0xff20c040;

/// A browser (a colour) on its own WebRtcEndpoint, connected both ways to a new port of `hub`.
async fn join(c: &mut Client, p: &str, hub: &str, argb: u32) -> (Arc<TestPeer>, String) {
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let port = c.create("HubPort", json!({"hub": hub})).await;
    c.invoke(&w, "connect", json!({"sink": port})).await;
    c.invoke(&port, "connect", json!({"sink": w})).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(argb)).unwrap());
    c.negotiate_with_peer(&w, &peer, |_| true).await;
    (peer, port)
}

/// Waits (on a blocking thread) until `peer` receives pictures of `argb`'s colour.
async fn sees(peer: &Arc<TestPeer>, argb: u32) -> bool {
    let want = [(argb >> 16) & 0xff, (argb >> 8) & 0xff, argb & 0xff].map(|c| c as f64);
    let peer = peer.clone();
    tokio::task::spawn_blocking(move || {
        peer.wait_frame_where(MEDIA_TIMEOUT, |f: &Frame| {
            let got = f.mean_rgb_all();
            (0..3).all(|i| (got[i] - want[i]).abs() < 40.0)
        })
        .is_some()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dispatcher_routes_browsers_to_each_other() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let hub = c.create("Dispatcher", json!({"mediaPipeline": p})).await;
    assert!(
        hub.starts_with(&format!("{p}/")) && hub.ends_with("_kurento.Dispatcher"),
        "{hub}"
    );
    let described = c.ok("describe", json!({"object": hub})).await;
    assert_eq!(
        described["hierarchy"],
        json!(["kurento.Hub", "kurento.MediaObject"])
    );
    let (alice, alice_port) = join(&mut c, &p, &hub, RED).await;
    let (bob, bob_port) = join(&mut c, &p, &hub, GREEN).await;
    assert!(
        alice_port.starts_with(&format!("{hub}/")) && alice_port.ends_with("_kurento.HubPort"),
        "{alice_port}"
    );
    assert_eq!(
        c.invoke(&alice_port, "getParent", Value::Null).await["value"],
        hub.as_str()
    );
    assert_eq!(
        c.invoke(&alice_port, "getMediaPipeline", Value::Null).await["value"],
        p.as_str()
    );
    let children = c.invoke(&hub, "getChildren", Value::Null).await["value"].clone();
    assert_eq!(children.as_array().map(Vec::len), Some(2), "{children}");

    c.invoke(
        &hub,
        "connect",
        json!({"source": alice_port, "sink": bob_port}),
    )
    .await;
    c.invoke(
        &hub,
        "connect",
        json!({"source": bob_port, "sink": alice_port}),
    )
    .await;
    assert!(sees(&bob, RED).await, "bob sees alice");
    assert!(sees(&alice, GREEN).await, "alice sees bob");

    // Bad input: a port of another hub, an element that is no port, a released hub.
    let other = c.create("Dispatcher", json!({"mediaPipeline": p})).await;
    let stranger = c.create("HubPort", json!({"hub": other})).await;
    let e = c
        .invoke_err(
            &hub,
            "connect",
            json!({"source": stranger, "sink": bob_port}),
        )
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("not a port of this hub"),
        "{e}"
    );
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let e = c
        .invoke_err(&hub, "connect", json!({"source": w, "sink": bob_port}))
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    let e = c
        .err(
            "create",
            json!({"type": "HubPort", "constructorParams": {"hub": w}}),
        )
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    c.ok("release", json!({"object": other})).await;
    let e = c
        .invoke_err(&stranger, "getMediaPipeline", Value::Null)
        .await;
    assert_eq!(e["code"], 40101, "the port went with its hub: {e}");
    let e = c
        .err(
            "create",
            json!({"type": "HubPort", "constructorParams": {"hub": other}}),
        )
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_to_many_dispatcher_switches_its_presenter() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let hub = c
        .create("DispatcherOneToMany", json!({"mediaPipeline": p}))
        .await;
    let (alice, alice_port) = join(&mut c, &p, &hub, RED).await;
    let (bob, bob_port) = join(&mut c, &p, &hub, GREEN).await;
    c.invoke(&hub, "setSource", json!({"source": alice_port}))
        .await;
    assert!(sees(&bob, RED).await, "bob watches alice");
    c.invoke(&hub, "setSource", json!({"source": bob_port}))
        .await;
    assert!(sees(&alice, GREEN).await, "alice watches bob");
    c.invoke(&hub, "removeSource", Value::Null).await;
    let e = c
        .invoke_err(
            &hub,
            "connect",
            json!({"source": alice_port, "sink": bob_port}),
        )
        .await;
    assert_eq!(e["code"], 40008, "KMS: no such method: {e}");
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_composite_puts_a_room_in_one_picture() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let e = c
        .err(
            "create",
            json!({"type": "Composite", "constructorParams": {"mediaPipeline": p, "width": 5}}),
        )
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    let hub = c
        .create(
            "Composite",
            json!({"mediaPipeline": p, "width": 640, "height": 240, "framerate": 15}),
        )
        .await;
    assert!(hub.ends_with("_kurento.Composite"), "{hub}");
    let (alice, _) = join(&mut c, &p, &hub, RED).await;
    let (_bob, _) = join(&mut c, &p, &hub, GREEN).await;
    // Two cells side by side, each picture kept 4:3.
    let peer = alice.clone();
    let seen = tokio::task::spawn_blocking(move || {
        peer.wait_frame_where(MEDIA_TIMEOUT, |f: &Frame| {
            let near =
                |got: [f64; 3], want: [f64; 3]| (0..3).all(|i| (got[i] - want[i]).abs() < 45.0);
            f.width == 640
                && near(f.mean_rgb(140, 100, 40, 40), [208.0, 32.0, 32.0])
                && near(f.mean_rgb(460, 100, 40, 40), [32.0, 192.0, 64.0])
        })
        .is_some()
    })
    .await
    .unwrap();
    assert!(seen, "alice sees herself and bob side by side");
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alpha_blending_puts_one_port_over_the_master() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let hub = c.create("AlphaBlending", json!({"mediaPipeline": p})).await;
    let (alice, alice_port) = join(&mut c, &p, &hub, RED).await;
    let (_bob, bob_port) = join(&mut c, &p, &hub, GREEN).await;
    let peer = alice.clone();
    tokio::task::spawn_blocking(move || peer.wait_frames(1, MEDIA_TIMEOUT))
        .await
        .unwrap();
    c.invoke(
        &hub,
        "setMaster",
        json!({"source": alice_port, "zOrder": 0}),
    )
    .await;
    let placed = json!({"relativeX": 0.5, "relativeY": 0.5, "relativeWidth": 0.5,
                        "relativeHeight": 0.5, "zOrder": 1, "port": bob_port});
    c.invoke(&hub, "setPortProperties", placed.clone()).await;
    let mut outside = placed;
    outside["relativeX"] = json!(2.0);
    let e = c.invoke_err(&hub, "setPortProperties", outside).await;
    assert_eq!(e["code"], 40001, "{e}");
    // Bob in the bottom-right quarter of Alice's picture.
    let peer = alice.clone();
    let seen = tokio::task::spawn_blocking(move || {
        peer.wait_frame_where(MEDIA_TIMEOUT, |f: &Frame| {
            let near =
                |got: [f64; 3], want: [f64; 3]| (0..3).all(|i| (got[i] - want[i]).abs() < 45.0);
            near(f.mean_rgb(100, 100, 60, 60), [208.0, 32.0, 32.0])
                && near(f.mean_rgb(460, 340, 60, 60), [32.0, 192.0, 64.0])
        })
        .is_some()
    })
    .await
    .unwrap();
    assert!(seen, "bob over alice");
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mixer_connects_video_and_audio_per_media_type() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let hub = c.create("Mixer", json!({"mediaPipeline": p})).await;
    let (_alice, alice_port) = join(&mut c, &p, &hub, RED).await;
    let (bob, bob_port) = join(&mut c, &p, &hub, GREEN).await;
    c.invoke(
        &hub,
        "connect",
        json!({"media": "VIDEO", "source": alice_port, "sink": bob_port}),
    )
    .await;
    c.invoke(
        &hub,
        "connect",
        json!({"media": "AUDIO", "source": alice_port, "sink": bob_port}),
    )
    .await;
    assert!(sees(&bob, RED).await, "bob sees alice through the Mixer");
    let e = c
        .invoke_err(
            &hub,
            "connect",
            json!({"media": "SMELL", "source": alice_port, "sink": bob_port}),
        )
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    c.invoke(
        &hub,
        "disconnect",
        json!({"media": "VIDEO", "source": alice_port, "sink": bob_port}),
    )
    .await;
    c.ok("release", json!({"object": p})).await;
}
