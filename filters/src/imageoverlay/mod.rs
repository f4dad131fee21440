//! `kurento.ImageOverlayFilter`: images laid over the video (element `rheoimageoverlay`).
//!
//! Same interface as Kurento (`addImage(id, uri, offsetXPercent, offsetYPercent, widthPercent,
//! heightPercent, keepAspectRatio, center)`, `removeImage(id)`), different insides:
//!
//! * Offsets and sizes are fractions (0..1) of the **current** frame size: pixel sizes are
//!   recomputed when the resolution changes, and each image keeps its resized pixels per frame
//!   size (a small cache), so switching back and forth costs no resize.
//! * `keepAspectRatio` fits the image **inside** the box keeping its aspect ratio (Kurento's
//!   math is inverted); `center` centres the fitted image in the box (without
//!   `keepAspectRatio` the image fills the box, so there is nothing to centre).
//! * Drawing order is insertion order; `addImage` with an existing id replaces that image in
//!   place (same z position). Images are loaded by the SDK before `addImage` runs (never on the
//!   streaming thread), so adding or removing one costs no download or decode of the others.
//! * Straight-alpha blending (`out = (src·a + dst·(255 − a)) / 255`, rounded), clipped to the
//!   frame; boxes may lie partly outside it.

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use opencv::core::{Mat, Size, CV_8UC4};
use opencv::imgproc;
use opencv::prelude::*;

use rheo_filter_sdk::{
    Args, Context, FilterError, FilterInfo, Frame, Image, Method, Param, PixelFormat, Type, Value,
    VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

/// Frame sizes whose resized pixels each image keeps.
const CACHED_SIZES: usize = 4;

const ID: Param = Param {
    name: "id",
    ty: Type::String,
    default: None,
    doc: "Identifier of the image (adding an existing id replaces it in place)",
};

/// The Kurento interface of `kurento.ImageOverlayFilter`.
pub static INFO: FilterInfo = FilterInfo {
    module: "filters",
    class: "ImageOverlayFilter",
    element: "rheoimageoverlay",
    description: "Draws images over the video, placed and sized in fractions of the frame \
                  (alpha blended, in insertion order; follows resolution changes)",
    constructor: &[],
    methods: &[
        Method {
            name: "addImage",
            params: &[
                ID,
                Param {
                    name: "uri",
                    ty: Type::ImageUri,
                    default: None,
                    doc: "The image (file://, path or http(s)://)",
                },
                Param {
                    name: "offsetXPercent",
                    ty: Type::Float,
                    default: None,
                    doc: "Left edge of the box, as a fraction (0..1) of the frame width",
                },
                Param {
                    name: "offsetYPercent",
                    ty: Type::Float,
                    default: None,
                    doc: "Top edge of the box, as a fraction (0..1) of the frame height",
                },
                Param {
                    name: "widthPercent",
                    ty: Type::Float,
                    default: None,
                    doc: "Width of the box, as a fraction (0..1) of the frame width",
                },
                Param {
                    name: "heightPercent",
                    ty: Type::Float,
                    default: None,
                    doc: "Height of the box, as a fraction (0..1) of the frame height",
                },
                Param {
                    name: "keepAspectRatio",
                    ty: Type::Bool,
                    default: None,
                    doc: "Fit the image inside the box keeping its aspect ratio (else stretch)",
                },
                Param {
                    name: "center",
                    ty: Type::Bool,
                    default: None,
                    doc: "Centre the fitted image in its box (else top-left)",
                },
            ],
            returns: None,
            doc: "Adds an image on top of the others, or replaces the image of that id in place",
        },
        Method {
            name: "removeImage",
            params: &[ID],
            returns: None,
            doc: "Removes the image of that id (no effect if there is none)",
        },
    ],
    properties: &[],
    events: &[],
    format: PixelFormat::Bgr,
    data: DataUse::None,
    parent: Parent::Filter,
};

/// An image resized and placed for one frame size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placed {
    /// Top-left corner in frame pixels (may be outside the frame).
    pub x: i64,
    pub y: i64,
    pub width: u32,
    pub height: u32,
    /// `width * height * 4` straight-alpha BGRA bytes.
    pub bgra: Vec<u8>,
}

