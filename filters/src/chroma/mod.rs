//! `chroma.ChromaFilter`: Kurento's chroma-key filter (element `rheochroma`).
//!
//! Same interface as Kurento (`ChromaFilter(window, backgroundImage)`, `setBackground(uri)`,
//! `unsetBackground()`), different insides:
//!
//! * **Calibration** over the first [`CALIBRATION_FRAMES`] frames (about two seconds, counted in
//!   frames): hue/saturation/value histograms of the window, summarised with robust statistics
//!   (circular mode and median of the hue, median absolute deviations), so the tolerances do not
//!   depend on the window's size and survive part of the window being something else. Hue
//!   distances are circular: a red key works. The window is clamped into the frame (a window
//!   larger than or outside the frame is moved/shrunk, never an error in the stream) and drawn
//!   while calibrating.
//! * **Keying**: a soft matte from per-channel ramps (`cv::LUT` on the HSV image), cleaned with a
//!   3×3 median and feathered with a small Gaussian; spill suppression (the key colour's channel
//!   limited by the others) in a band along the matte edge; alpha compositing over the
//!   background, scaled to cover the frame (aspect ratio kept, centred crop) and cached per video
//!   size. Without a background the keyed area is a neutral grey.

mod key;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use opencv::core::{self, Mat, Point, Rect, Scalar, Size, Vector, CV_32F, CV_8UC3};
use opencv::imgproc;
use opencv::prelude::*;

use rheo_filter_sdk::image::OverlayImage;
use rheo_filter_sdk::{
    Args, ComplexType, Context, DefaultValue as ParamDefault, FilterError, FilterInfo, Frame,
    Method, Param, PixelFormat, Type, Value, VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

use key::{KeyModel, Samples, Spill, CHROMA_MIN_S, CHROMA_MIN_V};

/// Frames sampled before keying starts (two seconds at 30 fps).
pub const CALIBRATION_FRAMES: u32 = 60;

/// Colour shown where the key is and no background is set (BGR mid grey).
pub const NEUTRAL: [u8; 3] = [128, 128, 128];

/// `chroma.WindowParam`: the calibration window, in pixels.
pub static WINDOW_PARAM: ComplexType = ComplexType {
    module: "chroma",
    name: "WindowParam",
    fields: &[
        Param {
            name: "topRightCornerX",
            ty: Type::Int,
            default: None,
            doc: "X of the window's top-left corner (Kurento's name), in pixels",
        },
        Param {
            name: "topRightCornerY",
            ty: Type::Int,
            default: None,
            doc: "Y of the window's top-left corner (Kurento's name), in pixels",
        },
        Param {
            name: "width",
            ty: Type::Int,
            default: None,
            doc: "Width of the window, in pixels",
        },
        Param {
            name: "height",
            ty: Type::Int,
            default: None,
            doc: "Height of the window, in pixels",
        },
    ],
};

/// The Kurento interface of `chroma.ChromaFilter`.
pub static INFO: FilterInfo = FilterInfo {
    module: "chroma",
    class: "ChromaFilter",
    element: "rheochroma",
    description: "Chroma key: learns the colour shown in a calibration window during the first \
                  two seconds, then replaces it with a background image (soft edges, spill \
                  suppression); without a background the keyed area is neutral grey",
    constructor: &[
        Param {
            name: "window",
            ty: Type::Complex(&WINDOW_PARAM),
            default: None,
            doc: "Window of the frame showing the key colour during calibration",
        },
        Param {
            name: "backgroundImage",
            ty: Type::ImageUri,
            default: Some(ParamDefault::Null),
            doc: "Image shown where the key colour is (file://, path or http(s)://)",
        },
    ],
    methods: &[
        Method {
            name: "setBackground",
            params: &[Param {
                name: "uri",
                ty: Type::ImageUri,
                default: None,
                doc: "Image shown where the key colour is (file://, path or http(s)://)",
            }],
            returns: None,
            doc: "Sets (replaces) the background image",
        },
        Method {
            name: "unsetBackground",
            params: &[],
            returns: None,
            doc: "Removes the background image: the keyed area becomes neutral grey",
        },
    ],
    properties: &[],
    events: &[],
    format: PixelFormat::Bgr,
    data: DataUse::None,
    parent: Parent::Filter,
};

/// The calibration window as the client gave it (position clamped to ≥ 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Left, in pixels.
    pub x: i64,
    /// Top, in pixels.
    pub y: i64,
    /// Width, in pixels (> 0).
    pub width: i64,
    /// Height, in pixels (> 0).
    pub height: i64,
}

