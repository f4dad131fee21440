//! Rust-side fan-out between media elements.
//!
//! Every element output (per media type) is an [`Output`]: buffers arrive from an appsink callback
//! (streaming thread) and are handed to every subscribed [`Consumer`]. Consumers are appsrc-based
//! inputs of other elements, so a flow error in one consumer never reaches the producer, and
//! replacing/disconnecting a connection is a list operation.
//!
//! An output can derive other formats from its native one: decoded raw video (one decoder per source
//! stream, shared by all raw consumers) and re-encoded video (one realtime encoder per
//! (source, codec), shared by all viewers).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use gst::prelude::*;
use parking_lot::Mutex;

use crate::api_contract::{ElementEvent, MediaEvent, MediaKind};
use crate::graph::flow::{FlowDir, FlowTracker};
use crate::graph::rtp_fanout::{Packetization, Packetizer, Packetizers, RtpSender, Upstream};
use crate::graph::send_bitrate::SendBitrate;
pub use crate::graph::stream::{
    data_message_caps, data_message_kind, Consumer, Format, OutputContext,
};
use crate::{err, ErrorKind, Result};

/// An appsrc fed from a output. Drops delta frames until a keyframe after (re)attachment or after an
/// overflow, and asks the producer for a keyframe when it has to wait.
pub struct AppSrcConsumer {
    appsrc: gst_app::AppSrc,
    caps: Mutex<Option<gst::Caps>>,
    need_key: AtomicBool,
    encoded: bool,
    max_level: u64,
    flow: Option<(Arc<FlowTracker>, MediaKind)>,
    keyframe: Mutex<Option<Weak<Output>>>,
    last_key_request: AtomicU64,
    bitrate: std::sync::OnceLock<Arc<SendBitrate>>,
}

impl AppSrcConsumer {
    pub fn new(
        appsrc: gst_app::AppSrc,
        encoded: bool,
        flow: Option<(Arc<FlowTracker>, MediaKind)>,
    ) -> Arc<Self> {
        Arc::new(Self {
            appsrc,
            caps: Mutex::new(None),
            need_key: AtomicBool::new(true),
            encoded,
            max_level: if encoded { 300 } else { 3 },
            flow,
            keyframe: Mutex::new(None),
            last_key_request: AtomicU64::new(0),
            bitrate: std::sync::OnceLock::new(),
        })
    }

    /// What its receiver can take: an encoder feeding it keeps to the least of its consumers'.
    pub(crate) fn set_bitrate(&self, bitrate: Arc<SendBitrate>) {
        let _ = self.bitrate.set(bitrate);
    }

    /// Its receiver's bitrate changed: the encoder feeding it (if any) adapts.
    pub(crate) fn bitrate_changed(&self) {
        let producer = self.keyframe.lock().as_ref().and_then(Weak::upgrade);
        if let Some(producer) = producer {
            producer.adapt_bitrate();
        }
    }

    /// Builds the standard live appsrc used at element inputs.
    pub fn make_appsrc(name: &str) -> gst_app::AppSrc {
        gst_app::AppSrc::builder()
            .name(name)
            .is_live(true)
            .format(gst::Format::Time)
            .do_timestamp(false)
            .stream_type(gst_app::AppStreamType::Stream)
            .build()
    }

    /// The caps of what it takes, once the first buffer came.
    pub fn current_caps(&self) -> Option<gst::Caps> {
        self.caps.lock().clone()
    }

    fn set_producer(&self, hub: Option<&Arc<Output>>) {
        *self.keyframe.lock() = hub.map(Arc::downgrade);
    }

    /// A downstream peer (browser PLI/FIR) asked this input for a keyframe.
    pub(crate) fn forward_keyframe_request(&self) {
        self.ask_keyframe();
    }

