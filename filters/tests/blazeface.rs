//! BlazeFace against the Haar cascade the face filters use today, on OpenCV's sample photo of
//! a face (as the e2e camera shows it) and on frames of its Megamind.avi sample, turned to 0°,
//! ±15°, ±30° and ±45°, and on sample pictures without faces.

use gstrheofilters::blazeface::{BlazeFace, Face, DEFAULT_MODEL};
use gstrheofilters::face_detection::{detect_faces, DEFAULT_CASCADE};
use opencv::core::{Mat, Point2f, Scalar, Vector, BORDER_CONSTANT};
use opencv::imgcodecs;
use opencv::imgproc;
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;

const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";

fn picture(name: &str) -> Mat {
    let bgr =
        imgcodecs::imread(format!("{DATA}/{name}").as_str(), imgcodecs::IMREAD_COLOR).unwrap();
    assert!(!bgr.empty(), "{name} reads");
    bgr
}

fn turned(bgr: &Mat, degrees: f64) -> Mat {
    let centre = Point2f::new(bgr.cols() as f32 / 2.0, bgr.rows() as f32 / 2.0);
    let m = imgproc::get_rotation_matrix_2d(centre, degrees, 1.0).unwrap();
    let mut out = Mat::default();
    imgproc::warp_affine(
        bgr,
        &mut out,
        &m,
        bgr.size().unwrap(),
        imgproc::INTER_LINEAR,
        BORDER_CONSTANT,
        Scalar::all(0.0),
    )
    .unwrap();
    out
}

fn blazeface(detector: &mut BlazeFace, bgr: &Mat) -> Vec<Face> {
    let mut rgb = Mat::default();
    imgproc::cvt_color(bgr, &mut rgb, imgproc::COLOR_BGR2RGB, 0).unwrap();
    // What the face filters run: the first look, then a closer one at each face.
    detector.detect_closely(&rgb).unwrap()
}

fn haar_count(cascade: &mut CascadeClassifier, bgr: &Mat) -> usize {
    let mut grey = Mat::default();
    imgproc::cvt_color(bgr, &mut grey, imgproc::COLOR_BGR2GRAY, 0).unwrap();
    let size = (grey.cols() as u32, grey.rows() as u32);
    let bytes = grey.data_bytes().unwrap().to_vec();
    detect_faces(cascade, &bytes, size, size, &mut Vector::new())
        .unwrap()
        .len()
}

#[test]
fn blazeface_finds_turned_faces_haar_misses_and_nothing_where_there_is_none() {
    let mut detector = BlazeFace::load(DEFAULT_MODEL).expect("the model (scripts/fetch-models.sh)");
    let mut haar = CascadeClassifier::new(DEFAULT_CASCADE).unwrap();
    // The e2e camera's picture: the player's upper body (x 110..384, y 40..245) at 640x480.
    let whole = picture("messi5.jpg");
    let body = Mat::roi(&whole, opencv::core::Rect::new(110, 40, 274, 205)).unwrap();
    let mut face = Mat::default();
    imgproc::resize(
        &body,
        &mut face,
        opencv::core::Size::new(640, 480),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )
    .unwrap();
    let mut table = String::from("| angle | BlazeFace | its roll | Haar |\n");
    let upright = blazeface(&mut detector, &face)[0].roll().to_degrees();
    for angle in [-45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0] {
        let frame = turned(&face, angle);
        let found = blazeface(&mut detector, &frame);
        let (b, h) = (found.len(), haar_count(&mut haar, &frame));
        let roll = found.first().map(|f| f.roll().to_degrees() - upright);
        table.push_str(&format!("| {angle} | {b} | {roll:?} | {h} |\n"));
        if let (Some(roll), true) = (roll, f64::abs(angle) >= 15.0) {
            // A picture turned anticlockwise by `angle` turns the eyes' line the other way.
            // The eyes are a few input pixels apart at this size: the sign is what is sure.
            assert!(
                roll * (angle as f32) < 0.0,
                "roll {roll}° at {angle}°\n{table}"
            );
        }
        assert!(b <= 1, "BlazeFace saw {b} faces at {angle}°\n{table}");
        assert!(
            b >= h.min(1),
            "BlazeFace found fewer faces than Haar at {angle}°\n{table}"
        );
        if f64::abs(angle) <= 30.0 {
            assert_eq!(b, 1, "BlazeFace missed the face at {angle}°\n{table}");
        }
    }
    eprintln!("{table}");
    for name in [
        "building.jpg",
        "fruits.jpg",
        "stuff.jpg",
        "sudoku.png",
        "starry_night.jpg",
        "board.jpg",
        "home.jpg",
        "orange.jpg",
        "apple.jpg",
        "chessboard.png",
        "smarties.png",
        "graf1.png",
    ] {
        let frame = picture(name);
        let (b, h) = (
            blazeface(&mut detector, &frame).len(),
            haar_count(&mut haar, &frame),
        );
        eprintln!("{name}: BlazeFace {b}, Haar {h}");
        assert!(b <= h, "BlazeFace saw {b} faces in {name}, Haar {h}");
    }
}

