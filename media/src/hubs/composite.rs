//! Composite and AlphaBlending: every port's video in one picture, and for every port the mix of
//! the *other* ports' audio (nobody hears themselves). Composite lays the pictures out in a
//! grid (1, 2×1, 2×2, 3×3… cells, aspect kept) at the hub's size and frame rate; AlphaBlending
//! draws a master port's picture full size and the others where `setPortProperties` puts them,
//! relative to it, in z order (alpha kept: a chroma-keyed input blends over the master). Inputs are decoded once each (by the graph, as for any raw-video sink);
//! the grid is one `compositor`; outputs are raw, so every port wanting VP8 shares one encoder.
//! Live inputs that stop do not stall the mix: the aggregators time out on them.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use gst::prelude::*;
use parking_lot::Mutex;

use crate::api_contract::*;
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::output::{running_time_buffer, AppSrcConsumer, Format, Output, OutputContext};
use crate::graph::pipeline::MediaPipeline;
use crate::{err, ErrorKind};

/// How long the mixers wait for a late input before mixing without it.
const MIX_LATENCY_MS: u64 = 100;

/// How the pictures are laid out.
pub(crate) enum Layout {
    Grid,
    Blend(Blend),
}

/// AlphaBlending's layout: the master (port id, z order) and the other ports' placements.
#[derive(Default)]
pub(crate) struct Blend {
    master: Option<(String, i32)>,
    placed: HashMap<String, Placement>,
}

/// Where `setPortProperties` puts a port, relative to the master picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub z: i32,
}

/// The media of a Composite, AlphaBlending or Mixer: its bin, the picture (not for a Mixer,
/// whose video is routed, not drawn), and one entry per port.
pub(crate) struct Mixer {
    bin: gst::Bin,
    video: Option<Picture>,
    /// Whether every port hears every other (Composite, AlphaBlending), or only those connected
    /// to it (Mixer).
    mix_everyone: bool,
    framerate: i32,
    size: Mutex<(i32, i32)>,
    layout: Mutex<Layout>,
    ctx: Arc<OutputContext>,
    ports: Mutex<Vec<Arc<MixPort>>>,
}

/// The drawn picture: the compositor, its caps filter, and the output every port shares.
struct Picture {
    compositor: gst::Element,
    /// The picture's caps filter (AlphaBlending takes the master's size).
    output_caps: gst::Element,
    out: Arc<Output>,
}

/// One port's part of the mix.
pub(crate) struct MixPort {
    pub id: String,
    video_in: Arc<AppSrcConsumer>,
    /// Its pad on the compositor (none in a Mixer).
    video_pad: Option<gst::Pad>,
    /// Whether something is connected into the port's video (only those take a cell).
    video_bound: Mutex<bool>,
    pub audio_in: Arc<AppSrcConsumer>,
    /// The port's audio, converted, for the other ports' mixers.
    audio_tee: gst::Element,
    /// The mix of the others' audio for this port.
    audio_mixer: gst::Element,
    pub audio_out: Arc<Output>,
    /// Other port id → (this port's tee pad, queue, that port's mixer pad).
    feeds: Mutex<HashMap<String, (gst::Pad, gst::Element, gst::Pad)>>,
    elements: Vec<gst::Element>,
}

fn make(factory: &str) -> crate::Result<gst::Element> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| err(ErrorKind::Internal, format!("{factory}: {e}")))
}

fn internal(e: impl std::fmt::Display) -> crate::Error {
    err(ErrorKind::Internal, e.to_string())
}

/// An appsink pushing what it gets into `output`.
fn sink_into(output: &Arc<Output>, caps: &gst::Caps) -> gst::Element {
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .async_(false)
        .caps(caps)
        .build();
    let weak = Arc::downgrade(output);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                if let (Some(out), Some(buf), Some(caps)) =
                    (weak.upgrade(), running_time_buffer(&sample), sample.caps())
                {
                    out.push(&buf, caps);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    sink.upcast()
}

fn picture_caps(width: i32, height: i32, framerate: i32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", width)
        .field("height", height)
        .field("framerate", gst::Fraction::new(framerate, 1))
        .build()
}

fn raw_audio_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("layout", "interleaved")
        .field("rate", 48000i32)
        .field("channels", 2i32)
        .build()
}

