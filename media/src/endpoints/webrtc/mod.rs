//! WebRtcEndpoint: webrtcbin + per-media send chains (appsrc ! pay) and receive chains
//! (depay ! appsink): the server picks codec and payload type from the offer and sets them as
//! transceiver codec preferences, which is what Chromium interoperates with.

pub mod ice_addresses;
pub mod traffic;

use std::any::Any;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gst::prelude::*;
use gst_webrtc::{WebRTCRTPTransceiver, WebRTCRTPTransceiverDirection as Dir};
use parking_lot::Mutex;

use crate::api_contract::*;
use crate::endpoints::sdp::{self, MLine};
use crate::graph::context::{ElementContext, Graph};
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::flow::FlowTracker;
use crate::graph::output::{AppSrcConsumer, Format, Output, OutputContext};
use crate::graph::pipeline::MediaPipeline;
use crate::{err, ErrorKind};

const PROMISE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    /// A processOffer, generateOffer or processAnswer is talking to webrtcbin. The lock is not
    /// held meanwhile, so queries and other elements never wait on webrtcbin's promises.
    Negotiating,
    OfferGenerated,
    Negotiated,
}

struct Neg {
    phase: Phase,
    local: Option<String>,
    remote: Option<String>,
    /// Offerer case: sink pads requested at generate_offer, by m-line index.
    offer_pads: HashMap<u32, (MediaKind, gst::Pad, u32)>,
}

struct SendChain {
    media: MediaKind,
    format: Format,
    ssrc: u32,
    consumer: Arc<AppSrcConsumer>,
}

#[derive(Default)]
struct Ice {
    gather_requested: bool,
    local_ready: bool,
    pending: Vec<(u32, String)>,
    complete: bool,
    done_emitted: bool,
    remote_ready: bool,
    remote_queue: Vec<(u32, String)>,
    mids: Vec<String>,
}

struct States {
    ice: Option<IceComponentState>,
    conn: ConnectionState,
    media: MediaState,
    pair: Option<CandidatePair>,
}

pub(crate) struct WrtcInner {
    id: String,
    bin: gst::Bin,
    webrtcbin: gst::Element,
    opts: WebRtcOptions,
    settings: Mutex<WebRtcSettings>,
    events: EventSink,
    flow: Arc<FlowTracker>,
    ctx: Arc<OutputContext>,
    graph: Graph,
    neg: Mutex<Neg>,
    ice: Mutex<Ice>,
    audio_hub: Arc<Output>,
    video_hub: Arc<Output>,
    send: Mutex<Vec<SendChain>>,
    recv_sinks: Mutex<HashMap<MediaKind, gst::Element>>,
    /// Media of each SSRC received: webrtcbin 1.22's stats mislabel bundled streams' `kind`.
    recv_ssrcs: Mutex<HashMap<u32, MediaKind>>,
    states: Mutex<States>,
    released: AtomicBool,
}

/// The WebRTC side of an [`Element`] created by `create_webrtc_endpoint`.
pub struct WebRtcEndpoint {
    inner: Arc<WrtcInner>,
}

fn random_ssrc() -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u64(crate::graph::flow::now_ms());
    (h.finish() as u32).max(1)
}

/// A candidate as seen from outside a 1:1 NAT: the configured external address of its family
/// replaces the local one in host candidates, and in the related address (`raddr`) of the
/// others, so the private address is never announced (KMS's `externalIPv4`/`externalIPv6`).
fn announce_external(
    candidate: &str,
    external_v4: Option<&str>,
    external_v6: Option<&str>,
) -> String {
    let external_for = |address: &str| match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => external_v4,
        Ok(std::net::IpAddr::V6(_)) => external_v6,
        Err(_) => None,
    };
    let mut fields: Vec<&str> = candidate.split(' ').collect();
    if fields.windows(2).any(|w| w == ["typ", "host"]) {
        if let Some(address) = fields.get(4).and_then(|a| external_for(a)) {
            fields[4] = address;
        }
    }
    if let Some(i) = fields.iter().position(|f| *f == "raddr") {
        if let Some(address) = fields.get(i + 1).and_then(|a| external_for(a)) {
            fields[i + 1] = address;
        }
    }
    fields.join(" ")
}

fn apply_settings(webrtcbin: &gst::Element, s: &WebRtcSettings) {
    let stun = match (&s.stun_server_address, s.stun_server_port) {
        (Some(a), p) if !a.is_empty() => Some(format!("stun://{a}:{}", p.unwrap_or(3478))),
        _ => None,
    };
    if let Some(stun) = stun {
        webrtcbin.set_property("stun-server", stun);
    }
    let turn = s.turn_url.as_ref().filter(|u| !u.is_empty()).map(|u| {
        // Kurento form user:password@address:port[?transport=..] → turn://...
        if u.starts_with("turn:") || u.starts_with("turns:") {
            u.replacen("turn:", "turn://", 1)
                .replacen("turns:", "turns://", 1)
                .replace(":///", "://")
        } else {
            format!("turn://{u}")
        }
    });
    if let Some(turn) = turn {
        webrtcbin.set_property("turn-server", turn);
    }
    if let Some(agent) = webrtcbin.property::<Option<gst::glib::Object>>("ice-agent") {
        if agent.find_property("ice-tcp").is_some() {
            agent.set_property("ice-tcp", s.ice_tcp);
        }
        // libnice's UPnP discovery (on by default) opens sockets outside the configured port
        // range (SSDP on 1900 and a random port per interface) and asks routers to open ports.
        if agent.find_property("agent").is_some() {
            let nice = agent.property::<gst::glib::Object>("agent");
            if nice.find_property("upnp").is_some() {
                nice.set_property("upnp", false);
            }
        }
        if agent.find_property("min-rtp-port").is_some() {
            if let Some(min) = s.min_port {
                agent.set_property("min-rtp-port", min as u32);
            }
            if let Some(max) = s.max_port {
                agent.set_property("max-rtp-port", max as u32);
            }
        }
    }
}

