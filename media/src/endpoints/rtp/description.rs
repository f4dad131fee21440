//! Plain RTP session descriptions: what the remote side's m-lines say about where to send
//! (address, RTP and RTCP ports), and the text of the descriptions Rheo writes.

use std::net::IpAddr;

use crate::api_contract::MediaKind;
use crate::endpoints::sdp::{Codec, Dir};
use crate::graph::output::Format;

/// Where the remote side of one m-line takes RTP and RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RemoteAddress {
    pub address: IpAddr,
    pub rtp_port: u16,
    pub rtcp_port: u16,
}

/// The address of m-line `index` (its own `c=`, else the session's), its port, and its RTCP
/// port (`a=rtcp:`, else the next one). `None` for a rejected m-line or one without an address.
pub(super) fn remote_address(msg: &gst_sdp::SDPMessageRef, index: u32) -> Option<RemoteAddress> {
    let m = msg.media(index)?;
    let rtp_port = u16::try_from(m.port()).ok().filter(|p| *p != 0)?;
    let address = m
        .connections()
        .next()
        .and_then(|c| c.address())
        .or_else(|| msg.connection().and_then(|c| c.address()))?
        .split('/')
        .next()?
        .parse::<IpAddr>()
        .ok()
        .filter(|a| !a.is_unspecified())?;
    let rtcp_port = m
        .attribute_val("rtcp")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(rtp_port.checked_add(1)?);
    Some(RemoteAddress {
        address,
        rtp_port,
        rtcp_port,
    })
}

/// One m-line as Rheo writes it.
#[derive(Debug, Clone)]
pub(super) struct LocalMLine {
    pub media: MediaKind,
    /// 0 for a rejected m-line.
    pub port: u16,
    pub proto: String,
    pub codecs: Vec<Codec>,
    /// Direction from Rheo's side.
    pub dir: Dir,
    /// Our sending SSRC.
    pub ssrc: Option<u32>,
    /// For a rejected m-line: its media name and formats as offered.
    pub rejected: Option<(String, String)>,
    /// SDES: the `a=crypto` line with Rheo's key.
    pub crypto: Option<String>,
}

/// The description text: `v=0` … with `address` as the connection address of every m-line.
pub(super) fn write(
    address: IpAddr,
    session_id: u64,
    version: u32,
    mlines: &[LocalMLine],
) -> String {
    let family = if address.is_ipv4() { "IP4" } else { "IP6" };
    let mut out = format!(
        "v=0\r\no=- {session_id} {version} IN {family} {address}\r\ns=Rheo\r\nc=IN {family} {address}\r\nt=0 0\r\n"
    );
    for m in mlines {
        if let Some((media, formats)) = &m.rejected {
            out += &format!("m={media} 0 {} {formats}\r\n", m.proto);
            continue;
        }
        let media = match m.media {
            MediaKind::Audio => "audio",
            _ => "video",
        };
        let pts: Vec<String> = m.codecs.iter().map(|c| c.pt.to_string()).collect();
        out += &format!("m={media} {} {} {}\r\n", m.port, m.proto, pts.join(" "));
        out += &format!("a=rtcp:{}\r\n", m.port.saturating_add(1));
        for c in &m.codecs {
            out += &codec_lines(c);
        }
        out += match m.dir {
            Dir::SendRecv => "a=sendrecv\r\n",
            Dir::SendOnly => "a=sendonly\r\n",
            Dir::RecvOnly => "a=recvonly\r\n",
            Dir::Inactive => "a=inactive\r\n",
        };
        if let Some(crypto) = &m.crypto {
            out += crypto;
        }
        if let Some(ssrc) = m.ssrc {
            out += &format!("a=ssrc:{ssrc} cname:rheo\r\n");
        }
    }
    out
}

