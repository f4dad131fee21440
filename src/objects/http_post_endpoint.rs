//! HttpPostEndpoint: `getUrl` names a URL on this server's own port where a client POSTs a
//! media file, which then plays into the pipeline (`transport::http_post` takes the POST).

use std::sync::Arc;
use std::time::Duration;

use rheo_media as media;
use serde_json::Value;

use super::{values, Args, Built, MediaObject, NewElement, Outcome, Result, World};
use crate::protocol::KurentoError;

/// Kurento's default `disconnectionTimeout`, in seconds.
const DEFAULT_DISCONNECTION_TIMEOUT_S: i64 = 2;
/// The URL path HttpPostEndpoints are reached under.
pub const URL_PATH: &str = "/http-post/";

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    let params = new.params;
    let timeout = params
        .opt_int("disconnectionTimeout")?
        .unwrap_or(DEFAULT_DISCONNECTION_TIMEOUT_S);
    if !(0..=3600).contains(&timeout) {
        return Err(KurentoError::marshall(
            "'disconnectionTimeout' parameter must be between 0 and 3600 seconds",
        ));
    }
    let use_encoded_media = params.opt_bool("useEncodedMedia")?.unwrap_or(false);
    // The URL is the only credential of the upload: 122 random bits.
    let token = uuid::Uuid::new_v4().simple().to_string();
    let element = media::HttpPostEndpoint::create(
        new.pipeline,
        new.id,
        media::HttpPostOptions {
            token,
            disconnection_timeout: Duration::from_secs(timeout as u64),
        },
    )
    .map_err(values::media_error)?;
    Ok(Built {
        element,
        stored: vec![
            ("disconnectionTimeout", Value::from(timeout)),
            ("useEncodedMedia", Value::from(use_encoded_media)),
        ],
    })
}

/// HttpEndpoint's `getUrl`.
pub(super) fn invoke(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    _args: Args<'_>,
) -> Result<Outcome> {
    match op {
        "getUrl" => {
            let endpoint = obj
                .element()
                .and_then(media::Element::http_post)
                .ok_or_else(|| KurentoError::unexpected("HttpPostEndpoint has no media element"))?;
            let base = &world.settings().http_base_url;
            Ok(Outcome::Returned(Value::from(format!(
                "{base}{URL_PATH}{}",
                endpoint.token()
            ))))
        }
        _ => Ok(Outcome::NotMine),
    }
}
