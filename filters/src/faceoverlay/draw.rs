//! Pure pixel code for the face overlay: geometry, grey downscaling and I420 alpha blending.
//!
//! Nothing here touches GStreamer; the element feeds plain slices so this is unit-testable.

use rheo_filter_sdk::image::OverlayImage;

use super::OverlayGeometry;

/// A detected face in full-frame pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceBox {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// The head's roll in degrees, clockwise on screen: the angle of the line from the
    /// person's right eye to their left eye (0 when the detector does not tell).
    pub roll: f32,
}

/// The overlay rectangle `(x, y, w, h)` for `face` (may extend beyond the frame).
///
/// Same formula as Kurento's `kmsimageoverlay`: `x' = x + w·offsetX`, `y' = y + h·offsetY`,
/// `w' = w·width`, `h' = h·height` (products truncated toward zero). `None` when `w'` or `h'`
/// is not positive.
pub fn overlay_rect(face: &FaceBox, g: &OverlayGeometry) -> Option<(i32, i32, i32, i32)> {
    let (fw, fh) = (face.width as f64, face.height as f64);
    // The ratios are f32 (e.g. -0.35 is stored as -0.3499999940…); snapping the product to
    // 1e-4 before truncating keeps 80 × -0.35 at exactly -28 instead of -27.99999 → -27.
    let scaled = |size: f64, ratio: f32| ((size * ratio as f64 * 1e4).round() / 1e4) as i64;
    let w = scaled(fw, g.width);
    let h = scaled(fh, g.height);
    if w <= 0 || h <= 0 {
        return None;
    }
    let x = face.x as i64 + scaled(fw, g.offset_x);
    let y = face.y as i64 + scaled(fh, g.offset_y);
    let clamp = |v: i64| v.clamp(i32::MIN as i64 / 2, i32::MAX as i64 / 2) as i32;
    Some((clamp(x), clamp(y), clamp(w), clamp(h)))
}

/// Where the overlay for a tilted face goes: the image is sized as for an upright face, turned
/// by the face's roll about its own centre, and that centre turned about the face's centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TiltedRect {
    /// Size of the image before turning (as [`overlay_rect`] gives it).
    pub upright: (usize, usize),
    /// The roll, in whole degrees (clockwise on screen).
    pub degrees: i32,
    /// Top-left corner of the turned image's bounding box, in frame pixels.
    pub x: i64,
    /// Top edge of the bounding box.
    pub y: i64,
    /// Size of the bounding box.
    pub width: usize,
    /// Height of the bounding box.
    pub height: usize,
}

/// The overlay's place for `face`, following its roll (in whole degrees: a finer angle is not
/// visible, and the turned image is reused while it holds).
pub fn tilted_overlay_rect(face: &FaceBox, g: &OverlayGeometry) -> Option<TiltedRect> {
    let (x, y, w, h) = overlay_rect(face, g)?;
    let degrees = face.roll.round() as i32;
    if degrees == 0 {
        return Some(TiltedRect {
            upright: (w as usize, h as usize),
            degrees,
            x: x as i64,
            y: y as i64,
            width: w as usize,
            height: h as usize,
        });
    }
    let (sin, cos) = (degrees as f64).to_radians().sin_cos();
    let (w, h) = (w as f64, h as f64);
    let face_centre = (
        face.x as f64 + face.width as f64 / 2.0,
        face.y as f64 + face.height as f64 / 2.0,
    );
    let (dx, dy) = (
        x as f64 + w / 2.0 - face_centre.0,
        y as f64 + h / 2.0 - face_centre.1,
    );
    let centre = (
        face_centre.0 + dx * cos - dy * sin,
        face_centre.1 + dx * sin + dy * cos,
    );
    // Rounding error (cos 90° is 6e-17, not 0) must not add a pixel.
    let bw = (w * cos.abs() + h * sin.abs() - 1e-9).ceil();
    let bh = (w * sin.abs() + h * cos.abs() - 1e-9).ceil();
    Some(TiltedRect {
        upright: (w as usize, h as usize),
        degrees,
        x: (centre.0 - bw / 2.0).round() as i64,
        y: (centre.1 - bh / 2.0).round() as i64,
        width: bw as usize,
        height: bh as usize,
    })
}

