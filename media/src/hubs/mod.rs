//! Kurento's hubs: a Hub owns HubPorts, media elements that other elements connect into and
//! from, and moves media between them. Dispatcher and DispatcherOneToMany route one port's
//! media to other ports without touching it (no decoder, no encoder); Composite and
//! AlphaBlending mix every port's media (`composite.rs`).

mod composite;
mod port;
mod routing;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::api_contract::*;
use crate::graph::element::{Element, ElementHost};
use crate::graph::pipeline::{MediaPipeline, PipelineInner};
use crate::{err, ErrorKind};
pub use composite::Placement;
pub use port::HubPort;
use port::PortCore;
use routing::Routes;

/// What a hub does with its ports' media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubKind {
    /// `connect(source, sink)`: each sink port gets the media of the source port routed to it.
    Dispatcher,
    /// `setSource(port)`: every other port gets the source port's media.
    DispatcherOneToMany,
    /// Every port gets the grid of all ports' video and the mix of the others' audio, at this
    /// size and frame rate.
    Composite {
        width: i32,
        height: i32,
        framerate: i32,
    },
    /// Every port gets a master port's picture with the others drawn over it where
    /// `setPortProperties` puts them, and the mix of the others' audio.
    AlphaBlending,
    /// `connect(media, source, sink)`: a sink port gets one source port's video (routed, as a
    /// Dispatcher's) and the mix of the audio of every source port connected to it.
    Mixer,
}

/// AlphaBlending's picture before its master's size is known, and its frame rate.
const BLEND_DEFAULT: (i32, i32, i32) = (640, 480, 30);

/// A Kurento hub of one pipeline.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    id: String,
    kind: HubKind,
    pipeline: Weak<PipelineInner>,
    /// Live ports' elements, in creation order.
    elements: Mutex<Vec<Element>>,
    /// Dispatchers: the ports' routing state.
    ports: Mutex<Vec<Arc<PortCore>>>,
    routes: Mutex<Routes>,
    /// Composite: the mix.
    mixer: Option<Arc<composite::Mixer>>,
    released: AtomicBool,
}

