//! RecorderEndpoint: writes what its sources send into a file, without transcoding when the
//! codec fits the container.
//!
//! Each recorded media type is an appsrc fed by the fan-out. A probe on it (the [`gate`]) drops
//! everything until `record`, starts video at a keyframe, and rewrites timestamps so that the
//! file starts at 0 and a pause leaves no gap. The muxing elements ([`writer`]) exist only
//! between `record` and `stop`; the containers are chosen so that a file cut short by a killed
//! server still plays (Matroska clusters, fragmented MP4).

mod gate;
mod profile;
mod writer;

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use gst::prelude::*;
use parking_lot::Mutex;

pub use profile::{Container, MediaProfile};
pub use writer::RecordTarget;

use crate::api_contract::*;
use crate::graph::context::{ElementContext, Graph};
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::output::{AppSrcConsumer, Format, Output, StreamEndListener};
use crate::graph::pipeline::MediaPipeline;
use crate::{err, ErrorKind};
use gate::{Admit, Gate};

/// How long after the first buffer of a recording every track must have sent something. A track
/// still silent then (a browser without a microphone, connected for audio and video) is left
/// out and the file started over without it: a muxer waits for every track it has, so the
/// silent one would hold the whole file back.
pub const TRACK_WAIT: Duration = Duration::from_secs(1);
use writer::Writer;

/// Constructor options of a RecorderEndpoint.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    pub target: RecordTarget,
    pub profile: MediaProfile,
    /// Stop (finishing the file) when every stream recorded has ended, as a played file does.
    pub stop_on_end_of_stream: bool,
}

/// One recorded media type.
struct Track {
    media: MediaKind,
    accepts: &'static [Format],
    appsrc: gst_app::AppSrc,
    consumer: Arc<AppSrcConsumer>,
    /// Fixed by the first source bound, or at `record`: the muxer cannot change codec.
    format: Arc<Mutex<Option<Format>>>,
}

/// What the recorder is doing. `Busy` while a `record` or `stop` builds or finishes the file,
/// so no lock is held across those state changes.
enum Phase {
    Stopped,
    Busy,
    Recording(Writer),
    Paused(Writer),
}

struct Recorder {
    id: String,
    bin: gst::Bin,
    events: EventSink,
    graph: Graph,
    options: RecorderOptions,
    tracks: Vec<Track>,
    gate: Arc<Mutex<Gate>>,
    phase: Mutex<Phase>,
    /// Tracks left out of the current recording because they never sent anything.
    silent: Mutex<Vec<MediaKind>>,
    /// Counts the files started, so a late check applies only to the file it was made for.
    generation: AtomicU64,
    released: AtomicBool,
    /// The sources bound to the inputs, and whether each one's stream has ended.
    upstreams: Mutex<Vec<Upstream>>,
}

struct Upstream {
    media: MediaKind,
    output: Weak<Output>,
    ended: bool,
}

/// A RecorderEndpoint's handle (see [`Element::recorder`]).
pub struct RecorderEndpoint {
    inner: Arc<Recorder>,
}

impl Element {
    pub fn recorder(&self) -> Option<&RecorderEndpoint> {
        self.kind::<RecorderEndpoint>()
    }
}

impl RecorderEndpoint {
    pub fn create(
        pipeline: &MediaPipeline,
        id: &str,
        options: RecorderOptions,
    ) -> crate::Result<Element> {
        pipeline.add(id, |ctx| build(ctx, options))
    }

    /// Starts writing (or resumes after `pause`). Fails at once when the file cannot be created.
    pub fn record(&self) -> crate::Result<()> {
        self.inner.record()
    }

    /// Stops writing until the next `record`; the file's timeline goes on without a gap.
    pub fn pause(&self) -> crate::Result<()> {
        self.inner.pause()
    }

    /// Finishes the file in the background; `Stopped` tells when it is complete.
    pub fn stop(&self) {
        self.inner.stop_in_background();
    }

    /// Finishes the file and returns once it is complete on disk.
    pub fn stop_and_wait(&self) -> crate::Result<()> {
        self.inner.stop()
    }

    pub fn state(&self) -> UriEndpointState {
        match &*self.inner.phase.lock() {
            Phase::Stopped => UriEndpointState::Stop,
            Phase::Busy | Phase::Recording(_) => UriEndpointState::Start,
            Phase::Paused(_) => UriEndpointState::Pause,
        }
    }

    pub fn profile(&self) -> MediaProfile {
        self.inner.options.profile
    }
}

