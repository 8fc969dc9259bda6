#!/usr/bin/env bash
# The dispatch benchmark of BENCHMARKS.md: 100,000 queued text replies dispatched by a real
# `parley serve` process to the sandbox at a configured 1,000 messages/s, on SQLite and (when
# PARLEY_TEST_DATABASE_URL is set) PostgreSQL; with an instant provider and with one answering in
# 200 ms (so hundreds of sends are in flight). Reports the achieved rate, the server's CPU time
# and the busiest second the provider saw.
#
#   bash bench/dispatch.sh            # MESSAGES=20000 bash bench/dispatch.sh for a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p parley --features bench
parley=target/release/parley
messages=${MESSAGES:-100000}
echo "machine: $(nproc) cores, $(uname -m)"
for latency in 0 200; do
  "$parley" bench dispatch --messages "$messages" --rate 1000 --latency-ms "$latency"
  if [ -n "${PARLEY_TEST_DATABASE_URL:-}" ]; then
    "$parley" bench dispatch --messages "$messages" --rate 1000 --latency-ms "$latency" --postgres "$PARLEY_TEST_DATABASE_URL"
  fi
done
