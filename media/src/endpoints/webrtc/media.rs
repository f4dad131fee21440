//! The media chains: an RTP sender into webrtcbin for each sent m-line (fed by its source's
//! shared packetizer), and depayloader ! appsink out of it for each received stream, feeding
//! the endpoint's outputs.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use gst::prelude::*;

use super::endpoint::{SendChain, WrtcInner};
use crate::api_contract::*;
use crate::endpoints::rtp_chains::{self, ReceiveChain};
use crate::endpoints::sdp::Codec;
use crate::graph::rtp_fanout::{Packetization, ReadyFn, RtpSender};

impl WrtcInner {
    /// The RTP sender of `codec` into `pad` (a webrtcbin sink pad), bound to its source's
    /// shared packetizer when connected. Its SSRC is its own: RTP received and sent back
    /// unchanged into the same session would be dropped.
    pub(super) fn build_send_chain(
        &self,
        media: MediaKind,
        codec: &Codec,
        ssrc: u32,
        pad: &gst::Pad,
    ) -> crate::Result<()> {
        let packetization = Packetization {
            format: codec.format,
            mtu: self.settings.lock().mtu,
            single_nal: codec.single_nal,
        };
        let sender = RtpSender::new(
            pad,
            codec.format,
            codec.pt,
            codec.clock_rate.max(1) as u32,
            ssrc,
            transport_ready(&self.webrtcbin, pad),
            Some(self.flow.clone()),
        )?;
        if media == MediaKind::Video {
            sender.set_bitrate(self.send_bitrate.clone());
        }
        self.send.lock().push(SendChain {
            media,
            format: codec.format,
            packetization,
            ssrc,
            sender,
        });
        Ok(())
    }

    pub(super) fn teardown_send(&self) {
        let chains: Vec<SendChain> = self.send.lock().drain(..).collect();
        for chain in &chains {
            chain.sender.close();
        }
        drop(chains);
        let ours: Vec<gst::Element> = self
            .bin
            .children()
            .into_iter()
            .filter(|c| c != &self.webrtcbin)
            .collect();
        for c in ours {
            crate::graph::teardown::remove_from(&self.bin, &c);
        }
        let pads: Vec<gst::Pad> = self.webrtcbin.sink_pads();
        for p in pads {
            self.webrtcbin.release_request_pad(&p);
        }
    }