impl Mixer {
    pub fn new(
        pipeline: &MediaPipeline,
        id: &str,
        (width, height, framerate): (i32, i32, i32),
        layout: Layout,
    ) -> crate::Result<Arc<Mixer>> {
        let mixer = Self::audio_only(pipeline, id, true)?;
        let compositor = make("compositor")?;
        compositor.set_property_from_str("background", "black");
        compositor.set_property("latency", MIX_LATENCY_MS * 1_000_000);
        let filter = make("capsfilter")?;
        filter.set_property("caps", picture_caps(width, height, framerate));
        let out = Output::new(id, MediaKind::Video, mixer.ctx.clone(), None);
        out.set_format(Some(Format::RawVideo));
        let sink = sink_into(&out, &Format::RawVideo.caps());
        let elements = [&compositor, &filter, &sink];
        mixer.bin.add_many(elements).map_err(internal)?;
        gst::Element::link_many(elements).map_err(internal)?;
        for e in elements {
            let _ = e.sync_state_with_parent();
        }
        Ok(Arc::new(Mixer {
            video: Some(Picture {
                compositor,
                output_caps: filter,
                out,
            }),
            framerate,
            size: Mutex::new((width, height)),
            layout: Mutex::new(layout),
            ..Arc::into_inner(mixer).expect("not shared yet")
        }))
    }

    /// Audio only (a Mixer): `mix_everyone` or only the ports connected to each.
    pub fn audio_only(
        pipeline: &MediaPipeline,
        id: &str,
        mix_everyone: bool,
    ) -> crate::Result<Arc<Mixer>> {
        let ctx = pipeline.inner.ctx.clone();
        let bin = gst::Bin::with_name(&format!(
            "mixer-{}-{}",
            crate::graph::output::sanitize(id),
            ctx.next()
        ));
        pipeline.inner.pipeline.add(&bin).map_err(internal)?;
        bin.sync_state_with_parent().map_err(internal)?;
        Ok(Arc::new(Mixer {
            bin,
            video: None,
            mix_everyone,
            framerate: 0,
            size: Mutex::new((0, 0)),
            layout: Mutex::new(Layout::Grid),
            ctx,
            ports: Mutex::new(Vec::new()),
        }))
    }

    /// Adds a port's inputs and its audio mix; returns its element.
    pub fn add_port(
        self: &Arc<Self>,
        pipeline: &MediaPipeline,
        id: &str,
    ) -> crate::Result<Element> {
        let port = self.add_mix_port(id)?;
        let weak = Arc::downgrade(self);
        let element = pipeline.add(id, |ctx| {
            let bin = ctx.new_bin("compositeport")?;
            let _ = bin.sync_state_with_parent();
            Ok((
                bin,
                CompositePort {
                    mixer: weak,
                    port: port.clone(),
                },
            ))
        });
        if element.is_err() {
            self.remove_port(&port.id);
        }
        element
    }

    /// A port's part of the mix, with no element (a Mixer's HubPort holds it).
    pub fn add_mix_port(&self, id: &str) -> crate::Result<Arc<MixPort>> {
        let port = Arc::new(self.build_port(id)?);
        if self.mix_everyone {
            // Its audio reaches every other port's mixer, and theirs reach its own.
            let others: Vec<Arc<MixPort>> = self.ports.lock().clone();
            for other in &others {
                self.feed(&port, other)?;
                self.feed(other, &port)?;
            }
        }
        self.ports.lock().push(port.clone());
        Ok(port)
    }

    /// Mixer: `sink` hears `source` from now on (once).
    pub fn connect_audio(&self, source: &str, sink: &str) -> crate::Result<()> {
        let (from, to) = (self.port(source)?, self.port(sink)?);
        if from.id == to.id || from.feeds.lock().contains_key(&to.id) {
            return Ok(());
        }
        self.feed(&from, &to)
    }

    /// Mixer: `sink` no longer hears `source`; whether it did.
    pub fn disconnect_audio(&self, source: &str, sink: &str) -> crate::Result<bool> {
        let (from, to) = (self.port(source)?, self.port(sink)?);
        let feed = from.feeds.lock().remove(&to.id);
        Ok(match feed {
            Some((tee_pad, queue, mixer_pad)) => {
                self.unfeed(
                    &from.audio_tee,
                    tee_pad,
                    queue,
                    Some(&to.audio_mixer),
                    mixer_pad,
                );
                true
            }
            None => false,
        })
    }

