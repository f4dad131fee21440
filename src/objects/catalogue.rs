//! Rheo's class catalogue: Kurento's class names, modules, inheritance and events, written from
//! Kurento's published interface definitions (the modules' `.kmd.json`) for the classes Rheo
//! implements, plus one class per filter of the filter SDK. Each class record also names the
//! function that builds its objects and the one that handles its own methods, so adding a class
//! is one record here and one file beside it.

use std::sync::OnceLock;

use rheo_filter_sdk::FilterInfo;

use super::{
    face_overlay_filter, gstreamer_filter, http_post_endpoint, hub, media_element, media_object,
    media_pipeline, pass_through, player_endpoint, python_filter, recorder_endpoint, rtp_endpoint,
    sdk_filter, sdp_endpoint, server_manager, uri_endpoint, webrtc_endpoint, whip_endpoint,
    Factory, InvokeFn,
};

/// One Kurento class.
#[derive(Debug)]
pub struct ClassInfo {
    pub name: &'static str,
    /// Kurento module that defines it (`core`, `elements`, `filters`, …).
    pub module: &'static str,
    pub parent: Option<&'static ClassInfo>,
    /// Events declared by this class (not inherited).
    pub events: &'static [&'static str],
    /// How `create` builds its objects; `None` for abstract classes and the ServerManager.
    pub factory: Option<Factory>,
    /// The methods and properties this class declares; its ancestors' come from their records.
    pub invoke: Option<InvokeFn>,
    /// The filter SDK's description, for classes that are SDK filters.
    pub filter: Option<&'static FilterInfo>,
}

impl ClassInfo {
    /// Whether `create` accepts it.
    pub fn creatable(&self) -> bool {
        self.factory.is_some()
    }

    /// Prefix of qualified names and ids: `kurento` for core, elements and filters.
    pub fn prefix(&self) -> &'static str {
        match self.module {
            "core" | "elements" | "filters" => "kurento",
            other => other,
        }
    }

    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.prefix(), self.name)
    }

    /// Qualified names of all ancestors, nearest first (`describe`'s `hierarchy`).
    pub fn hierarchy(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = self.parent;
        while let Some(c) = cur {
            out.push(c.qualified_name());
            cur = c.parent;
        }
        out
    }

    /// Whether this class is `other` or derives from it.
    pub fn is_a(&self, other: &ClassInfo) -> bool {
        let mut cur = Some(self);
        while let Some(c) = cur {
            if std::ptr::eq(c, other) {
                return true;
            }
            cur = c.parent;
        }
        false
    }

    /// Whether `event` can be subscribed to on objects of this class (declared here or inherited).
    pub fn supports_event(&self, event: &str) -> bool {
        let mut cur = Some(self);
        while let Some(c) = cur {
            // "*": a class whose events are named by its objects (PythonFilter's ctx.emit).
            if c.events.contains(&event) || (c.events.contains(&ANY_EVENT) && plain_name(event)) {
                return true;
            }
            cur = c.parent;
        }
        false
    }
}

/// In a class's `events`: any event name.
const ANY_EVENT: &str = "*";

/// An event name a client may subscribe to on an open class: a letter, then letters, digits, `_`.
fn plain_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

macro_rules! class {
    ($ident:ident, $name:literal, $module:literal, $parent:expr, [$($ev:literal),*], $factory:expr, $invoke:expr) => {
        pub static $ident: ClassInfo = ClassInfo {
            name: $name,
            module: $module,
            parent: $parent,
            events: &[$($ev),*],
            factory: $factory,
            invoke: $invoke,
            filter: None,
        };
    };
}

