//! `rheopythonfilter` with real Python processes (Debian's python3 with numpy and OpenCV): the
//! pixels a filter draws come back, in the frame's own memory; exceptions, syntax errors, hangs
//! and crashes each give their error while the video goes on; events and hot reload.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use gst::prelude::*;
use gstrheofilters::python::{self, PythonSettings};

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../python_filters");
const W: usize = 320;
const H: usize = 240;

/// The filters the tests use, in a folder of their own.
fn filters_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        gstrheofilters::register_static().unwrap();
        let dir = std::env::temp_dir().join(format!("rheo-python-filters-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = [
            ("invert", "def process(frame, ctx):\n    frame[:] = 255 - frame\n"),
            (
                "odd_frames_raise",
                "def process(frame, ctx):\n    frame[:] = 255 - frame\n    if ctx.frame_number % 2:\n        raise ValueError(f\"frame {ctx.frame_number} is odd\")\n",
            ),
            ("broken", "def process(frame, ctx):\n    frame[:] = 0\n  oops\n"),
            ("no_process", "x = 1\n"),
            (
                "hangs",
                "import time\n\ndef process(frame, ctx):\n    if ctx.frame_number == 3:\n        time.sleep(600)\n    frame[:] = 255 - frame\n",
            ),
            (
                "crashes",
                "import ctypes\n\ndef process(frame, ctx):\n    if ctx.frame_number == 3:\n        ctypes.string_at(0)\n    frame[:] = 255 - frame\n",
            ),
            (
                "counts",
                "class Filter:\n    def __init__(self, params):\n        self.every = params.get(\"every\", 5)\n\n    def process(self, frame, ctx):\n        if ctx.frame_number % self.every == 0:\n            ctx.emit(\"Counted\", {\"frame\": ctx.frame_number, \"mean\": float(frame.mean())})\n",
            ),
            (
                "slow_analysis",
                "import itertools, time\n\nanalyses = itertools.count(1)\n\ndef analyze(frame, ctx):\n    time.sleep(0.2)\n    return next(analyses)\n\ndef draw(frame, result, ctx):\n    ctx.emit(\"Drawn\", {\"result\": result})\n",
            ),
            (
                "finds_faces",
                "def process(frame, ctx):\n    faces = ctx.faces()\n    ctx.emit(\"Faces\", {\"faces\": faces, \"height\": frame.shape[0]})\n",
            ),
            ("noop", "def process(frame, ctx):\n    pass\n"),
            (
                "marks",
                "def process(frame, ctx):\n    ctx.add_region(\"mark\", 10, 20, 30, 40)\n",
            ),
            (
                "reads_marks",
                "def process(frame, ctx):\n    ctx.emit(\"Regions\", {\"regions\": ctx.regions})\n",
            ),
        ];
        for (name, code) in files {
            std::fs::write(dir.join(format!("{name}.py")), code).unwrap();
        }
        // The shipped examples too.
        for entry in std::fs::read_dir(SHIPPED).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "py") {
                std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
            }
        }
        python::configure(PythonSettings {
            filters_dir: dir.clone(),
            ..PythonSettings::installed()
        });
        dir
    })
}

/// The I420 test pattern frames and what the filter made of them, converted back to I420.
struct Run {
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
    messages: Vec<gst::Structure>,
    error: Option<String>,
    filter: gst::Element,
}

/// `frames` frames of a moving pattern through `videoconvert ! rheopythonfilter ! videoconvert`.
fn run(module: &str, extra: &str, frames: usize) -> Run {
    let source = format!("videotestsrc num-buffers={frames} pattern=ball");
    run_on(&source, module, extra)
}