impl Window {
    /// Parses a `chroma.WindowParam` struct.
    pub fn from_value(v: &Value) -> Result<Window, FilterError> {
        let field = |name: &str| {
            v.field(name).as_int().ok_or_else(|| {
                FilterError::InvalidArgument(format!("WindowParam.{name} should be an integer"))
            })
        };
        let w = Window {
            x: field("topRightCornerX")?.max(0),
            y: field("topRightCornerY")?.max(0),
            width: field("width")?,
            height: field("height")?,
        };
        if w.width <= 0 || w.height <= 0 {
            return Err(FilterError::InvalidArgument(format!(
                "WindowParam size {}x{} should be positive",
                w.width, w.height
            )));
        }
        Ok(w)
    }

    /// The window inside a `fw`×`fh` frame: shrunk to the frame, then moved into it.
    pub fn clamp(&self, fw: i32, fh: i32) -> Rect {
        let w = self.width.clamp(1, i64::from(fw.max(1))) as i32;
        let h = self.height.clamp(1, i64::from(fh.max(1))) as i32;
        let x = self.x.clamp(0, i64::from(fw - w).max(0)) as i32;
        let y = self.y.clamp(0, i64::from(fh - h).max(0)) as i32;
        Rect::new(x, y, w, h)
    }
}

/// Reused per-frame buffers (OpenCV reallocates them only when the size changes).
#[derive(Default)]
struct Scratch {
    hsv: Mat,
    factors: Mat,
    planes: Vector<Mat>,
    alpha_hs: Mat,
    alpha: Mat,
    alpha_clean: Mat,
    alpha_soft: Mat,
    keyness: Mat,
    band: Mat,
    weight: Mat,
    limit: Mat,
    excess: Mat,
    excess_w: Mat,
    bgr: Vector<Mat>,
    fg: Mat,
    w_fg: Mat,
    w_bg: Mat,
    out: Mat,
}

/// The chroma-key filter.
pub struct ChromaFilter {
    window: Window,
    /// The background image as loaded (straight BGRA).
    background: Option<Arc<OverlayImage>>,
    /// The background (or the neutral colour) at each video size met, oldest first.
    cache: Vec<(Size, Mat)>,
    frames: u32,
    samples: Samples,
    model: Option<(KeyModel, Mat)>,
    scratch: Scratch,
}

impl std::fmt::Debug for ChromaFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromaFilter")
            .field("window", &self.window)
            .field("background", &self.background.is_some())
            .field("frames", &self.frames)
            .field("model", &self.model.as_ref().map(|m| &m.0))
            .finish()
    }
}

/// At most this many cached background sizes (WebRTC adapts the resolution in steps).
const CACHE_SIZES: usize = 4;

fn neutral() -> Scalar {
    Scalar::new(
        f64::from(NEUTRAL[0]),
        f64::from(NEUTRAL[1]),
        f64::from(NEUTRAL[2]),
        0.0,
    )
}

