//! SRTP at AES-NI speed for GStreamer's `srtpenc`/`srtpdec` (inside every webrtcbin and
//! RtpEndpoint).
//!
//! Debian's libsrtp2 is built on NSS: every packet goes through NSS's PKCS#11 soft token.
//! This crate links libsrtp built against OpenSSL into the program, and the program exports
//! its `srtp_*` symbols (each binary's build script passes `--export-dynamic-symbol=srtp_*`).
//! When GStreamer loads the srtp plugin, the dynamic linker looks the plugin's `srtp_*`
//! references up in the global scope first, where the program comes before the system
//! library: the plugin runs this build, and the system's libsrtp2 is loaded but never called.
//! The two libraries share one ABI (libsrtp 2.x: the same functions, `srtp_policy_t` and
//! events).

use std::ffi::{c_char, c_void, CStr};

pub use srtp2_sys as sys;

/// The functions GStreamer's srtp plugin (1.22) calls, kept in the program so that their
/// exported symbols exist even where Rheo itself never calls them.
#[used]
static PLUGIN_ENTRY_POINTS: EntryPoints = EntryPoints([
    sys::srtp_init as *const (),
    sys::srtp_create as *const (),
    sys::srtp_dealloc as *const (),
    sys::srtp_add_stream as *const (),
    sys::srtp_remove_stream as *const (),
    sys::srtp_protect_mki as *const (),
    sys::srtp_unprotect_mki as *const (),
    sys::srtp_protect_rtcp_mki as *const (),
    sys::srtp_unprotect_rtcp_mki as *const (),
    sys::srtp_install_event_handler as *const (),
    sys::srtp_get_stream_roc as *const (),
    sys::srtp_set_stream_roc as *const (),
    sys::srtp_protect as *const (),
    sys::srtp_get_version_string as *const (),
]);

#[allow(dead_code)] // never read: it only keeps the functions in the link
struct EntryPoints([*const (); 14]);
// SAFETY: addresses of functions, never dereferenced here.
unsafe impl Sync for EntryPoints {}

/// Which libsrtp the program's SRTP runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// libsrtp's own version string.
    pub version: String,
    /// Whether GStreamer's srtp plugin resolves to this build (OpenSSL). False in a program
    /// that does not export the symbols: the plugin then uses the system's library.
    pub in_front: bool,
}

impl Library {
    /// "openssl" when this build serves the plugin, "system" otherwise.
    pub fn crypto(&self) -> &'static str {
        if self.in_front {
            "openssl"
        } else {
            "system"
        }
    }
}

/// Whether this build is the one the plugin will use: the global lookup of `srtp_protect_mki`
/// (the plugin's) finds this build's function. Initialises nothing: the plugin calls
/// `srtp_init` itself, and libsrtp 2.3 fails a second call.
pub fn library() -> Library {
    let name = b"srtp_protect_mki\0";
    // SAFETY: dlsym on the global scope with a NUL-terminated name.
    let global = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr() as *const c_char) };
    let ours = sys::srtp_protect_mki as *const c_void;
    // SAFETY: libsrtp returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(sys::srtp_get_version_string()) }
        .to_string_lossy()
        .into_owned();
    Library {
        version,
        in_front: std::ptr::eq(global as *const c_void, ours),
    }
}

pub mod cost;
