//! Typed access to `operationParams` / `constructorParams`, with KMS's 40001 wording on failure.

use serde_json::{Map, Value};

use crate::protocol::KurentoError;

pub type Result<T> = std::result::Result<T, KurentoError>;

/// The parameters of one call (absent params behave as an empty object).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Args<'a> {
    pub fn new(map: Option<&'a Map<String, Value>>) -> Self {
        Args { map }
    }

    /// How many parameters were passed (KMS's "with N parameters" wording).
    pub fn len(&self) -> usize {
        self.map.map_or(0, Map::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All parameters as sent.
    pub fn raw_map(&self) -> Option<&'a Map<String, Value>> {
        self.map
    }

    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(name)).filter(|v| !v.is_null())
    }

    fn required(&self, name: &str) -> Result<&'a Value> {
        self.raw(name)
            .ok_or_else(|| KurentoError::arg_required(name))
    }

    pub fn str(&self, name: &str) -> Result<&'a str> {
        self.required(name)?
            .as_str()
            .ok_or_else(|| KurentoError::arg_type(name, "string"))
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>> {
        self.raw(name)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| KurentoError::arg_type(name, "string"))
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> Result<bool> {
        self.required(name)?
            .as_bool()
            .ok_or_else(|| KurentoError::arg_type(name, "boolean"))
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        self.raw(name)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| KurentoError::arg_type(name, "boolean"))
            })
            .transpose()
    }

    pub fn int(&self, name: &str) -> Result<i64> {
        int_value(self.required(name)?, name)
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        self.raw(name).map(|v| int_value(v, name)).transpose()
    }

    pub fn float(&self, name: &str) -> Result<f64> {
        self.required(name)?
            .as_f64()
            .ok_or_else(|| KurentoError::arg_type(name, "float"))
    }

    /// A register complex type: an object, with or without `__module__`/`__type__`. When the
    /// type tags are present they must name `expected` (`module`, `Type`).
    pub fn complex(
        &self,
        name: &str,
        module: &str,
        type_name: &str,
    ) -> Result<&'a Map<String, Value>> {
        let obj = self
            .required(name)?
            .as_object()
            .ok_or_else(|| KurentoError::arg_type(name, type_name))?;
        check_complex_type(obj, module, type_name)?;
        Ok(obj)
    }

    /// An enum value (sent as a bare string), checked against its allowed names.
    pub fn opt_enum(&self, name: &str, allowed: &[&str]) -> Result<Option<&'a str>> {
        match self.opt_str(name)? {
            Some(v) if !allowed.contains(&v) => Err(KurentoError::marshall(format!(
                "'{name}' parameter has an invalid value '{v}' (expected one of {})",
                allowed.join(", ")
            ))),
            other => Ok(other),
        }
    }
}

fn int_value(v: &Value, name: &str) -> Result<i64> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    // Some clients send whole floats (e.g. 5.0) for ints.
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(KurentoError::arg_type(name, "integer")),
    }
}

/// Complex values may carry `__module__`/`__type__`; when they do, they must name a known type
/// (KMS: unknown type → 40003) that is the expected one.
pub fn check_complex_type(obj: &Map<String, Value>, module: &str, type_name: &str) -> Result<()> {
    let given_type = obj.get("__type__").and_then(Value::as_str);
    let given_module = obj.get("__module__").and_then(Value::as_str);
    if let Some(t) = given_type {
        let module_ok = given_module.is_none_or(|m| m == module);
        if t != type_name || !module_ok {
            return Err(KurentoError::unexpected(format!(
                "Complex type '{}.{t}' is not known here (expected '{module}.{type_name}')",
                given_module.unwrap_or("?")
            )));
        }
    }
    Ok(())
}

/// A field of a complex value, typed.
pub fn field_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    Args::new(Some(obj)).str(name)
}

pub fn field_int(obj: &Map<String, Value>, name: &str) -> Result<i64> {
    Args::new(Some(obj)).int(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_access_reports_kms_wording() {
        let v = json!({"offer": 5, "n": 3.0, "b": true});
        let a = Args::new(v.as_object());
        let e = a.str("offer").unwrap_err();
        assert_eq!(e.code, 40001);
        assert_eq!(e.message, "'offer' parameter should be a string");
        assert_eq!(
            a.str("missing").unwrap_err().message,
            "'missing' parameter is required"
        );
        assert_eq!(a.int("n").unwrap(), 3);
        assert!(a.bool("b").unwrap());
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn complex_types_with_and_without_tags() {
        let tagged =
            json!({"c": {"candidate": "x", "__module__": "kurento", "__type__": "IceCandidate"}});
        let plain = json!({"c": {"candidate": "x"}});
        let wrong = json!({"c": {"candidate": "x", "__module__": "kurento", "__type__": "Nope"}});
        assert!(Args::new(tagged.as_object())
            .complex("c", "kurento", "IceCandidate")
            .is_ok());
        assert!(Args::new(plain.as_object())
            .complex("c", "kurento", "IceCandidate")
            .is_ok());
        assert_eq!(
            Args::new(wrong.as_object())
                .complex("c", "kurento", "IceCandidate")
                .unwrap_err()
                .code,
            40003
        );
    }
}
