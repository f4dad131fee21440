//! Offer analysis: the server picks codec and payload type from the offer, with its TWCC
//! extension and RTX payload type, instead of letting webrtcbin choose.

pub mod candidate;
pub mod limits;

use crate::api_contract::MediaKind;
use crate::graph::output::Format;
use crate::{err, ErrorKind, Result};

pub const TWCC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

#[derive(Debug, Clone)]
pub struct Codec {
    pub format: Format,
    pub pt: u32,
    pub clock_rate: i32,
    pub rtx_pt: Option<u32>,
    /// H.264 packetization-mode 0 (one NAL unit per packet; also what an fmtp without the
    /// parameter means).
    pub single_nal: bool,
}

#[derive(Debug, Clone)]
pub struct MLine {
    pub index: u32,
    pub media: MediaKind,
    /// Direction as written by the remote side.
    pub dir: Dir,
    pub codec: Option<Codec>,
    pub twcc_id: Option<u32>,
    pub rejected: bool,
}

/// Parses a remote description, within the server's SDP limits.
pub fn parse(text: &str) -> Result<gst_sdp::SDPMessage> {
    limits::check(text, &limits::sdp_limits())?;
    // gst's parser is lenient (it accepts any text): insist on a session description's basics.
    let t = text.trim_start();
    if !t.starts_with("v=0") || !t.lines().any(|l| l.starts_with("o=")) {
        return Err(err(ErrorKind::SdpParse, "not an SDP session description"));
    }
    gst_sdp::SDPMessage::parse_buffer(text.as_bytes())
        .map_err(|_| err(ErrorKind::SdpParse, "SDP does not parse"))
}

fn rtpmap(m: &gst_sdp::SDPMediaRef, pt: u32) -> Option<(String, i32, Option<i32>)> {
    for a in m.attributes() {
        if a.key() != "rtpmap" {
            continue;
        }
        let v = a.value()?;
        let (p, rest) = v.split_once(' ')?;
        if p.trim().parse::<u32>().ok()? != pt {
            continue;
        }
        let mut it = rest.trim().split('/');
        let name = it.next()?.to_ascii_uppercase();
        let clock = it.next()?.parse().ok()?;
        let ch = it.next().and_then(|c| c.parse().ok());
        return Some((name, clock, ch));
    }
    None
}

/// RFC 3551's static payload types Rheo takes, which offers may list without an rtpmap.
fn static_rtpmap(pt: u32) -> Option<(String, i32, Option<i32>)> {
    match pt {
        0 => Some(("PCMU".into(), 8000, Some(1))),
        8 => Some(("PCMA".into(), 8000, Some(1))),
        _ => None,
    }
}

fn fmtp(m: &gst_sdp::SDPMediaRef, pt: u32) -> String {
    for a in m.attributes() {
        if a.key() != "fmtp" {
            continue;
        }
        if let Some(v) = a.value() {
            if let Some((p, rest)) = v.split_once(' ') {
                if p.trim().parse::<u32>().ok() == Some(pt) {
                    return rest.trim().to_string();
                }
            }
        }
    }
    String::new()
}

fn fmtp_param<'a>(f: &'a str, key: &str) -> Option<&'a str> {
    f.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then_some(v.trim())
    })
}

