//! `transaction`: operations run in order, each able to name an object an earlier one created
//! (`newref:N`), stopping at the first failure.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::params::Params;
use super::{ConnId, Core, Result};
use crate::protocol::{self, KurentoError};

impl Core {
    pub(super) async fn transaction(
        self: &Arc<Self>,
        conn: ConnId,
        p: Params<'_>,
    ) -> Result<Value> {
        let session = p.session();
        let Some(Value::Array(ops)) = p.raw("operations") else {
            return Err(KurentoError::param_type("operations", "array"));
        };
        let mut responses: Vec<Value> = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let (op_id, outcome) = self
                .transaction_op(conn, &session, index, op, &responses)
                .await;
            let failed = outcome.is_err();
            responses.push(match outcome {
                Ok(result) => protocol::success(&op_id, result),
                Err(e) => protocol::failure(&op_id, &e),
            });
            if failed {
                break;
            }
        }
        Ok(json!({"value": responses, "sessionId": session}))
    }

    async fn transaction_op(
        self: &Arc<Self>,
        conn: ConnId,
        session: &str,
        index: usize,
        op: &Value,
        done: &[Value],
    ) -> (Value, Result<Value>) {
        let op_id = op.get("id").cloned().unwrap_or(Value::Null);
        if op_id.as_u64() != Some(index as u64) {
            let e = KurentoError::malformed_transaction(format!(
                "Id of request '{index}' should be '{index}'"
            ));
            return (op_id, Err(e));
        }
        let Some(method) = op.get("method").and_then(Value::as_str) else {
            return (op_id, Err(KurentoError::invalid_request()));
        };
        let mut params = match op.get("params") {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(_) => return (op_id, Err(KurentoError::params_required())),
        };
        if let Err(e) = resolve_newrefs(&mut params, done) {
            return (op_id, Err(e));
        }
        let Value::Object(mut params) = params else {
            unreachable!("params is an object")
        };
        params.insert("sessionId".into(), Value::from(session));
        let outcome = self.execute(conn, method, Some(&params)).await;
        (op_id, outcome)
    }
}

/// Replaces `"newref:N"` strings anywhere in `value` by the id created by operation N.
fn resolve_newrefs(value: &mut Value, done: &[Value]) -> Result<()> {
    match value {
        Value::String(s) => {
            if let Some(n) = s.strip_prefix("newref:") {
                let id = n
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| done.get(i))
                    .and_then(|r| r.get("result")?.get("value")?.as_str())
                    .ok_or_else(|| {
                        KurentoError::malformed_transaction(format!("Reference '{s}' not found"))
                    })?;
                *s = id.to_owned();
            }
        }
        Value::Array(items) => {
            for v in items {
                resolve_newrefs(v, done)?;
            }
        }
        Value::Object(map) => {
            for v in map.values_mut() {
                resolve_newrefs(v, done)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(id: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": 0, "result": {"value": id, "sessionId": "s"}})
    }

    #[test]
    fn newrefs_are_replaced_anywhere_in_the_params() {
        let done = [created("p1"), created("p1/e2")];
        let mut params = json!({
            "object": "newref:1",
            "operationParams": {"sink": "newref:0", "list": ["newref:1", "plain", 3]},
            "other": "newref-looking but not",
        });
        resolve_newrefs(&mut params, &done).unwrap();
        assert_eq!(
            params,
            json!({
                "object": "p1/e2",
                "operationParams": {"sink": "p1", "list": ["p1/e2", "plain", 3]},
                "other": "newref-looking but not",
            })
        );
    }

    #[test]
    fn a_newref_to_a_missing_or_failed_operation_is_a_malformed_transaction() {
        let failed = json!({"jsonrpc": "2.0", "id": 0, "error": {"code": 40101}});
        for (reference, done) in [
            ("newref:2", vec![created("p1")]),
            ("newref:x", vec![created("p1")]),
            ("newref:0", vec![failed]),
        ] {
            let mut params = json!({ "object": reference });
            let e = resolve_newrefs(&mut params, &done).unwrap_err();
            assert_eq!(
                e,
                KurentoError::malformed_transaction(format!("Reference '{reference}' not found"))
            );
        }
    }
}
