//! The `/kurento` WebSocket: text JSON-RPC frames, executed in arrival order per connection;
//! and the `/demo-signaling` relay's, handed to `signaling`.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info, info_span, Instrument};

use super::{Head, Site};
use crate::control::Core;

/// getStats/getGstreamerDot results can be large; clients may send big SDPs.
const MAX_MESSAGE: usize = 64 << 20;

pub(super) async fn serve<S>(
    mut stream: S,
    peer: SocketAddr,
    head: &Head,
    core: Arc<Core>,
    site: &Site,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(key) = head.header("sec-websocket-key") else {
        // 500, as KMS (WebSocket++) answers: its Docker health check treats that as alive.
        return super::http::respond(
            &mut stream,
            500,
            "text/plain",
            b"missing Sec-WebSocket-Key\n",
            true,
        )
        .await;
    };
    // No subprotocol is selected: Kurento clients send none.
    let accept = derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut socket = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;

    // KMS accepts `/kurento` with any query string and closes anything else with 1002. The
    // refusals are close frames with a reason, which clients can show; an HTTP error status
    // would reach them only as a failed handshake.
    let route = head.route();
    let route = route.strip_prefix('/').unwrap_or(route);
    let signaling = (route == "demo-signaling")
        .then_some(site.signaling.as_ref())
        .flatten();
    let refusal = if route != "kurento" && signaling.is_none() {
        Some((CloseCode::Protocol, "Invalid path"))
    } else {
        match &site.access_token {
            Some(token) if !head.carries_token(token) => {
                info!(%peer, "WebSocket refused: access token missing or invalid");
                Some((CloseCode::Policy, "Invalid access token"))
            }
            _ => None,
        }
    };
    if let Some((code, reason)) = refusal {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
        return Ok(());
    }
    if let Some(relay) = signaling {
        super::signaling::run(socket, peer, relay, shutdown).await;
        return Ok(());
    }
    run(socket, peer, core, shutdown).await;
    Ok(())
}

async fn run<S>(
    socket: WebSocketStream<S>,
    peer: SocketAddr,
    core: Arc<Core>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = socket.split();
    // Replies and events share one channel, so they leave in the order they were produced.
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel::<CloseFrame>();
    let mut close_tx = Some(close_tx);
    let mut conn = core.open_connection(tx.clone());
    let span = info_span!("ws", conn = conn.id, %peer);
    let writer = tokio::spawn(
        async move {
            loop {
                tokio::select! {
                    text = rx.recv() => match text {
                        Some(text) => {
                            if sink.send(Message::text(text)).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    frame = &mut close_rx => {
                        if let Ok(frame) = frame {
                            let _ = sink.send(Message::Close(Some(frame))).await;
                        }
                        break;
                    }
                }
            }
            let _ = sink.close().await;
        }
        .instrument(span.clone()),
    );
    async {
        debug!("connected");
        loop {
            let msg = tokio::select! {
                msg = source.next() => msg,
                Ok(_) = shutdown.wait_for(|stop| *stop) => {
                    let frame = CloseFrame { code: CloseCode::Away, reason: "Server shutting down".into() };
                    if let Some(close) = close_tx.take() {
                        let _ = close.send(frame);
                    }
                    break;
                }
            };
            let text = match msg {
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            };
            // One request at a time: clients pipeline requests and rely on arrival order.
            if let Some(reply) = core.handle_text(&mut conn, &text).await {
                if tx.send(reply).is_err() {
                    break;
                }
            }
        }
        debug!("disconnected");
    }
    .instrument(span)
    .await;
    core.close_connection(&conn);
    drop(tx);
    let _ = writer.await;
}