/// Size of the grey image used for detection: `max_width` wide when the frame is wider,
/// aspect kept; otherwise the frame size.
pub fn detection_size(width: u32, height: u32, max_width: u32) -> (u32, u32) {
    if width <= max_width || width == 0 {
        (width, height)
    } else {
        let h = ((height as u64 * max_width as u64 + width as u64 / 2) / width as u64).max(1);
        (max_width, h as u32)
    }
}

/// Downscales an 8-bit grey plane (`stride` bytes per row) into `out` (`dw`×`dh`, packed).
///
/// Each output pixel averages the 2×2 source pixels nearest its centre: an exact box filter
/// for a 2:1 reduction, bilinear-like sampling otherwise. Cheap enough for a streaming thread.
pub fn downscale_gray(
    src: &[u8],
    stride: usize,
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.resize(dw * dh, 0);
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return;
    }
    if sw == dw && sh == dh {
        for (row, dst) in out.chunks_exact_mut(dw).enumerate() {
            dst.copy_from_slice(&src[row * stride..row * stride + sw]);
        }
        return;
    }
    let pick = |i: usize, s: usize, d: usize| -> (usize, usize) {
        // Centre of destination pixel i in source coordinates, minus half a pixel.
        let c = ((2 * i + 1) * s) as f64 / (2 * d) as f64 - 0.5;
        let a = (c.floor().max(0.0) as usize).min(s - 1);
        (a, (a + 1).min(s - 1))
    };
    let xs: Vec<(usize, usize)> = (0..dw).map(|i| pick(i, sw, dw)).collect();
    for (j, dst) in out.chunks_exact_mut(dw).enumerate() {
        let (r0, r1) = pick(j, sh, dh);
        let row0 = &src[r0 * stride..r0 * stride + sw];
        let row1 = &src[r1 * stride..r1 * stride + sw];
        for (d, &(a, b)) in dst.iter_mut().zip(xs.iter()) {
            let sum = row0[a] as u32 + row0[b] as u32 + row1[a] as u32 + row1[b] as u32;
            *d = ((sum + 2) / 4) as u8;
        }
    }
}

/// An overlay image with premultiplied colour, prepared once per `set_overlay`.
#[derive(Debug)]
pub struct PremultipliedImage {
    /// Unique id, used as a cache key.
    pub id: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// BGRA with B, G, R multiplied by A/255.
    pub bgra: Vec<u8>,
}

impl PremultipliedImage {
    /// Premultiplies `img` (straight alpha) so that resizing does not bleed the colour of
    /// transparent pixels into the edges.
    pub fn new(img: &OverlayImage, id: u64) -> Self {
        let mut bgra = img.bgra.clone();
        for px in bgra.chunks_exact_mut(4) {
            let a = px[3] as u32;
            if a != 255 {
                for c in &mut px[..3] {
                    *c = ((*c as u32 * a + 127) / 255) as u8;
                }
            }
        }
        PremultipliedImage {
            id,
            width: img.width,
            height: img.height,
            bgra,
        }
    }
}

impl PremultipliedImage {
    /// The image resized to `rect.upright` and turned by `rect.degrees` into its bounding box
    /// (`rect.width`×`rect.height`, transparent around it).
    pub fn turned(&self, rect: &TiltedRect) -> opencv::Result<PremultipliedImage> {
        use opencv::core::{Mat, Point2f, Scalar, Size, BORDER_CONSTANT};
        use opencv::prelude::*;
        let flat = Mat::from_slice(&self.bgra)?;
        let src = flat.reshape(4, self.height as i32)?;
        let (uw, uh) = (rect.upright.0 as i32, rect.upright.1 as i32);
        let mut upright = Mat::default();
        opencv::imgproc::resize(
            &src,
            &mut upright,
            Size::new(uw, uh),
            0.0,
            0.0,
            opencv::imgproc::INTER_LINEAR,
        )?;
        // OpenCV turns counter-clockwise for positive angles; the roll is clockwise.
        let centre = Point2f::new(uw as f32 / 2.0, uh as f32 / 2.0);
        let mut m = opencv::imgproc::get_rotation_matrix_2d(centre, -rect.degrees as f64, 1.0)?;
        *m.at_2d_mut::<f64>(0, 2)? += (rect.width as f64 - uw as f64) / 2.0;
        *m.at_2d_mut::<f64>(1, 2)? += (rect.height as f64 - uh as f64) / 2.0;
        let mut turned = Mat::default();
        // Premultiplied, so the transparent border blends in without a dark fringe.
        opencv::imgproc::warp_affine(
            &upright,
            &mut turned,
            &m,
            Size::new(rect.width as i32, rect.height as i32),
            opencv::imgproc::INTER_LINEAR,
            BORDER_CONSTANT,
            Scalar::all(0.0),
        )?;
        let turned = if turned.is_continuous() {
            turned
        } else {
            turned.try_clone()?
        };
        Ok(PremultipliedImage {
            id: self.id,
            width: rect.width as u32,
            height: rect.height as u32,
            bgra: turned.data_bytes()?.to_vec(),
        })
    }
}

