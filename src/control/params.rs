//! Top-level request parameters, checked with KMS's wording.

use serde_json::{Map, Value};

use super::Result;
use crate::protocol::KurentoError;

pub(super) fn with_session(mut result: Value, session: Option<&str>) -> Value {
    if let Some(s) = session {
        result["sessionId"] = Value::from(s);
    }
    result
}

/// Top-level params of a request, with KMS's -32000 wording for missing or mistyped members.
#[derive(Clone, Copy)]
pub(super) struct Params<'a>(pub(super) Option<&'a Map<String, Value>>);

impl<'a> Params<'a> {
    pub(super) fn required(self) -> Result<Self> {
        match self.0 {
            Some(_) => Ok(self),
            None => Err(KurentoError::params_required()),
        }
    }

    pub(super) fn raw(&self, name: &str) -> Option<&'a Value> {
        self.0.and_then(|m| m.get(name))
    }

    pub(super) fn str(&self, name: &str) -> Result<&'a str> {
        match self.raw(name) {
            None | Some(Value::Null) => Err(KurentoError::missing_param(name)),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(KurentoError::param_type(name, "string")),
        }
    }

    pub(super) fn opt_str(&self, name: &str) -> Result<Option<&'a str>> {
        match self.raw(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(KurentoError::param_type(name, "string")),
        }
    }

    /// The request's session, or a new one (methods that reference objects mint sessions).
    pub(super) fn session(&self) -> String {
        match self.raw("sessionId") {
            Some(Value::String(s)) => s.clone(),
            _ => uuid::Uuid::new_v4().to_string(),
        }
    }
}
