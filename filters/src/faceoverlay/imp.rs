//! Implementation of `rheofaceoverlay`.
//!
//! Threads and locks:
//! * streaming thread (`transform_frame_ip`): submits a downscaled copy of the luma plane to
//!   the detection worker (replacing one it has not started on), reads the current overlay
//!   config and the latest faces (each under a short mutex, cloning `Arc`s), then draws. It
//!   never waits for detection.
//! * detection worker (the SDK's `LatestFrameWorker`, one per running element, named
//!   `rheofacedetect`, at most `max-detection-rate` detections per second): runs the face
//!   detector (BlazeFace or Haar) on the latest frame, steadies the faces over time, prepares
//!   the overlays for them and posts a `rheo-faces` message.
//!   Started in `start()`, stopped and joined in `stop()`.
//! * image loader (one short-lived thread per `image-uri` change): blocking `load_image`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::BaseTransformMode;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use once_cell::sync::Lazy;
use parking_lot::Mutex;

use super::draw::{
    tilted_overlay_rect, FaceBox, I420Planes, PremultipliedImage, TiltedRect, YuvCoeffs, YuvOverlay,
};
use super::{OverlayGeometry, FACES_MESSAGE};
use crate::face_detection::{self, DetectorKind, DetectorSettings, FaceDetector, SmallFrame};
use crate::face_tracking::FaceTracker;
use rheo_filter_sdk::image::{load_image, LoadLimits, OverlayImage};
use rheo_filter_sdk::worker::LatestFrameWorker;

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "rheofaceoverlay",
        gst::DebugColorFlags::empty(),
        Some("Rheo face overlay"),
    )
});

/// Name of the detection thread (at most 15 bytes for Linux).
pub(super) const WORKER_THREAD_NAME: &str = "rheofacedetect";
/// Overlays larger than this (in pixels) are skipped instead of allocated.
const MAX_OVERLAY_PIXELS: i64 = 1 << 25;
/// Detections per second by default: faces are followed smoothly at a third of a core.
const DEFAULT_MAX_DETECTION_RATE: u32 = 15;

/// Resized overlays kept per element (several faces, size jitter between detections).
const CACHE_ENTRIES: usize = 8;

/// What the streaming thread hands the detection worker.
struct Analysed {
    small: SmallFrame,
    frame_width: u32,
    frame_height: u32,
    pts: Option<gst::ClockTime>,
    coeffs: YuvCoeffs,
}

#[derive(Default, Debug, Clone)]
struct Faces {
    boxes: Vec<FaceBox>,
    frame_width: u32,
    frame_height: u32,
    /// Colour matrix of the analysed frame.
    coeffs: Option<YuvCoeffs>,
    /// Overlays the worker already resized/converted for these boxes, so the streaming
    /// thread does not have to when the face size changes.
    prepared: Vec<(CacheKey, Arc<YuvOverlay>)>,
}

/// Counters the worker updates and the properties read.
struct Shared {
    frames_processed: AtomicU64,
    frames_with_faces: AtomicU64,
}

struct Config {
    geometry: OverlayGeometry,
    image: Option<Arc<PremultipliedImage>>,
    image_uri: Option<String>,
    /// Bumped on every overlay change so a slow URI load cannot override a newer choice.
    generation: u64,
    detector: DetectorSettings,
    detection_width: u32,
    max_detection_rate: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            geometry: OverlayGeometry::default(),
            image: None,
            image_uri: None,
            generation: 0,
            detector: face_detection::settings(),
            detection_width: face_detection::DETECTION_WIDTH,
            max_detection_rate: DEFAULT_MAX_DETECTION_RATE,
        }
    }
}

/// Identifies one resized + converted overlay.
#[derive(Clone, Copy, PartialEq, Debug)]
struct CacheKey {
    image_id: u64,
    /// Size before turning, and the roll in whole degrees.
    upright: (usize, usize),
    degrees: i32,
    width: usize,
    height: usize,
    phase_x: usize,
    phase_y: usize,
    coeffs: YuvCoeffs,
}

