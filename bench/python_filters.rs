//! Benchmark (not a test): what a Python filter costs, beside baselines run in the same process:
//!
//! 1. per frame, an empty Python filter against an empty Rust filter of the filter SDK (both in
//!    BGR, conversions included), 640x480, as fast as the pipeline goes;
//! 2. `cv2.GaussianBlur` as a Python filter in Rheo against the same call in a bare Python loop
//!    over the same frames (GStreamer's Python bindings decode them the same way);
//! 3. four pipelines with a CPU-heavy Python filter against one: total frames per second.
//!
//! CPU time counts the Python processes too (the children of this process).
//!
//! cargo run --release -p rheo-filters --example python_filters [frames]

use std::time::Instant;

use gst::prelude::*;
use gstrheofilters::python::{self, PythonSettings};
use rheo_filter_sdk::{
    Args, Context, DataUse, FilterError, FilterInfo, Frame, Parent, PixelFormat, VideoFilter,
};

/// An SDK filter that does nothing: the Rust side of the first comparison.
struct Nothing;

static NOTHING: FilterInfo = FilterInfo {
    module: "benchmark",
    class: "NothingFilter",
    element: "rheobenchnothing",
    description: "Does nothing (benchmark baseline)",
    constructor: &[],
    methods: &[],
    properties: &[],
    events: &[],
    format: PixelFormat::Bgr,
    data: DataUse::None,
    parent: Parent::Filter,
};

impl VideoFilter for Nothing {
    fn info() -> &'static FilterInfo {
        &NOTHING
    }
    fn new(_args: &Args) -> Result<Self, FilterError> {
        Ok(Nothing)
    }
    fn process(
        &mut self,
        _frame: &mut Frame<'_>,
        _ctx: &mut dyn Context,
    ) -> Result<(), FilterError> {
        Ok(())
    }
}

const FILTERS: [(&str, &str); 3] = [
    ("empty", "def process(frame, ctx):\n    pass\n"),
    (
        "gaussian",
        "import time\nimport cv2\nimport numpy as np\n\ntotal = 0.0\n\ndef process(frame, ctx):\n    global total\n    start = time.perf_counter()\n    np.copyto(frame, cv2.GaussianBlur(frame, (15, 15), 0))\n    total += time.perf_counter() - start\n    ctx.emit(\"Timing\", {\"frames\": ctx.frame_number + 1, \"seconds\": total})\n",
    ),
    (
        "heavy",
        "import cv2\nimport numpy as np\n\ndef process(frame, ctx):\n    out = frame\n    for _ in range(6):\n        out = cv2.GaussianBlur(out, (31, 31), 0)\n    np.copyto(frame, out)\n",
    ),
];

/// CPU seconds of `pid` (utime + stime) from /proc.
fn cpu_of(pid: &str) -> (f64, Option<u32>) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let ppid = fields.get(1).and_then(|v| v.parse().ok());
    ((field(11) + field(12)) / 100.0, ppid)
}

/// CPU seconds of this process and its live children.
fn cpu_seconds() -> f64 {
    let me = std::process::id();
    let mut total = cpu_of("self").0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.chars().all(|c| c.is_ascii_digit()) {
            let (cpu, ppid) = cpu_of(&name);
            if ppid == Some(me) {
                total += cpu;
            }
        }
    }
    total
}

const SOURCE: &str =
    "videotestsrc pattern=ball ! video/x-raw,format=I420,width=640,height=480,framerate=30/1";

/// Runs `copies` pipelines of `frames` frames through `middle` as fast as they go; returns
/// (wall seconds, CPU seconds) while they ran, all frames of all copies included.
fn run(middle: &str, frames: u32, copies: usize) -> (f64, f64) {
    let (wall, cpu, _) = run_with_events(middle, frames, copies);
    (wall, cpu)
}

/// [`run`], also returning the data of the last event the first pipeline's filter raised.
fn run_with_events(middle: &str, frames: u32, copies: usize) -> (f64, f64, Option<String>) {
    let pipelines: Vec<gst::Pipeline> = (0..copies)
        .map(|_| {
            let desc = format!("{SOURCE} ! videoconvert ! {middle} ! fakesink sync=false").replace(
                "videotestsrc",
                &format!("videotestsrc num-buffers={frames}"),
            );
            gst::parse::launch(&desc)
                .unwrap()
                .downcast::<gst::Pipeline>()
                .unwrap()
        })
        .collect();
    // READY first: processes started and files loaded before the clock starts.
    for p in &pipelines {
        p.set_state(gst::State::Paused).unwrap();
        let _ = p.state(gst::ClockTime::from_seconds(30));
    }
    let (c0, t0) = (cpu_seconds(), Instant::now());
    for p in &pipelines {
        p.set_state(gst::State::Playing).unwrap();
    }
    let mut last_event = None;
    for (i, p) in pipelines.iter().enumerate() {
        let bus = p.bus().unwrap();
        loop {
            let msg = bus
                .timed_pop_filtered(
                    gst::ClockTime::from_seconds(600),
                    &[
                        gst::MessageType::Eos,
                        gst::MessageType::Error,
                        gst::MessageType::Element,
                    ],
                )
                .expect("EOS");
            match msg.view() {
                gst::MessageView::Error(e) => panic!("{middle}: {} {:?}", e.error(), e.debug()),
                gst::MessageView::Element(m) if i == 0 => {
                    if let Some(data) = m.structure().and_then(|s| s.get::<String>("data").ok()) {
                        last_event = Some(data);
                    }
                }
                gst::MessageView::Eos(_) => break,
                _ => {}
            }
        }
    }
    let (c1, wall) = (cpu_seconds(), t0.elapsed().as_secs_f64());
    for p in &pipelines {
        p.set_state(gst::State::Null).unwrap();
    }
    (wall, c1 - c0, last_event)
}

