//! Colour calibration and pointer tracking.
//!
//! * [`calibrate`] turns the pixels of the calibration region into an [`HsvRange`]: it keeps the
//!   chromatic pixels, finds the dominant hue on the hue *circle* (so a red pointer whose hues
//!   straddle 0/179 gives one wrapping range instead of the whole circle), and takes robust
//!   percentiles of hue, saturation and value inside that hue cluster — no absolute pixel-count
//!   threshold, so it works for any region size.
//! * [`Tracker`] finds the pointer in a frame: downscale to [`PROCESSING_WIDTH`], BGR→HSV,
//!   threshold (two bands when the hue range wraps), morphological open + close, then the largest
//!   connected component above a minimum area; its centroid is the pointer.

use opencv::core::{self, Mat, Point, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;

/// Frames wider than this are downscaled to this width before tracking.
pub const PROCESSING_WIDTH: i32 = 320;

/// Minimum saturation for a calibration pixel to count as "coloured".
const CHROMA_MIN_S: u8 = 60;
/// Minimum value (brightness) for a calibration pixel to count as "coloured".
const CHROMA_MIN_V: u8 = 40;
/// Hue pixels farther than this from the dominant hue are not part of the pointer.
const MAX_HUE_HALF_WIDTH: i32 = 30;
/// Hue margin added on both sides of the percentile range.
const HUE_MARGIN: i32 = 5;
/// Narrowest hue range calibration produces (OpenCV hue units, 0..180).
const MIN_HUE_WIDTH: i32 = 12;
/// Minimum blob area, as a fraction of the processing image area (0.04 % ≈ a disc of radius 3.5
/// px at 320×240, 7 px at 640×480).
const MIN_AREA_FRACTION: f64 = 0.0004;

/// The tracked colour: hue in OpenCV's 8-bit units (0..180), wrapping when `h_lo > h_hi`;
/// saturation and value from their minimums up to 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HsvRange {
    /// Lowest hue (inclusive).
    pub h_lo: u8,
    /// Highest hue (inclusive); below `h_lo` when the range wraps through 0.
    pub h_hi: u8,
    /// Lowest saturation (inclusive).
    pub s_min: u8,
    /// Lowest value (inclusive).
    pub v_min: u8,
}

impl HsvRange {
    /// Whether the hue range goes through 179→0 (red).
    pub fn wraps(&self) -> bool {
        self.h_lo > self.h_hi
    }

    /// Whether an HSV pixel (OpenCV 8-bit units) is inside the range.
    pub fn contains(&self, h: u8, s: u8, v: u8) -> bool {
        let hue_ok = if self.wraps() {
            h >= self.h_lo || h <= self.h_hi
        } else {
            h >= self.h_lo && h <= self.h_hi
        };
        hue_ok && s >= self.s_min && v >= self.v_min
    }
}

/// Why calibration found no colour to track.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalibrationError {
    /// No pixels to look at (no frame yet, or the region is outside the frame).
    #[error("the calibration region has no pixels")]
    Empty,
    /// Too few saturated, bright pixels: grey, white or black objects cannot be tracked by colour.
    #[error(
        "no coloured pointer in the calibration region ({coloured} of {total} pixels coloured)"
    )]
    NoColour {
        /// Pixels saturated and bright enough.
        coloured: usize,
        /// Pixels sampled.
        total: usize,
    },
}

/// Converts packed BGR pixels to packed HSV (OpenCV 8-bit units), with OpenCV so that
/// calibration and tracking use exactly the same conversion.
pub fn bgr_to_hsv(bgr: &[u8]) -> opencv::Result<Vec<u8>> {
    let n = (bgr.len() / 3) as i32;
    if n == 0 {
        return Ok(Vec::new());
    }
    let src = Mat::new_rows_cols_with_data(1, n * 3, &bgr[..n as usize * 3])?;
    let src = src.reshape(3, 1)?;
    let mut dst = Mat::default();
    imgproc::cvt_color(&src, &mut dst, imgproc::COLOR_BGR2HSV, 0)?;
    Ok(dst.data_bytes()?.to_vec())
}

/// Signed circular hue difference `h - centre` in `[-90, 90)`.
fn hue_diff(h: u8, centre: i32) -> i32 {
    (h as i32 - centre + 270).rem_euclid(180) - 90
}

