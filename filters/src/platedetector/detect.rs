//! Plate localisation (morphology on a grey frame) and preparation of a candidate for OCR.

use opencv::core::{self, Mat, Point, Rect, RotatedRect, Scalar, Size, Vector, BORDER_CONSTANT};
use opencv::imgproc;
use opencv::prelude::*;

/// Frames wider than this are downscaled for localisation (OCR uses full resolution).
pub const DETECTION_WIDTH: i32 = 800;
/// Height (px) the characters of a candidate are scaled to before OCR.
const CHAR_HEIGHT: f64 = 40.0;
/// At most this many candidates are OCR'd per frame (best first).
pub const MAX_CANDIDATES: usize = 4;

/// A plate candidate in full-frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Upright bounding box.
    pub rect: Rect,
    /// Rotation of the text line, degrees (positive: clockwise in image coordinates).
    pub angle: f32,
    /// Ordering score (lower is better).
    pub score: f64,
}

fn odd(v: f64, min: i32) -> i32 {
    let v = (v.round() as i32).max(min);
    v | 1
}

/// Finds regions that look like a line of dark characters on a light plate. `plate_width` is
/// the expected plate width as a fraction of the frame width.
pub fn find_candidates(grey: &Mat, plate_width: f64) -> opencv::Result<Vec<Candidate>> {
    let (w, h) = (grey.cols(), grey.rows());
    if w < 32 || h < 16 {
        return Ok(vec![]);
    }
    let scale = if w > DETECTION_WIDTH {
        DETECTION_WIDTH as f64 / w as f64
    } else {
        1.0
    };
    let mut small = Mat::default();
    let src = if scale < 1.0 {
        imgproc::resize(
            grey,
            &mut small,
            Size::new(0, 0),
            scale,
            scale,
            imgproc::INTER_AREA,
        )?;
        &small
    } else {
        grey
    };
    let sw = src.cols() as f64;
    let pw = (plate_width * sw).max(24.0);
    // Characters are about pw/8 wide: a black-hat wider than one keeps dark strokes on light.
    let bh_kernel = imgproc::get_structuring_element(
        imgproc::MORPH_RECT,
        Size::new(odd(pw / 5.0, 9), odd(pw / 12.0, 5)),
        Point::new(-1, -1),
    )?;
    let mut blackhat = Mat::default();
    imgproc::morphology_ex(
        src,
        &mut blackhat,
        imgproc::MORPH_BLACKHAT,
        &bh_kernel,
        Point::new(-1, -1),
        1,
        BORDER_CONSTANT,
        imgproc::morphology_default_border_value()?,
    )?;
    // Vertical strokes: horizontal gradient of the black-hat.
    let mut grad = Mat::default();
    imgproc::sobel(
        &blackhat,
        &mut grad,
        core::CV_32F,
        1,
        0,
        3,
        1.0,
        0.0,
        core::BORDER_DEFAULT,
    )?;
    let mut abs = Mat::default();
    core::convert_scale_abs(&grad, &mut abs, 1.0, 0.0)?;
    let mut norm = Mat::default();
    core::normalize(
        &abs,
        &mut norm,
        0.0,
        255.0,
        core::NORM_MINMAX,
        core::CV_8U,
        &core::no_array(),
    )?;
    let mut blur = Mat::default();
    imgproc::gaussian_blur_def(&norm, &mut blur, Size::new(5, 5), 0.0)?;
    // Merge the characters of a line into one blob.
    let close_kernel = imgproc::get_structuring_element(
        imgproc::MORPH_RECT,
        Size::new(odd(pw / 6.0, 7), odd(pw / 30.0, 3)),
        Point::new(-1, -1),
    )?;
    let mut closed = Mat::default();
    imgproc::morphology_ex(
        &blur,
        &mut closed,
        imgproc::MORPH_CLOSE,
        &close_kernel,
        Point::new(-1, -1),
        1,
        BORDER_CONSTANT,
        imgproc::morphology_default_border_value()?,
    )?;
    let mut bin = Mat::default();
    let otsu = imgproc::threshold(
        &closed,
        &mut bin,
        0.0,
        255.0,
        imgproc::THRESH_BINARY | imgproc::THRESH_OTSU,
    )?;
    if otsu < 60.0 {
        imgproc::threshold(&closed, &mut bin, 60.0, 255.0, imgproc::THRESH_BINARY)?;
    }
    let k3 =
        imgproc::get_structuring_element(imgproc::MORPH_RECT, Size::new(3, 3), Point::new(-1, -1))?;
    let mut opened = Mat::default();
    imgproc::morphology_ex(
        &bin,
        &mut opened,
        imgproc::MORPH_OPEN,
        &k3,
        Point::new(-1, -1),
        2,
        BORDER_CONSTANT,
        imgproc::morphology_default_border_value()?,
    )?;
    let mut contours = Vector::<Vector<Point>>::new();
    imgproc::find_contours(
        &opened,
        &mut contours,
        imgproc::RETR_EXTERNAL,
        imgproc::CHAIN_APPROX_SIMPLE,
        Point::new(0, 0),
    )?;
    let mut out = Vec::new();
    let inv = 1.0 / scale;
    // (a) lines of dark characters.
    for c in contours.iter() {
        if let Some(cand) = shape_candidate(&c, pw, inv, 1.8..=8.0, 0.45)? {
            out.push(cand);
        }
    }
    // (b) closed light rectangles (the plate itself, outlined by its edge).
    let mut edges = Mat::default();
    imgproc::canny(src, &mut edges, 50.0, 150.0, 3, false)?;
    let mut dil = Mat::default();
    imgproc::dilate(
        &edges,
        &mut dil,
        &k3,
        Point::new(-1, -1),
        1,
        BORDER_CONSTANT,
        imgproc::morphology_default_border_value()?,
    )?;
    let mut rects = Vector::<Vector<Point>>::new();
    imgproc::find_contours(
        &dil,
        &mut rects,
        imgproc::RETR_LIST,
        imgproc::CHAIN_APPROX_SIMPLE,
        Point::new(0, 0),
    )?;
    for c in rects.iter() {
        if let Some(cand) = shape_candidate(&c, pw, inv, 1.8..=6.5, 0.8)? {
            let overlaps = out.iter().any(|o: &Candidate| {
                let i = (o.rect & cand.rect).area() as f64;
                i > 0.8 * (o.rect | cand.rect).area() as f64
            });
            if !overlaps {
                out.push(cand);
            }
        }
    }
    out.sort_by(|a, b| a.score.total_cmp(&b.score));
    out.truncate(MAX_CANDIDATES);
    Ok(out)
}

