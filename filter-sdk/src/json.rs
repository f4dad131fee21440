//! JSON ⇄ [`Value`] conversion following the Kurento value encoding, and image
//! loading for [`Type::ImageUri`] arguments.

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::{Args, ComplexType, DefaultValue, FilterError, Param, Type, Value};
use crate::image::{load_image, LoadLimits};

/// The `__module__` a complex type of `module` carries (`kurento` for the core modules).
pub(crate) fn wire_module(module: &str) -> &str {
    match module {
        "core" | "elements" | "filters" => "kurento",
        m => m,
    }
}

fn type_word(ty: &Type) -> String {
    match ty {
        Type::Bool => "a boolean".into(),
        Type::Int => "an integer".into(),
        Type::Float => "a float".into(),
        Type::String | Type::ImageUri => "a string".into(),
        Type::Enum(values) => format!("one of {}", values.join(", ")),
        Type::List(inner) => format!("a list of {}", plural(inner)),
        Type::Complex(c) => format!("a {}", c.name),
    }
}

fn plural(ty: &Type) -> String {
    match ty {
        Type::Bool => "booleans".into(),
        Type::Int => "integers".into(),
        Type::Float => "floats".into(),
        Type::String | Type::ImageUri | Type::Enum(_) => "strings".into(),
        Type::List(_) => "lists".into(),
        Type::Complex(c) => c.name.into(),
    }
}

fn wrong_type(name: &str, ty: &Type) -> FilterError {
    FilterError::InvalidArgument(format!("'{name}' parameter should be {}", type_word(ty)))
}

fn default_value(d: &DefaultValue) -> Value {
    match d {
        DefaultValue::Null => Value::Null,
        DefaultValue::Bool(b) => Value::Bool(*b),
        DefaultValue::Int(i) => Value::Int(*i),
        DefaultValue::Float(f) => Value::Float(*f),
        DefaultValue::Str(s) => Value::String((*s).to_owned()),
        DefaultValue::EmptyList => Value::List(Vec::new()),
    }
}

/// Validates `obj` against `params` and builds the [`Args`] a filter receives: every declared
/// param in declaration order, kmd defaults filled in, members not declared ignored.
///
/// Accepts ints where floats are expected, enums as their strings, lists, and complex types as
/// objects with or without `__module__`/`__type__` (a `__type__` naming another type is an
/// error). Errors use Kurento's wording: `'window' parameter is required`,
/// `'x' parameter should be a float`.
pub fn args_from_json(params: &[Param], obj: &Map<String, Json>) -> Result<Args, FilterError> {
    let mut out = Vec::with_capacity(params.len());
    for p in params {
        let v = match obj.get(p.name) {
            Some(Json::Null) | None => match &p.default {
                Some(d) => default_value(d),
                None => {
                    return Err(FilterError::InvalidArgument(format!(
                        "'{}' parameter is required",
                        p.name
                    )))
                }
            },
            Some(j) => from_json(p.name, &p.ty, j)?,
        };
        out.push((p.name.to_owned(), v));
    }
    Ok(Args(out))
}

fn from_json(name: &str, ty: &Type, j: &Json) -> Result<Value, FilterError> {
    let bad = || wrong_type(name, ty);
    Ok(match ty {
        Type::Bool => Value::Bool(j.as_bool().ok_or_else(bad)?),
        Type::Int => match j {
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else {
                    // 3.0 is an integer; 3.5 is not.
                    let f = n.as_f64().ok_or_else(bad)?;
                    if f.fract() != 0.0 || !f.is_finite() || f.abs() > i64::MAX as f64 {
                        return Err(bad());
                    }
                    Value::Int(f as i64)
                }
            }
            _ => return Err(bad()),
        },
        Type::Float => Value::Float(j.as_f64().ok_or_else(bad)?),
        Type::String | Type::ImageUri => Value::String(j.as_str().ok_or_else(bad)?.to_owned()),
        Type::Enum(values) => {
            let s = j.as_str().ok_or_else(bad)?;
            if !values.contains(&s) {
                return Err(FilterError::InvalidArgument(format!(
                    "'{name}' parameter should be one of {}, not '{s}'",
                    values.join(", ")
                )));
            }
            Value::String(s.to_owned())
        }
        Type::List(inner) => {
            let items = j.as_array().ok_or_else(bad)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(from_json(&format!("{name}[{i}]"), inner, item)?);
            }
            Value::List(out)
        }
        Type::Complex(c) => {
            let o = j.as_object().ok_or_else(bad)?;
            check_complex_tag(name, c, o)?;
            let fields = args_from_json(c.fields, o).map_err(|e| match e {
                FilterError::InvalidArgument(m) => {
                    FilterError::InvalidArgument(format!("{m} (in '{name}', a {})", c.name))
                }
                e => e,
            })?;
            Value::Struct(fields.0)
        }
    })
}

