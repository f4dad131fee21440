//! Kurento classes: one file per class, each mapping its methods and properties to media-plane
//! calls. Everything here may block (media calls), so the control plane runs it on blocking
//! threads.

pub mod args;
pub mod catalogue;
pub mod events;
mod face_overlay_filter;
mod gstreamer_filter;
pub mod http_post_endpoint;
mod hub;
mod media_element;
mod media_format;
mod media_object;
mod media_pipeline;
mod pass_through;
mod player_endpoint;
mod python_filter;
mod recorder_endpoint;
mod rtp_endpoint;
mod sdk_filter;
mod sdp_endpoint;
mod server_manager;
mod uri_endpoint;
pub mod values;
mod webrtc_endpoint;
pub mod whip_endpoint;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rheo_media as media;
use serde_json::{Map, Value};

use crate::protocol::KurentoError;
pub use args::Args;
use catalogue::ClassInfo;

pub type Result<T> = std::result::Result<T, KurentoError>;

/// The id of the ServerManager singleton.
pub const SERVER_MANAGER_ID: &str = "manager_ServerManager";

/// The media-plane handle behind an object.
pub enum Media {
    ServerManager,
    Pipeline(media::MediaPipeline),
    Element(media::Element),
    Hub(media::Hub),
}

/// Mutable, API-level state of an object.
#[derive(Default)]
pub struct ObjectState {
    pub name: Option<String>,
    pub tags: Vec<(String, String)>,
    pub send_tags_in_events: bool,
    /// Settable properties that have no media-plane effect of their own (stored and returned).
    pub properties: HashMap<&'static str, Value>,
}

/// A live Kurento object.
pub struct MediaObject {
    pub id: String,
    pub class: &'static ClassInfo,
    /// The pipeline of an element or hub, `None` for pipelines and the ServerManager.
    pub pipeline: Option<String>,
    /// The hub of a HubPort (its parent); other objects' parent is their pipeline.
    pub hub: Option<String>,
    /// Seconds since the epoch.
    pub creation_time: i64,
    /// The session that created it (`None`: the ServerManager); with session isolation only
    /// that session sees it.
    pub owner: Option<String>,
    pub state: Mutex<ObjectState>,
    pub media: Media,
}

impl MediaObject {
    pub fn new(
        id: String,
        class: &'static ClassInfo,
        pipeline: Option<String>,
        media: Media,
    ) -> Self {
        MediaObject {
            id,
            class,
            pipeline,
            hub: None,
            creation_time: values::now_secs(),
            owner: None,
            state: Mutex::new(ObjectState::default()),
            media,
        }
    }

    pub fn element(&self) -> Option<&media::Element> {
        match &self.media {
            Media::Element(e) => Some(e),
            _ => None,
        }
    }

    pub fn hub(&self) -> Option<&media::Hub> {
        match &self.media {
            Media::Hub(h) => Some(h),
            _ => None,
        }
    }

    /// The object it belongs to: a HubPort's hub, else its pipeline (`None`: a pipeline).
    pub fn parent(&self) -> Option<&str> {
        self.hub.as_deref().or(self.pipeline.as_deref())
    }

    pub fn media_pipeline(&self) -> Option<&media::MediaPipeline> {
        match &self.media {
            Media::Pipeline(p) => Some(p),
            _ => None,
        }
    }

    /// Releases the media behind this object (blocking; idempotent).
    pub fn release_media(&self) {
        match &self.media {
            Media::ServerManager => {}
            Media::Pipeline(p) => p.release(),
            Media::Element(e) => e.release(),
            Media::Hub(h) => h.release(),
        }
    }
}

/// What the objects need from the control plane: lookup, the object tree and event raising.
/// Connections between elements are the media plane's to record (`media::Element::links`).
pub trait World: Send + Sync {
    /// The object, or 40101.
    fn object(&self, id: &str) -> Result<Arc<MediaObject>>;
    fn children(&self, id: &str) -> Vec<String>;
    fn pipelines(&self) -> Vec<String>;
    fn sessions(&self) -> Vec<String>;
    /// Raises an event on `object` (routed to the sessions subscribed to it).
    fn raise(&self, object: &MediaObject, event_type: &str, data: Map<String, Value>);
    fn settings(&self) -> &Settings;
}

/// Server-wide settings the classes use.
#[derive(Debug, Clone)]
pub struct Settings {
    pub webrtc: media::WebRtcSettings,
    pub image_limits: rheo_filter_sdk::LoadLimits,
    /// Where the URIs clients name may lead (files, hosts).
    pub uri_policy: rheo_filter_sdk::UriPolicy,
    /// `http://host:port` of this server as clients reach it (HttpPostEndpoint URLs).
    pub http_base_url: String,
    /// What GStreamerFilter commands may contain.
    pub gstreamer_filter: media::ElementPolicy,
}

/// What one class's handler made of an operation.
#[derive(Debug)]
pub enum Outcome {
    /// Handled; the operation returns this value.
    Returned(Value),
    /// Handled; the operation returns nothing.
    Void,
    /// Not an operation this class declares: its parent class is asked next.
    NotMine,
}

