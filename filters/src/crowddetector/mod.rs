//! `crowddetector.CrowdDetectorFilter`: occupancy, fluidity and direction of the people inside
//! polygonal regions of interest (ROIs), with Kurento's API (module `crowddetector`, element
//! `rheocrowddetector`).
//!
//! # Algorithm (per frame, on a copy downscaled to `processingWidth`, aspect ratio kept)
//!
//! 1. Grey image, 5×5 Gaussian blur.
//! 2. **Background**: a running average in `f32`, never taught by moving pixels (step 4's frame
//!    difference). During the first [`LEARN_FRAMES`] frames it is the plain mean of the static
//!    pixels (a quick bootstrap from the first frame, instead of Kurento's start from black);
//!    then it learns with rate [`ALPHA_BG`] where the scene is background and [`ALPHA_STATIC`]
//!    under static foreground: a person who stops (or a ghost of the bootstrap) is absorbed
//!    after a few hundred frames (~1/e after 330 frames, 11 s at 30 fps).
//! 3. **Foreground** = |grey − background| > [`FG_THRESHOLD`], opened 3×3 and closed 5×5.
//! 4. **Moving** = foreground ∩ dilate(|grey − previous grey| > [`MOTION_THRESHOLD`]).
//! 5. Per ROI, counted over the filled **polygon** (Kurento mixed polygon and bounding box):
//!    * occupancy % = foreground pixels · 100 / polygon pixels (0–100);
//!    * fluidity % = moving foreground pixels · 100 / foreground pixels: the share of the
//!      occupants that move (100 = everybody flows, 0 = a standing crowd). An empty ROI
//!      (occupancy below [`EMPTY_OCCUPANCY`] %) reports 100: nothing obstructs the flow.
//!    * level (both metrics, thresholds of the ROI's config): `> max` → 3, `> med` → 2,
//!      `> min` → 1, else 0 (Kurento's buckets; it used `≥ max` for fluidity only).
//! 6. **Direction** (ROIs with `sendOpticalFlowEvent`): phase correlation (`imgproc::
//!    phaseCorrelate`, Hann window) between the previous and the current grey image of the ROI's
//!    bounding box, each restricted to its own foreground inside the polygon, so the static
//!    background cannot pull the estimate to zero: the dominant translation of the moving
//!    people. A frame "has motion" when enough pixels move ([`MIN_MOVING_SHARE`]), the
//!    correlation peak is clear ([`MIN_RESPONSE`]) and the shift is at least
//!    [`MIN_SHIFT_PX`]. Angle convention (as Kurento's code, not its documentation): 0 = right,
//!    90 = up, 180 = left, 270 = down, plus `opticalFlowAngleOffset`, in [0, 360).
//!
//! # Events and hysteresis
//!
//! * Occupancy and fluidity: a level differing from the last reported one must be seen in
//!   `NumFramesToEvent` consecutive frames (0 counts as 1); the event then carries that frame's
//!   percentage and the new level. Unlike Kurento (which started at level 0 and stayed silent
//!   in an empty scene) the first stable level is reported too, so clients get an initial value.
//! * Direction: the angle is quantised in eight 45° sectors; a sector differing from the last
//!   reported one must be seen in `opticalFlowNumFramesToEvent` consecutive frames with motion;
//!   the event carries the circular mean of the angles of those frames (not the sector: more
//!   precise than Kurento's four values). After `opticalFlowNumFramesToReset` consecutive frames
//!   without motion the reported direction is forgotten (no event), so motion resuming in the
//!   same direction is reported again.
//!
//! # Drawing
//!
//! Each ROI outline, coloured by its occupancy level (white before the first report, then green,
//! yellow, orange, red for levels 0–3), and an arrow from its centre for the reported direction.

#[cfg(test)]
mod tests;

use opencv::core::{self, Mat, Point, Point2d, Rect, Scalar, Size, Vector, CV_32F, CV_8U};
use opencv::imgproc;
use opencv::prelude::*;

