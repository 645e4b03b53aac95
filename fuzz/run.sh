#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, two at a time, seeding each
# corpus with the bundled samples. Crashes land in fuzz/artifacts/TARGET/; turn each into a
# regression test in the normal suite (tests/hostile.rs) before fixing it.
#
#   fuzz/run.sh 600                 # every target, 10 minutes each
#   fuzz/run.sh 60 framing layouts  # two targets, one minute each
#
# Needs cargo-fuzz (installed here if missing) and libFuzzer, which runs on the stable
# toolchain with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(time_prefix framing layouts requests patterns)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export RUSTC_BOOTSTRAP=1
# No sanitizer: the crate has no unsafe code on these paths; panics, overflows (debug
# assertions on) and hangs are what the fuzzer looks for.
flags=(-s none --debug-assertions -O)
cargo fuzz build "${flags[@]}"
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    case $t in
        patterns) cp ../patterns/*.toml "corpus/$t/" ;;
        *) for f in ../samples/*.log ../samples/*.jsonl; do head -c 4096 "$f" > "corpus/$t/$(basename "$f")"; done ;;
    esac
done
run() {
    local t=$1
    cargo fuzz run "${flags[@]}" "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=8192 \
        -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 >"logs/$t.log" 2>&1 \
        && echo "$t: ok" || echo "$t: FAILED (see fuzz/logs/$t.log and fuzz/artifacts/$t)"
    grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|cov:" "logs/$t.log" | tail -3
}
i=0
for t in "${targets[@]}"; do
    run "$t" &
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
