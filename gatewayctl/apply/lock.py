"""One apply at a time per catalog and Kong, across machines: a lock held in Kong itself.

The lock is a consumer named `gatewayctl-lock.<catalog>` (no credentials, so nothing can authenticate as
it) tagged `gatewayctl-lock` and with the holder's host, pid and run id. Taking it is `POST /consumers`:
Kong's unique constraint on `username` makes exactly one of two racing applies get 201, the other 409.
The loser polls until `wait` seconds have passed, then gives up with the holder's name. A lock older than
`stale_after` seconds (its holder was killed) is removed and taken over, and so is at once a lock whose
holder ran in this very process space (same host, boot and pid namespace) and no longer exists, so that
re-running an apply that was killed does not wait. Releasing is `DELETE`.

Only an apply that has something to write takes the lock (a no-change apply writes nothing at all), and it
plans again once it holds it, so it never acts on a state another apply has just changed.

`take_lock` is the waiting, staleness and dead-holder logic; a `LockStore` is where a lock is held: Kong's
consumer here, Kuma's GlobalSecret in `kuma_lock.py`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

from gatewayctl.clients.kong_admin import KongAdmin, KongError

LOCK_TAG = "gatewayctl-lock"


class LockHeld(Exception):
    pass


def lock_name(catalog_name: str) -> str:
    return f"gatewayctl-lock.{catalog_name}"


@dataclass
class LockRecord:
    """A lock as read back from where it is held."""

    tags: list[str]  # who holds it (holder_tags)
    created_at: float  # seconds since the epoch, by the server's clock
    ours: bool  # made by this very run (our create's answer was lost)
    key: str  # what removing it takes


class LockStore(Protocol):
    """Where a lock is held (a record only one client can create), and how long to wait for it."""

    @property
    def catalog_name(self) -> str: ...

    @property
    def wait(self) -> float:
        """Seconds to wait for another holder."""

    @property
    def stale_after(self) -> float:
        """Seconds after which a holder's lock is taken over."""

    @property
    def poll(self) -> float: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def sleep(self) -> Callable[[float], None]: ...

    @property
    def last_failure(self) -> str | None:
        """The call that last failed to make the record, when a failure rather than another holder kept it."""

    def create(self) -> str | None:
        """Make the record naming us: its key, or None when another holds it (or won a race for it)."""

    def read(self) -> LockRecord | None: ...

    def remove(self, key: str) -> None: ...


def take_lock(store: LockStore) -> tuple[str, str | None]:
    """Poll until the lock is ours: (its key, the holder whose stale or dead lock was taken over, if any).
    LockHeld after `store.wait` seconds of another holder keeping it."""
    clock, wait, stale_after = store.clock, store.wait, store.stale_after
    deadline = clock() + wait
    broke_stale: str | None = None
    unreadable = 0  # creates refused as taken, each followed by a read that finds no lock
    while True:
        key = store.create()
        if key is not None:
            return key, broke_stale
        current = store.read()
        if current is None:
            # Released between our create and our read: try again at once. A lock refused as taken time
            # after time yet never found is the server's fault: polled, and given up at the deadline.
            unreadable += 1
            if unreadable > 1 and clock() >= deadline:
                why = (
                    f"its create failed every time (the last: {store.last_failure})"
                    if store.last_failure
                    else "its create was refused as taken every time, yet reading it found none"
                )
                raise LockHeld(f"the lock of catalog '{store.catalog_name}' could not be taken in {int(wait)} s: {why}")
            if unreadable > 1:
                store.sleep(store.poll)
            continue
        if current.ours:
            return current.key, broke_stale
        age = clock() - current.created_at
        if age > stale_after or tags_name_dead_holder(current.tags):
            broke_stale = describe_tags(current.tags)
            store.remove(current.key)
            continue
        if clock() >= deadline:
            raise LockHeld(held_message(store.catalog_name, describe_tags(current.tags), age, wait, stale_after))
        store.sleep(store.poll)


