//! Benchmark (not a test): what each filter costs on a live 640x480@30 stream, next to the same
//! pipeline without it (decode, conversions and sink included in both), and the output frame
//! rate. Worker threads (detection, OCR) are counted: the figure is the process's CPU time.
//!
//! cargo run --release -p rheo-filters --example filter_cost [seconds]

use std::time::{Duration, Instant};

use gst::prelude::*;

const FACE_PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
const STREET: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// Runs `source ! middle ! fakesink` live for `secs`; returns (CPU % of one core, output fps).
fn run(source: &str, middle: &str, secs: u64) -> Option<(f64, f64)> {
    let desc = format!("{source} ! {middle} ! fakesink name=sink sync=true");
    let pipeline = gst::parse::launch(&desc)
        .ok()?
        .downcast::<gst::Pipeline>()
        .ok()?;
    let sink = pipeline.by_name("sink")?;
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let f2 = frames.clone();
    sink.static_pad("sink")?
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            f2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).ok()?;
    // Warm up (plugin loading, calibration), then measure.
    std::thread::sleep(Duration::from_secs(2));
    let (c0, n0, t0) = (
        cpu_seconds(),
        frames.load(std::sync::atomic::Ordering::Relaxed),
        Instant::now(),
    );
    let bus = pipeline.bus()?;
    let failed = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(secs),
        &[gst::MessageType::Error],
    );
    let (c1, n1, wall) = (
        cpu_seconds(),
        frames.load(std::sync::atomic::Ordering::Relaxed),
        t0.elapsed().as_secs_f64(),
    );
    pipeline.set_state(gst::State::Null).ok()?;
    if let Some(m) = failed {
        eprintln!("{middle}: {m:?}");
        return None;
    }
    Some(((c1 - c0) / wall * 100.0, (n1 - n0) as f64 / wall))
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    gstrheofilters::register_static().expect("filters register");
    let face = format!(
        "filesrc location={FACE_PHOTO} ! jpegdec ! videoconvert ! videocrop left=145 right=123 bottom=132 ! videoscale ! \
         video/x-raw,width=640,height=480,pixel-aspect-ratio=1/1 ! imagefreeze is-live=true ! \
         video/x-raw,framerate=30/1 ! videoconvert ! video/x-raw,format=I420"
    );
    let street = format!(
        "filesrc location={STREET} ! decodebin ! videoconvert ! videoscale ! videorate ! \
         video/x-raw,width=640,height=480,framerate=30/1 ! identity sync=true ! videoconvert ! video/x-raw,format=I420"
    );
    let hat = format!(
        "file://{}/../web/magicmirror/img/hat.png",
        env!("CARGO_MANIFEST_DIR")
    );
    let bgr = |f: &str| {
        format!(
            "videoconvert ! video/x-raw,format=BGR ! {f} ! videoconvert ! video/x-raw,format=I420"
        )
    };
    let cases: Vec<(&str, &str, String)> = vec![
        ("none (I420 baseline)", &face, "identity".into()),
        ("none (BGR conversions baseline)", &face, bgr("identity")),
        (
            "FaceOverlayFilter, BlazeFace (detection 15/s)",
            &face,
            format!("rheofaceoverlay image-uri={hat}"),
        ),
        (
            "FaceOverlayFilter, Haar (detection 15/s)",
            &face,
            format!("rheofaceoverlay detector=haar image-uri={hat}"),
        ),
        (
            "KmsDetectFaces + KmsShowFaces",
            &face,
            "rheodetectfaces ! rheoshowfaces".into(),
        ),
        (
            "ChromaFilter",
            &face,
            bgr(
                r#"rheochroma params="{\"window\":{\"topRightCornerX\":5,\"topRightCornerY\":5,\"width\":30,\"height\":30}}""#,
            ),
        ),
        (
            "PointerDetectorFilter",
            &face,
            bgr(
                r#"rheopointerdetector params="{\"calibrationRegion\":{\"topRightCornerX\":5,\"topRightCornerY\":5,\"width\":30,\"height\":30}}""#,
            ),
        ),
        ("none (street video baseline)", &street, "identity".into()),
        (
            "CrowdDetectorFilter (vtest.avi)",
            &street,
            bgr(
                r#"rheocrowddetector params="{\"rois\":[{\"id\":\"roi1\",\"points\":[{\"x\":0,\"y\":0},{\"x\":1,\"y\":0},{\"x\":1,\"y\":1},{\"x\":0,\"y\":1}],\"regionOfInterestConfig\":{}}]}""#,
            ),
        ),
        ("ZBarFilter", &face, "rheozbar".into()),
        (
            "ImageOverlayFilter (no image)",
            &face,
            bgr("rheoimageoverlay"),
        ),
        ("PlateDetectorFilter", &face, bgr("rheoplatedetector")),
    ];
    println!("| filter (640x480@30 live, {secs} s) | CPU % of one core | output fps |");
    println!("|---|---|---|");
    for (name, source, middle) in &cases {
        if let Some(first) = middle.split_whitespace().find(|w| w.starts_with("rheo")) {
            if gst::ElementFactory::find(first).is_none() {
                println!("| {name} | not built | |");
                continue;
            }
        }
        match run(source, middle, secs) {
            Some((cpu, fps)) => println!("| {name} | {cpu:.1} | {fps:.1} |"),
            None => println!("| {name} | failed | |"),
        }
    }
}
