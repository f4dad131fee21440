//! Endpoints: where media enters and leaves a pipeline.

pub(crate) mod sdp;
pub mod webrtc;
