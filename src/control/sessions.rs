//! Sessions: binding to connections, keep-alive, references, closing, and the garbage collector
//! that releases what only dead sessions referenced.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tracing::debug;

use super::params::Params;
use super::{Connection, Core, Result};
use crate::objects::MediaObject;
use crate::protocol::KurentoError;

/// Pipelines one garbage-collection pass releases at once.
const GC_RELEASES_AT_ONCE: usize = 8;

impl Core {
    pub(super) fn bind(&self, conn: &mut Connection, session: &str) {
        conn.session = Some(session.to_owned());
        if let Some(s) = self.state.lock().sessions.get_mut(session) {
            s.bound = Some(conn.id);
            s.kept_alive = true;
        }
    }

    pub(super) async fn close_session(self: &Arc<Self>, p: Params<'_>) -> Result<Value> {
        let session = p.str("sessionId")?.to_owned();
        let release_all = p.raw("release").and_then(Value::as_bool).unwrap_or(false);
        let roots = {
            let mut st = self.state.lock();
            if release_all {
                let refs: Vec<String> = st
                    .sessions
                    .get(&session)
                    .map(|s| s.refs.iter().cloned().collect())
                    .unwrap_or_default();
                st.drop_session(&session);
                refs
            } else {
                st.drop_session(&session)
            }
        };
        for id in roots {
            self.release_objects(&id).await;
        }
        Ok(Value::Null)
    }

    pub(super) fn keep_alive(&self, p: Params<'_>) -> Result<Value> {
        let session = p.str("sessionId")?;
        let mut st = self.state.lock();
        let s = st
            .sessions
            .get_mut(session)
            .ok_or_else(KurentoError::invalid_session)?;
        s.kept_alive = true;
        Ok(json!({"sessionId": session}))
    }

    pub(super) fn reference(&self, p: Params<'_>, add: bool) -> Result<Value> {
        let session = p.str("sessionId")?;
        let id = p.str("object")?;
        if add {
            self.lookup_and_ref(session, id)?;
        } else if let Some(s) = self.state.lock().sessions.get_mut(session) {
            s.refs.remove(id);
            s.kept_alive = true;
        }
        Ok(json!({"sessionId": session}))
    }

    pub(super) fn lookup_and_ref(&self, session: &str, id: &str) -> Result<Arc<MediaObject>> {
        let mut st = self.state.lock();
        if id.starts_with("newref:") {
            return Err(KurentoError::newref_outside_transaction(id));
        }
        let obj = st
            .objects
            .get(id)
            .filter(|o| super::isolation::visible_to(self.session_isolation(), o, session))
            .cloned()
            .ok_or_else(|| KurentoError::object_not_found(id))?;
        st.reference(session, id);
        Ok(obj)
    }

    /// One garbage-collection pass: drops sessions that were neither bound to a live connection
    /// nor touched since the previous pass, and releases what only they referenced.
    pub async fn collect_garbage(self: &Arc<Self>) {
        let roots = {
            let mut st = self.state.lock();
            let mut dead = Vec::new();
            for (id, s) in st.sessions.iter_mut() {
                if s.bound.is_some() || s.kept_alive {
                    s.kept_alive = false;
                } else {
                    dead.push(id.clone());
                }
            }
            let mut roots = Vec::new();
            for id in dead {
                debug!(session = %id, "session garbage-collected");
                roots.extend(st.drop_session(&id));
            }
            roots
        };
        // Side by side: a release waits on GStreamer, and abandoned sessions come in crowds
        // (an application server that went away).
        futures_util::stream::iter(roots)
            .for_each_concurrent(GC_RELEASES_AT_ONCE, |id| async move {
                self.release_objects(&id).await
            })
            .await;
    }

    /// Runs [`Core::collect_garbage`] every `period` until the core is dropped.
    pub fn spawn_garbage_collector(self: &Arc<Self>, period: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(core) = weak.upgrade() else { break };
                core.collect_garbage().await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{json, Value};

    use super::super::{Connection, Core};
    use crate::objects::{Settings, World};

    fn settings() -> Settings {
        Settings {
            webrtc: rheo_media::WebRtcSettings::default(),
            image_limits: rheo_filter_sdk::LoadLimits::default(),
            uri_policy: rheo_filter_sdk::UriPolicy::default(),
            http_base_url: "http://127.0.0.1:8888".into(),
            gstreamer_filter: rheo_media::ElementPolicy::default(),
        }
    }

    fn open(core: &Core) -> Connection {
        let (outbox, _rx) = super::super::Outbox::new(1 << 20);
        core.open_connection(outbox)
    }

    async fn call(core: &Arc<Core>, conn: &mut Connection, method: &str, params: Value) -> Value {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply = core.handle_text(conn, &request.to_string()).await.unwrap();
        serde_json::from_str(&reply).unwrap()
    }

    #[tokio::test]
    async fn connect_mints_a_session_that_another_connection_can_rejoin() {
        let core = Core::new(settings());
        let mut first = open(&core);
        let reply = call(&core, &mut first, "connect", json!({})).await;
        let session = reply["result"]["sessionId"].as_str().unwrap().to_owned();
        assert_eq!(first.session.as_deref(), Some(session.as_str()));

        let mut second = open(&core);
        let reply = call(&core, &mut second, "connect", json!({"sessionId": session})).await;
        assert_eq!(reply["result"]["sessionId"], session.as_str());
        assert_eq!(second.session.as_deref(), Some(session.as_str()));

        let reply = call(
            &core,
            &mut second,
            "connect",
            json!({"sessionId": "nobody's"}),
        )
        .await;
        assert!(reply["error"]["code"].is_i64(), "{reply}");
    }

    #[tokio::test]
    async fn a_session_outlives_its_connection_by_one_collection_pass() {
        let core = Core::new(settings());
        let mut conn = open(&core);
        let reply = call(&core, &mut conn, "connect", json!({})).await;
        let session = reply["result"]["sessionId"].as_str().unwrap().to_owned();

        // Bound to a live connection: never collected.
        core.collect_garbage().await;
        core.collect_garbage().await;
        assert_eq!(core.sessions(), vec![session.clone()]);

        // Unbound: kept through the next pass (the client may reconnect), dropped on the one
        // after.
        core.close_connection(conn.id);
        core.collect_garbage().await;
        assert_eq!(core.sessions(), vec![session.clone()]);
        core.collect_garbage().await;
        assert!(core.sessions().is_empty());

        let mut again = open(&core);
        let reply = call(&core, &mut again, "connect", json!({"sessionId": session})).await;
        assert!(reply["error"].is_object(), "{reply}");
    }

    #[tokio::test]
    async fn keep_alive_defers_collection_and_close_session_ends_it() {
        let core = Core::new(settings());
        let mut conn = open(&core);
        let reply = call(&core, &mut conn, "connect", json!({})).await;
        let session = reply["result"]["sessionId"].as_str().unwrap().to_owned();
        core.close_connection(conn.id);

        for _ in 0..3 {
            core.collect_garbage().await;
            let mut other = open(&core);
            let reply = call(
                &core,
                &mut other,
                "keepAlive",
                json!({"sessionId": session}),
            )
            .await;
            assert_eq!(reply["result"]["sessionId"], session.as_str(), "{reply}");
            core.close_connection(other.id);
        }
        assert_eq!(core.sessions(), vec![session.clone()]);

        let mut other = open(&core);
        call(
            &core,
            &mut other,
            "closeSession",
            json!({"sessionId": session}),
        )
        .await;
        assert!(core.sessions().is_empty());
    }
}
