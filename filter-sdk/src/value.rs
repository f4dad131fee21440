//! Values passed to and from filters (params, properties, event fields).

use super::{FilterError, Image};

/// A parameter or event value. Complex types are `Struct`s of their fields.
#[derive(Debug, Clone)]
pub enum Value {
    /// Absent / void.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (also enums, and image URIs before loading).
    String(String),
    /// A loaded image (for [`super::Type::ImageUri`] params).
    Image(Image),
    /// A list.
    List(Vec<Value>),
    /// A complex type: its fields in declaration order.
    Struct(Vec<(String, Value)>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Image(a), Value::Image(b)) => std::sync::Arc::ptr_eq(a, b),
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Struct(a), Value::Struct(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// Ints are accepted where floats are expected.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// The image, if this is one.
    pub fn as_image(&self) -> Option<&Image> {
        match self {
            Value::Image(i) => Some(i),
            _ => None,
        }
    }
    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    /// A field of a `Struct` (`Null` when absent).
    pub fn field(&self, name: &str) -> &Value {
        match self {
            Value::Struct(fields) => fields
                .iter()
                .find(|(n, _)| n == name)
                .map_or(&Value::Null, |(_, v)| v),
            _ => &Value::Null,
        }
    }
}

/// Validated arguments of a constructor or method, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args(pub Vec<(String, Value)>);

impl Args {
    /// The argument (`Null` when absent and without default).
    pub fn get(&self, name: &str) -> &Value {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&Value::Null, |(_, v)| v)
    }

    fn typed<T>(
        &self,
        name: &str,
        what: &str,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Result<T, FilterError> {
        f(self.get(name))
            .ok_or_else(|| FilterError::InvalidArgument(format!("'{name}' should be {what}")))
    }

    /// A boolean argument.
    pub fn bool(&self, name: &str) -> Result<bool, FilterError> {
        self.typed(name, "a boolean", Value::as_bool)
    }
    /// An integer argument.
    pub fn int(&self, name: &str) -> Result<i64, FilterError> {
        self.typed(name, "an integer", Value::as_int)
    }
    /// A float argument (integers accepted).
    pub fn float(&self, name: &str) -> Result<f64, FilterError> {
        self.typed(name, "a number", Value::as_float)
    }
    /// A string argument.
    pub fn str(&self, name: &str) -> Result<&str, FilterError> {
        self.typed(name, "a string", |v| v.as_str().map(|_| ()))
            .map(|_| self.get(name).as_str().unwrap_or(""))
    }
    /// A loaded image argument.
    pub fn image(&self, name: &str) -> Result<Image, FilterError> {
        self.typed(name, "an image", |v| v.as_image().cloned())
    }
}
