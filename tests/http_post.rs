//! HttpPostEndpoint through the protocol: `getUrl`, then a POST of a media file to that URL on
//! the server's own port (raw, chunked or as a form), played into the pipeline, and
//! `EndOfStream` when it ends.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use common::{parse_response, run_to_eos, start_server, Client, ScratchDir, MEDIA_TIMEOUT};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the test sends a body.
enum Body<'a> {
    Raw(&'a [u8]),
    Chunked(&'a [u8]),
    Form(&'a [u8]),
}

/// POSTs `body` to `path` and returns the status and the response text.
async fn post(addr: SocketAddr, path: &str, body: Body<'_>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\n");
    let payload: Vec<u8> = match body {
        Body::Raw(bytes) => {
            head += &format!(
                "Content-Type: video/webm\r\nContent-Length: {}\r\n",
                bytes.len()
            );
            bytes.to_vec()
        }
        Body::Chunked(bytes) => {
            head += "Content-Type: video/webm\r\nTransfer-Encoding: chunked\r\n";
            let mut out = Vec::new();
            for chunk in bytes.chunks(10_000) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        }
        Body::Form(bytes) => {
            let mut out = b"--rheoBoundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.webm\"\r\nContent-Type: video/webm\r\n\r\n".to_vec();
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n--rheoBoundary--\r\n");
            head += &format!(
                "Content-Type: multipart/form-data; boundary=rheoBoundary\r\nContent-Length: {}\r\n",
                out.len()
            );
            out
        }
    };
    head += "Connection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (an error) before taking the whole body.
    let _ = stream.write_all(&payload).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let (status, body) = parse_response(&response);
    (status, body.trim().to_owned())
}

/// A 2 s VP8/Opus WEBM.
fn short_webm(dir: &Path) -> Vec<u8> {
    let path = dir.join("short.webm");
    run_to_eos(&format!(
        "webmmux name=m ! filesink location={} \
         videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         vp8enc deadline=1 keyframe-max-dist=30 ! m. \
         audiotestsrc num-buffers=100 samplesperbuffer=960 ! audio/x-raw,rate=48000 ! opusenc ! m.",
        path.display()
    ));
    std::fs::read(path).unwrap()
}

/// The endpoint and the path of its URL (checked to be on this server).
async fn http_post_endpoint(c: &mut Client, p: &str, addr: SocketAddr) -> (String, String) {
    let e = c
        .create("HttpPostEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.subscribe(&e, "EndOfStream").await;
    let url = c.invoke(&e, "getUrl", Value::Null).await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let prefix = format!("http://127.0.0.1:{}/http-post/", addr.port());
    assert!(url.starts_with(&prefix), "{url}");
    let path = url["http://".len()..].split_once('/').unwrap().1;
    (e, format!("/{path}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_file_plays_to_a_browser_and_ends_with_end_of_stream() {
    let (addr, _) = start_server(&[]).await;
    let dir = ScratchDir::new("http-post-play");
    let sample = rheo_media::ensure_sample_video(&dir).unwrap();
    let file = std::fs::read(sample).unwrap();
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let (e, path) = http_post_endpoint(&mut c, &p, addr).await;
    let w = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.invoke(&e, "connect", json!({"sink": w})).await;
    c.subscribe(&e, "MediaSessionStarted").await;
    c.subscribe(&e, "MediaSessionTerminated").await;
    let upload = tokio::spawn(async move { post(addr, &path, Body::Raw(&file)).await });
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xff3060a0).with_audio()).unwrap());
    c.negotiate_with_peer(&w, &peer, |p| p.wait_frames(30, MEDIA_TIMEOUT))
        .await;
    assert_eq!(upload.await.unwrap(), (200, "upload complete".to_owned()));
    c.event(|ev| ev["type"] == "MediaSessionStarted").await;
    c.event(|ev| ev["type"] == "MediaSessionTerminated").await;
    let end = c.event(|ev| ev["type"] == "EndOfStream").await;
    assert_eq!(end["data"]["source"], e);
    let dot = c.invoke(&p, "getGstreamerDot", Value::Null).await;
    let dot = dot["value"].as_str().unwrap_or("");
    assert!(
        !dot.contains("vp8enc") && !dot.contains("vp8dec"),
        "no transcoding"
    );
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_and_form_uploads_play_to_their_end() {
    let dir = ScratchDir::new("http-post-framing");
    let file = short_webm(&dir);
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    for body in [Body::Chunked(&file), Body::Form(&file)] {
        let (e, path) = http_post_endpoint(&mut c, &p, addr).await;
        assert_eq!(
            post(addr, &path, body).await,
            (200, "upload complete".into())
        );
        let end = c
            .event(|ev| ev["type"] == "EndOfStream" && ev["data"]["source"] == e)
            .await;
        assert_eq!(end["data"]["type"], "EndOfStream");
        // One upload per endpoint.
        let (status, text) = post(addr, &path, Body::Raw(&file)).await;
        assert_eq!(status, 410, "{text}");
    }
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_uploads_get_clear_http_errors() {
    let dir = ScratchDir::new("http-post-errors");
    let file = short_webm(&dir);
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let (status, _) = post(
        addr,
        "/http-post/0123456789abcdef0123456789abcdef",
        Body::Raw(&file),
    )
    .await;
    assert_eq!(status, 404);

    // Not media: refused, and the endpoint reports an Error event.
    let (e, path) = http_post_endpoint(&mut c, &p, addr).await;
    c.subscribe(&e, "Error").await;
    let text = "not a video at all\n".repeat(20_000);
    let (status, why) = post(addr, &path, Body::Raw(text.as_bytes())).await;
    assert_eq!(status, 415, "{why}");
    let error = c.event(|ev| ev["type"] == "Error").await;
    assert!(
        error["data"]["description"]
            .as_str()
            .unwrap()
            .contains("the upload"),
        "{error}"
    );

    // An empty file, and a form without a file.
    let (_, path) = http_post_endpoint(&mut c, &p, addr).await;
    assert_eq!(
        post(addr, &path, Body::Form(b"")).await,
        (400, "the upload is empty".into())
    );
    let (_, path) = http_post_endpoint(&mut c, &p, addr).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let form = b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n";
    let head = format!(
        "POST {path} HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
        form.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(form).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("the form has no file"), "{response}");

    // Constructor checks.
    let bad = c
        .request(
            "create",
            json!({"type": "HttpPostEndpoint",
                   "constructorParams": {"mediaPipeline": p, "disconnectionTimeout": -1}}),
        )
        .await;
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disconnectionTimeout"),
        "{bad}"
    );
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_post_during_an_upload_is_refused_and_release_frees_the_url() {
    let (addr, _) = start_server(&[]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let (e, path) = http_post_endpoint(&mut c, &p, addr).await;
    // The first upload announces 1 MB and sends only its head; "100 Continue" says the
    // endpoint took it.
    let mut first = TcpStream::connect(addr).await.unwrap();
    first
        .write_all(
            format!(
                "POST {path} HTTP/1.1\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut interim = [0u8; 25];
    first.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    let (status, why) = post(addr, &path, Body::Raw(b"x")).await;
    assert_eq!(status, 409, "{why}");
    c.ok("release", json!({"object": e})).await;
    drop(first);
    let (status, _) = post(addr, &path, Body::Raw(b"x")).await;
    assert_eq!(status, 404, "a released endpoint's URL is gone");
    c.ok("release", json!({"object": p})).await;
}
