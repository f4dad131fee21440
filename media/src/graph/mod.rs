//! The media graph: pipelines, elements and the kind trait, the outputs that fan media out
//! between elements (decoding and encoding once per source when a sink needs it), media-flow
//! tracking, output shaping (`setAudioFormat`, `setVideoFormat`), the bitrate encoders keep to
//! for their receivers, and teardown.

pub(crate) mod bus;
pub(crate) mod context;
pub(crate) mod element;
pub(crate) mod flow;
pub(crate) mod output;
pub(crate) mod pipeline;
pub mod rtp_fanout;
pub mod send_bitrate;
pub(crate) mod shape;
pub mod stream;
pub(crate) mod teardown;
