//! Forwarding: an input's buffers go straight to an output, with no GStreamer work.

use std::sync::{Arc, Weak};

use crate::api_contract::*;
use crate::graph::context::ElementContext;
use crate::graph::flow::{FlowDir, FlowTracker};
use crate::graph::output::{Consumer, Output};

/// Forwards buffers of an input straight to an output (no GStreamer work at all).
pub(crate) struct ForwardConsumer {
    out: Weak<Output>,
    flow: Arc<FlowTracker>,
    media: MediaKind,
}

impl Consumer for ForwardConsumer {
    fn push(&self, buffer: &gst::Buffer, caps: &gst::CapsRef) {
        self.flow.mark(FlowDir::In, self.media);
        if let Some(h) = self.out.upgrade() {
            h.push(buffer, caps);
        }
    }
}

/// A forwarded media type: an output whose format and keyframe source follow the input.
pub(crate) struct Forward {
    pub output: Arc<Output>,
    pub consumer: Arc<ForwardConsumer>,
}

impl Forward {
    pub fn new(ctx: &ElementContext, media: MediaKind) -> Self {
        let output = Output::new(&ctx.id, media, ctx.hubs.clone(), Some(ctx.flow.clone()));
        let consumer = Arc::new(ForwardConsumer {
            out: Arc::downgrade(&output),
            flow: ctx.flow.clone(),
            media,
        });
        Forward { output, consumer }
    }

    /// Follows the source bound to the input (`None`: unbound).
    pub fn bind(&self, upstream: Option<Arc<Output>>) {
        match upstream {
            Some(up) => {
                self.output.set_format(up.format());
                let weak = Arc::downgrade(&up);
                self.output.set_keyframe_fn(Some(Box::new(move || {
                    if let Some(h) = weak.upgrade() {
                        h.request_keyframe();
                    }
                })));
                if self.output.consumer_count() > 0 {
                    up.request_keyframe();
                }
            }
            None => self.output.set_keyframe_fn(None),
        }
    }
}
