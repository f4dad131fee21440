//! Unit-testing a filter without GStreamer: frames whose pixels the test owns, and a context
//! that records what the filter emits and the regions it adds.
//!
//! ```no_run
//! use rheo_filter_sdk::testing::{OwnedFrame, RecordingContext};
//! use rheo_filter_sdk::{Args, VideoFilter};
//! # fn check<F: VideoFilter>() {
//! let mut filter = F::new(&Args::default()).unwrap();
//! let mut image = OwnedFrame::bgr_from_file("/usr/share/doc/opencv-doc/examples/data/lena.jpg")
//!     .unwrap();
//! let mut ctx = RecordingContext::default();
//! filter.process(&mut image.frame(), &mut ctx).unwrap();
//! assert!(ctx.events_named("SomethingFound").is_empty());
//! let [b, g, r] = image.bgr_at(10, 10);
//! # }
//! ```

use opencv::prelude::*;

use super::{Context, DataMessage, FilterError, Frame, PixelFormat, Region, Value};

/// A frame's pixels, owned by the test. [`OwnedFrame::frame`] lends them as the [`Frame`] that
/// `process` takes, so the test can look at them afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel layout.
    pub format: PixelFormat,
    /// Presentation time in nanoseconds, if any.
    pub pts: Option<u64>,
    /// Planes (one for BGR; Y, U, V for I420), tightly packed: (bytes, stride).
    pub planes: Vec<(Vec<u8>, usize)>,
}

impl OwnedFrame {
    /// A BGR frame of one colour.
    pub fn bgr(width: u32, height: u32, [b, g, r]: [u8; 3]) -> OwnedFrame {
        let (w, h) = (width as usize, height as usize);
        let pixels = [b, g, r].repeat(w * h);
        OwnedFrame {
            width,
            height,
            format: PixelFormat::Bgr,
            pts: None,
            planes: vec![(pixels, w * 3)],
        }
    }

    /// An I420 frame of one colour (`y`, `u`, `v`); width and height must be even.
    pub fn i420(width: u32, height: u32, [y, u, v]: [u8; 3]) -> OwnedFrame {
        let (w, h) = (width as usize, height as usize);
        OwnedFrame {
            width,
            height,
            format: PixelFormat::I420,
            pts: None,
            planes: vec![
                (vec![y; w * h], w),
                (vec![u; w * h / 4], w / 2),
                (vec![v; w * h / 4], w / 2),
            ],
        }
    }

    /// A BGR frame from an image file (any format OpenCV reads), at its own size.
    pub fn bgr_from_file(path: &str) -> Result<OwnedFrame, FilterError> {
        let image = opencv::imgcodecs::imread(path, opencv::imgcodecs::IMREAD_COLOR)?;
        if image.empty() {
            return Err(FilterError::Failed(format!("cannot read the image {path}")));
        }
        let (width, height) = (image.cols() as u32, image.rows() as u32);
        let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
        for row in 0..image.rows() {
            pixels.extend_from_slice(image.row(row)?.data_bytes()?);
        }
        Ok(OwnedFrame {
            width,
            height,
            format: PixelFormat::Bgr,
            pts: None,
            planes: vec![(pixels, width as usize * 3)],
        })
    }

    /// The same frame with a presentation time, in nanoseconds.
    pub fn with_pts(mut self, pts: u64) -> OwnedFrame {
        self.pts = Some(pts);
        self
    }

    /// The [`Frame`] `process` takes, borrowing these pixels.
    pub fn frame(&mut self) -> Frame<'_> {
        Frame {
            width: self.width,
            height: self.height,
            format: self.format,
            pts: self.pts,
            planes: self
                .planes
                .iter_mut()
                .map(|(bytes, stride)| (bytes.as_mut_slice(), *stride))
                .collect(),
        }
    }

    /// The BGR pixel at (`x`, `y`) of a BGR frame.
    pub fn bgr_at(&self, x: u32, y: u32) -> [u8; 3] {
        assert_eq!(self.format, PixelFormat::Bgr, "bgr_at needs a BGR frame");
        let (bytes, stride) = &self.planes[0];
        let at = y as usize * stride + x as usize * 3;
        [bytes[at], bytes[at + 1], bytes[at + 2]]
    }

    /// How many pixels of a BGR frame have exactly this colour.
    pub fn count_bgr(&self, colour: [u8; 3]) -> usize {
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| self.bgr_at(x, y) == colour)
            .count()
    }
}

