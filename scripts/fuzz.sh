#!/usr/bin/env bash
# Runs authlink's fuzz targets (fuzz/fuzz_targets: callback URLs and allowlists, JSON bodies and
# ACLs, catalog files, whole API requests with list queries) for a set time each, with libFuzzer
# (libfuzzer-sys) and SanitizerCoverage on the nightly toolchain. Not part of CI.
#
#   bash scripts/fuzz.sh [seconds per target, default 60] [target ...]
#
# Uses `cargo fuzz` when installed (with AddressSanitizer); otherwise builds the targets itself
# with the same coverage flags (no sanitizer). Prints executions and findings per target; crash
# inputs land in fuzz/artifacts/<target>/, the corpus in fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECS=${1:-60}
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(callback_url json_bodies catalog api_requests)

if command -v cargo-fuzz >/dev/null; then
    run() { cargo +nightly fuzz run "$1" -- -max_total_time="$SECS" 2>&1; }
else
    export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
    echo "fuzz: building the targets (nightly, SanitizerCoverage, no sanitizer: cargo-fuzz is not installed)" >&2
    # An explicit --target keeps the flags off the build scripts (as cargo-fuzz does).
    TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
    cargo +nightly build --release --bins --target "$TRIPLE" --target-dir target </dev/null >&2
    run() {
        mkdir -p "corpus/$1" "artifacts/$1"
        "target/$TRIPLE/release/$1" -max_total_time="$SECS" -artifact_prefix="artifacts/$1/" "corpus/$1" 2>&1
    }
fi

status=0
summary=()
for target in "${TARGETS[@]}"; do
    echo "== fuzz $target for ${SECS}s" >&2
    log=$(mktemp)
    if run "$target" >"$log"; then result=ok; else result=FINDING; status=1; fi
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+|Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
    summary+=("$(printf '%-14s %-8s executions: %s' "$target" "$result" "${execs:-?}")")
    [[ $result == ok ]] || tail -40 "$log" >&2
    rm -f "$log"
done
printf '%s\n' "${summary[@]}"
exit "$status"
