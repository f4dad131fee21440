//! RtpEndpoint: plain RTP with a peer that is not a browser (negotiated through
//! `sdp_endpoint`).

use rheo_media as media;

use super::{values, Built, NewElement, Result};
use crate::protocol::KurentoError;

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    let params = new.params;
    if let Some(crypto) = params.raw("crypto").filter(|c| !c.is_null()) {
        let suite = crypto.get("crypto").and_then(|c| c.as_str());
        if suite.is_some_and(|s| !s.is_empty()) {
            return Err(KurentoError::illegal_param(
                "RtpEndpoint: SDES-SRTP ('crypto') is not supported yet; use plain RTP",
            ));
        }
    }
    if params.opt_bool("useIpv6")?.unwrap_or(false) {
        return Err(KurentoError::illegal_param(
            "RtpEndpoint: 'useIpv6' is not supported; Rheo announces IPv4",
        ));
    }
    media::RtpEndpoint::create(new.pipeline, new.id)
        .map(Built::from)
        .map_err(values::media_error)
}
