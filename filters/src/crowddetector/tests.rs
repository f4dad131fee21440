//! Tests on synthetic clips (textured blocks over a textured background) and on the pedestrians
//! of Debian's `opencv-doc` `vtest.avi`.

use std::time::Instant;

use gst::prelude::*;

use super::*;

const W: usize = 640;
const H: usize = 480;
const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

#[derive(Debug, Clone)]
struct Ev {
    frame: usize,
    name: &'static str,
    pct: f64,
    level: i64,
    roi: String,
}

#[derive(Default)]
struct Recorder {
    frame: usize,
    events: Vec<Ev>,
}

impl Context for Recorder {
    fn emit(&mut self, event: &'static str, fields: Vec<(&'static str, Value)>) {
        let get = |n: &str| fields.iter().find(|f| f.0 == n).map(|f| f.1.clone());
        let (pct, level) = match event {
            "CrowdDetectorOccupancy" => (get("occupancyPercentage"), get("occupancyLevel")),
            "CrowdDetectorFluidity" => (get("fluidityPercentage"), get("fluidityLevel")),
            "CrowdDetectorDirection" => (get("directionAngle"), Some(Value::Int(-1))),
            e => panic!("undeclared event {e}"),
        };
        assert_eq!(
            fields.len(),
            if event == "CrowdDetectorDirection" {
                2
            } else {
                3
            }
        );
        self.events.push(Ev {
            frame: self.frame,
            name: event,
            pct: pct
                .and_then(|v| v.as_float())
                .expect("percentage/angle is a float"),
            level: level.and_then(|v| v.as_int()).expect("level is an int"),
            roi: get("roiId")
                .and_then(|v| v.as_str().map(str::to_owned))
                .expect("roiId"),
        });
    }
}

impl Recorder {
    fn of(&self, name: &str) -> Vec<Ev> {
        self.events
            .iter()
            .filter(|e| e.name == name)
            .cloned()
            .collect()
    }
}

fn point(x: f64, y: f64) -> Value {
    Value::Struct(vec![
        ("x".into(), Value::Float(x)),
        ("y".into(), Value::Float(y)),
    ])
}

/// A ROI with the given config fields (others default).
fn roi(id: &str, pts: &[(f64, f64)], cfg: &[(&str, Value)]) -> Value {
    Value::Struct(vec![
        (
            "points".into(),
            Value::List(pts.iter().map(|&(x, y)| point(x, y)).collect()),
        ),
        (
            "regionOfInterestConfig".into(),
            Value::Struct(
                cfg.iter()
                    .map(|(n, v)| (n.to_string(), v.clone()))
                    .collect(),
            ),
        ),
        ("id".into(), Value::String(id.into())),
    ])
}

fn rect_roi(id: &str, x0: f64, y0: f64, x1: f64, y1: f64, cfg: &[(&str, Value)]) -> Value {
    roi(id, &[(x0, y0), (x1, y0), (x1, y1), (x0, y1)], cfg)
}

fn filter(rois: Vec<Value>) -> CrowdDetectorFilter {
    CrowdDetectorFilter::new(&Args(vec![("rois".into(), Value::List(rois))])).expect("valid rois")
}

fn run(f: &mut CrowdDetectorFilter, rec: &mut Recorder, buf: &mut [u8], w: usize, h: usize) {
    let mut frame = Frame {
        width: w as u32,
        height: h as u32,
        format: PixelFormat::Bgr,
        pts: None,
        planes: vec![(buf, w * 3)],
    };
    f.process(&mut frame, rec).expect("process");
    rec.frame += 1;
}

/// Deterministic noise (xorshift32).
struct Noise(u32);
impl Noise {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

/// A W×H grey texture of 8×8 cells with values in `lo..lo+span`.
fn texture(seed: u32, lo: u32, span: u32) -> Vec<u8> {
    let mut n = Noise(seed);
    let cells: Vec<u8> = (0..(W / 8) * (H / 8))
        .map(|_| (lo + n.next() % span) as u8)
        .collect();
    let mut out = vec![0u8; W * H];
    for y in 0..H {
        for x in 0..W {
            out[y * W + x] = cells[(y / 8) * (W / 8) + x / 8];
        }
    }
    out
}

/// A synthetic scene: dark textured background, bright textured blocks, sensor noise.
struct Scene {
    bg: Vec<u8>,
    fg: Vec<u8>,
    noise: Noise,
}

impl Scene {
    fn new() -> Self {
        Scene {
            bg: texture(7, 20, 70),
            fg: texture(99, 140, 115),
            noise: Noise(12345),
        }
    }

