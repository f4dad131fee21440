//! WHIP and WHEP for applications' WhipEndpoints and WhepEndpoints: `POST
//! /whip-endpoint/<token>` (or `/whep-endpoint/`) negotiates the endpoint the application made,
//! `PATCH` and `DELETE` on the session it answers with work as for streams. One client at a time
//! per endpoint; when it leaves (DELETE, or gone for `whip_timeout_secs`), the application hears
//! `MediaSessionTerminated` and the endpoint takes no new client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rheo_media as media;
use tracing::info;

use super::{sdpfrag, Created, Gateway, Refusal, Role, GATHERING_LIMIT};
use crate::objects::{values, whip_endpoint};

/// How often a session's connection is looked at.
const WATCH_PERIOD: Duration = Duration::from_millis(500);

/// An endpoint's client session.
pub(super) struct AppSession {
    /// Its client address's share, given back when the client leaves.
    slot: Option<super::IpSlot>,
    resource: String,
    etag: String,
    ufrag: Option<String>,
    /// The client left: the endpoint takes no other.
    ended: bool,
}

impl Gateway {
    /// The application's endpoint of `role` with `token`: its id and element.
    fn app_endpoint(&self, role: Role, token: &str) -> Result<(String, media::Element), Refusal> {
        let (_, objects) = self.client.core().snapshot();
        objects
            .iter()
            .find(|o| whip_endpoint::token_of(o, role).as_deref() == Some(token))
            .and_then(|o| Some((o.id.clone(), o.element()?.clone())))
            .ok_or_else(|| Refusal::new(404, "no such endpoint"))
    }

    /// POST: a client's offer for an application's endpoint.
    pub async fn app_offer(
        self: &Arc<Self>,
        client: std::net::IpAddr,
        role: Role,
        token: &str,
        offer: &str,
    ) -> Result<Created, Refusal> {
        let (id, element) = self.app_endpoint(role, token)?;
        let slot = self.take_slot(client)?;
        {
            let mut sessions = self.app.lock();
            match sessions.get(token) {
                Some(s) if s.ended => {
                    return Err(Refusal::new(410, "the endpoint's session ended"))
                }
                Some(_) => return Err(Refusal::new(409, "the endpoint already has a client")),
                None => {}
            }
            sessions.insert(
                token.to_owned(),
                AppSession {
                    slot: Some(slot),
                    resource: uuid::Uuid::new_v4().simple().to_string(),
                    etag: format!("\"{}\"", &uuid::Uuid::new_v4().simple().to_string()[..16]),
                    ufrag: sdpfrag::ufrag_of(offer),
                    ended: false,
                },
            );
        }
        let negotiated = {
            let (element, offer) = (element.clone(), offer.to_owned());
            tokio::task::spawn_blocking(move || negotiate(&element, &offer))
                .await
                .unwrap_or_else(|_| Err(Refusal::new(500, "negotiation failed")))
        };
        let answer = match negotiated {
            Ok(answer) => answer,
            Err(e) => {
                self.app.lock().remove(token);
                return Err(e);
            }
        };
        let (resource, etag) = {
            let sessions = self.app.lock();
            let s = &sessions[token];
            (s.resource.clone(), s.etag.clone())
        };
        info!(endpoint = %id, "WHIP/WHEP: a client joined an application's endpoint");
        self.watch_app_session(token.to_owned(), id, element);
        Ok(Created {
            resource,
            answer,
            etag,
        })
    }

    /// PATCH: trickled candidates for an endpoint's session.
    pub async fn app_trickle(
        &self,
        role: Role,
        token: &str,
        resource: &str,
        if_match: Option<&str>,
        body: &str,
    ) -> Result<(), Refusal> {
        let (etag, ufrag) = self.app_session(token, resource)?;
        let (_, element) = self.app_endpoint(role, token)?;
        let fragment = super::check_trickle(&etag, ufrag.as_deref(), if_match, body)?;
        let endpoint = element
            .webrtc()
            .ok_or_else(|| Refusal::new(500, "not a WebRTC endpoint"))?;
        for c in fragment.candidates {
            let mid = c.mid.unwrap_or_else(|| c.mline_index.to_string());
            endpoint
                .add_ice_candidate(&c.candidate, &mid, c.mline_index)
                .map_err(|e| super::refusal_of("bad candidate", values::media_error(e)))?;
        }
        Ok(())
    }