/// Analyses every m-line of an offer/answer.
pub fn analyse(msg: &gst_sdp::SDPMessageRef) -> Vec<MLine> {
    let mut out = Vec::new();
    for (i, m) in msg.medias().enumerate() {
        let media = match m.media() {
            Some("audio") => MediaKind::Audio,
            Some("video") => MediaKind::Video,
            Some("application") => MediaKind::Data,
            _ => continue,
        };
        let dir = if has_attr(m, "sendonly") {
            Dir::SendOnly
        } else if has_attr(m, "recvonly") {
            Dir::RecvOnly
        } else if has_attr(m, "inactive") {
            Dir::Inactive
        } else {
            Dir::SendRecv
        };
        let twcc_id = m.attributes().find_map(|a| {
            if a.key() != "extmap" {
                return None;
            }
            let v = a.value()?;
            let (id, uri) = v.split_once(' ')?;
            (uri.trim() == TWCC_URI).then(|| id.split('/').next()?.parse().ok())?
        });
        let pts: Vec<u32> = m.formats().filter_map(|f| f.parse().ok()).collect();
        let mut codec = None;
        if media != MediaKind::Data {
            // The best H.264 so far: its payload type, clock rate, and rank.
            let mut h264: Option<(u32, i32, (bool, bool))> = None;
            // G.711, taken only when the offer has no Opus (it means transcoding for WebRTC).
            let mut g711: Option<Codec> = None;
            for &pt in &pts {
                let Some((name, clock, _ch)) = rtpmap(m, pt).or_else(|| static_rtpmap(pt)) else {
                    continue;
                };
                match (media, name.as_str()) {
                    (MediaKind::Video, "VP8") if codec.is_none() => {
                        codec = Some(Codec {
                            format: Format::Vp8,
                            pt,
                            clock_rate: clock,
                            rtx_pt: None,
                            single_nal: false,
                        });
                    }
                    (MediaKind::Video, "H264") => {
                        let f = fmtp(m, pt);
                        let mode1 = match fmtp_param(&f, "packetization-mode") {
                            Some("1") => true,
                            None | Some("0") => false,
                            Some(_) => continue, // interleaved mode 2
                        };
                        // Prefer mode 1, then constrained baseline (what x264/openh264 and
                        // Chromium share).
                        let plid = fmtp_param(&f, "profile-level-id")
                            .unwrap_or("")
                            .to_ascii_lowercase();
                        let cb = plid.starts_with("42e0") || plid.starts_with("4200");
                        let rank = (mode1, cb);
                        if h264.is_none_or(|(_, _, best)| rank > best) {
                            h264 = Some((pt, clock, rank));
                        }
                    }
                    (MediaKind::Audio, "OPUS") if codec.is_none() => {
                        codec = Some(Codec {
                            format: Format::Opus,
                            pt,
                            clock_rate: clock,
                            rtx_pt: None,
                            single_nal: false,
                        });
                    }
                    (MediaKind::Audio, "PCMU" | "PCMA") if g711.is_none() && clock == 8000 => {
                        g711 = Some(Codec {
                            format: if name == "PCMU" {
                                Format::Pcmu
                            } else {
                                Format::Pcma
                            },
                            pt,
                            clock_rate: clock,
                            rtx_pt: None,
                            single_nal: false,
                        });
                    }
                    _ => {}
                }
            }
            if codec.is_none() {
                codec = g711;
            }
            if codec.is_none() {
                if let Some((pt, clock, (mode1, _))) = h264 {
                    codec = Some(Codec {
                        format: Format::H264,
                        pt,
                        clock_rate: clock,
                        rtx_pt: None,
                        single_nal: !mode1,
                    });
                }
            }
            if let Some(c) = codec.as_mut() {
                c.rtx_pt = pts.iter().copied().find(|&p| {
                    rtpmap(m, p).map(|(n, _, _)| n == "RTX").unwrap_or(false)
                        && fmtp_param(&fmtp(m, p), "apt").and_then(|v| v.parse().ok()) == Some(c.pt)
                });
            }
        }
        out.push(MLine {
            index: i as u32,
            media,
            dir,
            codec,
            twcc_id,
            rejected: m.port() == 0 && !has_attr(m, "bundle-only"),
        });
    }
    out
}

fn has_attr(m: &gst_sdp::SDPMediaRef, key: &str) -> bool {
    m.attributes().any(|a| a.key() == key)
}

/// RTP caps for a transceiver's codec-preferences: the offer's TWCC extmap (the answer keeps no
/// header extension that local caps do not name, and Chromium's bandwidth estimate stays low
/// without it), an explicit SSRC (so that a=ssrc is always in the answer), and no H.264
/// profile-level-id (an exact profile match that fails drops the branch).
pub fn codec_caps(ml: &MLine, c: &Codec, ssrc: Option<u32>) -> gst::Caps {
    let (media, enc) = c
        .format
        .rtp_names()
        .unwrap_or(("application", c.format.codec_name()));
    let mut b = gst::Caps::builder("application/x-rtp")
        .field("media", media)
        .field("encoding-name", enc)
        .field("clock-rate", c.clock_rate)
        .field("payload", c.pt as i32);
    if c.format == Format::H264 {
        b = b.field("packetization-mode", if c.single_nal { "0" } else { "1" });
    }
    if c.format == Format::Opus {
        b = b.field("encoding-params", "2");
    }
    if let Some(ssrc) = ssrc {
        b = b.field("ssrc", ssrc);
    }
    if let Some(id) = ml.twcc_id {
        b = b.field(format!("extmap-{id}"), TWCC_URI);
    }
    b.build()
}

