//! MediaElement's `setVideoFormat` and `setAudioFormat` (Kurento's VideoCaps and AudioCaps).

use rheo_media as media;
use serde_json::{Map, Value};

use super::{values, Args, Result};
use crate::protocol::KurentoError;

const VIDEO_CODECS: [&str; 6] = ["H265", "AV1", "VP9", "VP8", "H264", "RAW"];
const AUDIO_CODECS: [&str; 4] = ["OPUS", "PCMU", "PCMA", "RAW"];

/// `setVideoFormat(caps)`: connections from the element get VP8, H.264 or raw video, at the
/// caps' frame rate when it has one.
pub(super) fn set_video_format(element: &media::Element, args: Args<'_>) -> Result<()> {
    let caps = args.complex("caps", "kurento", "VideoCaps")?;
    let caps_args = Args::new(Some(caps));
    let codec = codec_of(&caps_args, &VIDEO_CODECS)?;
    let format = match codec {
        "VP8" => media::Format::Vp8,
        "H264" => media::Format::H264,
        "RAW" => media::Format::RawVideo,
        other => {
            return Err(KurentoError::marshall(format!(
                "video codec {other} is not produced by Rheo (VP8, H264 or RAW)"
            )))
        }
    };
    let framerate = match caps.get("framerate") {
        None | Some(Value::Null) => None,
        Some(Value::Object(fraction)) => Some(fraction_of(fraction)?),
        Some(_) => return Err(KurentoError::arg_type("framerate", "Fraction")),
    };
    let wanted = media::OutputFormat::video(format, framerate).map_err(values::media_error)?;
    element
        .set_output_format(media::MediaKind::Video, Some(wanted))
        .map_err(values::media_error)
}

/// `setAudioFormat(caps)`: connections from the element get Opus (at the caps' bitrate when it
/// has one), PCMU, PCMA or raw audio.
pub(super) fn set_audio_format(element: &media::Element, args: Args<'_>) -> Result<()> {
    let caps = args.complex("caps", "kurento", "AudioCaps")?;
    let caps_args = Args::new(Some(caps));
    let format = match codec_of(&caps_args, &AUDIO_CODECS)? {
        "OPUS" => media::Format::Opus,
        "PCMU" => media::Format::Pcmu,
        "PCMA" => media::Format::Pcma,
        _ => media::Format::RawAudio,
    };
    // Kurento's clients send 0 for "no bitrate asked".
    let bitrate = match caps_args.opt_int("bitrate")? {
        None | Some(0) => None,
        Some(b) => Some(u32::try_from(b).map_err(|_| {
            KurentoError::marshall(format!("'bitrate' {b} is not a bitrate in b/s"))
        })?),
    };
    let wanted = media::OutputFormat::audio(format, bitrate).map_err(values::media_error)?;
    element
        .set_output_format(media::MediaKind::Audio, Some(wanted))
        .map_err(values::media_error)
}

fn codec_of<'a>(caps: &Args<'a>, allowed: &[&str]) -> Result<&'a str> {
    caps.opt_enum("codec", allowed)?
        .ok_or_else(|| KurentoError::marshall("'codec' parameter is required"))
}

fn fraction_of(fraction: &Map<String, Value>) -> Result<(i32, i32)> {
    super::args::check_complex_type(fraction, "kurento", "Fraction")?;
    let part = |name: &str| -> Result<i32> {
        let v = Args::new(Some(fraction)).int(name)?;
        i32::try_from(v).map_err(|_| KurentoError::marshall(format!("'{name}' is out of range")))
    };
    Ok((part("numerator")?, part("denominator")?))
}
