//! Media-plane events as Kurento events: the type name and the event-specific `data` fields.

use rheo_media::MediaEvent;
use serde_json::{json, Map, Value};

use super::values::{
    connection_state_name, ice_state_name, media_kind_name, media_state_name,
    uri_endpoint_state_name,
};

/// `(event type, fields)` for one media-plane event; `None` for media-plane notices that are not
/// Kurento events of these classes.
pub fn kurento_event(event: &MediaEvent) -> Option<(String, Map<String, Value>)> {
    let (name, fields) = match event {
        MediaEvent::IceCandidateFound {
            candidate,
            sdp_mid,
            sdp_mline_index,
        } => (
            "IceCandidateFound",
            json!({"candidate": {"__module__": "kurento", "__type__": "IceCandidate", "candidate": candidate,
                                 "sdpMid": sdp_mid, "sdpMLineIndex": sdp_mline_index}}),
        ),
        MediaEvent::IceGatheringDone => ("IceGatheringDone", json!({})),
        MediaEvent::IceComponentStateChanged {
            stream_id,
            component_id,
            state,
        } => (
            "IceComponentStateChanged",
            json!({"streamId": stream_id, "componentId": component_id, "state": ice_state_name(*state)}),
        ),
        MediaEvent::NewCandidatePairSelected {
            stream_id,
            component_id,
            local_candidate,
            remote_candidate,
        } => (
            "NewCandidatePairSelected",
            json!({"candidatePair": {"__module__": "kurento", "__type__": "IceCandidatePair",
                   "streamId": stream_id, "componentId": component_id,
                   "localCandidate": local_candidate, "remoteCandidate": remote_candidate}}),
        ),
        MediaEvent::MediaStateChanged { old, new } => (
            "MediaStateChanged",
            json!({"oldState": media_state_name(*old), "newState": media_state_name(*new)}),
        ),
        MediaEvent::ConnectionStateChanged { old, new } => (
            "ConnectionStateChanged",
            json!({"oldState": connection_state_name(*old), "newState": connection_state_name(*new)}),
        ),
        MediaEvent::MediaSessionStarted => ("MediaSessionStarted", json!({})),
        MediaEvent::MediaSessionTerminated => ("MediaSessionTerminated", json!({})),
        MediaEvent::DataChannelOpened { channel_id } => {
            ("DataChannelOpened", json!({"channelId": channel_id}))
        }
        MediaEvent::DataChannelClosed { channel_id } => {
            ("DataChannelClosed", json!({"channelId": channel_id}))
        }
        MediaEvent::OnKeySoftLimit { media } => (
            "OnKeySoftLimit",
            json!({"mediaType": media_kind_name(*media)}),
        ),
        MediaEvent::MediaFlowIn { media, flowing } => (
            "MediaFlowInStateChanged",
            json!({"state": flow_state(*flowing), "padName": "default", "mediaType": media_kind_name(*media)}),
        ),
        MediaEvent::MediaFlowOut { media, flowing } => (
            "MediaFlowOutStateChanged",
            json!({"state": flow_state(*flowing), "padName": "default", "mediaType": media_kind_name(*media)}),
        ),
        MediaEvent::MediaTranscoding {
            media,
            transcoding,
            bin,
        } => (
            "MediaTranscodingStateChanged",
            json!({"state": if *transcoding { "TRANSCODING" } else { "NOT_TRANSCODING" }, "binName": bin,
                   "mediaType": media_kind_name(*media)}),
        ),
        MediaEvent::Error {
            description,
            code,
            kind,
        } => (
            "Error",
            json!({"description": description, "errorCode": code, "type": kind}),
        ),
        MediaEvent::UriEndpointStateChanged { state } => (
            "UriEndpointStateChanged",
            json!({"state": uri_endpoint_state_name(*state)}),
        ),
        MediaEvent::EndOfStream => ("EndOfStream", json!({})),
        MediaEvent::Recording => ("Recording", json!({})),
        MediaEvent::Paused => ("Paused", json!({})),
        MediaEvent::Stopped => ("Stopped", json!({})),
        MediaEvent::ElementMessage { .. } => return None,
        MediaEvent::FilterEvent { event, data_json } => {
            // Fields of an SDK filter's declared event, already in Kurento's encoding.
            let fields = match serde_json::from_str::<Value>(data_json) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            };
            return Some((event.clone(), fields));
        }
    };
    let Value::Object(map) = fields else {
        unreachable!("event fields are JSON objects")
    };
    Some((name.to_owned(), map))
}

fn flow_state(flowing: bool) -> &'static str {
    if flowing {
        "FLOWING"
    } else {
        "NOT_FLOWING"
    }
}

/// The full `data` of an event: its fields plus RaiseBase/Media members.
pub fn event_data(
    source: &str,
    event_type: &str,
    tags: &[(String, String)],
    send_tags: bool,
    mut fields: Map<String, Value>,
) -> Value {
    fields.insert("source".into(), Value::from(source));
    fields.insert(
        "timestampMillis".into(),
        Value::from(super::values::now_millis().to_string()),
    );
    let tags: Vec<Value> = if send_tags {
        tags.iter()
            .map(|(k, v)| super::values::tag_value(k, v))
            .collect()
    } else {
        vec![]
    };
    fields.insert("tags".into(), Value::Array(tags));
    // `type` is the event name, except where the event carries its own (Error's category).
    fields
        .entry("type")
        .or_insert_with(|| Value::from(event_type));
    Value::Object(fields)
}