/// Streaming-thread state (the mutex is uncontended).
#[derive(Default)]
struct DrawState {
    detection_width: u32,
    /// Most recently used last.
    cache: Vec<(CacheKey, Arc<YuvOverlay>)>,
}

/// The element's private data.
pub struct FaceOverlay {
    config: Mutex<Config>,
    shared: Arc<Shared>,
    worker: Mutex<Option<LatestFrameWorker<Analysed, Faces>>>,
    draw: Mutex<DrawState>,
    next_image_id: AtomicU64,
    /// Frame counters of the FaceOverlayFilter class (`/metrics`).
    counters: std::sync::OnceLock<Arc<rheo_filter_sdk::frame_counters::FrameCounters>>,
}

impl Default for FaceOverlay {
    fn default() -> Self {
        FaceOverlay {
            config: Mutex::new(Config::default()),
            shared: Arc::new(Shared {
                frames_processed: AtomicU64::new(0),
                frames_with_faces: AtomicU64::new(0),
            }),
            worker: Mutex::new(None),
            draw: Mutex::new(DrawState::default()),
            next_image_id: AtomicU64::new(1),
            counters: std::sync::OnceLock::new(),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FaceOverlay {
    const NAME: &'static str = "GstRheoFaceOverlay";
    type Type = super::FaceOverlay;
    type ParentType = gst_video::VideoFilter;
}

impl FaceOverlay {
    fn prepare(&self, image: &OverlayImage) -> Arc<PremultipliedImage> {
        let id = self.next_image_id.fetch_add(1, Ordering::Relaxed);
        Arc::new(PremultipliedImage::new(image, id))
    }

    pub(super) fn set_overlay(&self, image: &OverlayImage, geometry: OverlayGeometry) {
        let expected = image.width as usize * image.height as usize * 4;
        let prepared = if image.width == 0 || image.height == 0 || image.bgra.len() != expected {
            gst::warning!(
                CAT,
                imp = self,
                "invalid overlay image {}x{} with {} bytes: nothing will be drawn",
                image.width,
                image.height,
                image.bgra.len()
            );
            None
        } else {
            Some(self.prepare(image))
        };
        {
            let mut c = self.config.lock();
            c.generation += 1;
            c.image = prepared.clone();
            c.image_uri = None;
            c.geometry = geometry;
        }
        if let Some(image) = prepared {
            self.prepare_for_current_faces(&image, &geometry);
        }
    }

    /// Converts a new overlay for the faces already known, on the caller's thread, so the
    /// streaming thread does not have to on the next frame.
    fn prepare_for_current_faces(&self, image: &PremultipliedImage, geometry: &OverlayGeometry) {
        let Some(current) = self.current_faces() else {
            return;
        };
        let Some(coeffs) = current.coeffs else { return };
        if current.boxes.is_empty() {
            return;
        }
        let mut prepared = prepare_overlays(
            self,
            image,
            geometry,
            &current.boxes,
            current.frame_width,
            current.frame_height,
            coeffs,
            &[],
        );
        prepared.extend(current.prepared.iter().cloned());
        // If the worker published newer faces meanwhile, it used the new image already.
        let worker = self.worker.lock();
        let Some(worker) = worker.as_ref() else {
            return;
        };
        let refined = Faces {
            prepared,
            ..Faces::clone(&current)
        };
        worker.refine_latest(&current, refined);
    }

    /// The faces the worker found last (none when it is not running).
    fn current_faces(&self) -> Option<Arc<Faces>> {
        self.worker.lock().as_ref().and_then(|w| w.latest())
    }

    pub(super) fn unset_overlay(&self) {
        let mut c = self.config.lock();
        c.generation += 1;
        c.image = None;
        c.image_uri = None;
    }

    /// Starts loading `uri` on a helper thread; the result applies only if no newer overlay
    /// change happened meanwhile. Failures post an element error.
    fn load_uri(&self, uri: String, generation: u64) {
        let weak = self.obj().downgrade();
        let spawned = std::thread::Builder::new()
            .name("rheoimageload".into())
            .spawn(move || {
                let result = load_image(&uri, &LoadLimits::default());
                let Some(obj) = weak.upgrade() else { return };
                let imp = obj.imp();
                match result {
                    Ok(image) => {
                        let prepared = imp.prepare(&image);
                        let mut c = imp.config.lock();
                        if c.generation == generation {
                            c.image = Some(prepared.clone());
                            let geometry = c.geometry;
                            drop(c);
                            imp.prepare_for_current_faces(&prepared, &geometry);
                            gst::info!(
                                CAT,
                                obj = obj,
                                "overlay image {uri} loaded ({}x{})",
                                image.width,
                                image.height
                            );
                            let s = gst::Structure::builder(super::IMAGE_LOADED_MESSAGE)
                                .field("uri", &uri)
                                .field("width", image.width)
                                .field("height", image.height)
                                .build();
                            let _ = obj
                                .post_message(gst::message::Element::builder(s).src(&obj).build());
                        }
                    }
                    Err(err) => {
                        if imp.config.lock().generation == generation {
                            gst::element_error!(
                                obj,
                                gst::ResourceError::OpenRead,
                                ("Cannot load overlay image {}: {}", uri, err),
                                ["{:?}", err]
                            );
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            gst::element_imp_error!(
                self,
                gst::CoreError::Thread,
                ["Cannot start image loader thread: {}", e]
            );
        }
    }

    /// Streaming thread: hand a downscaled copy of the frame to the detection worker.
    fn feed_detector(&self, frame: &gst_video::VideoFrameRef<&mut gst::BufferRef>, det_width: u32) {
        let worker = self.worker.lock();
        let Some(worker) = worker.as_ref() else {
            return;
        };
        let (w, h) = (frame.width(), frame.height());
        let strides = frame.plane_stride();
        let planes = match (
            frame.plane_data(0),
            frame.plane_data(1),
            frame.plane_data(2),
        ) {
            (Ok(y), Ok(u), Ok(v)) => [
                (y, strides[0] as usize),
                (u, strides[1] as usize),
                (v, strides[2] as usize),
            ],
            _ => {
                gst::warning!(CAT, imp = self, "cannot read the frame's planes");
                return;
            }
        };
        let mut small = SmallFrame::default();
        small.fill(planes, (w, h), SmallFrame::size_for(w, h, det_width));
        let small = Analysed {
            small,
            frame_width: w,
            frame_height: h,
            pts: frame.buffer().pts(),
            coeffs: coeffs_of(frame.info()),
        };
        worker.submit(small);
    }

    /// Streaming thread: draw the current overlay over the latest faces.
    fn draw_faces(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
        state: &mut DrawState,
    ) {
        let (image, geometry) = {
            let c = self.config.lock();
            (c.image.clone(), c.geometry)
        };
        let Some(image) = image else { return };
        let Some(faces) = self.current_faces() else {
            return;
        };
        if faces.boxes.is_empty() {
            return;
        }
        let (fw, fh) = (frame.width(), frame.height());
        let coeffs = coeffs_of(frame.info());
        let strides = [
            frame.plane_stride()[0] as usize,
            frame.plane_stride()[1] as usize,
            frame.plane_stride()[2] as usize,
        ];
        let [py, pu, pv, _] = frame.planes_data_mut();
        let mut planes = I420Planes {
            width: fw as usize,
            height: fh as usize,
            y: (py, strides[0]),
            u: (pu, strides[1]),
            v: (pv, strides[2]),
        };

        for face in &faces.boxes {
            // Boxes are in the analysed frame's pixels; rescale if the resolution changed.
            let face = if (faces.frame_width, faces.frame_height) == (fw, fh)
                || faces.frame_width == 0
                || faces.frame_height == 0
            {
                *face
            } else {
                let sx = fw as f64 / faces.frame_width as f64;
                let sy = fh as f64 / faces.frame_height as f64;
                FaceBox {
                    x: (face.x as f64 * sx) as u32,
                    y: (face.y as f64 * sy) as u32,
                    width: (face.width as f64 * sx) as u32,
                    height: (face.height as f64 * sy) as u32,
                    roll: face.roll,
                }
            };
            let Some((key, x, y)) = placement(&face, &geometry, fw, fh, image.id, coeffs) else {
                continue;
            };
            let idx = if let Some(i) = state.cache.iter().position(|(k, _)| *k == key) {
                let entry = state.cache.remove(i);
                state.cache.push(entry);
                state.cache.len() - 1
            } else {
                // Normally the worker prepared it; build here only right after an overlay
                // or geometry change (or a resolution change).
                let ov = match faces.prepared.iter().find(|(k, _)| *k == key) {
                    Some((_, ov)) => ov.clone(),
                    None => match build_overlay(&image, &key) {
                        Ok(ov) => Arc::new(ov),
                        Err(e) => {
                            gst::warning!(CAT, imp = self, "cannot prepare overlay: {e}");
                            continue;
                        }
                    },
                };
                // Entries for older images can never match again.
                state.cache.retain(|(k, _)| k.image_id == image.id);
                if state.cache.len() >= CACHE_ENTRIES {
                    state.cache.remove(0);
                }
                state.cache.push((key, ov));
                state.cache.len() - 1
            };
            planes.blend(&state.cache[idx].1, x, y);
        }
    }

    fn stop_worker(&self) {
        // Dropping the worker stops its thread after the detection under way, and joins it.
        let worker = self.worker.lock().take();
        drop(worker);
    }
}

/// Where the overlay for `face` goes in a `fw`×`fh` frame: the cache key of the converted
/// overlay and its top-left corner. `None` when nothing is visible or it is absurdly large.
fn placement(
    face: &FaceBox,
    geometry: &OverlayGeometry,
    fw: u32,
    fh: u32,
    image_id: u64,
    coeffs: YuvCoeffs,
) -> Option<(CacheKey, i64, i64)> {
    let TiltedRect {
        upright,
        degrees,
        x,
        y,
        width,
        height,
    } = tilted_overlay_rect(face, geometry)?;
    let (w, h) = (width as i64, height as i64);
    if x >= fw as i64 || y >= fh as i64 || x + w <= 0 || y + h <= 0 {
        return None;
    }
    if w * h > MAX_OVERLAY_PIXELS || (upright.0 * upright.1) as i64 > MAX_OVERLAY_PIXELS {
        gst::warning!(CAT, "overlay of {w}x{h} is too large, skipped");
        return None;
    }
    let key = CacheKey {
        image_id,
        upright,
        degrees,
        width,
        height,
        phase_x: x.rem_euclid(2) as usize,
        phase_y: y.rem_euclid(2) as usize,
        coeffs,
    };
    Some((key, x, y))
}

/// The overlay `key` names: `image` sized, turned and converted.
fn build_overlay(image: &PremultipliedImage, key: &CacheKey) -> opencv::Result<YuvOverlay> {
    let turned;
    let source = if key.degrees == 0 {
        image
    } else {
        turned = image.turned(&TiltedRect {
            upright: key.upright,
            degrees: key.degrees,
            x: 0,
            y: 0,
            width: key.width,
            height: key.height,
        })?;
        &turned
    };
    YuvOverlay::build(
        source,
        key.width,
        key.height,
        key.phase_x,
        key.phase_y,
        key.coeffs,
    )
}

/// Resizes and converts `image` for each of `boxes` (in a `fw`×`fh` frame), reusing
/// entries of `previous`. Runs on the worker (after each detection) or on the thread calling
/// `set_overlay`, never on the streaming thread.
#[allow(clippy::too_many_arguments)]
fn prepare_overlays(
    imp: &FaceOverlay,
    image: &PremultipliedImage,
    geometry: &OverlayGeometry,
    boxes: &[FaceBox],
    fw: u32,
    fh: u32,
    coeffs: YuvCoeffs,
    previous: &[(CacheKey, Arc<YuvOverlay>)],
) -> Vec<(CacheKey, Arc<YuvOverlay>)> {
    let mut prepared: Vec<(CacheKey, Arc<YuvOverlay>)> = Vec::new();
    for b in boxes {
        let Some((key, _, _)) = placement(b, geometry, fw, fh, image.id, coeffs) else {
            continue;
        };
        if prepared.iter().any(|(k, _)| *k == key) {
            continue;
        }
        if let Some(p) = previous.iter().find(|(k, _)| *k == key) {
            prepared.push(p.clone());
            continue;
        }
        match build_overlay(image, &key) {
            Ok(ov) => prepared.push((key, Arc::new(ov))),
            Err(e) => gst::warning!(CAT, imp = imp, "cannot prepare overlay: {e}"),
        }
    }
    prepared
}

fn coeffs_of(info: &gst_video::VideoInfo) -> YuvCoeffs {
    let c = info.colorimetry();
    YuvCoeffs::from_colorimetry(c.matrix(), c.range())
}

/// The worker's analysis: faces in one small frame, steadied over time (a face missed once is
/// held for a moment), the overlays prepared for them, the counters and the `rheo-faces`
/// message.
fn detection(
    shared: Arc<Shared>,
    mut detector: FaceDetector,
    element: glib::WeakRef<super::FaceOverlay>,
) -> impl FnMut(Analysed) -> Option<Faces> + Send + 'static {
    let mut tracker = FaceTracker::default();
    let begun = Instant::now();
    // The overlays prepared last, to reuse.
    let mut previous: Vec<(CacheKey, Arc<YuvOverlay>)> = Vec::new();
    let mut single_threaded = false;
    move |frame: Analysed| {
        if !single_threaded {
            // One core per detection: a busy server runs many of them side by side.
            if let Err(e) = opencv::core::set_num_threads(1) {
                gst::warning!(CAT, "cv::setNumThreads(1) failed: {e}");
            }
            single_threaded = true;
        }
        let started = Instant::now();
        let result = detector.detect(&frame.small, (frame.frame_width, frame.frame_height));
        let elapsed = started.elapsed();
        let obj = element.upgrade()?;
        let found = match result {
            Ok(found) => found,
            Err(e) => {
                gst::warning!(CAT, obj = obj, "face detection failed: {e}");
                return None;
            }
        };
        // Stream time where there is one, so smoothing follows the video, not the worker.
        let at = frame
            .pts
            .map(|p| Duration::from_nanos(p.nseconds()))
            .unwrap_or_else(|| started.duration_since(begun));
        let boxes = tracker.update(&found, at);
        let (image, geometry) = {
            let c = obj.imp().config.lock();
            (c.image.clone(), c.geometry)
        };
        let prepared = match image {
            Some(image) => prepare_overlays(
                obj.imp(),
                &image,
                &geometry,
                &boxes,
                frame.frame_width,
                frame.frame_height,
                frame.coeffs,
                &previous,
            ),
            None => Vec::new(),
        };
        previous = prepared.clone();
        shared.frames_processed.fetch_add(1, Ordering::Relaxed);
        if !found.is_empty() {
            shared.frames_with_faces.fetch_add(1, Ordering::Relaxed);
        }
        gst::trace!(
            CAT,
            obj = obj,
            "detected {} faces in {elapsed:?}",
            found.len()
        );
        let faces = gst::Array::new(found.iter().map(|b| {
            gst::Structure::builder("face")
                .field("x", b.x)
                .field("y", b.y)
                .field("width", b.width)
                .field("height", b.height)
                .field("roll", b.roll as f64)
                .build()
                .to_send_value()
        }));
        let s = gst::Structure::builder(FACES_MESSAGE)
            .field("faces", faces)
            .field("frame-width", frame.frame_width)
            .field("frame-height", frame.frame_height)
            .field_if_some("pts", frame.pts.map(|p| p.nseconds()))
            .field("detect-us", elapsed.as_micros() as u64)
            .field("detector", detector.kind().name())
            .build();
        let _ = obj.post_message(gst::message::Element::builder(s).src(&obj).build());
        Some(Faces {
            boxes,
            frame_width: frame.frame_width,
            frame_height: frame.frame_height,
            coeffs: Some(frame.coeffs),
            prepared,
        })
    }
}

impl ObjectImpl for FaceOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            let g = OverlayGeometry::default();
            vec![
                glib::ParamSpecString::builder("image-uri")
                    .nick("Image URI")
                    .blurb("Image drawn over faces: file:// URI, path, http(s):// URL; empty = none. Loaded asynchronously; failures post an error message")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("offset-x")
                    .nick("Offset X")
                    .blurb("Left edge of the image relative to the face, in face widths")
                    .minimum(-100.0)
                    .maximum(100.0)
                    .default_value(g.offset_x)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("offset-y")
                    .nick("Offset Y")
                    .blurb("Top edge of the image relative to the face, in face heights (positive = down)")
                    .minimum(-100.0)
                    .maximum(100.0)
                    .default_value(g.offset_y)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("width-ratio")
                    .nick("Width ratio")
                    .blurb("Image width in face widths (0 = draw nothing)")
                    .minimum(0.0)
                    .maximum(100.0)
                    .default_value(g.width)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("height-ratio")
                    .nick("Height ratio")
                    .blurb("Image height in face heights (0 = draw nothing)")
                    .minimum(0.0)
                    .maximum(100.0)
                    .default_value(g.height)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("detector")
                    .nick("Face detector")
                    .blurb("blazeface (a small DNN, the default) or haar (Kurento's cascade); blazeface falls back to haar when its model is missing (read when the element starts)")
                    .default_value(Some(face_detection::settings().kind.name()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("model-path")
                    .nick("Model path")
                    .blurb("BlazeFace's ONNX model (read when the element starts)")
                    .default_value(Some(face_detection::settings().model.to_string_lossy().as_ref()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("cascade-path")
                    .nick("Cascade path")
                    .blurb("OpenCV cascade XML used by the haar detector (read when the element starts)")
                    .default_value(Some(face_detection::DEFAULT_CASCADE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("detection-width")
                    .nick("Detection width")
                    .blurb("Frames wider than this are downscaled to this width for detection (read when the element starts)")
                    .minimum(32)
                    .maximum(8192)
                    .default_value(face_detection::DETECTION_WIDTH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-detection-rate")
                    .nick("Maximum detection rate")
                    .blurb("Detections per second at most (0 = as fast as the worker can); every frame is still drawn")
                    .maximum(1000)
                    .default_value(DEFAULT_MAX_DETECTION_RATE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-with-faces")
                    .nick("Frames with faces")
                    .blurb("Detections that found at least one face since start")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-processed")
                    .nick("Frames processed")
                    .blurb("Detections run since start")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "image-uri" => {
                let uri: Option<String> = value.get().expect("type checked upstream");
                let uri = uri.filter(|u| !u.is_empty());
                let mut c = self.config.lock();
                c.generation += 1;
                c.image_uri = uri.clone();
                let generation = c.generation;
                if uri.is_none() {
                    c.image = None;
                }
                drop(c);
                if let Some(uri) = uri {
                    self.load_uri(uri, generation);
                }
            }
            "offset-x" => self.config.lock().geometry.offset_x = value.get().expect("f32"),
            "offset-y" => self.config.lock().geometry.offset_y = value.get().expect("f32"),
            "width-ratio" => self.config.lock().geometry.width = value.get().expect("f32"),
            "height-ratio" => self.config.lock().geometry.height = value.get().expect("f32"),
            "detector" => {
                let name: Option<String> = value.get().expect("string");
                let name = name.unwrap_or_else(|| face_detection::settings().kind.name().into());
                match name.parse::<DetectorKind>() {
                    Ok(kind) => self.config.lock().detector.kind = kind,
                    Err(e) => gst::warning!(CAT, imp = self, "{e}: detector unchanged"),
                }
            }
            "model-path" => {
                let p: Option<String> = value.get().expect("string");
                self.config.lock().detector.model = p
                    .map(Into::into)
                    .unwrap_or_else(|| face_detection::settings().model);
            }
            "cascade-path" => {
                let p: Option<String> = value.get().expect("string");
                self.config.lock().detector.cascade = p
                    .map(Into::into)
                    .unwrap_or_else(|| face_detection::DEFAULT_CASCADE.into());
            }
            "detection-width" => self.config.lock().detection_width = value.get().expect("u32"),
            "max-detection-rate" => {
                self.config.lock().max_detection_rate = value.get().expect("u32");
                if let Some(worker) = self.worker.lock().as_ref() {
                    worker.wake();
                }
            }
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let c = self.config.lock();
        match pspec.name() {
            "image-uri" => c.image_uri.to_value(),
            "offset-x" => c.geometry.offset_x.to_value(),
            "offset-y" => c.geometry.offset_y.to_value(),
            "width-ratio" => c.geometry.width.to_value(),
            "height-ratio" => c.geometry.height.to_value(),
            "detector" => c.detector.kind.name().to_value(),
            "model-path" => c.detector.model.to_string_lossy().to_value(),
            "cascade-path" => c.detector.cascade.to_string_lossy().to_value(),
            "detection-width" => c.detection_width.to_value(),
            "max-detection-rate" => c.max_detection_rate.to_value(),
            "frames-with-faces" => self
                .shared
                .frames_with_faces
                .load(Ordering::Relaxed)
                .to_value(),
            "frames-processed" => self
                .shared
                .frames_processed
                .load(Ordering::Relaxed)
                .to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FaceOverlay {}

impl ElementImpl for FaceOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Rheo face overlay",
                "Filter/Effect/Video",
                "Draws an image over every face, following its position, size and roll (BlazeFace or Haar detection on a worker thread)",
                "Rheo developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::I420)
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("valid src template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("valid sink template"),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FaceOverlay {
    const MODE: BaseTransformMode = BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let (settings, det_width) = {
            let c = self.config.lock();
            (c.detector.clone(), c.detection_width)
        };
        let (detector, fallback) = FaceDetector::open(&settings)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ["{}", e]))?;
        if let Some(why) = fallback {
            gst::warning!(CAT, imp = self, "{why}");
        }
        let kind = detector.kind().name();

        // A previous run must be fully gone (start after stop, but be defensive).
        self.stop_worker();
        self.shared.frames_processed.store(0, Ordering::Relaxed);
        self.shared.frames_with_faces.store(0, Ordering::Relaxed);
        {
            let mut d = self.draw.lock();
            d.detection_width = det_width;
            d.cache.clear();
        }
        let weak = self.obj().downgrade();
        let paced = self.obj().downgrade();
        // Detection at full speed would take a whole core; at most `max-detection-rate` per
        // second is enough to follow faces, and drawing still happens on every frame.
        let min_interval = move || {
            paced
                .upgrade()
                .map(|obj| obj.imp().config.lock().max_detection_rate)
                .filter(|&rate| rate > 0)
                .map(|rate| std::time::Duration::from_secs(1) / rate)
        };
        let worker = LatestFrameWorker::spawn_paced(
            WORKER_THREAD_NAME,
            min_interval,
            detection(self.shared.clone(), detector, weak),
        )
        .map_err(|e| {
            gst::error_msg!(
                gst::CoreError::Thread,
                ["Cannot start detection thread: {}", e]
            )
        })?;
        *self.worker.lock() = Some(worker);
        gst::debug!(CAT, imp = self, "started, detector {kind}");
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.stop_worker();
        self.draw.lock().cache.clear();
        gst::debug!(CAT, imp = self, "stopped");
        Ok(())
    }
}

impl VideoFilterImpl for FaceOverlay {
    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Whatever happens, the frame goes on: failures are logged, never returned.
        let counters = self
            .counters
            .get_or_init(|| rheo_filter_sdk::frame_counters::counters_for("FaceOverlayFilter"));
        let outcome = rheo_filter_sdk::frame_counters::while_processing(counters, || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut state = self.draw.lock();
                self.feed_detector(frame, state.detection_width);
                self.draw_faces(frame, &mut state);
            }))
        });
        if outcome.is_ok() {
            counters.count_processed();
        } else {
            counters.count_dropped();
            gst::error!(
                CAT,
                imp = self,
                "panic while processing a frame; passed through"
            );
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

impl Drop for FaceOverlay {
    fn drop(&mut self) {
        // The worker holds only a weak reference, so it cannot keep the element alive; make
        // sure it is gone if the element is dropped without being stopped. (Dropped from its
        // own thread, it exits by itself.)
        self.stop_worker();
    }
}
