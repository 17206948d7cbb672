"""One active replica on Kubernetes: leader election on a `coordination.k8s.io/v1` Lease, the way client-go's
`tools/leaderelection` does it (LeaseLock; Kubernetes docs "Leases", "Coordinated Leader Election").

- Acquire: create the Lease naming us, or take it over once it is free (no holder) or expired. Expiry is
  judged on our own clock: a holder's lease counts as expired when its record (holder, renewTime,
  resourceVersion) has not changed for `leaseDurationSeconds` since we first saw it, so clocks need not
  agree across nodes.
- Renew every `duration / 3` (a follower tries every 2 s at most) by replacing the Lease with its
  `resourceVersion`: the API server answers 409 Conflict when someone else wrote it in between, so only one
  of two racing replicas wins.
- Fencing: a leader that has not renewed for `2/3 x duration` (client-go's renew deadline) stops acting
  before anyone else may take over.
- Release on a clean stop: holder cleared and the duration set to 1 s, so a follower takes over at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("gatewayctl.watch")

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
REQUEST_TIMEOUT = 5.0


def in_kubernetes() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def default_namespace() -> str:
    """The pod's own namespace (service account mount or POD_NAMESPACE), else `default`."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return os.environ.get("POD_NAMESPACE") or "default"


def default_identity() -> str:
    """The pod name (hostname) and a random part: a restarted container is a new candidate (as client-go)."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def coordination_api(kubeconfig: Path | None = None, context: str | None = None) -> Any:
    """The CoordinationV1Api for the cluster the Kuma client talks to (`kuma_kubernetes.connect`: `kubeconfig`,
    else $KUBECONFIG, else ~/.kube/config, else the pod's service account), so `--kubeconfig`/`--context`
    choose the Lease's cluster too. KubeError (naming the file) when there is no usable configuration."""
    from kubernetes import client

    from gatewayctl.apply.kuma_kubernetes import connect

    return client.CoordinationV1Api(connect(kubeconfig, context).api_client)


@dataclass
class LeaderElector:
    api: Any  # kubernetes.client.CoordinationV1Api
    name: str
    namespace: str
    identity: str = field(default_factory=default_identity)
    duration: float = 15.0  # seconds (client-go's default LeaseDuration)
    clock: Callable[[], float] = time.monotonic
    _leading: bool = False
    _renewed: float = 0.0  # clock() of our last successful write
    _observed: tuple[Any, ...] | None = None  # the other holder's record as last seen
    _observed_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    last_error: str | None = None  # the last failed call, for a caller that gives up waiting
    # The last attempt's call the API server understood and refused (4xx other than 409 and 429: a missing
    # namespace, RBAC): (method, path, error). Trying again cannot help; a caller that waits need not.
    refused: tuple[str, str, Any] | None = None

    @property
    def renew_every(self) -> float:
        return self.duration / 3

    @property
    def retry_every(self) -> float:
        """A follower's tries: often enough to notice a released Lease soon (client-go's RetryPeriod is 2 s)."""
        return min(self.renew_every, 2.0)

    @property
    def renew_deadline(self) -> float:
        return self.duration * 2 / 3

    def observed_holder(self) -> str | None:
        """The other holder last seen, if any."""
        return str(self._observed[0]) if self._observed and self._observed[0] else None

    def is_leader(self) -> bool:
        with self._lock:
            return self._leading and self.clock() - self._renewed < self.renew_deadline

    # ---------------------------------------------------------------- one round

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the Lease afterwards. Never raises for API errors (logged)."""
        from kubernetes.client import V1Lease, V1LeaseSpec, V1ObjectMeta
        from kubernetes.client.exceptions import ApiException

        now = datetime.now(UTC)
        self.refused = None
        leases = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        call = ("GET", f"{leases}/{self.name}")
        try:
            try:
                lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                spec = V1LeaseSpec(
                    holder_identity=self.identity,
                    lease_duration_seconds=_seconds(self.duration),
                    acquire_time=now,
                    renew_time=now,
                    lease_transitions=0,
                )
                body = V1Lease(metadata=V1ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)
                call = ("POST", leases)
                self.api.create_namespaced_lease(self.namespace, body, _request_timeout=REQUEST_TIMEOUT)
                return self._set(True)
            spec = lease.spec or V1LeaseSpec()
            holder = spec.holder_identity or ""
            if holder != self.identity:
                record = (holder, spec.renew_time, lease.metadata.resource_version)
                if record != self._observed:
                    self._observed, self._observed_at = record, self.clock()
                held_for = float(spec.lease_duration_seconds or self.duration)
                if holder and self.clock() - self._observed_at < held_for:
                    return self._set(False)  # held by another replica, not expired
                spec.acquire_time = now
                spec.lease_transitions = (spec.lease_transitions or 0) + 1
                log.info("taking over lease %s/%s from %s", self.namespace, self.name, holder or "nobody")
            spec.holder_identity = self.identity
            spec.lease_duration_seconds = _seconds(self.duration)
            spec.renew_time = now
            lease.spec = spec  # metadata.resourceVersion stays: the write fails with 409 if the Lease moved
            call = ("PUT", f"{leases}/{self.name}")
            self.api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=REQUEST_TIMEOUT)
            return self._set(True)
        except ApiException as exc:
            if exc.status == 409:  # another replica wrote the Lease first
                return self._set(False)
            self.last_error = f"HTTP {exc.status} {exc.reason}"
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                self.refused = (call[0], call[1], exc)
            log.warning("lease %s/%s: %s", self.namespace, self.name, self.last_error)
        except Exception as exc:  # the API server unreachable (urllib3 errors): keep trying
            self.last_error = _short(exc)
            log.warning("lease %s/%s: %s", self.namespace, self.name, self.last_error)
        # Not known to be lost: a leader stays one until its renew deadline passes (is_leader).
        return self.is_leader()

    def release(self) -> None:
        """Give the Lease up (clean shutdown) so that a follower need not wait for it to expire."""
        from kubernetes.client.exceptions import ApiException

        with self._lock:
            leading, self._leading = self._leading, False
        if not leading:
            return
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=REQUEST_TIMEOUT)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = datetime.now(UTC)
            self.api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=REQUEST_TIMEOUT)
            log.info("released lease %s/%s", self.namespace, self.name)
        except (ApiException, Exception) as exc:  # it expires by itself
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, _short(exc))

    def run(self, stop: threading.Event) -> None:
        """Acquire and renew until `stop`; then release."""
        while not stop.is_set():
            leading = self.try_acquire_or_renew()
            stop.wait(self.renew_every if leading else self.retry_every)
        self.release()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="watch-lease", daemon=True)
        thread.start()
        return thread

    def _set(self, leading: bool) -> bool:
        with self._lock:
            changed = leading != self._leading
            self._leading = leading
            if leading:
                self._renewed = self.clock()
        if changed:
            log.info(
                "lease %s/%s: %s by %s", self.namespace, self.name, "acquired" if leading else "lost", self.identity
            )
        return leading


def _seconds(value: float) -> int:
    return max(1, round(value))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
