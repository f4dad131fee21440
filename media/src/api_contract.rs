//! THE CONTRACT between the control plane (`src/objects/`) and the media plane.
//! The control plane compiles against exactly these names. Bodies are filled in by the
//! media-plane implementation (move items into proper modules freely, but keep these public
//! paths re-exported from lib.rs with these signatures).
//!
//! All methods may block (state changes, webrtcbin promises): the control plane always calls them
//! from `tokio::task::spawn_blocking`, never from an async task. Nothing here knows JSON.

use std::sync::Arc;

/// Kurento's MediaType.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
    Data,
}

/// One media connection: `source`'s output of `media` feeds `sink`. DATA connections are kept
/// too, although no data flows between elements yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub source: String,
    pub sink: String,
    pub media: MediaKind,
}

/// Kurento's MediaState (BaseRtpEndpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaState {
    Disconnected,
    Connected,
}

/// Kurento's ConnectionState (BaseRtpEndpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    Disconnected,
    Connected,
}

/// Kurento's IceComponentState.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceComponentState {
    Disconnected,
    Gathering,
    Connecting,
    Connected,
    Ready,
    Failed,
}

/// Kurento's UriEndpointState: what a recorder or player is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriEndpointState {
    Stop,
    Start,
    Pause,
}

/// Something the media plane reports about one element. `element` is the object id given at
/// creation. Delivered through [`EventSink`] from any thread (streaming threads included), so the
/// sink never blocks.
#[derive(Debug, Clone)]
pub struct ElementEvent {
    pub element: String,
    pub event: MediaEvent,
}

#[derive(Debug, Clone)]
pub enum MediaEvent {
    IceCandidateFound {
        candidate: String,
        sdp_mid: String,
        sdp_mline_index: u32,
    },
    IceGatheringDone,
    IceComponentStateChanged {
        stream_id: u32,
        component_id: u32,
        state: IceComponentState,
    },
    NewCandidatePairSelected {
        stream_id: String,
        component_id: u32,
        local_candidate: String,
        remote_candidate: String,
    },
    MediaStateChanged {
        old: MediaState,
        new: MediaState,
    },
    ConnectionStateChanged {
        old: ConnectionState,
        new: ConnectionState,
    },
    MediaSessionStarted,
    /// An HttpPostEndpoint's upload ended (complete, or its connection lost for good).
    MediaSessionTerminated,
    DataChannelOpened {
        channel_id: i32,
    },
    DataChannelClosed {
        channel_id: i32,
    },
    /// An SRTP key of an RtpEndpoint nears the end of its lifetime.
    OnKeySoftLimit {
        media: MediaKind,
    },
    MediaFlowIn {
        media: MediaKind,
        flowing: bool,
    },
    MediaFlowOut {
        media: MediaKind,
        flowing: bool,
    },
    MediaTranscoding {
        media: MediaKind,
        transcoding: bool,
        bin: String,
    },
    /// A recorder or player changed state (`record`, `pause`, `stop`, ...).
    UriEndpointStateChanged {
        state: UriEndpointState,
    },
    /// A recorder wrote its first media after `record`.
    /// A player reached the end of its source.
    EndOfStream,
    Recording,
    /// A recorder paused.
    Paused,
    /// A recorder stopped and its file is complete.
    Stopped,
    /// An event declared by an SDK filter: its name and its fields as a JSON object.
    FilterEvent {
        event: String,
        data_json: String,
    },
    /// A runtime failure. `kind` is Kurento's Error `type` (e.g. "STREAM_ERROR_FAILED",
    /// "UNEXPECTED_ELEMENT_ERROR"), `code` the GStreamer error code.
    Error {
        description: String,
        code: i32,
        kind: String,
    },
    /// An element message posted by a filter inside this element (structure name starting with
    /// `rheo-`, e.g. `rheo-faces`), serialized as a GstStructure string. Added by the media plane.
    ElementMessage {
        name: String,
        structure: String,
    },
}

/// Never blocks; called from streaming threads.
pub type EventSink = Arc<dyn Fn(ElementEvent) + Send + Sync>;