/// Which ways an answered m-line carries media, from the server's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub send: bool,
    pub recv: bool,
}

/// The answer to one of the offer's m-lines: the codec the server chose and which ways media
/// goes.
#[derive(Debug, Clone)]
pub struct AnsweredMLine {
    pub mline: MLine,
    pub codec: Codec,
    pub flow: Flow,
}

/// What an endpoint that answers `offer` does with each audio and video m-line, given whether
/// it only receives or only sends. Rejected m-lines, data and m-lines without a codec Rheo
/// handles are left out (webrtcbin answers them as rejected). Fails when nothing is left and
/// data channels are not wanted either.
pub fn plan_answer(
    offer: &[MLine],
    recvonly: bool,
    sendonly: bool,
    data_channels: bool,
) -> Result<Vec<AnsweredMLine>> {
    let plan: Vec<AnsweredMLine> = offer
        .iter()
        .filter(|m| !m.rejected && m.media != MediaKind::Data)
        .filter_map(|m| {
            let codec = m.codec.clone()?;
            let remote_recv = matches!(m.dir, Dir::SendRecv | Dir::RecvOnly);
            let remote_send = matches!(m.dir, Dir::SendRecv | Dir::SendOnly);
            Some(AnsweredMLine {
                mline: m.clone(),
                codec,
                flow: Flow {
                    send: remote_recv && !recvonly,
                    recv: remote_send && !sendonly,
                },
            })
        })
        .collect();
    let data = offer
        .iter()
        .any(|m| m.media == MediaKind::Data && !m.rejected);
    if plan.is_empty() && !(data && data_channels) {
        return Err(err(
            ErrorKind::SdpNegotiation,
            "offer has no supported codec (VP8, H264, OPUS)",
        ));
    }
    Ok(plan)
}

