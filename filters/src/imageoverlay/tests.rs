//! ImageOverlayFilter tests: exact pixels on Debian's opencv-doc images.

use std::sync::Arc;
use std::time::Instant;

use gst::prelude::*;
use opencv::core::{Mat, Size, CV_8UC4};
use opencv::imgproc;
use opencv::prelude::*;

use super::*;
use rheo_filter_sdk::image::{load_image, LoadLimits, OverlayImage};

const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";
const BG: [u8; 3] = [40, 90, 140];

struct NoEvents;
impl Context for NoEvents {
    fn emit(&mut self, event: &'static str, _: Vec<(&'static str, Value)>) {
        panic!("unexpected event {event}");
    }
}

fn real(name: &str) -> Image {
    Arc::new(load_image(&format!("{DATA}/{name}"), &LoadLimits::default()).unwrap())
}

fn solid(w: u32, h: u32, bgra: [u8; 4]) -> Image {
    Arc::new(OverlayImage::solid(w, h, bgra))
}

#[allow(clippy::too_many_arguments)]
fn add(
    f: &mut ImageOverlayFilter,
    id: &str,
    img: &Image,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    keep: bool,
    center: bool,
) {
    let args = Args(vec![
        ("id".into(), Value::String(id.into())),
        ("uri".into(), Value::Image(img.clone())),
        ("offsetXPercent".into(), Value::Float(x)),
        ("offsetYPercent".into(), Value::Float(y)),
        ("widthPercent".into(), Value::Float(w)),
        ("heightPercent".into(), Value::Float(h)),
        ("keepAspectRatio".into(), Value::Bool(keep)),
        ("center".into(), Value::Bool(center)),
    ]);
    assert_eq!(
        f.invoke("addImage", &args, &mut NoEvents).unwrap(),
        Value::Null
    );
}

fn remove(f: &mut ImageOverlayFilter, id: &str) {
    let args = Args(vec![("id".into(), Value::String(id.into()))]);
    f.invoke("removeImage", &args, &mut NoEvents).unwrap();
}

