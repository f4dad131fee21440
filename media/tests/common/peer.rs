//! A webrtcbin test peer that behaves like a browser: sends VP8 640x480@30 (a solid colour or a
//! still image, encoded in realtime) and optionally Opus, makes a sendrecv offer, trickles ICE and
//! decodes what it receives back into RGB frames.
//!
//! It depends only on GStreamer, so it is used both by this crate's tests (`mod common`) and,
//! through the `test-peer` feature, as `rheo_media::test_peer` by the server's tests.
//!
//! ```ignore
//! let peer = TestPeer::new(PeerConfig::color(0xff20c040))?;
//! let offer = peer.create_offer()?;            // send to the server (processOffer)
//! peer.set_answer(&answer)?;                   // the server's answer
//! for (mline, cand) in peer.take_local_candidates() { /* addIceCandidate on the server */ }
//! peer.add_remote_candidate(mline, &cand);     // the server's IceCandidateFound
//! assert!(peer.wait_frames(10, Duration::from_secs(10)));
//! let [r, g, b] = peer.mean_rgb_of_last_frame().unwrap();
//! ```
#![allow(dead_code)]

use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// The video codec the peer sends and offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    H264,
}

/// What the peer sends as video.
#[derive(Debug, Clone)]
pub enum VideoSource {
    /// videotestsrc solid colour, ARGB (0xAARRGGBB).
    Color(u32),
    /// A still image (e.g. /usr/share/doc/opencv-doc/examples/data/messi5.jpg) repeated at 30 fps.
    Image(String),
    /// Nothing: the peer only receives (VP8 video, and Opus audio `with_audio`), and counts the
    /// RTP packets without decoding them (a viewer that costs its process little).
    ReceiveOnly,
    /// A VP8 WebM file sent as it is, paced in real time, while what comes back is counted
    /// without decoding: a load peer that costs its process little.
    Prerecorded(String),
}

#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub video: VideoSource,
    pub audio: bool,
    pub width: u32,
    pub height: u32,
    /// Maximum distance between keyframes of the peer's encoder, in frames.
    pub keyframe_interval: u32,
    pub codec: VideoCodec,
    /// Gather host candidates on 127.0.0.1 only (the default: tests talk over loopback). When
    /// false, libnice picks the addresses itself (every interface but loopback).
    pub loopback_only: bool,
    /// webrtcbin's `stun-server`, e.g. `stun://198.51.100.20:3478`.
    pub stun_server: Option<String>,
    /// webrtcbin's `turn-server`, `turn://user:password@host:port` (user and password
    /// percent-encoded: webrtcbin unescapes them).
    pub turn_server: Option<String>,
    /// Writes each frame's number into its picture ([`read_frame_code`]), so a recording can
    /// be checked frame by frame.
    pub frame_coded: bool,
    /// NACK and RTX on every transceiver, as browsers have (`do-nack`).
    pub nack: bool,
    /// Fraction of the RTP packets the peer sends that it drops on their way out, after its
    /// retransmission buffer: lost on the network, so NACK can still recover them.
    pub send_loss: f64,
    /// Fraction of the RTP packets sent to the peer that it drops on arrival, before its jitter
    /// buffer (which then asks for them again with NACK).
    pub receive_loss: f64,
}

/// Bits of the frame number drawn into a frame-coded picture, as squares along the top
/// (1024 frames: 34 s at 30 fps).
pub const FRAME_CODE_BITS: usize = 10;
/// Side of one square, in pixels: large enough to survive an encoder's first, blurry frames.
pub const FRAME_CODE_BLOCK: usize = 64;

/// Draws `n` into the luma plane: square `i` is white when bit `i` of `n` is set.
pub fn write_frame_code(luma: &mut [u8], stride: usize, n: u32) {
    for bit in 0..FRAME_CODE_BITS {
        let value = if n >> bit & 1 == 1 { 235 } else { 16 };
        for y in 0..FRAME_CODE_BLOCK {
            let row = y * stride + bit * FRAME_CODE_BLOCK;
            luma[row..row + FRAME_CODE_BLOCK].fill(value);
        }
    }
}

/// The frame number of a frame-coded picture, from its luma plane.
pub fn read_frame_code(luma: &[u8], stride: usize) -> u32 {
    // The mean of each square's middle, away from the edges coding smears.
    let (from, to) = (FRAME_CODE_BLOCK / 4, FRAME_CODE_BLOCK * 3 / 4);
    let mean = |bit: usize| {
        let sum: u64 = (from..to)
            .flat_map(|y| (from..to).map(move |x| (y, x)))
            .map(|(y, x)| u64::from(luma[y * stride + bit * FRAME_CODE_BLOCK + x]))
            .sum();
        sum / ((to - from) * (to - from)) as u64
    };
    (0..FRAME_CODE_BITS)
        .filter(|&bit| mean(bit) > 128)
        .fold(0, |n, bit| n | 1 << bit)
}

