//! Face detection shared by the face filters (FaceOverlayFilter, KmsDetectFaces): BlazeFace
//! (a small DNN, the default) or OpenCV's Haar cascade with Kurento's parameters (the fallback
//! when the model is not installed), on a downscaled copy of the frame, one box per face.
//!
//! Both give boxes in the same convention, Haar's: a square from the eyebrows' top to the chin,
//! so Kurento's overlay offsets put a hat at the same place whichever detector found the face.
//! BlazeFace also gives the head's roll, which the overlay follows.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::process_setting::ProcessSetting;
use opencv::core::{Mat, Rect, Size, Vector};
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;

use crate::blazeface::{iou, BlazeFace, Face};
use crate::faceoverlay::FaceBox;

/// Haar cascade shipped by Debian's `opencv-data`.
pub const DEFAULT_CASCADE: &str =
    "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";

/// The model's file, under the models folder the install steps fill (`scripts/fetch-models.sh`).
const MODEL_FILE: &str = "blazeface/face_detection_front_128x128_barracuda.onnx";

/// The face filters detect on a copy of the frame at most this wide (Kurento's detector's size).
pub const DETECTION_WIDTH: u32 = 320;

/// Kurento's detectMultiScale parameters.
const SCALE_FACTOR: f64 = 1.2;
const MIN_NEIGHBORS: i32 = 3;

/// BlazeFace's box (from its closer look) is tighter than Haar's: on OpenCV's Megamind sample,
/// upright, Haar's box is 1.21 times as wide and its centre 0.09 box heights higher (medians
/// of 26 frames; their middle 80 % span 1.08–1.30 and 0.05–0.33).
const HAAR_SIZE_RATIO: f32 = 1.2;
const HAAR_CENTRE_UP: f32 = 0.09;

/// Which detector the face filters use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectorKind {
    /// MediaPipe's BlazeFace, run with OpenCV's DNN module.
    BlazeFace,
    /// OpenCV's frontal-face Haar cascade, as Kurento.
    Haar,
}

impl DetectorKind {
    /// The configuration's name of the detector.
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::BlazeFace => "blazeface",
            DetectorKind::Haar => "haar",
        }
    }
}

impl FromStr for DetectorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "blazeface" => Ok(DetectorKind::BlazeFace),
            "haar" => Ok(DetectorKind::Haar),
            other => Err(format!(
                "unknown face detector '{other}' (known: blazeface, haar)"
            )),
        }
    }
}

/// What a new face filter loads: the server's configuration, or for `gst-launch-1.0` the
/// environment (`RHEO_FACE_DETECTOR`, `RHEO_FACE_MODEL`) and the installed defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorSettings {
    /// The detector asked for.
    pub kind: DetectorKind,
    /// BlazeFace's ONNX file.
    pub model: PathBuf,
    /// The Haar cascade (the fallback, or the choice).
    pub cascade: PathBuf,
}

impl DetectorSettings {
    /// BlazeFace with the model where the install steps put it: `models/` in the working
    /// directory (the Docker image's), else the source tree's.
    pub fn installed() -> DetectorSettings {
        let local = Path::new("models").join(MODEL_FILE);
        let model = if local.is_file() {
            local
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../models")
                .join(MODEL_FILE)
        };
        DetectorSettings {
            kind: DetectorKind::BlazeFace,
            model,
            cascade: PathBuf::from(DEFAULT_CASCADE),
        }
    }

    /// [`Self::installed`] with the environment's choices.
    fn from_environment() -> DetectorSettings {
        let mut s = DetectorSettings::installed();
        if let Some(kind) = std::env::var("RHEO_FACE_DETECTOR")
            .ok()
            .and_then(|k| k.parse().ok())
        {
            s.kind = kind;
        }
        if let Some(model) = std::env::var_os("RHEO_FACE_MODEL").filter(|m| !m.is_empty()) {
            s.model = PathBuf::from(model);
        }
        s
    }

    /// The detector that will actually run: BlazeFace falls back to Haar when its model is
    /// missing, and the reason is returned for the log.
    pub fn effective(&self) -> (DetectorKind, Option<String>) {
        if self.kind == DetectorKind::BlazeFace && !self.model.is_file() {
            return (
                DetectorKind::Haar,
                Some(format!(
                    "BlazeFace model {} not found (scripts/fetch-models.sh installs it): \
                     faces are detected with the Haar cascade",
                    self.model.display()
                )),
            );
        }
        (self.kind, None)
    }
}

static SETTINGS: ProcessSetting<DetectorSettings> = ProcessSetting::new();

