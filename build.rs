//! Exports the `srtp_*` functions of the OpenSSL libsrtp linked in (crate rheo-srtp), so that
//! GStreamer's srtp plugin runs them instead of the system's NSS-based libsrtp2 (see
//! srtp/src/lib.rs).
fn main() {
    println!("cargo:rustc-link-arg=-Wl,--export-dynamic-symbol=srtp_*");
}
