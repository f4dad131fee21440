//! Remote descriptions under AFL++ (`scripts/fuzz.sh sdp`).
fn main() {
    rheo_media::init().expect("GStreamer");
    afl::fuzz!(|data: &[u8]| {
        rheo_media::fuzz_targets::sdp(data);
    });
}
