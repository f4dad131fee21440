//! RtpEndpoint: plain RTP, or SDES-SRTP with `crypto`, with a peer that is not a browser
//! (negotiated through `sdp_endpoint`).

use base64::Engine;
use rheo_media as media;
use serde_json::{Map, Value};

use super::{values, Args, Built, NewElement, Result};
use crate::protocol::KurentoError;

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    let params = new.params;
    let crypto = match params.raw("crypto").filter(|c| !c.is_null()) {
        Some(_) => sdes_key(params.complex("crypto", "kurento", "SDES")?)?,
        None => None,
    };
    if params.opt_bool("useIpv6")?.unwrap_or(false) {
        return Err(KurentoError::illegal_param(
            "RtpEndpoint: 'useIpv6' is not supported; Rheo announces IPv4",
        ));
    }
    media::RtpEndpoint::create(new.pipeline, new.id, media::RtpOptions { crypto })
        .map(Built::from)
        .map_err(values::media_error)
}

/// Kurento's SDES: a suite, and the master key and salt in plain text (`key`) or base64
/// (`keyBase64`); a random key when neither is given. An SDES without a suite means plain RTP.
fn sdes_key(sdes: &Map<String, Value>) -> Result<Option<media::SrtpKey>> {
    let sdes = Args::new(Some(sdes));
    let Some(suite_name) = sdes.opt_str("crypto")?.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let suite = media::SrtpSuite::from_kurento(suite_name).ok_or_else(|| {
        KurentoError::marshall(format!("'crypto': unknown CryptoSuite '{suite_name}'"))
    })?;
    let master = match (sdes.opt_str("key")?, sdes.opt_str("keyBase64")?) {
        (Some(key), _) if !key.is_empty() => key.as_bytes().to_vec(),
        (_, Some(b64)) if !b64.is_empty() => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| KurentoError::marshall("'keyBase64' is not base64"))?,
        _ => {
            return media::SrtpKey::random(suite)
                .map(Some)
                .map_err(values::media_error)
        }
    };
    media::SrtpKey::new(suite, master)
        .map(Some)
        .map_err(|e| KurentoError::marshall(format!("'crypto': {}", e.message)))
}
