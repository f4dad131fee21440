//! ZBarFilter tests on QR codes rendered into video by GStreamer's `qroverlay` (gst-plugins-bad).

use std::time::Instant;

use gst::prelude::*;

use super::*;

const W: u32 = 640;
const H: u32 = 480;
/// Frame duration of the synthetic clips (30 fps), exact at every whole second.
fn pts(i: u64) -> u64 {
    i * 1_000_000_000 / 30
}

#[derive(Default)]
struct Events(Vec<(String, String)>);

impl Context for Events {
    fn emit(&mut self, event: &'static str, fields: Vec<(&'static str, Value)>) {
        assert_eq!(event, "CodeFound");
        let get = |n: &str| match fields.iter().find(|(k, _)| *k == n) {
            Some((_, Value::String(s))) => s.clone(),
            other => panic!("field {n}: {other:?}"),
        };
        self.0.push((get("codeType"), get("value")));
    }
}

/// One I420 640x480 frame (packed planes) of a white picture with the given QR codes
/// (data, x %, y %) drawn by `qroverlay`, case kept.
pub(crate) fn qr_frame(codes: &[(&str, f32, f32)]) -> Vec<u8> {
    qr_frame_on("white", codes)
}

fn qr_frame_on(pattern: &str, codes: &[(&str, f32, f32)]) -> Vec<u8> {
    gst::init().unwrap();
    let mut desc = format!(
        "videotestsrc num-buffers=1 pattern={pattern} ! video/x-raw,format=I420,width={W},height={H}"
    );
    for (i, (_, x, y)) in codes.iter().enumerate() {
        desc.push_str(&format!(
            " ! qroverlay name=qr{i} case-sensitive=true pixel-size=4 x={x} y={y}"
        ));
    }
    desc.push_str(&format!(
        " ! videoconvert ! video/x-raw,format=I420,width={W},height={H} ! appsink name=sink sync=false"
    ));
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    for (i, (data, _, _)) in codes.iter().enumerate() {
        pipeline
            .by_name(&format!("qr{i}"))
            .unwrap()
            .set_property("data", *data);
    }
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().unwrap();
    let buf = sample.buffer().unwrap().map_readable().unwrap().to_vec();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(buf.len(), (W * H * 3 / 2) as usize);
    buf
}

pub(crate) fn white_frame() -> Vec<u8> {
    let mut f = vec![235u8; (W * H) as usize];
    f.resize((W * H * 3 / 2) as usize, 128);
    f
}

fn process(f: &mut ZBarFilter, img: &[u8], pts: Option<u64>, ev: &mut Events) {
    let mut buf = img.to_vec();
    let (y, uv) = buf.split_at_mut((W * H) as usize);
    let (u, v) = uv.split_at_mut((W * H / 4) as usize);
    let mut frame = Frame {
        width: W,
        height: H,
        format: PixelFormat::I420,
        pts,
        planes: vec![(y, W as usize), (u, W as usize / 2), (v, W as usize / 2)],
    };
    f.process(&mut frame, ev).unwrap();
    assert_eq!(buf, img, "the video is not modified");
    // Deterministic: wait for the scan of this frame, and raise its events now.
    f.settle();
    f.collect(ev);
}

fn filter() -> ZBarFilter {
    ZBarFilter::new(&Args::default()).unwrap()
}

#[test]
fn reads_a_qr_code_with_its_text() {
    let img = qr_frame(&[("Rheo says hello, 42!", 50.0, 50.0)]);
    let mut f = filter();
    let mut ev = Events::default();
    process(&mut f, &img, Some(0), &mut ev);
    assert_eq!(
        ev.0,
        [("QR-Code".to_string(), "Rheo says hello, 42!".to_string())]
    );
}