/// Value at fraction `q` (0..1) of a sorted slice.
fn percentile<T: Copy>(sorted: &[T], q: f64) -> T {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The colour range of the pointer in the calibration pixels (packed HSV triplets).
pub fn calibrate(hsv: &[u8]) -> Result<HsvRange, CalibrationError> {
    let total = hsv.len() / 3;
    if total == 0 {
        return Err(CalibrationError::Empty);
    }
    let coloured: Vec<[u8; 3]> = hsv
        .chunks_exact(3)
        .filter(|p| p[1] >= CHROMA_MIN_S && p[2] >= CHROMA_MIN_V)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    // A pointer must cover a real part of the region (at least 10 %, and a handful of pixels).
    if coloured.len() < 8 || coloured.len() * 10 < total {
        return Err(CalibrationError::NoColour {
            coloured: coloured.len(),
            total,
        });
    }
    // Hue histogram on the circle, smoothed over ±2 bins, to find the dominant hue.
    let mut hist = [0u32; 180];
    for p in &coloured {
        hist[p[0] as usize % 180] += 1;
    }
    let window_sum = |i: i32, r: i32| -> u32 {
        (-r..=r)
            .map(|d| hist[(i + d).rem_euclid(180) as usize])
            .sum()
    };
    let smoothed = |i: i32| window_sum(i, 2);
    let peak = (0..180).max_by_key(|&i| (smoothed(i), -i)).unwrap_or(0);

    // The pointer's hue cluster: the run of bins around the peak whose ±4-bin neighbourhood
    // stays above 5 % of the peak's (gaps of a few empty bins are bridged; background hues
    // scattered thinly around the circle do not widen the range).
    let floor = window_sum(peak, 4) / 20;
    let mut left = 0;
    while left < MAX_HUE_HALF_WIDTH && window_sum(peak - left - 1, 4) > floor {
        left += 1;
    }
    let mut right = 0;
    while right < MAX_HUE_HALF_WIDTH && window_sum(peak + right + 1, 4) > floor {
        right += 1;
    }
    let cluster: Vec<&[u8; 3]> = coloured
        .iter()
        .filter(|p| (-left..=right).contains(&hue_diff(p[0], peak)))
        .collect();
    let mut dh: Vec<i32> = cluster.iter().map(|p| hue_diff(p[0], peak)).collect();
    let mut s: Vec<u8> = cluster.iter().map(|p| p[1]).collect();
    let mut v: Vec<u8> = cluster.iter().map(|p| p[2]).collect();
    dh.sort_unstable();
    s.sort_unstable();
    v.sort_unstable();

    let mut lo = percentile(&dh, 0.02) - HUE_MARGIN;
    let mut hi = percentile(&dh, 0.98) + HUE_MARGIN;
    if hi - lo < MIN_HUE_WIDTH {
        let mid = (hi + lo) / 2;
        lo = mid - MIN_HUE_WIDTH / 2;
        hi = mid + MIN_HUE_WIDTH / 2;
    }
    lo = lo.max(-MAX_HUE_HALF_WIDTH);
    hi = hi.min(MAX_HUE_HALF_WIDTH);
    // Saturation and value drop with motion blur and shading: accept down to ~60 % / ~40 % of the
    // calibrated low percentile, but never greyish or dark pixels.
    let s_min = (percentile(&s, 0.05) as u32 * 6 / 10).max(50) as u8;
    let v_min = (percentile(&v, 0.05) as u32 * 4 / 10).max(30) as u8;
    Ok(HsvRange {
        h_lo: (peak + lo).rem_euclid(180) as u8,
        h_hi: (peak + hi).rem_euclid(180) as u8,
        s_min,
        v_min,
    })
}

/// Processing size for a frame: width at most [`PROCESSING_WIDTH`], aspect kept.
pub fn processing_size(width: i32, height: i32) -> (i32, i32) {
    if width <= PROCESSING_WIDTH {
        (width, height)
    } else {
        let h =
            ((height as i64 * PROCESSING_WIDTH as i64 + width as i64 / 2) / width as i64).max(1);
        (PROCESSING_WIDTH, h as i32)
    }
}

/// Reusable buffers for tracking (no per-frame allocation once warmed up).
pub struct Tracker {
    small: Mat,
    hsv: Mat,
    mask: Mat,
    band: Mat,
    tmp: Mat,
    labels: Mat,
    stats: Mat,
    centroids: Mat,
    open_kernel: Mat,
    close_kernel: Mat,
}

impl Tracker {
    /// A tracker with its morphology kernels.
    pub fn new() -> opencv::Result<Self> {
        let kernel = |n| {
            imgproc::get_structuring_element(
                imgproc::MORPH_ELLIPSE,
                Size::new(n, n),
                Point::new(-1, -1),
            )
        };
        Ok(Tracker {
            small: Mat::default(),
            hsv: Mat::default(),
            mask: Mat::default(),
            band: Mat::default(),
            tmp: Mat::default(),
            labels: Mat::default(),
            stats: Mat::default(),
            centroids: Mat::default(),
            open_kernel: kernel(3)?,
            close_kernel: kernel(5)?,
        })
    }

    /// The pointer centre in `frame` (BGR) coordinates, or `None` when no blob of the colour
    /// is large enough.
    pub fn locate(
        &mut self,
        frame: &(impl MatTraitConst + core::ToInputArray),
        range: &HsvRange,
    ) -> opencv::Result<Option<(f64, f64)>> {
        let (w, h) = (frame.cols(), frame.rows());
        if w == 0 || h == 0 {
            return Ok(None);
        }
        let (pw, ph) = processing_size(w, h);
        if pw != w {
            imgproc::resize(
                frame,
                &mut self.small,
                Size::new(pw, ph),
                0.0,
                0.0,
                imgproc::INTER_AREA,
            )?;
            imgproc::cvt_color(&self.small, &mut self.hsv, imgproc::COLOR_BGR2HSV, 0)?;
        } else {
            imgproc::cvt_color(frame, &mut self.hsv, imgproc::COLOR_BGR2HSV, 0)?;
        }
        let (s, v) = (range.s_min as f64, range.v_min as f64);
        if range.wraps() {
            core::in_range(
                &self.hsv,
                &Scalar::new(range.h_lo as f64, s, v, 0.0),
                &Scalar::new(179.0, 255.0, 255.0, 0.0),
                &mut self.band,
            )?;
            core::in_range(
                &self.hsv,
                &Scalar::new(0.0, s, v, 0.0),
                &Scalar::new(range.h_hi as f64, 255.0, 255.0, 0.0),
                &mut self.tmp,
            )?;
            core::bitwise_or(&self.band, &self.tmp, &mut self.mask, &core::no_array())?;
        } else {
            core::in_range(
                &self.hsv,
                &Scalar::new(range.h_lo as f64, s, v, 0.0),
                &Scalar::new(range.h_hi as f64, 255.0, 255.0, 0.0),
                &mut self.mask,
            )?;
        }
        let border = imgproc::morphology_default_border_value()?;
        let anchor = Point::new(-1, -1);
        imgproc::morphology_ex(
            &self.mask,
            &mut self.tmp,
            imgproc::MORPH_OPEN,
            &self.open_kernel,
            anchor,
            1,
            core::BORDER_CONSTANT,
            border,
        )?;
        imgproc::morphology_ex(
            &self.tmp,
            &mut self.mask,
            imgproc::MORPH_CLOSE,
            &self.close_kernel,
            anchor,
            1,
            core::BORDER_CONSTANT,
            border,
        )?;
        let n = imgproc::connected_components_with_stats(
            &self.mask,
            &mut self.labels,
            &mut self.stats,
            &mut self.centroids,
            8,
            core::CV_32S,
        )?;
        let min_area = ((pw as f64 * ph as f64 * MIN_AREA_FRACTION).round() as i32).max(6);
        let mut best: Option<(i32, i32)> = None;
        for label in 1..n {
            let area = *self.stats.at_2d::<i32>(label, imgproc::CC_STAT_AREA)?;
            if area >= min_area && best.is_none_or(|(_, a)| area > a) {
                best = Some((label, area));
            }
        }
        let Some((label, _)) = best else {
            return Ok(None);
        };
        let cx = *self.centroids.at_2d::<f64>(label, 0)?;
        let cy = *self.centroids.at_2d::<f64>(label, 1)?;
        // Pixel-centre convention: processing pixel i covers [i, i+1) scaled.
        let (sx, sy) = (w as f64 / pw as f64, h as f64 / ph as f64);
        Ok(Some(((cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hsv_of(bgr: [u8; 3]) -> [u8; 3] {
        let v = bgr_to_hsv(&bgr).unwrap();
        [v[0], v[1], v[2]]
    }

    #[test]
    fn hue_diff_is_circular() {
        assert_eq!(hue_diff(2, 178), 4);
        assert_eq!(hue_diff(178, 2), -4);
        assert_eq!(hue_diff(100, 90), 10);
    }

    #[test]
    fn red_straddling_zero_gives_a_narrow_wrapping_range() {
        // Reds on both sides of hue 0: 2..=6 and 174..=179 (OpenCV units).
        let mut px = Vec::new();
        for i in 0..200u32 {
            let bgr = if i % 2 == 0 {
                [40, 20, 220]
            } else {
                [20, 45, 220]
            };
            px.extend_from_slice(&bgr);
        }
        let hsv = bgr_to_hsv(&px).unwrap();
        let hues: Vec<u8> = hsv.chunks(3).map(|p| p[0]).collect();
        assert!(
            hues.iter().any(|&h| h > 170) && hues.iter().any(|&h| h < 10),
            "{hues:?}"
        );
        let r = calibrate(&hsv).unwrap();
        assert!(r.wraps(), "{r:?}");
        // Narrow: the hue interval spans at most 2*MAX_HUE_HALF_WIDTH through 0, never 5..175.
        let width = (r.h_hi as i32 - r.h_lo as i32).rem_euclid(180);
        assert!(width <= 2 * MAX_HUE_HALF_WIDTH, "{r:?}");
        assert!(r.contains(hsv_of([40, 20, 220])[0], 200, 200));
        assert!(r.contains(hsv_of([20, 45, 220])[0], 200, 200));
        // Green, blue and grey are out.
        let g = hsv_of([30, 200, 30]);
        assert!(!r.contains(g[0], g[1], g[2]));
        let b = hsv_of([200, 40, 20]);
        assert!(!r.contains(b[0], b[1], b[2]));
        let grey = hsv_of([128, 128, 128]);
        assert!(!r.contains(grey[0], grey[1], grey[2]));
    }

    #[test]
    fn dominant_colour_wins_over_background_pixels() {
        // 70 % blue pointer, 30 % green-ish background in the region.
        let mut px = Vec::new();
        for i in 0..1000u32 {
            let bgr = if i % 10 < 7 {
                [210, 50, 20]
            } else {
                [40, 160, 60]
            };
            px.extend_from_slice(&bgr);
        }
        let r = calibrate(&bgr_to_hsv(&px).unwrap()).unwrap();
        assert!(!r.wraps());
        let blue = hsv_of([210, 50, 20]);
        let green = hsv_of([40, 160, 60]);
        assert!(r.contains(blue[0], blue[1], blue[2]), "{r:?} {blue:?}");
        assert!(!r.contains(green[0], green[1], green[2]), "{r:?} {green:?}");
        assert!(r.h_hi - r.h_lo <= 2 * MAX_HUE_HALF_WIDTH as u8);
    }

    #[test]
    fn grey_region_is_an_error() {
        let px: Vec<u8> = (0..900)
            .map(|i| (i % 256) as u8)
            .flat_map(|g| [g, g, g])
            .collect();
        let e = calibrate(&bgr_to_hsv(&px).unwrap()).unwrap_err();
        assert!(
            matches!(
                e,
                CalibrationError::NoColour {
                    coloured: 0,
                    total: 900
                }
            ),
            "{e:?}"
        );
        assert_eq!(calibrate(&[]), Err(CalibrationError::Empty));
    }

    #[test]
    fn processing_size_keeps_aspect() {
        assert_eq!(processing_size(640, 480), (320, 240));
        assert_eq!(processing_size(1280, 720), (320, 180));
        assert_eq!(processing_size(320, 240), (320, 240));
        assert_eq!(processing_size(176, 144), (176, 144));
    }
}
