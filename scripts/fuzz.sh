#!/usr/bin/env bash
# Coverage-guided fuzzing of one of Rheo's parsers with AFL++ (cargo afl, stable Rust), then the
# new inputs it found, minimised, added to fuzz/corpus/<target>/ (which `make test` replays).
#
#   bash scripts/fuzz.sh <jsonrpc|sdp|candidate|uri> [seconds, default 600]
#
# With 0 seconds it only merges what an earlier run left in $RHEO_FUZZ_OUT/<target>.
# Exits non-zero when AFL++ saved a crash or a hang; they stay in $RHEO_FUZZ_OUT/<target>.
set -euo pipefail

target=${1:?usage: fuzz.sh <jsonrpc|sdp|candidate|uri> [seconds]}
seconds=${2:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${RHEO_FUZZ_OUT:-/tmp/rheo-afl}/$target
corpus=$root/fuzz/corpus/$target
[ -d "$corpus" ] || { echo "no corpus for $target" >&2; exit 2; }

if ! cargo afl --version >/dev/null 2>&1; then
    cargo install --locked cargo-afl
fi
cargo afl config --build >/dev/null 2>&1 || true

cd "$root/fuzz/afl"
cargo afl build --release --bin "$target"
binary=$root/fuzz/afl/target/release/$target

if [ "$seconds" -gt 0 ]; then
    rm -rf "$out"
    mkdir -p "$(dirname "$out")"
    # A container's core_pattern and CPU governor are not ours to change; neither changes what
    # is found.
    AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
        cargo afl fuzz -V "$seconds" -i "$corpus" -o "$out" -- "$binary" > "$out.log" 2>&1 || true
fi
stats=$out/default/fuzzer_stats
[ -f "$stats" ] || { tail -20 "$out.log" >&2; exit 1; }
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg)' "$stats"

crashes=$(find "$out/default/crashes" "$out/default/hangs" -type f ! -name README.txt | wc -l)

# Keep the smallest set of inputs that covers what the whole queue covers, under stable names.
# (afl-cmin.awk: the Python afl-cmin counts no edges for persistent-mode Rust targets.)
afl_bin=$(dirname "$(find "$HOME/.local/share/afl.rs" -name afl-cmin.awk | head -1)")
minimised=$out/minimised
rm -rf "$minimised"
AFL_PATH=$afl_bin PATH=$afl_bin:$PATH AFL_SKIP_CPUFREQ=1 \
    "$afl_bin/afl-cmin.awk" -i "$out/default/queue" -o "$minimised" -- "$binary" > "$out.cmin.log" 2>&1
known=$(sha1sum "$corpus"/* | cut -d' ' -f1 | sort -u)
added=0
for input in "$minimised"/*; do
    sum=$(sha1sum "$input" | cut -d' ' -f1)
    if ! grep -qx "$sum" <<< "$known"; then
        cp "$input" "$corpus/afl-${sum:0:16}"
        known+=$'\n'$sum
        added=$((added + 1))
    fi
done
echo "$target: $added new inputs in fuzz/corpus/$target, $crashes crashes or hangs"
[ "$crashes" -eq 0 ]
