//! The SDP and candidate fuzz targets: everything a remote description goes through before
//! webrtcbin (the limits, the parser, the analysis and the answer plan), and the RFC 8839
//! candidate parser. None may panic. `make test` replays the corpora (`fuzz/corpus/`) with
//! their mutations; `fuzz/afl` runs the same functions under AFL++.

use crate::endpoints::sdp::{analyse, candidate, limits, parse, plan_answer, rejecting_answer};

/// Runs one remote description through the checks; true when it parsed. Call
/// [`crate::init`] first.
pub fn sdp(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    let _ = limits::check(&text, &limits::SdpLimits::default());
    let Ok(msg) = parse(&text) else {
        return false;
    };
    let mlines = analyse(&msg);
    for (recvonly, sendonly, data) in [
        (false, false, false),
        (true, false, true),
        (false, true, false),
    ] {
        let _ = plan_answer(&mlines, recvonly, sendonly, data);
    }
    let _ = rejecting_answer(&msg);
    true
}

/// Runs one candidate line through the RFC 8839 parser; true when it was accepted.
pub fn candidate(input: &[u8]) -> bool {
    candidate::check(&String::from_utf8_lossy(input)).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sdp_corpus_and_mutations_never_panic() {
        crate::init().unwrap();
        let mut parsed = 0;
        rheo_fuzz::replay("sdp", 12_000, |input| parsed += super::sdp(input) as usize);
        assert!(
            parsed > 1000,
            "the mutations should mostly stay parseable: {parsed}"
        );
    }

    #[test]
    fn candidate_corpus_and_mutations_never_panic() {
        let mut accepted = 0;
        rheo_fuzz::replay("candidate", 100_000, |input| {
            accepted += super::candidate(input) as usize
        });
        assert!(accepted > 0);
    }
}
