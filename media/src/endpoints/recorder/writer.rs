//! One recording on disk: per track `queue ! [parser] ! muxer ! filesink`, built at `record`
//! and finished at `stop` (end of stream through the muxer, elements stopped, file synced).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use gst::prelude::*;

use super::profile::MediaProfile;
use crate::api_contract::MediaKind;
use crate::graph::output::Format;
use crate::{err, ErrorKind, Result};

/// Longest a finishing muxer may take to write its index and trailer.
const FINISH_LIMIT: Duration = Duration::from_secs(10);

pub(super) struct Writer {
    path: PathBuf,
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
        path: &Path,
    ) -> Result<Writer> {
        check_writable(path)?;
        let internal = |e: gst::glib::BoolError| err(ErrorKind::Internal, e.to_string());
        let mux = profile.muxer().map_err(internal)?;
        let sink = gst::ElementFactory::make("filesink")
            .property("location", path.to_string_lossy().as_ref())
            .property("async", false)
            .property("sync", false)
            .build()
            .map_err(internal)?;
        // Unbuffered: what the muxer wrote is in the kernel, so a killed process loses nothing.
        sink.set_property_from_str("buffer-mode", "unbuffered");
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
                    format!("cannot start the recording of {}", path.display()),
                ));
            }
        }
        Ok(Writer {
            path: path.to_path_buf(),
            elements,
            inputs,
            done,
        })
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
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&self.path) {
            let _ = file.sync_all();
        }
        if finished {
            Ok(())
        } else {
            Err(err(
                ErrorKind::Internal,
                format!(
                    "the recording of {} did not finish in time",
                    self.path.display()
                ),
            ))
        }
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
