//! WHIP and WHEP with GStreamer's own clients (`whipsink`, `whepsrc` from gst-plugin-webrtchttp,
//! built by scripts/build-webrtchttp.sh), each in a `gst-launch-1.0` process of its own as a
//! streamer's would be: a frame-coded clip published, watched, checked frame by frame, also
//! through a configured filter; and the protocol's edges over raw HTTP: trickle, ETags, ICE
//! restarts, tokens, bad offers, unknown streams, a second publisher, DELETE and a client that
//! vanishes, each leaving no object behind.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{start_server, wait_until_async, Client, ScratchDir, MEDIA_TIMEOUT};
use gst::prelude::*;
use rheo_media::test_peer::{read_frame_code, write_frame_code, PeerConfig, TestPeer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WIDTH: usize = 640;
const HEIGHT: usize = 480;
/// Frames of the published clip: 12 s at 30 fps.
const CLIP_FRAMES: u32 = 360;
const VP8_RTP: &str = "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000";

/// The folder of `libgstwebrtchttp.so`, built once per test process.
fn plugin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-webrtchttp.sh");
        let out = Command::new("bash")
            .arg(script)
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "gst-plugin-webrtchttp builds");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// A VP8 WebM clip whose every frame carries its number ([`read_frame_code`]).
fn frame_coded_clip(dir: &Path) -> PathBuf {
    gst::init().unwrap();
    let path = dir.join("clip.webm");
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={CLIP_FRAMES} pattern=ball \
         ! video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate=30/1 \
         ! identity name=coder ! vp8enc deadline=1 keyframe-max-dist=30 \
         ! webmmux ! filesink location={}",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let coder = pipeline.by_name("coder").unwrap();
    let next = std::sync::atomic::AtomicU32::new(0);
    coder
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
                let mut map = buffer.make_mut().map_writable().unwrap();
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                write_frame_code(&mut map, WIDTH, n);
            }
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(60),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos));
    path
}

/// In the tests' loopback-only namespace, an interface for the clients' ICE: webrtcbin (libnice)
/// never gathers on loopback, and whipsink and whepsrc cannot be told otherwise. A veth pair
/// inside the namespace reaches nothing beyond it; the server still gathers on loopback only.
fn client_interface() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if std::env::var("RHEO_IN_LOOPBACK_NS").as_deref() != Ok("1") {
            return; // The host's own interfaces serve.
        }
        for args in [
            "link add rheo-whip0 type veth peer name rheo-whip1",
            "addr add 10.254.0.1/32 dev rheo-whip0",
            "link set rheo-whip0 up",
            "link set rheo-whip1 up",
        ] {
            let status = Command::new("ip")
                .args(args.split(' '))
                .status()
                .expect("ip runs");
            assert!(status.success(), "ip {args}");
        }
    });
}

/// A `gst-launch-1.0` process with the WHIP/WHEP plugin, killed when dropped.
struct Launch(Child);