impl Element {
    pub fn webrtc(&self) -> Option<&WebRtcEndpoint> {
        self.kind::<WebRtcEndpoint>()
    }
}

impl WebRtcEndpoint {
    /// A WebRtcEndpoint of `pipeline`.
    pub fn create(
        pipeline: &MediaPipeline,
        id: &str,
        opts: WebRtcOptions,
    ) -> crate::Result<Element> {
        pipeline.add(id, |ctx| build(ctx, opts))
    }
}

fn build(ctx: &ElementContext, opts: WebRtcOptions) -> crate::Result<(gst::Bin, WebRtcEndpoint)> {
    let id = ctx.id.as_str();
    let bin = gst::Bin::with_name(&ctx.unique_name("webrtc"));
    let webrtcbin = gst::ElementFactory::make("webrtcbin")
        .name("webrtcbin")
        .property_from_str("bundle-policy", "max-bundle")
        .build()
        .map_err(|e| err(ErrorKind::Internal, format!("webrtcbin: {e}")))?;
    apply_settings(&webrtcbin, &ctx.settings);
    crate::endpoints::webrtc::traffic::count_transports_of(&webrtcbin);
    if !ctx.settings.local_addresses.is_empty() {
        crate::endpoints::webrtc::ice_addresses::restrict_gathering(
            &webrtcbin,
            &ctx.settings.local_addresses,
        )
        .map_err(|e| err(ErrorKind::Internal, e))?;
    }
    bin.add(&webrtcbin)
        .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
    let flow = ctx.flow.clone();
    let audio_hub = Output::new(id, MediaKind::Audio, ctx.hubs.clone(), Some(flow.clone()));
    let video_hub = Output::new(id, MediaKind::Video, ctx.hubs.clone(), Some(flow.clone()));
    let inner = Arc::new(WrtcInner {
        id: id.to_string(),
        bin: bin.clone(),
        webrtcbin: webrtcbin.clone(),
        opts,
        settings: Mutex::new(ctx.settings.clone()),
        events: ctx.events.clone(),
        flow: flow.clone(),
        ctx: ctx.hubs.clone(),
        graph: ctx.graph.clone(),
        neg: Mutex::new(Neg {
            phase: Phase::New,
            local: None,
            remote: None,
            offer_pads: HashMap::new(),
        }),
        ice: Mutex::new(Ice::default()),
        audio_hub,
        video_hub,
        send: Mutex::new(Vec::new()),
        recv_sinks: Mutex::new(HashMap::new()),
        recv_ssrcs: Mutex::new(HashMap::new()),
        states: Mutex::new(States {
            ice: None,
            conn: ConnectionState::Disconnected,
            media: MediaState::Disconnected,
            pair: None,
        }),
        released: AtomicBool::new(false),
    });
    for media in [MediaKind::Audio, MediaKind::Video] {
        let weak = Arc::downgrade(&inner);
        inner
            .hub(media)
            .expect("a/v")
            .set_keyframe_fn(Some(Box::new(move || {
                if let Some(i) = weak.upgrade() {
                    i.request_remote_keyframe(media);
                }
            })));
    }
    // Signals: only buffer/forward; never call back into webrtcbin from here.
    let weak = Arc::downgrade(&inner);
    webrtcbin.connect("on-ice-candidate", false, move |args| {
        let mline = args[1].get::<u32>().unwrap_or(0);
        let cand = args[2].get::<String>().unwrap_or_default();
        if let Some(i) = weak.upgrade() {
            i.on_local_candidate(mline, cand);
        }
        None
    });
    let weak = Arc::downgrade(&inner);
    webrtcbin.connect_pad_added(move |_, pad| {
        if let Some(i) = weak.upgrade() {
            i.on_src_pad(pad);
        }
    });
    for prop in [
        "ice-connection-state",
        "connection-state",
        "ice-gathering-state",
    ] {
        let bus = ctx.pipeline.bus().expect("bus");
        let id = id.to_string();
        webrtcbin.connect_notify(Some(prop), move |_, _| {
            let s = gst::Structure::builder("rheo-webrtc-notify")
                .field("element", &id)
                .build();
            let _ = bus.post(gst::message::Application::new(s));
        });
    }
    ctx.pipeline
        .add(&bin)
        .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
    if let Err(e) = bin.sync_state_with_parent() {
        ctx.remove_bin(&bin);
        return Err(err(ErrorKind::Internal, format!("webrtcbin start: {e}")));
    }
    Ok((bin, WebRtcEndpoint { inner }))
}

fn make(factory: &str) -> crate::Result<gst::Element> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| err(ErrorKind::Internal, format!("{factory}: {e}")))
}

fn set_if(e: &gst::Element, prop: &str, v: impl Into<gst::glib::Value>) {
    if e.find_property(prop).is_some() {
        e.set_property(prop, v);
    }
}

impl WrtcInner {
    /// Marks a negotiation as under way when `allowed` accepts the current phase; one at a
    /// time.
    fn begin_negotiation(
        &self,
        allowed: impl FnOnce(Phase) -> crate::Result<()>,
    ) -> crate::Result<()> {
        let mut neg = self.neg.lock();
        if neg.phase == Phase::Negotiating {
            return Err(err(
                ErrorKind::AlreadyNegotiated,
                "a negotiation of this endpoint is in progress",
            ));
        }
        allowed(neg.phase)?;
        neg.phase = Phase::Negotiating;
        Ok(())
    }

    fn hub(&self, media: MediaKind) -> Option<&Arc<Output>> {
        match media {
            MediaKind::Audio => Some(&self.audio_hub),
            MediaKind::Video => Some(&self.video_hub),
            MediaKind::Data => None,
        }
    }

    fn emit(&self, event: MediaEvent) {
        (self.events)(ElementEvent {
            element: self.id.clone(),
            event,
        });
    }