use rheo_filter_sdk::{
    Args, ComplexType, Context, DefaultValue, Event, FilterError, FilterInfo, Frame, Param,
    PixelFormat, Property, Type, Value, VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

/// Frames averaged uniformly to bootstrap the background.
pub const LEARN_FRAMES: u64 = 30;
/// Background learning rate where the scene is background.
pub const ALPHA_BG: f64 = 0.02;
/// Background learning rate under static foreground (a standing person, a ghost).
pub const ALPHA_STATIC: f64 = 0.003;
/// Grey difference to the background above which a pixel is foreground.
pub const FG_THRESHOLD: f64 = 25.0;
/// Grey difference between consecutive frames above which a pixel moves.
pub const MOTION_THRESHOLD: f64 = 12.0;
/// Occupancy (%) below which a ROI is empty (fluidity 100, no direction).
pub const EMPTY_OCCUPANCY: f64 = 0.5;
/// Share (%) of the ROI's pixels that must move for a direction estimate.
pub const MIN_MOVING_SHARE: f64 = 0.5;
/// Minimum phase-correlation response for a direction estimate.
pub const MIN_RESPONSE: f64 = 0.05;
/// Minimum shift (processing pixels per frame) for a direction estimate.
pub const MIN_SHIFT_PX: f64 = 0.3;
/// Default and range of `processingWidth`.
pub const DEFAULT_PROCESSING_WIDTH: i64 = 320;
/// Smallest accepted `processingWidth`.
pub const MIN_PROCESSING_WIDTH: i64 = 160;
/// Largest accepted `processingWidth`.
pub const MAX_PROCESSING_WIDTH: i64 = 1280;

const fn field(
    name: &'static str,
    ty: Type,
    default: Option<DefaultValue>,
    doc: &'static str,
) -> Param {
    Param {
        name,
        ty,
        default,
        doc,
    }
}

const fn int_cfg(name: &'static str, default: i64, doc: &'static str) -> Param {
    field(name, Type::Int, Some(DefaultValue::Int(default)), doc)
}

static RELATIVE_POINT: ComplexType = ComplexType {
    module: "crowddetector",
    name: "RelativePoint",
    fields: &[
        field(
            "x",
            Type::Float,
            None,
            "Horizontal position, fraction of the width (0 = left, 1 = right).",
        ),
        field(
            "y",
            Type::Float,
            None,
            "Vertical position, fraction of the height (0 = top, 1 = bottom).",
        ),
    ],
};

static RELATIVE_POINT_TYPE: Type = Type::Complex(&RELATIVE_POINT);

static ROI_CONFIG: ComplexType = ComplexType {
    module: "crowddetector",
    name: "RegionOfInterestConfig",
    fields: &[
        int_cfg(
            "occupancyLevelMin",
            10,
            "Occupancy % above which the level is 1.",
        ),
        int_cfg(
            "occupancyLevelMed",
            35,
            "Occupancy % above which the level is 2.",
        ),
        int_cfg(
            "occupancyLevelMax",
            65,
            "Occupancy % above which the level is 3.",
        ),
        int_cfg(
            "occupancyNumFramesToEvent",
            5,
            "Frames a new occupancy level must last before its event.",
        ),
        int_cfg(
            "fluidityLevelMin",
            10,
            "Fluidity % above which the level is 1.",
        ),
        int_cfg(
            "fluidityLevelMed",
            35,
            "Fluidity % above which the level is 2.",
        ),
        int_cfg(
            "fluidityLevelMax",
            65,
            "Fluidity % above which the level is 3.",
        ),
        int_cfg(
            "fluidityNumFramesToEvent",
            5,
            "Frames a new fluidity level must last before its event.",
        ),
        field(
            "sendOpticalFlowEvent",
            Type::Bool,
            Some(DefaultValue::Bool(false)),
            "Raise CrowdDetectorDirection events.",
        ),
        int_cfg(
            "opticalFlowNumFramesToEvent",
            3,
            "Frames a new direction must last before its event.",
        ),
        int_cfg(
            "opticalFlowNumFramesToReset",
            3,
            "Frames without motion after which the direction is forgotten.",
        ),
        int_cfg(
            "opticalFlowAngleOffset",
            0,
            "Degrees added to the reported angle.",
        ),
    ],
};

static ROI: ComplexType = ComplexType {
    module: "crowddetector",
    name: "RegionOfInterest",
    fields: &[
        field(
            "points",
            Type::List(&RELATIVE_POINT_TYPE),
            None,
            "Polygon vertices (at least 3).",
        ),
        field(
            "regionOfInterestConfig",
            Type::Complex(&ROI_CONFIG),
            Some(DefaultValue::Null),
            "Levels and hysteresis.",
        ),
        field("id", Type::String, None, "Id reported in the events."),
    ],
};

static ROI_TYPE: Type = Type::Complex(&ROI);

const ROI_ID: Param = field("roiId", Type::String, None, "Id of the region of interest.");

/// The filter's interface, as clients see it.
pub static INFO: FilterInfo = FilterInfo {
    module: "crowddetector",
    class: "CrowdDetectorFilter",
    element: "rheocrowddetector",
    description: "Measures occupancy, fluidity and direction of the crowd in regions of interest \
                  and raises events when their levels change.",
    constructor: &[field("rois", Type::List(&ROI_TYPE), None, "The regions of interest.")],
    methods: &[],
    properties: &[Property {
        name: "processingWidth",
        ty: Type::Int,
        read_only: false,
        doc: "Width (160-1280 px, default 320) the frames are analysed at; the aspect ratio is kept.",
    }],
    events: &[
        Event {
            name: "CrowdDetectorOccupancy",
            fields: &[
                field("occupancyPercentage", Type::Float, None, "Share of the ROI covered by people, %."),
                field("occupancyLevel", Type::Int, None, "Level 0-3 by the ROI's thresholds."),
                ROI_ID,
            ],
            doc: "The occupancy level of a ROI changed (and lasted occupancyNumFramesToEvent frames).",
        },
        Event {
            name: "CrowdDetectorFluidity",
            fields: &[
                field("fluidityPercentage", Type::Float, None, "Share of the occupants that move, %."),
                field("fluidityLevel", Type::Int, None, "Level 0-3 by the ROI's thresholds."),
                ROI_ID,
            ],
            doc: "The fluidity level of a ROI changed (and lasted fluidityNumFramesToEvent frames).",
        },
        Event {
            name: "CrowdDetectorDirection",
            fields: &[
                field("directionAngle", Type::Float, None, "Degrees: 0 right, 90 up, 180 left, 270 down, plus the offset."),
                ROI_ID,
            ],
            doc: "The crowd of a ROI moves in a new direction.",
        },
    ],
    format: PixelFormat::Bgr,
    data: DataUse::None,
    parent: Parent::Filter,
};

/// The configuration of one ROI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoiConfig {
    /// Occupancy thresholds (min, med, max), %.
    pub occupancy: [f64; 3],
    /// Frames before an occupancy event.
    pub occupancy_frames: u32,
    /// Fluidity thresholds (min, med, max), %.
    pub fluidity: [f64; 3],
    /// Frames before a fluidity event.
    pub fluidity_frames: u32,
    /// Whether direction events are raised.
    pub send_direction: bool,
    /// Frames before a direction event.
    pub direction_frames: u32,
    /// Frames without motion that forget the direction.
    pub direction_reset: u32,
    /// Degrees added to the angle.
    pub angle_offset: f64,
}

