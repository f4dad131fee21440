//! What a receiver's RTCP says about the streams an endpoint sends: the share of packets it
//! lost (report blocks of RR and SR, RFC 3550) and its bandwidth estimate (REMB,
//! draft-alvestrand-rmcat-remb), read from each compound packet an rtpbin session receives, and
//! what it does to the bitrate Rheo encodes video at for that receiver.

use std::sync::Arc;
use std::time::Instant;

use gst::prelude::*;

use crate::graph::send_bitrate::SendBitrate;

/// Calls `on_feedback` with the feedback of every RTCP packet any session of `rtpbin` receives
/// (sessions made from now on), on the thread that receives it.
pub(crate) fn follow_sessions(
    rtpbin: &gst::Bin,
    on_feedback: impl Fn(Vec<Feedback>) + Send + Sync + 'static,
) {
    let on_feedback = Arc::new(on_feedback);
    rtpbin.connect_element_added(move |_, element| {
        if element.factory().is_some_and(|f| f.name() == "rtpsession") {
            let on_feedback = on_feedback.clone();
            follow(element, move |feedback| on_feedback(feedback));
        }
    });
}

/// [`follow_sessions`] for one session (an `rtpsession`).
fn follow(rtpsession: &gst::Element, on_feedback: impl Fn(Vec<Feedback>) + Send + Sync + 'static) {
    if rtpsession.find_property("internal-session").is_none() {
        return;
    }
    let session = rtpsession.property::<gst::glib::Object>("internal-session");
    session.connect("on-receiving-rtcp", false, move |args| {
        let buffer = args.get(1)?.get::<gst::Buffer>().ok()?;
        let map = buffer.map_readable().ok()?;
        let feedback = read(&map);
        if !feedback.is_empty() {
            on_feedback(feedback);
        }
        None
    });
}

/// Feedback about the video this endpoint sends (`sent`: the SSRCs of its video streams)
/// moves its `bitrate`. Whether it moved: the encoders feeding those streams then follow.
pub(crate) fn apply(feedback: &[Feedback], sent: &[u32], bitrate: &SendBitrate) -> bool {
    let ours = |ssrc: &u32| sent.contains(ssrc);
    let mut moved = false;
    for f in feedback {
        match f {
            Feedback::Loss { ssrc, fraction } if ours(ssrc) => {
                bitrate.on_loss(*fraction, Instant::now());
                moved = true;
            }
            Feedback::Remb {
                bits_per_second,
                ssrcs,
            } if ssrcs.iter().any(ours) => {
                bitrate.on_remb(*bits_per_second);
                moved = true;
            }
            _ => {}
        }
    }
    moved
}

/// One piece of feedback about a stream this side sends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Feedback {
    /// The share (0 to 1) of `ssrc`'s packets lost since the receiver's previous report.
    Loss { ssrc: u32, fraction: f64 },
    /// The receiver can take `bits_per_second` in all, over the streams `ssrcs`.
    Remb {
        bits_per_second: u64,
        ssrcs: Vec<u32>,
    },
}

const SR: u8 = 200;
const RR: u8 = 201;
const PSFB: u8 = 206;
const AFB: u8 = 15;

/// The feedback in one compound RTCP packet; anything malformed ends the reading there.
pub(crate) fn read(compound: &[u8]) -> Vec<Feedback> {
    let mut found = Vec::new();
    let mut rest = compound;
    while rest.len() >= 4 {
        let (first, kind) = (rest[0], rest[1]);
        if first >> 6 != 2 {
            break;
        }
        let count = (first & 0x1f) as usize;
        let len = (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1) * 4;
        if len > rest.len() {
            break;
        }
        let packet = &rest[..len];
        match kind {
            SR => report_blocks(packet.get(28..), count, &mut found),
            RR => report_blocks(packet.get(8..), count, &mut found),
            PSFB if count as u8 == AFB => remb(&packet[4..], &mut found),
            _ => {}
        }
        rest = &rest[len..];
    }
    found
}

