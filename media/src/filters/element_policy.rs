//! Which GStreamer elements a client may run in a GStreamerFilter. A `command` comes from the
//! network, so by default only in-place or one-in/one-out video transforms are accepted: their
//! factory class is a Filter (Effect, Converter or Editor), and never a source, sink, demuxer,
//! muxer, codec, network or file element. Properties that name files (`location`, `profile`…)
//! keep their defaults: a client may not point an element at the server's disk.

use gst::prelude::*;

use crate::{err, ErrorKind, Result};

/// The GStreamerFilter element policy (settings `gstreamer_filter_allow`/`_deny`/`_max_elements`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementPolicy {
    /// Factory names accepted whatever their class (widens the default).
    pub allow: Vec<String>,
    /// Factory names refused whatever their class (narrows the default and `allow`).
    pub deny: Vec<String>,
    /// Elements a command may create, bins' children included.
    pub max_elements: usize,
}

impl Default for ElementPolicy {
    fn default() -> Self {
        ElementPolicy {
            allow: Vec::new(),
            deny: Vec::new(),
            max_elements: DEFAULT_MAX_ELEMENTS,
        }
    }
}

/// Kurento's GStreamerFilter takes one element; a short chain is plenty.
pub const DEFAULT_MAX_ELEMENTS: usize = 8;

/// Generic elements that are safe in a filter: they only constrain buffers or hold elements
/// (which are checked themselves).
const SAFE_GENERIC: [&str; 2] = ["capsfilter", "bin"];

/// Class words that are never a video transform.
const REFUSED_CLASS_WORDS: [&str; 9] = [
    "Source",
    "Sink",
    "Demuxer",
    "Muxer",
    "Network",
    "File",
    "Decoder",
    "Encoder",
    "Payloader",
];

/// Class words of a transform (the class must also contain "Filter").
const TRANSFORM_CLASS_WORDS: [&str; 3] = ["Effect", "Converter", "Editor"];

