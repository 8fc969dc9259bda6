#!/usr/bin/env bash
# The inbox benchmark of BENCHMARKS.md: a workspace of 1,000,000 contacts, 1,000,000 conversations
# and 10,000,000 messages generated into a fresh SQLite database and (when
# PARLEY_TEST_DATABASE_URL is set) a fresh PostgreSQL schema, served by the real server on
# loopback; then p50/p99 of the conversation list under each filter, opening a thread, contact
# search and message search, one request at a time.
#
#   bash bench/inbox.sh                                  # the issue's sizes
#   bash bench/inbox.sh --contacts 100000 --conversations 100000 --messages 1000000   # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p parley --features bench
parley=$PWD/target/release/parley
echo "machine: $(nproc) cores, $(uname -m)"
"$parley" bench inbox "$@"
if [ -n "${PARLEY_TEST_DATABASE_URL:-}" ]; then
  "$parley" bench inbox --postgres "$PARLEY_TEST_DATABASE_URL" "$@"
fi
