//! HttpPostEndpoint: a media file uploaded with HTTP POST to the server's own port plays into
//! the pipeline as it arrives, like a player's output, and `EndOfStream` follows its end.
//!
//! The HTTP side finds the endpoint by the unguessable token of its URL ([`upload_target`]) and
//! feeds it through an [`Upload`]. A connection lost mid-upload may be resumed by another POST
//! within the disconnection timeout; after it the stream ends where it stopped.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use crate::api_contract::*;
use crate::endpoints::player::{self, PlayerEndpoint};
use crate::graph::element::{Element, ElementKind, Input};
use crate::graph::output::Output;
use crate::graph::pipeline::MediaPipeline;
use crate::{err, ErrorKind};

/// Longest [`Upload::finish`] waits for playback to start (the player's own limit is 15 s).
const START_LIMIT: Duration = Duration::from_secs(20);

/// Constructor options of an HttpPostEndpoint.
#[derive(Debug, Clone)]
pub struct HttpPostOptions {
    /// The secret part of the endpoint's URL.
    pub token: String,
    /// How long a lost upload connection may be resumed by a new POST.
    pub disconnection_timeout: Duration,
}

/// Why an upload cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefused {
    #[error("another upload to this endpoint is in progress")]
    Busy,
    #[error("this endpoint has already received its upload")]
    Ended,
    #[error("{0}")]
    Failed(String),
}

enum UploadState {
    Waiting,
    Receiving,
    /// The connection was lost; `resumes` counts interruptions so a stale timer does nothing.
    Interrupted {
        appsrc: gst_app::AppSrc,
        resumes: u64,
    },
    Ended,
}

struct Inner {
    id: String,
    events: EventSink,
    token: String,
    playback: PlayerEndpoint,
    disconnection_timeout: Duration,
    state: Mutex<UploadState>,
    interruptions: Mutex<u64>,
}

/// An HttpPostEndpoint's handle (see [`Element::http_post`]).
pub struct HttpPostEndpoint {
    inner: Arc<Inner>,
}

/// Endpoints by token, for the HTTP side.
static ENDPOINTS: Lazy<Mutex<HashMap<String, Weak<Inner>>>> = Lazy::new(Default::default);

/// The endpoint whose URL carries `token`, if it still exists.
pub fn upload_target(token: &str) -> Option<UploadTarget> {
    ENDPOINTS
        .lock()
        .get(token)
        .and_then(Weak::upgrade)
        .map(|inner| UploadTarget { inner })
}

/// An endpoint found by its token: where a POST may start or resume its upload.
pub struct UploadTarget {
    inner: Arc<Inner>,
}

impl UploadTarget {
    /// Starts the upload, or resumes one whose connection was lost.
    pub fn begin(&self) -> std::result::Result<Upload, UploadRefused> {
        let inner = &self.inner;
        let mut state = inner.state.lock();
        let appsrc = match &*state {
            UploadState::Receiving => return Err(UploadRefused::Busy),
            UploadState::Ended => return Err(UploadRefused::Ended),
            UploadState::Interrupted { appsrc, .. } => appsrc.clone(),
            UploadState::Waiting => {
                let appsrc = inner
                    .playback
                    .begin_upload()
                    .map_err(|e| UploadRefused::Failed(e.message))?;
                inner.emit(MediaEvent::MediaSessionStarted);
                appsrc
            }
        };
        *state = UploadState::Receiving;
        Ok(Upload {
            inner: inner.clone(),
            appsrc,
            settled: false,
        })
    }
}

/// One POST's feed into the endpoint. Dropped without [`Upload::finish`], it counts as a lost
/// connection.
pub struct Upload {
    inner: Arc<Inner>,
    appsrc: gst_app::AppSrc,
    settled: bool,
}

impl Upload {
    /// Pushes the next bytes of the file; waits while the decoder is behind. Fails once the
    /// endpoint cannot take more (an undecodable upload, a release).
    pub fn push(&self, bytes: Vec<u8>) -> crate::Result<()> {
        self.appsrc
            .push_buffer(gst::Buffer::from_mut_slice(bytes))
            .map(|_| ())
            .map_err(|e| err(ErrorKind::InvalidArgument, format!("upload refused: {e:?}")))
    }

