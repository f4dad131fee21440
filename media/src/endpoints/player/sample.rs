//! The demos' sample videos: generated on this machine (nothing is downloaded), so the player and
//! send-data demos have something to play on a fresh install.

use std::path::Path;
use std::time::Duration;

use gst::prelude::*;

use crate::{err, ErrorKind, Result};

/// The sample's file name in the media root.
pub const SAMPLE_VIDEO_NAME: &str = "rheo-sample.webm";
/// Its length: long enough to seek in, short enough to reach its end in a test.
pub const SAMPLE_VIDEO_SECONDS: u32 = 10;
/// The send-data demo's clip: a QR code over a moving ball, in the media root.
pub const QR_SAMPLE_VIDEO_NAME: &str = "rheo-qr-sample.webm";
/// The text of its QR code.
pub const QR_SAMPLE_TEXT: &str = "Hello from Rheo: a QR code read in the video";
/// Generous: the encoders run far faster than real time.
const GENERATE_LIMIT: Duration = Duration::from_secs(120);

/// Writes the player demo's sample into `dir` unless it is already there; returns its path.
pub fn ensure_sample_video(dir: &Path) -> Result<std::path::PathBuf> {
    ensure(dir, SAMPLE_VIDEO_NAME, &sample_description(""))
}

/// Writes the send-data demo's QR clip into `dir` unless it is already there; returns its path.
pub fn ensure_qr_sample_video(dir: &Path) -> Result<std::path::PathBuf> {
    let qr_code =
        format!("! qroverlay data=\"{QR_SAMPLE_TEXT}\" x=30 y=15 pixel-size=5 case-sensitive=true");
    ensure(dir, QR_SAMPLE_VIDEO_NAME, &sample_description(&qr_code))
}

/// Writes a sample unless it is there. A partial file is written under another name and renamed
/// when complete, so a player never sees half a sample.
fn ensure(dir: &Path, name: &str, description: &str) -> Result<std::path::PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let partial = dir.join(format!(".{name}.{}.part", std::process::id()));
    let result = write_sample(&partial, description).and_then(|()| {
        std::fs::rename(&partial, &path)
            .map_err(|e| err(ErrorKind::Internal, format!("{}: {e}", path.display())))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result.map(|()| path)
}

/// A moving ball over 440 Hz ticks, 640x360 at 30 fps, VP8 and Opus in WEBM; `overlay` (a
/// `! element` chain on raw video) draws over the ball.
fn sample_description(overlay: &str) -> String {
    let frames = SAMPLE_VIDEO_SECONDS * 30;
    // 48 kHz in 20 ms buffers.
    let audio_buffers = SAMPLE_VIDEO_SECONDS * 50;
    format!(
        "videotestsrc num-buffers={frames} pattern=ball animation-mode=frames ! \
         video/x-raw,width=640,height=360,framerate=30/1 {overlay} ! videoconvert ! \
         vp8enc deadline=1 cpu-used=8 keyframe-max-dist=30 target-bitrate=800000 ! queue ! mux. \
         audiotestsrc num-buffers={audio_buffers} samplesperbuffer=960 wave=ticks freq=440 ! \
         audio/x-raw,rate=48000,channels=2 ! audioconvert ! opusenc ! queue ! mux. \
         webmmux name=mux ! filesink name=sink"
    )
}

fn write_sample(path: &Path, description: &str) -> Result<()> {
    let pipeline = gst::parse::launch(description)
        .map_err(|e| err(ErrorKind::Internal, format!("sample video pipeline: {e}")))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| err(ErrorKind::Internal, "sample video: not a pipeline"))?;
    let sink = pipeline
        .by_name("sink")
        .ok_or_else(|| err(ErrorKind::Internal, "sample video: no sink"))?;
    sink.set_property("location", path.to_string_lossy().to_string());
    let bus = pipeline
        .bus()
        .ok_or_else(|| err(ErrorKind::Internal, "sample video: no bus"))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| err(ErrorKind::Internal, format!("sample video: {e}")))?;
    let outcome = match bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(GENERATE_LIMIT.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    ) {
        Some(msg) => match msg.view() {
            gst::MessageView::Eos(_) => Ok(()),
            gst::MessageView::Error(e) => Err(err(
                ErrorKind::Internal,
                format!("sample video: {}", e.error()),
            )),
            _ => unreachable!("filtered to EOS and errors"),
        },
        None => Err(err(ErrorKind::Internal, "sample video: timed out")),
    };
    let _ = pipeline.set_state(gst::State::Null);
    outcome
}
