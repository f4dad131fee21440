//! A setting the server gives every element of a kind, process-wide: set from the configuration
//! at start, else made once (for `gst-launch-1.0`, from the environment and the installed
//! defaults).

use parking_lot::RwLock;

/// One process-wide setting (see the module's doc).
pub(crate) struct ProcessSetting<T: Clone>(RwLock<Option<T>>);

impl<T: Clone> ProcessSetting<T> {
    pub(crate) const fn new() -> Self {
        ProcessSetting(RwLock::new(None))
    }

    /// Sets what elements created from now on use.
    pub(crate) fn set(&self, value: T) {
        *self.0.write() = Some(value);
    }

    /// The setting, made by `default` when nothing set it.
    pub(crate) fn get(&self, default: impl FnOnce() -> T) -> T {
        if let Some(value) = self.0.read().as_ref() {
            return value.clone();
        }
        self.0.write().get_or_insert_with(default).clone()
    }
}