fn build(
    ctx: &ElementContext,
    options: RecorderOptions,
) -> crate::Result<(gst::Bin, RecorderEndpoint)> {
    let bin = ctx.new_bin("recorder")?;
    let gate = Arc::new(Mutex::new(Gate::default()));
    let mut tracks = Vec::new();
    for media in options.profile.media() {
        let appsrc = AppSrcConsumer::make_appsrc(&format!("rec-{media:?}").to_lowercase());
        if let Err(e) = bin.add(&appsrc) {
            ctx.remove_bin(&bin);
            return Err(err(ErrorKind::Internal, e.to_string()));
        }
        let accepts = options.profile.accepts(media);
        let encoded = !accepts.iter().any(|f| f.is_raw());
        let consumer =
            AppSrcConsumer::new(appsrc.clone(), encoded, Some((ctx.flow.clone(), media)));
        tracks.push(Track {
            media,
            accepts,
            appsrc,
            consumer,
            format: Arc::new(Mutex::new(None)),
        });
    }
    let inner = Arc::new(Recorder {
        id: ctx.id.clone(),
        bin: bin.clone(),
        events: ctx.events.clone(),
        graph: ctx.graph.clone(),
        options,
        tracks,
        gate,
        phase: Mutex::new(Phase::Stopped),
        silent: Mutex::new(Vec::new()),
        generation: AtomicU64::new(0),
        released: AtomicBool::new(false),
        upstreams: Mutex::new(Vec::new()),
    });
    for track in &inner.tracks {
        add_gate_probe(&inner, track);
    }
    for track in &inner.tracks {
        let _ = track.appsrc.sync_state_with_parent();
    }
    let _ = bin.sync_state_with_parent();
    Ok((bin, RecorderEndpoint { inner }))
}

/// Drops or retimes every buffer leaving the track's appsrc, as the gate decides.
fn add_gate_probe(recorder: &Arc<Recorder>, track: &Track) {
    let weak = Arc::downgrade(recorder);
    let gate = recorder.gate.clone();
    let media = track.media;
    let consumer = Arc::downgrade(&track.consumer);
    let format = track.format.clone();
    let events = recorder.events.clone();
    let id = recorder.id.clone();
    let pad = track.appsrc.static_pad("src").expect("appsrc src");
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(pts) = buffer.pts() else {
            return gst::PadProbeReturn::Drop;
        };
        let keyframe = media == MediaKind::Audio
            || (!buffer.flags().contains(gst::BufferFlags::DELTA_UNIT)
                && (*format.lock() != Some(Format::H264) || is_h264_idr(buffer)));
        let duration = buffer.duration().map(|d| d.nseconds());
        let admit = gate.lock().admit(media, pts.nseconds(), duration, keyframe);
        match admit {
            Admit::Drop => gst::PadProbeReturn::Drop,
            Admit::DropAwaitingKeyframe => {
                if let Some(c) = consumer.upgrade() {
                    c.forward_keyframe_request();
                }
                gst::PadProbeReturn::Drop
            }
            Admit::Write { pts, first } => {
                let b = buffer.make_mut();
                b.set_pts(gst::ClockTime::from_nseconds(pts));
                b.set_dts(gst::ClockTime::from_nseconds(pts));
                if first {
                    events(ElementEvent {
                        element: id.clone(),
                        event: MediaEvent::Recording,
                    });
                    watch_for_silent_tracks(weak.clone());
                }
                gst::PadProbeReturn::Ok
            }
        }
    });
}

/// After [`TRACK_WAIT`], starts the file over without the tracks that sent nothing.
fn watch_for_silent_tracks(recorder: Weak<Recorder>) {
    let Some(generation) = recorder
        .upgrade()
        .map(|r| r.generation.load(Ordering::SeqCst))
    else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("rheo-rec-watch".into())
        .spawn(move || {
            std::thread::sleep(TRACK_WAIT);
            if let Some(r) = recorder.upgrade() {
                if r.generation.load(Ordering::SeqCst) == generation {
                    r.drop_silent_tracks();
                }
            }
        });
    if spawned.is_err() {
        tracing::warn!("cannot start the recorder's track check");
    }
}

