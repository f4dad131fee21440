//! WebSocket and HTTP on one port (and on the secure port over TLS): `/kurento` speaks
//! JSON-RPC; `/demo-signaling` lets the call demos find each other; `/healthz`, `/readyz`, `/metrics` and `/turn-credentials` are for operators and
//! the demos; a POST to `/http-post/<token>` is an HttpPostEndpoint's upload; `/whip/` and
//! `/whep/` publish and watch streams; everything else is the demos' files.

mod http;
mod http_post;
mod lanes;
mod multipart;
pub mod origin;
pub mod signaling;
pub mod tls;
mod whip;
mod ws;

pub use origin::OriginPolicy;
pub use ws::{CloseReason, WsLimits};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::config::TurnRest;
use crate::control::Core;

/// Largest HTTP request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Pause after a failed accept (e.g. EMFILE) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Time a client has to finish the TLS handshake and send its request head.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// What the listeners serve besides the control plane.
pub struct Site {
    pub web_dir: PathBuf,
    /// Required as `?access_token=` (or `Authorization: Bearer`) when set.
    pub access_token: Option<String>,
    pub turn: Option<TurnRest>,
    pub health: Health,
    /// The call demos' `/demo-signaling` relay; `None` when turned off.
    pub signaling: Option<signaling::Relay>,
    pub ws_limits: WsLimits,
    /// Connections the server closed, by reason.
    pub server_closes: ws::ServerCloses,
    /// Which web pages may open WebSockets, upload and ask for TURN credentials.
    pub origins: OriginPolicy,
    /// The STUN server (`host:port`) WHIP and WHEP answers name.
    pub stun: Option<String>,
    /// WHIP and WHEP sessions; `None` when turned off.
    pub whip: Option<std::sync::Arc<crate::whip::Gateway>>,
}

impl Site {
    /// Whether the request's `Origin` may use what it asks for; a refusal is logged with the
    /// setting that would let the origin in.
    pub(crate) fn origin_admitted(&self, head: &Head, peer: SocketAddr) -> bool {
        let origin = head.header("origin");
        match self.origins.admit(origin, head.header("host")) {
            Some(_) => true,
            None => {
                info!(
                    %peer,
                    origin = origin.unwrap_or_default(),
                    path = head.route(),
                    "refused: a page from this origin may not use Rheo; add the origin to \
                     allowed_origins (RHEO_ALLOWED_ORIGINS) to let it in"
                );
                false
            }
        }
    }
}

/// Readiness as `/readyz` reports it.
#[derive(Default)]
pub struct Health {
    listeners_serving: AtomicBool,
    shutting_down: AtomicBool,
}

impl Health {
    /// `Ok` when the server should get traffic, else why not.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if self.shutting_down.load(Ordering::SeqCst) {
            Err("shutting down")
        } else if !self.listeners_serving.load(Ordering::SeqCst) {
            Err("not accepting connections")
        } else if !rheo_media::is_initialised() {
            Err("GStreamer is not initialised")
        } else {
            Ok(())
        }
    }

    pub fn set_serving(&self, serving: bool) {
        self.listeners_serving.store(serving, Ordering::SeqCst);
    }

    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}

/// Accepts connections until `shutdown` turns true (then stops accepting; open WebSockets are
/// closed by their own tasks) or the listener fails.
pub async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    site: Arc<Site>,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let scheme = if tls.is_some() {
        "https/wss"
    } else {
        "http/ws"
    };
    info!(addr = %listener.local_addr()?, scheme, "listening");
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Ok(_) = shutdown.wait_for(|stop| *stop) => return Ok(()),
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Running out of file descriptors and the like passes; the listener must not die.
                warn!(error = %e, "accept failed; retrying shortly");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let (core, site, tls, shutdown) =
            (core.clone(), site.clone(), tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => handle(tls_stream, peer, core, site, shutdown).await,
                        Ok(Err(e)) => Err(e),
                        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
                    }
                }
                None => handle(stream, peer, core, site, shutdown).await,
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// A parsed request head.
pub(crate) struct Head {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_websocket(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    }

    /// The path without query string or fragment.
    pub fn route(&self) -> &str {
        self.path.split(['?', '#']).next().unwrap_or("/")
    }

    /// The value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.path.split_once('?')?.1.split('#').next()?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| percent_decode(v))
        })
    }

    /// Whether the request carries `token` (query `access_token` or a bearer header).
    pub fn carries_token(&self, token: &str) -> bool {
        let bearer = self
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        self.query_param("access_token")
            .or(bearer)
            .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
    }
}

/// Equal-length comparison whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle<S>(
    mut stream: S,
    peer: SocketAddr,
    core: Arc<Core>,
    site: Arc<Site>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A connection that closes or stays idle before its request (a browser's preconnected
    // socket) is closed without an answer: a 400 written to it would be read as the answer to
    // the request the browser sends on it later.
    let start = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_head(&mut stream)).await {
        Ok(start) => start?,
        Err(_) => return Ok(()),
    };
    let (head, body_start) = match start {
        RequestStart::Head(head, body_start) => (head, body_start),
        RequestStart::Closed => return Ok(()),
        RequestStart::Malformed => {
            return http::respond(&mut stream, 400, "text/plain", b"bad request\n", true).await
        }
    };
    if head.is_websocket() {
        ws::serve(stream, peer, &head, core, &site, shutdown).await
    } else {
        http::serve(stream, peer, &head, body_start, &site, &core).await
    }
}

/// How a connection's first request began.
enum RequestStart {
    /// The request head, and the bytes after it that came with it (the start of a body).
    Head(Head, Vec<u8>),
    /// The client closed before sending a request.
    Closed,
    /// Not an HTTP request head, or one too long.
    Malformed,
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<RequestStart> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(if buf.is_empty() {
                RequestStart::Closed
            } else {
                RequestStart::Malformed
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let head = Head {
                    method: req.method.unwrap_or("GET").to_owned(),
                    path: req.path.unwrap_or("/").to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                };
                return Ok(RequestStart::Head(head, buf[head_len..].to_vec()));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            _ => return Ok(RequestStart::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(path: &str, headers: &[(&str, &str)]) -> Head {
        Head {
            method: "GET".into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn tokens_come_from_the_query_or_a_bearer_header() {
        assert!(head("/kurento?access_token=s%2Fx", &[]).carries_token("s/x"));
        assert!(head("/kurento?a=1&access_token=tok", &[]).carries_token("tok"));
        assert!(head("/turn-credentials", &[("Authorization", "Bearer tok")]).carries_token("tok"));
        assert!(!head("/kurento?access_token=tok2", &[]).carries_token("tok"));
        assert!(!head("/kurento", &[]).carries_token("tok"));
        assert!(!head("/kurento?access_token=", &[]).carries_token("tok"));
        assert_eq!(head("/a?b=1#c", &[]).route(), "/a");
    }
}