/// Y'CbCr conversion coefficients (BT.601, BT.709…, limited or full range).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct YuvCoeffs {
    kr: f32,
    kb: f32,
    full_range: bool,
}

impl YuvCoeffs {
    /// BT.601 limited range (what `videoconvert` uses for SD I420).
    pub const BT601: YuvCoeffs = YuvCoeffs {
        kr: 0.299,
        kb: 0.114,
        full_range: false,
    };

    /// Coefficients for a GStreamer colour matrix and range.
    pub fn from_colorimetry(
        matrix: gst_video::VideoColorMatrix,
        range: gst_video::VideoColorRange,
    ) -> Self {
        use gst_video::VideoColorMatrix as M;
        let (kr, kb) = match matrix {
            M::Bt709 => (0.2126, 0.0722),
            M::Bt2020 => (0.2627, 0.0593),
            M::Smpte240m => (0.212, 0.087),
            M::Fcc => (0.30, 0.11),
            _ => (0.299, 0.114),
        };
        YuvCoeffs {
            kr,
            kb,
            full_range: range == gst_video::VideoColorRange::Range0_255,
        }
    }

    /// Converts premultiplied 8-bit B, G, R with alpha `a` into premultiplied Y, U, V
    /// (each scaled by a/255, so a fully transparent pixel contributes 0).
    #[inline]
    fn convert_premultiplied(&self, b: f32, g: f32, r: f32, a: f32) -> (f32, f32, f32) {
        let kg = 1.0 - self.kr - self.kb;
        let y = self.kr * r + kg * g + self.kb * b; // 0..=255·a
        let cb = (b - y) / (2.0 * (1.0 - self.kb));
        let cr = (r - y) / (2.0 * (1.0 - self.kr));
        let af = a / 255.0;
        if self.full_range {
            (y, 128.0 * af + cb, 128.0 * af + cr)
        } else {
            (
                16.0 * af + y * (219.0 / 255.0),
                128.0 * af + cb * (224.0 / 255.0),
                128.0 * af + cr * (224.0 / 255.0),
            )
        }
    }

    /// Straight (non-premultiplied) Y, U, V of an opaque 8-bit BGR colour.
    pub fn bgr_to_yuv(&self, b: u8, g: u8, r: u8) -> (u8, u8, u8) {
        let (y, u, v) = self.convert_premultiplied(b as f32, g as f32, r as f32, 255.0);
        (to_u8(y), to_u8(u), to_u8(v))
    }
}

#[inline]
fn to_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// An overlay resized to one on-screen size and converted to premultiplied I420 planes,
/// aligned to the frame's chroma grid for a given position parity.
#[derive(Debug)]
pub struct YuvOverlay {
    /// Width in luma pixels.
    pub width: usize,
    /// Height in luma pixels.
    pub height: usize,
    /// Horizontal chroma phase: `x mod 2` of the overlay's left edge in the frame.
    pub phase_x: usize,
    /// Vertical chroma phase: `y mod 2` of the overlay's top edge in the frame.
    pub phase_y: usize,
    /// Premultiplied luma, `width * height`.
    y: Vec<u8>,
    /// Luma alpha, `width * height`.
    a: Vec<u8>,
    /// Chroma grid width (cells covering the overlay).
    cw: usize,
    /// Chroma grid height.
    ch: usize,
    /// Premultiplied U, V and coverage alpha per chroma cell, `cw * ch`.
    u: Vec<u8>,
    v: Vec<u8>,
    ca: Vec<u8>,
}

