//! Face detection shared by the face filters (FaceOverlayFilter, KmsDetectFaces): OpenCV's
//! Haar cascade with Kurento's parameters on a downscaled grey image, one box per face.

use opencv::core::{Rect, Size, Vector};
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;

use crate::faceoverlay::FaceBox;

/// Haar cascade shipped by Debian's `opencv-data`.
pub const DEFAULT_CASCADE: &str =
    "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";

/// Kurento's detectMultiScale parameters.
const SCALE_FACTOR: f64 = 1.2;
const MIN_NEIGHBORS: i32 = 3;

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
    let mat = opencv::core::Mat::new_rows_cols_with_data(h, w, &grey[..(w * h) as usize])?;
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
}
