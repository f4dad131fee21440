//! Kurento's `platedetector.PlateDetectorFilter`: reads licence plates and raises
//! `PlateDetected {plate}` (with Kurento's quirk: the event data's `type` is `"plate-detected"`).
//!
//! The video is never held up: `process` only converts the frame to grey (BGR in, untouched
//! out) and hands it to a [`LatestFrameWorker`], which analyses the newest frame at its own pace:
//!
//! 1. **Localise** ([`detect::find_candidates`]) on a grey frame downscaled to at most 800 px:
//!    black-hat (dark strokes on a light plate) → horizontal Sobel → blur → closing with a wide
//!    kernel that merges a line of characters → Otsu → opening → outer contours kept when their
//!    rotated box has an aspect ratio of 1.8-8, a width between 0.3× and 2.5× the expected plate
//!    width (`plateWidthPercentage` × frame width, default 0.25) and fills ≥ 45 % of it. The best
//!    4 (closest to the expected width and a 4:1 aspect) go on.
//! 2. **Prepare** ([`detect::prepare`]) at full resolution: crop with a margin, deskew by the box
//!    angle, scale the characters to ~40 px, Otsu, keep only character-like blobs of one line
//!    (similar height and centre, not touching the crop edge — plate border and bolts go); fewer
//!    than 3 blobs: no OCR.
//! 3. **OCR** with Tesseract 5 (Debian's LSTM `eng`), single-line page segmentation, restricted
//!    to [`PlateConfig::alphabet`] (default `A-Z0-9`), through a small binding to its C API.
//! 4. **Normalise** (upper case, alphanumerics only) and **validate** against
//!    [`PlateConfig::format`] ([`format::PlateFormat`]; default `A{4,8}`, e.g. Spanish `NNNNLLL`),
//!    correcting look-alikes (`O`/`0`, `B`/`8`, …) where the format says digit or letter.
//! 5. **Vote**: the last [`PlateConfig::votes`] readings (5; a frame without a valid plate counts
//!    as an empty reading); a text that won a strict majority is reported once. The same plate is
//!    reported again only after [`PlateConfig::forget_after`] consecutive readings without it.
//!
//! The plate format, alphabet and votes are not part of Kurento's API. Set them with the
//! environment variables `RHEO_PLATE_FORMAT` (e.g. `RHEO_PLATE_FORMAT=NNNNLLL` for Spanish
//! plates), `RHEO_PLATE_ALPHABET` and `RHEO_PLATE_LANGUAGE` (a Tesseract language, default `eng`)
//! before the filter is created, or from Rust with [`PlateDetectorFilter::with_config`].

pub mod detect;
pub mod format;
mod tess;

use std::collections::VecDeque;
use std::sync::Arc;

use opencv::core::Mat;
use opencv::imgproc;
use opencv::prelude::*;
use parking_lot::Mutex;

