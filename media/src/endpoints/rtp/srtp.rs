//! SDES-SRTP (RFC 4568) for RtpEndpoint: the suites Kurento names, the `a=crypto` lines of the
//! descriptions, and the srtpenc/srtpdec that rtpbin puts on each session.

use base64::Engine;
use gst::prelude::*;

use crate::endpoints::rtp_chains;
use crate::{err, ErrorKind};

/// Kurento's CryptoSuite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpSuite {
    Aes128Sha1_80,
    Aes128Sha1_32,
    Aes256Sha1_80,
    Aes256Sha1_32,
}

impl SrtpSuite {
    /// From Kurento's name (`AES_128_CM_HMAC_SHA1_80`, ...).
    pub fn from_kurento(name: &str) -> Option<SrtpSuite> {
        Some(match name {
            "AES_128_CM_HMAC_SHA1_80" => SrtpSuite::Aes128Sha1_80,
            "AES_128_CM_HMAC_SHA1_32" => SrtpSuite::Aes128Sha1_32,
            "AES_256_CM_HMAC_SHA1_80" => SrtpSuite::Aes256Sha1_80,
            "AES_256_CM_HMAC_SHA1_32" => SrtpSuite::Aes256Sha1_32,
            _ => return None,
        })
    }

    /// The name in `a=crypto` lines.
    fn sdp_name(self) -> &'static str {
        match self {
            SrtpSuite::Aes128Sha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::Aes128Sha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SrtpSuite::Aes256Sha1_80 => "AES_256_CM_HMAC_SHA1_80",
            SrtpSuite::Aes256Sha1_32 => "AES_256_CM_HMAC_SHA1_32",
        }
    }

    /// Master key and salt together, in bytes.
    pub fn key_len(self) -> usize {
        match self {
            SrtpSuite::Aes128Sha1_80 | SrtpSuite::Aes128Sha1_32 => 30,
            SrtpSuite::Aes256Sha1_80 | SrtpSuite::Aes256Sha1_32 => 46,
        }
    }

    fn cipher(self) -> &'static str {
        match self {
            SrtpSuite::Aes128Sha1_80 | SrtpSuite::Aes128Sha1_32 => "aes-128-icm",
            SrtpSuite::Aes256Sha1_80 | SrtpSuite::Aes256Sha1_32 => "aes-256-icm",
        }
    }

    fn auth(self) -> &'static str {
        match self {
            SrtpSuite::Aes128Sha1_80 | SrtpSuite::Aes256Sha1_80 => "hmac-sha1-80",
            SrtpSuite::Aes128Sha1_32 | SrtpSuite::Aes256Sha1_32 => "hmac-sha1-32",
        }
    }
}

/// A suite and its master key and salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey {
    pub suite: SrtpSuite,
    pub master: Vec<u8>,
}

impl std::fmt::Debug for SrtpKey {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtpKey({:?}, {} bytes)", self.suite, self.master.len())
    }
}

impl SrtpKey {
    /// Checks the key's length against the suite.
    pub fn new(suite: SrtpSuite, master: Vec<u8>) -> crate::Result<SrtpKey> {
        if master.len() != suite.key_len() {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!(
                    "an {:?} key is {} bytes of key and salt, not {}",
                    suite,
                    suite.key_len(),
                    master.len()
                ),
            ));
        }
        Ok(SrtpKey { suite, master })
    }

    /// A random key of `suite`.
    pub fn random(suite: SrtpSuite) -> crate::Result<SrtpKey> {
        use std::io::Read;
        let mut master = vec![0u8; suite.key_len()];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut master))
            .map_err(|e| err(ErrorKind::Internal, format!("no random key: {e}")))?;
        Ok(SrtpKey { suite, master })
    }

    /// `a=crypto:<tag> <suite> inline:<key>`.
    pub(super) fn sdp_line(&self, tag: u32) -> String {
        let inline = base64::engine::general_purpose::STANDARD.encode(&self.master);
        format!(
            "a=crypto:{tag} {} inline:{inline}\r\n",
            self.suite.sdp_name()
        )
    }

    fn key_buffer(&self) -> gst::Buffer {
        gst::Buffer::from_slice(self.master.clone())
    }

    /// The caps srtpdec wants for a stream protected with this key.
    fn decoder_caps(&self) -> gst::Caps {
        gst::Caps::builder("application/x-srtp")
            .field("srtp-key", self.key_buffer())
            .field("srtp-cipher", self.suite.cipher())
            .field("srtp-auth", self.suite.auth())
            .field("srtcp-cipher", self.suite.cipher())
            .field("srtcp-auth", self.suite.auth())
            .build()
    }
}

