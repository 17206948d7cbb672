"""One Kuma control plane to plan against and write to, whichever platform it runs on: the Kuma HTTP API
(Universal, `kuma_universal.py`) or the Kubernetes API (`kuma_kubernetes.py`). `diff`/`apply` and
`gatewayctl watch` both go through it, so the choice of platform is made in one place.

`kuma_kubernetes` (and the `kubernetes` client it loads, which is slow to import) is imported only when a
Kubernetes target is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatewayctl.apply.batches import Cancel
from gatewayctl.apply.kuma import KumaOutcome
from gatewayctl.apply.kuma_lock import HeldLock, UniversalLock, universal_lock
from gatewayctl.apply.kuma_universal import apply_universal, plan_universal, read_server
from gatewayctl.apply.lock import describe_record
from gatewayctl.clients.http import CallLog
from gatewayctl.clients.kuma_api import KumaApi, KumaError
from gatewayctl.plan.fields import secret_paths_by_key
from gatewayctl.plan.kuma import KumaChange, KumaPlan, Platform
from gatewayctl.plan.masking import Masker
from gatewayctl.render.kuma import KumaObject


def object_key(kind: str, mesh: str | None, name: str) -> str:
    """How a snapshot's `secret_fields` names a Kuma object."""
    return f"{kind}/{mesh or ''}/{name}"


@dataclass
class KumaTarget:
    platform: Platform
    display: str  # how messages name it
    namespace: str  # Kubernetes: where the policies live
    client: KumaApi | None = None  # Universal
    kube: Any = None  # Kubernetes: kuma_kubernetes.KubeApi

    def plan(self, catalog_name: str, objects: list[KumaObject], masker: Masker, parallelism: int) -> KumaPlan:
        if self.client is not None:
            return plan_universal(self.client, catalog_name, objects, masker, parallelism)
        from gatewayctl.apply import kuma_kubernetes

        return kuma_kubernetes.plan_kubernetes(self.kube, catalog_name, objects, self.namespace, masker)

    def apply(
        self,
        plan: KumaPlan,
        parallelism: int,
        progress: Callable[[KumaChange], None] | None = None,
        cancel: Cancel | None = None,
        force_conflicts: bool = False,
    ) -> KumaOutcome:
        if self.client is not None:
            return apply_universal(self.client, plan, parallelism, progress, cancel)
        from gatewayctl.apply import kuma_kubernetes

        outcome: KumaOutcome = kuma_kubernetes.apply_kubernetes(
            self.kube, plan, parallelism, progress, force_conflicts=force_conflicts, cancel=cancel
        )
        return outcome

    def lock(self, catalog_name: str, wait: float) -> AbstractContextManager[HeldLock]:
        """Held while one apply of this catalog writes here (`kuma_lock.py`): LockHeld after `wait` seconds
        of another apply holding it; KumaError/KubeError when the control plane or the cluster fails."""
        if self.client is not None:
            return universal_lock(self.client, catalog_name, wait)
        from gatewayctl.apply import kuma_kubernetes

        return kuma_kubernetes.apply_lock(self.kube, self.namespace, catalog_name, wait)

    def snapshot(
        self, live: list[dict[str, Any]], objects: list[KumaObject] | None = None, masker: Masker | None = None
    ) -> dict[str, Any]:
        """The Kuma part of a snapshot: the owned objects as read, and where from (rollback needs both), and
        which fields of the objects being applied hold secrets (rollback masks them on both sides)."""
        saved: dict[str, Any] = {"platform": self.platform, "url": self.display, "objects": live}
        if objects and masker is not None:
            found = {
                object_key(o.kind, o.mesh, o.name): (o.kind, {"labels": o.labels, "spec": o.spec}) for o in objects
            }
            saved["secret_fields"] = secret_paths_by_key(found, masker)
        if self.platform == "kubernetes":
            saved["namespace"] = self.namespace
        return saved

    def server_info(self) -> dict[str, Any]:
        """What the control plane says of itself, as a plan's `server` holds it (product, version, mode), without
        planning: status reads it when the catalog cannot be rendered here. KumaRefused for a Kuma too old to
        serve gatewayctl's API; KumaError/KubeError when the call fails."""
        if self.client is not None:
            return read_server(self.client)
        from gatewayctl.apply import kuma_kubernetes

        return {**kuma_kubernetes.server_info(self.kube), "namespace": self.namespace}

    def lock_holder(self, catalog_name: str) -> str | None:
        """Who holds this catalog's Kuma apply lock now (for `gatewayctl status`); None when nobody does."""
        if self.client is not None:
            record = UniversalLock(self.client, catalog_name).read()
            return describe_record(record, time.time()) if record is not None else None
        from gatewayctl.apply import kuma_kubernetes

        return kuma_kubernetes.lease_holder(self.kube, self.namespace, catalog_name)

    @property
    def calls(self) -> CallLog:
        """What was sent to this control plane (reads, writes, retries), on either platform."""
        return self.client.log if self.client is not None else self.kube.calls

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.kube is not None:
            self.kube.close()


def kubernetes_target(
    kubeconfig: Path | None, context: str | None, namespace: str, timeout: float = 30.0, rps: float | None = None
) -> KumaTarget:
    """KubeError when the kubeconfig or context cannot be used. `timeout` per request, `rps` a cap on request
    starts, as for the HTTP APIs (--timeout, --rps)."""
    from gatewayctl.apply import kuma_kubernetes

    api = kuma_kubernetes.connect(kubeconfig, context, timeout, rps)
    display = f"Kubernetes ({context or 'current context'}, namespace {namespace})"
    return KumaTarget("kubernetes", display, namespace, kube=api)


def is_remote_error(exc: Exception) -> bool:
    """A failed call to the control plane or the cluster (as opposed to a bug)."""
    if isinstance(exc, KumaError):
        return True
    from gatewayctl.apply.kuma_kubernetes import KubeError

    return isinstance(exc, KubeError)


def describe(exc: Exception) -> str:
    """A failed call named with its method, path and status (KumaError, KubeError), else the exception."""
    text = getattr(exc, "describe", None)
    return str(text()) if callable(text) else str(exc)