impl Hub {
    /// A hub of `kind` in `pipeline`.
    pub fn create(pipeline: &MediaPipeline, id: &str, kind: HubKind) -> crate::Result<Hub> {
        pipeline.check_alive()?;
        let mixer = match kind {
            HubKind::Composite {
                width,
                height,
                framerate,
            } => {
                if !(16..=4096).contains(&width)
                    || !(16..=4096).contains(&height)
                    || !(1..=60).contains(&framerate)
                {
                    return Err(err(
                        ErrorKind::InvalidArgument,
                        format!(
                            "a Composite of {width}x{height} at {framerate} fps: sizes go from \
                             16 to 4096, frame rates from 1 to 60"
                        ),
                    ));
                }
                Some(composite::Mixer::new(
                    pipeline,
                    id,
                    (width, height, framerate),
                    composite::Layout::Grid,
                )?)
            }
            HubKind::AlphaBlending => Some(composite::Mixer::new(
                pipeline,
                id,
                BLEND_DEFAULT,
                composite::Layout::Blend(Default::default()),
            )?),
            HubKind::Mixer => Some(composite::Mixer::audio_only(pipeline, id, false)?),
            _ => None,
        };
        Ok(Hub {
            inner: Arc::new(HubInner {
                id: id.to_owned(),
                kind,
                pipeline: Arc::downgrade(&pipeline.inner),
                elements: Mutex::new(Vec::new()),
                ports: Mutex::new(Vec::new()),
                routes: Mutex::new(Routes::default()),
                mixer,
                released: AtomicBool::new(false),
            }),
        })
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn kind(&self) -> HubKind {
        self.inner.kind
    }

    /// A new HubPort of this hub (`id`: the port's element id).
    pub fn create_port(&self, id: &str) -> crate::Result<Element> {
        if self.inner.released.load(Ordering::SeqCst) {
            return Err(err(ErrorKind::InvalidArgument, "the hub was released"));
        }
        let pipeline = self.pipeline()?;
        let audio_mix = match (&self.inner.mixer, self.inner.kind) {
            (Some(mixer), HubKind::Mixer) => Some((Arc::downgrade(mixer), mixer.add_mix_port(id)?)),
            (Some(mixer), _) => {
                let element = mixer.add_port(&pipeline, id)?;
                self.inner.elements.lock().push(element.clone());
                return Ok(element);
            }
            (None, _) => None,
        };
        let hub = Arc::downgrade(&self.inner);
        let on_release = Box::new(move |port: &str| {
            if let Some(hub) = hub.upgrade() {
                hub.forget_port(port);
            }
        });
        let created = HubPort::create(&pipeline, id, on_release, audio_mix.clone());
        let (element, core) = match created {
            Ok(created) => created,
            Err(e) => {
                if let (Some(mixer), Some((_, mix))) = (&self.inner.mixer, &audio_mix) {
                    mixer.remove_port(&mix.id);
                }
                return Err(e);
            }
        };
        self.inner.ports.lock().push(core);
        self.inner.elements.lock().push(element.clone());
        // A DispatcherOneToMany's source reaches a port that joins later too.
        self.inner.reroute();
        Ok(element)
    }

    /// Dispatcher: `sink` gets `source`'s media from now on.
    pub fn connect(&self, source: &str, sink: &str) -> crate::Result<()> {
        self.expect(HubKind::Dispatcher)?;
        let (source, sink) = (self.port(source)?, self.port(sink)?);
        self.inner.routes.lock().route(&sink.id, Some(&source.id));
        self.inner.reroute();
        Ok(())
    }

    /// DispatcherOneToMany: every other port gets `source`'s media from now on.
    pub fn set_source(&self, source: &str) -> crate::Result<()> {
        self.expect(HubKind::DispatcherOneToMany)?;
        let source = self.port(source)?;
        self.inner.routes.lock().set_broadcast(Some(&source.id));
        self.inner.reroute();
        Ok(())
    }

    /// DispatcherOneToMany: no port gets anything until the next `set_source`.
    pub fn remove_source(&self) -> crate::Result<()> {
        self.expect(HubKind::DispatcherOneToMany)?;
        self.inner.routes.lock().set_broadcast(None);
        self.inner.reroute();
        Ok(())
    }

    /// Mixer: `sink` gets `source`'s `media` (video replaces its video source; audio joins its
    /// mix).
    pub fn mixer_connect(&self, media: MediaKind, source: &str, sink: &str) -> crate::Result<()> {
        self.expect(HubKind::Mixer)?;
        let (source, sink) = (self.port(source)?, self.port(sink)?);
        match media {
            MediaKind::Video => {
                self.inner.routes.lock().route(&sink.id, Some(&source.id));
                self.inner.reroute();
                Ok(())
            }
            MediaKind::Audio => self.mixer()?.connect_audio(&source.id, &sink.id),
            MediaKind::Data => Err(err(ErrorKind::InvalidArgument, "a Mixer carries no data")),
        }
    }

    /// Mixer: undoes `mixer_connect`; whether there was such a connection.
    pub fn mixer_disconnect(
        &self,
        media: MediaKind,
        source: &str,
        sink: &str,
    ) -> crate::Result<bool> {
        self.expect(HubKind::Mixer)?;
        let (source, sink) = (self.port(source)?, self.port(sink)?);
        match media {
            MediaKind::Video => {
                let routed = {
                    let mut routes = self.inner.routes.lock();
                    let routed = routes.source_of(&sink.id) == Some(source.id.as_str());
                    if routed {
                        routes.route(&sink.id, None);
                    }
                    routed
                };
                self.inner.reroute();
                Ok(routed)
            }
            MediaKind::Audio => self.mixer()?.disconnect_audio(&source.id, &sink.id),
            MediaKind::Data => Ok(false),
        }
    }

    /// AlphaBlending: `source` is the master picture, drawn full size at `z_order`.
    pub fn set_master(&self, source: &str, z_order: i32) -> crate::Result<()> {
        self.expect(HubKind::AlphaBlending)?;
        self.mixer()?.set_master(source, z_order)
    }

    /// AlphaBlending: `port` is drawn at (`x`, `y`), `width` × `height` of the master picture
    /// (fractions 0–1), at `z_order` (greater is on top).
    pub fn set_port_properties(&self, port: &str, placement: Placement) -> crate::Result<()> {
        self.expect(HubKind::AlphaBlending)?;
        let fractions = [placement.x, placement.y, placement.width, placement.height];
        if fractions.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(err(
                ErrorKind::InvalidArgument,
                "relative positions and sizes go from 0 to 1",
            ));
        }
        self.mixer()?.set_placement(port, placement)
    }

