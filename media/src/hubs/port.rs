//! HubPort: a media element of a hub. What is connected into it goes to the hub; what the hub
//! routes to it leaves through its outputs, forwarded as it came (no GStreamer work).

use std::any::Any;
use std::sync::{Arc, Weak};

use gst::prelude::*;
use parking_lot::Mutex;

use super::composite::{MixPort, Mixer};
use crate::api_contract::*;
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::flow::{FlowDir, FlowTracker};
use crate::graph::output::{Consumer, Format, Output};
use crate::graph::pipeline::MediaPipeline;

/// The element kind of a HubPort.
pub struct HubPort {
    core: Arc<PortCore>,
    /// A Mixer's port: its audio is mixed (from the ports connected to it), not routed.
    audio_mix: Option<(Weak<Mixer>, Arc<MixPort>)>,
}

/// A port's state, shared with its hub.
pub(crate) struct PortCore {
    pub id: String,
    /// Tells the hub the port is gone.
    on_release: Box<dyn Fn(&str) + Send + Sync>,
    audio: PortMedia,
    video: PortMedia,
    /// The port whose media this one sends.
    source: Mutex<Option<Weak<PortCore>>>,
}

/// One media type of a port.
struct PortMedia {
    output: Arc<Output>,
    input: Arc<PortInput>,
    /// What is connected into the port.
    upstream: Mutex<Option<Weak<Output>>>,
}

/// A port's input: every buffer goes to the outputs of the ports it is routed to.
struct PortInput {
    flow: Arc<FlowTracker>,
    media: MediaKind,
    targets: Mutex<Arc<Vec<Arc<Output>>>>,
}

impl Consumer for PortInput {
    fn push(&self, buffer: &gst::Buffer, caps: &gst::CapsRef) {
        self.flow.mark(FlowDir::In, self.media);
        let targets = self.targets.lock().clone();
        for output in targets.iter() {
            output.push(buffer, caps);
        }
    }
}

impl HubPort {
    pub(super) fn create(
        pipeline: &MediaPipeline,
        id: &str,
        on_release: Box<dyn Fn(&str) + Send + Sync>,
        audio_mix: Option<(Weak<Mixer>, Arc<MixPort>)>,
    ) -> crate::Result<(Element, Arc<PortCore>)> {
        let mut core = None;
        let element = pipeline.add(id, |ctx| {
            let bin = ctx.new_bin("hubport")?;
            let media = |kind| PortMedia {
                output: Output::new(&ctx.id, kind, ctx.hubs.clone(), Some(ctx.flow.clone())),
                input: Arc::new(PortInput {
                    flow: ctx.flow.clone(),
                    media: kind,
                    targets: Mutex::new(Arc::new(Vec::new())),
                }),
                upstream: Mutex::new(None),
            };
            let port = Arc::new(PortCore {
                id: ctx.id.clone(),
                on_release,
                audio: media(MediaKind::Audio),
                video: media(MediaKind::Video),
                source: Mutex::new(None),
            });
            for kind in [MediaKind::Audio, MediaKind::Video] {
                let weak = Arc::downgrade(&port);
                port.media(kind)
                    .expect("audio and video")
                    .output
                    .set_keyframe_fn(Some(Box::new(move || {
                        if let Some(port) = weak.upgrade() {
                            port.request_keyframe_from_source(kind);
                        }
                    })));
            }
            core = Some(port.clone());
            let _ = bin.sync_state_with_parent();
            Ok((
                bin,
                HubPort {
                    core: port,
                    audio_mix,
                },
            ))
        })?;
        Ok((element, core.expect("built with the element")))
    }
}

impl PortCore {
    fn media(&self, media: MediaKind) -> Option<&PortMedia> {
        match media {
            MediaKind::Audio => Some(&self.audio),
            MediaKind::Video => Some(&self.video),
            MediaKind::Data => None,
        }
    }