/// Every `step`th frame of OpenCV's Megamind.avi sample (one face, talking), BGR, decoded with
/// GStreamer.
fn megamind_frames(step: usize) -> Vec<Mat> {
    use gst::prelude::*;
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={DATA}/Megamind.avi ! avidemux ! decodebin ! videoconvert \
         ! video/x-raw,format=BGR ! appsink name=frames sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("frames")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    let mut n = 0;
    while let Ok(sample) = sink.pull_sample() {
        n += 1;
        if n % step != 0 {
            continue;
        }
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let map = sample.buffer().unwrap().map_readable().unwrap();
        let (w, h, stride) = (
            info.width() as i32,
            info.height() as i32,
            info.stride()[0] as usize,
        );
        let mut frame =
            Mat::new_rows_cols_with_default(h, w, opencv::core::CV_8UC3, Scalar::all(0.0)).unwrap();
        let row = w as usize * 3;
        for (y, out) in frame
            .data_bytes_mut()
            .unwrap()
            .chunks_exact_mut(row)
            .enumerate()
        {
            out.copy_from_slice(&map[y * stride..y * stride + row]);
        }
        frames.push(frame);
    }
    pipeline.set_state(gst::State::Null).unwrap();
    frames
}

#[test]
fn on_a_talking_face_turned_blazeface_finds_at_least_what_haar_finds() {
    let mut detector = BlazeFace::load(DEFAULT_MODEL).expect("the model (scripts/fetch-models.sh)");
    let mut haar = CascadeClassifier::new(DEFAULT_CASCADE).unwrap();
    let frames = megamind_frames(10);
    assert!(
        frames.len() >= 20,
        "{} frames of Megamind.avi",
        frames.len()
    );
    let mut table = format!(
        "{} frames | angle | BlazeFace (extra boxes) | Haar (extra boxes) | roll error median, 90th percentile |\n",
        frames.len()
    );
    // Each frame's roll upright: turned by `angle`, the head's roll should change by -angle.
    let upright: Vec<Option<f32>> = frames
        .iter()
        .map(|f| {
            blazeface(&mut detector, f)
                .first()
                .map(|f| f.roll().to_degrees())
        })
        .collect();
    for angle in [-45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0] {
        let (mut b, mut h) = (0, 0);
        let mut roll_errors = Vec::new();
        // Boxes beyond one per frame: duplicates, or faces where there is none.
        let (mut b_extra, mut h_extra) = (0, 0);
        for (frame, upright) in frames.iter().zip(&upright) {
            let turned = turned(frame, angle);
            let faces = blazeface(&mut detector, &turned);
            if let (Some(face), Some(upright)) = (faces.first(), upright) {
                roll_errors.push((face.roll().to_degrees() + angle as f32 - upright).abs());
            }
            let (found, haar_found) = (faces.len(), haar_count(&mut haar, &turned));
            b += found.min(1);
            h += haar_found.min(1);
            (b_extra, h_extra) = (
                b_extra + found.saturating_sub(1),
                h_extra + haar_found.saturating_sub(1),
            );
        }
        roll_errors.sort_by(f32::total_cmp);
        let (median, p90) = (
            roll_errors[roll_errors.len() / 2],
            roll_errors[roll_errors.len() * 9 / 10],
        );
        table.push_str(&format!(
            "| {angle} | {b} (+{b_extra}) | {h} (+{h_extra}) | {median:.1}°, {p90:.1}° |\n"
        ));
        assert!(
            median <= 4.0 && p90 <= 8.0,
            "the roll is off by {median:.1}° (median), {p90:.1}° (90th percentile) at {angle}°\n{table}"
        );
        assert!(
            b_extra <= h_extra,
            "BlazeFace made more extra boxes than Haar at {angle}°\n{table}"
        );
        assert!(
            b >= h,
            "BlazeFace found fewer faces than Haar at {angle}°\n{table}"
        );
        assert!(
            b * 100 >= frames.len() * 95,
            "BlazeFace found the face in fewer than 95 % of the frames at {angle}°\n{table}"
        );
    }
    eprintln!("{table}");
}
