"""The watch's Prometheus metrics, on a registry of their own (never the process-global one, so tests and
embedders get exactly these series). Names follow the Prometheus conventions: base units (seconds),
`_total` counters, `_timestamp_seconds` for points in time, labels of bounded cardinality.

| metric | type | labels |
|---|---|---|
| gatewayctl_drift_objects | gauge | system, kind, action |
| gatewayctl_plan_duration_seconds | histogram | system |
| gatewayctl_apply_duration_seconds | histogram | system |
| gatewayctl_applies_total | counter | system |
| gatewayctl_apply_failures_total | counter | system, reason |
| gatewayctl_check_failures_total | counter | system, reason |
| gatewayctl_last_successful_check_timestamp_seconds | gauge | system |
| gatewayctl_last_successful_apply_timestamp_seconds | gauge | system |
| gatewayctl_catalog_reload_errors_total | counter | |
| gatewayctl_catalog_last_reload_successful | gauge | |
| gatewayctl_catalog_last_reload_success_timestamp_seconds | gauge | |
| gatewayctl_remote_request_duration_seconds | histogram | system, endpoint, code |
| gatewayctl_leader | gauge | |
| gatewayctl_build_info | gauge | version |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gatewayctl import __version__

# A plan reads a few dozen pages (seconds on a large catalog); an apply may write thousands of entities.
PLAN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
APPLY_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ACTIONS = ("create", "update", "delete")
NAME_SEGMENT = re.compile(r"^[a-z_][a-z0-9_-]*$")

Observer = Callable[[str, str, int | None, float], None]  # method, path, status (None: no answer), seconds


class WatchMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.drift = Gauge(
            "gatewayctl_drift_objects",
            "Objects the live system differs from the catalog by (what apply would do), at the last check.",
            ["system", "kind", "action"],
            registry=r,
        )
        self.plan_duration = Histogram(
            "gatewayctl_plan_duration_seconds",
            "Time to plan one system (read the live state and compare).",
            ["system"],
            buckets=PLAN_BUCKETS,
            registry=r,
        )
        self.apply_duration = Histogram(
            "gatewayctl_apply_duration_seconds",
            "Time to apply one system's plan (--heal).",
            ["system"],
            buckets=APPLY_BUCKETS,
            registry=r,
        )
        self.applies = Counter("gatewayctl_applies_total", "Applies started (--heal).", ["system"], registry=r)
        self.apply_failures = Counter(
            "gatewayctl_apply_failures_total",
            "Applies that did not finish: lock_held, remote, rejected, snapshot, abandoned (stopped between batches).",
            ["system", "reason"],
            registry=r,
        )
        self.check_failures = Counter(
            "gatewayctl_check_failures_total",
            "Checks that could not plan: remote (unreachable, failing), refused, catalog (cannot be used), error.",
            ["system", "reason"],
            registry=r,
        )
        self.last_check = Gauge(
            "gatewayctl_last_successful_check_timestamp_seconds",
            "When a check last planned this system successfully (Unix time).",
            ["system"],
            registry=r,
        )
        self.last_apply = Gauge(
            "gatewayctl_last_successful_apply_timestamp_seconds",
            "When an apply last finished without failure (Unix time).",
            ["system"],
            registry=r,
        )
        self.reload_errors = Counter(
            "gatewayctl_catalog_reload_errors_total",
            "Catalog edits that did not load (the last good catalog stays in use).",
            registry=r,
        )
        self.reload_ok = Gauge(
            "gatewayctl_catalog_last_reload_successful",
            "1 when the catalog file's current content loaded, 0 while an invalid edit is ignored.",
            registry=r,
        )
        self.reload_time = Gauge(
            "gatewayctl_catalog_last_reload_success_timestamp_seconds",
            "When the catalog last loaded successfully (Unix time).",
            registry=r,
        )
        self.remote = Histogram(
            "gatewayctl_remote_request_duration_seconds",
            "Remote API requests (every attempt, retries included) by collection and status code (none: no answer).",
            ["system", "endpoint", "code"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.leader = Gauge("gatewayctl_leader", "1 on the replica that checks and heals, 0 on followers.", registry=r)
        Gauge("gatewayctl_build_info", "gatewayctl's version.", ["version"], registry=r).labels(__version__).set(1)
        self._seen: dict[str, set[tuple[str, str]]] = {}

    # ---------------------------------------------------------------- drift

    def start_system(self, system: str, kinds: Iterable[str]) -> None:
        """Every kind/action of a system at 0, so "no drift" is a 0 and not a missing series."""
        seen = self._seen.setdefault(system, set())
        seen.update((kind, action) for kind in kinds for action in ACTIONS)
        for kind, action in sorted(seen):
            self.drift.labels(system, kind, action).set(0)

    def set_drift(self, system: str, drift: dict[tuple[str, str], int]) -> None:
        seen = self._seen.setdefault(system, set())
        seen.update(drift)
        for key in sorted(seen):
            self.drift.labels(system, *key).set(drift.get(key, 0))

    def clear_drift(self) -> None:
        """A follower does not check: it reports no drift series at all rather than stale ones."""
        self.drift.clear()

    # ---------------------------------------------------------------- remote calls

    def remote_observer(self, system: str) -> Observer:
        def observe(method: str, path: str, status: int | None, seconds: float) -> None:
            code = str(status) if status is not None else "none"
            self.remote.labels(system, endpoint_label(path), code).observe(seconds)

        return observe


def endpoint_label(path: str) -> str:
    """A request path as a low-cardinality label: the collection it addresses, never an id or a name.

    `/` -> `root`; `/services/<id>` -> `services`; `/upstreams/<id>/targets` -> `targets`;
    `/schemas/plugins/<name>` -> `schemas`; `/meshes/<mesh>/meshtrafficpermissions/<name>` ->
    `meshtrafficpermissions`; `/apis/kuma.io/v1alpha1/namespaces/kuma-system/meshretries/<name>` ->
    `meshretries`. Collections sit at even positions; a segment that does not look like a
    collection name becomes `other`."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    if segments[:1] == ["apis"]:  # Kubernetes: /apis/<group>/<version>/namespaces/<ns>/<plural>/<name>
        segments = segments[3:]
    elif segments[:1] == ["api"]:  # /api/v1/...
        segments = segments[2:]
    if not segments:
        return "root"
    if segments[0] == "schemas":
        return "schemas"
    collection = segments[(len(segments) - 1) // 2 * 2]
    return collection if NAME_SEGMENT.match(collection) and len(collection) <= 40 else "other"


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[tuple[str, str], ...], Any]:
    """Every sample of one metric as {sorted labels: value} (tests and the bench read metrics this way)."""
    out: dict[tuple[tuple[str, str], ...], Any] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out
