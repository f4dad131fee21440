//! ICE candidate lines under AFL++ (`scripts/fuzz.sh candidate`).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        rheo_media::fuzz_targets::candidate(data);
    });
}