fn report_blocks(blocks: Option<&[u8]>, count: usize, found: &mut Vec<Feedback>) {
    let Some(blocks) = blocks else { return };
    for block in blocks.chunks_exact(24).take(count) {
        found.push(Feedback::Loss {
            ssrc: u32::from_be_bytes([block[0], block[1], block[2], block[3]]),
            fraction: f64::from(block[4]) / 256.0,
        });
    }
}

/// REMB's FCI: "REMB", the number of SSRCs, a 6-bit exponent and an 18-bit mantissa, the SSRCs.
fn remb(body: &[u8], found: &mut Vec<Feedback>) {
    // The sender's and the media source's SSRC come first.
    let Some(fci) = body.get(8..) else { return };
    if fci.len() < 8 || &fci[..4] != b"REMB" {
        return;
    }
    let n = fci[4] as usize;
    let exponent = u32::from(fci[5] >> 2);
    let mantissa = (u64::from(fci[5] & 0x03) << 16) | (u64::from(fci[6]) << 8) | u64::from(fci[7]);
    let ssrcs: Vec<u32> = fci[8..]
        .chunks_exact(4)
        .take(n)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .collect();
    found.push(Feedback::Remb {
        bits_per_second: mantissa.checked_shl(exponent).unwrap_or(u64::MAX),
        ssrcs,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8, count: u8, words_after: u16) -> Vec<u8> {
        let mut h = vec![0x80 | count, kind];
        h.extend_from_slice(&words_after.to_be_bytes());
        h
    }

    fn block(ssrc: u32, fraction: u8) -> Vec<u8> {
        let mut b = ssrc.to_be_bytes().to_vec();
        b.push(fraction);
        b.extend_from_slice(&[0; 19]);
        b
    }

    #[test]
    fn reads_the_loss_of_every_report_block_of_receiver_and_sender_reports() {
        let mut rr = header(RR, 2, 1 + 12);
        rr.extend_from_slice(&7u32.to_be_bytes());
        rr.extend(block(0xdead_beef, 64));
        rr.extend(block(42, 0));
        let mut sr = header(SR, 1, 6 + 6);
        sr.extend_from_slice(&[0; 24]);
        sr.extend(block(0xdead_beef, 128));
        let found = read(&[rr, sr].concat());
        assert_eq!(
            found,
            vec![
                Feedback::Loss {
                    ssrc: 0xdead_beef,
                    fraction: 0.25
                },
                Feedback::Loss {
                    ssrc: 42,
                    fraction: 0.0
                },
                Feedback::Loss {
                    ssrc: 0xdead_beef,
                    fraction: 0.5
                },
            ]
        );
    }

    #[test]
    fn reads_a_remb_estimate() {
        let mut p = header(PSFB, AFB, 2 + 3);
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
        // 300,000 b/s: exponent 1, mantissa 150,000 (0x249F0); then one SSRC.
        p.extend_from_slice(b"REMB");
        p.extend_from_slice(&[1, 0x06, 0x49, 0xf0]);
        p.extend_from_slice(&9u32.to_be_bytes());
        assert_eq!(
            read(&p),
            vec![Feedback::Remb {
                bits_per_second: 300_000,
                ssrcs: vec![9]
            }]
        );
    }

    #[test]
    fn malformed_packets_give_what_was_read_before_them() {
        let mut rr = header(RR, 1, 7);
        rr.extend_from_slice(&7u32.to_be_bytes());
        rr.extend(block(5, 26));
        let mut truncated = header(RR, 1, 40);
        truncated.extend_from_slice(&[0; 8]);
        let found = read(&[rr.clone(), truncated].concat());
        assert_eq!(found.len(), 1);
        assert!(read(&[0xff; 3]).is_empty());
        assert!(read(&[]).is_empty());
        // A count larger than the blocks present reads only what is there.
        let mut short = header(RR, 5, 7);
        short.extend_from_slice(&7u32.to_be_bytes());
        short.extend(block(5, 26));
        assert_eq!(read(&short).len(), 1);
    }
}