impl Default for RoiConfig {
    fn default() -> Self {
        RoiConfig {
            occupancy: [10.0, 35.0, 65.0],
            occupancy_frames: 5,
            fluidity: [10.0, 35.0, 65.0],
            fluidity_frames: 5,
            send_direction: false,
            direction_frames: 3,
            direction_reset: 3,
            angle_offset: 0.0,
        }
    }
}

/// Kurento's bucket of a percentage: `> max` → 3, `> med` → 2, `> min` → 1, else 0.
pub fn level_of(percentage: f64, thresholds: [f64; 3]) -> i64 {
    thresholds.iter().filter(|&&t| percentage > t).count() as i64
}

/// Image-space displacement (y down) → angle in [0, 360): 0 right, 90 up, 180 left, 270 down.
pub fn angle_of(dx: f64, dy: f64) -> f64 {
    (-dy).atan2(dx).to_degrees().rem_euclid(360.0)
}

/// A level that changes only after a candidate lasted `need` consecutive frames.
#[derive(Debug, Clone, Default)]
pub struct Hysteresis {
    current: Option<i64>,
    candidate: Option<i64>,
    count: u32,
    need: u32,
}

impl Hysteresis {
    /// A hysteresis needing `frames` consecutive frames (0 counts as 1).
    pub fn new(frames: u32) -> Self {
        Hysteresis {
            need: frames.max(1),
            ..Default::default()
        }
    }

    /// The last reported level.
    pub fn current(&self) -> Option<i64> {
        self.current
    }

    /// Feeds one frame's level; true when it becomes the reported level (raise the event).
    pub fn update(&mut self, level: i64) -> bool {
        if self.current == Some(level) {
            self.candidate = None;
            self.count = 0;
            return false;
        }
        if self.candidate == Some(level) {
            self.count += 1;
        } else {
            self.candidate = Some(level);
            self.count = 1;
        }
        if self.count >= self.need {
            self.current = Some(level);
            self.candidate = None;
            self.count = 0;
            true
        } else {
            false
        }
    }
}

