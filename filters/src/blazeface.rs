//! MediaPipe's BlazeFace "front" detector (128x128, ONNX), run with OpenCV's DNN module: the
//! picture letterboxed into the model's square input (RGB scaled to [-1, 1], NHWC, as the model
//! was converted), its 896 anchors decoded into boxes and six keypoints each, and overlapping
//! boxes merged by score-weighted averaging, as MediaPipe does.

use opencv::core::{Mat, Scalar, Size, Vector, CV_32F, CV_32FC3};
use opencv::prelude::*;
use opencv::{dnn, imgproc};

/// Where the project's install steps put the model (`scripts/fetch-models.sh`).
pub const DEFAULT_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/blazeface/face_detection_front_128x128_barracuda.onnx"
);

const INPUT: i32 = 128;
const ANCHORS: usize = 896;
const VALUES: usize = 16;
/// MediaPipe's thresholds for this model.
const MIN_SCORE: f32 = 0.75;
const MIN_SUPPRESSION_IOU: f32 = 0.3;
/// The second look's square, in face sizes.
const CLOSER_LOOK_SIZE: f32 = 2.0;

/// A face, in the pixels of the picture given to [`BlazeFace::detect`].
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width of the box.
    pub width: f32,
    /// Height of the box.
    pub height: f32,
    /// The model's confidence, 0 to 1.
    pub score: f32,
    /// Right eye, left eye, nose tip, mouth, right ear, left ear (the person's right and left).
    pub keypoints: [(f32, f32); 6],
}

impl Face {
    /// The head's roll in radians: the angle of the line from the right eye to the left eye.
    pub fn roll(&self) -> f32 {
        let ((rx, ry), (lx, ly)) = (self.keypoints[0], self.keypoints[1]);
        (ly - ry).atan2(lx - rx)
    }
}

/// A loaded model, ready to detect (one per thread: inference mutates the network).
pub struct BlazeFace {
    net: dnn::Net,
    outputs: Vector<String>,
    /// Anchor centres, in fractions of the input square.
    anchors: Vec<(f32, f32)>,
}

impl BlazeFace {
    /// Loads the ONNX model at `model`.
    pub fn load(model: &str) -> opencv::Result<BlazeFace> {
        let net = dnn::read_net_from_onnx(model)?;
        let outputs = net.get_unconnected_out_layers_names()?;
        Ok(BlazeFace {
            net,
            outputs,
            anchors: anchors(),
        })
    }

    /// The faces in `rgb` (8-bit, 3 channels, any size).
    pub fn detect(&mut self, rgb: &Mat) -> opencv::Result<Vec<Face>> {
        let (w, h) = (rgb.cols(), rgb.rows());
        let side = w.max(h);
        let scale = INPUT as f32 / side as f32;
        let (sw, sh) = (
            ((w as f32 * scale).round() as i32).max(1),
            ((h as f32 * scale).round() as i32).max(1),
        );
        let mut small = Mat::default();
        imgproc::resize(
            rgb,
            &mut small,
            Size::new(sw, sh),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )?;
        // Letterbox: the picture in the top-left corner of a black square.
        let mut square =
            Mat::new_rows_cols_with_default(INPUT, INPUT, small.typ(), Scalar::all(0.0))?;
        let mut roi = Mat::roi_mut(&mut square, opencv::core::Rect::new(0, 0, sw, sh))?;
        small.copy_to(&mut roi)?;
        let mut input = Mat::default();
        square.convert_to(&mut input, CV_32FC3, 1.0 / 127.5, -1.0)?;
        let data = input.data_typed::<opencv::core::Vec3f>()?;
        let mut nhwc = Mat::new_nd_with_default(&[1, INPUT, INPUT, 3], CV_32F, Scalar::all(0.0))?;
        nhwc.data_typed_mut::<f32>()?
            .iter_mut()
            .zip(data.iter().flat_map(|p| p.0))
            .for_each(|(d, s)| *d = s);
        self.net.set_input(&nhwc, "", 1.0, Scalar::default())?;
        let mut out = Vector::<Mat>::new();
        self.net.forward(&mut out, &self.outputs)?;
        // The converted model gives the 16x16 grid's anchors (512) and the 8x8 grid's (384)
        // as separate scores and boxes; the first grid comes first.
        let mut parts: Vec<(usize, usize, Vec<f32>)> = Vec::new();
        for m in out.iter() {
            let per_anchor = m.mat_size().iter().last().copied().unwrap_or(0) as usize;
            parts.push((per_anchor, m.total(), m.data_typed::<f32>()?.to_vec()));
        }
        parts.sort_by_key(|(per_anchor, total, _)| (*per_anchor, std::cmp::Reverse(*total)));
        let joined = |per_anchor: usize| -> Vec<f32> {
            parts
                .iter()
                .filter(|p| p.0 == per_anchor)
                .flat_map(|p| p.2.iter().copied())
                .collect()
        };
        let (scores, boxes) = (joined(1), joined(VALUES));
        if scores.len() != ANCHORS || boxes.len() != ANCHORS * VALUES {
            return Err(opencv::Error::new(
                opencv::core::StsError,
                "the model's outputs are not BlazeFace's",
            ));
        }
        let back = 1.0 / scale;
        let faces = self.decode(&boxes, &scores);
        Ok(merge(faces)
            .into_iter()
            .map(|f| Face {
                x: f.x * back,
                y: f.y * back,
                width: f.width * back,
                height: f.height * back,
                score: f.score,
                keypoints: f.keypoints.map(|(x, y)| (x * back, y * back)),
            })
            .collect())
    }

