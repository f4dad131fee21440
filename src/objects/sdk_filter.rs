//! Every filter of the filter SDK as a Kurento class: constructor params, methods and properties
//! are validated and converted from the filter's own `FilterInfo`, images are loaded here (a
//! blocking thread, never the streaming one), and the call goes to the filter element.

use std::sync::Arc;

use rheo_filter_sdk::{self as sdk, json, FilterError, FilterInfo};
use rheo_media as media;
use serde_json::{Map, Value};

use super::{values, Args, Built, MediaObject, NewElement, Outcome, Result, World};
use crate::protocol::KurentoError;

fn filter_error(e: FilterError) -> KurentoError {
    match e {
        FilterError::InvalidArgument(m) => KurentoError::marshall(m),
        FilterError::NoSuchMethod(m) => KurentoError::operation_not_found(&m, 0),
        FilterError::Failed(m) => KurentoError::unexpected(m),
    }
}

/// Validates `params` against `spec`, fills defaults and loads image URIs.
fn prepare_args(
    world: &dyn World,
    spec: &[sdk::Param],
    params: &Map<String, Value>,
) -> Result<sdk::Args> {
    let mut args = json::args_from_json(spec, params).map_err(filter_error)?;
    json::load_images(spec, &mut args, &world.settings().image_limits)
        .map_err(|e| KurentoError::illegal_param(format!("Cannot load image: {e}")))?;
    Ok(args)
}

/// Creates the filter element of the class's `FilterInfo` in the pipeline.
pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    let info: &'static FilterInfo = new
        .class
        .filter
        .ok_or_else(|| KurentoError::unexpected("an SDK filter class without its FilterInfo"))?;
    let mut ctor = new.params.raw_map().cloned().unwrap_or_default();
    ctor.remove("mediaPipeline");
    let args = prepare_args(new.world, info.constructor, &ctor)?;
    media::FilterBin::create_sdk_filter(new.pipeline, new.id, info.class, &args)
        .map(Built::from)
        .map_err(values::media_error)
}

pub(super) fn invoke(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    params: Args<'_>,
) -> Result<Outcome> {
    let Some(filter) = obj.element().and_then(media::Element::sdk_filter) else {
        return Ok(Outcome::NotMine);
    };
    let Some(info) = filter.info() else {
        return Ok(Outcome::NotMine);
    };
    let empty = Map::new();
    let raw = params.raw_map().unwrap_or(&empty);
    if let Some(method) = info.methods.iter().find(|m| m.name == op) {
        let args = prepare_args(world, method.params, raw)?;
        let result = filter.invoke(op, &args).map_err(filter_error)?;
        return Ok(method
            .returns
            .map(|ty| json::value_to_json(&result, &ty))
            .into());
    }
    for prop in info.properties {
        if values::is_getter(op, prop.name) {
            let v = filter.get_property(prop.name).map_err(filter_error)?;
            return Ok(Outcome::Returned(json::value_to_json(&v, &prop.ty)));
        }
        if !prop.read_only && values::is_setter(op, prop.name) {
            let spec = [sdk::Param {
                name: prop.name,
                ty: prop.ty,
                default: None,
                doc: "",
            }];
            let mut args = prepare_args(world, &spec, raw)?;
            let value = args.0.pop().map(|(_, v)| v).unwrap_or(sdk::Value::Null);
            filter
                .set_property(prop.name, value)
                .map_err(filter_error)?;
            return Ok(Outcome::Void);
        }
    }
    Ok(Outcome::NotMine)
}