    fn build_port(&self, id: &str) -> crate::Result<MixPort> {
        let n = self.ctx.next();
        let video_src = AppSrcConsumer::make_appsrc(&format!("video-in-{n}"));
        let video_convert = make("videoconvert")?;
        let audio_src = AppSrcConsumer::make_appsrc(&format!("audio-in-{n}"));
        let audio_convert = make("audioconvert")?;
        let audio_resample = make("audioresample")?;
        let audio_caps = make("capsfilter")?;
        audio_caps.set_property("caps", raw_audio_caps());
        let audio_tee = make("tee")?;
        audio_tee.set_property("allow-not-linked", true);
        let audio_mixer = make("audiomixer")?;
        audio_mixer.set_property("latency", MIX_LATENCY_MS * 1_000_000);
        let mix_caps = make("capsfilter")?;
        mix_caps.set_property("caps", raw_audio_caps());
        let audio_out = Output::new(id, MediaKind::Audio, self.ctx.clone(), None);
        audio_out.set_format(Some(Format::RawAudio));
        let audio_sink = sink_into(&audio_out, &Format::RawAudio.caps());
        let elements: Vec<gst::Element> = vec![
            video_src.clone().upcast(),
            video_convert.clone(),
            audio_src.clone().upcast(),
            audio_convert.clone(),
            audio_resample.clone(),
            audio_caps.clone(),
            audio_tee.clone(),
            audio_mixer.clone(),
            mix_caps.clone(),
            audio_sink.clone(),
        ];
        self.bin.add_many(&elements).map_err(internal)?;
        let linked = (|| -> crate::Result<Option<gst::Pad>> {
            video_src.link(&video_convert).map_err(internal)?;
            let video_pad = match &self.video {
                Some(picture) => {
                    let pad = picture
                        .compositor
                        .request_pad_simple("sink_%u")
                        .ok_or_else(|| err(ErrorKind::Internal, "compositor: no pad"))?;
                    pad.set_property("alpha", 0.0f64);
                    if pad.find_property("sizing-policy").is_some() {
                        pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
                    }
                    video_convert
                        .static_pad("src")
                        .expect("src")
                        .link(&pad)
                        .map_err(internal)?;
                    Some(pad)
                }
                None => None,
            };
            gst::Element::link_many([
                audio_src.upcast_ref(),
                &audio_convert,
                &audio_resample,
                &audio_caps,
                &audio_tee,
            ])
            .map_err(internal)?;
            gst::Element::link_many([&audio_mixer, &mix_caps, &audio_sink]).map_err(internal)?;
            Ok(video_pad)
        })();
        let video_pad = match linked {
            Ok(pad) => pad,
            Err(e) => {
                let _ = self.bin.remove_many(&elements);
                return Err(e);
            }
        };
        for e in &elements {
            let _ = e.sync_state_with_parent();
        }
        Ok(MixPort {
            id: id.to_owned(),
            video_in: AppSrcConsumer::new(video_src, false, None),
            video_pad,
            video_bound: Mutex::new(false),
            audio_in: AppSrcConsumer::new(audio_src, false, None),
            audio_tee,
            audio_mixer,
            audio_out,
            feeds: Mutex::new(HashMap::new()),
            elements,
        })
    }

    /// `from`'s audio into `to`'s mixer.
    fn feed(&self, from: &MixPort, to: &MixPort) -> crate::Result<()> {
        let queue = make("queue")?;
        queue.set_property("max-size-time", 200_000_000u64);
        queue.set_property_from_str("leaky", "downstream");
        self.bin.add(&queue).map_err(internal)?;
        let tee_pad = from
            .audio_tee
            .request_pad_simple("src_%u")
            .ok_or_else(|| err(ErrorKind::Internal, "tee: no pad"))?;
        let mixer_pad = to
            .audio_mixer
            .request_pad_simple("sink_%u")
            .ok_or_else(|| err(ErrorKind::Internal, "audiomixer: no pad"))?;
        tee_pad
            .link(&queue.static_pad("sink").expect("sink"))
            .map_err(internal)?;
        queue
            .static_pad("src")
            .expect("src")
            .link(&mixer_pad)
            .map_err(internal)?;
        let _ = queue.sync_state_with_parent();
        from.feeds
            .lock()
            .insert(to.id.clone(), (tee_pad, queue, mixer_pad));
        Ok(())
    }