/// A [`Context`] that records: the events the filter emits, in order, and the regions it adds.
/// Regions given to [`RecordingContext::with_regions`] are those the frame arrives with.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RecordingContext {
    /// Emitted events with their fields, in order.
    pub events: Vec<(&'static str, Vec<(&'static str, Value)>)>,
    /// The regions the frame arrives with.
    pub incoming: Vec<Region>,
    /// The regions the filter added.
    pub added: Vec<Region>,
    /// The data messages the filter sent, in order.
    pub sent: Vec<DataMessage>,
}

impl RecordingContext {
    /// A context whose frame carries `regions` (as an upstream filter's metadata would).
    pub fn with_regions(regions: Vec<Region>) -> RecordingContext {
        RecordingContext {
            incoming: regions,
            ..RecordingContext::default()
        }
    }

    /// The fields of each event named `name`, in the order emitted.
    pub fn events_named(&self, name: &str) -> Vec<&[(&'static str, Value)]> {
        self.events
            .iter()
            .filter(|(event, _)| *event == name)
            .map(|(_, fields)| fields.as_slice())
            .collect()
    }

    /// Forgets what was recorded (between frames).
    pub fn clear(&mut self) {
        self.events.clear();
        self.added.clear();
        self.sent.clear();
    }
}

impl Context for RecordingContext {
    fn emit(&mut self, event: &'static str, fields: Vec<(&'static str, Value)>) {
        self.events.push((event, fields));
    }

    fn regions(&self) -> &[Region] {
        &self.incoming
    }

    fn add_region(&mut self, region: Region) {
        self.added.push(region);
    }

    fn send_data(&mut self, message: DataMessage) {
        self.sent.push(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_lend_their_pixels_and_keep_what_the_filter_wrote() {
        let mut image = OwnedFrame::bgr(4, 2, [1, 2, 3]).with_pts(40);
        {
            let mut frame = image.frame();
            assert_eq!((frame.width, frame.height, frame.pts), (4, 2, Some(40)));
            let (bytes, stride) = &mut frame.planes[0];
            assert_eq!(*stride, 12);
            bytes[12..15].copy_from_slice(&[9, 9, 9]); // (0, 1)
        }
        assert_eq!(image.bgr_at(0, 1), [9, 9, 9]);
        assert_eq!(image.bgr_at(3, 1), [1, 2, 3]);
        assert_eq!(image.count_bgr([1, 2, 3]), 7);

        let grey = OwnedFrame::i420(4, 2, [16, 128, 128]);
        let sizes: Vec<(usize, usize)> = grey.planes.iter().map(|(b, s)| (b.len(), *s)).collect();
        assert_eq!(sizes, vec![(8, 4), (2, 2), (2, 2)]);
    }

    #[test]
    fn a_photo_loads_at_its_own_size() {
        let photo = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
        let image = OwnedFrame::bgr_from_file(photo).unwrap();
        assert_eq!((image.width, image.height), (548, 342));
        assert_eq!(image.planes[0].0.len(), 548 * 342 * 3);
        assert!(OwnedFrame::bgr_from_file("/nonexistent.png").is_err());
    }

    #[test]
    fn the_context_records_events_and_regions() {
        let face = Region {
            kind: "face".into(),
            x: 1,
            y: 2,
            width: 3,
            height: 4,
        };
        let mut ctx = RecordingContext::with_regions(vec![face.clone()]);
        assert_eq!(ctx.regions(), std::slice::from_ref(&face));
        ctx.emit("Found", vec![("count", Value::Int(1))]);
        ctx.emit("Lost", vec![]);
        ctx.emit("Found", vec![("count", Value::Int(2))]);
        ctx.add_region(face.clone());
        ctx.send_data(DataMessage::Text("hi".into()));
        assert_eq!(ctx.sent, vec![DataMessage::Text("hi".into())]);
        assert_eq!(ctx.events_named("Found").len(), 2);
        assert_eq!(
            ctx.events_named("Found")[1],
            &[("count", Value::Int(2))][..]
        );
        assert_eq!(ctx.added, vec![face]);
        ctx.clear();
        assert!(ctx.events.is_empty() && ctx.added.is_empty() && ctx.sent.is_empty());
    }
}
