//! Video filters: FaceOverlayFilter, GStreamerFilter and every filter of the filter SDK, each a
//! bin that takes decoded video, runs the filter and gives decoded video; audio passes through.

use std::any::Any;
use std::sync::{Arc, Weak};

use gst::prelude::*;
use parking_lot::Mutex;

use super::element_policy::ElementPolicy;
use super::filter_data::FilterData;
use super::forward::Forward;
use crate::api_contract::*;
use crate::graph::context::ElementContext;
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::output::{AppSrcConsumer, Format, Output};
use crate::graph::pipeline::MediaPipeline;
use crate::{err, ErrorKind};
use rheo_filter_sdk as sdk;

/// A video filter element: decoded I420 in, the filter in place (with colour conversion around
/// it when it works in BGR), I420 out. Audio passes through.
pub struct FilterBin {
    audio: Forward,
    video_hub: Arc<Output>,
    consumer: Arc<AppSrcConsumer>,
    upstream: Arc<Mutex<Option<Weak<Output>>>>,
    filter: gst::Element,
    kind: FilterKind,
    /// DATA input and output, for SDK filters that declare them.
    data: FilterData,
}

/// What is inside a [`FilterBin`].
#[derive(Clone, Copy)]
enum FilterKind {
    FaceOverlay,
    Sdk(&'static sdk::FilterInfo),
    /// A user-supplied GStreamer element or bin (GStreamerFilter).
    GStreamer,
    /// A Python filter of the operator's folder (`rheopythonfilter`).
    Python,
}

/// FaceOverlayFilter's element (`rheofaceoverlay`).
pub type FaceOverlay = FilterBin;

/// A filter of the filter SDK (`rheo_filter_sdk::registry`).
pub type SdkFilter = FilterBin;

impl FilterBin {
    /// Draws `image` over every detected face, placed by `geometry` (ratios of the face box).
    pub fn set_overlay_image(&self, image: Arc<OverlayImage>, geometry: OverlayGeometry) {
        crate::filters::vision::set_overlay(&self.filter, image, geometry);
    }

    pub fn unset_overlay_image(&self) {
        crate::filters::vision::unset_overlay(&self.filter);
    }

    /// The filter element inside the bin (for tests and diagnostics).
    pub fn filter_element(&self) -> &gst::Element {
        &self.filter
    }

    /// The SDK filter's interface, for SDK filters.
    pub fn info(&self) -> Option<&'static rheo_filter_sdk::FilterInfo> {
        match self.kind {
            FilterKind::Sdk(info) => Some(info),
            _ => None,
        }
    }

    pub(crate) fn is_face_overlay(&self) -> bool {
        matches!(self.kind, FilterKind::FaceOverlay)
    }

    pub(crate) fn is_gstreamer_filter(&self) -> bool {
        matches!(self.kind, FilterKind::GStreamer)
    }

    pub(crate) fn is_python_filter(&self) -> bool {
        matches!(self.kind, FilterKind::Python)
    }

    /// GStreamerFilter's `setElementProperty`: the value string is converted to the property's
    /// own type (any fundamental type, enums by nick or value, flags, caps…). In a bin, the
    /// first element with that property gets it; `element.property` names one element.
    /// Properties that name files or URIs are refused unless `policy` allows the element.
    pub fn set_element_property(
        &self,
        name: &str,
        value: &str,
        policy: &ElementPolicy,
    ) -> Result<()> {
        let (target, prop) = match name.split_once('.') {
            Some((el, prop)) => {
                let bin = self.filter.downcast_ref::<gst::Bin>();
                let e = bin
                    .and_then(|b| b.by_name_recurse_up(el))
                    .or_else(|| (self.filter.name() == el).then(|| self.filter.clone()))
                    .ok_or_else(|| {
                        err(
                            ErrorKind::InvalidArgument,
                            format!("no element named '{el}'"),
                        )
                    })?;
                (e, prop)
            }
            None => {
                let e = match self.filter.downcast_ref::<gst::Bin>() {
                    Some(bin) if self.filter.find_property(name).is_none() => bin
                        .iterate_recurse()
                        .into_iter()
                        .flatten()
                        .find(|e| e.find_property(name).is_some())
                        .ok_or_else(|| {
                            err(
                                ErrorKind::InvalidArgument,
                                format!("no element has a property '{name}'"),
                            )
                        })?,
                    _ => self.filter.clone(),
                };
                (e, name)
            }
        };
        let spec = target.find_property(prop).ok_or_else(|| {
            err(
                ErrorKind::InvalidArgument,
                format!("'{}' has no property '{prop}'", target.name()),
            )
        })?;
        policy.check_property(&target, prop)?;
        if !spec.flags().contains(gst::glib::ParamFlags::WRITABLE) {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("property '{prop}' is read-only"),
            ));
        }
        let invalid = || {
            err(
                ErrorKind::InvalidArgument,
                format!(
                    "'{value}' is not a valid value for '{prop}' ({})",
                    spec.value_type().name()
                ),
            )
        };
        let unsigned = [
            gst::glib::Type::U8,
            gst::glib::Type::U32,
            gst::glib::Type::U64,
            gst::glib::Type::U_LONG,
        ]
        .contains(&spec.value_type());
        // GStreamer reads "-5" for an unsigned property as 2^32 - 5.
        if unsigned && value.trim_start().starts_with('-') {
            return Err(invalid());
        }
        let v = gst::glib::Value::deserialize(value, spec.value_type()).map_err(|_| invalid())?;
        if !fits(&spec, &v) {
            return Err(invalid());
        }
        target.set_property_from_value(prop, &v);
        Ok(())
    }

    /// Runs a method of an SDK filter (args validated and images loaded by the caller).
    pub fn invoke(
        &self,
        method: &str,
        args: &sdk::Args,
    ) -> std::result::Result<sdk::Value, sdk::FilterError> {
        sdk::invoke(&self.filter, method, args)
    }

    pub fn get_property(&self, name: &str) -> std::result::Result<sdk::Value, sdk::FilterError> {
        sdk::get_property(&self.filter, name)
    }

    pub fn set_property(
        &self,
        name: &str,
        value: sdk::Value,
    ) -> std::result::Result<(), sdk::FilterError> {
        sdk::set_property(&self.filter, name, value)
    }
}

