//! SDP negotiation: processOffer, generateOffer and processAnswer. The endpoint is marked
//! `Negotiating` while webrtcbin works, and no lock is held across its promises.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use gst::prelude::*;
use gst_webrtc::{WebRTCRTPTransceiver, WebRTCRTPTransceiverDirection as Dir};

use super::endpoint::{random_ssrc, Phase, WebRtcEndpoint, WrtcInner};
use crate::api_contract::*;
use crate::endpoints::sdp::{self, MLine};
use crate::graph::output::Format;
use crate::{err, ErrorKind};

pub(super) const PROMISE_TIMEOUT: Duration = Duration::from_secs(10);

impl WrtcInner {
    /// Marks a negotiation as under way when `allowed` accepts the current phase; one at a
    /// time.
    pub(super) fn begin_negotiation(
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

    /// Runs a webrtcbin action signal that replies through a promise; waits with a timeout.
    pub(super) fn promise(
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

    pub(super) fn set_local_ready(&self, sdp: &gst_sdp::SDPMessageRef) {
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

    pub(super) fn set_remote_ready(&self) {
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

    pub(super) fn after_negotiation(&self, remote: &[MLine]) {
        // Our outputs carry what the remote sends us.
        for ml in remote {
            if let (Some(c), Some(h)) = (&ml.codec, self.hub(ml.media)) {
                if !ml.rejected && !self.opts.sendonly {
                    h.set_format(Some(c.format));
                }
            }
        }
        // Messages flow once the description has data channels.
        if let Some(data) = &self.data {
            if remote
                .iter()
                .any(|m| m.media == MediaKind::Data && !m.rejected)
            {
                data.output.set_format(Some(Format::Data));
            }
        }
        self.emit(MediaEvent::MediaSessionStarted);
        self.graph.resolve();
    }
}

/// What processOffer answers.
pub(super) enum Answer {
    /// webrtcbin's answer (text and description), and the offer's m-lines.
    Negotiated(String, gst_webrtc::WebRTCSessionDescription, Vec<MLine>),
    /// Nothing in the offer can be served: every m-line rejected.
    Rejected(String),
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
            Ok(Answer::Rejected(text)) => {
                neg.phase = Phase::Negotiated;
                neg.local = Some(text.clone());
                neg.remote = Some(offer.to_string());
                Ok(text)
            }
            Ok(Answer::Negotiated(text, answer, mlines)) => {
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

    /// processOffer's work with webrtcbin. Runs without the negotiation lock.
    pub(super) fn answer(&self, offer: &str) -> crate::Result<Answer> {
        let i = &self.inner;
        let msg = sdp::parse(offer)?;
        let mut mlines = sdp::analyse(&msg);
        // WebRTC media is DTLS-SRTP: a plain RTP m-line (RTP/AVP) has nothing Rheo can serve.
        for ml in &mut mlines {
            let proto = msg.media(ml.index).and_then(|m| m.proto()).unwrap_or("");
            if !(proto.contains("SAVP") || proto.contains("DTLS")) {
                ml.codec = None;
            }
        }
        // Nothing in the offer Rheo can serve (a plain RTP/AVP offer, unknown codecs): every
        // m-line is answered rejected, as KMS does, rather than failing; webrtcbin is not used.
        let Ok(plan) = sdp::plan_answer(
            &mlines,
            i.opts.recvonly,
            i.opts.sendonly,
            i.opts.use_data_channels,
        ) else {
            return Ok(Answer::Rejected(sdp::rejecting_answer(&msg)));
        };
        if let Some(data) = &i.data {
            data.remote_max_message.store(
                super::data::max_message_size(&msg),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        let desc = gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Offer, msg);
        i.promise("set-remote-description", Some(desc.to_value()))
            .map_err(|e| err(ErrorKind::SdpNegotiation, e.message))?;
        i.set_remote_ready();

        let build = || -> crate::Result<gst_webrtc::WebRTCSessionDescription> {
            for answered in &plan {
                let (ml, c, flow) = (&answered.mline, &answered.codec, answered.flow);
                if flow.send {
                    let ssrc = random_ssrc();
                    let pad = i
                        .webrtcbin
                        .request_pad_simple("sink_%u")
                        .ok_or_else(|| err(ErrorKind::Internal, "webrtcbin sink pad"))?;
                    let t = pad.property::<WebRTCRTPTransceiver>("transceiver");
                    t.set_codec_preferences(Some(&sdp::codec_caps(ml, c, Some(ssrc))));
                    t.set_direction(if flow.recv {
                        Dir::Sendrecv
                    } else {
                        Dir::Sendonly
                    });
                    t.set_property("do-nack", true);
                    i.build_send_chain(ml.media, c, ssrc, &pad)?;
                } else {
                    let direction = if flow.recv {
                        Dir::Recvonly
                    } else {
                        Dir::Inactive
                    };
                    let t = i.webrtcbin.emit_by_name::<WebRTCRTPTransceiver>(
                        "add-transceiver",
                        &[&direction, &sdp::codec_caps(ml, c, None)],
                    );
                    if flow.recv {
                        t.set_property("do-nack", true);
                    }
                }
            }
            let reply = i
                .promise("create-answer", None)?
                .ok_or_else(|| err(ErrorKind::SdpNegotiation, "create-answer gave no answer"))?;
            let answer = reply
                .get::<gst_webrtc::WebRTCSessionDescription>("answer")
                .map_err(|_| err(ErrorKind::SdpNegotiation, "create-answer gave no answer"))?;
            let answer = if i.data.is_some() {
                super::data::announce_max_message_size(&answer)
            } else {
                answer
            };
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
        Ok(Answer::Negotiated(text, answer, mlines))
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
    pub(super) fn offer(
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
                        single_nal: false,
                    },
                    sdp::Codec {
                        format: Format::H264,
                        pt: 102,
                        clock_rate: 90000,
                        rtx_pt: None,
                        single_nal: false,
                    },
                ]
            } else {
                vec![sdp::Codec {
                    format: Format::Opus,
                    pt: 111,
                    clock_rate: 48000,
                    rtx_pt: None,
                    single_nal: false,
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
    pub(super) fn apply_answer(
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
            i.build_send_chain(*media, c, *ssrc, pad)?;
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
}
