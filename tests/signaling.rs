//! The call demos' `/demo-signaling` relay over real WebSockets: rooms, messages, a page that
//! vanishes, the access token, and turning it off.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use common::start_server;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(addr: std::net::SocketAddr, query: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/demo-signaling{query}"))
        .await
        .unwrap();
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next text message, or the close frame's reason as `{"closed": reason}`.
async fn next(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a message within 5 s");
    match msg {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap(),
        Some(Ok(Message::Close(frame))) => {
            json!({"closed": frame.map(|f| f.reason.to_string()).unwrap_or_default()})
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_find_each_other_and_learn_when_one_vanishes() {
    let (addr, _) = start_server(&[]).await;
    let mut alice = open(addr, "").await;
    send(
        &mut alice,
        json!({"type": "join", "room": "lobby", "name": "alice"}),
    )
    .await;
    assert_eq!(next(&mut alice).await["peers"], json!([]));
    let mut bob = open(addr, "").await;
    send(
        &mut bob,
        json!({"type": "join", "room": "lobby", "name": "bob"}),
    )
    .await;
    assert_eq!(next(&mut bob).await["peers"], json!(["alice"]));
    assert_eq!(
        next(&mut alice).await,
        json!({"type": "peer-joined", "name": "bob"})
    );

    send(
        &mut alice,
        json!({"type": "send", "to": "bob", "data": {"id": "call"}}),
    )
    .await;
    assert_eq!(
        next(&mut bob).await,
        json!({"type": "message", "from": "alice", "data": {"id": "call"}})
    );
    send(
        &mut alice,
        json!({"type": "send", "to": "nobody", "data": 1}),
    )
    .await;
    let e = next(&mut alice).await;
    assert_eq!(
        (e["type"].as_str(), e["to"].as_str()),
        (Some("error"), Some("nobody"))
    );
    send(
        &mut alice,
        json!({"type": "join", "room": "lobby", "name": "alice"}),
    )
    .await;
    assert_eq!(next(&mut alice).await["type"], "error");

    // Bob's page vanishes mid-call: Alice is told.
    drop(bob);
    assert_eq!(
        next(&mut alice).await,
        json!({"type": "peer-left", "name": "bob"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_relay_honours_the_access_token_and_can_be_turned_off() {
    let (addr, _) = start_server(&["--access-token", "s3cret"]).await;
    let mut without = open(addr, "").await;
    assert_eq!(
        next(&mut without).await,
        json!({"closed": "Invalid access token"})
    );
    let mut with = open(addr, "?access_token=s3cret").await;
    send(&mut with, json!({"type": "join", "room": "r", "name": "n"})).await;
    assert_eq!(next(&mut with).await["type"], "joined");

    let (addr, _) = start_server(&["--demo-signaling", "0"]).await;
    let mut off = open(addr, "").await;
    assert_eq!(next(&mut off).await, json!({"closed": "Invalid path"}));
}
