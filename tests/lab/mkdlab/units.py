"""tc-style quantities for the lab's command line and Lab(): rates ("1gbit") and times ("5ms").
Pure functions; touch nothing.
"""

from __future__ import annotations

import re

from .common import LabError


def _parse_quantity(text: str, units: dict, what: str, hint: str) -> float:
    """A tc-style "<number><unit>" in the unit table's base unit (LabError when malformed)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m:
        raise LabError(f"bad {what}: {text!r}")
    value, unit = float(m.group(1)), m.group(2).lower()
    if unit not in units:
        raise LabError(f"bad {what} unit in {text!r} (use {hint})")
    return value * units[unit]


def parse_rate(text: str | int) -> int:
    """tc-style rate ("1gbit", "100mbit", "12.5mbps", bare number = bit/s) to bit/s."""
    if isinstance(text, int):
        return text
    bits = {"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
            "kibit": 1024, "mibit": 1024**2, "gibit": 1024**3,
            "bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9}
    rate = int(_parse_quantity(text, bits, "rate", "bit, kbit, mbit, gbit, bps, mbps, ..."))
    if rate < 8000:
        raise LabError(f"rate too small: {text!r}")
    return rate


def parse_time(text: str | int) -> int:
    """tc-style time ("5ms", "200us", "1s", bare number = us) to microseconds."""
    if isinstance(text, int):
        return text
    scale = {"": 1, "us": 1, "usec": 1, "ms": 1e3, "msec": 1e3, "s": 1e6, "sec": 1e6}
    return int(_parse_quantity(text, scale, "time", "us, ms, s"))


def _fmt_rate(bps: int) -> str:
    for unit, div in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if bps >= div and bps % div == 0:
            return f"{bps // int(div)}{unit}"
    return f"{bps}bit"
