//! `pointerdetector.PointerDetectorFilter`: track a coloured pointer and raise `WindowIn` /
//! `WindowOut` when it enters or leaves rectangular windows drawn on the video.
//!
//! Kurento's API (module `pointerdetector`, element `rheopointerdetector`), with these
//! differences in behaviour (Kurento 7 does not ship this filter at all):
//!
//! * **Calibration** (`trackColorFromCalibrationRegion`) samples the calibration region of the
//!   last [`CALIBRATION_FRAMES`] frames (copied by `process` before anything is drawn, so there is
//!   no race with the streaming thread) and computes a robust HSV range with hue wrap-around
//!   ([`color::calibrate`]). A region without a coloured object is an error to the caller and the
//!   previous calibration is kept. Called before the first frame, it runs on the next frame.
//! * **Tracking**: HSV threshold at [`color::PROCESSING_WIDTH`], open + close, largest blob above
//!   a minimum area; the centroid is the pointer ([`color::Tracker`]).
//! * **Events**: one `WindowIn`/`WindowOut` per transition, per window (overlapping windows each
//!   get theirs), `WindowOut`s before `WindowIn`s of the same frame. `WindowOut` is also raised
//!   when the pointer disappears (Kurento kept the last position forever), and when a window
//!   containing it is removed (`removeWindow`, `clearWindows`) or re-added with another geometry.
//! * **Hysteresis** against jitter: the pointer enters a window when its centre is strictly
//!   inside the rectangle, and leaves it only when the centre is more than [`EXIT_MARGIN_DIV`]-th
//!   of the frame width (4 px at 640) outside. A pointer missing for one frame keeps its last
//!   position; it is lost (→ `WindowOut`) on the [`LOST_AFTER`]-th consecutive frame without it,
//!   so an event can come up to one frame after the geometric truth.
//! * **Drawing** as in Kurento: the calibration region as a white 1-px rectangle (until the
//!   colour is calibrated); windows as a white rectangle, or their `image`; the active window as
//!   `activeImage`, else its `image` tinted green, else a green rectangle; images blended with
//!   opacity `1 - imageTransparency`; the pointer as a filled red disc. Windows are drawn before
//!   calibration too, so users see the layout.
//! * **Coordinates** are pixels of the first frame's resolution; if the resolution changes the
//!   windows and the calibration region scale with it.

pub mod color;
pub mod draw;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use color::{CalibrationError, HsvRange, Tracker};
use draw::{Canvas, Icon, PixRect};
use rheo_filter_sdk::{
    Args, ComplexType, Context, DefaultValue, Event, FilterError, FilterInfo, Frame, Image, Method,
    Param, PixelFormat, Type, Value, VideoFilter,
};
use rheo_filter_sdk::{DataUse, Parent};

/// Frames whose calibration region is kept for `trackColorFromCalibrationRegion`.
pub const CALIBRATION_FRAMES: usize = 3;
/// Consecutive frames without the pointer after which it is lost.
pub const LOST_AFTER: u32 = 2;
/// Exit margin = frame width / this (at least 2 px).
pub const EXIT_MARGIN_DIV: i32 = 160;

const WHITE: [u8; 3] = [255, 255, 255];
const GREEN: [u8; 3] = [0, 255, 0];
const RED: [u8; 3] = [0, 0, 255];

static WINDOW_PARAM: ComplexType = ComplexType {
    module: "pointerdetector",
    name: "WindowParam",
    fields: &[
        int_field(
            "topRightCornerX",
            "Left edge of the region, in pixels (Kurento's name notwithstanding).",
        ),
        int_field("topRightCornerY", "Top edge of the region, in pixels."),
        int_field("width", "Width in pixels."),
        int_field("height", "Height in pixels."),
    ],
};

