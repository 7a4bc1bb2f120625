#!/usr/bin/env bash
# Runs every fuzz target for a budget, one after another; stops at the first
# crash and prints its artifact. Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail

budget="${1:-300}"
shift || true
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
cargo +nightly fuzz build

for target in "${targets[@]}"; do
    log="$logs/$target.log"
    mkdir -p "corpus/$target"
    # -timeout: an input taking seconds is a finding (say, a YAML alias bomb),
    # not something to wait 20 minutes for.
    dict=()
    if [ -f "dict/$target.dict" ]; then dict=(-dict="dict/$target.dict"); fi
    if ! nice -n 10 cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$budget" -timeout=10 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        # The panic or libFuzzer's error, not the input's byte dump.
        grep -A 12 -m 1 -E "panicked at|ERROR: libFuzzer" "$log" | cut -c 1-300 || tail -n 20 "$log"
        artifact="$(grep -o 'Test unit written to .*' "$log" | tail -1 | cut -d' ' -f5- || true)"
        echo "CRASH in $target: ${artifact:-see the log above}"
        echo "reproduce (in fuzz/): cargo +nightly fuzz run $target ${artifact:-<artifact>}"
        exit 1
    fi
    # The last status line: "#N DONE cov: C ft: F corp: U/Sb ...".
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
    execs="$(grep -o 'number_of_executed_units: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)"
    cov="$(grep -o 'cov: [0-9]*' <<<"$done_line" | cut -d' ' -f2 || true)"
    corp="$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' <<<"$done_line" | cut -d' ' -f2 || true)"
    printf '%-10s %12s execs  cov %6s  corpus %s\n' "$target" "${execs:-?}" "${cov:-?}" "${corp:-?}"
done