/// Why a media-plane call failed. The control plane maps each kind to a Kurento error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// SDP text does not parse (40201 SDP_PARSE_ERROR).
    SdpParse,
    /// Offer/answer is valid SDP but unusable: no common codec, no media (40205/40206/40207).
    SdpNegotiation,
    /// processOffer/generateOffer after negotiation already happened (40208 ..ALREADY_NEGOTIATED).
    AlreadyNegotiated,
    /// processAnswer without a generated offer (40209 ..NOT_OFFER_GENERATED).
    NoOfferGenerated,
    /// processAnswer twice (40210).
    AnswerAlreadyProcessed,
    /// Local/remote descriptor requested before negotiation (40202/40203).
    NoLocalSdp,
    NoRemoteSdp,
    /// addIceCandidate failed (40401).
    IceCandidate,
    /// gatherCandidates failed (40400).
    IceGather,
    /// connect between incompatible elements (40004).
    Connect,
    /// Bad argument value (40001-like; the message says which).
    InvalidArgument,
    /// Anything else (40003).
    Internal,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

/// Server-wide WebRTC settings (from configuration); per-endpoint setters override.
#[derive(Debug, Clone)]
pub struct WebRtcSettings {
    pub stun_server_address: Option<String>,
    pub stun_server_port: Option<u16>,
    /// Kurento form: "user:password@address:port[?transport=udp|tcp]".
    pub turn_url: Option<String>,
    pub min_port: Option<u16>,
    pub max_port: Option<u16>,
    /// Announced instead of the host's IPv4 address in host candidates (1:1 NAT).
    pub external_ipv4: Option<String>,
    /// Announced instead of the host's IPv6 address in host candidates.
    pub external_ipv6: Option<String>,
    /// Addresses host candidates are gathered on (from KMS_NETWORK_INTERFACES); empty = all.
    pub local_addresses: Vec<std::net::IpAddr>,
    /// Whether ICE-TCP candidates are gathered (KMS_ICE_TCP).
    pub ice_tcp: bool,
    /// Largest RTP packet the payloaders produce (KMS_MTU).
    pub mtu: u32,
}

impl Default for WebRtcSettings {
    /// Kurento's defaults: ICE-TCP on, MTU 1200, everything else unset.
    fn default() -> Self {
        WebRtcSettings {
            stun_server_address: None,
            stun_server_port: None,
            turn_url: None,
            min_port: None,
            max_port: None,
            external_ipv4: None,
            external_ipv6: None,
            local_addresses: Vec::new(),
            ice_tcp: true,
            mtu: 1200,
        }
    }
}

/// Constructor options of WebRtcEndpoint.
#[derive(Debug, Clone, Default)]
pub struct WebRtcOptions {
    pub recvonly: bool,
    pub sendonly: bool,
    pub use_data_channels: bool,
}

/// One data channel's counters (Kurento's RTCDataChannelStats).
#[derive(Debug, Clone)]
pub struct DataChannelStats {
    pub id: i32,
    pub label: String,
    pub protocol: String,
    /// connecting, open, closing or closed.
    pub state: &'static str,
    pub messages_sent: u64,
    pub bytes_sent: u64,
    pub messages_received: u64,
    pub bytes_received: u64,
}

/// Kurento createDataChannel's parameters.
#[derive(Debug, Clone, Default)]
pub struct DataChannelOptions {
    pub label: String,
    pub ordered: bool,
    pub max_packet_lifetime_ms: Option<u32>,
    pub max_retransmits: Option<u32>,
    pub protocol: String,
}

#[derive(Debug, Clone, Copy)]
pub struct OfferOptions {
    pub offer_to_receive_audio: bool,
    pub offer_to_receive_video: bool,
}

/// One RTP stream's counters for getStats (Kurento "inboundrtp" / "outboundrtp").
#[derive(Debug, Clone, Default)]
pub struct RtpStats {
    pub inbound: bool,
    pub media: Option<MediaKind>,
    pub ssrc: u32,
    pub codec: String,
    pub packets: u64,
    pub bytes: u64,
    pub packets_lost: i64,
    pub jitter: f64,
    pub fraction_lost: f64,
    pub nack_count: u64,
    pub pli_count: u64,
    pub fir_count: u64,
    pub remb: u64,
}

/// The candidate pair in use, for getICECandidatePairs.
#[derive(Debug, Clone)]
pub struct CandidatePair {
    pub stream_id: String,
    pub component_id: u32,
    pub local_candidate: String,
    pub remote_candidate: String,
}

/// FaceOverlayFilter's image and geometry live in the filters crate (it draws them).
pub use rheo_filters::{OverlayGeometry, OverlayImage};