/// A contour as a plate candidate (in full-frame pixels), if its rotated box has an aspect
/// ratio in `aspects`, a plausible width for the expected plate width `pw` and fills at least
/// `min_fill` of its box.
fn shape_candidate(
    c: &Vector<Point>,
    pw: f64,
    inv: f64,
    aspects: std::ops::RangeInclusive<f64>,
    min_fill: f64,
) -> opencv::Result<Option<Candidate>> {
    let rr: RotatedRect = imgproc::min_area_rect(c)?;
    let mut pts = [core::Point2f::default(); 4];
    rr.points(&mut pts)?;
    // The long side's direction, in (-90, 90].
    let (mut rw, mut rh, mut angle) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..2 {
        let (a, b) = (pts[i], pts[i + 1]);
        let (dx, dy) = ((b.x - a.x) as f64, (b.y - a.y) as f64);
        let len = dx.hypot(dy);
        if len > rw {
            rh = rw;
            rw = len;
            angle = dy.atan2(dx).to_degrees();
        } else {
            rh = len;
        }
    }
    if angle > 90.0 {
        angle -= 180.0;
    } else if angle <= -90.0 {
        angle += 180.0;
    }
    if rh < 6.0 || angle.abs() > 25.0 {
        return Ok(None);
    }
    let aspect = rw / rh;
    if !aspects.contains(&aspect) || rw < pw * 0.3 || rw > pw * 2.5 {
        return Ok(None);
    }
    let fill = imgproc::contour_area(c, false)? / (rw * rh);
    if fill < min_fill {
        return Ok(None);
    }
    let br = imgproc::bounding_rect(c)?;
    let rect = Rect::new(
        (br.x as f64 * inv) as i32,
        (br.y as f64 * inv) as i32,
        (br.width as f64 * inv).ceil() as i32,
        (br.height as f64 * inv).ceil() as i32,
    );
    let score = (rw / pw).ln().abs() + (aspect / 4.0).ln().abs() * 0.5 + (1.0 - fill.min(1.0));
    Ok(Some(Candidate {
        rect,
        angle: angle as f32,
        score,
    }))
}

/// A candidate ready for OCR: black characters on white, only character-like blobs kept.
pub struct Prepared {
    /// The cleaned image (CV_8UC1, continuous).
    pub image: Mat,
    /// Character-like blobs kept.
    pub chars: usize,
}

