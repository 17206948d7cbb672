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
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatewayctl.clients.kong_admin import KongAdmin, KongError

LOCK_TAG = "gatewayctl-lock"


class LockHeld(Exception):
    pass


def lock_name(catalog_name: str) -> str:
    return f"gatewayctl-lock.{catalog_name}"


@dataclass
class KongLock:
    client: KongAdmin
    catalog_name: str
    wait: float = 60.0
    stale_after: float = 900.0
    poll: float = 0.5
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    holder_id: str | None = None
    broke_stale: str | None = None

    def tags(self) -> list[str]:
        return holder_tags(self.client.run_id)

    def acquire(self) -> None:
        name = lock_name(self.catalog_name)
        deadline = self.clock() + self.wait
        while True:
            try:
                created = self.client.request(
                    "POST", "/consumers", json={"username": name, "tags": self.tags()}, ok=(201,)
                )
                self.holder_id = str(created.json()["id"])
                return
            except KongError as exc:
                if exc.status != 409:
                    raise
            current = self.client.get_optional(f"/consumers/{name}")
            if current is None:
                continue  # released between our POST and GET: try again at once
            if f"run:{self.client.run_id}" in (current.get("tags") or []):
                self.holder_id = str(current["id"])  # our own POST, whose response was lost and retried
                return
            age = self.clock() - float(current.get("created_at") or 0)
            if age > self.stale_after or holder_is_dead(current):
                self.broke_stale = describe_holder(current)
                self.client.request("DELETE", f"/consumers/{current['id']}", ok=(204, 404))
                continue
            if self.clock() >= deadline:
                raise LockHeld(
                    held_message(self.catalog_name, describe_holder(current), age, self.wait, self.stale_after)
                )
            self.sleep(self.poll)

    def release(self) -> None:
        if self.holder_id:
            self.client.request("DELETE", f"/consumers/{self.holder_id}", ok=(204, 404))
            self.holder_id = None


def held_message(catalog_name: str, holder: str, age: float, wait: float, stale_after: float) -> str:
    return (
        f"another apply of catalog '{catalog_name}' is running ({holder}, for {int(age)} s); waited {int(wait)} s. "
        f"Try again later, or if that apply was killed, the lock is taken over after {int(stale_after)} s"
    )


def describe_holder(consumer: dict[str, Any]) -> str:
    return describe_tags(consumer.get("tags") or [])


def describe_tags(tags: list[Any]) -> str:
    """`held by HOST pid PID` from a lock's holder tags (a Kong lock's, or the ones a Kuma lock records)."""
    for tag in tags:
        if isinstance(tag, str) and tag.startswith("holder:"):
            _, host, pid = [*tag.split(":", 2), "", ""][:3]
            return f"held by {host} pid {pid}"
    return "holder unknown"


def holder_is_dead(consumer: dict[str, Any]) -> bool:
    return tags_name_dead_holder(consumer.get("tags") or [])


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
