"""The Kuma plan: the owned Kuma objects the catalog renders, compared with the owned objects the control
plane holds, as a list of create/update/delete changes. Shared by both platforms:

- Universal: objects in the form the Kuma REST API takes (`render.kuma.universal_form`), read and written
  under `/meshes/...` (see `apply/kuma_universal.py`);
- Kubernetes: CRD objects (`render.kuma.kubernetes_form`), written by server-side apply (see
  `apply/kuma_kubernetes.py`).

Only objects carrying this catalog's ownership labels (`render.ownership.ownership_labels`) are ever read
as live state, so anything else in the mesh is invisible to the plan and can never be changed by it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from gatewayctl.diagnostics import KeyPath
from gatewayctl.plan.fields import FieldChange, action_counts, diff_fields, summary_line
from gatewayctl.plan.kong import Action
from gatewayctl.plan.masking import SECRET, Masker
from gatewayctl.render.ownership import SECRET_LABEL

Platform = Literal["universal", "kubernetes"]
Obj = dict[str, Any]


@dataclass(frozen=True)
class KumaChange:
    action: Action
    kind: str  # Mesh, MeshTrafficPermission, ...
    name: str
    mesh: str | None  # None for the Mesh itself
    desired: Obj | None  # the whole object as it will be written (create/update)
    live: Obj | None  # the whole object as the control plane returned it (update/delete)
    fields: tuple[FieldChange, ...] = ()  # field-level differences (update), values masked
    origin: KeyPath = ()  # the catalog entry it was rendered from, when known

    @property
    def title(self) -> str:
        where = f" in mesh {self.mesh}" if self.mesh else ""
        return f"{self.kind} {self.name}{where}"


@dataclass
class KumaPlan:
    platform: Platform
    server: dict[str, Any]  # what the control plane says of itself (version, mode, zone ...)
    changes: list[KumaChange] = field(default_factory=list)
    live: list[Obj] = field(default_factory=list)  # every owned object read, as returned (for snapshots)
    notes: list[str] = field(default_factory=list)  # what the plan deliberately leaves alone, and why

    def counts(self) -> tuple[int, int, int]:
        return action_counts(self.changes)

    def summary(self) -> str:
        return summary_line("kuma", self.changes)


# ---------------------------------------------------------------------- comparing (both platforms)

# Labels a Kuma control plane computes itself (2.14 pkg/core/resources/labels/compute.go, KDS sync): not
# ours to compare unless the catalog sets them too.
COMPUTED_LABELS = frozenset(
    {
        "kuma.io/mesh",
        "kuma.io/origin",
        "kuma.io/zone",
        "kuma.io/env",
        "kuma.io/display-name",
        "kuma.io/policy-role",
        "kuma.io/proxy-type",
        "k8s.kuma.io/namespace",
    }
)
_GO_DURATION = re.compile(r"^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration_ns(text: str) -> int | None:
    """A Go duration string (`1m30s`, `250ms`) in nanoseconds; None when `text` is not one."""
    if not _GO_DURATION.match(text):
        return None
    total = sum(float(n) * _UNIT_NS[u] for n, u in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text))
    return round(total)


def go_duration_text(ns: int) -> str:
    """How Go's `time.Duration.String()` prints a duration: `1h0m0s`, `1m30s`, `1.5s`, `250ms`, `0s`."""
    if ns == 0:
        return "0s"
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return f"{_trim(ns / size)}{unit}"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return text + f"{_trim(rest / 10**9)}s"


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".") or "0"


def comparable_spec(value: Any) -> Any:
    """A policy spec with every Go duration string printed the way Kuma prints it back: Kuma stores
    `metav1.Duration` and answers with Go's `Duration.String()` (`1m` comes back as `1m0s`), so `1m`, `60s`
    and `1m0s` compare equal. Applied to both sides alike, so it never changes what is written."""
    if isinstance(value, dict):
        return {k: comparable_spec(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable_spec(v) for v in value]
    if isinstance(value, str):
        return _comparable_text(value)
    return value


@functools.lru_cache(maxsize=8192)  # the same durations, enums and service names, policy after policy
def _comparable_text(value: str) -> str:
    ns = duration_ns(value)
    return go_duration_text(ns) if ns is not None else value


def order_free(value: Any) -> Any:
    """`value` with the lists whose order Kuma does not act on put in one order, for comparing both sides
    (what is written keeps the catalog's order): MeshRetry `retryOn` conditions, and the `from` entries of a
    MeshTrafficPermission when they all grant the same action (then nothing is left for their order to
    decide). Reordering `allow_from` or `retries.on` in the catalog is then no change."""
    if isinstance(value, list):
        return [order_free(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: order_free(v) for k, v in value.items()}
    retry_on = out.get("retryOn")
    if isinstance(retry_on, list) and all(isinstance(v, str) for v in retry_on):
        out["retryOn"] = sorted(retry_on)
    entries = out.get("from")
    if (
        isinstance(entries, list)
        and all(isinstance(e, dict) for e in entries)
        and len({json.dumps(e.get("default"), sort_keys=True) for e in entries}) <= 1
    ):
        out["from"] = sorted(entries, key=lambda e: json.dumps(e.get("targetRef"), sort_keys=True))
    return out


def comparable_labels(want: dict[str, str], have: dict[str, str]) -> dict[str, str]:
    """The live labels without those the control plane adds on its own (unless the catalog sets them)."""
    return {k: v for k, v in have.items() if k not in COMPUTED_LABELS or k in want}


def without_secret_label(labels: dict[str, str]) -> dict[str, str]:
    """Labels as compared: the label saying an object holds a secret is no change of its own (an object gets
    or loses it when it is written for a change)."""
    return {k: v for k, v in labels.items() if k != SECRET_LABEL} if SECRET_LABEL in labels else labels


def field_changes(
    kind: str, want: Obj, have: Obj, masker: Masker, live_labels: dict[str, str] | None = None
) -> tuple[FieldChange, ...]:
    """Per-field differences with the same semantics and masking as the Kong plan's (a field whose desired
    value holds a secret is `<secret>` on both sides). When the live object's labels say it holds a secret
    (`live_labels`), its spec's live values are `<secret>`: the catalog may write plain text there now, and
    nothing else tells that the value being replaced is secret."""
    changes = diff_fields(kind, want, have, masker)
    if SECRET_LABEL in (live_labels or {}):
        changes = [
            FieldChange(c.path, SECRET, c.new) if c.path.startswith("spec") and c.old is not None else c
            for c in changes
        ]
    return tuple(changes)
