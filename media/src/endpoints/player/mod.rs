//! PlayerEndpoint: plays a file, an HTTP resource or an RTSP stream into the pipeline, paced in
//! real time, without decoding a stream whose codec the consumers can take as it is.
//!
//! The player runs its own GStreamer pipeline (`uridecodebin` that stops at the codecs the media
//! pipeline carries, one appsink per stream, synchronised to the clock), so pause and seek never
//! touch the media pipeline. Each
//! stream leaves as VP8, H.264 or Opus when it is one of those, decoded otherwise (raw video;
//! audio re-encoded to Opus, the one audio format the pipeline carries), and is retimed onto the
//! media pipeline's running time as it is pushed into the element's outputs.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use std::str::FromStr;

use gst::prelude::*;
use parking_lot::Mutex;

use crate::api_contract::*;
use crate::graph::context::{ElementContext, Graph};
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::output::{Format, Output};
use crate::graph::pipeline::MediaPipeline;
use crate::{err, ErrorKind};

mod sample;
pub use sample::{
    ensure_qr_sample_video, ensure_sample_video, QR_SAMPLE_TEXT, QR_SAMPLE_VIDEO_NAME,
    SAMPLE_VIDEO_NAME, SAMPLE_VIDEO_SECONDS,
};

/// Longest `play` waits for the source to open and its streams to be known.
const OPEN_LIMIT: Duration = Duration::from_secs(15);
/// First pause before reopening a live source that dropped; it doubles up to the maximum.
const RECONNECT_FIRST_WAIT: Duration = Duration::from_millis(500);
const RECONNECT_MAX_WAIT: Duration = Duration::from_secs(5);
/// Bytes of an upload queued ahead of the decoder before the uploader waits.
const UPLOAD_QUEUE_BYTES: u64 = 2 << 20;

/// Constructor options of a PlayerEndpoint.
#[derive(Debug, Clone)]
pub struct PlayerOptions {
    /// `file://` (already checked against the media root by the caller), `http(s)://` or
    /// `rtsp://`.
    pub uri: String,
    /// Buffering of network sources (RTSP latency, HTTP buffer duration), in milliseconds.
    pub network_cache_ms: u32,
}

/// Kurento's VideoInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VideoInfo {
    pub seekable: bool,
    pub seekable_init_ms: i64,
    pub seekable_end_ms: i64,
    pub duration_ms: i64,
}

/// Where a player's media comes from.
pub(crate) enum Source {
    /// A URI, opened by `uridecodebin`.
    Uri(PlayerOptions),
    /// Bytes pushed into an appsrc as they arrive (HttpPostEndpoint's uploads).
    Upload,
}

impl Source {
    /// How errors name the source.
    fn name(&self) -> &str {
        match self {
            Source::Uri(options) => &options.uri,
            Source::Upload => "the upload",
        }
    }
}

struct Player {
    id: String,
    events: EventSink,
    graph: Graph,
    /// The media pipeline, whose running time the outputs carry.
    main: gst::Pipeline,
    source: Source,
    /// The upload source's appsrc, while its playback pipeline exists.
    upload: Mutex<Option<gst_app::AppSrc>>,
    /// Whether the upload's streams were found and playback started (`None`: not yet).
    upload_started: Arc<(Mutex<Option<crate::Result<()>>>, parking_lot::Condvar)>,
    audio: Arc<Output>,
    video: Arc<Output>,
    /// The player's own pipeline, from the first `play` to `stop`.
    playback: Mutex<Option<gst::Pipeline>>,
    state: Mutex<UriEndpointState>,
    /// Media-pipeline running time minus playback running time, fixed by the first buffer
    /// after each start, resume or seek, shared by the streams so they stay in sync.
    offset: Arc<Mutex<Option<i128>>>,
    released: AtomicBool,
    /// The source is live (an RTSP camera): it is reconnected when it drops.
    live: AtomicBool,
    /// A reconnection is under way: errors of the lost pipeline are not reported again.
    reconnecting: AtomicBool,
}

/// A PlayerEndpoint's handle (see [`Element::player`]).
pub struct PlayerEndpoint {
    inner: Arc<Player>,
}

impl Element {
    pub fn player(&self) -> Option<&PlayerEndpoint> {
        self.kind::<PlayerEndpoint>()
    }
}

