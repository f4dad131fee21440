//! Deployment features: TLS on the secure port, the access token, TURN REST credentials,
//! /readyz and /metrics, URI restrictions, the configuration file, JSON logs and graceful
//! shutdown of the real binary.

mod common;

use common::process::RheoProcess;
use common::{get, get_over};

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// The first frame the server sends on a WebSocket to `path`, which must be a close frame.
async fn close_frame_of(addr: SocketAddr, path: &str) -> (CloseCode, String) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
        .await
        .expect("upgrade succeeds");
    loop {
        let msg = tokio::time::timeout(common::TIMEOUT, ws.next())
            .await
            .expect("a frame")
            .expect("not ended")
            .expect("no error");
        if let Message::Close(Some(frame)) = msg {
            return (frame.code, frame.reason.to_string());
        }
        assert!(!msg.is_text(), "got a text frame: {msg}");
    }
}

/// A TLS client that trusts exactly `roots`.
fn connector_trusting(roots: rustls::RootCertStore) -> tokio_rustls::TlsConnector {
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(client))
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name_and_labels} missing from:\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_https_and_wss_with_a_kept_self_signed_certificate() {
    rheo_media::init().unwrap();
    let dir = common::ScratchDir::new("tls");
    let cert = dir.join("cert+key.pem");
    let args = [
        "rheo",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--secure-port",
        "0",
        "--network-interfaces",
        "lo",
        "--tls-self-signed",
        "--tls-certificate",
        cert.to_str().unwrap(),
    ];
    let config = rheo::config::Config::load_from(args).unwrap();
    let server = rheo::start(&config).await.unwrap();
    let secure = server.secure_addr.expect("TLS listener");
    let first_pem = std::fs::read_to_string(&cert).expect("certificate kept");

    // Trust exactly the generated certificate, and check it is valid for "localhost".
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut first_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let connector = connector_trusting(roots);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();

    let tls = connector
        .connect(name.clone(), TcpStream::connect(secure).await.unwrap())
        .await
        .expect("TLS handshake with the generated certificate");
    let (status, body) = get_over(tls, "localhost", "/magicmirror/").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<html") || body.contains("<!doctype"),
        "{body}"
    );

    let tls = connector
        .connect(name, TcpStream::connect(secure).await.unwrap())
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/kurento", tls)
        .await
        .expect("wss upgrade");
    ws.send(Message::text(
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"interval": 240000}})
            .to_string(),
    ))
    .await
    .unwrap();
    let reply = tokio::time::timeout(common::TIMEOUT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["result"]["value"], "pong", "{reply}");

    // The plain port is still served, and a restart keeps the certificate browsers accepted.
    assert_eq!(get(server.addr, "/healthz").await.0, 200);
    server.shut_down().await;
    let again = rheo::start(&rheo::config::Config::load_from(args).unwrap())
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), first_pem);
    again.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_token_guards_the_websocket_and_turn_credentials() {
    let (addr, _) =
        common::start_server(&["--access-token", "s3cr/et", "--turn-secret", "north"]).await;
    for path in ["/kurento", "/kurento?access_token=wrong"] {
        let (code, reason) = close_frame_of(addr, path).await;
        assert_eq!(code, CloseCode::Policy, "{path}");
        assert_eq!(reason, "Invalid access token", "{path}");
    }
    // The wrong path is still reported as such, token or not.
    let (code, reason) = close_frame_of(addr, "/nope?access_token=s3cr%2Fet").await;
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::Protocol, "Invalid path")
    );

    let mut c = common::Client::connect_path(addr, "/kurento?access_token=s3cr%2Fet").await;
    c.ok("ping", json!({"interval": 240000})).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    assert!(!p.is_empty());

    assert_eq!(get(addr, "/turn-credentials").await.0, 401);
    let (status, body) = get(addr, "/turn-credentials?access_token=s3cr%2Fet").await;
    assert_eq!(status, 200, "{body}");
    let creds: Value = serde_json::from_str(&body).unwrap();
    let user = creds["username"].as_str().unwrap();
    let expiry: u64 = user.split(':').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((now + 86_000..=now + 86_500).contains(&expiry), "{user}");
    assert_eq!(
        creds["credential"].as_str().unwrap(),
        rheo::turn_rest::credential("north", user)
    );
    assert_eq!(
        creds["iceServers"][0]["urls"][0],
        "turn:127.0.0.1:3478?transport=udp"
    );
    // Health, readiness and metrics stay open for probes and scrapers.
    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".to_owned()));
    assert_eq!(get(addr, "/metrics").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn turn_credentials_are_absent_without_a_secret() {
    let (addr, _) = common::start_server(&[]).await;
    assert_eq!(get(addr, "/turn-credentials").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_follow_a_live_magic_mirror() {
    let (addr, _) = common::start_server(&[]).await;
    let mut c = common::Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({ "mediaPipeline": p }))
        .await;
    let f = c
        .create("FaceOverlayFilter", json!({"mediaPipeline": p}))
        .await;
    c.loop_through(&w, &f).await;
    let (_, before) = get(addr, "/metrics").await;
    assert_eq!(metric(&before, "rheo_pipelines"), 1.0);
    assert_eq!(
        metric(&before, "rheo_elements{type=\"WebRtcEndpoint\"}"),
        1.0
    );
    assert_eq!(
        metric(&before, "rheo_elements{type=\"FaceOverlayFilter\"}"),
        1.0
    );
    assert_eq!(
        metric(&before, "rheo_webrtc_connections{state=\"new\"}"),
        1.0
    );
    assert!(metric(&before, "rheo_sessions") >= 1.0);

    let peer =
        Arc::new(TestPeer::new(PeerConfig::image(common::face_image().to_str().unwrap())).unwrap());
    c.negotiate_with_peer(&w, &peer, |peer| {
        peer.wait_frames(10, common::MEDIA_TIMEOUT)
    })
    .await;
    let (_, during) = get(addr, "/metrics").await;
    let connected = metric(&during, "rheo_webrtc_connections{state=\"connected\"}")
        + metric(&during, "rheo_webrtc_connections{state=\"ready\"}");
    assert_eq!(connected, 1.0, "{during}");
    assert_eq!(
        metric(&during, "rheo_decoders"),
        1.0,
        "the filter decodes once"
    );
    assert_eq!(metric(&during, "rheo_encoders"), 1.0, "and encodes once");
    for counter in [
        "rheo_webrtc_bytes_received_total",
        "rheo_webrtc_packets_received_total",
        "rheo_webrtc_bytes_sent_total",
        "rheo_webrtc_packets_sent_total",
        "rheo_filter_frames_processed_total{filter=\"FaceOverlayFilter\"}",
    ] {
        assert!(metric(&during, counter) > 0.0, "{counter}");
    }
    assert!(metric(&during, "process_resident_memory_bytes") > 1e6);
    assert!(metric(&during, "process_cpu_seconds_total") > 0.0);

    c.ok("release", json!({"object": p})).await;
    let (_, after) = get(addr, "/metrics").await;
    assert_eq!(metric(&after, "rheo_pipelines"), 0.0);
    assert_eq!(metric(&after, "rheo_encoders"), 0.0);
    assert!(!after.contains("rheo_elements{type=\"WebRtcEndpoint\"}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn image_uris_are_confined_to_the_media_root_and_allowed_schemes() {
    let root = common::ScratchDir::new("media-root");
    let inside = root.join("hat.png");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/magicmirror/img/hat.png"),
        &inside,
    )
    .unwrap();
    let (addr, _) = common::start_server(&[
        "--media-root",
        root.to_str().unwrap(),
        "--image-uri-schemes",
        "file",
    ])
    .await;
    let mut c = common::Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let f = c
        .create("FaceOverlayFilter", json!({"mediaPipeline": p}))
        .await;
    let set = |uri: String| {
        json!({"uri": uri, "offsetXPercent": 0.0, "offsetYPercent": 0.0,
               "widthPercent": 1.0, "heightPercent": 1.0})
    };
    let outside = format!(
        "file://{}/web/magicmirror/img/hat.png",
        env!("CARGO_MANIFEST_DIR")
    );
    let escape = format!("file://{}/../../etc/passwd", root.display());
    // Outside the root reads exactly like missing, so nothing can be learnt about the disk.
    let missing = format!("file://{}/no-such.png", root.display());
    for (uri, expected) in [
        (outside, "no such file in the server's media root"),
        (escape, "no such file in the server's media root"),
        (missing, "no such file in the server's media root"),
        (
            format!("http://{addr}/magicmirror/img/hat.png"),
            "not allowed",
        ),
    ] {
        let e = c
            .invoke_err(&f, "setOverlayedImage", set(uri.clone()))
            .await;
        assert_eq!(e["code"], 40107, "{uri}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(expected),
            "{uri}: {e}"
        );
    }
    c.invoke(
        &f,
        "setOverlayedImage",
        set(format!("file://{}", inside.display())),
    )
    .await;
    c.invoke(&f, "setOverlayedImage", set("hat.png".into()))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_clients_releases_pipelines_and_exits_cleanly() {
    let mut rheo = RheoProcess::spawn(
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--network-interfaces",
            "lo",
        ],
        &[],
    );
    let addr = rheo.plain_addr();
    let mut c = common::Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({ "mediaPipeline": p }))
        .await;
    // A recording in progress is finished, not cut, by the shutdown.
    let dir = common::ScratchDir::new("sigterm-recording");
    let file = dir.join("call.webm");
    let r = c
        .create(
            "RecorderEndpoint",
            json!({"mediaPipeline": p, "uri": format!("file://{}", file.display())}),
        )
        .await;
    c.invoke(&w, "connect", json!({"sink": w})).await;
    c.invoke(&w, "connect", json!({"sink": r})).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0).with_audio()).unwrap());
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(10, common::MEDIA_TIMEOUT))
        .await;
    c.subscribe(&r, "Recording").await;
    c.invoke(&r, "record", Value::Null).await;
    c.event(|e| e["type"] == "Recording").await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let status = Command::new("kill")
        .args(["-TERM", &rheo.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        c.next_frame().await,
        None,
        "the server closes the WebSocket"
    );
    rheo.wait_line("shut down cleanly pipelines=1");
    let exit = tokio::task::spawn_blocking(move || rheo.wait_exit())
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0));
    let f = rheo_media::test_media_file::inspect(&file).unwrap();
    assert!(f.declared_duration.is_some(), "a finished WEBM: {f:?}");
    assert!(
        f.video_span() >= Duration::from_millis(1500) && f.audio_buffers > 0,
        "{f:?}"
    );
}

