//! The Rheo filter SDK: implement [`VideoFilter`], register it (one line in the built-in list,
//! or [`registry::add`] / `rheo::Server::filter` from your own crate), and the filter is a
//! GStreamer element (`gst-launch-1.0 ... ! <element> ! ...`) and a Kurento class clients can
//! `create`, `invoke` and `subscribe` to.
//!
//! Everything a Kurento client sees (module, class, constructor params, methods, properties,
//! events, complex types) is declared once, as data, in a [`FilterInfo`]; the server generates
//! `describe`, `getInfo`, `getKmd`, argument validation and event delivery from it.
//!
//! * [`image`]: loading overlay images from `file://`, paths and `http(s)://`.
//! * [`registry`]: the filters the server and the plugins know.
//! * [`testing`]: frames and a recording context for unit tests without GStreamer.
//! * [`worker`]: slow analysis off the streaming thread, on the latest frame.
//! * [`frame_counters`]: per-class frame counters the server reports in `/metrics`.
//!
//! This crate links OpenCV and GStreamer only: none of the built-in filters' libraries.

#![warn(missing_docs)]

/// The GStreamer bindings this crate is built against.
pub use gst;
/// The OpenCV bindings this crate is built against.
pub use opencv;

mod element;
pub mod frame_counters;
pub mod image;
mod image_header;
pub mod json;
pub mod local_file;
pub mod policy_http;
pub mod registry;
pub mod testing;
pub mod uri_policy;
mod value;
pub mod worker;

pub use element::{
    get_property, info_of, instantiate, invoke, receive_data, register, set_data_sink,
    set_property, DataSink, FilterElement, DATA_MESSAGE, ERROR_MESSAGE, EVENT_MESSAGE,
};
pub use image::{load_image, ImageError, LoadLimits, OverlayImage};
pub use json::{args_from_json, load_images, value_to_json};
pub use uri_policy::{UriError, UriPolicy};
pub use value::{Args, Value};

use std::sync::Arc;

/// A parameter, field or return type, as the Kurento interface describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Type {
    /// `boolean`.
    Bool,
    /// `int` / `int64` (a JSON integer).
    Int,
    /// `float` / `double` (JSON numbers; integers accepted).
    Float,
    /// `String`.
    String,
    /// A URI of an image (`file://`, path, `http(s)://`). The SDK loads it (off the streaming
    /// thread, with the server's timeout and size limit) before the filter sees it: the filter
    /// receives [`Value::Image`]; a failed load is an error to the caller.
    ImageUri,
    /// An enum, sent as one of these strings.
    Enum(&'static [&'static str]),
    /// `T[]`.
    List(&'static Type),
    /// A register complex type.
    Complex(&'static ComplexType),
}

/// A Kurento "register" complex type (an object with `__module__`/`__type__`).
#[derive(Debug, PartialEq)]
pub struct ComplexType {
    /// Kurento module that defines it (`chroma`, `crowddetector`, …).
    pub module: &'static str,
    /// Type name (`WindowParam`), sent as `__type__`.
    pub name: &'static str,
    /// Its fields (optional ones carry a default).
    pub fields: &'static [Param],
}

/// A named parameter (constructor, method) or field (complex type, event).
#[derive(Debug, PartialEq)]
pub struct Param {
    /// Name (JSON member).
    pub name: &'static str,
    /// Type.
    pub ty: Type,
    /// `None`: required. `Some(v)`: optional with the kmd default `v` (`Value::Null` for
    /// optional without default).
    pub default: Option<DefaultValue>,
    /// One-line documentation (shown by `getKmd`).
    pub doc: &'static str,
}

/// A default value, expressible in a `static`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    /// Optional without default: absent stays `Value::Null`.
    Null,
    /// A boolean default.
    Bool(bool),
    /// An integer default.
    Int(i64),
    /// A float default.
    Float(f64),
    /// A string (or enum) default.
    Str(&'static str),
    /// `[]`.
    EmptyList,
}

/// A method clients `invoke`.
#[derive(Debug, PartialEq)]
pub struct Method {
    /// Method name (`setBackground`).
    pub name: &'static str,
    /// Its `operationParams`.
    pub params: &'static [Param],
    /// Return type (`None`: void).
    pub returns: Option<Type>,
    /// One-line documentation.
    pub doc: &'static str,
}

/// A property: `get<Name>` and, unless read-only, `set<Name>`.
#[derive(Debug, PartialEq)]
pub struct Property {
    /// Property name (`processingWidth`).
    pub name: &'static str,
    /// Type.
    pub ty: Type,
    /// No `set<Name>`.
    pub read_only: bool,
    /// One-line documentation.
    pub doc: &'static str,
}

/// An event the filter raises; `fields` are its data beyond Kurento's common members.
#[derive(Debug, PartialEq)]
pub struct Event {
    /// Event name (`WindowIn`).
    pub name: &'static str,
    /// Its fields.
    pub fields: &'static [Param],
    /// One-line documentation.
    pub doc: &'static str,
}

/// Pixel layout the filter processes (the media plane converts around it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// 8-bit B, G, R interleaved: an OpenCV `CV_8UC3` Mat.
    Bgr,
    /// 8-bit planar Y, U, V 4:2:0 (what decoders produce; no conversion cost).
    I420,
}