/// A BGRA image as BGR, its transparency composited over [`NEUTRAL`].
fn flatten(bgra: &Mat) -> opencv::Result<Mat> {
    let mut bgr = Mat::default();
    imgproc::cvt_color(bgra, &mut bgr, imgproc::COLOR_BGRA2BGR, 0)?;
    let mut alpha = Mat::default();
    core::extract_channel(bgra, &mut alpha, 3)?;
    let mut min_alpha = 0.0;
    core::min_max_loc(
        &alpha,
        Some(&mut min_alpha),
        None,
        None,
        None,
        &core::no_array(),
    )?;
    if min_alpha >= 255.0 {
        return Ok(bgr);
    }
    let grey = Mat::new_rows_cols_with_default(bgra.rows(), bgra.cols(), CV_8UC3, neutral())?;
    let (mut wa, mut wb, mut out) = (Mat::default(), Mat::default(), Mat::default());
    alpha.convert_to(&mut wa, CV_32F, 1.0 / 255.0, 0.0)?;
    alpha.convert_to(&mut wb, CV_32F, -1.0 / 255.0, 1.0)?;
    imgproc::blend_linear(&bgr, &grey, &wa, &wb, &mut out)?;
    Ok(out)
}

/// The background image at `size`: scaled to cover it (aspect ratio kept, centre cropped),
/// transparency over [`NEUTRAL`].
fn fit_background(img: &OverlayImage, size: Size) -> opencv::Result<Mat> {
    let (w, h) = (img.width as i32, img.height as i32);
    let bytes = Mat::new_rows_cols_with_data(h, w * 4, &img.bgra[..(w * h * 4) as usize])?;
    let bgra = bytes.reshape(4, h)?;
    flatten(&cover(&bgra, size)?)
}

/// Scales `src` to cover `size` (aspect ratio kept) and crops the centre.
fn cover(src: &(impl MatTraitConst + core::ToInputArray), size: Size) -> opencv::Result<Mat> {
    let (iw, ih) = (src.cols(), src.rows());
    if iw == size.width && ih == size.height {
        return src.try_clone();
    }
    let scale = (f64::from(size.width) / f64::from(iw)).max(f64::from(size.height) / f64::from(ih));
    let sw = ((f64::from(iw) * scale).round() as i32).max(size.width);
    let sh = ((f64::from(ih) * scale).round() as i32).max(size.height);
    let interp = if scale < 1.0 {
        imgproc::INTER_AREA
    } else {
        imgproc::INTER_LINEAR
    };
    let mut scaled = Mat::default();
    imgproc::resize(src, &mut scaled, Size::new(sw, sh), 0.0, 0.0, interp)?;
    let crop = Rect::new(
        (sw - size.width) / 2,
        (sh - size.height) / 2,
        size.width,
        size.height,
    );
    Mat::roi(&scaled, crop)?.try_clone()
}

fn odd(n: i32) -> i32 {
    n.max(1) | 1
}

impl ChromaFilter {
    fn set_background(&mut self, img: Option<&Arc<OverlayImage>>) -> Result<(), FilterError> {
        if let Some(i) = img {
            if i.width == 0
                || i.height == 0
                || i.width > i32::MAX as u32 / 4
                || i.bgra.len() < i.width as usize * i.height as usize * 4
            {
                return Err(FilterError::InvalidArgument(format!(
                    "background image {}x{} is empty or truncated",
                    i.width, i.height
                )));
            }
        }
        // Scaled (and flattened) lazily, per video size, by the streaming thread.
        self.background = img.cloned();
        self.cache.clear();
        Ok(())
    }

    /// The background (or neutral colour) at `size`, resized once per size.
    fn background_at(&mut self, size: Size) -> opencv::Result<usize> {
        if let Some(i) = self.cache.iter().position(|(s, _)| *s == size) {
            return Ok(i);
        }
        let mat = match &self.background {
            Some(img) => fit_background(img, size)?,
            None => Mat::new_rows_cols_with_default(size.height, size.width, CV_8UC3, neutral())?,
        };
        if self.cache.len() >= CACHE_SIZES {
            self.cache.remove(0);
        }
        self.cache.push((size, mat));
        Ok(self.cache.len() - 1)
    }

    /// Whether calibration is over.
    pub fn calibrated(&self) -> bool {
        self.model.is_some()
    }

