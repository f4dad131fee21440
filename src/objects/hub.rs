//! Hub, HubPort, Composite, Dispatcher and DispatcherOneToMany: hubs are objects of a pipeline;
//! their ports are media elements whose parent is the hub (ids `<hub id>/<uuid>_kurento.HubPort`).

use std::sync::Arc;

use rheo_media as media;
use serde_json::Value;

use super::{catalogue, values, Args, Media, MediaObject, NewElement, Outcome, Result, World};
use crate::protocol::KurentoError;

pub(super) fn create_dispatcher(new: &NewElement<'_>) -> Result<media::Hub> {
    media::Hub::create(new.pipeline, new.id, media::HubKind::Dispatcher)
        .map_err(values::media_error)
}

pub(super) fn create_dispatcher_one_to_many(new: &NewElement<'_>) -> Result<media::Hub> {
    media::Hub::create(new.pipeline, new.id, media::HubKind::DispatcherOneToMany)
        .map_err(values::media_error)
}

/// `create Composite {mediaPipeline, width = 800, height = 600, framerate = 15}`.
pub(super) fn create_composite(new: &NewElement<'_>) -> Result<media::Hub> {
    let int = |name: &str, default: i64| -> Result<i32> {
        let v = new.params.opt_int(name)?.unwrap_or(default);
        i32::try_from(v).map_err(|_| KurentoError::marshall(format!("'{name}' is out of range")))
    };
    let kind = media::HubKind::Composite {
        width: int("width", 800)?,
        height: int("height", 600)?,
        framerate: int("framerate", 15)?,
    };
    media::Hub::create(new.pipeline, new.id, kind).map_err(values::media_error)
}

/// `create AlphaBlending {mediaPipeline}`.
pub(super) fn create_alpha_blending(new: &NewElement<'_>) -> Result<media::Hub> {
    media::Hub::create(new.pipeline, new.id, media::HubKind::AlphaBlending)
        .map_err(values::media_error)
}

/// `create Mixer {mediaPipeline}`.
pub(super) fn create_mixer(new: &NewElement<'_>) -> Result<media::Hub> {
    media::Hub::create(new.pipeline, new.id, media::HubKind::Mixer).map_err(values::media_error)
}

/// `create HubPort {hub}`.
pub(super) fn create_port(
    world: &dyn World,
    class: &'static catalogue::ClassInfo,
    params: Args<'_>,
    uuid: &str,
) -> Result<MediaObject> {
    let hub_id = params.str("hub")?;
    let hub_obj = world.object(hub_id).map_err(|_| {
        KurentoError::marshall(format!("'hub' parameter: object '{hub_id}' not found"))
    })?;
    let hub = hub_obj
        .hub()
        .ok_or_else(|| KurentoError::arg_type("hub", "Hub"))?;
    let id = format!("{}/{}_{}", hub_obj.id, uuid, class.qualified_name());
    let element = hub.create_port(&id).map_err(values::media_error)?;
    let mut obj = MediaObject::new(id, class, hub_obj.pipeline.clone(), Media::Element(element));
    obj.hub = Some(hub_obj.id.clone());
    Ok(obj)
}

/// A HubPort argument of a hub operation: an object that is a HubPort.
fn port_arg(world: &dyn World, args: Args<'_>, name: &str) -> Result<String> {
    let id = args.str(name)?;
    let obj = world.object(id).map_err(|_| {
        KurentoError::marshall(format!("'{name}' parameter: object '{id}' not found"))
    })?;
    if !obj.class.is_a(&catalogue::HUB_PORT) {
        return Err(KurentoError::arg_type(name, "HubPort"));
    }
    Ok(obj.id.clone())
}

/// Hub: `getGstreamerDot` (its pipeline's).
pub(super) fn invoke_hub(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    _args: Args<'_>,
) -> Result<Outcome> {
    match op {
        "getGstreamerDot" => {
            let pipeline = obj
                .pipeline
                .as_deref()
                .and_then(|p| world.object(p).ok())
                .and_then(|p| p.media_pipeline().map(|p| p.gstreamer_dot()))
                .unwrap_or_default();
            Ok(Outcome::Returned(Value::from(pipeline)))
        }
        "dumpGstreamerDot" => Ok(Outcome::Void),
        _ => Ok(Outcome::NotMine),
    }
}

fn hub_of(obj: &MediaObject) -> Result<&media::Hub> {
    obj.hub()
        .ok_or_else(|| KurentoError::unexpected("not a hub"))
}

/// Dispatcher: `connect(source, sink)`.
pub(super) fn invoke_dispatcher(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    if op != "connect" {
        return Ok(Outcome::NotMine);
    }
    let (source, sink) = (
        port_arg(world, args, "source")?,
        port_arg(world, args, "sink")?,
    );
    hub_of(obj)?
        .connect(&source, &sink)
        .map_err(values::media_error)?;
    Ok(Outcome::Void)
}

/// DispatcherOneToMany: `setSource(source)`, `removeSource()`.
pub(super) fn invoke_dispatcher_one_to_many(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let hub = hub_of(obj)?;
    match op {
        "setSource" => {
            let source = port_arg(world, args, "source")?;
            hub.set_source(&source).map_err(values::media_error)?;
        }
        "removeSource" => hub.remove_source().map_err(values::media_error)?,
        _ => return Ok(Outcome::NotMine),
    }
    Ok(Outcome::Void)
}

/// AlphaBlending: `setMaster(source, zOrder)`, `setPortProperties(relativeX, relativeY, zOrder,
/// relativeWidth, relativeHeight, port)`.
pub(super) fn invoke_alpha_blending(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let hub = hub_of(obj)?;
    let z_order = |args: Args<'_>| -> Result<i32> {
        i32::try_from(args.int("zOrder")?)
            .map_err(|_| KurentoError::marshall("'zOrder' is out of range"))
    };
    match op {
        "setMaster" => {
            let source = port_arg(world, args, "source")?;
            hub.set_master(&source, z_order(args)?)
                .map_err(values::media_error)?;
        }
        "setPortProperties" => {
            let port = port_arg(world, args, "port")?;
            let placement = media::Placement {
                x: args.float("relativeX")?,
                y: args.float("relativeY")?,
                width: args.float("relativeWidth")?,
                height: args.float("relativeHeight")?,
                z: z_order(args)?,
            };
            hub.set_port_properties(&port, placement)
                .map_err(values::media_error)?;
        }
        _ => return Ok(Outcome::NotMine),
    }
    Ok(Outcome::Void)
}

/// Mixer: `connect(media, source, sink)`, `disconnect(media, source, sink)`.
pub(super) fn invoke_mixer(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    if op != "connect" && op != "disconnect" {
        return Ok(Outcome::NotMine);
    }
    let media = values::opt_media_kind(args, "media")?
        .ok_or_else(|| KurentoError::marshall("'media' parameter is required"))?;
    let (source, sink) = (
        port_arg(world, args, "source")?,
        port_arg(world, args, "sink")?,
    );
    let hub = hub_of(obj)?;
    if op == "connect" {
        hub.mixer_connect(media, &source, &sink)
    } else {
        hub.mixer_disconnect(media, &source, &sink).map(|_| ())
    }
    .map_err(values::media_error)?;
    Ok(Outcome::Void)
}