    fn ask_keyframe(&self) {
        let now = crate::graph::flow::now_ms();
        let last = self.last_key_request.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 500 {
            return;
        }
        self.last_key_request.store(now, Ordering::Relaxed);
        let hub = self.keyframe.lock().as_ref().and_then(Weak::upgrade);
        if let Some(hub) = hub {
            hub.request_keyframe();
        }
    }
}

impl Consumer for AppSrcConsumer {
    fn push(&self, buffer: &gst::Buffer, caps: &gst::CapsRef) {
        if self.encoded && self.need_key.load(Ordering::Relaxed) {
            if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                self.ask_keyframe();
                return;
            }
            self.need_key.store(false, Ordering::Relaxed);
        }
        if self.appsrc.current_level_buffers() >= self.max_level {
            // Consumer is stuck: drop. Encoded streams must then restart at a keyframe.
            if self.encoded {
                self.need_key.store(true, Ordering::Relaxed);
            }
            return;
        }
        {
            let mut cur = self.caps.lock();
            if cur.as_ref().map(|c| c.as_ref()) != Some(caps) {
                let owned = caps.to_owned();
                self.appsrc.set_caps(Some(&owned));
                *cur = Some(owned);
            }
        }
        if let Some((flow, media)) = &self.flow {
            flow.mark(FlowDir::In, *media);
            if flow.latency_on() {
                // Buffers carry the running time at which they entered the pipeline.
                if let (Some(pts), Some(now)) = (buffer.pts(), self.appsrc.current_running_time()) {
                    flow.record_latency(*media, now.nseconds().saturating_sub(pts.nseconds()));
                }
            }
        }
        let _ = self.appsrc.push_buffer(buffer.clone());
    }

    fn reset(&self) {
        self.need_key.store(true, Ordering::Relaxed);
        self.last_key_request.store(0, Ordering::Relaxed);
    }

    fn wanted_bitrate(&self) -> Option<u64> {
        self.bitrate.get().map(|b| b.wanted())
    }
}

/// How a output asks its upstream for a keyframe.
pub type KeyframeFn = Box<dyn Fn() + Send + Sync>;
/// How an encoder's output sets the encoder's bitrate (bits per second).
pub type BitrateFn = Box<dyn Fn(u64) + Send + Sync>;

/// Told when an output's stream ends for good (a played file's end).
pub trait StreamEndListener: Send + Sync {
    fn stream_ended(self: Arc<Self>, output: &Output);
}

struct Sub {
    id: u64,
    consumer: Arc<dyn Consumer>,
}

/// One output stream of an element, fanned out to any number of consumers.
pub struct Output {
    pub owner: String,
    pub media: MediaKind,
    ctx: Arc<OutputContext>,
    format: Mutex<Option<Format>>,
    subs: Mutex<Arc<Vec<Sub>>>,
    keyframe: Mutex<Option<Arc<KeyframeFn>>>,
    /// An encoder's output: sets the encoder's bitrate.
    bitrate: Mutex<Option<Arc<BitrateFn>>>,
    derived: Mutex<HashMap<Format, Arc<Transcoder>>>,
    /// The RTP packetizations of this stream its RTP senders share.
    packetizers: Packetizers,
    flow: Option<Arc<FlowTracker>>,
    end_listeners: Mutex<Vec<Weak<dyn StreamEndListener>>>,
}