impl PlayerEndpoint {
    pub fn create(
        pipeline: &MediaPipeline,
        id: &str,
        options: PlayerOptions,
    ) -> crate::Result<Element> {
        pipeline.add(id, |ctx| build(ctx, Source::Uri(options)))
    }

    /// Opens the source (the first time, or after `stop`) and plays; resumes after `pause`.
    /// A source that cannot be opened or read fails here.
    pub fn play(&self) -> crate::Result<()> {
        self.inner.play()
    }

    pub fn pause(&self) -> crate::Result<()> {
        self.inner.pause()
    }

    /// Closes the source; the next `play` starts from the beginning.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// For an upload source: starts its pipeline and returns the appsrc the upload goes into.
    pub(crate) fn begin_upload(&self) -> crate::Result<gst_app::AppSrc> {
        self.inner.begin_upload()
    }

    /// For an upload source: waits (at most `limit`) until its streams are found and playback
    /// starts, or that fails; `None` if neither happened in time.
    pub(crate) fn wait_upload_started(&self, limit: Duration) -> Option<crate::Result<()>> {
        let (outcome, changed) = &*self.inner.upload_started;
        let mut outcome = outcome.lock();
        if outcome.is_none() {
            changed.wait_for(&mut outcome, limit);
        }
        outcome.clone()
    }

    pub fn state(&self) -> UriEndpointState {
        *self.inner.state.lock()
    }

    /// Playback position in milliseconds (0 when stopped).
    pub fn position_ms(&self) -> i64 {
        self.inner
            .playback()
            .and_then(|p| p.query_position::<gst::ClockTime>())
            .map_or(0, |t| t.mseconds() as i64)
    }

    /// Seeks to `ms` milliseconds (to the keyframe before it).
    pub fn set_position_ms(&self, ms: i64) -> crate::Result<()> {
        let Some(playback) = self.inner.playback() else {
            return Err(err(ErrorKind::Internal, "the player is not playing"));
        };
        let target = gst::ClockTime::from_mseconds(ms.max(0) as u64);
        playback
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, target)
            .map_err(|_| err(ErrorKind::Internal, format!("cannot seek to {ms} ms")))?;
        *self.inner.offset.lock() = None;
        Ok(())
    }

    /// The playback pipeline in Graphviz form (empty when stopped).
    pub fn gstreamer_dot(&self) -> String {
        self.inner.playback().map_or_else(String::new, |p| {
            p.debug_to_dot_data(gst::DebugGraphDetails::all())
                .to_string()
        })
    }

    /// Seekability and duration of what is playing (all zero when stopped).
    pub fn video_info(&self) -> VideoInfo {
        let Some(playback) = self.inner.playback() else {
            return VideoInfo::default();
        };
        let duration = playback
            .query_duration::<gst::ClockTime>()
            .map_or(0, |d| d.mseconds() as i64);
        let mut query = gst::query::Seeking::new(gst::Format::Time);
        let (seekable, init, end) = if playback.query(&mut query) {
            let (seekable, start, end) = query.result();
            let ms = |v: gst::GenericFormattedValue| match v {
                gst::GenericFormattedValue::Time(Some(t)) => t.mseconds() as i64,
                _ => 0,
            };
            (seekable, ms(start), ms(end))
        } else {
            (false, 0, 0)
        };
        VideoInfo {
            seekable,
            seekable_init_ms: init,
            seekable_end_ms: if end > 0 { end } else { duration },
            duration_ms: duration,
        }
    }
}

pub(crate) fn build(
    ctx: &ElementContext,
    source: Source,
) -> crate::Result<(gst::Bin, PlayerEndpoint)> {
    // An empty bin: the element's place in the media pipeline (its media comes from outputs).
    let bin = ctx.new_bin("player")?;
    let inner = Arc::new(Player {
        id: ctx.id.clone(),
        events: ctx.events.clone(),
        graph: ctx.graph.clone(),
        main: ctx.pipeline.clone(),
        source,
        upload: Mutex::new(None),
        upload_started: Default::default(),
        audio: Output::new(
            &ctx.id,
            MediaKind::Audio,
            ctx.hubs.clone(),
            Some(ctx.flow.clone()),
        ),
        video: Output::new(
            &ctx.id,
            MediaKind::Video,
            ctx.hubs.clone(),
            Some(ctx.flow.clone()),
        ),
        playback: Mutex::new(None),
        state: Mutex::new(UriEndpointState::Stop),
        offset: Arc::new(Mutex::new(None)),
        released: AtomicBool::new(false),
        live: AtomicBool::new(false),
        reconnecting: AtomicBool::new(false),
    });
    let _ = bin.sync_state_with_parent();
    Ok((bin, PlayerEndpoint { inner }))
}

