//! Short media files made with GStreamer for the tests that play or upload them.

use std::path::PathBuf;

use gst::prelude::*;
use rheo_media::init;

/// Runs a gst-launch description to its end (bounded).
pub fn make_file(launch: &str) {
    init().unwrap();
    let pipeline = gst::parse::launch(launch).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)),
        "{launch}"
    );
}

/// A 3 s file of each kind, made once per process.
pub fn sample(kind: &str) -> PathBuf {
    // Tests run in parallel: one makes the file while the others wait for it.
    static MADE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap();
    let path = std::env::temp_dir().join(format!("rheo-player-{}-{kind}", std::process::id()));
    if made.iter().any(|k| k == kind) {
        return path;
    }
    made.push(kind.to_string());
    let video = "videotestsrc num-buffers=90 pattern=ball ! video/x-raw,width=640,height=480,framerate=30/1";
    let audio = "audiotestsrc num-buffers=150 samplesperbuffer=960 ! audio/x-raw,rate=48000";
    let location = path.display();
    make_file(&match kind {
        "vp8.webm" => format!(
            "webmmux name=m ! filesink location={location} \
             {video} ! vp8enc deadline=1 keyframe-max-dist=30 ! m. \
             {audio} ! opusenc ! m."
        ),
        "h264.mp4" => format!(
            "mp4mux name=m ! filesink location={location} \
             {video} ! x264enc tune=zerolatency key-int-max=30 ! m. \
             {audio} ! avenc_aac ! m."
        ),
        other => panic!("no sample {other}"),
    });
    path
}
