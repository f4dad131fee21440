//! RecorderEndpoint (with its UriEndpoint members): records what it receives into a file of the
//! media root.

use std::sync::Arc;

use rheo_filter_sdk::local_file;
use rheo_media as media;
use serde_json::Value;

use super::{values, Args, Built, MediaObject, NewElement, Outcome, Result, World};
use crate::protocol::KurentoError;

/// MediaProfileSpecType values Kurento defines but Rheo does not record.
const UNSUPPORTED_PROFILES: [&str; 2] = ["KURENTO_SPLIT_RECORDER", "FLV"];

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    let params = new.params;
    let uri = params.str("uri")?;
    let profile = match params.opt_str("mediaProfile")? {
        None => media::MediaProfile::from_kurento("WEBM").expect("WEBM is a profile"),
        Some(name) => media::MediaProfile::from_kurento(name).ok_or_else(|| {
            let why = if UNSUPPORTED_PROFILES.contains(&name) {
                "is not supported by Rheo (use WEBM, MKV, MP4, their _VIDEO_ONLY and _AUDIO_ONLY \
                 forms, or JPEG_VIDEO_ONLY)"
            } else {
                "is not a MediaProfileSpecType"
            };
            KurentoError::marshall(format!("'mediaProfile' parameter: '{name}' {why}"))
        })?,
    };
    let stop_on_eos = params.opt_bool("stopOnEndOfStream")?.unwrap_or(false);
    let policy = &new.world.settings().uri_policy;
    let refused = |e: &dyn std::fmt::Display| {
        KurentoError::illegal_param(format!("cannot record to '{uri}': {e}"))
    };
    let target = match local_file::file_uri_path(uri) {
        Some(path) => path
            .map_err(|e| refused(&e))
            .and_then(|path| policy.file_to_write(&path).map_err(|e| refused(&e)))
            .map(media::RecordTarget::File)?,
        None => match local_file::scheme_of(uri).as_deref() {
            Some("http" | "https") => {
                policy.check_remote(uri).map_err(|e| refused(&e))?;
                media::RecordTarget::Upload(uri.to_owned())
            }
            _ => {
                return Err(KurentoError::illegal_param(format!(
                    "cannot record to '{uri}': Rheo records to file://, http:// and https:// URIs \
                     and to paths"
                )))
            }
        },
    };
    let element = media::RecorderEndpoint::create(
        new.pipeline,
        new.id,
        media::RecorderOptions {
            target,
            profile,
            stop_on_end_of_stream: stop_on_eos,
        },
    )
    .map_err(values::media_error)?;
    Ok(Built {
        element,
        stored: vec![
            ("uri", Value::from(uri)),
            ("stopOnEndOfStream", Value::from(stop_on_eos)),
        ],
    })
}

fn recorder(obj: &MediaObject) -> Result<&media::RecorderEndpoint> {
    obj.element()
        .and_then(media::Element::recorder)
        .ok_or_else(|| KurentoError::unexpected("RecorderEndpoint has no recorder element"))
}

/// RecorderEndpoint's own methods.
pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    _args: Args<'_>,
) -> Result<Outcome> {
    match op {
        "record" => recorder(obj)?.record().map_err(values::media_error)?,
        "stopAndWait" => recorder(obj)?
            .stop_and_wait()
            .map_err(values::media_error)?,
        _ => return Ok(Outcome::NotMine),
    }
    Ok(Outcome::Void)
}