    /// [`Self::detect`], then each face looked at again, closer and turned upright: at the
    /// first look the eyes of a face a fifth of the picture wide are only a few input pixels
    /// apart, so the roll they give can be off by 20° or more; in the second, the face fills
    /// half the input and is nearly upright, where the model is most precise.
    pub fn detect_closely(&mut self, rgb: &Mat) -> opencv::Result<Vec<Face>> {
        let first = self.detect(rgb)?;
        let mut faces = Vec::with_capacity(first.len());
        for face in first {
            faces.push(self.look_closer(rgb, &face)?.unwrap_or(face));
        }
        Ok(faces)
    }

    /// The face found in an upright square around `face` twice its size, in `rgb`'s pixels.
    pub fn look_closer(&mut self, rgb: &Mat, face: &Face) -> opencv::Result<Option<Face>> {
        let half = INPUT as f32 / 2.0;
        let centre = (face.x + face.width / 2.0, face.y + face.height / 2.0);
        let scale = CLOSER_LOOK_SIZE * face.width.max(face.height) / INPUT as f32;
        let (sin, cos) = face.roll().sin_cos();
        // Input pixel q shows picture pixel centre + scale * R(roll) * (q - half).
        let to_picture = move |(qx, qy): (f32, f32)| {
            let (dx, dy) = ((qx - half) * scale, (qy - half) * scale);
            (
                centre.0 + dx * cos - dy * sin,
                centre.1 + dx * sin + dy * cos,
            )
        };
        let origin = to_picture((0.0, 0.0));
        let m = Mat::from_slice_2d(&[
            [(scale * cos) as f64, (-scale * sin) as f64, origin.0 as f64],
            [(scale * sin) as f64, (scale * cos) as f64, origin.1 as f64],
        ])?;
        let mut square = Mat::default();
        imgproc::warp_affine(
            rgb,
            &mut square,
            &m,
            Size::new(INPUT, INPUT),
            imgproc::INTER_LINEAR | imgproc::WARP_INVERSE_MAP,
            opencv::core::BORDER_CONSTANT,
            Scalar::all(0.0),
        )?;
        let near_centre = self.detect(&square)?.into_iter().min_by(|a, b| {
            let d = |f: &Face| (f.x + f.width / 2.0 - half).hypot(f.y + f.height / 2.0 - half);
            d(a).total_cmp(&d(b))
        });
        let Some(close) = near_centre else {
            return Ok(None);
        };
        let (cx, cy) = to_picture((close.x + close.width / 2.0, close.y + close.height / 2.0));
        let (width, height) = (close.width * scale, close.height * scale);
        Ok(Some(Face {
            x: cx - width / 2.0,
            y: cy - height / 2.0,
            width,
            height,
            score: close.score,
            keypoints: close.keypoints.map(to_picture),
        }))
    }

