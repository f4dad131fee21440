//! Implementation of `rheopythonfilter`.
//!
//! Threads: the streaming thread sends each frame to the filter's process and waits for its
//! answer (at most `frame-timeout-ms`); the process is started in NULL→READY (so a file that
//! does not load fails the state change, with the file and line) and killed in READY→NULL.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::BaseTransformMode;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use once_cell::sync::Lazy;
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::memfd_pool::{file_key, memfd, MemfdPool};
use super::worker::{Worker, WorkerError};
use crate::face_detection::{self, FaceDetector, SmallFrame};

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "rheopythonfilter",
        gst::DebugColorFlags::empty(),
        Some("Rheo Python filter"),
    )
});

/// Exceptions are reported at most this often (a filter failing on every frame would flood).
const ERROR_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Config {
    module: Option<String>,
    params: Option<String>,
    frame_timeout_ms: Option<u32>,
}

/// Memory of our own, for frames that do not arrive in memfd memory: copied in and back.
struct Slot {
    fd: OwnedFd,
    key: u64,
    map: *mut u8,
    size: usize,
}

// SAFETY: the mapping is used only under the element's state mutex.
unsafe impl Send for Slot {}

impl Slot {
    fn new(size: usize) -> std::io::Result<Slot> {
        let fd = memfd(size)?;
        // SAFETY: maps the whole new file shared; unmapped in Drop.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let key = file_key(fd.as_raw_fd()).unwrap_or_default();
        Ok(Slot {
            fd,
            key,
            map: map as *mut u8,
            size,
        })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `size` bytes mapped read-write for the slot's life.
        unsafe { std::slice::from_raw_parts_mut(self.map, self.size) }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`.
        unsafe { libc::munmap(self.map as *mut libc::c_void, self.size) };
    }
}

/// The filter's process and what the element knows about it.
struct Running {
    worker: Worker,
    module: String,
    frame_timeout: Duration,
    /// Memories whose descriptor the process has been given.
    sent: HashSet<u64>,
    slot: Option<Slot>,
    /// The frame before the filter ran, to restore when it raises.
    backup: Vec<u8>,
    last_error: Option<Instant>,
    /// Rheo's face detector, loaded when the filter first calls `ctx.faces()`.
    faces: Option<FaceDetector>,
    /// Counts the process among the server's (dropped after the process is killed).
    _slot: super::ProcessSlot,
}

#[derive(Default)]
pub struct PythonFilter {
    config: Mutex<Config>,
    running: Mutex<Option<Running>>,
    /// Frames the process worked on in their own memory, and frames copied in and out.
    frames_shared: AtomicU64,
    frames_copied: AtomicU64,
}

#[glib::object_subclass]
impl ObjectSubclass for PythonFilter {
    const NAME: &'static str = "GstRheoPythonFilter";
    type Type = super::PythonFilter;
    type ParentType = gst_video::VideoFilter;
}

impl PythonFilter {
    /// Starts the filter's process and loads its file.
    fn start_process(&self) -> Result<Running, String> {
        let settings = super::settings();
        let (module, params, timeout_ms) = {
            let c = self.config.lock();
            (c.module.clone(), c.params.clone(), c.frame_timeout_ms)
        };
        let module = module.ok_or("no module set (the filter's name in python_filters_dir)")?;
        let path = settings.module_path(&module)?;
        let params: Value = match params.as_deref().filter(|p| !p.trim().is_empty()) {
            None => json!({}),
            Some(text) => match serde_json::from_str(text) {
                Ok(v @ Value::Object(_)) => v,
                _ => return Err(format!("params must be a JSON object, not '{text}'")),
            },
        };
        let slot = super::ProcessSlot::take(settings.max_processes).ok_or_else(|| {
            format!(
                "server at capacity: {} Python filters run already (setting max_python_filters)",
                settings.max_processes
            )
        })?;
        let mut worker = Worker::spawn(&settings.interpreter, &module).map_err(|e| {
            format!(
                "cannot start {} for Python filter '{module}': {e}",
                settings.interpreter.display()
            )
        })?;
        let load = json!({"op": "load", "module": module, "path": path, "params": params});
        worker
            .send(&load, None)
            .and_then(|()| worker.receive(settings.load_timeout))
            .map_err(|e| format!("Python filter '{module}' did not load: {e}"))
            .and_then(|reply| match reply.get("error").and_then(Value::as_str) {
                Some(error) => Err(format!("Python filter '{module}' did not load: {error}")),
                None => Ok(()),
            })?;
        gst::info!(
            CAT,
            imp = self,
            "Python filter {module} loaded (pid {})",
            worker.pid()
        );
        Ok(Running {
            _slot: slot,
            worker,
            module,
            frame_timeout: timeout_ms
                .map(|ms| Duration::from_millis(ms as u64))
                .unwrap_or(settings.frame_timeout),
            sent: HashSet::new(),
            slot: None,
            backup: Vec::new(),
            last_error: None,
            faces: None,
        })
    }

    fn post(&self, structure: gst::Structure) {
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Element::builder(structure).src(&*obj).build());
    }

    fn post_error(&self, run: &mut Running, description: &str, always: bool) {
        let now = Instant::now();
        if !always
            && run
                .last_error
                .is_some_and(|t| now.duration_since(t) < ERROR_INTERVAL)
        {
            return;
        }
        run.last_error = Some(now);
        gst::warning!(CAT, imp = self, "{description}");
        self.post(
            gst::Structure::builder(rheo_filter_sdk::ERROR_MESSAGE)
                .field("description", description)
                .build(),
        );
    }

    /// Sends the frame to the process and waits for its answer; the frame's pixels are the
    /// filter's result (or restored, when it raised).
    fn run_frame(
        &self,
        run: &mut Running,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<Value, WorkerError> {
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let stride = frame.plane_stride()[0] as usize;
        let offset_in_memory = frame.info().offset()[0];
        let length = stride * height.saturating_sub(1) + width * 3;
        let pts = frame.buffer().pts().map(|p| p.nseconds());
        let regions_in: Vec<Value> = frame
            .buffer()
            .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
            .map(|m| {
                let (x, y, width, height) = m.rect();
                json!({"kind": m.roi_type().to_string(), "x": x, "y": y, "width": width, "height": height})
            })
            .collect();
        // The memory's descriptor, when it is memfd memory (from the pool the element proposed).
        let shared = {
            let buffer = frame.buffer();
            let memory = buffer.peek_memory(0);
            (buffer.n_memory() == 1)
                .then(|| memory.downcast_memory_ref::<gst_allocators::FdMemory>())
                .flatten()
                .and_then(|m| {
                    let fd = m.fd();
                    Some((
                        file_key(fd)?,
                        fd,
                        m.maxsize(),
                        m.offset() + offset_in_memory,
                    ))
                })
        };
        let pixels = frame
            .plane_data_mut(0)
            .map_err(|e| WorkerError::Io(e.to_string()))?;
        let Some(pixels) = pixels.get_mut(..length) else {
            return Err(WorkerError::Io(format!(
                "a {width}x{height} frame with {} bytes",
                pixels.len()
            )));
        };
        run.backup.clear();
        run.backup.extend_from_slice(pixels);
        let (key, fd, size, offset, copied) = match shared {
            Some((key, fd, size, offset)) => (key, fd, size, offset, false),
            None => {
                if run.slot.as_ref().is_none_or(|s| s.size < length) {
                    run.slot = Some(Slot::new(length).map_err(|e| WorkerError::Io(e.to_string()))?);
                }
                let slot = run.slot.as_mut().expect("just made");
                slot.bytes()[..length].copy_from_slice(pixels);
                (slot.key, slot.fd.as_raw_fd(), slot.size, 0, true)
            }
        };
        let message = |with_fd: bool| {
            json!({"op": "frame", "key": key, "size": size, "offset": offset, "width": width,
                   "height": height, "stride": stride, "pts": pts, "fd": with_fd,
                   "regions": regions_in})
        };
        let counter = if copied {
            &self.frames_copied
        } else {
            &self.frames_shared
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let first = !run.sent.contains(&key);
        let picture = (width as u32, height as u32, stride);
        let exchange = |run: &mut Running, pixels: &[u8]| -> Result<Value, WorkerError> {
            run.worker.send(&message(first), first.then_some(fd))?;
            let mut resent = false;
            loop {
                let reply = run.worker.receive(run.frame_timeout)?;
                if reply.get("op").and_then(Value::as_str) == Some("faces") {
                    let faces = faces_in(run, pixels, picture);
                    run.worker.send(&faces, None)?;
                    continue;
                }
                if reply.get("missing").is_none() || resent {
                    return Ok(reply);
                }
                // The process let this memory go: give it again.
                resent = true;
                run.worker.send(&message(true), Some(fd))?;
            }
        };
        let reply = match exchange(run, pixels) {
            Ok(reply) => reply,
            Err(e) => {
                // A filter stopped mid-frame may have drawn half of it.
                pixels.copy_from_slice(&run.backup);
                return Err(e);
            }
        };
        if run.sent.len() > 256 {
            run.sent.clear();
        }
        run.sent.insert(key);
        let raised = reply.get("ok").and_then(Value::as_bool) == Some(false);
        if raised {
            pixels.copy_from_slice(&run.backup);
        } else if copied {
            let slot = run.slot.as_mut().expect("copied into it");
            pixels.copy_from_slice(&slot.bytes()[..length]);
        }
        Ok(reply)
    }

    /// Adds the regions the filter attached (`ctx.add_region`) to the frame's metadata.
    fn attach_regions(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
        reply: &Value,
    ) {
        let Some(regions) = reply.get("regions").and_then(Value::as_array) else {
            return;
        };
        // SAFETY: in-place transforms get a writable buffer; metadata is not memory, so adding
        // it while the frame is mapped is allowed, and the reference ends with this function.
        let buffer = unsafe { gst::BufferRef::from_mut_ptr((*frame.as_mut_ptr()).buffer) };
        for r in regions {
            let number = |k: &str| {
                r.get(k)
                    .and_then(Value::as_u64)
                    .map(|v| v.min(u32::MAX as u64) as u32)
            };
            if let (Some(kind), Some(x), Some(y), Some(w), Some(h)) = (
                r.get("kind").and_then(Value::as_str),
                number("x"),
                number("y"),
                number("width"),
                number("height"),
            ) {
                gst_video::VideoRegionOfInterestMeta::add(buffer, kind, (x, y, w, h));
            }
        }
    }

    fn handle_reply(&self, run: &mut Running, reply: &Value) {
        for event in reply["events"].as_array().into_iter().flatten() {
            let name = event["name"].as_str().unwrap_or_default();
            self.post(
                gst::Structure::builder(rheo_filter_sdk::EVENT_MESSAGE)
                    .field("event", name)
                    .field("data", event["data"].to_string())
                    .build(),
            );
        }
        if reply.get("reloaded").and_then(Value::as_bool) == Some(true) {
            gst::info!(CAT, imp = self, "Python filter {} reloaded", run.module);
            self.post(
                gst::Structure::builder("rheo-python-reloaded")
                    .field("module", &run.module)
                    .build(),
            );
        }
        let errors: Vec<&str> = reply["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(first) = errors.first() {
            let description = format!("Python filter '{}': {first}", run.module);
            self.post_error(run, &description, false);
        }
    }
}

/// The answer to `ctx.faces()`: the faces Rheo's detector finds in the frame, in its pixels.
fn faces_in(run: &mut Running, bgr: &[u8], (width, height, stride): (u32, u32, usize)) -> Value {
    if run.faces.is_none() {
        match FaceDetector::open(&face_detection::settings()) {
            Ok((detector, _)) => run.faces = Some(detector),
            Err(e) => return json!({"error": e}),
        }
    }
    let detector = run.faces.as_mut().expect("just loaded");
    let found = SmallFrame::from_bgr(bgr, width, height, stride, face_detection::DETECTION_WIDTH)
        .and_then(|small| detector.detect(&small, (width, height)));
    match found {
        Ok(faces) => json!({"faces": faces
            .iter()
            .map(|f| json!({"x": f.x, "y": f.y, "width": f.width, "height": f.height, "roll": f.roll}))
            .collect::<Vec<_>>()}),
        Err(e) => json!({"error": format!("face detection failed: {e}")}),
    }
}

impl ObjectImpl for PythonFilter {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            vec![
                glib::ParamSpecString::builder("module")
                    .nick("Module")
                    .blurb("The filter's name: <name>.py in the server's python_filters_dir (read at READY)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("params")
                    .nick("Parameters")
                    .blurb("JSON object handed to the filter as ctx.params (read at READY)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-shared")
                    .nick("Frames shared")
                    .blurb("Frames the filter worked on in their own memory (no copy)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-copied")
                    .nick("Frames copied")
                    .blurb("Frames copied in and out because upstream did not use the element's memory")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("frame-timeout-ms")
                    .nick("Frame timeout")
                    .blurb("Milliseconds one frame may take before the filter is stopped (0 = the server's setting)")
                    .maximum(600_000)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut c = self.config.lock();
        match pspec.name() {
            "module" => c.module = value.get().expect("string"),
            "params" => c.params = value.get().expect("string"),
            "frame-timeout-ms" => {
                let ms: u32 = value.get().expect("u32");
                c.frame_timeout_ms = (ms > 0).then_some(ms);
            }
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let c = self.config.lock();
        match pspec.name() {
            "module" => c.module.to_value(),
            "params" => c.params.to_value(),
            "frame-timeout-ms" => c.frame_timeout_ms.unwrap_or(0).to_value(),
            "frames-shared" => self.frames_shared.load(Ordering::Relaxed).to_value(),
            "frames-copied" => self.frames_copied.load(Ordering::Relaxed).to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for PythonFilter {}

impl ElementImpl for PythonFilter {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Rheo Python filter",
                "Filter/Effect/Video",
                "Runs a Python filter of the operator's python_filters_dir on each frame (BGR numpy array over the frame's memory, one process per filter)",
                "Rheo developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Bgr)
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("src template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("sink template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady {
            match self.start_process() {
                Ok(running) => *self.running.lock() = Some(running),
                Err(e) => {
                    gst::element_imp_error!(self, gst::LibraryError::Init, ("{}", e));
                    return Err(gst::StateChangeError);
                }
            }
        }
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::ReadyToNull || result.is_err() {
            // Killing the process also unmaps every frame it held.
            self.running.lock().take();
        }
        result
    }
}

impl BaseTransformImpl for PythonFilter {
    const MODE: BaseTransformMode = BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn propose_allocation(
        &self,
        decide_query: Option<&gst::query::Allocation>,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        let (caps, need_pool) = query.get_owned();
        gst::debug!(
            CAT,
            imp = self,
            "proposing allocation for {caps:?} (pool needed: {need_pool})"
        );
        if let (Some(caps), true) = (caps, need_pool) {
            if let Ok(info) = gst_video::VideoInfo::from_caps(&caps) {
                let pool = MemfdPool::new();
                let mut config = pool.config();
                config.set_params(Some(&caps), info.size() as u32, 2, 0);
                config.add_option("GstBufferPoolOptionVideoMeta");
                match pool.set_config(config) {
                    Ok(()) => query.add_allocation_pool(Some(&pool), info.size() as u32, 2, 0),
                    Err(e) => gst::warning!(CAT, imp = self, "memfd pool refused its config: {e}"),
                }
            }
        }
        query.add_allocation_meta::<gst_video::VideoMeta>(None);
        let _ = decide_query;
        Ok(())
    }
}

impl VideoFilterImpl for PythonFilter {
    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut running = self.running.lock();
        let Some(run) = running.as_mut() else {
            // Stopped after a hang or a crash: the video goes on unfiltered.
            return Ok(gst::FlowSuccess::Ok);
        };
        match self.run_frame(run, frame) {
            Ok(reply) => {
                self.attach_regions(frame, &reply);
                self.handle_reply(run, &reply)
            }
            Err(e) => {
                let description = format!("Python filter '{}': {e}", run.module);
                self.post_error(run, &description, true);
                running.take();
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