    /// Runs a webrtcbin action signal that replies through a promise; waits with a timeout.
    fn promise(
        &self,
        signal: &str,
        arg: Option<gst::glib::Value>,
    ) -> crate::Result<Option<gst::Structure>> {
        let (tx, rx) = mpsc::sync_channel::<Option<gst::Structure>>(1);
        let promise = gst::Promise::with_change_func(move |reply| {
            let s = match reply {
                Ok(Some(s)) => Some(s.to_owned()),
                _ => None,
            };
            let _ = tx.try_send(s);
        });
        match arg {
            Some(a) => self
                .webrtcbin
                .emit_by_name_with_values(signal, &[a, promise.to_value()]),
            None => self.webrtcbin.emit_by_name_with_values(
                signal,
                &[None::<gst::Structure>.to_value(), promise.to_value()],
            ),
        };
        match rx.recv_timeout(PROMISE_TIMEOUT) {
            Ok(reply) => {
                if let Some(s) = &reply {
                    if let Ok(e) = s.get::<gst::glib::Error>("error") {
                        return Err(err(ErrorKind::SdpNegotiation, format!("{signal}: {e}")));
                    }
                }
                Ok(reply)
            }
            Err(_) => {
                promise.interrupt();
                Err(err(
                    ErrorKind::Internal,
                    format!("{signal}: no reply within {PROMISE_TIMEOUT:?}"),
                ))
            }
        }
    }

    fn make_payloader(format: Format, pt: u32, ssrc: u32, mtu: u32) -> crate::Result<gst::Element> {
        let pay = match format {
            Format::Vp8 => {
                let p = make("rtpvp8pay")?;
                p.set_property_from_str("picture-id-mode", "15-bit");
                p
            }
            Format::H264 => {
                let p = make("rtph264pay")?;
                p.set_property("config-interval", -1i32);
                if p.find_property("aggregate-mode").is_some() {
                    p.set_property_from_str("aggregate-mode", "zero-latency");
                }
                p
            }
            Format::Opus => make("rtpopuspay")?,
            Format::RawVideo => return Err(err(ErrorKind::Internal, "cannot payload raw video")),
        };
        pay.set_property("pt", pt);
        pay.set_property("ssrc", ssrc);
        pay.set_property("mtu", mtu);
        Ok(pay)
    }

