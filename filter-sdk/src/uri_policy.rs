//! The policy for every URI a client names: overlay images, recordings, played media, uploads.
//! Clients are untrusted, so a URI may only reach
//! - regular files under the media roots (never FIFOs, devices, `/proc`; a file that is missing,
//!   forbidden or outside the roots gets one error text, so the disk cannot be probed), and
//! - network hosts whose every resolved address is allowed: link-local, multicast, broadcast and
//!   unspecified addresses never are; loopback and private ones only while
//!   `allow_private_networks` is set (the default, as in Kurento, whose tutorials serve their
//!   images from localhost).

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use crate::local_file::{self, LocalFileError};

/// Where client URIs may lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriPolicy {
    /// Canonical directories local files must lie under (symlinks resolved); relative paths
    /// start at the first. `None`: any file (local tools such as gst-launch, never the server).
    pub media_roots: Option<Vec<PathBuf>>,
    /// Whether hosts on loopback and private networks may be reached.
    pub allow_private_networks: bool,
}

impl Default for UriPolicy {
    /// Unconfined: for a researcher's own tools. The server always sets its roots.
    fn default() -> Self {
        UriPolicy {
            media_roots: None,
            allow_private_networks: true,
        }
    }
}

/// Why a URI is refused.
#[derive(Debug, thiserror::Error)]
pub enum UriError {
    /// A local file that cannot be used (one wording for every reason).
    #[error(transparent)]
    File(#[from] LocalFileError),
    /// A host the policy does not let the server reach.
    #[error("{host} is not reachable from this server (URI policy: {why})")]
    Refused {
        /// The host as named in the URI.
        host: String,
        /// Which rule refused it, and the setting that would change it.
        why: &'static str,
    },
    /// The URI's authority cannot be parsed.
    #[error("invalid URI {uri:?}: {reason}")]
    Invalid {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host name does not resolve.
    #[error("{0}: the host name does not resolve")]
    Unresolved(String),
}

/// What an address is, for the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// Routable on the internet.
    Public,
    /// Loopback, private (RFC 1918, shared CGNAT space, IPv6 unique local): the server's own
    /// machine and network.
    Private,
    /// Link-local, multicast, broadcast, unspecified and reserved: never reachable by URI.
    Forbidden,
}

/// The class of `ip`; IPv4 addresses carried in IPv6 (mapped, NAT64, 6to4) count as IPv4.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
    {
        AddressClass::Forbidden
    } else if ip.is_loopback() || ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let first = ip.segments()[0];
    let link_local = first & 0xffc0 == 0xfe80;
    if ip.is_unspecified() || ip.is_multicast() || link_local {
        AddressClass::Forbidden
    } else if ip.is_loopback() || first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        // Unique local fc00::/7 and the deprecated site-local fec0::/10.
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

/// The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible, NAT64
/// (64:ff9b::/96) or 6to4 (2002::/16) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// The host, port and scheme of a network URI (`scheme://[user@]host[:port]/…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    /// Lower-case scheme.
    pub scheme: String,
    /// Host name or address literal, brackets removed.
    pub host: String,
    /// The explicit port, else the scheme's default.
    pub port: u16,
}

/// Parses the authority of `uri`: user information is skipped up to the *last* `@` (as URL
/// parsers do, so `http://a@127.0.0.1/` names 127.0.0.1).
pub fn authority(uri: &str) -> Result<Authority, UriError> {
    let invalid = |reason: &str| UriError::Invalid {
        uri: uri.into(),
        reason: reason.into(),
    };
    let scheme = local_file::scheme_of(uri).ok_or_else(|| invalid("no scheme"))?;
    let rest = &uri[scheme.len() + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid("unclosed '['"))?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| invalid("bad port"))?,
        None => default_port(&scheme).ok_or_else(|| invalid("no port"))?,
    };
    Ok(Authority {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
    })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "rtsp" | "rtsps" | "rtspt" => Some(554),
        _ => None,
    }
}

impl UriPolicy {
    /// The policy's verdict on one address.
    pub fn check_address(&self, host: &str, ip: IpAddr) -> Result<(), UriError> {
        let refused = |why| UriError::Refused {
            host: host.to_owned(),
            why,
        };
        match classify(ip) {
            AddressClass::Public => Ok(()),
            AddressClass::Private if self.allow_private_networks => Ok(()),
            AddressClass::Private => Err(refused(
                "loopback and private addresses are refused while uri_allow_private_networks \
                 is false",
            )),
            AddressClass::Forbidden => Err(refused(
                "link-local, multicast, broadcast, unspecified and reserved addresses are \
                 always refused",
            )),
        }
    }