    pub fn source(&self) -> Option<Arc<PortCore>> {
        self.source.lock().as_ref().and_then(Weak::upgrade)
    }

    /// Sets the port this one sends; whether it changed.
    pub fn set_source(&self, source: Option<Arc<PortCore>>) -> bool {
        let mut current = self.source.lock();
        let old = current.as_ref().and_then(Weak::upgrade);
        let same = match (&old, &source) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        *current = source.as_ref().map(Arc::downgrade);
        !same
    }

    /// The ports this one's media goes to.
    pub fn set_targets(&self, targets: &[&Arc<PortCore>]) {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let outputs: Vec<Arc<Output>> = targets
                .iter()
                .filter_map(|t| t.media(kind).map(|m| m.output.clone()))
                .collect();
            if let Some(m) = self.media(kind) {
                *m.input.targets.lock() = Arc::new(outputs);
            }
        }
    }

    fn upstream(&self, media: MediaKind) -> Option<Arc<Output>> {
        self.media(media)?.upstream.lock().as_ref()?.upgrade()
    }

    /// After the source changed: the output takes the new source's format. Returns whether
    /// the connections from this port must be bound again (the format changed or became
    /// known); otherwise they restart at the new source's next keyframe, which is asked for.
    pub fn source_switched(&self, media: MediaKind) -> bool {
        let Some(m) = self.media(media) else {
            return false;
        };
        let format = self
            .source()
            .and_then(|s| s.upstream(media))
            .and_then(|up| up.format());
        let old = m.output.format();
        if format.is_some() && format != old {
            m.output.set_format(format);
            return true;
        }
        m.output.restart_consumers();
        self.request_keyframe_from_source(media);
        false
    }

    fn request_keyframe_from_source(&self, media: MediaKind) {
        if let Some(upstream) = self.source().and_then(|s| s.upstream(media)) {
            upstream.request_keyframe();
        }
    }

    /// What is connected into the port changed: the ports it feeds send in its format.
    fn bind_upstream(&self, media: MediaKind, upstream: Option<Arc<Output>>) {
        let Some(m) = self.media(media) else { return };
        let format = upstream.as_ref().and_then(|u| u.format());
        *m.upstream.lock() = upstream.as_ref().map(Arc::downgrade);
        if format.is_none() {
            return;
        }
        // Called while the pipeline binds connections: the outputs that had no format take it
        // now, and the connections from them are bound in the same pass.
        for output in m.input.targets.lock().iter() {
            if output.format().is_none() {
                output.set_format(format);
            }
        }
        if let Some(upstream) = upstream {
            upstream.request_keyframe();
        }
    }
}

impl ElementKind for HubPort {
    fn input(&self, media: MediaKind) -> Input {
        if let (MediaKind::Audio, Some((_, mix))) = (media, &self.audio_mix) {
            return Input::Fixed(Format::RawAudio, mix.audio_in.clone());
        }
        match self.core.media(media) {
            Some(m) => Input::Any(m.input.clone()),
            None => Input::Absent,
        }
    }
    fn output(&self, media: MediaKind) -> Option<Arc<Output>> {
        if let (MediaKind::Audio, Some((_, mix))) = (media, &self.audio_mix) {
            return Some(mix.audio_out.clone());
        }
        self.core.media(media).map(|m| m.output.clone())
    }
    fn on_input_bound(&self, media: MediaKind, upstream: Option<Arc<Output>>) {
        if media == MediaKind::Audio && self.audio_mix.is_some() {
            return;
        }
        self.core.bind_upstream(media, upstream);
    }
    fn release(&self) {
        if let Some((mixer, mix)) = &self.audio_mix {
            if let Some(mixer) = mixer.upgrade() {
                mixer.remove_port(&mix.id);
            }
        }
        (self.core.on_release)(&self.core.id);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Element {
    /// Whether this element is a HubPort.
    pub fn is_hub_port(&self) -> bool {
        self.kind::<HubPort>().is_some()
    }
}