#[test]
fn a_frame_without_a_code_gives_no_event() {
    let mut f = filter();
    let mut ev = Events::default();
    let blank = white_frame();
    for i in 0..30 {
        process(&mut f, &blank, Some(pts(i)), &mut ev);
    }
    assert_eq!(f.scans(), 10);
    assert!(ev.0.is_empty(), "{:?}", ev.0);
    // Nor a busy picture (colour bars, no code).
    let bars = qr_frame_on("smpte", &[]);
    process(&mut f, &bars, Some(pts(40)), &mut ev);
    assert_eq!(f.scans(), 11);
    assert!(ev.0.is_empty(), "{:?}", ev.0);
}

/// A code held for 3 s of 30 fps video: exactly one event in each second (the first on its
/// first frame), 10 scans per second.
#[test]
fn a_code_held_three_seconds_fires_once_per_second() {
    let img = qr_frame(&[("https://example.org/held", 50.0, 50.0)]);
    let mut f = filter();
    let mut at = Vec::new();
    for i in 0..90 {
        let mut ev = Events::default();
        process(&mut f, &img, Some(pts(i)), &mut ev);
        for e in ev.0 {
            at.push((i, e));
        }
    }
    assert_eq!(f.scans(), 30);
    let frames: Vec<u64> = at.iter().map(|(i, _)| *i).collect();
    assert_eq!(frames, [0, 30, 60]);
    assert!(at
        .iter()
        .all(|(_, e)| e.0 == "QR-Code" && e.1 == "https://example.org/held"));
    // Within the first second, exactly one.
    assert_eq!(frames.iter().filter(|&&i| i < 30).count(), 1);
}

/// Two codes in view for 3 s: one event per code per second (6 in all), never a storm.
#[test]
fn two_codes_in_view_do_not_storm() {
    let img = qr_frame(&[("LEFT-CODE", 25.0, 50.0), ("RIGHT-CODE", 75.0, 50.0)]);
    let mut f = filter();
    let mut ev = Events::default();
    process(&mut f, &img, Some(0), &mut ev);
    let mut first = ev.0.clone();
    first.sort();
    assert_eq!(
        first,
        [
            ("QR-Code".to_string(), "LEFT-CODE".to_string()),
            ("QR-Code".to_string(), "RIGHT-CODE".to_string())
        ]
    );
    for i in 1..90 {
        process(&mut f, &img, Some(pts(i)), &mut ev);
    }
    assert_eq!(ev.0.len(), 6, "{:?}", ev.0);
    for code in ["LEFT-CODE", "RIGHT-CODE"] {
        assert_eq!(ev.0.iter().filter(|e| e.1 == code).count(), 3);
    }
}

/// A code that leaves and comes back within a second is not new; after a second it is
/// reported again. Stream time going backwards (new segment) reports it at once.
#[test]
fn reappearing_codes_and_new_segments() {
    let img = qr_frame(&[("BACK-AGAIN", 40.0, 60.0)]);
    let blank = white_frame();
    let mut f = filter();
    let mut ev = Events::default();
    process(&mut f, &img, Some(pts(0)), &mut ev);
    process(&mut f, &blank, Some(pts(6)), &mut ev);
    process(&mut f, &img, Some(pts(12)), &mut ev);
    assert_eq!(ev.0.len(), 1);
    process(&mut f, &blank, Some(pts(20)), &mut ev);
    process(&mut f, &img, Some(pts(31)), &mut ev);
    assert_eq!(ev.0.len(), 2);
    // Frames without a PTS: counted at 30 fps from the filter's first frame.
    let mut g = filter();
    let mut ev2 = Events::default();
    for _ in 0..61 {
        process(&mut g, &img, None, &mut ev2);
    }
    assert_eq!(ev2.0.len(), 3);
    assert_eq!(g.scans(), 21);
    // Back to stream time 0: a new segment, reported again.
    process(&mut f, &img, Some(0), &mut ev);
    assert_eq!(ev.0.len(), 3);
}

#[test]
fn dedup_forgets_old_codes() {
    let mut d = Dedup::default();
    let s = |v: &str| Symbol {
        kind: "QR-Code".into(),
        data: v.into(),
    };
    assert!(d.admit(&s("a"), 0));
    assert!(d.admit(&s("b"), 0));
    assert!(!d.admit(&s("a"), REPEAT_NS - 1));
    assert!(d.admit(&s("a"), REPEAT_NS));
    d.prune(REPEAT_NS);
    assert_eq!(d.len(), 2);
    d.prune(FORGET_NS + 1);
    assert_eq!(d.len(), 1, "b, last seen at 0, is forgotten; a stays");
    d.prune(FORGET_NS + REPEAT_NS);
    assert_eq!(d.len(), 0);
}

