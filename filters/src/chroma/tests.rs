//! ChromaFilter on synthetic green/red screens with a real photo as background.

use std::sync::Arc;
use std::time::Instant;

use opencv::core::{
    self, Mat, Point, Rect, Scalar, Size, Vec3b, CV_16SC3, CV_8U, CV_8UC1, CV_8UC3,
};
use opencv::imgproc;
use opencv::prelude::*;

use super::*;
use rheo_filter_sdk::image::{load_image, LoadLimits, OverlayImage};
use rheo_filter_sdk::{Args, Context, FilterError, Frame, PixelFormat, Value, VideoFilter};

const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/fruits.jpg";

/// Records events (the chroma filter has none).
#[derive(Default)]
struct Events(Vec<&'static str>);

impl Context for Events {
    fn emit(&mut self, event: &'static str, _fields: Vec<(&'static str, Value)>) {
        self.0.push(event);
    }
}

fn window(x: i64, y: i64, w: i64, h: i64) -> Value {
    Value::Struct(vec![
        ("topRightCornerX".into(), Value::Int(x)),
        ("topRightCornerY".into(), Value::Int(y)),
        ("width".into(), Value::Int(w)),
        ("height".into(), Value::Int(h)),
    ])
}

fn args(win: Value, bg: Option<Arc<OverlayImage>>) -> Args {
    Args(vec![
        ("window".into(), win),
        (
            "backgroundImage".into(),
            bg.map_or(Value::Null, Value::Image),
        ),
    ])
}

fn mat_of(buf: &[u8], w: i32, h: i32, stride: usize) -> Mat {
    let mut out = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(0.0)).unwrap();
    for y in 0..h as usize {
        let row = &buf[y * stride..y * stride + w as usize * 3];
        for (px, b) in out
            .at_row_mut::<Vec3b>(y as i32)
            .unwrap()
            .iter_mut()
            .zip(row.chunks(3))
        {
            *px = Vec3b::from([b[0], b[1], b[2]]);
        }
    }
    out
}

fn bytes_of(m: &Mat, stride: usize) -> Vec<u8> {
    let mut buf = vec![0u8; stride * m.rows() as usize];
    for y in 0..m.rows() as usize {
        for (x, px) in m.at_row::<Vec3b>(y as i32).unwrap().iter().enumerate() {
            buf[y * stride + 3 * x..y * stride + 3 * x + 3].copy_from_slice(&px.0);
        }
    }
    buf
}

/// Runs one frame (a copy of `img`) through the filter and returns the output.
fn run(f: &mut ChromaFilter, img: &Mat, stride_pad: usize) -> Mat {
    let (w, h) = (img.cols(), img.rows());
    let stride = w as usize * 3 + stride_pad;
    let mut buf = bytes_of(img, stride);
    let mut frame = Frame {
        width: w as u32,
        height: h as u32,
        format: PixelFormat::Bgr,
        pts: None,
        planes: vec![(&mut buf[..], stride)],
    };
    let mut ev = Events::default();
    f.process(&mut frame, &mut ev).expect("process");
    assert!(ev.0.is_empty());
    mat_of(&buf, w, h, stride)
}

fn calibrate(f: &mut ChromaFilter, img: &Mat) {
    for _ in 0..CALIBRATION_FRAMES {
        assert!(!f.calibrated());
        run(f, img, 0);
    }
    assert!(f.calibrated());
}

/// A synthetic chroma-key scene: the screen (brightness gradient, noise), foreground objects.
struct Scene {
    img: Mat,
    /// All foreground objects (hard edges), 255 inside.
    fg: Mat,
    /// The skin ellipse only.
    skin: Mat,
}

const SKIN: [u8; 3] = [125, 165, 225];