#[test]
fn the_config_file_sits_under_env_and_flags_and_bad_values_stop_start_up() {
    let dir = common::ScratchDir::new("config-file");
    let file = dir.join("rheo.toml");
    std::fs::write(
        &file,
        "bind = \"127.0.0.1\"\nport = 1\nnetwork_interfaces = \"lo\"\nlog_format = \"json\"\n",
    )
    .unwrap();
    // The file's port 1 is overridden by the environment; its log format applies; an empty
    // variable counts as unset.
    let mut rheo = RheoProcess::spawn(
        &["--config", file.to_str().unwrap()],
        &[
            ("RHEO_PORT", "0"),
            ("RHEO_LOG", "info"),
            ("KMS_MIN_PORT", ""),
        ],
    );
    let line = rheo.wait_line("\"listening\"");
    let record: Value = serde_json::from_str(&line).expect("JSON log line");
    assert_eq!(record["level"], "INFO", "{line}");
    assert!(
        record["addr"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{line}"
    );
    drop(rheo);

    // The flag beats the environment, which beats the file; the message names the setting.
    std::fs::write(&file, "min_port = 40000\nmax_port = 40100\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["--config", file.to_str().unwrap(), "--max-port", "30000"])
        .env("KMS_MIN_PORT", "35000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("KMS_MIN_PORT (35000) is greater than KMS_MAX_PORT (30000)"),
        "{err}"
    );

    std::fs::write(&file, "port = 8888\nprot = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .args(["--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RHEO_CONFIG") && err.contains("prot"), "{err}");
}

/// Answers a test peer's offer with a loopback endpoint and gathers: returns the candidates
/// Rheo announced and the pipeline's dot.
async fn candidates_and_dot(extra: &[&str]) -> (Vec<String>, String) {
    let (mut c, p, w) = common::endpoint_session(extra).await;
    c.invoke(&w, "connect", json!({"sink": w})).await;
    c.subscribe(&w, "IceCandidateFound").await;
    c.subscribe(&w, "IceGatheringDone").await;
    let peer = TestPeer::new(PeerConfig::color(0xff2040e0)).unwrap();
    let offer = tokio::task::spawn_blocking(move || peer.create_offer())
        .await
        .unwrap()
        .unwrap();
    c.invoke(&w, "processOffer", json!({"offer": offer})).await;
    c.invoke(&w, "gatherCandidates", Value::Null).await;
    c.event(|e| e["type"] == "IceGatheringDone").await;
    let candidates = c
        .take_events(|e| e["type"] == "IceCandidateFound")
        .iter()
        .map(|e| {
            e["data"]["candidate"]["candidate"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let dot = c.invoke(&p, "getGstreamerDot", Value::Null).await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    c.ok("release", json!({"object": p})).await;
    (candidates, dot)
}

#[tokio::test(flavor = "multi_thread")]
async fn ice_tcp_and_mtu_follow_the_kurento_settings() {
    let tcp = |candidates: &[String]| {
        candidates
            .iter()
            .filter(|c| c.to_ascii_lowercase().contains(" tcp "))
            .count()
    };
    let (candidates, dot) = candidates_and_dot(&[]).await;
    assert!(
        candidates.len() > tcp(&candidates),
        "UDP candidates: {candidates:?}"
    );
    assert!(
        tcp(&candidates) > 0,
        "ICE-TCP is on by default: {candidates:?}"
    );
    assert!(dot.contains("mtu=1200"), "payloaders default to 1200 bytes");
    let (candidates, dot) = candidates_and_dot(&["--ice-tcp", "0", "--mtu", "1000"]).await;
    assert!(!candidates.is_empty());
    assert_eq!(tcp(&candidates), 0, "KMS_ICE_TCP=0: {candidates:?}");
    assert!(dot.contains("mtu=1000"), "KMS_MTU=1000");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_uses_a_configured_certificate_and_key_or_kurentos_combined_file() {
    rheo_media::init().unwrap();
    let dir = common::ScratchDir::new("tls-files");
    let made = rcgen::generate_simple_self_signed(vec!["rheo.test".to_owned()]).unwrap();
    let (cert, key, both) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("cert+key.pem"),
    );
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    std::fs::write(&both, made.cert.pem() + &made.key_pair.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let connector = connector_trusting(roots);
    let files: [&[&str]; 2] = [
        &[
            "--tls-certificate",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &["--tls-certificate", both.to_str().unwrap()],
    ];
    for tls_args in files {
        let mut args = vec![
            "rheo",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--secure-port",
            "0",
        ];
        args.extend_from_slice(tls_args);
        let server = rheo::start(&rheo::config::Config::load_from(&args).unwrap())
            .await
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("rheo.test").unwrap();
        let tls = connector
            .connect(
                name,
                TcpStream::connect(server.secure_addr.unwrap())
                    .await
                    .unwrap(),
            )
            .await
            .expect("the configured certificate is served");
        assert_eq!(
            get_over(tls, "rheo.test", "/healthz").await.0,
            200,
            "{tls_args:?}"
        );
        server.shut_down().await;
    }
    // A key that does not belong to the certificate stops start-up, naming the setting.
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(&key, other.serialize_pem()).unwrap();
    let config = rheo::config::Config::load_from([
        "rheo",
        "--port",
        "0",
        "--secure-port",
        "0",
        "--tls-certificate",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
    .unwrap();
    let err = rheo::start(&config)
        .await
        .err()
        .expect("mismatched key refused");
    assert!(err.contains("RHEO_TLS_CERTIFICATE"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_request_gets_400_and_a_silent_connection_no_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, _) = common::start_server(&[]).await;
    let mut bad = TcpStream::connect(addr).await.unwrap();
    bad.write_all(b"NOT HTTP AT ALL\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    bad.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // A client that closes its writing side before any request (as a browser's unused
    // preconnection ends) gets nothing written back.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    silent.shutdown().await.unwrap();
    let mut nothing = Vec::new();
    silent.read_to_end(&mut nothing).await.unwrap();
    assert!(nothing.is_empty(), "{}", String::from_utf8_lossy(&nothing));
    assert_eq!(get(addr, "/healthz").await.0, 200);
}
