//! SdpEndpoint and BaseRtpEndpoint: offer/answer, the session descriptions, media and
//! connection state, and the bandwidth settings, for WebRtcEndpoint and RtpEndpoint alike.

use std::sync::Arc;

use rheo_media as media;
use serde_json::Value;

use super::{stored_int_property, values, Args, MediaObject, Outcome, Result, World};
use crate::protocol::KurentoError;

/// Kurento's defaults, which the media side starts with.
const MIN_VIDEO_SEND_KBPS: i64 = media::send_bitrate::DEFAULT_MIN_KBPS as i64;
const MAX_VIDEO_SEND_KBPS: i64 = media::send_bitrate::DEFAULT_MAX_KBPS as i64;

fn endpoint(obj: &MediaObject) -> Result<&dyn media::SdpEndpoint> {
    obj.element()
        .and_then(media::Element::sdp_endpoint)
        .ok_or_else(|| KurentoError::unexpected("the endpoint has no SDP element"))
}

fn description(result: media::Result<String>) -> Result<Outcome> {
    result
        .map(|s| Outcome::Returned(Value::from(s)))
        .map_err(values::media_error)
}

/// SdpEndpoint's members.
pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    match op {
        "processOffer" => description(endpoint(obj)?.process_offer(args.str("offer")?)),
        "processAnswer" => description(endpoint(obj)?.process_answer(args.str("answer")?)),
        "generateOffer" => {
            let mut options = media::OfferOptions {
                offer_to_receive_audio: true,
                offer_to_receive_video: true,
            };
            if args.raw("options").is_some() {
                let o = Args::new(Some(args.complex("options", "kurento", "OfferOptions")?));
                options.offer_to_receive_audio = o.opt_bool("offerToReceiveAudio")?.unwrap_or(true);
                options.offer_to_receive_video = o.opt_bool("offerToReceiveVideo")?.unwrap_or(true);
            }
            description(endpoint(obj)?.generate_offer(options))
        }
        "getLocalSessionDescriptor" => description(endpoint(obj)?.local_description()),
        "getRemoteSessionDescriptor" => description(endpoint(obj)?.remote_description()),
        _ => Ok(Outcome::NotMine),
    }
}

/// BaseRtpEndpoint's members.
pub(super) fn invoke_base_rtp(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    if values::is_getter(op, "mediaState") {
        let state = endpoint(obj)?.media_state();
        return Ok(Outcome::Returned(Value::from(values::media_state_name(
            state,
        ))));
    }
    if values::is_getter(op, "connectionState") {
        let state = endpoint(obj)?.connection_state();
        return Ok(Outcome::Returned(Value::from(
            values::connection_state_name(state),
        )));
    }
    let bandwidth = ["minVideoSendBandwidth", "maxVideoSendBandwidth"]
        .into_iter()
        .find(|name| values::is_setter(op, name));
    if let Some(name) = bandwidth {
        let kbps = args.int(name)?;
        if !(0..=i64::from(u32::MAX)).contains(&kbps) {
            return Err(KurentoError::illegal_param(format!(
                "{name} is in kbps, from 0 (no maximum) up: {kbps}"
            )));
        }
    }
    let outcome = stored_int_property(
        obj,
        op,
        args,
        &[
            ("minVideoRecvBandwidth", 0),
            ("minVideoSendBandwidth", MIN_VIDEO_SEND_KBPS),
            ("maxVideoSendBandwidth", MAX_VIDEO_SEND_KBPS),
            ("maxAudioRecvBandwidth", 0),
            ("maxVideoRecvBandwidth", 0),
            ("mtu", 1200),
        ],
    )?;
    if bandwidth.is_some() {
        let kbps = |name, default| {
            super::stored_property(obj, name, Value::from(default))
                .as_u64()
                .unwrap_or(0) as u32
        };
        endpoint(obj)?.set_video_send_bandwidth(
            kbps("minVideoSendBandwidth", MIN_VIDEO_SEND_KBPS),
            kbps("maxVideoSendBandwidth", MAX_VIDEO_SEND_KBPS),
        );
    }
    Ok(outcome)
}
