//! WebSocket and HTTP on one port: `/kurento` speaks JSON-RPC, everything else is the demos.

mod http;
mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use crate::control::Core;

/// Largest HTTP request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// What the listener serves besides the control plane.
#[derive(Clone)]
pub struct Site {
    pub web_dir: PathBuf,
}

/// Accepts connections until the listener fails or the task is cancelled.
pub async fn serve(listener: TcpListener, core: Arc<Core>, site: Site) -> std::io::Result<()> {
    info!(addr = %listener.local_addr()?, "listening");
    loop {
        let (stream, peer) = listener.accept().await?;
        let (core, site) = (core.clone(), site.clone());
        tokio::spawn(async move {
            if let Err(e) = handle(stream, peer, core, site).await {
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
}

async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    core: Arc<Core>,
    site: Site,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let Some(head) = read_head(&mut stream).await? else {
        return http::respond(&mut stream, 400, "text/plain", b"bad request\n", false).await;
    };
    if head.is_websocket() {
        ws::serve(stream, peer, &head, core).await
    } else {
        http::serve(stream, &head, &site).await
    }
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Head>> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                return Ok(Some(Head {
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
                }))
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            _ => return Ok(None),
        }
    }
}
