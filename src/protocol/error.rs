//! The one error type of the control plane: every failure maps to a Kurento code, `data.type`
//! and KMS's message wording.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct KurentoError {
    pub code: i64,
    pub message: String,
    /// `data.type`; absent for the generic JSON-RPC errors.
    pub data_type: Option<&'static str>,
}

impl std::fmt::Display for KurentoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for KurentoError {}

impl KurentoError {
    pub fn new(code: i64, data_type: &'static str, message: impl Into<String>) -> Self {
        KurentoError {
            code,
            message: message.into(),
            data_type: Some(data_type),
        }
    }

    fn generic(code: i64, message: impl Into<String>) -> Self {
        KurentoError {
            code,
            message: message.into(),
            data_type: None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self.data_type {
            Some(t) => json!({"code": self.code, "message": self.message, "data": {"type": t}}),
            None => json!({"code": self.code, "message": self.message}),
        }
    }

    pub fn parse_error() -> Self {
        Self::generic(-32700, "Parse error.")
    }
    pub fn invalid_request() -> Self {
        Self::generic(-32600, "Invalid JSON-RPC request.")
    }
    pub fn method_not_found() -> Self {
        Self::generic(-32601, "Method not found.")
    }
    pub fn params_required() -> Self {
        Self::new(-32602, "INVALID_PARAMS", "'params' is required")
    }
    /// A required top-level param is missing or has the wrong JSON type.
    pub fn missing_param(name: &str) -> Self {
        Self::generic(-32000, format!("'{name}' parameter is required"))
    }
    pub fn param_type(name: &str, expected: &str) -> Self {
        Self::generic(-32000, format!("'{name}' parameter should be a {expected}"))
    }
    pub fn internal(what: impl std::fmt::Display) -> Self {
        Self::generic(
            -32603,
            format!("Unexpected error while processing method: {what}"),
        )
    }

    /// 40001: a bad method or constructor argument.
    pub fn marshall(message: impl Into<String>) -> Self {
        Self::new(40001, "MARSHALL_ERROR", message)
    }
    pub fn arg_required(name: &str) -> Self {
        Self::marshall(format!("'{name}' parameter is required"))
    }
    pub fn arg_type(name: &str, expected: &str) -> Self {
        Self::marshall(format!("'{name}' parameter should be a {expected}"))
    }
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::new(40003, "UNEXPECTED_ERROR", message)
    }
    pub fn connect_error(message: impl Into<String>) -> Self {
        Self::new(40004, "CONNECT_ERROR", message)
    }
    /// A quota or capacity limit was reached.
    pub fn not_enough_resources(message: impl Into<String>) -> Self {
        Self::new(40009, "NOT_ENOUGH_RESOURCES", message)
    }
    pub fn invalid_session() -> Self {
        Self::new(40007, "INVALID_SESSION", "Invalid session")
    }
    pub fn malformed_transaction(message: impl Into<String>) -> Self {
        Self::new(40008, "MALFORMED_TRANSACTION", message)
    }
    /// KMS answers an unknown invoke operation with 40008 and this wording.
    pub fn operation_not_found(operation: &str, nparams: usize) -> Self {
        Self::malformed_transaction(format!(
            "Method '{operation}' with {nparams} parameters not found"
        ))
    }
    pub fn object_not_found(id: &str) -> Self {
        Self::new(
            40101,
            "MEDIA_OBJECT_NOT_FOUND",
            format!("Object '{id}' not found"),
        )
    }
    pub fn event_not_supported(event: &str) -> Self {
        Self::new(
            40106,
            "MEDIA_OBJECT_EVENT_NOT_SUPPORTED",
            format!("Event '{event}' not supported"),
        )
    }
    pub fn illegal_param(message: impl Into<String>) -> Self {
        Self::new(40107, "MEDIA_OBJECT_ILLEGAL_PARAM_ERROR", message)
    }
    pub fn factory_not_found(type_name: &str) -> Self {
        Self::new(
            40108,
            "MEDIA_OBJECT_NOT_AVAILABLE",
            format!("Factory '{type_name}' not found"),
        )
    }
    pub fn newref_outside_transaction(reference: &str) -> Self {
        Self::new(
            40109,
            "MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT",
            format!("Object '{reference}' not found (it only exists inside its transaction)"),
        )
    }
    pub fn tag_not_found() -> Self {
        Self::new(40110, "MEDIA_OBJECT_TAG_KEY_NOT_FOUND", "Tag key not found")
    }
    pub fn operation_not_supported(message: impl Into<String>) -> Self {
        Self::new(40111, "MEDIA_OBJECT_OPERATION_NOT_SUPPORTED", message)
    }
    pub fn kmd_not_found(module: &str) -> Self {
        Self::new(40500, "UNDEFINED", format!("Module '{module}' not found"))
    }
}
