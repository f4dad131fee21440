//! What a remote description may contain before webrtcbin sees it. Each m-section costs
//! threads and memory there (an offer repeating one section 2,000 times made 2,000 threads),
//! and some values it does not check (`a=ssrc:0` trips a GLib critical).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{err, ErrorKind, Result};

/// Sizes of a session description (server-wide settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdpLimits {
    /// Bytes of SDP text.
    pub max_bytes: usize,
    /// m-sections.
    pub max_media: usize,
    /// Attribute lines in the session part or in any one m-section.
    pub max_attributes: usize,
}

impl Default for SdpLimits {
    /// A browser's offer has 2–3 m-sections of 20–60 attributes each, in 5–15 KB.
    fn default() -> Self {
        SdpLimits {
            max_bytes: 256 * 1024,
            max_media: 16,
            max_attributes: 512,
        }
    }
}

static MAX_BYTES: AtomicUsize = AtomicUsize::new(256 * 1024);
static MAX_MEDIA: AtomicUsize = AtomicUsize::new(16);
static MAX_ATTRIBUTES: AtomicUsize = AtomicUsize::new(512);

/// Sets the limits every remote description is held to (at start-up, from configuration).
pub fn set_sdp_limits(limits: SdpLimits) {
    MAX_BYTES.store(limits.max_bytes, Ordering::Relaxed);
    MAX_MEDIA.store(limits.max_media, Ordering::Relaxed);
    MAX_ATTRIBUTES.store(limits.max_attributes, Ordering::Relaxed);
}

/// The limits in force.
pub fn sdp_limits() -> SdpLimits {
    SdpLimits {
        max_bytes: MAX_BYTES.load(Ordering::Relaxed),
        max_media: MAX_MEDIA.load(Ordering::Relaxed),
        max_attributes: MAX_ATTRIBUTES.load(Ordering::Relaxed),
    }
}

fn refused(why: String) -> crate::Error {
    err(ErrorKind::InvalidArgument, why)
}

/// Checks `text` against `limits` and the values webrtcbin trusts: SSRCs (1 to 2^32-1) and
/// candidate lines.
pub fn check(text: &str, limits: &SdpLimits) -> Result<()> {
    if text.len() > limits.max_bytes {
        return Err(refused(format!(
            "the SDP has {} bytes; the server accepts {} (setting sdp_max_bytes)",
            text.len(),
            limits.max_bytes
        )));
    }
    let mut media = 0;
    let mut attributes = 0;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            media += 1;
            attributes = 0;
            if media > limits.max_media {
                return Err(refused(format!(
                    "the SDP has more than {} m-sections (setting sdp_max_media)",
                    limits.max_media
                )));
            }
            continue;
        }
        let Some(attribute) = line.strip_prefix("a=") else {
            continue;
        };
        attributes += 1;
        if attributes > limits.max_attributes {
            return Err(refused(format!(
                "an SDP section has more than {} attributes",
                limits.max_attributes
            )));
        }
        if let Some(value) = attribute.strip_prefix("ssrc:") {
            let ssrc = value.split(' ').next().unwrap_or_default();
            check_ssrc(ssrc)?;
        } else if let Some(value) = attribute.strip_prefix("ssrc-group:") {
            // webrtcbin's own answers with NACK name their not yet chosen media SSRC 0 here
            // (`FID 0 <rtx>`); a group names streams and creates none, so 0 passes.
            for ssrc in value
                .split(' ')
                .skip(1)
                .filter(|s| !s.is_empty() && *s != "0")
            {
                check_ssrc(ssrc)?;
            }
        } else if attribute.starts_with("candidate:") {
            super::candidate::check(attribute)
                .map_err(|why| refused(format!("invalid candidate in the SDP: {why}")))?;
        }
    }
    Ok(())
}

fn check_ssrc(ssrc: &str) -> Result<()> {
    match ssrc.parse::<u32>() {
        Ok(n) if n != 0 && ssrc.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(refused(format!("invalid SSRC {ssrc:?} in the SDP"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

    fn section(extra: &str) -> String {
        format!("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n{extra}")
    }

    #[test]
    fn sizes_are_limited() {
        let limits = SdpLimits::default();
        let two = format!("{OFFER}{}{}", section(""), section("a=ssrc:1 cname:x\r\n"));
        check(&two, &limits).unwrap();
        let many = format!("{OFFER}{}", section("").repeat(17));
        assert!(check(&many, &limits)
            .unwrap_err()
            .message
            .contains("m-sections"));
        let long = format!("{OFFER}{}", section(&"a=x\r\n".repeat(600)));
        assert!(check(&long, &limits)
            .unwrap_err()
            .message
            .contains("attributes"));
        let small = SdpLimits {
            max_bytes: 40,
            ..limits
        };
        assert!(check(&two, &small).unwrap_err().message.contains("bytes"));
    }

    #[test]
    fn invalid_ssrcs_and_candidates_are_refused() {
        let limits = SdpLimits::default();
        for bad in [
            "a=ssrc:0 cname:x\r\n",
            "a=ssrc:4294967296 cname:x\r\n",
            "a=ssrc:-1 cname:x\r\n",
            "a=ssrc:+5 cname:x\r\n",
            "a=ssrc-group:FID 1 -1\r\n",
            "a=candidate:x y z w v u t s\r\n",
        ] {
            let offer = format!("{OFFER}{}", section(bad));
            let e = check(&offer, &limits).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