fn scene(
    w: i32,
    h: i32,
    key: [f64; 3],
    objects: &[([u8; 3], Shape)],
    spill: bool,
    seed: i32,
) -> Scene {
    // The scenes with spill also have a shadow on the screen.
    let shadow = spill;
    let mut img = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(0.0)).unwrap();
    for y in 0..h {
        let row = img.at_row_mut::<Vec3b>(y).unwrap();
        for (x, px) in row.iter_mut().enumerate() {
            // Uneven lighting: 85% .. 115% from left to right, a little darker at the bottom.
            let mut g = 0.85 + 0.3 * x as f64 / f64::from(w) - 0.05 * f64::from(y) / f64::from(h);
            if shadow {
                // The person's soft shadow on the screen, down to 60% brightness.
                let (dx, dy) = (
                    (x as f64 - 0.8 * f64::from(w)) / (0.12 * f64::from(w)),
                    (f64::from(y) - 0.6 * f64::from(h)) / (0.35 * f64::from(h)),
                );
                g *= 1.0 - 0.4 * (-(dx * dx + dy * dy)).exp();
            }
            *px = Vec3b::from(key.map(|c| (c * g).round().clamp(0.0, 255.0) as u8));
        }
    }
    let mut fg = Mat::new_rows_cols_with_default(h, w, CV_8UC1, Scalar::all(0.0)).unwrap();
    let mut skin = fg.try_clone().unwrap();
    for (colour, shape) in objects {
        let c = Scalar::new(
            f64::from(colour[0]),
            f64::from(colour[1]),
            f64::from(colour[2]),
            0.0,
        );
        shape.draw(&mut img, c, imgproc::LINE_AA);
        shape.draw(&mut fg, Scalar::all(255.0), imgproc::LINE_8);
        // The visible skin: objects drawn later cover it.
        let on_skin = if *colour == SKIN { 255.0 } else { 0.0 };
        shape.draw(&mut skin, Scalar::all(on_skin), imgproc::LINE_8);
    }
    if spill {
        // Green light bouncing off the screen onto the skin within 4 pixels of the screen.
        let mut rim = Mat::default();
        core::bitwise_and(&skin, &not(&erode(&fg, 4)), &mut rim, &core::no_array()).unwrap();
        let mut lit = img.try_clone().unwrap();
        core::add(&img, &Scalar::new(0.0, 35.0, 0.0, 0.0), &mut lit, &rim, -1).unwrap();
        img = lit;
    }
    core::set_rng_seed(seed).unwrap();
    let mut noise = Mat::new_rows_cols_with_default(h, w, CV_16SC3, Scalar::all(0.0)).unwrap();
    core::randn(&mut noise, &Scalar::all(0.0), &Scalar::all(5.0)).unwrap();
    let mut noisy = Mat::default();
    core::add(&img, &noise, &mut noisy, &core::no_array(), CV_8U).unwrap();
    Scene {
        img: noisy,
        fg,
        skin,
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Ellipse(i32, i32, i32, i32),
    Rect(i32, i32, i32, i32),
}

impl Shape {
    fn draw(&self, m: &mut Mat, c: Scalar, line: i32) {
        match *self {
            Shape::Ellipse(cx, cy, ax, ay) => imgproc::ellipse(
                m,
                Point::new(cx, cy),
                Size::new(ax, ay),
                0.0,
                0.0,
                360.0,
                c,
                -1,
                line,
                0,
            )
            .unwrap(),
            Shape::Rect(x, y, w, h) => {
                imgproc::rectangle(m, Rect::new(x, y, w, h), c, -1, imgproc::LINE_8, 0).unwrap()
            }
        }
    }
}

/// A person (skin, dark hair), a red box, a white box and a yellow disc.
fn people(w: i32, h: i32) -> Vec<([u8; 3], Shape)> {
    let s = |v: i32, of: i32| v * of / 640;
    let t = |v: i32| v * h / 480;
    vec![
        (SKIN, Shape::Ellipse(s(400, w), t(260), s(110, w), t(150))),
        (
            [40, 45, 55],
            Shape::Ellipse(s(400, w), t(125), s(90, w), t(40)),
        ),
        (
            [35, 35, 200],
            Shape::Rect(s(60, w), t(300), s(160, w), t(130)),
        ),
        (
            [230, 230, 225],
            Shape::Rect(s(150, w), t(120), s(90, w), t(90)),
        ),
        (
            [40, 210, 230],
            Shape::Ellipse(s(570, w), t(400), s(40, w), t(40)),
        ),
    ]
}

const GREEN: [f64; 3] = [60.0, 175.0, 50.0];

