//! The key-colour model: robust statistics gathered over the calibration window and the
//! per-channel lookup tables that turn an HSV pixel into "how much foreground" it is.
//!
//! Hue is OpenCV's `_FULL` 8-bit hue (0..=255 covers the whole circle), so circular distances
//! are computed modulo 256 and a red key, whose samples straddle 0, works like any other.

use opencv::core::{Mat, Scalar, Vec3b, CV_8UC3};
use opencv::prelude::*;

/// Saturation and value below which a pixel's hue is noise and is left out of the hue
/// statistics.
pub(crate) const CHROMA_MIN_S: u8 = 48;
pub(crate) const CHROMA_MIN_V: u8 = 40;

/// Histograms of the calibration samples, summed over the calibration frames.
#[derive(Clone)]
pub(crate) struct Samples {
    /// Hue of the chromatic samples only (see [`CHROMA_MIN_S`]).
    pub hue: [u64; 256],
    pub sat: [u64; 256],
    pub val: [u64; 256],
}

impl std::default::Default for Samples {
    fn default() -> Self {
        Samples {
            hue: [0; 256],
            sat: [0; 256],
            val: [0; 256],
        }
    }
}

fn total(h: &[u64]) -> u64 {
    h.iter().sum()
}

/// Smallest bin at which the cumulative count reaches `q` of the total.
fn quantile(h: &[u64], q: f64) -> usize {
    let target = (q * total(h) as f64).max(1.0);
    let mut acc = 0u64;
    for (i, &c) in h.iter().enumerate() {
        acc += c;
        if acc as f64 >= target {
            return i;
        }
    }
    h.len() - 1
}

/// Median and robust standard deviation (1.4826 × median absolute deviation) of a histogram.
fn median_sigma(h: &[u64; 256]) -> (f64, f64) {
    let med = quantile(h, 0.5);
    let mut dev = [0u64; 256];
    for (i, &c) in h.iter().enumerate() {
        dev[i.abs_diff(med)] += c;
    }
    (med as f64, 1.4826 * quantile(&dev, 0.5) as f64)
}

/// Circular distance between two 8-bit full-range hues (0..=128).
pub(crate) fn hue_dist(a: u8, b: u8) -> u8 {
    let d = a.wrapping_sub(b);
    d.min(d.wrapping_neg())
}

