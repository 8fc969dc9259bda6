#!/usr/bin/env bash
# The fees benchmark of BENCHMARKS.md (issue 19): the dispatch benchmark with the sandbox
# reporting statuses, fees off then fees on in the same run (every reply priced and held when
# queued, charged by the fees worker at delivery), on SQLite and (when PARLEY_TEST_DATABASE_URL
# is set) PostgreSQL. Target: fees on is less than 10 % slower (msg/s, and CPU next to it).
#
#   bash bench/fees.sh            # MESSAGES=20000 bash bench/fees.sh for a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p parley --features bench
parley=target/release/parley
messages=${MESSAGES:-100000}
echo "machine: $(nproc) cores, $(uname -m)"
for fees in "" --fees; do
  "$parley" bench dispatch --messages "$messages" --rate 1000 --statuses $fees
  if [ -n "${PARLEY_TEST_DATABASE_URL:-}" ]; then
    "$parley" bench dispatch --messages "$messages" --rate 1000 --statuses $fees --postgres "$PARLEY_TEST_DATABASE_URL"
  fi
done
