"""Kong as a watched system: the plan and the apply are `gatewayctl diff`'s and `gatewayctl apply`'s own
steps (`apply/session.py`): desired entities rendered from the catalog, the server checked, the owned live
state read and compared; DB mode applies under the lock in Kong after a snapshot, DB-less with one
`POST /config`."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gatewayctl.apply.lock import LockHeld
from gatewayctl.apply.session import (
    Desired,
    apply_db,
    apply_dbless,
    check_plugin_configs,
    check_server,
    others_under_deletes,
    plan_kong,
    render_desired,
)
from gatewayctl.apply.snapshot import SNAPSHOT_DIR
from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.clients.kong_admin import KongAdmin, KongError
from gatewayctl.diagnostics import CatalogInvalid, plural
from gatewayctl.plan.kinds import KINDS
from gatewayctl.plan.kong import KongPlan, ServerInfo, read_server
from gatewayctl.watch.system import Applied, Check, RemoteFailure

SNAPSHOT_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z\.json$")  # write_snapshot's names: they sort by time


@dataclass
class KongDetail:
    server: ServerInfo
    desired: Desired
    plan: KongPlan
    dbless_text: str | None = None  # DB-less: the configuration apply would post


class KongSystem:
    name = "kong"
    kinds = tuple(k.name for k in KINDS)

    def __init__(
        self,
        client: KongAdmin,
        *,
        parallelism: int = 8,
        state_dir: Path,
        lock_wait: float = 10.0,
        keep_snapshots: int = 20,
    ) -> None:
        self.client = client
        self.parallelism = parallelism
        self.state_dir = state_dir
        self.lock_wait = lock_wait
        self.keep_snapshots = keep_snapshots

    def plan(self, loaded: LoadedCatalog) -> Check:
        desired = render_desired(loaded)  # CatalogInvalid: a secret is missing
        try:
            server = read_server(self.client)
            check_server(loaded, server, desired)  # CatalogInvalid: this Kong cannot take the catalog
            # the plugin configs are asked about before a heal writes them, not on every check
            the_plan, payload = plan_kong(self.client, loaded, server, desired, self.parallelism, check_plugins=False)
            text = payload.text if payload is not None else None
            pending = bool(the_plan.changes)  # as apply: an equivalent running text is not reloaded
        except KongError as exc:
            raise RemoteFailure("remote", f"kong: {desired.masker.text(exc.describe())}") from None
        drift: Counter[tuple[str, str]] = Counter((c.kind, str(c.action)) for c in the_plan.changes)
        return Check(self.name, drift, the_plan.summary(), pending, KongDetail(server, desired, the_plan, text))

    def apply(self, loaded: LoadedCatalog, check: Check, cancel: threading.Event) -> Applied:
        detail = check.detail
        assert isinstance(detail, KongDetail)
        masker = detail.desired.masker
        try:
            if detail.dbless_text is not None:
                result = apply_dbless(self.client, loaded, detail.dbless_text, detail.plan.live, self.state_dir)
                prune_snapshots(self.state_dir / SNAPSHOT_DIR.name, self.keep_snapshots)
                return Applied(len(detail.plan.changes) if result.loaded_config else 0, 0)
            try:
                # before a heal writes, as apply does: others' entities under a delete, then the plugin configs
                if problems := others_under_deletes(self.client, loaded, detail.plan, detail.desired, self.parallelism):
                    raise CatalogInvalid(problems)
                check_plugin_configs(loaded, self.client, detail.plan, detail.desired, self.parallelism)
            except CatalogInvalid as exc:
                return Applied(0, len(detail.plan.changes), "rejected", [str(d) for d in exc.errors])
            applied = apply_db(
                self.client,
                loaded,
                detail.server,
                detail.desired,
                parallelism=self.parallelism,
                state_dir=self.state_dir,
                lock_wait=self.lock_wait,
                cancel=cancel,
                planned=detail.plan,
            )
        except LockHeld as exc:
            return Applied(0, len(detail.plan.changes), "lock_held", [f"kong: {exc}"])
        except KongError as exc:
            why = "rejected" if exc.rejected else "remote"
            return Applied(0, len(detail.plan.changes), why, [f"kong: {masker.text(exc.describe())}"])
        except OSError as exc:
            return Applied(0, len(detail.plan.changes), "snapshot", [f"cannot write the snapshot: {exc}"])
        if applied.snapshot:
            prune_snapshots(applied.snapshot.parent, self.keep_snapshots)
        outcome = applied.outcome
        left = len(outcome.failed) + len(outcome.skipped)
        messages = [f"kong: {c.action} {c.kind} {c.name}: {masker.text(e.describe())}" for c, e in outcome.failed]
        reason: str | None = None
        if outcome.failed:
            reason = "rejected" if any(e.rejected for _, e in outcome.failed) else "remote"
        elif outcome.skipped:
            reason = "abandoned"  # stopped between batches; the next apply picks up the rest
            messages.append(f"kong: stopped between write batches, {plural(left, 'change')} left for the next apply")
        if applied.broke_stale_lock:
            messages.append(f"kong: took over a stale apply lock ({applied.broke_stale_lock})")
        return Applied(len(outcome.done), left, reason, messages)

    def close(self) -> None:
        self.client.close()


def prune_snapshots(folder: Path, keep: int) -> None:
    """Keep the newest `keep` snapshots: a watch that heals every few minutes would otherwise fill its disk."""
    names = sorted(p for p in folder.glob("*.json") if SNAPSHOT_NAME.match(p.name)) if folder.is_dir() else []
    for old in names[: max(0, len(names) - keep)]:
        old.unlink(missing_ok=True)