/// Direction state of one ROI.
#[derive(Debug, Clone, Default)]
struct Direction {
    /// Reported sector (0..8, 45° each) and angle.
    current: Option<(i32, f64)>,
    candidate: Option<i32>,
    count: u32,
    /// Sum of unit vectors of the candidate's frames.
    sum: (f64, f64),
    still: u32,
}

impl Direction {
    /// Feeds one frame (an angle, or `None` without motion); the angle to report, if any.
    fn update(&mut self, angle: Option<f64>, cfg: &RoiConfig) -> Option<f64> {
        let Some(a) = angle else {
            self.candidate = None;
            self.count = 0;
            self.still += 1;
            if self.still >= cfg.direction_reset.max(1) {
                self.current = None;
            }
            return None;
        };
        self.still = 0;
        let sector = ((a / 45.0).round() as i32).rem_euclid(8);
        let unit = (a.to_radians().cos(), a.to_radians().sin());
        if self.candidate == Some(sector) {
            self.count += 1;
            self.sum = (self.sum.0 + unit.0, self.sum.1 + unit.1);
        } else {
            self.candidate = Some(sector);
            self.count = 1;
            self.sum = unit;
        }
        if self.count < cfg.direction_frames.max(1) {
            return None;
        }
        let mean = self.sum.1.atan2(self.sum.0).to_degrees().rem_euclid(360.0);
        if self.current.map(|c| c.0) == Some(sector) {
            return None;
        }
        self.current = Some((sector, mean));
        Some((mean + cfg.angle_offset).rem_euclid(360.0))
    }
}

/// The latest measurements of a ROI.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoiStats {
    /// Occupancy of the last frame, %.
    pub occupancy: f64,
    /// Fluidity of the last frame, %.
    pub fluidity: f64,
    /// Direction of the last frame (degrees, without offset), if it had motion.
    pub angle: Option<f64>,
}

/// One region of interest.
struct Roi {
    id: String,
    /// Vertices, fractions of the frame.
    points: Vec<(f64, f64)>,
    cfg: RoiConfig,
    occupancy: Hysteresis,
    fluidity: Hysteresis,
    direction: Direction,
    stats: RoiStats,
    /// Processing-size geometry: bounding box, polygon mask over it, pixel count, Hann window.
    bbox: Rect,
    mask: Mat,
    area: i32,
    window: Mat,
}

fn cfg_int(cfg: &Value, name: &str, default: i64) -> Result<i64, FilterError> {
    match cfg.field(name) {
        Value::Null => Ok(default),
        v => v.as_int().ok_or_else(|| {
            FilterError::InvalidArgument(format!(
                "RegionOfInterestConfig.{name} should be an integer"
            ))
        }),
    }
}

fn cfg_frames(cfg: &Value, name: &str, default: u32) -> Result<u32, FilterError> {
    let v = cfg_int(cfg, name, default as i64)?;
    u32::try_from(v).map_err(|_| {
        FilterError::InvalidArgument(format!(
            "RegionOfInterestConfig.{name} must be >= 0 (got {v})"
        ))
    })
}

fn cfg_levels(cfg: &Value, prefix: &str, default: [f64; 3]) -> Result<[f64; 3], FilterError> {
    let mut out = [0.0; 3];
    for (i, suffix) in ["Min", "Med", "Max"].iter().enumerate() {
        out[i] = cfg_int(cfg, &format!("{prefix}Level{suffix}"), default[i] as i64)? as f64;
    }
    if !(out[0] <= out[1] && out[1] <= out[2]) {
        return Err(FilterError::InvalidArgument(format!(
            "RegionOfInterestConfig: {prefix}LevelMin <= {prefix}LevelMed <= {prefix}LevelMax is required (got {out:?})"
        )));
    }
    Ok(out)
}

impl RoiConfig {
    /// Parses a `RegionOfInterestConfig` (`Null` or missing fields: defaults).
    pub fn from_value(cfg: &Value) -> Result<RoiConfig, FilterError> {
        let d = RoiConfig::default();
        Ok(RoiConfig {
            occupancy: cfg_levels(cfg, "occupancy", d.occupancy)?,
            occupancy_frames: cfg_frames(cfg, "occupancyNumFramesToEvent", d.occupancy_frames)?,
            fluidity: cfg_levels(cfg, "fluidity", d.fluidity)?,
            fluidity_frames: cfg_frames(cfg, "fluidityNumFramesToEvent", d.fluidity_frames)?,
            send_direction: match cfg.field("sendOpticalFlowEvent") {
                Value::Null => d.send_direction,
                v => v.as_bool().ok_or_else(|| {
                    FilterError::InvalidArgument(
                        "RegionOfInterestConfig.sendOpticalFlowEvent should be a boolean".into(),
                    )
                })?,
            },
            direction_frames: cfg_frames(cfg, "opticalFlowNumFramesToEvent", d.direction_frames)?,
            direction_reset: cfg_frames(cfg, "opticalFlowNumFramesToReset", d.direction_reset)?,
            angle_offset: cfg_int(cfg, "opticalFlowAngleOffset", 0)? as f64,
        })
    }
}

