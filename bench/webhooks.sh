#!/usr/bin/env bash
# The webhook ingest benchmark of BENCHMARKS.md: signed Cloud API batches posted over loopback to
# the real server (signature check, parsing, one transaction per group of waiting webhooks) next
# to a do-nothing endpoint, the durable ceiling and the check-and-parse-only endpoint of the same
# server, in the same run, on SQLite and (when
# PARLEY_TEST_DATABASE_URL is set) PostgreSQL, for batches of 1, 10 and 100 events per POST.
#
#   bash bench/webhooks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p parley --features bench
parley=target/release/parley
echo "machine: $(nproc) cores, $(uname -m); concurrency 32 connections"
for batch in 1 10 100; do
  requests=$(( batch == 1 ? 20000 : (batch == 10 ? 5000 : 1000) ))
  "$parley" bench webhooks --batch "$batch" --requests "$requests" --concurrency 32
  if [ -n "${PARLEY_TEST_DATABASE_URL:-}" ]; then
    "$parley" bench webhooks --batch "$batch" --requests "$requests" --concurrency 32 --postgres "$PARLEY_TEST_DATABASE_URL"
  fi
done