impl Player {
    fn emit(&self, event: MediaEvent) {
        (self.events)(ElementEvent {
            element: self.id.clone(),
            event,
        });
    }

    fn playback(&self) -> Option<gst::Pipeline> {
        self.playback.lock().clone()
    }

    fn set_state(&self, state: UriEndpointState) {
        let changed = std::mem::replace(&mut *self.state.lock(), state) != state;
        if changed {
            self.emit(MediaEvent::UriEndpointStateChanged { state });
        }
    }

    fn play(self: &Arc<Self>) -> crate::Result<()> {
        if self.released.load(Ordering::SeqCst) {
            return Err(err(ErrorKind::Internal, "player released"));
        }
        let playback = match self.playback() {
            Some(p) => p,
            None => {
                let p = self.open()?;
                self.adopt(&p);
                p
            }
        };
        *self.offset.lock() = None;
        playback
            .set_state(gst::State::Playing)
            .map_err(|_| err(ErrorKind::Internal, "the player cannot start"))?;
        self.set_state(UriEndpointState::Start);
        Ok(())
    }

    /// Builds the playback pipeline and prerolls it, so the streams and their formats are known
    /// (and the connections bound) before the first buffer plays.
    fn open(self: &Arc<Self>) -> crate::Result<gst::Pipeline> {
        let (playback, streams_known) = self.build_playback()?;
        self.preroll(playback, streams_known)
    }

    /// The playback pipeline: the source, decoded as far as the outputs need, and a signal for
    /// when all its streams are known.
    fn build_playback(
        self: &Arc<Self>,
    ) -> crate::Result<(gst::Pipeline, std::sync::mpsc::Receiver<()>)> {
        let internal = |e: gst::glib::BoolError| err(ErrorKind::Internal, e.to_string());
        let playback = gst::Pipeline::with_name(&format!(
            "playback-{}",
            crate::graph::output::sanitize(&self.id)
        ));
        // Decoding stops at what the outputs carry as it is.
        let keep = gst::Caps::from_str(
            "video/x-vp8; video/x-h264; audio/x-opus; video/x-raw; audio/x-raw",
        )
        .map_err(internal)?;
        let decoder = match &self.source {
            Source::Uri(options) => {
                let cache_ms = options.network_cache_ms;
                // Network streams are buffered this long before and while they play.
                let buffer_ns = i64::from(cache_ms) * 1_000_000;
                let source = gst::ElementFactory::make("uridecodebin")
                    .property("uri", options.uri.as_str())
                    .property("caps", &keep)
                    .property("buffer-duration", buffer_ns)
                    .build()
                    .map_err(internal)?;
                source.connect("source-setup", false, move |args| {
                    if let Some(src) = args.get(1).and_then(|v| v.get::<gst::Element>().ok()) {
                        if src.find_property("latency").is_some() {
                            src.set_property("latency", cache_ms);
                        }
                        // A redirect would take the source where the URI policy never looked
                        // (the control plane follows them, checked, before playing).
                        if src.find_property("automatic-redirect").is_some() {
                            src.set_property("automatic-redirect", false);
                        }
                    }
                    None
                });
                playback.add(&source).map_err(internal)?;
                source
            }
            Source::Upload => {
                // Blocks the uploader when full: the upload goes no faster than playback.
                let appsrc = gst_app::AppSrc::builder()
                    .format(gst::Format::Bytes)
                    .stream_type(gst_app::AppStreamType::Stream)
                    .max_bytes(UPLOAD_QUEUE_BYTES)
                    .block(true)
                    .build();
                let decodebin = gst::ElementFactory::make("decodebin")
                    .property("caps", &keep)
                    .build()
                    .map_err(internal)?;
                playback
                    .add_many([appsrc.upcast_ref(), &decodebin])
                    .map_err(internal)?;
                appsrc.link(&decodebin).map_err(internal)?;
                *self.upload.lock() = Some(appsrc);
                decodebin
            }
        };
        let weak = Arc::downgrade(self);
        decoder.connect_pad_added(move |source, pad| {
            if let Some(player) = weak.upgrade() {
                player.on_stream(source, pad);
            }
        });
        let (all_pads, streams_known) = std::sync::mpsc::sync_channel(1);
        decoder.connect_no_more_pads(move |_| {
            let _ = all_pads.try_send(());
        });
        Ok((playback, streams_known))
    }

