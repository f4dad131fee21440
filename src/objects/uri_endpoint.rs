//! UriEndpoint: the members recorders (and players) share: `pause`, `stop`, `uri` and `state`.

use std::sync::Arc;

use serde_json::Value;

use super::recorder_endpoint::recorder;
use super::{stored_property, values, Args, MediaObject, Outcome, Result, World};

pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    _args: Args<'_>,
) -> Result<Outcome> {
    let value = match op {
        "pause" => {
            recorder(obj)?.pause().map_err(values::media_error)?;
            None
        }
        "stop" => {
            recorder(obj)?.stop();
            None
        }
        "getUri" => Some(stored_property(obj, "uri", Value::from(""))),
        "getState" => Some(Value::from(values::uri_endpoint_state_name(
            recorder(obj)?.state(),
        ))),
        _ => return Ok(Outcome::NotMine),
    };
    Ok(value.into())
}
