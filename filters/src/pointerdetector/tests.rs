//! Filter tests on synthetic clips: a real photo from Debian's `opencv-doc` as background and a
//! shaded, anti-aliased, noisy coloured disc as the pointer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opencv::core::{Mat, Size};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};

use super::*;
use rheo_filter_sdk::image::OverlayImage;

const W: i32 = 640;
const H: i32 = 480;
const DATA: &str = "/usr/share/doc/opencv-doc/examples/data/";
/// Background of the blue-pointer clips (a photo without saturated blue objects).
const BG: &str = "squirrel_cls.jpg";
const RADIUS: f64 = 14.0;
const BLUE: [u8; 3] = [205, 60, 25];
/// A red whose hue is just below 180, so sensor noise spreads it across 0.
const CRIMSON: [u8; 3] = [45, 28, 215];

/// (x, y, w, h) of the tutorial's layout.
const CAL: (i64, i64, i64, i64) = (5, 5, 30, 30);
const WIN0: (i64, i64, i64, i64) = (500, 150, 50, 50);
const WIN1: (i64, i64, i64, i64) = (500, 250, 50, 50);

struct Recorder {
    frame: usize,
    events: Vec<(usize, &'static str, String)>,
}

impl Recorder {
    fn new() -> Self {
        Recorder {
            frame: 0,
            events: Vec::new(),
        }
    }
}

impl Context for Recorder {
    fn emit(&mut self, event: &'static str, fields: Vec<(&'static str, Value)>) {
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].0, "windowId");
        let id = fields[0]
            .1
            .as_str()
            .expect("windowId is a string")
            .to_owned();
        self.events.push((self.frame, event, id));
    }
}

/// A photo from opencv-doc, resized to W×H, packed BGR.
fn background(name: &str) -> Vec<u8> {
    let img = imgcodecs::imread(format!("{DATA}{name}"), imgcodecs::IMREAD_COLOR).unwrap();
    assert!(!img.empty(), "missing {DATA}{name} (package opencv-doc)");
    let mut out = Mat::default();
    imgproc::resize(
        &img,
        &mut out,
        Size::new(W, H),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .unwrap();
    assert!(out.is_continuous());
    out.data_bytes().unwrap().to_vec()
}

/// Deterministic noise (xorshift32).
struct Noise(u32);
impl Noise {
    fn next(&mut self, amplitude: i32) -> i32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 % (2 * amplitude as u32 + 1)) as i32 - amplitude
    }
}

/// One frame: the background, the pointer (if any) shaded from 100 % at the centre to 75 % at
/// the rim with an anti-aliased edge, and ±`noise` sensor noise on every byte.
fn render(
    bg: &[u8],
    pointer: Option<(f64, f64)>,
    colour: [u8; 3],
    seed: u32,
    noise: i32,
) -> Vec<u8> {
    let mut f = bg.to_vec();
    if let Some((cx, cy)) = pointer {
        let r = RADIUS;
        for y in ((cy - r - 1.0) as i32).max(0)..((cy + r + 2.0) as i32).min(H) {
            for x in ((cx - r - 1.0) as i32).max(0)..((cx + r + 2.0) as i32).min(W) {
                let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
                let cover = (r + 0.5 - d).clamp(0.0, 1.0);
                if cover <= 0.0 {
                    continue;
                }
                let shade = 1.0 - 0.25 * (d / r).min(1.0);
                let o = (y * W + x) as usize * 3;
                for c in 0..3 {
                    let v = colour[c] as f64 * shade;
                    f[o + c] = (f[o + c] as f64 * (1.0 - cover) + v * cover).round() as u8;
                }
            }
        }
    }
    let mut n = Noise(seed.wrapping_mul(2_654_435_761).max(1));
    if noise > 0 {
        for b in f.iter_mut() {
            *b = (*b as i32 + n.next(noise)).clamp(0, 255) as u8;
        }
    }
    f
}

