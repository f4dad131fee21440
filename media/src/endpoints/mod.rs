//! Endpoints: where media enters and leaves a pipeline.

pub mod http_post;
pub mod player;
pub mod recorder;
pub(crate) mod sdp;
pub mod webrtc;

use crate::api_contract::UriEndpointState;
use crate::graph::element::Element;

/// What recorders and players share (Kurento's UriEndpoint): the control plane drives either
/// through it.
pub trait UriEndpoint {
    fn pause(&self) -> crate::Result<()>;
    /// Stops (a recorder finishes its file in the background).
    fn stop(&self);
    fn state(&self) -> UriEndpointState;
}

impl UriEndpoint for recorder::RecorderEndpoint {
    fn pause(&self) -> crate::Result<()> {
        self.pause()
    }
    fn stop(&self) {
        self.stop()
    }
    fn state(&self) -> UriEndpointState {
        self.state()
    }
}

impl UriEndpoint for player::PlayerEndpoint {
    fn pause(&self) -> crate::Result<()> {
        self.pause()
    }
    fn stop(&self) {
        self.stop()
    }
    fn state(&self) -> UriEndpointState {
        self.state()
    }
}

impl Element {
    /// The element as a UriEndpoint, if it is a recorder or a player.
    pub fn uri_endpoint(&self) -> Option<&dyn UriEndpoint> {
        match (self.recorder(), self.player()) {
            (Some(r), _) => Some(r),
            (_, Some(p)) => Some(p),
            _ => None,
        }
    }
}
