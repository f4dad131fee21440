//! The example filter on a real photo, through its events, and as an element in pipelines.

use gst::prelude::*;
use gstrheoedgeoutline::{EdgeOutlineFilter, EDGE_BGR};
use opencv::core::{Mat, Vec3b};
use opencv::prelude::*;
use rheo_filters::sdk::{self, Args, Context, Frame, PixelFormat, Value, VideoFilter};

const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/building.jpg";
const T: gst::ClockTime = gst::ClockTime::from_seconds(10);

#[derive(Default)]
struct Events(Vec<(&'static str, Vec<(&'static str, Value)>)>);
impl Context for Events {
    fn emit(&mut self, event: &'static str, fields: Vec<(&'static str, Value)>) {
        self.0.push((event, fields));
    }
}

fn args(threshold: i64) -> Args {
    Args(vec![("threshold".into(), Value::Int(threshold))])
}

fn green_pixels(m: &Mat) -> usize {
    let mut n = 0;
    for y in 0..m.rows() {
        for x in 0..m.cols() {
            if *m.at_2d::<Vec3b>(y, x).unwrap() == EDGE_BGR {
                n += 1;
            }
        }
    }
    n
}

/// Runs `process` on `img` (in place) and returns the events.
fn process(f: &mut EdgeOutlineFilter, img: &mut Mat) -> Events {
    let (w, h) = (img.cols() as u32, img.rows() as u32);
    let stride = w as usize * 3;
    assert!(img.is_continuous());
    let data = img.data_bytes_mut().unwrap();
    let mut frame = Frame {
        width: w,
        height: h,
        format: PixelFormat::Bgr,
        pts: None,
        planes: vec![(data, stride)],
    };
    let mut ev = Events::default();
    f.process(&mut frame, &mut ev).unwrap();
    ev
}

#[test]
fn outlines_a_real_photo_and_reports_its_level() {
    let photo = opencv::imgcodecs::imread(PHOTO, opencv::imgcodecs::IMREAD_COLOR).unwrap();
    assert!(!photo.empty(), "{PHOTO} missing (install opencv-doc)");
    let mut f = EdgeOutlineFilter::new(&args(80)).unwrap();
    let mut img = photo.try_clone().unwrap();
    let ev = process(&mut f, &mut img);
    let total = (img.rows() * img.cols()) as f64;
    let green = green_pixels(&img) as f64 / total * 100.0;
    // A building facade: many edges, but far from all pixels.
    assert!(
        (HIGH_PERCENT_MIN..60.0).contains(&green),
        "{green:.1}% edge pixels"
    );
    assert_eq!(ev.0.len(), 1);
    let (name, fields) = &ev.0[0];
    assert_eq!(*name, "EdgeLevelChanged");
    assert_eq!(fields[1], ("level", Value::String("HIGH".into())));
    let reported = fields[0].1.as_float().unwrap();
    assert!((reported - green).abs() < 0.5, "{reported} vs {green}");

    // Same level on the next frame: no event.
    let mut img = photo.try_clone().unwrap();
    assert!(process(&mut f, &mut img).0.is_empty());

    // A blank frame: level falls to LOW, nothing drawn.
    let mut blank =
        Mat::new_rows_cols_with_default(120, 160, opencv::core::CV_8UC3, 0.0.into()).unwrap();
    let ev = process(&mut f, &mut blank);
    assert_eq!(ev.0[0].1[1], ("level", Value::String("LOW".into())));
    assert_eq!(green_pixels(&blank), 0);

    // A higher threshold finds fewer edges.
    let mut strict = EdgeOutlineFilter::new(&args(400)).unwrap();
    let mut img2 = photo.try_clone().unwrap();
    process(&mut strict, &mut img2);
    assert!((green_pixels(&img2) as f64 / total * 100.0) < green);
    assert!(EdgeOutlineFilter::new(&args(0)).is_err());
}

