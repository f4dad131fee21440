//! Process-wide frame counters per filter class, read by the server's `/metrics`.
//!
//! *Processed*: frames a filter ran on. *Dropped*: frames it did not analyse — handed to a
//! background analysis and replaced by a newer frame before it started, or failed on (the frame
//! then passes through unchanged).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The counters of one filter class.
#[derive(Debug, Default)]
pub struct FrameCounters {
    processed: AtomicU64,
    dropped: AtomicU64,
}

impl FrameCounters {
    /// Counts one frame the filter ran on.
    pub fn count_processed(&self) {
        self.processed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one frame the filter did not analyse.
    pub fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Totals of one filter class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameTotals {
    /// The Kurento class name (e.g. `FaceOverlayFilter`).
    pub filter: String,
    /// Frames processed.
    pub processed: u64,
    /// Frames dropped.
    pub dropped: u64,
}

fn table() -> &'static Mutex<BTreeMap<String, Arc<FrameCounters>>> {
    static TABLE: OnceLock<Mutex<BTreeMap<String, Arc<FrameCounters>>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// The counters of `filter`, created on first use; keep the `Arc` rather than asking per frame.
pub fn counters_for(filter: &str) -> Arc<FrameCounters> {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.entry(filter.to_owned()).or_default().clone()
}

/// Every filter class's totals so far, sorted by class.
pub fn snapshot() -> Vec<FrameTotals> {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.iter()
        .map(|(filter, c)| FrameTotals {
            filter: filter.clone(),
            processed: c.processed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        })
        .collect()
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<FrameCounters>>> = const { RefCell::new(None) };
}

/// Runs `f` (a filter's per-frame work) with `counters` as the current filter's, so that
/// helpers it calls (such as the analysis worker) can count drops against the right class.
pub fn while_processing<R>(counters: &Arc<FrameCounters>, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(Some(counters.clone())));
    struct Restore(Option<Arc<FrameCounters>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Counts a dropped frame against the filter being processed on this thread, if any.
pub fn count_dropped_here() {
    CURRENT.with(|c| {
        if let Some(counters) = c.borrow().as_ref() {
            counters.count_dropped();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_against_the_filter_being_processed() {
        let c = counters_for("CounterTestFilter");
        while_processing(&c, || {
            c.count_processed();
            count_dropped_here();
        });
        count_dropped_here(); // outside any filter: not counted
        let t = snapshot()
            .into_iter()
            .find(|t| t.filter == "CounterTestFilter")
            .unwrap();
        assert_eq!((t.processed, t.dropped), (1, 1));
    }
}
