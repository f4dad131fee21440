//! `datachannelexample.KmsShowData` (element `rheoshowdata`): the latest text message that
//! arrives on the element's DATA input (a browser's data channel through a WebRtcEndpoint built
//! with `useDataChannels`) is drawn on the video, until the next message; an empty message
//! clears it. Audio passes through.
//!
//! Kurento draws it with pango's `textoverlay`; Rheo draws it with OpenCV on the I420 planes
//! directly (no colour conversion, no pango): white text on a dark caption box at the bottom
//! centre, sized to the frame, shrunk and then cut with "..." to fit its width. OpenCV's fonts
//! are ASCII: other characters show as `?`.

#[cfg(test)]
mod tests;

use opencv::core::{Point, Rect, Scalar, Size};
use opencv::imgproc;

use rheo_filter_sdk::{
    Args, Context, DataMessage, FilterError, FilterInfo, Frame, PixelFormat, VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

/// The Kurento interface of `datachannelexample.KmsShowData`.
pub static INFO: FilterInfo = FilterInfo {
    module: "datachannelexample",
    class: "KmsShowData",
    element: "rheoshowdata",
    description: "Draws the text of the latest data channel message on the video",
    constructor: &[],
    methods: &[],
    properties: &[],
    events: &[],
    format: PixelFormat::I420,
    data: DataUse::Receives,
    parent: Parent::MediaElement,
};

/// Longest text kept (characters); longer messages are cut.
pub const MAX_CHARS: usize = 256;
const FONT: i32 = imgproc::FONT_HERSHEY_SIMPLEX;
/// Text height as a share of the frame height.
const TEXT_HEIGHT_SHARE: f64 = 0.06;
/// The text may shrink to this share of its normal size before it is cut.
const MIN_SHRINK: f64 = 0.5;
/// Luma of the text and of the caption box behind it.
const TEXT_LUMA: f64 = 235.0;
const BOX_LUMA: f64 = 24.0;
/// Neutral chroma: the box is grey whatever the picture's colour.
const NEUTRAL_CHROMA: f64 = 128.0;

/// The filter: the text to draw, if any, and its layout for the last frame size.
pub struct KmsShowData {
    text: Option<String>,
    layout: Option<((u32, u32), Option<Caption>)>,
}

impl KmsShowData {
    /// The text drawn on the frames, if any.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
}

/// What a message shows: one line of printable ASCII, at most [`MAX_CHARS`].
fn printable(message: &DataMessage) -> String {
    message
        .text()
        .chars()
        .take(MAX_CHARS)
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The text as drawn on a frame: its font scale and stroke, what fits, and where.
struct Caption {
    shown: String,
    scale: f64,
    thickness: i32,
    origin: Point,
    /// The box behind the text, inside the frame, with even corners (chroma is half size).
    backdrop: Rect,
}

fn text_size(text: &str, scale: f64, thickness: i32) -> Result<(Size, i32), FilterError> {
    let mut baseline = 0;
    let size = imgproc::get_text_size(text, FONT, scale, thickness, &mut baseline)?;
    Ok((size, baseline))
}

impl Caption {
    fn fit(text: &str, width: u32, height: u32) -> Result<Option<Caption>, FilterError> {
        let (w, h) = (width as i32, height as i32);
        let margin = (h / 40).max(2);
        let max_width = w - 4 * margin;
        if max_width <= 0 {
            return Ok(None);
        }
        // Hershey simplex at scale 1 is about 22 px tall.
        let normal = (height as f64 * TEXT_HEIGHT_SHARE / 22.0).max(0.3);
        let thickness = ((normal * 2.0).round() as i32).max(1);
        let (mut size, _) = text_size(text, normal, thickness)?;
        let mut scale = normal;
        if size.width > max_width {
            scale = (normal * max_width as f64 / size.width as f64).max(normal * MIN_SHRINK);
        }
        let mut shown = text.to_owned();
        (size, _) = text_size(&shown, scale, thickness)?;
        while size.width > max_width && !shown.is_empty() {
            shown.pop();
            let cut = format!("{}...", shown.trim_end());
            (size, _) = text_size(&cut, scale, thickness)?;
            if size.width <= max_width {
                shown = cut;
                break;
            }
        }
        if shown.is_empty() {
            return Ok(None);
        }
        let (size, baseline) = text_size(&shown, scale, thickness)?;
        let origin = Point::new((w - size.width) / 2, h - 2 * margin - baseline);
        let even = |v: i32| v & !1;
        let left = even((origin.x - margin).max(0));
        let top = even((origin.y - size.height - margin).max(0));
        let right = even((origin.x + size.width + margin + 1).min(w));
        let bottom = even((origin.y + baseline + margin + 1).min(h));
        Ok(Some(Caption {
            shown,
            scale,
            thickness,
            origin,
            backdrop: Rect::new(left, top, right - left, bottom - top),
        }))
    }

    fn draw(&self, frame: &mut Frame<'_>) -> Result<(), FilterError> {
        {
            let mut luma = frame.plane_mat(0)?;
            imgproc::rectangle(
                &mut luma,
                self.backdrop,
                Scalar::all(BOX_LUMA),
                imgproc::FILLED,
                imgproc::LINE_8,
                0,
            )?;
            imgproc::put_text(
                &mut luma,
                &self.shown,
                self.origin,
                FONT,
                self.scale,
                Scalar::all(TEXT_LUMA),
                self.thickness,
                imgproc::LINE_AA,
                false,
            )?;
        }
        let half = Rect::new(
            self.backdrop.x / 2,
            self.backdrop.y / 2,
            self.backdrop.width / 2,
            self.backdrop.height / 2,
        );
        for plane in 1..3 {
            let mut chroma = frame.plane_mat(plane)?;
            imgproc::rectangle(
                &mut chroma,
                half,
                Scalar::all(NEUTRAL_CHROMA),
                imgproc::FILLED,
                imgproc::LINE_8,
                0,
            )?;
        }
        Ok(())
    }
}

impl VideoFilter for KmsShowData {
    fn info() -> &'static FilterInfo {
        &INFO
    }

    fn new(_args: &Args) -> Result<Self, FilterError> {
        Ok(KmsShowData {
            text: None,
            layout: None,
        })
    }

    fn process(
        &mut self,
        frame: &mut Frame<'_>,
        _ctx: &mut dyn Context,
    ) -> Result<(), FilterError> {
        let Some(text) = &self.text else {
            return Ok(());
        };
        let size = (frame.width, frame.height);
        if self
            .layout
            .as_ref()
            .is_none_or(|(laid_out, _)| *laid_out != size)
        {
            self.layout = Some((size, Caption::fit(text, size.0, size.1)?));
        }
        match &self.layout {
            Some((_, Some(caption))) => caption.draw(frame),
            _ => Ok(()),
        }
    }

    fn receive_data(
        &mut self,
        message: &DataMessage,
        _ctx: &mut dyn Context,
    ) -> Result<(), FilterError> {
        let text = printable(message);
        self.text = (!text.is_empty()).then_some(text);
        self.layout = None;
        Ok(())
    }
}
