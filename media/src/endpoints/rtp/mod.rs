//! RtpEndpoint: plain RTP (RTP/AVP, RTP/AVPF) with a peer that is not a browser: an IP camera,
//! a `gst-launch-1.0` sender or receiver, another media server. Offer/answer as Kurento's
//! SdpEndpoint, one rtpbin session per m-line on UDP ports of the configured range, RTCP on the
//! next port, keyframe requests (PLI/FIR) both ways.

mod description;
mod srtp;
mod transport;

pub use srtp::{SrtpKey, SrtpSuite};

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gst::prelude::*;
use parking_lot::Mutex;

use crate::api_contract::*;
use crate::endpoints::rtcp_feedback;
use crate::endpoints::rtp_chains::{self, ReceiveChain};
use crate::endpoints::sdp::{self, Codec, Dir};
use crate::graph::context::{ElementContext, Graph};
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::flow::FlowTracker;
use crate::graph::output::{AppSrcConsumer, Format, Output, OutputContext};
use crate::graph::pipeline::MediaPipeline;
use crate::graph::send_bitrate::SendBitrate;
use crate::{err, ErrorKind};
use description::{LocalMLine, RemoteAddress};
use transport::{random_u32, Session};

/// Jitter buffer of received streams: enough for a LAN or a camera, short for a call.
const LATENCY_MS: u32 = 100;
/// SRTP packets arriving this long without one decrypting mean a wrong key.
const UNDECRYPTABLE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Constructor options of an RtpEndpoint.
#[derive(Debug, Clone, Default)]
pub struct RtpOptions {
    /// SDES-SRTP: Rheo's key (what it sends is encrypted with it); `None` for plain RTP.
    pub crypto: Option<SrtpKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Offered,
    Negotiated,
}

struct Negotiation {
    phase: Phase,
    local: Option<String>,
    remote: Option<String>,
    /// What Rheo offered, m-line by m-line (generateOffer).
    offered: Vec<LocalMLine>,
    session_id: u64,
}

struct Sending {
    media: MediaKind,
    format: Format,
    ssrc: u32,
    consumer: Arc<AppSrcConsumer>,
}

struct Inner {
    id: String,
    bin: gst::Bin,
    rtpbin: gst::Element,
    settings: crate::WebRtcSettings,
    events: EventSink,
    flow: Arc<FlowTracker>,
    outputs: Arc<OutputContext>,
    graph: Graph,
    audio: Arc<Output>,
    video: Arc<Output>,
    negotiation: Mutex<Negotiation>,
    sessions: Mutex<Vec<Session>>,
    sending: Mutex<Vec<Sending>>,
    depayloaders: Mutex<HashMap<MediaKind, gst::Element>>,
    media_state: Mutex<MediaState>,
    released: AtomicBool,
    crypto: Option<SrtpKey>,
    /// The remote side's SRTP keys, by rtpbin session.
    remote_keys: Mutex<HashMap<u32, SrtpKey>>,
    /// Packets that left an SRTP decoder (none while packets arrive: a wrong key).
    decrypted: std::sync::atomic::AtomicU64,
    /// The video bitrate the remote side can take, for encoders feeding this endpoint.
    send_bitrate: Arc<SendBitrate>,
}

/// An RtpEndpoint's handle (see [`Element::rtp`]).
pub struct RtpEndpoint {
    inner: Arc<Inner>,
}

impl Element {
    pub fn rtp(&self) -> Option<&RtpEndpoint> {
        self.kind::<RtpEndpoint>()
    }
}

impl RtpEndpoint {
    pub fn create(
        pipeline: &MediaPipeline,
        id: &str,
        options: RtpOptions,
    ) -> crate::Result<Element> {
        pipeline.add(id, |ctx| build(ctx, options))
    }