    /// Places every port's picture by the layout.
    fn relayout(&self) {
        let ports = self.ports.lock().clone();
        let (width, height) = *self.size.lock();
        let layout = self.layout.lock();
        let hide = |port: &MixPort| {
            if let Some(pad) = &port.video_pad {
                pad.set_property("alpha", 0.0f64);
            }
        };
        let place = |port: &MixPort, (x, y, w, h): (i32, i32, i32, i32), z: i32| {
            let Some(pad) = &port.video_pad else { return };
            pad.set_property("xpos", x);
            pad.set_property("ypos", y);
            pad.set_property("width", w.max(1));
            pad.set_property("height", h.max(1));
            pad.set_property("zorder", z.max(0) as u32);
            pad.set_property("alpha", 1.0f64);
        };
        match &*layout {
            Layout::Grid => {
                // The bound inputs in join order, in the smallest square grid that holds them.
                let bound: Vec<&Arc<MixPort>> =
                    ports.iter().filter(|p| *p.video_bound.lock()).collect();
                let n = bound.len().max(1) as i32;
                let cols = (1..).find(|c| c * c >= n).unwrap_or(1);
                let rows = (n + cols - 1) / cols;
                let (w, h) = (width / cols, height / rows);
                for (i, port) in bound.iter().enumerate() {
                    let (col, row) = (i as i32 % cols, i as i32 / cols);
                    place(port, (col * w, row * h, w, h), 0);
                }
                for port in ports.iter().filter(|p| !*p.video_bound.lock()) {
                    hide(port);
                }
            }
            Layout::Blend(blend) => {
                let scaled = |v: f64, full: i32| (v.clamp(0.0, 1.0) * full as f64).round() as i32;
                for port in &ports {
                    match (&blend.master, blend.placed.get(&port.id)) {
                        (Some((master, z)), _) if *master == port.id => {
                            place(port, (0, 0, width, height), *z)
                        }
                        (_, Some(p)) => place(
                            port,
                            (
                                scaled(p.x, width),
                                scaled(p.y, height),
                                scaled(p.width, width),
                                scaled(p.height, height),
                            ),
                            p.z,
                        ),
                        _ => hide(port),
                    }
                }
            }
        }
    }

    /// AlphaBlending: `port` is the master, drawn full size at `z`; the picture takes its size
    /// when it is known.
    pub fn set_master(&self, port: &str, z: i32) -> crate::Result<()> {
        let master = self.port(port)?;
        if let Some(caps) = master.video_in.current_caps() {
            if let Some((w, h)) = caps
                .structure(0)
                .and_then(|s| Some((s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?)))
            {
                *self.size.lock() = (w, h);
                if let Some(picture) = &self.video {
                    picture
                        .output_caps
                        .set_property("caps", picture_caps(w, h, self.framerate));
                }
            }
        }
        match &mut *self.layout.lock() {
            Layout::Blend(blend) => blend.master = Some((port.to_owned(), z)),
            Layout::Grid => return Err(err(ErrorKind::InvalidArgument, "not an AlphaBlending")),
        }
        self.relayout();
        Ok(())
    }

    /// AlphaBlending: where `port` is drawn, relative to the master picture.
    pub fn set_placement(&self, port: &str, placement: Placement) -> crate::Result<()> {
        self.port(port)?;
        match &mut *self.layout.lock() {
            Layout::Blend(blend) => {
                blend.placed.insert(port.to_owned(), placement);
            }
            Layout::Grid => return Err(err(ErrorKind::InvalidArgument, "not an AlphaBlending")),
        }
        self.relayout();
        Ok(())
    }

