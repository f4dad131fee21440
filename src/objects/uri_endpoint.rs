//! UriEndpoint: the members recorders and players share: `pause`, `stop`, `uri` and `state`.

use std::sync::Arc;

use rheo_media as media;
use serde_json::Value;

use super::{stored_property, values, Args, MediaObject, Outcome, Result, World};
use crate::protocol::KurentoError;

pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    _args: Args<'_>,
) -> Result<Outcome> {
    let endpoint = || {
        obj.element()
            .and_then(media::Element::uri_endpoint)
            .ok_or_else(|| KurentoError::unexpected("UriEndpoint has no recorder or player"))
    };
    let value = match op {
        "pause" => {
            endpoint()?.pause().map_err(values::media_error)?;
            None
        }
        "stop" => {
            endpoint()?.stop();
            None
        }
        "getUri" => Some(stored_property(obj, "uri", Value::from(""))),
        "getState" => Some(Value::from(values::uri_endpoint_state_name(
            endpoint()?.state(),
        ))),
        _ => return Ok(Outcome::NotMine),
    };
    Ok(value.into())
}
