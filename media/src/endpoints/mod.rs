//! Endpoints: where media enters and leaves a pipeline.

pub mod http_post;
pub mod player;
pub mod recorder;
pub(crate) mod rtcp_feedback;
pub mod rtp;
pub(crate) mod rtp_chains;
pub(crate) mod sdp;
pub mod webrtc;

use crate::api_contract::{ConnectionState, MediaState, OfferOptions, UriEndpointState};
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

/// What WebRTC and plain RTP endpoints share (Kurento's SdpEndpoint and BaseRtpEndpoint): the
/// control plane negotiates either through it.
pub trait SdpEndpoint {
    fn process_offer(&self, offer: &str) -> crate::Result<String>;
    fn generate_offer(&self, options: OfferOptions) -> crate::Result<String>;
    fn process_answer(&self, answer: &str) -> crate::Result<String>;
    fn local_description(&self) -> crate::Result<String>;
    fn remote_description(&self) -> crate::Result<String>;
    fn media_state(&self) -> MediaState;
    fn connection_state(&self) -> ConnectionState;
    /// `minVideoSendBandwidth` and `maxVideoSendBandwidth` (kbps; a maximum of 0: none): the
    /// bounds of the bitrate Rheo encodes video at for this endpoint's receiver.
    fn set_video_send_bandwidth(&self, min_kbps: u32, max_kbps: u32);
}

/// Both endpoints have these as inherent methods of the same names.
macro_rules! sdp_endpoint_by_inherent_methods {
    ($endpoint:ty) => {
        impl SdpEndpoint for $endpoint {
            fn process_offer(&self, offer: &str) -> crate::Result<String> {
                self.process_offer(offer)
            }
            fn generate_offer(&self, options: OfferOptions) -> crate::Result<String> {
                self.generate_offer(options)
            }
            fn process_answer(&self, answer: &str) -> crate::Result<String> {
                self.process_answer(answer)
            }
            fn local_description(&self) -> crate::Result<String> {
                self.local_description()
            }
            fn remote_description(&self) -> crate::Result<String> {
                self.remote_description()
            }
            fn media_state(&self) -> MediaState {
                self.media_state()
            }
            fn connection_state(&self) -> ConnectionState {
                self.connection_state()
            }
            fn set_video_send_bandwidth(&self, min_kbps: u32, max_kbps: u32) {
                self.set_video_send_bandwidth(min_kbps, max_kbps)
            }
        }
    };
}

sdp_endpoint_by_inherent_methods!(webrtc::WebRtcEndpoint);
sdp_endpoint_by_inherent_methods!(rtp::RtpEndpoint);

impl Element {
    /// The element as an SDP endpoint (WebRTC or plain RTP).
    pub fn sdp_endpoint(&self) -> Option<&dyn SdpEndpoint> {
        self.webrtc()
            .map(|e| e as &dyn SdpEndpoint)
            .or_else(|| self.rtp().map(|e| e as &dyn SdpEndpoint))
    }
}
