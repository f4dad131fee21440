//! Element: the common handle of every media element (a bin in the pipeline).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use gst::prelude::*;

use crate::api_contract::*;
use crate::filter::{FaceOverlay, FilterBin, PassThroughImpl, SdkFilter};
use crate::flow::{FlowDir, FlowTracker};
use crate::hub::{AppSrcConsumer, Consumer, Format, Hub};
use crate::pipeline::PipelineInner;
use crate::webrtc::WebRtcEndpoint;
use crate::{err, ErrorKind};

/// What an element's input of one media type accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputSpec {
    /// No such input.
    None,
    /// Not known yet (WebRTC before negotiation).
    Unknown,
    /// This format, via an appsrc consumer.
    Fixed(Format),
    /// Whatever the source sends (pass-through style forwarding).
    Any,
}

pub(crate) enum Kind {
    WebRtc(WebRtcEndpoint),
    PassThrough(PassThroughImpl),
    Filter(FilterBin),
}

pub(crate) struct ElementInner {
    pub id: String,
    pub bin: gst::Bin,
    pub pipeline: Weak<PipelineInner>,
    pub flow: Arc<FlowTracker>,
    pub kind: Kind,
    released: AtomicBool,
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
        pipeline: &Arc<PipelineInner>,
        flow: Arc<FlowTracker>,
        kind: Kind,
    ) -> Self {
        Element {
            inner: Arc::new(ElementInner {
                id: id.to_string(),
                bin,
                pipeline: Arc::downgrade(pipeline),
                flow,
                kind,
                released: AtomicBool::new(false),
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

    fn pipeline(&self) -> crate::Result<Arc<PipelineInner>> {
        self.inner
            .pipeline
            .upgrade()
            .ok_or_else(|| err(ErrorKind::Internal, "pipeline gone"))
    }

    /// Connects this element's output of `media` to `sink`'s input, replacing its old source;
    /// returns the replaced source's id.
    pub fn connect(&self, sink: &Element, media: MediaKind) -> crate::Result<Option<String>> {
        if self.is_released() || sink.is_released() {
            return Err(err(ErrorKind::Connect, "element released"));
        }
        let p = self.pipeline()?;
        match sink.inner.pipeline.upgrade() {
            Some(sp) if Arc::ptr_eq(&sp, &p) => {}
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
        let out = self.output(media).map(|h| h.transcoding()).unwrap_or(false);
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
        match &self.inner.kind {
            Kind::WebRtc(w) => w.stats(media),
            _ => Vec::new(),
        }
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
        for media in [MediaKind::Audio, MediaKind::Video] {
            if let Some(h) = self.output(media) {
                h.shutdown();
            }
        }
        match &self.inner.kind {
            Kind::WebRtc(w) => w.release(),
            Kind::PassThrough(_) => {}
            Kind::Filter(f) => f.release(),
        }
        if let Some(p) = &p {
            p.remove_bin(self.inner.bin.upcast_ref());
            p.forget(self.id());
        }
    }

    pub fn webrtc(&self) -> Option<&WebRtcEndpoint> {
        match &self.inner.kind {
            Kind::WebRtc(w) => Some(w),
            _ => None,
        }
    }

    pub fn face_overlay(&self) -> Option<&FaceOverlay> {
        match &self.inner.kind {
            Kind::Filter(f) if f.is_face_overlay() => Some(f),
            _ => None,
        }
    }

    /// The element's filter, when it is a GStreamerFilter.
    pub fn gstreamer_filter(&self) -> Option<&crate::filter::FilterBin> {
        match &self.inner.kind {
            Kind::Filter(f) if f.is_gstreamer_filter() => Some(f),
            _ => None,
        }
    }

    /// The element's filter, when it is a filter of the filter SDK.
    pub fn sdk_filter(&self) -> Option<&SdkFilter> {
        match &self.inner.kind {
            Kind::Filter(f) if f.info().is_some() => Some(f),
            _ => None,
        }
    }

    pub(crate) fn input_spec(&self, media: MediaKind) -> InputSpec {
        match &self.inner.kind {
            Kind::WebRtc(w) => w.input_spec(media),
            Kind::PassThrough(p) => p.input_spec(media),
            Kind::Filter(f) => f.input_spec(media),
        }
    }

    pub(crate) fn input_consumer(&self, media: MediaKind) -> Option<Arc<AppSrcConsumer>> {
        match &self.inner.kind {
            Kind::WebRtc(w) => w.input_consumer(media),
            Kind::PassThrough(_) => None,
            Kind::Filter(f) => f.input_consumer(media),
        }
    }

    pub(crate) fn forward_consumer(&self, media: MediaKind) -> Option<Arc<dyn Consumer>> {
        match &self.inner.kind {
            Kind::WebRtc(_) => None,
            Kind::PassThrough(p) => p.forward_consumer(media),
            Kind::Filter(f) => f.forward_consumer(media),
        }
    }

    pub(crate) fn on_input_bound(&self, media: MediaKind, upstream: Option<Arc<Hub>>) {
        match &self.inner.kind {
            Kind::WebRtc(_) => {}
            Kind::PassThrough(p) => p.on_input_bound(media, upstream),
            Kind::Filter(f) => f.on_input_bound(media, upstream),
        }
    }

    pub(crate) fn output(&self, media: MediaKind) -> Option<Arc<Hub>> {
        match &self.inner.kind {
            Kind::WebRtc(w) => w.output(media),
            Kind::PassThrough(p) => p.output(media),
            Kind::Filter(f) => f.output(media),
        }
    }
}
