//! The open-file limit: a server that runs out of descriptors refuses new work with a clear
//! error instead of letting GLib abort it, and the sessions it already runs keep their media.

mod common;

use std::sync::Arc;

use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

use common::process::RheoProcess;
use common::Client;

/// A two-section offer (audio and video) like a browser's, to make the endpoint open its ICE
/// sockets.
fn offer(n: usize) -> String {
    let mut sdp =
        format!("v=0\r\no=- {n} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n");
    for (m, (kind, pt, rtpmap)) in [("audio", 111, "opus/48000/2"), ("video", 96, "VP8/90000")]
        .into_iter()
        .enumerate()
    {
        sdp += &format!(
            "m={kind} 9 UDP/TLS/RTP/SAVPF {pt}\r\nc=IN IP4 0.0.0.0\r\na=mid:{m}\r\n\
             a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
             a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
             a=setup:actpass\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:{pt} {rtpmap}\r\n"
        );
    }
    sdp
}

/// A reply's `result.value`, or its `error`.
fn value_of(reply: Value) -> Result<Value, Value> {
    match reply.get("error") {
        Some(error) => Err(error.clone()),
        None => Ok(reply["result"]["value"].clone()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_descriptor_limit_new_work_is_refused_and_running_sessions_keep_their_media() {
    let mut rheo = RheoProcess::spawn_with_fd_limit(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--network-interfaces",
            "lo",
            "--fd-reserve",
            "48",
            "--max-blocking-threads",
            "64",
        ],
        &[],
        Some(256),
    );
    let addr = rheo.plain_addr();
    let mut c = Client::connect(addr).await;
    // A running loopback call.
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({ "mediaPipeline": p }))
        .await;
    c.invoke(&w, "connect", json!({"sink": w})).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff2080c0).with_audio()).unwrap());
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(10, common::MEDIA_TIMEOUT))
        .await;
    // Fill the server until it refuses.
    let mut refusal: Option<Value> = None;
    for n in 0..200 {
        let session = async {
            let pipeline = value_of(
                c.request(
                    "create",
                    json!({"type": "MediaPipeline", "constructorParams": {}}),
                )
                .await,
            )?;
            let endpoint = value_of(
                c.request(
                    "create",
                    json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": pipeline}}),
                )
                .await,
            )?;
            for (operation, params) in [
                ("processOffer", json!({"offer": offer(n)})),
                ("gatherCandidates", json!({})),
            ] {
                value_of(
                    c.request(
                        "invoke",
                        json!({"object": endpoint, "operation": operation,
                               "operationParams": params}),
                    )
                    .await,
                )?;
            }
            Ok::<(), Value>(())
        };
        if let Err(error) = session.await {
            refusal = Some(error);
            break;
        }
    }
    let refusal = refusal.expect("the server refused before 200 endpoints at 256 descriptors");
    assert_eq!(refusal["code"], 40009, "{refusal}");
    let message = refusal["message"].as_str().unwrap();
    assert!(message.contains("server at capacity"), "{message}");
    // Still alive, still answering, and the running call still gets its frames.
    assert!(rheo.child.try_wait().unwrap().is_none(), "rheo exited");
    c.ok("ping", json!({})).await;
    let before = peer.frames_received();
    let more = {
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || peer.wait_frames(before + 30, common::MEDIA_TIMEOUT))
            .await
            .unwrap()
    };
    assert!(more, "the running call lost its media");
    let (_, metrics) = common::get(addr, "/metrics").await;
    assert!(metrics.contains("process_max_fds 256"), "{metrics}");
    assert!(
        metrics.contains("rheo_limit{setting=\"max_blocking_threads\"} 64"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("rheo_capacity_refusals_total 0"),
        "the refusal is counted"
    );
}
