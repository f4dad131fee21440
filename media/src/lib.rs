//! Rheo's media plane: one GStreamer pipeline per Kurento MediaPipeline, media elements as bins,
//! Rust-side fan-out between them (appsink → output → appsrc), webrtcbin endpoints.
//!
//! - `graph/`: pipelines, elements and the `ElementKind` trait, outputs (the
//!   fan-out, with shared decoders and encoders), media flow, teardown;
//! - `endpoints/`: WebRTC (negotiation, ICE, stats) and SDP analysis;
//! - `filters/`: PassThrough and the video filters;
//! - `hubs/`: Dispatcher, DispatcherOneToMany and their HubPorts.
//!
//! Threading: every public method may block and must be called from a blocking thread (the
//! control plane uses `spawn_blocking`). No GLib main loop is needed: one bus thread for all
//! pipelines (`graph/bus.rs`) forwards errors, webrtcbin state changes and the media-flow timer.

pub mod api_contract;
pub mod endpoints;
pub mod filters;
/// The SDP and candidate fuzz targets (`fuzz/afl` and the corpus replay tests).
#[doc(hidden)]
pub mod fuzz_targets;
mod graph;
mod hubs;

/// Decodes recorded files (the media tests' `common::media_file`), for the server's tests.
#[cfg(feature = "test-peer")]
#[path = "../tests/common/media_file.rs"]
pub mod test_media_file;
#[cfg(feature = "test-peer")]
#[path = "../tests/common/peer.rs"]
pub mod test_peer;
// `test_media_file` names its sibling `super::peer`, as in the media tests.
#[cfg(feature = "test-peer")]
use test_peer as peer;

// Lets the test peer (compiled into this crate with `test-peer`) name the crate as tests do.
extern crate self as rheo_media;

pub use api_contract::*;
pub use endpoints::http_post::{
    upload_target, HttpPostEndpoint, HttpPostOptions, Upload, UploadRefused, UploadTarget,
};
pub use endpoints::player::{
    ensure_qr_sample_video, ensure_sample_video, PlayerEndpoint, PlayerOptions, VideoInfo,
    QR_SAMPLE_TEXT, QR_SAMPLE_VIDEO_NAME, SAMPLE_VIDEO_NAME, SAMPLE_VIDEO_SECONDS,
};
pub use endpoints::recorder::{
    MediaProfile, RecordTarget, RecorderEndpoint, RecorderOptions, TRACK_WAIT,
};
pub use endpoints::rtp::{RtpEndpoint, RtpOptions, SrtpKey, SrtpSuite};
pub use endpoints::sdp::limits::{sdp_limits, set_sdp_limits, SdpLimits};
pub use endpoints::webrtc::{ice_addresses, traffic, WebRtcEndpoint};
pub use endpoints::{SdpEndpoint, UriEndpoint};
pub use filters::{ElementPolicy, FaceOverlay, FilterBin, PassThrough};
pub use graph::element::Element;
pub use graph::output::Format;
pub use graph::pipeline::MediaPipeline;
pub use graph::rtp_fanout::{totals as fanout_totals, FanoutTotals};
pub use graph::send_bitrate;
pub use graph::shape::{OutputFormat, MAX_FRAMERATE, OPUS_BITRATES};
pub use hubs::{Hub, HubKind, Placement};

use once_cell::sync::OnceCell;

pub(crate) fn err(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error {
        kind,
        message: message.into(),
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

static INIT: OnceCell<std::result::Result<(), String>> = OnceCell::new();

/// Initialises GStreamer, registers the vision filters and prewarms the DTLS certificate
/// (its RSA keygen otherwise lands on the first session: 60–970 ms). Idempotent.
pub fn init() -> Result<()> {
    INIT.get_or_init(|| {
        gst::init().map_err(|e| e.to_string())?;
        filters::vision::register()?;
        for needed in [
            "webrtcbin",
            "nicesrc",
            "dtlsdec",
            "rtpvp8pay",
            "vp8enc",
            "opusenc",
        ] {
            if gst::ElementFactory::find(needed).is_none() {
                return Err(format!("GStreamer element {needed} is not installed"));
            }
        }
        // Creating a dtlsdec generates the process-wide certificate that webrtcbin shares.
        let dtls = gst::ElementFactory::make("dtlsdec")
            .build()
            .map_err(|e| e.to_string())?;
        drop(dtls);
        Ok(())
    })
    .clone()
    .map_err(|m| err(ErrorKind::Internal, m))
}

/// The libsrtp behind every WebRTC and RTP endpoint's SRTP: the OpenSSL build linked in when
/// the program exports it (the server does), else the system's.
pub fn srtp_library() -> &'static rheo_srtp::Library {
    static LIBRARY: OnceCell<rheo_srtp::Library> = OnceCell::new();
    LIBRARY.get_or_init(rheo_srtp::library)
}

/// Whether [`init`] has run and succeeded (GStreamer ready, required elements present).
pub fn is_initialised() -> bool {
    INIT.get().is_some_and(|r| r.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn handles_are_send_sync_clone() {
        send_sync::<MediaPipeline>();
        send_sync::<Element>();
    }

    #[test]
    fn init_is_idempotent() {
        init().unwrap();
        init().unwrap();
        assert!(gst::ElementFactory::find("rheofaceoverlay").is_some());
    }
}