fn rect_value(names: [&str; 4], r: (i64, i64, i64, i64)) -> Vec<(String, Value)> {
    vec![
        (names[0].into(), Value::Int(r.0)),
        (names[1].into(), Value::Int(r.1)),
        (names[2].into(), Value::Int(r.2)),
        (names[3].into(), Value::Int(r.3)),
    ]
}

fn window(
    id: &str,
    r: (i64, i64, i64, i64),
    image: Option<Image>,
    active: Option<Image>,
    transparency: Option<f64>,
) -> Value {
    let mut fields = vec![("id".to_owned(), Value::String(id.into()))];
    fields.extend(rect_value(
        ["upperRightX", "upperRightY", "width", "height"],
        r,
    ));
    fields.push(("image".into(), image.map_or(Value::Null, Value::Image)));
    fields.push((
        "activeImage".into(),
        active.map_or(Value::Null, Value::Image),
    ));
    fields.push((
        "imageTransparency".into(),
        transparency.map_or(Value::Null, Value::Float),
    ));
    Value::Struct(fields)
}

fn filter(windows: Vec<Value>) -> PointerDetectorFilter {
    let args = Args(vec![
        (
            "calibrationRegion".into(),
            Value::Struct(rect_value(
                ["topRightCornerX", "topRightCornerY", "width", "height"],
                CAL,
            )),
        ),
        ("windows".into(), Value::List(windows)),
    ]);
    PointerDetectorFilter::new(&args).unwrap()
}

fn tutorial_windows() -> Vec<Value> {
    vec![
        window("window0", WIN0, None, None, None),
        window("window1", WIN1, None, None, None),
    ]
}

/// Runs `process` on a packed W×H BGR buffer (wrapped with a padded stride, like GStreamer may).
fn process_sized(
    f: &mut PointerDetectorFilter,
    pixels: &mut [u8],
    w: i32,
    h: i32,
    rec: &mut Recorder,
) -> Duration {
    let stride = w as usize * 3 + 4;
    let mut padded = vec![0u8; stride * h as usize];
    for y in 0..h as usize {
        padded[y * stride..y * stride + w as usize * 3]
            .copy_from_slice(&pixels[y * w as usize * 3..(y + 1) * w as usize * 3]);
    }
    let mut frame = Frame {
        width: w as u32,
        height: h as u32,
        format: PixelFormat::Bgr,
        pts: None,
        planes: vec![(&mut padded[..], stride)],
    };
    let t = Instant::now();
    f.process(&mut frame, rec).unwrap();
    let dt = t.elapsed();
    for y in 0..h as usize {
        pixels[y * w as usize * 3..(y + 1) * w as usize * 3]
            .copy_from_slice(&padded[y * stride..y * stride + w as usize * 3]);
    }
    dt
}

fn process(f: &mut PointerDetectorFilter, pixels: &mut [u8], rec: &mut Recorder) -> Duration {
    process_sized(f, pixels, W, H, rec)
}

fn px(frame: &[u8], x: i32, y: i32) -> [u8; 3] {
    let o = (y * W + x) as usize * 3;
    [frame[o], frame[o + 1], frame[o + 2]]
}

