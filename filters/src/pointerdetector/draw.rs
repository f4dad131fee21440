//! Drawing on BGR frames: rectangle outlines, the pointer marker and window icons.
//!
//! Icons are prepared once per window and size ([`Icon::prepare`]): resized with OpenCV on
//! premultiplied BGRA (no dark fringes at transparent edges), then alpha-blended with an extra
//! opacity (`1 - imageTransparency`, as in Kurento).

use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;

use rheo_filter_sdk::image::OverlayImage;

/// A rectangle in pixels (top-left corner and size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixRect {
    /// Left column.
    pub x: i32,
    /// Top row.
    pub y: i32,
    /// Width (> 0).
    pub w: i32,
    /// Height (> 0).
    pub h: i32,
}

/// Mutable view of a packed BGR frame plane.
pub struct Canvas<'a> {
    /// Pixel bytes, `stride` bytes per row.
    pub data: &'a mut [u8],
    /// Bytes per row.
    pub stride: usize,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
}

impl Canvas<'_> {
    fn put(&mut self, x: i32, y: i32, bgr: [u8; 3]) {
        if x >= 0 && y >= 0 && x < self.width && y < self.height {
            let o = y as usize * self.stride + x as usize * 3;
            self.data[o..o + 3].copy_from_slice(&bgr);
        }
    }

    /// The BGR value at (x, y) (for tests and sampling).
    pub fn get(&self, x: i32, y: i32) -> [u8; 3] {
        let o = y as usize * self.stride + x as usize * 3;
        [self.data[o], self.data[o + 1], self.data[o + 2]]
    }

    /// A 1-pixel outline on the border pixels of `r` (clipped to the frame).
    pub fn outline(&mut self, r: PixRect, bgr: [u8; 3]) {
        let (x1, y1) = (r.x + r.w - 1, r.y + r.h - 1);
        for x in r.x.max(0)..=x1.min(self.width - 1) {
            self.put(x, r.y, bgr);
            self.put(x, y1, bgr);
        }
        for y in r.y.max(0)..=y1.min(self.height - 1) {
            self.put(r.x, y, bgr);
            self.put(x1, y, bgr);
        }
    }

    /// A filled disc.
    pub fn disc(&mut self, cx: i32, cy: i32, radius: i32, bgr: [u8; 3]) {
        let r2 = radius * radius;
        for y in (cy - radius).max(0)..=(cy + radius).min(self.height - 1) {
            for x in (cx - radius).max(0)..=(cx + radius).min(self.width - 1) {
                let (dx, dy) = (x - cx, y - cy);
                if dx * dx + dy * dy <= r2 {
                    self.put(x, y, bgr);
                }
            }
        }
    }

    /// Blends `icon` (premultiplied BGRA, `r.w`×`r.h`) at `r`, clipped, with `opacity` 0..=255.
    pub fn blend(&mut self, icon: &Icon, r: PixRect, opacity: u32) {
        if icon.width != r.w || icon.height != r.h || opacity == 0 {
            return;
        }
        let (x0, y0) = (r.x.max(0), r.y.max(0));
        let (x1, y1) = ((r.x + r.w).min(self.width), (r.y + r.h).min(self.height));
        for y in y0..y1 {
            let src_row = ((y - r.y) * r.w) as usize * 4;
            let dst_row = y as usize * self.stride;
            for x in x0..x1 {
                let s = src_row + (x - r.x) as usize * 4;
                let src = &icon.premultiplied[s..s + 4];
                let a = div255(src[3] as u32 * opacity);
                let d = dst_row + x as usize * 3;
                for (dst, &s) in self.data[d..d + 3].iter_mut().zip(&src[..3]) {
                    let fg = div255(s as u32 * opacity);
                    let bg = div255(*dst as u32 * (255 - a));
                    *dst = (fg + bg).min(255) as u8;
                }
            }
        }
    }
}

/// `x / 255` rounded, for `x <= 255 * 255`.
fn div255(x: u32) -> u32 {
    (x + 128 + ((x + 128) >> 8)) >> 8
}

/// A window image at its drawing size, premultiplied BGRA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icon {
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// `width * height * 4` bytes, colour premultiplied by alpha.
    pub premultiplied: Vec<u8>,
}

