//! Which web pages may drive Rheo. Browsers send `Origin` on every WebSocket handshake and
//! cross-site POST, and WebSockets are not covered by CORS: without this check any page a user
//! opens could use the whole protocol (cross-site WebSocket hijacking).
//!
//! Let in: requests without `Origin` (application servers and command-line clients send none),
//! Rheo's own origin (the `Host` the request was sent to, so the demos work by any name, over
//! http and https, and behind a proxy that keeps `Host`), loopback origins on any port (how
//! Kurento's browser tutorials run in development; no public site has one, and DNS rebinding
//! keeps the attacker's name in `Origin`), and the origins listed in `allowed_origins` (`*`: any).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `allowed_origins` setting, and the refusals it caused.
#[derive(Debug, Default)]
pub struct OriginPolicy {
    /// Normalised `scheme://host:port` origins.
    listed: Vec<String>,
    any: bool,
    refused: AtomicU64,
}

/// Why a request was let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admitted {
    NoOrigin,
    SameOrigin,
    Loopback,
    Listed,
}

impl OriginPolicy {
    /// From the `allowed_origins` entries: exact origins, or `*`. Errors name a malformed one.
    pub fn new(allowed: &[String]) -> Result<OriginPolicy, String> {
        let mut policy = OriginPolicy::default();
        for entry in allowed {
            let entry = entry.trim();
            if entry == "*" {
                policy.any = true;
            } else {
                let origin = Origin::parse(entry).ok_or_else(|| {
                    format!(
                        "allowed_origins: '{entry}' is not an origin (scheme://host[:port]) or *"
                    )
                })?;
                policy.listed.push(origin.normalised());
            }
        }
        Ok(policy)
    }

