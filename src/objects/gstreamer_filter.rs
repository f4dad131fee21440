//! GStreamerFilter: any GStreamer element (or chain) working on raw video, built from a
//! gst-launch description, with typed `setElementProperty`.

use std::sync::Arc;

use rheo_pipelines as media;
use serde_json::Value;

use super::{store_property, stored_property, values, Args, MediaObject, Result, World};
use crate::protocol::KurentoError;

pub(super) fn create(
    pipeline: &media::MediaPipeline,
    id: &str,
    params: Args<'_>,
) -> Result<media::Element> {
    let command = params.str("command")?;
    let filter_type = params.opt_enum("filterType", &["AUDIO", "AUTODETECT", "VIDEO"])?;
    if filter_type == Some("AUDIO") {
        return Err(KurentoError::marshall(
            "filterType AUDIO: audio GStreamerFilters are not supported yet",
        ));
    }
    pipeline
        .create_gstreamer_filter(id, command)
        .map_err(values::media_error)
}

/// Remembers the command for `getCommand` (the object is built after `create` returns).
pub(super) fn remember_command(obj: &MediaObject, params: Args<'_>) {
    if let Ok(command) = params.str("command") {
        store_property(obj, "command", Value::from(command));
    }
}

pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Option<Option<Value>>> {
    let Some(filter) = obj.element().and_then(media::Element::gstreamer_filter) else {
        return Ok(None);
    };
    match op {
        "setElementProperty" => {
            let (name, value) = (args.str("propertyName")?, args.str("propertyValue")?);
            filter
                .set_element_property(name, value)
                .map_err(values::media_error)?;
            Ok(Some(None))
        }
        _ if values::is_getter(op, "command") => {
            Ok(Some(Some(stored_property(obj, "command", Value::from("")))))
        }
        _ => Ok(None),
    }
}