/// Sets what face filters created from now on load (the server calls it from its configuration).
pub fn configure(settings: DetectorSettings) {
    SETTINGS.set(settings);
}

/// What a face filter created now loads.
pub fn settings() -> DetectorSettings {
    SETTINGS.get(DetectorSettings::from_environment)
}

/// A downscaled copy of a frame for the detector: packed I420 (`width`, `height` even).
#[derive(Clone, Debug, Default)]
pub struct SmallFrame {
    /// Y, then U, then V, without padding.
    pub i420: Vec<u8>,
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
}

impl SmallFrame {
    /// The size of the small copy of a `width`×`height` frame: at most `max_width` wide,
    /// aspect kept, both sides even.
    pub fn size_for(width: u32, height: u32, max_width: u32) -> (u32, u32) {
        let (w, h) = crate::faceoverlay::detection_size(width, height, max_width);
        ((w & !1).max(2), (h & !1).max(2))
    }

    /// Downscales the three planes of an I420 frame (`planes[i]` with its stride) to
    /// `width`×`height` (from [`Self::size_for`]), reusing `self`'s buffer.
    pub fn fill(&mut self, planes: [(&[u8], usize); 3], full: (u32, u32), small: (u32, u32)) {
        let (fw, fh) = (full.0 as usize, full.1 as usize);
        let (sw, sh) = (small.0 as usize, small.1 as usize);
        let mut plane = Vec::new();
        self.i420.clear();
        for (i, (data, stride)) in planes.into_iter().enumerate() {
            let (src, dst) = if i == 0 {
                ((fw, fh), (sw, sh))
            } else {
                ((fw.div_ceil(2), fh.div_ceil(2)), (sw / 2, sh / 2))
            };
            crate::faceoverlay::downscale_gray(
                data, stride, src.0, src.1, dst.0, dst.1, &mut plane,
            );
            self.i420.extend_from_slice(&plane);
        }
        self.width = small.0;
        self.height = small.1;
    }

    /// A small copy of a packed BGR picture (`stride` bytes per row), as [`Self::fill`] makes
    /// of an I420 frame.
    pub fn from_bgr(
        bgr: &[u8],
        width: u32,
        height: u32,
        stride: usize,
        max_width: u32,
    ) -> opencv::Result<SmallFrame> {
        use opencv::core::Mat;
        if height == 0 || bgr.len() < stride * (height as usize - 1) + width as usize * 3 {
            return Err(opencv::Error::new(
                opencv::core::StsBadArg,
                "the picture is smaller than its size says",
            ));
        }
        // SAFETY: the Mat only reads `bgr` (its size checked above), within this function.
        let picture = unsafe {
            Mat::new_rows_cols_with_data_unsafe(
                height as i32,
                width as i32,
                opencv::core::CV_8UC3,
                bgr.as_ptr() as *mut std::ffi::c_void,
                stride,
            )
        }?;
        let (w, h) = SmallFrame::size_for(width, height, max_width);
        let mut small = Mat::default();
        opencv::imgproc::resize(
            &picture,
            &mut small,
            opencv::core::Size::new(w as i32, h as i32),
            0.0,
            0.0,
            opencv::imgproc::INTER_AREA,
        )?;
        let mut i420 = Mat::default();
        opencv::imgproc::cvt_color(&small, &mut i420, opencv::imgproc::COLOR_BGR2YUV_I420, 0)?;
        Ok(SmallFrame {
            i420: i420.data_bytes()?.to_vec(),
            width: w,
            height: h,
        })
    }

    /// The luma plane.
    pub fn luma(&self) -> &[u8] {
        &self.i420[..(self.width * self.height) as usize]
    }
}

/// A loaded face detector (one per thread: detection mutates it).
pub struct FaceDetector {
    detector: Detector,
}

enum Detector {
    BlazeFace {
        net: Box<BlazeFace>,
        rgb: Mat,
        search: Search,
    },
    Haar {
        cascade: CascadeClassifier,
        found: Vector<Rect>,
    },
}