    /// appsrc ! pay ! `pad` (a webrtcbin sink pad). The payloader sets its own SSRC: RTP
    /// received and sent back unchanged into the same session would be dropped, so media is
    /// depayloaded on the way in and payloaded again here.
    fn build_send_chain(
        &self,
        media: MediaKind,
        format: Format,
        pt: u32,
        ssrc: u32,
        pad: &gst::Pad,
    ) -> crate::Result<()> {
        let n = self.ctx.next();
        let appsrc = AppSrcConsumer::make_appsrc(&format!("send-{media:?}-{n}").to_lowercase());
        // Caps come with the first buffer (the producer's full caps).
        let pay = Self::make_payloader(format, pt, ssrc, self.settings.lock().mtu)?;
        self.bin
            .add_many([appsrc.upcast_ref::<gst::Element>(), &pay])
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        appsrc
            .link(&pay)
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        pay.static_pad("src")
            .expect("pay src")
            .link(pad)
            .map_err(|e| err(ErrorKind::Internal, format!("link to webrtcbin: {e:?}")))?;
        let consumer = AppSrcConsumer::new(appsrc.clone(), true, Some((self.flow.clone(), media)));
        // Browser PLI/FIR arrives as an upstream force-key-unit event: forward to our producer.
        let weak_c = Arc::downgrade(&consumer);
        appsrc.static_pad("src").expect("appsrc src").add_probe(
            gst::PadProbeType::EVENT_UPSTREAM,
            move |_, info| {
                if let Some(ev) = info.event() {
                    if gst_video::ForceKeyUnitEvent::is(ev) {
                        if let Some(c) = weak_c.upgrade() {
                            c.forward_keyframe_request();
                        }
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
        let _ = pay.sync_state_with_parent();
        let _ = appsrc.sync_state_with_parent();
        self.send.lock().push(SendChain {
            media,
            format,
            ssrc,
            consumer,
        });
        Ok(())
    }

    fn teardown_send(&self) {
        let chains: Vec<SendChain> = self.send.lock().drain(..).collect();
        drop(chains);
        let ours: Vec<gst::Element> = self
            .bin
            .children()
            .into_iter()
            .filter(|c| c != &self.webrtcbin)
            .collect();
        for c in ours {
            crate::graph::teardown::remove_from(&self.bin, &c);
        }
        let pads: Vec<gst::Pad> = self.webrtcbin.sink_pads();
        for p in pads {
            self.webrtcbin.release_request_pad(&p);
        }
    }

    fn on_src_pad(self: &Arc<Self>, pad: &gst::Pad) {
        if pad.direction() != gst::PadDirection::Src || self.released.load(Ordering::SeqCst) {
            return;
        }
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(s) = caps.structure(0) else { return };
        let media = match s.get::<&str>("media") {
            Ok("audio") => MediaKind::Audio,
            Ok("video") => MediaKind::Video,
            _ => return,
        };
        if let Ok(ssrc) = s.get::<u32>("ssrc") {
            self.recv_ssrcs.lock().insert(ssrc, media);
        }
        let enc = s
            .get::<&str>("encoding-name")
            .unwrap_or("")
            .to_ascii_uppercase();
        let build = || -> crate::Result<(Vec<gst::Element>, Option<gst_app::AppSink>)> {
            let mut chain = Vec::new();
            let out_caps = match enc.as_str() {
                "VP8" => {
                    let d = make("rtpvp8depay")?;
                    set_if(&d, "request-keyframe", true);
                    set_if(&d, "wait-for-keyframe", true);
                    chain.push(d);
                    Format::Vp8.caps()
                }
                "H264" => {
                    let d = make("rtph264depay")?;
                    set_if(&d, "request-keyframe", true);
                    set_if(&d, "wait-for-keyframe", true);
                    chain.push(d);
                    let parse = make("h264parse")?;
                    parse.set_property("config-interval", -1i32);
                    chain.push(parse);
                    Format::H264.caps()
                }
                "OPUS" => {
                    chain.push(make("rtpopusdepay")?);
                    Format::Opus.caps()
                }
                _ => {
                    let f = make("fakesink")?;
                    f.set_property("async", false);
                    f.set_property("sync", false);
                    chain.push(f);
                    return Ok((chain, None));
                }
            };
            let sink = gst_app::AppSink::builder()
                .sync(false)
                .async_(false)
                .caps(&out_caps)
                .build();
            let hub = Arc::downgrade(self.hub(media).expect("a/v"));
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                        let (Some(h), Some(buf), Some(caps)) = (
                            hub.upgrade(),
                            crate::graph::output::running_time_buffer(&sample),
                            sample.caps(),
                        ) else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        h.push(&buf, caps);
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            chain.push(sink.clone().upcast());
            Ok((chain, Some(sink)))
        };
        let (chain, sink) = match build() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(element = %self.id, "receive chain: {}", e.message);
                return;
            }
        };
        if self.bin.add_many(&chain).is_err() {
            return;
        }
        if chain.len() > 1 && gst::Element::link_many(&chain).is_err() {
            tracing::warn!(element = %self.id, "receive chain link failed");
            return;
        }
        for e in &chain {
            let _ = e.sync_state_with_parent();
        }
        if let Err(e) = pad.link(&chain[0].static_pad("sink").expect("sink")) {
            tracing::warn!(element = %self.id, "link {}: {e:?}", pad.name());
        }
        if let Some(sink) = sink {
            // No keyframe request from here (a webrtcbin streaming thread inside pad-added): the
            // depayloader waits for / requests keyframes itself and consumers ask on their own.
            self.recv_sinks.lock().insert(media, sink.upcast());
        }
    }

    /// PLI/FIR to the sending browser: an upstream force-key-unit from our receive chain.
    fn request_remote_keyframe(&self, media: MediaKind) {
        let sink = self.recv_sinks.lock().get(&media).cloned();
        if let Some(sink) = sink {
            if let Some(pad) = sink.static_pad("sink") {
                let ev = gst_video::UpstreamForceKeyUnitEvent::builder()
                    .all_headers(true)
                    .build();
                pad.push_event(ev);
            }
        }
    }

    fn on_local_candidate(&self, mline: u32, cand: String) {
        let cand = {
            let s = self.settings.lock();
            announce_external(
                &cand,
                s.external_ipv4.as_deref(),
                s.external_ipv6.as_deref(),
            )
        };
        let mut ice = self.ice.lock();
        if ice.gather_requested && ice.local_ready {
            let mid = ice.mids.get(mline as usize).cloned().unwrap_or_default();
            drop(ice);
            self.emit(MediaEvent::IceCandidateFound {
                candidate: cand,
                sdp_mid: mid,
                sdp_mline_index: mline,
            });
        } else {
            ice.pending.push((mline, cand));
        }
    }

    /// Emits buffered candidates (and gathering-done) once gather was requested and the local
    /// description is out.
    fn flush_candidates(&self) {
        let (out, done) = {
            let mut ice = self.ice.lock();
            if !(ice.gather_requested && ice.local_ready) {
                return;
            }
            let out: Vec<(u32, String, String)> = ice
                .pending
                .drain(..)
                .map(|(m, c)| (m, c, String::new()))
                .collect();
            let out: Vec<(u32, String, String)> = out
                .into_iter()
                .map(|(m, c, _)| (m, c, ice.mids.get(m as usize).cloned().unwrap_or_default()))
                .collect();
            let done = ice.complete && !ice.done_emitted;
            if done {
                ice.done_emitted = true;
            }
            (out, done)
        };
        for (m, c, mid) in out {
            self.emit(MediaEvent::IceCandidateFound {
                candidate: c,
                sdp_mid: mid,
                sdp_mline_index: m,
            });
        }
        if done {
            self.emit(MediaEvent::IceGatheringDone);
        }
    }

    fn set_local_ready(&self, sdp: &gst_sdp::SDPMessageRef) {
        {
            let mut ice = self.ice.lock();
            ice.mids = sdp
                .medias()
                .map(|m| m.attribute_val("mid").unwrap_or("").to_string())
                .collect();
            ice.local_ready = true;
        }
        self.flush_candidates();
    }

    fn set_remote_ready(&self) {
        let queued = {
            let mut ice = self.ice.lock();
            ice.remote_ready = true;
            std::mem::take(&mut ice.remote_queue)
        };
        for (m, c) in queued {
            self.webrtcbin
                .emit_by_name::<()>("add-ice-candidate", &[&m, &c]);
        }
    }

    fn after_negotiation(&self, remote: &[MLine]) {
        // Our outputs carry what the remote sends us.
        for ml in remote {
            if let (Some(c), Some(h)) = (&ml.codec, self.hub(ml.media)) {
                if !ml.rejected && !self.opts.sendonly {
                    h.set_format(Some(c.format));
                }
            }
        }
        self.emit(MediaEvent::MediaSessionStarted);
        self.graph.resolve();
    }
}

fn ice_state(s: gst_webrtc::WebRTCICEConnectionState) -> IceComponentState {
    use gst_webrtc::WebRTCICEConnectionState as S;
    match s {
        S::New => IceComponentState::Gathering,
        S::Checking => IceComponentState::Connecting,
        S::Connected => IceComponentState::Connected,
        S::Completed => IceComponentState::Ready,
        S::Failed => IceComponentState::Failed,
        _ => IceComponentState::Disconnected,
    }
}

impl ElementKind for WebRtcEndpoint {
    fn input(&self, media: MediaKind) -> Input {
        if media == MediaKind::Data {
            return Input::Absent;
        }
        if self.inner.neg.lock().phase != Phase::Negotiated {
            return if self.inner.opts.recvonly {
                Input::Absent
            } else {
                Input::Unknown
            };
        }
        match self.inner.send.lock().iter().find(|c| c.media == media) {
            Some(c) => Input::Fixed(c.format, c.consumer.clone()),
            None => Input::Unknown,
        }
    }

    fn output(&self, media: MediaKind) -> Option<Arc<Output>> {
        self.inner.hub(media).cloned()
    }

    fn stats(&self, media: Option<MediaKind>) -> Vec<RtpStats> {
        self.rtp_stats(media)
    }

    fn release(&self) {
        self.inner.released.store(true, Ordering::SeqCst);
        self.inner.send.lock().clear();
        self.inner.recv_sinks.lock().clear();
        let _ = self.inner.bin.set_state(gst::State::Null);
        crate::graph::teardown::release_request_pads(self.inner.bin.upcast_ref());
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl WebRtcEndpoint {
    /// Kurento processOffer: returns the SDP answer.
    pub fn process_offer(&self, offer: &str) -> crate::Result<String> {
        let i = &self.inner;
        i.begin_negotiation(|phase| match phase {
            Phase::New => Ok(()),
            _ => Err(err(
                ErrorKind::AlreadyNegotiated,
                "endpoint already negotiated",
            )),
        })?;
        let outcome = self.answer(offer);
        let mut neg = i.neg.lock();
        match outcome {
            Ok((text, answer, mlines)) => {
                neg.phase = Phase::Negotiated;
                neg.local = Some(text.clone());
                neg.remote = Some(offer.to_string());
                drop(neg);
                i.set_local_ready(answer.sdp());
                i.after_negotiation(&mlines);
                Ok(text)
            }
            Err(e) => {
                neg.phase = Phase::New;
                Err(e)
            }
        }
    }

    /// processOffer's work with webrtcbin: the answer's text and description, and the offer's
    /// m-lines. Runs without the negotiation lock.
    fn answer(
        &self,
        offer: &str,
    ) -> crate::Result<(String, gst_webrtc::WebRTCSessionDescription, Vec<MLine>)> {
        let i = &self.inner;
        let msg = sdp::parse(offer)?;
        let mlines = sdp::analyse(&msg);
        let usable = mlines.iter().any(|m| !m.rejected && m.codec.is_some());
        let data_only = mlines
            .iter()
            .any(|m| m.media == MediaKind::Data && !m.rejected);
        if !(usable || data_only && i.opts.use_data_channels) {
            return Err(err(
                ErrorKind::SdpNegotiation,
                "offer has no supported codec (VP8, H264, OPUS)",
            ));
        }
        let desc = gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Offer, msg);
        i.promise("set-remote-description", Some(desc.to_value()))
            .map_err(|e| err(ErrorKind::SdpNegotiation, e.message))?;
        i.set_remote_ready();

        let build = || -> crate::Result<gst_webrtc::WebRTCSessionDescription> {
            for ml in mlines
                .iter()
                .filter(|m| !m.rejected && m.media != MediaKind::Data)
            {
                let Some(c) = &ml.codec else { continue };
                let remote_recv = matches!(ml.dir, sdp::Dir::SendRecv | sdp::Dir::RecvOnly);
                let remote_send = matches!(ml.dir, sdp::Dir::SendRecv | sdp::Dir::SendOnly);
                let we_send = remote_recv && !i.opts.recvonly;
                let we_recv = remote_send && !i.opts.sendonly;
                if we_send {
                    let ssrc = random_ssrc();
                    let pad = i
                        .webrtcbin
                        .request_pad_simple("sink_%u")
                        .ok_or_else(|| err(ErrorKind::Internal, "webrtcbin sink pad"))?;
                    let t = pad.property::<WebRTCRTPTransceiver>("transceiver");
                    t.set_codec_preferences(Some(&sdp::codec_caps(ml, c, Some(ssrc))));
                    t.set_direction(if we_recv {
                        Dir::Sendrecv
                    } else {
                        Dir::Sendonly
                    });
                    t.set_property("do-nack", true);
                    i.build_send_chain(ml.media, c.format, c.pt, ssrc, &pad)?;
                } else if we_recv {
                    let t = i.webrtcbin.emit_by_name::<WebRTCRTPTransceiver>(
                        "add-transceiver",
                        &[&Dir::Recvonly, &sdp::codec_caps(ml, c, None)],
                    );
                    t.set_property("do-nack", true);
                } else {
                    let t = i.webrtcbin.emit_by_name::<WebRTCRTPTransceiver>(
                        "add-transceiver",
                        &[&Dir::Inactive, &sdp::codec_caps(ml, c, None)],
                    );
                    let _ = t;
                }
            }
            let reply = i
                .promise("create-answer", None)?
                .ok_or_else(|| err(ErrorKind::SdpNegotiation, "create-answer gave no answer"))?;
            let answer = reply
                .get::<gst_webrtc::WebRTCSessionDescription>("answer")
                .map_err(|_| err(ErrorKind::SdpNegotiation, "create-answer gave no answer"))?;
            i.promise("set-local-description", Some(answer.to_value()))?;
            Ok(answer)
        };
        let answer = match build() {
            Ok(a) => a,
            Err(e) => {
                i.teardown_send();
                return Err(e);
            }
        };
        let text = answer
            .sdp()
            .as_text()
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        Ok((text, answer, mlines))
    }

    /// Kurento generateOffer (server as offerer). Offers VP8 (96) + H264 (102) and Opus (111).
    pub fn generate_offer(&self, opts: OfferOptions) -> crate::Result<String> {
        let i = &self.inner;
        i.begin_negotiation(|phase| match phase {
            Phase::New => Ok(()),
            Phase::OfferGenerated => {
                Err(err(ErrorKind::AlreadyNegotiated, "offer already generated"))
            }
            Phase::Negotiated | Phase::Negotiating => Err(err(
                ErrorKind::AlreadyNegotiated,
                "endpoint already negotiated",
            )),
        })?;
        let outcome = self.offer(opts);
        let mut neg = i.neg.lock();
        match outcome {
            Ok((text, offer, pads)) => {
                neg.phase = Phase::OfferGenerated;
                neg.local = Some(text.clone());
                neg.offer_pads = pads;
                drop(neg);
                i.set_local_ready(offer.sdp());
                Ok(text)
            }
            Err(e) => {
                neg.phase = Phase::New;
                Err(e)
            }
        }
    }

    /// generateOffer's work with webrtcbin: the offer's text and description, and the send pad
    /// of each offered m-line. Runs without the negotiation lock.
    #[allow(clippy::type_complexity)]
    fn offer(
        &self,
        opts: OfferOptions,
    ) -> crate::Result<(
        String,
        gst_webrtc::WebRTCSessionDescription,
        HashMap<u32, (MediaKind, gst::Pad, u32)>,
    )> {
        let i = &self.inner;
        let mut idx = 0u32;
        let mut pads = HashMap::new();
        for (media, recv_wanted) in [
            (MediaKind::Audio, opts.offer_to_receive_audio),
            (MediaKind::Video, opts.offer_to_receive_video),
        ] {
            let send = !i.opts.recvonly;
            let recv = recv_wanted && !i.opts.sendonly;
            if !send && !recv {
                continue;
            }
            let ssrc = random_ssrc();
            let ml = MLine {
                index: idx,
                media,
                dir: sdp::Dir::SendRecv,
                codec: None,
                twcc_id: Some(3),
                rejected: false,
            };
            let codecs: Vec<sdp::Codec> = if media == MediaKind::Video {
                vec![
                    sdp::Codec {
                        format: Format::Vp8,
                        pt: 96,
                        clock_rate: 90000,
                        rtx_pt: None,
                    },
                    sdp::Codec {
                        format: Format::H264,
                        pt: 102,
                        clock_rate: 90000,
                        rtx_pt: None,
                    },
                ]
            } else {
                vec![sdp::Codec {
                    format: Format::Opus,
                    pt: 111,
                    clock_rate: 48000,
                    rtx_pt: None,
                }]
            };
            let mut caps = gst::Caps::new_empty();
            for c in &codecs {
                caps.merge(sdp::codec_caps(&ml, c, send.then_some(ssrc)));
            }
            if send {
                let pad = i
                    .webrtcbin
                    .request_pad_simple("sink_%u")
                    .ok_or_else(|| err(ErrorKind::Internal, "webrtcbin sink pad"))?;
                let t = pad.property::<WebRTCRTPTransceiver>("transceiver");
                t.set_codec_preferences(Some(&caps));
                t.set_direction(if recv { Dir::Sendrecv } else { Dir::Sendonly });
                t.set_property("do-nack", true);
                pads.insert(idx, (media, pad, ssrc));
            } else {
                let t = i.webrtcbin.emit_by_name::<WebRTCRTPTransceiver>(
                    "add-transceiver",
                    &[&Dir::Recvonly, &caps],
                );
                t.set_property("do-nack", true);
            }
            idx += 1;
        }
        if idx == 0 {
            return Err(err(ErrorKind::SdpNegotiation, "nothing to offer"));
        }
        let result = (|| -> crate::Result<gst_webrtc::WebRTCSessionDescription> {
            let reply = i
                .promise("create-offer", None)?
                .ok_or_else(|| err(ErrorKind::Internal, "create-offer gave no offer"))?;
            let offer = reply
                .get::<gst_webrtc::WebRTCSessionDescription>("offer")
                .map_err(|_| err(ErrorKind::Internal, "create-offer gave no offer"))?;
            i.promise("set-local-description", Some(offer.to_value()))?;
            Ok(offer)
        })();
        let offer = match result {
            Ok(o) => o,
            Err(e) => {
                i.teardown_send();
                return Err(e);
            }
        };
        let text = offer
            .sdp()
            .as_text()
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        Ok((text, offer, pads))
    }

    /// Kurento processAnswer: returns the local description.
    pub fn process_answer(&self, answer: &str) -> crate::Result<String> {
        let i = &self.inner;
        let pads = {
            let mut neg = i.neg.lock();
            match neg.phase {
                Phase::OfferGenerated => {}
                Phase::New => {
                    return Err(err(ErrorKind::NoOfferGenerated, "no offer was generated"))
                }
                Phase::Negotiated | Phase::Negotiating => {
                    return Err(err(
                        ErrorKind::AnswerAlreadyProcessed,
                        "answer already processed",
                    ))
                }
            }
            neg.phase = Phase::Negotiating;
            std::mem::take(&mut neg.offer_pads)
        };
        let outcome = self.apply_answer(answer, &pads);
        let mut neg = i.neg.lock();
        match outcome {
            Ok(mlines) => {
                neg.phase = Phase::Negotiated;
                neg.remote = Some(answer.to_string());
                let local = neg.local.clone().unwrap_or_default();
                drop(neg);
                i.after_negotiation(&mlines);
                Ok(local)
            }
            Err(e) => {
                // The offer stands: another answer may still be processed.
                neg.phase = Phase::OfferGenerated;
                neg.offer_pads = pads;
                Err(e)
            }
        }
    }

    /// processAnswer's work with webrtcbin: the answer's m-lines. Runs without the negotiation
    /// lock.
    fn apply_answer(
        &self,
        answer: &str,
        pads: &HashMap<u32, (MediaKind, gst::Pad, u32)>,
    ) -> crate::Result<Vec<MLine>> {
        let i = &self.inner;
        let msg = sdp::parse(answer)?;
        let mlines = sdp::analyse(&msg);
        if !mlines.iter().any(|m| !m.rejected && m.codec.is_some()) {
            return Err(err(
                ErrorKind::SdpNegotiation,
                "answer has no supported codec",
            ));
        }
        let desc =
            gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, msg);
        i.promise("set-remote-description", Some(desc.to_value()))
            .map_err(|e| err(ErrorKind::SdpNegotiation, e.message))?;
        i.set_remote_ready();
        for ml in &mlines {
            let Some(c) = &ml.codec else { continue };
            let Some((media, pad, ssrc)) = pads.get(&ml.index) else {
                continue;
            };
            let remote_recv = matches!(ml.dir, sdp::Dir::SendRecv | sdp::Dir::RecvOnly);
            if ml.rejected || !remote_recv || *media != ml.media {
                continue;
            }
            i.build_send_chain(*media, c.format, c.pt, *ssrc, pad)?;
        }
        Ok(mlines)
    }

    pub fn local_description(&self) -> crate::Result<String> {
        self.inner
            .neg
            .lock()
            .local
            .clone()
            .ok_or_else(|| err(ErrorKind::NoLocalSdp, "no local SDP"))
    }

    pub fn remote_description(&self) -> crate::Result<String> {
        self.inner
            .neg
            .lock()
            .remote
            .clone()
            .ok_or_else(|| err(ErrorKind::NoRemoteSdp, "no remote SDP"))
    }

    /// Candidates are emitted only after this was called AND the local description is set.
    pub fn gather_candidates(&self) -> crate::Result<()> {
        if self.inner.released.load(Ordering::SeqCst) {
            return Err(err(ErrorKind::IceGather, "endpoint released"));
        }
        self.inner.ice.lock().gather_requested = true;
        self.inner.flush_candidates();
        Ok(())
    }

    pub fn add_ice_candidate(
        &self,
        candidate: &str,
        sdp_mid: &str,
        sdp_mline_index: u32,
    ) -> crate::Result<()> {
        let c = candidate.trim().trim_start_matches("a=");
        if c.is_empty() {
            return Ok(());
        }
        if !(c.starts_with("candidate:") || c.starts_with("candidate "))
            || c.split_whitespace().count() < 8
        {
            return Err(err(
                ErrorKind::IceCandidate,
                format!("invalid candidate {c:?}"),
            ));
        }
        let _ = sdp_mid;
        let c = c.to_string();
        let mut ice = self.inner.ice.lock();
        if ice.remote_ready {
            drop(ice);
            self.inner
                .webrtcbin
                .emit_by_name::<()>("add-ice-candidate", &[&sdp_mline_index, &c]);
        } else {
            ice.remote_queue.push((sdp_mline_index, c));
        }
        Ok(())
    }

    pub fn settings(&self) -> WebRtcSettings {
        self.inner.settings.lock().clone()
    }

    pub fn set_stun_server(&self, address: Option<String>, port: Option<u16>) {
        let mut s = self.inner.settings.lock();
        s.stun_server_address = address;
        s.stun_server_port = port;
        apply_settings(&self.inner.webrtcbin, &s);
    }

    pub fn set_turn_url(&self, url: Option<String>) {
        let mut s = self.inner.settings.lock();
        s.turn_url = url;
        apply_settings(&self.inner.webrtcbin, &s);
    }

    pub fn media_state(&self) -> MediaState {
        self.inner.states.lock().media
    }

    pub fn connection_state(&self) -> ConnectionState {
        self.inner.states.lock().conn
    }

    pub fn candidate_pairs(&self) -> Vec<CandidatePair> {
        self.inner.states.lock().pair.clone().into_iter().collect()
    }

    pub fn ice_states(&self) -> Vec<(String, u32, IceComponentState)> {
        match self.inner.states.lock().ice {
            Some(s) => vec![("1".to_string(), 1, s)],
            None => Vec::new(),
        }
    }

    /// Asks the remote sender for a video keyframe (PLI/FIR).
    pub fn request_keyframe(&self) {
        self.inner.request_remote_keyframe(MediaKind::Video);
    }

    /// Bus thread: webrtcbin state changed. Reads properties outside webrtcbin's signal context.
    pub(crate) fn on_notify(&self) {
        let i = &self.inner;
        if i.released.load(Ordering::SeqCst) {
            return;
        }
        let ice_cs = i
            .webrtcbin
            .property::<gst_webrtc::WebRTCICEConnectionState>("ice-connection-state");
        let pc = i
            .webrtcbin
            .property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
        let gathering = i
            .webrtcbin
            .property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state");
        let mut events = Vec::new();
        {
            let mut st = i.states.lock();
            let ice_new = ice_state(ice_cs);
            if st.ice != Some(ice_new) {
                st.ice = Some(ice_new);
                events.push(MediaEvent::IceComponentStateChanged {
                    stream_id: 1,
                    component_id: 1,
                    state: ice_new,
                });
            }
            use gst_webrtc::WebRTCICEConnectionState as I;
            let conn = match ice_cs {
                I::Connected | I::Completed => ConnectionState::Connected,
                _ => ConnectionState::Disconnected,
            };
            if conn != st.conn {
                events.push(MediaEvent::ConnectionStateChanged {
                    old: st.conn,
                    new: conn,
                });
                st.conn = conn;
            }
            let media = if pc == gst_webrtc::WebRTCPeerConnectionState::Connected {
                MediaState::Connected
            } else {
                MediaState::Disconnected
            };
            if media != st.media {
                events.push(MediaEvent::MediaStateChanged {
                    old: st.media,
                    new: media,
                });
                st.media = media;
            }
        }
        if matches!(
            ice_cs,
            gst_webrtc::WebRTCICEConnectionState::Connected
                | gst_webrtc::WebRTCICEConnectionState::Completed
        ) {
            if let Some(pair) = self.selected_pair() {
                let mut st = i.states.lock();
                let changed = st
                    .pair
                    .as_ref()
                    .map(|p| (&p.local_candidate, &p.remote_candidate))
                    != Some((&pair.local_candidate, &pair.remote_candidate));
                if changed {
                    st.pair = Some(pair.clone());
                    events.push(MediaEvent::NewCandidatePairSelected {
                        stream_id: pair.stream_id,
                        component_id: pair.component_id,
                        local_candidate: pair.local_candidate,
                        remote_candidate: pair.remote_candidate,
                    });
                }
            }
        }
        for e in events {
            i.emit(e);
        }
        if gathering == gst_webrtc::WebRTCICEGatheringState::Complete {
            i.ice.lock().complete = true;
            i.flush_candidates();
        }
    }

    fn selected_pair(&self) -> Option<CandidatePair> {
        let i = &self.inner;
        let agent = i
            .webrtcbin
            .property::<Option<gst_webrtc::WebRTCICE>>("ice-agent")?;
        let t = i
            .webrtcbin
            .emit_by_name::<Option<WebRTCRTPTransceiver>>("get-transceiver", &[&0i32])?;
        let dtls = t.receiver()?.transport()?;
        let ice_t = dtls.property::<Option<gst_webrtc::WebRTCICETransport>>("transport")?;
        ice_t.find_property("stream")?;
        let stream = ice_t.property::<Option<gst_webrtc::WebRTCICEStream>>("stream")?;
        use gst_webrtc::prelude::*;
        let (l, r) = agent.selected_pair(&stream)?;
        let fmt = |c: &gst_webrtc::WebRTCICECandidateStats| {
            format!(
                "candidate:1 1 {} {} {} {} typ {}",
                c.proto().unwrap_or("udp"),
                c.prio(),
                c.ipaddr().unwrap_or(""),
                c.port(),
                c.type_().unwrap_or("host")
            )
        };
        Some(CandidatePair {
            stream_id: stream.property::<u32>("stream-id").to_string(),
            component_id: 1,
            local_candidate: fmt(&l),
            remote_candidate: fmt(&r),
        })
    }

    /// RTP counters from webrtcbin's get-stats.
    fn rtp_stats(&self, media: Option<MediaKind>) -> Vec<RtpStats> {
        let i = &self.inner;
        let r = i.promise("get-stats", Some(None::<gst::Pad>.to_value()));
        let Ok(Some(reply)) = r else {
            return Vec::new();
        };
        let sends: Vec<(u32, MediaKind, Format)> = i
            .send
            .lock()
            .iter()
            .map(|c| (c.ssrc, c.media, c.format))
            .collect();
        let recv_formats: HashMap<MediaKind, Option<Format>> = [MediaKind::Audio, MediaKind::Video]
            .into_iter()
            .map(|m| (m, i.hub(m).and_then(|h| h.format())))
            .collect();
        let mut out = Vec::new();
        for (_, v) in reply.iter() {
            let Ok(s) = v.get::<gst::Structure>() else {
                continue;
            };
            let ty = s.get::<gst_webrtc::WebRTCStatsType>("type").ok();
            let inbound = match ty {
                Some(gst_webrtc::WebRTCStatsType::InboundRtp) => true,
                Some(gst_webrtc::WebRTCStatsType::OutboundRtp) => false,
                _ => continue,
            };
            let ssrc = s.get::<u32>("ssrc").unwrap_or(0);
            let kind = s.get::<&str>("kind").ok().and_then(|k| match k {
                "audio" => Some(MediaKind::Audio),
                "video" => Some(MediaKind::Video),
                _ => None,
            });
            let send = sends.iter().find(|(ss, _, _)| *ss == ssrc);
            // Our own SSRC bookkeeping first: webrtcbin labels every bundled stream with the
            // first transceiver's kind.
            let known = if inbound {
                i.recv_ssrcs.lock().get(&ssrc).copied()
            } else {
                send.map(|s| s.1)
            };
            if inbound && known.is_none() {
                // Not a stream we receive media from (e.g. its RTX SSRC).
                continue;
            }
            let m = known.or(kind);
            if media.is_some() && m.is_some() && media != m {
                continue;
            }
            let codec = if inbound {
                m.and_then(|m| recv_formats.get(&m).copied().flatten())
            } else {
                send.map(|s| s.2)
            };
            let u = |k: &str| -> u64 {
                s.get::<u64>(k)
                    .ok()
                    .or_else(|| s.get::<u32>(k).ok().map(u64::from))
                    .unwrap_or(0)
            };
            out.push(RtpStats {
                inbound,
                media: m,
                ssrc,
                codec: codec
                    .map(|c| c.codec_name().to_string())
                    .unwrap_or_default(),
                packets: if inbound {
                    u("packets-received")
                } else {
                    u("packets-sent")
                },
                bytes: if inbound {
                    u("bytes-received")
                } else {
                    u("bytes-sent")
                },
                packets_lost: s.get::<i64>("packets-lost").unwrap_or(0),
                jitter: s.get::<f64>("jitter").unwrap_or(0.0),
                fraction_lost: s.get::<f64>("fraction-lost").unwrap_or(0.0),
                nack_count: u("nack-count"),
                pli_count: u("pli-count"),
                fir_count: u("fir-count"),
                remb: 0,
            });
        }
        out
    }
}

#[cfg(test)]
mod external_address_tests {
    use super::announce_external;

    #[test]
    fn host_ipv4_candidates_carry_the_external_address() {
        let host = "candidate:1 1 UDP 2015363327 10.0.0.5 41000 typ host";
        assert_eq!(
            announce_external(host, Some("203.0.113.7"), None),
            "candidate:1 1 UDP 2015363327 203.0.113.7 41000 typ host"
        );
        let srflx =
            "candidate:2 1 UDP 1679819007 198.51.100.2 41000 typ srflx raddr 10.0.0.5 rport 41000";
        assert_eq!(
            announce_external(srflx, Some("203.0.113.7"), None),
            "candidate:2 1 UDP 1679819007 198.51.100.2 41000 typ srflx raddr 203.0.113.7 rport 41000"
        );
        let v6 = "candidate:3 1 UDP 2015363327 fe80::1 41000 typ host";
        assert_eq!(announce_external(v6, Some("203.0.113.7"), None), v6);
        assert_eq!(
            announce_external(v6, Some("203.0.113.7"), Some("2001:db8::7")),
            "candidate:3 1 UDP 2015363327 2001:db8::7 41000 typ host"
        );
    }
}
