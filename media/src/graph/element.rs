//! Element: the common handle of every media element (a bin in the pipeline).

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use gst::prelude::*;

use crate::api_contract::*;
use crate::graph::flow::{FlowDir, FlowTracker};
use crate::graph::output::{AppSrcConsumer, Consumer, Format, Output};
use crate::graph::rtp_fanout::{Packetization, RtpSender};
use crate::graph::shape::{OutputFormat, Shaping};
use crate::{err, ErrorKind};

/// What an element's input of one media type takes.
pub(crate) enum Input {
    /// No such input.
    Absent,
    /// Not known yet (WebRTC before negotiation).
    Unknown,
    /// This format, into this consumer.
    Fixed(Format, Arc<AppSrcConsumer>),
    /// The source's own format if it is one of these, else the first (transcoded), into this
    /// consumer (a recorder: VP8 and H.264 both fit MKV, VP8 into MP4 needs an encoder).
    Prefers(&'static [Format], Arc<AppSrcConsumer>),
    /// Whatever the source sends, into this consumer (pass-through style forwarding).
    Any(Arc<dyn Consumer>),
    /// This format as RTP, cut as the packetization says, into this sender (an RTP
    /// transport: the one-to-many path, one payloader shared by every such sender).
    Rtp(Format, Packetization, Arc<RtpSender>),
}

/// One kind of media element (WebRTC endpoint, pass-through, filter, ...): its inputs and
/// outputs per media type, and what it does on binding and release. A new kind implements this
/// and is added with [`crate::MediaPipeline::add`]; nothing else in the media plane names it.
pub(crate) trait ElementKind: Send + Sync + 'static {
    fn input(&self, media: MediaKind) -> Input;
    fn output(&self, media: MediaKind) -> Option<Arc<Output>>;
    /// A source was bound to the input of `media` (`None`: unbound).
    fn on_input_bound(&self, _media: MediaKind, _upstream: Option<Arc<Output>>) {}
    fn stats(&self, _media: Option<MediaKind>) -> Vec<RtpStats> {
        Vec::new()
    }
    /// Stops what the kind runs of its own; the element removes the bin afterwards.
    fn release(&self) {}
    /// Whether its output of `media` is shared with other elements (a Composite's grid): the
    /// element's release then leaves it running.
    fn shares_output(&self, _media: MediaKind) -> bool {
        false
    }
    /// For the typed accessors ([`Element::webrtc`], ...).
    fn as_any(&self) -> &dyn Any;
}

/// What an element needs of the pipeline it belongs to: the connection graph and the bin it
/// lives in. The pipeline implements it; elements hold it weakly.
pub(crate) trait ElementHost: Send + Sync {
    fn connect(
        &self,
        source: &Element,
        sink: &Element,
        media: MediaKind,
    ) -> crate::Result<Option<String>>;
    fn disconnect(&self, source: &Element, sink: &Element, media: MediaKind)
        -> crate::Result<bool>;
    fn links_of(&self, id: &str) -> Vec<Link>;
    fn input_transcoding(&self, id: &str, media: MediaKind) -> bool;
    /// Drops every connection touching `id` (element release).
    fn drop_connections_of(&self, id: &str);
    /// Binds every connection whose formats became known.
    fn resolve(&self);
    /// Unbinds and binds again the connections from `id` for `media` (its output changed).
    fn rebind_outputs(&self, id: &str, media: MediaKind);
    fn remove_bin(&self, bin: &gst::Element);
    fn forget(&self, id: &str);
}

pub(crate) struct ElementInner {
    pub id: String,
    pub bin: gst::Bin,
    pub pipeline: Weak<dyn ElementHost>,
    pub flow: Arc<FlowTracker>,
    pub kind: Box<dyn ElementKind>,
    released: AtomicBool,
    /// `setAudioFormat`, `setVideoFormat`.
    audio_shaping: parking_lot::Mutex<Shaping>,
    video_shaping: parking_lot::Mutex<Shaping>,
}

/// A media element of a pipeline.
#[derive(Clone)]
pub struct Element {
    pub(crate) inner: Arc<ElementInner>,
}

