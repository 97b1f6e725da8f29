"""The regular expressions the schema (envoy/lambda-wasm.schema.json) uses for bounded durations.

JSON Schema can bound a duration string only with a `pattern`, so each bound the filter enforces is
compiled here into one. `python3 tests/duration_patterns.py --write` puts them in the schema;
tests/test_schema.py fails while the schema holds other patterns.

The patterns accept a duration written as one term of any unit (`500ms`, `1.5s`, `90m`, `0.25h`), or as
hours, minutes and seconds in that order (`1h30m`, `1m30.5s`, `12h0m0s`): whole hours and minutes, and
below 60 after a larger unit. A leading `+` and leading zeros are allowed. Within that grammar the
comparison with the bounds is exact, down to the nanosecond: a bound whose value in h or m has no
finite decimal (1ms = 0.000000277…h) is rounded inwards to below a nanosecond.

What a pattern cannot do (and the descriptions in the schema say so):
- add terms up: the filter, like Go's `time.ParseDuration`, also reads `30m30m`, `1.5h10m` or `1s500ms`;
  the schema refuses those spellings whatever their value;
- drop what is finer than a nanosecond as the filter does: digits finer than a nanosecond are compared
  exactly here, while the filter, like Go, counts whole nanoseconds, so `60.0000000001s` passes the
  filter's 60s maximum.
"""

import json
import math
import sys
from fractions import Fraction
from pathlib import Path

SCHEMA = Path(__file__).resolve().parent.parent / "envoy" / "lambda-wasm.schema.json"

NS, US, MS, S, M, H = 1, 10**3, 10**6, 10**9, 60 * 10**9, 3600 * 10**9

# The bounds the filter enforces, in nanoseconds, inclusive ($defs name -> (minimum, maximum)).
BOUNDS = {
    # Endpoint timeouts (and the top-level default): 1ms to 1h.
    "timeout": (1 * MS, 1 * H),
    # credentials.refresh_before: positive, at most 1h.
    "refresh_before": (1 * NS, 1 * H),
    # assume_role.duration and web_identity.duration: STS takes whole seconds from 900 to 43200, and the
    # filter counts whole seconds of the duration, so 12h0.999999999s is still 43200.
    "sts_duration": (15 * M, 12 * H + 1 * S - 1 * NS),
}

# (unit, nanoseconds, regex). The first three make composites such as 1h30m5s.
UNITS = [("h", H, "h"), ("m", M, "m"), ("s", S, "s"), ("ms", MS, "ms"), ("us", US, "(?:us|µs|μs)"), ("ns", NS, "ns")]
COMPOSITE = 3


def _alt(parts):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _cls(a, b):
    return str(a) if a == b else f"[{a}-{b}]"


def _rep(n):
    return "" if n == 0 else "[0-9]" if n == 1 else f"[0-9]{{{n}}}"


def _same_len(lo, hi):
    """Digit strings of one length, from lo to hi."""
    if lo == hi:
        return lo
    n = len(lo) - 1
    if lo[1:] == "0" * n and hi[1:] == "9" * n:
        return _cls(lo[0], hi[0]) + _rep(n)
    if lo[0] == hi[0]:
        return lo[0] + _same_len(lo[1:], hi[1:])
    parts = [lo[0] + _same_len(lo[1:], "9" * n)]
    if int(lo[0]) + 1 <= int(hi[0]) - 1:
        parts.append(_cls(int(lo[0]) + 1, int(hi[0]) - 1) + _rep(n))
    parts.append(hi[0] + _same_len("0" * n, hi[1:]))
    return _alt(parts)


def int_range(a, b):
    """An integer from a to b (None: no maximum), leading zeros allowed."""
    if b is not None and a > b:
        return None
    parts = []
    if a == 0:
        parts.append("0")
        if b == 0:
            return "0+"
        a = 1
    first_full = last_full = None  # lengths whose every number is in range
    for length in range(len(str(a)), (len(str(b)) if b is not None else len(str(a))) + 1):
        lo, hi = max(a, 10 ** (length - 1)), min(b if b is not None else 10**length, 10**length - 1)
        if lo == 10 ** (length - 1) and hi == 10**length - 1:
            first_full, last_full = first_full or length, length
        else:
            parts.append(_same_len(str(lo), str(hi)))
    if b is None:
        first_full = first_full or len(str(a)) + 1
        parts.append("[1-9]" + ("[0-9]*" if first_full == 1 else f"[0-9]{{{first_full - 1},}}"))
    elif first_full is not None:
        count = "" if first_full == last_full else f"{{{first_full - 1},{last_full - 1}}}"
        parts.append("[1-9]" + (_rep(first_full - 1) if not count else "[0-9]" + count))
    return "0*" + _alt(parts)


def _run(d):
    return len(d) - len(d.lstrip(d[0]))


# Fraction digits F (maybe none) with 0.F >= 0.D, <= 0.D or in between: (regex, whether F may be empty).
def _ge(d):
    if not d:
        return "[0-9]*", True
    k, c = _run(d), int(d[0])
    parts = [d[:k] + _ge(d[k:])[0]]
    if c != 9:
        parts.append((f"{c}{{0,{k - 1}}}" if k > 1 else "") + _cls(c + 1, 9) + "[0-9]*")
    return _alt(parts), False


def _le(d):
    if not d:
        return "0*", True
    k, c = _run(d), int(d[0])
    parts = [d[:k] + _le(d[k:])[0]]
    if c != 0:
        parts.append((f"{c}{{0,{k - 1}}}" if k > 1 else "") + _cls(0, c - 1) + "[0-9]*")
    if k > 1:
        parts.append(f"{c}{{1,{k - 1}}}")
    return "(?:" + "|".join(parts) + ")?", True


