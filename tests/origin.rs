//! Cross-site WebSocket hijacking: which pages' `Origin` may open `/kurento` and the relay, ask
//! for TURN credentials and upload; clients that send no `Origin` (application servers) always
//! may.

mod common;

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

use common::{start_server, Client};

/// The handshake's HTTP status: 101 when the WebSocket opened.
async fn handshake(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes());
        request
            .headers_mut()
            .insert(name.unwrap(), value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

/// The status of a raw HTTP request.
async fn http_status(addr: SocketAddr, request: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf).await;
    common::parse_response(&buf).0
}

async fn origin_refusals(addr: SocketAddr) -> u64 {
    let (_, body) = common::get(addr, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix("rheo_origin_refusals_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("rheo_origin_refusals_total in /metrics")
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_from_foreign_origins_are_refused_and_counted() {
    let (addr, _) = start_server(&[]).await;
    for path in ["/kurento", "/demo-signaling"] {
        for origin in [
            "http://evil.example",
            "null",
            "http://localhost.evil.example",
        ] {
            assert_eq!(
                handshake(addr, path, &[("Origin", origin)]).await,
                403,
                "{origin} on {path}"
            );
        }
    }
    let turn = http_status(
        addr,
        "GET /turn-credentials HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(turn, 403);
    let upload = http_status(
        addr,
        "POST /http-post/abc HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(upload, 403);
    assert_eq!(origin_refusals(addr).await, 8);
    // The same requests without an Origin are not refused for it.
    let turn = http_status(
        addr,
        "GET /turn-credentials HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(turn, 404, "no TURN secret configured");
    assert_eq!(origin_refusals(addr).await, 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn application_servers_rheo_own_pages_and_loopback_pages_get_in() {
    let (addr, _) = start_server(&[]).await;
    // kurento-client in Node or Java sends no Origin.
    let mut c = Client::connect(addr).await;
    c.create("MediaPipeline", Value::Null).await;
    let own = format!("http://{addr}");
    for headers in [
        vec![("Origin", own.as_str())],
        // Rheo's demos reached by a LAN name, or behind a proxy that keeps Host.
        vec![
            ("Origin", "http://rheo.lan:8888"),
            ("Host", "rheo.lan:8888"),
        ],
        vec![("Origin", "https://rheo.example"), ("Host", "rheo.example")],
        // Kurento's browser tutorials, served by their own server on localhost.
        vec![("Origin", "http://localhost:3000")],
        vec![("Origin", "https://127.0.0.1:8443")],
        vec![("Origin", "http://[::1]:8080")],
    ] {
        assert_eq!(
            handshake(addr, "/kurento", &headers).await,
            101,
            "{headers:?}"
        );
    }
    assert_eq!(origin_refusals(addr).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_origins_lets_named_origins_in_and_star_every_origin() {
    let (addr, _) = start_server(&["--allowed-origins", "https://app.example.com"]).await;
    assert_eq!(
        handshake(addr, "/kurento", &[("Origin", "https://app.example.com")]).await,
        101
    );
    assert_eq!(
        handshake(addr, "/kurento", &[("Origin", "https://other.example.com")]).await,
        403
    );
    let (addr, _) = start_server(&["--allowed-origins", "*"]).await;
    assert_eq!(
        handshake(addr, "/kurento", &[("Origin", "http://evil.example")]).await,
        101
    );
    assert_eq!(origin_refusals(addr).await, 0);
    let bad = rheo::config::Config::load_from(["rheo", "--allowed-origins", "example.com"]);
    assert!(bad.is_err());
}
