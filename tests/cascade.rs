//! One stream across two real Rheo processes: a presenter's WebRtcEndpoint on server A reaches
//! a viewer on server B through an SRTP RtpEndpoint pair that an application made with two
//! connections and nothing else; no transcoding on either server, and the viewer's keyframe
//! requests reach the presenter.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::RheoProcess;
use common::{get, Client, MEDIA_TIMEOUT};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

fn server() -> (RheoProcess, SocketAddr) {
    let mut rheo = RheoProcess::spawn(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--network-interfaces",
            "lo",
        ],
        &[("RUST_LOG", "info")],
    );
    let addr = rheo.plain_addr();
    (rheo, addr)
}

/// One unlabelled gauge of a server's /metrics.
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, body) = get(addr, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn srtp(pipeline: &str) -> Value {
    // No key: each server makes its own, and the descriptions carry them.
    json!({"mediaPipeline": pipeline,
           "crypto": {"__module__": "kurento", "__type__": "SDES",
                      "crypto": "AES_128_CM_HMAC_SHA1_80"}})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_presenter_on_one_server_reaches_a_viewer_on_another() {
    let (_a, addr_a) = server();
    let (_b, addr_b) = server();
    let mut app_a = Client::connect(addr_a).await;
    let mut app_b = Client::connect(addr_b).await;

    let pa = app_a.create("MediaPipeline", Value::Null).await;
    let presenter = app_a
        .create("WebRtcEndpoint", json!({"mediaPipeline": pa}))
        .await;
    let out = app_a.create("RtpEndpoint", srtp(&pa)).await;
    app_a
        .invoke(
            &presenter,
            "connect",
            json!({"sink": out, "mediaType": "VIDEO"}),
        )
        .await;

    let pb = app_b.create("MediaPipeline", Value::Null).await;
    let inbound = app_b.create("RtpEndpoint", srtp(&pb)).await;
    let viewer = app_b
        .create("WebRtcEndpoint", json!({"mediaPipeline": pb}))
        .await;
    app_b
        .invoke(
            &inbound,
            "connect",
            json!({"sink": viewer, "mediaType": "VIDEO"}),
        )
        .await;

    // The relay: A offers (video only, A sends), B answers.
    let offer = app_a
        .invoke(
            &out,
            "generateOffer",
            json!({"options": {"__module__": "kurento", "__type__": "OfferOptions",
                               "offerToReceiveAudio": false, "offerToReceiveVideo": false}}),
        )
        .await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = app_b
        .invoke(&inbound, "processOffer", json!({"offer": offer}))
        .await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        answer.contains("RTP/SAVPF") && answer.contains("a=crypto:"),
        "{answer}"
    );
    app_a
        .invoke(&out, "processAnswer", json!({"answer": answer}))
        .await;

    // The presenter sends keyframes only when asked.
    let presenting = Arc::new(
        TestPeer::new(PeerConfig::color(0xff3060a0).with_keyframe_interval(100_000)).unwrap(),
    );
    app_a
        .negotiate_with_peer(&presenter, &presenting, |p| {
            // Nothing comes back to the presenter: done once ICE has chosen a path.
            let deadline = Instant::now() + MEDIA_TIMEOUT;
            while p.selected_pair().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            p.selected_pair().is_some()
        })
        .await;
    let deadline = Instant::now() + MEDIA_TIMEOUT;
    while app_b.invoke(&inbound, "getMediaState", Value::Null).await["value"] != "CONNECTED" {
        assert!(Instant::now() < deadline, "no RTP from A reached B");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let viewing = Arc::new(TestPeer::new(PeerConfig::color(0xff00ff00)).unwrap());
    app_b
        .negotiate_with_peer(&viewer, &viewing, |p| p.wait_frames(30, MEDIA_TIMEOUT))
        .await;
    for addr in [addr_a, addr_b] {
        assert_eq!(
            metric(addr, "rheo_encoders").await,
            0.0,
            "encoders on {addr}"
        );
        assert_eq!(
            metric(addr, "rheo_decoders").await,
            0.0,
            "decoders on {addr}"
        );
    }
    app_a.ok("release", json!({"object": pa})).await;
    app_b.ok("release", json!({"object": pb})).await;
}
