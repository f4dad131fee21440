use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use opencv::core::{Mat, Point, Rect, Scalar, Size};
use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;

use super::*;

const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";

fn photo(name: &str, size: (i32, i32)) -> Mat {
    let img =
        imgcodecs::imread(format!("{DATA}/{name}").as_str(), imgcodecs::IMREAD_COLOR).unwrap();
    assert!(!img.empty(), "{name}");
    let mut out = Mat::default();
    imgproc::resize(
        &img,
        &mut out,
        Size::new(size.0, size.1),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .unwrap();
    out
}

/// Draws a plate: thick black Hershey-simplex text on a white rectangle with a black border,
/// centred at `centre`. Returns the plate's rectangle.
fn draw_plate(img: &mut Mat, text: &str, centre: Point, scale: f64) -> Rect {
    let font = imgproc::FONT_HERSHEY_SIMPLEX;
    let thickness = (scale * 2.5).round() as i32;
    let mut base = 0;
    let ts = imgproc::get_text_size(text, font, scale, thickness, &mut base).unwrap();
    let (pw, ph) = (ts.width + ts.height, ts.height * 2);
    let rect = Rect::new(centre.x - pw / 2, centre.y - ph / 2, pw, ph);
    imgproc::rectangle(
        img,
        rect,
        Scalar::all(255.0),
        imgproc::FILLED,
        imgproc::LINE_8,
        0,
    )
    .unwrap();
    imgproc::rectangle(img, rect, Scalar::all(0.0), 3, imgproc::LINE_8, 0).unwrap();
    let origin = Point::new(centre.x - ts.width / 2, centre.y + ts.height / 2);
    imgproc::put_text(
        img,
        text,
        origin,
        font,
        scale,
        Scalar::all(0.0),
        thickness,
        imgproc::LINE_AA,
        false,
    )
    .unwrap();
    rect
}

fn grey(bgr: &Mat) -> Mat {
    let mut g = Mat::default();
    imgproc::cvt_color(bgr, &mut g, imgproc::COLOR_BGR2GRAY, 0).unwrap();
    g
}

fn reader(format: &str) -> Reader {
    let mut c = PlateConfig::defaults();
    c.format = PlateFormat::parse(format).unwrap();
    Reader::new(&c).unwrap()
}

/// Plates drawn in a known font on real photos are read exactly, at two sizes.
#[test]
fn reads_plates_drawn_on_photos() {
    let mut r = reader("A{4,8}");
    let mut spanish = reader("NNNNLLL");
    for (name, text, centre, scale) in [
        ("building.jpg", "7391KPT", Point::new(320, 360), 1.0),
        ("home.jpg", "4826BXZ", Point::new(300, 300), 1.3),
        ("messi5.jpg", "AB12CDE", Point::new(420, 400), 0.9),
    ] {
        let mut img = photo(name, (640, 480));
        let rect = draw_plate(&mut img, text, centre, scale);
        let g = grey(&img);
        let reading = r.read(&g, rect.width as f64 / 640.0).unwrap();
        eprintln!(
            "{name} {text} plate {}x{}: {reading:?}",
            rect.width, rect.height
        );
        assert!(reading.candidates >= 1, "{name}: {reading:?}");
        assert_eq!(reading.plate.as_deref(), Some(text), "{name}: {reading:?}");
        // The default plate width (0.25) finds it too.
        let reading = r.read(&g, DEFAULT_PLATE_WIDTH).unwrap();
        assert_eq!(
            reading.plate.as_deref(),
            Some(text),
            "{name} at 0.25: {reading:?}"
        );
        let s = spanish.read(&g, DEFAULT_PLATE_WIDTH).unwrap();
        let expect_spanish = text.len() == 7 && text[..4].chars().all(|c| c.is_ascii_digit());
        assert_eq!(
            s.plate.is_some(),
            expect_spanish,
            "{name} Spanish format: {s:?}"
        );
    }
}

/// Kurento's sample of a real, motion-blurred plate: candidates are found and the reader copes.
#[test]
fn motion_blurred_real_plate() {
    let img = imgcodecs::imread(
        format!("{DATA}/licenseplate_motion.jpg").as_str(),
        imgcodecs::IMREAD_GRAYSCALE,
    )
    .unwrap();
    assert_eq!((img.cols(), img.rows()), (600, 482));
    let mut r = reader("A{4,8}");
    let mut found = 0;
    for pw in [0.15, 0.25, 0.4, 0.6] {
        let reading = r.read(&img, pw).unwrap();
        eprintln!("licenseplate_motion.jpg plateWidth {pw}: {reading:?}");
        found += reading.candidates;
    }
    assert!(found >= 1, "no candidate at any plate width");
    // At Kurento's default width, a candidate lies on the plate (about x 228-358, y 225-295).
    let reading = r.read(&img, DEFAULT_PLATE_WIDTH).unwrap();
    let plate = Rect::new(228, 225, 130, 70);
    assert!(
        reading
            .boxes
            .iter()
            .any(|b| (*b & plate).area() * 2 > b.area()),
        "{reading:?}"
    );
}

/// Photos without a plate give no valid reading.
#[test]
fn photos_without_plate_give_nothing() {
    let mut r = reader("A{4,8}");
    for name in [
        "building.jpg",
        "home.jpg",
        "messi5.jpg",
        "fruits.jpg",
        "baboon.jpg",
    ] {
        let g = grey(&photo(name, (640, 480)));
        let reading = r.read(&g, DEFAULT_PLATE_WIDTH).unwrap();
        eprintln!("{name}: {reading:?}");
        assert_eq!(reading.plate, None, "{name}: {reading:?}");
    }
}

#[test]
fn voter_reports_majority_once_and_again_after_absence() {
    let s = |t: &str| Some(t.to_owned());
    let mut v = Voter::new(5, 4);
    assert_eq!(v.push(s("AB12")), None);
    assert_eq!(v.push(s("A812")), None);
    assert_eq!(v.push(s("AB12")), None);
    assert_eq!(v.push(None), None);
    assert_eq!(v.push(s("AB12")), s("AB12"), "3 of 5");
    for _ in 0..3 {
        assert_eq!(v.push(s("AB12")), None, "once");
    }
    // Another plate wins while the first is still remembered: reported immediately.
    for _ in 0..2 {
        assert_eq!(v.push(s("ZZ99")), None);
    }
    assert_eq!(v.push(s("ZZ99")), s("ZZ99"));
    // Gone for 4 readings: the first one may be reported again.
    for _ in 0..5 {
        v.push(None);
    }
    for _ in 0..2 {
        assert_eq!(v.push(s("AB12")), None);
    }
    assert_eq!(v.push(s("AB12")), s("AB12"));
    // Noise never wins: two different readings of 5 never reach a majority.
    let mut v = Voter::new(5, 4);
    for t in ["AAAA", "BBBB", "AAAA", "BBBB", "CCCC", "BBBB"] {
        let got = v.push(s(t));
        assert!(got.is_none() || got == s("BBBB"), "{got:?}");
    }
}

struct Events(Vec<(&'static str, Vec<(&'static str, Value)>)>);