impl ElementPolicy {
    /// Checks every element `filter` holds: a bin's children at any depth (the bin itself is
    /// the wrapper the description was parsed into), else the element itself.
    pub fn check(&self, filter: &gst::Element) -> Result<()> {
        let elements: Vec<gst::Element> = match filter.downcast_ref::<gst::Bin>() {
            Some(bin) => bin.iterate_recurse().into_iter().flatten().collect(),
            None => vec![filter.clone()],
        };
        let created: Vec<&gst::Element> =
            elements.iter().filter(|e| e.factory().is_some()).collect();
        if created.len() > self.max_elements {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!(
                    "the command creates {} elements; the server allows {} \
                     (setting gstreamer_filter_max_elements)",
                    created.len(),
                    self.max_elements
                ),
            ));
        }
        for element in created {
            self.check_factory(element)?;
            if self.allow.contains(&factory_name(element)) {
                continue;
            }
            if let Some(prop) = path_property_set(element) {
                return Err(err(
                    ErrorKind::InvalidArgument,
                    format!(
                        "element '{}': property '{prop}' names a file or URI, which clients \
                         may not set",
                        factory_name(element)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_factory(&self, element: &gst::Element) -> Result<()> {
        let name = factory_name(element);
        let listed = |list: &[String]| list.iter().any(|n| n == &name);
        if listed(&self.deny) {
            return Err(refused(&name, "it is in gstreamer_filter_deny"));
        }
        if listed(&self.allow) || SAFE_GENERIC.contains(&name.as_str()) {
            return Ok(());
        }
        let class = element
            .factory()
            .map(|f| {
                f.metadata(gst::ELEMENT_METADATA_KLASS)
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_default();
        let words: Vec<&str> = class.split('/').collect();
        let transform = words.contains(&"Filter")
            && words.iter().any(|w| TRANSFORM_CLASS_WORDS.contains(w))
            && !words.iter().any(|w| REFUSED_CLASS_WORDS.contains(w));
        if transform {
            Ok(())
        } else {
            Err(refused(
                &name,
                &format!(
                    "its class '{class}' is not a video transform (add it to \
                     gstreamer_filter_allow to permit it)"
                ),
            ))
        }
    }

    /// Refuses `setElementProperty` on a property that names a file or URI.
    pub fn check_property(&self, element: &gst::Element, property: &str) -> Result<()> {
        if listed_path_property(property) && !self.allow.contains(&factory_name(element)) {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("property '{property}' names a file or URI, which clients may not set"),
            ));
        }
        Ok(())
    }
}

fn refused(factory: &str, why: &str) -> crate::Error {
    err(
        ErrorKind::InvalidArgument,
        format!("element '{factory}' is not allowed in a GStreamerFilter: {why}"),
    )
}

fn factory_name(element: &gst::Element) -> String {
    element
        .factory()
        .map(|f| f.name().to_string())
        .unwrap_or_else(|| element.name().to_string())
}

/// Property names that make an element open a file, a URL or a device.
fn listed_path_property(name: &str) -> bool {
    const NAMES: [&str; 10] = [
        "location",
        "uri",
        "file",
        "filename",
        "path",
        "profile",
        "template",
        "device",
        "dir",
        "directory",
    ];
    let name = name.to_ascii_lowercase();
    NAMES.iter().any(|n| {
        name == *n
            || name.ends_with(&format!("-{n}"))
            || name.ends_with(&format!("_{n}"))
            || name.starts_with(&format!("{n}-"))
    })
}

/// The first file-naming property of `element` whose value is not its default.
fn path_property_set(element: &gst::Element) -> Option<String> {
    element.list_properties().iter().find_map(|spec| {
        let readable = spec.flags().contains(gst::glib::ParamFlags::READABLE);
        if !readable || !listed_path_property(spec.name()) {
            return None;
        }
        let value = element.property_value(spec.name());
        let default = spec.default_value();
        let same = match (value.serialize(), default.serialize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => {
                value.type_() == default.type_()
                    && value.get::<Option<String>>().ok().flatten().is_none()
            }
        };
        (!same).then(|| spec.name().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(command: &str) -> gst::Element {
        crate::init().unwrap();
        gst::parse::bin_from_description(command, true)
            .unwrap()
            .upcast()
    }

    fn refusal(policy: &ElementPolicy, command: &str) -> String {
        policy.check(&bin(command)).unwrap_err().message
    }

    #[test]
    fn video_transforms_pass_and_everything_else_is_refused() {
        let policy = ElementPolicy::default();
        for ok in [
            "videoflip method=horizontal-flip",
            "capsfilter caps=video/x-raw,width=320 ! videoscale",
            "videobalance saturation=0 ! videoconvert",
            "videocrop top=2 ! videobox left=4",
        ] {
            policy
                .check(&bin(ok))
                .unwrap_or_else(|e| panic!("{ok}: {}", e.message));
        }
        for (bad, element) in [
            ("videoflip ! filesink location=/tmp/x", "filesink"),
            ("tcpserversink port=0", "tcpserversink"),
            ("queue", "queue"),
            ("tee ! videoflip", "tee"),
            ("identity", "identity"),
            ("vp8enc", "vp8enc"),
        ] {
            let message = refusal(&policy, bad);
            assert!(
                message.contains(&format!("'{element}'")),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn allow_and_deny_lists_widen_and_narrow() {
        let policy = ElementPolicy {
            allow: vec!["queue".into()],
            deny: vec!["videoflip".into()],
            ..ElementPolicy::default()
        };
        policy.check(&bin("queue ! videobalance")).unwrap();
        assert!(refusal(&policy, "videoflip").contains("gstreamer_filter_deny"));
    }

    #[test]
    fn element_count_is_limited() {
        let policy = ElementPolicy {
            max_elements: 3,
            ..ElementPolicy::default()
        };
        policy
            .check(&bin("videoflip ! videoflip ! videoflip"))
            .unwrap();
        let message = refusal(&policy, "videoflip ! videoflip ! videoflip ! videoflip");
        assert!(message.contains("creates 4 elements"), "{message}");
    }

    #[test]
    fn file_naming_properties_keep_their_defaults() {
        let policy = ElementPolicy::default();
        let element = bin("videoflip");
        assert!(policy.check_property(&element, "location").is_err());
        assert!(policy.check_property(&element, "text").is_ok());
        assert!(listed_path_property("eyes-profile"));
        assert!(listed_path_property("location"));
        assert!(!listed_path_property("text"));
        assert!(!listed_path_property("method"));
        let filesrc = gst::ElementFactory::make("filesrc").build().unwrap();
        assert_eq!(path_property_set(&filesrc), None);
        filesrc.set_property("location", "/etc/passwd");
        assert_eq!(path_property_set(&filesrc).as_deref(), Some("location"));
    }
}
