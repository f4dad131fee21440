//! The SDP and candidate fuzz corpora (`fuzz/corpus/`), replayed with their mutations through
//! everything a remote description goes through before webrtcbin: the limits, the parser, the
//! analysis and the answer plan. None may panic.

use super::{analyse, candidate, limits, parse, plan_answer, rejecting_answer};

#[test]
fn sdp_corpus_and_mutations_never_panic() {
    crate::init().unwrap();
    let mut parsed = 0;
    rheo_fuzz::replay("sdp", 3000, |input| {
        let text = String::from_utf8_lossy(input);
        let _ = limits::check(&text, &limits::SdpLimits::default());
        let Ok(msg) = parse(&text) else { return };
        parsed += 1;
        let mlines = analyse(&msg);
        for (recvonly, sendonly, data) in [
            (false, false, false),
            (true, false, true),
            (false, true, false),
        ] {
            let _ = plan_answer(&mlines, recvonly, sendonly, data);
        }
        let _ = rejecting_answer(&msg);
    });
    assert!(
        parsed > 1000,
        "the mutations should mostly stay parseable: {parsed}"
    );
}

#[test]
fn candidate_corpus_and_mutations_never_panic() {
    let mut accepted = 0;
    rheo_fuzz::replay("candidate", 20_000, |input| {
        if candidate::check(&String::from_utf8_lossy(input)).is_ok() {
            accepted += 1;
        }
    });
    assert!(accepted > 0);
}
