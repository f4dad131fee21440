//! Kurento's MediaProfileSpecType: which container a recorder writes and which codecs fit it.

use gst::prelude::*;

use crate::api_contract::MediaKind;
use crate::graph::output::Format;

/// The container of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Webm,
    Mkv,
    /// Fragmented MP4: every fragment is complete on disk, so a killed server leaves a playable
    /// file.
    Mp4,
    /// A multipart stream of JPEG pictures (KMS's JPEG_VIDEO_ONLY).
    Jpeg,
}

/// A recording profile: a container and the media types it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaProfile {
    pub container: Container,
    pub audio: bool,
    pub video: bool,
}

impl MediaProfile {
    /// The profile of Kurento's name (`WEBM`, `MP4_VIDEO_ONLY`, ...); `None` for names Rheo does
    /// not record (`KURENTO_SPLIT_RECORDER`, `FLV`) or does not know.
    pub fn from_kurento(name: &str) -> Option<MediaProfile> {
        let (container, rest) = match name.split_once('_') {
            Some((c, rest)) => (c, Some(rest)),
            None => (name, None),
        };
        let container = match container {
            "WEBM" => Container::Webm,
            "MKV" => Container::Mkv,
            "MP4" => Container::Mp4,
            "JPEG" if rest == Some("VIDEO_ONLY") => Container::Jpeg,
            _ => return None,
        };
        let (audio, video) = match rest {
            None => (true, true),
            Some("VIDEO_ONLY") => (false, true),
            Some("AUDIO_ONLY") => (true, false),
            Some(_) => return None,
        };
        Some(MediaProfile {
            container,
            audio,
            video,
        })
    }

    /// The media types this profile records.
    pub fn media(&self) -> Vec<MediaKind> {
        let mut media = Vec::new();
        if self.audio {
            media.push(MediaKind::Audio);
        }
        if self.video {
            media.push(MediaKind::Video);
        }
        media
    }

    /// The formats that go into the container as they arrive, the preferred one first (the
    /// one a source of another format is transcoded to).
    pub(crate) fn accepts(&self, media: MediaKind) -> &'static [Format] {
        match (self.container, media) {
            (_, MediaKind::Data) => &[],
            (Container::Jpeg, MediaKind::Video) => &[Format::RawVideo],
            (Container::Jpeg, MediaKind::Audio) => &[],
            (_, MediaKind::Audio) => &[Format::Opus],
            (Container::Webm, MediaKind::Video) => &[Format::Vp8],
            (Container::Mkv, MediaKind::Video) => &[Format::Vp8, Format::H264],
            (Container::Mp4, MediaKind::Video) => &[Format::H264],
        }
    }

    /// The muxer, configured for a file that stays playable if the process dies.
    pub(crate) fn muxer(&self) -> Result<gst::Element, gst::glib::BoolError> {
        let mux = match self.container {
            // Matroska clusters are complete as written: a truncated file plays up to its end.
            Container::Webm => gst::ElementFactory::make("webmmux").build()?,
            Container::Mkv => gst::ElementFactory::make("matroskamux").build()?,
            Container::Mp4 => {
                let mux = gst::ElementFactory::make("mp4mux").build()?;
                // Two fragments a second: a kill loses at most the fragment being written.
                mux.set_property("fragment-duration", 500u32);
                mux
            }
            Container::Jpeg => gst::ElementFactory::make("multipartmux").build()?,
        };
        Ok(mux)
    }

    /// The file's MIME type (an upload's `Content-Type`).
    pub(crate) fn mime_type(&self) -> &'static str {
        let video = self.media().contains(&MediaKind::Video);
        match (self.container, video) {
            (Container::Webm, true) => "video/webm",
            (Container::Webm, false) => "audio/webm",
            (Container::Mkv, true) => "video/x-matroska",
            (Container::Mkv, false) => "audio/x-matroska",
            (Container::Mp4, true) => "video/mp4",
            (Container::Mp4, false) => "audio/mp4",
            (Container::Jpeg, _) => "multipart/x-mixed-replace",
        }
    }

    /// What goes between the input queue and the muxer for `format`.
    pub(crate) fn preparer(&self, format: Format) -> Option<&'static str> {
        match format {
            // Caps the muxers need (AVC layout, codec data, Opus channel mapping).
            Format::H264 => Some("h264parse"),
            Format::Opus => Some("opusparse"),
            Format::Vp8 => None,
            Format::RawVideo => Some("videoconvert ! jpegenc"),
            // Audio is recorded as Opus (`accepts`): others arrive transcoded.
            Format::Pcmu | Format::Pcma | Format::RawAudio | Format::Data => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kurento_names() {
        let webm = MediaProfile::from_kurento("WEBM").unwrap();
        assert_eq!(
            (webm.container, webm.audio, webm.video),
            (Container::Webm, true, true)
        );
        let mp4v = MediaProfile::from_kurento("MP4_VIDEO_ONLY").unwrap();
        assert_eq!(
            (mp4v.container, mp4v.audio, mp4v.video),
            (Container::Mp4, false, true)
        );
        let mkva = MediaProfile::from_kurento("MKV_AUDIO_ONLY").unwrap();
        assert_eq!(mkva.media(), vec![MediaKind::Audio]);
        let jpeg = MediaProfile::from_kurento("JPEG_VIDEO_ONLY").unwrap();
        assert_eq!(jpeg.media(), vec![MediaKind::Video]);
        for refused in [
            "KURENTO_SPLIT_RECORDER",
            "FLV",
            "JPEG",
            "webm",
            "MP4_",
            "WEBM_BOTH",
        ] {
            assert_eq!(MediaProfile::from_kurento(refused), None, "{refused}");
        }
    }

    #[test]
    fn matching_codecs_are_kept() {
        let mkv = MediaProfile::from_kurento("MKV").unwrap();
        assert_eq!(
            Format::preferred(mkv.accepts(MediaKind::Video), Format::H264),
            Format::H264
        );
        assert_eq!(
            Format::preferred(mkv.accepts(MediaKind::Video), Format::Vp8),
            Format::Vp8
        );
        let mp4 = MediaProfile::from_kurento("MP4").unwrap();
        assert_eq!(
            Format::preferred(mp4.accepts(MediaKind::Video), Format::Vp8),
            Format::H264
        );
        assert_eq!(
            Format::preferred(mp4.accepts(MediaKind::Audio), Format::Opus),
            Format::Opus
        );
        let webm = MediaProfile::from_kurento("WEBM").unwrap();
        assert_eq!(
            Format::preferred(webm.accepts(MediaKind::Video), Format::H264),
            Format::Vp8
        );
    }
}