static WINDOW_MEDIA_PARAM: ComplexType = ComplexType {
    module: "pointerdetector",
    name: "PointerDetectorWindowMediaParam",
    fields: &[
        Param {
            name: "id",
            ty: Type::String,
            default: None,
            doc: "Window id, reported in WindowIn/WindowOut.",
        },
        int_field("height", "Height in pixels."),
        int_field("width", "Width in pixels."),
        int_field(
            "upperRightX",
            "Left edge of the window, in pixels (Kurento's name notwithstanding).",
        ),
        int_field("upperRightY", "Top edge of the window, in pixels."),
        Param {
            name: "activeImage",
            ty: Type::ImageUri,
            default: Some(DefaultValue::Null),
            doc: "Image shown in the window while the pointer is inside.",
        },
        Param {
            name: "imageTransparency",
            ty: Type::Float,
            default: Some(DefaultValue::Null),
            doc: "Transparency of the images, 0 (opaque, the default) to 1 (invisible).",
        },
        Param {
            name: "image",
            ty: Type::ImageUri,
            default: Some(DefaultValue::Null),
            doc: "Image shown in the window while the pointer is outside.",
        },
    ],
};

static WINDOW_MEDIA_TYPE: Type = Type::Complex(&WINDOW_MEDIA_PARAM);

const fn int_field(name: &'static str, doc: &'static str) -> Param {
    Param {
        name,
        ty: Type::Int,
        default: None,
        doc,
    }
}

const WINDOW_ID_FIELD: &[Param] = &[Param {
    name: "windowId",
    ty: Type::String,
    default: None,
    doc: "Id of the window.",
}];

/// The filter's interface, as clients see it.
pub static INFO: FilterInfo = FilterInfo {
    module: "pointerdetector",
    class: "PointerDetectorFilter",
    element: "rheopointerdetector",
    description: "Tracks a coloured pointer calibrated in a region of the image and raises \
                  WindowIn/WindowOut when it enters or leaves the windows drawn on the video.",
    constructor: &[
        Param {
            name: "calibrationRegion",
            ty: Type::Complex(&WINDOW_PARAM),
            default: None,
            doc: "Region where the user shows the pointer before calling trackColorFromCalibrationRegion.",
        },
        Param {
            name: "windows",
            ty: Type::List(&WINDOW_MEDIA_TYPE),
            default: Some(DefaultValue::EmptyList),
            doc: "Initial windows.",
        },
    ],
    methods: &[
        Method {
            name: "addWindow",
            params: &[Param {
                name: "window",
                ty: Type::Complex(&WINDOW_MEDIA_PARAM),
                default: None,
                doc: "The window; replaces a window with the same id.",
            }],
            returns: None,
            doc: "Adds a window.",
        },
        Method {
            name: "removeWindow",
            params: &[Param {
                name: "windowId",
                ty: Type::String,
                default: None,
                doc: "Id of the window to remove (unknown ids are ignored).",
            }],
            returns: None,
            doc: "Removes a window (WindowOut first if the pointer is inside it).",
        },
        Method {
            name: "clearWindows",
            params: &[],
            returns: None,
            doc: "Removes every window (WindowOut for those containing the pointer).",
        },
        Method {
            name: "trackColorFromCalibrationRegion",
            params: &[],
            returns: None,
            doc: "Learns the pointer colour from the calibration region and starts tracking it.",
        },
    ],
    properties: &[],
    events: &[
        Event {
            name: "WindowIn",
            fields: WINDOW_ID_FIELD,
            doc: "The pointer entered a window.",
        },
        Event {
            name: "WindowOut",
            fields: WINDOW_ID_FIELD,
            doc: "The pointer left a window, disappeared, or its window was removed.",
        },
    ],
    format: PixelFormat::Bgr,
    data: DataUse::None,
    parent: Parent::Filter,
};

/// One window of the layout.
struct Window {
    id: String,
    /// Geometry in reference-resolution pixels.
    rect: PixRect,
    image: Option<Image>,
    active_image: Option<Image>,
    /// `1 - imageTransparency`, 0..=255.
    opacity: u32,
    /// Whether the pointer is inside (the last event raised for this window was `WindowIn`).
    inside: bool,
    /// Icons prepared for the current drawing size: (inactive, active).
    icons: Option<PreparedIcons>,
}

struct PreparedIcons {
    w: i32,
    h: i32,
    inactive: Option<Icon>,
    active: Option<Icon>,
    /// `inactive` tinted green, for an active window without `activeImage`.
    tinted: Option<Icon>,
}

