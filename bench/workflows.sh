#!/usr/bin/env bash
# The workflow benchmark of BENCHMARKS.md (issue 18): 10,000 conversations opened within a minute,
# each starting a five-step workflow with a wait (trigger → first step p50/p99, runs/s); then
# ingest events/s without, with 1,000,000 pending waits in the database, and without again.
# SQLite, and PostgreSQL when PARLEY_TEST_DATABASE_URL is set.
#
#   bash bench/workflows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p parley --features bench
parley=target/release/parley
echo "machine: $(nproc) cores, $(uname -m)"
"$parley" bench workflows "$@"
if [ -n "${PARLEY_TEST_DATABASE_URL:-}" ]; then
  "$parley" bench workflows --postgres "$PARLEY_TEST_DATABASE_URL" "$@"
fi