/// [`run`] on the frames of `source` (scaled to the test's size).
fn run_on(source: &str, module: &str, extra: &str) -> Run {
    filters_dir();
    let desc = format!(
        "{source} ! videoconvert ! videoscale ! video/x-raw,format=I420,width={W},height={H},framerate=30/1 ! \
         tee name=t ! queue ! appsink name=in sync=false \
         t. ! queue ! videoconvert ! rheopythonfilter name=py module={module} {extra} ! videoconvert ! \
         video/x-raw,format=I420 ! appsink name=out sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let filter = pipeline.by_name("py").unwrap();
    let collect = |name: &str| {
        let sink = pipeline
            .by_name(name)
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        let store = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = store.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let map = sample.buffer().unwrap().map_readable().unwrap();
                    s2.lock().unwrap().push(map.to_vec());
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        store
    };
    let (inputs, outputs) = (collect("in"), collect("out"));
    let bus = pipeline.bus().unwrap();
    let mut messages = Vec::new();
    let mut error = None;
    if pipeline.set_state(gst::State::Playing).is_ok() {
        loop {
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(60)) else {
                panic!("no EOS within 60 s");
            };
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => {
                    error = Some(e.error().to_string());
                    break;
                }
                gst::MessageView::Element(m) => {
                    if let Some(s) = m.structure() {
                        messages.push(s.to_owned());
                    }
                }
                _ => {}
            }
        }
    } else {
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                error = Some(e.error().to_string());
            }
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let inputs = std::mem::take(&mut *inputs.lock().unwrap());
    let outputs = std::mem::take(&mut *outputs.lock().unwrap());
    Run {
        inputs,
        outputs,
        messages,
        error,
        filter,
    }
}

/// Mean absolute difference of the luma planes.
fn luma_difference(a: &[u8], b: &[u8]) -> f64 {
    let n = W * H;
    a[..n]
        .iter()
        .zip(&b[..n])
        .map(|(x, y)| (*x as i32 - *y as i32).abs() as f64)
        .sum::<f64>()
        / n as f64
}

/// Whether `out` is `input` inverted (luma 16..235 turns into 251 - y, give or take rounding).
fn inverted(input: &[u8], out: &[u8]) -> bool {
    let n = W * H;
    let off = input[..n]
        .iter()
        .zip(&out[..n])
        .filter(|(x, y)| (251 - **x as i32 - **y as i32).abs() > 6)
        .count();
    off < n / 100
}

fn errors(run: &Run) -> Vec<String> {
    run.messages
        .iter()
        .filter(|s| s.name() == "rheo-filter-error")
        .map(|s| s.get::<String>("description").unwrap())
        .collect()
}

#[test]
fn the_filter_draws_on_the_frames_own_memory() {
    let run = run("invert", "", 10);
    assert_eq!(run.error, None);
    assert_eq!(run.outputs.len(), 10);
    for (i, (input, out)) in run.inputs.iter().zip(&run.outputs).enumerate() {
        assert!(inverted(input, out), "frame {i} not inverted");
    }
    // The converter before the filter wrote into the element's memfd pool: nothing copied.
    assert_eq!(run.filter.property::<u64>("frames-shared"), 10);
    assert_eq!(run.filter.property::<u64>("frames-copied"), 0);
}

