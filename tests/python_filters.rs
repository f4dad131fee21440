//! Python filters through the protocol, with a webrtcbin peer as the browser: the pixels a
//! filter draws come back, its events reach the client, bad names and broken files are refused
//! at `create`, and a filter that raises, crashes or hangs gets its error while another
//! session's media keeps flowing.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use common::{start_server, Client, MEDIA_TIMEOUT};
use rheo_media::test_peer::{PeerConfig, TestPeer};
use serde_json::{json, Value};

/// The operator's folder of filters for these tests.
fn filters_dir() -> &'static str {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rheo-python-protocol-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = [
            (
                "invert",
                "\"\"\"Inverts the picture.\"\"\"\n\nclass Filter:\n    def __init__(self, params):\n        self.every = params.get(\"every\", 10)\n\n    def process(self, frame, ctx):\n        frame[:] = 255 - frame\n        if ctx.frame_number % self.every == 0:\n            ctx.emit(\"Inverted\", {\"frame\": ctx.frame_number})\n",
            ),
            (
                "raises",
                "def process(frame, ctx):\n    if ctx.frame_number >= 5:\n        raise RuntimeError(\"out of ideas\")\n",
            ),
            (
                "crashes",
                "import ctypes\n\ndef process(frame, ctx):\n    if ctx.frame_number == 10:\n        ctypes.string_at(0)\n",
            ),
            (
                "hangs",
                "import time\n\ndef process(frame, ctx):\n    if ctx.frame_number == 10:\n        time.sleep(600)\n",
            ),
            ("broken", "def process(frame, ctx)\n    pass\n"),
        ];
        for (name, code) in files {
            std::fs::write(dir.join(format!("{name}.py")), code).unwrap();
        }
        dir
    })
    .to_str()
    .unwrap()
}

async fn session() -> (std::net::SocketAddr, Client, String, String) {
    let (addr, _) = start_server(&[
        "--python-filters-dir",
        filters_dir(),
        "--python-frame-timeout-ms",
        "1000",
    ])
    .await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let w = c
        .create("WebRtcEndpoint", json!({ "mediaPipeline": p }))
        .await;
    (addr, c, p, w)
}

