#!/usr/bin/env bash
# The phone-normalization benchmark of BENCHMARKS.md: Parley (Rust, rlibphonenumber) next to
# Python phonenumbers doing the same rule on the same 1,000,000 inputs, in the same run.
#
#   bash bench/phone.sh [COUNT] [MIX]
#
# MIX is `standard` (the project's own mix, 5 % to refuse) or `varied` (30 countries in the
# spellings exports hold, about 20 % to refuse; see crates/parley/src/commands/bench/phone_mix.rs).
# With `varied`, the refused inputs are also timed on their own, one reason at a time.
#
# Prints, for each side, the in-memory rate (normalize only) and the streaming rate (stdin →
# stdout, as `parley phone normalize` runs), and how many outputs agree.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
mix=${2:-standard}
out=bench/out
mkdir -p "$out"

cargo build --release -q -p parley --features bench
parley=target/release/parley

if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q 'phonenumbers==9.0.42'
fi
py=bench/.venv/bin/python

"$parley" bench phone-inputs --count "$count" --seed 42 --mix "$mix" > "$out/phone-inputs.txt"
echo "inputs: $count lines of the $mix mix ($(grep -c . "$out/phone-inputs.txt") non-empty), machine: $(nproc) cores, $(uname -m)"

echo "in memory (normalize only, one thread):"
printf '  parley: '; "$parley" bench phone --input "$out/phone-inputs.txt"
printf '  python: '; "$py" bench/phone_normalize.py --bench "$out/phone-inputs.txt"

echo "streaming (stdin -> stdout):"
stream() {
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" < "$out/phone-inputs.txt" > "$out/phone-$name.txt"
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print('  %s: %.3f s, %.0f numbers/s' % (sys.argv[3], s, int(sys.argv[4])/s))" "$start" "$end" "$name" "$count"
}
stream parley "$parley" phone normalize
stream python "$py" bench/phone_normalize.py

python3 - "$out/phone-parley.txt" "$out/phone-python.txt" <<'PY'
import sys
a = [l.split("\t")[0] for l in open(sys.argv[1], encoding="utf-8")]
b = [l.split("\t")[0] for l in open(sys.argv[2], encoding="utf-8")]
same = sum(1 for x, y in zip(a, b) if x == y)
print("agreement: %d of %d outputs identical (valid numbers equal, or both invalid)" % (same, len(a)))
for i, (x, y) in enumerate(zip(a, b)):
    if x != y:
        print("  first difference at line %d: parley=%r python=%r" % (i + 1, x.strip(), y.strip()))
        break
PY

if [ "$mix" = varied ]; then
  echo "refused inputs, one reason at a time (in memory):"
  rm -f "$out"/refused-*.txt
  paste "$out/phone-python.txt" "$out/phone-inputs.txt" |
    awk -F'\t' -v dir="$out" '$1 == "INVALID" { print $3 > (dir "/refused-" $2 ".txt") }'
  for file in "$out"/refused-*.txt; do
    reason=$(basename "$file" .txt)
    echo "  ${reason#refused-} ($(wc -l < "$file") inputs)"
    printf '    parley: '; "$parley" bench phone --input "$file"
    printf '    python: '; "$py" bench/phone_normalize.py --bench "$file"
  done
fi