impl YuvOverlay {
    /// Resizes `img` to `w`×`h` (bilinear, aspect not kept) and converts it.
    pub fn build(
        img: &PremultipliedImage,
        w: usize,
        h: usize,
        phase_x: usize,
        phase_y: usize,
        coeffs: YuvCoeffs,
    ) -> opencv::Result<Self> {
        use opencv::core::{Mat, Size};
        use opencv::prelude::*;
        let resized;
        let data: &[u8] = if img.width as usize == w && img.height as usize == h {
            &img.bgra
        } else {
            let flat = Mat::from_slice(&img.bgra)?;
            let src = flat.reshape(4, img.height as i32)?;
            let mut dst = Mat::default();
            opencv::imgproc::resize(
                &src,
                &mut dst,
                Size::new(w as i32, h as i32),
                0.0,
                0.0,
                opencv::imgproc::INTER_LINEAR,
            )?;
            resized = if dst.is_continuous() {
                dst
            } else {
                dst.try_clone()?
            };
            resized.data_bytes()?
        };

        let n = w * h;
        let mut y = vec![0u8; n];
        let mut a = vec![0u8; n];
        let mut uf = vec![0f32; n];
        let mut vf = vec![0f32; n];
        for (i, px) in data.chunks_exact(4).take(n).enumerate() {
            let alpha = px[3] as f32;
            let (py, pu, pv) =
                coeffs.convert_premultiplied(px[0] as f32, px[1] as f32, px[2] as f32, alpha);
            y[i] = to_u8(py);
            a[i] = px[3];
            uf[i] = pu;
            vf[i] = pv;
        }

        // Chroma cell i covers overlay-local columns 2i - phase_x and 2i + 1 - phase_x.
        let cw = (w + phase_x).div_ceil(2);
        let ch = (h + phase_y).div_ceil(2);
        let mut u = vec![0u8; cw * ch];
        let mut v = vec![0u8; cw * ch];
        let mut ca = vec![0u8; cw * ch];
        for cy in 0..ch {
            for cx in 0..cw {
                let (mut su, mut sv, mut sa) = (0f32, 0f32, 0u32);
                for dy in 0..2 {
                    let ly = (2 * cy + dy) as isize - phase_y as isize;
                    if ly < 0 || ly as usize >= h {
                        continue;
                    }
                    for dx in 0..2 {
                        let lx = (2 * cx + dx) as isize - phase_x as isize;
                        if lx < 0 || lx as usize >= w {
                            continue;
                        }
                        let k = ly as usize * w + lx as usize;
                        su += uf[k];
                        sv += vf[k];
                        sa += a[k] as u32;
                    }
                }
                // Pixels outside the overlay count as transparent (coverage).
                let k = cy * cw + cx;
                u[k] = to_u8(su / 4.0);
                v[k] = to_u8(sv / 4.0);
                ca[k] = ((sa + 2) / 4) as u8;
            }
        }
        Ok(YuvOverlay {
            width: w,
            height: h,
            phase_x,
            phase_y,
            y,
            a,
            cw,
            ch,
            u,
            v,
            ca,
        })
    }
}

/// `round(x / 255)` for `x` in `0..=65025`.
#[inline]
fn div255(x: u32) -> u32 {
    (x + 128 + ((x + 128) >> 8)) >> 8
}

/// Blends premultiplied `src` with alpha `a` into `dst` over a `w`×`h` block.
#[allow(clippy::too_many_arguments)]
fn blend_plane(
    dst: &mut [u8],
    dst_stride: usize,
    dst_w: usize,
    dst_h: usize,
    src: &[u8],
    alpha: &[u8],
    src_w: usize,
    src_h: usize,
    x: i64,
    y: i64,
) {
    let x0 = x.max(0);
    let y0 = y.max(0);
    let x1 = (x + src_w as i64).min(dst_w as i64);
    let y1 = (y + src_h as i64).min(dst_h as i64);
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let (sx0, sy0) = ((x0 - x) as usize, (y0 - y) as usize);
    let cols = (x1 - x0) as usize;
    for row in 0..(y1 - y0) as usize {
        let d0 = (y0 as usize + row) * dst_stride + x0 as usize;
        let s0 = (sy0 + row) * src_w + sx0;
        let d = &mut dst[d0..d0 + cols];
        let s = &src[s0..s0 + cols];
        let a = &alpha[s0..s0 + cols];
        for ((dp, &sp), &ap) in d.iter_mut().zip(s).zip(a) {
            *dp = match ap {
                255 => sp,
                0 => *dp,
                _ => (sp as u32 + div255(*dp as u32 * (255 - ap as u32))).min(255) as u8,
            };
        }
    }
}