impl Output {
    pub fn new(
        owner: &str,
        media: MediaKind,
        ctx: Arc<OutputContext>,
        flow: Option<Arc<FlowTracker>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            owner: owner.to_string(),
            media,
            ctx,
            format: Mutex::new(None),
            subs: Mutex::new(Arc::new(Vec::new())),
            keyframe: Mutex::new(None),
            bitrate: Mutex::new(None),
            derived: Mutex::new(HashMap::new()),
            packetizers: Mutex::new(HashMap::new()),
            flow,
            end_listeners: Mutex::new(Vec::new()),
        })
    }

    /// Registers `listener` for the end of this stream (once per listener).
    pub fn listen_for_end(&self, listener: Weak<dyn StreamEndListener>) {
        let mut listeners = self.end_listeners.lock();
        listeners.retain(|l| l.strong_count() > 0);
        if !listeners.iter().any(|l| Weak::ptr_eq(l, &listener)) {
            listeners.push(listener);
        }
    }

    /// The stream has ended: tells the listeners (from any thread).
    pub fn end_of_stream(&self) {
        let listeners: Vec<_> = self
            .end_listeners
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for listener in listeners {
            listener.stream_ended(self);
        }
    }

    pub fn format(&self) -> Option<Format> {
        *self.format.lock()
    }
    pub fn set_format(&self, f: Option<Format>) {
        *self.format.lock() = f;
    }
    pub fn set_keyframe_fn(&self, f: Option<KeyframeFn>) {
        *self.keyframe.lock() = f.map(Arc::new);
    }

    /// Asks upstream (sending browser or encoder) for a keyframe. Callable from any thread.
    pub fn request_keyframe(&self) {
        let f = self.keyframe.lock().clone();
        if let Some(f) = f {
            f();
        }
    }

    /// An encoder's output: encode at the least bitrate its consumers' receivers can take (one
    /// encoder serves every consumer of its format). Callable from any thread.
    pub fn adapt_bitrate(&self) {
        let Some(set) = self.bitrate.lock().clone() else {
            return;
        };
        let subs = self.subs.lock().clone();
        if let Some(least) = subs
            .iter()
            .filter_map(|s| s.consumer.wanted_bitrate())
            .min()
        {
            set(least);
        }
    }

    /// Streaming thread: hand one buffer to every consumer.
    pub fn push(&self, buffer: &gst::Buffer, caps: &gst::CapsRef) {
        if let Some(flow) = &self.flow {
            flow.mark(FlowDir::Out, self.media);
        }
        let subs = self.subs.lock().clone();
        for s in subs.iter() {
            s.consumer.push(buffer, caps);
        }
    }

    /// Every consumer restarts at the next keyframe (the stream switched to another source).
    pub fn restart_consumers(&self) {
        let subs = self.subs.lock().clone();
        for s in subs.iter() {
            s.consumer.reset();
        }
    }

    pub fn consumer_count(&self) -> usize {
        self.subs.lock().len()
    }

    fn add(self: &Arc<Self>, consumer: Arc<dyn Consumer>) -> u64 {
        let id = self.ctx.next();
        consumer.reset();
        let mut subs = self.subs.lock();
        let mut v: Vec<Sub> = subs
            .iter()
            .map(|s| Sub {
                id: s.id,
                consumer: s.consumer.clone(),
            })
            .collect();
        v.push(Sub { id, consumer });
        *subs = Arc::new(v);
        drop(subs);
        // A consumer joining a live stream needs a keyframe now.
        self.request_keyframe();
        self.adapt_bitrate();
        id
    }

    fn remove(&self, id: u64) -> bool {
        let mut subs = self.subs.lock();
        let before = subs.len();
        let v: Vec<Sub> = subs
            .iter()
            .filter(|s| s.id != id)
            .map(|s| Sub {
                id: s.id,
                consumer: s.consumer.clone(),
            })
            .collect();
        let removed = v.len() != before;
        *subs = Arc::new(v);
        drop(subs);
        if removed {
            self.adapt_bitrate();
        }
        removed
    }

    /// Subscribes `consumer` to this output's stream in `want` format, building (or sharing) the
    /// decoder/encoder needed. Returns a handle that unsubscribes.
    pub fn subscribe(
        self: &Arc<Self>,
        want: Format,
        consumer: Arc<AppSrcConsumer>,
    ) -> Result<Subscription> {
        let hub = self.stream_for(want)?;
        consumer.set_producer(Some(&hub));
        let id = hub.add(consumer.clone());
        Ok(Subscription {
            hub,
            id,
            consumer: Some(consumer),
            root: self.clone(),
            rtp: None,
        })
    }

    /// Subscribes an RTP sender to this output's stream in `want` format (transcoded once if
    /// needed), packetized as `packetization` by a payloader every such sender shares.
    pub(crate) fn subscribe_rtp(
        self: &Arc<Self>,
        want: Format,
        packetization: Packetization,
        sender: Arc<RtpSender>,
    ) -> Result<Subscription> {
        let hub = self.stream_for(want)?;
        let packetizer = hub.packetizer(packetization)?;
        let upstream: Arc<dyn Upstream> = packetizer.clone();
        sender.set_producer(Some(Arc::downgrade(&upstream)));
        packetizer.add(sender.clone());
        // A receiver joining a live stream needs a keyframe now.
        hub.request_keyframe();
        hub.adapt_bitrate();
        Ok(Subscription {
            hub,
            id: 0,
            consumer: None,
            root: self.clone(),
            rtp: Some((packetizer, sender)),
        })
    }

    /// The packetizer of `key` for this stream, started with its first sender.
    fn packetizer(self: &Arc<Self>, key: Packetization) -> Result<Arc<Packetizer>> {
        let mut packetizers = self.packetizers.lock();
        if let Some(p) = packetizers.get(&key) {
            return Ok(p.clone());
        }
        let output: Arc<dyn Upstream> = self.clone();
        let p = Packetizer::new(&self.ctx, key, Arc::downgrade(&output))?;
        let id = self.add(p.clone());
        *p.subscription.lock() = Some(id);
        packetizers.insert(key, p.clone());
        Ok(p)
    }

    /// Stops `packetizer` (its last sender left).
    fn drop_packetizer(&self, packetizer: &Arc<Packetizer>) {
        let removed = {
            let mut packetizers = self.packetizers.lock();
            match packetizers.get(&packetizer.key) {
                Some(p) if Arc::ptr_eq(p, packetizer) => packetizers.remove(&packetizer.key),
                _ => None,
            }
        };
        if let Some(id) = *packetizer.subscription.lock() {
            self.remove(id);
        }
        drop(removed);
        packetizer.teardown();
    }

    /// Subscribes a plain consumer to the native stream (no format conversion).
    pub fn subscribe_native(self: &Arc<Self>, consumer: Arc<dyn Consumer>) -> Subscription {
        let id = self.add(consumer);
        Subscription {
            hub: self.clone(),
            id,
            consumer: None,
            root: self.clone(),
            rtp: None,
        }
    }

    fn stream_for(self: &Arc<Self>, want: Format) -> Result<Arc<Output>> {
        let native = self
            .format()
            .ok_or_else(|| err(ErrorKind::Connect, "source format not known yet"))?;
        if native == want {
            return Ok(self.clone());
        }
        if native.media() != want.media() {
            return Err(err(ErrorKind::Connect, "media types differ"));
        }
        let raw = Format::raw(want.media())
            .ok_or_else(|| err(ErrorKind::Connect, "data messages are not transcoded"))?;
        if let Some(t) = self.derived.lock().get(&want) {
            return Ok(t.output.clone());
        }
        let t = if want == raw {
            Transcoder::decoder(self, native)?
        } else if native == raw {
            Transcoder::encoder(self, want)?
        } else {
            // encoded -> raw -> other codec: share the decoder, add one encoder.
            let raw_hub = self.stream_for(raw)?;
            Transcoder::encoder(&raw_hub, want)?
        };
        // An encoder derived via the raw hub is registered on the raw hub; record it here too so
        // lookups by this hub find it.
        self.derived.lock().insert(want, t.clone());
        Ok(t.output.clone())
    }

    /// Tears down transcoders that lost their last consumer. API threads only.
    fn gc(self: &Arc<Self>) {
        let dead: Vec<(Format, Arc<Transcoder>)> = {
            let mut d = self.derived.lock();
            let keys: Vec<Format> = d
                .iter()
                .filter(|(_, t)| {
                    t.output.consumer_count() == 0 && t.output.derived.lock().is_empty()
                })
                .map(|(k, _)| *k)
                .collect();
            keys.into_iter()
                .filter_map(|k| d.remove(&k).map(|t| (k, t)))
                .collect()
        };
        for (_, t) in dead {
            t.teardown();
        }
        // The raw hub may now be unused too (its encoders were removed above).
        let Some(raw_format) = Format::raw(self.media) else {
            return;
        };
        let raw = self.derived.lock().get(&raw_format).cloned();
        if let Some(raw) = raw {
            raw.output.gc_encoders();
            if raw.output.consumer_count() == 0 && raw.output.derived.lock().is_empty() {
                let t = self.derived.lock().remove(&raw_format);
                if let Some(t) = t {
                    t.teardown();
                }
            }
        }
    }

    fn gc_encoders(self: &Arc<Self>) {
        let dead: Vec<Arc<Transcoder>> = {
            let mut d = self.derived.lock();
            let keys: Vec<Format> = d
                .iter()
                .filter(|(_, t)| t.output.consumer_count() == 0)
                .map(|(k, _)| *k)
                .collect();
            keys.into_iter().filter_map(|k| d.remove(&k)).collect()
        };
        for t in dead {
            t.teardown();
        }
    }

    /// Transcoding active for this output's consumers?
    pub fn transcoding(&self) -> bool {
        !self.derived.lock().is_empty()
    }

    /// Removes every consumer and transcoder (element release).
    pub fn shutdown(self: &Arc<Self>) {
        *self.subs.lock() = Arc::new(Vec::new());
        self.set_keyframe_fn(None);
        let packetizers: Vec<_> = self.packetizers.lock().drain().map(|(_, p)| p).collect();
        for p in packetizers {
            p.teardown();
        }
        let all: Vec<Arc<Transcoder>> = self.derived.lock().drain().map(|(_, t)| t).collect();
        // Encoders hanging off the raw hub first, then the decoder.
        for t in all.iter().filter(|t| !t.is_decoder) {
            t.teardown();
        }
        for t in all.iter().filter(|t| t.is_decoder) {
            t.output.shutdown();
            t.teardown();
        }
    }
}