/// Linear ramp: 0 at `d <= inner`, 255 at `d >= inner + width`.
fn ramp(d: f64, inner: f64, width: f64) -> u8 {
    (((d - inner) / width).clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Which channels carry the key colour's cast, for spill suppression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spill {
    /// Achromatic key: nothing to suppress.
    None,
    /// The key is close to a primary (BGR channel index): that channel is limited to the mean
    /// of the other two near the matte edge.
    Primary(usize),
    /// The key is close to a secondary (two BGR channels): both are limited by the third.
    Secondary(usize, usize, usize),
}

/// The calibrated key colour: a tolerance interval per HSV channel, soft at its ends.
#[derive(Debug, Clone)]
pub(crate) struct KeyModel {
    /// Key hue (full-range 8-bit), `None` for an achromatic (grey/white/black) key.
    pub hue: Option<u8>,
    /// Hue distance still fully keyed, and the width of the ramp to fully foreground.
    pub hue_tol: f64,
    pub hue_ramp: f64,
    /// Saturation interval fully keyed.
    pub sat: (f64, f64),
    /// Value interval fully keyed.
    pub val: (f64, f64),
    pub sat_ramp: f64,
    pub val_ramp: f64,
    pub spill: Spill,
}

impl KeyModel {
    /// Derives the key from the calibration samples with robust statistics (mode/median and
    /// median absolute deviation), which are fractions of the sample count: a 5×5 window and
    /// a full-frame window give the same tolerances for the same colour, and up to about half
    /// of the window may be something else (a hand, a logo) without widening them.
    pub fn from_samples(s: &Samples) -> KeyModel {
        let n = total(&s.sat).max(1);
        let chromatic = total(&s.hue);
        let (s_med, s_sig) = median_sigma(&s.sat);
        let (v_med, v_sig) = median_sigma(&s.val);
        let v_sig = v_sig.max(2.0);
        let s_sig = s_sig.max(2.0);

        if (chromatic as f64) < 0.5 * n as f64 {
            // Grey, white or black screen: key on low saturation and a brightness band.
            return KeyModel {
                hue: None,
                hue_tol: 128.0,
                hue_ramp: 1.0,
                sat: (0.0, s_med + 3.5 * s_sig + 8.0),
                val: (
                    (v_med - 3.5 * v_sig - 10.0).max(0.0),
                    (v_med + 3.5 * v_sig + 10.0).min(255.0),
                ),
                sat_ramp: 16.0,
                val_ramp: 16.0,
                spill: Spill::None,
            };
        }

        // Circular mode of the hue histogram, smoothed over ±4 bins.
        let smooth = |i: usize| -> u64 { (0..9).map(|k| s.hue[(i + 256 + k - 4) % 256]).sum() };
        let mode = (0..256).max_by_key(|&i| smooth(i)).unwrap_or(0);
        // Circular median around the mode: histogram of signed distances (offset by 128).
        let mut signed = [0u64; 256];
        for (i, &c) in s.hue.iter().enumerate() {
            signed[(i + 256 - mode + 128) % 256] += c;
        }
        let centre = ((mode + quantile(&signed, 0.5) + 256 - 128) % 256) as u8;
        let mut dist = [0u64; 256];
        for (i, &c) in s.hue.iter().enumerate() {
            dist[hue_dist(i as u8, centre) as usize] += c;
        }
        let h_sig = (1.4826 * quantile(&dist, 0.5) as f64).max(1.0);
        let hue_tol = (3.5 * h_sig + 4.0).min(40.0);
        let hue_ramp = (0.5 * hue_tol).max(6.0);

        // Lower bounds only: a more saturated or brighter pixel of the key hue is still the
        // screen (uneven lighting); shadows are allowed down to about half the brightness.
        let s_lo = (s_med - 3.5 * s_sig)
            .min(0.7 * s_med)
            .max(f64::from(CHROMA_MIN_S) / 2.0);
        let v_lo = (v_med - 4.0 * v_sig).min(0.45 * v_med).max(16.0);

        KeyModel {
            hue: Some(centre),
            hue_tol,
            hue_ramp,
            sat: (s_lo, 255.0),
            val: (v_lo, 255.0),
            sat_ramp: (0.3 * s_lo).max(12.0),
            val_ramp: (0.3 * v_lo).max(12.0),
            spill: spill_for_hue(centre),
        }
    }

    /// Foreground-ness of each hue, saturation and value (0 = key, 255 = foreground), as one
    /// 1×256 `CV_8UC3` table for `cv::LUT` on an HSV_FULL image.
    pub fn lut(&self) -> opencv::Result<Mat> {
        let mut lut = Mat::new_rows_cols_with_default(1, 256, CV_8UC3, Scalar::all(0.0))?;
        for i in 0..256usize {
            let x = i as f64;
            let fh = match self.hue {
                Some(h) => ramp(f64::from(hue_dist(i as u8, h)), self.hue_tol, self.hue_ramp),
                None => 0,
            };
            let outside = |(lo, hi): (f64, f64)| (lo - x).max(x - hi).max(0.0);
            let fs = ramp(outside(self.sat), 0.0, self.sat_ramp);
            let fv = ramp(outside(self.val), 0.0, self.val_ramp);
            *lut.at_2d_mut::<Vec3b>(0, i as i32)? = Vec3b::from([fh, fs, fv]);
        }
        Ok(lut)
    }
}

/// BGR channels that dominate a full-range hue: hue sectors of 60° centred on the primaries
/// (red 0°, green 120°, blue 240°) and secondaries (yellow, cyan, magenta).
fn spill_for_hue(h: u8) -> Spill {
    let deg = f64::from(h) * 360.0 / 256.0;
    match ((deg + 30.0) / 60.0).floor() as i32 % 6 {
        0 => Spill::Primary(2),         // red
        1 => Spill::Secondary(1, 2, 0), // yellow: G, R over B
        2 => Spill::Primary(1),         // green
        3 => Spill::Secondary(0, 1, 2), // cyan: B, G over R
        4 => Spill::Primary(0),         // blue
        _ => Spill::Secondary(0, 2, 1), // magenta: B, R over G
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian_hist(centre: f64, sigma: f64, n: u64) -> [u64; 256] {
        let mut h = [0u64; 256];
        for (i, slot) in h.iter_mut().enumerate() {
            // circular, for hue
            let d =
                ((i as f64 - centre).rem_euclid(256.0)).min((centre - i as f64).rem_euclid(256.0));
            *slot = (n as f64 * (-0.5 * (d / sigma).powi(2)).exp()).round() as u64;
        }
        h
    }

    #[test]
    fn hue_distance_wraps() {
        assert_eq!(hue_dist(250, 4), 10);
        assert_eq!(hue_dist(4, 250), 10);
        assert_eq!(hue_dist(0, 128), 128);
        assert_eq!(hue_dist(85, 85), 0);
    }

    #[test]
    fn red_key_centre_straddles_zero() {
        let s = Samples {
            hue: gaussian_hist(254.0, 3.0, 1000),
            sat: gaussian_hist(200.0, 5.0, 1000),
            val: gaussian_hist(190.0, 5.0, 1000),
        };
        let k = KeyModel::from_samples(&s);
        let h = k.hue.expect("chromatic");
        assert!(hue_dist(h, 254) <= 1, "centre {h}");
        assert!(k.hue_tol < 20.0, "tolerance {}", k.hue_tol);
        assert_eq!(k.spill, Spill::Primary(2));
    }

    #[test]
    fn tolerances_do_not_depend_on_sample_count_and_resist_outliers() {
        let small = Samples {
            hue: gaussian_hist(85.0, 3.0, 10),
            sat: gaussian_hist(200.0, 5.0, 10),
            val: gaussian_hist(180.0, 5.0, 10),
        };
        let mut big = Samples {
            hue: gaussian_hist(85.0, 3.0, 100_000),
            sat: gaussian_hist(200.0, 5.0, 100_000),
            val: gaussian_hist(180.0, 5.0, 100_000),
        };
        let (a, b) = (KeyModel::from_samples(&small), KeyModel::from_samples(&big));
        assert!(
            (a.hue_tol - b.hue_tol).abs() <= 2.0,
            "{} vs {}",
            a.hue_tol,
            b.hue_tol
        );
        // 30% of the window is a red object: the key stays green with the same tolerance.
        let total_hue: u64 = big.hue.iter().sum();
        big.hue[5] += total_hue * 3 / 10;
        let c = KeyModel::from_samples(&big);
        assert!(hue_dist(c.hue.unwrap(), 85) <= 2);
        assert!(
            c.hue_tol <= b.hue_tol + 8.0 && c.hue_tol < 30.0,
            "{} vs {}",
            c.hue_tol,
            b.hue_tol
        );
        assert_eq!(c.spill, Spill::Primary(1));
    }

    #[test]
    fn grey_screen_is_an_achromatic_key() {
        let s = Samples {
            hue: [0; 256],
            sat: gaussian_hist(10.0, 3.0, 1000),
            val: gaussian_hist(128.0, 4.0, 1000),
        };
        let k = KeyModel::from_samples(&s);
        assert_eq!(k.hue, None);
        let lut = k.lut().unwrap();
        // Grey of the screen keyed, saturated or much darker pixels foreground.
        assert_eq!(lut.at_2d::<Vec3b>(0, 10).unwrap()[1], 0);
        assert_eq!(lut.at_2d::<Vec3b>(0, 200).unwrap()[1], 255);
        assert_eq!(lut.at_2d::<Vec3b>(0, 128).unwrap()[2], 0);
        assert_eq!(lut.at_2d::<Vec3b>(0, 30).unwrap()[2], 255);
    }
}
