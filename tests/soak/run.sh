#!/usr/bin/env bash
# The soak of issue 7: tests/soak/run.sh [MINUTES] [CLIENTS] (defaults 30, 32).
# Builds berth in release, runs the soak (tests/soak.rs) and then the crash
# test with 50 rounds (tests/crash.rs). Exits non-zero on any error, on
# memory that grew, or on any crash-safety failure. Output also goes to
# target/soak.log. See README.md.
set -euo pipefail

minutes=${1:-30}
clients=${2:-32}
cd "$(dirname "$0")/../.."

log=target/soak.log
: >"$log"
nice cargo build --release --bin berth 2>&1 | tee -a "$log"
BERTH_SOAK_MINUTES=$minutes BERTH_SOAK_CLIENTS=$clients \
    nice cargo test --release --test soak -- --ignored --nocapture 2>&1 | tee -a "$log"
BERTH_CRASH_ROUNDS=${BERTH_CRASH_ROUNDS:-50} \
    nice cargo test --release --test crash -- --nocapture --test-threads=1 2>&1 | tee -a "$log"
echo "soak: all passed ($minutes min, $clients clients, log in $log)" | tee -a "$log"
