//! RtpEndpoint through the protocol, as the rtp-receiver tutorial drives it: the sender's
//! description in `processOffer`, a sender streaming to the port of Rheo's answer, and the video
//! reaching a browser through a WebRtcEndpoint.

mod common;

use std::sync::Arc;

use common::{start_server, video_port, Client, MEDIA_TIMEOUT};
use gst::prelude::*;
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn the_rtp_receiver_tutorial_shows_an_rtp_sender_in_the_browser() {
    let (addr, _) = start_server(&["--min-port", "42000", "--max-port", "42100"]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": p})).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.subscribe(&rtp, "MediaStateChanged").await;
    c.invoke(&rtp, "connect", json!({"sink": w})).await;
    let offer = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=sender\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=video 5999 RTP/AVPF 96\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\n";
    let answer = c
        .invoke(&rtp, "processOffer", json!({"offer": offer}))
        .await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = video_port(&answer).expect("a video port in the answer");
    assert!(
        (42000..=42100).contains(&port),
        "the configured range: {answer}"
    );
    assert_eq!(
        c.invoke(&rtp, "getLocalSessionDescriptor", Value::Null)
            .await["value"],
        answer
    );
    assert_eq!(
        c.invoke(&rtp, "getRemoteSessionDescriptor", Value::Null)
            .await["value"],
        offer
    );
    assert_eq!(
        c.invoke(&rtp, "getMediaState", Value::Null).await["value"],
        "DISCONNECTED"
    );
    gst::init().unwrap();
    let sender = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         vp8enc deadline=1 keyframe-max-dist=60 ! rtpvp8pay pt=96 ! udpsink host=127.0.0.1 port={port}"
    ))
    .unwrap();
    sender.set_state(gst::State::Playing).unwrap();
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0)).unwrap());
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(30, MEDIA_TIMEOUT))
        .await;
    c.event(|e| e["type"] == "MediaStateChanged" && e["data"]["newState"] == "CONNECTED")
        .await;
    assert_eq!(
        c.invoke(&rtp, "getMediaState", Value::Null).await["value"],
        "CONNECTED"
    );
    sender.set_state(gst::State::Null).unwrap();
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rtp_endpoint_options_and_negotiation_errors_are_clear() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let sdes = |crypto: &str, key: &str| {
        json!({"type": "RtpEndpoint", "constructorParams": {"mediaPipeline": p,
               "crypto": {"__module__": "kurento", "__type__": "SDES",
                          "crypto": crypto, "key": key}}})
    };
    let short = c
        .request("create", sdes("AES_128_CM_HMAC_SHA1_80", "too short"))
        .await;
    assert!(
        short["error"]["message"]
            .as_str()
            .unwrap()
            .contains("30 bytes"),
        "{short}"
    );
    let unknown = c.request("create", sdes("ROT13", "")).await;
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ROT13"),
        "{unknown}"
    );
    // As the Kurento tutorials give it: 30 characters of key and salt.
    let srtp = c
        .request(
            "create",
            sdes("AES_128_CM_HMAC_SHA1_32", "0123456789abcdef0123456789abcd"),
        )
        .await["result"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let secure = c.invoke(&srtp, "generateOffer", Value::Null).await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        secure.contains("RTP/SAVPF")
            && secure.contains(
                "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNk"
            ),
        "{secure}"
    );
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": p})).await;
    let e = c
        .invoke_err(&rtp, "processAnswer", json!({"answer": "v=0\r\n"}))
        .await;
    assert_eq!(e["code"], 40209, "{e}");
    let e = c
        .invoke_err(&rtp, "getLocalSessionDescriptor", Value::Null)
        .await;
    assert_eq!(e["code"], 40202, "{e}");
    let offer = c.invoke(&rtp, "generateOffer", Value::Null).await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        offer.contains("m=audio") && offer.contains("m=video"),
        "{offer}"
    );
    assert!(
        offer.contains("VP8/90000") && offer.contains("H264/90000"),
        "{offer}"
    );
    c.ok("release", json!({"object": p})).await;
}
