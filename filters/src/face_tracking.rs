//! Steadies detected faces over time: each face is followed from detection to detection, its
//! centre, size and roll smoothed with a One Euro filter (Casiez et al., CHI 2012: strong
//! smoothing while the face is still, little lag while it moves), and a face the detector misses
//! for a moment is kept for [`HOLD`] instead of blinking out.

use std::time::Duration;

use crate::faceoverlay::FaceBox;

/// How long a face stays after the detector last found it.
pub const HOLD: Duration = Duration::from_millis(500);

/// Cut-off frequency when still, in Hz: jitter of a few percent of the face is smoothed out.
const MIN_CUTOFF_HZ: f32 = 1.0;
/// How fast the cut-off rises with speed (per face size per second): a moving face is followed.
const SPEED_COEFFICIENT: f32 = 4.0;
/// Cut-off of the speed estimate itself, in Hz.
const SPEED_CUTOFF_HZ: f32 = 1.0;
/// A detection belongs to a followed face when its centre is within this many face sizes.
const SAME_FACE_DISTANCE: f32 = 0.6;

/// One value's One Euro filter, in units of the face size (so one tuning fits every scale).
#[derive(Clone, Debug)]
struct OneEuro {
    value: f32,
    speed: f32,
}

fn smoothing(cutoff_hz: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * std::f32::consts::PI * cutoff_hz);
    1.0 / (1.0 + tau / dt)
}

impl OneEuro {
    fn new(value: f32) -> Self {
        OneEuro { value, speed: 0.0 }
    }

    fn update(&mut self, value: f32, dt: f32) -> f32 {
        if dt <= 0.0 {
            return self.value;
        }
        let speed = (value - self.value) / dt;
        self.speed += smoothing(SPEED_CUTOFF_HZ, dt) * (speed - self.speed);
        let cutoff = MIN_CUTOFF_HZ + SPEED_COEFFICIENT * self.speed.abs();
        self.value += smoothing(cutoff, dt) * (value - self.value);
        self.value
    }
}

/// A followed face: centre, width, height (in face sizes) and roll (in radians).
#[derive(Clone)]
struct Track {
    /// The face size the other values are divided by (the first detection's width).
    unit: f32,
    filters: [OneEuro; 5],
    last_seen: Duration,
    last_update: Duration,
}

impl Track {
    fn new(face: &FaceBox, at: Duration) -> Self {
        let unit = face.width.max(1) as f32;
        let v = values(face, unit);
        Track {
            unit,
            filters: v.map(OneEuro::new),
            last_seen: at,
            last_update: at,
        }
    }

    fn centre(&self) -> (f32, f32) {
        (
            self.filters[0].value * self.unit,
            self.filters[1].value * self.unit,
        )
    }

    fn face(&self) -> FaceBox {
        let (cx, cy) = self.centre();
        let (w, h) = (
            self.filters[2].value * self.unit,
            self.filters[3].value * self.unit,
        );
        FaceBox {
            x: (cx - w / 2.0).max(0.0).round() as u32,
            y: (cy - h / 2.0).max(0.0).round() as u32,
            width: w.max(1.0).round() as u32,
            height: h.max(1.0).round() as u32,
            roll: self.filters[4].value.to_degrees(),
        }
    }
}

/// Centre x, centre y, width, height in `unit`s, and roll in radians.
fn values(face: &FaceBox, unit: f32) -> [f32; 5] {
    [
        (face.x as f32 + face.width as f32 / 2.0) / unit,
        (face.y as f32 + face.height as f32 / 2.0) / unit,
        face.width as f32 / unit,
        face.height as f32 / unit,
        face.roll.to_radians(),
    ]
}

/// Follows the faces of one stream.
#[derive(Default, Debug)]
pub struct FaceTracker {
    tracks: Vec<Track>,
}

impl std::fmt::Debug for Track {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Track({:?})", self.face())
    }
}