fn codec_lines(c: &Codec) -> String {
    let pt = c.pt;
    match c.format {
        Format::Vp8 => format!(
            "a=rtpmap:{pt} VP8/90000\r\na=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\na=rtcp-fb:{pt} ccm fir\r\n"
        ),
        Format::H264 => format!(
            "a=rtpmap:{pt} H264/90000\r\na=fmtp:{pt} packetization-mode={};profile-level-id=42e01f;level-asymmetry-allowed=1\r\n\
             a=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\na=rtcp-fb:{pt} ccm fir\r\n",
            if c.single_nal { 0 } else { 1 }
        ),
        Format::Opus => format!(
            "a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} minptime=10;useinbandfec=1\r\n"
        ),
        Format::Pcmu => format!("a=rtpmap:{pt} PCMU/8000\r\n"),
        Format::Pcma => format!("a=rtpmap:{pt} PCMA/8000\r\n"),
        Format::RawVideo | Format::RawAudio | Format::Data => String::new(),
    }
}

/// The codecs Rheo offers for `media`, in preference order.
pub(super) fn offered_codecs(media: MediaKind) -> Vec<Codec> {
    let codec = |format, pt, clock_rate| Codec {
        format,
        pt,
        clock_rate,
        rtx_pt: None,
        single_nal: false,
    };
    match media {
        // G.711 after Opus: what SIP gateways and IP phones send (transcoded for WebRTC peers).
        MediaKind::Audio => vec![
            codec(Format::Opus, 111, 48000),
            codec(Format::Pcmu, 0, 8000),
            codec(Format::Pcma, 8, 8000),
        ],
        _ => vec![
            codec(Format::Vp8, 96, 90000),
            codec(Format::H264, 103, 90000),
        ],
    }
}

/// The direction Rheo answers to a remote direction.
pub(super) fn reversed(dir: Dir) -> Dir {
    match dir {
        Dir::SendOnly => Dir::RecvOnly,
        Dir::RecvOnly => Dir::SendOnly,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::sdp;

    #[test]
    fn remote_addresses_come_from_the_media_or_the_session() {
        gst::init().unwrap();
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
            m=audio 5000 RTP/AVP 0\r\n\
            m=video 5002 RTP/AVP 96\r\nc=IN IP4 10.0.0.2\r\na=rtcp:6000\r\na=rtpmap:96 VP8/90000\r\n\
            m=video 0 RTP/AVP 96\r\n";
        let msg = sdp::parse(text).unwrap();
        assert_eq!(
            remote_address(&msg, 0),
            Some(RemoteAddress {
                address: "10.0.0.1".parse().unwrap(),
                rtp_port: 5000,
                rtcp_port: 5001
            })
        );
        assert_eq!(
            remote_address(&msg, 1),
            Some(RemoteAddress {
                address: "10.0.0.2".parse().unwrap(),
                rtp_port: 5002,
                rtcp_port: 6000
            })
        );
        assert_eq!(remote_address(&msg, 2), None);
        assert_eq!(remote_address(&msg, 3), None);
    }

    #[test]
    fn a_written_description_parses_back_to_what_was_meant() {
        gst::init().unwrap();
        let lines = [
            LocalMLine {
                media: MediaKind::Video,
                port: 40000,
                proto: "RTP/AVPF".into(),
                codecs: offered_codecs(MediaKind::Video),
                dir: Dir::SendRecv,
                ssrc: Some(1234),
                rejected: None,
                crypto: None,
            },
            LocalMLine {
                media: MediaKind::Audio,
                port: 0,
                proto: "RTP/AVP".into(),
                codecs: Vec::new(),
                dir: Dir::Inactive,
                ssrc: None,
                rejected: Some(("audio".into(), "0 8".into())),
                crypto: None,
            },
        ];
        let text = write("127.0.0.1".parse().unwrap(), 7, 1, &lines);
        let msg = sdp::parse(&text).unwrap();
        let analysed = sdp::analyse(&msg);
        let video = analysed[0].codec.as_ref().unwrap();
        assert_eq!((video.format, video.pt), (Format::Vp8, 96));
        assert_eq!(analysed[0].dir, Dir::SendRecv);
        assert_eq!(
            remote_address(&msg, 0).map(|r| (r.rtp_port, r.rtcp_port)),
            Some((40000, 40001))
        );
        assert_eq!(msg.media(1).unwrap().port(), 0);
        assert!(text.contains("a=ssrc:1234 cname:rheo"));
    }
}
