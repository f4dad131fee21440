//! The DATA side of a filter of the filter SDK that declares one (`FilterInfo::data`): messages
//! from a DATA connection into the element go to the filter's `receive_data`, and the messages
//! it sends leave through the element's DATA output.

use std::sync::Arc;

use gst::glib::WeakRef;
use gst::prelude::*;
use rheo_filter_sdk::{self as sdk, DataMessage};

use crate::api_contract::*;
use crate::graph::context::ElementContext;
use crate::graph::output::{data_message_caps, data_message_kind, Consumer, Format, Output};

/// A filter's DATA input and output (each present only when the filter declares it).
pub(super) struct FilterData {
    pub input: Option<Arc<DataIntoFilter>>,
    pub output: Option<Arc<Output>>,
}

impl FilterData {
    pub fn attach(ctx: &ElementContext, filter: &gst::Element, info: &sdk::FilterInfo) -> Self {
        let input = info.data.receives().then(|| {
            Arc::new(DataIntoFilter {
                filter: filter.downgrade(),
                element: ctx.id.clone(),
                events: ctx.events.clone(),
            })
        });
        let output = info.data.sends().then(|| {
            let output = Output::new(&ctx.id, MediaKind::Data, ctx.hubs.clone(), None);
            output.set_format(Some(Format::Data));
            let weak = Arc::downgrade(&output);
            let sink: sdk::DataSink = Box::new(move |message| {
                let Some(output) = weak.upgrade() else { return };
                let (binary, bytes) = match message {
                    DataMessage::Text(text) => (false, text.into_bytes()),
                    DataMessage::Binary(bytes) => (true, bytes),
                };
                output.push(
                    &gst::Buffer::from_mut_slice(bytes),
                    &data_message_caps(binary, ""),
                );
            });
            // The element is an SDK filter (checked by the caller's `info`).
            let _ = sdk::set_data_sink(filter, Some(sink));
            output
        });
        FilterData { input, output }
    }
}

/// Hands each message to the filter, on the sender's thread.
pub(super) struct DataIntoFilter {
    filter: WeakRef<gst::Element>,
    element: String,
    events: EventSink,
}

impl Consumer for DataIntoFilter {
    fn push(&self, buffer: &gst::Buffer, caps: &gst::CapsRef) {
        let (Some(filter), Ok(map)) = (self.filter.upgrade(), buffer.map_readable()) else {
            return;
        };
        let message = match data_message_kind(caps) {
            (true, _) => DataMessage::Binary(map.to_vec()),
            (false, _) => DataMessage::Text(String::from_utf8_lossy(&map).into_owned()),
        };
        if let Err(e) = sdk::receive_data(&filter, &message) {
            (self.events)(ElementEvent {
                element: self.element.clone(),
                event: MediaEvent::Error {
                    description: format!("a data message was not taken: {e}"),
                    code: 0,
                    kind: "UNEXPECTED_ELEMENT_ERROR".into(),
                },
            });
        }
    }
}
