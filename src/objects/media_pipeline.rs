//! MediaPipeline: one GStreamer pipeline holding its elements.

use std::sync::Arc;

use rheo_media as media;
use serde_json::Value;

use super::{
    catalogue, store_property, stored_property, values, Args, Media, MediaObject, Outcome, Result,
    World,
};

pub(super) fn create(
    world: &dyn World,
    uuid: &str,
    events: media::EventSink,
) -> Result<MediaObject> {
    let id = format!("{uuid}_{}", catalogue::MEDIA_PIPELINE.qualified_name());
    let pipeline = media::MediaPipeline::new(&id, events, world.settings().webrtc.clone())
        .map_err(values::media_error)?;
    Ok(MediaObject::new(
        id,
        &catalogue::MEDIA_PIPELINE,
        None,
        Media::Pipeline(pipeline),
    ))
}

pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let pipeline = obj
        .media_pipeline()
        .expect("MediaPipeline objects hold a pipeline");
    let value = match op {
        "getGstreamerDot" => Some(Value::from(pipeline.gstreamer_dot())),
        "dumpGstreamerDot" => None,
        _ if values::is_getter(op, "latencyStats") => {
            Some(stored_property(obj, "latencyStats", Value::from(false)))
        }
        _ if values::is_setter(op, "latencyStats") => {
            let on = args.bool("latencyStats")?;
            store_property(obj, "latencyStats", Value::from(on));
            pipeline.set_latency_stats(on);
            None
        }
        _ => return Ok(Outcome::NotMine),
    };
    Ok(value.into())
}