/// The bare Python loop: the same frames, decoded beforehand by GStreamer's Python bindings
/// into numpy arrays, then the same `cv2.GaussianBlur` on each, written back, timed. Returns its
/// wall seconds per frame.
fn bare_python_blur(frames: u32) -> f64 {
    let script = format!(
        r#"
import time, gi, numpy as np, cv2
cv2.setNumThreads(1)  # as in Rheo's filter processes
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
p = Gst.parse_launch("videotestsrc pattern=ball num-buffers={frames} ! video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! videoconvert ! video/x-raw,format=BGR ! appsink name=s sync=false")
s = p.get_by_name("s")
p.set_state(Gst.State.PLAYING)
frames = []
while True:
    sample = s.emit("pull-sample")
    if sample is None:
        break
    buf = sample.get_buffer()
    ok, info = buf.map(Gst.MapFlags.READ)
    frames.append(np.frombuffer(info.data, np.uint8).reshape(480, 640, 3).copy())
    buf.unmap(info)
start = time.perf_counter()
for frame in frames:
    np.copyto(frame, cv2.GaussianBlur(frame, (15, 15), 0))
n = len(frames) + 1
print((time.perf_counter() - start) / max(n - 1, 1))
p.set_state(Gst.State.NULL)
"#
    );
    let out = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("bare loop: {}", String::from_utf8_lossy(&out.stderr)))
}

fn main() {
    let frames: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    gstrheofilters::register_static().expect("filters register");
    rheo_filter_sdk::registry::add(rheo_filter_sdk::registry::Registration::of::<Nothing>())
        .expect("the baseline filter registers");
    rheo_filter_sdk::registry::register_all(None).expect("SDK elements register");
    let dir = std::env::temp_dir().join(format!("rheo-python-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, code) in FILTERS {
        std::fs::write(dir.join(format!("{name}.py")), code).unwrap();
    }
    python::configure(PythonSettings {
        filters_dir: dir.clone(),
        frame_timeout: std::time::Duration::from_secs(60),
        ..PythonSettings::installed()
    });
    let n = frames as f64;
    let ms = |s: f64| s * 1000.0;

    // Rounds alternate the cases, and each figure is the median of its rounds: this kind of
    // machine drifts by tens of percent within a minute.
    const ROUNDS: usize = 5;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut rust, mut empty, mut blur, mut call, mut bare) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        rust.push(run("rheobenchnothing ! videoconvert", frames, 1).0 / n);
        empty.push(run("rheopythonfilter module=empty ! videoconvert", frames, 1).0 / n);
        let (wall, _, timing) =
            run_with_events("rheopythonfilter module=gaussian ! videoconvert", frames, 1);
        let timing: serde_json::Value =
            serde_json::from_str(&timing.expect("Timing events")).unwrap();
        blur.push(wall / n);
        call.push(timing["seconds"].as_f64().unwrap() / timing["frames"].as_f64().unwrap());
        bare.push(bare_python_blur(frames));
    }
    let (rust, empty, blur, call, bare) = (
        median(rust),
        median(empty),
        median(blur),
        median(call),
        median(bare),
    );

    println!("## 1. Per frame, 640x480 BGR, {frames} frames as fast as they go (median of {ROUNDS} rounds)\n");
    println!("| filter | wall ms/frame |\n|---|---|");
    println!("| Rust SDK filter doing nothing | {:.3} |", ms(rust));
    println!("| empty Python filter | {:.3} |", ms(empty));
    println!(
        "\nThe empty Python filter costs {:.3} ms more per frame, {:.2}x the Rust filter's pipeline.\n",
        ms(empty - rust),
        empty / rust
    );

    println!("## 2. cv2.GaussianBlur 15x15, {frames} frames (median of {ROUNDS} rounds)\n");
    // What the filter adds to a pipeline that converts to BGR and back with a Rust filter.
    let in_rheo = blur - rust;
    println!("| where | wall ms/frame |\n|---|---|");
    println!(
        "| the call, timed inside the Python filter in Rheo | {:.3} |",
        ms(call)
    );
    println!(
        "| the call, timed in a bare Python loop over the same decoded frames | {:.3} |",
        ms(bare)
    );
    println!(
        "| pipeline with the blur as a Python filter | {:.3} |",
        ms(blur)
    );
    println!(
        "| the same pipeline with the Rust filter doing nothing | {:.3} |",
        ms(rust)
    );
    println!(
        "| the blur's whole cost in Rheo (the difference) | {:.3} |",
        ms(in_rheo)
    );
    println!(
        "\nThe call: {:.2}x in Rheo; its whole cost in the pipeline: {:.2}x the bare call.\n",
        call / bare,
        in_rheo / bare
    );

    println!("## 3. A CPU-heavy Python filter (six 31x31 blurs), 1 and 4 pipelines\n");
    let heavy_frames = (frames / 3).max(30);
    let one = run("rheopythonfilter module=heavy", heavy_frames, 1);
    let four = run("rheopythonfilter module=heavy", heavy_frames, 4);
    let fps = |(wall, _): (f64, f64), copies: f64| heavy_frames as f64 * copies / wall;
    println!("| pipelines | total fps | CPU % of one core |\n|---|---|---|");
    println!(
        "| 1 | {:.1} | {:.0} |",
        fps(one, 1.0),
        one.1 / one.0 * 100.0
    );
    println!(
        "| 4 | {:.1} | {:.0} |",
        fps(four, 4.0),
        four.1 / four.0 * 100.0
    );
    println!(
        "\n4 sessions give {:.2}x the frames per second of one ({} cores).",
        fps(four, 4.0) / fps(one, 1.0),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