fn erode(m: &Mat, r: i32) -> Mat {
    let k = imgproc::get_structuring_element(
        imgproc::MORPH_ELLIPSE,
        Size::new(2 * r + 1, 2 * r + 1),
        Point::new(-1, -1),
    )
    .unwrap();
    let mut out = Mat::default();
    imgproc::erode(
        m,
        &mut out,
        &k,
        Point::new(-1, -1),
        1,
        core::BORDER_REPLICATE,
        Scalar::all(0.0),
    )
    .unwrap();
    out
}

fn dilate(m: &Mat, r: i32) -> Mat {
    let k = imgproc::get_structuring_element(
        imgproc::MORPH_ELLIPSE,
        Size::new(2 * r + 1, 2 * r + 1),
        Point::new(-1, -1),
    )
    .unwrap();
    let mut out = Mat::default();
    imgproc::dilate(
        m,
        &mut out,
        &k,
        Point::new(-1, -1),
        1,
        core::BORDER_REPLICATE,
        Scalar::all(0.0),
    )
    .unwrap();
    out
}

fn not(m: &Mat) -> Mat {
    let mut out = Mat::default();
    core::bitwise_not(m, &mut out, &core::no_array()).unwrap();
    out
}

/// Fraction of `region` pixels where every channel of `a` is within `tol` of `b`.
fn frac_within(a: &Mat, b: &Mat, region: &Mat, tol: u8) -> f64 {
    let mut diff = Mat::default();
    core::absdiff(a, b, &mut diff).unwrap();
    let mut ch = core::Vector::<Mat>::new();
    core::split(&diff, &mut ch).unwrap();
    let (mut m1, mut m) = (Mat::default(), Mat::default());
    core::max(&ch.get(0).unwrap(), &ch.get(1).unwrap(), &mut m1).unwrap();
    core::max(&m1, &ch.get(2).unwrap(), &mut m).unwrap();
    let mut ok = Mat::default();
    core::compare(&m, &Scalar::all(f64::from(tol)), &mut ok, core::CMP_LE).unwrap();
    let mut both = Mat::default();
    core::bitwise_and(&ok, region, &mut both, &core::no_array()).unwrap();
    let n = core::count_non_zero(region).unwrap();
    assert!(n > 0);
    f64::from(core::count_non_zero(&both).unwrap()) / f64::from(n)
}

