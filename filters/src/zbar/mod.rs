//! `kurento.ZBarFilter`: QR code and barcode reader (element `rheozbar`), on Debian's `libzbar0`.
//!
//! Same interface as Kurento (no constructor params, event `CodeFound {codeType, value}` with
//! zbar's symbology names: `QR-Code`, `EAN-13`, `CODE-128`, …), different insides:
//!
//! * **I420 in, Y plane scanned**: no colour conversion; the plane is copied row by row into a
//!   packed buffer (zbar has no stride) only for the frames that are scanned.
//! * **At most [`SCANS_PER_SECOND`] scans per second of stream time** (frame PTS; frames without
//!   a PTS count as 30 fps), **on a thread of the filter's own** ([`LatestFrameWorker`]): the
//!   streaming thread only copies the Y plane of one frame in three (at 30 fps) and raises the
//!   events of finished scans; it never waits for zbar. A frame submitted while the previous
//!   scan is still running replaces any frame still waiting (the scanner keeps up at its own
//!   pace). Events carry the stream time of the frame scanned, so de-duplication does not
//!   depend on how fast the scans run. The video is never modified.
//! * **De-duplication per code**: an event when a (type, value) pair is seen for the first time,
//!   then again for the same pair at most once per [`REPEAT_NS`] of stream time while it stays
//!   in view. Each pair has its own last-emitted time, so two codes in view give one event each
//!   per second instead of Kurento's storm (its single "last code" slot flips every frame).
//!   Stream time going backwards (a new segment) counts as a new code. Pairs not seen for
//!   [`FORGET_NS`] are forgotten (bounded memory).

mod ffi;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;

use rheo_filter_sdk::worker::LatestFrameWorker;

