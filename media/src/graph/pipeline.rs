//! MediaPipeline: one gst::Pipeline, the connection graph and the bus thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use gst::prelude::*;
use parking_lot::Mutex;

use crate::api_contract::*;
use crate::err;
use crate::graph::bus;
use crate::graph::context::{ElementContext, Graph};
use crate::graph::element::{Element, ElementHost, ElementKind, Input};
use crate::graph::flow::FlowTracker;
use crate::graph::output::{AppSrcConsumer, Format, Output, OutputContext, Subscription};
use crate::graph::teardown;

pub(crate) struct Conn {
    pub source: Element,
    pub sub: Option<Subscription>,
    /// Order of creation, so that connections are listed as they were made.
    pub seq: u64,
}

pub(crate) struct PipelineInner {
    pub id: String,
    pub pipeline: gst::Pipeline,
    pub ctx: Arc<OutputContext>,
    pub events: EventSink,
    pub settings: WebRtcSettings,
    /// (sink element id, media) → its one source: the only record of connections (the control
    /// plane asks it). API threads only.
    pub graph: Mutex<HashMap<(String, MediaKind), Conn>>,
    next_link: AtomicU64,
    pub elements: Mutex<HashMap<String, Element>>,
    released: AtomicBool,
    /// Kurento's `latencyStats`: the elements measure input latency while it is on.
    latency_stats: Arc<AtomicBool>,
}

/// One Kurento MediaPipeline.
#[derive(Clone)]
pub struct MediaPipeline {
    pub(crate) inner: Arc<PipelineInner>,
}

impl MediaPipeline {
    /// Kurento's `latencyStats`: while on, elements measure how long buffers took to reach
    /// their inputs (`Element::input_latencies`).
    pub fn set_latency_stats(&self, on: bool) {
        self.inner
            .latency_stats
            .store(on, std::sync::atomic::Ordering::Relaxed);
        if !on {
            for element in self.inner.elements.lock().values() {
                element.flow().clear_latencies();
            }
        }
    }

