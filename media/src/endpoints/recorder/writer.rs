//! One recording: per track `queue ! [parser] ! muxer ! filesink` (or an HTTP upload), built at
//! `record` and finished at `stop` (end of stream through the muxer, elements stopped, file
//! synced).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use gst::prelude::*;

use super::profile::MediaProfile;
use crate::api_contract::MediaKind;
use crate::graph::output::Format;
use crate::{err, ErrorKind, Result};

/// Where a recording goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordTarget {
    /// A local file (already checked against the media root by the caller).
    File(PathBuf),
    /// An `http://` or `https://` URL the file is uploaded to as it is written (one chunked
    /// POST per recording).
    Upload(String),
}

/// Longest a finishing muxer may take to write its index and trailer.
const FINISH_LIMIT: Duration = Duration::from_secs(10);

pub(super) struct Writer {
    /// The local file, synced to disk once finished.
    path: Option<PathBuf>,
    /// The file or URL, for messages.
    described: String,
    /// Every element of the recording, in the recorder's bin.
    elements: Vec<gst::Element>,
    /// Per track: the input pad (a `queue`'s sink) the track's appsrc is linked to.
    inputs: Vec<(MediaKind, gst::Pad)>,
    done: mpsc::Receiver<()>,
}

impl Writer {
    /// Opens `path` for writing (a missing or unwritable directory fails here, not later) and
    /// builds the muxing elements in `bin`, one input per `(media, format)`.
    pub fn start(
        bin: &gst::Bin,
        profile: &MediaProfile,
        tracks: &[(MediaKind, Format)],
        target: &RecordTarget,
    ) -> Result<Writer> {
        let internal = |e: gst::glib::BoolError| err(ErrorKind::Internal, e.to_string());
        let mux = profile.muxer().map_err(internal)?;
        let (sink, path) = match target {
            RecordTarget::File(path) => {
                check_writable(path)?;
                let sink = gst::ElementFactory::make("filesink")
                    .property("location", path.to_string_lossy().as_ref())
                    .build()
                    .map_err(internal)?;
                // Unbuffered: what the muxer wrote is in the kernel, so a killed process loses
                // nothing.
                sink.set_property_from_str("buffer-mode", "unbuffered");
                (sink, Some(path.clone()))
            }
            RecordTarget::Upload(url) => {
                let sink = gst::ElementFactory::make("curlhttpsink")
                    .property("location", url.as_str())
                    .property("use-content-length", false)
                    .property("content-type", profile.mime_type())
                    .build()
                    .map_err(internal)?;
                (sink, None)
            }
        };
        sink.set_property("async", false);
        sink.set_property("sync", false);
        let described = describe(target);
        let (tx, done) = mpsc::sync_channel(1);
        sink.static_pad("sink")
            .expect("filesink has a sink pad")
            .add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if matches!(info.event().map(|e| e.type_()), Some(gst::EventType::Eos)) {
                    let _ = tx.try_send(());
                }
                gst::PadProbeReturn::Ok
            });
        let mut elements = vec![mux.clone(), sink.clone()];
        let mut inputs = Vec::new();
        let mut chains = Vec::new();
        for &(media, format) in tracks {
            let queue = gst::ElementFactory::make("queue")
                .property("max-size-buffers", 0u32)
                .property("max-size-bytes", 0u32)
                .property("max-size-time", 3_000_000_000u64)
                .build()
                .map_err(internal)?;
            let mut chain = vec![queue.clone()];
            if let Some(desc) = profile.preparer(format) {
                let prep = gst::parse::bin_from_description(desc, true)
                    .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
                chain.push(prep.upcast());
            }
            inputs.push((media, queue.static_pad("sink").expect("queue sink")));
            chains.push(chain);
        }
        let all: Vec<gst::Element> = chains.iter().flatten().cloned().collect();
        elements.extend(all.iter().cloned());
        bin.add_many(&elements).map_err(internal)?;
        let built = (|| -> std::result::Result<(), gst::glib::BoolError> {
            mux.link(&sink)?;
            for chain in &chains {
                gst::Element::link_many(chain)?;
                chain.last().expect("a queue").link(&mux)?;
            }
            Ok(())
        })();
        if let Err(e) = built {
            remove(bin, &elements);
            return Err(internal(e));
        }
        // Downstream first, so nothing pushes into an element that is not running yet.
        let order = [&sink, &mux]
            .into_iter()
            .chain(chains.iter().flat_map(|c| c.iter().rev()));
        for e in order {
            if e.sync_state_with_parent().is_err() {
                remove(bin, &elements);
                return Err(err(
                    ErrorKind::Internal,
                    format!("cannot start the recording of {described}"),
                ));
            }
        }
        Ok(Writer {
            path,
            described,
            elements,
            inputs,
            done,
        })
    }

    /// The media types this file has tracks for.
    pub fn media(&self) -> Vec<MediaKind> {
        self.inputs.iter().map(|(m, _)| *m).collect()
    }

    /// Drops the file being written, without finishing it (it is about to be started over).
    pub fn abandon(self, bin: &gst::Bin) {
        remove(bin, &self.elements);
    }

    /// The pad the track of `media` feeds.
    pub fn input(&self, media: MediaKind) -> Option<&gst::Pad> {
        self.inputs
            .iter()
            .find(|(m, _)| *m == media)
            .map(|(_, p)| p)
    }

    /// Ends every track (the tracks' appsrcs must be unlinked already), waits for the muxer to
    /// finish the file, stops and removes the elements, and syncs the file to disk.
    pub fn finish(self, bin: &gst::Bin) -> Result<()> {
        // One thread per track: a muxer waiting for a track that never got data holds back the
        // others' serialized events, so an end of stream sent in turn could wait forever.
        for (_, pad) in &self.inputs {
            let pad = pad.clone();
            let sent = std::thread::Builder::new()
                .name("rheo-rec-eos".into())
                .spawn(move || pad.send_event(gst::event::Eos::new()));
            if sent.is_err() {
                tracing::warn!("cannot start a thread to end a recording track");
            }
        }
        let finished = self.done.recv_timeout(FINISH_LIMIT).is_ok();
        remove(bin, &self.elements);
        if let Some(Ok(file)) = self
            .path
            .as_ref()
            .map(|p| std::fs::OpenOptions::new().write(true).open(p))
        {
            let _ = file.sync_all();
        }
        if finished {
            Ok(())
        } else {
            Err(err(
                ErrorKind::Internal,
                format!("the recording of {} did not finish in time", self.described),
            ))
        }
    }
}

fn describe(target: &RecordTarget) -> String {
    match target {
        RecordTarget::File(path) => path.display().to_string(),
        RecordTarget::Upload(url) => url.clone(),
    }
}

fn remove(bin: &gst::Bin, elements: &[gst::Element]) {
    for e in elements {
        let _ = e.set_state(gst::State::Null);
    }
    let _ = bin.remove_many(elements);
}

/// Creates (or truncates) `path`, so that a missing or unwritable directory, or a path that is
/// a directory, is an error of `record` itself.
fn check_writable(path: &Path) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map(drop)
        .map_err(|e| {
            err(
                ErrorKind::InvalidArgument,
                format!("cannot write {}: {e}", path.display()),
            )
        })
}
