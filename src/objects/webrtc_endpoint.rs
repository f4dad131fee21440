//! WebRtcEndpoint's own members: ICE, STUN/TURN settings, keyframe requests (negotiation and
//! media state are `sdp_endpoint`'s, shared with RtpEndpoint).

use std::sync::Arc;

use rheo_media as media;
use serde_json::{json, Value};

use super::{args, values, Args, Built, MediaObject, NewElement, Outcome, Result, World};
use crate::protocol::KurentoError;

pub(super) fn create(new: &NewElement<'_>) -> Result<Built> {
    let params = new.params;
    let opts = media::WebRtcOptions {
        recvonly: params.opt_bool("recvonly")?.unwrap_or(false),
        sendonly: params.opt_bool("sendonly")?.unwrap_or(false),
        use_data_channels: params.opt_bool("useDataChannels")?.unwrap_or(false),
    };
    if opts.recvonly && opts.sendonly {
        return Err(KurentoError::marshall(
            "'recvonly' and 'sendonly' cannot both be true",
        ));
    }
    params.opt_enum("certificateKeyType", &["RSA", "ECDSA"])?;
    params.opt_str("qosDscp")?;
    media::WebRtcEndpoint::create(new.pipeline, new.id, opts)
        .map(Built::from)
        .map_err(values::media_error)
}

fn endpoint(obj: &MediaObject) -> Result<&media::WebRtcEndpoint> {
    obj.element()
        .and_then(media::Element::webrtc)
        .ok_or_else(|| KurentoError::unexpected("WebRtcEndpoint has no WebRTC element"))
}

pub(super) fn invoke(
    _world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let ep = endpoint(obj)?;
    let value = match op {
        "gatherCandidates" => {
            ep.gather_candidates().map_err(values::media_error)?;
            None
        }
        "addIceCandidate" => {
            let c = args.complex("candidate", "kurento", "IceCandidate")?;
            let candidate = args::field_str(c, "candidate")?;
            let sdp_mid = Args::new(Some(c)).opt_str("sdpMid")?.unwrap_or("");
            let mline = Args::new(Some(c)).opt_int("sdpMLineIndex")?.unwrap_or(0);
            let mline = u32::try_from(mline).map_err(|_| KurentoError::marshall("'sdpMLineIndex' must be >= 0"))?;
            ep.add_ice_candidate(candidate, sdp_mid, mline).map_err(values::media_error)?;
            None
        }
        "requestKeyframe" => {
            ep.request_keyframe();
            None
        }
        "createDataChannel" => {
            let non_negative = |v: Option<i64>| v.filter(|n| *n >= 0).map(|n| n.min(i64::from(u32::MAX)) as u32);
            let options = media::DataChannelOptions {
                label: args.opt_str("label")?.unwrap_or("").to_owned(),
                ordered: args.opt_bool("ordered")?.unwrap_or(true),
                max_packet_lifetime_ms: non_negative(args.opt_int("maxPacketLifeTime")?),
                max_retransmits: non_negative(args.opt_int("maxRetransmits")?),
                protocol: args.opt_str("protocol")?.unwrap_or("").to_owned(),
            };
            ep.create_data_channel(options).map_err(values::media_error)?;
            None
        }
        "closeDataChannel" => {
            let id = i32::try_from(args.int("channelId")?)
                .map_err(|_| KurentoError::marshall("'channelId' is out of range"))?;
            ep.close_data_channel(id).map_err(values::media_error)?;
            None
        }
        _ if values::is_getter(op, "stunServerAddress") => {
            Some(Value::from(ep.settings().stun_server_address.unwrap_or_default()))
        }
        _ if values::is_setter(op, "stunServerAddress") => {
            let addr = args.str("stunServerAddress")?;
            ep.set_stun_server(Some(addr.to_owned()).filter(|a| !a.is_empty()), ep.settings().stun_server_port);
            None
        }
        _ if values::is_getter(op, "stunServerPort") => {
            Some(Value::from(ep.settings().stun_server_port.unwrap_or(3478)))
        }
        _ if values::is_setter(op, "stunServerPort") => {
            let port = u16::try_from(args.int("stunServerPort")?)
                .map_err(|_| KurentoError::marshall("'stunServerPort' must be a port number"))?;
            ep.set_stun_server(ep.settings().stun_server_address, Some(port));
            None
        }
        _ if values::is_getter(op, "turnUrl") => Some(Value::from(ep.settings().turn_url.unwrap_or_default())),
        _ if values::is_setter(op, "turnUrl") => {
            let url = args.str("turnUrl")?;
            ep.set_turn_url(Some(url.to_owned()).filter(|u| !u.is_empty()));
            None
        }
        _ if values::is_getter(op, "ICECandidatePairs") => Some(Value::Array(
            ep.candidate_pairs()
                .into_iter()
                .map(|p| {
                    json!({"__module__": "kurento", "__type__": "IceCandidatePair", "streamId": p.stream_id,
                           "componentId": p.component_id, "localCandidate": p.local_candidate,
                           "remoteCandidate": p.remote_candidate})
                })
                .collect(),
        )),
        _ if values::is_getter(op, "IceConnectionState") => Some(Value::Array(
            ep.ice_states()
                .into_iter()
                .map(|(stream, component, state)| {
                    json!({"__module__": "kurento", "__type__": "IceConnection", "streamId": stream,
                           "componentId": component, "state": values::ice_state_name(state)})
                })
                .collect(),
        )),
        _ => return Ok(Outcome::NotMine),
    };
    Ok(value.into())
}
