#!/usr/bin/env bash
# The per-provider benchmarks of BENCHMARKS.md (issue 20), each provider next to Meta's in the
# same run, on SQLite and (when PARLEY_TEST_DATABASE_URL is set) PostgreSQL:
# - ingest: Meta's webhooks, then as many Twilio, 360dialog and MessageBird posts, one event per
#   post (`parley bench webhooks --providers`);
# - dispatch: a full outbox sent at 1,000 msg/s with statuses, through Meta, then through
#   360dialog, Twilio and MessageBird (`parley bench dispatch --provider …`), each played by the
#   sandbox.
# Target: each within 20 % of Meta's.
#
#   bash bench/providers.sh       # MESSAGES=20000 REQUESTS=10000 bash bench/providers.sh for a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p parley --features bench
parley=target/release/parley
messages=${MESSAGES:-50000}
requests=${REQUESTS:-20000}
echo "machine: $(nproc) cores, $(uname -m)"
engines=("")
if [ -n "${PARLEY_TEST_DATABASE_URL:-}" ]; then engines+=("--postgres $PARLEY_TEST_DATABASE_URL"); fi
for engine in "${engines[@]}"; do
  # shellcheck disable=SC2086
  "$parley" bench webhooks --batch 1 --requests "$requests" --concurrency 8 --providers $engine
  for provider in meta 360dialog twilio messagebird; do
    # shellcheck disable=SC2086
    "$parley" bench dispatch --messages "$messages" --rate 1000 --statuses --provider "$provider" $engine
  done
done
