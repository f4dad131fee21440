//! What a kind of element gets to build itself: the pipeline's shared pieces, never the pipeline.

use std::sync::{Arc, Weak};

use gst::prelude::*;

use crate::api_contract::{EventSink, Result, WebRtcSettings};
use crate::graph::element::ElementHost;
use crate::graph::flow::FlowTracker;
use crate::graph::output::OutputContext;
use crate::{err, ErrorKind};

pub(crate) struct ElementContext {
    /// The new element's id.
    pub id: String,
    /// The GStreamer pipeline the element's bin joins.
    pub pipeline: gst::Pipeline,
    /// Shared by the pipeline's outputs: codec counters, unique names.
    pub hubs: Arc<OutputContext>,
    pub events: EventSink,
    pub settings: WebRtcSettings,
    /// The element's media-flow tracker (MediaFlowIn/OutStateChanged).
    pub flow: Arc<FlowTracker>,
    pub(crate) graph: Graph,
}

impl ElementContext {
    /// A new bin named `<prefix>-<id>-<n>`, already in the pipeline.
    pub fn new_bin(&self, prefix: &str) -> Result<gst::Bin> {
        let bin = gst::Bin::with_name(&self.unique_name(prefix));
        self.pipeline
            .add(&bin)
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        Ok(bin)
    }

    /// `<prefix>-<id>-<n>`, unique in the pipeline.
    pub fn unique_name(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}-{}",
            crate::graph::output::sanitize(&self.id),
            self.hubs.next()
        )
    }

    /// Takes out a bin whose element could not be built.
    pub fn remove_bin(&self, bin: &gst::Bin) {
        crate::graph::teardown::remove_from(self.pipeline.upcast_ref(), bin.upcast_ref());
    }
}

/// A weak handle to the pipeline's connection graph, for kinds whose formats become known late
/// (a WebRTC endpoint after negotiation).
#[derive(Clone)]
pub(crate) struct Graph(pub(crate) Weak<dyn ElementHost>);

impl Graph {
    /// The connections `id` is the source or the sink of.
    pub fn links_of(&self, id: &str) -> Vec<crate::api_contract::Link> {
        self.0.upgrade().map(|p| p.links_of(id)).unwrap_or_default()
    }

    /// Binds every connection whose formats became known.
    pub fn resolve(&self) {
        if let Some(p) = self.0.upgrade() {
            p.resolve();
        }
    }
}