/// What a filter does with data channel messages (Kurento's DATA connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataUse {
    /// None: the element has no DATA input or output.
    None,
    /// It takes messages ([`VideoFilter::receive_data`]) from a DATA connection into it.
    Receives,
    /// It sends messages ([`Context::send_data`]) to the elements connected from its DATA
    /// output.
    Sends,
    /// Both.
    ReceivesAndSends,
}

impl DataUse {
    /// Whether the element has a DATA input.
    pub fn receives(self) -> bool {
        matches!(self, DataUse::Receives | DataUse::ReceivesAndSends)
    }

    /// Whether the element has a DATA output.
    pub fn sends(self) -> bool {
        matches!(self, DataUse::Sends | DataUse::ReceivesAndSends)
    }
}

/// The Kurento class a filter's class extends (what `describe` reports as its hierarchy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// `kurento.Filter` (every vision filter of Kurento).
    Filter,
    /// `kurento.MediaElement` (e.g. Kurento's `KmsShowData` and `KmsSendData`).
    MediaElement,
}

/// A data channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataMessage {
    /// A text message (UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl DataMessage {
    /// The message's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            DataMessage::Text(t) => t.as_bytes(),
            DataMessage::Binary(b) => b,
        }
    }

    /// The message as text (binary messages decoded as UTF-8, invalid bytes replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            DataMessage::Text(t) => std::borrow::Cow::Borrowed(t),
            DataMessage::Binary(b) => String::from_utf8_lossy(b),
        }
    }
}

/// Everything clients and GStreamer know about a filter.
#[derive(Debug)]
pub struct FilterInfo {
    /// Kurento module (`chroma`; `filters` for the core filters, whose ids say `kurento`).
    pub module: &'static str,
    /// Kurento class (`ChromaFilter`).
    pub class: &'static str,
    /// GStreamer element name (`rheochroma`).
    pub element: &'static str,
    /// One-line description (element metadata, `getKmd`).
    pub description: &'static str,
    /// Constructor params besides `mediaPipeline`.
    pub constructor: &'static [Param],
    /// Methods.
    pub methods: &'static [Method],
    /// Properties.
    pub properties: &'static [Property],
    /// Events `process`/`invoke` may emit.
    pub events: &'static [Event],
    /// Pixel format of the frames `process` receives.
    pub format: PixelFormat,
    /// Whether it takes or sends data channel messages.
    pub data: DataUse,
    /// The Kurento class it extends.
    pub parent: Parent,
}

/// One video frame, writable in place.
pub struct Frame<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel layout (the filter's `info().format`).
    pub format: PixelFormat,
    /// Presentation time in nanoseconds, if known.
    pub pts: Option<u64>,
    /// Planes (one for BGR; Y, U, V for I420) with their strides.
    pub planes: Vec<(&'a mut [u8], usize)>,
}

impl<'a> Frame<'a> {
    /// The BGR frame as an OpenCV Mat sharing the frame's memory (no copy), borrowed from the
    /// frame so it cannot outlive it. Fails for I420 frames.
    pub fn bgr_mat(
        &mut self,
    ) -> opencv::Result<opencv::boxed_ref::BoxedRefMut<'_, opencv::core::Mat>> {
        if self.format != PixelFormat::Bgr || self.planes.is_empty() {
            return Err(opencv::Error::new(
                opencv::core::StsBadArg,
                "bgr_mat needs a BGR frame",
            ));
        }
        let (rows, cols) = (self.height as i32, self.width as i32);
        let (data, stride) = &mut self.planes[0];
        if data.len() < *stride * self.height as usize || *stride < self.width as usize * 3 {
            return Err(opencv::Error::new(
                opencv::core::StsBadSize,
                "frame smaller than its size",
            ));
        }
        // SAFETY: the Mat views `data` (checked large enough for rows x stride) and is returned
        // as a BoxedRefMut borrowing `self`, so it cannot outlive the frame's memory.
        let mat = unsafe {
            opencv::core::Mat::new_rows_cols_with_data_unsafe(
                rows,
                cols,
                opencv::core::CV_8UC3,
                data.as_mut_ptr().cast(),
                *stride,
            )?
        };
        Ok(opencv::boxed_ref::BoxedRefMut::from(mat))
    }

    /// One plane of an I420 frame (0: Y, full size; 1: U, 2: V, half size rounded up) as a
    /// one-channel OpenCV Mat sharing the frame's memory, borrowed from the frame.
    pub fn plane_mat(
        &mut self,
        index: usize,
    ) -> opencv::Result<opencv::boxed_ref::BoxedRefMut<'_, opencv::core::Mat>> {
        if self.format != PixelFormat::I420 || index >= self.planes.len().min(3) {
            return Err(opencv::Error::new(
                opencv::core::StsBadArg,
                "plane_mat needs an I420 frame and a plane index below 3",
            ));
        }
        let (cols, rows) = if index == 0 {
            (self.width as usize, self.height as usize)
        } else {
            (
                self.width.div_ceil(2) as usize,
                self.height.div_ceil(2) as usize,
            )
        };
        let (data, stride) = &mut self.planes[index];
        if *stride < cols || data.len() < *stride * rows {
            return Err(opencv::Error::new(
                opencv::core::StsBadSize,
                "plane smaller than its size",
            ));
        }
        // SAFETY: as in `bgr_mat`: the Mat views `data` (checked large enough) and borrows `self`.
        let mat = unsafe {
            opencv::core::Mat::new_rows_cols_with_data_unsafe(
                rows as i32,
                cols as i32,
                opencv::core::CV_8UC1,
                data.as_mut_ptr().cast(),
                *stride,
            )?
        };
        Ok(opencv::boxed_ref::BoxedRefMut::from(mat))
    }
}