fn photo(w: i32, h: i32) -> (Arc<OverlayImage>, Mat) {
    let img = load_image(PHOTO, &LoadLimits::default()).expect("opencv-doc sample photo");
    let bgra =
        Mat::new_rows_cols_with_data(img.height as i32, img.width as i32 * 4, &img.bgra).unwrap();
    let bgra = bgra.reshape(4, img.height as i32).unwrap();
    let mut sized = Mat::default();
    imgproc::resize(
        &bgra,
        &mut sized,
        Size::new(w, h),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .unwrap();
    let overlay = OverlayImage {
        width: w as u32,
        height: h as u32,
        bgra: sized.data_bytes().unwrap().to_vec(),
    };
    let mut bgr = Mat::default();
    imgproc::cvt_color(&sized, &mut bgr, imgproc::COLOR_BGRA2BGR, 0).unwrap();
    (Arc::new(overlay), bgr)
}

fn solid(w: i32, h: i32, bgr: [u8; 3]) -> Mat {
    Mat::new_rows_cols_with_default(
        h,
        w,
        CV_8UC3,
        Scalar::new(f64::from(bgr[0]), f64::from(bgr[1]), f64::from(bgr[2]), 0.0),
    )
    .unwrap()
}

/// Keyed-area and foreground scores of one keyed frame.
fn scores(sc: &Scene, out: &Mat, expected_bg: &Mat) -> (f64, f64) {
    let screen = not(&dilate(&sc.fg, 6));
    let interior = erode(&sc.fg, 10);
    (
        frac_within(out, expected_bg, &screen, 10),
        frac_within(out, &sc.img, &interior, 10),
    )
}

#[test]
fn green_screen_with_photo_background() {
    let (w, h) = (640, 480);
    let sc = scene(w, h, GREEN, &people(w, h), true, 1);
    let (bg, bg_mat) = photo(w, h);
    let mut f = ChromaFilter::new(&args(window(10, 10, 60, 60), Some(bg))).unwrap();
    calibrate(&mut f, &sc.img);
    let out = run(&mut f, &sc.img, 0);

    let (keyed, kept) = scores(&sc, &out, &bg_mat);
    println!(
        "green screen: {:.2}% of screen shows the photo, {:.2}% of foreground unchanged",
        keyed * 100.0,
        kept * 100.0
    );
    assert!(keyed >= 0.98, "keyed {keyed}");
    assert!(kept >= 0.98, "kept {kept}");

    // Soft edge: pixels on the object boundary are mixtures of the input and the photo.
    let ring = {
        let (mut r, outer, inner) = (Mat::default(), dilate(&sc.fg, 1), erode(&sc.fg, 1));
        core::subtract(&outer, &inner, &mut r, &core::no_array(), -1).unwrap();
        r
    };
    let (mut blends, mut candidates) = (0, 0);
    for y in 0..h {
        for x in 0..w {
            if *ring.at_2d::<u8>(y, x).unwrap() == 0 {
                continue;
            }
            let (i, b, o) = (
                sc.img.at_2d::<Vec3b>(y, x).unwrap(),
                bg_mat.at_2d::<Vec3b>(y, x).unwrap(),
                out.at_2d::<Vec3b>(y, x).unwrap(),
            );
            let d: Vec<f64> = (0..3).map(|c| f64::from(i[c]) - f64::from(b[c])).collect();
            let n2: f64 = d.iter().map(|v| v * v).sum();
            if n2 < 60.0 * 60.0 {
                continue;
            }
            candidates += 1;
            let t: f64 = (0..3)
                .map(|c| (f64::from(o[c]) - f64::from(b[c])) * d[c])
                .sum::<f64>()
                / n2;
            if (0.1..=0.9).contains(&t) {
                blends += 1;
            }
        }
    }
    let blend_frac = f64::from(blends) / f64::from(candidates);
    println!(
        "soft edge: {blends} of {candidates} boundary pixels are blends ({:.1}%)",
        blend_frac * 100.0
    );
    assert!(blend_frac >= 0.4, "blend fraction {blend_frac}");

    // Spill: green cast (G minus the mean of R and B, relative to the true skin colour) at
    // 2..4 px inside the skin's edge, where the input has +35 of green bounce.
    let band = {
        let mut b = Mat::default();
        core::subtract(
            &erode(&sc.skin, 2),
            &erode(&sc.skin, 4),
            &mut b,
            &core::no_array(),
            -1,
        )
        .unwrap();
        core::bitwise_and(
            &b.clone(),
            &not(&dilate(&sc.fg_minus_skin(), 3)),
            &mut b,
            &core::no_array(),
        )
        .unwrap();
        b
    };
    // Green cast: G minus the mean of R and B; `relative` subtracts the true skin's value.
    let true_cast = f64::from(SKIN[1]) - (f64::from(SKIN[0]) + f64::from(SKIN[2])) / 2.0;
    let cast = |m: &Mat| -> f64 {
        let (mut sum, mut n) = (0.0, 0.0);
        for y in 0..h {
            for x in 0..w {
                if *band.at_2d::<u8>(y, x).unwrap() != 0 {
                    let p = m.at_2d::<Vec3b>(y, x).unwrap();
                    sum += f64::from(p[1]) - (f64::from(p[0]) + f64::from(p[2])) / 2.0;
                    n += 1.0;
                }
            }
        }
        sum / n
    };
    let (before, after) = (cast(&sc.img), cast(&out));
    println!(
        "spill: green cast at 2..4 px inside the skin's edge {before:.1} before, {after:.1} after \
         (true skin {true_cast:.1}: excess {:.1} -> {:.1})",
        before - true_cast,
        after - true_cast
    );
    assert!(before - true_cast > 25.0, "the scene has spill ({before})");
    assert!(after < 5.0, "green cast left: {after}");
    assert!(
        after - true_cast < (before - true_cast) / 2.5,
        "spill left: {after}"
    );
}

impl Scene {
    /// Foreground objects other than the skin ellipse.
    fn fg_minus_skin(&self) -> Mat {
        let mut m = Mat::default();
        core::subtract(&self.fg, &self.skin, &mut m, &core::no_array(), -1).unwrap();
        m
    }
}

#[test]
fn no_background_shows_neutral_grey_and_set_unset_switch() {
    let (w, h) = (640, 480);
    let sc = scene(w, h, GREEN, &people(w, h), false, 2);
    let mut f = ChromaFilter::new(&args(window(20, 20, 40, 40), None)).unwrap();
    calibrate(&mut f, &sc.img);
    let grey = solid(w, h, NEUTRAL);
    let (keyed, kept) = scores(&sc, &run(&mut f, &sc.img, 0), &grey);
    println!(
        "no background: {:.2}% grey, {:.2}% foreground kept",
        keyed * 100.0,
        kept * 100.0
    );
    assert!(keyed >= 0.98 && kept >= 0.98, "{keyed} {kept}");

    let mut ev = Events::default();
    let (bg, bg_mat) = photo(w, h);
    let set = Args(vec![("uri".into(), Value::Image(bg))]);
    assert_eq!(
        f.invoke("setBackground", &set, &mut ev).unwrap(),
        Value::Null
    );
    let (keyed, _) = scores(&sc, &run(&mut f, &sc.img, 0), &bg_mat);
    assert!(keyed >= 0.98, "{keyed}");

    // Replace with a half-transparent orange (other size and aspect): composited over grey.
    let orange = Arc::new(OverlayImage::solid(50, 10, [0, 128, 255, 128]));
    let set = Args(vec![("uri".into(), Value::Image(orange))]);
    f.invoke("setBackground", &set, &mut ev).unwrap();
    let over_grey = solid(w, h, [64, 128, 191]);
    let (keyed, _) = scores(&sc, &run(&mut f, &sc.img, 0), &over_grey);
    assert!(keyed >= 0.98, "{keyed}");

    f.invoke("unsetBackground", &Args::default(), &mut ev)
        .unwrap();
    let (keyed, kept) = scores(&sc, &run(&mut f, &sc.img, 0), &grey);
    assert!(keyed >= 0.98 && kept >= 0.98, "{keyed} {kept}");
    assert!(ev.0.is_empty());
    assert!(matches!(
        f.invoke("setBackground", &Args::default(), &mut ev),
        Err(FilterError::InvalidArgument(_))
    ));
    assert!(matches!(
        f.invoke("calibrate", &Args::default(), &mut ev),
        Err(FilterError::NoSuchMethod(_))
    ));
}

#[test]
fn red_key_wraps_hue() {
    let (w, h) = (640, 480);
    let objects = vec![
        ([50, 180, 60], Shape::Rect(60, 280, 160, 150)),
        ([200, 90, 30], Shape::Ellipse(420, 240, 120, 160)),
        ([230, 230, 225], Shape::Rect(250, 60, 80, 80)),
        ([40, 200, 220], Shape::Ellipse(560, 420, 40, 40)),
    ];
    // Hue of this red is about -2°: the noisy samples straddle 0.
    let sc = scene(w, h, [40.0, 35.0, 200.0], &objects, false, 3);
    let (bg, bg_mat) = photo(w, h);
    let mut f = ChromaFilter::new(&args(window(20, 20, 50, 50), Some(bg))).unwrap();
    calibrate(&mut f, &sc.img);
    let (keyed, kept) = scores(&sc, &run(&mut f, &sc.img, 0), &bg_mat);
    println!(
        "red key: {:.2}% keyed, {:.2}% foreground kept",
        keyed * 100.0,
        kept * 100.0
    );
    assert!(keyed >= 0.98 && kept >= 0.98, "{keyed} {kept}");
}

#[test]
fn tiny_window_calibrates() {
    let (w, h) = (640, 480);
    let sc = scene(w, h, GREEN, &people(w, h), false, 4);
    let (bg, bg_mat) = photo(w, h);
    let mut f = ChromaFilter::new(&args(window(30, 30, 5, 5), Some(bg))).unwrap();
    calibrate(&mut f, &sc.img);
    let (keyed, kept) = scores(&sc, &run(&mut f, &sc.img, 0), &bg_mat);
    println!(
        "5x5 window: {:.2}% keyed, {:.2}% foreground kept",
        keyed * 100.0,
        kept * 100.0
    );
    assert!(keyed >= 0.98 && kept >= 0.98, "{keyed} {kept}");
}

#[test]
fn windows_outside_or_larger_than_the_frame_are_clamped() {
    let (w, h) = (640, 480);
    let sc = scene(w, h, GREEN, &people(w, h), false, 5);
    let (bg, bg_mat) = photo(w, h);
    // Outside: moved to the bottom-right corner, which is screen.
    let mut f = ChromaFilter::new(&args(window(10_000, 10_000, 30, 30), Some(bg.clone()))).unwrap();
    assert_eq!(f.window.clamp(w, h), Rect::new(610, 450, 30, 30));
    calibrate(&mut f, &sc.img);
    let (keyed, kept) = scores(&sc, &run(&mut f, &sc.img, 0), &bg_mat);
    println!(
        "window outside: {:.2}% keyed, {:.2}% foreground kept",
        keyed * 100.0,
        kept * 100.0
    );
    assert!(keyed >= 0.98 && kept >= 0.98, "{keyed} {kept}");

    // Larger than the frame: the whole frame, a quarter of it foreground; the robust
    // statistics still find the screen.
    let mut f = ChromaFilter::new(&args(window(-50, -50, 5000, 5000), Some(bg))).unwrap();
    assert_eq!(f.window.clamp(w, h), Rect::new(0, 0, w, h));
    calibrate(&mut f, &sc.img);
    let (keyed, kept) = scores(&sc, &run(&mut f, &sc.img, 0), &bg_mat);
    println!(
        "window larger than the frame: {:.2}% keyed, {:.2}% kept",
        keyed * 100.0,
        kept * 100.0
    );
    assert!(keyed >= 0.98 && kept >= 0.98, "{keyed} {kept}");

    // And on a frame smaller than the window and one of 1x1 pixel.
    let tiny = solid(1, 1, [0, 255, 0]);
    run(&mut f, &tiny, 0);
    assert!(matches!(
        ChromaFilter::new(&args(window(0, 0, 0, 10), None)),
        Err(FilterError::InvalidArgument(_))
    ));
    assert!(matches!(
        ChromaFilter::new(&Args::default()),
        Err(FilterError::InvalidArgument(_))
    ));
}

#[test]
fn calibration_draws_the_window_and_passes_the_video() {
    let (w, h) = (320, 240);
    let sc = scene(w, h, GREEN, &people(w, h), false, 6);
    let mut f = ChromaFilter::new(&args(window(10, 20, 30, 40), None)).unwrap();
    let out = run(&mut f, &sc.img, 8);
    assert_eq!(
        *out.at_2d::<Vec3b>(19, 9).unwrap(),
        Vec3b::from([255, 255, 255])
    );
    assert_eq!(*out.at_2d::<Vec3b>(18, 8).unwrap(), Vec3b::from([0, 0, 0]));
    assert_eq!(
        *out.at_2d::<Vec3b>(60, 40).unwrap(),
        Vec3b::from([255, 255, 255])
    );
    let mut untouched = Mat::new_rows_cols_with_default(h, w, CV_8UC1, Scalar::all(255.0)).unwrap();
    imgproc::rectangle(
        &mut untouched,
        Rect::new(8, 18, 34, 44),
        Scalar::all(0.0),
        2,
        imgproc::LINE_8,
        0,
    )
    .unwrap();
    assert_eq!(frac_within(&out, &sc.img, &untouched, 0), 1.0);
}

#[test]
fn resolution_change_rescales_the_background() {
    let sc = scene(640, 480, GREEN, &people(640, 480), false, 7);
    let (bg, bg_mat) = photo(640, 480);
    let mut f = ChromaFilter::new(&args(window(10, 10, 40, 40), Some(bg))).unwrap();
    calibrate(&mut f, &sc.img);
    let (keyed, _) = scores(&sc, &run(&mut f, &sc.img, 0), &bg_mat);
    assert!(keyed >= 0.98, "{keyed}");

    let small = scene(320, 240, GREEN, &people(320, 240), false, 8);
    let mut bg_small = Mat::default();
    imgproc::resize(
        &bg_mat,
        &mut bg_small,
        Size::new(320, 240),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .unwrap();
    let (keyed, kept) = scores(&small, &run(&mut f, &small.img, 12), &bg_small);
    println!(
        "320x240 after 640x480: {:.2}% keyed, {:.2}% kept",
        keyed * 100.0,
        kept * 100.0
    );
    assert!(keyed >= 0.98 && kept >= 0.98, "{keyed} {kept}");

    // A wide frame: the 4:3 photo covers it (scaled to 800 wide, centre rows).
    let wide = scene(800, 300, GREEN, &people(800, 300), false, 9);
    let mut scaled = Mat::default();
    imgproc::resize(
        &bg_mat,
        &mut scaled,
        Size::new(800, 600),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )
    .unwrap();
    let bg_wide = Mat::roi(&scaled, Rect::new(0, 150, 800, 300))
        .unwrap()
        .try_clone()
        .unwrap();
    let (keyed, kept) = scores(&wide, &run(&mut f, &wide.img, 0), &bg_wide);
    println!(
        "800x300: {:.2}% keyed, {:.2}% kept",
        keyed * 100.0,
        kept * 100.0
    );
    assert!(keyed >= 0.98 && kept >= 0.98, "{keyed} {kept}");

    // Back to the first size (cached).
    let (keyed, _) = scores(&sc, &run(&mut f, &sc.img, 0), &bg_mat);
    assert!(keyed >= 0.98, "{keyed}");
}

#[test]
fn interface_and_per_frame_cost() {
    let info = <ChromaFilter as VideoFilter>::info();
    assert_eq!(
        (info.module, info.class, info.element),
        ("chroma", "ChromaFilter", "rheochroma")
    );
    let names: Vec<_> = info.methods.iter().map(|m| m.name).collect();
    assert_eq!(names, ["setBackground", "unsetBackground"]);
    let fields: Vec<_> = WINDOW_PARAM.fields.iter().map(|p| p.name).collect();
    assert_eq!(
        fields,
        ["topRightCornerX", "topRightCornerY", "width", "height"]
    );

    let sc = scene(640, 480, GREEN, &people(640, 480), true, 10);
    let (bg, _) = photo(640, 480);
    let mut f = ChromaFilter::new(&args(window(10, 10, 60, 60), Some(bg))).unwrap();
    let stride = 640 * 3;
    let mut buf = bytes_of(&sc.img, stride);
    let mut ev = Events::default();
    let mut time = |f: &mut ChromaFilter, n: u32| {
        let start = Instant::now();
        for _ in 0..n {
            let mut frame = Frame {
                width: 640,
                height: 480,
                format: PixelFormat::Bgr,
                pts: None,
                planes: vec![(&mut buf[..], stride)],
            };
            f.process(&mut frame, &mut ev).unwrap();
        }
        start.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
    };
    let calib = time(&mut f, CALIBRATION_FRAMES);
    assert!(f.calibrated());
    let keying = time(&mut f, 60);
    println!("640x480 per frame: calibrating {calib:.2} ms, keying {keying:.2} ms");
}

/// Through the SDK's GStreamer element: calibration rectangle on the first frame, the green
/// replaced by neutral grey once calibrated.
#[test]
fn element_in_a_pipeline() {
    use gst::prelude::*;
    gst::init().unwrap();
    rheo_filter_sdk::register::<ChromaFilter>(None).unwrap();
    let n = CALIBRATION_FRAMES + 10;
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={n} pattern=solid-color foreground-color=0xff32af3c \
         ! video/x-raw,format=BGR,width=320,height=240 ! rheochroma name=chroma \
         ! appsink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let chroma = pipeline.by_name("chroma").unwrap();
    chroma.set_property(
        "params",
        r#"{"window":{"__module__":"chroma","__type__":"WindowParam","topRightCornerX":100,"topRightCornerY":50,"width":20,"height":20}}"#,
    );
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let buf = sample.buffer().unwrap().map_readable().unwrap();
        // Pixel (99, 49) is on the drawn window; (300, 200) is screen.
        let px = |x: usize, y: usize| -> [u8; 3] {
            let i = y * 320 * 3 + x * 3;
            [buf[i], buf[i + 1], buf[i + 2]]
        };
        frames.push((px(99, 49), px(300, 200)));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(frames.len(), n as usize);
    assert_eq!(frames[0], ([255, 255, 255], [60, 175, 50]));
    let last = frames[n as usize - 1];
    assert_eq!(last.1, NEUTRAL, "keyed screen");
    assert_eq!(last.0, NEUTRAL, "no rectangle once calibrated");
}
