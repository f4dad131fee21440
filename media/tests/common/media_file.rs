//! What a recorded file really holds: its streams' codecs, the duration its container
//! declares, and a full decode of every frame (frame numbers of a frame-coded source included).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use super::peer::{read_frame_code, FRAME_CODE_BITS, FRAME_CODE_BLOCK};

#[derive(Debug, Default, Clone)]
pub struct MediaFile {
    /// Caps names of the container's streams before decoding (`video/x-vp8`, `audio/x-opus`).
    pub codecs: Vec<String>,
    /// The duration the container declares, if any.
    pub declared_duration: Option<gst::ClockTime>,
    pub video_frames: u64,
    pub first_video_pts: Option<gst::ClockTime>,
    pub last_video_pts: Option<gst::ClockTime>,
    pub audio_buffers: u64,
    /// End of the last decoded audio buffer.
    pub audio_end: Option<gst::ClockTime>,
    /// Frame numbers of a frame-coded source, in decoding order.
    pub frame_codes: Vec<u32>,
}

impl MediaFile {
    /// Length of the video from its first to its last frame.
    pub fn video_span(&self) -> Duration {
        match (self.first_video_pts, self.last_video_pts) {
            (Some(a), Some(b)) => Duration::from_nanos((b - a).nseconds()),
            _ => Duration::ZERO,
        }
    }

    /// Frames missing between the first and last frame numbers, and whether they are in order.
    pub fn frame_code_gaps(&self) -> (u64, bool) {
        let in_order = self.frame_codes.windows(2).all(|w| w[0] < w[1]);
        let (Some(first), Some(last)) = (self.frame_codes.first(), self.frame_codes.last()) else {
            return (0, in_order);
        };
        let expected = u64::from(last.saturating_sub(*first)) + 1;
        (
            expected.saturating_sub(self.frame_codes.len() as u64),
            in_order,
        )
    }
}

/// Demuxes and decodes the whole file (as fast as possible); an error if anything fails.
pub fn inspect(path: &Path) -> Result<MediaFile, String> {
    gst::init().map_err(|e| e.to_string())?;
    let found = Arc::new(Mutex::new(MediaFile::default()));
    // First pass: the streams as stored.
    let out = found.clone();
    let declared = run(path, "parsebin", move |pipeline, pad, name| {
        out.lock().unwrap().codecs.push(name.to_string());
        let sink = gst::parse::bin_from_description("queue ! fakesink sync=false", true)
            .expect("fakesink");
        link_new(pipeline, pad, sink.upcast_ref());
    })?;
    // Second pass: every frame decoded.
    let out = found.clone();
    run(path, "decodebin", move |pipeline, pad, name| {
        let video = name.starts_with("video/");
        let chain = if video {
            "queue ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false"
        } else {
            "queue ! audioconvert ! appsink name=sink sync=false"
        };
        let bin = gst::parse::bin_from_description(chain, true).expect("decode chain");
        let sink = bin
            .by_name("sink")
            .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
            .expect("appsink");
        let out = out.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(buffer) = sample.buffer() {
                        record(&mut out.lock().unwrap(), &sample, buffer, video);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        link_new(pipeline, pad, bin.upcast_ref());
    })?;
    let mut f = found.lock().unwrap().clone();
    f.declared_duration = declared;
    Ok(f)
}

fn record(f: &mut MediaFile, sample: &gst::Sample, buffer: &gst::BufferRef, video: bool) {
    if !video {
        f.audio_buffers += 1;
        if let Some(pts) = buffer.pts() {
            f.audio_end = Some(pts + buffer.duration().unwrap_or_default());
        }
        return;
    }
    f.video_frames += 1;
    if f.first_video_pts.is_none() {
        f.first_video_pts = buffer.pts();
    }
    f.last_video_pts = buffer.pts().or(f.last_video_pts);
    let info = sample
        .caps()
        .and_then(|c| gst_video::VideoInfo::from_caps(c).ok());
    if let (Some(info), Ok(map)) = (info, buffer.map_readable()) {
        let stride = info.stride()[0] as usize;
        if info.width() as usize >= FRAME_CODE_BITS * FRAME_CODE_BLOCK
            && info.height() as usize >= FRAME_CODE_BLOCK
        {
            f.frame_codes.push(read_frame_code(map.as_slice(), stride));
        }
    }
}

fn link_new(pipeline: &gst::Pipeline, pad: &gst::Pad, element: &gst::Element) {
    if pipeline.add(element).is_err() {
        return;
    }
    if let Err(e) = pad.link(&element.static_pad("sink").expect("a sink pad")) {
        eprintln!("inspect: cannot link {pad:?}: {e:?}");
    }
    let _ = element.sync_state_with_parent();
}

/// `filesrc ! <demux>`, with `on_pad` for each of its pads, played to the end. `on_pad` starts
/// its branch with a queue: the demuxer's one thread must not block on the first sink's preroll. Returns the
/// duration the pipeline reports.
fn run(
    path: &Path,
    demux: &str,
    on_pad: impl Fn(&gst::Pipeline, &gst::Pad, &str) + Send + Sync + 'static,
) -> Result<Option<gst::ClockTime>, String> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().as_ref())
        .build()
        .map_err(|e| e.to_string())?;
    let demux = gst::ElementFactory::make(demux)
        .build()
        .map_err(|e| e.to_string())?;
    pipeline
        .add_many([&src, &demux])
        .map_err(|e| e.to_string())?;
    src.link(&demux).map_err(|e| e.to_string())?;
    let pl = pipeline.downgrade();
    demux.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pl.upgrade() else { return };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps
            .structure(0)
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        on_pad(&pipeline, pad, &name);
    });
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("{}: cannot play: {e}", path.display()))?;
    let bus = pipeline.bus().expect("bus");
    let mut result = Err(format!("{}: no end of stream within 20 s", path.display()));
    let mut declared = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(20)) {
        match msg.view() {
            gst::MessageView::Eos(_) => {
                result = Ok(());
                break;
            }
            gst::MessageView::Error(e) => {
                result = Err(format!(
                    "{}: {} ({:?})",
                    path.display(),
                    e.error(),
                    e.debug()
                ));
                break;
            }
            gst::MessageView::AsyncDone(_) | gst::MessageView::DurationChanged(_) => {
                if let Some(d) = pipeline.query_duration::<gst::ClockTime>() {
                    declared = Some(d);
                }
            }
            _ => {}
        }
    }
    if declared.is_none() {
        declared = pipeline.query_duration::<gst::ClockTime>();
    }
    let _ = pipeline.set_state(gst::State::Null);
    result.map(|()| declared)
}