    /// Candidates over the score threshold, in input pixels.
    fn decode(&self, boxes: &[f32], scores: &[f32]) -> Vec<Face> {
        let size = INPUT as f32;
        let mut faces = Vec::new();
        for (i, &(ax, ay)) in self.anchors.iter().enumerate() {
            let score = 1.0 / (1.0 + (-scores[i].clamp(-100.0, 100.0)).exp());
            if score < MIN_SCORE {
                continue;
            }
            let r = &boxes[i * VALUES..(i + 1) * VALUES];
            let (cx, cy) = (r[0] + ax * size, r[1] + ay * size);
            let (w, h) = (r[2], r[3]);
            let mut keypoints = [(0.0, 0.0); 6];
            for (k, p) in keypoints.iter_mut().enumerate() {
                *p = (r[4 + 2 * k] + ax * size, r[5 + 2 * k] + ay * size);
            }
            faces.push(Face {
                x: cx - w / 2.0,
                y: cy - h / 2.0,
                width: w,
                height: h,
                score,
                keypoints,
            });
        }
        faces
    }
}

/// The front model's SSD anchors: a 16x16 grid with 2 anchors per cell (stride 8), then an
/// 8x8 grid with 6 (three layers of stride 16); fixed size, centred in their cells.
fn anchors() -> Vec<(f32, f32)> {
    let mut a = Vec::with_capacity(ANCHORS);
    for (grid, per_cell) in [(16, 2), (8, 6)] {
        for y in 0..grid {
            for x in 0..grid {
                for _ in 0..per_cell {
                    a.push((
                        (x as f32 + 0.5) / grid as f32,
                        (y as f32 + 0.5) / grid as f32,
                    ));
                }
            }
        }
    }
    a
}

/// Intersection over union of two faces' boxes.
pub fn iou(a: &Face, b: &Face) -> f32 {
    let iw = (a.x + a.width).min(b.x + b.width) - a.x.max(b.x);
    let ih = (a.y + a.height).min(b.y + b.height) - a.y.max(b.y);
    if iw <= 0.0 || ih <= 0.0 {
        return 0.0;
    }
    let inter = iw * ih;
    inter / (a.width * a.height + b.width * b.height - inter)
}

/// Weighted non-maximum suppression: each face is the score-weighted mean of the candidates
/// that overlap the best remaining one, which steadies boxes from frame to frame.
fn merge(mut candidates: Vec<Face>) -> Vec<Face> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut faces = Vec::new();
    while let Some(best) = candidates.first().cloned() {
        let (group, rest): (Vec<Face>, Vec<Face>) = candidates
            .into_iter()
            .partition(|c| iou(&best, c) > MIN_SUPPRESSION_IOU);
        candidates = rest;
        let total: f32 = group.iter().map(|f| f.score).sum();
        let mean =
            |v: &dyn Fn(&Face) -> f32| group.iter().map(|f| v(f) * f.score).sum::<f32>() / total;
        let mut keypoints = [(0.0, 0.0); 6];
        for (k, p) in keypoints.iter_mut().enumerate() {
            *p = (mean(&|f| f.keypoints[k].0), mean(&|f| f.keypoints[k].1));
        }
        faces.push(Face {
            x: mean(&|f| f.x),
            y: mean(&|f| f.y),
            width: mean(&|f| f.width),
            height: mean(&|f| f.height),
            score: best.score,
            keypoints,
        });
    }
    faces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_anchors_are_the_front_models_896() {
        let a = anchors();
        assert_eq!(a.len(), ANCHORS);
        assert_eq!(a[0], (1.0 / 32.0, 1.0 / 32.0));
        assert_eq!(a[512], (1.0 / 16.0, 1.0 / 16.0));
    }

    #[test]
    fn overlapping_candidates_merge_into_one_weighted_face() {
        let face = |x: f32, score: f32| Face {
            x,
            y: 0.0,
            width: 10.0,
            height: 10.0,
            score,
            keypoints: [(x, 0.0); 6],
        };
        let merged = merge(vec![face(0.0, 0.9), face(1.0, 0.9), face(50.0, 0.8)]);
        assert_eq!(merged.len(), 2);
        assert!((merged[0].x - 0.5).abs() < 1e-4, "{merged:?}");
        assert_eq!(merged[1].x, 50.0);
        let tilted = Face {
            keypoints: [
                (0.0, 0.0),
                (10.0, 10.0),
                (0.0, 0.0),
                (0.0, 0.0),
                (0.0, 0.0),
                (0.0, 0.0),
            ],
            ..face(0.0, 1.0)
        };
        assert!((tilted.roll() - std::f32::consts::FRAC_PI_4).abs() < 1e-6);
    }
}
