//! HTTP(S) GETs under the URI policy: every connection resolves through it, so a name cannot
//! resolve to an allowed address when checked and to a refused one when connected, and
//! redirects are followed here, each hop checked and kept on its scheme. Used by the image
//! loader, and by components that fetch with another client (GStreamer sources) to learn where
//! a URL leads before they do.

use std::time::Duration;

use crate::uri_policy::{UriError, UriPolicy};

/// Redirects followed for one URL.
const MAX_REDIRECTS: usize = 5;

/// Why a GET got no final response.
#[derive(Debug)]
pub enum GetError {
    /// The policy refuses a hop's host (decided before connecting to it).
    Refused(UriError),
    /// A redirect not followed (another scheme, or too many); for the server's log.
    Unreachable(String),
}

/// A client for one URL's redirect chain.
pub struct PolicyHttp<'a> {
    /// Checks every hop and resolves every connection.
    pub policy: &'a UriPolicy,
    /// For connecting and each read.
    pub timeout: Duration,
    /// DER certificates trusted for `https://` besides the usual roots.
    pub extra_trusted_certificates: &'a [Vec<u8>],
}

impl PolicyHttp<'_> {
    fn agent(&self) -> ureq::Agent {
        let policy = self.policy.clone();
        let mut agent = ureq::AgentBuilder::new()
            .timeout(self.timeout)
            .resolver(move |netloc: &str| policy.resolve_netloc(netloc));
        if !self.extra_trusted_certificates.is_empty() {
            agent = agent.tls_config(tls_config(self.extra_trusted_certificates));
        }
        // Redirects are followed by get_following_redirects, not by ureq.
        agent.redirects(0).build()
    }

    /// GETs `url`, following redirects here rather than in ureq: each hop is checked by the
    /// policy and must stay on the same scheme (a redirect to file:// made ureq panic), and
    /// there are at most MAX_REDIRECTS of them. Returns the last URL and what its request gave.
    pub fn get_following_redirects(
        &self,
        url: &str,
    ) -> Result<(String, Result<ureq::Response, ureq::Error>), GetError> {
        let agent = self.agent();
        let mut current = url.to_owned();
        let mut hops = 0;
        loop {
            // Checked first for a clear refusal; the agent's resolver enforces it.
            self.policy
                .check_remote(&current)
                .map_err(GetError::Refused)?;
            let response = match agent.get(&current).call() {
                Ok(r) if (300..400).contains(&r.status()) => r,
                other => return Ok((current, other)),
            };
            hops += 1;
            let next = response
                .header("Location")
                .and_then(|location| redirect_target(&current, location));
            match next {
                Some(next) if hops <= MAX_REDIRECTS => current = next,
                Some(_) => {
                    return Err(GetError::Unreachable(format!(
                        "more than {MAX_REDIRECTS} redirects"
                    )))
                }
                None => {
                    return Err(GetError::Unreachable(format!(
                        "a redirect to {:?} was not followed (only to the same scheme)",
                        response.header("Location").unwrap_or_default()
                    )))
                }
            }
        }
    }

    /// Where an `http(s)://` URL leads once its redirects are followed under the policy, for a
    /// component that fetches it itself and must not follow redirects on its own. Only the
    /// response head of each hop is read.
    pub fn final_location(&self, url: &str) -> Result<String, GetError> {
        self.get_following_redirects(url).map(|(last, _)| last)
    }
}

/// Where a redirect from `from` to `location` goes, if it stays on `from`'s scheme: an absolute
/// URL of that scheme, or a path on the same host.
pub(crate) fn redirect_target(from: &str, location: &str) -> Option<String> {
    let (scheme, rest) = from.split_once("://")?;
    let location = location.trim();
    if let Some((to_scheme, _)) = location.split_once("://") {
        return to_scheme
            .eq_ignore_ascii_case(scheme)
            .then(|| location.to_owned());
    }
    if location.starts_with("//") || !location.starts_with('/') {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}{location}"))
}

/// The public web roots plus `extra` (unparseable extras are skipped).
fn tls_config(extra: &[Vec<u8>]) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in extra {
        let _ = roots.add(rustls::pki_types::CertificateDer::from(der.clone()));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    std::sync::Arc::new(config)
}
