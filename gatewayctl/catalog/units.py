"""Durations (`250ms`, `5s`, `1m`, `2h`, `1d`) and sizes (`512k`, `10m`, `1g`, bytes) as the catalog writes them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_SIZE = re.compile(r"^(\d+)([kmg]?)$")
_SIZE_BYTES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

DURATION_PATTERN = r"^\d+(ms|s|m|h|d)$"
SIZE_PATTERN = r"^\d+[kmg]?$"


@dataclass(frozen=True, order=True)
class Duration:
    ms: int
    text: str

    @property
    def seconds(self) -> float:
        return self.ms / 1000

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class DurationRange:
    low: Duration
    high: Duration

    def __str__(self) -> str:
        return f"{self.low}..{self.high}"


@dataclass(frozen=True, order=True)
class Size:
    bytes: int
    text: str

    def __str__(self) -> str:
        return self.text


def parse_duration(value: object) -> Duration:
    if isinstance(value, bool) or not isinstance(value, str):
        hint = " (a unit is required)" if isinstance(value, int | float) and not isinstance(value, bool) else ""
        raise ValueError(f"must be a duration such as 250ms, 5s, 1m, 2h or 1d{hint} (got {value!r})")
    return _parse_duration_text(value)


# A catalog repeats the same few durations thousands of times (timeouts on every service); Duration is
# immutable, so one object per text serves them all. Errors are raised anew each time (not cached).
@functools.lru_cache(maxsize=1024)
def _parse_duration_text(value: str) -> Duration:
    match = _DURATION.match(value.strip())
    if not match:
        hint = " (a unit is required)" if value.strip().isdigit() else ""
        raise ValueError(f"must be a duration such as 250ms, 5s, 1m, 2h or 1d{hint} (got {value!r})")
    amount, unit = match.groups()
    return Duration(int(amount) * _DURATION_MS[unit], value.strip())


def parse_whole_seconds(value: object) -> Duration:
    """A duration Kong stores in whole seconds (TTLs, max ages, token lifetimes): 1500ms would be cut."""
    duration = parse_duration(value)
    if duration.ms % 1000:
        raise ValueError(f"Kong counts this in whole seconds; use s, m, h or d (got {value!r})")
    return duration


def parse_duration_range(value: object) -> DurationRange:
    if not isinstance(value, str) or ".." not in value:
        raise ValueError(f"must be a range of two durations such as 25ms..250ms (got {value!r})")
    low_text, high_text = value.split("..", 1)
    low, high = parse_duration(low_text), parse_duration(high_text)
    if low.ms > high.ms:
        raise ValueError(f"the first duration must not exceed the second (got {value!r})")
    return DurationRange(low, high)


def parse_size(value: object) -> Size:
    if isinstance(value, bool):
        raise ValueError(f"must be a size such as 512k, 10m, 1g or a number of bytes (got {value!r})")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must not be negative (got {value})")
        return Size(value, str(value))
    if isinstance(value, str):
        match = _SIZE.match(value.strip().lower())
        if match:
            amount, unit = match.groups()
            return Size(int(amount) * _SIZE_BYTES[unit], value.strip())
    raise ValueError(f"must be a size such as 512k, 10m, 1g or a number of bytes (got {value!r})")
