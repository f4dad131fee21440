//! RTP statistics: Kurento's inbound and outbound stream stats, from webrtcbin's.

use std::collections::HashMap;

use gst::prelude::*;

use super::endpoint::WebRtcEndpoint;
use crate::api_contract::*;
use crate::graph::output::Format;

impl WebRtcEndpoint {
    /// RTP counters from webrtcbin's get-stats.
    pub(super) fn rtp_stats(&self, media: Option<MediaKind>) -> Vec<RtpStats> {
        let i = &self.inner;
        let r = i.promise("get-stats", Some(None::<gst::Pad>.to_value()));
        let Ok(Some(reply)) = r else {
            return Vec::new();
        };
        let sends: Vec<(u32, MediaKind, Format)> = i
            .send
            .lock()
            .iter()
            .map(|c| (c.ssrc, c.media, c.format))
            .collect();
        let recv_formats: HashMap<MediaKind, Option<Format>> = [MediaKind::Audio, MediaKind::Video]
            .into_iter()
            .map(|m| (m, i.hub(m).and_then(|h| h.format())))
            .collect();
        let mut out = Vec::new();
        for (_, v) in reply.iter() {
            let Ok(s) = v.get::<gst::Structure>() else {
                continue;
            };
            let ty = s.get::<gst_webrtc::WebRTCStatsType>("type").ok();
            let inbound = match ty {
                Some(gst_webrtc::WebRTCStatsType::InboundRtp) => true,
                Some(gst_webrtc::WebRTCStatsType::OutboundRtp) => false,
                _ => continue,
            };
            let ssrc = s.get::<u32>("ssrc").unwrap_or(0);
            let kind = s.get::<&str>("kind").ok().and_then(|k| match k {
                "audio" => Some(MediaKind::Audio),
                "video" => Some(MediaKind::Video),
                _ => None,
            });
            let send = sends.iter().find(|(ss, _, _)| *ss == ssrc);
            // Our own SSRC bookkeeping first: webrtcbin labels every bundled stream with the
            // first transceiver's kind.
            let known = if inbound {
                i.recv_ssrcs.lock().get(&ssrc).copied()
            } else {
                send.map(|s| s.1)
            };
            if inbound && known.is_none() {
                // Not a stream we receive media from (e.g. its RTX SSRC).
                continue;
            }
            let m = known.or(kind);
            if media.is_some() && m.is_some() && media != m {
                continue;
            }
            let codec = if inbound {
                m.and_then(|m| recv_formats.get(&m).copied().flatten())
            } else {
                send.map(|s| s.2)
            };
            let u = |k: &str| -> u64 {
                s.get::<u64>(k)
                    .ok()
                    .or_else(|| s.get::<u32>(k).ok().map(u64::from))
                    .unwrap_or(0)
            };
            out.push(RtpStats {
                inbound,
                media: m,
                ssrc,
                codec: codec
                    .map(|c| c.codec_name().to_string())
                    .unwrap_or_default(),
                packets: if inbound {
                    u("packets-received")
                } else {
                    u("packets-sent")
                },
                bytes: if inbound {
                    u("bytes-received")
                } else {
                    u("bytes-sent")
                },
                packets_lost: s.get::<i64>("packets-lost").unwrap_or(0),
                jitter: s.get::<f64>("jitter").unwrap_or(0.0),
                fraction_lost: s.get::<f64>("fraction-lost").unwrap_or(0.0),
                nack_count: u("nack-count"),
                pli_count: u("pli-count"),
                fir_count: u("fir-count"),
                remb: 0,
            });
        }
        out
    }
}
