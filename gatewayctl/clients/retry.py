"""When and how long to wait before trying a remote call again, and how fast to send them.

Retried: 429 (waiting at least what `Retry-After` asks), 5xx except 501, and connection errors (refused,
reset, timed out). Never retried: other 4xx, which mean the request itself is wrong and would be wrong
again. Back-off is capped exponential with full jitter (AWS Architecture Blog, "Exponential Backoff And
Jitter"): attempt n waits a uniform random time in [0, min(cap, base * 2**n)].
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # the first try included
    base: float = 0.25  # seconds
    cap: float = 8.0  # seconds, the longest back-off between two tries
    max_retry_after: float = 60.0  # a server asking for longer than this is not waited for

    def backoff(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (0-based), full jitter."""
        return float(rng()) * min(self.cap, self.base * 2.0**retry)


def retry_after_seconds(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); None when absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())


@dataclass
class RateLimiter:
    """At most `rps` request starts per second across threads (a token bucket holding one second's worth)."""

    rps: float | None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: float = 0.0

    def acquire(self) -> None:
        if not self.rps:
            return
        interval = 1.0 / self.rps
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + interval
        if start > now:
            self.sleep(start - now)