class!(
    MEDIA_OBJECT,
    "MediaObject",
    "core",
    None,
    ["Error"],
    None,
    Some(media_object::invoke)
);
class!(
    SERVER_MANAGER,
    "ServerManager",
    "core",
    Some(&MEDIA_OBJECT),
    ["ObjectCreated", "ObjectDestroyed"],
    None,
    Some(server_manager::invoke)
);
class!(
    MEDIA_PIPELINE,
    "MediaPipeline",
    "core",
    Some(&MEDIA_OBJECT),
    [],
    Some(Factory::Pipeline),
    Some(media_pipeline::invoke)
);
class!(
    MEDIA_ELEMENT,
    "MediaElement",
    "core",
    Some(&MEDIA_OBJECT),
    [
        "ElementConnected",
        "ElementDisconnected",
        "MediaFlowOutStateChanged",
        "MediaFlowInStateChanged",
        "MediaTranscodingStateChanged"
    ],
    None,
    Some(media_element::invoke)
);
class!(
    PASS_THROUGH,
    "PassThrough",
    "core",
    Some(&MEDIA_ELEMENT),
    [],
    Some(Factory::Element(pass_through::create)),
    None
);
class!(
    ENDPOINT,
    "Endpoint",
    "core",
    Some(&MEDIA_ELEMENT),
    [],
    None,
    None
);
class!(
    FILTER,
    "Filter",
    "core",
    Some(&MEDIA_ELEMENT),
    [],
    None,
    None
);
class!(
    SESSION_ENDPOINT,
    "SessionEndpoint",
    "core",
    Some(&ENDPOINT),
    ["MediaSessionTerminated", "MediaSessionStarted"],
    None,
    None
);
class!(
    SDP_ENDPOINT,
    "SdpEndpoint",
    "core",
    Some(&SESSION_ENDPOINT),
    [],
    None,
    Some(sdp_endpoint::invoke)
);
class!(
    BASE_RTP_ENDPOINT,
    "BaseRtpEndpoint",
    "core",
    Some(&SDP_ENDPOINT),
    ["MediaStateChanged", "ConnectionStateChanged"],
    None,
    Some(sdp_endpoint::invoke_base_rtp)
);
class!(
    WEBRTC_ENDPOINT,
    "WebRtcEndpoint",
    "elements",
    Some(&BASE_RTP_ENDPOINT),
    [
        "IceCandidateFound",
        "IceGatheringDone",
        "IceComponentStateChanged",
        "DtlsConnectionStateChange",
        "DataChannelOpened",
        "DataChannelClosed",
        "NewCandidatePairSelected"
    ],
    Some(Factory::Element(webrtc_endpoint::create)),
    Some(webrtc_endpoint::invoke)
);
class!(
    RTP_ENDPOINT,
    "RtpEndpoint",
    "elements",
    Some(&BASE_RTP_ENDPOINT),
    ["OnKeySoftLimit"],
    Some(Factory::Element(rtp_endpoint::create)),
    None
);
class!(
    URI_ENDPOINT,
    "UriEndpoint",
    "core",
    Some(&ENDPOINT),
    ["UriEndpointStateChanged"],
    None,
    Some(uri_endpoint::invoke)
);
class!(
    RECORDER_ENDPOINT,
    "RecorderEndpoint",
    "elements",
    Some(&URI_ENDPOINT),
    ["Recording", "Paused", "Stopped"],
    Some(Factory::Element(recorder_endpoint::create)),
    Some(recorder_endpoint::invoke)
);
class!(
    PLAYER_ENDPOINT,
    "PlayerEndpoint",
    "elements",
    Some(&URI_ENDPOINT),
    ["EndOfStream"],
    Some(Factory::Element(player_endpoint::create)),
    Some(player_endpoint::invoke)
);
class!(
    HTTP_ENDPOINT,
    "HttpEndpoint",
    "elements",
    Some(&SESSION_ENDPOINT),
    [],
    None,
    Some(http_post_endpoint::invoke)
);
class!(
    HTTP_POST_ENDPOINT,
    "HttpPostEndpoint",
    "elements",
    Some(&HTTP_ENDPOINT),
    ["EndOfStream"],
    Some(Factory::Element(http_post_endpoint::create)),
    None
);
class!(
    FACE_OVERLAY_FILTER,
    "FaceOverlayFilter",
    "filters",
    Some(&FILTER),
    [],
    Some(Factory::Element(face_overlay_filter::create)),
    Some(face_overlay_filter::invoke)
);
class!(
    PYTHON_FILTER,
    "PythonFilter",
    "rheopython",
    Some(&FILTER),
    ["*"],
    Some(Factory::Element(python_filter::create)),
    Some(python_filter::invoke)
);
class!(
    WHIP_ENDPOINT,
    "WhipEndpoint",
    "rheowhip",
    Some(&SESSION_ENDPOINT),
    [],
    Some(Factory::Element(whip_endpoint::create_whip)),
    Some(whip_endpoint::invoke)
);
class!(
    WHEP_ENDPOINT,
    "WhepEndpoint",
    "rheowhip",
    Some(&SESSION_ENDPOINT),
    [],
    Some(Factory::Element(whip_endpoint::create_whep)),
    Some(whip_endpoint::invoke)
);
class!(
    GSTREAMER_FILTER,
    "GStreamerFilter",
    "filters",
    Some(&FILTER),
    [],
    Some(Factory::Element(gstreamer_filter::create)),
    Some(gstreamer_filter::invoke)
);

