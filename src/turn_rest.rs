//! TURN REST credentials (draft-uberti-behave-turn-rest, coturn's `use-auth-secret`): an
//! expiring username and its HMAC under the secret shared with the TURN server, so browsers get
//! `iceServers` without a long-lived password in the page.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::config::TurnRest;

/// The label after the expiry in minted usernames (`<expiry>:rheo`).
const USER_LABEL: &str = "rheo";

/// `(username, credential)` valid until `now + ttl`.
pub fn mint(secret: &str, ttl: Duration, now: SystemTime) -> (String, String) {
    let expiry = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(ttl)
        .as_secs();
    let username = format!("{expiry}:{USER_LABEL}");
    (username.clone(), credential(secret, &username))
}

/// base64(HMAC-SHA1(secret, username)).
pub fn credential(secret: &str, username: &str) -> String {
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The JSON a browser needs: the credentials, their TTL, the URIs and a ready `iceServers`.
/// `request_host` (the host part of the request's Host header) names the TURN server when no
/// URIs are configured: the demo setup runs the TURN server beside Rheo.
pub fn response(turn: &TurnRest, request_host: &str) -> Value {
    let uris: Vec<String> = if turn.uris.is_empty() {
        let host = if request_host.contains(':') && !request_host.starts_with('[') {
            format!("[{request_host}]")
        } else {
            request_host.to_owned()
        };
        vec![
            format!("turn:{host}:3478?transport=udp"),
            format!("turn:{host}:3478?transport=tcp"),
        ]
    } else {
        turn.uris.clone()
    };
    let (username, credential) = mint(&turn.secret, turn.ttl, SystemTime::now());
    json!({
        "username": username,
        "credential": credential,
        "password": credential,
        "ttl": turn.ttl.as_secs(),
        "uris": uris,
        "iceServers": [{ "urls": uris, "username": username, "credential": credential }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_turn_rest_scheme() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (user, pass) = mint("north", Duration::from_secs(3600), now);
        assert_eq!(user, "1700003600:rheo");
        // openssl: printf 1700003600:rheo | openssl dgst -binary -sha1 -hmac north | base64
        assert_eq!(pass, "z/yVE7kM7GqyznvBWSLk6DCKm/g=");
    }

    #[test]
    fn uris_default_to_the_host_the_browser_used() {
        let turn = TurnRest {
            secret: "s".into(),
            uris: vec![],
            ttl: Duration::from_secs(60),
        };
        let v = response(&turn, "192.0.2.7");
        assert_eq!(v["uris"][0], "turn:192.0.2.7:3478?transport=udp");
        assert_eq!(
            v["iceServers"][0]["urls"][1],
            "turn:192.0.2.7:3478?transport=tcp"
        );
        assert_eq!(v["ttl"], 60);
    }
}
