//! Kurento value encodings: enums as strings, timestamps, property accessor names, and the
//! mapping of media-plane errors to Kurento errors.

use rheo_media as media;
use serde_json::{json, Value};

use crate::protocol::KurentoError;

use super::Result;

pub fn now_secs() -> i64 {
    now_millis() / 1000
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn media_kind_name(kind: media::MediaKind) -> &'static str {
    match kind {
        media::MediaKind::Audio => "AUDIO",
        media::MediaKind::Video => "VIDEO",
        media::MediaKind::Data => "DATA",
    }
}

pub const MEDIA_TYPES: &[&str] = &["AUDIO", "VIDEO", "DATA"];

pub fn media_kind(name: &str) -> Option<media::MediaKind> {
    match name {
        "AUDIO" => Some(media::MediaKind::Audio),
        "VIDEO" => Some(media::MediaKind::Video),
        "DATA" => Some(media::MediaKind::Data),
        _ => None,
    }
}

pub fn media_state_name(s: media::MediaState) -> &'static str {
    match s {
        media::MediaState::Disconnected => "DISCONNECTED",
        media::MediaState::Connected => "CONNECTED",
    }
}

pub fn connection_state_name(s: media::ConnectionState) -> &'static str {
    match s {
        media::ConnectionState::Disconnected => "DISCONNECTED",
        media::ConnectionState::Connected => "CONNECTED",
    }
}

pub fn ice_state_name(s: media::IceComponentState) -> &'static str {
    match s {
        media::IceComponentState::Disconnected => "DISCONNECTED",
        media::IceComponentState::Gathering => "GATHERING",
        media::IceComponentState::Connecting => "CONNECTING",
        media::IceComponentState::Connected => "CONNECTED",
        media::IceComponentState::Ready => "READY",
        media::IceComponentState::Failed => "FAILED",
    }
}

/// Whether `operation` is the getter of `property` (`getName` for `name`, `getICECandidatePairs`
/// for `ICECandidatePairs`).
pub fn is_getter(operation: &str, property: &str) -> bool {
    accessor_matches(operation, "get", property)
}

pub fn is_setter(operation: &str, property: &str) -> bool {
    accessor_matches(operation, "set", property)
}

fn accessor_matches(operation: &str, prefix: &str, property: &str) -> bool {
    let Some(rest) = operation.strip_prefix(prefix) else {
        return false;
    };
    let mut p = property.chars();
    let mut r = rest.chars();
    match (p.next(), r.next()) {
        (Some(a), Some(b)) if a.to_ascii_uppercase() == b => p.as_str() == r.as_str(),
        _ => false,
    }
}

/// A media-plane failure as the Kurento error KMS would send.
pub fn media_error(e: media::Error) -> KurentoError {
    use media::ErrorKind as K;
    let (code, name) = match e.kind {
        K::SdpParse => (40201, "SDP_PARSE_ERROR"),
        K::SdpNegotiation => (40206, "SDP_END_POINT_PROCESS_OFFER_ERROR"),
        K::AlreadyNegotiated => (40208, "SDP_END_POINT_ALREADY_NEGOTIATED"),
        K::NoOfferGenerated => (40209, "SDP_END_POINT_NOT_OFFER_GENERATED"),
        K::AnswerAlreadyProcessed => (40210, "SDP_END_POINT_ANSWER_ALREADY_PROCCESED"),
        K::NoLocalSdp => (40202, "SDP_END_POINT_NO_LOCAL_SDP_ERROR"),
        K::NoRemoteSdp => (40203, "SDP_END_POINT_NO_REMOTE_SDP_ERROR"),
        K::IceCandidate => (40401, "ICE_ADD_CANDIDATE_ERROR"),
        K::IceGather => (40400, "ICE_GATHER_CANDIDATES_ERROR"),
        K::Connect => (40004, "CONNECT_ERROR"),
        K::InvalidArgument => (40001, "MARSHALL_ERROR"),
        K::Internal => (40003, "UNEXPECTED_ERROR"),
    };
    KurentoError::new(code, name, e.message)
}

/// Kurento's UriEndpointState name.
pub fn uri_endpoint_state_name(state: media::UriEndpointState) -> &'static str {
    match state {
        media::UriEndpointState::Stop => "STOP",
        media::UriEndpointState::Start => "START",
        media::UriEndpointState::Pause => "PAUSE",
    }
}

/// `Tag` complex value.
pub fn tag_value(key: &str, value: &str) -> Value {
    json!({"__module__": "kurento", "__type__": "Tag", "key": key, "value": value})
}

/// Parses an optional `mediaType` argument.
pub fn opt_media_kind(args: super::Args<'_>, name: &str) -> Result<Option<media::MediaKind>> {
    Ok(args.opt_enum(name, MEDIA_TYPES)?.and_then(media_kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessor_names() {
        assert!(is_getter("getName", "name"));
        assert!(is_setter("setName", "name"));
        assert!(is_getter("getICECandidatePairs", "ICECandidatePairs"));
        assert!(is_getter("getIceConnectionState", "IceConnectionState"));
        assert!(is_getter("getMediaPipeline", "mediaPipeline"));
        assert!(!is_getter("getNames", "name"));
        assert!(!is_getter("get", "name"));
        assert!(!is_setter("getName", "name"));
    }
}