impl Launch {
    fn start(description: &str) -> Launch {
        client_interface();
        let child = Command::new("gst-launch-1.0")
            .arg("-q")
            .args(description.split_whitespace())
            .env("GST_PLUGIN_PATH", plugin_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gst-launch-1.0 runs");
        Launch(child)
    }

    /// Publishes the clip at its own pace to `url`.
    fn publish(clip: &Path, url: &str, token: Option<&str>) -> Launch {
        let auth = token.map(|t| format!("auth-token={t}")).unwrap_or_default();
        Launch::start(&format!(
            "filesrc location={} ! matroskademux ! clocksync ! rtpvp8pay pt=96 \
             ! {VP8_RTP} ! whipsink whip-endpoint={url} {auth}",
            clip.display()
        ))
    }

    /// Watches `url`, writing each decoded picture's luma to `out`.
    fn watch(url: &str, token: Option<&str>, out: &Path) -> Launch {
        let auth = token.map(|t| format!("auth-token={t}")).unwrap_or_default();
        Launch::start(&format!(
            "whepsrc whep-endpoint={url} {auth} audio-caps=EMPTY video-caps={VP8_RTP} \
             ! rtpvp8depay ! vp8dec ! videoconvert \
             ! video/x-raw,format=GRAY8,width={WIDTH},height={HEIGHT} \
             ! filesink location={}",
            out.display()
        ))
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The frame numbers of the pictures in a GRAY8 file, turned upside down first if `flipped`.
fn frame_codes(path: &Path, flipped: bool) -> Vec<u32> {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes
        .chunks_exact(WIDTH * HEIGHT)
        .map(|picture| {
            if flipped {
                let upright: Vec<u8> = picture
                    .chunks_exact(WIDTH)
                    .rev()
                    .flatten()
                    .copied()
                    .collect();
                read_frame_code(&upright, WIDTH)
            } else {
                read_frame_code(picture, WIDTH)
            }
        })
        .collect()
}

/// Waits until `path` holds `frames` pictures.
fn wait_pictures(path: &Path, frames: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as usize;
        if len >= frames * WIDTH * HEIGHT {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// [`wait_pictures`] for 20 s, off the runtime's threads.
async fn pictures_arrive(path: &Path, frames: usize) -> bool {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || wait_pictures(&path, frames, Duration::from_secs(20)))
        .await
        .unwrap()
}

/// The WHIP/WHEP client plugin built and the frame-coded clip written in `dir`, off the runtime's
/// threads.
async fn prepare_clip(dir: &Path) -> PathBuf {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        plugin_dir();
        frame_coded_clip(&dir)
    })
    .await
    .unwrap()
}

/// The viewer got a run of the clip's frames, in order, with few missing.
fn assert_frames_in_order(codes: &[u32]) {
    assert!(codes.len() >= 60, "only {} frames decoded", codes.len());
    // Skip the first pictures: a decoder may show a frame twice while it settles.
    let codes = &codes[5..];
    let in_order = codes.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        in_order * 100 >= (codes.len() - 1) * 95,
        "frames out of order: {codes:?}"
    );
    let span = (codes.last().unwrap() - codes.first().unwrap() + 1) as usize;
    assert!(
        codes.len() * 100 >= span * 85,
        "{} frames of {span}: {codes:?}",
        codes.len()
    );
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

async fn settle(core: &Arc<rheo::control::Core>) -> bool {
    wait_until_async(Duration::from_secs(20), || core.object_count() == 0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whipsink_publishes_and_whepsrc_watches_frame_by_frame() {
    let dir = ScratchDir::new("whip-frames");
    let clip = prepare_clip(&dir).await;
    let (addr, core) = start_server(&["--whip-timeout-secs", "5"]).await;
    let mut publisher = Launch::publish(&clip, &url(addr, "/whip/cam"), None);
    // The viewer joins once the stream is published.
    let out = dir.join("seen.gray");
    assert!(wait_for_stream(addr).await, "whipsink published");
    let mut viewer = Launch::watch(&url(addr, "/whep/cam"), None, &out);
    assert!(
        pictures_arrive(&out, 90).await,
        "whepsrc decoded fewer than 90 frames in 20 s"
    );
    viewer.kill();
    publisher.kill();
    assert_frames_in_order(&frame_codes(&out, false));
    // Both clients vanished without a DELETE: their sessions are collected.
    assert!(settle(&core).await, "objects left: {}", core.object_count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_filter_chain_runs_between_publisher_and_viewers() {
    let dir = ScratchDir::new("whip-filter");
    let clip = prepare_clip(&dir).await;
    let config = dir.join("rheo.toml");
    std::fs::write(
        &config,
        r#"
whip_open_streams = false
[whip_streams.flipped]
token = "stream-secret"
filters = [
  { type = "GStreamerFilter", params = { command = "videoflip video-direction=vert" } },
]
"#,
    )
    .unwrap();
    let (addr, core) = start_server(&[
        "--config",
        config.to_str().unwrap(),
        "--whip-timeout-secs",
        "5",
    ])
    .await;
    // Only the configured stream exists, and only with its token.
    let offer = client_offer();
    let (status, _, _) = http(addr, "POST", "/whip/other", &sdp_headers(None), &offer).await;
    assert_eq!(status, 404);
    let (status, _, _) = http(addr, "POST", "/whip/flipped", &sdp_headers(None), &offer).await;
    assert_eq!(status, 401);
    let mut publisher = Launch::publish(&clip, &url(addr, "/whip/flipped"), Some("stream-secret"));
    assert!(
        wait_for_stream(addr).await,
        "whipsink published with the stream's token"
    );
    let out = dir.join("seen.gray");
    let mut viewer = Launch::watch(&url(addr, "/whep/flipped"), Some("stream-secret"), &out);
    assert!(
        pictures_arrive(&out, 90).await,
        "whepsrc decoded fewer than 90 frames of the filtered stream in 20 s"
    );
    viewer.kill();
    publisher.kill();
    // Upside down: the filter ran. Read the right way up, the frames are the clip's, in order.
    assert_frames_in_order(&frame_codes(&out, true));
    assert!(settle(&core).await, "objects left: {}", core.object_count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applications_whip_endpoint_feeds_its_pipeline_and_a_whep_endpoint_serves_it() {
    let dir = ScratchDir::new("whip-app");
    let clip = prepare_clip(&dir).await;
    let (addr, _core) = start_server(&["--whip-timeout-secs", "3"]).await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    // OBS -> WhipEndpoint -> the application's WebRtcEndpoint (a browser) and a WhepEndpoint.
    let whip = c.create("WhipEndpoint", json!({"mediaPipeline": p})).await;
    let whep = c.create("WhepEndpoint", json!({"mediaPipeline": p})).await;
    for event in ["MediaSessionStarted", "MediaSessionTerminated"] {
        c.subscribe(&whip, event).await;
    }
    let whip_url = c.invoke(&whip, "getUrl", Value::Null).await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let whep_url = c.invoke(&whep, "getUrl", Value::Null).await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(whip_url.contains("/whip-endpoint/"), "{whip_url}");
    let path = |url: &str| url[url.find("/wh").unwrap()..].to_owned();
    let local = |url: &str| format!("http://{addr}{}", path(url));
    let browser_endpoint = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": p}))
        .await;
    c.invoke(&whip, "connect", json!({"sink": browser_endpoint}))
        .await;
    c.invoke(&whip, "connect", json!({"sink": whep})).await;
    let browser = Arc::new(TestPeer::new(PeerConfig::color(0xff000000)).unwrap());
    c.negotiate_with_peer(&browser_endpoint, &browser, |_| true)
        .await;

    let mut publisher = Launch::publish(&clip, &local(&whip_url), None);
    c.event(|e| e["type"] == "MediaSessionStarted").await;
    let since = Instant::now();
    let b = browser.clone();
    assert!(
        tokio::task::spawn_blocking(move || b.wait_frames(90, MEDIA_TIMEOUT))
            .await
            .unwrap(),
        "the application's browser gets the WHIP stream"
    );
    let codes: Vec<u32> = browser
        .frame_arrivals(since)
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert!(
        codes.windows(2).filter(|w| w[1] > w[0]).count() * 10 >= codes.len() * 9,
        "{codes:?}"
    );

    // A second publisher is refused while the first is on.
    let (status, _, _) = http(
        addr,
        "POST",
        &path(&whip_url),
        &sdp_headers(None),
        &client_offer(),
    )
    .await;
    assert_eq!(status, 409);

    let out = dir.join("whep.gray");
    let mut viewer = Launch::watch(&local(&whep_url), None, &out);
    assert!(
        pictures_arrive(&out, 60).await,
        "whepsrc watches the WhepEndpoint"
    );
    viewer.kill();
    assert_frames_in_order(&frame_codes(&out, false));

    // OBS goes away without a DELETE: the application hears it.
    publisher.kill();
    c.event(|e| e["type"] == "MediaSessionTerminated").await;
    let (status, _, _) = http(
        addr,
        "POST",
        &path(&whip_url),
        &sdp_headers(None),
        &client_offer(),
    )
    .await;
    assert_eq!(status, 410, "an endpoint takes one client");
    c.ok("release", json!({"object": p})).await;
    let (status, _, _) = http(
        addr,
        "POST",
        &path(&whip_url),
        &sdp_headers(None),
        &client_offer(),
    )
    .await;
    assert_eq!(status, 404, "released with its pipeline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocols_edges_answer_with_their_status_and_leak_nothing() {
    let (addr, core) = start_server(&["--access-token", "s3cret"]).await;
    let auth = Some("s3cret");
    let offer = client_offer();

    // CORS preflight, no token needed.
    let (status, headers, _) = http(
        addr,
        "OPTIONS",
        "/whip/live",
        &[
            ("Origin", format!("http://{addr}")),
            ("Access-Control-Request-Method", "POST".into()),
        ],
        "",
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(format!("http://{addr}"))
    );
    assert!(header(&headers, "access-control-expose-headers")
        .unwrap()
        .contains("Location"));
    assert_eq!(
        header(&headers, "accept-post").as_deref(),
        Some("application/sdp")
    );

    // Tokens, content types, SDP.
    let (status, headers, _) = http(addr, "POST", "/whip/live", &sdp_headers(None), &offer).await;
    assert_eq!(status, 401);
    assert_eq!(
        header(&headers, "www-authenticate").as_deref(),
        Some("Bearer")
    );
    let (status, _, _) = http(
        addr,
        "POST",
        "/whip/live",
        &sdp_headers(Some("nope")),
        &offer,
    )
    .await;
    assert_eq!(status, 401);
    let text = [
        ("Authorization", "Bearer s3cret".to_owned()),
        ("Content-Type", "text/plain".into()),
    ];
    let (status, _, _) = http(addr, "POST", "/whip/live", &text, &offer).await;
    assert_eq!(status, 415);
    let (status, _, body) = http(
        addr,
        "POST",
        "/whip/live",
        &sdp_headers(auth),
        "v=0\r\nnot sdp",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = http(addr, "POST", "/whep/nobody", &sdp_headers(auth), &offer).await;
    assert_eq!(status, 404);
    let (status, _, _) = http(addr, "POST", "/whip/bad%2Fname", &sdp_headers(auth), &offer).await;
    assert_eq!(status, 404);
    assert!(settle(&core).await, "failed POSTs left objects");

    // A publisher: 201 with the answer, its location, ETag and candidates.
    let (status, headers, answer) =
        http(addr, "POST", "/whip/live", &sdp_headers(auth), &offer).await;
    assert_eq!(status, 201, "{answer}");
    assert!(
        answer.starts_with("v=0") && answer.contains("a=candidate:"),
        "{answer}"
    );
    assert!(answer.contains("a=end-of-candidates"));
    let location = header(&headers, "location").unwrap();
    assert!(location.starts_with("/whip/live/"), "{location}");
    let etag = header(&headers, "etag").unwrap();
    assert_eq!(
        header(&headers, "content-type").as_deref(),
        Some("application/sdp")
    );

    // A second publisher of the same stream.
    let (status, _, _) = http(
        addr,
        "POST",
        "/whip/live",
        &sdp_headers(auth),
        &client_offer(),
    )
    .await;
    assert_eq!(status, 409);

    // Trickle: a candidate; a wrong ETag; an ICE restart; garbage; an unknown session.
    let ufrag = offer
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .trim()
        .to_owned();
    let fragment = format!(
        "a=ice-ufrag:{ufrag}\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:video0\r\n\
         a=candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host\r\n"
    );
    let patch = |tag: &str| {
        vec![
            ("Authorization", "Bearer s3cret".to_owned()),
            ("Content-Type", "application/trickle-ice-sdpfrag".to_owned()),
            ("If-Match", tag.to_owned()),
        ]
    };
    let (status, _, body) = http(addr, "PATCH", &location, &patch(&etag), &fragment).await;
    assert_eq!(status, 204, "{body}");
    let (status, _, _) = http(addr, "PATCH", &location, &patch("\"other\""), &fragment).await;
    assert_eq!(status, 412);
    let restart = fragment.replace(&ufrag, "newufrag");
    let (status, _, _) = http(addr, "PATCH", &location, &patch("*"), &restart).await;
    assert_eq!(status, 422);
    let (status, _, _) = http(addr, "PATCH", &location, &patch(&etag), "no sdp here").await;
    assert_eq!(status, 400);
    let (status, _, _) = http(
        addr,
        "PATCH",
        "/whip/live/unknown",
        &patch(&etag),
        &fragment,
    )
    .await;
    assert_eq!(status, 404);

    // A viewer, then DELETE of the publisher ends the stream and the viewer with it.
    let (status, headers, _) = http(
        addr,
        "POST",
        "/whep/live",
        &sdp_headers(auth),
        &viewer_offer(),
    )
    .await;
    assert_eq!(status, 201);
    let viewer_location = header(&headers, "location").unwrap();
    assert!(viewer_location.starts_with("/whep/live/"));
    let bearer = [("Authorization", "Bearer s3cret".to_owned())];
    let (status, _, _) = http(addr, "DELETE", &location, &[], "").await;
    assert_eq!(status, 401);
    let (status, _, _) = http(addr, "DELETE", &location, &bearer, "").await;
    assert_eq!(status, 200);
    let (status, _, _) = http(addr, "DELETE", &viewer_location, &bearer, "").await;
    assert_eq!(status, 404, "the viewer ended with its stream");
    let (status, headers, _) = http(addr, "GET", &location, &bearer, "").await;
    assert_eq!(status, 405);
    assert!(header(&headers, "allow").unwrap().contains("POST"));
    assert!(settle(&core).await, "objects left: {}", core.object_count());

    // A publisher that never connects is collected too (the test server waits 30 s by
    // default; whipsink's vanishing is in the frame test).
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_share_of_sessions() {
    let (addr, core) = start_server(&[
        "--whip-max-sessions-per-ip",
        "2",
        "--turn-secret",
        "coturn-shared-secret",
    ])
    .await;
    let (status, headers, _) = http(
        addr,
        "POST",
        "/whip/share",
        &sdp_headers(None),
        &client_offer(),
    )
    .await;
    assert_eq!(status, 201);
    // The TURN servers, with credentials minted for this client, as ice-server links.
    let links: Vec<&String> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("link"))
        .map(|(_, v)| v)
        .collect();
    assert!(
        links.iter().any(|l| l.starts_with("<turn:")
            && l.contains("rel=\"ice-server\"")
            && l.contains("username=\"")
            && l.contains("credential=\"")),
        "{links:?}"
    );
    let publisher = header(&headers, "location").unwrap();
    let (status, _, _) = http(
        addr,
        "POST",
        "/whep/share",
        &sdp_headers(None),
        &viewer_offer(),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, body) = http(
        addr,
        "POST",
        "/whep/share",
        &sdp_headers(None),
        &viewer_offer(),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("whip_max_sessions_per_ip"), "{body}");
    let (_, metrics) = common::get(addr, "/metrics").await;
    assert!(
        metrics.contains("rheo_whip_refused_per_ip_total 1"),
        "{metrics}"
    );
    // Ending the stream gives both shares back.
    let (status, _, _) = http(addr, "DELETE", &publisher, &[], "").await;
    assert_eq!(status, 200);
    let (status, _, _) = http(
        addr,
        "POST",
        "/whip/share",
        &sdp_headers(None),
        &client_offer(),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, _) = http(
        addr,
        "POST",
        "/whep/share",
        &sdp_headers(None),
        &viewer_offer(),
    )
    .await;
    assert_eq!(status, 201);
    drop(core);
}

/// An offer as a sending WHIP client makes it (webrtcbin, video only).
fn client_offer() -> String {
    let peer = TestPeer::new(PeerConfig::color(0xff2060a0)).unwrap();
    peer.create_offer().unwrap()
}

/// A receive-only offer, as a WHEP player makes it.
fn viewer_offer() -> String {
    let peer = TestPeer::new(PeerConfig::receive_only()).unwrap();
    peer.create_offer().unwrap()
}

fn sdp_headers(token: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![("Content-Type", "application/sdp".to_owned())];
    if let Some(t) = token {
        headers.push(("Authorization", format!("Bearer {t}")));
    }
    headers
}

/// Polls `/metrics` until a stream is published.
async fn wait_for_stream(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let (_, metrics) = common::get(addr, "/metrics").await;
        if metrics.lines().any(|l| l == "rheo_whip_streams 1") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// One HTTP/1.1 request; the status, headers and body of the response.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("a response within 30 s")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}