class!(
    HUB,
    "Hub",
    "core",
    Some(&MEDIA_OBJECT),
    [],
    None,
    Some(hub::invoke_hub)
);
class!(
    HUB_PORT,
    "HubPort",
    "core",
    Some(&MEDIA_ELEMENT),
    [],
    Some(Factory::HubPort),
    None
);
class!(
    ALPHA_BLENDING,
    "AlphaBlending",
    "elements",
    Some(&HUB),
    [],
    Some(Factory::Hub(hub::create_alpha_blending)),
    Some(hub::invoke_alpha_blending)
);
class!(
    MIXER,
    "Mixer",
    "elements",
    Some(&HUB),
    [],
    Some(Factory::Hub(hub::create_mixer)),
    Some(hub::invoke_mixer)
);
class!(
    COMPOSITE,
    "Composite",
    "elements",
    Some(&HUB),
    [],
    Some(Factory::Hub(hub::create_composite)),
    None
);
class!(
    DISPATCHER,
    "Dispatcher",
    "elements",
    Some(&HUB),
    [],
    Some(Factory::Hub(hub::create_dispatcher)),
    Some(hub::invoke_dispatcher)
);
class!(
    DISPATCHER_ONE_TO_MANY,
    "DispatcherOneToMany",
    "elements",
    Some(&HUB),
    [],
    Some(Factory::Hub(hub::create_dispatcher_one_to_many)),
    Some(hub::invoke_dispatcher_one_to_many)
);

/// The classes written out above.
static BUILT_IN: &[&ClassInfo] = &[
    &MEDIA_OBJECT,
    &SERVER_MANAGER,
    &MEDIA_PIPELINE,
    &MEDIA_ELEMENT,
    &PASS_THROUGH,
    &ENDPOINT,
    &FILTER,
    &SESSION_ENDPOINT,
    &SDP_ENDPOINT,
    &BASE_RTP_ENDPOINT,
    &WEBRTC_ENDPOINT,
    &HUB,
    &HUB_PORT,
    &ALPHA_BLENDING,
    &COMPOSITE,
    &DISPATCHER,
    &DISPATCHER_ONE_TO_MANY,
    &MIXER,
    &RTP_ENDPOINT,
    &URI_ENDPOINT,
    &RECORDER_ENDPOINT,
    &PLAYER_ENDPOINT,
    &HTTP_ENDPOINT,
    &HTTP_POST_ENDPOINT,
    &FACE_OVERLAY_FILTER,
    &GSTREAMER_FILTER,
    &PYTHON_FILTER,
    &WHIP_ENDPOINT,
    &WHEP_ENDPOINT,
];

/// Every class `describe` can report, creatable or not: the built-in ones and one per filter
/// of the filter SDK's registry (built once, on first use).
pub fn all_classes() -> &'static [&'static ClassInfo] {
    static ALL: OnceLock<Vec<&'static ClassInfo>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = BUILT_IN.to_vec();
        for reg in rheo_filter_sdk::registry::filters() {
            let info = reg.info;
            let events: Vec<&'static str> = info.events.iter().map(|e| e.name).collect();
            // Leaked once per registered filter: classes live as long as the process.
            all.push(Box::leak(Box::new(ClassInfo {
                name: info.class,
                module: info.module,
                parent: Some(match info.parent {
                    rheo_filter_sdk::Parent::Filter => &FILTER,
                    rheo_filter_sdk::Parent::MediaElement => &MEDIA_ELEMENT,
                }),
                events: Box::leak(events.into_boxed_slice()),
                factory: Some(Factory::Element(sdk_filter::create)),
                invoke: Some(sdk_filter::invoke),
                filter: Some(info),
            })));
        }
        all
    })
}