impl FaceDetector {
    /// Loads the detector `settings` name, or the Haar cascade when the model is missing (the
    /// second value then says so, for the log).
    pub fn open(settings: &DetectorSettings) -> Result<(FaceDetector, Option<String>), String> {
        let (kind, fallback) = settings.effective();
        let detector = match kind {
            DetectorKind::BlazeFace => {
                let path = settings.model.to_string_lossy();
                let net = BlazeFace::load(&path)
                    .map_err(|e| format!("BlazeFace model {path} could not be loaded: {e}"))?;
                Detector::BlazeFace {
                    net: Box::new(net),
                    rgb: Mat::default(),
                    search: Search::default(),
                }
            }
            DetectorKind::Haar => {
                let path = settings.cascade.to_string_lossy();
                if !settings.cascade.is_file() {
                    return Err(format!(
                        "face cascade {path} not found (install opencv-data)"
                    ));
                }
                let cascade = CascadeClassifier::new(path.as_ref())
                    .map_err(|e| format!("face cascade {path} could not be loaded: {e}"))?;
                if cascade.empty().unwrap_or(true) {
                    return Err(format!("face cascade {path} could not be loaded"));
                }
                Detector::Haar {
                    cascade,
                    found: Vector::new(),
                }
            }
        };
        Ok((FaceDetector { detector }, fallback))
    }

    /// The detector that runs.
    pub fn kind(&self) -> DetectorKind {
        match self.detector {
            Detector::BlazeFace { .. } => DetectorKind::BlazeFace,
            Detector::Haar { .. } => DetectorKind::Haar,
        }
    }

    /// The faces in `small`, in the pixels of the `full`-sized frame it was made from.
    pub fn detect(&mut self, small: &SmallFrame, full: (u32, u32)) -> opencv::Result<Vec<FaceBox>> {
        let (w, h) = (small.width as i32, small.height as i32);
        match &mut self.detector {
            Detector::Haar { cascade, found } => detect_faces(
                cascade,
                small.luma(),
                (small.width, small.height),
                full,
                found,
            ),
            Detector::BlazeFace { net, rgb, search } => {
                let yuv = Mat::new_rows_cols_with_data(h * 3 / 2, w, &small.i420[..])?;
                opencv::imgproc::cvt_color(&yuv, rgb, opencv::imgproc::COLOR_YUV2RGB_I420, 0)?;
                let faces = search.detect(net, rgb)?;
                let scale = full.0 as f32 / small.width.max(1) as f32;
                Ok(faces.iter().map(|f| haar_like_box(f, scale)).collect())
            }
        }
    }
}

/// Where BlazeFace looks in each picture, since its model sees only faces over about a fifth of
/// the picture it is given (MediaPipe's "short range" model, for selfies): the whole picture,
/// closer at each face found last time (so a small face, once found, is followed), and one tile
/// of a grid that covers the picture in small overlapping squares, a different tile each time
/// (so a small new face is found within one round of the grid).
#[derive(Default)]
struct Search {
    /// The faces found last time.
    known: Vec<Face>,
    next_tile: usize,
}

/// A tile's side, as a share of the picture's shorter side: a face a tenth of that side is a
/// quarter of the tile (at Kurento's 320-pixel detection width, faces from 24 pixels; Haar
/// with Kurento's parameters finds them from 16).
const TILE_SHARE: f32 = 0.4;
/// Two looks that overlap by more than this are the same face.
const SAME_FACE_IOU: f32 = 0.3;

impl Search {
    fn detect(&mut self, net: &mut BlazeFace, rgb: &Mat) -> opencv::Result<Vec<Face>> {
        let mut first: Vec<Face> = net.detect(rgb)?;
        let mut followed = Vec::new();
        for known in std::mem::take(&mut self.known) {
            if !first.iter().any(|f| iou(f, &known) > SAME_FACE_IOU) {
                followed.push(known);
            }
        }
        let tile = self.tile(rgb.cols(), rgb.rows());
        let roi = Mat::roi(rgb, tile)?.try_clone()?;
        for mut f in net.detect(&roi)? {
            f.x += tile.x as f32;
            f.y += tile.y as f32;
            for p in f.keypoints.iter_mut() {
                *p = (p.0 + tile.x as f32, p.1 + tile.y as f32);
            }
            let seen = |g: &Face| iou(g, &f) > SAME_FACE_IOU;
            if !first.iter().any(seen) && !followed.iter().any(seen) {
                first.push(f);
            }
        }
        let mut faces: Vec<Face> = Vec::new();
        // Faces seen at first look stay even when the closer look misses them; followed ones
        // are gone when it does.
        let looks = first.into_iter().map(|f| (f, true));
        for (face, seen) in looks.chain(followed.into_iter().map(|f| (f, false))) {
            let closer = match net.look_closer(rgb, &face)? {
                Some(closer) => closer,
                None if seen => face,
                None => continue,
            };
            match faces.iter_mut().find(|f| iou(f, &closer) > SAME_FACE_IOU) {
                Some(same) if same.score < closer.score => *same = closer,
                Some(_) => {}
                None => faces.push(closer),
            }
        }
        self.known = faces.clone();
        Ok(faces)
    }

