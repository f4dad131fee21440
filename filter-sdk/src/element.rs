//! The generic GStreamer element that wraps a [`VideoFilter`].
//!
//! One abstract base type (`GstRheoFilter`, a `GstVideoFilter` subclass, in place) carries all
//! the behaviour; every registered filter gets its own GType derived from it (named
//! `Gst<element>`, e.g. `Gstrheochroma`), whose class data says which filter it builds, with its own
//! element name, metadata and caps (`video/x-raw,format=BGR` or `I420`).
//!
//! Element messages (on the bus, source = the element):
//! * [`EVENT_MESSAGE`] `rheo-event` {`event`: string, `data`: string (JSON object of the
//!   event's fields, complex values with `__module__`/`__type__`)} for each `ctx.emit`.
//! * [`ERROR_MESSAGE`] `rheo-filter-error` {`description`: string} when `process` fails or
//!   panics (at most once per second per element); the frame passes through unchanged.
//! * [`DATA_MESSAGE`] `rheo-data` {`text`: string} or {`binary`: bytes} for each message the
//!   filter sends while no data sink ([`set_data_sink`]) takes them.
//!
//! GObject property `params` (string, JSON object of constructor params, set before READY):
//! how `gst-launch-1.0` builds the filter. Images named in it load (blocking) in the READY
//! transition. The server instead builds the filter with [`instantiate`] from arguments it
//! validated and whose images it loaded beforehand, off the streaming thread.
//!
//! To pass a failed frame through unchanged, the element copies each frame before `process`
//! (into a buffer reused frame after frame): one memcpy of the frame per frame.

use crate::Region;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};

use gst::glib;
use gst::glib::translate::{IntoGlib, ToGlibPtr};
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use parking_lot::Mutex;

use super::json::{args_from_json, load_images, value_to_json, value_to_json_untyped};
use super::{
    Args, Context, DataMessage, FilterError, FilterInfo, Frame, PixelFormat, Value, VideoFilter,
};
use crate::image::LoadLimits;

/// Name of the element message carrying an event emitted by the filter.
pub const EVENT_MESSAGE: &str = "rheo-event";
/// Name of the element message posted when `process` fails or panics.
pub const ERROR_MESSAGE: &str = "rheo-filter-error";

/// Name of the element message carrying a data message the filter sent, when no data sink is
/// set: {`text`: string} or {`binary`: bytes}.
pub const DATA_MESSAGE: &str = "rheo-data";
/// Minimum interval between two [`ERROR_MESSAGE`]s of one element.
const ERROR_INTERVAL: Duration = Duration::from_secs(1);

/// What a filter's GType knows: its interface and how to build it.
struct ClassData {
    info: &'static FilterInfo,
    create: fn(&Args) -> Result<Box<dyn VideoFilter>, FilterError>,
}

fn create_boxed<T: VideoFilter>(args: &Args) -> Result<Box<dyn VideoFilter>, FilterError> {
    Ok(Box::new(T::new(args)?))
}

/// GType → class data of every filter type registered so far.
fn classes() -> &'static StdMutex<HashMap<glib::Type, &'static ClassData>> {
    static CLASSES: OnceLock<StdMutex<HashMap<glib::Type, &'static ClassData>>> = OnceLock::new();
    CLASSES.get_or_init(Default::default)
}

fn class_of(ty: glib::Type) -> Option<&'static ClassData> {
    let map = classes().lock().unwrap_or_else(|e| e.into_inner());
    let mut t = ty;
    loop {
        if let Some(c) = map.get(&t) {
            return Some(c);
        }
        t = t.parent()?;
    }
}

fn caps_for(format: PixelFormat) -> gst::Caps {
    let f = match format {
        PixelFormat::Bgr => gst_video::VideoFormat::Bgr,
        PixelFormat::I420 => gst_video::VideoFormat::I420,
    };
    gst_video::VideoCapsBuilder::new().format(f).build()
}

unsafe extern "C" fn derived_class_init(klass: glib::ffi::gpointer, data: glib::ffi::gpointer) {
    let cd = &*(data as *const ClassData);
    let eklass = klass as *mut gst::ffi::GstElementClass;
    let c = |s: &str| std::ffi::CString::new(s.replace('\0', " ")).unwrap_or_default();
    let long = c(&format!(
        "Rheo {} ({}.{})",
        cd.info.class, cd.info.module, cd.info.class
    ));
    let desc = c(cd.info.description);
    gst::ffi::gst_element_class_set_metadata(
        eklass,
        long.as_ptr(),
        c"Filter/Effect/Video".as_ptr(),
        desc.as_ptr(),
        c"Rheo".as_ptr(),
    );
    let caps = caps_for(cd.info.format);
    for (name, dir) in [
        ("sink", gst::PadDirection::Sink),
        ("src", gst::PadDirection::Src),
    ] {
        let t = gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps)
            .expect("valid pad template");
        // The base class has no templates, so this adds (and the class takes its own ref).
        gst::ffi::gst_element_class_add_pad_template(eklass, t.to_glib_none().0);
    }
}