    pub(super) fn on_src_pad(self: &Arc<Self>, pad: &gst::Pad) {
        if pad.direction() != gst::PadDirection::Src || self.released.load(Ordering::SeqCst) {
            return;
        }
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(s) = caps.structure(0) else { return };
        let media = match s.get::<&str>("media") {
            Ok("audio") => MediaKind::Audio,
            Ok("video") => MediaKind::Video,
            _ => return,
        };
        if let Ok(ssrc) = s.get::<u32>("ssrc") {
            self.recv_ssrcs.lock().insert(ssrc, media);
            if s.get::<bool>("rtcp-fb-nack").unwrap_or(false) {
                self.ask_for_lost_packets(ssrc);
            }
        }
        let enc = s.get::<&str>("encoding-name").unwrap_or("");
        let built = rtp_chains::receive_chain(enc, self.hub(media).expect("a/v"));
        let ReceiveChain {
            elements: chain,
            depayloader,
        } = match built {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(element = %self.id, "receive chain: {}", e.message);
                return;
            }
        };
        if self.bin.add_many(&chain).is_err() {
            return;
        }
        if chain.len() > 1 && gst::Element::link_many(&chain).is_err() {
            tracing::warn!(element = %self.id, "receive chain link failed");
            return;
        }
        for e in &chain {
            let _ = e.sync_state_with_parent();
        }
        if let Err(e) = pad.link(&chain[0].static_pad("sink").expect("sink")) {
            tracing::warn!(element = %self.id, "link {}: {e:?}", pad.name());
        }
        if let Some(depayloader) = depayloader {
            // No keyframe request from here (a webrtcbin streaming thread inside pad-added): the
            // depayloader waits for / requests keyframes itself and consumers ask on their own.
            self.recv_depayloaders.lock().insert(media, depayloader);
        }
    }

    /// NACK for what `ssrc` loses. webrtcbin 1.22 turns retransmission on only for SSRCs it
    /// can tie to a transceiver, which an offer without `a=ssrc` lines (webrtcbin's own, for
    /// one) never lets it do: its packets were then lost for good.
    fn ask_for_lost_packets(&self, ssrc: u32) {
        self.nack_ssrcs.lock().insert(ssrc);
        let jitterbuffer = self
            .jitterbuffers
            .lock()
            .get(&ssrc)
            .and_then(|w| w.upgrade());
        if let Some(jitterbuffer) = jitterbuffer {
            jitterbuffer.set_property("do-retransmission", true);
        }
        // RFC 4585 lets a session send one early feedback packet per regular RTCP interval; at
        // rtpsession's 5 s minimum, NACKs after the first waited for the next regular report,
        // long after the jitter buffer gave their packets up.
        let sessions = self
            .webrtcbin
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("rtpbin"))
            .and_then(|e| e.downcast::<gst::Bin>().ok())
            .map(|rtpbin| rtpbin.children())
            .unwrap_or_default();
        for session in sessions {
            if session.factory().is_some_and(|f| f.name() == "rtpsession") {
                session.set_property(
                    "rtcp-min-interval",
                    super::endpoint::RTCP_MIN_INTERVAL.nseconds(),
                );
            }
        }
    }

    /// PLI/FIR to the sending browser.
    pub(super) fn request_remote_keyframe(&self, media: MediaKind) {
        let depayloader = self.recv_depayloaders.lock().get(&media).cloned();
        if let Some(depayloader) = depayloader {
            rtp_chains::request_keyframe(&depayloader);
        }
    }
}

/// When webrtcbin takes packets on `pad` without blocking the caller: the pad is linked to its
/// transceiver's stream (negotiated), and the transport's send bin has let RTP through (it
/// blocks RTP until the DTLS keys are set, and its ICE sink until ICE connects). Both blocks
/// are pad probes, seen as the pads' blocked flag; once gone they never come back.
fn transport_ready(webrtcbin: &gst::Element, pad: &gst::Pad) -> ReadyFn {
    let webrtcbin = webrtcbin.downgrade();
    let pad = pad.downgrade();
    Box::new(move || {
        let (Some(webrtcbin), Some(pad)) = (webrtcbin.upgrade(), pad.upgrade()) else {
            return false;
        };
        let linked = pad
            .downcast_ref::<gst::GhostPad>()
            .is_some_and(|g| g.target().is_some());
        if !linked || pad.is_blocked() {
            return false;
        }
        let Some(bin) = webrtcbin.downcast_ref::<gst::Bin>() else {
            return false;
        };
        let send_bins: Vec<gst::Element> = bin
            .children()
            .into_iter()
            .filter(|c| c.type_().name() == "TransportSendBin")
            .collect();
        !send_bins.is_empty() && send_bins.iter().all(rtp_unblocked)
    })
}

/// The transport send bin's RTP path is open: neither the pad feeding its DTLS-SRTP encoder
/// nor the encoder's output to the ICE sink carries a blocking probe.
fn rtp_unblocked(send_bin: &gst::Element) -> bool {
    let Some(ghost) = send_bin
        .static_pad("rtp_sink")
        .and_then(|p| p.downcast::<gst::GhostPad>().ok())
    else {
        return false;
    };
    let into_encoder = ghost.internal().is_some_and(|p| !p.is_blocked());
    let encoder_out = ghost
        .target()
        .and_then(|t| t.parent_element())
        .and_then(|enc| enc.static_pad("src"))
        .is_some_and(|p| !p.is_blocked());
    into_encoder && encoder_out
}
