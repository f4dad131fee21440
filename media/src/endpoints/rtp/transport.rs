//! The UDP side of an RtpEndpoint: for each m-line an rtpbin session with RTP and RTCP sockets
//! (ports from the configured range; sending from the receiving sockets, so a NAT sees one
//! flow), the payloader of what is sent and the depayloaders of what arrives.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use gst::prelude::*;

use super::description::RemoteAddress;
use crate::api_contract::MediaKind;
use crate::endpoints::rtp_chains;
use crate::endpoints::sdp::Codec;
use crate::{err, ErrorKind};

/// Ports tried when no range is configured.
const DEFAULT_PORTS: (u16, u16) = (20_000, 59_999);
/// Even ports tried before giving up.
const PORT_ATTEMPTS: usize = 200;

/// Random bits for SSRCs, ports and session ids (not secrets).
pub(super) fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    if getrandom(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        return nanos ^ std::process::id().rotate_left(16);
    }
    u32::from_ne_bytes(bytes)
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// A free even port whose successor is free too, in `[min, max]`.
pub(super) fn free_port_pair(min: Option<u16>, max: Option<u16>) -> crate::Result<u16> {
    let (min, max) = (
        min.unwrap_or(DEFAULT_PORTS.0),
        max.unwrap_or(DEFAULT_PORTS.1),
    );
    let first = (min + 1) & !1;
    if max <= first {
        return Err(err(ErrorKind::Internal, "the RTP port range is too small"));
    }
    let pairs = u32::from((max - first) / 2).max(1);
    let start = random_u32() % pairs;
    for attempt in 0..PORT_ATTEMPTS.min(pairs as usize) {
        let port = first + (((start + attempt as u32) % pairs) * 2) as u16;
        let free = |p: u16| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, p)).is_ok();
        if free(port) && free(port + 1) {
            return Ok(port);
        }
    }
    Err(err(
        ErrorKind::Internal,
        format!("no free RTP port pair in {min}-{max}"),
    ))
}

/// One m-line's rtpbin session and its sockets.
pub(super) struct Session {
    pub index: u32,
    pub media: MediaKind,
    pub rtp_port: u16,
    /// What this session receives, by payload type (rtpbin asks for it).
    pub codecs: Vec<Codec>,
    rtp_src: gst::Element,
    rtcp_src: gst::Element,
}

/// The rtpbin session `id` of `bin`'s `rtpbin`, receiving on `rtp_port` and the port after it;
/// with `decoder` (an srtpdec), SRTP decrypted on the way in.
pub(super) fn open_session(
    bin: &gst::Bin,
    rtpbin: &gst::Element,
    id: u32,
    media: MediaKind,
    rtp_port: u16,
    codecs: Vec<Codec>,
    decoder: Option<gst::Element>,
) -> crate::Result<Session> {
    let secure = decoder.is_some();
    let internal = |e: gst::glib::BoolError| err(ErrorKind::Internal, e.to_string());
    let udpsrc = |port: u16, caps: &str| -> crate::Result<gst::Element> {
        let src = rtp_chains::make("udpsrc")?;
        src.set_property("address", "0.0.0.0");
        src.set_property("port", i32::from(port));
        src.set_property("reuse", false);
        src.set_property("caps", gst::Caps::builder(caps).build());
        bin.add(&src).map_err(internal)?;
        // Bound now: its socket is then shared with the sink that sends.
        src.set_state(gst::State::Ready)
            .map_err(|_| err(ErrorKind::Internal, format!("cannot bind UDP port {port}")))?;
        Ok(src)
    };
    let (rtp_caps, rtcp_caps) = if secure {
        ("application/x-srtp", "application/x-srtcp")
    } else {
        ("application/x-rtp", "application/x-rtcp")
    };
    let rtp_src = udpsrc(rtp_port, rtp_caps)?;
    let rtcp_src = udpsrc(rtp_port + 1, rtcp_caps)?;
    if let Some(decoder) = &decoder {
        bin.add(decoder).map_err(internal)?;
    }
    let link = |src: &gst::Element, kind: &str| -> crate::Result<()> {
        let pad = format!("recv_{kind}_sink_{id}");
        let sink = rtpbin
            .request_pad_simple(&pad)
            .ok_or_else(|| err(ErrorKind::Internal, format!("rtpbin {pad}")))?;
        let mut from = src.static_pad("src").expect("udpsrc src");
        if let Some(decoder) = &decoder {
            let into = decoder
                .static_pad(&format!("{kind}_sink"))
                .expect("srtpdec sink");
            from.link(&into)
                .map_err(|e| err(ErrorKind::Internal, format!("srtpdec: {e:?}")))?;
            from = decoder
                .static_pad(&format!("{kind}_src"))
                .expect("srtpdec src");
        }
        from.link(&sink)
            .map(|_| ())
            .map_err(|e| err(ErrorKind::Internal, format!("{pad}: {e:?}")))
    };
    link(&rtp_src, "rtp")?;
    link(&rtcp_src, "rtcp")?;
    if let Some(decoder) = &decoder {
        let _ = decoder.sync_state_with_parent();
    }
    Ok(Session {
        index: id,
        media,
        rtp_port,
        codecs,
        rtp_src,
        rtcp_src,
    })
}

