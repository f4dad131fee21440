//! The endpoint itself: its state, webrtcbin and its settings, the element kind, and the
//! notifications webrtcbin's state changes become. Negotiation, ICE, media chains and stats
//! add their methods from their own files.

use std::any::Any;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use gst::prelude::*;
use parking_lot::Mutex;

use crate::api_contract::*;
use crate::endpoints::rtcp_feedback;
use crate::graph::context::{ElementContext, Graph};
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::flow::FlowTracker;
use crate::graph::output::{Format, Output};
use crate::graph::pipeline::MediaPipeline;
use crate::graph::rtp_fanout::{Packetization, RtpSender};
use crate::graph::send_bitrate::SendBitrate;
use crate::{err, ErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    New,
    /// A processOffer, generateOffer or processAnswer is talking to webrtcbin. The lock is not
    /// held meanwhile, so queries and other elements never wait on webrtcbin's promises.
    Negotiating,
    OfferGenerated,
    Negotiated,
}
pub(crate) struct Neg {
    pub(crate) phase: Phase,
    pub(crate) local: Option<String>,
    pub(crate) remote: Option<String>,
    /// Offerer case: sink pads requested at generate_offer, by m-line index.
    pub(crate) offer_pads: HashMap<u32, (MediaKind, gst::Pad, u32)>,
}
pub(crate) struct SendChain {
    pub(crate) media: MediaKind,
    pub(crate) format: Format,
    pub(crate) packetization: Packetization,
    pub(crate) ssrc: u32,
    pub(crate) sender: Arc<RtpSender>,
}
#[derive(Default)]
pub(crate) struct Ice {
    pub(crate) gather_requested: bool,
    pub(crate) local_ready: bool,
    pub(crate) pending: Vec<(u32, String)>,
    pub(crate) complete: bool,
    pub(crate) done_emitted: bool,
    pub(crate) remote_ready: bool,
    pub(crate) remote_queue: Vec<(u32, String)>,
    pub(crate) mids: Vec<String>,
    /// Candidates given out so far (m-line index, candidate), for answers that carry them.
    pub(crate) found: Vec<(u32, String)>,
}

pub(crate) struct States {
    pub(super) ice: Option<IceComponentState>,
    pub(super) conn: ConnectionState,
    pub(super) media: MediaState,
    pub(super) pair: Option<CandidatePair>,
}

pub(crate) struct WrtcInner {
    pub(super) id: String,
    pub(super) bin: gst::Bin,
    pub(super) webrtcbin: gst::Element,
    pub(super) opts: WebRtcOptions,
    pub(super) settings: Mutex<WebRtcSettings>,
    pub(super) events: EventSink,
    pub(super) flow: Arc<FlowTracker>,
    pub(super) graph: Graph,
    pub(super) neg: Mutex<Neg>,
    pub(super) ice: Mutex<Ice>,
    pub(super) audio_hub: Arc<Output>,
    pub(super) video_hub: Arc<Output>,
    pub(super) send: Mutex<Vec<SendChain>>,
    pub(super) recv_depayloaders: Mutex<HashMap<MediaKind, gst::Element>>,
    /// Media of each SSRC received: webrtcbin 1.22's stats mislabel bundled streams' `kind`.
    pub(super) recv_ssrcs: Mutex<HashMap<u32, MediaKind>>,
    /// The jitter buffer of each SSRC received, for retransmission requests (NACK).
    pub(super) jitterbuffers: Mutex<HashMap<u32, gst::glib::WeakRef<gst::Element>>>,
    /// Received SSRCs whose losses are asked for again (NACK negotiated), whichever of their
    /// jitter buffer and their pad webrtcbin makes first.
    pub(super) nack_ssrcs: Mutex<std::collections::HashSet<u32>>,
    /// The video bitrate the remote side can take, for encoders feeding this endpoint.
    pub(super) send_bitrate: Arc<SendBitrate>,
    pub(super) states: Mutex<States>,
    pub(super) released: AtomicBool,
    /// With `useDataChannels`.
    pub(super) data: Option<super::channels::DataChannels>,
}

/// The WebRTC side of an [`Element`] created by `create_webrtc_endpoint`.
pub struct WebRtcEndpoint {
    pub(super) inner: Arc<WrtcInner>,
}

