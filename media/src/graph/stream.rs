//! What flows between elements: the media formats, the consumer of an output's buffers, and
//! what outputs need of their pipeline.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::api_contract::{EventSink, MediaKind};

/// The media type of data channel messages inside Rheo.
pub const DATA_CAPS: &str = "application/x-rheo-data";

/// The caps of one data message: whether it is binary, and the label of its channel (empty
/// when it comes from an element, not a channel).
pub fn data_message_caps(binary: bool, label: &str) -> gst::Caps {
    gst::Caps::builder(DATA_CAPS)
        .field("binary", binary)
        .field("label", label)
        .build()
}

/// What [`data_message_caps`] says: (binary, label). Missing fields mean binary, no label.
pub fn data_message_kind(caps: &gst::CapsRef) -> (bool, String) {
    let s = caps.structure(0);
    let binary = s.and_then(|s| s.get::<bool>("binary").ok()).unwrap_or(true);
    let label = s
        .and_then(|s| s.get::<String>("label").ok())
        .unwrap_or_default();
    (binary, label)
}

/// A media format carried between elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Vp8,
    H264,
    Opus,
    /// G.711 µ-law (8 kHz, mono), as RTP peers and SIP gateways send it.
    Pcmu,
    /// G.711 A-law (8 kHz, mono).
    Pcma,
    /// Decoded video, I420.
    RawVideo,
    /// Decoded audio, 16-bit 48 kHz stereo (what the audio encoders start from).
    RawAudio,
    /// Data channel messages: one buffer per message, its caps saying whether it is text or
    /// binary and which channel label it came from.
    Data,
}

impl Format {
    pub fn media(self) -> MediaKind {
        match self {
            Format::Opus | Format::Pcmu | Format::Pcma | Format::RawAudio => MediaKind::Audio,
            Format::Data => MediaKind::Data,
            Format::Vp8 | Format::H264 | Format::RawVideo => MediaKind::Video,
        }
    }
    pub fn is_raw(self) -> bool {
        matches!(self, Format::RawVideo | Format::RawAudio)
    }
    /// The decoded format of `media`, through which every transcoding of it goes.
    pub fn raw(media: MediaKind) -> Option<Format> {
        match media {
            MediaKind::Video => Some(Format::RawVideo),
            MediaKind::Audio => Some(Format::RawAudio),
            MediaKind::Data => None,
        }
    }
    /// Generic caps used for appsrc/appsink boundaries.
    pub fn caps(self) -> gst::Caps {
        match self {
            Format::Vp8 => gst::Caps::builder("video/x-vp8").build(),
            Format::H264 => gst::Caps::builder("video/x-h264")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
            Format::Opus => gst::Caps::builder("audio/x-opus").build(),
            Format::Pcmu => gst::Caps::builder("audio/x-mulaw").build(),
            Format::Pcma => gst::Caps::builder("audio/x-alaw").build(),
            Format::RawVideo => gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .build(),
            Format::RawAudio => gst::Caps::builder("audio/x-raw")
                .field("format", "S16LE")
                .field("layout", "interleaved")
                .build(),
            Format::Data => gst::Caps::builder(DATA_CAPS).build(),
        }
    }
    /// `native` if `accepted` lists it, else the first accepted format (reached by transcoding).
    pub fn preferred(accepted: &[Format], native: Format) -> Format {
        if accepted.contains(&native) {
            native
        } else {
            accepted.first().copied().unwrap_or(native)
        }
    }
    /// The RTP media and encoding names of an RTP-carried format.
    pub fn rtp_names(self) -> Option<(&'static str, &'static str)> {
        match self {
            Format::Vp8 => Some(("video", "VP8")),
            Format::H264 => Some(("video", "H264")),
            Format::Opus => Some(("audio", "OPUS")),
            Format::Pcmu => Some(("audio", "PCMU")),
            Format::Pcma => Some(("audio", "PCMA")),
            Format::RawVideo | Format::RawAudio | Format::Data => None,
        }
    }
    pub fn codec_name(self) -> &'static str {
        match self {
            Format::Vp8 => "VP8",
            Format::H264 => "H264",
            Format::Opus => "OPUS",
            Format::Pcmu => "PCMU",
            Format::Pcma => "PCMA",
            Format::RawVideo | Format::RawAudio => "RAW",
            Format::Data => "DATA",
        }
    }
}

/// Something that accepts buffers from a output. `push` runs on a streaming thread: never blocks.
pub trait Consumer: Send + Sync {
    fn push(&self, buffer: &gst::Buffer, caps: &gst::CapsRef);
    /// Called when the consumer is (re)attached to a producer: it must restart at a keyframe.
    fn reset(&self) {}
    /// The video bitrate its receiver can take (bits per second), when it knows one.
    fn wanted_bitrate(&self) -> Option<u64> {
        None
    }
}

/// What outputs need from their pipeline to build transcoders.
pub struct OutputContext {
    pub pipeline: gst::Pipeline,
    pub events: EventSink,
    pub encoders: std::sync::atomic::AtomicUsize,
    pub decoders: std::sync::atomic::AtomicUsize,
    pub packetizers: std::sync::atomic::AtomicUsize,
    pub next_id: AtomicU64,
}

impl OutputContext {
    pub fn next(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}