impl Upstream for Output {
    fn request_keyframe(&self) {
        Output::request_keyframe(self);
    }
    fn adapt_bitrate(&self) {
        Output::adapt_bitrate(self);
    }
}

/// A live subscription; dropping it does nothing, call [`Subscription::cancel`].
pub struct Subscription {
    hub: Arc<Output>,
    id: u64,
    consumer: Option<Arc<AppSrcConsumer>>,
    root: Arc<Output>,
    /// An RTP sender's subscription: its packetizer (on `hub`) and itself.
    rtp: Option<(Arc<Packetizer>, Arc<RtpSender>)>,
}

impl Subscription {
    /// Whether this subscription goes through a decoder or encoder.
    pub fn transcoding(&self) -> bool {
        !Arc::ptr_eq(&self.hub, &self.root)
    }
    pub fn root(&self) -> &Arc<Output> {
        &self.root
    }
    pub fn cancel(self) {
        match &self.rtp {
            Some((packetizer, sender)) => {
                sender.set_producer(None);
                if packetizer.remove(sender) == 0 {
                    self.hub.drop_packetizer(packetizer);
                } else {
                    self.hub.adapt_bitrate();
                }
            }
            None => {
                self.hub.remove(self.id);
            }
        }
        if let Some(c) = &self.consumer {
            c.set_producer(None);
        }
        self.root.gc();
    }
}

