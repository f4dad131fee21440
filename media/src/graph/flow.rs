//! MediaFlowIn/Out tracking: flowing when buffers pass, NOT_FLOWING after ~2 s without.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::api_contract::{ElementEvent, EventSink, MediaEvent, MediaKind};

pub const NOT_FLOWING_AFTER_MS: u64 = 2000;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowDir {
    In,
    Out,
}

#[derive(Default)]
struct Slot {
    last: AtomicU64,
    flowing: AtomicBool,
}

/// Weight of the newest sample in the latency averages.
const LATENCY_WEIGHT: f64 = 0.1;

/// Per element: in/out × audio/video, and (with the pipeline's latency stats on) how old
/// buffers are when they reach the element's inputs.
pub struct FlowTracker {
    element: String,
    events: EventSink,
    slots: [Slot; 4],
    /// The pipeline's `latencyStats`.
    latency_on: Arc<AtomicBool>,
    /// Moving averages of input latency in nanoseconds: audio, video.
    latency: parking_lot::Mutex<[Option<f64>; 2]>,
}

fn idx(dir: FlowDir, media: MediaKind) -> Option<usize> {
    let m = match media {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
        MediaKind::Data => return None,
    };
    Some(if dir == FlowDir::In { m } else { 2 + m })
}

impl FlowTracker {
    pub fn new(element: &str, events: EventSink, latency_on: Arc<AtomicBool>) -> Self {
        Self {
            element: element.to_string(),
            events,
            slots: Default::default(),
            latency_on,
            latency: parking_lot::Mutex::new([None; 2]),
        }
    }

    pub fn latency_on(&self) -> bool {
        self.latency_on.load(Ordering::Relaxed)
    }

    /// Streaming thread: a buffer reached an input `ns` nanoseconds after it entered the
    /// pipeline.
    pub fn record_latency(&self, media: MediaKind, ns: u64) {
        let i = match media {
            MediaKind::Audio => 0,
            MediaKind::Video => 1,
            MediaKind::Data => return,
        };
        let mut avg = self.latency.lock();
        let sample = ns as f64;
        avg[i] = Some(avg[i].map_or(sample, |a| a + LATENCY_WEIGHT * (sample - a)));
    }

    pub fn clear_latencies(&self) {
        *self.latency.lock() = [None; 2];
    }

    /// The average input latency per media type, in nanoseconds.
    pub fn latencies(&self) -> Vec<(MediaKind, f64)> {
        let avg = self.latency.lock();
        [(MediaKind::Audio, avg[0]), (MediaKind::Video, avg[1])]
            .into_iter()
            .filter_map(|(m, a)| Some((m, a?)))
            .collect()
    }

    /// Streaming thread: a buffer passed.
    pub fn mark(&self, dir: FlowDir, media: MediaKind) {
        let Some(i) = idx(dir, media) else { return };
        let slot = &self.slots[i];
        slot.last.store(now_ms(), Ordering::Relaxed);
        if !slot.flowing.swap(true, Ordering::SeqCst) {
            self.emit(dir, media, true);
        }
    }

    pub fn is_flowing(&self, dir: FlowDir, media: MediaKind) -> bool {
        let Some(i) = idx(dir, media) else {
            return false;
        };
        let slot = &self.slots[i];
        slot.flowing.load(Ordering::SeqCst)
            && now_ms().saturating_sub(slot.last.load(Ordering::Relaxed)) <= NOT_FLOWING_AFTER_MS
    }

    /// Periodic check (bus thread): emits NOT_FLOWING for stale slots.
    pub fn tick(&self) {
        let now = now_ms();
        for dir in [FlowDir::In, FlowDir::Out] {
            for media in [MediaKind::Audio, MediaKind::Video] {
                let slot = &self.slots[idx(dir, media).expect("a/v")];
                if slot.flowing.load(Ordering::SeqCst)
                    && now.saturating_sub(slot.last.load(Ordering::Relaxed)) > NOT_FLOWING_AFTER_MS
                    && slot.flowing.swap(false, Ordering::SeqCst)
                {
                    self.emit(dir, media, false);
                }
            }
        }
    }

    fn emit(&self, dir: FlowDir, media: MediaKind, flowing: bool) {
        let event = match dir {
            FlowDir::In => MediaEvent::MediaFlowIn { media, flowing },
            FlowDir::Out => MediaEvent::MediaFlowOut { media, flowing },
        };
        (self.events)(ElementEvent {
            element: self.element.clone(),
            event,
        });
    }
}