    /// The next tile of the grid: squares of [`TILE_SHARE`] of the shorter side, half
    /// overlapping, row by row.
    fn tile(&mut self, width: i32, height: i32) -> Rect {
        let side = ((width.min(height) as f32 * TILE_SHARE) as i32).max(1);
        let stride = (side / 2).max(1);
        let steps = |length: i32| ((length - side).max(0) + stride - 1) / stride + 1;
        let (columns, rows) = (steps(width), steps(height));
        let i = self.next_tile % (columns * rows) as usize;
        self.next_tile = i + 1;
        let (column, row) = ((i as i32) % columns, (i as i32) / columns);
        let at = |step: i32, length: i32| (step * stride).min((length - side).max(0));
        Rect::new(
            at(column, width),
            at(row, height),
            side.min(width),
            side.min(height),
        )
    }
}

/// A BlazeFace face (from [`BlazeFace::detect_closely`], whose box does not shrink as the head
/// turns) as the box Haar would give, scaled by `scale`, with the face's roll.
pub fn haar_like_box(face: &Face, scale: f32) -> FaceBox {
    let roll = face.roll();
    let size = face.width;
    // "Up" along the face, which is tilted by its roll.
    let up = HAAR_CENTRE_UP * size;
    let cx = face.x + face.width / 2.0 + up * roll.sin();
    let cy = face.y + face.height / 2.0 - up * roll.cos();
    let side = size * HAAR_SIZE_RATIO * scale;
    let (cx, cy) = (cx * scale, cy * scale);
    FaceBox {
        x: (cx - side / 2.0).max(0.0).round() as u32,
        y: (cy - side / 2.0).max(0.0).round() as u32,
        width: side.round() as u32,
        height: side.round() as u32,
        roll: roll.to_degrees(),
    }
}

/// Faces in a grey `small` image (Kurento's Haar parameters, overlapping boxes suppressed),
/// scaled back to `full` frame pixels.
pub fn detect_faces(
    cascade: &mut CascadeClassifier,
    grey: &[u8],
    small: (u32, u32),
    full: (u32, u32),
    found: &mut Vector<Rect>,
) -> opencv::Result<Vec<FaceBox>> {
    let (w, h) = (small.0 as i32, small.1 as i32);
    let mat = Mat::new_rows_cols_with_data(h, w, &grey[..(w * h) as usize])?;
    found.clear();
    let mut votes = Vector::<i32>::new();
    cascade.detect_multi_scale2(
        &mat,
        found,
        &mut votes,
        SCALE_FACTOR,
        MIN_NEIGHBORS,
        0,
        Size::new(w / 20, h / 20),
        Size::new(w / 2, h / 2),
    )?;
    let kept = suppress_overlaps(found.iter().zip(votes.iter()).collect());
    let sx = full.0 as f64 / w as f64;
    let sy = full.1 as f64 / h as f64;
    Ok(kept
        .iter()
        .map(|r| FaceBox {
            x: (r.x.max(0) as f64 * sx).round() as u32,
            y: (r.y.max(0) as f64 * sy).round() as u32,
            width: (r.width.max(0) as f64 * sx).round() as u32,
            height: (r.height.max(0) as f64 * sy).round() as u32,
            roll: 0.0,
        })
        .collect())
}

