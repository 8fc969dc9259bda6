#!/usr/bin/env python3
"""Parley's phone rule (parley-core/src/phone.rs, `normalize` without a default region) written
with Python `phonenumbers`, step for step, for the side-by-side benchmark in BENCHMARKS.md: the
same peeling of exports' wrappings (`tel:`, `="…"`, quotes, labels), the same one-pass scan, the
same `(0)` trunk prefix and the same reasons for refusals. Reads one number per line on stdin and writes its E.164
form or INVALID<TAB>reason, like `parley phone normalize`.

    python3 bench/phone_normalize.py < inputs.txt > out.txt
    python3 bench/phone_normalize.py --bench inputs.txt    # in-memory timing, one JSON line
"""
import json
import sys
import time

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers import ValidationResult as R

MAX_INPUT_CHARS = 64
MAX_INPUT_BYTES = 256
CALLING_CODES = set(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
QUOTE_PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}
DIGIT_ZEROS = (0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0x1040)
SECOND_NUMBER_MARKS = set("+\uff0b,;|\n\r\uff0c")
OTHER_SEPARATORS = set("-./\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\uff0e\uff0f")


class Refused(Exception):
    pass


def is_invisible(c):
    o = ord(c)
    return (o == 0xAD or 0x200B <= o <= 0x200F or 0x202A <= o <= 0x202E or 0x2060 <= o <= 0x2064
            or 0x2066 <= o <= 0x2069 or o == 0xFEFF)


def trim(s):
    a, b = 0, len(s)
    while a < b and (s[a].isspace() or is_invisible(s[a])):
        a += 1
    while b > a and (s[b - 1].isspace() or is_invisible(s[b - 1])):
        b -= 1
    return s[a:b]


def decimal_digit(c):
    if c < "\x80":
        return c if "0" <= c <= "9" else None
    o = ord(c)
    for zero in DIGIT_ZEROS:
        if 0 <= o - zero < 10:
            return chr(48 + o - zero)
    return None


def unquote(s):
    if not s or s[0] not in QUOTE_PAIRS:
        return None
    close = QUOTE_PAIRS[s[0]]
    rest = s[1:]
    return rest[:-1] if rest.endswith(close) else None


def without_label(s):
    if not s.endswith(")"):
        return s
    rest = s[:-1]
    open_at = rest.rfind("(")
    if open_at < 0:
        return s
    number, label = rest[:open_at], rest[open_at + 1:]
    is_label = any(c.isalpha() for c in label) and not any(decimal_digit(c) for c in label)
    return trim(number) if is_label and any(decimal_digit(c) for c in number) else s


def peel(text):
    s = trim(text)
    if s.startswith('="') and s.endswith('"') and len(s) >= 3:
        s = trim(s[2:-1])
    else:
        inner = unquote(s)
        if inner is not None:
            s = trim(inner)
    if s.startswith("'"):
        s = trim(s[1:])
    if s[:4].lower() == "tel:":
        number, _, params = s[4:].partition(";")
        for param in params.split(";") if params else []:
            name = param.split("=")[0].strip().lower()
            if name in ("ext", "isub"):
                raise Refused("extension")
        s = trim(number)
    return without_label(s)


def has_extension(s):
    if not any(c in "xX#eE" for c in s):
        return False
    low = s.lower()
    if "ext" in low or "#" in low:
        return True
    for i, c in enumerate(low):
        if c == "x" and any("0" <= d <= "9" for d in low[:i]):
            after = low[i + 1:].lstrip(" .")
            if after[:1].isdigit() and after[0] < "\x80":
                return True
    return False


def scan(body):
    digits = []
    plus = area_code_first = False
    open_at = trunk_zero = second_at = None
    visible = 0
    for c in body:
        if c >= "\x80" and is_invisible(c):
            continue
        visible += 1
        if visible > MAX_INPUT_CHARS:
            raise Refused("too_long")
        d = decimal_digit(c)
        if d:
            digits.append(d)
            continue
        if c in "+\uff0b" and not digits and not plus:
            plus = True
        elif c in SECOND_NUMBER_MARKS and digits:
            if second_at is None:
                second_at = len(digits)
        elif c in "(\uff08":
            area_code_first = area_code_first or (not digits and not plus)
            open_at = len(digits)
        elif c in ")\uff09":
            if open_at is not None and open_at > 0 and len(digits) == open_at + 1 and digits[-1] == "0":
                trunk_zero = len(digits) - 1
            open_at = None
        elif c.isspace() or c in OTHER_SEPARATORS:
            pass
        else:
            raise Refused("invalid_characters")
    if second_at is not None:
        raise Refused("several_numbers" if len(digits) > second_at else "invalid_characters")
    if not digits:
        raise Refused("empty")
    d = "".join(digits)
    if not plus and d.startswith("00"):
        d, plus = d[2:], True
        if trunk_zero is not None:
            trunk_zero = trunk_zero - 2 if trunk_zero - 2 > 0 else None
    if not d:
        raise Refused("too_short")
    return d, plus, area_code_first and not plus, trunk_zero


def validate(text):
    try:
        number = phonenumbers.parse(text, None)
    except NumberParseException as e:
        raise Refused({0: "invalid_country_code", 1: "not_valid", 2: "too_short", 3: "too_short",
                       4: "too_long"}.get(e.error_type, "not_valid"))
    if number.extension:
        raise Refused("extension")
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    reason = phonenumbers.is_possible_number_with_reason(number)
    raise Refused({R.INVALID_COUNTRY_CODE: "invalid_country_code", R.TOO_SHORT: "too_short",
                   R.TOO_LONG: "too_long", R.INVALID_LENGTH: "invalid_length"}.get(reason, "not_valid"))


def read_international_digits(d, plus):
    if d.startswith("0"):
        raise Refused("invalid_country_code" if plus else "missing_country_code")
    if len(d) > 17:
        raise Refused("too_long")
    return validate("+" + d)


def normalize(text):
    """(E.164, None) or (None, reason), as `parley_core::phone::normalize` with no region."""
    try:
        if len(text.encode("utf-8")) > MAX_INPUT_BYTES:
            raise Refused("too_long")
        body = peel(text)
        if not body:
            raise Refused("empty")
        if has_extension(body):
            raise Refused("extension")
        d, plus, area_code_first, trunk_zero = scan(body)
        if area_code_first:
            raise Refused("missing_country_code")
        if trunk_zero is not None and trunk_zero <= 3 and int(d[:trunk_zero]) in CALLING_CODES:
            try:
                return read_international_digits(d[:trunk_zero] + d[trunk_zero + 1:], plus), None
            except Refused as first:
                try:
                    return read_international_digits(d, plus), None
                except Refused:
                    raise first
        return read_international_digits(d, plus), None
    except Refused as e:
        return None, e.args[0]


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
