//! The filters the server knows: each entry becomes a GStreamer element and a Kurento class.
//!
//! The built-in filters (crate `rheo-filters`) and every researcher's filter join the same way,
//! with [`add`] at startup, before the server serves its first client.

use std::sync::Mutex;

use gst::glib;

use crate::{FilterInfo, VideoFilter};

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
            register: crate::register::<T>,
        }
    }
}

/// The current list; replaced, never mutated, so slices handed out stay valid. Each [`add`]
/// leaks one small slice: bounded by the number of filters.
static ALL: Mutex<&'static [Registration]> = Mutex::new(&[]);

/// Adds a filter (see WRITING_A_FILTER.md). Call it at startup, before the server starts, so
/// that clients see the class from the first connection. A class or element name already taken
/// is an error.
pub fn add(reg: Registration) -> Result<(), String> {
    let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
    let list: &'static [Registration] = *all;
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
    *all = Box::leak(new.into_boxed_slice());
    Ok(())
}

/// Every filter [`add`]ed so far, in order.
pub fn filters() -> &'static [Registration] {
    *ALL.lock().unwrap_or_else(|e| e.into_inner())
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