/// Whether an H.264 access unit (byte-stream) holds an IDR picture. Parsers flag frames with
/// only I slices as keyframes too, but a file must start where a decoder can: at an IDR.
fn is_h264_idr(buffer: &gst::BufferRef) -> bool {
    let Ok(map) = buffer.map_readable() else {
        return false;
    };
    map.windows(4)
        .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

impl Recorder {
    fn stop_in_background(self: &Arc<Self>) {
        let inner = self.clone();
        let spawned = std::thread::Builder::new()
            .name("rheo-rec-stop".into())
            .spawn(move || {
                let _ = inner.stop();
            });
        if spawned.is_err() {
            let _ = self.stop();
        }
    }

    fn emit(&self, event: MediaEvent) {
        (self.events)(ElementEvent {
            element: self.id.clone(),
            event,
        });
    }

    fn busy() -> crate::Error {
        err(
            ErrorKind::Internal,
            "the recorder is starting or stopping; try again",
        )
    }

    fn record(&self) -> crate::Result<()> {
        if self.released.load(Ordering::SeqCst) {
            return Err(err(ErrorKind::Internal, "recorder released"));
        }
        let previous = std::mem::replace(&mut *self.phase.lock(), Phase::Busy);
        let writer = match previous {
            Phase::Paused(writer) => {
                self.gate.lock().resume();
                self.request_keyframes();
                writer
            }
            Phase::Recording(writer) => {
                *self.phase.lock() = Phase::Recording(writer);
                return Ok(());
            }
            Phase::Busy => return Err(Self::busy()),
            Phase::Stopped => match self.start_writer(false) {
                Ok(writer) => writer,
                Err(e) => {
                    *self.phase.lock() = Phase::Stopped;
                    return Err(e);
                }
            },
        };
        *self.phase.lock() = Phase::Recording(writer);
        self.emit(MediaEvent::UriEndpointStateChanged {
            state: UriEndpointState::Start,
        });
        Ok(())
    }

    /// Builds the file's elements for the tracks that have a source (all of them when none
    /// has), less the silent ones, links the tracks to them and opens the gate. `restart`: the
    /// same recording, started over.
    fn start_writer(&self, restart: bool) -> crate::Result<Writer> {
        let silent = self.silent.lock().clone();
        let connected: Vec<MediaKind> = self
            .graph
            .links_of(&self.id)
            .into_iter()
            .filter(|l| l.sink == self.id && !silent.contains(&l.media))
            .map(|l| l.media)
            .collect();
        let recorded: Vec<&Track> = match self
            .tracks
            .iter()
            .filter(|t| connected.contains(&t.media))
            .collect::<Vec<_>>()
        {
            some if !some.is_empty() => some,
            _ => self
                .tracks
                .iter()
                .filter(|t| !silent.contains(&t.media))
                .collect(),
        };
        let formats: Vec<(MediaKind, Format)> = recorded
            .iter()
            .map(|t| (t.media, *t.format.lock().get_or_insert(t.accepts[0])))
            .collect();
        let writer = Writer::start(
            &self.bin,
            &self.options.profile,
            &formats,
            &self.options.target,
        )?;
        for track in &recorded {
            let input = writer.input(track.media).expect("one input per track");
            let src = track.appsrc.static_pad("src").expect("appsrc src");
            if let Err(e) = src.link(input) {
                let _ = writer.finish(&self.bin);
                return Err(err(ErrorKind::Internal, format!("recorder link: {e:?}")));
            }
        }
        let video = recorded.iter().any(|t| t.media == MediaKind::Video);
        self.generation.fetch_add(1, Ordering::SeqCst);
        if restart {
            self.gate.lock().restart(video);
        } else {
            self.gate.lock().start(video);
        }
        self.request_keyframes();
        Ok(writer)
    }

    /// The file must start at a keyframe: ask every source for one now.
    fn request_keyframes(&self) {
        for track in &self.tracks {
            crate::graph::output::Consumer::reset(&*track.consumer);
            track.consumer.forward_keyframe_request();
        }
    }

    /// Starts the file over without the tracks that have sent nothing since it started.
    fn drop_silent_tracks(&self) {
        let writer = {
            let mut phase = self.phase.lock();
            let writer = match std::mem::replace(&mut *phase, Phase::Busy) {
                Phase::Recording(writer) => writer,
                other => {
                    *phase = other;
                    return;
                }
            };
            let media = writer.media();
            let silent: Vec<MediaKind> = {
                let gate = self.gate.lock();
                media
                    .iter()
                    .copied()
                    .filter(|m| !gate.written(*m))
                    .collect()
            };
            if silent.is_empty() || silent.len() == media.len() {
                *phase = Phase::Recording(writer);
                return;
            }
            tracing::info!(element = %self.id, ?silent, "recording without the tracks that sent nothing");
            self.silent.lock().extend(silent);
            writer
        };
        self.unlink_tracks();
        writer.abandon(&self.bin);
        let next = match self.start_writer(true) {
            Ok(writer) => Phase::Recording(writer),
            Err(e) => {
                self.emit(MediaEvent::Error {
                    description: e.message,
                    code: 0,
                    kind: "UNEXPECTED_ELEMENT_ERROR".into(),
                });
                Phase::Stopped
            }
        };
        *self.phase.lock() = next;
    }

    /// Closes the gate and unlinks every track from the file's elements.
    fn unlink_tracks(&self) {
        self.gate.lock().close();
        for track in &self.tracks {
            let src = track.appsrc.static_pad("src").expect("appsrc src");
            if let Some(peer) = src.peer() {
                // A push in progress finishes first; afterwards the closed gate drops buffers
                // before they reach the unlinked pad.
                let _ = src.unlink(&peer);
            }
        }
    }

    fn pause(&self) -> crate::Result<()> {
        let mut phase = self.phase.lock();
        match std::mem::replace(&mut *phase, Phase::Busy) {
            Phase::Recording(writer) => {
                self.gate.lock().pause();
                *phase = Phase::Paused(writer);
                drop(phase);
                self.emit(MediaEvent::UriEndpointStateChanged {
                    state: UriEndpointState::Pause,
                });
                self.emit(MediaEvent::Paused);
                Ok(())
            }
            Phase::Busy => {
                *phase = Phase::Busy;
                Err(Self::busy())
            }
            other => {
                *phase = other;
                Ok(())
            }
        }
    }

    /// Closes the gate, unlinks the tracks and finishes the file. Idempotent.
    fn stop(&self) -> crate::Result<()> {
        let writer = {
            let mut phase = self.phase.lock();
            match std::mem::replace(&mut *phase, Phase::Busy) {
                Phase::Recording(w) | Phase::Paused(w) => w,
                Phase::Busy => {
                    *phase = Phase::Busy;
                    return Err(Self::busy());
                }
                Phase::Stopped => {
                    *phase = Phase::Stopped;
                    return Ok(());
                }
            }
        };
        self.unlink_tracks();
        self.silent.lock().clear();
        let result = writer.finish(&self.bin);
        *self.phase.lock() = Phase::Stopped;
        if let Err(e) = &result {
            self.emit(MediaEvent::Error {
                description: e.message.clone(),
                code: 0,
                kind: "UNEXPECTED_ELEMENT_ERROR".into(),
            });
        }
        self.emit(MediaEvent::UriEndpointStateChanged {
            state: UriEndpointState::Stop,
        });
        self.emit(MediaEvent::Stopped);
        result
    }
}

impl StreamEndListener for Recorder {
    fn stream_ended(self: Arc<Self>, output: &Output) {
        let all_ended = {
            let mut upstreams = self.upstreams.lock();
            let Some(ended) = upstreams
                .iter_mut()
                .find(|u| std::ptr::eq(u.output.as_ptr(), output))
            else {
                return; // a source no longer bound
            };
            ended.ended = true;
            upstreams.iter().all(|u| u.ended)
        };
        if all_ended && self.options.stop_on_end_of_stream {
            tracing::debug!(recorder = %self.id, "every recorded stream ended: stopping");
            self.stop_in_background();
        }
    }
}

impl ElementKind for RecorderEndpoint {
    fn input(&self, media: MediaKind) -> Input {
        let Some(track) = self.inner.tracks.iter().find(|t| t.media == media) else {
            return Input::Absent;
        };
        match *track.format.lock() {
            Some(format) => Input::Fixed(format, track.consumer.clone()),
            None => Input::Prefers(track.accepts, track.consumer.clone()),
        }
    }

    fn output(&self, _media: MediaKind) -> Option<Arc<Output>> {
        None
    }

    fn on_input_bound(&self, media: MediaKind, upstream: Option<Arc<Output>>) {
        {
            let mut upstreams = self.inner.upstreams.lock();
            upstreams.retain(|u| u.media != media);
            if let Some(output) = &upstream {
                upstreams.push(Upstream {
                    media,
                    output: Arc::downgrade(output),
                    ended: false,
                });
                let listener: Weak<dyn StreamEndListener> = Arc::downgrade(&self.inner) as _;
                output.listen_for_end(listener);
            }
        }
        let (Some(track), Some(native)) = (
            self.inner.tracks.iter().find(|t| t.media == media),
            upstream.and_then(|u| u.format()),
        ) else {
            return;
        };
        track
            .format
            .lock()
            .get_or_insert(Format::preferred(track.accepts, native));
    }

    /// A release without `stop` still leaves a complete file.
    fn release(&self) {
        self.inner.released.store(true, Ordering::SeqCst);
        let _ = self.inner.stop();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
