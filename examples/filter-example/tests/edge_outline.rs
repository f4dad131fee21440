//! The example filter on a real photo, through its events, and as an element in pipelines.

use gst::prelude::*;
use gstrheoedgeoutline::{EdgeOutlineFilter, EDGE_BGR};
use rheo_filter_sdk::testing::{OwnedFrame, RecordingContext};
use rheo_filter_sdk::{self as sdk, Args, Value, VideoFilter};

const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/building.jpg";
const T: gst::ClockTime = gst::ClockTime::from_seconds(10);

fn args(threshold: i64) -> Args {
    Args(vec![("threshold".into(), Value::Int(threshold))])
}

/// Runs `process` on `image` (in place) and returns what it emitted.
fn process(f: &mut EdgeOutlineFilter, image: &mut OwnedFrame) -> RecordingContext {
    let mut ctx = RecordingContext::default();
    f.process(&mut image.frame(), &mut ctx).unwrap();
    ctx
}

/// Share of the frame drawn in the outline colour, in %.
fn green_percent(image: &OwnedFrame) -> f64 {
    let [b, g, r] = [EDGE_BGR[0], EDGE_BGR[1], EDGE_BGR[2]];
    image.count_bgr([b, g, r]) as f64 / (image.width * image.height) as f64 * 100.0
}

#[test]
fn outlines_a_real_photo_and_reports_its_level() {
    let photo = OwnedFrame::bgr_from_file(PHOTO).expect("the photo (install opencv-doc)");
    let mut f = EdgeOutlineFilter::new(&args(80)).unwrap();
    let mut image = photo.clone();
    let ctx = process(&mut f, &mut image);
    let green = green_percent(&image);
    // A building facade: many edges, but far from all pixels.
    assert!(
        (HIGH_PERCENT_MIN..60.0).contains(&green),
        "{green:.1}% edge pixels"
    );
    let levels = ctx.events_named("EdgeLevelChanged");
    assert_eq!(ctx.events.len(), 1);
    assert_eq!(levels[0][1], ("level", Value::String("HIGH".into())));
    let reported = levels[0][0].1.as_float().unwrap();
    assert!((reported - green).abs() < 0.5, "{reported} vs {green}");

    // Same level on the next frame: no event.
    assert!(process(&mut f, &mut photo.clone()).events.is_empty());

    // A blank frame: level falls to LOW, nothing drawn.
    let mut blank = OwnedFrame::bgr(160, 120, [0, 0, 0]);
    let ctx = process(&mut f, &mut blank);
    assert_eq!(ctx.events[0].1[1], ("level", Value::String("LOW".into())));
    assert_eq!(green_percent(&blank), 0.0);

    // A higher threshold finds fewer edges.
    let mut strict = EdgeOutlineFilter::new(&args(400)).unwrap();
    let mut image2 = photo.clone();
    process(&mut strict, &mut image2);
    assert!(green_percent(&image2) < green);
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
