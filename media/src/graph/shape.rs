//! `setVideoFormat`: an element's video output shaped to the codec and frame rate asked for.
//! Once the element's own format is known, a stage decodes it (at the asked frame rate) and
//! re-encodes it unless raw video was asked for; every connection from the element then takes
//! the stage's stream. Nothing is built when the element already sends what was asked.

use std::sync::Arc;

use crate::graph::output::{Format, Output, Transcoder};
use crate::{err, ErrorKind, Result};

/// What `setVideoFormat` asks of an element's video output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFormat {
    /// VP8, H.264 or raw video.
    pub format: Format,
    /// Frames per second as a fraction, when asked.
    pub framerate: Option<(i32, i32)>,
}

/// Highest frame rate accepted: beyond it a client only asks the server to burn CPU.
pub const MAX_FRAMERATE: i32 = 120;

impl VideoFormat {
    /// Checks the codec is a video one and the frame rate a positive fraction up to
    /// [`MAX_FRAMERATE`].
    pub fn new(format: Format, framerate: Option<(i32, i32)>) -> Result<VideoFormat> {
        if !matches!(format, Format::Vp8 | Format::H264 | Format::RawVideo) {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!(
                    "{} is not a video format Rheo produces",
                    format.codec_name()
                ),
            ));
        }
        if let Some((num, den)) = framerate {
            if num <= 0 || den <= 0 || num > MAX_FRAMERATE.saturating_mul(den) {
                return Err(err(
                    ErrorKind::InvalidArgument,
                    format!("framerate {num}/{den} is not between 0 and {MAX_FRAMERATE} fps"),
                ));
            }
        }
        Ok(VideoFormat { format, framerate })
    }
}

/// One element's shaping: what was asked and the stage built for it.
#[derive(Default)]
pub(crate) struct Shaping {
    asked: Option<VideoFormat>,
    /// The stage and the element format it was built from.
    stage: Option<(Format, Arc<Transcoder>)>,
}

impl Shaping {
    /// Replaces what is asked; the old stage goes.
    pub fn ask(&mut self, asked: Option<VideoFormat>) {
        self.asked = asked;
        self.tear_down();
    }

    /// The output connections from the element take: `own`, or the stage shaping it.
    pub fn output(&mut self, own: Arc<Output>) -> Arc<Output> {
        let (Some(asked), Some(native)) = (self.asked, own.format()) else {
            return own;
        };
        if native == asked.format && asked.framerate.is_none() {
            return own;
        }
        if let Some((built_from, stage)) = &self.stage {
            if *built_from == native {
                return stage.output.clone();
            }
        }
        self.tear_down();
        match Transcoder::shaper(&own, native, asked.format, asked.framerate) {
            Ok(stage) => {
                let output = stage.output.clone();
                self.stage = Some((native, stage));
                output
            }
            Err(e) => {
                tracing::warn!(element = %own.owner, "setVideoFormat stage not built: {}", e.message);
                own
            }
        }
    }

    /// Whether a stage transcodes this element's output.
    pub fn active(&self) -> bool {
        self.stage.is_some()
    }

    pub fn tear_down(&mut self) {
        if let Some((_, stage)) = self.stage.take() {
            stage.teardown();
        }
    }
}
