//! Session isolation (setting `session_isolation`): a session sees and touches only the objects
//! it created, and only its own session id. Kurento lets any session reach every object (the
//! application server is the trust boundary); this is for servers shared by applications that
//! do not trust each other. Others' objects read exactly like missing ones.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Core;
use crate::objects::{MediaObject, Settings, World};
use crate::protocol::KurentoError;

type Result<T> = std::result::Result<T, KurentoError>;

/// The world as one session sees it. Without isolation, the whole world.
pub struct SessionView<'a> {
    pub core: &'a Core,
    pub session: &'a str,
}

impl SessionView<'_> {
    fn isolated(&self) -> bool {
        self.core.session_isolation()
    }

    fn visible(&self, obj: &MediaObject) -> bool {
        visible_to(self.isolated(), obj, self.session)
    }
}

/// Whether `session` may see `obj`: always without isolation; with it, objects without an
/// owner (the ServerManager) and the session's own.
pub fn visible_to(isolated: bool, obj: &MediaObject, session: &str) -> bool {
    !isolated || obj.owner.as_deref().is_none_or(|owner| owner == session)
}

impl World for SessionView<'_> {
    fn object(&self, id: &str) -> Result<Arc<MediaObject>> {
        let obj = self.core.object(id)?;
        if self.visible(&obj) {
            Ok(obj)
        } else {
            Err(KurentoError::object_not_found(id))
        }
    }

    fn children(&self, id: &str) -> Vec<String> {
        self.core
            .children(id)
            .into_iter()
            .filter(|child| self.object(child).is_ok())
            .collect()
    }

    fn pipelines(&self) -> Vec<String> {
        self.core
            .pipelines()
            .into_iter()
            .filter(|p| self.object(p).is_ok())
            .collect()
    }

    fn sessions(&self) -> Vec<String> {
        if self.isolated() {
            vec![self.session.to_owned()]
        } else {
            self.core.sessions()
        }
    }

    fn raise(&self, object: &MediaObject, event_type: &str, data: Map<String, Value>) {
        self.core.raise(object, event_type, data);
    }

    fn settings(&self) -> &Settings {
        self.core.settings()
    }
}