/// The GType of `T`'s element, registering it on first use.
fn filter_type<T: VideoFilter>() -> Result<glib::Type, glib::BoolError> {
    static BY_ELEMENT: OnceLock<StdMutex<HashMap<&'static str, glib::Type>>> = OnceLock::new();
    let info = T::info();
    let mut by_element = BY_ELEMENT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(t) = by_element.get(info.element) {
        return Ok(*t);
    }
    let base = FilterElement::static_type();
    let name = format!("Gst{}", info.element);
    if glib::Type::from_name(&name).is_some() {
        return Err(glib::bool_error!(
            "type {} registered by someone else",
            name
        ));
    }
    let data: &'static ClassData = Box::leak(Box::new(ClassData {
        info,
        create: create_boxed::<T>,
    }));
    let ty = unsafe {
        let mut q = std::mem::zeroed::<glib::gobject_ffi::GTypeQuery>();
        glib::gobject_ffi::g_type_query(base.into_glib(), &mut q);
        let type_info = glib::gobject_ffi::GTypeInfo {
            class_size: q.class_size as u16,
            base_init: None,
            base_finalize: None,
            class_init: Some(derived_class_init),
            class_finalize: None,
            class_data: data as *const ClassData as glib::ffi::gconstpointer,
            instance_size: q.instance_size as u16,
            n_preallocs: 0,
            instance_init: None,
            value_table: std::ptr::null(),
        };
        let cname = std::ffi::CString::new(name.clone()).expect("no NUL");
        let t = glib::gobject_ffi::g_type_register_static(
            base.into_glib(),
            cname.as_ptr(),
            &type_info,
            0,
        );
        glib::translate::from_glib::<_, glib::Type>(t)
    };
    if !ty.is_valid() {
        return Err(glib::bool_error!("cannot register type {}", name));
    }
    classes()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(ty, data);
    by_element.insert(info.element, ty);
    Ok(ty)
}

/// Registers `T`'s element (factory name `T::info().element`) in `plugin`, or statically when
/// `None`. Idempotent per process for the static case.
pub fn register<T: VideoFilter>(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    let ty = filter_type::<T>()?;
    gst::Element::register(plugin, T::info().element, gst::Rank::NONE, ty)
}

glib::wrapper! {
    /// The base type of every SDK filter element (abstract; use the per-filter factories).
    pub struct FilterElement(ObjectSubclass<imp::FilterElement>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

fn as_filter(element: &gst::Element) -> Result<&FilterElement, FilterError> {
    element.downcast_ref::<FilterElement>().ok_or_else(|| {
        FilterError::InvalidArgument(format!("{} is not a Rheo SDK filter", element.name()))
    })
}

/// The interface of the filter inside `element` (`None` for other elements).
pub fn info_of(element: &gst::Element) -> Option<&'static FilterInfo> {
    element.downcast_ref::<FilterElement>()?;
    class_of(element.type_()).map(|c| c.info)
}

/// Builds the element of `class` (bare `ChromaFilter` or qualified `chroma.ChromaFilter`) with
/// a filter made from already validated and loaded args ([`super::args_from_json`],
/// [`super::load_images`]). Registers the element type on first use.
pub fn instantiate(class: &str, args: &Args) -> Result<gst::Element, FilterError> {
    let reg = crate::registry::find(class)
        .ok_or_else(|| FilterError::InvalidArgument(format!("unknown filter class '{class}'")))?;
    (reg.register)(None).map_err(|e| FilterError::Failed(e.to_string()))?;
    let element = gst::ElementFactory::make(reg.info.element)
        .build()
        .map_err(|e| FilterError::Failed(format!("cannot create {}: {e}", reg.info.element)))?;
    let fe = as_filter(&element)?;
    let cd = class_of(element.type_())
        .ok_or_else(|| FilterError::Failed("unregistered filter type".into()))?;
    let filter = (cd.create)(args)?;
    *fe.imp().filter.lock() = Some(filter);
    Ok(element)
}

/// Collects what one call raises (events, regions, data messages); delivered once the filter
/// lock is released.
#[derive(Default)]
struct Collector {
    events: Vec<(&'static str, Vec<(&'static str, Value)>)>,
    /// Regions read from the frame's metadata.
    incoming: Vec<Region>,
    /// Regions the filter adds.
    outgoing: Vec<Region>,
    /// Messages for the DATA output.
    data: Vec<DataMessage>,
}

impl Context for Collector {
    fn emit(&mut self, event: &'static str, fields: Vec<(&'static str, Value)>) {
        self.events.push((event, fields));
    }

    fn regions(&self) -> &[Region] {
        &self.incoming
    }

    fn add_region(&mut self, region: Region) {
        self.outgoing.push(region);
    }

    fn send_data(&mut self, message: DataMessage) {
        self.data.push(message);
    }
}

/// Regions of interest on a buffer (GstVideoRegionOfInterestMeta).
fn regions_of(buffer: &gst::BufferRef) -> Vec<Region> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .map(|m| {
            let (x, y, width, height) = m.rect();
            Region {
                kind: m.roi_type().to_owned(),
                x,
                y,
                width,
                height,
            }
        })
        .collect()
}

fn with_filter<R>(
    element: &gst::Element,
    f: impl FnOnce(&mut dyn VideoFilter, &mut Collector) -> Result<R, FilterError>,
) -> Result<R, FilterError> {
    let fe = as_filter(element)?;
    let imp = fe.imp();
    let mut collected = Collector::default();
    let r = {
        let mut guard = imp.filter.lock();
        let filter = guard
            .as_deref_mut()
            .ok_or_else(|| FilterError::Failed("the filter is not built yet (no params)".into()))?;
        std::panic::catch_unwind(AssertUnwindSafe(|| f(filter, &mut collected))).unwrap_or_else(
            |p| {
                Err(FilterError::Failed(format!(
                    "filter panicked: {}",
                    panic_text(&*p)
                )))
            },
        )
    };
    imp.deliver(collected);
    r
}

