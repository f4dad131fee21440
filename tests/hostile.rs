//! Rheo driven as an attacker would drive it: each test is one class of hostile input, sent
//! over the real protocol, and checks both the refusal and that nothing leaked past it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use common::{start_server, Client, ScratchDir};

/// A TCP server on 127.0.0.1 that counts connections and answers each with `reply` (or holds
/// it open, silent, when `reply` is empty).
struct LocalService {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl LocalService {
    fn start(reply: &'static [u8]) -> LocalService {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            for mut sock in listener.incoming().map_while(Result::ok) {
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf);
                    if reply.is_empty() {
                        std::thread::sleep(Duration::from_secs(60));
                    } else {
                        let _ = sock.write_all(reply);
                    }
                });
            }
        });
        LocalService { addr, accepted }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn overlay(uri: &str) -> Value {
    json!({"uri": uri, "offsetXPercent": 0.0, "offsetYPercent": 0.0,
           "widthPercent": 1.0, "heightPercent": 1.0})
}

/// A client with a FaceOverlayFilter to point at URIs.
async fn overlay_client(addr: SocketAddr) -> (Client, String) {
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let f = c
        .create("FaceOverlayFilter", json!({"mediaPipeline": p}))
        .await;
    (c, f)
}

fn message(error: &Value) -> String {
    error["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn gstreamer_filter_runs_only_video_transforms() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let scratch = ScratchDir::new("gst-filter-policy");
    let copy = scratch.join("copied");
    let refused = [
        (
            format!(
                "filesrc location=/etc/passwd ! filesink location={}",
                copy.display()
            ),
            "filesrc",
        ),
        (
            "videoflip ! tcpserversink port=0".to_owned(),
            "tcpserversink",
        ),
        (
            "souphttpsrc location=http://127.0.0.1:9/".to_owned(),
            "souphttpsrc",
        ),
        ("queue ! videoflip".to_owned(), "queue"),
        ("identity ! videoflip".to_owned(), "identity"),
        ("videoflip ! ".repeat(9) + "videoflip", "elements"),
    ];
    for (command, named) in refused {
        let e = c
            .err(
                "create",
                json!({"type": "GStreamerFilter",
                       "constructorParams": {"mediaPipeline": p, "command": command}}),
            )
            .await;
        assert_eq!(e["code"], 40001, "{command}: {e}");
        assert!(message(&e).contains(named), "{command}: {e}");
    }
    assert!(!copy.exists(), "a refused command ran");
    let f = c
        .create(
            "GStreamerFilter",
            json!({"mediaPipeline": p, "command": "videoflip method=horizontal-flip"}),
        )
        .await;
    c.invoke(
        &f,
        "setElementProperty",
        json!({"propertyName": "method", "propertyValue": "vertical-flip"}),
    )
    .await;
    // The same policy under a configured allow-list.
    let (addr, _) = start_server(&["--gstreamer-filter-allow", "queue"]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    c.create(
        "GStreamerFilter",
        json!({"mediaPipeline": p, "command": "queue ! videoflip"}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn image_uris_never_reach_local_services_under_the_strict_policy() {
    let service = LocalService::start(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    let port = service.addr.port();
    let (addr, _) = start_server(&["--uri-allow-private-networks", "false"]).await;
    let (mut c, f) = overlay_client(addr).await;
    for uri in [
        format!("http://127.0.0.1:{port}/x.png"),
        format!("http://localhost:{port}/x.png"),
        format!("http://0x7f000001:{port}/x.png"),
        format!("http://2130706433:{port}/x.png"),
        format!("http://127.1:{port}/x.png"),
        format!("http://user:pass@127.0.0.1:{port}/x.png"),
        format!("http://evil.example@127.0.0.1:{port}/x.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/x.png"),
        format!("https://127.0.0.1:{port}/x.png"),
    ] {
        let e = c.invoke_err(&f, "setOverlayedImage", overlay(&uri)).await;
        assert!(message(&e).contains("URI policy"), "{uri}: {e}");
    }
    assert_eq!(
        service.connections(),
        0,
        "a refused URI reached the service"
    );
    // The demos' own images still load: they are read from the web directory.
    c.invoke(
        &f,
        "setOverlayedImage",
        overlay(&format!("http://{addr}/magicmirror/img/hat.png")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_rechecked_and_link_local_hosts_always_refused() {
    let redirect = LocalService::start(
        b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data\r\nContent-Length: 0\r\n\r\n",
    );
    let (addr, _) = start_server(&[]).await;
    let (mut c, f) = overlay_client(addr).await;
    for uri in [
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://0.0.0.0:80/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://224.0.0.1/".to_owned(),
        format!("http://{}/moved.png", redirect.addr),
    ] {
        let e = c.invoke_err(&f, "setOverlayedImage", overlay(&uri)).await;
        assert!(message(&e).contains("always refused"), "{uri}: {e}");
    }
    assert_eq!(redirect.connections(), 1);
    // A PlayerEndpoint's URL too: its redirects are followed, checked, before GStreamer (which
    // follows none) gets it.
    let p = c.create("MediaPipeline", Value::Null).await;
    let e = c
        .err(
            "create",
            json!({"type": "PlayerEndpoint", "constructorParams": {"mediaPipeline": p,
                   "uri": format!("http://{}/moved.webm", redirect.addr)}}),
        )
        .await;
    assert!(message(&e).contains("always refused"), "{e}");
    assert_eq!(redirect.connections(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_do_not_tell_an_open_port_from_a_closed_one() {
    let open = LocalService::start(b"SSH-2.0-OpenSSH_9.2\r\n");
    let http = LocalService::start(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (addr, _) = start_server(&[]).await;
    let (mut c, f) = overlay_client(addr).await;
    let mut texts = Vec::new();
    for target in [open.addr, http.addr, closed] {
        let uri = format!("http://{target}/x.png");
        let e = c.invoke_err(&f, "setOverlayedImage", overlay(&uri)).await;
        texts.push(message(&e).replace(&target.to_string(), "HOST"));
    }
    assert_eq!(texts[0], texts[1], "{texts:?}");
    assert_eq!(texts[1], texts[2], "{texts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn files_outside_the_media_roots_special_files_and_missing_files_read_the_same() {
    let root = ScratchDir::new("hostile-files");
    let fifo = root.join("pipe.png");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (addr, _) = start_server(&["--media-root", root.to_str().unwrap()]).await;
    let (mut c, f) = overlay_client(addr).await;
    let paths = [
        "/etc/shadow".to_owned(),
        "/etc/passwd".to_owned(),
        "/proc/self/environ".to_owned(),
        "/dev/zero".to_owned(),
        fifo.display().to_string(),
        root.join("missing.png").display().to_string(),
        format!("{}/../../etc/passwd", root.display()),
    ];
    for path in paths {
        let e = c
            .invoke_err(&f, "setOverlayedImage", overlay(&format!("file://{path}")))
            .await;
        assert!(
            message(&e).ends_with(&format!("{path}: no such file in the server's media root")),
            "{path}: {e}"
        );
    }
    // The FIFO did not block the connection.
    c.ok("ping", Value::Null).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn image_bombs_are_refused_before_decoding() {
    use rheo_filter_sdk::opencv::{core, imgcodecs};
    let root = ScratchDir::new("hostile-bomb");
    let bomb = root.join("bomb.png");
    let black =
        core::Mat::new_rows_cols_with_default(8000, 8000, core::CV_8UC1, core::Scalar::all(0.0))
            .unwrap();
    imgcodecs::imwrite(bomb.to_str().unwrap(), &black, &core::Vector::new()).unwrap();
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let (addr, _) = start_server(&["--media-root", root.to_str().unwrap()]).await;
    let (mut c, f) = overlay_client(addr).await;
    let e = c
        .invoke_err(
            &f,
            "setOverlayedImage",
            overlay(&format!("file://{}", bomb.display())),
        )
        .await;
    assert!(message(&e).contains("8000x8000"), "{e}");
    assert!(message(&e).contains("16777216-pixel limit"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_download_does_not_hold_back_pings_or_other_clients() {
    let silent = LocalService::start(b"");
    let (addr, _) = start_server(&["--image-max-concurrent-fetches", "2"]).await;
    let (mut c, f) = overlay_client(addr).await;
    let uri = format!("http://{}/never.png", silent.addr);
    let request = json!({"jsonrpc": "2.0", "id": 900, "method": "invoke", "params": {
        "sessionId": c.session.clone().unwrap(), "object": f,
        "operation": "setOverlayedImage", "operationParams": overlay(&uri)}});
    c.send_raw(&request.to_string()).await;
    // Pings overtake the download on the same connection.
    c.send_raw(r#"{"jsonrpc":"2.0","id":901,"method":"ping"}"#)
        .await;
    let first = c.next_frame().await.unwrap();
    assert_eq!(first["id"], 901, "{first}");
    // Downloads beyond the server-wide limit are refused at once, not queued.
    let (mut other, f2) = overlay_client(addr).await;
    let request = json!({"jsonrpc": "2.0", "id": 902, "method": "invoke", "params": {
        "sessionId": other.session.clone().unwrap(), "object": f2,
        "operation": "setOverlayedImage", "operationParams": overlay(&uri)}});
    other.send_raw(&request.to_string()).await;
    for _ in 0..200 {
        if silent.connections() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(silent.connections(), 2);
    let (mut third, f3) = overlay_client(addr).await;
    let e = third
        .invoke_err(&f3, "setOverlayedImage", overlay(&uri))
        .await;
    assert!(message(&e).contains("already fetching 2 images"), "{e}");
    // Other clients' requests run meanwhile.
    third.create("MediaPipeline", Value::Null).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_request_holds_back_only_its_own_pipeline_on_a_connection() {
    let silent = LocalService::start(b"");
    let (addr, _) = start_server(&["--image-timeout-secs", "3"]).await;
    let (mut c, slow_filter) = overlay_client(addr).await;
    let session = c.session.clone().unwrap();
    let slow_pipeline = slow_filter.split('/').next().unwrap().to_owned();
    let other = c.create("MediaPipeline", Value::Null).await;
    let uri = format!("http://{}/never.png", silent.addr);
    let send = |id: u64, method: &str, params: Value| {
        let mut params = params;
        params["sessionId"] = json!(session);
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
    };
    // 1: a download that never comes, on the first pipeline; 2: a request about that same
    // pipeline, which must wait for it; 3: an unrelated pipeline's request, which must not.
    c.send_raw(&send(
        1,
        "invoke",
        json!({"object": slow_filter, "operation": "setOverlayedImage",
               "operationParams": overlay(&uri)}),
    ))
    .await;
    for _ in 0..200 {
        if silent.connections() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(silent.connections(), 1);
    c.send_raw(&send(
        2,
        "invoke",
        json!({"object": slow_pipeline, "operation": "getName"}),
    ))
    .await;
    c.send_raw(&send(
        3,
        "create",
        json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": other}}),
    ))
    .await;
    let mut order = Vec::new();
    while order.len() < 3 {
        let frame = c.next_frame().await.unwrap();
        if let Some(id) = frame["id"].as_u64() {
            order.push(id);
        }
    }
    assert_eq!(order, [3, 1, 2], "replies in the order they finished");
}

/// The `/metrics` value of `name` (a gauge without labels, or one label set written out).
async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let (_, body) = common::get(addr, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_runs_only_its_share_of_requests_and_others_are_not_held_back() {
    let silent = LocalService::start(b"");
    let (addr, _) = start_server(&[
        "--max-requests-in-flight-per-ip",
        "1",
        "--image-timeout-secs",
        "5",
    ])
    .await;
    assert_eq!(
        metric(
            addr,
            "rheo_limit{setting=\"max_requests_in_flight_per_ip\"}"
        )
        .await,
        1
    );
    // A slow download holds 127.0.0.1's only request slot (and a blocking thread).
    let (mut slow, f) = overlay_client(addr).await;
    let uri = format!("http://{}/never.png", silent.addr);
    let request = json!({"jsonrpc": "2.0", "id": 700, "method": "invoke", "params": {
        "sessionId": slow.session.clone().unwrap(), "object": f,
        "operation": "setOverlayedImage", "operationParams": overlay(&uri)}});
    slow.send_raw(&request.to_string()).await;
    for _ in 0..200 {
        if silent.connections() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(silent.connections(), 1);
    // Another connection from the same address waits its turn, without a thread...
    let mut same = Client::connect(addr).await;
    same.send_raw(r#"{"jsonrpc":"2.0","id":701,"method":"create","params":{"type":"MediaPipeline","constructorParams":{}}}"#)
        .await;
    for _ in 0..200 {
        if metric(addr, "rheo_requests_waiting").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(addr, "rheo_requests_waiting").await, 1);
    // ...while another address is served at once.
    let mut other = Client::connect_from(addr, "127.0.0.2".parse().unwrap()).await;
    other.create("MediaPipeline", Value::Null).await;
    assert_eq!(metric(addr, "rheo_requests_waiting").await, 1);
    // When the download gives up, the waiting request runs.
    let failed = slow.next_frame().await.unwrap();
    assert_eq!(failed["id"], 700, "{failed}");
    assert!(failed["error"].is_object(), "{failed}");
    let created = same.next_frame().await.unwrap();
    assert_eq!(created["id"], 701, "{created}");
    assert!(created["result"]["value"].is_string(), "{created}");
    assert_eq!(metric(addr, "rheo_requests_waiting").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn offers_beyond_the_sdp_limits_and_invalid_values_are_refused() {
    let (addr, _) = start_server(&["--sdp-max-media", "4"]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n";
    let video = |mid: usize, extra: &str| {
        format!(
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\n\
             a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
             a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
             a=setup:actpass\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n{extra}"
        )
    };
    let many: String = (0..5).map(|i| video(i, "")).collect();
    let cases = [
        (format!("{head}{many}"), "m-sections"),
        (
            format!("{head}{}", video(0, "a=ssrc:0 cname:x\r\n")),
            "SSRC",
        ),
        (
            format!("{head}{}", video(0, "a=ssrc-group:FID 5 4294967296\r\n")),
            "SSRC",
        ),
        (
            format!("{head}{}", video(0, "a=candidate:x y z w v u t s\r\n")),
            "candidate",
        ),
    ];
    for (offer, named) in cases {
        let e = c
            .invoke_err(&w, "processOffer", json!({"offer": offer}))
            .await;
        assert_eq!(e["code"], 40001, "{named}: {e}");
        assert!(message(&e).contains(named), "{named}: {e}");
    }
    for junk in [
        "candidate:x y z w v u t s",
        "candidate:1 1 udp 1 127.0.0.1 99999 typ host",
        "candidate:1 1 udp 2122252543 127.0.0.1 5000 typ",
    ] {
        let e = c
            .invoke_err(
                &w,
                "addIceCandidate",
                json!({"candidate": {"__module__": "kurento", "__type__": "IceCandidate",
                                     "candidate": junk, "sdpMid": "0", "sdpMLineIndex": 0}}),
            )
            .await;
        assert_eq!(e["code"], 40001, "{junk}: {e}");
    }
    // The endpoint is still usable after the refusals.
    let offer = format!("{head}{}", video(0, "a=ssrc:1234 cname:x\r\n"));
    c.invoke(&w, "processOffer", json!({"offer": offer})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_refuse_with_not_enough_resources_and_show_in_metrics() {
    let (addr, _) = start_server(&[
        "--max-pipelines-per-session",
        "2",
        "--max-elements-per-pipeline",
        "2",
        "--max-sessions-per-connection",
        "2",
        "--max-connections-per-ip",
        "3",
    ])
    .await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    c.create("MediaPipeline", Value::Null).await;
    let e = c
        .err("create", json!({"type": "MediaPipeline", "properties": {}}))
        .await;
    assert_eq!(e["code"], 40009, "{e}");
    assert!(message(&e).contains("max_pipelines_per_session"), "{e}");
    for _ in 0..2 {
        c.create("PassThrough", json!({"mediaPipeline": p})).await;
    }
    let e = c
        .err(
            "create",
            json!({"type": "PassThrough",
                              "constructorParams": {"mediaPipeline": p}, "properties": {}}),
        )
        .await;
    assert!(message(&e).contains("max_elements_per_pipeline"), "{e}");
    // Another session is not affected.
    let mut other = Client::connect(addr).await;
    other.create("MediaPipeline", Value::Null).await;
    // Sessions per connection: the first is bound; one more, then refused.
    c.send_raw(r#"{"jsonrpc":"2.0","id":"s2","method":"connect"}"#)
        .await;
    assert!(c.next_frame().await.unwrap().get("result").is_some());
    c.send_raw(r#"{"jsonrpc":"2.0","id":"s3","method":"connect"}"#)
        .await;
    let refused = c.next_frame().await.unwrap();
    assert_eq!(refused["error"]["code"], 40009, "{refused}");
    // Connections per address: c, other, one more; the fourth is closed at once.
    let _third = Client::connect(addr).await;
    let url = format!("ws://{addr}/kurento");
    let (mut fourth, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    match tokio::time::timeout(common::TIMEOUT, fourth.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a close frame, got {other:?}"),
    }
    let (_, metrics) = common::get(addr, "/metrics").await;
    for line in [
        "rheo_limit{setting=\"max_pipelines_per_session\"} 2",
        "rheo_quota_refusals_total{setting=\"max_pipelines_per_session\"} 1",
        "rheo_quota_refusals_total{setting=\"max_elements_per_pipeline\"} 1",
        "rheo_quota_refusals_total{setting=\"max_sessions_per_connection\"} 1",
        "rheo_quota_refusals_total{setting=\"max_connections_per_ip\"} 1",
        "rheo_limit{setting=\"sdp_max_media\"} 16",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn large_ids_are_echoed_exactly() {
    let (addr, _) = start_server(&[]).await;
    let id = "123456789012345678901234567890";
    let url = format!("ws://{addr}/kurento");
    let (mut raw, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    raw.send(Message::text(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#
    )))
    .await
    .unwrap();
    let Some(Ok(Message::Text(reply))) = raw.next().await else {
        panic!("no reply")
    };
    assert!(reply.contains(&format!(r#""id":{id}"#)), "{reply}");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_messages_are_refused_and_unread_replies_close_the_connection() {
    let (addr, _) = start_server(&[
        "--ws-max-message-bytes",
        "65536",
        "--sdp-max-bytes",
        "4096",
        "--ws-max-queued-bytes",
        "1048576",
    ])
    .await;
    let url = format!("ws://{addr}/kurento");
    let (mut big, _) = tokio_tungstenite::connect_async(url.clone()).await.unwrap();
    let padding = "x".repeat(70_000);
    let _ = big
        .send(Message::text(format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{padding}"}}}}"#
        )))
        .await;
    match tokio::time::timeout(common::TIMEOUT, big.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close frame, got {other:?}"),
    }
    let (_, metrics) = common::get(addr, "/metrics").await;
    assert!(metrics.contains("rheo_ws_closed_by_server_total{reason=\"message_too_big\"} 1"));
    // A client that sends requests and never reads the replies.
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    for _ in 0..20 {
        c.create("PassThrough", json!({"mediaPipeline": p})).await;
    }
    let session = c.session.clone().unwrap();
    let (mut stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {
        "sessionId": session, "object": p, "operation": "getGstreamerDot"}})
    .to_string();
    let mut sent = 0;
    while sent < 20_000 {
        let sending = stream.send(Message::text(request.clone()));
        match tokio::time::timeout(Duration::from_secs(5), sending).await {
            Ok(Ok(())) => sent += 1,
            _ => break,
        }
    }
    // The server gives up on the client while it still reads nothing.
    let closed = "rheo_ws_closed_by_server_total{reason=\"unread_messages\"} 1";
    let mut metrics = String::new();
    for _ in 0..600 {
        metrics = common::get(addr, "/metrics").await.1;
        if metrics.contains(closed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains(closed), "{metrics}");
    // Reading now finds the replies that were written, then the 1008 close.
    let mut close = None;
    let mut replies = 0;
    let mut ending = String::new();
    while let Ok(Some(frame)) = tokio::time::timeout(common::TIMEOUT, stream.next()).await {
        match frame {
            Ok(Message::Close(frame)) => {
                close = frame;
                break;
            }
            Ok(_) => replies += 1,
            Err(e) => {
                ending = e.to_string();
                break;
            }
        }
    }
    assert_eq!(
        close.map(|f| f.code),
        Some(CloseCode::Policy),
        "{sent} sent, {replies} replies read, then {ending:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frame_left_half_sent_is_cut_off_at_the_read_deadline() {
    let (addr, _) = start_server(&["--ws-read-deadline-secs", "2"]).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let handshake = format!(
        "GET /kurento HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(handshake.as_bytes()).await.unwrap();
    // A masked text frame announcing 60000 bytes, of which 10 arrive.
    let mut frame = vec![0x81, 0xfe, 0xea, 0x60, 1, 2, 3, 4];
    frame.extend_from_slice(&[b'x'; 10]);
    tcp.write_all(&frame).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    // The server closes the socket; a deadlock detector, not a timing.
    loop {
        match tokio::time::timeout(Duration::from_secs(60), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the half-sent frame held the connection open"),
        }
    }
    assert!(received.starts_with(b"HTTP/1.1 101"));
    // A live client that answers pings stays connected past the deadline.
    let mut c = Client::connect(addr).await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        // Reading lets the client answer the server's pings.
        c.wait_any_frame(Duration::from_millis(500)).await;
    }
    c.ok("ping", Value::Null).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn isolated_sessions_see_and_touch_only_their_own_objects() {
    let (addr, _) = start_server(&["--session-isolation"]).await;
    let mut alice = Client::connect(addr).await;
    let mut mallory = Client::connect(addr).await;
    let mine = mallory.create("MediaPipeline", Value::Null).await;
    let manager = mallory
        .ok("describe", json!({"object": "manager_ServerManager"}))
        .await;
    assert_eq!(manager["type"], "ServerManager");
    mallory
        .subscribe("manager_ServerManager", "ObjectCreated")
        .await;
    let p = alice.create("MediaPipeline", Value::Null).await;
    let w = alice
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    let alice_session = alice.session.clone().unwrap();

    let listed = |v: &Value| -> Vec<String> { serde_json::from_value(v["value"].clone()).unwrap() };
    let pipelines = mallory
        .invoke("manager_ServerManager", "getPipelines", Value::Null)
        .await;
    assert_eq!(listed(&pipelines), [mine.as_str()]);
    let sessions = mallory
        .invoke("manager_ServerManager", "getSessions", Value::Null)
        .await;
    assert_eq!(listed(&sessions), [mallory.session.clone().unwrap()]);
    for (method, params) in [
        ("describe", json!({"object": w})),
        (
            "subscribe",
            json!({"object": w, "type": "IceCandidateFound"}),
        ),
        ("invoke", json!({"object": w, "operation": "getMediaState"})),
        (
            "create",
            json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": p}}),
        ),
        (
            "invoke",
            json!({"object": format!("{mine}"), "operation": "getChildren"}),
        ),
    ] {
        let reply = mallory.request(method, params.clone()).await;
        if method == "invoke" && params["operation"] == "getChildren" {
            assert!(reply.get("result").is_some(), "own objects work: {reply}");
            continue;
        }
        // Exactly what a missing object gets.
        let text = params.to_string();
        let missing: Value = serde_json::from_str(
            &text
                .replace(&w, "missing_kurento.WebRtcEndpoint")
                .replace(&p, "missing_kurento.MediaPipeline"),
        )
        .unwrap();
        let expected = mallory.request(method, missing).await;
        let unmask = |v: &Value| {
            v["error"]
                .to_string()
                .replace(&w, "ID")
                .replace(&p, "ID")
                .replace("missing_kurento.WebRtcEndpoint", "ID")
                .replace("missing_kurento.MediaPipeline", "ID")
        };
        assert!(reply.get("error").is_some(), "{method} {params}: {reply}");
        assert_eq!(unmask(&reply), unmask(&expected), "{method} {params}");
    }
    let own = mallory
        .create("PassThrough", json!({"mediaPipeline": mine}))
        .await;
    let e = mallory
        .invoke_err(&own, "connect", json!({"sink": w}))
        .await;
    assert_eq!(e["code"], 40101, "{e}");
    // Releasing another's object is a no-op, and its session cannot be taken over.
    mallory.ok("release", json!({"object": p})).await;
    assert_eq!(
        alice.invoke(&w, "getMediaState", Value::Null).await["value"],
        "DISCONNECTED"
    );
    let e = mallory
        .err("connect", json!({"sessionId": alice_session}))
        .await;
    assert_eq!(e["code"], 40007, "{e}");
    // Alice's creations were never announced to Mallory.
    mallory.wait_any_frame(Duration::from_millis(300)).await;
    let heard: Vec<Value> = mallory.take_events(|e| e["type"] == "ObjectCreated");
    assert!(
        heard
            .iter()
            .all(|e| e["data"]["object"] != p && e["data"]["object"] != w),
        "{heard:?}"
    );
    // Without isolation, Kurento's model: every session sees every pipeline.
    let (addr, _) = start_server(&[]).await;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let pa = a.create("MediaPipeline", Value::Null).await;
    let seen = b
        .invoke("manager_ServerManager", "getPipelines", Value::Null)
        .await;
    assert_eq!(listed(&seen), [pa]);
}