/// Distinct random SSRCs drawn once per process and handed out in turn. GStreamer interns a
/// never-freed quark for every SSRC written into caps (`ssrc-<n>-cname`…), so a fresh value for
/// every sent m-line grew the process by about 0.25 KiB per m-line and negotiation; a fixed pool
/// bounds that. Values only need to be unique within one endpoint's session, and consecutive
/// ones are.
const SSRC_POOL: usize = 1024;

/// The shortest interval between regular RTCP reports of an endpoint that receives media
/// (webrtcbin's sessions are AVPF, where RFC 4585 allows any): its NACKs and PLIs go out at
/// least this often. Endpoints that only send keep rtpsession's 5 s: at 100 ms, a presenter's
/// 100 viewers spent half as much CPU again on reports nobody needed.
pub(super) const RTCP_MIN_INTERVAL: gst::ClockTime = gst::ClockTime::from_mseconds(100);

pub(super) fn random_ssrc() -> u32 {
    static POOL: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let pool = POOL.get_or_init(|| {
        let mut seen = std::collections::HashSet::with_capacity(SSRC_POOL);
        let state = std::collections::hash_map::RandomState::new();
        let mut counter = 0u64;
        while seen.len() < SSRC_POOL {
            let mut h = state.build_hasher();
            h.write_u64(counter);
            h.write_u64(crate::graph::flow::now_ms());
            counter += 1;
            let ssrc = h.finish() as u32;
            if ssrc != 0 {
                seen.insert(ssrc);
            }
        }
        seen.into_iter().collect()
    });
    pool[(NEXT.fetch_add(1, Ordering::Relaxed) % SSRC_POOL as u64) as usize]
}