/// Hands a message from the element's DATA input to its filter ([`VideoFilter::receive_data`]).
/// Frames wait meanwhile.
pub fn receive_data(element: &gst::Element, message: &DataMessage) -> Result<(), FilterError> {
    with_filter(element, |f, ctx| f.receive_data(message, ctx))
}

/// Where the messages the element's filter sends ([`Context::send_data`]) go. Without a sink
/// they are posted on the bus as [`DATA_MESSAGE`]s (what `gst-launch-1.0 -m` shows).
pub fn set_data_sink(element: &gst::Element, sink: Option<DataSink>) -> Result<(), FilterError> {
    *as_filter(element)?.imp().data_sink.lock() = sink;
    Ok(())
}

/// Receives the messages a filter sends, on the thread that ran the filter.
pub type DataSink = Box<dyn Fn(DataMessage) + Send + Sync>;

/// Runs `method` on the element's filter (args validated and images loaded by the caller).
/// Takes the filter lock, so frames wait meanwhile: the method must be quick.
pub fn invoke(element: &gst::Element, method: &str, args: &Args) -> Result<Value, FilterError> {
    let info = info_of(element)
        .ok_or_else(|| FilterError::InvalidArgument("not a Rheo SDK filter".into()))?;
    if !info.methods.iter().any(|m| m.name == method) {
        return Err(FilterError::NoSuchMethod(method.to_owned()));
    }
    with_filter(element, |f, ctx| f.invoke(method, args, ctx))
}

/// Reads a declared property of the element's filter.
pub fn get_property(element: &gst::Element, name: &str) -> Result<Value, FilterError> {
    let info = info_of(element)
        .ok_or_else(|| FilterError::InvalidArgument("not a Rheo SDK filter".into()))?;
    if !info.properties.iter().any(|p| p.name == name) {
        return Err(FilterError::NoSuchMethod(format!(
            "get{}",
            capitalised(name)
        )));
    }
    with_filter(element, |f, _| f.get_property(name))
}

