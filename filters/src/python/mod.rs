//! `rheopythonfilter`: runs a researcher's Python filter, one `.py` file in the operator's
//! filters folder, on every video frame.
//!
//! * **The frame is the filter's numpy array**: `(height, width, 3)` `uint8`, BGR (OpenCV's
//!   order), over the frame's own memory. The element proposes a pool of memfd buffers upstream,
//!   so the converter before it writes each frame into memory the filter's process maps; the
//!   filter draws in place and nothing is copied in or out. (When upstream does not use the
//!   pool, the frame is copied into such memory and back.)
//! * **One process per filter instance** ([`worker`]), started at READY: a filter that raises
//!   gets an error event and its frame passes through unchanged (the element keeps a copy to
//!   restore); one that hangs past `frame-timeout-ms`, or crashes its interpreter, is stopped
//!   with an error and the stream goes on unfiltered; N sessions run on N cores.
//! * **Only the operator's code runs**: the element takes a module name, never a path or code,
//!   and loads `<python_filters_dir>/<module>.py`.
//! * **Hot reload**: the host checks the file twice a second and reloads it when it changed;
//!   a file that no longer loads is reported and the previous code goes on.
//!
//! Element messages: `rheo-event` {`event`, `data` (JSON)} for each `ctx.emit(name, data)`;
//! `rheo-filter-error` {`description`} for an exception (at most one a second) and when the
//! process stops; `rheo-python-reloaded` {`module`} after a reload.
//!
//! The Python side of the protocol is `host.py`; the filter's API is in
//! `docs/python-filters.md`.

mod imp;
pub mod memfd_pool;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::process_setting::ProcessSetting;
use gst::glib;
use gst::prelude::*;

glib::wrapper! {
    /// The `rheopythonfilter` element.
    pub struct PythonFilter(ObjectSubclass<imp::PythonFilter>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

impl PythonFilter {
    /// Factory name of the element.
    pub const FACTORY_NAME: &'static str = "rheopythonfilter";
}

/// Registers `rheopythonfilter` in `plugin` (or statically when `None`).
pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    gst::Element::register(
        plugin,
        PythonFilter::FACTORY_NAME,
        gst::Rank::NONE,
        PythonFilter::static_type(),
    )
}

/// Where filters come from and how they run.
#[derive(Clone, Debug, PartialEq)]
pub struct PythonSettings {
    /// The operator's folder of filter files.
    pub filters_dir: PathBuf,
    /// The interpreter (Debian's, or a researcher's virtualenv's `bin/python`).
    pub interpreter: PathBuf,
    /// How long one frame may take before the filter is stopped.
    pub frame_timeout: Duration,
    /// How long loading the file may take.
    pub load_timeout: Duration,
    /// Filter processes running at once, server-wide: each is an interpreter with numpy and
    /// OpenCV (tens of MiB), so the operator bounds them.
    pub max_processes: usize,
}

impl PythonSettings {
    /// `python_filters/` in the working directory when it exists, else the source tree's;
    /// Debian's `/usr/bin/python3` (it has `python3-numpy` and `python3-opencv`).
    pub fn installed() -> PythonSettings {
        let local = PathBuf::from("python_filters");
        let filters_dir = if local.is_dir() {
            local
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../python_filters")
        };
        PythonSettings {
            filters_dir,
            interpreter: PathBuf::from("/usr/bin/python3"),
            frame_timeout: Duration::from_secs(2),
            load_timeout: Duration::from_secs(20),
            max_processes: 64,
        }
    }

    fn from_environment() -> PythonSettings {
        let mut s = PythonSettings::installed();
        if let Some(dir) = std::env::var_os("RHEO_PYTHON_FILTERS_DIR").filter(|d| !d.is_empty()) {
            s.filters_dir = dir.into();
        }
        if let Some(python) = std::env::var_os("RHEO_PYTHON").filter(|p| !p.is_empty()) {
            s.interpreter = python.into();
        }
        s
    }

    /// The file of filter `module`: a plain name (letters, digits, `_`; not starting with a
    /// digit) of a `.py` file in the filters folder. Anything else is refused.
    pub fn module_path(&self, module: &str) -> Result<PathBuf, String> {
        if !plain_name(module) {
            return Err(format!(
                "'{module}' is not a Python filter name (letters, digits and _ only)"
            ));
        }
        let path = self.filters_dir.join(format!("{module}.py"));
        if !path.is_file() {
            return Err(format!(
                "no Python filter '{module}' (the server's filters are: {})",
                self.modules().join(", ")
            ));
        }
        Ok(path)
    }

    /// The filters in the folder, sorted.
    pub fn modules(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.filters_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stem = name.strip_suffix(".py")?.to_owned();
                // `_helpers.py` files are for the filters to import, not filters.
                (plain_name(&stem) && !stem.starts_with('_')).then_some(stem)
            })
            .collect();
        names.sort();
        names
    }
}

/// A module name a client may give: letters, digits and `_`, not starting with a digit.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

static SETTINGS: ProcessSetting<PythonSettings> = ProcessSetting::new();

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Filter processes running now.
pub fn running_processes() -> usize {
    RUNNING.load(Ordering::Relaxed)
}

/// One running filter process, counted while it lives.
pub(crate) struct ProcessSlot(());

impl ProcessSlot {
    /// A slot, when fewer than `max` processes run.
    pub(crate) fn take(max: usize) -> Option<ProcessSlot> {
        RUNNING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ProcessSlot(()))
    }
}

impl Drop for ProcessSlot {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sets how Python filters created from now on run (the server calls it from its configuration).
pub fn configure(settings: PythonSettings) {
    SETTINGS.set(settings);
}

/// How a Python filter created now runs.
pub fn settings() -> PythonSettings {
    SETTINGS.get(PythonSettings::from_environment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_of_files_in_the_folder_are_filters() {
        let dir = std::env::temp_dir().join(format!("rheo-py-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("edges.py"), "def process(frame, ctx): pass\n").unwrap();
        std::fs::write(dir.join("_helper.py"), "").unwrap();
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        let s = PythonSettings {
            filters_dir: dir.clone(),
            ..PythonSettings::installed()
        };
        assert_eq!(s.module_path("edges").unwrap(), dir.join("edges.py"));
        for bad in [
            "../edges",
            "/etc/passwd",
            "edges.py",
            "",
            "9lives",
            "a b",
            "edges\0",
        ] {
            assert!(s.module_path(bad).is_err(), "{bad:?}");
        }
        let missing = s.module_path("blur").unwrap_err();
        assert!(missing.contains("edges"), "{missing}");
        assert_eq!(s.modules(), vec!["edges".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