/// Crops `cand` from the full-resolution grey frame (with a margin), deskews it, scales the
/// characters to a fixed height, binarises (Otsu) and keeps only the blobs of similar height
/// that do not touch the crop's edge (plate border, bolts and background go). `None` when
/// fewer than 3 character-like blobs remain (not worth an OCR call).
pub fn prepare(grey: &Mat, cand: &Candidate) -> opencv::Result<Option<Prepared>> {
    let (fw, fh) = (grey.cols(), grey.rows());
    let r = cand.rect;
    let (mx, my) = (r.width / 8 + 4, r.height * 2 / 5 + 4);
    let x0 = (r.x - mx).max(0);
    let y0 = (r.y - my).max(0);
    let x1 = (r.x + r.width + mx).min(fw);
    let y1 = (r.y + r.height + my).min(fh);
    if x1 - x0 < 16 || y1 - y0 < 8 {
        return Ok(None);
    }
    let roi = Mat::roi(grey, Rect::new(x0, y0, x1 - x0, y1 - y0))?;
    let mut crop = Mat::default();
    if cand.angle.abs() > 2.0 {
        let centre = core::Point2f::new((x1 - x0) as f32 / 2.0, (y1 - y0) as f32 / 2.0);
        let m = imgproc::get_rotation_matrix_2d(centre, cand.angle as f64, 1.0)?;
        imgproc::warp_affine(
            &roi,
            &mut crop,
            &m,
            roi.size()?,
            imgproc::INTER_LINEAR,
            core::BORDER_REPLICATE,
            Scalar::default(),
        )?;
    } else {
        roi.copy_to(&mut crop)?;
    }
    // Characters fill about 70 % of the text line's height.
    let factor = (CHAR_HEIGHT / (r.height as f64 * 0.8).max(1.0)).clamp(0.25, 6.0);
    let mut scaled = Mat::default();
    imgproc::resize(
        &crop,
        &mut scaled,
        Size::new(0, 0),
        factor,
        factor,
        if factor > 1.0 {
            imgproc::INTER_CUBIC
        } else {
            imgproc::INTER_AREA
        },
    )?;
    let mut bin = Mat::default();
    imgproc::threshold(
        &scaled,
        &mut bin,
        0.0,
        255.0,
        imgproc::THRESH_BINARY_INV | imgproc::THRESH_OTSU,
    )?;
    // `bin`: characters (dark in the picture) are 255 now.
    let (mut labels, mut stats, mut centroids) = (Mat::default(), Mat::default(), Mat::default());
    let n = imgproc::connected_components_with_stats(
        &bin,
        &mut labels,
        &mut stats,
        &mut centroids,
        8,
        core::CV_32S,
    )?;
    let (bw, bh) = (bin.cols(), bin.rows());
    let mut blobs = Vec::new();
    for i in 1..n {
        let s = |c: i32| stats.at_2d::<i32>(i, c).copied();
        let (x, y, w, h, area) = (
            s(imgproc::CC_STAT_LEFT)?,
            s(imgproc::CC_STAT_TOP)?,
            s(imgproc::CC_STAT_WIDTH)?,
            s(imgproc::CC_STAT_HEIGHT)?,
            s(imgproc::CC_STAT_AREA)?,
        );
        let touches = x == 0 || y == 0 || x + w >= bw || y + h >= bh;
        if touches
            || h < 12
            || h as f64 > bh as f64 * 0.95
            || w as f64 > h as f64 * 3.0
            || area < 30
        {
            continue;
        }
        blobs.push((i, x, y, w, h));
    }
    if blobs.len() < 3 {
        return Ok(None);
    }
    let mut heights: Vec<i32> = blobs.iter().map(|b| b.4).collect();
    heights.sort_unstable();
    let median = heights[heights.len() / 2] as f64;
    // Same line: similar height and vertical centre.
    let mut centres: Vec<f64> = blobs
        .iter()
        .map(|b| b.2 as f64 + b.4 as f64 / 2.0)
        .collect();
    centres.sort_by(f64::total_cmp);
    let mid = centres[centres.len() / 2];
    blobs.retain(|b| {
        let cy = b.2 as f64 + b.4 as f64 / 2.0;
        (b.4 as f64 - median).abs() <= median * 0.3 && (cy - mid).abs() <= median * 0.4
    });
    if blobs.len() < 3 {
        return Ok(None);
    }
    let lx = blobs.iter().map(|b| b.1).min().unwrap_or(0);
    let ly = blobs.iter().map(|b| b.2).min().unwrap_or(0);
    let rx = blobs.iter().map(|b| b.1 + b.3).max().unwrap_or(bw);
    let ry = blobs.iter().map(|b| b.2 + b.4).max().unwrap_or(bh);
    let pad = (median / 2.0) as i32 + 4;
    let (ow, oh) = (rx - lx + 2 * pad, ry - ly + 2 * pad);
    let mut image = Mat::new_rows_cols_with_default(oh, ow, core::CV_8UC1, Scalar::all(255.0))?;
    let keep: Vec<i32> = blobs.iter().map(|b| b.0).collect();
    for y in ly..ry {
        let lrow = labels.at_row::<i32>(y)?;
        let orow = image.at_row_mut::<u8>(y - ly + pad)?;
        for x in lx..rx {
            if keep.contains(&lrow[x as usize]) {
                orow[(x - lx + pad) as usize] = 0;
            }
        }
    }
    Ok(Some(Prepared {
        image,
        chars: keep.len(),
    }))
}
