//! THE list of SDK filters: one line per filter. Each entry becomes a GStreamer element (in
//! `register_static` and the `rheofilters` plugin) and a Kurento class the server exposes.
//!
//! Filters from other crates join with [`add`] at startup.

use std::sync::Mutex;

use gst::glib;

use crate::sdk::{FilterInfo, VideoFilter};

/// One registered filter.
#[derive(Clone, Copy, Debug)]
pub struct Registration {
    /// The filter's interface.
    pub info: &'static FilterInfo,
    /// Registers its element in a plugin (or statically with `None`).
    pub register: fn(Option<&gst::Plugin>) -> Result<(), glib::BoolError>,
}

impl Registration {
    /// The registration of `T`.
    pub fn of<T: VideoFilter>() -> Registration {
        Registration {
            info: T::info(),
            register: crate::sdk::register::<T>,
        }
    }
}

fn builtin() -> Vec<Registration> {
    vec![
        // ---- one line per built-in filter (keep sorted by module) ----
        Registration::of::<crate::chroma::ChromaFilter>(),
        Registration::of::<crate::crowddetector::CrowdDetectorFilter>(),
        Registration::of::<crate::imageoverlay::ImageOverlayFilter>(),
        Registration::of::<crate::zbar::ZBarFilter>(),
        Registration::of::<crate::facemeta::KmsDetectFaces>(),
        Registration::of::<crate::facemeta::KmsShowFaces>(),
        Registration::of::<crate::platedetector::PlateDetectorFilter>(),
        Registration::of::<crate::pointerdetector::PointerDetectorFilter>(),
        // ---- end of the list ----
    ]
}

/// The current list (built-ins + added); replaced, never mutated, so slices handed out stay
/// valid. Each [`add`] leaks one small slice: bounded by the number of filters.
static ALL: Mutex<Option<&'static [Registration]>> = Mutex::new(None);

fn current(all: &mut Option<&'static [Registration]>) -> &'static [Registration] {
    all.get_or_insert_with(|| Box::leak(builtin().into_boxed_slice()))
}

/// Adds a filter defined outside this crate (see WRITING_A_FILTER.md). Call it at startup,
/// before the server starts, so that clients see the class from the first connection. A class
/// or element name already taken is an error.
pub fn add(reg: Registration) -> Result<(), String> {
    let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
    let list = current(&mut all);
    if let Some(r) = list.iter().find(|r| {
        r.info.element == reg.info.element
            || (r.info.class == reg.info.class && r.info.module == reg.info.module)
    }) {
        return Err(format!(
            "{}.{} ({}) clashes with the registered {}.{} ({})",
            reg.info.module,
            reg.info.class,
            reg.info.element,
            r.info.module,
            r.info.class,
            r.info.element
        ));
    }
    let mut new = list.to_vec();
    new.push(reg);
    *all = Some(Box::leak(new.into_boxed_slice()));
    Ok(())
}

/// Every registered filter: the built-in ones, then those [`add`]ed so far.
pub fn filters() -> &'static [Registration] {
    current(&mut ALL.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The prefix of a module's qualified class names (`kurento` for the core modules).
pub fn qualified_prefix(module: &str) -> &str {
    match module {
        "core" | "elements" | "filters" => "kurento",
        m => m,
    }
}

/// The filter of a Kurento class name, bare (`ChromaFilter`) or qualified
/// (`chroma.ChromaFilter`; `kurento.` for module `filters`).
pub fn find(class: &str) -> Option<&'static Registration> {
    let (prefix, name) = match class.rsplit_once('.') {
        Some((p, n)) => (Some(p), n),
        None => (None, class),
    };
    filters().iter().find(|r| {
        r.info.class == name
            && prefix.is_none_or(|p| p == qualified_prefix(r.info.module) || p == r.info.module)
    })
}

/// Registers every filter's element (statically, or in `plugin`).
pub fn register_all(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    for r in filters() {
        (r.register)(plugin)?;
    }
    Ok(())
}