    /// Resolves `host:port` (blocking) and returns its addresses if every one is allowed: a
    /// name that also resolves to a refused address is refused, so a second lookup cannot be
    /// steered there.
    pub fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, UriError> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => (literal, port)
                .to_socket_addrs()
                .map_err(|_| UriError::Unresolved(host.to_owned()))?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(UriError::Unresolved(host.to_owned()));
        }
        for address in &addresses {
            self.check_address(host, address.ip())?;
        }
        Ok(addresses)
    }

    /// Checks a network URI's host (resolving it), for URIs another component fetches itself
    /// (GStreamer sources, uploads).
    pub fn check_remote(&self, uri: &str) -> Result<Authority, UriError> {
        let authority = authority(uri)?;
        self.resolve(&authority.host, authority.port)?;
        Ok(authority)
    }

    /// A resolver for HTTP clients (`host:port` in, allowed addresses out): every connection,
    /// the first and each redirect's, goes only to addresses the policy allows.
    pub fn resolve_netloc(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        let (host, port) = netloc
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad host:port"))?;
        self.resolve(host, port)
            .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))
    }

    fn roots(&self) -> Option<&[PathBuf]> {
        self.media_roots.as_deref()
    }

    /// An existing regular file under the media roots, opened without blocking (a FIFO would
    /// block an ordinary open forever).
    pub fn open_file(&self, path: &Path) -> Result<(PathBuf, File), UriError> {
        let real = local_file::existing_file(path, self.roots())?;
        let file = local_file::open_regular(&real, path)?;
        Ok((real, file))
    }

    /// An existing regular file under the media roots, for a component that opens it itself.
    pub fn file_to_read(&self, path: &Path) -> Result<PathBuf, UriError> {
        self.open_file(path).map(|(real, _)| real)
    }

    /// A file to create or overwrite under the media roots.
    pub fn file_to_write(&self, path: &Path) -> Result<PathBuf, UriError> {
        Ok(local_file::new_file(path, self.roots())?)
    }
}

/// The URI fuzz target: parses one URI's authority and checks its address, and, for a `file:`
/// URI, asserts that whatever the policy would read or write lies under one of its media roots.
/// `make test` replays the corpus (`fuzz/corpus/uri`); `fuzz/afl` runs it under AFL++.
#[doc(hidden)]
pub fn fuzz_target(policy: &UriPolicy, input: &[u8]) {
    let uri = String::from_utf8_lossy(input);
    if let Ok(a) = authority(&uri) {
        if let Ok(ip) = a.host.parse::<IpAddr>() {
            let _ = policy.check_address(&a.host, ip);
        }
    }
    let Some(Ok(path)) = local_file::file_uri_path(&uri) else {
        return;
    };
    let inside = |real: &Path| {
        policy
            .roots()
            .is_none_or(|roots| roots.iter().any(|root| real.starts_with(root)))
    };
    if let Ok(real) = policy.file_to_read(&path) {
        assert!(inside(&real), "{uri} reads {}", real.display());
    }
    if let Ok(real) = policy.file_to_write(&path) {
        assert!(inside(&real), "{uri} writes {}", real.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn uri_corpus_and_mutations_never_panic_or_escape_the_root() {
        let root = std::env::temp_dir().join(format!("rheo-uri-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let root = root.canonicalize().unwrap();
        let policy = UriPolicy {
            media_roots: Some(vec![root.clone()]),
            allow_private_networks: false,
        };
        rheo_fuzz::replay("uri", 45_000, |input| fuzz_target(&policy, input));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn addresses_are_classified() {
        for public in [
            "8.8.8.8",
            "2001:4860::8888",
            "198.51.100.1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(classify(ip(public)), AddressClass::Public, "{public}");
        }
        for private in [
            "127.0.0.1",
            "127.8.9.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
        ] {
            assert_eq!(classify(ip(private)), AddressClass::Private, "{private}");
        }
        for forbidden in [
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "fe80::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
        ] {
            assert_eq!(
                classify(ip(forbidden)),
                AddressClass::Forbidden,
                "{forbidden}"
            );
        }
    }

    #[test]
    fn authorities_parse_as_url_parsers_do() {
        let a = |uri: &str| authority(uri).unwrap();
        assert_eq!(a("http://example.com/x").host, "example.com");
        assert_eq!(a("http://example.com/x").port, 80);
        assert_eq!(a("https://user:pw@example.com:8443/x").port, 8443);
        assert_eq!(a("http://evil.example@127.0.0.1/x").host, "127.0.0.1");
        assert_eq!(a("http://[::1]:8080/").host, "::1");
        assert_eq!(a("rtsp://cam.local/stream").port, 554);
        assert_eq!(a("HTTP://Example.COM").host, "example.com");
        for bad in [
            "http:///x",
            "http://host:99999/",
            "http://[::1/",
            "ftp://host/",
        ] {
            assert!(authority(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_strict_policy_refuses_local_hosts_in_every_spelling() {
        let strict = UriPolicy {
            media_roots: Some(vec![]),
            allow_private_networks: false,
        };
        for uri in [
            "http://127.0.0.1:9/",
            "http://localhost:9/",
            "http://0x7f000001:9/",
            "http://2130706433:9/",
            "http://0177.0.0.1:9/",
            "http://127.1:9/",
            "http://user:pass@127.0.0.1:9/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]:9/",
            "http://10.0.0.1/",
        ] {
            let e = strict.check_remote(uri).unwrap_err();
            assert!(matches!(e, UriError::Refused { .. }), "{uri}: {e}");
        }
        let default = UriPolicy::default();
        default.check_remote("http://127.0.0.1:9/").unwrap();
        default.check_remote("http://localhost:9/").unwrap();
        for uri in [
            "http://169.254.169.254/",
            "http://0.0.0.0:9/",
            "http://[fe80::1]/",
        ] {
            let e = default.check_remote(uri).unwrap_err();
            assert!(e.to_string().contains("always refused"), "{uri}: {e}");
        }
        assert!(default.resolve_netloc("127.0.0.1:80").is_ok());
        assert!(strict.resolve_netloc("127.0.0.1:80").is_err());
    }
}
