"""Pausing Python's cyclic garbage collector while a catalog is loaded or rendered.

Loading a large catalog allocates millions of small, long-lived objects (YAML nodes, dicts, models) and
almost no reference cycles, so each automatic collection rescans a growing heap for garbage that is not
there: for 10,000 services that was more than half of the run time. Plain reference counting still frees
everything. When the block ends, what it allocated is moved to the collector's permanent generation
(`gc.freeze`, a constant-time splice) before the collector is switched back on (if it was on): otherwise
its first pass would rescan every object the block made, which cost 1.6 s at 10,000 services. Frozen
objects are still freed by reference counting; only reference cycles among them wait for `gc.unfreeze()`,
which a long-running process (the drift watch) calls between passes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
