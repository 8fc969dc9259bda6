#!/usr/bin/env python3
"""Parley's phone rule (parley-core/src/phone.rs) written with Python `phonenumbers`, for the
side-by-side benchmark in BENCHMARKS.md. Reads one number per line on stdin and writes its E.164
form or INVALID<TAB>reason, like `parley phone normalize`.

    python3 bench/phone_normalize.py < inputs.txt > out.txt
    python3 bench/phone_normalize.py --bench inputs.txt    # in-memory timing, one JSON line
"""
import json
import re
import sys
import time

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

SEPARATORS = set(" \t-.()/\u00a0\u202f\u2007\u2010\u2011\u2012\u2013\u2014\u2015\u2212")
EXTENSION_X = re.compile(r"\d.*x[ .]*\d")


def normalize(text):
    s = text.strip()
    if not s:
        return None, "empty"
    if len(s) > 64:
        return None, "too_long"
    low = s.lower()
    if "ext" in low or "#" in low or ";" in low or EXTENSION_X.search(low):
        return None, "extension"
    digits = []
    plus = False
    for i, c in enumerate(s):
        if "0" <= c <= "9":
            digits.append(c)
        elif c in "+\uff0b" and i == 0:
            plus = True
        elif c in SEPARATORS:
            continue
        else:
            return None, "invalid_characters"
    d = "".join(digits)
    if not d:
        return None, "empty"
    if not plus and d.startswith("00"):
        d, plus = d[2:], True
    if not d:
        return None, "too_short"
    if d.startswith("0"):
        return None, "invalid_country_code" if plus else "missing_country_code"
    if len(d) > 17:
        return None, "too_long"
    try:
        number = phonenumbers.parse("+" + d, None)
    except NumberParseException as e:
        return None, "parse_error_%d" % e.error_type
    if number.extension:
        return None, "extension"
    if not phonenumbers.is_valid_number(number):
        return None, "not_valid"
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), None


def stream():
    out = sys.stdout
    for line in sys.stdin.buffer:
        text = line.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "replace")
        number, reason = normalize(text)
        out.write(number if number else "INVALID\t" + reason)
        out.write("\n")


def bench(path):
    with open(path, encoding="utf-8") as f:
        inputs = [line.rstrip("\n") for line in f]
    for text in inputs[:10000]:
        normalize(text)
    start = time.perf_counter()
    valid = sum(1 for text in inputs if normalize(text)[0])
    secs = time.perf_counter() - start
    print(json.dumps({"inputs": len(inputs), "valid": valid, "seconds": round(secs, 3),
                      "numbers_per_second": round(len(inputs) / secs)}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bench":
        bench(sys.argv[2])
    else:
        stream()
