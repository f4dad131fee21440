//! Puts the OpenSSL libsrtp (crate rheo-srtp) in front of the system's for this crate's tests
//! and examples, as the server's own build script does for the server.
fn main() {
    println!("cargo:rustc-link-arg=-Wl,--export-dynamic-symbol=srtp_*");
}