impl Icon {
    /// `image` resized to `w`×`h` (area filter when shrinking, bilinear when growing).
    pub fn prepare(image: &OverlayImage, w: i32, h: i32) -> opencv::Result<Icon> {
        let mut pm = image.bgra.clone();
        for px in pm.chunks_exact_mut(4) {
            let a = px[3] as u32;
            for c in px.iter_mut().take(3) {
                *c = div255(*c as u32 * a) as u8;
            }
        }
        let (iw, ih) = (image.width as i32, image.height as i32);
        let premultiplied = if (iw, ih) == (w, h) {
            pm
        } else {
            let src = Mat::new_rows_cols_with_data(ih, iw * 4, &pm[..])?;
            let src = src.reshape(4, ih)?;
            let mut dst = Mat::default();
            let shrinking = w < iw || h < ih;
            let interp = if shrinking {
                imgproc::INTER_AREA
            } else {
                imgproc::INTER_LINEAR
            };
            imgproc::resize(&src, &mut dst, Size::new(w, h), 0.0, 0.0, interp)?;
            let mut out = dst.data_bytes()?.to_vec();
            // Keep the premultiplied invariant (colour <= alpha) after interpolation.
            for px in out.chunks_exact_mut(4) {
                let a = px[3];
                for c in px.iter_mut().take(3) {
                    *c = (*c).min(a);
                }
            }
            out
        };
        Ok(Icon {
            width: w,
            height: h,
            premultiplied,
        })
    }

    /// The icon tinted half-way to green (shown when a window without `activeImage` is active).
    pub fn tinted_green(&self) -> Icon {
        let mut premultiplied = self.premultiplied.clone();
        for px in premultiplied.chunks_exact_mut(4) {
            let a = px[3];
            px[0] /= 2;
            px[1] = ((px[1] as u32 + a as u32) / 2) as u8;
            px[2] /= 2;
        }
        Icon {
            width: self.width,
            height: self.height,
            premultiplied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(buf: &mut [u8], w: i32, h: i32) -> Canvas<'_> {
        Canvas {
            data: buf,
            stride: w as usize * 3 + 6, // padded rows
            width: w,
            height: h,
        }
    }

    #[test]
    fn outline_touches_only_the_border_and_clips() {
        let (w, h) = (20, 10);
        let mut buf = vec![0u8; (w as usize * 3 + 6) * h as usize];
        let mut c = canvas(&mut buf, w, h);
        c.outline(
            PixRect {
                x: 2,
                y: 3,
                w: 5,
                h: 4,
            },
            [1, 2, 3],
        );
        assert_eq!(c.get(2, 3), [1, 2, 3]);
        assert_eq!(c.get(6, 6), [1, 2, 3]);
        assert_eq!(c.get(4, 3), [1, 2, 3]);
        assert_eq!(c.get(3, 4), [0, 0, 0]);
        assert_eq!(c.get(7, 3), [0, 0, 0]);
        let n = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| c.get(x, y) != [0, 0, 0])
            .count();
        assert_eq!(n, 2 * 5 + 2 * 2);
        // Partly outside: no panic, visible part drawn.
        c.outline(
            PixRect {
                x: 15,
                y: -2,
                w: 10,
                h: 5,
            },
            [9, 9, 9],
        );
        assert_eq!(c.get(15, 2), [9, 9, 9]);
        assert_eq!(c.get(19, 2), [9, 9, 9]);
    }

    #[test]
    fn icon_blend_opaque_half_and_transparent() {
        let (w, h) = (8, 8);
        let mut buf = vec![100u8; (w as usize * 3 + 6) * h as usize];
        let mut c = canvas(&mut buf, w, h);
        // 2x2 image upscaled to 4x4: red opaque.
        let red = OverlayImage::solid(2, 2, [0, 0, 255, 255]);
        let icon = Icon::prepare(&red, 4, 4).unwrap();
        c.blend(
            &icon,
            PixRect {
                x: 0,
                y: 0,
                w: 4,
                h: 4,
            },
            255,
        );
        assert_eq!(c.get(0, 0), [0, 0, 255]);
        assert_eq!(c.get(3, 3), [0, 0, 255]);
        assert_eq!(c.get(4, 4), [100, 100, 100]);
        // Half opacity over grey 100: 255/2 + 100/2.
        c.blend(
            &icon,
            PixRect {
                x: 4,
                y: 4,
                w: 4,
                h: 4,
            },
            128,
        );
        assert_eq!(c.get(5, 5), [50, 50, 178]);
        // Fully transparent image pixels leave the frame alone.
        let clear = Icon::prepare(&OverlayImage::solid(4, 4, [0, 255, 0, 0]), 4, 4).unwrap();
        c.blend(
            &clear,
            PixRect {
                x: 4,
                y: 0,
                w: 4,
                h: 4,
            },
            255,
        );
        assert_eq!(c.get(5, 1), [100, 100, 100]);
        // Clipped at the border.
        c.blend(
            &icon,
            PixRect {
                x: 6,
                y: -2,
                w: 4,
                h: 4,
            },
            255,
        );
        assert_eq!(c.get(7, 1), [0, 0, 255]);
        assert_eq!(c.get(5, 1), [100, 100, 100]);
    }

    #[test]
    fn green_tint() {
        let icon = Icon::prepare(&OverlayImage::solid(1, 1, [200, 100, 50, 255]), 1, 1).unwrap();
        assert_eq!(icon.tinted_green().premultiplied, vec![100, 177, 25, 255]);
    }
}