fn lerp(a: (f64, f64), b: (f64, f64), t: f64) -> (f64, f64) {
    (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
}

/// The clip: rest in the calibration region (frames 0-9, calibration after frame 9), travel to
/// window0's centre (10-40), rest (40-45), straight down into window1 (46-55), rest (56-61),
/// gone (62-69).
fn path(frame: usize) -> Option<(f64, f64)> {
    let start = (20.0, 20.0);
    let w0 = (525.0, 175.0);
    let w1 = (525.0, 275.0);
    match frame {
        0..=9 => Some(start),
        10..=40 => Some(lerp(start, w0, (frame - 10) as f64 / 30.0)),
        41..=45 => Some(w0),
        46..=56 => Some(lerp(w0, w1, (frame - 46) as f64 / 10.0)),
        57..=61 => Some(w1),
        _ => None,
    }
}
const CALIBRATE_AFTER: usize = 9;
const FRAMES: usize = 70;

/// Events from the true centre with strict containment, no hysteresis.
fn geometric_truth() -> Vec<(usize, &'static str, String)> {
    let wins = [("window0", WIN0), ("window1", WIN1)];
    let mut state = [false; 2];
    let mut out = Vec::new();
    for f in CALIBRATE_AFTER + 1..FRAMES {
        for (i, (id, r)) in wins.iter().enumerate() {
            let now = path(f).is_some_and(|(x, y)| {
                x > r.0 as f64 && x < (r.0 + r.2) as f64 && y > r.1 as f64 && y < (r.1 + r.3) as f64
            });
            if now != state[i] {
                out.push((
                    f,
                    if now { "WindowIn" } else { "WindowOut" },
                    id.to_string(),
                ));
                state[i] = now;
            }
        }
    }
    out
}

/// Plays the clip; returns the events and the mean `process` time of the tracked frames.
fn play(
    bg_name: &str,
    colour: [u8; 3],
) -> (
    PointerDetectorFilter,
    Vec<(usize, &'static str, String)>,
    Duration,
) {
    let bg = background(bg_name);
    let mut f = filter(tutorial_windows());
    let mut rec = Recorder::new();
    let mut tracked = Duration::ZERO;
    for i in 0..FRAMES {
        rec.frame = i;
        let mut fr = render(&bg, path(i), colour, i as u32 + 1, 6);
        let dt = process(&mut f, &mut fr, &mut rec);
        if i > CALIBRATE_AFTER {
            tracked += dt;
            // While visible, the tracked centre is within 2 px of the truth.
            if let Some((tx, ty)) = path(i) {
                let (x, y) = f
                    .pointer()
                    .unwrap_or_else(|| panic!("frame {i}: pointer lost"));
                assert!(
                    (x - tx).abs() <= 2.0 && (y - ty).abs() <= 2.0,
                    "frame {i}: ({x:.1},{y:.1}) vs ({tx},{ty})"
                );
            }
        }
        if i == CALIBRATE_AFTER {
            assert!(rec.events.is_empty());
            f.invoke(
                "trackColorFromCalibrationRegion",
                &Args::default(),
                &mut rec,
            )
            .unwrap();
        }
    }
    assert!(
        f.pointer().is_none(),
        "pointer still tracked after it disappeared"
    );
    let mean = tracked / (FRAMES - CALIBRATE_AFTER - 1) as u32;
    (f, rec.events, mean)
}

fn assert_matches_truth(events: &[(usize, &'static str, String)]) {
    let truth = geometric_truth();
    let kinds = |v: &[(usize, &'static str, String)]| {
        v.iter()
            .map(|(_, k, id)| (*k, id.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(events),
        vec![
            ("WindowIn", "window0".to_owned()),
            ("WindowOut", "window0".to_owned()),
            ("WindowIn", "window1".to_owned()),
            ("WindowOut", "window1".to_owned()),
        ],
        "events {events:?}"
    );
    assert_eq!(kinds(events), kinds(&truth));
    for (got, want) in events.iter().zip(&truth) {
        assert!(got.0.abs_diff(want.0) <= 2, "{got:?} vs truth {want:?}");
    }
    println!("events {events:?}\ntruth  {truth:?}");
}

#[test]
fn blue_pointer_clip_gives_the_event_sequence() {
    let (f, events, mean) = play(BG, BLUE);
    let r = f.color_range().unwrap();
    assert!(!r.wraps(), "{r:?}");
    println!("blue range {r:?}; process() mean {mean:?} per 640x480 tracked frame");
    assert_matches_truth(&events);
    // The disappearance is reported (Kurento never did): on the frame it vanished or the next.
    let (frame, kind, id) = events.last().unwrap();
    assert_eq!((*kind, id.as_str()), ("WindowOut", "window1"));
    assert!((62..=62 + LOST_AFTER as usize).contains(frame), "{frame}");
}

#[test]
fn red_pointer_with_hue_wraparound() {
    // Noise puts the disc's hues on both sides of 0/180.
    let bg = background(BG);
    let fr = render(&bg, Some((20.0, 20.0)), CRIMSON, 3, 6);
    let mut region = Vec::new();
    for y in 10..30 {
        region.extend_from_slice(&fr[(y * W + 10) as usize * 3..(y * W + 30) as usize * 3]);
    }
    let hues: Vec<u8> = color::bgr_to_hsv(&region)
        .unwrap()
        .chunks(3)
        .map(|p| p[0])
        .collect();
    assert!(
        hues.iter().any(|&h| h < 10) && hues.iter().any(|&h| h > 170),
        "{hues:?}"
    );

    let (f, events, _) = play("orange.jpg", CRIMSON);
    let r = f.color_range().unwrap();
    assert!(r.wraps(), "{r:?}");
    println!("red range {r:?}");
    assert_matches_truth(&events);
}

#[test]
fn remove_and_clear_windows_while_inside_emit_window_out() {
    let bg = background(BG);
    let mut f = filter(vec![
        window("window0", WIN0, None, None, None),
        window("window1", WIN1, None, None, None),
        // Overlaps window0.
        window("big", (480, 130, 120, 120), None, None, None),
    ]);
    let mut rec = Recorder::new();
    for i in 0..3 {
        let mut fr = render(&bg, Some((20.0, 20.0)), BLUE, i, 6);
        process(&mut f, &mut fr, &mut rec);
    }
    f.invoke(
        "trackColorFromCalibrationRegion",
        &Args::default(),
        &mut rec,
    )
    .unwrap();
    for i in 3..6 {
        rec.frame = i;
        let mut fr = render(&bg, Some((525.0, 175.0)), BLUE, i as u32, 6);
        process(&mut f, &mut fr, &mut rec);
    }
    assert_eq!(
        rec.events,
        vec![
            (3, "WindowIn", "window0".to_owned()),
            (3, "WindowIn", "big".to_owned())
        ]
    );
    assert_eq!(f.windows_inside(), vec!["window0", "big"]);
    rec.events.clear();

    let remove = |id: &str| Args(vec![("windowId".into(), Value::String(id.into()))]);
    f.invoke("removeWindow", &remove("window0"), &mut rec)
        .unwrap();
    assert_eq!(rec.events, vec![(5, "WindowOut", "window0".to_owned())]);
    // Removing a window the pointer is not in, or an unknown one: no event.
    f.invoke("removeWindow", &remove("window1"), &mut rec)
        .unwrap();
    f.invoke("removeWindow", &remove("nope"), &mut rec).unwrap();
    assert_eq!(rec.events.len(), 1);
    for i in 6..9 {
        rec.frame = i;
        let mut fr = render(&bg, Some((525.0, 175.0)), BLUE, i as u32, 6);
        process(&mut f, &mut fr, &mut rec);
    }
    assert_eq!(rec.events.len(), 1, "{:?}", rec.events);

    // Re-adding window0 while the pointer sits in it: WindowIn on the next frame.
    f.invoke(
        "addWindow",
        &Args(vec![(
            "window".into(),
            window("window0", WIN0, None, None, None),
        )]),
        &mut rec,
    )
    .unwrap();
    rec.frame = 9;
    let mut fr = render(&bg, Some((525.0, 175.0)), BLUE, 9, 6);
    process(&mut f, &mut fr, &mut rec);
    assert_eq!(rec.events[1..], [(9, "WindowIn", "window0".to_owned())]);
    // Moving it away from the pointer: WindowOut at once.
    f.invoke(
        "addWindow",
        &Args(vec![(
            "window".into(),
            window("window0", WIN1, None, None, None),
        )]),
        &mut rec,
    )
    .unwrap();
    assert_eq!(rec.events[2..], [(9, "WindowOut", "window0".to_owned())]);
    process(&mut f, &mut fr, &mut rec);
    assert_eq!(rec.events.len(), 3);

    rec.events.clear();
    f.invoke("clearWindows", &Args::default(), &mut rec)
        .unwrap();
    assert_eq!(rec.events, vec![(9, "WindowOut", "big".to_owned())]);
    assert!(f.windows_inside().is_empty());
}

#[test]
fn jitter_on_a_window_edge_and_one_frame_dropout_give_no_event_storm() {
    let bg = background(BG);
    let mut f = filter(tutorial_windows());
    let mut rec = Recorder::new();
    let mut fr = render(&bg, Some((20.0, 20.0)), BLUE, 1, 6);
    process(&mut f, &mut fr, &mut rec);
    f.invoke(
        "trackColorFromCalibrationRegion",
        &Args::default(),
        &mut rec,
    )
    .unwrap();
    // The centre wobbles ±2 px around window0's left edge (x = 500), then drops out for a frame.
    for i in 0..30 {
        rec.frame = i;
        let x = if i % 2 == 0 { 502.5 } else { 497.5 };
        let p = if i == 20 { None } else { Some((x, 175.0)) };
        let mut fr = render(&bg, p, BLUE, i as u32 + 7, 6);
        process(&mut f, &mut fr, &mut rec);
    }
    assert_eq!(rec.events, vec![(0, "WindowIn", "window0".to_owned())]);
}

#[test]
fn calibration_errors_and_calibration_before_the_first_frame() {
    let bg = background(BG);
    let mut rec = Recorder::new();
    // Grey calibration region (no pointer): an error, and no colour is tracked.
    let mut f = filter(tutorial_windows());
    let mut grey = bg.clone();
    for y in 0..40 {
        for x in 0..40 {
            let o = (y * W + x) as usize * 3;
            grey[o..o + 3].copy_from_slice(&[128, 128, 128]);
        }
    }
    process(&mut f, &mut grey, &mut rec);
    let err = f
        .invoke(
            "trackColorFromCalibrationRegion",
            &Args::default(),
            &mut rec,
        )
        .unwrap_err();
    assert!(err.to_string().contains("no coloured pointer"), "{err}");
    assert!(f.color_range().is_none());

    // Before any frame: calibrates on the first one.
    let mut f = filter(tutorial_windows());
    f.invoke(
        "trackColorFromCalibrationRegion",
        &Args::default(),
        &mut rec,
    )
    .unwrap();
    assert!(f.color_range().is_none());
    let mut fr = render(&bg, Some((20.0, 20.0)), BLUE, 1, 6);
    process(&mut f, &mut fr, &mut rec);
    let r = f.color_range().expect("calibrated on the first frame");
    let blue = color::bgr_to_hsv(&BLUE).unwrap();
    assert!(r.contains(blue[0], blue[1], blue[2]), "{r:?} {blue:?}");

    // Bad arguments.
    assert!(f.invoke("nope", &Args::default(), &mut rec).is_err());
    let bad = Args(vec![(
        "window".into(),
        window("w", (0, 0, 0, 10), None, None, None),
    )]);
    assert!(matches!(
        f.invoke("addWindow", &bad, &mut rec),
        Err(FilterError::InvalidArgument(_))
    ));
    assert!(PointerDetectorFilter::new(&Args::default()).is_err());
    assert!(rec.events.is_empty());
}

#[test]
fn drawing_outlines_images_and_transparency() {
    let bg = background(BG);
    let red: Image = Arc::new(OverlayImage::solid(16, 16, [0, 0, 255, 255]));
    let blue: Image = Arc::new(OverlayImage::solid(8, 8, [255, 0, 0, 255]));
    let green: Image = Arc::new(OverlayImage::solid(8, 8, [0, 255, 0, 255]));
    let mut f = filter(vec![
        window("plain", WIN0, None, None, None),
        window("pictures", WIN1, Some(blue.clone()), Some(green), Some(0.5)),
        window("tinted", (300, 300, 40, 40), Some(red.clone()), None, None),
    ]);
    let mut rec = Recorder::new();

    // Uncalibrated, pointer away: white calibration region and plain outline, images inactive.
    let src = render(&bg, Some((20.0, 20.0)), BLUE, 1, 0);
    let mut fr = src.clone();
    process(&mut f, &mut fr, &mut rec);
    assert_eq!(px(&fr, 5, 5), [255, 255, 255]);
    assert_eq!(px(&fr, 34, 34), [255, 255, 255]);
    assert_eq!(px(&fr, 20, 5), [255, 255, 255]);
    assert_eq!(px(&fr, 20, 20), px(&src, 20, 20));
    assert_eq!(px(&fr, 500, 150), [255, 255, 255]);
    assert_eq!(px(&fr, 549, 199), [255, 255, 255]);
    assert_eq!(px(&fr, 525, 175), px(&src, 525, 175));
    assert_eq!(px(&fr, 550, 200), px(&src, 550, 200));
    // Inactive image, opacity 0.5: half blue over the photo.
    for (x, y) in [(500, 250), (525, 275), (549, 299)] {
        let (s, d) = (px(&src, x, y), px(&fr, x, y));
        assert!(
            (d[0] as i32 - (s[0] as i32 + 255) / 2).abs() <= 1,
            "{s:?} {d:?}"
        );
        assert!(
            (d[1] as i32 - s[1] as i32 / 2).abs() <= 1
                && (d[2] as i32 - s[2] as i32 / 2).abs() <= 1
        );
    }
    assert_eq!(px(&fr, 310, 310), [0, 0, 255]);
    assert_eq!(px(&fr, 551, 301), px(&src, 551, 301));

    f.invoke(
        "trackColorFromCalibrationRegion",
        &Args::default(),
        &mut rec,
    )
    .unwrap();
    // Pointer inside "pictures": active image (green at half opacity), marker drawn red.
    let src = render(&bg, Some((525.0, 275.0)), BLUE, 2, 0);
    let mut fr = src.clone();
    process(&mut f, &mut fr, &mut rec);
    assert_eq!(rec.events, vec![(0, "WindowIn", "pictures".to_owned())]);
    assert_eq!(
        px(&fr, 5, 5),
        px(&src, 5, 5),
        "calibration region no longer drawn"
    );
    let (s, d) = (px(&src, 502, 252), px(&fr, 502, 252));
    assert!(
        (d[1] as i32 - (s[1] as i32 + 255) / 2).abs() <= 1,
        "{s:?} {d:?}"
    );
    assert!(
        (d[0] as i32 - s[0] as i32 / 2).abs() <= 1 && (d[2] as i32 - s[2] as i32 / 2).abs() <= 1
    );
    assert_eq!(px(&fr, 525, 275), [0, 0, 255], "pointer marker");
    assert_eq!(px(&fr, 500, 150), [255, 255, 255]);

    // Inside "tinted" (image, no activeImage): red tinted half-way to green.
    let mut fr = render(&bg, Some((320.0, 320.0)), BLUE, 3, 0);
    rec.frame = 1;
    process(&mut f, &mut fr, &mut rec);
    assert_eq!(px(&fr, 302, 302), [0, 127, 127]);
    // Inside "plain": green outline.
    let mut fr = render(&bg, Some((525.0, 175.0)), BLUE, 4, 0);
    rec.frame = 2;
    process(&mut f, &mut fr, &mut rec);
    assert_eq!(px(&fr, 500, 150), [0, 255, 0]);
    assert_eq!(px(&fr, 549, 170), [0, 255, 0]);
    assert_eq!(px(&fr, 310, 310), [0, 0, 255]);
    assert_eq!(
        rec.events,
        vec![
            (0, "WindowIn", "pictures".to_owned()),
            (1, "WindowOut", "pictures".to_owned()),
            (1, "WindowIn", "tinted".to_owned()),
            (2, "WindowOut", "tinted".to_owned()),
            (2, "WindowIn", "plain".to_owned()),
        ]
    );
}

#[test]
fn windows_follow_a_resolution_change() {
    let mut f = filter(tutorial_windows());
    let mut rec = Recorder::new();
    let mut fr = background(BG);
    process(&mut f, &mut fr, &mut rec);
    // Half resolution: window0 (500,150,50,50) is drawn at (250,75,25,25).
    let (w, h) = (W / 2, H / 2);
    let mut small = vec![0u8; (w * h * 3) as usize];
    process_sized(&mut f, &mut small, w, h, &mut rec);
    let at = |x: i32, y: i32| {
        let o = ((y * w + x) * 3) as usize;
        [small[o], small[o + 1], small[o + 2]]
    };
    assert_eq!(at(250, 75), [255, 255, 255]);
    assert_eq!(at(274, 99), [255, 255, 255]);
    assert_eq!(at(260, 85), [0, 0, 0]);
    assert_eq!(at(275, 100), [0, 0, 0]);
}

#[test]
fn kurento_json_through_the_sdk_builds_the_filter() {
    use rheo_filter_sdk::{args_from_json, load_images};
    // The tutorial's constructor params, as kurento-client sends them.
    let logo = format!("{DATA}opencv-logo.png");
    let json = serde_json::json!({
        "calibrationRegion": {"__module__": "pointerdetector", "__type__": "WindowParam",
            "topRightCornerX": 5, "topRightCornerY": 5, "width": 30, "height": 30},
        "windows": [
            {"__module__": "pointerdetector", "__type__": "PointerDetectorWindowMediaParam",
             "id": "window0", "upperRightX": 500, "upperRightY": 150, "width": 50, "height": 50,
             "image": logo, "imageTransparency": 0.0},
            {"id": "window1", "upperRightX": 500, "upperRightY": 250, "width": 50, "height": 50}
        ]
    });
    let mut args = args_from_json(INFO.constructor, json.as_object().unwrap()).unwrap();
    load_images(INFO.constructor, &mut args, &Default::default()).unwrap();
    let mut f = PointerDetectorFilter::new(&args).unwrap();
    let mut rec = Recorder::new();
    let src = background(BG);
    let mut fr = src.clone();
    process(&mut f, &mut fr, &mut rec);
    // window0 shows the logo (its pixels differ from the photo), window1 a white outline.
    let changed = (150..200)
        .flat_map(|y| (500..550).map(move |x| (x, y)))
        .filter(|&(x, y)| px(&fr, x, y) != px(&src, x, y))
        .count();
    assert!(changed > 1000, "{changed} of 2500 pixels changed");
    assert_eq!(px(&fr, 500, 250), [255, 255, 255]);

    // addWindow with its method's params; no params at all is Kurento's error.
    let add = &INFO.methods[0];
    let w = serde_json::json!({"window": {"id": "w2", "upperRightX": 10, "upperRightY": 300, "width": 20, "height": 20}});
    let args = args_from_json(add.params, w.as_object().unwrap()).unwrap();
    f.invoke(add.name, &args, &mut rec).unwrap();
    assert!(args_from_json(add.params, &serde_json::Map::new()).is_err());
    let mut fr = src.clone();
    process(&mut f, &mut fr, &mut rec);
    assert_eq!(px(&fr, 10, 300), [255, 255, 255]);
    assert!(rec.events.is_empty());
}
