//! Endpoints: where media enters and leaves a pipeline.

pub mod player;
pub mod recorder;
pub(crate) mod sdp;
pub mod webrtc;
