//! Shared helpers for the integration tests: real media from opencv-doc, decoded by GStreamer.
#![allow(dead_code)]

use std::time::Duration;

use gst::prelude::*;
use gstrheofilters::faceoverlay::FaceBox;

pub const MESSI: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
pub const WIDTH: usize = 640;
pub const HEIGHT: usize = 480;
/// BT.601 limited-range Y, U, V of pure red (computed by hand: 16 + 219·0.299 etc.).
pub const RED_YUV: (u8, u8, u8) = (81, 90, 240);

pub fn init() {
    gstrheofilters::register_static().expect("register");
}

/// Caps of the test frames.
pub fn caps() -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", WIDTH as i32)
        .field("height", HEIGHT as i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .field("colorimetry", "bt601")
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

/// messi5.jpg cropped around the player's face and scaled to 640×480 I420 (BT.601), so that
/// the face is ~180 px wide and Haar finds it at Kurento's 320 px detection width (on the
/// uncropped picture it does not).
pub fn messi_frame() -> gst::Buffer {
    first_frame(&format!(
        "filesrc location={MESSI} ! jpegdec ! videoconvert ! \
         videocrop left=145 right=123 top=0 bottom=132 ! videoscale ! videoconvert ! \
         capsfilter caps=\"video/x-raw,format=I420,width={WIDTH},height={HEIGHT},colorimetry=bt601,pixel-aspect-ratio=1/1\" ! \
         appsink name=sink sync=false"
    ))
}

/// `frame` (640×480 I420) turned by `degrees` counter-clockwise about its centre, black around.
pub fn turned_frame(frame: &gst::Buffer, degrees: f64) -> gst::Buffer {
    use opencv::core::{Mat, Point2f, Scalar, Size, BORDER_CONSTANT};
    use opencv::imgproc;
    use opencv::prelude::*;
    let map = frame.map_readable().unwrap();
    let yuv = Mat::new_rows_cols_with_data((HEIGHT * 3 / 2) as i32, WIDTH as i32, map.as_slice())
        .unwrap();
    let mut bgr = Mat::default();
    imgproc::cvt_color(&yuv, &mut bgr, imgproc::COLOR_YUV2BGR_I420, 0).unwrap();
    let centre = Point2f::new(WIDTH as f32 / 2.0, HEIGHT as f32 / 2.0);
    let m = imgproc::get_rotation_matrix_2d(centre, degrees, 1.0).unwrap();
    let mut turned = Mat::default();
    let size = Size::new(WIDTH as i32, HEIGHT as i32);
    imgproc::warp_affine(
        &bgr,
        &mut turned,
        &m,
        size,
        imgproc::INTER_LINEAR,
        BORDER_CONSTANT,
        Scalar::all(0.0),
    )
    .unwrap();
    let mut out = Mat::default();
    imgproc::cvt_color(&turned, &mut out, imgproc::COLOR_BGR2YUV_I420, 0).unwrap();
    gst::Buffer::from_slice(out.data_bytes().unwrap().to_vec())
}

/// A 640×480 I420 test pattern without any face.
pub fn test_pattern_frame() -> gst::Buffer {
    first_frame(&format!(
        "videotestsrc num-buffers=1 pattern=smpte ! \
         video/x-raw,format=I420,width={WIDTH},height={HEIGHT},colorimetry=bt601,pixel-aspect-ratio=1/1 ! \
         appsink name=sink sync=false"
    ))
}

/// The first buffer produced by `desc`, which must end in `appsink name=sink`.
fn first_frame(desc: &str) -> gst::Buffer {
    let pipeline = gst::parse::launch(desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink
        .try_pull_sample(gst::ClockTime::from_seconds(10))
        .expect("decoded messi5.jpg");
    pipeline.set_state(gst::State::Null).unwrap();
    let buffer = sample.buffer_owned().unwrap();
    assert_eq!(buffer.size(), WIDTH * HEIGHT * 3 / 2);
    buffer
}

/// A packed I420 frame (no padding: 640×480 has none).
pub struct Planes {
    pub data: Vec<u8>,
}

impl Planes {
    pub fn from_buffer(b: &gst::BufferRef) -> Self {
        let map = b.map_readable().unwrap();
        Planes {
            data: map.as_slice()[..WIDTH * HEIGHT * 3 / 2].to_vec(),
        }
    }
    pub fn y(&self, x: usize, y: usize) -> u8 {
        self.data[y * WIDTH + x]
    }
    pub fn u(&self, cx: usize, cy: usize) -> u8 {
        self.data[WIDTH * HEIGHT + cy * (WIDTH / 2) + cx]
    }
    pub fn v(&self, cx: usize, cy: usize) -> u8 {
        self.data[WIDTH * HEIGHT * 5 / 4 + cy * (WIDTH / 2) + cx]
    }
}

/// Overlay rectangles clipped to the frame: `(x0, y0, x1, y1)`, exclusive ends.
pub fn clipped(rects: &[(i32, i32, i32, i32)]) -> Vec<(i64, i64, i64, i64)> {
    rects
        .iter()
        .map(|&(x, y, w, h)| {
            (
                (x as i64).max(0),
                (y as i64).max(0),
                (x as i64 + w as i64).min(WIDTH as i64),
                (y as i64 + h as i64).min(HEIGHT as i64),
            )
        })
        .filter(|r| r.0 < r.2 && r.1 < r.3)
        .collect()
}

/// Result of comparing an output frame against the input and the expected overlay.
#[derive(Debug, Default)]
pub struct Check {
    pub inside_checked: usize,
    pub inside_bad: usize,
    pub outside_checked: usize,
    pub outside_changed: usize,
}

/// Checks an output frame against its input for opaque solid-colour overlays in `rects`:
/// every luma pixel inside a rect has colour `yuv.0` (±`tol`) and every one outside all rects
/// equals the input exactly; every chroma cell (2×2 luma pixels) entirely inside a rect has
/// `yuv.1`/`yuv.2` (±`tol`) and every cell entirely outside equals the input exactly
/// (cells straddling an edge are blends and are not checked).
pub fn check_frame(
    input: &Planes,
    output: &Planes,
    rects: &[(i64, i64, i64, i64)],
    yuv: (u8, u8, u8),
    tol: u8,
) -> Check {
    let mut c = Check::default();
    let inside = |x: i64, y: i64| {
        rects
            .iter()
            .any(|&(x0, y0, x1, y1)| x >= x0 && x < x1 && y >= y0 && y < y1)
    };
    let close = |a: u8, b: u8| (a as i32 - b as i32).abs() <= tol as i32;
    for y in 0..HEIGHT as i64 {
        for x in 0..WIDTH as i64 {
            let (ux, uy) = (x as usize, y as usize);
            if inside(x, y) {
                c.inside_checked += 1;
                if !close(output.y(ux, uy), yuv.0) {
                    c.inside_bad += 1;
                }
            } else {
                c.outside_checked += 1;
                if output.y(ux, uy) != input.y(ux, uy) {
                    c.outside_changed += 1;
                }
            }
            if x % 2 == 0 && y % 2 == 0 {
                let cell = [(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)];
                let n = cell.iter().filter(|&&(a, b)| inside(a, b)).count();
                let (cx, cy) = (ux / 2, uy / 2);
                if n == 4 {
                    c.inside_checked += 2;
                    c.inside_bad += !close(output.u(cx, cy), yuv.1) as usize;
                    c.inside_bad += !close(output.v(cx, cy), yuv.2) as usize;
                } else if n == 0 {
                    c.outside_checked += 2;
                    c.outside_changed += (output.u(cx, cy) != input.u(cx, cy)) as usize;
                    c.outside_changed += (output.v(cx, cy) != input.v(cx, cy)) as usize;
                }
            }
        }
    }
    c
}

/// Waits for the next `rheo-faces` message on `bus` that reports at least one face.
pub fn wait_for_faces(bus: &gst::Bus, timeout: Duration) -> Option<Vec<FaceBox>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[gst::MessageType::Element, gst::MessageType::Error],
        )?;
        match msg.view() {
            gst::MessageView::Error(e) => panic!("pipeline error: {} ({:?})", e.error(), e.debug()),
            gst::MessageView::Element(_) => {
                if let Some(faces) = msg
                    .structure()
                    .and_then(gstrheofilters::faceoverlay::faces_from_structure)
                {
                    if !faces.is_empty() {
                        return Some(faces);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Names of this process's threads.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path().join("comm");
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
        })
        .collect()
}

pub fn worker_threads() -> usize {
    thread_names()
        .iter()
        .filter(|n| n.as_str() == "rheofacedetect")
        .count()
}
