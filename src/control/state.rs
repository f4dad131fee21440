//! The registry: objects, sessions and subscriptions. Plain data behind
//! one mutex; no I/O, no media calls, never held across an await or a media call.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::objects::MediaObject;

/// Identifies one WebSocket connection.
pub type ConnId = u64;

#[derive(Default)]
pub struct Session {
    /// Objects this session references.
    pub refs: HashSet<String>,
    /// The connection events go to (the last one that presented this session).
    pub bound: Option<ConnId>,
    /// Touched since the last garbage-collection pass.
    pub kept_alive: bool,
}

#[derive(Default)]
pub struct State {
    pub objects: HashMap<String, Arc<MediaObject>>,
    pub sessions: HashMap<String, Session>,
    /// (session, object, event type) → subscription ids; one handler per triple.
    pub subscriptions: HashMap<(String, String, String), Vec<String>>,
    /// subscription id → its triple.
    pub subscription_index: HashMap<String, (String, String, String)>,
}

impl State {
    /// Adds `object` to `session`'s references, making the session known and alive.
    pub fn reference(&mut self, session: &str, object: &str) {
        let s = self.sessions.entry(session.to_owned()).or_default();
        s.refs.insert(object.to_owned());
        s.kept_alive = true;
    }

    pub fn touch(&mut self, session: &str) {
        if let Some(s) = self.sessions.get_mut(session) {
            s.kept_alive = true;
        }
    }

    /// The ids to remove when `id` is released: itself and, for a pipeline, its elements.
    pub fn release_set(&self, id: &str) -> Vec<String> {
        // A pipeline's objects (its hubs' ports included), or a hub's ports.
        let mut ids = vec![id.to_owned()];
        ids.extend(
            self.objects
                .values()
                .filter(|o| o.pipeline.as_deref() == Some(id) || o.hub.as_deref() == Some(id))
                .map(|o| o.id.clone()),
        );
        ids
    }

    /// Forgets objects (and their subscriptions and session references); returns them.
    pub fn remove_objects(&mut self, ids: &[String]) -> Vec<Arc<MediaObject>> {
        let gone: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let removed: Vec<_> = ids
            .iter()
            .filter_map(|id| self.objects.remove(id))
            .collect();
        self.subscriptions
            .retain(|(_, obj, _), _| !gone.contains(obj.as_str()));
        self.subscription_index
            .retain(|_, (_, obj, _)| !gone.contains(obj.as_str()));
        for s in self.sessions.values_mut() {
            s.refs.retain(|r| !gone.contains(r.as_str()));
        }
        removed
    }

    /// Drops a session; returns the pipelines (roots) no remaining session references, directly
    /// or through one of their elements.
    pub fn drop_session(&mut self, session: &str) -> Vec<String> {
        let Some(s) = self.sessions.remove(session) else {
            return vec![];
        };
        self.subscriptions.retain(|(sess, _, _), _| sess != session);
        self.subscription_index
            .retain(|_, (sess, _, _)| sess != session);
        let roots: HashSet<String> = s
            .refs
            .iter()
            .filter_map(|id| self.objects.get(id))
            .filter_map(|o| match &o.pipeline {
                Some(p) => Some(p.clone()),
                None if o.media_pipeline().is_some() => Some(o.id.clone()),
                None => None,
            })
            .collect();
        roots
            .into_iter()
            .filter(|root| {
                !self.sessions.values().any(|other| {
                    other.refs.iter().any(|r| {
                        r == root
                            || self
                                .objects
                                .get(r)
                                .is_some_and(|o| o.pipeline.as_deref() == Some(root))
                    })
                })
            })
            .collect()
    }
}