/// A decoder or an encoder between two outputs: appsrc ! ... ! appsink in its own bin.
pub struct Transcoder {
    bin: gst::Bin,
    pub output: Arc<Output>,
    input: Mutex<Option<Subscription>>,
    is_decoder: bool,
    ctx: Arc<OutputContext>,
    torn_down: AtomicBool,
}

impl Transcoder {
    fn build(
        src_hub: &Arc<Output>,
        in_format: Format,
        out_format: Format,
        chain: &str,
        is_decoder: bool,
    ) -> Result<Arc<Transcoder>> {
        let ctx = src_hub.ctx.clone();
        let n = ctx.next();
        let name = format!(
            "{}-{}-{}{}",
            if is_decoder { "dec" } else { "enc" },
            sanitize(&src_hub.owner),
            out_format.codec_name().to_lowercase(),
            n
        );
        let bin = gst::parse::bin_from_description(chain, false)
            .map_err(|e| err(ErrorKind::Internal, format!("transcoder: {e}")))?;
        bin.set_property("name", &name);
        let appsrc = AppSrcConsumer::make_appsrc("in");
        // No caps until the first buffer: the consumer sets the producer's full caps then.
        let appsink = gst_app::AppSink::builder()
            .name("out")
            .sync(false)
            .async_(false)
            .caps(&out_format.caps())
            .build();
        bin.add_many([appsrc.upcast_ref::<gst::Element>(), appsink.upcast_ref()])
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        let first = bin.by_name("first").expect("chain has first");
        let last = bin.by_name("last").expect("chain has last");
        appsrc
            .link(&first)
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        last.link(&appsink)
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;

        let mut out = Output {
            owner: src_hub.owner.clone(),
            media: src_hub.media,
            ctx: ctx.clone(),
            format: Mutex::new(Some(out_format)),
            subs: Mutex::new(Arc::new(Vec::new())),
            keyframe: Mutex::new(None),
            bitrate: Mutex::new(None),
            derived: Mutex::new(HashMap::new()),
            packetizers: Mutex::new(HashMap::new()),
            flow: None,
            end_listeners: Mutex::new(Vec::new()),
        };
        if is_decoder {
            // A decoder produces a picture once its source sent a keyframe.
            let up = Arc::downgrade(src_hub);
            out.keyframe = Mutex::new(Some(Arc::new(Box::new(move || {
                if let Some(h) = up.upgrade() {
                    h.request_keyframe();
                }
            }))));
        } else {
            let sinkpad = appsink.static_pad("sink").expect("appsink sink");
            out.keyframe = Mutex::new(Some(Arc::new(Box::new(move || {
                let ev = gst_video::UpstreamForceKeyUnitEvent::builder()
                    .all_headers(true)
                    .build();
                sinkpad.push_event(ev);
            }))));
        }
        let output = Arc::new(out);
        let weak_out = Arc::downgrade(&output);
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    if let (Some(h), Some(buf), Some(caps)) = (
                        weak_out.upgrade(),
                        running_time_buffer(&sample),
                        sample.caps(),
                    ) {
                        h.push(&buf, caps);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        ctx.pipeline
            .add(&bin)
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        bin.sync_state_with_parent()
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        let t = Arc::new(Transcoder {
            bin,
            output,
            input: Mutex::new(None),
            is_decoder,
            ctx: ctx.clone(),
            torn_down: AtomicBool::new(false),
        });
        let consumer = AppSrcConsumer::new(appsrc, !in_format.is_raw(), None);
        let sub = if src_hub.format() == Some(in_format) {
            consumer.set_producer(Some(src_hub));
            let id = src_hub.add(consumer.clone());
            Subscription {
                hub: src_hub.clone(),
                id,
                consumer: Some(consumer),
                root: src_hub.clone(),
                rtp: None,
            }
        } else {
            return Err(err(ErrorKind::Internal, "transcoder input format mismatch"));
        };
        *t.input.lock() = Some(sub);
        if is_decoder {
            ctx.decoders.fetch_add(1, Ordering::SeqCst);
        } else {
            ctx.encoders.fetch_add(1, Ordering::SeqCst);
        }
        (ctx.events)(ElementEvent {
            element: src_hub.owner.clone(),
            event: MediaEvent::MediaTranscoding {
                media: src_hub.media,
                transcoding: true,
                bin: name,
            },
        });
        Ok(t)
    }

    fn decoder(src: &Arc<Output>, native: Format) -> Result<Arc<Transcoder>> {
        let raw = Format::raw(native.media())
            .ok_or_else(|| err(ErrorKind::Connect, "cannot decode this format"))?;
        let chain = format!(
            "identity name=first silent=true ! {} ! {} ! identity name=last silent=true",
            decode_chain(native)?,
            raw_chain(raw)
        );
        let t = Self::build(src, native, raw, &chain, true)?;
        src.derived.lock().insert(raw, t.clone());
        Ok(t)
    }

    fn encoder(raw_hub: &Arc<Output>, codec: Format) -> Result<Arc<Transcoder>> {
        let raw = Format::raw(codec.media())
            .ok_or_else(|| err(ErrorKind::Connect, "cannot encode this format"))?;
        let convert = if raw == Format::RawAudio {
            "audioconvert name=first ! audioresample"
        } else {
            "videoconvert name=first"
        };
        let chain = format!(
            "{convert} ! {} ! identity name=last silent=true",
            encode_chain(codec)?
        );
        let t = Self::build(raw_hub, raw, codec, &chain, false)?;
        if let Some(encoder) = t.bin.by_name("encoder") {
            *t.output.bitrate.lock() = Some(Arc::new(bitrate_setter(encoder)));
        }
        raw_hub.derived.lock().insert(codec, t.clone());
        Ok(t)
    }

    /// `setVideoFormat`'s or `setAudioFormat`'s stage: `src`'s stream (in `native`) decoded,
    /// at the asked frame rate, and encoded to the asked codec (at the asked bitrate) unless raw.
    /// Not shared: it belongs to one element's output.
    pub(crate) fn shaper(
        src: &Arc<Output>,
        native: Format,
        target: Format,
        framerate: Option<(i32, i32)>,
        bitrate: Option<u32>,
    ) -> Result<Arc<Transcoder>> {
        let raw = Format::raw(target.media())
            .ok_or_else(|| err(ErrorKind::Connect, "cannot shape this format"))?;
        let mut parts = Vec::new();
        if !native.is_raw() {
            parts.push(decode_chain(native)?.to_owned());
        }
        if raw == Format::RawAudio {
            parts.push("audioconvert ! audioresample".to_owned());
        } else {
            parts.push("videoconvert".to_owned());
        }
        if let Some((num, den)) = framerate {
            parts.push(format!("videorate ! video/x-raw,framerate={num}/{den}"));
        }
        match (target, bitrate) {
            (t, _) if t.is_raw() => parts.push(raw_chain(raw).to_owned()),
            (Format::Opus, Some(bitrate)) => parts.push(format!(
                "audio/x-raw,rate=48000 ! opusenc frame-size=20 bitrate={bitrate} ! opusparse"
            )),
            _ => parts.push(encode_chain(target)?.to_owned()),
        }
        let chain = format!(
            "identity name=first silent=true ! {} ! identity name=last silent=true",
            parts.join(" ! ")
        );
        Self::build(src, native, target, &chain, target.is_raw())
    }

    pub(crate) fn teardown(&self) {
        if self.torn_down.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(sub) = self.input.lock().take() {
            sub.hub.remove(sub.id);
        }
        self.output.shutdown();
        crate::graph::teardown::remove_from(
            &self.ctx.pipeline.clone().upcast(),
            self.bin.upcast_ref(),
        );
        if self.is_decoder {
            self.ctx.decoders.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.ctx.encoders.fetch_sub(1, Ordering::SeqCst);
        }
        (self.ctx.events)(ElementEvent {
            element: self.output.owner.clone(),
            event: MediaEvent::MediaTranscoding {
                media: self.output.media,
                transcoding: false,
                bin: self.bin.name().to_string(),
            },
        });
    }
}

/// Sets a video encoder's bitrate when it moved by 5 % or more, or when the same value is asked
/// twice in a row (a settled estimate, such as one held at its minimum, is applied even when it is
/// near the last one). x264enc reconfigures for each change; receiver reports come several times
/// a second.
fn bitrate_setter(encoder: gst::Element) -> BitrateFn {
    let last = AtomicU64::new(0);
    let asked = AtomicU64::new(0);
    Box::new(move |bits_per_second| {
        let before = last.load(Ordering::Relaxed);
        let settled = asked.swap(bits_per_second, Ordering::Relaxed) == bits_per_second;
        if bits_per_second == before
            || (before != 0 && !settled && bits_per_second.abs_diff(before) * 20 < before)
        {
            return;
        }
        last.store(bits_per_second, Ordering::Relaxed);
        if encoder.find_property("target-bitrate").is_some() {
            // vp8enc: bits per second.
            encoder.set_property(
                "target-bitrate",
                bits_per_second.min(i32::MAX as u64) as i32,
            );
        } else if encoder.find_property("bitrate").is_some() {
            // x264enc: kbit per second.
            encoder.set_property("bitrate", (bits_per_second / 1000).max(1) as u32);
        }
    })
}

/// A decoder for `native`, as a gst-launch chain.
fn decode_chain(native: Format) -> Result<&'static str> {
    match native {
        Format::Vp8 => Ok("vp8dec threads=1"),
        Format::H264 => Ok("h264parse ! avdec_h264 max-threads=1"),
        Format::Opus => Ok("opusdec plc=true"),
        Format::Pcmu => Ok("mulawdec"),
        Format::Pcma => Ok("alawdec"),
        _ => Err(err(ErrorKind::Connect, "cannot decode this format")),
    }
}

