//! ServerManager: the singleton describing the server (modules, pipelines, sessions, load).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use rheo_filter_sdk as sdk;

use super::{catalogue, Args, MediaObject, Outcome, Result, World};
use crate::protocol::KurentoError;

/// Version reported to clients: the Kurento API level Rheo implements.
pub const API_VERSION: &str = "7.3.0";

pub(super) fn invoke(
    world: &dyn World,
    _obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let value = match op {
        "getInfo" => server_info(),
        "getPipelines" => Value::Array(world.pipelines().into_iter().map(Value::from).collect()),
        "getSessions" => Value::Array(world.sessions().into_iter().map(Value::from).collect()),
        "getMetadata" => Value::from(""),
        "getCpuCount" => Value::from(std::thread::available_parallelism().map_or(1, |n| n.get())),
        "getUsedCpu" => {
            let interval = args.int("interval")?;
            if !(0..=60_000).contains(&interval) {
                return Err(KurentoError::marshall(
                    "'interval' must be between 0 and 60000 ms",
                ));
            }
            Value::from(used_cpu_percent(Duration::from_millis(interval as u64)))
        }
        "getUsedMemory" => Value::from(crate::process_stats::rss_kib()),
        "getKmd" => Value::from(kmd(args.str("moduleName")?)?),
        _ => return Ok(Outcome::NotMine),
    };
    Ok(Outcome::Returned(value))
}

fn server_info() -> Value {
    let modules: Vec<Value> = catalogue::modules()
        .iter()
        .map(|m| {
            json!({"__module__": "kurento", "__type__": "ModuleInfo", "name": m, "version": API_VERSION,
                   "generationTime": env!("CARGO_PKG_VERSION"), "factories": catalogue::factories_of(m)})
        })
        .collect();
    json!({"__module__": "kurento", "__type__": "ServerInfo", "version": API_VERSION, "type": "KMS",
           "capabilities": ["transactions"], "modules": modules})
}

/// Rheo's own interface description of a module, generated from its catalogue (and, for filters
/// of the filter SDK, from their `FilterInfo`).
fn kmd(module: &str) -> Result<String> {
    if !catalogue::modules().contains(&module) {
        return Err(KurentoError::kmd_not_found(module));
    }
    let mut complex: Vec<&'static sdk::ComplexType> = Vec::new();
    let classes: Vec<Value> = catalogue::all_classes()
        .iter()
        .filter(|c| c.module == module)
        .map(|c| {
            let mut class = json!({"name": c.name, "extends": c.parent.map(|p| p.name), "abstract": !c.creatable()});
            match c.filter {
                Some(info) => {
                    class["doc"] = Value::from(info.description);
                    class["constructor"] = json!({"params": params_kmd(info.constructor, &mut complex)});
                    class["methods"] = info
                        .methods
                        .iter()
                        .map(|m| {
                            let mut v = json!({"name": m.name, "doc": m.doc, "params": params_kmd(m.params, &mut complex)});
                            if let Some(t) = &m.returns {
                                v["return"] = json!({"type": type_kmd(t, &mut complex)});
                            }
                            v
                        })
                        .collect();
                    class["properties"] = info
                        .properties
                        .iter()
                        .map(|p| json!({"name": p.name, "doc": p.doc, "type": type_kmd(&p.ty, &mut complex), "readOnly": p.read_only}))
                        .collect();
                    class["events"] = info.events.iter().map(|e| e.name).collect();
                }
                None => class["events"] = json!(c.events),
            }
            class
        })
        .collect();
    let events: Vec<Value> = catalogue::all_classes()
        .iter()
        .filter(|c| c.module == module)
        .filter_map(|c| c.filter)
        .flat_map(|info| info.events.iter())
        .map(|e| json!({"name": e.name, "extends": "Media", "doc": e.doc, "properties": params_kmd(e.fields, &mut complex)}))
        .collect();
    let complex_types: Vec<Value> = complex
        .iter()
        .filter(|t| t.module == module)
        .map(|t| json!({"typeFormat": "REGISTER", "name": t.name, "properties": params_kmd(t.fields, &mut Vec::new())}))
        .collect();
    let text = json!({"name": module, "version": API_VERSION, "kurentoVersion": API_VERSION,
                      "server": "rheo", "remoteClasses": classes, "events": events, "complexTypes": complex_types});
    Ok(serde_json::to_string_pretty(&text).expect("JSON value serialises"))
}

fn params_kmd(params: &[sdk::Param], complex: &mut Vec<&'static sdk::ComplexType>) -> Vec<Value> {
    params
        .iter()
        .map(|p| {
            let mut v = json!({"name": p.name, "doc": p.doc, "type": type_kmd(&p.ty, complex)});
            if p.default.is_some() {
                v["optional"] = Value::from(true);
            }
            v
        })
        .collect()
}

/// A kmd type name; complex types are collected for the module's `complexTypes`.
fn type_kmd(ty: &sdk::Type, complex: &mut Vec<&'static sdk::ComplexType>) -> String {
    match ty {
        sdk::Type::Bool => "boolean".into(),
        sdk::Type::Int => "int".into(),
        sdk::Type::Float => "float".into(),
        sdk::Type::String | sdk::Type::ImageUri | sdk::Type::Enum(_) => "String".into(),
        sdk::Type::List(inner) => format!("{}[]", type_kmd(inner, complex)),
        sdk::Type::Complex(c) => {
            if !complex.iter().any(|k| std::ptr::eq(*k, *c)) {
                complex.push(c);
                for f in c.fields {
                    type_kmd(&f.ty, complex);
                }
            }
            c.name.into()
        }
    }
}

/// Percentage of all cores this process used over `interval` (blocks for it).
fn used_cpu_percent(interval: Duration) -> f64 {
    use crate::process_stats::{cpu_ticks, TICKS_PER_SEC};
    let start = (cpu_ticks(), std::time::Instant::now());
    std::thread::sleep(interval);
    let ticks = cpu_ticks().saturating_sub(start.0) as f64;
    let wall = start.1.elapsed().as_secs_f64().max(1e-3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    (ticks / TICKS_PER_SEC as f64) / wall / cores * 100.0
}