impl Roi {
    fn from_value(v: &Value) -> Result<Roi, FilterError> {
        let id = v
            .field("id")
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                FilterError::InvalidArgument(
                    "RegionOfInterest.id should be a non-empty string".into(),
                )
            })?
            .to_owned();
        let list = v.field("points").as_list().ok_or_else(|| {
            FilterError::InvalidArgument(format!(
                "RegionOfInterest '{id}': points should be a list"
            ))
        })?;
        let mut points = Vec::with_capacity(list.len());
        for p in list {
            let (x, y) = (p.field("x").as_float(), p.field("y").as_float());
            match (x, y) {
                (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                    points.push((x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)))
                }
                _ => {
                    return Err(FilterError::InvalidArgument(format!(
                        "RegionOfInterest '{id}': each point needs numeric x and y"
                    )))
                }
            }
        }
        if points.len() < 3 {
            return Err(FilterError::InvalidArgument(format!(
                "RegionOfInterest '{id}' needs at least 3 points (got {})",
                points.len()
            )));
        }
        let cfg = RoiConfig::from_value(v.field("regionOfInterestConfig"))?;
        Ok(Roi {
            id,
            points,
            occupancy: Hysteresis::new(cfg.occupancy_frames),
            fluidity: Hysteresis::new(cfg.fluidity_frames),
            direction: Direction::default(),
            cfg,
            stats: RoiStats::default(),
            bbox: Rect::default(),
            mask: Mat::default(),
            area: 0,
            window: Mat::default(),
        })
    }

    /// Vertices in pixels of a `w`×`h` image.
    fn pixel_points(&self, w: i32, h: i32) -> Vector<Point> {
        self.points
            .iter()
            .map(|&(x, y)| {
                Point::new(
                    (x * (w - 1) as f64).round() as i32,
                    (y * (h - 1) as f64).round() as i32,
                )
            })
            .collect()
    }

    /// Rebuilds the processing-size mask.
    fn prepare(&mut self, size: Size) -> Result<(), FilterError> {
        let pts = self.pixel_points(size.width, size.height);
        let mut bbox = imgproc::bounding_rect(&pts)?;
        bbox.width = bbox.width.max(1);
        bbox.height = bbox.height.max(1);
        self.mask =
            Mat::new_rows_cols_with_default(bbox.height, bbox.width, CV_8U, Scalar::all(0.0))?;
        let polys: Vector<Vector<Point>> = Vector::from_iter([pts]);
        imgproc::fill_poly(
            &mut self.mask,
            &polys,
            Scalar::all(255.0),
            imgproc::LINE_8,
            0,
            Point::new(-bbox.x, -bbox.y),
        )?;
        self.area = core::count_non_zero(&self.mask)?.max(1);
        self.bbox = bbox;
        self.window = Mat::default();
        if bbox.width >= 8 && bbox.height >= 8 {
            imgproc::create_hanning_window(&mut self.window, bbox.size(), CV_32F)?;
        }
        Ok(())
    }
}

/// Crowd detector filter state (see the module documentation).
pub struct CrowdDetectorFilter {
    rois: Vec<Roi>,
    processing_width: i64,
    /// Frame size and processing size the state was built for.
    frame_size: Size,
    proc_size: Size,
    /// Frames analysed since the last reset.
    frames: u64,
    small: Mat,
    gray: Mat,
    prev_gray: Mat,
    background: Mat,
    background_u8: Mat,
    diff: Mat,
    fg: Mat,
    prev_fg: Mat,
    motion: Mat,
    moving: Mat,
    not_fg: Mat,
    tmp: Mat,
    tmp2: Mat,
    prev_f: Mat,
    cur_f: Mat,
    kernel3: Mat,
    kernel5: Mat,
}