    /// The file is complete: the stream ends after what was pushed. Then waits until the
    /// endpoint found its streams and started playing them, or could not: an upload that is
    /// not media fails here.
    pub fn finish(mut self) -> crate::Result<()> {
        self.settled = true;
        *self.inner.state.lock() = UploadState::Ended;
        let _ = self.appsrc.end_of_stream();
        self.inner.emit(MediaEvent::MediaSessionTerminated);
        match self.inner.playback.wait_upload_started(START_LIMIT) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(e),
            None => Err(err(ErrorKind::Internal, "the upload did not start in time")),
        }
    }

    /// The connection was lost: another POST may resume within the disconnection timeout,
    /// else the stream ends where it stopped.
    fn interrupt(&mut self) {
        self.settled = true;
        let resumes = {
            let mut n = self.inner.interruptions.lock();
            *n += 1;
            *n
        };
        {
            let mut state = self.inner.state.lock();
            if !matches!(*state, UploadState::Receiving) {
                return;
            }
            *state = UploadState::Interrupted {
                appsrc: self.appsrc.clone(),
                resumes,
            };
        }
        let weak = Arc::downgrade(&self.inner);
        let wait = self.inner.disconnection_timeout;
        let spawned = std::thread::Builder::new()
            .name("rheo-upload-wait".into())
            .spawn(move || {
                std::thread::sleep(wait);
                if let Some(inner) = weak.upgrade() {
                    inner.end_if_still_interrupted(resumes);
                }
            });
        if spawned.is_err() {
            self.inner.end_if_still_interrupted(resumes);
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.settled {
            self.interrupt();
        }
    }
}

impl Inner {
    fn emit(&self, event: MediaEvent) {
        (self.events)(ElementEvent {
            element: self.id.clone(),
            event,
        });
    }

    fn end_if_still_interrupted(&self, resumes: u64) {
        let mut state = self.state.lock();
        if let UploadState::Interrupted {
            appsrc,
            resumes: at,
        } = &*state
        {
            if *at == resumes {
                let _ = appsrc.end_of_stream();
                *state = UploadState::Ended;
                drop(state);
                self.emit(MediaEvent::MediaSessionTerminated);
            }
        }
    }
}

impl Element {
    pub fn http_post(&self) -> Option<&HttpPostEndpoint> {
        self.kind::<HttpPostEndpoint>()
    }
}

impl HttpPostEndpoint {
    pub fn create(
        pipeline: &MediaPipeline,
        id: &str,
        options: HttpPostOptions,
    ) -> crate::Result<Element> {
        if options.token.len() < 16 || !options.token.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err(
                ErrorKind::Internal,
                "an upload token is at least 16 letters and digits",
            ));
        }
        pipeline.add(id, |ctx| {
            let (bin, playback) = player::build(ctx, player::Source::Upload)?;
            let inner = Arc::new(Inner {
                id: ctx.id.clone(),
                events: ctx.events.clone(),
                token: options.token.clone(),
                playback,
                disconnection_timeout: options.disconnection_timeout,
                state: Mutex::new(UploadState::Waiting),
                interruptions: Mutex::new(0),
            });
            ENDPOINTS
                .lock()
                .insert(options.token.clone(), Arc::downgrade(&inner));
            Ok((bin, HttpPostEndpoint { inner }))
        })
    }

    /// The secret part of the endpoint's URL.
    pub fn token(&self) -> &str {
        &self.inner.token
    }
}

impl ElementKind for HttpPostEndpoint {
    fn input(&self, _media: MediaKind) -> Input {
        Input::Absent
    }

    fn output(&self, media: MediaKind) -> Option<Arc<Output>> {
        self.inner.playback.output(media)
    }

    fn release(&self) {
        ENDPOINTS.lock().remove(&self.inner.token);
        *self.inner.state.lock() = UploadState::Ended;
        self.inner.playback.release();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