/// The answer KMS gives to an offer none of whose m-lines it can serve: every m-line rejected
/// (port 0), with its mid, instead of an error.
pub fn rejecting_answer(offer: &gst_sdp::SDPMessageRef) -> String {
    let mut out = "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=Rheo\r\nt=0 0\r\n".to_owned();
    for m in offer.medias() {
        let formats: Vec<&str> = m.formats().collect();
        out += &format!(
            "m={} 0 {} {}\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\n",
            m.media().unwrap_or("video"),
            m.proto().unwrap_or("RTP/AVP"),
            formats.join(" ")
        );
        if let Some(mid) = m.attribute_val("mid") {
            out += &format!("a=mid:{mid}\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_codec_pt_twcc_and_rtx_from_chromium_offer() {
        gst::init().unwrap();
        // Recorded from Chromium 156 by tests/e2e/record-offer.mjs.
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/offer-chromium156.sdp"
        ))
        .unwrap();
        let msg = parse(&text).unwrap();
        let ml = analyse(&msg);
        let audio = ml.iter().find(|m| m.media == MediaKind::Audio).unwrap();
        let video = ml.iter().find(|m| m.media == MediaKind::Video).unwrap();
        let a = audio.codec.as_ref().unwrap();
        let v = video.codec.as_ref().unwrap();
        assert_eq!((a.format, a.pt), (Format::Opus, 111));
        assert_eq!((v.format, v.pt, v.rtx_pt), (Format::Vp8, 96, Some(97)));
        assert_eq!(video.twcc_id, Some(3));
        assert_eq!(video.dir, Dir::SendRecv);
        let caps = codec_caps(video, v, Some(42));
        let s = caps.structure(0).unwrap();
        assert_eq!(s.get::<u32>("ssrc").unwrap(), 42);
        assert_eq!(s.get::<&str>("extmap-3").unwrap(), TWCC_URI);
        assert!(!s.has_field("profile-level-id"));
    }

    #[test]
    fn h264_without_vp8_prefers_packetization_mode_1_constrained_baseline() {
        gst::init().unwrap();
        let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 100 102 104\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n\
            a=rtpmap:100 H264/90000\r\na=fmtp:100 packetization-mode=0;profile-level-id=42e01f\r\n\
            a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=640032\r\n\
            a=rtpmap:104 H264/90000\r\na=fmtp:104 packetization-mode=1;profile-level-id=42e01f\r\n";
        let ml = analyse(&parse(text).unwrap());
        let c = ml[0].codec.as_ref().unwrap();
        assert_eq!((c.format, c.pt, c.single_nal), (Format::H264, 104, false));
        assert_eq!(ml[0].dir, Dir::RecvOnly);
        // Without packetization-mode (mode 0, as some cameras write it), still H.264.
        let mode0 = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
            m=video 9 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 profile-level-id=42e01f\r\n";
        let ml = analyse(&parse(mode0).unwrap());
        let c = ml[0].codec.as_ref().unwrap();
        assert_eq!((c.format, c.pt, c.single_nal), (Format::H264, 97, true));
        assert_eq!(
            codec_caps(&ml[0], c, None)
                .structure(0)
                .unwrap()
                .get::<&str>("packetization-mode")
                .unwrap(),
            "0"
        );
        assert!(parse("hello").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn g711_is_taken_when_the_offer_has_no_opus_even_without_an_rtpmap() {
        gst::init().unwrap();
        let offer = |formats: &str, maps: &str| {
            parse(&format!(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                 m=audio 5004 RTP/AVP {formats}\r\nc=IN IP4 127.0.0.1\r\n{maps}"
            ))
            .unwrap()
        };
        let codec = |msg: &gst_sdp::SDPMessage| {
            let c = analyse(msg)[0].codec.clone().unwrap();
            (c.format, c.pt, c.clock_rate)
        };
        assert_eq!(codec(&offer("0", "")), (Format::Pcmu, 0, 8000));
        assert_eq!(codec(&offer("8 0", "")), (Format::Pcma, 8, 8000));
        assert_eq!(
            codec(&offer("0 111", "a=rtpmap:111 opus/48000/2\r\n")),
            (Format::Opus, 111, 48000),
            "Opus first whatever the order: no transcoding"
        );
        assert_eq!(
            codec(&offer("96", "a=rtpmap:96 PCMU/8000\r\n")),
            (Format::Pcmu, 96, 8000)
        );
        assert!(analyse(&offer("9", "")).first().unwrap().codec.is_none());
    }

    fn mline(index: u32, media: MediaKind, dir: Dir, codec: bool) -> MLine {
        MLine {
            index,
            media,
            dir,
            codec: codec.then(|| Codec {
                format: if media == MediaKind::Audio {
                    Format::Opus
                } else {
                    Format::Vp8
                },
                pt: 96,
                clock_rate: 90000,
                rtx_pt: None,
                single_nal: false,
            }),
            twcc_id: None,
            rejected: false,
        }
    }

    #[test]
    fn the_answer_plan_follows_the_offer_and_the_endpoint_options() {
        let offer = [
            mline(0, MediaKind::Audio, Dir::SendRecv, true),
            mline(1, MediaKind::Video, Dir::SendOnly, true),
            mline(2, MediaKind::Video, Dir::RecvOnly, false),
            mline(3, MediaKind::Data, Dir::SendRecv, false),
        ];
        let flows = |recvonly, sendonly| -> Vec<(u32, Flow)> {
            plan_answer(&offer, recvonly, sendonly, false)
                .unwrap()
                .iter()
                .map(|a| (a.mline.index, a.flow))
                .collect()
        };
        let (both, send, recv) = (
            Flow {
                send: true,
                recv: true,
            },
            Flow {
                send: true,
                recv: false,
            },
            Flow {
                send: false,
                recv: true,
            },
        );
        let none = Flow {
            send: false,
            recv: false,
        };
        // No codec (m-line 2) and data (3) are not in the plan.
        assert_eq!(flows(false, false), vec![(0, both), (1, recv)]);
        assert_eq!(flows(true, false), vec![(0, recv), (1, recv)]);
        assert_eq!(flows(false, true), vec![(0, send), (1, none)]);
    }

    #[test]
    fn an_offer_without_a_usable_codec_is_refused_unless_it_brings_data_channels() {
        let offer = [
            mline(0, MediaKind::Video, Dir::SendRecv, false),
            mline(1, MediaKind::Data, Dir::SendRecv, false),
        ];
        assert!(plan_answer(&offer, false, false, false).is_err());
        assert!(plan_answer(&offer, false, false, true).unwrap().is_empty());
        assert!(plan_answer(&offer[..1], false, false, true).is_err());
    }
}