    /// Why a request with these `Origin` and `Host` headers may go on; `None` when it may not
    /// (the refusal is counted).
    pub fn admit(&self, origin: Option<&str>, host: Option<&str>) -> Option<Admitted> {
        let verdict = self.verdict(origin, host);
        if verdict.is_none() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    fn verdict(&self, origin: Option<&str>, host: Option<&str>) -> Option<Admitted> {
        let Some(origin) = origin else {
            return Some(Admitted::NoOrigin);
        };
        if self.any {
            return Some(Admitted::Listed);
        }
        let origin = origin.trim();
        // Browsers send `null` or scheme://host[:port], and pages cannot change the header. Some
        // non-browser clients send a bare host:port (Node's ws over wss:// does): not a page.
        if origin != "null" && !origin.contains("://") && !origin.is_empty() {
            return Some(Admitted::NoOrigin);
        }
        // `null` (sandboxed frames, file: pages) and anything unparsable are foreign.
        let origin = Origin::parse(origin)?;
        if host.is_some_and(|host| origin.is_host(host)) {
            return Some(Admitted::SameOrigin);
        }
        if origin.is_loopback() {
            return Some(Admitted::Loopback);
        }
        if self.listed.contains(&origin.normalised()) {
            return Some(Admitted::Listed);
        }
        None
    }

    /// Requests refused so far (`/metrics`).
    pub fn refusals(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Whether every origin is let in (`*`).
    pub fn allows_any(&self) -> bool {
        self.any
    }
}

/// A parsed web origin: `scheme://host[:port]`, lower case, the port made explicit.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn parse(text: &str) -> Option<Origin> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" | "ws" => 80,
            "https" | "wss" => 443,
            _ => return None,
        };
        // An origin has no path; a trailing slash is tolerated in the setting.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        let (host, port) = split_authority(authority)?;
        Some(Origin {
            scheme,
            host,
            port: port.unwrap_or(default_port),
        })
    }

    fn normalised(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }

    /// Whether `host` (a `Host` header: name or address, with or without a port) names this
    /// origin's host and port.
    fn is_host(&self, host: &str) -> bool {
        let Some((name, port)) = split_authority(host.trim()) else {
            return false;
        };
        let default_port = if matches!(self.scheme.as_str(), "https" | "wss") {
            443
        } else {
            80
        };
        name == self.host && port.unwrap_or(default_port) == self.port
    }

    fn is_loopback(&self) -> bool {
        if self.host == "localhost" {
            return true;
        }
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// `host[:port]` or `[v6][:port]`, the host lower-cased (brackets kept for IPv6).
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{}]", v6.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> OriginPolicy {
        OriginPolicy::new(&allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn clients_without_origin_and_rheo_own_pages_are_let_in() {
        let p = policy(&[]);
        assert_eq!(
            p.admit(None, Some("10.0.0.5:8888")),
            Some(Admitted::NoOrigin)
        );
        for (origin, host) in [
            ("http://10.0.0.5:8888", "10.0.0.5:8888"),
            ("https://10.0.0.5:8443", "10.0.0.5:8443"),
            ("http://Rheo.Lan:8888", "rheo.lan:8888"),
            ("https://rheo.example", "rheo.example"),
            ("https://rheo.example", "rheo.example:443"),
            ("http://[fd00::5]:8888", "[FD00::5]:8888"),
        ] {
            assert_eq!(
                p.admit(Some(origin), Some(host)),
                Some(Admitted::SameOrigin),
                "{origin} to {host}"
            );
        }
        assert_eq!(p.refusals(), 0);
    }

    #[test]
    fn a_bare_host_from_a_non_browser_client_is_no_page() {
        let p = policy(&[]);
        // Node's ws library over wss:// sends the host without a scheme.
        assert_eq!(
            p.admit(Some("127.0.0.1:33613"), Some("127.0.0.1:33613")),
            Some(Admitted::NoOrigin)
        );
        assert_eq!(
            p.admit(Some("rheo.example:8433"), Some("10.0.0.1:8433")),
            Some(Admitted::NoOrigin)
        );
    }

    #[test]
    fn loopback_pages_on_any_port_are_let_in() {
        let p = policy(&[]);
        for origin in [
            "http://localhost:3000",
            "https://localhost:8443",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:5000",
        ] {
            assert_eq!(
                p.admit(Some(origin), Some("192.168.1.20:8888")),
                Some(Admitted::Loopback),
                "{origin}"
            );
        }
    }

    #[test]
    fn foreign_pages_are_refused_and_counted() {
        let p = policy(&["https://app.example.com"]);
        for origin in [
            "http://evil.example",
            "http://evil.example:8888",
            "null",
            "file://",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
            "https://rheo.example:8443",
            "http://app.example.com",
            "chrome-extension://abc",
            "",
        ] {
            assert_eq!(
                p.admit(Some(origin), Some("rheo.example")),
                None,
                "{origin}"
            );
        }
        // Same name, other port: another origin.
        assert_eq!(
            p.admit(Some("http://rheo.example:9999"), Some("rheo.example:8888")),
            None
        );
        assert_eq!(p.refusals(), 11);
    }

    #[test]
    fn listed_origins_and_star_let_pages_in() {
        let p = policy(&["https://App.Example.com/", "http://10.1.1.1:3000"]);
        assert_eq!(
            p.admit(Some("https://app.example.com"), Some("rheo:8888")),
            Some(Admitted::Listed)
        );
        assert_eq!(
            p.admit(Some("https://app.example.com:443"), Some("rheo:8888")),
            Some(Admitted::Listed)
        );
        assert_eq!(
            p.admit(Some("http://10.1.1.1:3000"), Some("rheo:8888")),
            Some(Admitted::Listed)
        );
        assert_eq!(
            p.admit(Some("http://10.1.1.1:3001"), Some("rheo:8888")),
            None
        );
        let any = policy(&["*"]);
        assert_eq!(
            any.admit(Some("http://evil.example"), Some("rheo:8888")),
            Some(Admitted::Listed)
        );
        assert!(OriginPolicy::new(&["example.com".into()]).is_err());
        assert!(OriginPolicy::new(&["https://example.com/path".into()]).is_err());
    }
}