def _between(lo, hi):
    if not lo:
        return _le(hi)
    if not hi or lo[0] > hi[0]:
        return None, False
    if lo[0] == hi[0]:
        rest = _between(lo[1:], hi[1:])[0]
        return (None if rest is None else lo[0] + rest), False
    parts = [lo[0] + _ge(lo[1:])[0], hi[0] + _le(hi[1:])[0]]
    if int(lo[0]) + 1 <= int(hi[0]) - 1:
        parts.insert(1, _cls(int(lo[0]) + 1, int(hi[0]) - 1) + "[0-9]*")
    return _alt(parts), False


def _decimal(x):
    """(integer part, fraction digits) of a non-negative terminating decimal."""
    whole = math.floor(x)
    frac, digits = x - whole, ""
    while frac:
        frac *= 10
        digits += str(math.floor(frac))
        frac -= math.floor(frac)
    return whole, digits


def _inward(x, up, ns_per_unit):
    """x if its decimal ends, else x rounded up (or down) to below a nanosecond of the unit."""
    d = x.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d == 1:
        return x
    scale = 10 ** len(str(ns_per_unit))
    return Fraction(math.ceil(x * scale) if up else math.floor(x * scale), scale)


def _number_with(int_value, frac):
    fre, may_be_empty = frac
    if fre is None:
        return None
    if int_value == 0 and not may_be_empty:  # 0.5 or .5
        return "0*\\." + fre
    int_re = int_range(int_value, int_value)
    parts = [int_re + ("(?:\\." + fre + ")?" if may_be_empty else "\\." + fre)]
    if int_value == 0:
        parts.append("\\.(?=[0-9])" + fre)
    return _alt(parts)


def number(lo, hi, below):
    """A decimal (3, 1.5, .5, 1.) from lo to hi inclusive (hi None: no maximum) and below the integer
    `below` (None: no limit)."""
    li, lf = _decimal(lo)
    if hi is not None and (below is None or hi < below):
        ti, tf = _decimal(hi)
        top = _le(tf)
    else:
        ti, tf, top = (None if below is None else below - 1), None, ("[0-9]*", True)
    if ti is not None and li > ti:
        return None
    if li == ti:
        return _number_with(li, _between(lf, tf) if tf is not None else _ge(lf))
    # Whole numbers whose every fraction is in range, then the two ends if their fraction is bounded.
    free_lo = li if not lf else li + 1
    free_hi = None if ti is None else ti if tf is None else ti - 1
    parts = [] if not lf else [_number_with(li, _ge(lf))]
    if free_hi is None or free_lo <= free_hi:
        parts.append(int_range(free_lo, free_hi) + "(?:\\.[0-9]*)?")
        if free_lo == 0:
            parts.append("\\.[0-9]+")
    if tf is not None:
        parts.append(_number_with(ti, top))
    return _alt(parts)


def terms(first, lo, hi, after):
    """Durations over UNITS[first:] from lo to hi ns (hi None: no maximum). `after`: these terms follow a
    larger unit of a composite, so they are h/m/s terms below 60, whole but for s."""
    parts = []
    for i in range(first, COMPOSITE if after else len(UNITS)):
        name, ns, unit_re = UNITS[i]
        cap = 60 if after else None
        low = _inward(Fraction(lo, ns), True, ns)
        high = None if hi is None else _inward(Fraction(hi, ns), False, ns)
        if after and name != "s":
            top = cap - 1 if high is None else min(cap - 1, math.floor(high))
            last = int_range(math.ceil(low), top)
        else:
            last = number(low, high, cap)
        if last is not None:
            parts.append(last + unit_re)
        if i + 1 >= COMPOSITE:
            continue
        # A whole number a of this unit, then smaller terms worth less than one of it.
        a_lo = -(-lo // ns)  # from a_lo on, any smaller terms meet the minimum
        a_hi = None if hi is None else hi // ns  # below a_hi, any smaller terms meet the maximum
        a_top = a_hi if cap is None else (cap - 1 if a_hi is None else min(a_hi, cap - 1))
        free_top = None if a_top is None else (a_top - 1 if a_top == a_hi else a_top)
        if free_top is None or a_lo <= free_top:
            rest = terms(i + 1, 0, None, True)
            parts.append(int_range(a_lo, free_top) + unit_re + rest)
        for a in sorted({a_lo - 1} | ({a_hi} if a_hi is not None else set())):
            if a < 0 or (a_top is not None and a > a_top) or (a == a_lo - 1 and a * ns >= lo):
                continue
            if a >= a_lo and (free_top is None or a <= free_top):  # already in the free range
                continue
            r_hi = None if hi is None or (a + 1) * ns <= hi else hi - a * ns
            rest = terms(i + 1, max(0, lo - a * ns), r_hi, True)
            if rest is not None:
                parts.append(int_range(a, a) + unit_re + rest)
    return _alt(parts)


def pattern(lo_ns, hi_ns):
    return "^\\+?" + terms(0, lo_ns, hi_ns, False) + "$"


def patterns():
    return {name: pattern(lo, hi) for name, (lo, hi) in BOUNDS.items()}


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
        for name, p in patterns().items():
            schema["$defs"][name]["pattern"] = p
        SCHEMA.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"updated {SCHEMA}")
    else:
        for name, p in patterns().items():
            print(f"{name} ({len(p)} characters):\n{p}\n")