impl Context for Events {
    fn emit(&mut self, event: &'static str, fields: Vec<(&'static str, Value)>) {
        self.0.push((event, fields));
    }
}

fn process(f: &mut PlateDetectorFilter, img: &Mat, ctx: &mut Events) -> Duration {
    let mut data = img.data_bytes().unwrap().to_vec();
    let mut frame = Frame {
        width: img.cols() as u32,
        height: img.rows() as u32,
        format: PixelFormat::Bgr,
        pts: None,
        planes: vec![(&mut data[..], img.cols() as usize * 3)],
    };
    let t = Instant::now();
    f.process(&mut frame, ctx).unwrap();
    let e = t.elapsed();
    assert_eq!(data, img.data_bytes().unwrap(), "the frame is not modified");
    e
}

/// Direct calls: `process` stays cheap, the worker reads the plate, the event fires once with
/// Kurento's `type`, and setPlateWidthPercentage validates its argument.
#[test]
fn filter_emits_once_and_process_is_cheap() {
    let mut f = PlateDetectorFilter::with_config(PlateConfig::defaults()).unwrap();
    let mut img = photo("building.jpg", (640, 480));
    draw_plate(&mut img, "7391KPT", Point::new(320, 360), 1.0);
    let mut ctx = Events(vec![]);
    let (mut seq, mut total, mut frames) = (0, Duration::ZERO, 0u32);
    let mut worker_us = vec![];
    // Feed frames, waiting for each reading (as a video would, at the worker's pace).
    for _ in 0..8 {
        total += process(&mut f, &img, &mut ctx);
        frames += 1;
        let (s, r) = f
            .worker
            .wait_newer(seq, Duration::from_secs(20))
            .expect("a reading");
        seq = s;
        worker_us.push(r.micros);
    }
    total += process(&mut f, &img, &mut ctx);
    frames += 1;
    let per_frame = total / frames;
    worker_us.sort_unstable();
    eprintln!(
        "640x480: process {per_frame:?}/frame (streaming thread); worker median {} µs, max {} µs",
        worker_us[worker_us.len() / 2],
        worker_us[worker_us.len() - 1]
    );
    assert!(
        per_frame < Duration::from_millis(10),
        "process {per_frame:?}"
    );
    assert_eq!(ctx.0.len(), 1, "{:?}", ctx.0);
    let (name, fields) = &ctx.0[0];
    assert_eq!(*name, "PlateDetected");
    assert_eq!(
        fields,
        &vec![
            ("plate", Value::String("7391KPT".into())),
            ("type", Value::String("plate-detected".into())),
        ]
    );
    let args = |v: f64| Args(vec![("plateWidthPercentage".to_owned(), Value::Float(v))]);
    assert_eq!(
        f.invoke("setPlateWidthPercentage", &args(0.3), &mut ctx)
            .unwrap(),
        Value::Null
    );
    assert_eq!(f.plate_width, 0.3);
    assert!(f
        .invoke("setPlateWidthPercentage", &args(1.5), &mut ctx)
        .is_err());
    assert!(f
        .invoke("setPlateWidthPercentage", &args(0.0), &mut ctx)
        .is_err());
}