impl Element {
    pub(crate) fn new(
        id: &str,
        bin: gst::Bin,
        pipeline: Weak<dyn ElementHost>,
        flow: Arc<FlowTracker>,
        kind: Box<dyn ElementKind>,
    ) -> Self {
        Element {
            inner: Arc::new(ElementInner {
                id: id.to_string(),
                bin,
                pipeline,
                flow,
                kind,
                released: AtomicBool::new(false),
                audio_shaping: parking_lot::Mutex::new(Shaping::default()),
                video_shaping: parking_lot::Mutex::new(Shaping::default()),
            }),
        }
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub(crate) fn bin_name(&self) -> String {
        self.inner.bin.name().to_string()
    }

    pub(crate) fn flow(&self) -> &FlowTracker {
        &self.inner.flow
    }

    /// With the pipeline's latency stats on: the average time, in nanoseconds, buffers took
    /// from entering the pipeline to reaching this element's input, per media type.
    pub fn input_latencies(&self) -> Vec<(MediaKind, f64)> {
        self.inner.flow.latencies()
    }

    fn pipeline(&self) -> crate::Result<Arc<dyn ElementHost>> {
        self.inner
            .pipeline
            .upgrade()
            .ok_or_else(|| err(ErrorKind::Internal, "pipeline gone"))
    }

    /// Connects this element's output of `media` to `sink`'s input, replacing its old source;
    /// returns the replaced source's id.
    /// Whether `connect(sink, media)` has something to connect: this element sends `media` and
    /// `sink` takes it (DATA always: such links are recorded).
    pub fn can_connect(&self, sink: &Element, media: MediaKind) -> bool {
        media == MediaKind::Data
            || (!matches!(sink.input(media), Input::Absent)
                && self.inner.kind.output(media).is_some())
    }

    pub fn connect(&self, sink: &Element, media: MediaKind) -> crate::Result<Option<String>> {
        if self.is_released() || sink.is_released() {
            return Err(err(ErrorKind::Connect, "element released"));
        }
        let p = self.pipeline()?;
        match sink.inner.pipeline.upgrade() {
            Some(sp) if std::ptr::addr_eq(Arc::as_ptr(&sp), Arc::as_ptr(&p)) => {}
            _ => {
                return Err(err(
                    ErrorKind::Connect,
                    "elements belong to different pipelines",
                ))
            }
        }
        p.connect(self, sink, media)
    }

    /// Removes the connection to `sink` for `media`; whether there was one.
    pub fn disconnect(&self, sink: &Element, media: MediaKind) -> crate::Result<bool> {
        let p = self.pipeline()?;
        p.disconnect(self, sink, media)
    }

    /// The connections this element is the source or the sink of, in the order they were made.
    pub fn links(&self) -> Vec<Link> {
        self.pipeline()
            .map(|p| p.links_of(self.id()))
            .unwrap_or_default()
    }

    pub fn is_media_flowing_in(&self, media: MediaKind) -> bool {
        self.inner.flow.is_flowing(FlowDir::In, media)
    }

    pub fn is_media_flowing_out(&self, media: MediaKind) -> bool {
        self.inner.flow.is_flowing(FlowDir::Out, media)
    }

    /// True when media of this type entering or leaving this element goes through a decoder or
    /// an encoder.
    pub fn is_media_transcoding(&self, media: MediaKind) -> bool {
        let shaped = self.shaping(media).is_some_and(|s| s.lock().active());
        let out = shaped
            || self
                .inner
                .kind
                .output(media)
                .is_some_and(|h| h.transcoding());
        let input = self
            .inner
            .pipeline
            .upgrade()
            .map(|p| p.input_transcoding(self.id(), media))
            .unwrap_or(false);
        out || input
    }

    pub fn gstreamer_dot(&self) -> String {
        self.inner
            .bin
            .debug_to_dot_data(gst::DebugGraphDetails::all())
            .to_string()
    }

    pub fn stats(&self, media: Option<MediaKind>) -> Vec<RtpStats> {
        self.inner.kind.stats(media)
    }

    pub fn is_released(&self) -> bool {
        self.inner.released.load(Ordering::SeqCst)
    }

    /// Idempotent: drops its connections, stops and removes its bin.
    pub fn release(&self) {
        if self.inner.released.swap(true, Ordering::SeqCst) {
            return;
        }
        let p = self.inner.pipeline.upgrade();
        if let Some(p) = &p {
            p.drop_connections_of(self.id());
        }
        self.inner.audio_shaping.lock().tear_down();
        self.inner.video_shaping.lock().tear_down();
        for media in [MediaKind::Audio, MediaKind::Video] {
            if self.inner.kind.shares_output(media) {
                continue;
            }
            if let Some(h) = self.inner.kind.output(media) {
                h.shutdown();
            }
        }
        self.inner.kind.release();
        if let Some(p) = &p {
            p.remove_bin(self.inner.bin.upcast_ref());
            p.forget(self.id());
        }
    }

    /// The element's kind, when it is a `T` (the kinds' typed accessors use it).
    pub(crate) fn kind<T: 'static>(&self) -> Option<&T> {
        self.inner.kind.as_any().downcast_ref::<T>()
    }

    pub(crate) fn input(&self, media: MediaKind) -> Input {
        self.inner.kind.input(media)
    }

    pub(crate) fn on_input_bound(&self, media: MediaKind, upstream: Option<Arc<Output>>) {
        self.inner.kind.on_input_bound(media, upstream)
    }

    fn shaping(&self, media: MediaKind) -> Option<&parking_lot::Mutex<Shaping>> {
        match media {
            MediaKind::Audio => Some(&self.inner.audio_shaping),
            MediaKind::Video => Some(&self.inner.video_shaping),
            MediaKind::Data => None,
        }
    }

    /// The output connections from this element take: its own, or the stage that shapes it
    /// (`setAudioFormat`, `setVideoFormat`).
    pub(crate) fn output(&self, media: MediaKind) -> Option<Arc<Output>> {
        let own = self.inner.kind.output(media)?;
        match self.shaping(media) {
            Some(shaping) if !self.is_released() => Some(shaping.lock().output(own)),
            _ => Some(own),
        }
    }

    /// Kurento setAudioFormat / setVideoFormat: every connection from this element gets its
    /// `media` in `format` (`None`: as the element makes it). Existing connections are re-bound.
    pub fn set_output_format(
        &self,
        media: MediaKind,
        format: Option<OutputFormat>,
    ) -> crate::Result<()> {
        let shaping = self
            .shaping(media)
            .filter(|_| self.inner.kind.output(media).is_some())
            .ok_or_else(|| {
                err(
                    ErrorKind::InvalidArgument,
                    format!("{} has no {media:?} output to shape", self.id()),
                )
            })?;
        if format.is_some_and(|f| f.format.media() != media) {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("not a {media:?} format"),
            ));
        }
        shaping.lock().ask(format);
        self.pipeline()?.rebind_outputs(self.id(), media);
        Ok(())
    }
}
