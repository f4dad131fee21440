//! The video bitrate an endpoint's receiver can take, for the streams Rheo encodes for it: the
//! loss-based half of Google Congestion Control (draft-ietf-rmcat-gcc, section 6) on the
//! receiver's reports, capped by its REMB estimate, within the endpoint's
//! `minVideoSendBandwidth` and `maxVideoSendBandwidth` (Kurento's defaults: 100 and 500 kbps;
//! a maximum of 0 means none).

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Kurento's defaults for `minVideoSendBandwidth` and `maxVideoSendBandwidth`, in kbps.
pub const DEFAULT_MIN_KBPS: u32 = 100;
pub const DEFAULT_MAX_KBPS: u32 = 500;
/// Where the estimate starts without a maximum: the encoders' own default.
const UNBOUNDED_START: u64 = 1_500_000;
/// The highest estimate without a maximum.
const UNBOUNDED_CEILING: u64 = 20_000_000;
/// How often the estimate may grow while reports show (almost) no loss.
const INCREASE_EVERY: Duration = Duration::from_secs(1);

struct State {
    min: u64,
    /// 0: no maximum.
    max: u64,
    loss_based: u64,
    remb: Option<u64>,
    last_increase: Option<Instant>,
}

pub struct SendBitrate {
    state: Mutex<State>,
}

impl Default for SendBitrate {
    fn default() -> Self {
        let max = u64::from(DEFAULT_MAX_KBPS) * 1000;
        SendBitrate {
            state: Mutex::new(State {
                min: u64::from(DEFAULT_MIN_KBPS) * 1000,
                max,
                loss_based: max,
                remb: None,
                last_increase: None,
            }),
        }
    }
}

impl SendBitrate {
    /// New bounds, in kbps. An estimate at the old maximum moves to the new one (the
    /// application asked for it, and feedback takes it down from there); one that feedback
    /// had lowered stays, under the new maximum.
    pub fn set_bounds(&self, min_kbps: u32, max_kbps: u32) {
        let mut s = self.state.lock();
        let old_ceiling = if s.max == 0 { UNBOUNDED_START } else { s.max };
        s.min = u64::from(min_kbps) * 1000;
        s.max = u64::from(max_kbps) * 1000;
        let ceiling = if s.max == 0 { UNBOUNDED_START } else { s.max };
        s.loss_based = if s.loss_based >= old_ceiling {
            ceiling
        } else {
            s.loss_based.min(ceiling)
        };
    }

    /// The bits per second to encode at now.
    pub fn wanted(&self) -> u64 {
        let s = self.state.lock();
        let ceiling = if s.max == 0 { UNBOUNDED_CEILING } else { s.max };
        let estimate = s.loss_based.min(s.remb.unwrap_or(u64::MAX));
        // A minimum above the maximum yields to it.
        estimate.max(s.min).min(ceiling)
    }

    /// A receiver report: `fraction` of the packets since its previous one were lost.
    pub fn on_loss(&self, fraction: f64, now: Instant) {
        let mut s = self.state.lock();
        let ceiling = if s.max == 0 { UNBOUNDED_CEILING } else { s.max };
        if fraction > 0.10 {
            s.loss_based = ((s.loss_based as f64) * (1.0 - 0.5 * fraction)) as u64;
            s.loss_based = s.loss_based.max(s.min);
        } else if fraction < 0.02
            && s.last_increase
                .is_none_or(|t| now.duration_since(t) >= INCREASE_EVERY)
        {
            s.loss_based = ((s.loss_based as f64 * 1.05) as u64 + 1000).min(ceiling);
            s.last_increase = Some(now);
        }
    }

    /// The receiver's REMB estimate for what this endpoint sends.
    pub fn on_remb(&self, bits_per_second: u64) {
        self.state.lock().remb = Some(bits_per_second);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_kurentos_maximum_and_keeps_within_the_bounds() {
        let b = SendBitrate::default();
        assert_eq!(b.wanted(), 500_000);
        b.set_bounds(200, 1000);
        assert_eq!(b.wanted(), 1_000_000);
        b.on_remb(50_000);
        assert_eq!(b.wanted(), 200_000, "the minimum holds under a low REMB");
        b.set_bounds(300, 250);
        assert_eq!(b.wanted(), 250_000, "a minimum above the maximum yields");
        b.set_bounds(0, 0);
        b.on_remb(u64::MAX);
        assert_eq!(b.wanted(), UNBOUNDED_START);
    }

    #[test]
    fn new_bounds_keep_what_feedback_learned() {
        let b = SendBitrate::default();
        b.on_loss(0.4, Instant::now());
        assert_eq!(b.wanted(), 400_000);
        b.set_bounds(100, 1000);
        assert_eq!(b.wanted(), 400_000, "a lowered estimate stays");
        b.set_bounds(100, 300);
        assert_eq!(b.wanted(), 300_000, "under the new maximum");
    }

    #[test]
    fn heavy_loss_halves_by_the_loss_and_a_clean_path_grows_slowly() {
        let b = SendBitrate::default();
        let t = Instant::now();
        b.on_loss(0.2, t);
        assert_eq!(b.wanted(), 450_000);
        b.on_loss(0.05, t);
        assert_eq!(b.wanted(), 450_000, "moderate loss holds the rate");
        b.on_loss(0.0, t);
        let grown = b.wanted();
        assert!(grown > 450_000 && grown < 500_000, "{grown}");
        b.on_loss(0.0, t + Duration::from_millis(500));
        assert_eq!(b.wanted(), grown, "at most once a second");
        for i in 1..=10 {
            b.on_loss(0.0, t + Duration::from_secs(i));
        }
        assert_eq!(b.wanted(), 500_000, "never above the maximum");
        for _ in 0..50 {
            b.on_loss(0.9, t);
        }
        assert_eq!(b.wanted(), 100_000, "never below the minimum");
    }
}
