//! The server-wide bound on Python filter processes, and what /metrics says of them (its own
//! test binary: the Python settings are process-wide).

mod common;

use common::{start_server, Client};
use serde_json::{json, Value};

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn python_filters_beyond_the_limit_are_refused_and_metrics_count_them() {
    let dir = common::ScratchDir::new("python-quota");
    std::fs::write(dir.join("noop.py"), "def process(frame, ctx):\n    pass\n").unwrap();
    let (addr, _) = start_server(&[
        "--python-filters-dir",
        dir.to_str().unwrap(),
        "--max-python-filters",
        "2",
    ])
    .await;
    let mut c = Client::connect(addr).await;
    let p = c.create("MediaPipeline", Value::Null).await;
    let create = json!({"type": "PythonFilter", "constructorParams": {"mediaPipeline": p, "module": "noop"}});
    let first = c.ok("create", create.clone()).await["value"].clone();
    c.ok("create", create.clone()).await;
    let (_, text) = common::get(addr, "/metrics").await;
    assert_eq!(metric(&text, "rheo_python_filters"), 2);
    assert_eq!(metric(&text, "rheo_python_filters_max"), 2);
    let e = c.err("create", create.clone()).await;
    assert_eq!(e["code"], 40009, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("max_python_filters"),
        "{e}"
    );
    // Releasing one ends its process and frees its place.
    c.ok("release", json!({"object": first})).await;
    let freed = common::wait_until_async(std::time::Duration::from_secs(10), || {
        rheo_filters::python::running_processes() == 1
    })
    .await;
    assert!(freed, "the released filter's process ended");
    c.ok("create", create).await;
    c.ok("release", json!({"object": p})).await;
    let all_gone = common::wait_until_async(std::time::Duration::from_secs(10), || {
        rheo_filters::python::running_processes() == 0
    })
    .await;
    assert!(all_gone, "releasing the pipeline ends every process");
}
