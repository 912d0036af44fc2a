#!/bin/sh
# A short run of every fuzz target (fuzz/): about 20 s each (FUZZ_SECONDS), one
# job, from the corpus kept in the repo, which it does not grow (new inputs go to
# a scratch directory). Needs the nightly toolchain and cargo-fuzz; where either
# is missing it says so and succeeds, so that CI can call it everywhere.
# Exits non-zero if a target crashes (the input is left in fuzz/artifacts/).
set -eu
cd "$(dirname "$0")/.."
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: skipped (no nightly/cargo-fuzz)"
    exit 0
fi
seconds="${FUZZ_SECONDS:-20}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo +nightly fuzz list); do
    mkdir -p "$scratch/$target"
    echo "fuzz: $target for ${seconds}s"
    if ! cargo +nightly fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$scratch/$target.log" 2>&1; then
        tail -n 40 "$scratch/$target.log"
        echo "fuzz: $target FAILED"
        exit 1
    fi
    grep -E '^Done|stat::number_of_executed_units' "$scratch/$target.log" | sed "s/^/fuzz: $target: /"
done
echo "fuzz: ok"