fn check_complex_tag(
    name: &str,
    c: &ComplexType,
    o: &Map<String, Json>,
) -> Result<(), FilterError> {
    if let Some(t) = o.get("__type__") {
        if t.as_str() != Some(c.name) {
            return Err(FilterError::InvalidArgument(format!(
                "'{name}' parameter should be a {}, not a {}",
                c.name,
                t.as_str().unwrap_or("?")
            )));
        }
    }
    if let Some(m) = o.get("__module__") {
        let m = m.as_str().unwrap_or("?");
        if m != wire_module(c.module) && m != c.module {
            return Err(FilterError::InvalidArgument(format!(
                "'{name}' parameter should be a {}.{}, not from module {m}",
                wire_module(c.module),
                c.name
            )));
        }
    }
    Ok(())
}

/// Converts a value to its Kurento JSON form: complex types become objects with
/// `__module__`/`__type__` (optional fields left `Null` are omitted), enums strings, loaded
/// images `null` (they have no wire form).
pub fn value_to_json(v: &Value, ty: &Type) -> Json {
    match (v, ty) {
        (Value::Struct(fields), Type::Complex(c)) => {
            let mut o = Map::new();
            for (name, fv) in fields {
                if matches!(fv, Value::Null) {
                    continue;
                }
                let fty = c.fields.iter().find(|p| p.name == name).map(|p| &p.ty);
                o.insert(
                    name.clone(),
                    match fty {
                        Some(t) => value_to_json(fv, t),
                        None => value_to_json_untyped(fv),
                    },
                );
            }
            o.insert("__module__".into(), wire_module(c.module).into());
            o.insert("__type__".into(), c.name.into());
            Json::Object(o)
        }
        (Value::List(items), Type::List(inner)) => {
            Json::Array(items.iter().map(|i| value_to_json(i, inner)).collect())
        }
        (Value::Int(i), Type::Float) => Json::from(*i as f64),
        _ => value_to_json_untyped(v),
    }
}

