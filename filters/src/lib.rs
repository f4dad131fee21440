//! Rheo video filters: GStreamer elements used by the media plane, also built as the
//! GStreamer plugin `rheofilters` (`libgstrheofilters.so`) for `gst-launch-1.0` experiments.
//!
//! * [`image`]: loading overlay images from `file://`, paths and `http(s)://`.
//! * [`faceoverlay`]: the `rheofaceoverlay` element (Kurento's FaceOverlayFilter).
//! * [`sdk`]: the filter SDK (write a filter as one trait impl; see `WRITING_A_FILTER.md`).
//! * [`registry`]: the list of SDK filters, one line each.

#![warn(missing_docs)]

/// The GStreamer bindings this crate is built against.
pub use gst;

pub mod chroma;
pub mod crowddetector;
pub mod face_detection;
pub mod facemeta;
pub mod faceoverlay;
pub mod frame_counters;
pub mod image;
pub mod imageoverlay;
pub mod platedetector;
pub mod pointerdetector;
pub mod registry;
pub mod sdk;
pub mod zbar;

pub use faceoverlay::{FaceOverlay, OverlayGeometry};
pub use image::{load_image, ImageError, LoadLimits, OverlayImage};

/// Registers every Rheo element with GStreamer for in-process use (idempotent).
///
/// Initialises GStreamer if needed.
pub fn register_static() -> Result<(), gst::glib::BoolError> {
    static RESULT: std::sync::OnceLock<Result<(), gst::glib::BoolError>> =
        std::sync::OnceLock::new();
    RESULT
        .get_or_init(|| {
            gst::init().map_err(|e| gst::glib::bool_error!("gst::init failed: {}", e))?;
            register_elements(None)
        })
        .clone()
}

fn register_elements(plugin: Option<&gst::Plugin>) -> Result<(), gst::glib::BoolError> {
    faceoverlay::register(plugin)?;
    registry::register_all(plugin)
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    register_elements(Some(plugin))
}

/// The plugin descriptor that makes `libgstrheofilters.so` loadable by GStreamer.
#[allow(missing_docs)]
mod plugin {
    use super::plugin_init;

    gst::plugin_define!(
        rheofilters,
        "Rheo media server video filters",
        plugin_init,
        concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
        "Apache-2.0",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_NAME"),
        "Rheo media server",
        env!("BUILD_REL_DATE")
    );
}
