//! The seam to the `rheo-filters` crate: everything the media plane needs from it goes through
//! these few functions.

use std::sync::Arc;

use gst::prelude::*;

use crate::{err, ErrorKind};

pub use rheo_filters::{OverlayGeometry, OverlayImage};

pub(crate) fn register() -> std::result::Result<(), String> {
    rheo_filters::register_static().map_err(|e| e.to_string())
}

pub(crate) fn make_face_overlay() -> crate::Result<gst::Element> {
    if gst::ElementFactory::find(rheo_filters::FaceOverlay::FACTORY_NAME).is_none() {
        return Err(err(
            ErrorKind::Internal,
            "rheofaceoverlay is not registered",
        ));
    }
    Ok(rheo_filters::FaceOverlay::new(Some("filter")).upcast())
}

pub(crate) fn set_overlay(
    filter: &gst::Element,
    image: Arc<OverlayImage>,
    geometry: OverlayGeometry,
) {
    if let Some(f) = filter.downcast_ref::<rheo_filters::FaceOverlay>() {
        f.set_overlay(image, geometry);
    }
}

pub(crate) fn unset_overlay(filter: &gst::Element) {
    if let Some(f) = filter.downcast_ref::<rheo_filters::FaceOverlay>() {
        f.unset_overlay();
    }
}
