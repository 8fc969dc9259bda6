#!/usr/bin/env bash
# The contacts benchmark of BENCHMARKS.md: a generated 1,000,000-row CSV file (about 10 % of rows
# repeat an earlier person in another format, 2 % are invalid), without and with tags, imported
# by `parley contacts import` into an empty workspace, on SQLite and (when
# PARLEY_TEST_DATABASE_URL is set) PostgreSQL, with the importer's peak memory; then a full
# duplicate run over the result.
#
#   bash bench/contacts.sh            # ROWS=100000 bash bench/contacts.sh for a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p parley --features bench
parley=$PWD/target/release/parley
rows=${ROWS:-1000000}
work=$(mktemp -d)
schema=parley_bench_contacts_$$
cleanup() {
  rm -rf "$work"
  if [ -n "${PARLEY_TEST_DATABASE_URL:-}" ]; then
    psql "$PARLEY_TEST_DATABASE_URL" -qc "set client_min_messages = warning; drop schema if exists $schema cascade" || true
  fi
}
trap cleanup EXIT
"$parley" bench contacts-csv --rows "$rows" --seed 42 > "$work/contacts.csv"
"$parley" bench contacts-csv --rows "$rows" --seed 42 --tags > "$work/tagged.csv"
echo "machine: $(nproc) cores, $(uname -m); files: $rows rows, $(du -h "$work/contacts.csv" | cut -f1) and $(du -h "$work/tagged.csv" | cut -f1) with tags"
run() {
  local label=$1 file=$2
  shift 2
  echo "== $label, $(basename "$file")"
  echo bench-password | "$parley" "$@" --log warn admin bootstrap --workspace bench --email bench@example.com > /dev/null
  /usr/bin/time -f "importer: peak RSS %M KB, wall %e s, CPU user %U s + system %S s" \
    "$parley" "$@" --log warn contacts import "$file" --workspace 1 > "$work/report.json"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print({k: r[k] for k in ("created","updated","unchanged","skipped","rejected","rows_done")})' "$work/report.json"
  "$parley" "$@" --log warn contacts dedupe --workspace 1
}
for file in "$work/contacts.csv" "$work/tagged.csv"; do
  rm -rf "$work/sqlite"
  run sqlite "$file" --data-dir "$work/sqlite"
  if [ -n "${PARLEY_TEST_DATABASE_URL:-}" ]; then
    psql "$PARLEY_TEST_DATABASE_URL" -qc "set client_min_messages = warning; drop schema if exists $schema cascade; create schema $schema"
    run postgres "$file" --data-dir "$work/pg" --database-url "$PARLEY_TEST_DATABASE_URL?options=-csearch_path%3D$schema"
  fi
done