    /// Kurento processOffer: the answer, with one port pair per m-line Rheo serves and the
    /// others rejected (port 0).
    pub fn process_offer(&self, offer: &str) -> crate::Result<String> {
        let i = &self.inner;
        let msg = sdp::parse(offer)?;
        let mut neg = i.negotiation.lock();
        if neg.phase != Phase::New {
            return Err(err(
                ErrorKind::AlreadyNegotiated,
                "endpoint already negotiated",
            ));
        }
        let analysed = sdp::analyse(&msg);
        let mut answer = Vec::new();
        let mut started = Vec::new();
        let result = (|| -> crate::Result<()> {
            for (index, m) in msg.medias().enumerate() {
                let index = index as u32;
                let proto = m.proto().unwrap_or("RTP/AVP").to_owned();
                let line = analysed.iter().find(|l| l.index == index);
                let usable =
                    line.filter(|l| !l.rejected && l.media != MediaKind::Data && l.codec.is_some());
                // With SDES, an m-line without a key of Rheo's suite cannot be served, and
                // without it a secure one cannot.
                let remote_key = i.crypto.as_ref().map(|k| srtp::remote_key(m, k.suite));
                let secure = proto.contains("SAVP");
                let keys_fit = match &remote_key {
                    Some(found) => found.is_some(),
                    None => !secure,
                };
                let Some(line) = usable.filter(|_| keys_fit) else {
                    let formats: Vec<&str> = m.formats().collect();
                    answer.push(rejected(m.media().unwrap_or("video"), &proto, &formats));
                    continue;
                };
                let remote_key = remote_key.flatten();
                let codec = line.codec.clone().expect("usable");
                let dir = description::reversed(line.dir);
                let remote = description::remote_address(&msg, index);
                let ssrc = matches!(dir, Dir::SendRecv | Dir::SendOnly).then(random_u32);
                let session = i.open(line.media, vec![codec.clone()])?;
                let crypto = remote_key.map(|(tag, key)| {
                    i.remote_keys.lock().insert(session.index, key);
                    i.crypto.as_ref().expect("keys fit").sdp_line(tag)
                });
                answer.push(LocalMLine {
                    media: line.media,
                    port: session.rtp_port,
                    proto,
                    codecs: vec![codec.clone()],
                    dir,
                    ssrc,
                    rejected: None,
                    crypto,
                });
                started.push((session, codec, dir, remote, ssrc));
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (session, ..) in started {
                i.close(session);
            }
            return Err(e);
        }
        neg.session_id = u64::from(random_u32());
        let text = description::write(
            transport::announced_address(&i.settings),
            neg.session_id,
            1,
            &answer,
        );
        for (session, codec, dir, remote, ssrc) in started {
            i.start(session, &codec, dir, remote, ssrc)?;
        }
        neg.phase = Phase::Negotiated;
        neg.local = Some(text.clone());
        neg.remote = Some(offer.to_owned());
        drop(neg);
        i.after_negotiation();
        Ok(text)
    }

    /// Kurento generateOffer: VP8 and H.264 video, Opus audio, each on its own port pair.
    pub fn generate_offer(&self, options: OfferOptions) -> crate::Result<String> {
        let i = &self.inner;
        let mut neg = i.negotiation.lock();
        if neg.phase != Phase::New {
            return Err(err(
                ErrorKind::AlreadyNegotiated,
                "endpoint already negotiated",
            ));
        }
        let mut offered = Vec::new();
        let mut sessions = Vec::new();
        let wanted = [
            (MediaKind::Audio, options.offer_to_receive_audio),
            (MediaKind::Video, options.offer_to_receive_video),
        ];
        for (media, receive) in wanted {
            let codecs = description::offered_codecs(media);
            let session = match i.open(media, codecs.clone()) {
                Ok(s) => s,
                Err(e) => {
                    for s in sessions {
                        i.close(s);
                    }
                    return Err(e);
                }
            };
            offered.push(LocalMLine {
                media,
                port: session.rtp_port,
                proto: if i.crypto.is_some() {
                    "RTP/SAVPF"
                } else {
                    "RTP/AVPF"
                }
                .into(),
                codecs,
                dir: if receive {
                    Dir::SendRecv
                } else {
                    Dir::SendOnly
                },
                ssrc: Some(random_u32()),
                rejected: None,
                crypto: i.crypto.as_ref().map(|k| k.sdp_line(1)),
            });
            sessions.push(session);
        }
        neg.session_id = u64::from(random_u32());
        let text = description::write(
            transport::announced_address(&i.settings),
            neg.session_id,
            1,
            &offered,
        );
        for session in &sessions {
            session.start();
        }
        i.sessions.lock().extend(sessions);
        neg.phase = Phase::Offered;
        neg.offered = offered;
        neg.local = Some(text.clone());
        Ok(text)
    }

    /// Kurento processAnswer, after generateOffer: returns the local description.
    pub fn process_answer(&self, answer: &str) -> crate::Result<String> {
        let i = &self.inner;
        let mut neg = i.negotiation.lock();
        match neg.phase {
            Phase::Offered => {}
            Phase::New => {
                return Err(err(
                    ErrorKind::NoOfferGenerated,
                    "processAnswer needs a generateOffer first",
                ))
            }
            Phase::Negotiated => {
                return Err(err(
                    ErrorKind::AnswerAlreadyProcessed,
                    "the answer was already processed",
                ))
            }
        }
        let msg = sdp::parse(answer)?;
        if msg.medias_len() as usize != neg.offered.len() {
            return Err(err(
                ErrorKind::SdpNegotiation,
                format!(
                    "the answer has {} m-lines for the offer's {}",
                    msg.medias_len(),
                    neg.offered.len()
                ),
            ));
        }
        let analysed = sdp::analyse(&msg);
        let sessions: Vec<Session> = std::mem::take(&mut *i.sessions.lock());
        let mut plan = Vec::new();
        for (index, (offered, session)) in neg.offered.iter().zip(sessions).enumerate() {
            let line = analysed.iter().find(|l| l.index == index as u32);
            let chosen = line
                .filter(|l| !l.rejected && l.media == offered.media)
                .and_then(|l| {
                    let c = l.codec.as_ref()?;
                    offered
                        .codecs
                        .iter()
                        .any(|o| o.format == c.format)
                        .then(|| (c.clone(), l.dir))
                });
            match chosen {
                Some((codec, remote_dir))
                    if i.accepts_remote_key(&msg, index as u32, session.index) =>
                {
                    let mut dir = description::reversed(remote_dir);
                    if offered.dir == Dir::SendOnly && dir == Dir::SendRecv {
                        dir = Dir::SendOnly;
                    }
                    let remote = description::remote_address(&msg, index as u32);
                    plan.push((session, codec, dir, remote, offered.ssrc));
                }
                _ => i.close(session),
            }
        }
        for (session, codec, dir, remote, ssrc) in plan {
            // The answer may use other payload types than the offer: rtpbin maps the answer's.
            let mut session = session;
            session.codecs = vec![codec.clone()];
            i.start(session, &codec, dir, remote, ssrc)?;
        }
        neg.phase = Phase::Negotiated;
        neg.remote = Some(answer.to_owned());
        let local = neg.local.clone().unwrap_or_default();
        drop(neg);
        i.after_negotiation();
        Ok(local)
    }

    pub fn local_description(&self) -> crate::Result<String> {
        self.inner
            .negotiation
            .lock()
            .local
            .clone()
            .ok_or_else(|| err(ErrorKind::NoLocalSdp, "no local SDP"))
    }

    pub fn remote_description(&self) -> crate::Result<String> {
        self.inner
            .negotiation
            .lock()
            .remote
            .clone()
            .ok_or_else(|| err(ErrorKind::NoRemoteSdp, "no remote SDP"))
    }

    /// The bounds of the video bitrate encoded for this endpoint (kbps; a maximum of 0: none).
    pub fn set_video_send_bandwidth(&self, min_kbps: u32, max_kbps: u32) {
        self.inner.send_bitrate.set_bounds(min_kbps, max_kbps);
        for sending in self.inner.sending.lock().iter() {
            sending.consumer.bitrate_changed();
        }
    }

    /// CONNECTED once RTP arrives.
    pub fn media_state(&self) -> MediaState {
        *self.inner.media_state.lock()
    }

    /// CONNECTED once negotiated (plain RTP has no transport handshake).
    pub fn connection_state(&self) -> ConnectionState {
        if self.inner.negotiation.lock().phase == Phase::Negotiated {
            ConnectionState::Connected
        } else {
            ConnectionState::Disconnected
        }
    }
}

fn rejected(media: &str, proto: &str, formats: &[&str]) -> LocalMLine {
    LocalMLine {
        media: MediaKind::Video,
        port: 0,
        proto: proto.to_owned(),
        codecs: Vec::new(),
        dir: Dir::Inactive,
        ssrc: None,
        rejected: Some((media.to_owned(), formats.join(" "))),
        crypto: None,
    }
}

fn build(ctx: &ElementContext, options: RtpOptions) -> crate::Result<(gst::Bin, RtpEndpoint)> {
    let bin = gst::Bin::with_name(&ctx.unique_name("rtp"));
    let rtpbin = rtp_chains::make("rtpbin")?;
    rtpbin.set_property("latency", LATENCY_MS);
    bin.add(&rtpbin)
        .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
    let id = ctx.id.as_str();
    let flow = ctx.flow.clone();
    let inner = Arc::new(Inner {
        id: id.to_owned(),
        bin: bin.clone(),
        rtpbin: rtpbin.clone(),
        settings: ctx.settings.clone(),
        events: ctx.events.clone(),
        flow: flow.clone(),
        outputs: ctx.hubs.clone(),
        graph: ctx.graph.clone(),
        audio: Output::new(id, MediaKind::Audio, ctx.hubs.clone(), Some(flow.clone())),
        video: Output::new(id, MediaKind::Video, ctx.hubs.clone(), Some(flow)),
        negotiation: Mutex::new(Negotiation {
            phase: Phase::New,
            local: None,
            remote: None,
            offered: Vec::new(),
            session_id: 0,
        }),
        sessions: Mutex::new(Vec::new()),
        sending: Mutex::new(Vec::new()),
        depayloaders: Mutex::new(HashMap::new()),
        media_state: Mutex::new(MediaState::Disconnected),
        released: AtomicBool::new(false),
        crypto: options.crypto,
        remote_keys: Mutex::new(HashMap::new()),
        decrypted: std::sync::atomic::AtomicU64::new(0),
        send_bitrate: Arc::default(),
    });

    for media in [MediaKind::Audio, MediaKind::Video] {
        let weak = Arc::downgrade(&inner);
        inner.output(media).set_keyframe_fn(Some(Box::new(move || {
            let depayloader = weak
                .upgrade()
                .and_then(|i| i.depayloaders.lock().get(&media).cloned());
            if let Some(depayloader) = depayloader {
                rtp_chains::request_keyframe(&depayloader);
            }
        })));
    }
    if let Some(rtpbin) = rtpbin.downcast_ref::<gst::Bin>() {
        let weak = Arc::downgrade(&inner);
        rtcp_feedback::follow_sessions(rtpbin, move |feedback| {
            if let Some(i) = weak.upgrade() {
                i.on_rtcp_feedback(&feedback);
            }
        });
    }
    let weak = Arc::downgrade(&inner);
    rtpbin.connect("request-pt-map", false, move |args| {
        let session = args.get(1)?.get::<u32>().ok()?;
        let pt = args.get(2)?.get::<u32>().ok()?;
        let inner = weak.upgrade()?;
        let caps = inner
            .sessions
            .lock()
            .iter()
            .find(|s| s.index == session)
            .and_then(|s| s.pt_caps(pt));
        caps.map(|c| c.to_value())
    });
    let weak = Arc::downgrade(&inner);
    rtpbin.connect_pad_added(move |_, pad| {
        if let Some(inner) = weak.upgrade() {
            inner.on_received_stream(pad);
        }
    });
    ctx.pipeline
        .add(&bin)
        .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
    if let Err(e) = bin.sync_state_with_parent() {
        ctx.remove_bin(&bin);
        return Err(err(ErrorKind::Internal, format!("rtpbin start: {e}")));
    }
    Ok((bin, RtpEndpoint { inner }))
}

impl Inner {
    fn on_rtcp_feedback(&self, feedback: &[rtcp_feedback::Feedback]) {
        let video: Vec<(u32, Arc<AppSrcConsumer>)> = self
            .sending
            .lock()
            .iter()
            .filter(|s| s.media == MediaKind::Video)
            .map(|s| (s.ssrc, s.consumer.clone()))
            .collect();
        let ssrcs: Vec<u32> = video.iter().map(|(ssrc, _)| *ssrc).collect();
        if rtcp_feedback::apply(feedback, &ssrcs, &self.send_bitrate) {
            for (_, consumer) in &video {
                consumer.bitrate_changed();
            }
        }
    }

    fn output(&self, media: MediaKind) -> &Arc<Output> {
        match media {
            MediaKind::Audio => &self.audio,
            _ => &self.video,
        }
    }

    fn emit(&self, event: MediaEvent) {
        (self.events)(ElementEvent {
            element: self.id.clone(),
            event,
        });
    }

    /// A new rtpbin session receiving `codecs` on a fresh port pair.
    fn open(self: &Arc<Self>, media: MediaKind, codecs: Vec<Codec>) -> crate::Result<Session> {
        let id = self.outputs.next() as u32;
        let port = transport::free_port_pair(self.settings.min_port, self.settings.max_port)?;
        let decoder = match self.crypto {
            Some(_) => Some(self.srtp_decoder(id)?),
            None => None,
        };
        let session =
            transport::open_session(&self.bin, &self.rtpbin, id, media, port, codecs, decoder)?;
        let state = Arc::downgrade(self);
        session
            .rtp_pad()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if let Some(inner) = state.upgrade() {
                    inner.on_first_packet();
                }
                gst::PadProbeReturn::Remove
            });
        Ok(session)
    }

