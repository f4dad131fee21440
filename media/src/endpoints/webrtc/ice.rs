//! ICE: local candidates (with the external address behind a 1:1 NAT) held until the local
//! description is set and gathering was asked for, remote candidates held until the remote
//! description is set, and the connection states.

use std::sync::atomic::Ordering;

use gst::prelude::*;
use gst_webrtc::WebRTCRTPTransceiver;

use super::endpoint::{WebRtcEndpoint, WrtcInner};
use crate::api_contract::*;
use crate::{err, ErrorKind};

/// A candidate as seen from outside a 1:1 NAT: the configured external address of its family
/// replaces the local one in host candidates, and in the related address (`raddr`) of the
/// others, so the private address is never announced (KMS's `externalIPv4`/`externalIPv6`).
pub(super) fn announce_external(
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

/// Candidates held until the remote description arrives (a browser sends a few dozen).
const MAX_QUEUED_CANDIDATES: usize = 256;

impl WrtcInner {
    pub(super) fn on_local_candidate(&self, mline: u32, cand: String) {
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
            ice.found.push((mline, cand.clone()));
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
    pub(super) fn flush_candidates(&self) {
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
            let given: Vec<(u32, String)> = out.iter().map(|(m, c, _)| (*m, c.clone())).collect();
            ice.found.extend(given);
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
}

impl WebRtcEndpoint {
    /// The local candidates given out so far (m-line index, `candidate:...`), and whether
    /// gathering is over: what an answer that carries its candidates (WHIP's) is made of.
    pub fn local_candidates(&self) -> (Vec<(u32, String)>, bool) {
        let ice = self.inner.ice.lock();
        (ice.found.clone(), ice.done_emitted)
    }

    /// Ends the media session for the application (`MediaSessionTerminated`): its client left.
    pub fn terminate_session(&self) {
        self.inner.emit(MediaEvent::MediaSessionTerminated);
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
        if let Err(why) = crate::endpoints::sdp::candidate::check(c) {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("invalid candidate {c:?}: {why}"),
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
        } else if ice.remote_queue.len() < MAX_QUEUED_CANDIDATES {
            ice.remote_queue.push((sdp_mline_index, c));
        } else {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!(
                    "more than {MAX_QUEUED_CANDIDATES} candidates before the remote description"
                ),
            ));
        }
        Ok(())
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

    pub(super) fn selected_pair(&self) -> Option<CandidatePair> {
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
