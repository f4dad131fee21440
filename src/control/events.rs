//! Events: subscriptions, and delivery of an object's events to the connections bound to the
//! sessions subscribed to it.

use serde_json::{json, Map, Value};

use super::params::Params;
use super::{ConnId, Core, Result};
use crate::objects::{self, MediaObject, World, SERVER_MANAGER_ID};
use crate::protocol::{self, KurentoError};
use rheo_media as media;

impl Core {
    pub(super) fn subscribe(&self, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let event_type = p.str("type")?;
        let obj = self.lookup_and_ref(&session, p.str("object")?)?;
        if !obj.class.supports_event(event_type) {
            return Err(KurentoError::event_not_supported(event_type));
        }
        let sub = uuid::Uuid::new_v4().to_string();
        let key = (session.clone(), obj.id.clone(), event_type.to_owned());
        let mut st = self.state.lock();
        st.subscriptions
            .entry(key.clone())
            .or_default()
            .push(sub.clone());
        st.subscription_index.insert(sub.clone(), key);
        Ok(json!({"value": sub, "sessionId": session}))
    }

    pub(super) fn unsubscribe(&self, p: Params<'_>) -> Result<Value> {
        let session = p.session();
        let sub = p.str("subscription")?;
        let mut st = self.state.lock();
        st.touch(&session);
        if let Some(key) = st.subscription_index.remove(sub) {
            if let Some(list) = st.subscriptions.get_mut(&key) {
                list.retain(|s| s != sub);
                if list.is_empty() {
                    st.subscriptions.remove(&key);
                }
            }
        }
        Ok(json!({"sessionId": session}))
    }

    pub(super) fn route_media_event(&self, ev: media::ElementEvent) {
        let Some(obj) = self.state.lock().objects.get(&ev.element).cloned() else {
            return;
        };
        if let Some((event_type, fields)) = objects::events::kurento_event(&ev.event) {
            self.raise(&obj, &event_type, fields);
        }
    }

    /// An ObjectCreated/ObjectDestroyed event of the ServerManager about `id`; with session
    /// isolation only its owner hears of it.
    pub(super) fn raise_on_manager(
        &self,
        event_type: &str,
        field: &str,
        id: &str,
        owner: Option<&str>,
    ) {
        let Some(sm) = self.state.lock().objects.get(SERVER_MANAGER_ID).cloned() else {
            return;
        };
        let mut fields = Map::new();
        fields.insert(field.to_owned(), Value::from(id));
        let audience = if self.session_isolation() {
            Some(owner.unwrap_or_default())
        } else {
            None
        };
        self.deliver_event(&sm, event_type, fields, audience);
    }

    /// Sends the event to every connection bound to a session subscribed to it (only to
    /// `audience`'s, when given).
    pub(super) fn deliver_event(
        &self,
        object: &MediaObject,
        event_type: &str,
        fields: Map<String, Value>,
        audience: Option<&str>,
    ) {
        let targets: Vec<ConnId> = {
            let st = self.state.lock();
            st.subscriptions
                .keys()
                .filter(|(_, obj, ty)| obj == &object.id && ty == event_type)
                .filter(|(session, _, _)| audience.is_none_or(|a| a == session))
                .filter_map(|(session, _, _)| st.sessions.get(session).and_then(|s| s.bound))
                .collect()
        };
        if targets.is_empty() {
            return;
        }
        let data = {
            let s = object.state.lock();
            objects::events::event_data(
                &object.id,
                event_type,
                &s.tags,
                s.send_tags_in_events,
                fields,
            )
        };
        let frame = protocol::event_notification(&object.id, event_type, data).to_string();
        let conns = self.connections.lock();
        for conn in targets {
            if let Some(outbox) = conns.get(&conn) {
                outbox.send(frame.clone());
            }
        }
    }
}
