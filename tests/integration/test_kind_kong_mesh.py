"""Kong and Kuma on a real cluster, end to end: kind, Kuma 2.14 and Kong 3.9 installed with their own Helm
charts (Kong DB-less, in the mesh as a delegated gateway), two workloads wired as `mesh_wiring` says, then
`gatewayctl apply` and HTTP requests: through Kong to a mesh service (the permission for Kong), and between
two mesh services, refused until the catalog's `allow_from` lets the caller in (default deny is a deny).

Marked `integration`; needs `kind`, `helm`, `kubectl` and a Docker engine, skipped with the reason otherwise,
and the images pullable (kumahq/*, kong, registry.k8s.io/e2e-test-images/agnhost, curlimages/curl).
`GATEWAYCTL_KIND_CLUSTER=<name>` reuses a kind cluster that already runs Kuma (and leaves it running)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatewayctl.catalog.load import load_catalog
from gatewayctl.cli import main
from gatewayctl.render.kuma import MeshWiring, mesh_wiring

from .kind import install_kuma, kind_cluster, kubectl, port_forward, run

pytestmark = pytest.mark.integration

KONG_CHART = "3.4.1"  # Kong/charts' kong chart for Kong 3.9 (its appVersion)
ECHO_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.53"
CURL_IMAGE = "curlimages/curl:8.11.1"
SHOP = "shop"
CATALOG = """\
format: 1
name: kind-mesh
gateway:
  mode: dbless
mesh:
  enabled: true
  name: kind-mesh
  mtls: {mode: strict}
  gateway_selector: {app: kong}
services:
  - name: echo
    url: http://echo.shop.svc.cluster.local:8080
    routes: [{name: api, paths: [/echo]}]
    mesh: {allow_from: []}
  - name: web
    url: http://web.shop.svc.cluster.local:8080
deployment:
  platform: kubernetes
  namespaces: {kong: kong, kuma: kuma-system}
"""
LETTING_WEB_IN = ("mesh: {allow_from: []}", "mesh: {allow_from: [web]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with kind_cluster(tmp_path_factory.mktemp("kind"), "gatewayctl-kong-mesh", ("kind", "helm", "kubectl")) as kc:
        if not os.environ.get("GATEWAYCTL_KIND_CLUSTER"):
            install_kuma(kc)
        yield kc


def eventually(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    """check()'s first truthy answer, tried every 2 s: Kong loads its configuration and Kuma pushes policies
    to the proxies a few seconds after the API took them."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def workload(name: str, wiring: MeshWiring, container: dict[str, Any]) -> list[dict[str, Any]]:
    """A Deployment and its Service on port 8080, labelled and annotated as `mesh_wiring` asks."""
    labels = wiring.workload_labels[name]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": SHOP},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, **container}]}},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": SHOP, "annotations": wiring.service_annotations[name]},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]},
    }
    return [deployment, service]


def deploy(kubeconfig: Path, catalog_path: Path) -> None:
    """Namespaces, the two workloads and Kong, as the catalog's mesh wiring says."""
    wiring = mesh_wiring(load_catalog(catalog_path).catalog)
    assert wiring is not None
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
        for ns, labels in wiring.namespace_labels.items()
    ]
    objects += workload("echo", wiring, {"image": ECHO_IMAGE, "args": ["netexec", "--http-port=8080"]})
    objects += workload("web", wiring, {"image": CURL_IMAGE, "command": ["sleep", "86400"]})
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))

    values = {
        "fullnameOverride": "kong",
        "ingressController": {"enabled": False},
        "env": {"database": "off"},
        "admin": {"enabled": True, "type": "ClusterIP", "http": {"enabled": True}, "tls": {"enabled": False}},
        "proxy": {"type": "ClusterIP"},
        "podAnnotations": wiring.kong_pod_annotations,
        "podLabels": wiring.kong_pod_labels,
    }
    (catalog_path.parent / "kong-values.json").write_text(json.dumps(values))
    run("helm", "repo", "add", "--force-update", "kong", "https://charts.konghq.com", kubeconfig=kubeconfig)
    # No --wait: a DB-less Kong without a configuration is not ready (/status/ready answers 503 "no
    # configuration available") until gatewayctl posts one.
    run(
        "helm", "upgrade", "--install", "kong", "kong/kong", "--version", KONG_CHART, "--namespace", "kong",
        "-f", str(catalog_path.parent / "kong-values.json"),
        kubeconfig=kubeconfig,
    )  # fmt: skip
    for name in ("echo", "web"):
        kubectl(kubeconfig, "-n", SHOP, "rollout", "status", f"deployment/{name}", "--timeout=300s")
    kong_pods = ("-n", "kong", "pod", "-l", "app.kubernetes.io/instance=kong")
    eventually(lambda: kubectl(kubeconfig, "get", *kong_pods, "-o", "name").strip(), "Kong's pod created")
    kubectl(kubeconfig, "wait", *kong_pods, "--for=jsonpath={.status.phase}=Running", "--timeout=300s")


def web_calls_echo(kubeconfig: Path) -> str:
    """The HTTP status web's pod gets from echo through the mesh, or why there was none."""
    try:
        return kubectl(
            kubeconfig, "-n", SHOP, "exec", "deploy/web", "-c", "web", "--",
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
            "http://echo.shop.svc.cluster.local:8080/hostname",
            timeout=60,
        ).strip()  # fmt: skip
    except AssertionError as failed:  # curl's own failure (no answer at all) or kubectl's
        return f"no answer: {failed}"


def test_kong_reaches_a_mesh_service_and_the_mesh_denies_what_the_catalog_does_not_allow(
    cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    kube = ["--kuma-platform", "kubernetes", "--kubeconfig", str(cluster)]

    # The Mesh first: Kuma injects a pod only into a mesh that exists.
    assert main(["apply", str(catalog), "--yes", "--only", "kuma", *kube]) == 0
    deploy(cluster, catalog)

    with port_forward(cluster, "kong", "deployment/kong", 8001) as admin_port:
        admin = ["--kong-admin-url", f"http://127.0.0.1:{admin_port}"]
        assert main(["apply", str(catalog), "--yes", *admin, *kube]) == 0
        capsys.readouterr()
        # Real Kong and real Kuma (their defaults, webhooks and normalisation) show no phantom diff.
        assert main(["diff", str(catalog), "--exit-code", *admin, *kube]) == 0, capsys.readouterr().out

    with port_forward(cluster, "kong", "deployment/kong", 8000) as proxy_port:

        def through_kong() -> str | None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{proxy_port}/echo/hostname", timeout=5)
            except httpx.HTTPError:
                return None
            return answer.text if answer.status_code == 200 else None

        # The route strips /echo: agnhost answers /hostname with its pod's name.
        assert eventually(through_kong, "GET /echo/hostname through Kong").startswith("echo-")

    # Kong's permission works, so the mesh is up: web, which no allow_from names, is refused by echo's proxy
    # (Envoy's RBAC filter answers 403 on an HTTP port)...
    assert eventually(lambda: web_calls_echo(cluster) == "403", "web refused by echo's proxy", 60)
    # ...until the catalog lets it in.
    catalog.write_text(CATALOG.replace(*LETTING_WEB_IN))
    assert main(["apply", str(catalog), "--yes", "--only", "kuma", *kube]) == 0
    assert eventually(lambda: web_calls_echo(cluster) == "200", "web allowed to call echo")