impl ElementKind for FilterBin {
    fn input(&self, media: MediaKind) -> Input {
        match media {
            MediaKind::Audio => Input::Any(self.audio.consumer.clone()),
            MediaKind::Video => Input::Fixed(Format::RawVideo, self.consumer.clone()),
            MediaKind::Data => match &self.data.input {
                Some(input) => Input::Any(input.clone()),
                None => Input::Absent,
            },
        }
    }
    fn output(&self, media: MediaKind) -> Option<Arc<Output>> {
        match media {
            MediaKind::Audio => Some(self.audio.output.clone()),
            MediaKind::Video => Some(self.video_hub.clone()),
            MediaKind::Data => self.data.output.clone(),
        }
    }
    fn on_input_bound(&self, media: MediaKind, upstream: Option<Arc<Output>>) {
        match media {
            MediaKind::Audio => self.audio.bind(upstream),
            MediaKind::Video => *self.upstream.lock() = upstream.as_ref().map(Arc::downgrade),
            MediaKind::Data => {}
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Element {
    pub fn face_overlay(&self) -> Option<&FaceOverlay> {
        self.kind::<FilterBin>().filter(|f| f.is_face_overlay())
    }

    /// The element's filter, when it is a GStreamerFilter.
    pub fn gstreamer_filter(&self) -> Option<&FilterBin> {
        self.kind::<FilterBin>().filter(|f| f.is_gstreamer_filter())
    }

    /// The element's filter, when it is a Python filter.
    pub fn python_filter(&self) -> Option<&FilterBin> {
        self.kind::<FilterBin>().filter(|f| f.is_python_filter())
    }

    /// The element's filter, when it is a filter of the filter SDK.
    pub fn sdk_filter(&self) -> Option<&SdkFilter> {
        self.kind::<FilterBin>().filter(|f| f.info().is_some())
    }
}

impl FilterBin {
    /// FaceOverlayFilter.
    pub fn create_face_overlay(pipeline: &MediaPipeline, id: &str) -> crate::Result<Element> {
        let filter = crate::filters::vision::make_face_overlay()?;
        pipeline.add(id, |ctx| {
            build_filter_bin(ctx, "faceoverlay", filter, FilterKind::FaceOverlay)
        })
    }

    /// GStreamerFilter: `command` is a gst-launch description of an element (or a chain) that
    /// takes and gives raw video, made only of elements `policy` accepts.
    pub fn create_gstreamer_filter(
        pipeline: &MediaPipeline,
        id: &str,
        command: &str,
        policy: &ElementPolicy,
    ) -> crate::Result<Element> {
        let element = gstreamer_filter_element(command)?;
        policy.check(&element)?;
        ready_or_error(&element).map_err(|e| {
            err(
                ErrorKind::InvalidArgument,
                format!("command '{command}': {e}"),
            )
        })?;
        pipeline.add(id, |ctx| {
            build_filter_bin(ctx, "gstreamerfilter", element, FilterKind::GStreamer)
        })
    }

    /// A Python filter: `module` names a file of the operator's `python_filters_dir`; `params`
    /// (a JSON object) reaches it as `ctx.params`. A file that does not load is refused here,
    /// with its file and line.
    pub fn create_python_filter(
        pipeline: &MediaPipeline,
        id: &str,
        module: &str,
        params: &str,
    ) -> crate::Result<Element> {
        let element = gst::ElementFactory::make("rheopythonfilter")
            .property("module", module)
            .property("params", params)
            .build()
            .map_err(|e| err(ErrorKind::Internal, format!("rheopythonfilter: {e}")))?;
        ready_or_error(&element).map_err(|e| err(ErrorKind::InvalidArgument, e))?;
        pipeline.add(id, |ctx| {
            build_filter_bin(ctx, "pythonfilter", element, FilterKind::Python)
        })
    }

    /// A filter of the filter SDK (`class` bare or module-qualified), from constructor args
    /// already validated and with their images loaded.
    pub fn create_sdk_filter(
        pipeline: &MediaPipeline,
        id: &str,
        class: &str,
        args: &sdk::Args,
    ) -> crate::Result<Element> {
        let filter = sdk::instantiate(class, args).map_err(|e| match e {
            sdk::FilterError::InvalidArgument(m) => err(ErrorKind::InvalidArgument, m),
            other => err(ErrorKind::Internal, other.to_string()),
        })?;
        let info = sdk::info_of(&filter)
            .ok_or_else(|| err(ErrorKind::Internal, format!("{class} is not an SDK filter")))?;
        pipeline.add(id, |ctx| {
            build_filter_bin(ctx, info.element, filter, FilterKind::Sdk(info))
        })
    }
}

/// GStreamerFilter's element: any element or bin description working on raw video, with
/// conversion on both sides so it may take whatever raw format it likes.
fn gstreamer_filter_element(command: &str) -> crate::Result<gst::Element> {
    let element = gst::parse::bin_from_description(&videoflip_method_as_direction(command), true)
        .map(|b| b.upcast::<gst::Element>())
        .map_err(|e| {
            err(
                ErrorKind::InvalidArgument,
                format!("command '{command}': {e}"),
            )
        })?;
    let video = |pad: Option<gst::Pad>| {
        pad.map(|p| p.query_caps(None))
            .is_some_and(|caps| caps.can_intersect(&gst::Caps::new_empty_simple("video/x-raw")))
    };
    if !video(element.static_pad("sink")) || !video(element.static_pad("src")) {
        return Err(err(
            ErrorKind::InvalidArgument,
            format!("command '{command}' must take and give raw video (one sink and one src pad)"),
        ));
    }
    Ok(element)
}

/// `videoflip method=...`, as Kurento's GStreamerFilter examples write it, does nothing in
/// GStreamer 1.22 (parsing sets the deprecated `method` and then resets it to identity), so it is
/// written as `video-direction`, whose values are the same flips.
fn videoflip_method_as_direction(command: &str) -> String {
    let direction = |method: &str| {
        Some(match method {
            "none" | "0" => "identity",
            "clockwise" | "1" => "90r",
            "rotate-180" | "2" => "180",
            "counterclockwise" | "3" => "90l",
            "horizontal-flip" | "4" => "horiz",
            "vertical-flip" | "5" => "vert",
            "upper-left-diagonal" | "6" => "ul-lr",
            "upper-right-diagonal" | "7" => "ur-ll",
            "automatic" | "8" => "auto",
            _ => return None,
        })
    };
    command
        .split('!')
        .map(|segment| {
            if segment.split_whitespace().next() != Some("videoflip") {
                return segment.to_owned();
            }
            segment
                .split(' ')
                .map(
                    |word| match word.strip_prefix("method=").and_then(direction) {
                        Some(d) => format!("video-direction={d}"),
                        None => word.to_owned(),
                    },
                )
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("!")
}

/// Brings a new filter element to READY, where elements open what they need (a Python filter
/// loads its file), so that a failure is the client's error at `create` rather than an error
/// event later. The element's error message, when it posts one, is the reason.
fn ready_or_error(element: &gst::Element) -> std::result::Result<(), String> {
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let result = element.set_state(gst::State::Ready);
    element.set_bus(None);
    if result.is_ok() {
        return Ok(());
    }
    let _ = element.set_state(gst::State::Null);
    let reason = std::iter::from_fn(|| bus.pop())
        .find_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "it cannot start".into());
    Err(reason)
}

/// Whether `value` is within `spec`'s range as it is: GLib would clamp -5 for an unsigned
/// property or 5.0 for a double of 0..2, and the bindings refuse a clamped value with a panic.
/// Not-a-number floats are refused too (no range check catches them).
fn fits(spec: &gst::glib::ParamSpec, value: &gst::glib::Value) -> bool {
    use gst::glib::translate::{ToGlibPtr, ToGlibPtrMut};
    let finite = value
        .get::<f64>()
        .map(f64::is_finite)
        .or_else(|_| value.get::<f32>().map(f32::is_finite))
        .unwrap_or(true);
    let mut copy = value.clone();
    // SAFETY: validates (and may clamp) a copy this function owns; both pointers are live.
    let clamped = unsafe {
        gst::glib::gobject_ffi::g_param_value_validate(
            spec.to_glib_none().0,
            copy.to_glib_none_mut().0,
        )
    };
    finite && clamped == 0
}

fn make_caps_filter(format: &str) -> crate::Result<gst::Element> {
    gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", format)
                .build(),
        )
        .build()
        .map_err(|e| err(ErrorKind::Internal, format!("capsfilter: {e}")))
}

fn make_convert() -> crate::Result<gst::Element> {
    gst::ElementFactory::make("videoconvert")
        .property("n-threads", 1u32)
        .build()
        .map_err(|e| err(ErrorKind::Internal, format!("videoconvert: {e}")))
}

fn build_filter_bin(
    ctx: &ElementContext,
    prefix: &str,
    filter: gst::Element,
    kind: FilterKind,
) -> crate::Result<(gst::Bin, FilterBin)> {
    let (id, flow) = (ctx.id.as_str(), &ctx.flow);
    let bin = ctx.new_bin(prefix)?;
    let build = || -> crate::Result<FilterBin> {
        let appsrc = AppSrcConsumer::make_appsrc("in");
        let appsink = gst_app::AppSink::builder()
            .name("out")
            .sync(false)
            .async_(false)
            .caps(&Format::RawVideo.caps())
            .build();
        // BGR filters get one conversion each way; I420 filters work on decoder output directly.
        let mut chain: Vec<gst::Element> = vec![appsrc.clone().upcast()];
        match kind {
            FilterKind::Sdk(info) if info.format == sdk::PixelFormat::Bgr => chain.extend([
                make_convert()?,
                make_caps_filter("BGR")?,
                filter.clone(),
                make_convert()?,
                make_caps_filter("I420")?,
            ]),
            FilterKind::GStreamer | FilterKind::Python => chain.extend([
                make_convert()?,
                filter.clone(),
                make_convert()?,
                make_caps_filter("I420")?,
            ]),
            _ => chain.push(filter.clone()),
        }
        chain.push(appsink.clone().upcast());
        bin.add_many(&chain)
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        gst::Element::link_many(&chain).map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        let video_hub = Output::new(id, MediaKind::Video, ctx.hubs.clone(), Some(flow.clone()));
        video_hub.set_format(Some(Format::RawVideo));
        let upstream: Arc<Mutex<Option<Weak<Output>>>> = Arc::new(Mutex::new(None));
        let up2 = upstream.clone();
        video_hub.set_keyframe_fn(Some(Box::new(move || {
            let h = up2.lock().as_ref().and_then(Weak::upgrade);
            if let Some(h) = h {
                h.request_keyframe();
            }
        })));
        let weak_hub = Arc::downgrade(&video_hub);
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    if let (Some(h), Some(buf), Some(caps)) = (
                        weak_hub.upgrade(),
                        crate::graph::output::running_time_buffer(&sample),
                        sample.caps(),
                    ) {
                        h.push(&buf, caps);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let consumer = AppSrcConsumer::new(appsrc, false, Some((flow.clone(), MediaKind::Video)));
        let data = match kind {
            FilterKind::Sdk(info) => FilterData::attach(ctx, &filter, info),
            _ => FilterData {
                input: None,
                output: None,
            },
        };
        Ok(FilterBin {
            audio: Forward::new(ctx, MediaKind::Audio),
            video_hub,
            consumer,
            upstream,
            filter: filter.clone(),
            kind,
            data,
        })
    };
    match build() {
        Ok(f) => {
            bin.sync_state_with_parent()
                .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
            Ok((bin, f))
        }
        Err(e) => {
            ctx.remove_bin(&bin);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn videoflip_methods_become_directions() {
        assert_eq!(
            videoflip_method_as_direction("videoflip method=horizontal-flip"),
            "videoflip video-direction=horiz"
        );
        assert_eq!(
            videoflip_method_as_direction("videobalance ! videoflip method=4 ! videoflip method=x"),
            "videobalance ! videoflip video-direction=horiz ! videoflip method=x"
        );
        assert_eq!(
            videoflip_method_as_direction("capsfilter method=4"),
            "capsfilter method=4"
        );
    }
}
