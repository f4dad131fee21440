//! The cdylib is a loadable GStreamer plugin: gst-inspect-1.0 / gst-launch-1.0 find
//! `rheofaceoverlay` and `rheopythonfilter` through GST_PLUGIN_PATH.

use std::path::PathBuf;
use std::process::Command;

/// A directory (`target/<profile>/rheo-filters-plugin-test/`) holding only a copy of the plugin built together with this test.
///
/// `cargo test` writes the fresh cdylib to `target/<profile>/deps/` (next to this test
/// binary) and uplifts it to `target/<profile>/` only on `cargo build`; `deps/` also holds
/// unrelated shared objects, so the newest of the two is copied to a directory of its own.
fn plugin_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let deps = exe.parent().unwrap();
        let candidates = [
            deps.join("libgstrheofilters.so"),
            deps.parent().unwrap().join("libgstrheofilters.so"),
        ];
        let newest = candidates
            .iter()
            .filter_map(|p| Some((std::fs::metadata(p).ok()?.modified().ok()?, p)))
            .max()
            .map(|(_, p)| p.clone())
            .expect("libgstrheofilters.so not built");
        let dir = deps.parent().unwrap().join("rheo-filters-plugin-test");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&newest, dir.join("libgstrheofilters.so")).unwrap();
        dir
    })
    .clone()
}

fn gst_tool(tool: &str, args: &[&str]) -> std::process::Output {
    gst_tool_with(tool, args, &[])
}

fn gst_tool_with(tool: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let registry = std::env::temp_dir().join(format!(
        "rheo-filters-registry-{}-{tool}.bin",
        std::process::id()
    ));
    let out = Command::new(tool)
        .args(args)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_REGISTRY_1_0", &registry)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    let _ = std::fs::remove_file(registry);
    out
}

#[test]
fn gst_inspect_finds_the_element() {
    let out = gst_tool("gst-inspect-1.0", &["rheofaceoverlay"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("WARNING"),
        "plugin loading warnings:\n{stderr}"
    );
    assert!(stdout.contains("rheofilters"), "{stdout}");
    assert!(stdout.contains("GstRheoFaceOverlay"), "{stdout}");
    for prop in [
        "image-uri",
        "offset-x",
        "offset-y",
        "width-ratio",
        "height-ratio",
        "frames-with-faces",
        "frames-processed",
    ] {
        assert!(stdout.contains(prop), "property {prop} missing:\n{stdout}");
    }
}

#[test]
fn gst_launch_videotestsrc_smoke() {
    let out = gst_tool(
        "gst-launch-1.0",
        &[
            "videotestsrc",
            "num-buffers=30",
            "!",
            "video/x-raw,format=I420,width=320,height=240",
            "!",
            "rheofaceoverlay",
            "!",
            "fakesink",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gst_launch_detects_face_and_loads_image_uri() {
    let desc = "filesrc location=/usr/share/doc/opencv-doc/examples/data/messi5.jpg ! jpegdec ! \
                videoconvert ! videocrop left=145 right=123 top=0 bottom=132 ! videoscale ! \
                video/x-raw,width=640,height=480 ! imagefreeze num-buffers=20 is-live=true ! \
                video/x-raw,framerate=30/1 ! videoconvert ! video/x-raw,format=I420 ! \
                rheofaceoverlay image-uri=file:///usr/share/doc/opencv-doc/examples/data/opencv-logo.png ! \
                fakesink sync=true";
    let mut args = vec!["-m"];
    args.extend(desc.split_whitespace());
    let out = gst_tool("gst-launch-1.0", &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rheo-image-loaded"), "{stdout}");
    assert!(
        stdout.contains("rheo-faces, faces=(structure)< \"face"),
        "no face reported:\n{stdout}"
    );
}

#[test]
fn gst_launch_runs_a_python_filter_of_the_shipped_folder() {
    // The shipped motion detector on a moving ball: its event comes out as a bus message.
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../python_filters");
    let desc = "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,width=320,height=240 ! \
                videoconvert ! rheopythonfilter module=motion params={\"threshold\":0.001} ! \
                videoconvert ! fakesink";
    let mut args = vec!["-m"];
    args.extend(desc.split_whitespace());
    let out = gst_tool_with(
        "gst-launch-1.0",
        &args,
        &[("RHEO_PYTHON_FILTERS_DIR", folder)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("rheo-event, event=(string)MotionDetected"),
        "no MotionDetected event:\n{stdout}"
    );
}
