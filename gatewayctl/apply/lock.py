"""One apply at a time per catalog and Kong, across machines: a lock held in Kong itself.

The lock is a consumer named `gatewayctl-lock.<catalog>` (no credentials, so nothing can authenticate as
it) tagged `gatewayctl-lock` and with the holder's host, pid and run id. Taking it is `POST /consumers`:
Kong's unique constraint on `username` makes exactly one of two racing applies get 201, the other 409.
The loser polls until `wait` seconds have passed, then gives up with the holder's name. A lock older than
`stale_after` seconds (its holder was killed) is removed and taken over. Releasing is `DELETE`.

Only an apply that has something to write takes the lock (a no-change apply writes nothing at all), and it
plans again once it holds it, so it never acts on a state another apply has just changed.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
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
        host = "".join(ch if ch.isalnum() or ch in "-._" else "-" for ch in socket.gethostname())[:60]
        return [LOCK_TAG, f"holder:{host}:{os.getpid()}", f"run:{self.client.run_id}"]

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
            if age > self.stale_after:
                self.broke_stale = describe_holder(current)
                self.client.request("DELETE", f"/consumers/{current['id']}", ok=(204, 404))
                continue
            if self.clock() >= deadline:
                raise LockHeld(
                    f"another apply of catalog '{self.catalog_name}' is running ({describe_holder(current)}, "
                    f"for {int(age)} s); waited {int(self.wait)} s. Try again later, or if that apply was killed, "
                    f"the lock is taken over after {int(self.stale_after)} s"
                )
            self.sleep(self.poll)

    def release(self) -> None:
        if self.holder_id:
            self.client.request("DELETE", f"/consumers/{self.holder_id}", ok=(204, 404))
            self.holder_id = None


def describe_holder(consumer: dict[str, Any]) -> str:
    for tag in consumer.get("tags") or []:
        if isinstance(tag, str) and tag.startswith("holder:"):
            _, host, pid = [*tag.split(":", 2), "", ""][:3]
            return f"held by {host} pid {pid}"
    return "holder unknown"