const HIGH_PERCENT_MIN: f64 = gstrheoedgeoutline::HIGH_ABOVE;

#[test]
fn runs_as_an_element_created_by_class_name() {
    gst::init().unwrap();
    gstrheoedgeoutline::register().unwrap();
    gstrheoedgeoutline::register().unwrap();
    let filter = sdk::instantiate("edgeexample.EdgeOutlineFilter", &args(80)).unwrap();
    assert_eq!(sdk::info_of(&filter).unwrap().class, "EdgeOutlineFilter");
    assert!(sdk::invoke(&filter, "setThreshold", &args(1000)).is_err());
    sdk::invoke(&filter, "setThreshold", &args(50)).unwrap();

    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=5 pattern=checkers-8 ! video/x-raw,format=BGR,width=64,height=48 ! \
         identity name=slot ! appsink name=sink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    // Put the filter in place of `slot`.
    let slot = pipeline.by_name("slot").unwrap();
    let (up, down) = (
        slot.static_pad("sink")
            .unwrap()
            .peer()
            .unwrap()
            .parent_element()
            .unwrap(),
        slot.static_pad("src")
            .unwrap()
            .peer()
            .unwrap()
            .parent_element()
            .unwrap(),
    );
    pipeline.remove(&slot).unwrap();
    pipeline.add(&filter).unwrap();
    gst::Element::link_many([&up, &filter, &down]).unwrap();

    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.try_pull_sample(T).expect("a frame");
    let buf = sample.buffer().unwrap().map_readable().unwrap();
    // 8-pixel checkers: the square borders are edges, painted green.
    let green = buf.chunks(3).filter(|p| *p == [0, 255, 0]).count();
    assert!(green > 64 * 48 / 10, "{green} green pixels");
    drop(buf);

    let m = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(T, &[gst::MessageType::Element, gst::MessageType::Error])
        .unwrap();
    let s = m.structure().unwrap();
    assert_eq!(s.name(), sdk::EVENT_MESSAGE, "{s}");
    assert_eq!(s.get::<&str>("event").unwrap(), "EdgeLevelChanged");
    let data: serde_json::Value = serde_json::from_str(s.get::<&str>("data").unwrap()).unwrap();
    assert_eq!(data["level"], "HIGH");
    assert!(data["edgePercentage"].as_f64().unwrap() > 10.0);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn gst_launch_users_build_it_with_the_params_property() {
    gst::init().unwrap();
    sdk::register::<EdgeOutlineFilter>(None).unwrap();
    let p = gst::parse::launch(
        "videotestsrc num-buffers=2 pattern=checkers-8 ! video/x-raw,format=BGR,width=64,height=48 ! \
         rheoedgeoutline params=\"{\\\"threshold\\\": 700}\" ! fakesink",
    )
    .unwrap();
    // 700 is out of range: the element refuses to start, with the reason.
    assert!(p.set_state(gst::State::Playing).is_err());
    let m = p
        .bus()
        .unwrap()
        .timed_pop_filtered(T, &[gst::MessageType::Error])
        .unwrap();
    let gst::MessageView::Error(e) = m.view() else {
        unreachable!()
    };
    assert!(
        e.error().to_string().contains("within 1..500"),
        "{}",
        e.error()
    );
    p.set_state(gst::State::Null).unwrap();

    let p = gst::parse::launch(
        "videotestsrc num-buffers=2 pattern=checkers-8 ! video/x-raw,format=BGR,width=64,height=48 ! \
         rheoedgeoutline params=\"{\\\"threshold\\\": 60}\" ! fakesink",
    )
    .unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let m = p
        .bus()
        .unwrap()
        .timed_pop_filtered(T, &[gst::MessageType::Eos, gst::MessageType::Error])
        .unwrap();
    assert!(matches!(m.view(), gst::MessageView::Eos(_)), "{m:?}");
    p.set_state(gst::State::Null).unwrap();
}