#[test]
fn interface_and_per_scan_cost() {
    let info = <ZBarFilter as VideoFilter>::info();
    assert_eq!(
        (info.module, info.class, info.element, info.format),
        ("filters", "ZBarFilter", "rheozbar", PixelFormat::I420)
    );
    assert!(info.constructor.is_empty() && info.methods.is_empty());
    let fields: Vec<_> = info.events[0].fields.iter().map(|p| p.name).collect();
    assert_eq!(
        (info.events[0].name, fields),
        ("CodeFound", vec!["codeType", "value"])
    );

    let with = qr_frame(&[("COST-PROBE", 50.0, 50.0)]);
    let blank = white_frame();
    let photo = qr_frame_on("smpte", &[]);
    // The scanning thread's work: one zbar scan of the 640x480 Y plane.
    let mut scanner = ffi::Scanner::new().unwrap();
    let mut scan = |img: &[u8]| {
        let y = &img[..(W * H) as usize];
        let found = scanner.scan(y, W, H);
        let start = Instant::now();
        for _ in 0..20 {
            assert_eq!(scanner.scan(y, W, H), found);
        }
        (start.elapsed().as_secs_f64() * 1000.0 / 20.0, found.len())
    };
    let ((a, na), (b, nb), (c, nc)) = (scan(&with), scan(&blank), scan(&photo));
    assert_eq!((na, nb, nc), (1, 0, 0));
    // The streaming thread's work: `process` at 30 fps (Y copy on one frame in three, events).
    let mut f = filter();
    let mut ev = Events::default();
    let mut buf = with.clone();
    let start = Instant::now();
    for i in 0..90 {
        let (y, uv) = buf.split_at_mut((W * H) as usize);
        let (u, v) = uv.split_at_mut((W * H / 4) as usize);
        let mut frame = Frame {
            width: W,
            height: H,
            format: PixelFormat::I420,
            pts: Some(pts(i)),
            planes: vec![(y, W as usize), (u, W as usize / 2), (v, W as usize / 2)],
        };
        f.process(&mut frame, &mut ev).unwrap();
    }
    let per_frame = start.elapsed().as_secs_f64() * 1000.0 / 90.0;
    f.settle();
    f.collect(&mut ev);
    assert_eq!(f.scans(), 30);
    assert!(!ev.0.is_empty() && ev.0.len() <= 3, "{:?}", ev.0);
    println!(
        "640x480 zbar scan (scanning thread): QR code {a:.2} ms, blank {b:.2} ms, colour bars \
         {c:.2} ms; process() on the streaming thread {per_frame:.3} ms per frame at 30 fps"
    );
}

/// Through the SDK's element in a real pipeline: `rheo-event` messages on the bus.
#[test]
fn element_in_a_pipeline() {
    gst::init().unwrap();
    rheo_filter_sdk::register::<ZBarFilter>(None).unwrap();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=45 pattern=white \
         ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
         ! qroverlay data=\"kurento rs test\" pixel-size=3 ! videoconvert \
         ! rheozbar params=\"{}\" ! fakesink sync=true",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut events = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(20)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == rheo_filter_sdk::EVENT_MESSAGE {
                    events.push((
                        s.get::<String>("event").unwrap(),
                        s.get::<String>("data").unwrap(),
                    ));
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    // 45 frames played at 30 fps (the scanning thread keeps up at that pace): events at 0 s and
    // 1 s; qroverlay upper-cases alphanumeric data.
    assert_eq!(events.len(), 2, "{events:?}");
    for (name, data) in events {
        assert_eq!(name, "CodeFound");
        let j: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"codeType": "QR-Code", "value": "KURENTO RS TEST"})
        );
    }
}