#[test]
fn frames_from_elsewhere_are_copied_in_and_back() {
    filters_dir();
    // appsrc buffers are plain memory: the element copies them into shared memory and back.
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=BGR,width={W},height={H},framerate=30/1 ! \
         rheopythonfilter name=py module=invert ! appsink name=out sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let out = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let frame: Vec<u8> = (0..W * H * 3).map(|i| (i % 251) as u8).collect();
    src.push_buffer(gst::Buffer::from_slice(frame.clone()))
        .unwrap();
    let sample = out
        .try_pull_sample(gst::ClockTime::from_seconds(20))
        .expect("a frame");
    let map = sample.buffer().unwrap().map_readable().unwrap();
    assert!(map.iter().zip(&frame).all(|(o, i)| *o == 255 - *i));
    let py = pipeline.by_name("py").unwrap();
    assert_eq!(py.property::<u64>("frames-copied"), 1);
    drop(map);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn an_exception_is_reported_with_its_line_and_the_frame_passes_unchanged() {
    let run = run("odd_frames_raise", "", 8);
    assert_eq!(run.error, None, "the stream goes on");
    assert_eq!(run.outputs.len(), 8);
    for (i, (input, out)) in run.inputs.iter().zip(&run.outputs).enumerate() {
        if i % 2 == 1 {
            // Restored: what the filter drew before it raised is gone.
            assert!(luma_difference(input, out) < 1.0, "odd frame {i} changed");
        } else {
            assert!(inverted(input, out), "even frame {i} not inverted");
        }
    }
    let errors = errors(&run);
    assert!(!errors.is_empty());
    assert!(
        errors[0].contains("odd_frames_raise.py:4: ValueError: frame 1 is odd"),
        "{errors:?}"
    );
}

#[test]
fn a_file_that_does_not_load_fails_with_its_file_and_line() {
    let run = run("broken", "", 3);
    let error = run.error.expect("an error");
    assert!(error.contains("broken.py:3: "), "{error}");
    assert!(
        error.contains("IndentationError") || error.contains("SyntaxError"),
        "{error}"
    );
    let run = run_named("no_process");
    assert!(run.contains("defines neither process"), "{run}");
}

fn run_named(module: &str) -> String {
    run(module, "", 3).error.expect("an error")
}

#[test]
fn names_that_are_not_filters_of_the_folder_are_refused() {
    for name in ["../invert", "/etc/passwd", "missing", "invert.py"] {
        let error = run_named(&format!("\"{name}\""));
        assert!(
            error.contains("not a Python filter name") || error.contains("no Python filter"),
            "{name}: {error}"
        );
    }
}

#[test]
fn a_filter_that_hangs_is_stopped_and_the_video_goes_on() {
    let run = run("hangs", "frame-timeout-ms=500", 10);
    assert_eq!(run.error, None);
    assert_eq!(run.outputs.len(), 10, "every frame came out");
    let errors = errors(&run);
    assert!(
        errors.iter().any(|e| e.contains("no answer within 500 ms")),
        "{errors:?}"
    );
    // Before: filtered; the frame it hung on and after: unfiltered.
    assert!(inverted(&run.inputs[2], &run.outputs[2]));
    for i in 3..10 {
        assert!(
            luma_difference(&run.inputs[i], &run.outputs[i]) < 1.0,
            "frame {i}"
        );
    }
}

#[test]
fn a_filter_that_crashes_its_interpreter_is_stopped_and_the_video_goes_on() {
    let run = run("crashes", "", 10);
    assert_eq!(run.error, None);
    assert_eq!(run.outputs.len(), 10);
    let errors = errors(&run);
    assert!(errors.iter().any(|e| e.contains("SIGSEGV")), "{errors:?}");
    assert!(inverted(&run.inputs[2], &run.outputs[2]));
    for i in 3..10 {
        assert!(
            luma_difference(&run.inputs[i], &run.outputs[i]) < 1.0,
            "frame {i}"
        );
    }
}

#[test]
fn events_carry_the_filters_json_and_params_reach_it() {
    let run = run("counts", "params=\"{\\\"every\\\":3}\"", 10);
    assert_eq!(run.error, None);
    let events: Vec<(String, serde_json::Value)> = run
        .messages
        .iter()
        .filter(|s| s.name() == "rheo-event")
        .map(|s| {
            (
                s.get::<String>("event").unwrap(),
                serde_json::from_str(&s.get::<String>("data").unwrap()).unwrap(),
            )
        })
        .collect();
    let frames: Vec<i64> = events
        .iter()
        .map(|(_, d)| d["frame"].as_i64().unwrap())
        .collect();
    assert_eq!(frames, vec![0, 3, 6, 9]);
    assert!(events
        .iter()
        .all(|(name, d)| name == "Counted" && d["mean"].as_f64().unwrap() > 0.0));
}

#[test]
fn a_slow_analysis_does_not_hold_the_frames_back() {
    // analyze() takes 200 ms a frame; draw() runs on every frame with the last result.
    let run = run("slow_analysis", "", 30);
    assert_eq!(run.error, None);
    assert_eq!(run.outputs.len(), 30);
    let results: Vec<serde_json::Value> = run
        .messages
        .iter()
        .filter(|s| s.name() == "rheo-event")
        .map(|s| {
            serde_json::from_str::<serde_json::Value>(&s.get::<String>("data").unwrap()).unwrap()
                ["result"]
                .clone()
        })
        .collect();
    assert_eq!(results.len(), 30, "draw() ran on every frame");
    assert!(
        results[0].is_null(),
        "the first frame is drawn before any analysis ended"
    );
    // Frames did not wait for the analysis: far fewer analyses than frames.
    let analyses = results.iter().filter_map(|r| r.as_i64()).max().unwrap_or(0);
    assert!(analyses < 30, "{analyses} analyses for 30 frames");
}

#[test]
fn editing_the_file_reloads_it_in_the_running_stream() {
    let dir = filters_dir();
    let path = dir.join("reloads.py");
    std::fs::write(&path, "def process(frame, ctx):\n    frame[:] = 0\n").unwrap();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=white ! video/x-raw,format=I420,width={W},height={H},framerate=30/1 ! \
         videoconvert ! rheopythonfilter module=reloads ! videoconvert ! video/x-raw,format=I420 ! \
         appsink name=out sync=false max-buffers=1 drop=true"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let out = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let luma = |out: &gst_app::AppSink| -> u8 {
        let sample = out
            .try_pull_sample(gst::ClockTime::from_seconds(20))
            .expect("a frame");
        let map = sample.buffer().unwrap().map_readable().unwrap();
        map[W * H / 2]
    };
    assert!(luma(&out) < 30, "black before the edit");
    std::fs::write(&path, "def process(frame, ctx):\n    frame[:] = 255\n").unwrap();
    // The host looks at the file twice a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut now_white = false;
    while std::time::Instant::now() < deadline {
        if luma(&out) > 200 {
            now_white = true;
            break;
        }
    }
    let bus = pipeline.bus().unwrap();
    let reloaded = std::iter::from_fn(|| bus.pop()).any(|m| {
        m.structure()
            .is_some_and(|s| s.name() == "rheo-python-reloaded")
    });
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(now_white, "the edited filter runs");
    assert!(reloaded, "a rheo-python-reloaded message");
}

