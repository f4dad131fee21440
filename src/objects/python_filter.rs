//! PythonFilter (module `rheopython`): a researcher's Python filter, named by its module in the
//! operator's `python_filters_dir`, with `params` (a JSON object, or a string holding one) as
//! its `ctx.params`. Every event the filter raises with `ctx.emit(name, data)` is a Kurento
//! event of that name on the element.

use std::sync::Arc;

use rheo_media as media;
use serde_json::Value;

use super::{
    stored_property, values, Args, Built, MediaObject, NewElement, Outcome, Result, World,
};
use crate::protocol::KurentoError;

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    let module = new.params.str("module")?;
    let max = rheo_filters::python::settings().max_processes;
    if rheo_filters::python::running_processes() >= max {
        return Err(KurentoError::not_enough_resources(format!(
            "server at capacity: {max} Python filters run already (setting max_python_filters)"
        )));
    }
    let params = match new.params.raw_map().and_then(|m| m.get("params")) {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(object @ Value::Object(_)) => object.to_string(),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(_)) => text.clone(),
            _ => {
                return Err(KurentoError::marshall(
                    "params must be a JSON object (or a string holding one)",
                ))
            }
        },
        Some(_) => {
            return Err(KurentoError::marshall(
                "params must be a JSON object (or a string holding one)",
            ))
        }
    };
    let element = media::FilterBin::create_python_filter(new.pipeline, new.id, module, &params)
        .map_err(values::media_error)?;
    Ok(Built {
        element,
        stored: vec![("module", Value::from(module))],
    })
}

pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    _args: Args<'_>,
) -> Result<Outcome> {
    match op {
        _ if values::is_getter(op, "module") => Ok(Outcome::Returned(stored_property(
            obj,
            "module",
            Value::from(""),
        ))),
        _ => Ok(Outcome::NotMine),
    }
}