pub use format::PlateFormat;
use rheo_filter_sdk::worker::LatestFrameWorker;
use rheo_filter_sdk::{
    Args, Context, Event, FilterError, FilterInfo, Frame, Method, Param, PixelFormat, Type, Value,
    VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

const PLATE_WIDTH: Param = Param {
    name: "plateWidthPercentage",
    ty: Type::Float,
    default: None,
    doc: "Expected plate width as a fraction (0-1] of the frame width (default 0.25)",
};

/// PlateDetectorFilter's interface.
pub static INFO: FilterInfo = FilterInfo {
    module: "platedetector",
    class: "PlateDetectorFilter",
    element: "rheoplatedetector",
    description: "Reads licence plates (Tesseract OCR) and reports each plate once",
    constructor: &[],
    methods: &[Method {
        name: "setPlateWidthPercentage",
        params: &[PLATE_WIDTH],
        returns: None,
        doc: "Sets the expected plate width as a fraction of the frame width",
    }],
    properties: &[],
    events: &[Event {
        name: "PlateDetected",
        fields: &[Param {
            name: "plate",
            ty: Type::String,
            default: None,
            doc: "The plate's text",
        }],
        doc: "A plate was read consistently over several frames",
    }],
    format: PixelFormat::Bgr,
    data: DataUse::None,
    parent: Parent::Filter,
};

/// Kurento's default `plateWidthPercentage`.
pub const DEFAULT_PLATE_WIDTH: f64 = 0.25;

/// Settings outside Kurento's API (see the module documentation).
#[derive(Debug, Clone)]
pub struct PlateConfig {
    /// Valid plate texts.
    pub format: PlateFormat,
    /// Characters Tesseract may output.
    pub alphabet: String,
    /// Tesseract language.
    pub language: String,
    /// Readings voted over.
    pub votes: usize,
    /// Readings without a reported plate after which it may be reported again.
    pub forget_after: usize,
}

impl PlateConfig {
    /// The defaults: format `A{4,8}`, alphabet `A-Z0-9`, `eng`, 5 votes, forget after 25.
    pub fn defaults() -> PlateConfig {
        PlateConfig {
            format: PlateFormat::parse("A{4,8}").expect("default format"),
            alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".into(),
            language: "eng".into(),
            votes: 5,
            forget_after: 25,
        }
    }

    /// The defaults overridden by `RHEO_PLATE_FORMAT`, `RHEO_PLATE_ALPHABET`,
    /// `RHEO_PLATE_LANGUAGE`.
    pub fn from_env() -> Result<PlateConfig, FilterError> {
        let mut c = PlateConfig::defaults();
        if let Ok(f) = std::env::var("RHEO_PLATE_FORMAT") {
            c.format = PlateFormat::parse(&f).map_err(FilterError::Failed)?;
        }
        if let Ok(a) = std::env::var("RHEO_PLATE_ALPHABET") {
            c.alphabet = a;
        }
        if let Ok(l) = std::env::var("RHEO_PLATE_LANGUAGE") {
            c.language = l;
        }
        Ok(c)
    }
}

/// One frame for the worker.
struct Job {
    grey: Mat,
    plate_width: f64,
}

/// What the worker made of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Plate candidates localised.
    pub candidates: usize,
    /// Their boxes (full-frame pixels), best first.
    pub boxes: Vec<opencv::core::Rect>,
    /// Candidates that reached OCR (≥ 3 character blobs).
    pub ocr_calls: usize,
    /// Normalised OCR texts, one per OCR call, best candidate first.
    pub raw: Vec<String>,
    /// The first text valid for the format (after corrections).
    pub plate: Option<String>,
    /// Time spent on this frame (µs).
    pub micros: u128,
}

/// Localisation + OCR of one grey frame (what the worker runs).
pub struct Reader {
    ocr: tess::Ocr,
    format: PlateFormat,
}

impl Reader {
    /// Loads Tesseract for `config`.
    pub fn new(config: &PlateConfig) -> Result<Reader, FilterError> {
        let ocr =
            tess::Ocr::new(&config.language, &config.alphabet).map_err(FilterError::Failed)?;
        Ok(Reader {
            ocr,
            format: config.format.clone(),
        })
    }

    /// Reads the plate (if any) of a grey CV_8UC1 frame.
    pub fn read(&mut self, grey: &Mat, plate_width: f64) -> opencv::Result<Reading> {
        let start = std::time::Instant::now();
        let candidates = detect::find_candidates(grey, plate_width)?;
        let mut reading = Reading {
            candidates: candidates.len(),
            boxes: candidates.iter().map(|c| c.rect).collect(),
            ocr_calls: 0,
            raw: vec![],
            plate: None,
            micros: 0,
        };
        // The candidate with the most character blobs first (a whole plate before a part of it).
        let mut prepared = Vec::new();
        for c in &candidates {
            if let Some(p) = detect::prepare(grey, c)? {
                prepared.push(p);
            }
        }
        prepared.sort_by_key(|p| std::cmp::Reverse(p.chars));
        for p in &prepared {
            reading.ocr_calls += 1;
            let img = &p.image;
            let (text, _conf) = self.ocr.read(
                img.data_bytes()?,
                img.cols() as usize,
                img.rows() as usize,
                img.step1(0)?,
            );
            let text = format::normalise(&text);
            let valid = self.format.find(&text);
            reading.raw.push(text);
            if valid.is_some() {
                reading.plate = valid;
                break;
            }
        }
        reading.micros = start.elapsed().as_micros();
        Ok(reading)
    }
}

/// Majority voting over the last readings, each plate reported once.
#[derive(Debug)]
pub struct Voter {
    window: VecDeque<Option<String>>,
    size: usize,
    forget_after: usize,
    reported: Option<String>,
    absent: usize,
}