impl PeerConfig {
    fn new(video: VideoSource) -> Self {
        PeerConfig {
            video,
            audio: false,
            width: 640,
            height: 480,
            keyframe_interval: 60,
            codec: VideoCodec::Vp8,
            loopback_only: true,
            stun_server: None,
            turn_server: None,
            frame_coded: false,
            nack: true,
            send_loss: 0.0,
            receive_loss: 0.0,
        }
    }
    pub fn color(argb: u32) -> Self {
        Self::new(VideoSource::Color(argb))
    }
    pub fn image(path: &str) -> Self {
        Self::new(VideoSource::Image(path.to_string()))
    }
    /// A cheap sender: `path` (VP8 WebM) as it is, and what it receives counted, not decoded.
    pub fn prerecorded(path: &str) -> Self {
        Self::new(VideoSource::Prerecorded(path.to_string()))
    }
    /// A viewer: receives only, counts RTP packets, decodes nothing.
    pub fn receive_only() -> Self {
        Self::new(VideoSource::ReceiveOnly)
    }
    /// Keyframes only every `frames` frames (a late joiner then depends on PLI/FIR).
    pub fn with_keyframe_interval(mut self, frames: u32) -> Self {
        self.keyframe_interval = frames;
        self
    }
    /// Number every frame in its picture ([`read_frame_code`]).
    pub fn with_frame_code(mut self) -> Self {
        self.frame_coded = true;
        self
    }
    /// Send and offer H.264 (x264, constrained baseline, packetization-mode 1) instead of VP8.
    pub fn with_h264(mut self) -> Self {
        self.codec = VideoCodec::H264;
        self
    }
    pub fn with_audio(mut self) -> Self {
        self.audio = true;
        self
    }
    /// Without NACK and RTX (`do-nack` off), as the test peer was before browsers' defaults.
    pub fn without_nack(mut self) -> Self {
        self.nack = false;
        self
    }
    /// Packet loss on the peer's network path: `send` of what it sends, `receive` of what it
    /// receives (fractions, e.g. 0.02).
    pub fn with_loss(mut self, send: f64, receive: f64) -> Self {
        self.send_loss = send;
        self.receive_loss = receive;
        self
    }
    /// Gather on the machine's (or network namespace's) real interfaces instead of 127.0.0.1.
    pub fn any_address(mut self) -> Self {
        self.loopback_only = false;
        self
    }
    /// Gather server-reflexive candidates from `url` (`stun://host:port`).
    pub fn with_stun(mut self, url: &str) -> Self {
        self.stun_server = Some(url.to_string());
        self
    }
    /// Gather relay candidates from `url` (`turn://user:password@host:port`, percent-encoded).
    pub fn with_turn(mut self, url: &str) -> Self {
        self.turn_server = Some(url.to_string());
        self
    }
}

/// Drops RTP packets at random where they meet the network: SRTP packets on their way to the
/// peer's ICE sink with probability `send` (after its RTX buffer kept them), and those from its
/// ICE source with probability `receive` (before its jitter buffer). DTLS and RTCP pass.
fn lose_packets(webrtcbin: &gst::Element, send: f64, receive: f64) -> Result<(), String> {
    let bin = webrtcbin
        .downcast_ref::<gst::Bin>()
        .ok_or("webrtcbin is a bin")?
        .clone();
    let seed = Arc::new(std::sync::atomic::AtomicU64::new(0x9e37_79b9_7f4a_7c15));
    let on_element = move |element: &gst::Element| {
        let factory = element.factory().map(|f| f.name().to_string());
        let (pad, loss) = match factory.as_deref() {
            Some("nicesink") => (element.static_pad("sink"), send),
            Some("nicesrc") => (element.static_pad("src"), receive),
            _ => return,
        };
        let Some(pad) = pad.filter(|_| loss > 0.0) else {
            return;
        };
        let seed = seed.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let is_rtp = info.buffer().is_some_and(|b| {
                let mut head = [0u8; 2];
                b.copy_to_slice(0, &mut head).is_ok()
                    && head[0] & 0xc0 == 0x80
                    && !(64..96).contains(&(head[1] & 0x7f))
            });
            if !is_rtp {
                return gst::PadProbeReturn::Ok;
            }
            // xorshift64: reproducible, and cheap on the streaming thread.
            let mut x = seed.load(std::sync::atomic::Ordering::Relaxed);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            seed.store(x, std::sync::atomic::Ordering::Relaxed);
            if ((x >> 11) as f64 / (1u64 << 53) as f64) < loss {
                gst::PadProbeReturn::Drop
            } else {
                gst::PadProbeReturn::Ok
            }
        });
    };
    for element in bin.iterate_recurse().into_iter().flatten() {
        on_element(&element);
    }
    bin.connect_deep_element_added(move |_, _, element| on_element(element));
    Ok(())
}

