//! Measures what `rheofaceoverlay` costs the streaming thread per 640×480 frame (luma
//! downscale + hand-off + drawing) and how long detection takes on the worker.
//!
//! `cargo run --release -p rheo-filters --example faceoverlay_cost [frames]`
//!
//! Frames are pushed one at a time through `appsrc ! rheofaceoverlay ! appsink`; the
//! streaming-thread time of each frame is measured between a buffer probe on the element's
//! sink pad (before the transform) and one on its src pad (after it).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstrheofilters::{load_image, FaceOverlay, LoadLimits, OverlayGeometry};

const MESSI: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
const LOGO: &str = "/usr/share/doc/opencv-doc/examples/data/opencv-logo.png";

fn frame() -> (gst::Caps, gst::Buffer) {
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={MESSI} ! jpegdec ! videoconvert ! \
         videocrop left=145 right=123 top=0 bottom=132 ! videoscale ! videoconvert ! \
         video/x-raw,format=I420,width=640,height=480 ! appsink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let s = sink
        .try_pull_sample(gst::ClockTime::from_seconds(10))
        .unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    let mut caps = s.caps_owned().unwrap();
    caps.make_mut().set("framerate", gst::Fraction::new(30, 1));
    (caps, s.buffer_owned().unwrap())
}

fn stats(name: &str, v: &mut [Duration]) {
    if v.is_empty() {
        println!("{name}: no samples");
        return;
    }
    v.sort();
    let sum: Duration = v.iter().sum();
    let pct = |p: f64| v[((v.len() - 1) as f64 * p) as usize];
    println!(
        "{name}: n={} mean={:.3} ms median={:.3} ms p95={:.3} ms max={:.3} ms",
        v.len(),
        sum.as_secs_f64() * 1e3 / v.len() as f64,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.95).as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    );
}

fn main() {
    let frames: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    gstrheofilters::register_static().unwrap();
    let (caps, buffer) = frame();

    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .caps(&caps)
        .format(gst::Format::Time)
        .build();
    let fo = FaceOverlay::new(None);
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline
        .add_many([
            src.upcast_ref::<gst::Element>(),
            fo.upcast_ref(),
            sink.upcast_ref(),
        ])
        .unwrap();
    gst::Element::link_many([
        src.upcast_ref::<gst::Element>(),
        fo.upcast_ref(),
        sink.upcast_ref(),
    ])
    .unwrap();

    let entered = Arc::new(Mutex::new(None::<Instant>));
    let times = Arc::new(Mutex::new(Vec::<Duration>::new()));
    {
        let entered = entered.clone();
        fo.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                *entered.lock().unwrap() = Some(Instant::now());
                gst::PadProbeReturn::Ok
            });
    }
    {
        let (entered, times) = (entered.clone(), times.clone());
        fo.static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if let Some(t) = entered.lock().unwrap().take() {
                    times.lock().unwrap().push(t.elapsed());
                }
                gst::PadProbeReturn::Ok
            });
    }

    let input = buffer.map_readable().unwrap();
    let logo = Arc::new(load_image(LOGO, &LoadLimits::default()).unwrap());
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let run = |n: u64, offset: u64, paced: bool| -> (Vec<Duration>, Vec<Duration>) {
        times.lock().unwrap().clear();
        let mut detect = Vec::new();
        let mut drawn = 0u64;
        let start = Instant::now();
        for i in 0..n {
            if paced {
                // Real-time 30 fps, like a camera (this is a benchmark, not a test).
                let due = start + Duration::from_micros(i * 33_333);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            let mut b = buffer.copy();
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds((offset + i) * 33));
            src.push_buffer(b).unwrap();
            let out = sink
                .try_pull_sample(gst::ClockTime::from_seconds(10))
                .expect("frame");
            if out.buffer().unwrap().map_readable().unwrap().as_slice() != input.as_slice() {
                drawn += 1;
            }
            while let Some(m) = bus.pop_filtered(&[gst::MessageType::Element]) {
                if let Some(us) = m.structure().and_then(|s| s.get::<u64>("detect-us").ok()) {
                    detect.push(Duration::from_micros(us));
                }
            }
        }
        println!("  (run of {n} frames: {drawn} frames with an overlay drawn)");
        (std::mem::take(&mut *times.lock().unwrap()), detect)
    };

    let (mut no_overlay, _) = run(frames, 0, false);
    fo.set_overlay(logo.clone(), OverlayGeometry::default());
    let (mut tutorial, _) = run(frames, frames, false);
    let tutorial_first = tutorial[0];
    let set_started = Instant::now();
    fo.set_overlay(
        logo,
        OverlayGeometry {
            offset_x: -0.5,
            offset_y: -0.5,
            width: 2.0,
            height: 2.0,
        },
    );
    let set_cost = set_started.elapsed();
    let (mut big, _) = run(frames, 2 * frames, false);
    let big_first = big[0];
    let (mut paced, mut detect) = run(frames.min(150), 3 * frames, true);
    let processed = fo.frames_processed();
    let with_faces = fo.frames_with_faces();
    pipeline.set_state(gst::State::Null).unwrap();

    println!("640x480 I420, {frames} frames per run pushed back to back, then a 30 fps run");
    stats("streaming thread, no overlay set", &mut no_overlay);
    stats("streaming thread, tutorial hat (clipped)", &mut tutorial);
    println!("  first frame after set_overlay: {tutorial_first:?}");
    stats("streaming thread, overlay 2x the face", &mut big);
    println!("  first frame after set_overlay: {big_first:?}; set_overlay itself (premultiply, resize + YUV conversion for the known faces, caller thread): {set_cost:?}");
    stats("streaming thread, 30 fps, overlay 2x the face", &mut paced);
    stats("worker detection (Haar, 320x240), 30 fps run", &mut detect);
    println!(
        "detections: {processed} for {} frames, {with_faces} with faces",
        3 * frames + frames.min(150)
    );
}
