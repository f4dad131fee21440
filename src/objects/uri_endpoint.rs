//! UriEndpoint: the members recorders and players share: `pause`, `stop`, `uri` and `state`.

use std::sync::Arc;

use serde_json::Value;

use super::{player_endpoint, recorder_endpoint};
use super::{stored_property, values, Args, MediaObject, Outcome, Result, World};

pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    _args: Args<'_>,
) -> Result<Outcome> {
    let is_player = obj.element().and_then(|e| e.player()).is_some();
    let value = match op {
        "pause" if is_player => {
            player_endpoint::player(obj)?
                .pause()
                .map_err(values::media_error)?;
            None
        }
        "pause" => {
            recorder_endpoint::recorder(obj)?
                .pause()
                .map_err(values::media_error)?;
            None
        }
        "stop" if is_player => {
            player_endpoint::player(obj)?.stop();
            None
        }
        "stop" => {
            recorder_endpoint::recorder(obj)?.stop();
            None
        }
        "getUri" => Some(stored_property(obj, "uri", Value::from(""))),
        "getState" => {
            let state = if is_player {
                player_endpoint::player(obj)?.state()
            } else {
                recorder_endpoint::recorder(obj)?.state()
            };
            Some(Value::from(values::uri_endpoint_state_name(state)))
        }
        _ => return Ok(Outcome::NotMine),
    };
    Ok(value.into())
}