/// `text` percent-encoded for the user-info part of a URI (every byte but RFC 3986's unreserved).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One decoded frame received back, RGB 24-bit, tightly packed.
#[derive(Debug, Clone)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl Frame {
    /// Mean R, G, B of the rectangle (clipped to the frame).
    pub fn mean_rgb(&self, x: usize, y: usize, w: usize, h: usize) -> [f64; 3] {
        let (x1, y1) = ((x + w).min(self.width), (y + h).min(self.height));
        let mut sum = [0f64; 3];
        let mut n = 0f64;
        for yy in y.min(y1)..y1 {
            for xx in x.min(x1)..x1 {
                let o = (yy * self.width + xx) * 3;
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += self.rgb[o + c] as f64;
                }
                n += 1.0;
            }
        }
        if n == 0.0 {
            return [0.0; 3];
        }
        [sum[0] / n, sum[1] / n, sum[2] / n]
    }
    /// The frame number of a frame-coded picture (`None` when the picture is too small to
    /// carry one).
    pub fn frame_code(&self) -> Option<u32> {
        let width = FRAME_CODE_BITS * FRAME_CODE_BLOCK;
        if self.width < width || self.height < FRAME_CODE_BLOCK {
            return None;
        }
        // Grey from RGB, enough to tell the white squares from the black ones.
        let luma: Vec<u8> = self.rgb[..self.width * 3 * FRAME_CODE_BLOCK]
            .chunks_exact(3)
            .map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8)
            .collect();
        Some(read_frame_code(&luma, self.width))
    }

    pub fn mean_rgb_all(&self) -> [f64; 3] {
        self.mean_rgb(0, 0, self.width, self.height)
    }
}

#[derive(Default)]
struct Received {
    frames: u64,
    /// Receive-only peers: RTP packets received (not decoded).
    rtp_packets: u64,
    first_at: Option<Instant>,
    last: Option<Frame>,
    audio_buffers: u64,
    /// Frame codes read in received pictures, with when each arrived (the latest ones).
    arrivals: std::collections::VecDeque<(u32, Instant)>,
    /// The sequence number of the last video RTP packet out of the jitter buffer.
    video_seq: Option<u16>,
    /// Where a video RTP packet's sequence number did not follow the one before: by how much
    /// it moved (2: one packet missing; a renumbering gone wrong jumps anywhere).
    video_seq_jumps: Vec<u16>,
}

/// Arrivals kept: a minute of 30 fps video.
const ARRIVALS_KEPT: usize = 1800;

struct Shared {
    received: Mutex<Received>,
    cv: Condvar,
    local_candidates: Mutex<Vec<(u32, String)>>,
    /// The remote side's candidates: `a=candidate` lines of its description and trickled ones.
    remote_candidates: Mutex<Vec<String>>,
    keep_frames_from: AtomicU64,
    /// With frame codes: when each code (frame number modulo 2^FRAME_CODE_BITS) was sent.
    sent_at: Mutex<Vec<Option<Instant>>>,
    /// With frame codes: the frames encoded so far.
    frames_sent: AtomicU64,
}

pub struct TestPeer {
    pipeline: gst::Pipeline,
    webrtcbin: gst::Element,
    shared: Arc<Shared>,
}

fn promise_wait(
    webrtcbin: &gst::Element,
    signal: &str,
    arg: Option<gst::glib::Value>,
) -> Result<Option<gst::Structure>, String> {
    let (tx, rx) = mpsc::sync_channel(1);
    let promise = gst::Promise::with_change_func(move |reply| {
        let _ = tx.try_send(match reply {
            Ok(Some(s)) => Some(s.to_owned()),
            _ => None,
        });
    });
    let first = arg.unwrap_or_else(|| None::<gst::Structure>.to_value());
    webrtcbin.emit_by_name_with_values(signal, &[first, promise.to_value()]);
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| format!("{signal}: timeout"))
}

