//! JSON-RPC 2.0 envelopes and Kurento wire types (serde only).

pub mod error;

pub use error::KurentoError;

use serde_json::{json, Map, Value};

/// A parsed JSON-RPC request (or notification, when `id` is absent).
#[derive(Debug, Clone)]
pub struct Request {
    pub id: Option<Value>,
    pub method: String,
    pub params: Option<Map<String, Value>>,
}

/// Why a text frame is not a request we can execute. Each maps to the JSON-RPC error KMS sends
/// with `"id": null` (or the request's id when it could be read).
#[derive(Debug)]
pub enum ParseFailure {
    NotJson,
    InvalidRequest,
    /// A valid envelope whose `params` is neither an object nor absent.
    BadParams(Value),
}

/// Parses one text frame. Responses and notifications from the client (which it never sends to
/// a server) are treated as invalid requests.
pub fn parse_request(text: &str) -> Result<Request, ParseFailure> {
    let value: Value = serde_json::from_str(text).map_err(|_| ParseFailure::NotJson)?;
    let Value::Object(mut obj) = value else {
        return Err(ParseFailure::InvalidRequest);
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(ParseFailure::InvalidRequest);
    }
    let id = obj.remove("id");
    if matches!(id, Some(Value::Array(_)) | Some(Value::Object(_))) {
        return Err(ParseFailure::InvalidRequest);
    }
    let Some(Value::String(method)) = obj.remove("method") else {
        return Err(ParseFailure::InvalidRequest);
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err(ParseFailure::BadParams(id.unwrap_or(Value::Null))),
    };
    Ok(Request { id, method, params })
}

/// `{"id":…, "jsonrpc":"2.0", "result":…}`
pub fn success(id: &Value, result: Value) -> Value {
    json!({"id": id, "jsonrpc": "2.0", "result": result})
}

/// `{"id":…, "jsonrpc":"2.0", "error":{code, message, data?}}`
pub fn failure(id: &Value, err: &KurentoError) -> Value {
    json!({"id": id, "jsonrpc": "2.0", "error": err.to_json()})
}

/// The `onEvent` notification for one event.
pub fn event_notification(object: &str, event_type: &str, data: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "onEvent",
        "params": {"value": {"data": data, "object": object, "type": event_type}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_ping_without_params() {
        let r = parse_request(r#"{"jsonrpc":"2.0","method":"ping","id":5}"#).unwrap();
        assert_eq!(r.method, "ping");
        assert_eq!(r.id, Some(json!(5)));
        assert!(r.params.is_none());
    }

    #[test]
    fn rejects_bad_envelopes() {
        assert!(matches!(parse_request("{nope"), Err(ParseFailure::NotJson)));
        assert!(matches!(
            parse_request("[1,2]"),
            Err(ParseFailure::InvalidRequest)
        ));
        assert!(matches!(
            parse_request(r#"{"jsonrpc":"1.0","method":"ping","id":1}"#),
            Err(ParseFailure::InvalidRequest)
        ));
        assert!(matches!(
            parse_request(r#"{"jsonrpc":"2.0","method":5,"id":1}"#),
            Err(ParseFailure::InvalidRequest)
        ));
        assert!(matches!(
            parse_request(r#"{"jsonrpc":"2.0","method":"ping","id":[1]}"#),
            Err(ParseFailure::InvalidRequest)
        ));
        assert!(matches!(
            parse_request(r#"{"jsonrpc":"2.0","method":"ping","id":1,"params":3}"#),
            Err(ParseFailure::BadParams(_))
        ));
    }
}
