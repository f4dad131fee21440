//! MediaElement: connections between elements, media flow and transcoding queries, stats, dot.

use std::sync::Arc;

use rheo_media as media;
use serde_json::{json, Map, Value};

use super::{catalogue, stored_int_property, values, Args, MediaObject, Outcome, Result, World};
use crate::protocol::KurentoError;

const ALL_KINDS: [media::MediaKind; 3] = [
    media::MediaKind::Audio,
    media::MediaKind::Video,
    media::MediaKind::Data,
];

pub(super) fn invoke(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let element = obj
        .element()
        .ok_or_else(|| KurentoError::unexpected("not a media element"))?;
    let value = match op {
        "connect" => {
            connect(world, obj, args)?;
            None
        }
        "disconnect" => {
            disconnect(world, obj, args)?;
            None
        }
        "getSourceConnections" => Some(connections(obj, args, false)?),
        "getSinkConnections" => Some(connections(obj, args, true)?),
        "isMediaFlowingIn" => Some(Value::from(
            element.is_media_flowing_in(required_kind(args)?),
        )),
        "isMediaFlowingOut" => Some(Value::from(
            element.is_media_flowing_out(required_kind(args)?),
        )),
        "isMediaTranscoding" => Some(Value::from(
            element.is_media_transcoding(required_kind(args)?),
        )),
        "getGstreamerDot" => Some(Value::from(element.gstreamer_dot())),
        "dumpGstreamerDot" => None,
        "getStats" => {
            let mut all = stats(element, values::opt_media_kind(args, "mediaType")?);
            data_channel_stats(element, &mut all);
            latency_stats(
                obj,
                element,
                values::opt_media_kind(args, "mediaType")?,
                &mut all,
            );
            Some(all)
        }
        "setVideoFormat" => {
            super::media_format::set_video_format(element, args)?;
            None
        }
        "setAudioFormat" => {
            super::media_format::set_audio_format(element, args)?;
            None
        }
        _ => {
            return stored_int_property(
                obj,
                op,
                args,
                &[
                    ("encoderBitrate", 0),
                    ("minEncoderBitrate", 0),
                    ("maxEncoderBitrate", 0),
                ],
            )
        }
    };
    Ok(value.into())
}

fn required_kind(args: Args<'_>) -> Result<media::MediaKind> {
    values::opt_media_kind(args, "mediaType")?
        .ok_or_else(|| KurentoError::arg_required("mediaType"))
}

fn kinds(args: Args<'_>) -> Result<Vec<media::MediaKind>> {
    Ok(match values::opt_media_kind(args, "mediaType")? {
        Some(k) => vec![k],
        None => ALL_KINDS.to_vec(),
    })
}

/// Only the default media description exists (no multi-pad elements yet).
fn check_descriptions(args: Args<'_>) -> Result<()> {
    for name in ["sourceMediaDescription", "sinkMediaDescription"] {
        if let Some(d) = args.opt_str(name)? {
            if !d.is_empty() && d != "default" {
                return Err(KurentoError::connect_error(format!("Unknown {name} '{d}'")));
            }
        }
    }
    Ok(())
}

fn sink_of(world: &dyn World, source: &MediaObject, args: Args<'_>) -> Result<Arc<MediaObject>> {
    let sink_id = args.str("sink")?;
    let sink = world.object(sink_id)?;
    if !sink.class.is_a(&catalogue::MEDIA_ELEMENT) {
        return Err(KurentoError::arg_type("sink", "MediaElement"));
    }
    if sink.pipeline != source.pipeline {
        return Err(KurentoError::connect_error(
            "Cannot connect elements of different pipelines",
        ));
    }
    Ok(sink)
}

fn connection_data(source: &str, sink: &str, kind: media::MediaKind) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sink".into(), Value::from(sink));
    m.insert(
        "mediaType".into(),
        Value::from(values::media_kind_name(kind)),
    );
    m.insert("sourceMediaDescription".into(), Value::from("default"));
    m.insert("sinkMediaDescription".into(), Value::from("default"));
    let _ = source;
    m
}

fn connect(world: &dyn World, source: &Arc<MediaObject>, args: Args<'_>) -> Result<()> {
    let sink = sink_of(world, source, args)?;
    check_descriptions(args)?;
    let (src_el, sink_el) = (
        source.element().expect("checked"),
        sink.element().expect("checked"),
    );
    let mut kinds = kinds(args)?;
    if values::opt_media_kind(args, "mediaType")?.is_none() {
        // All media, as KMS: those both ends carry (a video-only recorder takes no audio).
        let carried: Vec<_> = kinds
            .iter()
            .copied()
            .filter(|k| src_el.can_connect(sink_el, *k))
            .collect();
        if carried.iter().any(|k| *k != media::MediaKind::Data) {
            kinds = carried;
        }
    }
    for kind in kinds {
        let replaced = src_el.connect(sink_el, kind).map_err(values::media_error)?;
        // The sink's previous source of this media loses its connection.
        if let Some(old_source_id) = replaced.filter(|old| *old != source.id) {
            if let Ok(old_source) = world.object(&old_source_id) {
                world.raise(
                    &old_source,
                    "ElementDisconnected",
                    connection_data(&old_source_id, &sink.id, kind),
                );
            }
        }
        world.raise(
            source,
            "ElementConnected",
            connection_data(&source.id, &sink.id, kind),
        );
    }
    Ok(())
}