impl CrowdDetectorFilter {
    /// The latest measurements per ROI id, in ROI order.
    pub fn stats(&self) -> Vec<(&str, RoiStats)> {
        self.rois.iter().map(|r| (r.id.as_str(), r.stats)).collect()
    }

    /// The processing size in use (after the first frame).
    pub fn processing_size(&self) -> (i32, i32) {
        (self.proc_size.width, self.proc_size.height)
    }

    fn reconfigure(&mut self, frame: Size) -> Result<(), FilterError> {
        let w = (self.processing_width as i32).min(frame.width).max(1);
        let h = ((frame.height as f64 * w as f64 / frame.width as f64).round() as i32).max(1);
        self.frame_size = frame;
        self.proc_size = Size::new(w, h);
        self.frames = 0;
        for roi in &mut self.rois {
            roi.prepare(self.proc_size)?;
            roi.direction = Direction::default();
        }
        Ok(())
    }

    /// Downscale, grey, foreground and moving maps, background update.
    fn analyse(&mut self, bgr: &impl core::ToInputArray) -> Result<bool, FilterError> {
        if self.proc_size == self.frame_size {
            imgproc::cvt_color(bgr, &mut self.tmp, imgproc::COLOR_BGR2GRAY, 0)?;
        } else {
            imgproc::resize(
                bgr,
                &mut self.small,
                self.proc_size,
                0.0,
                0.0,
                imgproc::INTER_AREA,
            )?;
            imgproc::cvt_color(&self.small, &mut self.tmp, imgproc::COLOR_BGR2GRAY, 0)?;
        }
        std::mem::swap(&mut self.gray, &mut self.prev_gray);
        imgproc::gaussian_blur(
            &self.tmp,
            &mut self.gray,
            Size::new(5, 5),
            0.0,
            0.0,
            core::BORDER_DEFAULT,
        )?;
        if self.frames == 0 {
            self.gray
                .convert_to(&mut self.background, CV_32F, 1.0, 0.0)?;
            self.fg = Mat::new_size_with_default(self.proc_size, CV_8U, Scalar::all(0.0))?;
            self.frames = 1;
            return Ok(false);
        }
        let border = imgproc::morphology_default_border_value()?;
        let anchor = Point::new(-1, -1);
        // Foreground.
        self.background
            .convert_to(&mut self.background_u8, CV_8U, 1.0, 0.0)?;
        core::absdiff(&self.gray, &self.background_u8, &mut self.diff)?;
        imgproc::threshold(
            &self.diff,
            &mut self.tmp,
            FG_THRESHOLD,
            255.0,
            imgproc::THRESH_BINARY,
        )?;
        std::mem::swap(&mut self.fg, &mut self.prev_fg);
        imgproc::morphology_ex(
            &self.tmp,
            &mut self.tmp2,
            imgproc::MORPH_OPEN,
            &self.kernel3,
            anchor,
            1,
            core::BORDER_CONSTANT,
            border,
        )?;
        imgproc::morphology_ex(
            &self.tmp2,
            &mut self.fg,
            imgproc::MORPH_CLOSE,
            &self.kernel5,
            anchor,
            1,
            core::BORDER_CONSTANT,
            border,
        )?;
        // Moving foreground.
        core::absdiff(&self.gray, &self.prev_gray, &mut self.diff)?;
        imgproc::threshold(
            &self.diff,
            &mut self.tmp,
            MOTION_THRESHOLD,
            255.0,
            imgproc::THRESH_BINARY,
        )?;
        imgproc::dilate(
            &self.tmp,
            &mut self.motion,
            &self.kernel5,
            anchor,
            1,
            core::BORDER_CONSTANT,
            border,
        )?;
        core::bitwise_and(&self.motion, &self.fg, &mut self.moving, &core::no_array())?;
        // Background update; moving pixels never teach it.
        core::bitwise_not(&self.motion, &mut self.tmp, &core::no_array())?;
        if self.frames < LEARN_FRAMES {
            let alpha = 1.0 / (self.frames + 1) as f64;
            imgproc::accumulate_weighted(&self.gray, &mut self.background, alpha, &self.tmp)?;
        } else {
            core::bitwise_not(&self.fg, &mut self.not_fg, &core::no_array())?;
            imgproc::accumulate_weighted(&self.gray, &mut self.background, ALPHA_BG, &self.not_fg)?;
            core::bitwise_and(&self.fg, &self.tmp, &mut self.tmp2, &core::no_array())?;
            imgproc::accumulate_weighted(
                &self.gray,
                &mut self.background,
                ALPHA_STATIC,
                &self.tmp2,
            )?;
        }
        self.frames += 1;
        Ok(true)
    }

