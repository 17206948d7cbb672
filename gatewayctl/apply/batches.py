"""Carrying out a plan as batches: one batch after another, the writes of a batch concurrently.

Shared by Kong (DB mode) and both Kuma platforms. After the first write that fails, nothing new starts:
writes already in flight finish, and the outcome lists what was done, what failed and what was left
unchanged, so that the caller can say exactly that and a re-run picks up where this one stopped.
`cancel` (set when `gatewayctl watch` is asked to stop, or when an apply loses its lock) is looked at
between writes: the batch in flight finishes its running writes and later ones are left unchanged. Ctrl-C
(or SIGTERM, which the CLI turns into it) does the same and raises `Interrupted`, which says how far it got.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar, Generic, Protocol, TypeVar

C = TypeVar("C")  # a change
E = TypeVar("E", bound=Exception)  # the error a refused or failed write raises


class Cancel(Protocol):
    """What stops a run between writes: a threading.Event, or several (AnyOf)."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class AnyOf:
    """Set when any of its events is (a stop signal, a lost lock)."""

    events: tuple[Cancel, ...]

    def is_set(self) -> bool:
        return any(event.is_set() for event in self.events)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: the writes in flight were finished, none was started after it. The CLI's
    framework turns any KeyboardInterrupt into exit code 130 and drops it, so the latest is also kept here
    for the CLI to say how far the run got."""

    latest: ClassVar[Interrupted | None] = None

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"{done} of {total} changes were made before the interrupt")
        self.done = done
        self.total = total
        Interrupted.latest = self


@dataclass
class Outcome(Generic[C, E]):
    done: list[C] = field(default_factory=list)
    failed: list[tuple[C, E]] = field(default_factory=list)
    skipped: list[C] = field(default_factory=list)  # not attempted after a failure or a cancel
    begun: list[C] = field(default_factory=list)  # of the skipped, those made in two writes whose first was made
    warnings: list[str] = field(default_factory=list)  # what the server warned about (deprecations)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


def run_batches(
    batches: list[list[C]],
    write: Callable[[C], Iterable[str] | None],
    error: type[E],
    parallelism: int,
    progress: Callable[[C], None] | None = None,
    cancel: Cancel | None = None,
) -> Outcome[C, E]:
    """`write` carries out one change and may return the server's warnings; it raises `error` when the
    change could not be made (any other exception is a bug and propagates)."""
    outcome: Outcome[C, E] = Outcome()
    lock = threading.Lock()
    stop = threading.Event()

    def stopped() -> bool:
        return stop.is_set() or (cancel is not None and cancel.is_set())

    def run(change: C) -> None:
        if stopped():
            with lock:
                outcome.skipped.append(change)
            return
        try:
            warnings = write(change)
        except error as exc:
            stop.set()
            with lock:
                outcome.failed.append((change, exc))
            return
        with lock:
            outcome.done.append(change)
            outcome.warnings.extend(w for w in warnings or () if w not in outcome.warnings)
        if progress:
            progress(change)

    pool = ThreadPoolExecutor(max_workers=max(1, parallelism))
    try:
        for batch in batches:
            if stopped():
                outcome.skipped.extend(batch)
                continue
            list(pool.map(run, batch))
    except KeyboardInterrupt:
        # pool.map queued the whole batch: without this, leaving the pool would wait for all of it to be written
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise Interrupted(len(outcome.done), sum(len(b) for b in batches)) from None
    finally:
        pool.shutdown(wait=True)
    return outcome