    /// Takes the playback pipeline to PAUSED and waits until its streams are known and
    /// prerolled (a live source goes on to PLAYING, as it prerolls nothing).
    fn preroll(
        self: &Arc<Self>,
        playback: gst::Pipeline,
        streams_known: std::sync::mpsc::Receiver<()>,
    ) -> crate::Result<gst::Pipeline> {
        let uri = self.source.name();
        let bus = playback.bus().expect("a pipeline has a bus");
        let fail = |e: crate::Error| {
            let _ = playback.set_state(gst::State::Null);
            Err(e)
        };
        match playback.set_state(gst::State::Paused) {
            Err(_) => return fail(open_error(uri, &bus, None)),
            // A live source (an RTSP camera) sends nothing before PLAYING, so its streams
            // become known only then.
            Ok(gst::StateChangeSuccess::NoPreroll) => {
                self.live.store(true, Ordering::SeqCst);
                if playback.set_state(gst::State::Playing).is_err() {
                    return fail(open_error(uri, &bus, None));
                }
            }
            Ok(_) => {}
        }
        // The streams appear once the source is open and parsed (no sink waits for them before
        // that), then their appsinks preroll.
        let deadline = std::time::Instant::now() + OPEN_LIMIT;
        while streams_known.try_recv().is_err() {
            if let Some(msg) = bus.timed_pop_filtered(
                gst::ClockTime::from_mseconds(50),
                &[gst::MessageType::Error],
            ) {
                return fail(open_error(uri, &bus, Some(msg)));
            }
            if std::time::Instant::now() > deadline {
                return fail(open_error(uri, &bus, None));
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let (result, _, _) = playback.state(gst::ClockTime::from_mseconds(left.as_millis() as u64));
        if result.is_err() {
            return fail(open_error(uri, &bus, None));
        }
        if self.audio.format().is_none() && self.video.format().is_none() {
            let _ = playback.set_state(gst::State::Null);
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("{uri}: no audio or video stream"),
            ));
        }
        self.graph.resolve();
        Ok(playback)
    }

    /// Makes `playback` the player's pipeline and reports what its bus says.
    fn adopt(self: &Arc<Self>, playback: &gst::Pipeline) {
        *self.playback.lock() = Some(playback.clone());
        watch_bus(
            Arc::downgrade(self),
            playback.bus().expect("a pipeline has a bus"),
        );
    }

    /// Starts the upload source's pipeline and returns the appsrc to push the upload into.
    /// The streams become known, and playback starts, in the background as the bytes come;
    /// a failure there is reported with an `Error` event.
    fn begin_upload(self: &Arc<Self>) -> crate::Result<gst_app::AppSrc> {
        if self.released.load(Ordering::SeqCst) {
            return Err(err(ErrorKind::Internal, "endpoint released"));
        }
        if self.playback().is_some() {
            return Err(err(
                ErrorKind::InvalidArgument,
                "the endpoint is already playing an upload",
            ));
        }
        let (playback, streams_known) = self.build_playback()?;
        let appsrc = self
            .upload
            .lock()
            .clone()
            .ok_or_else(|| err(ErrorKind::Internal, "the upload source has no appsrc"))?;
        *self.playback.lock() = Some(playback.clone());
        let player = self.clone();
        std::thread::Builder::new()
            .name("rheo-upload-start".into())
            .spawn(move || {
                let started = player
                    .preroll(playback.clone(), streams_known)
                    .and_then(|p| {
                        watch_bus(
                            Arc::downgrade(&player),
                            p.bus().expect("a pipeline has a bus"),
                        );
                        p.set_state(gst::State::Playing)
                            .map(|_| ())
                            .map_err(|_| err(ErrorKind::Internal, "the upload cannot start"))
                    });
                {
                    let (outcome, changed) = &*player.upload_started;
                    *outcome.lock() = Some(started.clone());
                    changed.notify_all();
                }
                if let Err(e) = started {
                    let _ = playback.set_state(gst::State::Null);
                    let mut current = player.playback.lock();
                    if current.as_ref() == Some(&playback) {
                        *current = None;
                    }
                    drop(current);
                    player.upload.lock().take();
                    if !player.released.load(Ordering::SeqCst) {
                        player.on_error(e.message);
                    }
                }
            })
            .map_err(|e| err(ErrorKind::Internal, format!("cannot start the upload: {e}")))?;
        Ok(appsrc)
    }

