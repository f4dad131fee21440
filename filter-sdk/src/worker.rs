//! Analysis at its own pace: [`LatestFrameWorker`].
//!
//! `process` runs on the streaming thread, so whatever it spends delays every frame. A filter
//! whose analysis is slow (detection, OCR, optical flow) keeps `process` cheap with this
//! helper: it hands the worker a copy of the frame (or of whatever the analysis needs, e.g. a
//! downscaled grey image) with [`LatestFrameWorker::submit`], which never blocks and replaces
//! an input the worker has not started yet, and draws every frame with the most recent result
//! from [`LatestFrameWorker::latest`]. Output keeps the input frame rate, the analysis runs as
//! fast as it can on its own thread, and frames are never held back waiting for it.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

struct Slot<I> {
    pending: Option<I>,
    stop: bool,
}

struct Published<O> {
    seq: u64,
    value: Option<Arc<O>>,
}

struct Shared<I, O> {
    slot: Mutex<Slot<I>>,
    wake: Condvar,
    result: Mutex<Published<O>>,
    published: Condvar,
}

/// A thread that analyses the latest submitted input and publishes the latest result.
///
/// Dropping it stops the thread (after the analysis in progress) and joins it.
pub struct LatestFrameWorker<I: Send + 'static, O: Send + Sync + 'static> {
    shared: Arc<Shared<I, O>>,
    handle: Option<JoinHandle<()>>,
}

impl<I: Send + 'static, O: Send + Sync + 'static> LatestFrameWorker<I, O> {
    /// Starts a thread named `name` (at most 15 bytes show in `top`) running `analyse` on each
    /// input it takes. `analyse` returning `None` publishes nothing (the previous result stays).
    pub fn spawn<F>(name: &str, analyse: F) -> std::io::Result<Self>
    where
        F: FnMut(I) -> Option<O> + Send + 'static,
    {
        Self::spawn_paced(name, || None, analyse)
    }

    /// As [`LatestFrameWorker::spawn`], with analyses started at most once per `min_interval()`
    /// (asked before each one, so it may follow a setting; `None`: no limit). Frames submitted
    /// meanwhile replace each other, and the newest is analysed when the interval is over.
    pub fn spawn_paced<P, F>(name: &str, min_interval: P, mut analyse: F) -> std::io::Result<Self>
    where
        P: Fn() -> Option<Duration> + Send + 'static,
        F: FnMut(I) -> Option<O> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot {
                pending: None,
                stop: false,
            }),
            wake: Condvar::new(),
            result: Mutex::new(Published {
                seq: 0,
                value: None,
            }),
            published: Condvar::new(),
        });
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut last_start: Option<Instant> = None;
                loop {
                    // Asked outside the lock: it may run the filter's own code.
                    let not_before = last_start.zip(min_interval()).map(|(t, i)| t + i);
                    let input = {
                        let mut slot = s.slot.lock();
                        if slot.stop {
                            return;
                        }
                        if let Some(t) = not_before.filter(|&t| Instant::now() < t) {
                            s.wake.wait_until(&mut slot, t);
                            continue;
                        }
                        match slot.pending.take() {
                            Some(i) => i,
                            None => {
                                s.wake.wait(&mut slot);
                                continue;
                            }
                        }
                    };
                    last_start = Some(Instant::now());
                    if let Some(out) = analyse(input) {
                        let mut r = s.result.lock();
                        r.seq += 1;
                        r.value = Some(Arc::new(out));
                        drop(r);
                        s.published.notify_all();
                    }
                }
            })?;
        Ok(LatestFrameWorker {
            shared,
            handle: Some(handle),
        })
    }

    /// Makes the worker look at its pacing again now (after the setting behind `min_interval`
    /// changed).
    pub fn wake(&self) {
        self.shared.wake.notify_all();
    }

    /// Replaces the latest result by `refined` if it is still `seen`, without counting a new
    /// result (for work done on the result outside the worker, e.g. preparing a new overlay for
    /// the faces already found). Returns whether it did.
    pub fn refine_latest(&self, seen: &Arc<O>, refined: O) -> bool {
        let mut r = self.shared.result.lock();
        match &r.value {
            Some(current) if Arc::ptr_eq(current, seen) => {
                r.value = Some(Arc::new(refined));
                true
            }
            _ => false,
        }
    }

    /// Hands `input` to the worker without waiting. Returns `true` when it replaced an older
    /// input the worker had not started on (that one is dropped, never analysed).
    pub fn submit(&self, input: I) -> bool {
        let replaced = self.shared.slot.lock().pending.replace(input).is_some();
        self.shared.wake.notify_one();
        if replaced {
            crate::frame_counters::count_dropped_here();
        }
        replaced
    }

    /// The most recent result, if any.
    pub fn latest(&self) -> Option<Arc<O>> {
        self.shared.result.lock().value.clone()
    }

    /// The most recent result with its sequence number (1 for the first result, +1 for each
    /// new one): compare with the last one seen to act once per result (e.g. emit an event).
    pub fn latest_with_seq(&self) -> (u64, Option<Arc<O>>) {
        let r = self.shared.result.lock();
        (r.seq, r.value.clone())
    }

    /// Waits at most `timeout` for a result newer than `seq` (for tests and tools; never call
    /// it from `process`).
    pub fn wait_newer(&self, seq: u64, timeout: Duration) -> Option<(u64, Arc<O>)> {
        let deadline = Instant::now() + timeout;
        let mut r = self.shared.result.lock();
        while r.seq <= seq {
            if self
                .shared
                .published
                .wait_until(&mut r, deadline)
                .timed_out()
            {
                break;
            }
        }
        (r.seq > seq).then(|| (r.seq, r.value.clone().expect("published")))
    }
}