    fn close(&self, session: Session) {
        session.remove(&self.bin, &self.rtpbin);
    }

    /// Starts a negotiated session: what it receives (its codec) and, when it sends, the
    /// payloader of `codec` to the remote address.
    fn start(
        self: &Arc<Self>,
        session: Session,
        codec: &Codec,
        dir: Dir,
        remote: Option<RemoteAddress>,
        ssrc: Option<u32>,
    ) -> crate::Result<()> {
        let sends = matches!(dir, Dir::SendRecv | Dir::SendOnly) && remote.is_some();
        let receives = matches!(dir, Dir::SendRecv | Dir::RecvOnly);
        let mut payloader = None;
        if sends {
            let name = format!("send-{:?}-{}", session.media, self.outputs.next()).to_lowercase();
            let ssrc = ssrc.unwrap_or_else(random_u32);
            let bitrate = (session.media == MediaKind::Video).then(|| self.send_bitrate.clone());
            let chain = rtp_chains::send_chain(
                &self.bin,
                &name,
                codec,
                ssrc,
                self.settings.mtu,
                Some((self.flow.clone(), session.media)),
                bitrate,
            )?;
            self.sending.lock().push(Sending {
                media: session.media,
                format: codec.format,
                ssrc,
                consumer: chain.consumer.clone(),
            });
            payloader = Some(chain);
        }
        if let Some(remote) = remote {
            let encoder = match &self.crypto {
                Some(key) => Some(self.srtp_encoder(key, session.media)?),
                None => None,
            };
            session.send_to(
                &self.bin,
                &self.rtpbin,
                remote,
                payloader.as_ref().map(|c| &c.payloader),
                encoder.as_ref(),
            )?;
        }
        if let Some(chain) = &payloader {
            chain.start();
        }
        if receives {
            self.output(session.media).set_format(Some(codec.format));
        }
        session.start();
        self.sessions.lock().push(session);
        Ok(())
    }

