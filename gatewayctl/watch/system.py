"""What a watched system (Kong, Kuma ...) offers the watch loop: a plan, counted as drift, and an apply.

A system turns its own errors into the two the loop understands: `CatalogInvalid` (located; the catalog
or the server's capabilities are the problem, retrying will not help) and `RemoteFailure` (the remote
could not be read or written; retried with back-off). Messages are masked before they leave the system."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from gatewayctl.catalog.load import LoadedCatalog


class RemoteFailure(Exception):
    """A remote call failed; `reason` is a metric label (low-cardinality), the message names the call."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass
class Check:
    """One system's plan, as the watch counts and (with --heal) applies it."""

    system: str
    drift: Counter[tuple[str, str]]  # (kind, action) -> objects
    summary: str  # "kong: +1 ~0 -0"
    pending: bool  # apply has something to do
    detail: object = None  # the system's own plan, handed back to its apply

    @property
    def total(self) -> int:
        return sum(self.drift.values())


@dataclass
class Applied:
    """What one apply did. `failure` is a metric label when it did not finish everything."""

    done: int
    left: int  # failed or not attempted
    failure: str | None = None
    messages: list[str] = field(default_factory=list)  # masked, one per problem

    @property
    def ok(self) -> bool:
        return self.failure is None


class System(Protocol):
    name: str
    kinds: tuple[str, ...]  # every object kind it can report, so the drift gauge starts at 0

    def plan(self, loaded: LoadedCatalog) -> Check:
        """The plan exactly as `gatewayctl diff` makes it. Raises CatalogInvalid or RemoteFailure."""
        ...

    def apply(self, loaded: LoadedCatalog, check: Check, cancel: threading.Event) -> Applied:
        """Carry out `check` as `gatewayctl apply` does (lock, snapshot, ordered writes); `cancel` is looked
        at between write batches only. Never raises for remote problems: they are in the result."""
        ...

    def close(self) -> None: ...