/// Runs `image` (a file) as a 30 fps live clip of `frames` frames through the element; returns
/// the frames that came out and the events posted.
fn run_element(image: &str, frames: u32) -> (usize, Vec<(String, serde_json::Value)>) {
    crate::register_static().unwrap();
    let desc = format!(
        "filesrc location={image} ! decodebin ! videoconvert ! imagefreeze num-buffers={frames} is-live=true ! \
         video/x-raw,framerate=30/1 ! videoconvert ! video/x-raw,format=BGR ! rheoplatedetector ! \
         appsink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let count = Arc::new(Mutex::new(0usize));
    let c2 = count.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                *c2.lock().unwrap() += 1;
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut events = vec![];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
        else {
            panic!("no EOS");
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{e:?}"),
            gst::MessageView::Element(e) => {
                if let Some(s) = e
                    .structure()
                    .filter(|s| s.name() == rheo_filter_sdk::EVENT_MESSAGE)
                {
                    events.push((
                        s.get::<String>("event").unwrap(),
                        serde_json::from_str(s.get::<&str>("data").unwrap()).unwrap(),
                    ));
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let n = *count.lock().unwrap();
    (n, events)
}

/// The element on a live 30 fps clip of a drawn plate: every frame comes out and one
/// PlateDetected {plate, type: "plate-detected"} is posted.
#[test]
fn element_reports_drawn_plate_once() {
    let mut img = photo("building.jpg", (640, 480));
    draw_plate(&mut img, "7391KPT", Point::new(320, 360), 1.0);
    let path = std::env::temp_dir().join(format!("rheo-plate-{}.png", std::process::id()));
    imgcodecs::imwrite(path.to_str().unwrap(), &img, &opencv::core::Vector::new()).unwrap();
    let (frames, events) = run_element(path.to_str().unwrap(), 90);
    let _ = std::fs::remove_file(&path);
    assert_eq!(frames, 90, "no frame dropped");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "PlateDetected");
    assert_eq!(
        events[0].1,
        serde_json::json!({"plate": "7391KPT", "type": "plate-detected"})
    );
}

/// The element on a clip without a plate: every frame out, no event.
#[test]
fn element_without_plate_is_silent() {
    let (frames, events) = run_element(&format!("{DATA}/building.jpg"), 45);
    assert_eq!(frames, 45);
    assert!(events.is_empty(), "{events:?}");
}

/// A plate tilted by 7° (the whole photo rotated) is deskewed and read; OCR reads `SO32HJK`
/// and the Spanish format corrects the two look-alikes (S→5, O→0).
#[test]
fn reads_tilted_plate() {
    let mut img = photo("building.jpg", (640, 480));
    draw_plate(&mut img, "5032HJK", Point::new(320, 300), 1.0);
    let m = imgproc::get_rotation_matrix_2d(opencv::core::Point2f::new(320.0, 240.0), 7.0, 1.0)
        .unwrap();
    let mut tilted = Mat::default();
    imgproc::warp_affine(
        &img,
        &mut tilted,
        &m,
        Size::new(640, 480),
        imgproc::INTER_LINEAR,
        opencv::core::BORDER_REPLICATE,
        Scalar::default(),
    )
    .unwrap();
    let reading = reader("NNNNLLL")
        .read(&grey(&tilted), DEFAULT_PLATE_WIDTH)
        .unwrap();
    eprintln!("tilted 7°: {reading:?}");
    assert_eq!(reading.plate.as_deref(), Some("5032HJK"), "{reading:?}");
    assert!(reading.candidates >= 1);
}

/// Streaming-thread cost at 1280x720 (grey conversion + hand-off only).
#[test]
fn process_cost_720p() {
    let mut f = PlateDetectorFilter::with_config(PlateConfig::defaults()).unwrap();
    let img = photo("building.jpg", (1280, 720));
    let mut ctx = Events(vec![]);
    let mut total = Duration::ZERO;
    for _ in 0..30 {
        total += process(&mut f, &img, &mut ctx);
    }
    let (seq, r) = f
        .worker
        .wait_newer(0, Duration::from_secs(20))
        .expect("a reading");
    eprintln!(
        "1280x720: process {:?}/frame (streaming thread); worker {} µs (reading #{seq})",
        total / 30,
        r.micros
    );
    assert!(total / 30 < Duration::from_millis(15), "{:?}", total / 30);
    assert!(ctx.0.is_empty());
}