    /// Dominant translation of the foreground of `roi` between the previous and this frame.
    fn direction_of(&mut self, i: usize) -> Result<Option<f64>, FilterError> {
        let roi = &self.rois[i];
        if roi.window.empty() {
            return Ok(None);
        }
        let b = roi.bbox;
        // The grey image where `fg` and the polygon are set, 0 elsewhere (min with the 0/255
        // mask), as f32.
        let masked = |gray: &Mat, fg: &Mat, out: &mut Mat, m: &mut Mat, g: &mut Mat| {
            core::bitwise_and(&fg.roi(b)?, &roi.mask, m, &core::no_array())?;
            core::min(&gray.roi(b)?, &*m, g)?;
            g.convert_to(out, CV_32F, 1.0, 0.0)
        };
        masked(
            &self.prev_gray,
            &self.prev_fg,
            &mut self.prev_f,
            &mut self.tmp,
            &mut self.tmp2,
        )?;
        masked(
            &self.gray,
            &self.fg,
            &mut self.cur_f,
            &mut self.tmp,
            &mut self.tmp2,
        )?;
        let mut response = 0.0;
        let shift: Point2d =
            imgproc::phase_correlate(&self.prev_f, &self.cur_f, &roi.window, Some(&mut response))?;
        let len = shift.x.hypot(shift.y);
        if response < MIN_RESPONSE || len < MIN_SHIFT_PX {
            return Ok(None);
        }
        Ok(Some(angle_of(shift.x, shift.y)))
    }

    fn measure(&mut self, ctx: &mut dyn Context) -> Result<(), FilterError> {
        for i in 0..self.rois.len() {
            let (b, area) = (self.rois[i].bbox, self.rois[i].area as f64);
            core::bitwise_and(
                &self.fg.roi(b)?,
                &self.rois[i].mask,
                &mut self.tmp,
                &core::no_array(),
            )?;
            let occupied = core::count_non_zero(&self.tmp)? as f64;
            core::bitwise_and(
                &self.moving.roi(b)?,
                &self.rois[i].mask,
                &mut self.tmp,
                &core::no_array(),
            )?;
            let moving = core::count_non_zero(&self.tmp)? as f64;
            let occupancy = occupied * 100.0 / area;
            let fluidity = if occupancy < EMPTY_OCCUPANCY {
                100.0
            } else {
                moving * 100.0 / occupied
            };
            let angle = if self.rois[i].cfg.send_direction
                && occupancy >= EMPTY_OCCUPANCY
                && moving * 100.0 / area >= MIN_MOVING_SHARE
            {
                self.direction_of(i)?
            } else {
                None
            };
            let roi = &mut self.rois[i];
            roi.stats = RoiStats {
                occupancy,
                fluidity,
                angle,
            };
            let id = || Value::String(roi.id.clone());
            let level = level_of(occupancy, roi.cfg.occupancy);
            if roi.occupancy.update(level) {
                ctx.emit(
                    "CrowdDetectorOccupancy",
                    vec![
                        ("occupancyPercentage", Value::Float(occupancy)),
                        ("occupancyLevel", Value::Int(level)),
                        ("roiId", id()),
                    ],
                );
            }
            let level = level_of(fluidity, roi.cfg.fluidity);
            if roi.fluidity.update(level) {
                ctx.emit(
                    "CrowdDetectorFluidity",
                    vec![
                        ("fluidityPercentage", Value::Float(fluidity)),
                        ("fluidityLevel", Value::Int(level)),
                        ("roiId", id()),
                    ],
                );
            }
            if roi.cfg.send_direction {
                if let Some(a) = roi.direction.update(angle, &roi.cfg) {
                    ctx.emit(
                        "CrowdDetectorDirection",
                        vec![("directionAngle", Value::Float(a)), ("roiId", id())],
                    );
                }
            }
        }
        Ok(())
    }