impl From<Option<Value>> for Outcome {
    /// `Some` is a returned value, `None` a void operation.
    fn from(value: Option<Value>) -> Self {
        value.map_or(Outcome::Void, Outcome::Returned)
    }
}

/// A class's handler for the methods and properties it declares (blocking).
pub type InvokeFn = fn(&dyn World, &Arc<MediaObject>, &str, Args<'_>) -> Result<Outcome>;

/// What a media element's factory gets.
pub struct NewElement<'a> {
    pub world: &'a dyn World,
    pub pipeline: &'a media::MediaPipeline,
    /// The element's id: `<pipeline id>/<uuid>_<qualified class name>`.
    pub id: &'a str,
    pub class: &'static ClassInfo,
    pub params: Args<'a>,
}

/// What a factory built: the media element, and properties to store on the new object.
pub struct Built {
    pub element: media::Element,
    pub stored: Vec<(&'static str, Value)>,
}

impl From<media::Element> for Built {
    fn from(element: media::Element) -> Self {
        Built {
            element,
            stored: Vec::new(),
        }
    }
}

/// How `create` builds the objects of a class.
#[derive(Debug, Clone, Copy)]
pub enum Factory {
    /// A MediaPipeline: the one creatable class that is not an element of a pipeline.
    Pipeline,
    /// A media element of the pipeline named by the `mediaPipeline` parameter.
    Element(fn(&NewElement<'_>) -> Result<Built>),
    /// A hub of the pipeline named by the `mediaPipeline` parameter.
    Hub(fn(&NewElement<'_>) -> Result<media::Hub>),
    /// A port of the hub named by the `hub` parameter.
    HubPort,
}

/// Creates an object of `class` (blocking). `uuid` is fresh.
pub fn create(
    world: &dyn World,
    class: &'static ClassInfo,
    params: Args<'_>,
    uuid: &str,
    events: media::EventSink,
) -> Result<MediaObject> {
    let build = match class.factory {
        Some(Factory::Pipeline) => return media_pipeline::create(world, uuid, events),
        Some(Factory::HubPort) => return hub::create_port(world, class, params, uuid),
        Some(Factory::Element(build)) => Ok(build),
        Some(Factory::Hub(build)) => Err(build),
        None => return Err(KurentoError::factory_not_found(class.name)),
    };
    let pipeline_id = params.str("mediaPipeline")?;
    let pipeline_obj = world.object(pipeline_id).map_err(|_| {
        KurentoError::marshall(format!(
            "'mediaPipeline' parameter: object '{pipeline_id}' not found"
        ))
    })?;
    let Some(pipeline) = pipeline_obj.media_pipeline() else {
        return Err(KurentoError::arg_type("mediaPipeline", "MediaPipeline"));
    };
    let id = format!("{}/{}_{}", pipeline_obj.id, uuid, class.qualified_name());
    let new = NewElement {
        world,
        pipeline,
        id: &id,
        class,
        params,
    };
    let build = match build {
        Ok(build) => build,
        Err(build_hub) => {
            let hub = build_hub(&new)?;
            return Ok(MediaObject::new(
                id.clone(),
                class,
                Some(pipeline_obj.id.clone()),
                Media::Hub(hub),
            ));
        }
    };
    let built = build(&new)?;
    let obj = MediaObject::new(
        id,
        class,
        Some(pipeline_obj.id.clone()),
        Media::Element(built.element),
    );
    for (name, value) in built.stored {
        store_property(&obj, name, value);
    }
    Ok(obj)
}

/// Runs one `invoke` (blocking): the object's class handles it, or else the nearest ancestor
/// that declares it. Returns `None` for void operations.
pub fn invoke(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    operation: &str,
    params: Args<'_>,
) -> Result<Option<Value>> {
    let mut class = Some(obj.class);
    while let Some(c) = class {
        if let Some(handler) = c.invoke {
            match handler(world, obj, operation, params)? {
                Outcome::Returned(value) => return Ok(Some(value)),
                Outcome::Void => return Ok(None),
                Outcome::NotMine => {}
            }
        }
        class = c.parent;
    }
    Err(KurentoError::operation_not_found(operation, params.len()))
}

/// A stored, settable property of an object (returns the kmd default when never set).
fn stored_property(obj: &MediaObject, name: &'static str, default: Value) -> Value {
    obj.state
        .lock()
        .properties
        .get(name)
        .cloned()
        .unwrap_or(default)
}

fn store_property(obj: &MediaObject, name: &'static str, value: Value) {
    obj.state.lock().properties.insert(name, value);
}

/// Handles `get<Prop>`/`set<Prop>` for a list of plain stored int properties.
fn stored_int_property(
    obj: &MediaObject,
    operation: &str,
    params: Args<'_>,
    props: &[(&'static str, i64)],
) -> Result<Outcome> {
    for &(name, default) in props {
        if values::is_getter(operation, name) {
            return Ok(Outcome::Returned(stored_property(
                obj,
                name,
                Value::from(default),
            )));
        }
        if values::is_setter(operation, name) {
            let v = params.int(name)?;
            store_property(obj, name, Value::from(v));
            return Ok(Outcome::Void);
        }
    }
    Ok(Outcome::NotMine)
}