impl<I: Send + 'static, O: Send + Sync + 'static> Drop for LatestFrameWorker<I, O> {
    fn drop(&mut self) {
        {
            let mut slot = self.shared.slot.lock();
            slot.stop = true;
            slot.pending = None;
        }
        self.shared.wake.notify_all();
        if let Some(h) = self.handle.take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn submit_never_waits_and_the_latest_input_wins() {
        let (started_tx, started) = mpsc::channel::<u32>();
        let (gate, gate_rx) = mpsc::channel::<()>();
        let w = LatestFrameWorker::spawn("sdk-worker-test", move |x: u32| {
            started_tx.send(x).unwrap();
            gate_rx.recv().unwrap();
            Some(x * 10)
        })
        .unwrap();
        assert!(w.latest().is_none());
        assert!(!w.submit(1));
        assert_eq!(started.recv_timeout(T).unwrap(), 1);
        // The worker is busy with 1 (blocked on the gate): submitting returns at once, and 3
        // replaces 2, which is never analysed.
        assert!(!w.submit(2));
        assert!(w.submit(3));
        assert!(w.latest().is_none());
        gate.send(()).unwrap();
        let (seq, r) = w.wait_newer(0, T).unwrap();
        assert_eq!((seq, *r), (1, 10));
        assert_eq!(started.recv_timeout(T).unwrap(), 3);
        gate.send(()).unwrap();
        let (seq, r) = w.wait_newer(1, T).unwrap();
        assert_eq!((seq, *r), (2, 30));
        assert_eq!(*w.latest().unwrap(), 30);
        assert_eq!(w.latest_with_seq().0, 2);
        assert!(started.try_recv().is_err(), "2 must never be analysed");
        // Nothing newer arrives.
        assert!(w.wait_newer(2, Duration::from_millis(50)).is_none());
    }

    #[test]
    fn none_keeps_the_previous_result_and_drop_joins() {
        let (done_tx, done) = mpsc::channel::<u32>();
        let w = LatestFrameWorker::spawn("sdk-worker-test", move |x: u32| {
            done_tx.send(x).unwrap();
            x.is_multiple_of(2).then_some(x)
        })
        .unwrap();
        w.submit(4);
        assert_eq!(*w.wait_newer(0, T).unwrap().1, 4);
        w.submit(5);
        assert_eq!(done.recv_timeout(T).unwrap(), 4);
        assert_eq!(done.recv_timeout(T).unwrap(), 5);
        assert_eq!((w.latest_with_seq().0, *w.latest().unwrap()), (1, 4));
        drop(w);
        // The thread has exited: its sender is gone.
        assert!(matches!(
            done.recv_timeout(T),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ));
    }

    #[test]
    fn paced_analyses_take_the_newest_input_once_the_interval_is_over() {
        let (done_tx, done) = mpsc::channel::<u32>();
        let w = LatestFrameWorker::spawn_paced(
            "sdk-worker-test",
            || Some(Duration::from_secs(3600)),
            move |x: u32| {
                done_tx.send(x).unwrap();
                Some(x)
            },
        )
        .unwrap();
        w.submit(1);
        assert_eq!(done.recv_timeout(T).unwrap(), 1);
        // Within the interval: nothing more is analysed, however much is submitted.
        w.submit(2);
        w.submit(3);
        assert!(done.recv_timeout(Duration::from_millis(200)).is_err());
        assert_eq!(*w.latest().unwrap(), 1);
    }

    #[test]
    fn a_result_is_refined_only_while_it_is_the_latest() {
        let w = LatestFrameWorker::spawn("sdk-worker-test", |x: u32| Some(x)).unwrap();
        w.submit(1);
        let (seq, first) = w.wait_newer(0, T).unwrap();
        assert!(w.refine_latest(&first, 10));
        assert_eq!((w.latest_with_seq().0, *w.latest().unwrap()), (seq, 10));
        // `first` is no longer the latest: a second refinement of it is refused.
        assert!(!w.refine_latest(&first, 20));
        assert_eq!(*w.latest().unwrap(), 10);
    }
}
