//! JSON-RPC 2.0 envelopes and Kurento wire types (serde only).

pub mod error;

pub use error::KurentoError;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// A request's id exactly as the client wrote it (a number of any size, a string or null), so
/// that the reply echoes it byte for byte: a 30-digit number must not come back as a float.
#[derive(Debug, Clone)]
pub struct Id(Box<RawValue>);

impl Id {
    /// `null`, for replies to requests whose id could not be read.
    pub fn null() -> Id {
        Id(RawValue::from_string("null".into()).expect("null is JSON"))
    }

    /// The id's JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq<Value> for Id {
    fn eq(&self, other: &Value) -> bool {
        serde_json::from_str::<Value>(self.json()).is_ok_and(|v| &v == other)
    }
}

/// A parsed JSON-RPC request (or notification, when `id` is absent).
#[derive(Debug, Clone)]
pub struct Request {
    pub id: Option<Id>,
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
    BadParams(Id),
}

/// The id's raw text, read beside the parsed value.
#[derive(Deserialize)]
struct RawId {
    id: Option<Box<RawValue>>,
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
    let id = match obj.remove("id") {
        None => None,
        Some(Value::Array(_) | Value::Object(_)) => return Err(ParseFailure::InvalidRequest),
        // `"id": null` is an id (answered), unlike a missing one.
        Some(_) => Some(
            serde_json::from_str::<RawId>(text)
                .ok()
                .and_then(|raw| raw.id)
                .map_or_else(Id::null, Id),
        ),
    };
    let Some(Value::String(method)) = obj.remove("method") else {
        return Err(ParseFailure::InvalidRequest);
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err(ParseFailure::BadParams(id.unwrap_or_else(Id::null))),
    };
    Ok(Request { id, method, params })
}

/// The reply frame to request `id`: `{"id":…,"jsonrpc":"2.0","result":…}`, the id verbatim.
pub fn reply(id: &Id, outcome: &Result<Value, KurentoError>) -> String {
    match outcome {
        Ok(result) => format!(
            r#"{{"id":{},"jsonrpc":"2.0","result":{result}}}"#,
            id.json()
        ),
        Err(e) => format!(
            r#"{{"error":{},"id":{},"jsonrpc":"2.0"}}"#,
            e.to_json(),
            id.json()
        ),
    }
}

/// `{"id":…, "jsonrpc":"2.0", "result":…}` (a transaction's operation results).
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

/// The JSON-RPC fuzz target: parses one frame and, when it carries an id, checks that the reply
/// echoing it is JSON. True when the frame was a request. `make test` replays the corpus
/// (`fuzz/corpus/jsonrpc`); `fuzz/afl` runs it under AFL++.
#[doc(hidden)]
pub fn fuzz_target(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    let (id, is_request) = match parse_request(&text) {
        Ok(request) => (request.id, true),
        Err(ParseFailure::BadParams(id)) => (Some(id), false),
        Err(_) => (None, false),
    };
    if let Some(id) = id {
        let frame = reply(&id, &Ok(json!({"value": "pong"})));
        assert!(serde_json::from_str::<Value>(&frame).is_ok(), "{frame}");
    }
    is_request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_ping_without_params() {
        let r = parse_request(r#"{"jsonrpc":"2.0","method":"ping","id":5}"#).unwrap();
        assert_eq!(r.method, "ping");
        assert!(r.id.unwrap() == json!(5));
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

    #[test]
    fn jsonrpc_corpus_and_mutations_never_panic_and_replies_stay_json() {
        let mut requests = 0;
        rheo_fuzz::replay("jsonrpc", 30_000, |input| {
            requests += fuzz_target(input) as usize
        });
        assert!(requests > 300, "{requests}");
    }

    #[test]
    fn ids_are_echoed_exactly() {
        for id in [
            "123456789012345678901234567890",
            "-98765432109876543210",
            "1.5e300",
            "\"abc\"",
            "null",
            "7",
        ] {
            let text = format!(r#"{{"jsonrpc":"2.0","method":"ping","id":{id}}}"#);
            let request = parse_request(&text).unwrap();
            let frame = reply(&request.id.unwrap(), &Ok(json!({"value": "pong"})));
            assert_eq!(
                frame,
                format!(r#"{{"id":{id},"jsonrpc":"2.0","result":{{"value":"pong"}}}}"#)
            );
            serde_json::from_str::<Value>(&frame).unwrap();
        }
        let request = parse_request(r#"{"jsonrpc":"2.0","method":"ping"}"#).unwrap();
        assert!(request.id.is_none(), "a notification has no id");
    }
}