    fn port(&self, id: &str) -> crate::Result<Arc<MixPort>> {
        self.ports
            .lock()
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| {
                err(
                    ErrorKind::InvalidArgument,
                    format!("{id} is not a port of this hub"),
                )
            })
    }

    pub fn remove_port(&self, id: &str) {
        let port = {
            let mut ports = self.ports.lock();
            let Some(i) = ports.iter().position(|p| p.id == id) else {
                return;
            };
            ports.remove(i)
        };
        let others: Vec<Arc<MixPort>> = self.ports.lock().clone();
        // Unlink its audio from the others' mixers and theirs from its own.
        for (to, (tee_pad, queue, mixer_pad)) in port.feeds.lock().drain() {
            let owner = others.iter().find(|o| o.id == to);
            self.unfeed(
                &port.audio_tee,
                tee_pad,
                queue,
                owner.map(|o| &o.audio_mixer),
                mixer_pad,
            );
        }
        for other in &others {
            if let Some((tee_pad, queue, mixer_pad)) = other.feeds.lock().remove(&port.id) {
                self.unfeed(&other.audio_tee, tee_pad, queue, None, mixer_pad);
            }
        }
        if let Layout::Blend(blend) = &mut *self.layout.lock() {
            blend.placed.remove(&port.id);
            if blend.master.as_ref().is_some_and(|(m, _)| *m == port.id) {
                blend.master = None;
            }
        }
        port.audio_out.shutdown();
        if let (Some(picture), Some(pad)) = (&self.video, &port.video_pad) {
            picture.compositor.release_request_pad(pad);
        }
        self.remove_elements(&port);
        self.relayout();
    }

    fn unfeed(
        &self,
        tee: &gst::Element,
        tee_pad: gst::Pad,
        queue: gst::Element,
        mixer: Option<&gst::Element>,
        mixer_pad: gst::Pad,
    ) {
        tee.release_request_pad(&tee_pad);
        if let Some(mixer) = mixer {
            mixer.release_request_pad(&mixer_pad);
        } else if let Some(parent) = mixer_pad.parent_element() {
            parent.release_request_pad(&mixer_pad);
        }
        let _ = queue.set_state(gst::State::Null);
        let _ = self.bin.remove(&queue);
    }

    fn remove_elements(&self, port: &MixPort) {
        for e in &port.elements {
            let _ = e.set_state(gst::State::Null);
        }
        let _ = self.bin.remove_many(&port.elements);
    }

    /// Releases every port's media and the grid (the hub's release).
    pub fn release(&self) {
        let ids: Vec<String> = self.ports.lock().iter().map(|p| p.id.clone()).collect();
        for id in ids {
            self.remove_port(&id);
        }
        if let Some(picture) = &self.video {
            picture.out.shutdown();
        }
        crate::graph::teardown::remove_from(
            &self.ctx.pipeline.clone().upcast(),
            self.bin.upcast_ref(),
        );
    }
}

/// The element kind of a Composite's HubPort: raw video and audio in, the grid and the mix of
/// the others' audio out.
pub(crate) struct CompositePort {
    mixer: Weak<Mixer>,
    port: Arc<MixPort>,
}

impl ElementKind for CompositePort {
    fn input(&self, media: MediaKind) -> Input {
        match media {
            MediaKind::Video => Input::Fixed(Format::RawVideo, self.port.video_in.clone()),
            MediaKind::Audio => Input::Fixed(Format::RawAudio, self.port.audio_in.clone()),
            MediaKind::Data => Input::Absent,
        }
    }
    fn output(&self, media: MediaKind) -> Option<Arc<Output>> {
        match media {
            MediaKind::Video => self
                .mixer
                .upgrade()
                .and_then(|m| m.video.as_ref().map(|p| p.out.clone())),
            MediaKind::Audio => Some(self.port.audio_out.clone()),
            MediaKind::Data => None,
        }
    }
    fn on_input_bound(&self, media: MediaKind, upstream: Option<Arc<Output>>) {
        if media != MediaKind::Video {
            return;
        }
        *self.port.video_bound.lock() = upstream.is_some();
        if let Some(mixer) = self.mixer.upgrade() {
            mixer.relayout();
        }
    }
    fn release(&self) {
        if let Some(mixer) = self.mixer.upgrade() {
            mixer.remove_port(&self.port.id);
        }
    }
    fn shares_output(&self, media: MediaKind) -> bool {
        media == MediaKind::Video
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Element {
    /// Whether this element is a Composite's HubPort.
    pub fn is_composite_port(&self) -> bool {
        self.kind::<CompositePort>().is_some()
    }
}
