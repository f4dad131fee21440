//! Benchmark (not a test): microseconds per `srtp_protect` of a 1200-byte RTP packet, the
//! libsrtp Rheo links (OpenSSL) against the system's libsrtp2 (Debian's: NSS), in one process,
//! rounds alternating. `cargo run --release -p rheo-srtp --example srtp_cost [packets]`

use rheo_srtp::cost::{Api, Suite};

fn main() {
    let packets: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let linked = Api::linked();
    let system = Api::system().unwrap_or_else(|e| panic!("{e}"));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{packets} packets of 1200 bytes a round, median of 5 rounds; load {}",
        load.split(' ').next().unwrap_or("?")
    );
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            theirs.push(system.protect_cost(suite, 1200, packets).unwrap());
            ours.push(linked.protect_cost(suite, 1200, packets).unwrap());
        }
        let (ours, theirs) = (median(ours), median(theirs));
        println!(
            "{:<24} {}: {theirs:.2} us   {}: {ours:.2} us   ratio {:.2}",
            suite.name(),
            system.name,
            linked.name,
            ours / theirs
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
