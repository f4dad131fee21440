//! ServerManager: the singleton describing the server (modules, pipelines, sessions, load).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{catalogue, Args, MediaObject, Result, World};
use crate::protocol::KurentoError;

/// Version reported to clients: the Kurento API level Rheo implements.
pub const API_VERSION: &str = "7.3.0";

pub(super) fn invoke(
    world: &dyn World,
    _obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Option<Option<Value>>> {
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
        "getUsedMemory" => Value::from(rss_kib()),
        "getKmd" => Value::from(kmd(args.str("moduleName")?)?),
        _ => return Ok(None),
    };
    Ok(Some(Some(value)))
}

fn server_info() -> Value {
    let modules: Vec<Value> = catalogue::MODULES
        .iter()
        .map(|m| {
            json!({"__module__": "kurento", "__type__": "ModuleInfo", "name": m, "version": API_VERSION,
                   "generationTime": env!("CARGO_PKG_VERSION"), "factories": catalogue::factories_of(m)})
        })
        .collect();
    json!({"__module__": "kurento", "__type__": "ServerInfo", "version": API_VERSION, "type": "KMS",
           "capabilities": ["transactions"], "modules": modules})
}

/// Rheo's own interface description of a module, generated from its catalogue.
fn kmd(module: &str) -> Result<String> {
    if !catalogue::MODULES.contains(&module) {
        return Err(KurentoError::kmd_not_found(module));
    }
    let classes: Vec<Value> = catalogue::ALL_CLASSES
        .iter()
        .filter(|c| c.module == module)
        .map(|c| {
            json!({"name": c.name, "extends": c.parent.map(|p| p.name), "abstract": !c.creatable,
                   "events": c.events})
        })
        .collect();
    let text = json!({"name": module, "version": API_VERSION, "kurentoVersion": API_VERSION,
                      "server": "rheo", "remoteClasses": classes});
    Ok(serde_json::to_string_pretty(&text).expect("JSON value serialises"))
}

/// CPU time (user+sys) of this process in clock ticks.
fn process_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let parse = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    parse(11) + parse(12)
}

/// Percentage of all cores this process used over `interval` (blocks for it).
fn used_cpu_percent(interval: Duration) -> f64 {
    const TICKS_PER_SEC: f64 = 100.0;
    let start = (process_ticks(), std::time::Instant::now());
    std::thread::sleep(interval);
    let ticks = process_ticks().saturating_sub(start.0) as f64;
    let wall = start.1.elapsed().as_secs_f64().max(1e-3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    (ticks / TICKS_PER_SEC) / wall / cores * 100.0
}

/// Resident memory in KiB.
pub fn rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
