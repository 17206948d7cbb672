"""Kuma as a watched system, on either platform, through the same steps as `gatewayctl diff`/`apply`
(`apply/session.py` renders the desired objects, `apply/kuma_universal.py` plans and writes over the Kuma
HTTP API, `apply/kuma_kubernetes.py` by server-side apply of the CRDs). A heal first saves the owned Kuma
objects to a snapshot, as apply does when Kong has nothing to write.

A catalog whose mesh is disabled (or absent) plans nothing here: `diff` only plans Kuma for an enabled mesh
(removing a mesh's objects takes an explicit `apply --only kuma`)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gatewayctl.apply.batches import AnyOf
from gatewayctl.apply.kuma import OWNED_KINDS
from gatewayctl.apply.kuma_target import KumaTarget, describe, is_remote_error
from gatewayctl.apply.kuma_universal import KumaRefused
from gatewayctl.apply.lock import LockHeld
from gatewayctl.apply.session import KumaDesired, render_kuma_desired
from gatewayctl.apply.snapshot import write_snapshot
from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.clients.http import CallLog
from gatewayctl.clients.kuma_api import KumaApi
from gatewayctl.diagnostics import plural
from gatewayctl.plan.kong import LiveState
from gatewayctl.plan.kuma import KumaPlan
from gatewayctl.watch.system import Applied, Check, RemoteFailure


@dataclass
class KumaDetail:
    desired: KumaDesired
    plan: KumaPlan


class KumaSystem:
    name = "kuma"
    kinds: tuple[str, ...] = OWNED_KINDS

    def __init__(self, target: KumaTarget, *, parallelism: int = 8, state_dir: Path, lock_wait: float = 10.0) -> None:
        self.target = target
        self.lock_wait = lock_wait
        self.parallelism = parallelism
        self.state_dir = state_dir

    @property
    def client(self) -> KumaApi | None:
        """The Kuma HTTP client (Universal)."""
        return self.target.client

    @property
    def call_log(self) -> CallLog:
        """What the metrics hook into: the Kuma API client's calls, or the Kubernetes API's."""
        if self.target.client is not None:
            return self.target.client.log
        log: CallLog = self.target.kube.calls
        return log

    def plan(self, loaded: LoadedCatalog) -> Check:
        catalog = loaded.catalog
        if not catalog.mesh_enabled:
            return Check(self.name, Counter(), "kuma: +0 ~0 -0", False, None)
        desired = render_kuma_desired(loaded)  # CatalogInvalid: a secret is missing
        try:
            the_plan = self.target.plan(catalog.name, desired.objects, desired.masker, self.parallelism)
        except KumaRefused as exc:  # a read-only or federated control plane: said once per check, not retried faster
            raise RemoteFailure("refused", f"kuma: {desired.masker.text(str(exc))}") from None
        except Exception as exc:  # KumaError, KubeError: the control plane or the cluster failed
            if not is_remote_error(exc):
                raise
            raise RemoteFailure("remote", f"kuma: {desired.masker.text(describe(exc))}") from None
        drift: Counter[tuple[str, str]] = Counter((c.kind, str(c.action)) for c in the_plan.changes)
        return Check(self.name, drift, the_plan.summary(), bool(the_plan.changes), KumaDetail(desired, the_plan))

    def apply(self, loaded: LoadedCatalog, check: Check, cancel: threading.Event) -> Applied:
        detail = check.detail
        assert isinstance(detail, KumaDetail)
        desired = detail.desired
        total = len(detail.plan.changes)
        name = loaded.catalog.name
        try:
            with self.target.lock(name, self.lock_wait) as held:
                the_plan = self.target.plan(name, desired.objects, desired.masker, self.parallelism)  # under the lock
                if not the_plan.changes:
                    return Applied(0, 0)
                try:
                    saved = self.target.snapshot(the_plan.live, desired.objects, desired.masker)
                    write_snapshot(self.state_dir / "snapshots", name, "", LiveState(), kuma=saved, kong=False)
                except OSError as exc:
                    return Applied(0, total, "snapshot", [f"cannot write the snapshot: {exc}"])
                outcome = self.target.apply(the_plan, self.parallelism, cancel=AnyOf((cancel, held.lost)))
        except LockHeld as exc:  # another apply is writing: the next check sees what it left
            return Applied(0, total, "lock_held", [f"kuma: {exc}"])
        except KumaRefused as exc:
            return Applied(0, total, "refused", [f"kuma: {desired.masker.text(str(exc))}"])
        except Exception as exc:  # KumaError, KubeError: the control plane or the cluster failed
            if not is_remote_error(exc):
                raise
            return Applied(0, total, "remote", [f"kuma: {desired.masker.text(describe(exc))}"])
        masker = desired.masker
        messages = [f"kuma: {c.action} {c.title}: {masker.text(describe(e))}" for c, e in outcome.failed]
        messages += [f"kuma: warning from the control plane: {masker.text(w)}" for w in outcome.warnings]
        left = len(outcome.failed) + len(outcome.skipped)
        reason: str | None = None
        if outcome.failed:
            reason = "rejected" if any(getattr(e, "rejected", False) for _, e in outcome.failed) else "remote"
        elif outcome.skipped:
            reason = "abandoned"
            messages.append(f"kuma: stopped between write batches, {plural(left, 'change')} left for the next apply")
        return Applied(len(outcome.done), left, reason, messages)

    def close(self) -> None:
        self.target.close()