fn int_of(v: &Value, what: &str, name: &str) -> Result<i32, FilterError> {
    v.field(name)
        .as_int()
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| FilterError::InvalidArgument(format!("{what}.{name} should be an integer")))
}

fn rect_of(v: &Value, what: &str, names: [&str; 4]) -> Result<PixRect, FilterError> {
    let r = PixRect {
        x: int_of(v, what, names[0])?,
        y: int_of(v, what, names[1])?,
        w: int_of(v, what, names[2])?,
        h: int_of(v, what, names[3])?,
    };
    if r.w <= 0 || r.h <= 0 {
        return Err(FilterError::InvalidArgument(format!(
            "{what} must have a positive width and height (got {}x{})",
            r.w, r.h
        )));
    }
    Ok(r)
}

impl Window {
    fn from_value(v: &Value) -> Result<Window, FilterError> {
        const WHAT: &str = "PointerDetectorWindowMediaParam";
        let id = v
            .field("id")
            .as_str()
            .ok_or_else(|| FilterError::InvalidArgument(format!("{WHAT}.id should be a string")))?
            .to_owned();
        let rect = rect_of(v, WHAT, ["upperRightX", "upperRightY", "width", "height"])?;
        let image_of = |name: &str| match v.field(name) {
            Value::Null => Ok(None),
            Value::Image(i) => Ok(Some(i.clone())),
            _ => Err(FilterError::InvalidArgument(format!(
                "{WHAT}.{name} should be an image"
            ))),
        };
        let transparency = match v.field("imageTransparency") {
            Value::Null => 0.0,
            t => t.as_float().ok_or_else(|| {
                FilterError::InvalidArgument(format!("{WHAT}.imageTransparency should be a number"))
            })?,
        };
        Ok(Window {
            id,
            rect,
            image: image_of("image")?,
            active_image: image_of("activeImage")?,
            opacity: ((1.0 - transparency.clamp(0.0, 1.0)) * 255.0).round() as u32,
            inside: false,
            icons: None,
        })
    }
}

/// Pointer detector filter state (see the module documentation).
pub struct PointerDetectorFilter {
    calibration_region: PixRect,
    windows: Vec<Window>,
    range: Option<HsvRange>,
    calibrate_on_next_frame: bool,
    /// BGR pixels of the calibration region of the last frames, oldest first.
    samples: VecDeque<Vec<u8>>,
    tracker: Tracker,
    /// Last pointer position (frame pixels) and consecutive frames it was not seen.
    pointer: Option<(f64, f64)>,
    missed: u32,
    /// Resolution the pixel coordinates refer to (the first frame's).
    reference: Option<(i32, i32)>,
}

impl PointerDetectorFilter {
    /// The calibrated colour range, once `trackColorFromCalibrationRegion` succeeded.
    pub fn color_range(&self) -> Option<HsvRange> {
        self.range
    }

    /// The pointer position in frame pixels as of the last frame, if tracked.
    pub fn pointer(&self) -> Option<(f64, f64)> {
        self.pointer
    }

    /// Ids of the windows containing the pointer, in window order.
    pub fn windows_inside(&self) -> Vec<&str> {
        self.windows
            .iter()
            .filter(|w| w.inside)
            .map(|w| w.id.as_str())
            .collect()
    }

    fn calibrate_from_samples(&mut self) -> Result<HsvRange, CalibrationError> {
        let bgr: Vec<u8> = self.samples.iter().flatten().copied().collect();
        let hsv = color::bgr_to_hsv(&bgr).map_err(|_| CalibrationError::Empty)?;
        let range = color::calibrate(&hsv)?;
        tracing::info!(?range, "pointerdetector: colour calibrated");
        self.range = Some(range);
        Ok(range)
    }

    fn leave(window: &mut Window, ctx: &mut dyn Context) {
        if window.inside {
            window.inside = false;
            ctx.emit(
                "WindowOut",
                vec![("windowId", Value::String(window.id.clone()))],
            );
        }
    }

