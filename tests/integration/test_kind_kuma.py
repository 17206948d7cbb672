"""The Kuma-on-Kubernetes emulator scenarios against a real cluster: kind, Kuma 2.14 installed with its Helm
chart, then gatewayctl's server-side apply. Proves what the emulator only claims: that Kuma's webhooks and the
API server's defaults are normalised away (a second plan is empty, a second apply makes zero writes), that
pruning and conflicts behave as documented.

Needs `kind`, `helm`, `kubectl` and a Docker engine; skipped with the reason otherwise. Marked `integration`.
`GATEWAYCTL_KIND_CLUSTER=<name>` reuses an existing kind cluster (with Kuma installed) and leaves it running.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatewayctl.apply.kuma_kubernetes import KubeApi, KubeError, apply_kubernetes, connect, plan_kubernetes
from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.model import Catalog
from gatewayctl.plan.masking import Masker
from gatewayctl.render.kuma import build_kuma_objects

from .kind import KUMA_NAMESPACE, install_kuma, kind_cluster, run

NS = KUMA_NAMESPACE
CLUSTER = "gatewayctl-kuma"
CATALOG = """\
format: 1
name: kind-shop
mesh:
  enabled: true
  name: kind-shop
  mtls: {mode: strict, rotation: 24h}
  gateway_selector: {app: kong}
  tracing:
    zipkin: {endpoint: http://zipkin.observability.svc:9411/api/v2/spans, sampling: 10}
services:
  - name: web
    url: http://web.shop.svc.cluster.local:8080
    routes: [{name: home, paths: [/]}]
    mesh:
      timeouts: {connect: 2s, request: 15s, idle: 1h}
  - name: orders
    url: http://orders.shop.svc.cluster.local:8080
    mesh:
      allow_from: [web]
      retries: {attempts: 3, on: [5xx], backoff: 25ms..250ms}
      circuit_breaker: {consecutive_5xx: 5, interval: 10s, base_ejection: 30s, max_ejection_percent: 50}
      rate_limit: {requests: 100, interval: 1s}
deployment:
  platform: kubernetes
  namespaces: {kuma: kuma-system}
"""


@pytest.fixture(scope="module")
def kind_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tools = ("kind", "helm", "kubectl")
    with kind_cluster(tmp_path_factory.mktemp("kind"), CLUSTER, tools) as kubeconfig:
        if not os.environ.get("GATEWAYCTL_KIND_CLUSTER"):  # a reused cluster comes with Kuma
            install_kuma(kubeconfig)
        yield kubeconfig


@pytest.fixture
def api(kind_kubeconfig: Path) -> Iterator[KubeApi]:
    client = connect(kind_kubeconfig, None)
    yield client
    client.close()


def _catalog(tmp_path: Path, text: str = CATALOG) -> Catalog:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return load_catalog(path).catalog


@pytest.mark.integration
def test_apply_converges_against_real_kuma(api: KubeApi, kind_kubeconfig: Path, tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    objects = build_kuma_objects(catalog)
    first = plan_kubernetes(api, catalog.name, objects, NS, Masker())
    assert first.counts()[0] == len(objects) or first.counts() == (0, 0, 0)  # a reused cluster may hold them
    outcome = apply_kubernetes(api, first, parallelism=4)
    assert outcome.ok, [str(e) for _, e in outcome.failed]
    for obj in objects:
        where = ["-n", NS] if obj.mesh else []
        out = run("kubectl", "get", obj.kind.lower(), obj.name, *where, "-o", "name", kubeconfig=kind_kubeconfig)
        assert obj.name in out

    # What Kuma's webhooks and the API server added is not a change, so a second apply writes nothing.
    second = plan_kubernetes(api, catalog.name, objects, NS, Masker())
    assert second.changes == [], [(c.title, c.fields) for c in second.changes]
    writes = api.calls.writes
    assert apply_kubernetes(api, second, parallelism=4).ok
    assert api.calls.writes == writes


@pytest.mark.integration
def test_conflict_and_prune_against_real_kuma(api: KubeApi, kind_kubeconfig: Path, tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    assert apply_kubernetes(api, plan_kubernetes(api, catalog.name, build_kuma_objects(catalog), NS, Masker()), 4).ok
    edited = {
        "targetRef": {"kind": "MeshService", "name": "orders_shop_svc_8080"},
        "default": {"http": {"numRetries": 9}},
    }
    patch = json.dumps({"spec": {"to": [edited]}})
    run(
        "kubectl",
        "patch",
        "meshretry",
        "kind-shop-orders",
        "-n",
        NS,
        "--type",
        "merge",
        "--field-manager",
        "kubectl-edit",
        "-p",
        patch,
        kubeconfig=kind_kubeconfig,
    )
    drift = plan_kubernetes(api, catalog.name, build_kuma_objects(catalog), NS, Masker())
    assert [(c.action, c.name) for c in drift.changes] == [("update", "kind-shop-orders")]
    outcome = apply_kubernetes(api, drift, parallelism=2)
    ((_, error),) = outcome.failed
    assert isinstance(error, KubeError) and error.conflict
    assert apply_kubernetes(api, drift, parallelism=2, force_conflicts=True).ok

    smaller = _catalog(tmp_path, CATALOG.replace("      rate_limit: {requests: 100, interval: 1s}\n", ""))
    prune = plan_kubernetes(api, smaller.name, build_kuma_objects(smaller), NS, Masker())
    assert [(c.action, c.kind) for c in prune.changes] == [("delete", "MeshRateLimit")]
    assert apply_kubernetes(api, prune, parallelism=2).ok
    assert plan_kubernetes(api, smaller.name, build_kuma_objects(smaller), NS, Masker()).changes == []
