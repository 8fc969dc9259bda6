#!/usr/bin/env bash
# The inbound crash test at full size: the sandbox delivers 50,000 webhook events (batches of 50,
# half of them duplicated) while `parley serve` is killed with SIGKILL and restarted 8 times.
# Every acknowledged event must be stored exactly once, and every event must end up stored.
# SQLite always; PostgreSQL too when PARLEY_TEST_DATABASE_URL is set.
#
#   bash bench/crash.sh [EVENTS] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
export PARLEY_CRASH_EVENTS=${1:-50000}
export PARLEY_CRASH_KILLS=${2:-8}
cargo test --release -p parley --test crash -- --nocapture --test-threads 1
