//! `rheofaceoverlay`: draws an image over every detected face (Kurento's FaceOverlayFilter).
//!
//! I420 in, I420 out, in place. Face detection (BlazeFace by default, or Kurento's Haar cascade:
//! see [`crate::face_detection`]) runs on a copy at most 320 pixels wide, on one worker thread
//! per element at its own pace; the streaming thread only hands it the latest downscaled frame
//! and draws every frame with the most recently published faces, so detection cost never delays
//! or drops frames. The faces are steadied over time ([`crate::face_tracking`]) so the overlay
//! does not jitter or flicker, and the image turns with the head's roll.
//!
//! After each detection the element posts an element message named `rheo-faces` with fields
//! `faces` (`gst::Array` of `face` structures with `x`, `y`, `width`, `height` as `u32`, in
//! full-frame pixels, and `roll` as `f64` degrees, clockwise), `frame-width`, `frame-height`
//! (`u32`), `pts` (`u64` ns, when the analysed buffer had one), `detect-us` (`u64`, detection
//! time in microseconds) and `detector` (`blazeface` or `haar`). The message carries what the
//! detector found; the overlay is drawn over the same faces steadied over time.
//!
//! Properties (for `gst-launch-1.0`): `image-uri`, `offset-x`, `offset-y`, `width-ratio`,
//! `height-ratio`, `detector`, `model-path`, `cascade-path`, `detection-width`, and the
//! read-only counters
//! `frames-processed` and `frames-with-faces`. In Rust, use [`FaceOverlay::set_overlay`].

use std::sync::Arc;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::ObjectSubclassIsExt;

use rheo_filter_sdk::image::OverlayImage;

mod draw;
mod imp;

pub(crate) use draw::{detection_size, downscale_gray};
pub use draw::{FaceBox, YuvCoeffs};

/// Name of the element message posted after each detection.
pub const FACES_MESSAGE: &str = "rheo-faces";
/// Name of the element message posted when an `image-uri` finished loading and is in use
/// (fields `uri`: string, `width`, `height`: `u32`). Load failures post an error message.
pub const IMAGE_LOADED_MESSAGE: &str = "rheo-image-loaded";

/// Where the overlay goes relative to a face box, as ratios of the face size.
///
/// For a face `(x, y, w, h)` the image is stretched to `w·width` × `h·height` with its top-left
/// corner at `(x + w·offset_x, y + h·offset_y)`; positive `offset_y` moves it **down**.
/// Faces whose scaled width or height is not positive are skipped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverlayGeometry {
    /// Horizontal offset of the image's left edge, in face widths.
    pub offset_x: f32,
    /// Vertical offset of the image's top edge, in face heights (positive = down).
    pub offset_y: f32,
    /// Image width in face widths.
    pub width: f32,
    /// Image height in face heights.
    pub height: f32,
}

impl Default for OverlayGeometry {
    /// The Kurento magic-mirror tutorial values: a hat 1.6× the face, 0.35 face widths to
    /// the left and 1.2 face heights above the face.
    fn default() -> Self {
        OverlayGeometry {
            offset_x: -0.35,
            offset_y: -1.2,
            width: 1.6,
            height: 1.6,
        }
    }
}

glib::wrapper! {
    /// The `rheofaceoverlay` element.
    pub struct FaceOverlay(ObjectSubclass<imp::FaceOverlay>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

impl FaceOverlay {
    /// Factory name of the element.
    pub const FACTORY_NAME: &'static str = "rheofaceoverlay";

    /// Creates an element (the type does not need to be registered with a plugin).
    pub fn new(name: Option<&str>) -> Self {
        let mut b = glib::Object::builder::<Self>();
        if let Some(name) = name {
            b = b.property("name", name);
        }
        b.build()
    }

    /// Draws `image` over every face from the next frame on, replacing any previous overlay.
    ///
    /// An image whose `bgra` length is not `width * height * 4`, or that is empty, is
    /// rejected with a warning in the GStreamer log and acts like [`Self::unset_overlay`].
    ///
    /// The image is prepared (premultiplied) on the calling thread; the streaming thread only
    /// waits for a short mutex.
    pub fn set_overlay(&self, image: Arc<OverlayImage>, geometry: OverlayGeometry) {
        self.imp().set_overlay(&image, geometry);
    }

    /// Stops drawing from the next frame on. Detection keeps running.
    pub fn unset_overlay(&self) {
        self.imp().unset_overlay();
    }

    /// Number of detections that found at least one face since the element started.
    pub fn frames_with_faces(&self) -> u64 {
        self.property("frames-with-faces")
    }

    /// Number of detections run since the element started.
    pub fn frames_processed(&self) -> u64 {
        self.property("frames-processed")
    }
}

/// Registers `rheofaceoverlay` in `plugin` (or statically when `None`).
pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    gst::Element::register(
        plugin,
        FaceOverlay::FACTORY_NAME,
        gst::Rank::NONE,
        FaceOverlay::static_type(),
    )
}

/// Extracts the face boxes from a `rheo-faces` message structure.
pub fn faces_from_structure(s: &gst::StructureRef) -> Option<Vec<FaceBox>> {
    if s.name() != FACES_MESSAGE {
        return None;
    }
    let arr = s.get::<gst::Array>("faces").ok()?;
    arr.iter()
        .map(|v| {
            let f = v.get::<gst::Structure>().ok()?;
            Some(FaceBox {
                x: f.get("x").ok()?,
                y: f.get("y").ok()?,
                width: f.get("width").ok()?,
                height: f.get("height").ok()?,
                roll: f.get::<f64>("roll").unwrap_or(0.0) as f32,
            })
        })
        .collect()
}

/// The overlay rectangle `(x, y, width, height)` in frame pixels that the element draws
/// for `face` (same arithmetic as the element; may extend beyond the frame).
pub fn overlay_rect(face: &FaceBox, geometry: &OverlayGeometry) -> Option<(i32, i32, i32, i32)> {
    draw::overlay_rect(face, geometry)
}
