//! `edgeexample.EdgeOutlineFilter`: draws the edges of the picture in green over the video and
//! tells when the scene becomes busy. A complete filter outside Rheo's built-in set, written as
//! `filter-sdk/WRITING_A_FILTER.md` describes.
//!
//! * constructor: `threshold` (int, default 80): Canny's lower threshold (the upper one is 2×).
//! * method: `setThreshold(threshold: int)`.
//! * event: `EdgeLevelChanged {edgePercentage: float, level: LOW|HIGH}`, raised on the first
//!   frame and whenever the share of edge pixels crosses 8 % (up) or 6 % (down).

use opencv::core::{Mat, Scalar, Vec3b};
use opencv::imgproc;
use opencv::prelude::*;
use rheo_filter_sdk::registry::{self, Registration};
use rheo_filter_sdk::{
    Args, Context, DefaultValue, Event, FilterError, FilterInfo, Frame, Method, Param, PixelFormat,
    Type, Value, VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

/// Above this share of edge pixels (in %) the level becomes `HIGH`…
pub const HIGH_ABOVE: f64 = 8.0;
/// …and below this one it goes back to `LOW` (hysteresis: no event storm at the boundary).
pub const LOW_BELOW: f64 = 6.0;

const THRESHOLD: Param = Param {
    name: "threshold",
    ty: Type::Int,
    default: Some(DefaultValue::Int(80)),
    doc: "Canny lower threshold (1-500); the upper one is twice it",
};

/// Everything clients and GStreamer know about the filter.
pub static INFO: FilterInfo = FilterInfo {
    module: "edgeexample",
    class: "EdgeOutlineFilter",
    element: "rheoedgeoutline",
    description: "Draws the picture's edges in green and reports how busy the scene is",
    constructor: &[THRESHOLD],
    methods: &[Method {
        name: "setThreshold",
        params: &[Param {
            default: None,
            ..THRESHOLD
        }],
        returns: None,
        doc: "Changes the Canny threshold from the next frame on",
    }],
    properties: &[],
    events: &[Event {
        name: "EdgeLevelChanged",
        fields: &[
            Param {
                name: "edgePercentage",
                ty: Type::Float,
                default: None,
                doc: "Edge pixels, % of the frame",
            },
            Param {
                name: "level",
                ty: Type::Enum(&["LOW", "HIGH"]),
                default: None,
                doc: "New level",
            },
        ],
        doc: "The share of edge pixels crossed a level boundary",
    }],
    format: PixelFormat::Bgr,
    data: DataUse::None,
    parent: Parent::Filter,
};

/// The filter: one per element.
pub struct EdgeOutlineFilter {
    threshold: f64,
    high: Option<bool>,
    // Scratch images reused frame after frame (no allocation per frame).
    gray: Mat,
    edges: Mat,
}

fn checked_threshold(t: i64) -> Result<f64, FilterError> {
    if (1..=500).contains(&t) {
        Ok(t as f64)
    } else {
        Err(FilterError::InvalidArgument(format!(
            "'threshold' should be within 1..500, not {t}"
        )))
    }
}

impl VideoFilter for EdgeOutlineFilter {
    fn info() -> &'static FilterInfo {
        &INFO
    }

    fn new(args: &Args) -> Result<Self, FilterError> {
        Ok(EdgeOutlineFilter {
            threshold: checked_threshold(args.int("threshold")?)?,
            high: None,
            gray: Mat::default(),
            edges: Mat::default(),
        })
    }

    fn process(&mut self, frame: &mut Frame<'_>, ctx: &mut dyn Context) -> Result<(), FilterError> {
        let mut mat = frame.bgr_mat()?;
        imgproc::cvt_color(&mat, &mut self.gray, imgproc::COLOR_BGR2GRAY, 0)?;
        imgproc::canny(
            &self.gray,
            &mut self.edges,
            self.threshold,
            2.0 * self.threshold,
            3,
            false,
        )?;
        mat.set_to(&Scalar::new(0.0, 255.0, 0.0, 0.0), &self.edges)?;

        let count = opencv::core::count_non_zero(&self.edges)? as f64;
        let percentage = 100.0 * count / (frame.width as f64 * frame.height as f64).max(1.0);
        let high = match self.high {
            Some(true) => percentage >= LOW_BELOW,
            Some(false) => percentage > HIGH_ABOVE,
            None => percentage > HIGH_ABOVE,
        };
        if self.high != Some(high) {
            self.high = Some(high);
            ctx.emit(
                "EdgeLevelChanged",
                vec![
                    ("edgePercentage", Value::Float(percentage)),
                    (
                        "level",
                        Value::String(if high { "HIGH" } else { "LOW" }.into()),
                    ),
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
            "setThreshold" => {
                self.threshold = checked_threshold(args.int("threshold")?)?;
                Ok(Value::Null)
            }
            m => Err(FilterError::NoSuchMethod(m.into())),
        }
    }
}

/// The colour `process` paints edges with (BGR), for tests.
pub const EDGE_BGR: Vec3b = Vec3b::from_array([0, 255, 0]);

/// Adds the filter to Rheo's registry: call it at server startup (before clients connect).
/// Idempotent.
pub fn register() -> Result<(), String> {
    if registry::find("edgeexample.EdgeOutlineFilter").is_some() {
        return Ok(());
    }
    registry::add(Registration::of::<EdgeOutlineFilter>())
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    rheo_filter_sdk::register::<EdgeOutlineFilter>(Some(plugin))
}

// `libgstrheoedgeoutline.so`: the element for gst-launch-1.0 (GST_PLUGIN_PATH=target/release).
gst::plugin_define!(
    rheoedgeoutline,
    "Rheo example filter: edge outline",
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "Apache-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    "https://example.invalid/rheo",
    "2026-01-01"
);