/// The remote side's key for `suite` in m-line `m`, with its tag: the first `a=crypto` of that
/// suite whose key parses (lifetime and MKI parameters are ignored).
pub(super) fn remote_key(m: &gst_sdp::SDPMediaRef, suite: SrtpSuite) -> Option<(u32, SrtpKey)> {
    m.attributes()
        .filter(|a| a.key() == "crypto")
        .find_map(|a| {
            let mut parts = a.value()?.split_whitespace();
            let tag = parts.next()?.parse().ok()?;
            if parts.next()? != suite.sdp_name() {
                return None;
            }
            let inline = parts.next()?.strip_prefix("inline:")?;
            let key = inline.split('|').next()?;
            let master = base64::engine::general_purpose::STANDARD.decode(key).ok()?;
            SrtpKey::new(suite, master).ok().map(|k| (tag, k))
        })
}

/// An srtpenc protecting what a session sends with `key` (RTP and RTCP).
pub(super) fn encoder(key: &SrtpKey) -> crate::Result<gst::Element> {
    let enc = rtp_chains::make("srtpenc")?;
    enc.set_property("key", key.key_buffer());
    for (prop, value) in [
        ("rtp-cipher", key.suite.cipher()),
        ("rtcp-cipher", key.suite.cipher()),
        ("rtp-auth", key.suite.auth()),
        ("rtcp-auth", key.suite.auth()),
    ] {
        enc.set_property_from_str(prop, value);
    }
    Ok(enc)
}

/// An srtpdec for what a session receives, with the remote key `key_of` gives when the first
/// packet of a stream comes (none yet: the packets are dropped).
pub(super) fn decoder(
    key_of: impl Fn() -> Option<SrtpKey> + Send + Sync + 'static,
) -> crate::Result<gst::Element> {
    let dec = rtp_chains::make("srtpdec")?;
    dec.connect("request-key", false, move |_| {
        key_of().map(|k| k.decoder_caps().to_value())
    });
    Ok(dec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypto_lines_round_trip_and_wrong_keys_are_refused() {
        gst::init().unwrap();
        let key = SrtpKey::random(SrtpSuite::Aes128Sha1_80).unwrap();
        let line = key.sdp_line(1);
        assert!(
            line.starts_with("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
            "{line}"
        );
        let text = format!(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/SAVPF 96\r\n\
             a=crypto:7 AES_256_CM_HMAC_SHA1_80 inline:AAAA\r\n{}",
            line.replace("crypto:1", "crypto:3")
        );
        let msg = crate::endpoints::sdp::parse(&text).unwrap();
        let m = msg.media(0).unwrap();
        assert_eq!(
            remote_key(m, SrtpSuite::Aes128Sha1_80),
            Some((3, key.clone()))
        );
        // The AES-256 line's key is too short.
        assert_eq!(remote_key(m, SrtpSuite::Aes256Sha1_80), None);
        assert!(SrtpKey::new(SrtpSuite::Aes256Sha1_32, vec![0; 30]).is_err());
        assert!(encoder(&key).is_ok() && decoder(move || Some(key.clone())).is_ok());
    }
}
