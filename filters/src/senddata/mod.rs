//! `datachannelexample.KmsSendData` (element `rheosenddata`): the codes (QR, EAN, …) read in
//! the video are sent as text messages from the element's DATA output, e.g. to a browser's data
//! channel through a WebRtcEndpoint built with `useDataChannels`. The video is not modified;
//! audio passes through.
//!
//! The scanning is ZBarFilter's (a thread of its own, at most 10 scans a second, I420 luma, no
//! colour conversion). The text is Kurento's: `Code detected in time <ns>, type <type>, symbol
//! <value>`, where the time is the stream time of the frame that carries the message. Kurento
//! sends one per frame while a code is in view (30 a second); Rheo sends one when a code
//! appears, then one a second per code while it stays in view (ZBarFilter's de-duplication).

#[cfg(test)]
mod tests;

use rheo_filter_sdk::{
    Args, Context, DataMessage, FilterError, FilterInfo, Frame, PixelFormat, Region, Value,
    VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

use crate::zbar::ZBarFilter;

/// The Kurento interface of `datachannelexample.KmsSendData`.
pub static INFO: FilterInfo = FilterInfo {
    module: "datachannelexample",
    class: "KmsSendData",
    element: "rheosenddata",
    description: "Sends the codes read in the video (QR, EAN, ...) as data channel messages",
    constructor: &[],
    methods: &[],
    properties: &[],
    events: &[],
    format: PixelFormat::I420,
    data: DataUse::Sends,
    parent: Parent::MediaElement,
};

/// The filter: a code scanner whose findings become messages.
pub struct KmsSendData {
    scanner: ZBarFilter,
}

/// The message Kurento sends for a code.
pub fn code_message(stream_time_ns: u64, kind: &str, value: &str) -> String {
    format!("Code detected in time {stream_time_ns}, type {kind}, symbol {value}")
}

/// Turns the scanner's `CodeFound` events into messages on the frame's context.
struct CodesToMessages<'a> {
    ctx: &'a mut dyn Context,
    stream_time: u64,
}

impl Context for CodesToMessages<'_> {
    fn emit(&mut self, event: &'static str, fields: Vec<(&'static str, Value)>) {
        if event != "CodeFound" {
            return;
        }
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let text = code_message(self.stream_time, &field("codeType"), &field("value"));
        self.ctx.send_data(DataMessage::Text(text));
    }

    fn regions(&self) -> &[Region] {
        self.ctx.regions()
    }
}

impl VideoFilter for KmsSendData {
    fn info() -> &'static FilterInfo {
        &INFO
    }

    fn new(args: &Args) -> Result<Self, FilterError> {
        Ok(KmsSendData {
            scanner: ZBarFilter::new(args)?,
        })
    }

    fn process(&mut self, frame: &mut Frame<'_>, ctx: &mut dyn Context) -> Result<(), FilterError> {
        let mut messages = CodesToMessages {
            ctx,
            stream_time: frame.pts.unwrap_or_default(),
        };
        self.scanner.process(frame, &mut messages)
    }
}