/// Writes a declared, writable property of the element's filter (value validated by the
/// caller).
pub fn set_property(element: &gst::Element, name: &str, value: Value) -> Result<(), FilterError> {
    let info = info_of(element)
        .ok_or_else(|| FilterError::InvalidArgument("not a Rheo SDK filter".into()))?;
    match info.properties.iter().find(|p| p.name == name) {
        Some(p) if !p.read_only => with_filter(element, |f, _| f.set_property(name, value)),
        _ => Err(FilterError::NoSuchMethod(format!(
            "set{}",
            capitalised(name)
        ))),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The JSON object of an event's fields, typed by the event's declaration when there is one.
pub(crate) fn event_json(
    info: &FilterInfo,
    event: &str,
    fields: &[(&'static str, Value)],
) -> String {
    let decl = info.events.iter().find(|e| e.name == event);
    let obj: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(name, v)| {
            let ty = decl
                .and_then(|d| d.fields.iter().find(|p| p.name == *name))
                .map(|p| &p.ty);
            let j = match ty {
                Some(t) => value_to_json(v, t),
                None => value_to_json_untyped(v),
            };
            (name.to_string(), j)
        })
        .collect();
    serde_json::Value::Object(obj).to_string()
}

mod imp {
    use super::*;

    static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
        gst::DebugCategory::new(
            "rheofilter",
            gst::DebugColorFlags::empty(),
            Some("Rheo SDK filter"),
        )
    });

    /// Private data of every SDK filter element.
    #[derive(Default)]
    pub struct FilterElement {
        /// The filter; `process`, `invoke` and the property calls run under this lock.
        pub(super) filter: Mutex<Option<Box<dyn VideoFilter>>>,
        params: Mutex<Option<String>>,
        last_error: Mutex<Option<Instant>>,
        /// Copy of the frame being processed, to restore it when `process` fails.
        backup: Mutex<Vec<u8>>,
        /// This element's class data, looked up once (not per frame).
        class: OnceLock<Option<&'static ClassData>>,
        /// The frame counters of this element's filter class.
        counters: OnceLock<std::sync::Arc<crate::frame_counters::FrameCounters>>,
        /// Where sent data messages go (else the bus).
        pub(super) data_sink: Mutex<Option<DataSink>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for FilterElement {
        const NAME: &'static str = "GstRheoFilter";
        const ABSTRACT: bool = true;
        // Each plugin library (rheofilters, an external filter's own plugin) carries its own copy
        // of this type; a process loading two of them gets `GstRheoFilter-1`, … instead of a clash.
        const ALLOW_NAME_CONFLICT: bool = true;
        type Type = super::FilterElement;
        type ParentType = gst_video::VideoFilter;
    }

    impl FilterElement {
        fn info(&self) -> Option<&'static FilterInfo> {
            self.class
                .get_or_init(|| class_of(self.obj().type_()))
                .map(|c| c.info)
        }

        /// Posts the events a call raised and sends its data messages.
        pub(super) fn deliver(&self, collected: Collector) {
            let Some(info) = self.info() else { return };
            for (name, fields) in collected.events {
                let s = gst::Structure::builder(EVENT_MESSAGE)
                    .field("event", name)
                    .field("data", event_json(info, name, &fields))
                    .build();
                self.post(s);
            }
            if collected.data.is_empty() {
                return;
            }
            let sink = self.data_sink.lock();
            for message in collected.data {
                match &*sink {
                    Some(sink) => sink(message),
                    None => self.post(match message {
                        DataMessage::Text(text) => gst::Structure::builder(DATA_MESSAGE)
                            .field("text", text)
                            .build(),
                        DataMessage::Binary(bytes) => gst::Structure::builder(DATA_MESSAGE)
                            .field("binary", glib::Bytes::from_owned(bytes))
                            .build(),
                    }),
                }
            }
        }

        fn post(&self, s: gst::Structure) {
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }

        fn report_error(&self, description: String) {
            gst::warning!(CAT, imp = self, "{description}");
            {
                let mut last = self.last_error.lock();
                let now = Instant::now();
                if last.is_some_and(|t| now.duration_since(t) < ERROR_INTERVAL) {
                    return;
                }
                *last = Some(now);
            }
            self.post(
                gst::Structure::builder(ERROR_MESSAGE)
                    .field("description", description)
                    .build(),
            );
        }

        fn build_from_params(&self) -> Result<(), gst::ErrorMessage> {
            if self.filter.lock().is_some() {
                return Ok(());
            }
            let cd = class_of(self.obj().type_()).ok_or_else(|| {
                gst::error_msg!(gst::CoreError::Failed, ("unregistered filter type"))
            })?;
            let params = self.params.lock().clone().unwrap_or_else(|| "{}".into());
            let fail = |e: String| {
                gst::error_msg!(
                    gst::LibraryError::Settings,
                    ("{}: invalid params: {}", cd.info.class, e)
                )
            };
            let json: serde_json::Value =
                serde_json::from_str(&params).map_err(|e| fail(e.to_string()))?;
            let obj = json
                .as_object()
                .ok_or_else(|| fail("params must be a JSON object".into()))?;
            let mut args =
                args_from_json(cd.info.constructor, obj).map_err(|e| fail(e.to_string()))?;
            load_images(cd.info.constructor, &mut args, &LoadLimits::default())
                .map_err(|e| fail(e.to_string()))?;
            let filter = (cd.create)(&args).map_err(|e| fail(e.to_string()))?;
            *self.filter.lock() = Some(filter);
            Ok(())
        }
    }

    impl ObjectImpl for FilterElement {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPS: std::sync::LazyLock<Vec<glib::ParamSpec>> =
                std::sync::LazyLock::new(|| {
                    vec![glib::ParamSpecString::builder("params")
                        .nick("Params")
                        .blurb("JSON object of the filter's constructor params (set before READY)")
                        .mutable_ready()
                        .build()]
                });
            PROPS.as_ref()
        }

        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            if pspec.name() == "params" {
                *self.params.lock() = value.get().expect("type checked upstream");
            }
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            match pspec.name() {
                "params" => self.params.lock().to_value(),
                _ => unreachable!("only params is installed"),
            }
        }
    }

    impl GstObjectImpl for FilterElement {}

    impl ElementImpl for FilterElement {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: std::sync::LazyLock<gst::subclass::ElementMetadata> =
                std::sync::LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        "Rheo SDK filter",
                        "Filter/Effect/Video",
                        "Base of the Rheo SDK filter elements",
                        "Rheo",
                    )
                });
            Some(&*META)
        }

        /// None here: each filter's class adds its own (`derived_class_init`); the base type is
        /// abstract and never instantiated.
        fn pad_templates() -> &'static [gst::PadTemplate] {
            &[]
        }
    }

    impl BaseTransformImpl for FilterElement {
        const MODE: gst_base::subclass::BaseTransformMode =
            gst_base::subclass::BaseTransformMode::AlwaysInPlace;
        const PASSTHROUGH_ON_SAME_CAPS: bool = false;
        const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

        fn start(&self) -> Result<(), gst::ErrorMessage> {
            self.build_from_params()
        }
    }

    impl VideoFilterImpl for FilterElement {
        fn transform_frame_ip(
            &self,
            frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            let Some(info) = self.info() else {
                return Ok(gst::FlowSuccess::Ok);
            };
            let (width, height) = (frame.width(), frame.height());
            let pts = frame.buffer().pts().map(|t| t.nseconds());
            let strides: Vec<usize> = frame.plane_stride().iter().map(|s| *s as usize).collect();
            let n_planes = frame.n_planes() as usize;
            let mut collected = Collector {
                incoming: regions_of(frame.buffer()),
                ..Collector::default()
            };
            let outcome = {
                let mut guard = self.filter.lock();
                let Some(filter) = guard.as_deref_mut() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let planes_data = frame.planes_data_mut();
                let mut backup = self.backup.lock();
                backup.clear();
                for p in planes_data.iter().take(n_planes) {
                    backup.extend_from_slice(p);
                }
                let planes: Vec<(&mut [u8], usize)> = planes_data
                    .into_iter()
                    .take(n_planes)
                    .zip(strides.iter().copied())
                    .collect();
                let mut f = Frame {
                    width,
                    height,
                    format: info.format,
                    pts,
                    planes,
                };
                let counters = self
                    .counters
                    .get_or_init(|| crate::frame_counters::counters_for(info.class));
                let r = crate::frame_counters::while_processing(counters, || {
                    std::panic::catch_unwind(AssertUnwindSafe(|| {
                        filter.process(&mut f, &mut collected)
                    }))
                });
                let r = match r {
                    Ok(r) => r,
                    Err(p) => Err(FilterError::Failed(format!("panic: {}", panic_text(&*p)))),
                };
                if r.is_ok() {
                    counters.count_processed();
                } else {
                    counters.count_dropped();
                    // Pass the frame through unchanged.
                    let mut off = 0;
                    for (p, _) in f.planes.iter_mut() {
                        let n = p.len();
                        p.copy_from_slice(&backup[off..off + n]);
                        off += n;
                    }
                }
                r
            };
            let regions = std::mem::take(&mut collected.outgoing);
            if !regions.is_empty() {
                // SAFETY: in-place transforms get a writable buffer; metadata is not memory, so
                // adding it while the frame is mapped is allowed, and the reference does not
                // outlive this block.
                let buffer = unsafe { gst::BufferRef::from_mut_ptr((*frame.as_mut_ptr()).buffer) };
                for r in &regions {
                    gst_video::VideoRegionOfInterestMeta::add(
                        buffer,
                        &r.kind,
                        (r.x, r.y, r.width, r.height),
                    );
                }
            }
            self.deliver(collected);
            if let Err(e) = outcome {
                self.report_error(format!("{}: process failed: {e}", info.class));
            }
            Ok(gst::FlowSuccess::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{self, Registration};
    use crate::{ComplexType, DataUse, DefaultValue, Event, Method, Param, Parent, Property, Type};
    use gst_app::{AppSink, AppSrc};

    const T: gst::ClockTime = gst::ClockTime::from_seconds(10);

    static AREA: ComplexType = ComplexType {
        module: "sdktest",
        name: "Area",
        fields: &[
            Param {
                name: "x",
                ty: Type::Int,
                default: None,
                doc: "",
            },
            Param {
                name: "y",
                ty: Type::Int,
                default: None,
                doc: "",
            },
            Param {
                name: "size",
                ty: Type::Int,
                default: Some(DefaultValue::Int(2)),
                doc: "",
            },
        ],
    };
    static INFO: FilterInfo = FilterInfo {
        module: "sdktest",
        class: "SdkTestFilter",
        element: "rheosdktest",
        description: "Paints a square; panics on every n-th frame",
        constructor: &[
            Param {
                name: "area",
                ty: Type::Complex(&AREA),
                default: None,
                doc: "",
            },
            Param {
                name: "value",
                ty: Type::Int,
                default: Some(DefaultValue::Int(200)),
                doc: "",
            },
            Param {
                name: "panicEvery",
                ty: Type::Int,
                default: Some(DefaultValue::Int(0)),
                doc: "",
            },
        ],
        methods: &[
            Method {
                name: "setValue",
                params: &[Param {
                    name: "value",
                    ty: Type::Int,
                    default: None,
                    doc: "",
                }],
                returns: Some(Type::Int),
                doc: "",
            },
            Method {
                name: "boom",
                params: &[],
                returns: None,
                doc: "",
            },
        ],
        properties: &[
            Property {
                name: "value",
                ty: Type::Int,
                read_only: false,
                doc: "",
            },
            Property {
                name: "frames",
                ty: Type::Int,
                read_only: true,
                doc: "",
            },
        ],
        events: &[Event {
            name: "Painted",
            fields: &[
                Param {
                    name: "frame",
                    ty: Type::Int,
                    default: None,
                    doc: "",
                },
                Param {
                    name: "area",
                    ty: Type::Complex(&AREA),
                    default: None,
                    doc: "",
                },
                Param {
                    name: "level",
                    ty: Type::Float,
                    default: None,
                    doc: "",
                },
            ],
            doc: "",
        }],
        format: PixelFormat::Bgr,
        data: DataUse::None,
        parent: Parent::Filter,
    };

    struct TestFilter {
        area: Value,
        value: u8,
        panic_every: i64,
        frames: i64,
    }

    impl VideoFilter for TestFilter {
        fn info() -> &'static FilterInfo {
            &INFO
        }
        fn new(args: &Args) -> Result<Self, FilterError> {
            Ok(TestFilter {
                area: args.get("area").clone(),
                value: args.int("value")? as u8,
                panic_every: args.int("panicEvery")?,
                frames: 0,
            })
        }
        fn process(
            &mut self,
            frame: &mut Frame<'_>,
            ctx: &mut dyn Context,
        ) -> Result<(), FilterError> {
            self.frames += 1;
            let (x, y, size) = (
                self.area.field("x").as_int().unwrap_or(0) as usize,
                self.area.field("y").as_int().unwrap_or(0) as usize,
                self.area.field("size").as_int().unwrap_or(0) as usize,
            );
            let (data, stride) = &mut frame.planes[0];
            for row in y..y + size {
                data[row * *stride + x * 3..row * *stride + (x + size) * 3].fill(self.value);
            }
            if self.panic_every > 0 && self.frames % self.panic_every == 0 {
                panic!("test panic on frame {}", self.frames);
            }
            ctx.emit(
                "Painted",
                vec![
                    ("frame", Value::Int(self.frames)),
                    ("area", self.area.clone()),
                    ("level", Value::Int(1)),
                ],
            );
            Ok(())
        }
        fn invoke(
            &mut self,
            method: &str,
            args: &Args,
            ctx: &mut dyn Context,
        ) -> Result<Value, FilterError> {
            match method {
                "setValue" => {
                    let old = self.value;
                    self.value = args.int("value")? as u8;
                    ctx.emit("Painted", vec![("frame", Value::Int(-1))]);
                    Ok(Value::Int(old.into()))
                }
                "boom" => panic!("boom"),
                m => Err(FilterError::NoSuchMethod(m.into())),
            }
        }
        fn get_property(&self, name: &str) -> Result<Value, FilterError> {
            match name {
                "value" => Ok(Value::Int(self.value.into())),
                "frames" => Ok(Value::Int(self.frames)),
                n => Err(FilterError::NoSuchMethod(n.into())),
            }
        }
        fn set_property(&mut self, name: &str, value: Value) -> Result<(), FilterError> {
            match (name, value.as_int()) {
                ("value", Some(v)) => {
                    self.value = v as u8;
                    Ok(())
                }
                _ => Err(FilterError::InvalidArgument(name.into())),
            }
        }
    }

    static I420_INFO: FilterInfo = FilterInfo {
        module: "filters",
        class: "SdkI420TestFilter",
        element: "rheosdktesti420",
        description: "Sets luma to 200 and chroma to 90; echoes data messages",
        constructor: &[],
        methods: &[],
        properties: &[],
        events: &[],
        format: PixelFormat::I420,
        data: DataUse::ReceivesAndSends,
        parent: Parent::Filter,
    };

    struct I420Filter;

    impl VideoFilter for I420Filter {
        fn info() -> &'static FilterInfo {
            &I420_INFO
        }
        fn new(_: &Args) -> Result<Self, FilterError> {
            Ok(I420Filter)
        }
        fn process(
            &mut self,
            frame: &mut Frame<'_>,
            _: &mut dyn Context,
        ) -> Result<(), FilterError> {
            if frame.planes.len() != 3 || frame.planes[0].1 < frame.width as usize {
                return Err(FilterError::Failed("bad planes".into()));
            }
            let h = frame.height as usize;
            for (i, (data, stride)) in frame.planes.iter_mut().enumerate() {
                let rows = if i == 0 { h } else { h.div_ceil(2) };
                data[..*stride * rows].fill(if i == 0 { 200 } else { 90 });
            }
            Ok(())
        }
        fn receive_data(
            &mut self,
            message: &DataMessage,
            ctx: &mut dyn Context,
        ) -> Result<(), FilterError> {
            if message.bytes() == b"panic" {
                panic!("asked to");
            }
            ctx.send_data(match message {
                DataMessage::Text(t) => DataMessage::Text(format!("echo {t}")),
                DataMessage::Binary(b) => DataMessage::Binary([b"echo ", &b[..]].concat()),
            });
            Ok(())
        }
    }

    pub(super) fn setup() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            gst::init().unwrap();
            registry::add(Registration::of::<TestFilter>()).unwrap();
            registry::add(Registration::of::<I420Filter>()).unwrap();
            registry::register_all(None).unwrap();
            register::<TestFilter>(None).unwrap();
        });
    }

    const W: usize = 32;
    const H: usize = 24;
    /// BGR of videotestsrc's solid colour 0xff102030.
    const BG: [u8; 3] = [0x30, 0x20, 0x10];

    fn launch(params: &str, frames: u32) -> (gst::Pipeline, AppSink) {
        let quoted = params.replace('"', "\\\"");
        let desc = format!(
            "videotestsrc num-buffers={frames} pattern=solid-color foreground-color=0xff102030 ! \
             video/x-raw,format=BGR,width={W},height={H},framerate=30/1 ! \
             rheosdktest name=f params=\"{}\" ! appsink name=sink sync=false",
            quoted
        );
        let p = gst::parse::launch(&desc)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let sink = p.by_name("sink").unwrap().downcast::<AppSink>().unwrap();
        (p, sink)
    }

    /// The bytes of pixel (x, y) of a BGR sample.
    fn pixel(sample: &gst::Sample, x: usize, y: usize) -> [u8; 3] {
        let buf = sample.buffer().unwrap().map_readable().unwrap();
        let stride = (W * 3).next_multiple_of(4);
        let o = y * stride + x * 3;
        [buf[o], buf[o + 1], buf[o + 2]]
    }

    #[test]
    fn panics_pass_frames_through_unchanged_and_post_one_error_per_second() {
        setup();
        let (p, sink) = launch(
            r#"{"area":{"x":4,"y":4,"size":3},"value":250,"panicEvery":3}"#,
            9,
        );
        let started = Instant::now();
        p.set_state(gst::State::Playing).unwrap();
        let mut painted = Vec::new();
        for i in 1..=9 {
            let s = sink
                .try_pull_sample(T)
                .unwrap_or_else(|| panic!("frame {i} missing"));
            painted.push(pixel(&s, 5, 5) == [250; 3]);
            assert_eq!(pixel(&s, 0, 0), BG);
        }
        // Frames 3, 6, 9 panicked after painting: restored.
        assert_eq!(
            painted,
            [true, true, false, true, true, false, true, true, false]
        );
        let bus = p.bus().unwrap();
        let (mut errors, mut events) = (Vec::new(), Vec::new());
        loop {
            let m = bus
                .timed_pop_filtered(
                    T,
                    &[
                        gst::MessageType::Element,
                        gst::MessageType::Eos,
                        gst::MessageType::Error,
                    ],
                )
                .expect("EOS");
            match m.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => panic!("{}", e.error()),
                _ => {
                    let s = m.structure().unwrap();
                    match s.name().as_str() {
                        ERROR_MESSAGE => errors.push(s.get::<String>("description").unwrap()),
                        EVENT_MESSAGE => {
                            assert_eq!(s.get::<&str>("event").unwrap(), "Painted");
                            let d: serde_json::Value =
                                serde_json::from_str(s.get::<&str>("data").unwrap()).unwrap();
                            events.push(d);
                        }
                        _ => {}
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        p.set_state(gst::State::Null).unwrap();
        // 3 panics, normally within far less than a second: one message (one more per second
        // the run took at most).
        assert!(
            !errors.is_empty() && errors.len() as u64 <= 1 + elapsed.as_secs(),
            "{errors:?}"
        );
        assert!(errors[0].contains("test panic on frame 3"), "{}", errors[0]);
        let frames: Vec<i64> = events
            .iter()
            .map(|e| e["frame"].as_i64().unwrap())
            .collect();
        assert_eq!(frames, [1, 2, 4, 5, 7, 8]);
        assert_eq!(
            events[0]["area"],
            serde_json::json!({"x":4,"y":4,"size":3,"__module__":"sdktest","__type__":"Area"})
        );
        assert!(events[0]["level"].is_f64());
    }

    #[test]
    fn invalid_params_fail_the_ready_transition_with_kurento_wording() {
        setup();
        let (p, _sink) = launch(r#"{"value":3}"#, 1);
        assert!(p.set_state(gst::State::Playing).is_err());
        let m = p
            .bus()
            .unwrap()
            .timed_pop_filtered(T, &[gst::MessageType::Error])
            .unwrap();
        let gst::MessageView::Error(e) = m.view() else {
            unreachable!()
        };
        assert!(
            e.error()
                .to_string()
                .contains("'area' parameter is required"),
            "{}",
            e.error()
        );
        p.set_state(gst::State::Null).unwrap();
    }

    #[test]
    fn i420_filters_get_three_planes() {
        setup();
        let e = instantiate("kurento.SdkI420TestFilter", &Args::default()).unwrap();
        assert!(registry::find("filters.SdkI420TestFilter").is_some());
        assert!(registry::find("SdkI420TestFilter").is_some());
        let caps = e.static_pad("src").unwrap().pad_template_caps();
        assert_eq!(
            caps.structure(0).unwrap().get::<&str>("format").unwrap(),
            "I420"
        );
        let p = gst::Pipeline::new();
        let src = gst::ElementFactory::make("videotestsrc")
            .property("num-buffers", 1)
            .build()
            .unwrap();
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", 33)
            .field("height", 17)
            .build();
        let sink = AppSink::builder().caps(&caps).sync(false).build();
        p.add_many([&src, &e, sink.upcast_ref()]).unwrap();
        gst::Element::link_many([&src, &e, sink.upcast_ref()]).unwrap();
        p.set_state(gst::State::Playing).unwrap();
        let sample = sink.try_pull_sample(T).unwrap();
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let frame =
            gst_video::VideoFrame::from_buffer_readable(sample.buffer_owned().unwrap(), &info)
                .unwrap();
        assert_eq!((frame.width(), frame.height()), (33, 17));
        assert_eq!(frame.plane_data(0).unwrap()[32], 200);
        assert_eq!(frame.plane_data(1).unwrap()[16], 90);
        assert_eq!(
            frame.plane_data(2).unwrap()[frame.plane_stride()[2] as usize * 8 + 16],
            90
        );
        p.set_state(gst::State::Null).unwrap();
        // No rheo-filter-error: the planes were as expected.
        assert!(std::iter::from_fn(|| p.bus().unwrap().pop())
            .all(|m| m.structure().is_none_or(|s| s.name() != ERROR_MESSAGE)));
    }

    #[test]
    fn element_class_has_its_own_name_caps_and_info() {
        setup();
        let f = gst::ElementFactory::find("rheosdktest").unwrap();
        assert_eq!(f.metadata("klass"), Some("Filter/Effect/Video"));
        let e = f.create().build().unwrap();
        assert_eq!(info_of(&e).unwrap().class, "SdkTestFilter");
        let caps = e.static_pad("sink").unwrap().pad_template_caps();
        assert_eq!(
            caps.structure(0).unwrap().get::<&str>("format").unwrap(),
            "BGR"
        );
        assert!(info_of(&gst::ElementFactory::make("identity").build().unwrap()).is_none());
        assert!(registry::find("SdkTestFilter").is_some());
        assert!(registry::find("sdktest.SdkTestFilter").is_some());
        assert!(registry::find("chroma.SdkTestFilter").is_none());
        assert!(registry::add(Registration::of::<TestFilter>()).is_err());
    }

    #[test]
    fn instantiate_invoke_and_properties() {
        setup();
        let area = Value::Struct(vec![
            ("x".into(), Value::Int(1)),
            ("y".into(), Value::Int(1)),
            ("size".into(), Value::Int(2)),
        ]);
        let args = Args(vec![
            ("area".into(), area),
            ("value".into(), Value::Int(100)),
            ("panicEvery".into(), Value::Int(0)),
        ]);
        assert!(instantiate("nosuch.Filter", &args).is_err());
        let e = instantiate("sdktest.SdkTestFilter", &args).unwrap();
        assert_eq!(info_of(&e).unwrap().element, "rheosdktest");

        let pipeline = gst::Pipeline::new();
        let src = AppSrc::builder()
            .caps(
                &gst_video::VideoInfo::builder(gst_video::VideoFormat::Bgr, W as u32, H as u32)
                    .build()
                    .unwrap()
                    .to_caps()
                    .unwrap(),
            )
            .format(gst::Format::Time)
            .build();
        let sink = AppSink::builder().sync(false).build();
        pipeline
            .add_many([src.upcast_ref(), &e, sink.upcast_ref()])
            .unwrap();
        gst::Element::link_many([src.upcast_ref(), &e, sink.upcast_ref()]).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let size = (W * 3).next_multiple_of(4) * H;
        let push = |n: u64| {
            let mut b = gst::Buffer::from_mut_slice(vec![0u8; size]);
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(n * 33));
            src.push_buffer(b).unwrap();
            sink.try_pull_sample(T).expect("frame")
        };
        assert_eq!(pixel(&push(0), 1, 1), [100; 3]);

        assert_eq!(
            invoke(&e, "setValue", &Args(vec![("value".into(), Value::Int(7))])).unwrap(),
            Value::Int(100)
        );
        assert_eq!(pixel(&push(1), 2, 2), [7; 3]);
        assert_eq!(get_property(&e, "value").unwrap(), Value::Int(7));
        set_property(&e, "value", Value::Int(9)).unwrap();
        assert_eq!(pixel(&push(2), 1, 2), [9; 3]);
        assert_eq!(get_property(&e, "frames").unwrap(), Value::Int(3));
        assert!(matches!(
            set_property(&e, "frames", Value::Int(0)),
            Err(FilterError::NoSuchMethod(_))
        ));
        assert!(matches!(
            get_property(&e, "nope"),
            Err(FilterError::NoSuchMethod(_))
        ));
        assert!(matches!(
            invoke(&e, "nope", &Args::default()),
            Err(FilterError::NoSuchMethod(_))
        ));
        // A panicking method is an error, and the filter keeps working.
        let err = invoke(&e, "boom", &Args::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("boom"), "{err}");
        assert_eq!(pixel(&push(3), 1, 1), [9; 3]);

        // Events raised by invoke reach the bus too.
        let bus = pipeline.bus().unwrap();
        let mut from_invoke = false;
        while let Some(m) = bus.pop() {
            let Some(s) = m.structure() else { continue };
            if s.name() == EVENT_MESSAGE && s.get::<&str>("data").unwrap() == r#"{"frame":-1}"# {
                from_invoke = true;
            }
        }
        assert!(from_invoke);
        pipeline.set_state(gst::State::Null).unwrap();
    }

    #[test]
    fn data_messages_reach_the_filter_and_what_it_sends_reaches_the_sink_or_the_bus() {
        setup();
        let e = instantiate("SdkI420TestFilter", &Args::default()).unwrap();
        let pipeline = gst::Pipeline::new();
        pipeline.add(&e).unwrap();
        let bus = pipeline.bus().unwrap();

        // No sink: the bus carries them (what gst-launch-1.0 -m prints).
        receive_data(&e, &DataMessage::Text("hello".into())).unwrap();
        receive_data(&e, &DataMessage::Binary(vec![0, 1])).unwrap();
        let posted: Vec<gst::Structure> = std::iter::from_fn(|| bus.pop())
            .filter_map(|m| m.structure().map(|s| s.to_owned()))
            .filter(|s| s.name() == DATA_MESSAGE)
            .collect();
        assert_eq!(posted.len(), 2);
        assert_eq!(posted[0].get::<String>("text").unwrap(), "echo hello");
        let binary = posted[1].get::<glib::Bytes>("binary").unwrap();
        assert_eq!(&binary[..], b"echo \x00\x01");

        // With a sink: in order, nothing on the bus.
        let got = std::sync::Arc::new(Mutex::new(Vec::new()));
        let into = got.clone();
        set_data_sink(&e, Some(Box::new(move |m| into.lock().push(m)))).unwrap();
        for text in ["a", "b", "c"] {
            receive_data(&e, &DataMessage::Text(text.into())).unwrap();
        }
        let texts: Vec<String> = got.lock().iter().map(|m| m.text().into_owned()).collect();
        assert_eq!(texts, ["echo a", "echo b", "echo c"]);
        assert!(bus.pop().is_none());

        // A panic while taking a message is an error; the filter keeps working.
        let err = receive_data(&e, &DataMessage::Text("panic".into())).unwrap_err();
        assert!(err.to_string().contains("asked to"), "{err}");
        receive_data(&e, &DataMessage::Text("d".into())).unwrap();
        assert_eq!(got.lock().len(), 4);

        // An element that is not an SDK filter is refused.
        let identity = gst::ElementFactory::make("identity").build().unwrap();
        assert!(receive_data(&identity, &DataMessage::Text("x".into())).is_err());
    }
}