    pub fn new(id: &str, events: EventSink, settings: WebRtcSettings) -> Result<Self> {
        crate::init()?;
        let pipeline =
            gst::Pipeline::with_name(&format!("pipeline-{}", crate::graph::output::sanitize(id)));
        let ctx = Arc::new(OutputContext {
            pipeline: pipeline.clone(),
            events: events.clone(),
            encoders: AtomicUsize::new(0),
            decoders: AtomicUsize::new(0),
            packetizers: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
        });
        let inner = Arc::new(PipelineInner {
            id: id.to_string(),
            pipeline: pipeline.clone(),
            ctx,
            events,
            settings,
            graph: Mutex::new(HashMap::new()),
            next_link: AtomicU64::new(0),
            elements: Mutex::new(HashMap::new()),
            released: AtomicBool::new(false),
            latency_stats: Arc::new(AtomicBool::new(false)),
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| err(ErrorKind::Internal, format!("pipeline start: {e}")))?;
        let bus = pipeline.bus().expect("pipeline bus");
        let client: Arc<dyn bus::BusClient> = inner.clone();
        bus::watch(&bus, Arc::downgrade(&client));
        Ok(Self { inner })
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn gstreamer_dot(&self) -> String {
        self.inner
            .pipeline
            .debug_to_dot_data(gst::DebugGraphDetails::all())
            .to_string()
    }

    /// Idempotent: releases every element, stops the bus thread, sets the pipeline to Null.
    pub fn release(&self) {
        if self.inner.released.swap(true, Ordering::SeqCst) {
            return;
        }
        let elements: Vec<Element> = self.inner.elements.lock().values().cloned().collect();
        for e in elements {
            e.release();
        }
        // Nothing waits for the shared bus thread: its queued messages for this pipeline are
        // skipped from here on.
        if let Some(bus) = self.inner.pipeline.bus() {
            bus::unwatch(&bus);
        }
        let _ = self.inner.pipeline.set_state(gst::State::Null);
        if let Some(bus) = self.inner.pipeline.bus() {
            bus.set_flushing(true);
        }
    }

    pub fn is_released(&self) -> bool {
        self.inner.released.load(Ordering::SeqCst)
    }

    /// Adds an element of a new kind: `build` makes its bin (in the pipeline) and the kind from
    /// the context it is given. Each kind's own `create` calls this.
    pub(crate) fn add<K: ElementKind>(
        &self,
        id: &str,
        build: impl FnOnce(&ElementContext) -> Result<(gst::Bin, K)>,
    ) -> Result<Element> {
        self.check_alive()?;
        let ctx = ElementContext {
            id: id.to_string(),
            pipeline: self.inner.pipeline.clone(),
            hubs: self.inner.ctx.clone(),
            events: self.inner.events.clone(),
            settings: self.inner.settings.clone(),
            flow: Arc::new(FlowTracker::new(
                id,
                self.inner.events.clone(),
                self.inner.latency_stats.clone(),
            )),
            graph: Graph(self.host()),
        };
        let (bin, kind) = build(&ctx)?;
        let element = Element::new(id, bin, self.host(), ctx.flow, Box::new(kind));
        self.register(element)
    }

    /// Encoders currently instantiated in this pipeline.
    pub fn encoder_count(&self) -> usize {
        self.inner.ctx.encoders.load(Ordering::SeqCst)
    }

    /// RTP payloaders the one-to-many path runs in this pipeline (one per source stream and
    /// packetization, however many receivers share it).
    pub fn packetizer_count(&self) -> usize {
        self.inner.ctx.packetizers.load(Ordering::SeqCst)
    }

    /// Decoders currently instantiated in this pipeline.
    pub fn decoder_count(&self) -> usize {
        self.inner.ctx.decoders.load(Ordering::SeqCst)
    }

    /// The underlying pipeline (tests, dot dumps).
    pub fn gst_pipeline(&self) -> &gst::Pipeline {
        &self.inner.pipeline
    }

    fn host(&self) -> Weak<dyn ElementHost> {
        let weak: Weak<PipelineInner> = Arc::downgrade(&self.inner);
        weak
    }

    pub(crate) fn check_alive(&self) -> Result<()> {
        if self.is_released() {
            return Err(err(ErrorKind::Internal, "pipeline released"));
        }
        Ok(())
    }

    fn register(&self, e: Element) -> Result<Element> {
        let mut els = self.inner.elements.lock();
        if els.contains_key(e.id()) {
            drop(els);
            e.release();
            return Err(err(ErrorKind::InvalidArgument, "duplicate element id"));
        }
        els.insert(e.id().to_string(), e.clone());
        Ok(e)
    }
}

impl ElementHost for PipelineInner {
    /// Connects `source` to `sink` for `media`, replacing the sink's previous source of that
    /// media; returns the replaced source's id.
    fn connect(
        &self,
        source: &Element,
        sink: &Element,
        media: MediaKind,
    ) -> Result<Option<String>> {
        // A DATA connection is recorded even where an end has no data side, as KMS accepts it;
        // it carries messages once both ends have one.
        if media != MediaKind::Data {
            if matches!(sink.input(media), Input::Absent) {
                return Err(err(
                    ErrorKind::Connect,
                    format!("{} has no {media:?} input", sink.id()),
                ));
            }
            if source.inner.kind.output(media).is_none() {
                return Err(err(
                    ErrorKind::Connect,
                    format!("{} has no {media:?} output", source.id()),
                ));
            }
        }
        let mut graph = self.graph.lock();
        let key = (sink.id().to_string(), media);
        let replaced = graph.remove(&key).map(|old| {
            if let Some(sub) = old.sub {
                sub.cancel();
            }
            if media != MediaKind::Data {
                sink.on_input_bound(media, None);
            }
            old.source.id().to_string()
        });
        graph.insert(
            key,
            Conn {
                source: source.clone(),
                sub: None,
                seq: self.next_link.fetch_add(1, Ordering::Relaxed),
            },
        );
        self.resolve_locked(&mut graph);
        Ok(replaced)
    }

    /// Removes the connection from `source` to `sink` for `media`; whether there was one.
    fn disconnect(&self, source: &Element, sink: &Element, media: MediaKind) -> Result<bool> {
        let mut graph = self.graph.lock();
        let key = (sink.id().to_string(), media);
        match graph.get(&key) {
            Some(c) if c.source.id() == source.id() => {
                let c = graph.remove(&key).expect("present");
                if let Some(sub) = c.sub {
                    sub.cancel();
                }
                if media != MediaKind::Data {
                    sink.on_input_bound(media, None);
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The connections `id` is the source or the sink of, in the order they were made.
    fn links_of(&self, id: &str) -> Vec<Link> {
        let graph = self.graph.lock();
        let mut links: Vec<(u64, Link)> = graph
            .iter()
            .filter(|((sink, _), c)| sink == id || c.source.id() == id)
            .map(|((sink, media), c)| {
                let link = Link {
                    source: c.source.id().to_string(),
                    sink: sink.clone(),
                    media: *media,
                };
                (c.seq, link)
            })
            .collect();
        links.sort_by_key(|(seq, _)| *seq);
        links.into_iter().map(|(_, link)| link).collect()
    }

    /// Drops every connection touching `id` (element release).
    fn drop_connections_of(&self, id: &str) {
        let mut graph = self.graph.lock();
        let keys: Vec<(String, MediaKind)> = graph
            .iter()
            .filter(|((sink, _), c)| sink == id || c.source.id() == id)
            .map(|(k, _)| k.clone())
            .collect();
        let mut unbound = Vec::new();
        for k in keys {
            if let Some(c) = graph.remove(&k) {
                if let Some(sub) = c.sub {
                    sub.cancel();
                }
                unbound.push(k);
            }
        }
        let els = self.elements.lock().clone();
        for (sink, media) in unbound {
            if sink != id && media != MediaKind::Data {
                if let Some(e) = els.get(&sink) {
                    e.on_input_bound(media, None);
                }
            }
        }
    }

    /// Binds every connection whose formats became known. Called after connect and after each
    /// negotiation.
    fn resolve(&self) {
        let mut graph = self.graph.lock();
        self.resolve_locked(&mut graph);
    }

    fn rebind_outputs(&self, id: &str, media: MediaKind) {
        let mut graph = self.graph.lock();
        let els = self.elements.lock().clone();
        for ((sink_id, kind), conn) in graph.iter_mut() {
            if *kind != media || conn.source.id() != id {
                continue;
            }
            if let Some(sub) = conn.sub.take() {
                sub.cancel();
                if let Some(sink) = els.get(sink_id) {
                    sink.on_input_bound(media, None);
                }
            }
        }
        self.resolve_locked(&mut graph);
    }

    fn input_transcoding(&self, id: &str, media: MediaKind) -> bool {
        let graph = self.graph.lock();
        graph
            .get(&(id.to_string(), media))
            .and_then(|c| c.sub.as_ref())
            .map(|s| s.transcoding())
            .unwrap_or(false)
    }

    fn forget(&self, id: &str) {
        self.elements.lock().remove(id);
    }

    fn remove_bin(&self, bin: &gst::Element) {
        teardown::remove_from(self.pipeline.upcast_ref(), bin);
    }
}

impl PipelineInner {
    /// Subscribes `consumer` to `hub` in `format`; a failure is an `Error` event of the sink.
    fn subscribe(
        &self,
        hub: &Arc<Output>,
        format: Format,
        consumer: Arc<AppSrcConsumer>,
        conn: &Conn,
        sink_id: &str,
    ) -> Option<Subscription> {
        match hub.subscribe(format, consumer) {
            Ok(s) => Some(s),
            Err(e) => {
                self.connect_failed(conn, sink_id, &e.message);
                None
            }
        }
    }

    /// A connection that could not be bound: an `Error` event of the sink.
    fn connect_failed(&self, conn: &Conn, sink_id: &str, why: &str) {
        (self.events)(ElementEvent {
            element: sink_id.to_string(),
            event: MediaEvent::Error {
                description: format!("cannot connect {} to {sink_id}: {why}", conn.source.id()),
                code: 0,
                kind: "CONNECT_ERROR".into(),
            },
        });
    }

    fn resolve_locked(&self, graph: &mut HashMap<(String, MediaKind), Conn>) {
        let els = self.elements.lock().clone();
        loop {
            let mut progress = false;
            for ((sink_id, media), conn) in graph.iter_mut() {
                if conn.sub.is_some() {
                    continue;
                }
                let Some(sink) = els.get(sink_id) else {
                    continue;
                };
                let Some(hub) = conn.source.output(*media) else {
                    continue;
                };
                let Some(native) = hub.format() else {
                    continue;
                };
                let sub = match sink.input(*media) {
                    Input::Fixed(fmt, consumer) => {
                        self.subscribe(&hub, fmt, consumer, conn, sink_id)
                    }
                    Input::Prefers(formats, consumer) => {
                        let fmt = Format::preferred(formats, native);
                        self.subscribe(&hub, fmt, consumer, conn, sink_id)
                    }
                    Input::Any(forward) => Some(hub.subscribe_native(forward)),
                    Input::Rtp(fmt, packetization, sender) => {
                        match hub.subscribe_rtp(fmt, packetization, sender) {
                            Ok(s) => Some(s),
                            Err(e) => {
                                self.connect_failed(conn, sink_id, &e.message);
                                None
                            }
                        }
                    }
                    Input::Unknown | Input::Absent => None,
                };
                let Some(sub) = sub else { continue };
                sink.on_input_bound(*media, Some(sub.root().clone()));
                conn.sub = Some(sub);
                progress = true;
            }
            if !progress {
                break;
            }
        }
    }
}

impl Drop for PipelineInner {
    fn drop(&mut self) {
        // Dropped without release(): still stop every element.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn element_for_message(inner: &PipelineInner, src: Option<&gst::Object>) -> Option<Element> {
    let els = inner.elements.lock();
    let mut cur = src.cloned();
    while let Some(o) = cur {
        let name = o.name();
        if let Some(e) = els.values().find(|e| e.bin_name() == name.as_str()) {
            return Some(e.clone());
        }
        cur = o.parent();
    }
    None
}

impl bus::BusClient for PipelineInner {
    fn is_released(&self) -> bool {
        self.released.load(Ordering::SeqCst)
    }

    fn tick(&self) {
        let els: Vec<Element> = self.elements.lock().values().cloned().collect();
        for e in els {
            e.flow().tick();
        }
    }

    fn on_message(&self, msg: &gst::Message) {
        match msg.view() {
            gst::MessageView::Application(a) => {
                let Some(s) = a.structure() else { return };
                if s.name() == "rheo-webrtc-notify" {
                    if let Ok(id) = s.get::<String>("element") {
                        let e = self.elements.lock().get(&id).cloned();
                        if let Some(w) = e.as_ref().and_then(|e| e.webrtc()) {
                            w.on_notify();
                        }
                    }
                }
            }
            gst::MessageView::Error(e) => {
                let src = msg.src();
                let el = element_for_message(self, src);
                let (code, kind) = kurento_error_type(&e.error());
                tracing::warn!(pipeline = %self.id, "bus error from {:?}: {}", src.map(|s| s.path_string()), e.error());
                (self.events)(ElementEvent {
                    element: el
                        .map(|e| e.id().to_string())
                        .unwrap_or_else(|| self.id.clone()),
                    event: MediaEvent::Error {
                        description: format!("{} ({:?})", e.error(), e.debug()),
                        code,
                        kind: kind.to_string(),
                    },
                });
            }
            gst::MessageView::Element(m) => {
                let s = m.structure();
                let el = element_for_message(self, msg.src());
                // SDK filters: declared events and per-frame failures.
                if let (Some(s), Some(el)) = (s, &el) {
                    let event = match s.name().as_str() {
                        "rheo-event" => Some(MediaEvent::FilterEvent {
                            event: s.get::<String>("event").unwrap_or_default(),
                            data_json: s.get::<String>("data").unwrap_or_else(|_| "{}".into()),
                        }),
                        "rheo-filter-error" => Some(MediaEvent::Error {
                            description: s.get::<String>("description").unwrap_or_default(),
                            code: 0,
                            kind: "UNEXPECTED_ELEMENT_ERROR".into(),
                        }),
                        _ => None,
                    };
                    if let Some(event) = event {
                        (self.events)(ElementEvent {
                            element: el.id().to_string(),
                            event,
                        });
                        return;
                    }
                }
                // Other filter messages (e.g. rheo-faces) are forwarded as generic element messages.
                if let Some(s) = s {
                    if s.name().starts_with("rheo-") {
                        if let Some(el) = element_for_message(self, msg.src()) {
                            (self.events)(ElementEvent {
                                element: el.id().to_string(),
                                event: MediaEvent::ElementMessage {
                                    name: s.name().to_string(),
                                    structure: s.to_string(),
                                },
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Kurento's `Error` event `type` and `errorCode` for a GStreamer error, as KMS names them.
pub(crate) fn kurento_error_type(e: &gst::glib::Error) -> (i32, &'static str) {
    use gst::glib::translate::IntoGlib;
    if let Some(r) = e.kind::<gst::ResourceError>() {
        let kind = match r {
            gst::ResourceError::OpenRead
            | gst::ResourceError::OpenWrite
            | gst::ResourceError::OpenReadWrite
            | gst::ResourceError::NotFound => "RESOURCE_ERROR_OPEN",
            gst::ResourceError::Write => "RESOURCE_ERROR_WRITE",
            gst::ResourceError::NoSpaceLeft => "RESOURCE_ERROR_NO_SPACE_LEFT",
            _ => "UNEXPECTED_ELEMENT_ERROR",
        };
        return (r.into_glib(), kind);
    }
    if let Some(s) = e.kind::<gst::StreamError>() {
        let kind = match s {
            gst::StreamError::Failed => "STREAM_ERROR_FAILED",
            gst::StreamError::Decode => "STREAM_ERROR_DECODE",
            _ => "UNEXPECTED_ELEMENT_ERROR",
        };
        return (s.into_glib(), kind);
    }
    let code = e
        .kind::<gst::CoreError>()
        .map(IntoGlib::into_glib)
        .or_else(|| e.kind::<gst::LibraryError>().map(IntoGlib::into_glib))
        .unwrap_or(0);
    (code, "UNEXPECTED_ELEMENT_ERROR")
}

#[cfg(test)]
mod release_tests {
    use super::*;

    fn bus_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("rheo-bus"))
            .count()
    }

    #[test]
    fn pipelines_share_one_bus_thread_and_release_waits_for_none() {
        crate::init().unwrap();
        let pipelines: Vec<MediaPipeline> = (0..10)
            .map(|n| {
                let events: EventSink = Arc::new(|_| {});
                MediaPipeline::new(&format!("bus-{n}"), events, Default::default()).unwrap()
            })
            .collect();
        // A new thread names itself once it runs.
        for _ in 0..100 {
            if bus_threads() == 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(bus_threads(), 1);
        for p in &pipelines {
            let started = std::time::Instant::now();
            p.release();
            eprintln!("release took {:?}", started.elapsed());
        }
        assert_eq!(bus_threads(), 1);
    }
}

#[cfg(test)]
mod error_type_tests {
    use super::kurento_error_type;

    #[test]
    fn gstreamer_errors_get_kms_names() {
        let e = gst::glib::Error::new(gst::ResourceError::OpenRead, "x");
        assert_eq!(kurento_error_type(&e), (5, "RESOURCE_ERROR_OPEN"));
        let e = gst::glib::Error::new(gst::StreamError::Decode, "x");
        assert_eq!(kurento_error_type(&e).1, "STREAM_ERROR_DECODE");
        let e = gst::glib::Error::new(gst::StreamError::Failed, "x");
        assert_eq!(kurento_error_type(&e), (1, "STREAM_ERROR_FAILED"));
        let e = gst::glib::Error::new(gst::CoreError::Negotiation, "x");
        assert_eq!(kurento_error_type(&e).1, "UNEXPECTED_ELEMENT_ERROR");
    }
}
