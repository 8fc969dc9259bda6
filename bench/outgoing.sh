#!/usr/bin/env bash
# The outgoing webhook benchmark of BENCHMARKS.md (issue 17): 100,000 message.received events
# delivered by the real worker to a receiver on loopback while inbound webhooks arrive at 1,000
# events/s; then ten receivers and nine plus one that never answers, twice in turn (20,000 events
# each); then a paused subscription's backlog drained at full speed. SQLite, and PostgreSQL when
# PARLEY_TEST_DATABASE_URL is set.
#
#   bash bench/outgoing.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p parley --features bench
parley=target/release/parley
echo "machine: $(nproc) cores, $(uname -m)"
"$parley" bench outgoing
if [ -n "${PARLEY_TEST_DATABASE_URL:-}" ]; then
  "$parley" bench outgoing --postgres "$PARLEY_TEST_DATABASE_URL"
fi
