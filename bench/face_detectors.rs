//! Benchmark (not a test): milliseconds per detection of BlazeFace (the picture as it comes,
//! 640x480 RGB, letterboxed to the model's 128x128 inside) against the Haar cascade the face
//! filters use (the filters' own input: the picture downscaled to 320x240 grey), on the e2e
//! camera's picture (the player's upper body from messi5.jpg), one thread each, in one run.
//!
//! bash scripts/fetch-models.sh && cargo run --release -p rheo-filters --example face_detectors [runs]

use std::time::Instant;

use gstrheofilters::blazeface::{BlazeFace, DEFAULT_MODEL};
use gstrheofilters::face_detection::{
    detect_faces, DetectorKind, DetectorSettings, FaceDetector, SmallFrame, DEFAULT_CASCADE,
};
use opencv::core::{Mat, Rect, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc, objdetect::CascadeClassifier};

fn main() {
    let runs: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    opencv::core::set_num_threads(1).unwrap();
    let whole = imgcodecs::imread(
        "/usr/share/doc/opencv-doc/examples/data/messi5.jpg",
        imgcodecs::IMREAD_COLOR,
    )
    .unwrap();
    let body = Mat::roi(&whole, Rect::new(110, 40, 274, 205)).unwrap();
    let mut bgr = Mat::default();
    imgproc::resize(
        &body,
        &mut bgr,
        Size::new(640, 480),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )
    .unwrap();
    let mut rgb = Mat::default();
    imgproc::cvt_color(&bgr, &mut rgb, imgproc::COLOR_BGR2RGB, 0).unwrap();
    let mut grey_full = Mat::default();
    imgproc::cvt_color(&bgr, &mut grey_full, imgproc::COLOR_BGR2GRAY, 0).unwrap();
    let mut grey = Mat::default();
    imgproc::resize(
        &grey_full,
        &mut grey,
        Size::new(320, 240),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .unwrap();
    let grey = grey.data_bytes().unwrap().to_vec();

    let mut blazeface =
        BlazeFace::load(DEFAULT_MODEL).expect("the model (scripts/fetch-models.sh)");
    let mut haar = CascadeClassifier::new(DEFAULT_CASCADE).unwrap();
    let mut found = Vector::new();
    // Warm-up: the first inference allocates the network's buffers.
    let faces = blazeface.detect(&rgb).unwrap().len();
    let haar_faces = detect_faces(&mut haar, &grey, (320, 240), (640, 480), &mut found)
        .unwrap()
        .len();

    let started = Instant::now();
    for _ in 0..runs {
        blazeface.detect(&rgb).unwrap();
    }
    let blaze_ms = started.elapsed().as_secs_f64() * 1e3 / runs as f64;
    let started = Instant::now();
    for _ in 0..runs {
        detect_faces(&mut haar, &grey, (320, 240), (640, 480), &mut found).unwrap();
    }
    let haar_ms = started.elapsed().as_secs_f64() * 1e3 / runs as f64;
    // What the face filters run: the frame at 320 pixels, BlazeFace's first look, a closer look
    // at each face and one search tile per detection; and their Haar fallback.
    let bgr_bytes = bgr.data_bytes().unwrap().to_vec();
    let small = SmallFrame::from_bgr(&bgr_bytes, 640, 480, 640 * 3, 320).unwrap();
    let time = |kind: DetectorKind| {
        let settings = DetectorSettings {
            kind,
            ..DetectorSettings::installed()
        };
        let (mut detector, _) = FaceDetector::open(&settings).unwrap();
        let found = detector.detect(&small, (640, 480)).unwrap().len();
        let started = Instant::now();
        for _ in 0..runs {
            detector.detect(&small, (640, 480)).unwrap();
        }
        (started.elapsed().as_secs_f64() * 1e3 / runs as f64, found)
    };
    let (filters_blaze_ms, filters_blaze_faces) = time(DetectorKind::BlazeFace);
    let (filters_haar_ms, filters_haar_faces) = time(DetectorKind::Haar);
    println!("{runs} detections each, one thread, on the e2e camera's 640x480 picture:");
    println!("| detector | ms per detection | faces found |");
    println!("|---|---|---|");
    println!("| BlazeFace (128x128 input, letterboxed) | {blaze_ms:.2} | {faces} |");
    println!("| Haar, the filters' parameters (320x240 grey) | {haar_ms:.2} | {haar_faces} |");
    println!("| the face filters' BlazeFace: 320 px, first look, closer look, one search tile | {filters_blaze_ms:.2} | {filters_blaze_faces} |");
    println!("| the face filters' Haar (face_detector = \"haar\") | {filters_haar_ms:.2} | {filters_haar_faces} |");
    println!(
        "ratio BlazeFace / Haar: {:.2} (one look), {:.2} (as the filters run them)",
        blaze_ms / haar_ms,
        filters_blaze_ms / filters_haar_ms
    );
}