use rheo_filter_sdk::{
    Args, Context, Event, FilterError, FilterInfo, Frame, Param, PixelFormat, Type, Value,
    VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

pub use ffi::Symbol;

/// Upper bound on scans per second of stream time.
pub const SCANS_PER_SECOND: u64 = 10;
/// Minimum stream time between two events of the same (type, value): one second.
pub const REPEAT_NS: u64 = 1_000_000_000;
/// A (type, value) not seen for this long is forgotten.
pub const FORGET_NS: u64 = 60 * REPEAT_NS;
/// Frame rate assumed for frames without a PTS.
const DEFAULT_FPS: u64 = 30;
const SCAN_INTERVAL_NS: u64 = 1_000_000_000 / SCANS_PER_SECOND;

/// The Kurento interface of `kurento.ZBarFilter`.
pub static INFO: FilterInfo = FilterInfo {
    module: "filters",
    class: "ZBarFilter",
    element: "rheozbar",
    description: "Reads QR codes and barcodes in the video (zbar) and raises CodeFound once per \
                  new code, then at most once per second per code while it stays in view",
    constructor: &[],
    methods: &[],
    properties: &[],
    events: &[Event {
        name: "CodeFound",
        fields: &[
            Param {
                name: "codeType",
                ty: Type::String,
                default: None,
                doc: "Symbology, as zbar names it (QR-Code, EAN-13, CODE-128, ...)",
            },
            Param {
                name: "value",
                ty: Type::String,
                default: None,
                doc: "The decoded text",
            },
        ],
        doc: "A code was read: a new one, or one still in view a second after its last event",
    }],
    format: PixelFormat::I420,
    data: DataUse::None,
    parent: Parent::Filter,
};

/// Per-(type, value) de-duplication on stream time.
#[derive(Default)]
pub(crate) struct Dedup {
    /// (type, value) → (stream time of its last event, stream time it was last seen).
    last: HashMap<(String, String), (u64, u64)>,
}

impl Dedup {
    /// Whether a code seen at `now` deserves an event (and records it).
    pub(crate) fn admit(&mut self, sym: &Symbol, now: u64) -> bool {
        let key = (sym.kind.clone(), sym.data.clone());
        match self.last.get_mut(&key) {
            Some((emitted, seen)) => {
                *seen = now;
                if now < *emitted || now - *emitted >= REPEAT_NS {
                    *emitted = now;
                    true
                } else {
                    false
                }
            }
            None => {
                self.last.insert(key, (now, now));
                true
            }
        }
    }

    /// Forgets codes not seen for [`FORGET_NS`] before `now` (or seen "after" it: a new segment).
    pub(crate) fn prune(&mut self, now: u64) {
        self.last
            .retain(|_, (_, seen)| *seen <= now && now - *seen < FORGET_NS);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last.len()
    }
}

/// A Y plane handed to the scanning thread.
struct Job {
    pts: u64,
    width: u32,
    height: u32,
    grey: Vec<u8>,
}

/// What one scan found, at the stream time of the frame scanned.
struct Scan {
    pts: u64,
    symbols: Vec<Symbol>,
}

/// The filter.
pub struct ZBarFilter {
    /// Scans the latest submitted Y plane on a thread of its own.
    worker: LatestFrameWorker<Job, Scan>,
    /// Sequence number of the last scan result handled.
    seen: u64,
    /// Stream time of the last frame submitted for scanning.
    last_scan: Option<u64>,
    /// Stream time of frames without a PTS (frame count at 30 fps).
    frames: u64,
    dedup: Dedup,
    /// Frames submitted for scanning.
    submitted: u64,
    /// Of those, frames the worker will scan (not replaced by a later frame while waiting).
    to_scan: u64,
}

impl ZBarFilter {
    /// Number of frames submitted for scanning so far.
    pub fn scans(&self) -> u64 {
        self.submitted
    }

    fn due(&mut self, now: u64) -> bool {
        match self.last_scan {
            Some(t) if now >= t && now - t < SCAN_INTERVAL_NS => false,
            _ => {
                self.last_scan = Some(now);
                true
            }
        }
    }

    /// Raises the events of a scan result not handled yet.
    fn collect(&mut self, ctx: &mut dyn Context) {
        let (seq, latest) = self.worker.latest_with_seq();
        if seq == self.seen {
            return;
        }
        self.seen = seq;
        let Some(scan) = latest else { return };
        for sym in &scan.symbols {
            if self.dedup.admit(sym, scan.pts) {
                ctx.emit(
                    "CodeFound",
                    vec![
                        ("codeType", Value::String(sym.kind.clone())),
                        ("value", Value::String(sym.data.clone())),
                    ],
                );
            }
        }
        self.dedup.prune(scan.pts);
    }

    /// Waits (at most 10 s) until every submitted frame is scanned (tests).
    #[cfg(test)]
    fn settle(&self) {
        let (seq, _) = self.worker.latest_with_seq();
        if seq < self.to_scan {
            self.worker
                .wait_newer(self.to_scan - 1, std::time::Duration::from_secs(10))
                .expect("scan finished");
        }
    }
}

impl VideoFilter for ZBarFilter {
    fn info() -> &'static FilterInfo {
        &INFO
    }

    fn new(_args: &Args) -> Result<Self, FilterError> {
        let mut scanner = ffi::Scanner::new()
            .ok_or_else(|| FilterError::Failed("cannot create a zbar scanner".into()))?;
        let worker = LatestFrameWorker::spawn("rheozbar", move |job: Job| {
            Some(Scan {
                pts: job.pts,
                symbols: scanner.scan(&job.grey, job.width, job.height),
            })
        })
        .map_err(|e| FilterError::Failed(format!("cannot start the scanning thread: {e}")))?;
        Ok(ZBarFilter {
            worker,
            seen: 0,
            last_scan: None,
            frames: 0,
            dedup: Dedup::default(),
            submitted: 0,
            to_scan: 0,
        })
    }

    fn process(&mut self, frame: &mut Frame<'_>, ctx: &mut dyn Context) -> Result<(), FilterError> {
        self.collect(ctx);
        let now = frame
            .pts
            .unwrap_or_else(|| self.frames.saturating_mul(1_000_000_000) / DEFAULT_FPS);
        self.frames += 1;
        if !self.due(now) {
            return Ok(());
        }
        let (w, h) = (frame.width as usize, frame.height as usize);
        let Some((y, stride)) = frame.planes.first() else {
            return Err(FilterError::Failed("frame without a Y plane".into()));
        };
        let stride = *stride;
        if w == 0 || h == 0 || stride < w || y.len() < stride * (h - 1) + w {
            return Err(FilterError::Failed(format!(
                "Y plane of {} bytes, stride {stride}, too small for {w}x{h}",
                y.len()
            )));
        }
        let mut grey = Vec::with_capacity(w * h);
        for row in y.chunks(stride).take(h) {
            grey.extend_from_slice(&row[..w]);
        }
        self.submitted += 1;
        let replaced = self.worker.submit(Job {
            pts: now,
            width: frame.width,
            height: frame.height,
            grey,
        });
        if !replaced {
            self.to_scan += 1;
        }
        Ok(())
    }
}