/// JSON of a value whose declared type is unknown (structs without `__module__`/`__type__`).
pub(crate) fn value_to_json_untyped(v: &Value) -> Json {
    match v {
        Value::Null | Value::Image(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(items.iter().map(value_to_json_untyped).collect()),
        Value::Struct(fields) => Json::Object(
            fields
                .iter()
                .filter(|(_, v)| !matches!(v, Value::Null))
                .map(|(k, v)| (k.clone(), value_to_json_untyped(v)))
                .collect(),
        ),
    }
}

/// Replaces every [`Type::ImageUri`] string in `args` (also inside complex types and lists) by
/// the loaded [`Value::Image`]. Empty strings mean "no image" and become `Null`.
///
/// Blocking (file or network I/O bounded by `limits`): call it on the caller's thread before
/// [`super::instantiate`] / [`super::invoke`], never on a streaming thread and never while
/// holding a filter's lock. A failed load is an `InvalidArgument` error naming the param.
pub fn load_images(
    params: &[Param],
    args: &mut Args,
    limits: &LoadLimits,
) -> Result<(), FilterError> {
    for (name, v) in args.0.iter_mut() {
        if let Some(p) = params.iter().find(|p| p.name == name) {
            load_value(name, &p.ty, v, limits)?;
        }
    }
    Ok(())
}

fn load_value(
    name: &str,
    ty: &Type,
    v: &mut Value,
    limits: &LoadLimits,
) -> Result<(), FilterError> {
    match (ty, &mut *v) {
        (Type::ImageUri, Value::String(uri)) => {
            if uri.is_empty() {
                *v = Value::Null;
            } else {
                let img = load_image(uri, limits).map_err(|e| {
                    FilterError::InvalidArgument(format!(
                        "'{name}' image {uri} could not be loaded: {e}"
                    ))
                })?;
                *v = Value::Image(Arc::new(img));
            }
        }
        (Type::List(inner), Value::List(items)) => {
            for item in items.iter_mut() {
                load_value(name, inner, item, limits)?;
            }
        }
        (Type::Complex(c), Value::Struct(fields)) => {
            for (fname, fv) in fields.iter_mut() {
                if let Some(p) = c.fields.iter().find(|p| p.name == fname) {
                    load_value(fname, &p.ty, fv, limits)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static WINDOW: ComplexType = ComplexType {
        module: "chroma",
        name: "WindowParam",
        fields: &[
            Param {
                name: "topRightCornerX",
                ty: Type::Int,
                default: None,
                doc: "",
            },
            Param {
                name: "topRightCornerY",
                ty: Type::Int,
                default: None,
                doc: "",
            },
            Param {
                name: "width",
                ty: Type::Int,
                default: None,
                doc: "",
            },
            Param {
                name: "height",
                ty: Type::Int,
                default: None,
                doc: "",
            },
        ],
    };
    static PWIN: ComplexType = ComplexType {
        module: "pointerdetector",
        name: "PointerDetectorWindowMediaParam",
        fields: &[
            Param {
                name: "id",
                ty: Type::String,
                default: None,
                doc: "",
            },
            Param {
                name: "image",
                ty: Type::ImageUri,
                default: Some(DefaultValue::Null),
                doc: "",
            },
            Param {
                name: "imageTransparency",
                ty: Type::Float,
                default: Some(DefaultValue::Null),
                doc: "",
            },
        ],
    };
    static TAG: ComplexType = ComplexType {
        module: "core",
        name: "Tag",
        fields: &[Param {
            name: "key",
            ty: Type::String,
            default: None,
            doc: "",
        }],
    };
    static PARAMS: &[Param] = &[
        Param {
            name: "window",
            ty: Type::Complex(&WINDOW),
            default: None,
            doc: "",
        },
        Param {
            name: "x",
            ty: Type::Float,
            default: Some(DefaultValue::Float(0.5)),
            doc: "",
        },
        Param {
            name: "n",
            ty: Type::Int,
            default: Some(DefaultValue::Int(3)),
            doc: "",
        },
        Param {
            name: "on",
            ty: Type::Bool,
            default: Some(DefaultValue::Bool(true)),
            doc: "",
        },
        Param {
            name: "bg",
            ty: Type::ImageUri,
            default: Some(DefaultValue::Str("")),
            doc: "",
        },
        Param {
            name: "mode",
            ty: Type::Enum(&["A", "B"]),
            default: Some(DefaultValue::Str("A")),
            doc: "",
        },
        Param {
            name: "wins",
            ty: Type::List(&Type::Complex(&PWIN)),
            default: Some(DefaultValue::EmptyList),
            doc: "",
        },
    ];

    fn obj(j: Json) -> Map<String, Json> {
        j.as_object().unwrap().clone()
    }
    fn err(j: Json) -> String {
        args_from_json(PARAMS, &obj(j)).unwrap_err().to_string()
    }
    const W: &str = r#"{"topRightCornerX":1,"topRightCornerY":2,"width":3,"height":4}"#;

    #[test]
    fn defaults_are_filled_in_declaration_order() {
        let w: Json = serde_json::from_str(W).unwrap();
        let a = args_from_json(PARAMS, &obj(json!({ "window": w, "extra": 1 }))).unwrap();
        let names: Vec<_> = a.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["window", "x", "n", "on", "bg", "mode", "wins"]);
        assert_eq!(a.float("x").unwrap(), 0.5);
        assert_eq!(a.int("n").unwrap(), 3);
        assert!(a.bool("on").unwrap());
        assert_eq!(a.get("mode"), &Value::String("A".into()));
        assert_eq!(a.get("wins"), &Value::List(vec![]));
        assert_eq!(a.get("window").field("height"), &Value::Int(4));
        assert_eq!(a.get("window").field("topRightCornerX"), &Value::Int(1));
    }

    #[test]
    fn complex_types_with_and_without_tags() {
        let mut w: Json = serde_json::from_str(W).unwrap();
        let plain = args_from_json(PARAMS, &obj(json!({ "window": w.clone() }))).unwrap();
        w["__module__"] = "chroma".into();
        w["__type__"] = "WindowParam".into();
        let tagged = args_from_json(PARAMS, &obj(json!({ "window": w.clone() }))).unwrap();
        assert_eq!(plain, tagged);
        w["__type__"] = "RegionOfInterest".into();
        assert_eq!(
            err(json!({ "window": w.clone() })),
            "'window' parameter should be a WindowParam, not a RegionOfInterest"
        );
        w["__type__"] = "WindowParam".into();
        w["__module__"] = "crowddetector".into();
        assert!(err(json!({ "window": w })).contains("module crowddetector"));
    }

    #[test]
    fn kurento_like_errors() {
        let w: Json = serde_json::from_str(W).unwrap();
        assert_eq!(err(json!({})), "'window' parameter is required");
        assert_eq!(
            err(json!({"window": w, "x": "1"})),
            "'x' parameter should be a float"
        );
        assert_eq!(
            err(json!({"window": w, "n": 1.5})),
            "'n' parameter should be an integer"
        );
        assert_eq!(
            err(json!({"window": w, "on": 1})),
            "'on' parameter should be a boolean"
        );
        assert!(err(json!({"window": w, "mode": "C"}))
            .starts_with("'mode' parameter should be one of A, B"));
        assert_eq!(
            err(json!({"window": {"topRightCornerX": 1}})),
            "'topRightCornerY' parameter is required (in 'window', a WindowParam)"
        );
        assert_eq!(
            err(json!({"window": w, "wins": [{"id": 3}]})),
            "'id' parameter should be a string (in 'wins[0]', a PointerDetectorWindowMediaParam)"
        );
        assert_eq!(
            err(json!({"window": 5})),
            "'window' parameter should be a WindowParam"
        );
    }

    #[test]
    fn ints_accepted_as_floats_and_integral_floats_as_ints() {
        let w: Json = serde_json::from_str(W).unwrap();
        let a = args_from_json(PARAMS, &obj(json!({"window": w, "x": 2, "n": 7.0}))).unwrap();
        assert_eq!(a.float("x").unwrap(), 2.0);
        assert_eq!(a.int("n").unwrap(), 7);
    }

    #[test]
    fn values_to_json_carry_module_and_type() {
        let w: Json = serde_json::from_str(W).unwrap();
        let a = args_from_json(PARAMS, &obj(json!({"window": w}))).unwrap();
        let j = value_to_json(a.get("window"), &PARAMS[0].ty);
        assert_eq!(
            j,
            json!({"topRightCornerX":1,"topRightCornerY":2,"width":3,"height":4,
                   "__module__":"chroma","__type__":"WindowParam"})
        );
        // Core module types say "kurento"; optional unset fields are omitted; floats stay floats.
        let tag = Value::Struct(vec![("key".into(), Value::String("k".into()))]);
        assert_eq!(
            value_to_json(&tag, &Type::Complex(&TAG)),
            json!({"key":"k","__module__":"kurento","__type__":"Tag"})
        );
        let win = Value::Struct(vec![
            ("id".into(), Value::String("w0".into())),
            ("image".into(), Value::Null),
            ("imageTransparency".into(), Value::Int(1)),
        ]);
        let list = value_to_json(&Value::List(vec![win]), &PARAMS[6].ty);
        assert_eq!(list[0]["imageTransparency"], json!(1.0));
        assert!(list[0]["imageTransparency"].is_f64());
        assert!(list[0].get("image").is_none());
        assert_eq!(list[0]["__type__"], "PointerDetectorWindowMediaParam");
        // Round trip.
        let back = args_from_json(&PARAMS[6..], &obj(json!({"wins": list}))).unwrap();
        assert_eq!(
            back.get("wins").as_list().unwrap()[0].field("id"),
            &Value::String("w0".into())
        );
    }

    fn write_png(dir: &std::path::Path, name: &str, w: i32, h: i32) -> String {
        use opencv::core::{Mat, Scalar, Vector, CV_8UC3};
        let m =
            Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::new(0., 255., 0., 0.)).unwrap();
        let path = dir.join(name);
        opencv::imgcodecs::imwrite(path.to_str().unwrap(), &m, &Vector::new()).unwrap();
        path.to_str().unwrap().to_owned()
    }

    #[test]
    fn images_are_loaded_also_inside_lists_of_complex_types() {
        let dir = std::env::temp_dir().join(format!("rheo-sdk-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bg = write_png(&dir, "bg.png", 8, 6);
        let icon = write_png(&dir, "icon.png", 4, 2);
        let w: Json = serde_json::from_str(W).unwrap();
        let mut a = args_from_json(
            PARAMS,
            &obj(json!({"window": w, "bg": format!("file://{bg}"),
                        "wins": [{"id": "a", "image": icon}, {"id": "b"}]})),
        )
        .unwrap();
        load_images(PARAMS, &mut a, &LoadLimits::default()).unwrap();
        let bg = a.image("bg").unwrap();
        assert_eq!((bg.width, bg.height), (8, 6));
        let wins = a.get("wins").as_list().unwrap();
        let img = wins[0].field("image").as_image().unwrap();
        assert_eq!((img.width, img.height), (4, 2));
        assert_eq!(wins[1].field("image"), &Value::Null);

        // Empty URI = no image; a missing file is an error naming the param.
        let mut a = args_from_json(PARAMS, &obj(json!({"window": w}))).unwrap();
        load_images(PARAMS, &mut a, &LoadLimits::default()).unwrap();
        assert_eq!(a.get("bg"), &Value::Null);
        let mut a = args_from_json(
            PARAMS,
            &obj(json!({"window": w, "bg": dir.join("missing.png").to_str().unwrap()})),
        )
        .unwrap();
        let e = load_images(PARAMS, &mut a, &LoadLimits::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("'bg' image"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
