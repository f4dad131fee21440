//! WhipEndpoint and WhepEndpoint (module `rheowhip`): WHIP and WHEP inside an application's
//! pipeline. The application creates one, hands `getUrl` to OBS or a WHEP player, and hears
//! `MediaSessionStarted` when that client's offer is answered and `MediaSessionTerminated` when it
//! leaves. A WhipEndpoint's media leaves it as a WebRtcEndpoint's would; a WhepEndpoint sends what
//! is connected to it. `crate::whip` speaks HTTP for them (`/whip-endpoint/<token>`).

use std::sync::Arc;

use rheo_media as media;
use serde_json::Value;

use super::{
    stored_property, values, Args, Built, MediaObject, NewElement, Outcome, Result, World,
};
use crate::protocol::KurentoError;
use crate::whip::Role;

/// The class of each role.
pub fn class_name(role: Role) -> &'static str {
    match role {
        Role::Publisher => "WhipEndpoint",
        Role::Viewer => "WhepEndpoint",
    }
}

/// The URL path each role's endpoints are reached under.
pub fn url_path(role: Role) -> &'static str {
    match role {
        Role::Publisher => "/whip-endpoint/",
        Role::Viewer => "/whep-endpoint/",
    }
}

fn create(new: &NewElement<'_>, role: Role) -> Result<Built> {
    // The URL is the client's only credential: 122 random bits.
    let token = uuid::Uuid::new_v4().simple().to_string();
    let opts = media::WebRtcOptions {
        recvonly: role == Role::Publisher,
        sendonly: role == Role::Viewer,
        use_data_channels: false,
    };
    let element =
        media::WebRtcEndpoint::create(new.pipeline, new.id, opts).map_err(values::media_error)?;
    Ok(Built {
        element,
        stored: vec![("token", Value::from(token))],
    })
}

pub(super) fn create_whip(new: &NewElement<'_>) -> Result<Built> {
    create(new, Role::Publisher)
}

pub(super) fn create_whep(new: &NewElement<'_>) -> Result<Built> {
    create(new, Role::Viewer)
}

/// The endpoint's token, if `obj` is one of `role`'s.
pub fn token_of(obj: &MediaObject, role: Role) -> Option<String> {
    if obj.class.name != class_name(role) {
        return None;
    }
    stored_property(obj, "token", Value::Null)
        .as_str()
        .map(str::to_owned)
}

pub(super) fn invoke(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    _args: Args<'_>,
) -> Result<Outcome> {
    match op {
        "getUrl" => {
            let role = if obj.class.name == class_name(Role::Publisher) {
                Role::Publisher
            } else {
                Role::Viewer
            };
            let token = token_of(obj, role)
                .ok_or_else(|| KurentoError::unexpected("the endpoint has no URL"))?;
            let base = &world.settings().http_base_url;
            Ok(Outcome::Returned(Value::from(format!(
                "{base}{}{token}",
                url_path(role)
            ))))
        }
        _ => Ok(Outcome::NotMine),
    }
}
