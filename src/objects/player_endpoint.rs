//! PlayerEndpoint: plays a file of the media root, an HTTP resource or an RTSP stream into the
//! pipeline.

use std::sync::Arc;

use rheo_filter_sdk::local_file;
use rheo_filter_sdk::policy_http::{GetError, PolicyHttp};
use rheo_media as media;
use serde_json::{json, Value};
use tracing::debug;

use super::{values, Args, Built, MediaObject, NewElement, Outcome, Result, World};
use crate::protocol::KurentoError;

/// Kurento's default `networkCache`, in milliseconds.
const DEFAULT_NETWORK_CACHE_MS: i64 = 2000;

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    let params = new.params;
    let uri = params.str("uri")?;
    let use_encoded_media = params.opt_bool("useEncodedMedia")?.unwrap_or(false);
    let network_cache = params
        .opt_int("networkCache")?
        .unwrap_or(DEFAULT_NETWORK_CACHE_MS);
    if !(0..=60_000).contains(&network_cache) {
        return Err(KurentoError::marshall(
            "'networkCache' parameter must be between 0 and 60000 ms",
        ));
    }
    let policy = &new.world.settings().uri_policy;
    let refused = |e: &dyn std::fmt::Display| {
        KurentoError::illegal_param(format!("cannot play '{uri}': {e}"))
    };
    let source = match local_file::file_uri_path(uri) {
        Some(path) => path
            .map_err(|e| refused(&e))
            .and_then(|path| policy.file_to_read(&path).map_err(|e| refused(&e)))
            .map(|path| format!("file://{}", path.display()))?,
        None => match local_file::scheme_of(uri).as_deref() {
            Some("rtsp") => {
                policy.check_remote(uri).map_err(|e| refused(&e))?;
                uri.to_owned()
            }
            Some("http" | "https") => {
                policy.check_remote(uri).map_err(|e| refused(&e))?;
                // GStreamer's HTTP source follows no redirect (it could not check one): they
                // are followed here, each hop under the policy, and it gets where they lead.
                // A server that cannot be reached now is left for `play` to report.
                let limits = &new.world.settings().image_limits;
                let client = PolicyHttp {
                    policy,
                    timeout: limits.timeout,
                    extra_trusted_certificates: &limits.extra_trusted_certificates,
                };
                match client.final_location(uri) {
                    Ok(last) => last,
                    Err(GetError::Refused(e)) => return Err(refused(&e)),
                    Err(GetError::Unreachable(detail)) => {
                        debug!(uri, detail, "redirects not resolved before playing");
                        uri.to_owned()
                    }
                }
            }
            _ => {
                return Err(KurentoError::illegal_param(format!(
                    "cannot play '{uri}': Rheo plays file://, http://, https:// and rtsp:// URIs \
                     and paths"
                )))
            }
        },
    };
    let element = media::PlayerEndpoint::create(
        new.pipeline,
        new.id,
        media::PlayerOptions {
            uri: source,
            network_cache_ms: network_cache as u32,
        },
    )
    .map_err(values::media_error)?;
    Ok(Built {
        element,
        stored: vec![
            ("uri", Value::from(uri)),
            ("useEncodedMedia", Value::from(use_encoded_media)),
        ],
    })
}

fn player(obj: &MediaObject) -> Result<&media::PlayerEndpoint> {
    obj.element()
        .and_then(media::Element::player)
        .ok_or_else(|| KurentoError::unexpected("PlayerEndpoint has no player element"))
}

/// PlayerEndpoint's own methods and properties.
pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let value = match op {
        "play" => {
            player(obj)?.play().map_err(values::media_error)?;
            None
        }
        "getPosition" => Some(Value::from(player(obj)?.position_ms())),
        "getElementGstreamerDot" => Some(Value::from(player(obj)?.gstreamer_dot())),
        "setPosition" => {
            let position = args.int("position")?;
            player(obj)?
                .set_position_ms(position)
                .map_err(|e| KurentoError::new(40700, "PLAYER_SEEK_FAIL", e.message))?;
            None
        }
        "getVideoInfo" => {
            let info = player(obj)?.video_info();
            Some(json!({"__module__": "kurento", "__type__": "VideoInfo",
                        "isSeekable": info.seekable, "seekableInit": info.seekable_init_ms,
                        "seekableEnd": info.seekable_end_ms, "duration": info.duration_ms}))
        }
        _ => return Ok(Outcome::NotMine),
    };
    Ok(value.into())
}