    /// DELETE: the client leaves; the application hears `MediaSessionTerminated`.
    pub async fn app_end(&self, role: Role, token: &str, resource: &str) -> Result<(), Refusal> {
        self.app_session(token, resource)?;
        let (_, element) = self.app_endpoint(role, token)?;
        self.end_app_session(token, &element, "the client ended it");
        Ok(())
    }

    fn app_session(
        &self,
        token: &str,
        resource: &str,
    ) -> Result<(String, Option<String>), Refusal> {
        match self.app.lock().get(token) {
            Some(s) if s.resource == resource && !s.ended => Ok((s.etag.clone(), s.ufrag.clone())),
            _ => Err(Refusal::new(404, "no such session")),
        }
    }

    fn end_app_session(&self, token: &str, element: &media::Element, reason: &str) {
        let was_live = match self.app.lock().get_mut(token) {
            Some(s) if !s.ended => {
                s.ended = true;
                s.slot = None;
                true
            }
            _ => false,
        };
        if was_live {
            if let Some(endpoint) = element.webrtc() {
                endpoint.terminate_session();
            }
            info!(reason, "WHIP/WHEP: an application endpoint's client left");
        }
    }

    /// Ends the session when its client does not connect in time or stays disconnected, and
    /// forgets it when the application releases the endpoint.
    fn watch_app_session(self: &Arc<Self>, token: String, id: String, element: media::Element) {
        let gateway = Arc::downgrade(self);
        let timeout = self.settings.idle_timeout;
        let connect_timeout = self.settings.connect_timeout;
        tokio::spawn(async move {
            let started = Instant::now();
            let (mut ever, mut since) = (false, Instant::now());
            loop {
                tokio::time::sleep(WATCH_PERIOD).await;
                let Some(gateway) = gateway.upgrade() else {
                    return;
                };
                if !gateway.client.core().has_object(&id) {
                    gateway.app.lock().remove(&token);
                    return;
                }
                if gateway.app.lock().get(&token).is_none_or(|s| s.ended) {
                    continue; // Kept (as ended) until the application releases the endpoint.
                }
                let connected = element
                    .webrtc()
                    .is_some_and(|e| e.connection_state() == media::ConnectionState::Connected);
                if connected {
                    ever = true;
                    since = Instant::now();
                } else if !ever && started.elapsed() > connect_timeout {
                    gateway.end_app_session(&token, &element, "its client did not connect in time");
                } else if ever && since.elapsed() > timeout {
                    gateway.end_app_session(&token, &element, "its client went away");
                }
            }
        });
    }
}

/// processOffer, then the answer with the candidates gathered within [`GATHERING_LIMIT`].
fn negotiate(element: &media::Element, offer: &str) -> Result<String, Refusal> {
    let endpoint = element
        .webrtc()
        .ok_or_else(|| Refusal::new(500, "not a WebRTC endpoint"))?;
    let answer = endpoint
        .process_offer(offer)
        .map_err(|e| super::refusal_of("bad offer", values::media_error(e)))?;
    endpoint
        .gather_candidates()
        .map_err(|e| super::refusal_of("cannot gather candidates", values::media_error(e)))?;
    let deadline = Instant::now() + GATHERING_LIMIT;
    loop {
        let (candidates, complete) = endpoint.local_candidates();
        if complete || Instant::now() > deadline {
            let candidates: Vec<(String, u32)> =
                candidates.into_iter().map(|(m, c)| (c, m)).collect();
            return Ok(sdpfrag::with_candidates(&answer, &candidates));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