    /// With SDES, the srtpdec of session `session`: the remote key is looked up when the first
    /// packet comes, and what leaves it is counted (none leaving means a wrong key).
    fn srtp_decoder(self: &Arc<Self>, session: u32) -> crate::Result<gst::Element> {
        let keys = Arc::downgrade(self);
        let dec = srtp::decoder(move || keys.upgrade()?.remote_key(session))?;
        let counted = Arc::downgrade(self);
        if let Some(pad) = dec.static_pad("rtp_src") {
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if let Some(inner) = counted.upgrade() {
                    inner.decrypted.fetch_add(1, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        }
        Ok(dec)
    }

    /// With SDES, the srtpenc of what a session of `media` sends, reporting its key's soft
    /// limit.
    fn srtp_encoder(
        self: &Arc<Self>,
        key: &SrtpKey,
        media: MediaKind,
    ) -> crate::Result<gst::Element> {
        let enc = srtp::encoder(key)?;
        let weak = Arc::downgrade(self);
        enc.connect("soft-limit", false, move |_| {
            if let Some(inner) = weak.upgrade() {
                inner.emit(MediaEvent::OnKeySoftLimit { media });
            }
            None
        });
        Ok(enc)
    }

    /// The remote SRTP key of `session`, when known.
    fn remote_key(&self, session: u32) -> Option<SrtpKey> {
        self.remote_keys.lock().get(&session).cloned()
    }

    /// With SDES, whether m-line `index` of the remote description has a key of Rheo's suite
    /// (then kept for `session`); without, whether the m-line is plain RTP.
    fn accepts_remote_key(&self, msg: &gst_sdp::SDPMessageRef, index: u32, session: u32) -> bool {
        let Some(m) = msg.media(index) else {
            return false;
        };
        match &self.crypto {
            None => !m.proto().unwrap_or("").contains("SAVP"),
            Some(ours) => match srtp::remote_key(m, ours.suite) {
                Some((_, key)) => {
                    self.remote_keys.lock().insert(session, key);
                    true
                }
                None => false,
            },
        }
    }

    /// SRTP packets came and none decrypted: the keys do not match.
    fn check_decryption(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name("rheo-srtp-check".into())
            .spawn(move || {
                std::thread::sleep(UNDECRYPTABLE_AFTER);
                let Some(inner) = weak.upgrade() else { return };
                if !inner.released.load(Ordering::SeqCst)
                    && inner.decrypted.load(Ordering::Relaxed) == 0
                {
                    inner.emit(MediaEvent::Error {
                        description: "SRTP packets arrive but none can be decrypted: the \
                                      remote key does not match"
                            .into(),
                        code: 0,
                        kind: "SRTP_DECRYPT_ERROR".into(),
                    });
                }
            });
    }

    fn after_negotiation(&self) {
        self.emit(MediaEvent::MediaSessionStarted);
        self.graph.resolve();
    }

    fn on_first_packet(self: &Arc<Self>) {
        let changed = {
            let mut state = self.media_state.lock();
            let old = *state;
            *state = MediaState::Connected;
            (old != MediaState::Connected).then_some(old)
        };
        if let Some(old) = changed {
            self.emit(MediaEvent::MediaStateChanged {
                old,
                new: MediaState::Connected,
            });
            if self.crypto.is_some() {
                self.check_decryption();
            }
        }
    }

    /// `recv_rtp_src_<session>_<ssrc>_<pt>`: a stream arrived; depayload it into the output.
    fn on_received_stream(&self, pad: &gst::Pad) {
        if self.released.load(Ordering::SeqCst) || !pad.name().starts_with("recv_rtp_src_") {
            return;
        }
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(s) = caps.structure(0) else { return };
        let media = match s.get::<&str>("media") {
            Ok("audio") => MediaKind::Audio,
            _ => MediaKind::Video,
        };
        let encoding = s.get::<&str>("encoding-name").unwrap_or("");
        let ReceiveChain {
            elements,
            depayloader,
        } = match rtp_chains::receive_chain(encoding, self.output(media)) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(element = %self.id, "receive chain: {}", e.message);
                return;
            }
        };
        if self.bin.add_many(&elements).is_err()
            || (elements.len() > 1 && gst::Element::link_many(&elements).is_err())
        {
            tracing::warn!(element = %self.id, "receive chain link failed");
            return;
        }
        for e in &elements {
            let _ = e.sync_state_with_parent();
        }
        if let Err(e) = pad.link(&elements[0].static_pad("sink").expect("sink")) {
            tracing::warn!(element = %self.id, "link {}: {e:?}", pad.name());
        }
        if let Some(depayloader) = depayloader {
            self.depayloaders.lock().insert(media, depayloader);
        }
    }
}

impl ElementKind for RtpEndpoint {
    fn input(&self, media: MediaKind) -> Input {
        if media == MediaKind::Data {
            return Input::Absent;
        }
        if self.inner.negotiation.lock().phase != Phase::Negotiated {
            return Input::Unknown;
        }
        match self.inner.sending.lock().iter().find(|s| s.media == media) {
            Some(s) => Input::Fixed(s.format, s.consumer.clone()),
            None => Input::Absent,
        }
    }

    fn output(&self, media: MediaKind) -> Option<Arc<Output>> {
        match media {
            MediaKind::Audio => Some(self.inner.audio.clone()),
            MediaKind::Video => Some(self.inner.video.clone()),
            MediaKind::Data => None,
        }
    }

    fn release(&self) {
        self.inner.released.store(true, Ordering::SeqCst);
        self.inner.sending.lock().clear();
        self.inner.sessions.lock().clear();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
