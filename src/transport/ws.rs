//! The `/kurento` WebSocket: text JSON-RPC frames, executed in arrival order per connection.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info_span, Instrument};

use super::Head;
use crate::control::Core;

/// getStats/getGstreamerDot results can be large; clients may send big SDPs.
const MAX_MESSAGE: usize = 64 << 20;

pub(super) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    head: &Head,
    core: Arc<Core>,
) -> std::io::Result<()> {
    let Some(key) = head.header("sec-websocket-key") else {
        return super::http::respond(
            &mut stream,
            400,
            "text/plain",
            b"missing Sec-WebSocket-Key\n",
            true,
        )
        .await;
    };
    // No subprotocol is selected: Kurento clients send none (kurento-protocol.md §1.2).
    let accept = derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut socket = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;

    // KMS accepts `/kurento` with any query string and closes anything else with 1002.
    let path = head.path.split('?').next().unwrap_or("");
    if path.strip_prefix('/').unwrap_or(path) != "kurento" {
        let frame = CloseFrame {
            code: CloseCode::Protocol,
            reason: "Invalid path".into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
        return Ok(());
    }
    run(socket, peer, core).await;
    Ok(())
}

async fn run(socket: WebSocketStream<TcpStream>, peer: SocketAddr, core: Arc<Core>) {
    let (mut sink, mut source) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut conn = core.open_connection(tx.clone());
    let span = info_span!("ws", conn = conn.id, %peer);
    let writer = tokio::spawn(
        async move {
            while let Some(text) = rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        }
        .instrument(span.clone()),
    );
    async {
        debug!("connected");
        while let Some(msg) = source.next().await {
            let text = match msg {
                Ok(Message::Text(t)) => t.to_string(),
                Ok(Message::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            // One request at a time: clients pipeline requests and rely on arrival order (§1.6).
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
