//! FaceOverlayFilter: draws an image over every detected face (the "magic mirror").

use std::sync::Arc;

use rheo_media as media;

use super::{values, Args, Built, MediaObject, NewElement, Outcome, Result, World};
use crate::protocol::KurentoError;

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    media::FilterBin::create_face_overlay(new.pipeline, new.id)
        .map(Built::from)
        .map_err(values::media_error)
}

pub(super) fn invoke(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let overlay = || {
        obj.element()
            .and_then(media::Element::face_overlay)
            .ok_or_else(|| KurentoError::unexpected("FaceOverlayFilter has no overlay element"))
    };
    match op {
        "setOverlayedImage" => {
            let uri = args.str("uri")?;
            let geometry = media::OverlayGeometry {
                offset_x: args.float("offsetXPercent")? as _,
                offset_y: args.float("offsetYPercent")? as _,
                width: args.float("widthPercent")? as _,
                height: args.float("heightPercent")? as _,
            };
            if !(geometry.width > 0.0 && geometry.height > 0.0) {
                return Err(KurentoError::illegal_param(
                    "widthPercent and heightPercent must be greater than 0",
                ));
            }
            // Loaded here, on a blocking thread, so a slow or failing download never stalls video
            // and the caller gets the failure as an error response.
            let image =
                rheo_filter_sdk::load_image(uri, &world.settings().image_limits).map_err(|e| {
                    KurentoError::illegal_param(format!("Cannot load overlay image '{uri}': {e}"))
                })?;
            overlay()?.set_overlay_image(Arc::new(image), geometry);
            Ok(Outcome::Void)
        }
        "unsetOverlayedImage" => {
            overlay()?.unset_overlay_image();
            Ok(Outcome::Void)
        }
        _ => Ok(Outcome::NotMine),
    }
}