    fn mixer(&self) -> crate::Result<&Arc<composite::Mixer>> {
        self.inner
            .mixer
            .as_ref()
            .ok_or_else(|| err(ErrorKind::Internal, "a hub without its mixer"))
    }

    /// Releases the hub and its ports (idempotent).
    pub fn release(&self) {
        if self.inner.released.swap(true, Ordering::SeqCst) {
            return;
        }
        let ports: Vec<Element> = self.inner.elements.lock().drain(..).collect();
        for port in ports {
            port.release();
        }
        if let Some(mixer) = &self.inner.mixer {
            mixer.release();
        }
    }

    pub fn is_released(&self) -> bool {
        self.inner.released.load(Ordering::SeqCst)
    }

    fn expect(&self, kind: HubKind) -> crate::Result<()> {
        if std::mem::discriminant(&self.inner.kind) != std::mem::discriminant(&kind) {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("a {:?} has no such operation", self.inner.kind),
            ));
        }
        Ok(())
    }

    fn port(&self, id: &str) -> crate::Result<Arc<PortCore>> {
        self.inner
            .ports
            .lock()
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| {
                err(
                    ErrorKind::InvalidArgument,
                    format!("{id} is not a port of this hub"),
                )
            })
    }

    fn pipeline(&self) -> crate::Result<MediaPipeline> {
        self.inner
            .pipeline
            .upgrade()
            .map(|inner| MediaPipeline { inner })
            .ok_or_else(|| err(ErrorKind::InvalidArgument, "the pipeline was released"))
    }
}

impl HubInner {
    /// Where each port's media goes now: every port's targets from the routes, then each port
    /// whose source changed told (format, keyframe). Run after any change of ports or routes.
    fn reroute(&self) {
        let ports: Vec<Arc<PortCore>> = self.ports.lock().clone();
        let changed = {
            let mut routes = self.routes.lock();
            routes.retain_ports(ports.iter().map(|p| p.id.as_str()));
            let mut changed = Vec::new();
            for sink in &ports {
                let source = routes
                    .source_of(&sink.id)
                    .and_then(|id| ports.iter().find(|p| p.id == id))
                    .cloned();
                if sink.set_source(source) {
                    changed.push(sink.clone());
                }
            }
            for source in &ports {
                let targets: Vec<&Arc<PortCore>> = ports
                    .iter()
                    .filter(|s| s.source().is_some_and(|src| Arc::ptr_eq(&src, source)))
                    .collect();
                source.set_targets(&targets);
            }
            changed
        };
        // Outside the hub's locks: re-binding connections reaches back into the ports.
        let host = self.pipeline.upgrade();
        // A Mixer's audio is mixed, not routed.
        let routed: &[MediaKind] = match self.kind {
            HubKind::Mixer => &[MediaKind::Video],
            _ => &[MediaKind::Audio, MediaKind::Video],
        };
        for sink in changed {
            for &media in routed {
                if sink.source_switched(media) {
                    if let Some(host) = &host {
                        host.rebind_outputs(&sink.id, media);
                    }
                }
            }
        }
    }

    /// A port was released: its routes go.
    fn forget_port(&self, id: &str) {
        self.ports.lock().retain(|p| p.id != id);
        self.elements.lock().retain(|e| e.id() != id);
        self.reroute();
    }
}