    fn add_window(&mut self, v: &Value, ctx: &mut dyn Context) -> Result<(), FilterError> {
        let mut new = Window::from_value(v)?;
        if let Some(old) = self.windows.iter_mut().find(|w| w.id == new.id) {
            if old.rect == new.rect {
                new.inside = old.inside;
            } else {
                Self::leave(old, ctx);
            }
            *old = new;
        } else {
            self.windows.push(new);
        }
        Ok(())
    }
}

/// Scales a reference-resolution rectangle to the frame.
fn scale_rect(r: PixRect, reference: (i32, i32), frame: (i32, i32)) -> PixRect {
    if reference == frame {
        return r;
    }
    let sx = frame.0 as f64 / reference.0 as f64;
    let sy = frame.1 as f64 / reference.1 as f64;
    let x0 = (r.x as f64 * sx).round() as i32;
    let y0 = (r.y as f64 * sy).round() as i32;
    let x1 = ((r.x + r.w) as f64 * sx).round() as i32;
    let y1 = ((r.y + r.h) as f64 * sy).round() as i32;
    PixRect {
        x: x0,
        y: y0,
        w: (x1 - x0).max(1),
        h: (y1 - y0).max(1),
    }
}

/// Whether `p` is strictly inside `r` grown by `margin` pixels on every side.
fn inside(r: PixRect, p: (f64, f64), margin: f64) -> bool {
    let (x0, y0) = (r.x as f64 - margin, r.y as f64 - margin);
    let (x1, y1) = ((r.x + r.w) as f64 + margin, (r.y + r.h) as f64 + margin);
    p.0 > x0 && p.0 < x1 && p.1 > y0 && p.1 < y1
}

