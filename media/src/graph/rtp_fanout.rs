//! The one-to-many RTP path: a stream is packetized once per packetization (codec, MTU, H.264
//! mode) and the packets are forwarded to every RTP sender from the producer's own streaming
//! thread, each sender rewriting only the header fields its negotiation owns (payload type,
//! SSRC, sequence numbers and timestamps continuous across source switches).
//!
//! Nothing on this path grows with the number of receivers but the work itself: no payloader,
//! no queue and no thread per receiver. A sender whose transport is not ready yet (webrtcbin
//! blocks its input until DTLS keys are set) is skipped, never waited for, and a stalled
//! receiver costs the others nothing: sockets never block, its packets are dropped and counted
//! and it starts again at a keyframe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use gst::prelude::*;
use parking_lot::Mutex;

use crate::api_contract::MediaKind;
use crate::graph::flow::{FlowDir, FlowTracker};
use crate::graph::send_bitrate::SendBitrate;
use crate::graph::stream::{Consumer, Format, OutputContext};
use crate::{err, ErrorKind, Result};

/// Packets for an H.264 receiver in packetization mode 0 (single NAL unit: no FU-A fragments,
/// no STAP-A aggregates) may be this large, so that a NAL unit goes whole in one UDP datagram
/// (IP fragments it where the path needs).
pub(crate) const SINGLE_NAL_MTU: u32 = 65_000;

/// The fixed part of an RTP header.
const RTP_HEADER: usize = 12;

/// How a stream is cut into packets: receivers that agree on it share one payloader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Packetization {
    pub format: Format,
    pub mtu: u32,
    /// H.264 packetization-mode 0.
    pub single_nal: bool,
}

/// Process-wide counts for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanoutTotals {
    /// Payloaders running (one per source stream and packetization).
    pub packetizers: u64,
    /// Packets handed to receivers' transports.
    pub packets_forwarded: u64,
    /// Packets a receiver did not get: its transport not ready yet, waiting for a keyframe
    /// after a loss or a switch, or refused by its transport.
    pub packets_dropped: u64,
}

static PACKETIZERS: AtomicU64 = AtomicU64::new(0);
static FORWARDED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

pub fn totals() -> FanoutTotals {
    FanoutTotals {
        packetizers: PACKETIZERS.load(Ordering::Relaxed),
        packets_forwarded: FORWARDED.load(Ordering::Relaxed),
        packets_dropped: DROPPED.load(Ordering::Relaxed),
    }
}

/// The payloader of `p`, its packets sent with `ssrc` and `pt` (the shared ones are rewritten
/// per receiver).
pub(crate) fn payloader(p: Packetization, pt: u32, ssrc: u32) -> Result<gst::Element> {
    let mut mtu = p.mtu;
    let pay = match p.format {
        Format::Vp8 => {
            let pay = make("rtpvp8pay")?;
            pay.set_property_from_str("picture-id-mode", "15-bit");
            pay
        }
        Format::H264 => {
            let pay = make("rtph264pay")?;
            pay.set_property("config-interval", -1i32);
            if p.single_nal {
                mtu = SINGLE_NAL_MTU;
            }
            if pay.find_property("aggregate-mode").is_some() {
                let mode = if p.single_nal { "none" } else { "zero-latency" };
                pay.set_property_from_str("aggregate-mode", mode);
            }
            pay
        }
        Format::Opus => make("rtpopuspay")?,
        Format::Pcmu => make("rtppcmupay")?,
        Format::Pcma => make("rtppcmapay")?,
        Format::RawVideo | Format::RawAudio | Format::Data => {
            return Err(err(
                ErrorKind::Internal,
                "only VP8, H.264, Opus, PCMU and PCMA go over RTP",
            ))
        }
    };
    pay.set_property("pt", pt);
    pay.set_property("ssrc", ssrc);
    pay.set_property("mtu", mtu);
    Ok(pay)
}

pub(crate) fn make(factory: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| err(ErrorKind::Internal, format!("{factory}: {e}")))
}

