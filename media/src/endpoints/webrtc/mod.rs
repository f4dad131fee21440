//! WebRtcEndpoint: webrtcbin + per-media send chains (appsrc ! pay) and receive chains
//! (depay ! appsink): the server picks codec and payload type from the offer and sets them as
//! transceiver codec preferences, which is what Chromium interoperates with.

mod channels;
mod data;
mod endpoint;
mod ice;
pub mod ice_addresses;
mod media;
mod negotiation;
mod stats;
pub mod traffic;

pub use endpoint::WebRtcEndpoint;