impl Voter {
    /// Votes over `size` readings; a reported plate can be reported again after
    /// `forget_after` consecutive readings without it.
    pub fn new(size: usize, forget_after: usize) -> Voter {
        Voter {
            window: VecDeque::new(),
            size: size.max(1),
            forget_after,
            reported: None,
            absent: 0,
        }
    }

    /// Adds a reading; returns the plate to report, if one just won.
    pub fn push(&mut self, plate: Option<String>) -> Option<String> {
        if self.window.len() == self.size {
            self.window.pop_front();
        }
        if let Some(r) = &self.reported {
            if plate.as_ref() == Some(r) {
                self.absent = 0;
            } else {
                self.absent += 1;
                if self.absent >= self.forget_after {
                    self.reported = None;
                }
            }
        }
        self.window.push_back(plate);
        let mut best: Option<(&String, usize)> = None;
        for p in self.window.iter().flatten() {
            let n = self.window.iter().filter(|q| q.as_ref() == Some(p)).count();
            if best.is_none_or(|(_, m)| n > m) {
                best = Some((p, n));
            }
        }
        let (winner, n) = best?;
        if n * 2 <= self.size || self.reported.as_ref() == Some(winner) {
            return None;
        }
        let winner = winner.clone();
        self.reported = Some(winner.clone());
        self.absent = 0;
        Some(winner)
    }
}

/// Plates the worker voted for, waiting for the next `process` to report them.
#[derive(Default)]
struct Shared {
    to_report: Vec<String>,
}

/// PlateDetectorFilter.
pub struct PlateDetectorFilter {
    plate_width: f64,
    worker: LatestFrameWorker<Job, Reading>,
    shared: Arc<Mutex<Shared>>,
}

impl PlateDetectorFilter {
    /// A filter with explicit settings (instead of the environment).
    pub fn with_config(config: PlateConfig) -> Result<Self, FilterError> {
        let mut reader = Reader::new(&config)?;
        let mut voter = Voter::new(config.votes, config.forget_after);
        let shared: Arc<Mutex<Shared>> = Arc::default();
        let s = shared.clone();
        let worker = LatestFrameWorker::spawn("rheoplates", move |job: Job| {
            let reading = reader.read(&job.grey, job.plate_width).ok()?;
            if let Some(p) = voter.push(reading.plate.clone()) {
                s.lock().to_report.push(p);
            }
            Some(reading)
        })
        .map_err(|e| FilterError::Failed(format!("plate reader thread: {e}")))?;
        Ok(PlateDetectorFilter {
            plate_width: DEFAULT_PLATE_WIDTH,
            worker,
            shared,
        })
    }

    /// The most recent reading and its sequence number (see [`LatestFrameWorker`]).
    pub fn latest_reading(&self) -> (u64, Option<Arc<Reading>>) {
        self.worker.latest_with_seq()
    }
}

impl VideoFilter for PlateDetectorFilter {
    fn info() -> &'static FilterInfo {
        &INFO
    }

    fn new(_args: &Args) -> Result<Self, FilterError> {
        Self::with_config(PlateConfig::from_env()?)
    }

    fn process(&mut self, frame: &mut Frame<'_>, ctx: &mut dyn Context) -> Result<(), FilterError> {
        let bgr = frame.bgr_mat()?;
        let mut grey = Mat::default();
        imgproc::cvt_color(&bgr, &mut grey, imgproc::COLOR_BGR2GRAY, 0)?;
        self.worker.submit(Job {
            grey,
            plate_width: self.plate_width,
        });
        let plates = std::mem::take(&mut self.shared.lock().to_report);
        for plate in plates {
            ctx.emit(
                "PlateDetected",
                vec![
                    ("plate", Value::String(plate)),
                    // Kurento's quirk: data.type is the bus message name.
                    ("type", Value::String("plate-detected".into())),
                ],
            );
        }
        Ok(())
    }

    fn invoke(
        &mut self,
        method: &str,
        args: &Args,
        _ctx: &mut dyn Context,
    ) -> Result<Value, FilterError> {
        match method {
            "setPlateWidthPercentage" => {
                let v = args.float("plateWidthPercentage")?;
                if !(v > 0.0 && v <= 1.0) {
                    return Err(FilterError::InvalidArgument(format!(
                        "plateWidthPercentage must be in (0, 1], got {v}"
                    )));
                }
                self.plate_width = v;
                Ok(Value::Null)
            }
            m => Err(FilterError::NoSuchMethod(m.into())),
        }
    }
}

#[cfg(test)]
mod tests;