/// Where an image of `iw`×`ih` goes in a frame of `fw`×`fh`: (x, y, width, height), or `None`
/// when the box is empty.
pub(crate) fn layout(
    spec: &Spec,
    iw: u32,
    ih: u32,
    fw: u32,
    fh: u32,
) -> Option<(i64, i64, u32, u32)> {
    let (fw, fh) = (f64::from(fw), f64::from(fh));
    let bw = (fw * spec.width).round();
    let bh = (fh * spec.height).round();
    if bw < 1.0 || bh < 1.0 || iw == 0 || ih == 0 {
        return None;
    }
    let mut x = (fw * spec.x).floor();
    let mut y = (fh * spec.y).floor();
    let (w, h) = if spec.keep_aspect {
        let scale = (bw / f64::from(iw)).min(bh / f64::from(ih));
        let w = (f64::from(iw) * scale).round().clamp(1.0, bw);
        let h = (f64::from(ih) * scale).round().clamp(1.0, bh);
        if spec.center {
            x += ((bw - w) / 2.0).floor();
            y += ((bh - h) / 2.0).floor();
        }
        (w, h)
    } else {
        (bw, bh)
    };
    // Bounded: a box far larger than any frame would be pointless to rasterise.
    let limit = 16.0 * fw.max(fh).max(1.0);
    if w > limit || h > limit {
        return None;
    }
    Some((x as i64, y as i64, w as u32, h as u32))
}

/// An `addImage` call's geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spec {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub keep_aspect: bool,
    pub center: bool,
}

struct Overlay {
    id: String,
    image: Image,
    spec: Spec,
    /// Frame size → placement (`None`: nothing to draw at that size).
    cache: HashMap<(u32, u32), Option<Placed>>,
}

impl Overlay {
    fn placed(&mut self, fw: u32, fh: u32) -> Result<Option<&Placed>, FilterError> {
        if !self.cache.contains_key(&(fw, fh)) {
            if self.cache.len() >= CACHED_SIZES {
                self.cache.clear();
            }
            let p = place(&self.image, &self.spec, fw, fh)?;
            self.cache.insert((fw, fh), p);
        }
        Ok(self.cache.get(&(fw, fh)).and_then(|p| p.as_ref()))
    }
}

fn place(img: &Image, spec: &Spec, fw: u32, fh: u32) -> Result<Option<Placed>, FilterError> {
    let Some((x, y, w, h)) = layout(spec, img.width, img.height, fw, fh) else {
        return Ok(None);
    };
    let bgra = if (w, h) == (img.width, img.height) {
        img.bgra.clone()
    } else {
        if img.bgra.len() != img.width as usize * img.height as usize * 4 {
            return Err(FilterError::Failed("corrupt overlay image".into()));
        }
        // Resample premultiplied colours, so that the colour of transparent pixels (often
        // black) does not bleed into the edges of what is visible; opaque images skip it.
        let translucent = img.bgra.chunks_exact(4).any(|p| p[3] != 255);
        let mut pixels = img.bgra.clone();
        if translucent {
            premultiply(&mut pixels);
        }
        // SAFETY: the Mat views `pixels` (width*height*4 bytes, checked above), which outlives
        // it, and is only read.
        let src = unsafe {
            Mat::new_rows_cols_with_data_unsafe(
                img.height as i32,
                img.width as i32,
                CV_8UC4,
                pixels.as_mut_ptr().cast(),
                img.width as usize * 4,
            )?
        };
        let shrinking = w < img.width || h < img.height;
        let mut dst = Mat::default();
        imgproc::resize(
            &src,
            &mut dst,
            Size::new(w as i32, h as i32),
            0.0,
            0.0,
            if shrinking {
                imgproc::INTER_AREA
            } else {
                imgproc::INTER_LINEAR
            },
        )?;
        drop(src);
        let dst = if dst.is_continuous() {
            dst
        } else {
            dst.try_clone()?
        };
        let mut out = dst.data_bytes()?.to_vec();
        if translucent {
            unpremultiply(&mut out);
        }
        out
    };
    Ok(Some(Placed {
        x,
        y,
        width: w,
        height: h,
        bgra,
    }))
}

/// Straight → premultiplied alpha, in place (rounded).
fn premultiply(bgra: &mut [u8]) {
    for p in bgra.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        for c in &mut p[..3] {
            *c = ((u32::from(*c) * a + 127) / 255) as u8;
        }
    }
}