    /// A stream of the source: to an appsink as it is, or decoded, by what it is.
    fn on_stream(self: &Arc<Self>, source: &gst::Element, pad: &gst::Pad) {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else {
            return;
        };
        let (media, format, chain) = match name.as_str() {
            "video/x-vp8" => (MediaKind::Video, Format::Vp8, "queue"),
            "video/x-h264" => (
                MediaKind::Video,
                Format::H264,
                "queue ! h264parse config-interval=-1",
            ),
            "audio/x-opus" => (MediaKind::Audio, Format::Opus, "queue"),
            "video/x-raw" => (MediaKind::Video, Format::RawVideo, "queue ! videoconvert"),
            "audio/x-raw" => (
                MediaKind::Audio,
                Format::Opus,
                "queue ! audioconvert ! audioresample ! opusenc",
            ),
            _ => return,
        };
        let output = match media {
            MediaKind::Audio => self.audio.clone(),
            _ => self.video.clone(),
        };
        if output.format().is_some_and(|f| f != format) {
            return; // a second stream of the same kind: the first one plays
        }
        let Some(parent) = source.parent().and_then(|p| p.downcast::<gst::Bin>().ok()) else {
            return;
        };
        let desc = format!("{chain} ! appsink name=sink sync=true");
        let Ok(branch) = gst::parse::bin_from_description(&desc, true) else {
            return;
        };
        let Some(sink) = branch
            .by_name("sink")
            .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
        else {
            return;
        };
        sink.set_caps(Some(&format.caps()));
        let main = self.main.clone();
        let offset = self.offset.clone();
        let out = Arc::downgrade(&output);
        let ended = out.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .eos(move |_| {
                    if let Some(out) = ended.upgrade() {
                        out.end_of_stream();
                    }
                })
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    if let (Some(out), Some(buffer), Some(caps)) = (
                        out.upgrade(),
                        retime(&sample, &main, &offset),
                        sample.caps(),
                    ) {
                        out.push(&buffer, caps);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        output.set_format(Some(format));
        if parent.add(&branch).is_err() {
            return;
        }
        let _ = branch.sync_state_with_parent();
        if let Some(sink_pad) = branch.static_pad("sink") {
            let _ = pad.link(&sink_pad);
        }
    }

    fn pause(&self) -> crate::Result<()> {
        let Some(playback) = self.playback() else {
            return Ok(());
        };
        playback
            .set_state(gst::State::Paused)
            .map_err(|_| err(ErrorKind::Internal, "the player cannot pause"))?;
        self.set_state(UriEndpointState::Pause);
        Ok(())
    }

    fn stop(&self) {
        if let Some(playback) = self.playback.lock().take() {
            let _ = playback.set_state(gst::State::Null);
        }
        self.upload.lock().take();
        self.set_state(UriEndpointState::Stop);
    }

    fn on_end_of_stream(&self) {
        self.emit(MediaEvent::EndOfStream);
    }

    /// An error of the playing pipeline: a live source that drops is reported and reconnected;
    /// anything else is reported.
    fn on_playback_error(self: &Arc<Self>, lost: &gst::Pipeline, description: String) {
        let wanted = *self.state.lock() == UriEndpointState::Start;
        if !(self.live.load(Ordering::SeqCst) && wanted) {
            return self.on_error(description);
        }
        if self.reconnecting.swap(true, Ordering::SeqCst) {
            return;
        }
        self.on_error(format!("{description}; reconnecting"));
        let player = self.clone();
        let lost = lost.clone();
        let spawned = std::thread::Builder::new()
            .name("rheo-player-reconnect".into())
            .spawn(move || {
                player.reconnect(&lost);
                player.reconnecting.store(false, Ordering::SeqCst);
            });
        if spawned.is_err() {
            self.reconnecting.store(false, Ordering::SeqCst);
        }
    }

    /// Reopens a lost live source, waiting longer between attempts, until it plays again or
    /// the player is stopped, paused or released.
    fn reconnect(self: &Arc<Self>, lost: &gst::Pipeline) {
        let still_wanted = |player: &Self| {
            !player.released.load(Ordering::SeqCst)
                && *player.state.lock() == UriEndpointState::Start
                && player.playback().as_ref() == Some(lost)
        };
        let _ = lost.set_state(gst::State::Null);
        let mut wait = RECONNECT_FIRST_WAIT;
        loop {
            std::thread::sleep(wait);
            if !still_wanted(self) {
                return;
            }
            match self.open() {
                Ok(playback) => {
                    if !still_wanted(self) {
                        let _ = playback.set_state(gst::State::Null);
                        return;
                    }
                    *self.offset.lock() = None;
                    self.adopt(&playback);
                    if playback.set_state(gst::State::Playing).is_ok() {
                        tracing::info!(player = %self.id, "the live source is back");
                        return;
                    }
                }
                Err(e) => tracing::debug!(player = %self.id, "reconnection failed: {}", e.message),
            }
            wait = (wait * 2).min(RECONNECT_MAX_WAIT);
        }
    }

    fn on_error(&self, description: String) {
        self.emit(MediaEvent::Error {
            description,
            code: 0,
            kind: "PLAYER_ERROR".into(),
        });
    }
}

/// The buffer on the media pipeline's timeline: its playback running time plus the offset the
/// first buffer after a (re)start fixed.
fn retime(
    sample: &gst::Sample,
    main: &gst::Pipeline,
    offset: &Mutex<Option<i128>>,
) -> Option<gst::Buffer> {
    let buffer = crate::graph::output::running_time_buffer(sample)?;
    let running = buffer.pts()?.nseconds() as i128;
    let offset = *offset.lock().get_or_insert_with(|| {
        main.current_running_time()
            .map_or(0, |t| t.nseconds() as i128)
            - running
    });
    let at = running + offset;
    if at < 0 {
        return None;
    }
    let mut buffer = buffer;
    buffer
        .make_mut()
        .set_pts(gst::ClockTime::from_nseconds(at as u64));
    Some(buffer)
}

/// The source's error (`found`, or the first one posted), as the reason `play` fails.
fn open_error(uri: &str, bus: &gst::Bus, found: Option<gst::Message>) -> crate::Error {
    let reason = found
        .or_else(|| bus.pop_filtered(&[gst::MessageType::Error]))
        .and_then(|m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "it did not open in time".into());
    err(
        ErrorKind::InvalidArgument,
        format!("cannot play {uri}: {reason}"),
    )
}

/// Reports end of stream and errors of the playback pipeline until the player goes.
fn watch_bus(player: Weak<Player>, bus: gst::Bus) {
    let spawned = std::thread::Builder::new()
        .name("rheo-player-bus".into())
        .spawn(move || loop {
            let msg = bus.timed_pop_filtered(
                gst::ClockTime::from_mseconds(500),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            );
            let Some(player) = player.upgrade() else {
                return;
            };
            // Released, stopped, or stopped and played again with a new pipeline and thread.
            if player.released.load(Ordering::SeqCst)
                || player.playback().and_then(|p| p.bus()).as_ref() != Some(&bus)
            {
                return;
            }
            match msg.as_ref().map(|m| m.view()) {
                Some(gst::MessageView::Eos(_)) => player.on_end_of_stream(),
                Some(gst::MessageView::Error(e)) => {
                    if let Some(playback) = player.playback() {
                        player.on_playback_error(&playback, e.error().to_string());
                    }
                }
                _ => {}
            }
        });
    if spawned.is_err() {
        tracing::warn!("cannot start the player's bus thread");
    }
}

impl ElementKind for PlayerEndpoint {
    fn input(&self, _media: MediaKind) -> Input {
        Input::Absent
    }

    fn output(&self, media: MediaKind) -> Option<Arc<Output>> {
        match media {
            MediaKind::Audio => Some(self.inner.audio.clone()),
            MediaKind::Video => Some(self.inner.video.clone()),
            MediaKind::Data => None,
        }
    }

    fn release(&self) {
        self.inner.released.store(true, Ordering::SeqCst);
        if let Some(playback) = self.inner.playback.lock().take() {
            let _ = playback.set_state(gst::State::Null);
        }
        self.inner.upload.lock().take();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