    /// Adds the window of one frame to the calibration samples; builds the key after the last
    /// calibration frame.
    fn calibrate(&mut self, frame: &impl MatTraitConst, rect: Rect) -> opencv::Result<()> {
        let roi = Mat::roi(frame, rect)?;
        let mut hsv = Mat::default();
        imgproc::cvt_color(&roi, &mut hsv, imgproc::COLOR_BGR2HSV_FULL, 0)?;
        let mut chromatic = Mat::default();
        core::in_range(
            &hsv,
            &Scalar::new(0.0, f64::from(CHROMA_MIN_S), f64::from(CHROMA_MIN_V), 0.0),
            &Scalar::new(255.0, 255.0, 255.0, 0.0),
            &mut chromatic,
        )?;
        let images = Vector::<Mat>::from_iter([hsv]);
        let (sizes, ranges) = (
            Vector::from_slice(&[256]),
            Vector::from_slice(&[0f32, 256.0]),
        );
        let targets: [(i32, &mut [u64; 256], bool); 3] = [
            (0, &mut self.samples.hue, true),
            (1, &mut self.samples.sat, false),
            (2, &mut self.samples.val, false),
        ];
        for (channel, acc, masked) in targets {
            let mut hist = Mat::default();
            let mask = if masked {
                chromatic.try_clone()?
            } else {
                Mat::default()
            };
            imgproc::calc_hist(
                &images,
                &Vector::from_slice(&[channel]),
                &mask,
                &mut hist,
                &sizes,
                &ranges,
                false,
            )?;
            for (slot, &count) in acc.iter_mut().zip(hist.data_typed::<f32>()?) {
                *slot += count.max(0.0) as u64;
            }
        }
        self.frames += 1;
        if self.frames >= CALIBRATION_FRAMES {
            let model = KeyModel::from_samples(&self.samples);
            tracing::info!(?model, "chroma key calibrated");
            let lut = model.lut()?;
            self.model = Some((model, lut));
        }
        Ok(())
    }

    /// Keys one calibrated frame in place.
    fn key<F>(&mut self, frame: &mut F) -> opencv::Result<()>
    where
        F: MatTrait + core::ToInputArray + core::ToOutputArray,
    {
        let size = Size::new(frame.cols(), frame.rows());
        let bg = self.background_at(size)?;
        let Some((model, lut)) = &self.model else {
            return Ok(());
        };
        let s = &mut self.scratch;
        let no_mask = core::no_array();

        // Matte: per-channel foreground-ness, the strongest wins (a pixel is key only if its
        // hue, saturation and value all are).
        imgproc::cvt_color(&*frame, &mut s.hsv, imgproc::COLOR_BGR2HSV_FULL, 0)?;
        core::lut(&s.hsv, lut, &mut s.factors)?;
        core::split(&s.factors, &mut s.planes)?;
        core::max(&s.planes.get(0)?, &s.planes.get(1)?, &mut s.alpha_hs)?;
        core::max(&s.alpha_hs, &s.planes.get(2)?, &mut s.alpha)?;
        imgproc::median_blur(&s.alpha, &mut s.alpha_clean, 3)?;
        let feather = odd(size.width.min(size.height) / 100);
        imgproc::gaussian_blur(
            &s.alpha_clean,
            &mut s.alpha_soft,
            Size::new(feather.max(3), feather.max(3)),
            0.0,
            0.0,
            core::BORDER_REPLICATE,
        )?;

        // Spill: near the key (a band of about 1/60 of the frame), limit the key colour's
        // channel(s) by the others.
        let despill = model.spill != Spill::None;
        if despill {
            core::bitwise_not(&s.alpha_clean, &mut s.keyness, &no_mask)?;
            let band = odd(size.width.min(size.height) / 30);
            imgproc::box_filter(
                &s.keyness,
                &mut s.band,
                -1,
                Size::new(band, band),
                Point::new(-1, -1),
                true,
                core::BORDER_REPLICATE,
            )?;
            core::convert_scale_abs(&s.band, &mut s.weight, 6.0, 0.0)?;
            core::split(&*frame, &mut s.bgr)?;
            let limited: &[usize] = match model.spill {
                Spill::Primary(d) => {
                    // The key channel over the mean of the other two.
                    core::add_weighted(
                        &s.bgr.get((d + 1) % 3)?,
                        0.5,
                        &s.bgr.get((d + 2) % 3)?,
                        0.5,
                        0.0,
                        &mut s.limit,
                        -1,
                    )?;
                    core::subtract(&s.bgr.get(d)?, &s.limit, &mut s.excess, &no_mask, -1)?;
                    &[d][..]
                }
                Spill::Secondary(a, b, o) => {
                    // The weaker of the two key channels over the third, taken from both.
                    core::min(&s.bgr.get(a)?, &s.bgr.get(b)?, &mut s.limit)?;
                    core::subtract(&s.limit, &s.bgr.get(o)?, &mut s.excess, &no_mask, -1)?;
                    &[a, b][..]
                }
                Spill::None => &[][..],
            };
            core::multiply(&s.excess, &s.weight, &mut s.excess_w, 1.0 / 255.0, -1)?;
            for &c in limited {
                let mut corrected = Mat::default();
                core::subtract(&s.bgr.get(c)?, &s.excess_w, &mut corrected, &no_mask, -1)?;
                s.bgr.set(c, corrected)?;
            }
            core::merge(&s.bgr, &mut s.fg)?;
        }

        s.alpha_soft
            .convert_to(&mut s.w_fg, CV_32F, 1.0 / 255.0, 0.0)?;
        s.alpha_soft
            .convert_to(&mut s.w_bg, CV_32F, -1.0 / 255.0, 1.0)?;
        let background = &self.cache[bg].1;
        if despill {
            imgproc::blend_linear(&s.fg, background, &s.w_fg, &s.w_bg, &mut s.out)?;
        } else {
            imgproc::blend_linear(&*frame, background, &s.w_fg, &s.w_bg, &mut s.out)?;
        }
        s.out.copy_to(frame)
    }
}