impl Session {
    /// The caps rtpbin needs for payload type `pt` of this session.
    pub fn pt_caps(&self, pt: u32) -> Option<gst::Caps> {
        let c = self.codecs.iter().find(|c| c.pt == pt)?;
        let (media, name) = c.format.rtp_names()?;
        let mut caps = gst::Caps::builder("application/x-rtp")
            .field("media", media)
            .field("encoding-name", name)
            .field("clock-rate", c.clock_rate)
            .field("payload", c.pt as i32);
        if c.format.media() == MediaKind::Video {
            // rtpsession turns keyframe requests into PLI/FIR only for such payloads.
            caps = caps
                .field("rtcp-fb-nack-pli", true)
                .field("rtcp-fb-ccm-fir", true);
        }
        Some(caps.build())
    }

    /// Starts sending RTCP (and, with `payloader`, RTP) to `remote`, from the receiving
    /// sockets; with `encoder` (an srtpenc), encrypted.
    pub fn send_to(
        &self,
        bin: &gst::Bin,
        rtpbin: &gst::Element,
        remote: RemoteAddress,
        payloader: Option<&gst::Element>,
        encoder: Option<&gst::Element>,
    ) -> crate::Result<()> {
        let host = remote.address.to_string();
        let udpsink = |from: &gst::Element, port: u16| -> crate::Result<gst::Element> {
            let sink = rtp_chains::make("udpsink")?;
            sink.set_property("host", &host);
            sink.set_property("port", i32::from(port));
            sink.set_property("sync", false);
            sink.set_property("async", false);
            sink.set_property("close-socket", false);
            let socket = from.property_value("used-socket");
            sink.set_property_from_value("socket", &socket);
            bin.add(&sink)
                .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
            Ok(sink)
        };
        if let Some(encoder) = encoder {
            bin.add(encoder)
                .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        }
        let link = |pad: gst::Pad, kind: &str, sink: &gst::Element| -> crate::Result<()> {
            let mut from = pad;
            if let Some(encoder) = encoder {
                let into = encoder
                    .request_pad_simple(&format!("{kind}_sink_0"))
                    .ok_or_else(|| err(ErrorKind::Internal, "srtpenc sink"))?;
                from.link(&into)
                    .map_err(|e| err(ErrorKind::Internal, format!("srtpenc: {e:?}")))?;
                from = encoder
                    .static_pad(&format!("{kind}_src_0"))
                    .ok_or_else(|| err(ErrorKind::Internal, "srtpenc src"))?;
            }
            from.link(&sink.static_pad("sink").expect("udpsink sink"))
                .map(|_| ())
                .map_err(|e| err(ErrorKind::Internal, format!("{}: {e:?}", from.name())))?;
            let _ = sink.sync_state_with_parent();
            Ok(())
        };
        let id = self.index;
        let rtcp_sink = udpsink(&self.rtcp_src, remote.rtcp_port)?;
        let rtcp_pad = rtpbin
            .request_pad_simple(&format!("send_rtcp_src_{id}"))
            .ok_or_else(|| err(ErrorKind::Internal, "rtpbin send_rtcp_src"))?;
        link(rtcp_pad, "rtcp", &rtcp_sink)?;
        if let Some(payloader) = payloader {
            let rtp_sink = udpsink(&self.rtp_src, remote.rtp_port)?;
            let send_sink = rtpbin
                .request_pad_simple(&format!("send_rtp_sink_{id}"))
                .ok_or_else(|| err(ErrorKind::Internal, "rtpbin send_rtp_sink"))?;
            payloader
                .static_pad("src")
                .expect("payloader src")
                .link(&send_sink)
                .map_err(|e| err(ErrorKind::Internal, format!("send_rtp_sink: {e:?}")))?;
            let send_src = rtpbin
                .static_pad(&format!("send_rtp_src_{id}"))
                .ok_or_else(|| err(ErrorKind::Internal, "rtpbin send_rtp_src"))?;
            link(send_src, "rtp", &rtp_sink)?;
        }
        if let Some(encoder) = encoder {
            let _ = encoder.sync_state_with_parent();
        }
        Ok(())
    }

    /// Takes the session's sockets out of `bin` (an m-line the answer rejected).
    pub fn remove(&self, bin: &gst::Bin, rtpbin: &gst::Element) {
        for src in [&self.rtp_src, &self.rtcp_src] {
            if let Some(peer) = src.static_pad("src").and_then(|p| p.peer()) {
                rtpbin.release_request_pad(&peer);
            }
            crate::graph::teardown::remove_from(bin, src);
        }
    }

    /// Brings the receiving sockets to the bin's state.
    pub fn start(&self) {
        let _ = self.rtp_src.sync_state_with_parent();
        let _ = self.rtcp_src.sync_state_with_parent();
    }

    /// The RTP socket's source pad, to watch for the first packet.
    pub fn rtp_pad(&self) -> gst::Pad {
        self.rtp_src.static_pad("src").expect("udpsrc src")
    }
}

/// The address the descriptions announce: the external IPv4 address, else the first local
/// address in use, else the first non-loopback IPv4 address of the host, else 127.0.0.1.
pub(super) fn announced_address(settings: &crate::WebRtcSettings) -> IpAddr {
    if let Some(ip) = settings
        .external_ipv4
        .as_deref()
        .and_then(|a| a.parse().ok())
    {
        return ip;
    }
    if let Some(ip) = settings.local_addresses.iter().find(|a| a.is_ipv4()) {
        return *ip;
    }
    crate::endpoints::webrtc::ice_addresses::all_addresses()
        .ok()
        .and_then(|all| {
            all.into_iter()
                .map(|(_, ip)| ip)
                .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}