fn disconnect(world: &dyn World, source: &Arc<MediaObject>, args: Args<'_>) -> Result<()> {
    let sink = sink_of(world, source, args)?;
    check_descriptions(args)?;
    let (src_el, sink_el) = (
        source.element().expect("checked"),
        sink.element().expect("checked"),
    );
    for kind in kinds(args)? {
        let existed = src_el
            .disconnect(sink_el, kind)
            .map_err(values::media_error)?;
        if existed {
            world.raise(
                source,
                "ElementDisconnected",
                connection_data(&source.id, &sink.id, kind),
            );
        }
    }
    Ok(())
}

/// `getSinkConnections` (links where `obj` is the source) or `getSourceConnections`.
fn connections(obj: &MediaObject, args: Args<'_>, as_source: bool) -> Result<Value> {
    let kind = values::opt_media_kind(args, "mediaType")?;
    let description = args.opt_str("description")?;
    if description.is_some_and(|d| d != "default") {
        return Ok(Value::Array(vec![]));
    }
    let element = obj
        .element()
        .ok_or_else(|| KurentoError::unexpected("not a media element"))?;
    let list = element
        .links()
        .into_iter()
        .filter(|l| {
            if as_source {
                l.source == obj.id
            } else {
                l.sink == obj.id
            }
        })
        .filter(|l| kind.is_none_or(|k| k == l.media))
        .map(|l| {
            json!({
                "__module__": "kurento", "__type__": "ElementConnectionData",
                "source": l.source, "sink": l.sink, "type": values::media_kind_name(l.media),
                "sourceDescription": "default", "sinkDescription": "default"
            })
        })
        .collect();
    Ok(Value::Array(list))
}

/// `getStats`: Kurento's RTC inbound/outbound stream stats, keyed by their id.
/// A WebRtcEndpoint's `datachannel` entries (RTCDataChannelStats).
fn data_channel_stats(element: &media::Element, all: &mut Value) {
    let Some(endpoint) = element.webrtc() else {
        return;
    };
    let now = values::now_millis();
    for c in endpoint.data_channel_stats() {
        let id = format!("datachannel_{}", c.id);
        let entry = json!({"__module__": "kurento", "__type__": "RTCDataChannelStats",
                           "id": id, "type": "datachannel",
                           "timestamp": now as f64 / 1000.0, "timestampMillis": now,
                           "label": c.label, "protocol": c.protocol, "datachannelid": c.id,
                           "state": c.state, "messagesSent": c.messages_sent,
                           "bytesSent": c.bytes_sent, "messagesReceived": c.messages_received,
                           "bytesReceived": c.bytes_received});
        if let Some(map) = all.as_object_mut() {
            map.insert(id, entry);
        }
    }
}

/// With the pipeline's `latencyStats` on: the `element` entry (ElementStats, `inputLatency`), or
/// for endpoints the `endpoint` entry (EndpointStats, also `E2ELatency`), in nanoseconds.
fn latency_stats(
    obj: &MediaObject,
    element: &media::Element,
    kind: Option<media::MediaKind>,
    all: &mut Value,
) {
    let latencies: Vec<Value> = element
        .input_latencies()
        .into_iter()
        .filter(|(m, _)| kind.is_none_or(|k| k == *m))
        .map(|(m, avg)| {
            json!({"__module__": "kurento", "__type__": "MediaLatencyStat",
                   "name": format!("{}_{}", obj.id, values::media_kind_name(m)),
                   "type": values::media_kind_name(m), "avg": avg})
        })
        .collect();
    if latencies.is_empty() {
        return;
    }
    let now = values::now_millis();
    let endpoint = obj.class.is_a(&super::catalogue::ENDPOINT);
    let (ty, class) = if endpoint {
        ("endpoint", "EndpointStats")
    } else {
        ("element", "ElementStats")
    };
    let id = format!("{}_{ty}", obj.id);
    let mut entry = json!({"__module__": "kurento", "__type__": class, "id": id, "type": ty,
                           "timestamp": now as f64 / 1000.0, "timestampMillis": now,
                           "inputLatency": latencies.clone()});
    if endpoint {
        entry["E2ELatency"] = Value::Array(latencies);
    }
    if let Some(map) = all.as_object_mut() {
        map.insert(id, entry);
    }
}

fn stats(element: &media::Element, kind: Option<media::MediaKind>) -> Value {
    let now = values::now_millis();
    let mut out = Map::new();
    for s in element.stats(kind) {
        let (ty, class) = if s.inbound {
            ("inboundrtp", "RTCInboundRTPStreamStats")
        } else {
            ("outboundrtp", "RTCOutboundRTPStreamStats")
        };
        let id = format!(
            "{}_{}_{}",
            ty,
            s.media.map_or("UNKNOWN", values::media_kind_name),
            s.ssrc
        );
        let mut m = json!({
            "__module__": "kurento", "__type__": class, "id": id, "type": ty,
            "timestamp": now as f64 / 1000.0, "timestampMillis": now,
            "ssrc": s.ssrc.to_string(), "codecId": s.codec, "isRemote": false,
            "firCount": s.fir_count, "pliCount": s.pli_count, "nackCount": s.nack_count, "sliCount": 0,
            "remb": s.remb, "packetsLost": s.packets_lost, "fractionLost": s.fraction_lost,
        });
        let obj = m.as_object_mut().expect("object literal");
        if s.inbound {
            obj.insert("bytesReceived".into(), Value::from(s.bytes));
            obj.insert("packetsReceived".into(), Value::from(s.packets));
            obj.insert("jitter".into(), Value::from(s.jitter));
        } else {
            obj.insert("bytesSent".into(), Value::from(s.bytes));
            obj.insert("packetsSent".into(), Value::from(s.packets));
            obj.insert("targetBitrate".into(), Value::from(0.0));
            obj.insert("roundTripTime".into(), Value::from(0.0));
        }
        out.insert(id, m);
    }
    Value::Object(out)
}
