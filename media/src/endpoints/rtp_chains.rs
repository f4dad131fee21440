//! What RTP endpoints do with their media: RtpEndpoint's send chain (a payloader of its own;
//! WebRtcEndpoint's senders share their source's, see `graph::rtp_fanout`), and for each
//! received stream a depayloader into an appsink that feeds the endpoint's output.

use std::sync::Arc;

use gst::prelude::*;

use crate::api_contract::MediaKind;
use crate::endpoints::sdp::Codec;
use crate::graph::flow::FlowTracker;
use crate::graph::output::{AppSrcConsumer, Format, Output};
pub(crate) use crate::graph::rtp_fanout::make;
use crate::graph::rtp_fanout::{payloader, Packetization};
use crate::graph::send_bitrate::SendBitrate;
use crate::{err, ErrorKind};

/// A sent stream's chain: `appsrc ! payloader`, added to a bin, its payloader's source pad
/// still to link.
pub(crate) struct SendChain {
    pub appsrc: gst_app::AppSrc,
    pub payloader: gst::Element,
    pub consumer: Arc<AppSrcConsumer>,
}

impl SendChain {
    /// Once linked: brings the chain to its bin's state.
    pub fn start(&self) {
        let _ = self.payloader.sync_state_with_parent();
        let _ = self.appsrc.sync_state_with_parent();
    }
}

/// `appsrc ! payloader` in `bin`, its appsrc fed by the returned consumer (caps come with the
/// first buffer, the producer's full caps); `bitrate`, for video, is what the receiver can take
/// (an encoder feeding the chain keeps to it). The payloader sets its own SSRC: RTP received and
/// sent back unchanged into the same session would be dropped, so media is depayloaded on the
/// way in and payloaded again here. A receiver's PLI/FIR, arriving as an upstream
/// force-key-unit event, is passed on to the producer.
pub(crate) fn send_chain(
    bin: &gst::Bin,
    name: &str,
    codec: &Codec,
    ssrc: u32,
    mtu: u32,
    flow: Option<(Arc<FlowTracker>, MediaKind)>,
    bitrate: Option<Arc<SendBitrate>>,
) -> crate::Result<SendChain> {
    let appsrc = AppSrcConsumer::make_appsrc(name);
    let packetization = Packetization {
        format: codec.format,
        mtu,
        single_nal: codec.single_nal,
    };
    let pay = payloader(packetization, codec.pt, ssrc)?;
    bin.add_many([appsrc.upcast_ref::<gst::Element>(), &pay])
        .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
    appsrc
        .link(&pay)
        .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
    let consumer = AppSrcConsumer::new(appsrc.clone(), true, flow);
    if let Some(bitrate) = bitrate {
        consumer.set_bitrate(bitrate);
    }
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
    Ok(SendChain {
        appsrc,
        payloader: pay,
        consumer,
    })
}

/// A received stream's chain, first element first: the depayloader (and parser) of
/// `encoding_name` into an appsink pushing into `output`, or a fakesink for a codec the
/// pipeline does not carry (then `depayloader` is `None`).
pub(crate) struct ReceiveChain {
    pub elements: Vec<gst::Element>,
    pub depayloader: Option<gst::Element>,
}

pub(crate) fn receive_chain(
    encoding_name: &str,
    output: &Arc<Output>,
) -> crate::Result<ReceiveChain> {
    let mut chain = Vec::new();
    let out_caps = match encoding_name.to_ascii_uppercase().as_str() {
        "VP8" => {
            let d = make("rtpvp8depay")?;
            forward_through_loss(&d);
            chain.push(d);
            Format::Vp8.caps()
        }
        "H264" => {
            let d = make("rtph264depay")?;
            forward_through_loss(&d);
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
        "PCMU" => {
            chain.push(make("rtppcmudepay")?);
            Format::Pcmu.caps()
        }
        "PCMA" => {
            chain.push(make("rtppcmadepay")?);
            Format::Pcma.caps()
        }
        _ => {
            let f = make("fakesink")?;
            f.set_property("async", false);
            f.set_property("sync", false);
            return Ok(ReceiveChain {
                elements: vec![f],
                depayloader: None,
            });
        }
    };
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .async_(false)
        .caps(&out_caps)
        .build();
    let hub = Arc::downgrade(output);
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
                // An H.264 keyframe sent on request can leave the depayloader untimed; it is
                // the newest frame, so it takes its arrival time.
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
    let depayloader = chain.first().cloned();
    chain.push(sink.upcast());
    Ok(ReceiveChain {
        elements: chain,
        depayloader,
    })
}

/// What a depayloader does when a packet is lost for good (NACK did not bring it back): it
/// drops the broken frame, goes on with the next ones and asks the sender for a keyframe.
/// Waiting for that keyframe instead froze every receiver of the stream until it came, for a
/// loss the receivers' decoders mostly conceal; rtpsession merges the requests of one RTCP
/// interval into one PLI.
fn forward_through_loss(depayloader: &gst::Element) {
    set_if(depayloader, "request-keyframe", true);
    set_if(depayloader, "wait-for-keyframe", false);
}

/// PLI/FIR to the sender: an upstream force-key-unit from the depayloader's input (h264parse,
/// later in the chain, keeps such requests to itself instead of passing them on).
pub(crate) fn request_keyframe(depayloader: &gst::Element) {
    if let Some(pad) = depayloader.static_pad("sink") {
        let ev = gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        pad.push_event(ev);
    }
}

fn set_if(e: &gst::Element, prop: &str, v: impl Into<gst::glib::Value>) {
    if e.find_property(prop).is_some() {
        e.set_property(prop, v);
    }
}
