//! The URI policy under AFL++ (`scripts/fuzz.sh uri`): a file URI must never resolve outside
//! the media root, a directory of its own.
use rheo_filter_sdk::uri_policy::{fuzz_target, UriPolicy};

fn main() {
    let root = std::env::temp_dir().join(format!("rheo-afl-uri-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("media root");
    let policy = UriPolicy {
        media_roots: Some(vec![root.canonicalize().expect("media root")]),
        allow_private_networks: false,
    };
    afl::fuzz!(|data: &[u8]| {
        fuzz_target(&policy, data);
    });
}