/// Kurento module names in `getInfo` order: the built-in ones, then each SDK filter's module.
pub fn modules() -> Vec<&'static str> {
    let mut names = vec!["core", "elements", "filters"];
    for c in all_classes() {
        if !names.contains(&c.module) {
            names.push(c.module);
        }
    }
    names
}

/// The factory for a `create` type, under its bare or module-qualified name.
pub fn factory(type_name: &str) -> Option<&'static ClassInfo> {
    all_classes()
        .iter()
        .copied()
        .filter(|c| c.creatable())
        .find(|c| c.name == type_name || c.qualified_name() == type_name)
}

/// Creatable class names of one module (for `getInfo`).
pub fn factories_of(module: &str) -> Vec<&'static str> {
    let mut names: Vec<_> = all_classes()
        .iter()
        .filter(|c| c.creatable() && c.module == module)
        .map(|c| c.name)
        .collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_matches_kurento() {
        assert_eq!(
            WEBRTC_ENDPOINT.hierarchy(),
            vec![
                "kurento.BaseRtpEndpoint",
                "kurento.SdpEndpoint",
                "kurento.SessionEndpoint",
                "kurento.Endpoint",
                "kurento.MediaElement",
                "kurento.MediaObject"
            ]
        );
        assert_eq!(
            FACE_OVERLAY_FILTER.hierarchy(),
            vec![
                "kurento.Filter",
                "kurento.MediaElement",
                "kurento.MediaObject"
            ]
        );
        assert_eq!(SERVER_MANAGER.hierarchy(), vec!["kurento.MediaObject"]);
        assert_eq!(MEDIA_PIPELINE.qualified_name(), "kurento.MediaPipeline");
    }

    #[test]
    fn factories_accept_bare_and_qualified_names() {
        assert!(std::ptr::eq(
            factory("WebRtcEndpoint").unwrap(),
            &WEBRTC_ENDPOINT
        ));
        assert!(std::ptr::eq(
            factory("kurento.WebRtcEndpoint").unwrap(),
            &WEBRTC_ENDPOINT
        ));
        assert!(factory("MediaElement").is_none());
        assert!(factory("ServerManager").is_none());
        assert!(factory("chroma.WebRtcEndpoint").is_none());
    }

    #[test]
    fn every_class_record_names_how_it_is_built_and_handled() {
        assert!(matches!(MEDIA_PIPELINE.factory, Some(Factory::Pipeline)));
        for class in all_classes() {
            match class.factory {
                Some(Factory::Element(_) | Factory::HubPort) => {
                    assert!(class.is_a(&MEDIA_ELEMENT), "{} is an element", class.name)
                }
                Some(Factory::Hub(_)) => assert!(class.is_a(&HUB), "{} is a hub", class.name),
                Some(Factory::Pipeline) => assert!(std::ptr::eq(*class, &MEDIA_PIPELINE)),
                None => {}
            }
            if class.filter.is_some() {
                assert!(
                    class.invoke.is_some(),
                    "{} answers its SDK methods",
                    class.name
                );
            }
        }
        // Abstract classes build nothing; every class reaches MediaObject's handler.
        assert!(MEDIA_ELEMENT.factory.is_none() && FILTER.factory.is_none());
        assert!(SERVER_MANAGER.factory.is_none());
        for class in all_classes() {
            assert!(class.is_a(&MEDIA_OBJECT), "{}", class.name);
        }
        assert!(MEDIA_OBJECT.invoke.is_some());
    }

    #[test]
    fn events_are_inherited() {
        assert!(WEBRTC_ENDPOINT.supports_event("IceCandidateFound"));
        assert!(WEBRTC_ENDPOINT.supports_event("MediaStateChanged"));
        assert!(WEBRTC_ENDPOINT.supports_event("Error"));
        assert!(!PASS_THROUGH.supports_event("IceCandidateFound"));
        assert!(!WEBRTC_ENDPOINT.supports_event("IceComponentStateChange"));
    }
}