    fn draw(&self, mat: &mut impl core::ToInputOutputArray) -> Result<(), FilterError> {
        let (w, h) = (self.frame_size.width, self.frame_size.height);
        let thickness = (w / 320).max(1);
        for roi in &self.rois {
            let colour = match roi.occupancy.current() {
                None => Scalar::new(255.0, 255.0, 255.0, 0.0),
                Some(0) => Scalar::new(0.0, 200.0, 0.0, 0.0),
                Some(1) => Scalar::new(0.0, 230.0, 230.0, 0.0),
                Some(2) => Scalar::new(0.0, 140.0, 255.0, 0.0),
                Some(_) => Scalar::new(0.0, 0.0, 255.0, 0.0),
            };
            let pts = roi.pixel_points(w, h);
            let polys: Vector<Vector<Point>> = Vector::from_iter([pts.clone()]);
            imgproc::polylines(mat, &polys, true, colour, thickness, imgproc::LINE_8, 0)?;
            if let Some((_, angle)) = roi.direction.current {
                let n = pts.len() as f64;
                let (cx, cy) = pts.iter().fold((0.0, 0.0), |a, p| {
                    (a.0 + p.x as f64 / n, a.1 + p.y as f64 / n)
                });
                let len = (w.min(h) as f64) / 10.0;
                let (dx, dy) = (
                    angle.to_radians().cos() * len,
                    -angle.to_radians().sin() * len,
                );
                imgproc::arrowed_line(
                    mat,
                    Point::new(cx as i32, cy as i32),
                    Point::new((cx + dx) as i32, (cy + dy) as i32),
                    colour,
                    thickness,
                    imgproc::LINE_8,
                    0,
                    0.3,
                )?;
            }
        }
        Ok(())
    }
}

impl VideoFilter for CrowdDetectorFilter {
    fn info() -> &'static FilterInfo {
        &INFO
    }

    fn new(args: &Args) -> Result<Self, FilterError> {
        let list = args
            .get("rois")
            .as_list()
            .ok_or_else(|| FilterError::InvalidArgument("'rois' should be a list".into()))?;
        let mut rois: Vec<Roi> = Vec::with_capacity(list.len());
        for v in list {
            let roi = Roi::from_value(v)?;
            if rois.iter().any(|r| r.id == roi.id) {
                return Err(FilterError::InvalidArgument(format!(
                    "duplicate RegionOfInterest id '{}'",
                    roi.id
                )));
            }
            rois.push(roi);
        }
        let kernel = |n| {
            imgproc::get_structuring_element(
                imgproc::MORPH_ELLIPSE,
                Size::new(n, n),
                Point::new(-1, -1),
            )
        };
        Ok(CrowdDetectorFilter {
            rois,
            processing_width: DEFAULT_PROCESSING_WIDTH,
            frame_size: Size::default(),
            proc_size: Size::default(),
            frames: 0,
            small: Mat::default(),
            gray: Mat::default(),
            prev_gray: Mat::default(),
            background: Mat::default(),
            background_u8: Mat::default(),
            diff: Mat::default(),
            fg: Mat::default(),
            prev_fg: Mat::default(),
            motion: Mat::default(),
            moving: Mat::default(),
            not_fg: Mat::default(),
            tmp: Mat::default(),
            tmp2: Mat::default(),
            prev_f: Mat::default(),
            cur_f: Mat::default(),
            kernel3: kernel(3)?,
            kernel5: kernel(5)?,
        })
    }

    fn process(&mut self, frame: &mut Frame<'_>, ctx: &mut dyn Context) -> Result<(), FilterError> {
        let size = Size::new(frame.width as i32, frame.height as i32);
        let mut mat = frame.bgr_mat()?;
        if size != self.frame_size {
            self.reconfigure(size)?;
        }
        if self.analyse(&mat)? {
            self.measure(ctx)?;
        }
        self.draw(&mut mat)?;
        Ok(())
    }

    fn get_property(&self, name: &str) -> Result<Value, FilterError> {
        match name {
            "processingWidth" => Ok(Value::Int(self.processing_width)),
            n => Err(FilterError::NoSuchMethod(format!("get {n}"))),
        }
    }

    fn set_property(&mut self, name: &str, value: Value) -> Result<(), FilterError> {
        match name {
            "processingWidth" => {
                let w = value.as_int().ok_or_else(|| {
                    FilterError::InvalidArgument("'processingWidth' should be an integer".into())
                })?;
                if !(MIN_PROCESSING_WIDTH..=MAX_PROCESSING_WIDTH).contains(&w) {
                    return Err(FilterError::InvalidArgument(format!(
                        "processingWidth must be within {MIN_PROCESSING_WIDTH}..{MAX_PROCESSING_WIDTH} (got {w})"
                    )));
                }
                if w != self.processing_width {
                    self.processing_width = w;
                    // Rebuild the models at the new size on the next frame.
                    self.frame_size = Size::default();
                }
                Ok(())
            }
            n => Err(FilterError::NoSuchMethod(format!("set {n}"))),
        }
    }
}