/// A loopback through a Python filter, negotiated until frames come back: (filter, peer).
async fn looped(
    c: &mut Client,
    p: &str,
    w: &str,
    module: &str,
    colour: u32,
) -> (String, Arc<TestPeer>) {
    let f = c
        .create(
            "rheopython.PythonFilter",
            json!({"mediaPipeline": p, "module": module, "params": {"every": 5}}),
        )
        .await;
    c.subscribe(&f, "Error").await;
    c.loop_through(w, &f).await;
    let peer = Arc::new(TestPeer::new(PeerConfig::color(colour)).unwrap());
    c.negotiate_with_peer(w, &peer, |p| p.wait_frames(10, MEDIA_TIMEOUT))
        .await;
    (f, peer)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_filters_pixels_come_back_and_its_events_reach_the_client() {
    let (_, mut c, p, w) = session().await;
    let f = c
        .create(
            "PythonFilter",
            json!({"mediaPipeline": p, "module": "invert", "params": "{\"every\": 5}"}),
        )
        .await;
    c.subscribe(&f, "Inverted").await;
    c.loop_through(&w, &f).await;
    // Orange in, its negative (blue-ish) out.
    let peer = Arc::new(TestPeer::new(PeerConfig::color(0xffe08020)).unwrap());
    let inverted = |fr: &rheo_media::test_peer::Frame| {
        let [r, g, b] = fr.mean_rgb_all();
        (r - 31.0).abs() < 30.0 && (g - 127.0).abs() < 30.0 && (b - 223.0).abs() < 30.0
    };
    c.negotiate_with_peer(&w, &peer, move |p| {
        p.wait_frame_where(MEDIA_TIMEOUT, inverted).is_some()
    })
    .await;
    let ev = c.event(|e| e["type"] == "Inverted").await;
    assert_eq!(ev["data"]["source"], json!(f));
    assert_eq!(ev["data"]["frame"].as_i64().unwrap() % 5, 0, "{ev}");
    assert_eq!(
        c.invoke(&f, "getModule", Value::Null).await["value"],
        "invert"
    );
    c.ok("release", json!({"object": p})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn names_that_are_not_the_operators_filters_and_broken_files_are_refused() {
    let (_, mut c, p, _) = session().await;
    for (module, says) in [
        ("../invert", "not a Python filter name"),
        ("/etc/passwd", "not a Python filter name"),
        ("missing", "no Python filter 'missing'"),
        ("broken", "broken.py:1: SyntaxError"),
    ] {
        let e = c
            .err(
                "create",
                json!({"type": "PythonFilter", "constructorParams": {"mediaPipeline": p, "module": module}}),
            )
            .await;
        assert_eq!(e["code"], 40001, "{module}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(says),
            "{module}: {e}"
        );
    }
    let e = c
        .err(
            "create",
            json!({"type": "PythonFilter", "constructorParams": {"mediaPipeline": p, "module": "invert", "params": [1]}}),
        )
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    // The same element through GStreamerFilter, as an unchanged Kurento app would use it.
    let f = c
        .create(
            "GStreamerFilter",
            json!({"mediaPipeline": p, "command": "rheopythonfilter module=invert"}),
        )
        .await;
    assert!(!f.is_empty());
    let e = c
        .err(
            "create",
            json!({"type": "GStreamerFilter", "constructorParams": {"mediaPipeline": p, "command": "rheopythonfilter module=broken"}}),
        )
        .await;
    assert_eq!(e["code"], 40001, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("broken.py:1: SyntaxError"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exception_is_an_error_event_with_the_line_and_the_video_goes_on() {
    let (_, mut c, p, w) = session().await;
    let (f, peer) = looped(&mut c, &p, &w, "raises", 0xff2080e0).await;
    let ev = c.event(|e| e["type"] == "Error").await;
    assert_eq!(ev["data"]["source"], json!(f));
    let description = ev["data"]["description"].as_str().unwrap();
    assert!(
        description.contains("raises.py:3: RuntimeError: out of ideas"),
        "{ev}"
    );
    let before = peer.frames_received();
    let peer2 = peer.clone();
    let more = tokio::task::spawn_blocking(move || peer2.wait_frames(before + 30, MEDIA_TIMEOUT))
        .await
        .unwrap();
    assert!(more, "frames keep coming after the exception");
    c.ok("release", json!({"object": p})).await;
}

/// One session's filter crashes or hangs; another session, on the same server, keeps its media.
async fn a_failing_filter_harms_nobody_else(module: &str, says: &str) {
    let (addr, mut c, p, w) = session().await;
    let mut other = Client::connect(addr).await;
    let p2 = other.create("MediaPipeline", Value::Null).await;
    let w2 = other
        .create("WebRtcEndpoint", json!({ "mediaPipeline": p2 }))
        .await;
    let (_, other_peer) = looped(&mut other, &p2, &w2, "invert", 0xff808080).await;
    let (f, peer) = looped(&mut c, &p, &w, module, 0xffe08020).await;
    let ev = c.event(|e| e["type"] == "Error").await;
    assert_eq!(ev["data"]["source"], json!(f));
    assert!(
        ev["data"]["description"].as_str().unwrap().contains(says),
        "{ev}"
    );
    // Both sessions' video goes on: the failed filter's unfiltered, the other's filtered.
    for peer in [peer, other_peer] {
        let before = peer.frames_received();
        let more =
            tokio::task::spawn_blocking(move || peer.wait_frames(before + 30, MEDIA_TIMEOUT))
                .await
                .unwrap();
        assert!(more, "frames keep coming");
    }
    c.ok("release", json!({"object": p})).await;
    other.ok("release", json!({"object": p2})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_that_crashes_its_interpreter_harms_nobody_else() {
    a_failing_filter_harms_nobody_else("crashes", "SIGSEGV").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_that_hangs_harms_nobody_else() {
    a_failing_filter_harms_nobody_else("hangs", "no answer within 1000 ms").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_page_lists_the_operators_filters() {
    let (addr, ..) = session().await;
    let (status, body) = common::get(addr, "/python-filters").await;
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = listed["filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["broken", "crashes", "hangs", "invert", "raises"]
    );
    assert_eq!(listed["filters"][3]["doc"], "Inverts the picture.");
}
