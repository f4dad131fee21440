//! What one `srtp_protect` costs: this build (OpenSSL) against the system's libsrtp2 (NSS),
//! loaded side by side in one process. The system library is opened with `RTLD_DEEPBIND` so
//! that its calls into itself stay inside it, even in a program that exports this build's
//! symbols.

use std::ffi::{c_int, c_void, CStr};
use std::time::Instant;

use crate::sys;

/// The SRTP protection profiles measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// AES_CM_128_HMAC_SHA1_80, what GStreamer 1.22's DTLS negotiates.
    AesCm128HmacSha1_80,
    /// AEAD_AES_128_GCM (RFC 7714).
    AeadAes128Gcm,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }
    fn key_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 30,
            Suite::AeadAes128Gcm => 28,
        }
    }
}

type SetPolicy = unsafe extern "C" fn(*mut sys::srtp_crypto_policy_t);
type Init = unsafe extern "C" fn() -> sys::srtp_err_status_t;
type Create =
    unsafe extern "C" fn(*mut sys::srtp_t, *const sys::srtp_policy_t) -> sys::srtp_err_status_t;
type Protect = unsafe extern "C" fn(sys::srtp_t, *mut c_void, *mut c_int) -> sys::srtp_err_status_t;
type Dealloc = unsafe extern "C" fn(sys::srtp_t) -> sys::srtp_err_status_t;
type Version = unsafe extern "C" fn() -> *const std::ffi::c_char;

/// The libsrtp functions a measurement needs, from one library.
pub struct Api {
    pub name: String,
    init: Init,
    create: Create,
    protect: Protect,
    dealloc: Dealloc,
    set_cm_80: SetPolicy,
    set_gcm_128: SetPolicy,
    /// srtp_init succeeds once: a second call fails (libsrtp 2.3 loads its debug module again).
    initialised: std::sync::OnceLock<sys::srtp_err_status_t>,
}

impl Api {
    /// This build.
    pub fn linked() -> Api {
        Api {
            name: format!(
                "{} with OpenSSL (linked in)",
                version(sys::srtp_get_version_string)
            ),
            init: sys::srtp_init,
            create: sys::srtp_create,
            protect: sys::srtp_protect,
            dealloc: sys::srtp_dealloc,
            set_cm_80: sys::srtp_crypto_policy_set_rtp_default,
            set_gcm_128: sys::srtp_crypto_policy_set_aes_gcm_128_16_auth,
            initialised: std::sync::OnceLock::new(),
        }
    }

    /// The system's shared library (`libsrtp2.so.1`), or why it could not be loaded.
    pub fn system() -> Result<Api, String> {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the handle is never closed, so the
        // function pointers stay valid for the process's life.
        unsafe {
            let handle = libc::dlopen(
                c"libsrtp2.so.1".as_ptr(),
                libc::RTLD_NOW | libc::RTLD_LOCAL | libc::RTLD_DEEPBIND,
            );
            if handle.is_null() {
                return Err("libsrtp2.so.1 not found".into());
            }
            let symbol = |name: &CStr| -> Result<*mut c_void, String> {
                let f = libc::dlsym(handle, name.as_ptr());
                if f.is_null() {
                    Err(format!("libsrtp2.so.1 has no {name:?}"))
                } else {
                    Ok(f)
                }
            };
            let get_version =
                std::mem::transmute::<*mut c_void, Version>(symbol(c"srtp_get_version_string")?);
            Ok(Api {
                name: format!("{} (system, libsrtp2.so.1)", version(get_version)),
                init: std::mem::transmute::<*mut c_void, Init>(symbol(c"srtp_init")?),
                create: std::mem::transmute::<*mut c_void, Create>(symbol(c"srtp_create")?),
                protect: std::mem::transmute::<*mut c_void, Protect>(symbol(c"srtp_protect")?),
                dealloc: std::mem::transmute::<*mut c_void, Dealloc>(symbol(c"srtp_dealloc")?),
                set_cm_80: std::mem::transmute::<*mut c_void, SetPolicy>(symbol(
                    c"srtp_crypto_policy_set_rtp_default",
                )?),
                set_gcm_128: std::mem::transmute::<*mut c_void, SetPolicy>(symbol(
                    c"srtp_crypto_policy_set_aes_gcm_128_16_auth",
                )?),
                initialised: std::sync::OnceLock::new(),
            })
        }
    }

    /// Microseconds per `srtp_protect` of `packets` RTP packets of `size` bytes, one stream.
    pub fn protect_cost(&self, suite: Suite, size: usize, packets: u32) -> Result<f64, String> {
        let key: Vec<u8> = (0..suite.key_len() as u8).collect();
        // SAFETY: the policy is plain data libsrtp reads during srtp_create (which copies the
        // key); each packet buffer has room for the longest trailer (16-byte tag); the session
        // is deallocated before returning.
        unsafe {
            check(*self.initialised.get_or_init(|| (self.init)()), "srtp_init")?;
            let mut policy: sys::srtp_policy_t = std::mem::zeroed();
            let set = match suite {
                Suite::AesCm128HmacSha1_80 => self.set_cm_80,
                Suite::AeadAes128Gcm => self.set_gcm_128,
            };
            set(&mut policy.rtp);
            set(&mut policy.rtcp);
            policy.ssrc.type_ = sys::srtp_ssrc_type_t_ssrc_any_outbound;
            policy.key = key.as_ptr() as *mut u8;
            policy.window_size = 128;
            let mut session: sys::srtp_t = std::ptr::null_mut();
            check((self.create)(&mut session, &policy), "srtp_create")?;
            let mut packet = vec![0u8; size + 64];
            let started = Instant::now();
            for seq in 0..packets {
                rtp_header(&mut packet, seq);
                let mut len = size as c_int;
                let status = (self.protect)(session, packet.as_mut_ptr() as *mut c_void, &mut len);
                if let Err(e) = check(status, "srtp_protect") {
                    (self.dealloc)(session);
                    return Err(e);
                }
            }
            let micros = started.elapsed().as_secs_f64() * 1e6 / packets as f64;
            (self.dealloc)(session);
            Ok(micros)
        }
    }
}

/// A VP8-sized RTP packet header: version 2, payload type 96, sequence `seq`, one SSRC.
fn rtp_header(packet: &mut [u8], seq: u32) {
    packet[0] = 0x80;
    packet[1] = 96;
    packet[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
    packet[4..8].copy_from_slice(&(seq * 3000).to_be_bytes());
    packet[8..12].copy_from_slice(&0x5eed_1234u32.to_be_bytes());
}

fn check(status: sys::srtp_err_status_t, what: &str) -> Result<(), String> {
    if status == sys::srtp_err_status_t_srtp_err_status_ok {
        Ok(())
    } else {
        Err(format!("{what} failed: libsrtp error {status}"))
    }
}

fn version(get: Version) -> String {
    // SAFETY: libsrtp returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(get()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linked_build_protects_with_both_suites() {
        let api = Api::linked();
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm] {
            let micros = api.protect_cost(suite, 1200, 100).unwrap();
            assert!(micros > 0.0, "{}", suite.name());
        }
    }
}
