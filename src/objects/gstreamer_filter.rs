//! GStreamerFilter: any GStreamer element (or chain) working on raw video, built from a
//! gst-launch description, with typed `setElementProperty`.

use std::sync::Arc;

use rheo_media as media;
use serde_json::Value;

use super::{
    stored_property, values, Args, Built, MediaObject, NewElement, Outcome, Result, World,
};
use crate::protocol::KurentoError;

/// Builds the filter; the command is stored for `getCommand`.
pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    let params = new.params;
    let command = params.str("command")?;
    let filter_type = params.opt_enum("filterType", &["AUDIO", "AUTODETECT", "VIDEO"])?;
    if filter_type == Some("AUDIO") {
        return Err(KurentoError::marshall(
            "filterType AUDIO: audio GStreamerFilters are not supported yet",
        ));
    }
    let policy = &new.world.settings().gstreamer_filter;
    let element = media::FilterBin::create_gstreamer_filter(new.pipeline, new.id, command, policy)
        .map_err(values::media_error)?;
    Ok(Built {
        element,
        stored: vec![("command", Value::from(command))],
    })
}

pub(super) fn invoke(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let Some(filter) = obj.element().and_then(media::Element::gstreamer_filter) else {
        return Ok(Outcome::NotMine);
    };
    match op {
        "setElementProperty" => {
            let (name, value) = (args.str("propertyName")?, args.str("propertyValue")?);
            filter
                .set_element_property(name, value, &world.settings().gstreamer_filter)
                .map_err(values::media_error)?;
            Ok(Outcome::Void)
        }
        _ if values::is_getter(op, "command") => Ok(Outcome::Returned(stored_property(
            obj,
            "command",
            Value::from(""),
        ))),
        _ => Ok(Outcome::NotMine),
    }
}