/// One face often yields two boxes of different sizes (Kurento then draws two hats); keep the
/// box with the most neighbour votes among boxes that overlap by over a third of the smaller.
fn suppress_overlaps(mut boxes: Vec<(Rect, i32)>) -> Vec<Rect> {
    boxes.sort_by_key(|(_, votes)| std::cmp::Reverse(*votes));
    let mut kept: Vec<Rect> = Vec::with_capacity(boxes.len());
    for (r, _) in boxes {
        let overlaps = kept.iter().any(|k| {
            let iw = (r.x + r.width).min(k.x + k.width) - r.x.max(k.x);
            let ih = (r.y + r.height).min(k.y + k.height) - r.y.max(k.y);
            let smaller = (r.width * r.height).min(k.width * k.height);
            iw > 0 && ih > 0 && 3 * iw * ih > smaller
        });
        if !overlaps {
            kept.push(r);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_boxes_keep_the_best_voted_one() {
        let face = Rect::new(100, 60, 100, 100);
        let inner = Rect::new(80, 100, 45, 45);
        let other = Rect::new(300, 60, 90, 90);
        let kept = suppress_overlaps(vec![(inner, 3), (face, 12), (other, 5)]);
        assert_eq!(kept, vec![face, other]);
        let touching = Rect::new(200, 60, 100, 100);
        assert_eq!(suppress_overlaps(vec![(face, 4), (touching, 4)]).len(), 2);
    }

    #[test]
    fn a_blazeface_box_becomes_haars_larger_higher_square_with_the_roll() {
        // Upright: box 100 wide centred at (200, 150).
        let upright = Face {
            x: 150.0,
            y: 100.0,
            width: 100.0,
            height: 100.0,
            score: 0.9,
            keypoints: [
                (180.0, 130.0),
                (220.0, 130.0),
                (0.0, 0.0),
                (0.0, 0.0),
                (0.0, 0.0),
                (0.0, 0.0),
            ],
        };
        let b = haar_like_box(&upright, 2.0);
        let size = 100.0;
        let side = (size * HAAR_SIZE_RATIO * 2.0).round() as u32;
        assert_eq!((b.width, b.height), (side, side));
        assert_eq!(b.roll, 0.0);
        let centre_y = (b.y + b.height / 2) as f32;
        assert!(
            (centre_y - (150.0 - HAAR_CENTRE_UP * size) * 2.0).abs() <= 1.0,
            "{b:?}"
        );
        assert!(((b.x + b.width / 2) as f32 - 400.0).abs() <= 1.0, "{b:?}");
        // Tilted 90° (left eye straight below the right one): "up" is to the right.
        let tilted = Face {
            keypoints: [
                (200.0, 130.0),
                (200.0, 170.0),
                (0.0, 0.0),
                (0.0, 0.0),
                (0.0, 0.0),
                (0.0, 0.0),
            ],
            ..upright
        };
        let t = haar_like_box(&tilted, 1.0);
        assert!((t.roll - 90.0).abs() < 1e-3);
        assert!(
            (t.x + t.width / 2) as f32 > 200.0 + HAAR_CENTRE_UP * size - 1.0,
            "{t:?}"
        );
    }

    #[test]
    fn the_search_tiles_cover_the_picture_in_turn() {
        let mut search = Search::default();
        let tiles: Vec<Rect> = (0..24).map(|_| search.tile(320, 240)).collect();
        // 96-pixel squares every 48 pixels: 6 columns (the last flush right) and 4 rows.
        assert_eq!(tiles[0], Rect::new(0, 0, 96, 96));
        assert_eq!(tiles[5], Rect::new(224, 0, 96, 96));
        assert_eq!(tiles[23], Rect::new(224, 144, 96, 96));
        assert_eq!(search.tile(320, 240), tiles[0]);
        for y in (0..240).step_by(7) {
            for x in (0..320).step_by(7) {
                assert!(tiles
                    .iter()
                    .any(|t| t.contains(opencv::core::Point::new(x, y))));
            }
        }
    }

    #[test]
    fn detector_names_parse_and_a_missing_model_falls_back_to_haar() {
        assert_eq!(
            "BlazeFace".parse::<DetectorKind>(),
            Ok(DetectorKind::BlazeFace)
        );
        assert_eq!("haar".parse::<DetectorKind>(), Ok(DetectorKind::Haar));
        assert!("yolo".parse::<DetectorKind>().is_err());
        let missing = DetectorSettings {
            model: PathBuf::from("/nonexistent/model.onnx"),
            ..DetectorSettings::installed()
        };
        let (kind, why) = missing.effective();
        assert_eq!(kind, DetectorKind::Haar);
        assert!(why.unwrap().contains("/nonexistent/model.onnx"));
    }

    #[test]
    fn the_small_frame_keeps_even_sides_and_all_three_planes() {
        assert_eq!(SmallFrame::size_for(640, 480, 320), (320, 240));
        assert_eq!(SmallFrame::size_for(641, 361, 641), (640, 360));
        let (w, h) = (8usize, 4usize);
        let y = vec![100u8; w * h];
        let u = vec![50u8; w / 2 * h / 2];
        let v = vec![200u8; w / 2 * h / 2];
        let mut small = SmallFrame::default();
        small.fill([(&y, w), (&u, w / 2), (&v, w / 2)], (8, 4), (4, 2));
        assert_eq!(
            small.i420,
            vec![100, 100, 100, 100, 100, 100, 100, 100, 50, 50, 200, 200][..]
        );
        assert_eq!(small.luma().len(), 8);
    }
}