/// Converts decoded media to `raw`'s layout, as a gst-launch chain.
fn raw_chain(raw: Format) -> &'static str {
    if raw == Format::RawAudio {
        "audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=2"
    } else {
        "videoconvert ! video/x-raw,format=I420"
    }
}

/// An encoder to `codec` from raw media, as a gst-launch chain. Realtime settings only:
/// GStreamer's encoder defaults are tuned for offline quality.
fn encode_chain(codec: Format) -> Result<&'static str> {
    match codec {
        Format::Vp8 => Ok(
            "vp8enc name=encoder deadline=1 cpu-used=8 threads=1 end-usage=cbr \
             target-bitrate=1500000 keyframe-max-dist=60 error-resilient=partitions \
             lag-in-frames=0",
        ),
        Format::H264 => Ok(
            "x264enc name=encoder tune=zerolatency speed-preset=ultrafast \
             threads=1 bitrate=1500 key-int-max=60 ! video/x-h264,profile=constrained-baseline \
             ! h264parse config-interval=-1",
        ),
        Format::Opus => Ok("audio/x-raw,rate=48000 ! opusenc frame-size=20 ! opusparse"),
        Format::Pcmu => Ok("audio/x-raw,rate=8000,channels=1 ! mulawenc"),
        Format::Pcma => Ok("audio/x-raw,rate=8000,channels=1 ! alawenc"),
        _ => Err(err(ErrorKind::Connect, "cannot encode this format")),
    }
}

/// The sample's buffer with PTS converted to pipeline running time (encoders shift their
/// segments, e.g. x264enc by 1000 h) and no DTS: every element input is a live appsrc whose
/// segment starts at 0, so running time is the one timeline all elements share.
pub fn running_time_buffer(sample: &gst::Sample) -> Option<gst::Buffer> {
    let buf = sample.buffer()?;
    let rt = sample
        .segment()
        .and_then(|seg| seg.downcast_ref::<gst::ClockTime>())
        .and_then(|seg| seg.to_running_time(buf.pts()));
    let mut buf = buf.to_owned();
    {
        let b = buf.make_mut();
        b.set_pts(rt);
        b.set_dts(gst::ClockTime::NONE);
    }
    Some(buf)
}

pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