impl TestPeer {
    pub fn new(cfg: PeerConfig) -> Result<TestPeer, String> {
        gst::init().map_err(|e| e.to_string())?;
        let (w, h, kf) = (cfg.width, cfg.height, cfg.keyframe_interval);
        let video = match &cfg.video {
            VideoSource::ReceiveOnly | VideoSource::Prerecorded(_) => String::new(),
            VideoSource::Color(argb) => format!(
                "videotestsrc is-live=true pattern=solid-color foreground-color={argb} \
                 ! video/x-raw,width={w},height={h},framerate=30/1"
            ),
            VideoSource::Image(path) => format!(
                "filesrc location={path} ! decodebin ! videoconvert ! videoscale \
                 ! video/x-raw,width={w},height={h} ! imagefreeze is-live=true \
                 ! video/x-raw,framerate=30/1"
            ),
        };
        let encode = match cfg.codec {
            VideoCodec::Vp8 => format!(
                "vp8enc deadline=1 cpu-used=8 threads=1 end-usage=cbr target-bitrate=1500000 \
                 keyframe-max-dist={kf} lag-in-frames=0 \
                 ! rtpvp8pay pt=96 picture-id-mode=15-bit mtu=1200 \
                 ! application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000"
            ),
            VideoCodec::H264 => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast threads=1 bitrate=1500 \
                 key-int-max={kf} ! video/x-h264,profile=constrained-baseline \
                 ! rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency mtu=1200 \
                 ! application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,\
                 packetization-mode=(string)1"
            ),
        };
        let code = if cfg.frame_coded {
            "videoconvert ! video/x-raw,format=I420 ! identity name=framecode ! "
        } else {
            ""
        };
        let receive_only = matches!(cfg.video, VideoSource::ReceiveOnly);
        let count_only = matches!(
            cfg.video,
            VideoSource::ReceiveOnly | VideoSource::Prerecorded(_)
        );
        let mut desc = if receive_only {
            "webrtcbin name=peer bundle-policy=max-bundle ".to_string()
        } else if let VideoSource::Prerecorded(path) = &cfg.video {
            format!(
                "webrtcbin name=peer bundle-policy=max-bundle \
                 filesrc location={path} ! matroskademux ! clocksync \
                 ! rtpvp8pay pt=96 picture-id-mode=15-bit mtu=1200 \
                 ! application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000 \
                 ! peer. "
            )
        } else {
            format!(
                "webrtcbin name=peer bundle-policy=max-bundle \
                 {video} ! {code}videoconvert ! {encode} ! peer. "
            )
        };
        if cfg.audio && !receive_only {
            desc.push_str(
                "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc \
                 ! rtpopuspay pt=111 mtu=1200 \
                 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! peer. ",
            );
        }
        // One element alone (a receive-only peer's webrtcbin) is not wrapped in a pipeline.
        let pipeline = match gst::parse::launch(&desc)
            .map_err(|e| e.to_string())?
            .downcast::<gst::Pipeline>()
        {
            Ok(pipeline) => pipeline,
            Err(element) => {
                let pipeline = gst::Pipeline::new();
                pipeline.add(&element).map_err(|e| e.to_string())?;
                pipeline
            }
        };
        pipeline.set_property("name", "test-peer");
        let webrtcbin = pipeline.by_name("peer").ok_or("no webrtcbin")?;
        if receive_only {
            let mut wanted = vec![<gst::Caps as std::str::FromStr>::from_str(
                "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000",
            )
            .map_err(|e| e.to_string())?];
            if cfg.audio {
                wanted.push(
                    <gst::Caps as std::str::FromStr>::from_str(
                        "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000",
                    )
                    .map_err(|e| e.to_string())?,
                );
            }
            for caps in wanted {
                webrtcbin.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
                    "add-transceiver",
                    &[&gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly, &caps],
                );
            }
        }
        // Receiver reports about once a second, as browsers send them (rtpsession's own
        // minimum is 5 s).
        if let Some(rtpbin) = webrtcbin
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("rtpbin"))
            .and_then(|e| e.downcast::<gst::Bin>().ok())
        {
            rtpbin.connect_element_added(|_, element| {
                if element.factory().is_some_and(|f| f.name() == "rtpsession") {
                    element.set_property("rtcp-min-interval", 1_000_000_000u64);
                }
            });
        }
        if cfg.nack {
            for pad in webrtcbin.sink_pads() {
                pad.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver")
                    .set_property("do-nack", true);
            }
            let mut index = 0;
            while let Some(t) = webrtcbin.emit_by_name::<Option<gst_webrtc::WebRTCRTPTransceiver>>(
                "get-transceiver",
                &[&index],
            ) {
                t.set_property("do-nack", true);
                index += 1;
            }
        }
        if cfg.send_loss > 0.0 || cfg.receive_loss > 0.0 {
            lose_packets(&webrtcbin, cfg.send_loss, cfg.receive_loss)?;
        }
        if cfg.loopback_only {
            // Tests talk over loopback only (libnice skips it unless told).
            rheo_media::ice_addresses::restrict_gathering(&webrtcbin, &[[127, 0, 0, 1].into()])?;
        }
        if let Some(url) = &cfg.stun_server {
            webrtcbin.set_property("stun-server", url);
        }
        if let Some(url) = &cfg.turn_server {
            webrtcbin.set_property("turn-server", url);
        }
        let shared = Arc::new(Shared {
            received: Mutex::new(Received::default()),
            cv: Condvar::new(),
            local_candidates: Mutex::new(Vec::new()),
            remote_candidates: Mutex::new(Vec::new()),
            keep_frames_from: AtomicU64::new(0),
            sent_at: Mutex::new(vec![None; 1 << FRAME_CODE_BITS]),
            frames_sent: AtomicU64::new(0),
        });
        if let Some(identity) = pipeline.by_name("framecode") {
            let stride = (w as usize).next_multiple_of(4);
            let next = std::sync::atomic::AtomicU32::new(0);
            let shared = shared.clone();
            identity.static_pad("src").expect("identity src").add_probe(
                gst::PadProbeType::BUFFER,
                move |_, info| {
                    if let Some(buffer) = info.buffer_mut() {
                        if let Ok(mut map) = buffer.make_mut().map_writable() {
                            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            write_frame_code(map.as_mut_slice(), stride, n);
                            let code = n as usize % (1 << FRAME_CODE_BITS);
                            shared.sent_at.lock().unwrap()[code] = Some(Instant::now());
                            shared
                                .frames_sent
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
        let sh = shared.clone();
        webrtcbin.connect("on-ice-candidate", false, move |args| {
            let mline = args[1].get::<u32>().unwrap_or(0);
            let cand = args[2].get::<String>().unwrap_or_default();
            sh.local_candidates.lock().unwrap().push((mline, cand));
            sh.cv.notify_all();
            None
        });
        let sh = shared.clone();
        let pl = pipeline.downgrade();
        webrtcbin.connect_pad_added(move |_, pad| {
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            let Some(pipeline) = pl.upgrade() else { return };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_video = caps
                .structure(0)
                .is_some_and(|s| s.get::<&str>("media") == Ok("video"));
            if is_video {
                let seqs = sh.clone();
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    let seq = info.buffer().and_then(|b| {
                        let m = b.map_readable().ok()?;
                        (m.len() >= 4).then(|| u16::from_be_bytes([m[2], m[3]]))
                    });
                    if let Some(seq) = seq {
                        let mut r = seqs.received.lock().unwrap();
                        if let Some(last) = r.video_seq.filter(|l| l.wrapping_add(1) != seq) {
                            r.video_seq_jumps.push(seq.wrapping_sub(last));
                        }
                        r.video_seq = Some(seq);
                    }
                    gst::PadProbeReturn::Ok
                });
            }
            if count_only {
                let sink = gst::ElementFactory::make("fakesink")
                    .property("sync", false)
                    .property("async", false)
                    .build()
                    .expect("fakesink");
                let counted = sh.clone();
                sink.static_pad("sink").expect("sink").add_probe(
                    gst::PadProbeType::BUFFER,
                    move |_, _| {
                        counted.received.lock().unwrap().rtp_packets += 1;
                        gst::PadProbeReturn::Ok
                    },
                );
                pipeline.add(&sink).expect("add");
                let _ = sink.sync_state_with_parent();
                let _ = pad.link(&sink.static_pad("sink").expect("sink"));
                return;
            }
            let decodebin = gst::ElementFactory::make("decodebin")
                .build()
                .expect("decodebin");
            let sh2 = sh.clone();
            let pl2 = pipeline.downgrade();
            decodebin.connect_pad_added(move |_, dpad| {
                let Some(pipeline) = pl2.upgrade() else {
                    return;
                };
                let caps = dpad.current_caps().unwrap_or_else(|| dpad.query_caps(None));
                let name = caps
                    .structure(0)
                    .map(|s| s.name().to_string())
                    .unwrap_or_default();
                if name.starts_with("video/") {
                    let conv = gst::ElementFactory::make("videoconvert")
                        .build()
                        .expect("videoconvert");
                    let sink = gst_app::AppSink::builder()
                        .caps(
                            &gst::Caps::builder("video/x-raw")
                                .field("format", "RGB")
                                .build(),
                        )
                        .sync(false)
                        .build();
                    let sh3 = sh2.clone();
                    sink.set_callbacks(
                        gst_app::AppSinkCallbacks::builder()
                            .new_sample(move |s| {
                                let sample =
                                    s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                                let info = sample
                                    .caps()
                                    .and_then(|c| gst_video::VideoInfo::from_caps(c).ok());
                                let mut r = sh3.received.lock().unwrap();
                                r.frames += 1;
                                if r.first_at.is_none() {
                                    r.first_at = Some(Instant::now());
                                }
                                if let (Some(info), Some(buf)) = (info, sample.buffer()) {
                                    if let Ok(map) = buf.map_readable() {
                                        let (w, h) =
                                            (info.width() as usize, info.height() as usize);
                                        let stride = info.stride()[0] as usize;
                                        let mut rgb = Vec::with_capacity(w * h * 3);
                                        for row in 0..h {
                                            let o = row * stride;
                                            if o + w * 3 <= map.len() {
                                                rgb.extend_from_slice(&map[o..o + w * 3]);
                                            }
                                        }
                                        if rgb.len() == w * h * 3 {
                                            let frame = Frame {
                                                width: w,
                                                height: h,
                                                rgb,
                                            };
                                            if let Some(code) = frame.frame_code() {
                                                if r.arrivals.len() == ARRIVALS_KEPT {
                                                    r.arrivals.pop_front();
                                                }
                                                r.arrivals.push_back((code, Instant::now()));
                                            }
                                            r.last = Some(frame);
                                        }
                                    }
                                }
                                drop(r);
                                sh3.cv.notify_all();
                                Ok(gst::FlowSuccess::Ok)
                            })
                            .build(),
                    );
                    let els = [&conv, sink.upcast_ref::<gst::Element>()];
                    pipeline.add_many(els).expect("add");
                    gst::Element::link_many(els).expect("link");
                    for e in els {
                        let _ = e.sync_state_with_parent();
                    }
                    let _ = dpad.link(&conv.static_pad("sink").expect("sink"));
                } else {
                    let sink = gst::ElementFactory::make("fakesink")
                        .property("sync", false)
                        .property("async", false)
                        .build()
                        .expect("fakesink");
                    let sh3 = sh2.clone();
                    sink.static_pad("sink").expect("sink").add_probe(
                        gst::PadProbeType::BUFFER,
                        move |_, _| {
                            sh3.received.lock().unwrap().audio_buffers += 1;
                            sh3.cv.notify_all();
                            gst::PadProbeReturn::Ok
                        },
                    );
                    pipeline.add(&sink).expect("add");
                    let _ = sink.sync_state_with_parent();
                    let _ = dpad.link(&sink.static_pad("sink").expect("sink"));
                }
            });
            pipeline.add(&decodebin).expect("add decodebin");
            let _ = decodebin.sync_state_with_parent();
            let _ = pad.link(&decodebin.static_pad("sink").expect("sink"));
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| e.to_string())?;
        Ok(TestPeer {
            pipeline,
            webrtcbin,
            shared,
        })
    }

    /// A data channel opened from this side, as a browser's `createDataChannel` before the
    /// offer (the offer then has its m=application line).
    pub fn create_data_channel(&self, label: &str) -> PeerChannel {
        let channel = self
            .webrtcbin
            .emit_by_name::<gst_webrtc::WebRTCDataChannel>(
                "create-data-channel",
                &[&label, &None::<gst::Structure>],
            );
        let received: Arc<(Mutex<Vec<String>>, Condvar)> = Arc::default();
        let store = received.clone();
        channel.connect_on_message_string(move |_, text| {
            let (list, changed) = &*store;
            list.lock().unwrap().push(text.unwrap_or("").to_owned());
            changed.notify_all();
        });
        let store = received.clone();
        channel.connect_on_message_data(move |_, bytes| {
            let (list, changed) = &*store;
            let n = bytes.map_or(0, |b| b.len());
            list.lock().unwrap().push(format!("<{n} bytes>"));
            changed.notify_all();
        });
        PeerChannel { channel, received }
    }

    /// Creates and applies the local offer; returns its SDP text.
    pub fn create_offer(&self) -> Result<String, String> {
        let reply = promise_wait(&self.webrtcbin, "create-offer", None)?.ok_or("no offer")?;
        let offer = reply
            .get::<gst_webrtc::WebRTCSessionDescription>("offer")
            .map_err(|e| e.to_string())?;
        promise_wait(
            &self.webrtcbin,
            "set-local-description",
            Some(offer.to_value()),
        )?;
        offer.sdp().as_text().map_err(|e| e.to_string())
    }

    /// Answerer mode: applies a remote offer, creates and applies the local answer; returns it.
    pub fn answer_offer(&self, sdp: &str) -> Result<String, String> {
        self.record_remote_candidates(sdp);
        let msg = gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes()).map_err(|e| e.to_string())?;
        let desc = gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Offer, msg);
        let reply = promise_wait(
            &self.webrtcbin,
            "set-remote-description",
            Some(desc.to_value()),
        )?;
        if let Some(Ok(e)) = reply.as_ref().map(|r| r.get::<gst::glib::Error>("error")) {
            return Err(e.to_string());
        }
        let reply = promise_wait(&self.webrtcbin, "create-answer", None)?.ok_or("no answer")?;
        let answer = reply
            .get::<gst_webrtc::WebRTCSessionDescription>("answer")
            .map_err(|e| format!("{e}: {reply}"))?;
        promise_wait(
            &self.webrtcbin,
            "set-local-description",
            Some(answer.to_value()),
        )?;
        answer.sdp().as_text().map_err(|e| e.to_string())
    }

    /// Applies the remote answer.
    pub fn set_answer(&self, sdp: &str) -> Result<(), String> {
        self.record_remote_candidates(sdp);
        let msg = gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes()).map_err(|e| e.to_string())?;
        let desc =
            gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, msg);
        let reply = promise_wait(
            &self.webrtcbin,
            "set-remote-description",
            Some(desc.to_value()),
        )?;
        if let Some(r) = reply {
            if let Ok(e) = r.get::<gst::glib::Error>("error") {
                return Err(e.to_string());
            }
        }
        Ok(())
    }

    fn record_remote_candidates(&self, sdp: &str) {
        let lines = sdp
            .lines()
            .filter_map(|l| l.trim().strip_prefix("a="))
            .filter(|l| l.starts_with("candidate:"))
            .map(str::to_string);
        self.shared.remote_candidates.lock().unwrap().extend(lines);
    }

    /// Every candidate the remote side announced so far (in its description or trickled).
    pub fn remote_candidates(&self) -> Vec<String> {
        self.shared.remote_candidates.lock().unwrap().clone()
    }

    /// The pair ICE selected, from this peer's side: `(local, remote)` as
    /// `"<type> <address> <port>"`, e.g. `("relay 198.51.100.20 49160", "host 198.51.100.10 40000")`.
    pub fn selected_pair(&self) -> Option<(String, String)> {
        use gst_webrtc::prelude::*;
        let agent = self
            .webrtcbin
            .property::<Option<gst_webrtc::WebRTCICE>>("ice-agent")?;
        let transceiver = self
            .webrtcbin
            .emit_by_name::<Option<gst_webrtc::WebRTCRTPTransceiver>>(
                "get-transceiver",
                &[&0i32],
            )?;
        let dtls = transceiver.receiver()?.transport()?;
        let ice = dtls.property::<Option<gst_webrtc::WebRTCICETransport>>("transport")?;
        ice.find_property("stream")?;
        let stream = ice.property::<Option<gst_webrtc::WebRTCICEStream>>("stream")?;
        let (l, r) = agent.selected_pair(&stream)?;
        let fmt = |c: &gst_webrtc::WebRTCICECandidateStats| {
            format!(
                "{} {} {}",
                c.type_().unwrap_or("?"),
                c.ipaddr().unwrap_or("?"),
                c.port()
            )
        };
        Some((fmt(&l), fmt(&r)))
    }

    pub fn add_remote_candidate(&self, mline: u32, candidate: &str) {
        self.shared
            .remote_candidates
            .lock()
            .unwrap()
            .push(candidate.trim_start_matches("a=").to_string());
        self.webrtcbin
            .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
    }

    /// Local candidates gathered since the last call.
    pub fn take_local_candidates(&self) -> Vec<(u32, String)> {
        std::mem::take(&mut *self.shared.local_candidates.lock().unwrap())
    }

    /// Waits until at least `n` video frames were received in total.
    pub fn wait_frames(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut r = self.shared.received.lock().unwrap();
        while r.frames < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            r = self.shared.cv.wait_timeout(r, deadline - now).unwrap().0;
        }
        true
    }

    /// Waits until a frame satisfying `pred` arrives (checked on the latest frame).
    pub fn wait_frame_where(
        &self,
        timeout: Duration,
        pred: impl Fn(&Frame) -> bool,
    ) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut r = self.shared.received.lock().unwrap();
        let mut seen = 0;
        loop {
            if r.frames != seen {
                seen = r.frames;
                if let Some(f) = r.last.as_ref() {
                    if pred(f) {
                        return Some(f.clone());
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            r = self.shared.cv.wait_timeout(r, deadline - now).unwrap().0;
        }
    }

    pub fn wait_audio(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut r = self.shared.received.lock().unwrap();
        while r.audio_buffers < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            r = self.shared.cv.wait_timeout(r, deadline - now).unwrap().0;
        }
        true
    }

    /// With frame codes: the frames this peer has sent.
    pub fn frames_sent(&self) -> u64 {
        self.shared
            .frames_sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// With frame codes: when this peer sent the frame whose code is `code`.
    pub fn frame_sent_at(&self, code: u32) -> Option<Instant> {
        let sent = self.shared.sent_at.lock().unwrap();
        sent.get(code as usize).copied().flatten()
    }

    /// The frame codes read in the pictures received since `since`, with when each arrived
    /// (the first arrival of each code).
    pub fn frame_arrivals(&self, since: Instant) -> Vec<(u32, Instant)> {
        let r = self.shared.received.lock().unwrap();
        let mut seen = std::collections::HashSet::new();
        r.arrivals
            .iter()
            .filter(|(code, at)| *at >= since && seen.insert(*code))
            .copied()
            .collect()
    }

    /// The video RTP packets (out of the jitter buffer) whose sequence number did not follow
    /// the previous packet's, each as how far it moved: small forward steps are packets lost
    /// for good on the way, anything else a sender's renumbering gone wrong.
    pub fn video_sequence_jumps(&self) -> Vec<u16> {
        self.shared.received.lock().unwrap().video_seq_jumps.clone()
    }

    /// Stops reading its sockets, as a frozen tab does: the ICE source threads block, so what
    /// is sent to it piles up in the kernel and is dropped there. For good.
    pub fn stop_reading(&self) {
        let sources: Vec<gst::Element> = self
            .webrtcbin
            .downcast_ref::<gst::Bin>()
            .expect("webrtcbin is a bin")
            .iterate_recurse()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.factory().is_some_and(|f| f.name() == "nicesrc"))
            .collect();
        assert!(!sources.is_empty(), "webrtcbin has no nicesrc");
        for source in sources {
            source
                .static_pad("src")
                .expect("nicesrc src")
                .add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| {
                    gst::PadProbeReturn::Ok
                });
        }
    }

    /// Receive-only peers: the RTP packets received so far.
    pub fn packets_received(&self) -> u64 {
        self.shared.received.lock().unwrap().rtp_packets
    }

    pub fn frames_received(&self) -> u64 {
        self.shared.received.lock().unwrap().frames
    }
    pub fn first_frame_at(&self) -> Option<Instant> {
        self.shared.received.lock().unwrap().first_at
    }
    pub fn last_frame(&self) -> Option<Frame> {
        self.shared.received.lock().unwrap().last.clone()
    }
    pub fn mean_rgb_of_last_frame(&self) -> Option<[f64; 3]> {
        self.last_frame().map(|f| f.mean_rgb_all())
    }
    /// Waits (bounded) for the next local candidate batch; returns what is there.
    pub fn wait_local_candidates(&self, timeout: Duration) -> Vec<(u32, String)> {
        let deadline = Instant::now() + timeout;
        let mut c = self.shared.local_candidates.lock().unwrap();
        while c.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            c = self.shared.cv.wait_timeout(c, deadline - now).unwrap().0;
        }
        std::mem::take(&mut *c)
    }
    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// A data channel of a [`TestPeer`], with the messages it received (binary ones as
/// `<n bytes>`).
pub struct PeerChannel {
    pub channel: gst_webrtc::WebRTCDataChannel,
    received: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl PeerChannel {
    pub fn wait_open(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.channel.ready_state() != gst_webrtc::WebRTCDataChannelState::Open {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn send_text(&self, text: &str) {
        self.channel
            .send_string_full(Some(text))
            .expect("the channel sends");
    }

    pub fn send_bytes(&self, bytes: &[u8]) {
        self.channel
            .send_data_full(Some(&gst::glib::Bytes::from(bytes)))
            .expect("the channel sends");
    }

    /// Waits until `n` messages arrived; returns those received by then.
    pub fn wait_messages(&self, n: usize, timeout: Duration) -> Vec<String> {
        let (list, changed) = &*self.received;
        let deadline = Instant::now() + timeout;
        let mut got = list.lock().unwrap();
        while got.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            got = changed.wait_timeout(got, deadline - now).unwrap().0;
        }
        got.clone()
    }
}
