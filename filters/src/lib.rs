//! Rheo's built-in video filters: GStreamer elements used by the media plane, also built as the
//! GStreamer plugin `rheofilters` (`libgstrheofilters.so`) for `gst-launch-1.0` experiments.
//!
//! * [`faceoverlay`]: the `rheofaceoverlay` element (Kurento's FaceOverlayFilter).
//! * [`builtin`]: the list of filters written with the filter SDK (crate `rheo-filter-sdk`),
//!   one line each.

#![warn(missing_docs)]

/// The GStreamer bindings this crate is built against.
pub use gst;

pub mod blazeface;
pub mod chroma;
pub mod crowddetector;
pub mod face_detection;
pub mod face_tracking;
pub mod facemeta;
pub mod faceoverlay;
pub mod imageoverlay;
pub mod platedetector;
pub mod pointerdetector;
mod process_setting;
pub mod python;
pub mod senddata;
pub mod showdata;
pub mod zbar;

pub use faceoverlay::{FaceOverlay, OverlayGeometry};
pub use rheo_filter_sdk::{load_image, ImageError, LoadLimits, OverlayImage};

use rheo_filter_sdk::registry::{self, Registration};

/// The built-in SDK filters: one line per filter.
pub fn builtin() -> Vec<Registration> {
    vec![
        // ---- one line per built-in filter (keep sorted by module) ----
        Registration::of::<chroma::ChromaFilter>(),
        Registration::of::<crowddetector::CrowdDetectorFilter>(),
        Registration::of::<imageoverlay::ImageOverlayFilter>(),
        Registration::of::<zbar::ZBarFilter>(),
        Registration::of::<facemeta::KmsDetectFaces>(),
        Registration::of::<facemeta::KmsShowFaces>(),
        Registration::of::<senddata::KmsSendData>(),
        Registration::of::<showdata::KmsShowData>(),
        Registration::of::<platedetector::PlateDetectorFilter>(),
        Registration::of::<pointerdetector::PointerDetectorFilter>(),
        // ---- end of the list ----
    ]
}

/// Adds the [`builtin`] filters to the SDK's registry, once. The server does this before it
/// adds any researcher's filter, so the built-ins come first in `getKmd` and a researcher's
/// filter cannot take a built-in class or element name.
pub fn add_builtin_filters() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for reg in builtin() {
            if let Err(e) = registry::add(reg) {
                // Only possible if another crate took a built-in name first.
                tracing::error!("built-in filter not registered: {e}");
            }
        }
    });
}

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
    python::register(plugin)?;
    add_builtin_filters();
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
