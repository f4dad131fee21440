//! Kurento's metadata example (module `datachannelexample`): `KmsDetectFaces` finds faces and
//! attaches them to each frame as buffer metadata (GStreamer's region-of-interest meta, kind
//! `"face"`); `KmsShowFaces`, anywhere downstream, draws the faces it finds on the frames. The
//! faces never pass through the API.

use std::time::Duration;

use crate::face_detection::{self, FaceDetector, SmallFrame};
use crate::face_tracking::FaceTracker;
use crate::faceoverlay::FaceBox;
use rheo_filter_sdk::worker::LatestFrameWorker;
use rheo_filter_sdk::{
    Args, Context, FilterError, FilterInfo, Frame, PixelFormat, Region, VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

/// At most this many detections per second of stream time (as FaceOverlayFilter): faces are
/// followed smoothly for a fraction of the CPU of detecting on every frame.
const DETECTIONS_PER_SECOND: u64 = 15;

/// KmsDetectFaces's interface.
pub static DETECT_INFO: FilterInfo = FilterInfo {
    module: "datachannelexample",
    class: "KmsDetectFaces",
    element: "rheodetectfaces",
    description: "Finds faces and attaches them to every frame as region-of-interest metadata",
    constructor: &[],
    methods: &[],
    properties: &[],
    events: &[],
    format: PixelFormat::I420,
    data: DataUse::None,
    parent: Parent::Filter,
};

/// KmsShowFaces's interface.
pub static SHOW_INFO: FilterInfo = FilterInfo {
    module: "datachannelexample",
    class: "KmsShowFaces",
    element: "rheoshowfaces",
    description: "Draws the faces carried by each frame's metadata",
    constructor: &[],
    methods: &[],
    properties: &[],
    events: &[],
    format: PixelFormat::I420,
    data: DataUse::None,
    parent: Parent::Filter,
};

/// A downscaled frame for the detector.
struct Analysed {
    small: SmallFrame,
    full: (u32, u32),
    at: Duration,
}

/// KmsDetectFaces: detection on a worker thread at its own pace; every frame carries the
/// latest faces.
pub struct KmsDetectFaces {
    worker: LatestFrameWorker<Analysed, Vec<FaceBox>>,
    /// Stream time (ns) of the last frame handed to the detector.
    last_submitted: Option<u64>,
    frames: u64,
}

impl VideoFilter for KmsDetectFaces {
    fn info() -> &'static FilterInfo {
        &DETECT_INFO
    }

    fn new(_args: &Args) -> Result<Self, FilterError> {
        let (mut detector, fallback) =
            FaceDetector::open(&face_detection::settings()).map_err(FilterError::Failed)?;
        if let Some(why) = fallback {
            tracing::warn!("KmsDetectFaces: {why}");
        }
        let mut tracker = FaceTracker::default();
        let worker = LatestFrameWorker::spawn("rheodetectfaces", move |a: Analysed| {
            let found = detector.detect(&a.small, a.full).ok()?;
            Some(tracker.update(&found, a.at))
        })
        .map_err(|e| FilterError::Failed(format!("detection thread: {e}")))?;
        Ok(KmsDetectFaces {
            worker,
            last_submitted: None,
            frames: 0,
        })
    }

    fn process(&mut self, frame: &mut Frame<'_>, ctx: &mut dyn Context) -> Result<(), FilterError> {
        // Frames without a timestamp count as 30 fps.
        let now = frame.pts.unwrap_or(self.frames * 1_000_000_000 / 30);
        self.frames += 1;
        let due = self
            .last_submitted
            .is_none_or(|t| now < t || now - t >= 1_000_000_000 / DETECTIONS_PER_SECOND);
        if due {
            self.last_submitted = Some(now);
            self.submit(frame, now);
        }
        if let Some(faces) = self.worker.latest() {
            for f in faces.iter() {
                ctx.add_region(Region {
                    kind: "face".into(),
                    x: f.x,
                    y: f.y,
                    width: f.width,
                    height: f.height,
                });
            }
        }
        Ok(())
    }
}

impl KmsDetectFaces {
    /// Hands a downscaled copy of the frame to the detector (never waits).
    fn submit(&self, frame: &Frame<'_>, now: u64) {
        let (w, h) = (frame.width, frame.height);
        let [(y, ys), (u, us), (v, vs)] =
            [0, 1, 2].map(|i| (&frame.planes[i].0[..], frame.planes[i].1));
        let mut small = SmallFrame::default();
        small.fill(
            [(y, ys), (u, us), (v, vs)],
            (w, h),
            SmallFrame::size_for(w, h, face_detection::DETECTION_WIDTH),
        );
        self.worker.submit(Analysed {
            small,
            full: (w, h),
            at: Duration::from_nanos(now),
        });
    }
}

/// KmsShowFaces: outlines every `"face"` region of the frame's metadata.
pub struct KmsShowFaces;

impl VideoFilter for KmsShowFaces {
    fn info() -> &'static FilterInfo {
        &SHOW_INFO
    }

    fn new(_args: &Args) -> Result<Self, FilterError> {
        Ok(KmsShowFaces)
    }

    fn process(&mut self, frame: &mut Frame<'_>, ctx: &mut dyn Context) -> Result<(), FilterError> {
        let (w, h) = (frame.width, frame.height);
        for r in ctx.regions().iter().filter(|r| r.kind == "face") {
            outline_i420(frame, w, h, r, 3);
        }
        Ok(())
    }
}

/// Draws a `thickness`-pixel bright green rectangle outline into an I420 frame, clipped.
fn outline_i420(frame: &mut Frame<'_>, w: u32, h: u32, r: &Region, thickness: u32) {
    // BT.601 limited range green (0, 255, 0): Y 145, U 54, V 34.
    const COLOUR: [u8; 3] = [145, 54, 34];
    let (x0, y0) = (r.x.min(w), r.y.min(h));
    let (x1, y1) = ((r.x + r.width).min(w), (r.y + r.height).min(h));
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let t = thickness.min((x1 - x0) / 2).min((y1 - y0) / 2).max(1);
    for (plane, (data, stride)) in frame.planes.iter_mut().enumerate().take(3) {
        let sub = if plane == 0 { 1 } else { 2 };
        let value = COLOUR[plane];
        let (px0, py0, px1, py1) = (x0 / sub, y0 / sub, x1.div_ceil(sub), y1.div_ceil(sub));
        let pt = t.div_ceil(sub);
        for y in py0..py1 {
            let row = &mut data[y as usize * *stride..];
            let band = y < py0 + pt || y + pt >= py1;
            for x in px0..px1 {
                if band || x < px0 + pt || x + pt >= px1 {
                    if let Some(p) = row.get_mut(x as usize) {
                        *p = value;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
