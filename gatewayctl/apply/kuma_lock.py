"""One Kuma apply at a time per catalog and control plane, across machines: a lock held in Kuma itself.

**Universal** (the Kuma HTTP API has no conditional writes, but its create is atomic): the lock is a
GlobalSecret `gatewayctl-lock-<catalog>` whose data records the holder (host, pid, run). `PUT` of a name
that does not exist creates it and answers 201; two racing creates get 201 and 409 (the store's create
fails with AlreadyExists: kumahq/kuma `pkg/api-server/resource_endpoints.go` createOrUpdateResource,
`pkg/core/rest/errors/error_handler.go`). So an apply takes the lock only when its `GET` says it is absent
and its single, never retried `PUT` answers 201. A `PUT` that answers 200 found the lock after all (made
between the two calls) and wrote over its holder record; the loser then blanks that record (holder
unknown), so that nothing takes the lock over on the loser's account. Staleness is judged from
`creationTime`, which an update keeps. Secrets are admin resources in Kuma: the apply's token must be an
admin's (Kuma's default `access.static.adminResources`).

**Kubernetes**: a `coordination.k8s.io/v1` Lease `gatewayctl-apply-<catalog>` in Kuma's namespace, taken
and renewed the way `gatewayctl watch` elects its leader (`apply/lease.py`): the API server's
resourceVersion makes the take-over atomic; a killed holder's Lease expires after `duration` seconds; an
apply whose renewals fail stops between write batches (`lost` is set) before anyone else may take over.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from gatewayctl.apply.lease import LeaderElector
from gatewayctl.apply.lock import LOCK_TAG, HeldWhileInside, LockHeld, LockRecord, holder_tags
from gatewayctl.clients.kuma_api import KumaApi, KumaError

LOCK_LABEL = "gatewayctl.io/lock"
BLANK = [LOCK_TAG]  # a holder record that names nobody (see _disown)


@dataclass
class HeldLock:
    """What an apply holding a Kuma lock needs to know: `lost` is set when it must stop writing."""

    lost: threading.Event = field(default_factory=threading.Event)
    broke_stale: str | None = None


def universal_lock_path(catalog_name: str) -> str:
    return f"/global-secrets/gatewayctl-lock-{catalog_name}"


def lease_name(catalog_name: str) -> str:
    return f"gatewayctl-apply-{catalog_name}"


@dataclass
class UniversalLock(HeldWhileInside):
    release_errors: ClassVar[tuple[type[Exception], ...]] = (KumaError,)

    client: KumaApi
    catalog_name: str

    @property
    def path(self) -> str:
        return universal_lock_path(self.catalog_name)

    # LockStore: a GlobalSecret, made only by a PUT that answers 201

    def create(self) -> str | None:
        with _admins_only():
            if self._current() is not None:
                return None
            return self.path if self._create() else None

    def read(self) -> LockRecord | None:
        with _admins_only():
            current = self._current()
        if current is None:
            return None
        created = _timestamp(current.get("creationTime"))
        return LockRecord(recorded_tags(current), created, self._created_by_us(current), self.path)

    def remove(self, key: str) -> None:
        self.client.request("DELETE", key, ok=(200, 204, 404))

    def _current(self) -> dict[str, Any] | None:
        """The lock's GlobalSecret, None when there is none; an answer of another shape is the API's error."""
        current = self.client.get_optional(self.path)
        if current is not None and not isinstance(current, dict):
            detail = f"the answer is not a Kuma resource: is {self.client.endpoint.display()} the right URL?"
            raise self.client.error("GET", self.path, 200, None, detail, 1)
        return current

    def _body(self, tags: list[str]) -> dict[str, Any]:
        record = json.dumps({"catalog": self.catalog_name, "tags": tags}, sort_keys=True)
        return {
            "type": "GlobalSecret",
            "name": self.path.rsplit("/", 1)[1],
            "labels": {LOCK_LABEL: self.catalog_name},
            "data": base64.b64encode(record.encode()).decode(),
        }

    def _create(self) -> bool:
        """True when our PUT created the lock. Sent once: a retried PUT could update what it just made."""
        try:
            response = self.client.request(
                "PUT", self.path, json=self._body(holder_tags(self.client.run_id)), ok=(200, 201), retry=False
            )
            self.client.written(response, self.path)
        except KumaError as exc:
            if exc.status == 409:
                return False  # a racing create won
            if exc.status == 429:  # refused before any work: look again after a pause
                self.sleep(max(self.poll, 1.0))
                return False
            if exc.status is not None and exc.status < 500 and exc.status not in (200, 201):
                raise
            # no answer, a server error, or a 200/201 that is not Kuma's (a proxy's page): did it get written?
            current = self._current()
            if current is None or f"run:{self.client.run_id}" not in recorded_tags(current):
                self.last_failure = exc.describe()
                return False
            if self._created_by_us(current):
                return True
            self._disown()
            return False
        if response.status_code == 201:
            return True
        self._disown()
        return False

    def _created_by_us(self, current: dict[str, Any]) -> bool:
        """Our record, never updated since it was created (an update means we wrote over another's lock)."""
        return f"run:{self.client.run_id}" in recorded_tags(current) and current.get("creationTime") == current.get(
            "modificationTime"
        )

    def _disown(self) -> None:
        """We wrote our holder record over the lock another apply had just made: blank it, so that our exit
        cannot look like its holder's death. A 201 means that apply released it meanwhile and the blank
        lock is ours alone: remove it."""
        response = self.client.request("PUT", self.path, json=self._body(BLANK), ok=(200, 201))
        self.client.written(response, self.path)
        if response.status_code == 201:
            self.remove(self.path)


@contextlib.contextmanager
def _admins_only() -> Iterator[None]:
    """Kuma lets only admins read or write Secrets (access.static.adminResources): a token without that
    right, or none, is refused with 403 at the lock's first GET. Say so with the refusal."""
    try:
        yield
    except KumaError as exc:
        if exc.status not in (401, 403):
            raise
        hint = (
            "; the Kuma apply lock is a GlobalSecret, which Kuma lets only admins read and write (use an admin token)"
        )
        raise KumaError(exc.method, exc.path, exc.status, exc.body, exc.detail + hint, exc.attempts) from None


def recorded_tags(secret: dict[str, Any]) -> list[str]:
    """The holder tags a lock's data records; [] when it is not a gatewayctl lock record."""
    try:
        record = json.loads(base64.b64decode(str(secret.get("data") or "")))
    except ValueError:
        return []
    tags = record.get("tags") if isinstance(record, dict) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _timestamp(value: Any) -> float:
    """Kuma's RFC 3339 times (Go may write nanoseconds, which Python does not read) as seconds."""
    if not isinstance(value, str) or not value:
        return 0.0
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, tail = text.split(".", 1)
        digits = "".join(ch for ch in tail if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


@contextlib.contextmanager
def universal_lock(client: KumaApi, catalog_name: str, wait: float) -> Iterator[HeldLock]:
    with UniversalLock(client, catalog_name, wait=wait) as lock:
        yield HeldLock(broke_stale=lock.broke_stale)


@contextlib.contextmanager
def lease_lock(
    coordination: Any, namespace: str, catalog_name: str, wait: float, *, duration: float = 15.0
) -> Iterator[HeldLock]:
    """Hold the Lease while the block runs; LockHeld after `wait` seconds of another holder keeping it,
    KubeError at once when the API server refuses the Lease outright (its namespace missing, RBAC)."""
    elector = LeaderElector(coordination, lease_name(catalog_name), namespace, duration=duration)
    stop = threading.Event()
    deadline = time.monotonic() + wait
    while not elector.try_acquire_or_renew():
        if elector.refused is not None:  # no such namespace, no permission: an error now, not after `wait`
            from gatewayctl.apply.kuma_kubernetes import _api_error  # (it imports this module)

            method, path, exc = elector.refused
            raise _api_error(method, path, exc, 1)
        if time.monotonic() >= deadline:
            where = f"the Lease {namespace}/{lease_name(catalog_name)}"
            if elector.last_error and not elector.observed_holder():
                raise LockHeld(f"cannot take {where}: {elector.last_error}; waited {int(wait)} s")
            raise LockHeld(
                f"another apply of catalog '{catalog_name}' holds {where} (holder {elector.observed_holder()}); "
                f"waited {int(wait)} s. Try again later; a killed apply's Lease expires after {int(duration)} s"
            )
        time.sleep(min(elector.retry_every, max(0.05, deadline - time.monotonic())))
    held = HeldLock()

    def renew() -> None:
        while not stop.wait(elector.renew_every):
            if not elector.try_acquire_or_renew():  # False once past the renew deadline (is_leader)
                held.lost.set()  # fencing: stop writing before another apply may take over
                return

    thread = threading.Thread(target=renew, name="apply-lease", daemon=True)
    thread.start()
    try:
        yield held
    finally:
        stop.set()
        thread.join()
        elector.release()
