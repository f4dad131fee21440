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

#[test]
fn vtest_pedestrians_occupancy() {
    assert!(
        std::path::Path::new(VTEST).exists(),
        "missing {VTEST} (package opencv-doc)"
    );
    let mut frames = vtest_frames(300);
    assert_eq!(frames.len(), 300);
    // The walkway: the lower two thirds of the picture, where people walk.
    let cfg = [("sendOpticalFlowEvent", Value::Bool(true))];
    let mut f = filter(vec![roi(
        "walkway",
        &[(0.0, 0.35), (1.0, 0.35), (1.0, 1.0), (0.0, 1.0)],
        &cfg,
    )]);
    let mut rec = Recorder::default();
    let mut occ = Vec::new();
    let mut flu = Vec::new();
    let t = Instant::now();
    for buf in frames.iter_mut() {
        run(&mut f, &mut rec, buf, W, H);
        let s = f.stats()[0].1;
        occ.push(s.occupancy);
        flu.push(s.fluidity);
    }
    let per_frame = t.elapsed().as_secs_f64() * 1000.0 / frames.len() as f64;
    // After the background is learnt.
    let occ = &occ[LEARN_FRAMES as usize..];
    let mean = occ.iter().sum::<f64>() / occ.len() as f64;
    let min = occ.iter().cloned().fold(f64::MAX, f64::min);
    let max = occ.iter().cloned().fold(0.0, f64::max);
    let fmean = flu[LEARN_FRAMES as usize..].iter().sum::<f64>() / occ.len() as f64;
    let events = rec.of("CrowdDetectorOccupancy");
    let dir = rec.of("CrowdDetectorDirection");
    eprintln!(
        "vtest: occupancy mean {mean:.1} min {min:.1} max {max:.1}; fluidity mean {fmean:.1}; \
         {} occupancy events {:?}; {} fluidity events; {} direction events; {per_frame:.2} ms/frame",
        events.len(),
        events.iter().map(|e| (e.frame, e.level, e.pct.round())).collect::<Vec<_>>(),
        rec.of("CrowdDetectorFluidity").len(),
        dir.len(),
    );
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e.roi == "walkway"));
    // Reasoning for the range: a dozen pedestrians, each ~40×100 px at 640×480, over a walkway
    // of 640×312 px: a few percent of it, never empty and never crowded.
    assert!((2.0..=15.0).contains(&mean), "mean occupancy {mean}");
    assert!(min > 0.5, "min occupancy {min}");
    assert!(max < 30.0, "max occupancy {max}");
    // People walk: most of the foreground moves.
    assert!(fmean > 40.0, "mean fluidity {fmean}");
}