/// Mutable views of the three planes of an I420 frame.
pub struct I420Planes<'a> {
    /// Frame width in luma pixels.
    pub width: usize,
    /// Frame height in luma pixels.
    pub height: usize,
    /// Luma plane and its stride.
    pub y: (&'a mut [u8], usize),
    /// Cb plane and its stride.
    pub u: (&'a mut [u8], usize),
    /// Cr plane and its stride.
    pub v: (&'a mut [u8], usize),
}

impl I420Planes<'_> {
    /// Alpha-blends `ov` with its top-left corner at frame position (`x`, `y`), clipping
    /// at the frame borders. `ov` must have been built for the phase `(x mod 2, y mod 2)`.
    pub fn blend(&mut self, ov: &YuvOverlay, x: i64, y: i64) {
        debug_assert_eq!(ov.phase_x as i64, x.rem_euclid(2));
        debug_assert_eq!(ov.phase_y as i64, y.rem_euclid(2));
        blend_plane(
            self.y.0,
            self.y.1,
            self.width,
            self.height,
            &ov.y,
            &ov.a,
            ov.width,
            ov.height,
            x,
            y,
        );
        let (cwf, chf) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let (cx, cy) = (x.div_euclid(2), y.div_euclid(2));
        blend_plane(
            self.u.0, self.u.1, cwf, chf, &ov.u, &ov.ca, ov.cw, ov.ch, cx, cy,
        );
        blend_plane(
            self.v.0, self.v.1, cwf, chf, &ov.v, &ov.ca, ov.cw, ov.ch, cx, cy,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(ox: f32, oy: f32, w: f32, h: f32) -> OverlayGeometry {
        OverlayGeometry {
            offset_x: ox,
            offset_y: oy,
            width: w,
            height: h,
        }
    }

    #[test]
    fn rect_matches_reference_formula() {
        let face = FaceBox {
            x: 100,
            y: 200,
            width: 80,
            height: 100,
            roll: 0.0,
        };
        // Tutorial geometry: hat 1.6× the face, 0.35 widths left, 1.2 heights above.
        let r = overlay_rect(&face, &geometry(-0.35, -1.2, 1.6, 1.6)).unwrap();
        assert_eq!(r, (100 - 28, 200 - 120, 128, 160));
        assert_eq!(
            overlay_rect(&face, &geometry(0.0, 0.0, 1.0, 1.0)),
            Some((100, 200, 80, 100))
        );
        assert_eq!(overlay_rect(&face, &geometry(0.0, 0.0, 0.0, 1.0)), None);
        assert_eq!(overlay_rect(&face, &geometry(0.0, 0.0, 1.0, -1.0)), None);
    }

    #[test]
    fn a_tilted_face_turns_the_overlay_about_the_face() {
        let face = FaceBox {
            x: 100,
            y: 100,
            width: 100,
            height: 100,
            roll: 0.4,
        };
        // A hat the face's size, right above it; under half a degree counts as upright.
        let hat = geometry(0.0, -1.0, 1.0, 1.0);
        let upright = tilted_overlay_rect(&face, &hat).unwrap();
        assert_eq!(
            (upright.x, upright.y, upright.width, upright.height),
            (100, 0, 100, 100)
        );
        // Turned 90° clockwise: the hat goes to the face's right, its box still 100x100.
        let turned = tilted_overlay_rect(&FaceBox { roll: 90.0, ..face }, &hat).unwrap();
        assert_eq!(turned.degrees, 90);
        assert_eq!((turned.x, turned.y), (200, 100));
        assert_eq!((turned.width, turned.height), (100, 100));
        // At 45° the bounding box grows by sqrt 2 and the hat's centre moves up and right.
        let t45 = tilted_overlay_rect(&FaceBox { roll: 45.0, ..face }, &hat).unwrap();
        assert_eq!((t45.width, t45.height), (142, 142));
        let centre = (t45.x + 71, t45.y + 71);
        assert!(
            (centre.0 - 221).abs() <= 1 && (centre.1 - 79).abs() <= 1,
            "{t45:?}"
        );
    }

    #[test]
    fn a_turned_image_keeps_its_colour_inside_and_is_clear_around() {
        // A tall red bar turned 90° becomes a wide one.
        let bar = PremultipliedImage::new(&OverlayImage::solid(2, 6, [0, 0, 255, 255]), 1);
        let rect = tilted_overlay_rect(
            &FaceBox {
                x: 0,
                y: 0,
                width: 10,
                height: 30,
                roll: 90.0,
            },
            &geometry(0.0, 0.0, 1.0, 1.0),
        )
        .unwrap();
        let turned = bar.turned(&rect).unwrap();
        assert_eq!((turned.width, turned.height), (30, 10));
        let px = |x: usize, y: usize| &turned.bgra[(y * 30 + x) * 4..(y * 30 + x) * 4 + 4];
        assert_eq!(px(15, 5), &[0, 0, 255, 255]);
        assert_eq!(px(2, 2)[3], 255);
        let (w, h) = (turned.width as usize, turned.height as usize);
        let clear = tilted_overlay_rect(
            &FaceBox {
                x: 0,
                y: 0,
                width: 10,
                height: 30,
                roll: 30.0,
            },
            &geometry(0.0, 0.0, 1.0, 1.0),
        )
        .unwrap();
        let at30 = bar.turned(&clear).unwrap();
        assert_eq!(&at30.bgra[..4], &[0, 0, 0, 0], "corner of {w}x{h}");
    }

    #[test]
    fn detection_size_keeps_aspect() {
        assert_eq!(detection_size(640, 480, 320), (320, 240));
        assert_eq!(detection_size(1280, 720, 320), (320, 180));
        assert_eq!(detection_size(320, 240, 320), (320, 240));
        assert_eq!(detection_size(200, 100, 320), (200, 100));
    }

    #[test]
    fn downscale_is_box_filter_at_half() {
        // 4x2 source with stride 6 (padding bytes must be ignored).
        let src = [10, 20, 30, 40, 99, 99, 30, 40, 50, 60, 99, 99];
        let mut out = Vec::new();
        downscale_gray(&src, 6, 4, 2, 2, 1, &mut out);
        assert_eq!(out, vec![25, 45]);
        downscale_gray(&src, 6, 4, 2, 4, 2, &mut out);
        assert_eq!(out, vec![10, 20, 30, 40, 30, 40, 50, 60]);
    }

    #[test]
    fn bt601_reference_values() {
        let c = YuvCoeffs::BT601;
        assert_eq!(c.bgr_to_yuv(0, 0, 255), (81, 90, 240)); // red
        assert_eq!(c.bgr_to_yuv(255, 255, 255), (235, 128, 128));
        assert_eq!(c.bgr_to_yuv(0, 0, 0), (16, 128, 128));
        assert_eq!(c.bgr_to_yuv(255, 0, 0), (41, 240, 110)); // blue
    }

    struct Frame {
        w: usize,
        h: usize,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    }

    impl Frame {
        fn new(w: usize, h: usize) -> Self {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            Frame {
                w,
                h,
                y: vec![50; w * h],
                u: vec![100; cw * ch],
                v: vec![150; cw * ch],
            }
        }
        fn blend(&mut self, ov: &YuvOverlay, x: i64, y: i64) {
            let cw = self.w.div_ceil(2);
            I420Planes {
                width: self.w,
                height: self.h,
                y: (&mut self.y, self.w),
                u: (&mut self.u, cw),
                v: (&mut self.v, cw),
            }
            .blend(ov, x, y);
        }
    }

    fn solid(w: u32, h: u32, bgra: [u8; 4]) -> PremultipliedImage {
        PremultipliedImage::new(&OverlayImage::solid(w, h, bgra), 1)
    }

    #[test]
    fn opaque_blend_replaces_exactly_the_rect() {
        let img = solid(3, 3, [0, 0, 255, 255]);
        let (x, y) = (3i64, 2i64);
        let ov = YuvOverlay::build(&img, 6, 4, 1, 0, YuvCoeffs::BT601).unwrap();
        let mut f = Frame::new(16, 8);
        f.blend(&ov, x, y);
        for row in 0..8 {
            for col in 0..16 {
                let inside = (3..9).contains(&col) && (2..6).contains(&row);
                assert_eq!(
                    f.y[row * 16 + col],
                    if inside { 81 } else { 50 },
                    "{col},{row}"
                );
            }
        }
        // Chroma cells fully covered: columns 2..4 (luma 4..9), rows 1..3 (luma 2..6).
        // Cell column 1 (luma 2,3) is half covered -> half blend.
        assert_eq!(f.u[8 + 2], 90);
        assert_eq!(f.v[8 + 2], 240);
        assert_eq!(f.u[8 + 1], ((90 + 100) as f32 / 2.0).round() as u8);
        assert_eq!(f.u[0], 100);
        assert_eq!(f.u[3 * 8 + 5], 100);
    }

    #[test]
    fn half_transparent_blend_and_clipping() {
        let img = solid(2, 2, [0, 0, 255, 128]);
        let ov = YuvOverlay::build(&img, 4, 4, 0, 0, YuvCoeffs::BT601).unwrap();
        let mut f = Frame::new(8, 8);
        // Partly outside the top-left corner.
        f.blend(&ov, -2, -2);
        let expect = ((81.0 * 128.0 + 50.0 * 127.0) / 255.0f32).round() as i32;
        assert!(
            (f.y[0] as i32 - expect).abs() <= 1,
            "{} vs {expect}",
            f.y[0]
        );
        assert!((f.y[8 + 1] as i32 - expect).abs() <= 1);
        assert_eq!(f.y[2], 50);
        assert_eq!(f.y[2 * 8], 50);
        let eu = ((90.0 * 128.0 + 100.0 * 127.0) / 255.0f32).round() as i32;
        assert!((f.u[0] as i32 - eu).abs() <= 1, "{} vs {eu}", f.u[0]);
        assert_eq!(f.u[1], 100);
        // Entirely outside: nothing changes, no panic.
        let before = f.y.clone();
        f.blend(&ov, 100, 100);
        f.blend(&ov, -10, -10);
        assert_eq!(f.y, before);
    }

    #[test]
    fn odd_frame_size_and_odd_position() {
        // 7x5 frame: chroma planes are 4x3; overlay 3x3 at (5, 3) hangs over the right and
        // bottom edges and starts on odd coordinates.
        let img = solid(1, 1, [0, 0, 255, 255]);
        let ov = YuvOverlay::build(&img, 3, 3, 1, 1, YuvCoeffs::BT601).unwrap();
        let mut f = Frame::new(7, 5);
        f.blend(&ov, 5, 3);
        for row in 0..5 {
            for col in 0..7 {
                let inside = col >= 5 && row >= 3;
                assert_eq!(
                    f.y[row * 7 + col],
                    if inside { 81 } else { 50 },
                    "{col},{row}"
                );
            }
        }
        // Cell (3, 2) covers luma (6..8, 4..6); only (6, 4) exists in the frame and it is
        // covered, so the cell takes the full overlay colour.
        assert_eq!(f.u[2 * 4 + 3], 90);
        assert_eq!(f.v[2 * 4 + 3], 240);
        // Cell (2, 1) covers luma (4..6, 2..4); the overlay covers only (5, 3): quarter blend.
        let quarter = (90.0 * 0.25 + 100.0 * 0.75f32).round() as i32;
        assert!((f.u[4 + 2] as i32 - quarter).abs() <= 1, "{}", f.u[4 + 2]);
        assert_eq!(f.u[0], 100);
    }

    #[test]
    fn transparent_pixels_do_not_bleed() {
        // Left half opaque red, right half fully transparent blue.
        let mut img = OverlayImage::solid(2, 1, [0, 0, 255, 255]);
        img.bgra[4..8].copy_from_slice(&[255, 0, 0, 0]);
        let p = PremultipliedImage::new(&img, 2);
        let ov = YuvOverlay::build(&p, 8, 2, 0, 0, YuvCoeffs::BT601).unwrap();
        let mut f = Frame::new(8, 2);
        f.blend(&ov, 0, 0);
        // Right-most pixels: alpha ~0, frame unchanged.
        assert_eq!(f.y[7], 50);
        // Left-most: opaque red.
        assert_eq!(f.y[0], 81);
    }
}