    /// A BGR frame with blocks `(x, y, w, h)`; the block texture moves with `(dx, dy)`.
    fn frame(&mut self, blocks: &[(i64, i64, i64, i64)], shift: (i64, i64)) -> Vec<u8> {
        let mut out = vec![0u8; W * H * 3];
        for y in 0..H {
            for x in 0..W {
                let inside = blocks.iter().any(|&(bx, by, bw, bh)| {
                    let (x, y) = (x as i64, y as i64);
                    x >= bx && x < bx + bw && y >= by && y < by + bh
                });
                let v = if inside {
                    let tx = (x as i64 - shift.0).rem_euclid(W as i64) as usize;
                    let ty = (y as i64 - shift.1).rem_euclid(H as i64) as usize;
                    self.fg[ty * W + tx]
                } else {
                    self.bg[y * W + x]
                };
                let n = (self.noise.next() % 5) as i32 - 2;
                let v = (v as i32 + n).clamp(0, 255) as u8;
                let i = (y * W + x) * 3;
                out[i] = v;
                out[i + 1] = v.saturating_add(10);
                out[i + 2] = v.saturating_sub(10);
            }
        }
        out
    }
}

fn circular_distance(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

#[test]
fn levels_follow_kurento_buckets() {
    let t = [10.0, 35.0, 65.0];
    assert_eq!(level_of(0.0, t), 0);
    assert_eq!(level_of(10.0, t), 0);
    assert_eq!(level_of(10.5, t), 1);
    assert_eq!(level_of(35.0, t), 1);
    assert_eq!(level_of(50.0, t), 2);
    assert_eq!(level_of(65.1, t), 3);
    assert_eq!(level_of(100.0, t), 3);
}

#[test]
fn angle_convention() {
    assert!(circular_distance(angle_of(1.0, 0.0), 0.0) < 1e-9);
    assert!(circular_distance(angle_of(0.0, -1.0), 90.0) < 1e-9);
    assert!(circular_distance(angle_of(-1.0, 0.0), 180.0) < 1e-9);
    assert!(circular_distance(angle_of(0.0, 1.0), 270.0) < 1e-9);
    assert!(circular_distance(angle_of(1.0, -1.0), 45.0) < 1e-9);
}

#[test]
fn hysteresis_needs_consecutive_frames() {
    let mut h = Hysteresis::new(3);
    // First stable level is reported after 3 frames.
    assert!(!h.update(0));
    assert!(!h.update(0));
    assert!(h.update(0));
    // A 2-frame excursion is ignored, and so is an interrupted one.
    assert!(!h.update(2));
    assert!(!h.update(2));
    assert!(!h.update(0));
    assert!(!h.update(2));
    assert!(!h.update(1));
    assert!(!h.update(2));
    assert!(!h.update(2));
    assert!(h.update(2));
    assert_eq!(h.current(), Some(2));
    assert!(!h.update(2));
}

#[test]
fn invalid_rois_are_rejected() {
    let args = |rois: Vec<Value>| Args(vec![("rois".into(), Value::List(rois))]);
    let two_points = roi("a", &[(0.0, 0.0), (1.0, 1.0)], &[]);
    assert!(CrowdDetectorFilter::new(&args(vec![two_points])).is_err());
    let dup = vec![
        rect_roi("a", 0.0, 0.0, 1.0, 1.0, &[]),
        rect_roi("a", 0.0, 0.0, 0.5, 0.5, &[]),
    ];
    assert!(CrowdDetectorFilter::new(&args(dup)).is_err());
    let bad_levels = rect_roi(
        "a",
        0.0,
        0.0,
        1.0,
        1.0,
        &[("occupancyLevelMin", Value::Int(50))],
    );
    assert!(CrowdDetectorFilter::new(&args(vec![bad_levels])).is_err());
    let mut f = filter(vec![rect_roi("a", 0.0, 0.0, 1.0, 1.0, &[])]);
    assert_eq!(f.get_property("processingWidth").unwrap(), Value::Int(320));
    assert!(f.set_property("processingWidth", Value::Int(100)).is_err());
    f.set_property("processingWidth", Value::Int(480)).unwrap();
    assert_eq!(f.get_property("processingWidth").unwrap(), Value::Int(480));
}

#[test]
fn empty_scene_gives_low_occupancy() {
    let mut scene = Scene::new();
    let mut f = filter(vec![rect_roi("hall", 0.05, 0.05, 0.95, 0.95, &[])]);
    let mut rec = Recorder::default();
    for _ in 0..60 {
        let mut buf = scene.frame(&[], (0, 0));
        run(&mut f, &mut rec, &mut buf, W, H);
    }
    assert_eq!(f.processing_size(), (320, 240));
    let occ = rec.of("CrowdDetectorOccupancy");
    assert_eq!(occ.len(), 1, "{occ:?}");
    assert_eq!(occ[0].level, 0);
    assert_eq!(occ[0].roi, "hall");
    assert!(occ[0].pct < 1.0, "{occ:?}");
    // Frame 0 only initialises the background; frames 1..=5 make the level stable.
    assert_eq!(occ[0].frame, 5);
    assert!(f.stats()[0].1.occupancy < 1.0);
    // Nobody there: free flow.
    let flu = rec.of("CrowdDetectorFluidity");
    assert_eq!(flu.len(), 1);
    assert_eq!(flu[0].level, 3);
}

/// Blocks moving by `step` per frame after 35 empty frames; returns the direction events and
/// the frame the blocks appeared.
fn direction_clip(step: (i64, i64), offset: i64) -> (Vec<Ev>, usize) {
    let mut scene = Scene::new();
    let cfg = [
        ("sendOpticalFlowEvent", Value::Bool(true)),
        ("opticalFlowAngleOffset", Value::Int(offset)),
    ];
    let mut f = filter(vec![rect_roi("walk", 0.05, 0.05, 0.95, 0.95, &cfg)]);
    let mut rec = Recorder::default();
    for _ in 0..35 {
        let mut buf = scene.frame(&[], (0, 0));
        run(&mut f, &mut rec, &mut buf, W, H);
    }
    let start = rec.frame;
    for i in 0..30i64 {
        let (ox, oy) = (200 + step.0 * i, 200 + step.1 * i);
        let blocks = [
            (ox - 120, oy - 60, 70, 70),
            (ox, oy - 40, 60, 90),
            (ox + 90, oy, 80, 60),
        ];
        let mut buf = scene.frame(&blocks, (step.0 * i, step.1 * i));
        run(&mut f, &mut rec, &mut buf, W, H);
        let s = f.stats()[0].1;
        assert!(s.occupancy > 3.0, "frame {i}: {s:?}");
    }
    (rec.of("CrowdDetectorDirection"), start)
}

fn assert_direction(events: &[Ev], start: usize, expected: f64) {
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.roi, "walk");
    assert!(
        circular_distance(e.pct, expected) < 10.0,
        "{e:?}, expected {expected}"
    );
    // 3 frames with motion are needed; the first frame of the blocks has no previous position.
    assert!(
        e.frame >= start + 3,
        "{e:?} before 3 frames of motion (start {start})"
    );
    assert!(e.frame <= start + 6, "{e:?} late (start {start})");
}

#[test]
fn blocks_moving_right_give_zero_degrees() {
    let (ev, start) = direction_clip((6, 0), 0);
    assert_direction(&ev, start, 0.0);
}

#[test]
fn blocks_moving_up_give_ninety_degrees() {
    let (ev, start) = direction_clip((0, -6), 0);
    assert_direction(&ev, start, 90.0);
}

#[test]
fn angle_offset_is_added() {
    // Moving left = 180, plus 90.
    let (ev, start) = direction_clip((-6, 0), 90);
    assert_direction(&ev, start, 270.0);
}

#[test]
fn short_level_change_gives_no_event() {
    let mut scene = Scene::new();
    // ROI 128×96 px; the block covers its left half: occupancy ~50 % → level 2.
    let mut f = filter(vec![rect_roi("door", 0.4, 0.4, 0.6, 0.6, &[])]);
    let block = [(256, 192, 64, 96)];
    let mut rec = Recorder::default();
    let mut play = |rec: &mut Recorder,
                    f: &mut CrowdDetectorFilter,
                    n: usize,
                    blocks: &[(i64, i64, i64, i64)]| {
        for _ in 0..n {
            let mut buf = scene.frame(blocks, (0, 0));
            run(f, rec, &mut buf, W, H);
        }
    };
    play(&mut rec, &mut f, 35, &[]);
    // 4 frames (< occupancyNumFramesToEvent = 5) with the block: no event.
    let blip = rec.frame;
    play(&mut rec, &mut f, 4, &block);
    let blip_occ = f.stats()[0].1.occupancy;
    assert!(
        (35.0..=65.0).contains(&blip_occ),
        "occupancy during the blip {blip_occ}"
    );
    play(&mut rec, &mut f, 10, &[]);
    let occ = rec.of("CrowdDetectorOccupancy");
    assert_eq!(occ.len(), 1, "only the initial level: {occ:?}");
    assert_eq!(occ[0].level, 0);
    assert!(occ[0].frame < blip);
    // The same block for 8 frames: one event, on its 5th frame.
    let start = rec.frame;
    play(&mut rec, &mut f, 8, &block);
    let occ = rec.of("CrowdDetectorOccupancy");
    assert_eq!(occ.len(), 2, "{occ:?}");
    assert_eq!(occ[1].level, 2);
    assert_eq!(occ[1].frame, start + 4);
    assert!((35.0..=65.0).contains(&occ[1].pct), "{occ:?}");
    // A static block: the occupants do not move, fluidity drops to level 0.
    let flu = rec.of("CrowdDetectorFluidity");
    assert_eq!(flu.last().map(|e| e.level), Some(0), "{flu:?}");
}

/// The first `n` frames of vtest.avi at 640×480 BGR.
fn vtest_frames(n: usize) -> Vec<Vec<u8>> {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={VTEST} ! decodebin ! videoconvert ! videoscale ! \
         video/x-raw,format=BGR,width={W},height={H} ! appsink name=sink sync=false"
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
    let mut frames = Vec::new();
    while frames.len() < n {
        let Ok(sample) = sink.pull_sample() else {
            break;
        };
        let buffer = sample.buffer().unwrap();
        let map = buffer.map_readable().unwrap();
        assert_eq!(map.len(), W * H * 3);
        frames.push(map.to_vec());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    frames
}

/// The asphalt walkway of vtest.avi (relative coordinates, checked on its first frame).
const WALKWAY: &[(f64, f64)] = &[
    (0.0, 0.32),
    (0.45, 0.30),
    (0.70, 0.21),
    (1.0, 0.17),
    (1.0, 0.85),
    (0.78, 0.75),
    (0.47, 0.55),
    (0.0, 0.42),
];
/// A patch of lawn in the lower left corner nobody crosses in the first 300 frames.
const LAWN: &[(f64, f64)] = &[(0.0, 0.70), (0.30, 0.70), (0.30, 1.0), (0.0, 1.0)];

struct Summary {
    mean: f64,
    min: f64,
    max: f64,
}

fn summary(v: &[f64]) -> Summary {
    Summary {
        mean: v.iter().sum::<f64>() / v.len() as f64,
        min: v.iter().cloned().fold(f64::MAX, f64::min),
        max: v.iter().cloned().fold(0.0, f64::max),
    }
}

#[test]
fn vtest_pedestrians_occupancy() {
    assert!(
        std::path::Path::new(VTEST).exists(),
        "missing {VTEST} (package opencv-doc)"
    );
    let mut frames = vtest_frames(300);
    assert_eq!(frames.len(), 300);
    let cfg = [("sendOpticalFlowEvent", Value::Bool(true))];
    let mut f = filter(vec![roi("walkway", WALKWAY, &cfg), roi("lawn", LAWN, &[])]);
    let mut rec = Recorder::default();
    let (mut occ, mut lawn, mut flu) = (Vec::new(), Vec::new(), Vec::new());
    let t = Instant::now();
    for (i, buf) in frames.iter_mut().enumerate() {
        run(&mut f, &mut rec, buf, W, H);
        // Measured after the background bootstrap.
        if i >= LEARN_FRAMES as usize {
            let s = f.stats();
            occ.push(s[0].1.occupancy);
            flu.push(s[0].1.fluidity);
            lawn.push(s[1].1.occupancy);
        }
    }
    let per_frame = t.elapsed().as_secs_f64() * 1000.0 / frames.len() as f64;
    let (o, l, fl) = (summary(&occ), summary(&lawn), summary(&flu));
    let events = rec.of("CrowdDetectorOccupancy");
    eprintln!(
        "vtest walkway: occupancy mean {:.1} min {:.1} max {:.1}; fluidity mean {:.1}; lawn \
         occupancy mean {:.2} max {:.2}; occupancy events {:?}; {} fluidity, {} direction \
         events; {per_frame:.2} ms/frame (incl. drawing, 640x480, processing 320x240)",
        o.mean,
        o.min,
        o.max,
        fl.mean,
        l.mean,
        l.max,
        events
            .iter()
            .map(|e| (e.frame, e.roi.as_str(), e.level, e.pct.round()))
            .collect::<Vec<_>>(),
        rec.of("CrowdDetectorFluidity").len(),
        rec.of("CrowdDetectorDirection").len(),
    );
    // Both ROIs report their initial level (0: below 10 %) once it is stable.
    for id in ["walkway", "lawn"] {
        let e: Vec<_> = events.iter().filter(|e| e.roi == id).collect();
        assert!(!e.is_empty(), "no occupancy event for {id}");
        assert_eq!(e[0].level, 0, "{e:?}");
    }
    // Range: the walkway polygon is 105 700 px at 640x480 (shoelace); a pedestrian there is
    // about 25x65 px, ~2 000 px once blurred and closed at 320x240; 3 to 5 of them are on it in
    // these frames: 5-10 %, never empty, never crowded. Measured: mean 7.0, min 4.8, max 9.2.
    assert!(
        (4.0..=11.0).contains(&o.mean),
        "walkway mean occupancy {}",
        o.mean
    );
    assert!(o.min > 2.0, "walkway min occupancy {}", o.min);
    assert!(o.max < 15.0, "walkway max occupancy {}", o.max);
    // The lawn stays empty: the occupancy comes from the people, not from noise or lighting.
    assert!(
        l.mean < 0.5 && l.max < 2.0,
        "lawn occupancy mean {} max {}",
        l.mean,
        l.max
    );
    // People walk: a large share of the foreground moves.
    // Measured: 84 %.
    assert!(fl.mean > 60.0, "walkway mean fluidity {}", fl.mean);
}

/// Through the SDK's GStreamer element, built from JSON params as a client sends them (typed
/// complex values, a config with only some fields): the initial occupancy event on the bus and
/// the ROI outline drawn in the level's colour.
#[test]
fn element_in_a_pipeline() {
    gst::init().unwrap();
    rheo_filter_sdk::register::<CrowdDetectorFilter>(None).unwrap();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=12 pattern=solid-color foreground-color=0xff505050 \
         ! video/x-raw,format=BGR,width=320,height=240 ! rheocrowddetector name=crowd \
         ! appsink name=sink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let p = |x: f64, y: f64| {
        format!(r#"{{"__module__":"crowddetector","__type__":"RelativePoint","x":{x},"y":{y}}}"#)
    };
    let params = format!(
        r#"{{"rois":[{{"__module__":"crowddetector","__type__":"RegionOfInterest","id":"centre",
            "points":[{},{},{},{}],
            "regionOfInterestConfig":{{"__module__":"crowddetector","__type__":"RegionOfInterestConfig",
                "occupancyNumFramesToEvent":2}}}}]}}"#,
        p(0.25, 0.25),
        p(0.75, 0.25),
        p(0.75, 0.75),
        p(0.25, 0.75)
    );
    pipeline
        .by_name("crowd")
        .unwrap()
        .set_property("params", params);
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // Pixel (160, 60) is on the ROI's top edge (y = round(0.25 * 239)); (10, 10) is outside.
    let mut pixels = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let buf = sample.buffer().unwrap().map_readable().unwrap();
        let px = |x: usize, y: usize| {
            [
                buf[(y * 320 + x) * 3],
                buf[(y * 320 + x) * 3 + 1],
                buf[(y * 320 + x) * 3 + 2],
            ]
        };
        pixels.push((px(160, 60), px(10, 10)));
    }
    let bus = pipeline.bus().unwrap();
    let mut events = Vec::new();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Element(e) = msg.view() {
            let s = e.structure().unwrap();
            match s.name().as_str() {
                rheo_filter_sdk::EVENT_MESSAGE => {
                    let data: serde_json::Value =
                        serde_json::from_str(s.get::<&str>("data").unwrap()).unwrap();
                    events.push((s.get::<String>("event").unwrap(), data));
                }
                rheo_filter_sdk::ERROR_MESSAGE => panic!("filter error: {s}"),
                _ => {}
            }
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(pixels.len(), 12);
    assert_eq!(
        pixels[0],
        ([255, 255, 255], [80, 80, 80]),
        "white outline before any level"
    );
    assert_eq!(
        pixels[11],
        ([0, 200, 0], [80, 80, 80]),
        "green outline at level 0"
    );
    let occ: Vec<_> = events
        .iter()
        .filter(|e| e.0 == "CrowdDetectorOccupancy")
        .collect();
    assert_eq!(occ.len(), 1, "{events:?}");
    assert_eq!(occ[0].1["roiId"], "centre");
    assert_eq!(occ[0].1["occupancyLevel"], 0);
    assert_eq!(occ[0].1["occupancyPercentage"], 0.0);
}