/// What `process` and `invoke` can do besides touching pixels.
pub trait Context {
    /// Raises one of the filter's declared events; `fields` are its declared fields.
    fn emit(&mut self, event: &'static str, fields: Vec<(&'static str, Value)>);

    /// Regions of interest that travel with this frame as buffer metadata (GStreamer's
    /// `GstVideoRegionOfInterestMeta`), e.g. faces an upstream filter found. Empty outside
    /// `process`.
    fn regions(&self) -> &[Region] {
        &[]
    }

    /// Attaches a region of interest to this frame, for filters downstream (ignored outside
    /// `process`).
    fn add_region(&mut self, region: Region) {
        let _ = region;
    }

    /// Sends a message from the element's DATA output (filters declaring [`DataUse::Sends`]):
    /// it reaches the elements connected from it, e.g. a browser's data channel through a
    /// WebRtcEndpoint. Delivered once the call returns, in order.
    fn send_data(&mut self, message: DataMessage) {
        let _ = message;
    }
}

/// A region of interest carried by a frame: what it is (`"face"`) and where, in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// What the region holds, e.g. `"face"`.
    pub kind: String,
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Why a filter call failed. Surfaces as a Kurento error (invoke) or an `Error` event (process).
#[derive(Debug, Clone, thiserror::Error)]
pub enum FilterError {
    /// A parameter is missing or has the wrong type or value.
    #[error("{0}")]
    InvalidArgument(String),
    /// The method or property does not exist.
    #[error("no method '{0}'")]
    NoSuchMethod(String),
    /// The operation failed.
    #[error("{0}")]
    Failed(String),
}

impl From<opencv::Error> for FilterError {
    fn from(e: opencv::Error) -> Self {
        FilterError::Failed(e.to_string())
    }
}

/// A vision filter. The SDK's generic element owns one instance per element and calls it from
/// the streaming thread (`process`) and from control threads (`invoke`, properties), never at
/// the same time. Errors and panics in `process` become an `Error` event and the frame passes
/// through unchanged.
pub trait VideoFilter: Send + 'static {
    /// The filter's interface (a `static`).
    fn info() -> &'static FilterInfo
    where
        Self: Sized;

    /// Builds the filter from its constructor params (validated against `info().constructor`,
    /// defaults filled in, image URIs already loaded).
    fn new(args: &Args) -> Result<Self, FilterError>
    where
        Self: Sized;

    /// Processes one frame in place. Keep it fast: the stream waits for it (slow analysis
    /// belongs on a worker thread of the filter's own; see WRITING_A_FILTER.md).
    fn process(&mut self, frame: &mut Frame<'_>, ctx: &mut dyn Context) -> Result<(), FilterError>;

    /// Runs a declared method (args validated, defaults filled, images loaded). Returns
    /// `Value::Null` for void methods.
    fn invoke(
        &mut self,
        method: &str,
        args: &Args,
        ctx: &mut dyn Context,
    ) -> Result<Value, FilterError> {
        let _ = (args, ctx);
        Err(FilterError::NoSuchMethod(method.to_owned()))
    }

    /// Takes a message that arrived on the element's DATA input (filters declaring
    /// [`DataUse::Receives`]), in order, on the sender's thread: keep it quick.
    fn receive_data(
        &mut self,
        message: &DataMessage,
        ctx: &mut dyn Context,
    ) -> Result<(), FilterError> {
        let _ = (message, ctx);
        Ok(())
    }

    /// Reads a declared property.
    fn get_property(&self, name: &str) -> Result<Value, FilterError> {
        Err(FilterError::NoSuchMethod(format!("get {name}")))
    }

    /// Writes a declared, writable property (value validated).
    fn set_property(&mut self, name: &str, value: Value) -> Result<(), FilterError> {
        let _ = value;
        Err(FilterError::NoSuchMethod(format!("set {name}")))
    }
}

/// Loaded image handed to filters for [`Type::ImageUri`] params.
pub type Image = Arc<OverlayImage>;
