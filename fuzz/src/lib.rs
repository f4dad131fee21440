//! The fuzz corpus of Rheo's parsers (`fuzz/corpus/<target>/`: hand-written seeds and what
//! AFL++ found with `scripts/fuzz.sh`), and a deterministic mutator that replays it in
//! `make test`: every input, then thousands of mutations of them (bit flips,
//! byte insertions and deletions, repeated and spliced chunks, interesting values), so a
//! parser that panics on a near-miss of a valid input fails a test, the same way each run.
//!
//! Targets: `jsonrpc` (the protocol envelope), `sdp` (remote descriptions: limits, parsing,
//! analysis and answer planning), `candidate` (RFC 8839 candidate lines) and `uri` (the URI
//! policy's parsing and file confinement).

use std::path::PathBuf;

/// The corpus directory of `target`.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Every input of `target`'s corpus, sorted by file name.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// A small deterministic generator (so a failing mutation is reproducible from its index).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that often break parsers.
const INTERESTING: [&[u8]; 12] = [
    b"\0",
    b"\xff",
    b"\r\n",
    b" ",
    b":",
    b"%",
    b"-1",
    b"0",
    b"4294967296",
    b"18446744073709551616",
    b"\xc3\x28",
    b"\"",
];

/// The `index`-th mutation of `input` mixed with `other` (another corpus entry).
pub fn mutate(input: &[u8], other: &[u8], index: u64) -> Vec<u8> {
    let mut rng = Lcg(index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ input.len() as u64);
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 if at < data.len() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let value = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(at..at, value.iter().copied());
            }
            4 if at < data.len() => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                let chunk = data[at..end].to_vec();
                for _ in 0..1 + rng.below(8) {
                    data.splice(at..at, chunk.iter().copied());
                }
            }
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(128)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
            _ => data.truncate(at),
        }
    }
    data
}

/// Runs `check` on every corpus input of `target`, then on `mutations` mutations spread evenly
/// over them (so the time a replay takes does not grow with the corpus AFL++ finds).
pub fn replay(target: &str, mutations: u64, mut check: impl FnMut(&[u8])) {
    let inputs = corpus(target);
    for input in &inputs {
        check(input);
    }
    for index in 0..mutations {
        let n = (index % inputs.len() as u64) as usize;
        let other = &inputs[(n + 1) % inputs.len()];
        check(&mutate(&inputs[n], other, index / inputs.len() as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_varied() {
        let a: Vec<Vec<u8>> = (0..50)
            .map(|i| mutate(b"candidate:1 1 udp", b"x", i))
            .collect();
        let b: Vec<Vec<u8>> = (0..50)
            .map(|i| mutate(b"candidate:1 1 udp", b"x", i))
            .collect();
        assert_eq!(a, b);
        let distinct: std::collections::HashSet<&Vec<u8>> = a.iter().collect();
        assert!(distinct.len() > 40, "{}", distinct.len());
    }

    #[test]
    fn every_target_has_a_corpus() {
        for target in ["jsonrpc", "sdp", "candidate", "uri"] {
            assert!(!corpus(target).is_empty());
        }
    }
}