/// One payloader for one source stream and packetization, fed synchronously from the
/// producer's streaming thread; the packets of each frame go to every sender in turn.
pub(crate) struct Packetizer {
    pub key: Packetization,
    ctx: Arc<OutputContext>,
    payloader: gst::Element,
    /// Pushes frames into the payloader (a pad of no element: no thread).
    feed: gst::Pad,
    /// Receives the payloader's packets, synchronously inside `feed.push`.
    collect: gst::Pad,
    packets: Arc<Mutex<Vec<gst::Buffer>>>,
    /// Serialises frames (a source switch can briefly have two producers).
    frame_lock: Mutex<Option<gst::Caps>>,
    senders: Mutex<Arc<Vec<Arc<RtpSender>>>>,
    pub(crate) subscription: Mutex<Option<u64>>,
    /// The stream's output: its senders' keyframe requests, merged, go there.
    upstream: Weak<dyn Upstream>,
    last_key_request: AtomicU64,
    torn_down: AtomicBool,
}

/// Keyframe requests from one packetizer's senders within this many milliseconds are one.
const KEYFRAME_MERGE_MS: u64 = 250;

impl Packetizer {
    pub(crate) fn new(
        ctx: &Arc<OutputContext>,
        key: Packetization,
        upstream: Weak<dyn Upstream>,
    ) -> Result<Arc<Packetizer>> {
        let pipeline = &ctx.pipeline;
        let payloader = payloader(key, 96, 1)?;
        let packets: Arc<Mutex<Vec<gst::Buffer>>> = Arc::default();
        let (into_list, into_one) = (packets.clone(), packets.clone());
        let collect = gst::Pad::builder(gst::PadDirection::Sink)
            .name("packets")
            .chain_function(move |_, _, buffer| {
                into_one.lock().push(buffer);
                Ok(gst::FlowSuccess::Ok)
            })
            .chain_list_function(move |_, _, list| {
                into_list.lock().extend(list.iter_owned());
                Ok(gst::FlowSuccess::Ok)
            })
            // The packets' caps are the payloader's; each sender has its own (see RtpSender).
            .event_function(|_, _, _| true)
            .build();
        let feed = gst::Pad::builder(gst::PadDirection::Src)
            .name("frames")
            .build();
        pipeline
            .add(&payloader)
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        let linked = feed
            .link(&payloader.static_pad("sink").expect("payloader sink"))
            .and_then(|_| {
                payloader
                    .static_pad("src")
                    .expect("payloader src")
                    .link(&collect)
            });
        if let Err(e) = linked {
            crate::graph::teardown::remove_from(pipeline.upcast_ref(), &payloader);
            return Err(err(ErrorKind::Internal, format!("packetizer: {e:?}")));
        }
        let _ = collect.set_active(true);
        let _ = feed.set_active(true);
        let _ = payloader.sync_state_with_parent();
        feed.push_event(gst::event::StreamStart::new(&format!(
            "rheo-packetizer-{:p}",
            &payloader
        )));
        PACKETIZERS.fetch_add(1, Ordering::Relaxed);
        ctx.packetizers.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(Packetizer {
            key,
            ctx: ctx.clone(),
            payloader,
            feed,
            collect,
            packets,
            frame_lock: Mutex::new(None),
            senders: Mutex::new(Arc::new(Vec::new())),
            subscription: Mutex::new(None),
            upstream,
            last_key_request: AtomicU64::new(0),
            torn_down: AtomicBool::new(false),
        }))
    }

    pub(crate) fn add(&self, sender: Arc<RtpSender>) {
        sender.reset();
        let mut senders = self.senders.lock();
        let mut list: Vec<_> = senders.iter().cloned().collect();
        list.push(sender);
        *senders = Arc::new(list);
    }

    /// Removes `sender`; the number left.
    pub(crate) fn remove(&self, sender: &Arc<RtpSender>) -> usize {
        let mut senders = self.senders.lock();
        let list: Vec<_> = senders
            .iter()
            .filter(|s| !Arc::ptr_eq(s, sender))
            .cloned()
            .collect();
        let left = list.len();
        *senders = Arc::new(list);
        left
    }

    pub(crate) fn teardown(&self) {
        if self.torn_down.swap(true, Ordering::SeqCst) {
            return;
        }
        *self.senders.lock() = Arc::new(Vec::new());
        let _ = self.feed.set_active(false);
        let _ = self.collect.set_active(false);
        crate::graph::teardown::remove_from(self.ctx.pipeline.upcast_ref(), &self.payloader);
        PACKETIZERS.fetch_sub(1, Ordering::Relaxed);
        self.ctx.packetizers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Consumer for Packetizer {
    fn push(&self, buffer: &gst::Buffer, caps: &gst::CapsRef) {
        let senders = self.senders.lock().clone();
        if senders.is_empty() || self.torn_down.load(Ordering::Relaxed) {
            return;
        }
        let mut current = self.frame_lock.lock();
        if current.as_ref().map(|c| c.as_ref()) != Some(caps) {
            let owned = caps.to_owned();
            self.feed.push_event(gst::event::Caps::new(&owned));
            if current.is_none() {
                let segment = gst::FormattedSegment::<gst::ClockTime>::new();
                self.feed.push_event(gst::event::Segment::new(&segment));
            }
            *current = Some(owned);
        }
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        if self.feed.push(buffer.clone()).is_err() {
            self.packets.lock().clear();
            return;
        }
        let packets = std::mem::take(&mut *self.packets.lock());
        drop(current);
        if packets.is_empty() {
            return;
        }
        for sender in senders.iter() {
            sender.send(&packets, keyframe);
        }
    }

    /// The source switched: every sender restarts at its next keyframe.
    fn reset(&self) {
        for sender in self.senders.lock().iter() {
            sender.reset();
        }
    }

    fn wanted_bitrate(&self) -> Option<u64> {
        self.senders
            .lock()
            .iter()
            .filter_map(|s| s.wanted_bitrate())
            .min()
    }
}

/// Where a sender's stream comes from (an element's output): asked for keyframes, and told
/// when the sender's receiver can take another bitrate.
pub(crate) trait Upstream: Send + Sync {
    fn request_keyframe(&self);
    fn adapt_bitrate(&self);
}

/// The senders' requests reach the stream's output merged: a presenter's loss or a switch
/// makes every receiver ask at once, and one keyframe serves them all.
impl Upstream for Packetizer {
    fn request_keyframe(&self) {
        let now = crate::graph::flow::now_ms();
        let last = self.last_key_request.load(Ordering::Relaxed);
        if now.saturating_sub(last) < KEYFRAME_MERGE_MS
            || self
                .last_key_request
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Some(upstream) = self.upstream.upgrade() {
            upstream.request_keyframe();
        }
    }

    fn adapt_bitrate(&self) {
        if let Some(upstream) = self.upstream.upgrade() {
            upstream.adapt_bitrate();
        }
    }
}

/// Whether a sender's transport takes packets now without blocking the caller.
pub(crate) type ReadyFn = Box<dyn Fn() -> bool + Send + Sync>;

/// One receiver's RTP stream: the shared packets with its own payload type, SSRC, sequence
/// numbers and timestamps, pushed into its transport (a webrtcbin sink pad) from the
/// producer's thread.
pub(crate) struct RtpSender {
    pad: gst::Pad,
    format: Format,
    pt: u8,
    ssrc: u32,
    clock_rate: u32,
    media: MediaKind,
    header: Mutex<HeaderState>,
    /// Its stream-start, caps and segment went out.
    announced: AtomicBool,
    ready: AtomicBool,
    is_ready: ReadyFn,
    need_key: AtomicBool,
    flow: Option<Arc<FlowTracker>>,
    producer: Mutex<Option<Weak<dyn Upstream>>>,
    last_key_request: AtomicU64,
    bitrate: OnceLock<Arc<SendBitrate>>,
}

struct HeaderState {
    seq: u16,
    ts_offset: u32,
    /// The last timestamp sent and when: a new source's timeline continues from it.
    last: Option<(u32, Instant)>,
    /// Rebase the timestamps at the next packet (after a start or a switch).
    rebase: bool,
}

impl RtpSender {
    /// A sender into `target` (a webrtcbin sink pad) with its negotiated `pt` and `ssrc`.
    /// `is_ready` says when `target` stops blocking (webrtcbin: negotiated, DTLS keys set).
    pub(crate) fn new(
        target: &gst::Pad,
        format: Format,
        pt: u32,
        clock_rate: u32,
        ssrc: u32,
        is_ready: ReadyFn,
        flow: Option<Arc<FlowTracker>>,
    ) -> Result<Arc<RtpSender>> {
        let sender = Arc::new_cyclic(|weak: &Weak<RtpSender>| {
            let keyframes = weak.clone();
            let answer = weak.clone();
            let pad = gst::Pad::builder(gst::PadDirection::Src)
                .name(format!("rtp-{ssrc:08x}"))
                .event_function(move |_, _, event| {
                    // A receiver's PLI/FIR reaches the sink pad as an upstream force-key-unit.
                    if gst_video::ForceKeyUnitEvent::is(&event) {
                        if let Some(s) = keyframes.upgrade() {
                            s.request_keyframe();
                        }
                    }
                    true
                })
                .query_function(move |_, _, query| {
                    if let gst::QueryViewMut::Caps(q) = query.view_mut() {
                        if let Some(s) = answer.upgrade() {
                            q.set_result(&s.caps());
                            return true;
                        }
                    }
                    false
                })
                .build();
            RtpSender {
                pad,
                format,
                pt: pt as u8,
                ssrc,
                clock_rate,
                media: format.media(),
                header: Mutex::new(HeaderState {
                    seq: random_u16(),
                    ts_offset: 0,
                    last: None,
                    rebase: true,
                }),
                announced: AtomicBool::new(false),
                ready: AtomicBool::new(false),
                is_ready,
                need_key: AtomicBool::new(true),
                flow,
                producer: Mutex::new(None),
                last_key_request: AtomicU64::new(0),
                bitrate: OnceLock::new(),
            }
        });
        sender
            .pad
            .link(target)
            .map_err(|e| err(ErrorKind::Internal, format!("link to transport: {e:?}")))?;
        let _ = sender.pad.set_active(true);
        Ok(sender)
    }

    /// What its receiver can take: an encoder feeding it keeps to the least of its receivers'.
    pub(crate) fn set_bitrate(&self, bitrate: Arc<SendBitrate>) {
        let _ = self.bitrate.set(bitrate);
    }

    pub(crate) fn wanted_bitrate(&self) -> Option<u64> {
        self.bitrate.get().map(|b| b.wanted())
    }

    /// Its receiver's bitrate changed: the encoder feeding it (if any) adapts.
    pub(crate) fn bitrate_changed(&self) {
        if let Some(producer) = self.producer() {
            producer.adapt_bitrate();
        }
    }

    /// Bound to `output` (or unbound). Its caps go out at the first binding, before any
    /// packet: webrtcbin links a sink pad to its transceiver's stream only once the pad has
    /// caps (and an endpoint never connected never makes it link one).
    pub(crate) fn set_producer(&self, output: Option<Weak<dyn Upstream>>) {
        let bound = output.is_some();
        *self.producer.lock() = output;
        if bound && !self.announced.swap(true, Ordering::SeqCst) {
            let pad = &self.pad;
            pad.push_event(gst::event::StreamStart::new(&format!(
                "rheo-rtp-{:08x}",
                self.ssrc
            )));
            pad.push_event(gst::event::Caps::new(&self.caps()));
            pad.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                gst::ClockTime,
            >::new()));
        }
    }

    fn producer(&self) -> Option<Arc<dyn Upstream>> {
        self.producer.lock().as_ref().and_then(Weak::upgrade)
    }

    /// Unlinks it from its transport (the endpoint's release or renegotiation): a push in
    /// progress finishes first.
    pub(crate) fn close(&self) {
        let _ = self.pad.set_active(false);
        if let Some(peer) = self.pad.peer() {
            let _ = self.pad.unlink(&peer);
        }
    }

    /// Restart at the next keyframe, its timestamps continuing from the last sent.
    pub(crate) fn reset(&self) {
        self.need_key.store(true, Ordering::Relaxed);
        self.last_key_request.store(0, Ordering::Relaxed);
    }

    /// Asks the producer for a keyframe, at most every 500 ms per sender.
    fn request_keyframe(&self) {
        let now = crate::graph::flow::now_ms();
        let last = self.last_key_request.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 500 {
            return;
        }
        self.last_key_request.store(now, Ordering::Relaxed);
        if let Some(producer) = self.producer() {
            producer.request_keyframe();
        }
    }

    fn drop_packets(&self, n: usize) {
        DROPPED.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// What it sends: the negotiated codec, payload type and SSRC (H.264 parameter sets go
    /// in-band, before each keyframe).
    fn caps(&self) -> gst::Caps {
        let (media, encoding) = self.format.rtp_names().unwrap_or(("video", "VP8"));
        gst::Caps::builder("application/x-rtp")
            .field("media", media)
            .field("encoding-name", encoding)
            .field("payload", self.pt as i32)
            .field("clock-rate", self.clock_rate as i32)
            .field("ssrc", self.ssrc)
            .build()
    }

    /// One frame's packets (`keyframe`: the frame is one), shared by every sender.
    fn send(&self, packets: &[gst::Buffer], keyframe: bool) {
        if !self.ready.load(Ordering::Relaxed) {
            if !(self.is_ready)() {
                self.drop_packets(packets.len());
                return;
            }
            self.ready.store(true, Ordering::Relaxed);
        }
        if self.need_key.load(Ordering::Relaxed) {
            if !keyframe {
                self.request_keyframe();
                self.drop_packets(packets.len());
                return;
            }
            self.need_key.store(false, Ordering::Relaxed);
            self.header.lock().rebase = true;
        }
        let mut header = self.header.lock();
        if header.rebase {
            let first_ts = packets.first().map(packet_timestamp).unwrap_or(0);
            let continue_at = match header.last {
                Some((ts, at)) => ts
                    .wrapping_add((at.elapsed().as_secs_f64() * self.clock_rate as f64) as u32)
                    .wrapping_add(1),
                None => random_u32(),
            };
            header.ts_offset = continue_at.wrapping_sub(first_ts);
            header.rebase = false;
        }
        let mut list = gst::BufferList::new_sized(packets.len());
        let mut last_ts = 0;
        {
            let list = list.get_mut().expect("new list");
            for packet in packets {
                let Some(rewritten) = self.rewrite(packet, &mut header, &mut last_ts) else {
                    continue;
                };
                list.add(rewritten);
            }
        }
        header.last = Some((last_ts, Instant::now()));
        if let Some(flow) = &self.flow {
            flow.mark(FlowDir::In, self.media);
            if flow.latency_on() {
                self.record_latency(flow, packets);
            }
        }
        let n = list.len();
        match self.pad.push_list(list) {
            Ok(_) => {
                FORWARDED.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => {
                // Not linked or flushing (released, renegotiated): start again at a keyframe.
                self.drop_packets(n);
                self.need_key.store(true, Ordering::Relaxed);
            }
        }
    }

    /// From the frame's entry into the pipeline (its PTS is that running time) to now.
    fn record_latency(&self, flow: &FlowTracker, packets: &[gst::Buffer]) {
        let transport = self.pad.peer().and_then(|p| p.parent_element());
        let (Some(pts), Some(now)) = (
            packets.first().and_then(|p| p.pts()),
            transport.and_then(|t| t.current_running_time()),
        ) else {
            return;
        };
        flow.record_latency(self.media, now.nseconds().saturating_sub(pts.nseconds()));
    }

    /// `packet` with this sender's payload type, SSRC, next sequence number and timestamp.
    fn rewrite(
        &self,
        packet: &gst::Buffer,
        header: &mut HeaderState,
        last_ts: &mut u32,
    ) -> Option<gst::Buffer> {
        let map = packet.map_readable().ok()?;
        if map.len() < RTP_HEADER {
            return None;
        }
        let mut out = gst::Buffer::with_size(map.len()).ok()?;
        {
            let out = out.get_mut().expect("new buffer");
            out.set_pts(packet.pts());
            out.set_flags(packet.flags());
            let mut bytes = out.map_writable().ok()?;
            bytes.copy_from_slice(&map);
            bytes[1] = (map[1] & 0x80) | (self.pt & 0x7f);
            bytes[2..4].copy_from_slice(&header.seq.to_be_bytes());
            let ts =
                u32::from_be_bytes([map[4], map[5], map[6], map[7]]).wrapping_add(header.ts_offset);
            bytes[4..8].copy_from_slice(&ts.to_be_bytes());
            bytes[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
            *last_ts = ts;
        }
        header.seq = header.seq.wrapping_add(1);
        Some(out)
    }
}

fn packet_timestamp(packet: &gst::Buffer) -> u32 {
    packet
        .map_readable()
        .ok()
        .filter(|m| m.len() >= RTP_HEADER)
        .map(|m| u32::from_be_bytes([m[4], m[5], m[6], m[7]]))
        .unwrap_or(0)
}

fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish() as u32
}

fn random_u16() -> u16 {
    random_u32() as u16
}

/// Per output: its packetizers by packetization.
pub(crate) type Packetizers = Mutex<HashMap<Packetization, Arc<Packetizer>>>;