impl VideoFilter for PointerDetectorFilter {
    fn info() -> &'static FilterInfo {
        &INFO
    }

    fn new(args: &Args) -> Result<Self, FilterError> {
        let calibration_region = rect_of(
            args.get("calibrationRegion"),
            "calibrationRegion",
            ["topRightCornerX", "topRightCornerY", "width", "height"],
        )?;
        let mut windows: Vec<Window> = Vec::new();
        match args.get("windows") {
            Value::Null => {}
            Value::List(list) => {
                for v in list {
                    let w = Window::from_value(v)?;
                    // Same id twice: the last one wins, as with addWindow.
                    windows.retain(|o| o.id != w.id);
                    windows.push(w);
                }
            }
            _ => {
                return Err(FilterError::InvalidArgument(
                    "'windows' should be a list".into(),
                ))
            }
        }
        Ok(PointerDetectorFilter {
            calibration_region,
            windows,
            range: None,
            calibrate_on_next_frame: false,
            samples: VecDeque::with_capacity(CALIBRATION_FRAMES),
            tracker: Tracker::new()?,
            pointer: None,
            missed: 0,
            reference: None,
        })
    }

    fn process(&mut self, frame: &mut Frame<'_>, ctx: &mut dyn Context) -> Result<(), FilterError> {
        let size = (frame.width as i32, frame.height as i32);
        if size.0 == 0 || size.1 == 0 {
            return Ok(());
        }
        let reference = *self.reference.get_or_insert(size);

        // 1. Locate the pointer on the untouched frame.
        let located = {
            let mat = frame.bgr_mat()?;
            match &self.range {
                Some(range) => self.tracker.locate(&mat, range)?,
                None => None,
            }
        };
        let (data, stride) = {
            let (d, s) = &mut frame.planes[0];
            (&mut **d, *s)
        };
        let mut canvas = Canvas {
            data,
            stride,
            width: size.0,
            height: size.1,
        };

        // 2. Keep the calibration region's pixels of the last frames (before drawing on them).
        let cal = scale_rect(self.calibration_region, reference, size);
        let (cx0, cy0) = (cal.x.clamp(0, size.0), cal.y.clamp(0, size.1));
        let (cx1, cy1) = (
            (cal.x + cal.w).clamp(0, size.0),
            (cal.y + cal.h).clamp(0, size.1),
        );
        let mut sample = Vec::with_capacity(((cx1 - cx0) * (cy1 - cy0)).max(0) as usize * 3);
        for y in cy0..cy1 {
            let o = y as usize * stride;
            sample.extend_from_slice(&canvas.data[o + cx0 as usize * 3..o + cx1 as usize * 3]);
        }
        if self.samples.len() == CALIBRATION_FRAMES {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        if self.calibrate_on_next_frame {
            self.calibrate_on_next_frame = false;
            if let Err(e) = self.calibrate_from_samples() {
                tracing::warn!("pointerdetector: calibration failed: {e}");
            }
        }

        // 3. Pointer state with a one-frame grace period.
        match located {
            Some(p) => {
                self.pointer = Some(p);
                self.missed = 0;
            }
            None => {
                self.missed = self.missed.saturating_add(1);
                if self.missed >= LOST_AFTER {
                    self.pointer = None;
                }
            }
        }

        // 4. Window transitions: all WindowOut, then all WindowIn, in window order.
        let margin = (size.0 / EXIT_MARGIN_DIV).max(2) as f64;
        let mut entered = Vec::new();
        for w in &mut self.windows {
            let r = scale_rect(w.rect, reference, size);
            let now = match self.pointer {
                None => false,
                Some(p) if w.inside => inside(r, p, margin),
                Some(p) => inside(r, p, 0.0),
            };
            if w.inside && !now {
                Self::leave(w, ctx);
            } else if !w.inside && now {
                w.inside = true;
                entered.push(w.id.clone());
            }
        }
        for id in entered {
            ctx.emit("WindowIn", vec![("windowId", Value::String(id))]);
        }

        // 5. Drawing.
        if self.range.is_none() {
            canvas.outline(cal, WHITE);
        }
        for w in &mut self.windows {
            let r = scale_rect(w.rect, reference, size);
            let stale = w.icons.as_ref().is_none_or(|i| (i.w, i.h) != (r.w, r.h));
            if stale && (w.image.is_some() || w.active_image.is_some()) {
                let prep = |img: &Option<Image>| {
                    img.as_ref().map(|i| Icon::prepare(i, r.w, r.h)).transpose()
                };
                let inactive = prep(&w.image)?;
                let active = prep(&w.active_image)?;
                let tinted = match (&active, &inactive) {
                    (None, Some(icon)) => Some(icon.tinted_green()),
                    _ => None,
                };
                w.icons = Some(PreparedIcons {
                    w: r.w,
                    h: r.h,
                    inactive,
                    active,
                    tinted,
                });
            }
            let icons = w.icons.as_ref();
            let inactive = icons.and_then(|i| i.inactive.as_ref());
            if w.inside {
                let active = icons.and_then(|i| i.active.as_ref().or(i.tinted.as_ref()));
                match active {
                    Some(icon) => canvas.blend(icon, r, w.opacity),
                    None => canvas.outline(r, GREEN),
                }
            } else {
                match inactive {
                    Some(icon) => canvas.blend(icon, r, w.opacity),
                    None => canvas.outline(r, WHITE),
                }
            }
        }
        if let Some((x, y)) = self.pointer {
            let radius = (size.0 / 64).max(3);
            canvas.disc(x.round() as i32, y.round() as i32, radius, RED);
        }
        Ok(())
    }

    fn invoke(
        &mut self,
        method: &str,
        args: &Args,
        ctx: &mut dyn Context,
    ) -> Result<Value, FilterError> {
        match method {
            "addWindow" => self.add_window(args.get("window"), ctx)?,
            "removeWindow" => {
                let id = args.str("windowId")?;
                if let Some(i) = self.windows.iter().position(|w| w.id == id) {
                    let mut w = self.windows.remove(i);
                    Self::leave(&mut w, ctx);
                }
            }
            "clearWindows" => {
                for mut w in self.windows.drain(..) {
                    Self::leave(&mut w, ctx);
                }
            }
            "trackColorFromCalibrationRegion" => {
                if self.samples.is_empty() {
                    self.calibrate_on_next_frame = true;
                } else {
                    self.calibrate_from_samples().map_err(|e| {
                        FilterError::Failed(format!("trackColorFromCalibrationRegion: {e}"))
                    })?;
                }
            }
            _ => return Err(FilterError::NoSuchMethod(method.to_owned())),
        }
        Ok(Value::Null)
    }
}
