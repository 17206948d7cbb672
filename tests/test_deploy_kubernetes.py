"""Kubernetes: the static manifests/ (kustomize bases and overlays) and `render --target kubernetes`,
validated offline against the Kubernetes 1.30 schemas (kubernetes-validate, strict) and held to what
the catalog says (ports, namespaces, Kuma wiring, secrets only in 0600 Secret files)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_observability import EXAMPLES, example_env, render_example

from gatewayctl.catalog.load import load_catalog
from gatewayctl.diagnostics import CatalogInvalid
from gatewayctl.render import render
from gatewayctl.render.kubernetes import kong_native_config

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is a test extra")

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"
K8S_EXAMPLES = ["platform", "knowledge-base", "simulation"]
KUBECTL = shutil.which("kubectl")


def validate(doc: dict[str, Any], where: str) -> None:
    try:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(
            f"{where}: {doc['kind']} {doc['metadata'].get('name')}: {exc.path}: {exc.message}"
        ) from None


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def kustomizations() -> list[Path]:
    return sorted(MANIFESTS.rglob("kustomization.yaml"))


def patch_files() -> set[Path]:
    out = set()
    for k in kustomizations():
        for patch in yaml.safe_load(k.read_text()).get("patches", []):
            out.add((k.parent / patch["path"]).resolve())
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("k8s")
    return {n: render_example(n, base / n, ["kong", "observability", "kubernetes"]) for n in K8S_EXAMPLES}


# --------------------------------------------------------------------------- static manifests


@pytest.mark.parametrize(
    "path",
    sorted(p for p in MANIFESTS.rglob("*.yaml") if p.name != "kustomization.yaml"),
    ids=lambda p: str(p.relative_to(MANIFESTS)),
)
def test_static_manifest_validates(path: Path) -> None:
    if path.resolve() in patch_files():
        pytest.skip("a strategic-merge patch, validated once merged (kustomize build)")
    for doc in docs(path):
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a Prometheus Operator CRD, not in the Kubernetes schemas (tests/test_watch_manifests.py)
        validate(doc, str(path.relative_to(ROOT)))


@pytest.mark.parametrize("path", kustomizations(), ids=lambda p: str(p.parent.relative_to(MANIFESTS)))
def test_kustomization_references_exist(path: Path) -> None:
    k = yaml.safe_load(path.read_text())
    for resource in k.get("resources", []):
        assert (path.parent / resource).exists(), f"{path}: missing {resource}"
    for patch in k.get("patches", []):
        target = docs(path.parent / patch["path"])[0]
        built = [d for r in k["resources"] for d in _resource_docs(path.parent / r)]
        assert any(d["kind"] == target["kind"] and d["metadata"]["name"] == target["metadata"]["name"] for d in built)


def _resource_docs(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        k = yaml.safe_load((path / "kustomization.yaml").read_text())
        return [d for r in k.get("resources", []) for d in _resource_docs(path / r)]
    return docs(path)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with its built-in kustomize) is not installed")
@pytest.mark.parametrize("overlay", sorted(p.name for p in (MANIFESTS / "overlays").iterdir()))
def test_overlay_builds_and_validates(overlay: str) -> None:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(MANIFESTS / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    built = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert built
    for doc in built:
        validate(doc, overlay)
    if overlay == "kong-dbless":
        kong = next(d for d in built if d["kind"] == "Deployment")
        env = {e["name"]: e.get("value") for e in kong["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["KONG_DATABASE"] == "off" and env["KONG_STATUS_LISTEN"] == "0.0.0.0:8100"


# --------------------------------------------------------------------------- rendered


@pytest.mark.parametrize("name", K8S_EXAMPLES)
def test_rendered_manifests_validate(name: str, rendered: dict[str, Path]) -> None:
    out = rendered[name] / "kubernetes"
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    listed = {out / r for r in kustomization["resources"]}
    found = {p for p in out.rglob("*.yaml") if p.name not in ("kustomization.yaml", "helm-values.yaml")}
    found -= set((out / "helm").rglob("*.yaml"))  # inputs to helm/gatewayctl, not objects (tests/test_helm.py)
    assert listed == found
    for path in sorted(found):
        for doc in docs(path):
            validate(doc, f"{name}/{path.relative_to(out)}")
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/managed-by"] == "gatewayctl"


def objects(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in (out / "kubernetes").rglob("*.yaml"):
        for doc in docs(path):
            if "kind" in doc and "metadata" in doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def test_platform_kong_lines_up_with_the_catalog(rendered: dict[str, Path]) -> None:
    catalog = load_catalog(EXAMPLES / "platform.yaml").catalog
    objs = objects(rendered["platform"])
    kong = objs[("Deployment", "kong")]
    pod = kong["spec"]["template"]
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert kong["metadata"]["namespace"] == "kong"
    # the autoscaler owns the count: a Deployment replicas would be set back by every kubectl apply
    assert "replicas" not in kong["spec"] and objs[("HorizontalPodAutoscaler", "kong")]["spec"]["minReplicas"] == 3
    assert c["image"] == "kong:3.9"
    assert env["KONG_STATUS_LISTEN"]["value"] == "0.0.0.0:8100"
    assert env["KONG_DATABASE"]["value"] == "postgres"
    assert env["KONG_PG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "kong-postgres", "key": "password"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/status/ready", "port": "status"}
    assert {"name": "status", "containerPort": 8100, "protocol": "TCP"} in c["ports"]
    status = objs[("Service", "kong-status")]
    assert status["spec"]["ports"][0] == {"name": "status", "port": 8100, "targetPort": "status", "protocol": "TCP"}
    # Kuma: Kong is the delegated gateway the permissions name by mesh.gateway_selector.
    assert pod["metadata"]["annotations"]["kuma.io/gateway"] == "enabled"
    assert catalog.mesh is not None
    assert catalog.mesh.gateway_selector.items() <= pod["metadata"]["labels"].items()
    assert objs[("Namespace", "shop")]["metadata"]["labels"]["kuma.io/sidecar-injection"] == "enabled"
    # The zipkin plugin's endpoint is the zipkin Service.
    zipkin = objs[("Service", "zipkin")]
    assert zipkin["metadata"]["namespace"] == "observability" and zipkin["spec"]["ports"][0]["port"] == 9411
    assert catalog.gateway.tracing and catalog.gateway.tracing.zipkin
    assert catalog.gateway.tracing.zipkin.endpoint.startswith("http://zipkin.observability.svc.cluster.local:9411/")
    hpa = objs[("HorizontalPodAutoscaler", "kong")]
    assert hpa["spec"]["minReplicas"] == 3 and objs[("PodDisruptionBudget", "kong")]
    prom = objs[("Deployment", "prometheus")]["spec"]["template"]["spec"]["containers"][0]
    assert "--storage.tsdb.retention.time=15d" in prom["args"]
    assert (rendered["platform"] / "kubernetes/kuma/helm-values.yaml").exists()


@pytest.mark.parametrize("name", K8S_EXAMPLES)
def test_kongs_network_policy_lets_prometheus_scrape_every_port_it_scrapes_on_kong(
    name: str, rendered: dict[str, Path]
) -> None:
    """Job kong scrapes the status port; in the mesh Kong's pods also get a sidecar, which job
    kuma-dataplanes scrapes on MeshMetric's port like every injected pod. The policy let in only the status
    port, so Kong's own Envoy metrics were a target that never answered."""
    objs = objects(rendered[name])
    kong_ns = objs[("Deployment", "kong")]["metadata"]["namespace"]
    config = yaml.safe_load(objs[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"])
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    scraped = {int(load_catalog(EXAMPLES / f"{name}.yaml").catalog.deployment.kong.status_port)}
    injected = objs[("Namespace", kong_ns)]["metadata"]["labels"].get("kuma.io/sidecar-injection") == "enabled"
    if injected:
        [address] = [r for r in jobs["kuma-dataplanes"]["relabel_configs"] if r.get("target_label") == "__address__"]
        scraped.add(int(address["replacement"].rsplit(":", 1)[1]))
    allowed = {
        p["port"]
        for rule in objs[("NetworkPolicy", "kong")]["spec"]["ingress"]
        for peer in rule.get("from", [])
        if peer.get("podSelector", {}).get("matchLabels") == {"app.kubernetes.io/name": "prometheus"}
        for p in rule["ports"]
    }
    assert scraped <= allowed
    assert (len(scraped) == 2) is (name != "simulation")  # simulation has no mesh


@pytest.mark.parametrize(("mode", "kds_open"), [("zone", False), ("global", True)])
def test_a_global_control_plane_lets_the_zones_in(mode: str, kds_open: bool, tmp_path: Path) -> None:
    """Zone control planes connect to the global one's KDS port (5685); the NetworkPolicy in front of
    kuma-cp opened only the zone's ports, so a global control plane refused every zone."""
    body = (EXAMPLES / "knowledge-base.yaml").read_text()
    assert "    mode: zone\n" in body
    (tmp_path / "catalog.yaml").write_text(body.replace("    mode: zone\n", f"    mode: {mode}\n"))
    loaded = load_catalog(tmp_path / "catalog.yaml")
    assert loaded.catalog.deployment.kuma.mode == mode
    [policy] = [
        yaml.safe_load(f.content)
        for f in render(loaded, ["kubernetes"], loaded.secrets(example_env()))
        if f.path.endswith("networkpolicy-kuma-control-plane.yaml")
    ]
    open_to_all = {p["port"] for rule in policy["spec"]["ingress"] if "from" not in rule for p in rule["ports"]}
    assert {5678, 5681, 5682, 5443} <= open_to_all
    assert (5685 in open_to_all) is kds_open


def test_large_catalogs_fit_the_api_servers_config_map_limit(tmp_path: Path) -> None:
    """The API server refuses a ConfigMap whose data is over 1 MiB. With a row of panels per service the
    services dashboard passed that at about 200 services and the SLO rules at about 600, so the whole
    observability stack was refused. They are split over numbered ConfigMaps, which the pods mount together."""
    services = "".join(
        f"  - name: svc-{i:04d}\n    url: http://svc-{i:04d}.apps.svc.cluster.local:8080\n"
        f"    routes: [{{name: api, paths: [/s{i}]}}]\n    slo: {{availability: 99.9, latency_p99: 300ms}}\n"
        for i in range(750)
    )
    (tmp_path / "catalog.yaml").write_text(
        "format: 1\nname: big\ngateway: {mode: db, metrics: {status_codes: true, latency: true}}\n"
        f"services:\n{services}"
    )
    loaded = load_catalog(tmp_path / "catalog.yaml")
    docs = [yaml.safe_load(f.content) for f in render(loaded, ["kubernetes"], loaded.secrets({}))]
    maps = {d["metadata"]["name"]: d["data"] for d in docs if d.get("kind") == "ConfigMap"}
    for name, data in maps.items():
        assert sum(len(k) + len(v.encode()) for k, v in data.items()) <= 1_048_576, name
    deployments = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Deployment"}
    for deployment, volume, prefix in (
        ("grafana", "dashboards", "grafana-dashboards"),
        ("prometheus", "rules", "prometheus-alerting"),
    ):
        split = sorted(n for n in maps if n.startswith(prefix))
        assert len(split) > 1, prefix
        [mount] = [v for v in deployments[deployment]["spec"]["template"]["spec"]["volumes"] if v["name"] == volume]
        assert sorted(src["configMap"]["name"] for src in mount["projected"]["sources"]) == split
    files = {
        k: v
        for n, data in maps.items()
        if n.startswith(("grafana-dashboards", "prometheus-alerting"))
        for k, v in data.items()
    }
    pages = [json.loads(v) for k, v in files.items() if k.startswith("big-services")]
    assert len({p["uid"] for p in pages}) == len(pages) > 1 and all(len(p["uid"]) <= 40 for p in pages)
    rows = [panel["title"] for p in pages for panel in p["panels"] if panel["type"] == "row"]
    assert rows == [f"svc-{i:04d}" for i in range(750)]  # every service once, in catalog order
    groups = [g for k, v in files.items() if k.startswith("slo") for g in yaml.safe_load(v)["groups"]]
    assert len({g["name"] for g in groups}) == len(groups)
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert len(alerts) == 3 * 750 and len({(r["alert"], r["labels"]["service"]) for r in alerts}) == len(alerts)


def test_a_dbless_config_too_large_for_its_secret_is_a_located_error(tmp_path: Path) -> None:
    """The API server refuses a Secret over 1 MiB, and a DB-less Kong of about 1,500 services is more: render
    says so at gateway.mode, with what to do, and writes nothing (the real limit; 2,000 bare services)."""
    services = "".join(
        f"  - name: svc-{i:04d}\n    url: http://svc-{i:04d}.apps.svc.cluster.local:8080\n"
        f"    routes: [{{name: api, paths: [/s{i}]}}]\n"
        for i in range(2000)
    )
    (tmp_path / "catalog.yaml").write_text(f"format: 1\nname: big\ngateway:\n  mode: dbless\nservices:\n{services}")
    loaded = load_catalog(tmp_path / "catalog.yaml")
    assert len(render(loaded, ["kong"], loaded.secrets({}))) == 1  # the kong target alone is fine
    with pytest.raises(CatalogInvalid) as caught:
        render(loaded, ["kong", "kubernetes"], loaded.secrets({}))
    [problem] = caught.value.diagnostics
    assert (problem.line, problem.col, problem.path) == (4, 9, "gateway.mode")
    assert "over the 1,048,576 a Kubernetes Secret may hold" in problem.message
    assert "use gateway.mode: db" in problem.message


def test_dbless_mounts_the_rendered_config_without_info(rendered: dict[str, Path]) -> None:
    objs = objects(rendered["knowledge-base"])
    kong = objs[("Deployment", "kong")]["spec"]["template"]["spec"]
    assert {"name": "declarative-config", "secret": {"secretName": "kong-declarative-config"}} in kong["volumes"]
    assert ("Service", "kong-admin") not in objs  # DB-less: the Admin API stays on localhost
    config = yaml.safe_load(objs[("Secret", "kong-declarative-config")]["stringData"]["kong.yaml"])
    assert "_info" not in config and config["_format_version"] == "3.0"
    loaded = load_catalog(EXAMPLES / "knowledge-base.yaml")
    assert config == kong_native_config(loaded.catalog, loaded.secrets(example_env()))
    # simulation renames the observability namespace: policies and bindings follow.
    sim = objects(rendered["simulation"])
    assert sim[("Deployment", "prometheus")]["metadata"]["namespace"] == "monitoring"
    assert sim[("ClusterRoleBinding", "gatewayctl-prometheus")]["subjects"][0]["namespace"] == "monitoring"
    selector = sim[("NetworkPolicy", "kong")]["spec"]["ingress"][1]["from"][0]["namespaceSelector"]
    assert selector["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"


@pytest.mark.parametrize("name", K8S_EXAMPLES)
def test_secrets_only_in_private_secret_files(name: str, rendered: dict[str, Path]) -> None:
    values = [v for v in example_env().values() if len(v) > 8]
    for path in (rendered[name] / "kubernetes").rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text()
        private = stat.S_IMODE(path.stat().st_mode) == 0o600
        kinds = {d.get("kind") for d in yaml.safe_load_all(text) if isinstance(d, dict)}
        if any(v in text for v in values):
            assert private, f"{path}: holds a secret but is not mode 0600"
            # The one exception to "only in Secret objects": the DB-less configuration the chart makes a Secret of.
            helm_input = path == rendered[name] / "kubernetes/helm/kong-dbless.yaml"
            assert kinds == {"Secret"} or helm_input, f"{path}: holds a secret but is not a Secret file"
        if "Secret" in kinds:
            assert private, f"{path}: a Secret in a world-readable file"
        if "ConfigMap" in kinds:
            assert not any(v in text for v in values)


def test_vm_catalogs_render_no_kubernetes(tmp_path: Path) -> None:
    out = render_example("assistant", tmp_path / "a", ["kubernetes"])
    assert not (out / "kubernetes").exists() or not any((out / "kubernetes").rglob("*.yaml"))
