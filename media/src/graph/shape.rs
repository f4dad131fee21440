//! `setVideoFormat` and `setAudioFormat`: an element's output shaped to the codec (and frame
//! rate or bitrate) asked for. Once the element's own format is known, a stage decodes it and
//! re-encodes it unless raw media was asked for; every connection from the element then takes
//! the stage's stream. Nothing is built when the element already sends what was asked.

use std::sync::Arc;

use crate::api_contract::MediaKind;
use crate::graph::output::{Format, Output, Transcoder};
use crate::{err, ErrorKind, Result};

/// What `setVideoFormat` or `setAudioFormat` asks of an element's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFormat {
    /// VP8, H.264 or raw video; Opus, PCMU, PCMA or raw audio.
    pub format: Format,
    /// Video: frames per second as a fraction, when asked.
    pub framerate: Option<(i32, i32)>,
    /// Audio: the Opus encoder's bitrate in bits per second, when asked.
    pub bitrate: Option<u32>,
}

/// Highest frame rate accepted: beyond it a client only asks the server to burn CPU.
pub const MAX_FRAMERATE: i32 = 120;
/// Opus's range of bitrates (bits per second).
pub const OPUS_BITRATES: std::ops::RangeInclusive<u32> = 4_000..=650_000;

impl OutputFormat {
    /// A video format: VP8, H.264 or raw, at a positive frame rate up to [`MAX_FRAMERATE`].
    pub fn video(format: Format, framerate: Option<(i32, i32)>) -> Result<OutputFormat> {
        if format.media() != MediaKind::Video {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("{} is not a video format", format.codec_name()),
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
        Ok(OutputFormat {
            format,
            framerate,
            bitrate: None,
        })
    }

    /// An audio format: Opus (at a bitrate in [`OPUS_BITRATES`] when given), PCMU, PCMA or raw.
    /// G.711's bitrate is fixed: a bitrate is taken for Opus only.
    pub fn audio(format: Format, bitrate: Option<u32>) -> Result<OutputFormat> {
        if format.media() != MediaKind::Audio {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("{} is not an audio format", format.codec_name()),
            ));
        }
        let bitrate = match bitrate {
            Some(b) if format == Format::Opus && !OPUS_BITRATES.contains(&b) => {
                return Err(err(
                    ErrorKind::InvalidArgument,
                    format!(
                        "an Opus bitrate of {b} b/s is outside {}..={}",
                        OPUS_BITRATES.start(),
                        OPUS_BITRATES.end()
                    ),
                ))
            }
            Some(b) if format == Format::Opus => Some(b),
            _ => None,
        };
        Ok(OutputFormat {
            format,
            framerate: None,
            bitrate,
        })
    }
}

/// One element output's shaping: what was asked and the stage built for it.
#[derive(Default)]
pub(crate) struct Shaping {
    asked: Option<OutputFormat>,
    /// The stage and the element format it was built from.
    stage: Option<(Format, Arc<Transcoder>)>,
}

impl Shaping {
    /// Replaces what is asked; the old stage goes.
    pub fn ask(&mut self, asked: Option<OutputFormat>) {
        self.asked = asked;
        self.tear_down();
    }

    /// The output connections from the element take: `own`, or the stage shaping it.
    pub fn output(&mut self, own: Arc<Output>) -> Arc<Output> {
        let (Some(asked), Some(native)) = (self.asked, own.format()) else {
            return own;
        };
        if native == asked.format && asked.framerate.is_none() && asked.bitrate.is_none() {
            return own;
        }
        if let Some((built_from, stage)) = &self.stage {
            if *built_from == native {
                return stage.output.clone();
            }
        }
        self.tear_down();
        match Transcoder::shaper(&own, native, asked.format, asked.framerate, asked.bitrate) {
            Ok(stage) => {
                let output = stage.output.clone();
                self.stage = Some((native, stage));
                output
            }
            Err(e) => {
                tracing::warn!(element = %own.owner, "output format stage not built: {}", e.message);
                own
            }
        }
    }

    /// Whether a stage transcodes this output.
    pub fn active(&self) -> bool {
        self.stage.is_some()
    }

    pub fn tear_down(&mut self) {
        if let Some((_, stage)) = self.stage.take() {
            stage.teardown();
        }
    }
}