/// Premultiplied → straight alpha, in place (rounded; fully transparent pixels become black).
fn unpremultiply(bgra: &mut [u8]) {
    for p in bgra.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        if a == 0 {
            p[..3].fill(0);
        } else if a < 255 {
            for c in &mut p[..3] {
                *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
}

/// Blends `p` over a BGR frame (`stride` bytes per row), clipped to the frame.
pub(crate) fn blend(p: &Placed, data: &mut [u8], stride: usize, fw: u32, fh: u32) {
    let x0 = p.x.max(0);
    let y0 = p.y.max(0);
    let x1 = (p.x + i64::from(p.width)).min(i64::from(fw));
    let y1 = (p.y + i64::from(p.height)).min(i64::from(fh));
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let cols = (x1 - x0) as usize;
    for fy in y0..y1 {
        let sy = (fy - p.y) as usize;
        let sx = (x0 - p.x) as usize;
        let src = &p.bgra[(sy * p.width as usize + sx) * 4..][..cols * 4];
        let dst = &mut data[fy as usize * stride + x0 as usize * 3..][..cols * 3];
        for (s, d) in src.chunks_exact(4).zip(dst.chunks_exact_mut(3)) {
            match s[3] {
                0 => {}
                255 => d.copy_from_slice(&s[..3]),
                a => {
                    let a = u32::from(a);
                    for c in 0..3 {
                        let v = u32::from(s[c]) * a + u32::from(d[c]) * (255 - a);
                        d[c] = ((v + 127) / 255) as u8;
                    }
                }
            }
        }
    }
}

/// The filter.
#[derive(Default)]
pub struct ImageOverlayFilter {
    /// In drawing order (bottom first).
    overlays: Vec<Overlay>,
}

impl ImageOverlayFilter {
    /// Ids of the images, in drawing order.
    pub fn ids(&self) -> Vec<&str> {
        self.overlays.iter().map(|o| o.id.as_str()).collect()
    }
}

fn fraction(args: &Args, name: &str) -> Result<f64, FilterError> {
    let v = args.float(name)?;
    if !v.is_finite() {
        return Err(FilterError::InvalidArgument(format!(
            "'{name}' parameter should be a finite number"
        )));
    }
    Ok(v)
}

impl VideoFilter for ImageOverlayFilter {
    fn info() -> &'static FilterInfo {
        &INFO
    }

    fn new(_args: &Args) -> Result<Self, FilterError> {
        Ok(ImageOverlayFilter::default())
    }

    fn process(
        &mut self,
        frame: &mut Frame<'_>,
        _ctx: &mut dyn Context,
    ) -> Result<(), FilterError> {
        if self.overlays.is_empty() {
            return Ok(());
        }
        let (fw, fh) = (frame.width, frame.height);
        let Some((data, stride)) = frame.planes.first_mut() else {
            return Err(FilterError::Failed("frame without data".into()));
        };
        let stride = *stride;
        if fw == 0 || fh == 0 {
            return Ok(());
        }
        if stride < fw as usize * 3 || data.len() < stride * (fh as usize - 1) + fw as usize * 3 {
            return Err(FilterError::Failed(format!(
                "BGR frame of {} bytes, stride {stride}, too small for {fw}x{fh}",
                data.len()
            )));
        }
        for o in &mut self.overlays {
            if let Some(p) = o.placed(fw, fh)? {
                blend(p, data, stride, fw, fh);
            }
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
            "addImage" => {
                let id = args.str("id")?.to_owned();
                let image = args.image("uri")?;
                let spec = Spec {
                    x: fraction(args, "offsetXPercent")?,
                    y: fraction(args, "offsetYPercent")?,
                    width: fraction(args, "widthPercent")?,
                    height: fraction(args, "heightPercent")?,
                    keep_aspect: args.bool("keepAspectRatio")?,
                    center: args.bool("center")?,
                };
                for (n, v) in [("widthPercent", spec.width), ("heightPercent", spec.height)] {
                    if v < 0.0 {
                        return Err(FilterError::InvalidArgument(format!(
                            "'{n}' parameter should not be negative"
                        )));
                    }
                }
                let overlay = Overlay {
                    id,
                    image,
                    spec,
                    cache: HashMap::new(),
                };
                match self.overlays.iter_mut().find(|o| o.id == overlay.id) {
                    Some(slot) => *slot = overlay,
                    None => self.overlays.push(overlay),
                }
                Ok(Value::Null)
            }
            "removeImage" => {
                let id = args.str("id")?;
                self.overlays.retain(|o| o.id != id);
                Ok(Value::Null)
            }
            m => Err(FilterError::NoSuchMethod(m.into())),
        }
    }
}