/// A BGR frame of one colour, with 8 bytes of row padding to exercise the stride.
struct Canvas {
    w: u32,
    h: u32,
    stride: usize,
    data: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Canvas {
        let stride = w as usize * 3 + 8;
        let mut data = vec![0xEEu8; stride * h as usize];
        for y in 0..h as usize {
            for x in 0..w as usize {
                data[y * stride + x * 3..][..3].copy_from_slice(&BG);
            }
        }
        Canvas { w, h, stride, data }
    }
    fn px(&self, x: u32, y: u32) -> [u8; 3] {
        let i = y as usize * self.stride + x as usize * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
    fn run(&mut self, f: &mut ImageOverlayFilter) {
        let mut frame = Frame {
            width: self.w,
            height: self.h,
            format: PixelFormat::Bgr,
            pts: None,
            planes: vec![(&mut self.data[..], self.stride)],
        };
        f.process(&mut frame, &mut NoEvents).unwrap();
    }
    /// The rectangle of pixels that differ from the background: (x0, y0, x1, y1) exclusive.
    fn changed(&self) -> Option<(u32, u32, u32, u32)> {
        let mut r: Option<(u32, u32, u32, u32)> = None;
        for y in 0..self.h {
            for x in 0..self.w {
                if self.px(x, y) != BG {
                    let b = r.get_or_insert((x, y, x + 1, y + 1));
                    *b = (b.0.min(x), b.1.min(y), b.2.max(x + 1), b.3.max(y + 1));
                }
            }
        }
        r
    }
    fn padding_untouched(&self) -> bool {
        (0..self.h as usize).all(|y| {
            self.data[y * self.stride + self.w as usize * 3..(y + 1) * self.stride]
                .iter()
                .all(|&b| b == 0xEE)
        })
    }
}

/// OpenCV's INTER_AREA resize of an image (the expected overlay pixels).
fn resized(img: &OverlayImage, w: u32, h: u32) -> Vec<u8> {
    let src = Mat::new_rows_cols_with_data(
        img.height as i32,
        (img.width * 4) as i32,
        img.bgra.as_slice(),
    )
    .unwrap()
    .reshape(4, img.height as i32)
    .unwrap()
    .try_clone()
    .unwrap();
    assert_eq!(src.typ(), CV_8UC4);
    let mut dst = Mat::default();
    imgproc::resize(
        &src,
        &mut dst,
        Size::new(w as i32, h as i32),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .unwrap();
    dst.data_bytes().unwrap().to_vec()
}

fn spec(x: f64, y: f64, w: f64, h: f64, keep: bool, center: bool) -> Spec {
    Spec {
        x,
        y,
        width: w,
        height: h,
        keep_aspect: keep,
        center,
    }
}

#[test]
fn layout_fits_inside_the_box() {
    // A wide image in a 320x240 box at (160, 120): width-limited.
    let s = spec(0.25, 0.25, 0.5, 0.5, true, false);
    assert_eq!(layout(&s, 493, 356, 640, 480), Some((160, 120, 320, 231)));
    let s = spec(0.25, 0.25, 0.5, 0.5, true, true);
    assert_eq!(layout(&s, 493, 356, 640, 480), Some((160, 124, 320, 231)));
    // A tall one: height-limited, centred horizontally.
    assert_eq!(layout(&s, 600, 794, 640, 480), Some((229, 120, 181, 240)));
    // Stretched: the box; `center` has nothing to centre.
    let s = spec(0.25, 0.25, 0.5, 0.5, false, true);
    assert_eq!(layout(&s, 600, 794, 640, 480), Some((160, 120, 320, 240)));
    // Empty boxes draw nothing; partly outside is fine.
    assert_eq!(
        layout(&spec(0.1, 0.1, 0.0, 0.5, false, false), 10, 10, 640, 480),
        None
    );
    assert_eq!(
        layout(&spec(-0.1, 0.9, 0.5, 0.5, false, false), 10, 10, 640, 480),
        Some((-64, 432, 320, 240))
    );
}

/// butterfly.jpg (493x356, wide) fitted and centred in the middle quarter of a 640x480 frame:
/// exactly the resized photo at (160, 124) 320x231, the frame untouched elsewhere (including
/// the 4 + 5 rows of the box above and below the photo).
#[test]
fn keep_aspect_ratio_and_center_exact_pixels() {
    let img = real("butterfly.jpg");
    assert_eq!((img.width, img.height), (493, 356));
    let mut f = ImageOverlayFilter::new(&Args::default()).unwrap();
    add(&mut f, "b", &img, 0.25, 0.25, 0.5, 0.5, true, true);
    let mut c = Canvas::new(640, 480);
    c.run(&mut f);
    let expected = resized(&img, 320, 231);
    for y in 0..480 {
        for x in 0..640 {
            let inside = (160..480).contains(&x) && (124..355).contains(&y);
            let want = if inside {
                let i = (((y - 124) * 320 + (x - 160)) * 4) as usize;
                [expected[i], expected[i + 1], expected[i + 2]]
            } else {
                BG
            };
            assert_eq!(c.px(x, y), want, "pixel ({x}, {y})");
        }
    }
    assert!(c.padding_untouched());

    // Not centred: top-left of the box.
    add(&mut f, "b", &img, 0.25, 0.25, 0.5, 0.5, true, false);
    let mut c = Canvas::new(640, 480);
    c.run(&mut f);
    assert_eq!(c.px(160, 120), [expected[0], expected[1], expected[2]]);
    assert_eq!(c.px(160, 351), BG);

    // Tall opencv-logo.png (600x794): height-limited, 181x240, centred horizontally.
    let logo = real("opencv-logo.png");
    let mut f = ImageOverlayFilter::new(&Args::default()).unwrap();
    add(&mut f, "logo", &logo, 0.25, 0.25, 0.5, 0.5, true, true);
    let mut c = Canvas::new(640, 480);
    c.run(&mut f);
    let (x0, y0, x1, y1) = c.changed().unwrap();
    assert!(x0 >= 229 && x1 <= 229 + 181 && y0 >= 120 && y1 <= 360);
    // The logo's coloured rings reach close to its edges.
    assert!(x1 - x0 > 170 && y1 - y0 > 200, "{:?}", (x0, y0, x1, y1));
}

/// The logo's alpha: transparent pixels leave the frame, opaque ones replace it, partial ones
/// blend `(s·a + d·(255 − a)) / 255`, rounded.
#[test]
fn alpha_blending() {
    let logo = real("opencv-logo.png");
    let mut f = ImageOverlayFilter::new(&Args::default()).unwrap();
    // 600x794 at its own size in a 1200x1588 frame: no resize.
    add(&mut f, "logo", &logo, 0.5, 0.5, 0.5, 0.5, false, false);
    let mut c = Canvas::new(1200, 1588);
    c.run(&mut f);
    let (mut clear, mut opaque, mut partial) = (0, 0, 0);
    for y in 0..794u32 {
        for x in 0..600u32 {
            let i = ((y * 600 + x) * 4) as usize;
            let s = &logo.bgra[i..i + 4];
            let a = u32::from(s[3]);
            let want: Vec<u8> = (0..3)
                .map(|k| ((u32::from(s[k]) * a + u32::from(BG[k]) * (255 - a) + 127) / 255) as u8)
                .collect();
            assert_eq!(c.px(600 + x, 794 + y).to_vec(), want, "({x}, {y})");
            match a {
                0 => clear += 1,
                255 => opaque += 1,
                _ => partial += 1,
            }
        }
    }
    assert!(clear > 10_000 && opaque > 10_000 && partial > 100);
    assert_eq!(c.px(599, 793), BG);
    assert!(c.padding_untouched());

    // A half-transparent solid: 200 over 40/90/140 at alpha 128.
    let mut f = ImageOverlayFilter::new(&Args::default()).unwrap();
    add(
        &mut f,
        "veil",
        &solid(4, 4, [200, 200, 200, 128]),
        0.0,
        0.0,
        1.0,
        1.0,
        false,
        false,
    );
    let mut c = Canvas::new(16, 8);
    c.run(&mut f);
    let blend1 = |d: u32| ((200 * 128 + d * 127 + 127) / 255) as u8;
    assert_eq!(c.px(7, 3), [blend1(40), blend1(90), blend1(140)]);
    assert_eq!(c.px(7, 3), [120, 145, 170]);
}

/// Insertion order is z-order; re-adding an id keeps its place; removal uncovers.
#[test]
fn z_order_replacement_and_removal() {
    let red = solid(8, 8, [0, 0, 255, 255]);
    let blue = solid(8, 8, [255, 0, 0, 255]);
    let green = solid(8, 8, [0, 255, 0, 255]);
    let mut f = ImageOverlayFilter::new(&Args::default()).unwrap();
    add(&mut f, "red", &red, 0.0, 0.0, 0.5, 0.5, false, false);
    add(&mut f, "blue", &blue, 0.25, 0.25, 0.5, 0.5, false, false);
    let mut c = Canvas::new(100, 100);
    c.run(&mut f);
    assert_eq!(c.px(10, 10), [0, 0, 255]);
    assert_eq!(c.px(40, 40), [255, 0, 0], "blue above red");
    assert_eq!(c.px(70, 70), [255, 0, 0]);
    assert_eq!(c.px(90, 90), BG);

    // Re-adding "red" (now green, bigger) keeps it below blue.
    add(&mut f, "red", &green, 0.0, 0.0, 0.6, 0.6, false, false);
    assert_eq!(f.ids(), ["red", "blue"]);
    let mut c = Canvas::new(100, 100);
    c.run(&mut f);
    assert_eq!(c.px(10, 10), [0, 255, 0]);
    assert_eq!(c.px(40, 40), [255, 0, 0], "still below blue");
    assert_eq!(c.px(55, 10), [0, 255, 0]);

    remove(&mut f, "blue");
    remove(&mut f, "no-such-id");
    assert_eq!(f.ids(), ["red"]);
    let mut c = Canvas::new(100, 100);
    c.run(&mut f);
    assert_eq!(c.px(40, 40), [0, 255, 0]);
    assert_eq!(c.px(70, 70), BG);
    remove(&mut f, "red");
    let mut c = Canvas::new(100, 100);
    c.run(&mut f);
    assert_eq!(c.changed(), None);
}

/// Pixel sizes follow the frame size, back and forth (cached per size).
#[test]
fn follows_resolution_changes() {
    let img = real("LinuxLogo.jpg");
    assert_eq!((img.width, img.height), (320, 240));
    let mut f = ImageOverlayFilter::new(&Args::default()).unwrap();
    add(&mut f, "tux", &img, 0.5, 0.5, 0.25, 0.25, false, false);
    for (w, h) in [(640, 480), (320, 240), (1280, 720), (640, 480)] {
        let mut c = Canvas::new(w, h);
        c.run(&mut f);
        let (x0, y0) = (w / 2, h / 2);
        let (bw, bh) = (w / 4, h / 4);
        let expected = resized(&img, bw, bh);
        for y in 0..h {
            for x in 0..w {
                let inside = (x0..x0 + bw).contains(&x) && (y0..y0 + bh).contains(&y);
                let want = if inside {
                    let i = (((y - y0) * bw + (x - x0)) * 4) as usize;
                    [expected[i], expected[i + 1], expected[i + 2]]
                } else {
                    BG
                };
                assert_eq!(c.px(x, y), want, "{w}x{h} pixel ({x}, {y})");
            }
        }
    }
    // Partly outside the frame: clipped, no panic.
    add(&mut f, "tux", &img, 0.9, -0.1, 0.5, 0.5, false, false);
    let mut c = Canvas::new(640, 480);
    c.run(&mut f);
    assert_eq!(c.changed(), Some((576, 0, 640, 192)));
}

#[test]
fn invalid_arguments() {
    let mut f = ImageOverlayFilter::new(&Args::default()).unwrap();
    let img = solid(2, 2, [0, 0, 0, 255]);
    let mut args = Args(vec![
        ("id".into(), Value::String("x".into())),
        ("uri".into(), Value::Image(img)),
        ("offsetXPercent".into(), Value::Float(0.0)),
        ("offsetYPercent".into(), Value::Float(0.0)),
        ("widthPercent".into(), Value::Float(-0.5)),
        ("heightPercent".into(), Value::Float(0.5)),
        ("keepAspectRatio".into(), Value::Bool(true)),
        ("center".into(), Value::Bool(true)),
    ]);
    assert!(matches!(
        f.invoke("addImage", &args, &mut NoEvents),
        Err(FilterError::InvalidArgument(_))
    ));
    args.0[4].1 = Value::Float(f64::NAN);
    assert!(matches!(
        f.invoke("addImage", &args, &mut NoEvents),
        Err(FilterError::InvalidArgument(_))
    ));
    args.0[1].1 = Value::Null;
    args.0[4].1 = Value::Float(0.5);
    assert!(f.invoke("addImage", &args, &mut NoEvents).is_err());
    assert!(f.ids().is_empty());
    assert!(matches!(
        f.invoke("nope", &args, &mut NoEvents),
        Err(FilterError::NoSuchMethod(_))
    ));
}

#[test]
fn interface_and_per_frame_cost() {
    let info = <ImageOverlayFilter as VideoFilter>::info();
    assert_eq!(
        (info.module, info.class, info.element, info.format),
        (
            "filters",
            "ImageOverlayFilter",
            "rheoimageoverlay",
            PixelFormat::Bgr
        )
    );
    let names: Vec<_> = info.methods.iter().map(|m| m.name).collect();
    assert_eq!(names, ["addImage", "removeImage"]);
    let params: Vec<_> = info.methods[0].params.iter().map(|p| p.name).collect();
    assert_eq!(
        params,
        [
            "id",
            "uri",
            "offsetXPercent",
            "offsetYPercent",
            "widthPercent",
            "heightPercent",
            "keepAspectRatio",
            "center"
        ]
    );

    let mut f = ImageOverlayFilter::new(&Args::default()).unwrap();
    add(
        &mut f,
        "logo",
        &real("opencv-logo.png"),
        0.0,
        0.0,
        0.3,
        0.3,
        true,
        true,
    );
    add(
        &mut f,
        "fish",
        &real("HappyFish.jpg"),
        0.6,
        0.0,
        0.4,
        0.4,
        true,
        false,
    );
    add(
        &mut f,
        "b",
        &real("butterfly.jpg"),
        0.3,
        0.5,
        0.5,
        0.5,
        false,
        false,
    );
    let mut c = Canvas::new(640, 480);
    let start = Instant::now();
    c.run(&mut f);
    let first = start.elapsed().as_secs_f64() * 1000.0;
    let start = Instant::now();
    for _ in 0..30 {
        c.run(&mut f);
    }
    let steady = start.elapsed().as_secs_f64() * 1000.0 / 30.0;
    println!(
        "640x480, 3 images (alpha, opaque): first frame (resizes) {first:.2} ms, then \
         {steady:.2} ms per frame"
    );
}

/// Through the SDK element: `instantiate` by the qualified class name, `invoke`, and pixels on
/// an appsink.
#[test]
fn element_in_a_pipeline() {
    gst::init().unwrap();
    let element =
        rheo_filter_sdk::instantiate("kurento.ImageOverlayFilter", &Args::default()).unwrap();
    let args = Args(vec![
        ("id".into(), Value::String("red".into())),
        ("uri".into(), Value::Image(solid(4, 4, [0, 0, 255, 255]))),
        ("offsetXPercent".into(), Value::Float(0.5)),
        ("offsetYPercent".into(), Value::Float(0.5)),
        ("widthPercent".into(), Value::Float(0.5)),
        ("heightPercent".into(), Value::Float(0.5)),
        ("keepAspectRatio".into(), Value::Bool(false)),
        ("center".into(), Value::Bool(false)),
    ]);
    rheo_filter_sdk::invoke(&element, "addImage", &args).unwrap();
    let pipeline = gst::Pipeline::new();
    let src = gst::parse::bin_from_description(
        "videotestsrc num-buffers=3 pattern=black \
         ! capsfilter caps=video/x-raw,format=BGR,width=320,height=240",
        true,
    )
    .unwrap();
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline
        .add_many([src.upcast_ref(), &element, sink.upcast_ref()])
        .unwrap();
    gst::Element::link_many([src.upcast_ref(), &element, sink.upcast_ref()]).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut n = 0;
    while let Ok(sample) = sink.pull_sample() {
        let buf = sample.buffer().unwrap().map_readable().unwrap();
        let px = |x: usize, y: usize| {
            let i = y * 320 * 3 + x * 3;
            [buf[i], buf[i + 1], buf[i + 2]]
        };
        assert_eq!(px(159, 119), [0, 0, 0]);
        assert_eq!(px(160, 120), [0, 0, 255]);
        assert_eq!(px(319, 239), [0, 0, 255]);
        n += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(n, 3);
}

/// A white shape on a transparent black surround, downscaled: its edges blend towards the
/// frame as white at partial coverage (no grey fringe from the transparent pixels' colour).
#[test]
fn downscaled_edges_have_no_dark_fringe() {
    let (w, h) = (9u32, 9u32);
    let mut bgra = Vec::new();
    for _y in 0..h {
        for x in 0..w {
            bgra.extend_from_slice(if x < 3 {
                &[0, 0, 0, 0]
            } else {
                &[255, 255, 255, 255]
            });
        }
    }
    let img = Arc::new(OverlayImage {
        width: w,
        height: h,
        bgra,
    });
    let mut f = ImageOverlayFilter::new(&Args::default()).unwrap();
    add(&mut f, "shape", &img, 0.0, 0.0, 1.0, 1.0, false, false);
    let mut c = Canvas::new(4, 4);
    c.run(&mut f);
    let mut edge = 0;
    for y in 0..4 {
        for x in 0..4 {
            let p = c.px(x, y);
            // White at some coverage a: (p - bg) / (255 - bg) is a on every channel.
            let cover: Vec<f64> = (0..3)
                .map(|k| f64::from(p[k] - BG[k]) / f64::from(255 - BG[k]))
                .collect();
            assert!(
                cover.iter().all(|a| (a - cover[0]).abs() < 0.02),
                "({x}, {y}) {p:?} is not white over {BG:?}: {cover:?}"
            );
            if p != BG && p != [255, 255, 255] {
                edge += 1;
            }
        }
    }
    assert_eq!(c.px(0, 0), BG);
    assert_eq!(c.px(3, 0), [255, 255, 255]);
    assert_eq!(edge, 4, "one column of blended edge pixels");
}