@dataclass(kw_only=True)
class HeldWhileInside:
    """A LockStore's lock taken by `acquire` (take_lock) and given back by `release`; as a context manager,
    held for the block. A release whose call fails (`release_errors`) is left to go stale and be taken over:
    what ran under the lock matters more than the lock. Subclasses add `client` and `catalog_name` (the
    positional arguments) and the LockStore calls."""

    release_errors: ClassVar[tuple[type[Exception], ...]] = ()
    wait: float = 60.0
    stale_after: float = 900.0
    poll: float = 0.5
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    held_key: str | None = None  # the record this run holds (what `remove` takes), None when not held
    last_failure: str | None = None  # LockStore.last_failure
    broke_stale: str | None = None  # the holder of a stale lock taken over, described

    @property
    def held(self) -> bool:
        return self.held_key is not None

    def acquire(self) -> None:
        store: Any = self  # a LockStore too: the subclasses add create/read/remove
        self.held_key, self.broke_stale = take_lock(store)

    def release(self) -> None:
        if self.held_key is not None:
            store: Any = self
            store.remove(self.held_key)
            self.held_key = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(*self.release_errors):
            self.release()


@dataclass
class KongLock(HeldWhileInside):
    release_errors: ClassVar[tuple[type[Exception], ...]] = (KongError,)

    client: KongAdmin
    catalog_name: str

    # LockStore: a consumer, whose unique username lets one POST of two succeed

    def create(self) -> str | None:
        body = {"username": lock_name(self.catalog_name), "tags": holder_tags(self.client.run_id)}
        try:
            response = self.client.request("POST", "/consumers", json=body, ok=(201,))
        except KongError as exc:
            if exc.status != 409:
                raise
            return None
        try:
            return str(self.client.entity(response, "/consumers")["id"])
        except KongError:
            # An answer that does not show the lock (a proxy's, a cut one) may still have made it: then it is
            # ours, to hold and release, rather than left to block every apply until it goes stale.
            record = self.read()
            if record is not None and record.ours:
                return record.key
            raise

    def read(self) -> LockRecord | None:
        path = f"/consumers/{lock_name(self.catalog_name)}"
        response = self.client.request("GET", path, ok=(200, 404))
        if response.status_code == 404:
            return None
        current = self.client.entity(response, path)
        tags = [t for t in current.get("tags") or [] if isinstance(t, str)]
        # our run's tag: our own POST, whose answer was lost and which the retry found taken
        ours = f"run:{self.client.run_id}" in tags
        return LockRecord(tags, float(current.get("created_at") or 0), ours, str(current["id"]))

    def remove(self, key: str) -> None:
        self.client.request("DELETE", f"/consumers/{key}", ok=(204, 404))


def describe_record(record: LockRecord, now: float) -> str:
    """`held by HOST pid PID, for N s`: who holds a lock, for `gatewayctl status`."""
    return f"{describe_tags(record.tags)}, for {max(0, int(now - record.created_at))} s"


def held_message(catalog_name: str, holder: str, age: float, wait: float, stale_after: float) -> str:
    return (
        f"another apply of catalog '{catalog_name}' is running ({holder}, for {int(age)} s); waited {int(wait)} s. "
        f"Try again later, or if that apply was killed, the lock is taken over after {int(stale_after)} s"
    )


def describe_tags(tags: list[Any]) -> str:
    """`held by HOST pid PID` from a lock's holder tags (a Kong lock's, or the ones a Kuma lock records)."""
    for tag in tags:
        if isinstance(tag, str) and tag.startswith("holder:"):
            _, host, pid = [*tag.split(":", 2), "", ""][:3]
            return f"held by {host} pid {pid}"
    return "holder unknown"


def tags_name_dead_holder(all_tags: list[Any]) -> bool:
    """True only when the holder ran where this process runs (same host, boot and pid namespace: the pid
    means the same process) and that pid is gone. Anywhere else nothing can be known: False."""
    tags = [t for t in all_tags if isinstance(t, str)]
    space = process_space()
    if not space or f"pids:{space}" not in tags:
        return False
    for tag in tags:
        if tag.startswith("holder:"):
            _, host, pid = [*tag.split(":", 2), "", ""][:3]
            if host != _host() or not pid.isdigit() or int(pid) == os.getpid():
                return False
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except OSError:  # exists, owned by someone else
                return False
            return False
    return False


def holder_tags(run_id: str) -> list[str]:
    """Who holds a lock: this host and pid, the run, and where the pid means this process."""
    tags = [LOCK_TAG, f"holder:{_host()}:{os.getpid()}", f"run:{run_id}"]
    space = process_space()
    return [*tags, f"pids:{space}"] if space else tags


def process_space() -> str | None:
    """Where a pid names one process: this boot's id and the pid namespace (Linux); None elsewhere."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}.{namespace}"


def _host() -> str:
    return "".join(ch if ch.isalnum() or ch in "-._" else "-" for ch in socket.gethostname())[:60]