pub(super) fn apply_settings(webrtcbin: &gst::Element, s: &WebRtcSettings) {
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

pub(super) fn build(
    ctx: &ElementContext,
    opts: WebRtcOptions,
) -> crate::Result<(gst::Bin, WebRtcEndpoint)> {
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
    let data_output = opts
        .use_data_channels
        .then(|| Output::new(id, MediaKind::Data, ctx.hubs.clone(), None));
    let inner = Arc::new_cyclic(|weak: &std::sync::Weak<WrtcInner>| WrtcInner {
        id: id.to_string(),
        bin: bin.clone(),
        webrtcbin: webrtcbin.clone(),
        opts,
        settings: Mutex::new(ctx.settings.clone()),
        events: ctx.events.clone(),
        flow: flow.clone(),
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
        recv_depayloaders: Mutex::new(HashMap::new()),
        recv_ssrcs: Mutex::new(HashMap::new()),
        jitterbuffers: Mutex::new(HashMap::new()),
        nack_ssrcs: Mutex::default(),
        send_bitrate: Arc::default(),
        states: Mutex::new(States {
            ice: None,
            conn: ConnectionState::Disconnected,
            media: MediaState::Disconnected,
            pair: None,
        }),
        released: AtomicBool::new(false),
        data: data_output.map(|output| {
            let endpoint = weak.clone();
            super::channels::DataChannels::new(output, move |bytes, binary, label| {
                if let Some(i) = endpoint.upgrade() {
                    i.send_message(bytes, binary, label);
                }
            })
        }),
    });
    let weak = Arc::downgrade(&inner);
    webrtcbin.connect("on-data-channel", false, move |args| {
        let channel = args.get(1)?.get::<gst_webrtc::WebRTCDataChannel>().ok()?;
        if let Some(i) = weak.upgrade() {
            i.adopt_channel(channel);
        }
        None
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
    if let Some(rtpbin) = webrtcbin
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name("rtpbin"))
        .and_then(|e| e.downcast::<gst::Bin>().ok())
    {
        // The receiver's reports steer the encoders that feed this endpoint.
        let weak = Arc::downgrade(&inner);
        rtcp_feedback::follow_sessions(&rtpbin, move |feedback| {
            if let Some(i) = weak.upgrade() {
                i.on_rtcp_feedback(&feedback);
            }
        });
        let weak = Arc::downgrade(&inner);
        rtpbin.connect("new-jitterbuffer", false, move |args| {
            let jitterbuffer = args.get(1)?.get::<gst::Element>().ok()?;
            let ssrc = args.get(3)?.get::<u32>().ok()?;
            if let Some(i) = weak.upgrade() {
                i.jitterbuffers
                    .lock()
                    .insert(ssrc, jitterbuffer.downgrade());
                if i.nack_ssrcs.lock().contains(&ssrc) {
                    jitterbuffer.set_property("do-retransmission", true);
                }
            }
            None
        });
    }
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

impl WrtcInner {
    fn on_rtcp_feedback(&self, feedback: &[rtcp_feedback::Feedback]) {
        let video: Vec<(u32, Arc<RtpSender>)> = self
            .send
            .lock()
            .iter()
            .filter(|c| c.media == MediaKind::Video)
            .map(|c| (c.ssrc, c.sender.clone()))
            .collect();
        let ssrcs: Vec<u32> = video.iter().map(|(ssrc, _)| *ssrc).collect();
        if rtcp_feedback::apply(feedback, &ssrcs, &self.send_bitrate) {
            for (_, sender) in &video {
                sender.bitrate_changed();
            }
        }
    }

    pub(super) fn hub(&self, media: MediaKind) -> Option<&Arc<Output>> {
        match media {
            MediaKind::Audio => Some(&self.audio_hub),
            MediaKind::Video => Some(&self.video_hub),
            MediaKind::Data => self.data.as_ref().map(|d| &d.output),
        }
    }

    pub(super) fn emit(&self, event: MediaEvent) {
        (self.events)(ElementEvent {
            element: self.id.clone(),
            event,
        });
    }
}

impl ElementKind for WebRtcEndpoint {
    fn input(&self, media: MediaKind) -> Input {
        if media == MediaKind::Data {
            return match &self.inner.data {
                Some(data) => Input::Any(data.input.clone()),
                None => Input::Absent,
            };
        }
        if self.inner.neg.lock().phase != Phase::Negotiated {
            return if self.inner.opts.recvonly {
                Input::Absent
            } else {
                Input::Unknown
            };
        }
        match self.inner.send.lock().iter().find(|c| c.media == media) {
            Some(c) => Input::Rtp(c.format, c.packetization, c.sender.clone()),
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
        if let Some(data) = &self.inner.data {
            data.input.stop();
        }
        for chain in self.inner.send.lock().drain(..) {
            chain.sender.close();
        }
        self.inner.recv_depayloaders.lock().clear();
        let _ = self.inner.bin.set_state(gst::State::Null);
        crate::graph::teardown::release_request_pads(self.inner.bin.upcast_ref());
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl WebRtcEndpoint {
    /// Kurento createDataChannel (after negotiation, with `useDataChannels`).
    pub fn create_data_channel(&self, options: DataChannelOptions) -> crate::Result<()> {
        let mut s = gst::Structure::builder("config").field("ordered", options.ordered);
        if let Some(ms) = options.max_packet_lifetime_ms {
            s = s.field("max-packet-lifetime", ms);
        }
        if let Some(n) = options.max_retransmits {
            s = s.field("max-retransmits", n);
        }
        if !options.protocol.is_empty() {
            s = s.field("protocol", options.protocol.as_str());
        }
        self.inner.create_data_channel(&options.label, s.build())
    }

    /// Kurento closeDataChannel.
    pub fn close_data_channel(&self, channel_id: i32) -> crate::Result<()> {
        self.inner.close_data_channel(channel_id)
    }

    /// The data channels' counters (empty without `useDataChannels`).
    pub fn data_channel_stats(&self) -> Vec<DataChannelStats> {
        self.inner.data_channel_stats()
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

    /// The bounds of the video bitrate encoded for this endpoint (kbps; a maximum of 0: none).
    pub fn set_video_send_bandwidth(&self, min_kbps: u32, max_kbps: u32) {
        self.inner.send_bitrate.set_bounds(min_kbps, max_kbps);
        for chain in self.inner.send.lock().iter() {
            chain.sender.bitrate_changed();
        }
    }

    pub fn connection_state(&self) -> ConnectionState {
        self.inner.states.lock().conn
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
}

pub(super) fn ice_state(s: gst_webrtc::WebRTCICEConnectionState) -> IceComponentState {
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