impl VideoFilter for ChromaFilter {
    fn info() -> &'static FilterInfo {
        &INFO
    }

    fn new(args: &Args) -> Result<Self, FilterError> {
        let mut f = ChromaFilter {
            window: Window::from_value(args.get("window"))?,
            background: None,
            cache: Vec::new(),
            frames: 0,
            samples: Samples::default(),
            model: None,
            scratch: Scratch::default(),
        };
        match args.get("backgroundImage") {
            Value::Null => {}
            Value::Image(img) => f.set_background(Some(img))?,
            _ => {
                return Err(FilterError::InvalidArgument(
                    "'backgroundImage' should be an image".into(),
                ))
            }
        }
        Ok(f)
    }

    fn process(
        &mut self,
        frame: &mut Frame<'_>,
        _ctx: &mut dyn Context,
    ) -> Result<(), FilterError> {
        if frame.width == 0 || frame.height == 0 {
            return Ok(());
        }
        let mut mat = frame.bgr_mat()?;
        if self.model.is_some() {
            self.key(&mut mat)?;
            return Ok(());
        }
        let rect = self.window.clamp(mat.cols(), mat.rows());
        self.calibrate(&mat, rect)?;
        // Show the window: a white frame just outside it, inside a black one (visible on any
        // key colour; clipped at the frame's borders).
        for (grow, colour) in [(2, 0.0), (1, 255.0)] {
            let r = Rect::new(
                rect.x - grow,
                rect.y - grow,
                rect.width + 2 * grow,
                rect.height + 2 * grow,
            );
            imgproc::rectangle(&mut mat, r, Scalar::all(colour), 1, imgproc::LINE_8, 0)?;
        }
        Ok(())
    }

    fn invoke(
        &mut self,
        method: &str,
        args: &Args,
        _ctx: &mut dyn Context,
    ) -> Result<Value, FilterError> {
        match method {
            "setBackground" => {
                let img = args.image("uri")?;
                self.set_background(Some(&img))?;
            }
            "unsetBackground" => self.set_background(None)?,
            _ => return Err(FilterError::NoSuchMethod(method.to_owned())),
        }
        Ok(Value::Null)
    }
}