fn events_named(run: &Run, name: &str) -> Vec<serde_json::Value> {
    run.messages
        .iter()
        .filter(|s| s.name() == "rheo-event" && s.get::<String>("event").unwrap() == name)
        .map(|s| serde_json::from_str(&s.get::<String>("data").unwrap()).unwrap())
        .collect()
}

#[test]
fn a_filter_asks_rheos_detector_for_the_faces_of_its_frame() {
    // The e2e camera's picture: the player's upper body, face about a third of the height.
    let source = "filesrc location=/usr/share/doc/opencv-doc/examples/data/messi5.jpg ! jpegdec ! \
                  videoconvert ! videocrop left=110 right=164 top=40 bottom=97 ! imagefreeze num-buffers=3";
    let run = run_on(source, "finds_faces", "");
    assert_eq!(run.error, None);
    let events = events_named(&run, "Faces");
    assert_eq!(events.len(), 3);
    let faces = events[0]["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{events:?}");
    // At 320x240 the face is around x 134, y 62, 46 pixels wide (half the e2e camera's box).
    let (x, w) = (
        faces[0]["x"].as_u64().unwrap(),
        faces[0]["width"].as_u64().unwrap(),
    );
    assert!(
        (110..160).contains(&x) && (35..65).contains(&w),
        "{faces:?}"
    );
}

#[test]
fn regions_a_filter_attaches_reach_the_next_filter() {
    let run = run("marks", "! rheopythonfilter module=reads_marks", 2);
    assert_eq!(run.error, None);
    let events = events_named(&run, "Regions");
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0]["regions"],
        serde_json::json!([{"kind": "mark", "x": 10, "y": 20, "width": 30, "height": 40}])
    );
}

#[test]
fn every_shipped_example_runs_on_a_face_without_an_error() {
    let source = "filesrc location=/usr/share/doc/opencv-doc/examples/data/messi5.jpg ! jpegdec ! \
                  videoconvert ! videocrop left=110 right=164 top=40 bottom=97 ! imagefreeze num-buffers=5";
    let mut names: Vec<String> = std::fs::read_dir(SHIPPED)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".py")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    assert_eq!(names, ["blur_faces", "cartoon", "edges", "motion"]);
    // Compared with what a filter that does nothing gives (the JPEG's full-range colours come
    // back limited-range after BGR).
    let noop = run_on(source, "noop", "");
    for name in names {
        let run = run_on(source, &name, "");
        assert_eq!(run.error, None, "{name}");
        assert_eq!(run.outputs.len(), 5, "{name}");
        assert_eq!(errors(&run), Vec::<String>::new(), "{name}");
        // Each changes the picture (motion only once something moves: not on a still one).
        let changed = luma_difference(&noop.outputs[4], &run.outputs[4]);
        if name == "motion" {
            assert!(changed < 0.01, "{name}: {changed}");
        } else {
            // blur_faces changes only the face, a thirtieth of the picture.
            assert!(changed > 0.1, "{name} changed nothing: {changed}");
        }
    }
}