impl FaceTracker {
    /// Takes one detection's faces, found at stream time `at`, and returns the faces to show:
    /// followed ones smoothed, new ones as found, and missed ones held for [`HOLD`].
    pub fn update(&mut self, detected: &[FaceBox], at: Duration) -> Vec<FaceBox> {
        let mut taken = vec![false; self.tracks.len()];
        let mut born = Vec::new();
        for face in detected {
            let (cx, cy) = (
                face.x as f32 + face.width as f32 / 2.0,
                face.y as f32 + face.height as f32 / 2.0,
            );
            let nearest = self
                .tracks
                .iter()
                .enumerate()
                .filter(|(i, _)| !taken[*i])
                .map(|(i, t)| {
                    let (tx, ty) = t.centre();
                    let size = t.filters[2].value * t.unit;
                    (
                        i,
                        ((tx - cx).powi(2) + (ty - cy).powi(2)).sqrt() / size.max(1.0),
                    )
                })
                .filter(|(_, d)| *d < SAME_FACE_DISTANCE)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match nearest {
                Some((i, _)) => {
                    taken[i] = true;
                    let track = &mut self.tracks[i];
                    // Stream time can jump back (a seek, a new segment): start over from it.
                    let dt = at.saturating_sub(track.last_update).as_secs_f32();
                    let v = values(face, track.unit);
                    if at < track.last_update {
                        track.filters = v.map(OneEuro::new);
                    } else {
                        for (filter, value) in track.filters.iter_mut().zip(v) {
                            filter.update(value, dt);
                        }
                    }
                    track.last_seen = at;
                    track.last_update = at;
                }
                None => born.push(Track::new(face, at)),
            }
        }
        self.tracks
            .retain(|t| t.last_seen <= at && at - t.last_seen <= HOLD);
        self.tracks.extend(born);
        self.tracks.iter().map(Track::face).collect()
    }

    /// Forgets every face (the stream restarted).
    pub fn clear(&mut self) {
        self.tracks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: u32, width: u32, roll: f32) -> FaceBox {
        FaceBox {
            x,
            y: 100,
            width,
            height: width,
            roll,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_still_face_jittering_is_steadied() {
        let mut tracker = FaceTracker::default();
        let mut shown = Vec::new();
        // ±6 px of jitter on a 100 px face, 15 detections a second.
        for i in 0..30u64 {
            let jitter = if i % 2 == 0 { 6 } else { 0 };
            let out = tracker.update(&[face(200 + jitter, 100, 0.0)], ms(i * 66));
            assert_eq!(out.len(), 1);
            shown.push(out[0].x as i64);
        }
        let settled = &shown[10..];
        let spread = settled.iter().max().unwrap() - settled.iter().min().unwrap();
        assert!(spread <= 2, "shown x {shown:?}");
    }

    #[test]
    fn a_moving_face_is_followed_with_little_lag() {
        let mut tracker = FaceTracker::default();
        let mut last = Vec::new();
        // Two face widths a second, steadily.
        for i in 0..30u64 {
            let x = 100 + (i * 200 * 66 / 1000) as u32;
            last = tracker.update(&[face(x, 100, 0.0)], ms(i * 66));
        }
        let truth = 100 + (29 * 200 * 66 / 1000) as i64;
        let lag = truth - last[0].x as i64;
        assert!((0..=20).contains(&lag), "lag {lag} px");
    }

    #[test]
    fn a_missed_face_is_held_then_dropped_and_a_new_one_appears_at_once() {
        let mut tracker = FaceTracker::default();
        tracker.update(&[face(200, 100, 10.0)], ms(0));
        assert_eq!(tracker.update(&[], ms(300)).len(), 1);
        assert_eq!(tracker.update(&[], ms(600)).len(), 0);
        let both = tracker.update(&[face(200, 100, 0.0), face(500, 80, 20.0)], ms(700));
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].x, 500);
        assert!((both[1].roll - 20.0).abs() < 1e-3);
    }

    #[test]
    fn the_roll_is_smoothed_and_time_going_back_starts_over() {
        let mut tracker = FaceTracker::default();
        tracker.update(&[face(200, 100, 0.0)], ms(0));
        let out = tracker.update(&[face(200, 100, 10.0)], ms(66));
        assert!(out[0].roll > 0.0 && out[0].roll < 10.0, "{out:?}");
        let restarted = tracker.update(&[face(210, 100, 30.0)], ms(10));
        assert_eq!(restarted[0].x, 210);
        assert!((restarted[0].roll - 30.0).abs() < 1e-3);
    }
}
