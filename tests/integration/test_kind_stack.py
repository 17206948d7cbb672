"""The rendered Kubernetes stack on a real cluster: `render --target kong,observability,kubernetes`, then
`kubectl apply -k OUT/kubernetes` into a kind cluster, and Prometheus must scrape Kong's Status API
(`up{job="kong"} == 1` for every Kong pod, and Kong's own series present).

Marked `integration`; skipped with the reason without kind, kubectl or a Docker engine. Set
GATEWAYCTL_KIND_CLUSTER to use an existing kind cluster (it is then left running); otherwise a throw-away
cluster is created and deleted. Needs the images (kong, prom/prometheus, grafana, zipkin) pullable."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gatewayctl.catalog.load import load_catalog
from gatewayctl.render import render
from gatewayctl.render.output import write_files

from .kind import kind_cluster, kubectl

pytestmark = pytest.mark.integration

KONG_REPLICAS = 2
CATALOG = f"""\
format: 1
name: kind-stack
gateway:
  mode: dbless
  metrics: {{status_codes: true, latency: true}}
services:
  - name: echo
    url: http://echo.default.svc.cluster.local:8080
    routes: [{{name: api, paths: [/echo]}}]
deployment:
  platform: kubernetes
  kong: {{replicas: {KONG_REPLICAS}}}
  observability:
    grafana: {{admin_password: "${{env:KIND_GRAFANA_PASSWORD}}"}}
"""


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with kind_cluster(tmp_path_factory.mktemp("kind"), f"gatewayctl-it-{os.getpid()}") as path:
        yield path


def prometheus_query(kubeconfig: Path, namespace: str, query: str) -> list[dict[str, Any]]:
    """An instant query through the API server's service proxy (no port-forward to manage)."""
    path = f"/api/v1/namespaces/{namespace}/services/prometheus:9090/proxy/api/v1/query?" + urllib.parse.urlencode(
        {"query": query}
    )
    answer = json.loads(kubectl(kubeconfig, "get", "--raw", path))
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def test_prometheus_scrapes_kong_on_kind(kubeconfig: Path, tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    loaded = load_catalog(tmp_path / "catalog.yaml")
    targets = ["kong", "observability", "kubernetes"]
    files = render(loaded, targets, loaded.secrets({"KIND_GRAFANA_PASSWORD": "kind-only-password"}))
    out = tmp_path / "out"
    write_files(out, files, owned_dirs=targets)
    ns = loaded.catalog.deployment.namespaces

    kubectl(kubeconfig, "apply", "-k", str(out / "kubernetes"))
    for namespace, deployment in ((ns.kong, "kong"), (ns.observability, "prometheus")):
        kubectl(kubeconfig, "-n", namespace, "rollout", "status", f"deployment/{deployment}", "--timeout", "480s")

    deadline = time.monotonic() + 300
    up: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        up = prometheus_query(kubeconfig, ns.observability, 'up{job="kong"}')
        if len(up) >= KONG_REPLICAS and all(r["value"][1] == "1" for r in up):
            break
        time.sleep(5)
    assert len(up) >= KONG_REPLICAS and all(r["value"][1] == "1" for r in up), up  # every pod, none down
    # What was scraped is Kong's Status API: its own series, with Kong 3.x names.
    assert prometheus_query(kubeconfig, ns.observability, "kong_datastore_reachable")
    assert prometheus_query(kubeconfig, ns.observability, 'kong_nginx_requests_total{job="kong"}')
