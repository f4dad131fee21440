//! The JSON-RPC envelope under AFL++ (`scripts/fuzz.sh jsonrpc`).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        rheo::protocol::fuzz_target(data);
    });
}
