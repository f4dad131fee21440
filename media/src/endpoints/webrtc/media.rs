//! The media chains: appsrc ! payloader into webrtcbin for each sent m-line, and depayloader !
//! appsink out of it for each received stream, feeding the endpoint's outputs.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use gst::prelude::*;

use super::endpoint::{SendChain, WrtcInner};
use crate::api_contract::*;
use crate::graph::output::{AppSrcConsumer, Format};
use crate::{err, ErrorKind};

impl WrtcInner {
    pub(super) fn make_payloader(
        format: Format,
        pt: u32,
        ssrc: u32,
        mtu: u32,
    ) -> crate::Result<gst::Element> {
        let pay = match format {
            Format::Vp8 => {
                let p = make("rtpvp8pay")?;
                p.set_property_from_str("picture-id-mode", "15-bit");
                p
            }
            Format::H264 => {
                let p = make("rtph264pay")?;
                p.set_property("config-interval", -1i32);
                if p.find_property("aggregate-mode").is_some() {
                    p.set_property_from_str("aggregate-mode", "zero-latency");
                }
                p
            }
            Format::Opus => make("rtpopuspay")?,
            Format::RawVideo => return Err(err(ErrorKind::Internal, "cannot payload raw video")),
        };
        pay.set_property("pt", pt);
        pay.set_property("ssrc", ssrc);
        pay.set_property("mtu", mtu);
        Ok(pay)
    }

    /// appsrc ! pay ! `pad` (a webrtcbin sink pad). The payloader sets its own SSRC: RTP
    /// received and sent back unchanged into the same session would be dropped, so media is
    /// depayloaded on the way in and payloaded again here.
    pub(super) fn build_send_chain(
        &self,
        media: MediaKind,
        format: Format,
        pt: u32,
        ssrc: u32,
        pad: &gst::Pad,
    ) -> crate::Result<()> {
        let n = self.ctx.next();
        let appsrc = AppSrcConsumer::make_appsrc(&format!("send-{media:?}-{n}").to_lowercase());
        // Caps come with the first buffer (the producer's full caps).
        let pay = Self::make_payloader(format, pt, ssrc, self.settings.lock().mtu)?;
        self.bin
            .add_many([appsrc.upcast_ref::<gst::Element>(), &pay])
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        appsrc
            .link(&pay)
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        pay.static_pad("src")
            .expect("pay src")
            .link(pad)
            .map_err(|e| err(ErrorKind::Internal, format!("link to webrtcbin: {e:?}")))?;
        let consumer = AppSrcConsumer::new(appsrc.clone(), true, Some((self.flow.clone(), media)));
        // Browser PLI/FIR arrives as an upstream force-key-unit event: forward to our producer.
        let weak_c = Arc::downgrade(&consumer);
        appsrc.static_pad("src").expect("appsrc src").add_probe(
            gst::PadProbeType::EVENT_UPSTREAM,
            move |_, info| {
                if let Some(ev) = info.event() {
                    if gst_video::ForceKeyUnitEvent::is(ev) {
                        if let Some(c) = weak_c.upgrade() {
                            c.forward_keyframe_request();
                        }
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
        let _ = pay.sync_state_with_parent();
        let _ = appsrc.sync_state_with_parent();
        self.send.lock().push(SendChain {
            media,
            format,
            ssrc,
            consumer,
        });
        Ok(())
    }

    pub(super) fn teardown_send(&self) {
        let chains: Vec<SendChain> = self.send.lock().drain(..).collect();
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
        }
        let enc = s
            .get::<&str>("encoding-name")
            .unwrap_or("")
            .to_ascii_uppercase();
        let build = || -> crate::Result<(Vec<gst::Element>, Option<gst_app::AppSink>)> {
            let mut chain = Vec::new();
            let out_caps = match enc.as_str() {
                "VP8" => {
                    let d = make("rtpvp8depay")?;
                    set_if(&d, "request-keyframe", true);
                    set_if(&d, "wait-for-keyframe", true);
                    chain.push(d);
                    Format::Vp8.caps()
                }
                "H264" => {
                    let d = make("rtph264depay")?;
                    set_if(&d, "request-keyframe", true);
                    set_if(&d, "wait-for-keyframe", true);
                    chain.push(d);
                    let parse = make("h264parse")?;
                    parse.set_property("config-interval", -1i32);
                    chain.push(parse);
                    Format::H264.caps()
                }
                "OPUS" => {
                    chain.push(make("rtpopusdepay")?);
                    Format::Opus.caps()
                }
                _ => {
                    let f = make("fakesink")?;
                    f.set_property("async", false);
                    f.set_property("sync", false);
                    chain.push(f);
                    return Ok((chain, None));
                }
            };
            let sink = gst_app::AppSink::builder()
                .sync(false)
                .async_(false)
                .caps(&out_caps)
                .build();
            let hub = Arc::downgrade(self.hub(media).expect("a/v"));
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                        let (Some(h), Some(buf), Some(caps)) = (
                            hub.upgrade(),
                            crate::graph::output::running_time_buffer(&sample),
                            sample.caps(),
                        ) else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        // An H.264 keyframe sent on request can leave the depayloader untimed;
                        // it is the newest frame, so it takes its arrival time.
                        let buf = if buf.pts().is_none() {
                            let mut buf = buf;
                            buf.make_mut().set_pts(s.current_running_time());
                            buf
                        } else {
                            buf
                        };
                        h.push(&buf, caps);
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            chain.push(sink.clone().upcast());
            Ok((chain, Some(sink)))
        };
        let (chain, sink) = match build() {
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
        if sink.is_some() {
            // No keyframe request from here (a webrtcbin streaming thread inside pad-added): the
            // depayloader waits for / requests keyframes itself and consumers ask on their own.
            self.recv_depayloaders
                .lock()
                .insert(media, chain[0].clone());
        }
    }

    /// PLI/FIR to the sending browser: an upstream force-key-unit from the depayloader's input
    /// (h264parse, later in the chain, keeps such requests to itself instead of passing them on).
    pub(super) fn request_remote_keyframe(&self, media: MediaKind) {
        let depayloader = self.recv_depayloaders.lock().get(&media).cloned();
        if let Some(depayloader) = depayloader {
            if let Some(pad) = depayloader.static_pad("sink") {
                let ev = gst_video::UpstreamForceKeyUnitEvent::builder()
                    .all_headers(true)
                    .build();
                pad.push_event(ev);
            }
        }
    }
}

fn make(factory: &str) -> crate::Result<gst::Element> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| err(ErrorKind::Internal, format!("{factory}: {e}")))
}

fn set_if(e: &gst::Element, prop: &str, v: impl Into<gst::glib::Value>) {
    if e.find_property(prop).is_some() {
        e.set_property(prop, v);
    }
}
