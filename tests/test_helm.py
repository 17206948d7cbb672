"""helm/gatewayctl with helm-python-sdk (the Helm v4 library, no helm binary, no cluster): the chart lints
clean and renders for its default values and for each Kubernetes example's rendered values
(`render --target kubernetes` → kubernetes/helm/gatewayctl-values.yaml), with and without the optional
flags; every rendered object validates (kubernetes-validate --strict 1.30, custom resources against
tests/crds/) and lines up with the kustomize output it runs next to."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from crd_check import check_resource, is_custom_resource
from test_observability import EXAMPLES, PROMTOOL, example_env, needs_promtool, render_example

from gatewayctl.catalog.load import load_catalog
from gatewayctl.render import render
from gatewayctl.render.kubernetes import CHART_SECRET_SECTIONS, WATCH_RULES, kong_native_config, rule_groups_of
from gatewayctl.render.observability import slo_rules

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is a test extra")
chart_sdk = pytest.importorskip("helm_python.chart", reason="helm-python-sdk is a test extra")
from helm_python.errors import HelmRenderError, HelmValuesError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "gatewayctl"
K8S_EXAMPLES = ["platform", "knowledge-base", "simulation"]
RELEASE = "gatewayctl"
MINIMAL_CATALOG = "format: 1\nname: demo\n"
# Every optional part on: the reconciler, both ServiceMonitors, the PrometheusRule, the CronJob, a token.
FLAGS: dict[str, Any] = {
    "watch": {"enabled": True, "replicas": 3, "serviceMonitor": {"enabled": True}},
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "apply": {"cronJob": {"enabled": True}},
    "kong": {"adminToken": {"existingSecret": "kong-admin-token", "key": "token"}},
}
Doc = dict[str, Any]


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def render_chart(values: dict[str, Any], namespace: str, release: str = RELEASE) -> list[tuple[str, Doc]]:
    with chart_sdk.Chart.load(CHART) as chart:
        out = chart.render(values, name=release, namespace=namespace, is_install=True)
    return [
        (template.removeprefix("gatewayctl/templates/"), doc)
        for template, text in sorted(out.items())
        if template.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if isinstance(doc, dict)
    ]


def notes(values: dict[str, Any], namespace: str) -> str:
    with chart_sdk.Chart.load(CHART) as chart:
        return str(chart.render(values, name=RELEASE, namespace=namespace)["gatewayctl/templates/NOTES.txt"])


def find(docs: list[tuple[str, Doc]], kind: str, suffix: str = "") -> Doc:
    matches = [d for _, d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(matches) == 1, f"{kind} *{suffix}: {len(matches)} found"
    return matches[0]


def kinds(docs: list[tuple[str, Doc]]) -> list[str]:
    return sorted(d["kind"] for _, d in docs)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("helm")
    return {n: render_example(n, base / n, ["kong", "observability", "kubernetes"]) for n in K8S_EXAMPLES}


def example_values(name: str, rendered: dict[str, Path]) -> dict[str, Any]:
    """What the README says to run: -f the rendered values, --set-file the catalog (and DB-less config)."""
    helm = rendered[name] / "kubernetes" / "helm"
    values: dict[str, Any] = yaml.safe_load((helm / "gatewayctl-values.yaml").read_text())
    values["catalog"]["content"] = (EXAMPLES / f"{name}.yaml").read_text()
    if (helm / "kong-dbless.yaml").exists():
        values["dblessConfig"]["config"] = (helm / "kong-dbless.yaml").read_text()
    return values


def with_flags(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with FLAGS, but no watch for DB-less Kong without a mesh: nothing it could reach (the chart
    refuses it, test_watch_of_dbless_kong_is_refused_unless_it_watches_kuma_only)."""
    kong, watch = values.get("kong", {}), values.get("watch", {})
    if kong.get("mode") == "dbless" and watch.get("only") != "kuma":
        return merge(values, merge(FLAGS, {"watch": {"enabled": False}}))
    return merge(values, FLAGS)


def namespace_of(name: str) -> str:
    return load_catalog(EXAMPLES / f"{name}.yaml").catalog.deployment.namespaces.kong


CASES = ["default", "default+flags"] + [f"{n}{f}" for n in K8S_EXAMPLES for f in ("", "+flags")]


def case_values(case: str, rendered: dict[str, Path]) -> tuple[dict[str, Any], str]:
    name, _, flags = case.partition("+")
    if name == "default":
        values: dict[str, Any] = {"catalog": {"content": MINIMAL_CATALOG}} if flags else {}
        namespace = "kong"
    else:
        values, namespace = example_values(name, rendered), namespace_of(name)
    return (with_flags(values) if flags else values), namespace


# --------------------------------------------------------------------------- lint and validate


@pytest.mark.parametrize("case", CASES)
def test_chart_lints_clean(case: str, rendered: dict[str, Path]) -> None:
    values, namespace = case_values(case, rendered)
    report = chart_sdk.lint(CHART, values, strict=True, namespace=namespace, kube_version="v1.30.0")
    assert report["total_charts_linted"] == 1
    serious = [m for m in report["messages"] if m["severity"] >= 2]  # 1 is info ("icon is recommended")
    assert not serious and not report["errors"], report


@pytest.mark.parametrize("case", CASES)
def test_every_rendered_object_validates(case: str, rendered: dict[str, Path]) -> None:
    values, namespace = case_values(case, rendered)
    docs = render_chart(values, namespace)
    assert docs
    for template, doc in docs:
        where = f"{case}: {template}: {doc['kind']} {doc['metadata']['name']}"
        if is_custom_resource(doc):
            problems = check_resource(doc)
            assert not problems, f"{where}: " + "; ".join(str(p) for p in problems)
            continue
        try:
            kubernetes_validate.validate(doc, "1.30.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {exc.path}: {exc.message}")
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"], where
    if "+flags" in case:
        assert {"ServiceMonitor", "PrometheusRule"} <= set(kinds(docs))
        assert ("Deployment" in kinds(docs)) is values["watch"]["enabled"]  # off for simulation (DB-less, no mesh)
        assert ("CronJob" in kinds(docs)) is (values["kong"].get("mode", "db") == "db")  # no apply on DB-less


@pytest.mark.parametrize("release", ["shop-platform-gateway-config-prod-eu-west", "r" * 53])  # 53: Helm's longest
def test_names_fit_the_api_servers_limits_whatever_the_release_is_called(release: str) -> None:
    """A Service's name may have 63 characters, a CronJob's 52 (and a Job's becomes its pods' job-name label,
    63): `<fullname>-watch` and `<fullname>-apply` were refused by the API server for long release names,
    which kubernetes-validate does not check."""
    docs = [d for _, d in render_chart(merge({"catalog": {"content": MINIMAL_CATALOG}}, FLAGS), "kong", release)]
    limits = {"Service": 63, "CronJob": 52, "Job": 63}
    for doc in docs:
        name = doc["metadata"]["name"]
        assert len(name) <= limits.get(doc["kind"], 253), (doc["kind"], name)
        for value in doc["metadata"].get("labels", {}).values():
            assert len(str(value)) <= 63, (doc["kind"], name, value)
    [cron] = [d for d in docs if d["kind"] == "CronJob"]
    [rule] = [
        r
        for d in docs
        if d["kind"] == "PrometheusRule"
        for g in d["spec"]["groups"]
        for r in g["rules"]
        if r.get("alert") == "GatewayctlApplyFailed"
    ]
    assert f'job_name=~"{cron["metadata"]["name"]}.*"' in rule["expr"]  # still finds the Jobs it makes
    watch = {d["kind"]: d["metadata"]["name"] for d in docs if d["metadata"]["name"].endswith("-watch")}
    assert set(watch) == {"Deployment", "Service", "ServiceMonitor", "PodDisruptionBudget"}
    assert len(set(watch.values())) == 1


def test_default_values_render_only_the_service_account() -> None:
    assert kinds(render_chart({}, "kong")) == ["ServiceAccount"]
    assert "No catalog was given" in notes({}, "kong")


def test_optional_parts_do_not_depend_on_cluster_capabilities() -> None:
    """Rendered offline (no API versions known) whenever their flag is on; never probed with Capabilities."""
    for template in (CHART / "templates").iterdir():
        assert ".Capabilities" not in template.read_text(), template.name
    docs = render_chart(merge({"catalog": {"content": MINIMAL_CATALOG}}, FLAGS), "kong")
    assert kinds(docs).count("ServiceMonitor") == 2 and "PrometheusRule" in kinds(docs)
    off = render_chart({"catalog": {"content": MINIMAL_CATALOG}}, "kong")
    assert not {"ServiceMonitor", "PrometheusRule", "Deployment", "CronJob"} & set(kinds(off))


# --------------------------------------------------------------------------- DB mode: the apply Job


def test_db_mode_applies_the_catalog_after_install_and_upgrade(rendered: dict[str, Path]) -> None:
    values = example_values("platform", rendered)
    docs = render_chart(merge(values, FLAGS), "kong")
    job = find(docs, "Job", "-apply")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    pod = job["spec"]["template"]
    [c] = pod["spec"]["containers"]
    assert c["command"] == ["gatewayctl"] and c["args"][:3] == ["apply", "/etc/gatewayctl/catalog.yaml", "--yes"]
    assert pod["spec"]["restartPolicy"] == "Never" and pod["spec"]["automountServiceAccountToken"] is False
    # The catalog, verbatim, in a ConfigMap mounted where the args say.
    catalog_map = find(docs, "ConfigMap", "-catalog")
    assert catalog_map["data"]["catalog.yaml"] == values["catalog"]["content"].rstrip("\n")
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == "catalog"]
    sources = volume["projected"]["sources"]
    assert sources[0]["configMap"]["name"] == catalog_map["metadata"]["name"]
    # The ${file:keys/...} the catalog reads sits next to it, from a Secret.
    assert sources[1]["secret"]["items"] == [
        {"key": "keys_shop-id-rs256.pub.pem", "path": "keys/shop-id-rs256.pub.pem"}
    ]
    # Every secret comes from a Secret key; the only literal value is the Admin API's URL.
    env = {e["name"]: e for e in c["env"]}
    literal = {n for n, e in env.items() if "value" in e}
    assert literal == {"GATEWAYCTL_KONG_ADMIN_URL"}
    assert env["GATEWAYCTL_KONG_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "kong-admin-token",
        "key": "token",
    }
    loaded = load_catalog(EXAMPLES / "platform.yaml")
    needed = {r.name for p, r in loaded.secret_references if r.kind == "env" and p[0] in CHART_SECRET_SECTIONS}
    assert needed and needed == set(env) - literal - {"GATEWAYCTL_KONG_ADMIN_TOKEN"}
    assert "KONG_PG_PASSWORD" not in env and "GRAFANA_ADMIN_PASSWORD" not in env  # apply needs neither
    # The CronJob runs the same pod.
    assert find(docs, "CronJob", "-apply")["spec"]["jobTemplate"]["spec"]["template"] == pod


def kustomize_objects(out: Path) -> dict[tuple[str, str], Doc]:
    found = {}
    for path in (out / "kubernetes").rglob("*.yaml"):
        if "helm" in path.relative_to(out).parts:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and "kind" in doc and "metadata" in doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_the_apply_job_is_let_through_to_the_admin_api(rendered: dict[str, Path]) -> None:
    """The rendered NetworkPolicy admits only labelled pods of Kong's namespace to the Admin API: the Job's
    pods (and the reconciler's) carry the label, run there, and call the kong-admin Service's port."""
    objs = kustomize_objects(rendered["platform"])
    policy = objs[("NetworkPolicy", "kong")]
    admin = objs[("Service", "kong-admin")]
    same_namespace = [f for r in policy["spec"]["ingress"] for f in r.get("from", []) if "namespaceSelector" not in f]
    [peer] = [f for f in same_namespace if "podSelector" in f]
    selector = peer["podSelector"]["matchLabels"]
    namespace = policy["metadata"]["namespace"]
    docs = render_chart(merge(example_values("platform", rendered), FLAGS), namespace)
    for pod in (
        find(docs, "Job", "-apply")["spec"]["template"],
        find(docs, "Deployment", "-watch")["spec"]["template"],
    ):
        assert matches(selector, pod["metadata"]["labels"])
    url = example_values("platform", rendered)["kong"]["adminUrl"]
    assert (
        url == f"http://{admin['metadata']['name']}.{namespace}.svc.cluster.local:{admin['spec']['ports'][0]['port']}"
    )


def test_the_service_monitor_finds_the_rendered_kong_status_service(rendered: dict[str, Path]) -> None:
    for name in K8S_EXAMPLES:
        status = kustomize_objects(rendered[name])[("Service", "kong-status")]
        namespace = status["metadata"]["namespace"]
        monitor = find(render_chart(with_flags(example_values(name, rendered)), namespace), "ServiceMonitor", "-kong")
        spec = monitor["spec"]
        assert matches(spec["selector"]["matchLabels"], status["metadata"]["labels"])
        assert spec["namespaceSelector"]["matchNames"] == [namespace]
        assert spec["endpoints"][0]["port"] in {p["name"] for p in status["spec"]["ports"]}
        assert spec["endpoints"][0]["path"] == "/metrics"
        assert status["metadata"]["labels"][spec["jobLabel"]] == "kong"  # job="kong", as the alert rules say


# --------------------------------------------------------------------------- DB-less: the config Secret


def test_dbless_puts_the_rendered_config_into_the_secret_kong_mounts(rendered: dict[str, Path]) -> None:
    values = example_values("knowledge-base", rendered)
    docs = render_chart(values, namespace_of("knowledge-base"))
    assert "Job" not in kinds(docs)  # DB-less Kong refuses Admin API writes
    objs = kustomize_objects(rendered["knowledge-base"])
    mounted = next(
        v["secret"]["secretName"]
        for v in objs[("Deployment", "kong")]["spec"]["template"]["spec"]["volumes"]
        if "secret" in v
    )
    secret = find(docs, "Secret", mounted)
    assert secret["metadata"]["namespace"] == objs[("Deployment", "kong")]["metadata"]["namespace"]
    config = yaml.safe_load(base64.b64decode(secret["data"]["kong.yaml"]))
    loaded = load_catalog(EXAMPLES / "knowledge-base.yaml")
    assert config == kong_native_config(loaded.catalog, loaded.secrets(example_env()))
    assert "_info" not in config


def test_dbless_without_the_config_is_an_error_naming_the_fix(rendered: dict[str, Path]) -> None:
    values = example_values("knowledge-base", rendered)
    values["dblessConfig"]["config"] = ""
    with pytest.raises(HelmRenderError, match=r"--set-file dblessConfig\.config="):
        render_chart(values, "kb-gateway")


@pytest.mark.parametrize("name", K8S_EXAMPLES)
def test_no_secret_value_outside_a_secret(name: str, rendered: dict[str, Path]) -> None:
    secrets = [v for v in example_env().values() if len(v) > 8]
    values_text = (rendered[name] / "kubernetes/helm/gatewayctl-values.yaml").read_text()
    assert not any(s in values_text for s in secrets), "the values file holds a secret"
    for template, doc in render_chart(with_flags(example_values(name, rendered)), namespace_of(name)):
        if doc["kind"] != "Secret":
            assert not any(s in yaml.safe_dump(doc) for s in secrets), f"{template}: {doc['kind']} holds a secret"


# --------------------------------------------------------------------------- the watch reconciler


def test_watch_runs_the_reconciler_with_a_lease_probes_and_metrics() -> None:
    docs = render_chart(merge({"catalog": {"content": MINIMAL_CATALOG}}, FLAGS), "gw-system")
    deployment = find(docs, "Deployment", "-watch")
    assert deployment["spec"]["replicas"] == 3
    [c] = deployment["spec"]["template"]["spec"]["containers"]
    command = "watch /etc/gatewayctl/catalog.yaml --interval 60 --metrics-port 9542 --lease-name gatewayctl-watch"
    assert c["command"] == ["gatewayctl"]
    assert c["args"][:10] == [*command.split(" "), "--lease-namespace", "gw-system"]
    assert c["args"][10:] == ["--state-dir", "/var/lib/gatewayctl"]  # snapshots on the writable volume; no --heal
    assert {"name": "state", "mountPath": "/var/lib/gatewayctl"} in c["volumeMounts"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {"name": "metrics", "containerPort": 9542, "protocol": "TCP"} in c["ports"]
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    # RBAC: the Lease in the release namespace; the Kuma policies in Kuma's; the cluster-scoped Mesh.
    lease = find(docs, "Role", "-watch-lease")
    assert lease["metadata"]["namespace"] == "gw-system"
    assert lease["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
    ]
    kuma = find(docs, "Role", "-watch-kuma")
    assert kuma["metadata"]["namespace"] == "kuma-system"
    assert {"meshtrafficpermissions", "meshretries", "meshtraces"} <= set(kuma["rules"][0]["resources"])
    # the Kuma apply lock a heal takes: a Lease next to the policies
    assert kuma["rules"][1] == {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "update"],
    }
    assert find(docs, "ClusterRole", "-watch-mesh")["rules"][0]["resources"] == ["meshes"]
    for binding in ("RoleBinding", "ClusterRoleBinding"):
        for _, doc in docs:
            if doc["kind"] == binding:
                assert doc["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "gw-system"}]
    service = find(docs, "Service", "-watch")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9542, "targetPort": "metrics", "protocol": "TCP"}]
    assert matches(service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    monitor = find(docs, "ServiceMonitor", "-watch")
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_watch_stops_and_drains_like_the_kustomize_overlay() -> None:
    base = {
        d["kind"]: d for d in yaml.safe_load_all((ROOT / "manifests/base/gatewayctl-watch/watch.yaml").read_text()) if d
    }
    docs = render_chart(merge({"catalog": {"content": MINIMAL_CATALOG}}, FLAGS), "kong")
    pod = find(docs, "Deployment", "-watch")["spec"]["template"]
    want = base["Deployment"]["spec"]["template"]["spec"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == want["terminationGracePeriodSeconds"] == 60
    term = pod["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    budget = find(docs, "PodDisruptionBudget", "-watch")
    assert budget["spec"]["minAvailable"] == base["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    # one replica: a budget of 1 would block every drain, so none; the chart's affinity replaces the default
    one = merge({"catalog": {"content": MINIMAL_CATALOG}}, {"watch": {"enabled": True, "replicas": 1}})
    own = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}
    docs = render_chart(merge(one, {"affinity": own, "watch": {"terminationGracePeriodSeconds": 120}}), "kong")
    assert "PodDisruptionBudget" not in kinds(docs)
    spec = find(docs, "Deployment", "-watch")["spec"]["template"]["spec"]
    assert spec["affinity"] == own and spec["terminationGracePeriodSeconds"] == 120


def test_watch_heals_only_when_asked() -> None:
    values = merge({"catalog": {"content": MINIMAL_CATALOG, "environment": "prod"}}, FLAGS)
    healing = find(render_chart(merge(values, {"watch": {"heal": True}}), "kong"), "Deployment", "-watch")
    [c] = healing["spec"]["template"]["spec"]["containers"]
    assert c["args"][-3:] == ["--heal", "--env", "prod"]
    [c] = find(render_chart(values, "kong"), "Deployment", "-watch")["spec"]["template"]["spec"]["containers"]
    assert "--heal" not in c["args"] and c["args"][-2:] == ["--env", "prod"]


def test_watch_uses_the_catalogs_kuma_namespace(rendered: dict[str, Path]) -> None:
    values = merge(example_values("platform", rendered), FLAGS)
    kuma_ns = load_catalog(EXAMPLES / "platform.yaml").catalog.deployment.namespaces.kuma
    assert find(render_chart(values, "kong"), "Role", "-watch-kuma")["metadata"]["namespace"] == kuma_ns


def test_watch_of_dbless_kong_is_refused_unless_it_watches_kuma_only(rendered: dict[str, Path]) -> None:
    # simulation: DB-less without a mesh, so the rendered values leave only empty and the chart refuses
    values = merge(example_values("simulation", rendered), {"watch": {"enabled": True}})
    with pytest.raises(HelmRenderError, match=r"kong\.mode dbless: .*localhost.* Set watch\.only=kuma"):
        render_chart(values, namespace_of("simulation"))
    with pytest.raises(HelmRenderError, match=r"watch\.only=kuma"):
        render_chart(merge(values, {"watch": {"only": "kong"}}), namespace_of("simulation"))
    # knowledge-base: DB-less with a mesh; the rendered values watch Kuma only
    values = merge(example_values("knowledge-base", rendered), {"watch": {"enabled": True}})
    docs = render_chart(values, namespace_of("knowledge-base"))
    [c] = find(docs, "Deployment", "-watch")["spec"]["template"]["spec"]["containers"]
    assert c["args"][c["args"].index("--only") + 1] == "kuma"
    assert "watching kuma only" in notes(values, namespace_of("knowledge-base"))
    # DB mode watches both unless told
    [c] = find(render_chart(merge({"catalog": {"content": MINIMAL_CATALOG}}, FLAGS), "kong"), "Deployment", "-watch")[
        "spec"
    ]["template"]["spec"]["containers"]
    assert "--only" not in c["args"]


def test_a_catalog_over_a_config_maps_1_mib_is_refused_with_its_size() -> None:
    limit = 1_048_576 - len("catalog.yaml")  # the API server counts keys and values
    fits = MINIMAL_CATALOG + "#" * (limit - len(MINIMAL_CATALOG) - 1) + "\n"
    [config_map] = [d for _, d in render_chart({"catalog": {"content": fits}}, "kong") if d["kind"] == "ConfigMap"]
    assert len(config_map["data"]["catalog.yaml"]) == limit - 1  # the block scalar drops the final newline
    too_big = fits + "#"
    with pytest.raises(HelmRenderError, match=r"catalog\.content is 1048577 bytes with its key, over the 1048576"):
        render_chart({"catalog": {"content": too_big}}, "kong")
    # a ConfigMap of your own is not sized here (the API server already took it)
    docs = render_chart(
        {"catalog": {"content": too_big, "existingConfigMap": "mine"}, "watch": {"enabled": True}}, "kong"
    )
    assert "ConfigMap" not in kinds(docs)


def test_watch_without_a_catalog_is_an_error_naming_the_fix() -> None:
    with pytest.raises(HelmRenderError, match=r"--set-file catalog\.content="):
        render_chart({"watch": {"enabled": True}}, "kong")


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "bad",
    [
        {"kong": {"mode": "hybrid"}},
        {"catalog": {"secretEnv": [{"name": "TOKEN", "value": "literal-secret"}]}},  # values hold no secrets
        {"kong": {"adminToken": {"value": "literal-secret", "key": "token"}}},
        {"apply": {"parallelism": 0}},
        {"serviceMonitor": {"interval": "15 seconds"}},
        {"watch": {"metricsPort": 70000}},
        {"watch": {"only": "kong,kuma"}},
        {"catalog": {"secretFiles": [{"path": "../etc/passwd", "secretName": "s", "key": "k"}]}},
        {"unknownKey": True},
    ],
)
def test_the_values_schema_refuses_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(HelmValuesError):
        render_chart(bad, "kong")


@pytest.mark.parametrize("name", K8S_EXAMPLES)
def test_rendered_values_follow_the_catalog(name: str, rendered: dict[str, Path]) -> None:
    loaded = load_catalog(EXAMPLES / f"{name}.yaml")
    d = loaded.catalog.deployment
    values = yaml.safe_load((rendered[name] / "kubernetes/helm/gatewayctl-values.yaml").read_text())
    assert values["catalogName"] == loaded.catalog.name
    assert values["kong"]["mode"] == ("dbless" if d.kong.database == "off" else "db")
    assert values["apply"]["enabled"] is (d.kong.database == "postgres")
    assert values["dblessConfig"]["create"] is (d.kong.database == "off")
    assert (rendered[name] / "kubernetes/helm/kong-dbless.yaml").exists() is (d.kong.database == "off")
    assert values["watch"]["kumaNamespace"] == d.namespaces.kuma
    # DB-less Kong cannot be watched from the cluster; its mesh can
    assert values["watch"]["only"] == ("kuma" if d.kong.database == "off" and loaded.catalog.mesh_enabled else "")
    names = [e["name"] for e in values["catalog"]["secretEnv"]]
    assert len(names) == len(set(names))
    with chart_sdk.Chart.load(CHART) as chart:
        chart.validate_schema(chart.merge_values(values))  # the values file meets the chart's schema


@needs_promtool
def test_prometheus_rule_groups_pass_promtool(rendered: dict[str, Path], tmp_path: Path) -> None:
    assert PROMTOOL is not None
    values = merge(example_values("platform", rendered), FLAGS)
    rule = find(render_chart(values, "kong"), "PrometheusRule")
    names = [g["name"] for g in rule["spec"]["groups"]]
    slo = slo_rules(load_catalog(EXAMPLES / "platform.yaml").catalog)
    assert slo is not None
    assert {"gatewayctl-chart", "kong", *(g["name"] for g in slo["groups"])} <= set(names), names
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_large_catalogs_alert_rules_are_spread_over_prometheus_rules_etcd_takes(tmp_path: Path) -> None:
    """etcd refuses an object over 1.5 MiB; a catalog of 750 services with SLOs has about 1.2 MB of alert
    rules, which all went into one PrometheusRule. render numbers the groups into sets (`ruleSet`) and the
    chart makes a PrometheusRule of each; every group is in exactly one, each object valid for its CRD."""
    services = "".join(
        f"  - name: svc-{i:04d}\n    url: http://svc-{i:04d}.apps.svc.cluster.local:8080\n"
        f"    routes: [{{name: api, paths: [/s{i}]}}]\n    slo: {{availability: 99.9, latency_p99: 300ms}}\n"
        for i in range(750)
    )
    gateway = "gateway: {mode: db, metrics: {status_codes: true, latency: true}}"
    body = f"format: 1\nname: big\n{gateway}\nservices:\n{services}"
    (tmp_path / "catalog.yaml").write_text(body)
    loaded = load_catalog(tmp_path / "catalog.yaml")
    [values_file] = [f for f in render(loaded, ["kubernetes"], loaded.secrets({})) if f.path.endswith("values.yaml")]
    values = yaml.safe_load(values_file.content)
    with chart_sdk.Chart.load(CHART) as chart:
        chart.validate_schema(chart.merge_values(values))
    values["catalog"]["content"] = body
    values["prometheusRule"]["enabled"] = True
    rules = [d for _, d in render_chart(values, "kong") if d["kind"] == "PrometheusRule"]
    assert len(rules) > 1
    for rule in rules:
        assert len(json.dumps(rule)) < 1_572_864 and not check_resource(rule), rule["metadata"]["name"]
    names = [g["name"] for r in rules for g in r["spec"]["groups"]]
    assert len(names) == len(set(names)) and "gatewayctl-chart" in names
    assert {g["name"] for g in values["prometheusRule"]["groups"]} <= set(names)
    assert not [g for r in rules for g in r["spec"]["groups"] if "ruleSet" in g]
    alerts = [x for r in rules for g in r["spec"]["groups"] for x in g["rules"] if x.get("labels", {}).get("service")]
    assert len({(x["alert"], x["labels"]["service"]) for x in alerts}) == len(alerts) == 3 * 750


def test_watch_alerts_go_into_the_prometheus_rule_only_when_the_watch_runs() -> None:
    """`GatewayctlWatchDown` would fire wherever no reconciler runs: the groups render writes for it are
    used only when the watch is enabled."""
    groups = rule_groups_of(WATCH_RULES)
    watch_groups = {g["name"] for g in groups}
    assert any(r.get("alert") == "GatewayctlWatchDown" for g in groups for r in g["rules"])

    def rule_groups(watch_enabled: bool) -> set[str]:
        values = {
            "prometheusRule": {"enabled": True},
            "catalog": {"content": "format: 1\nname: shop\n"},
            "watch": {"enabled": watch_enabled, "alertGroups": groups},
        }
        rule = find(render_chart(values, "gatewayctl"), "PrometheusRule")
        return {g["name"] for g in rule["spec"]["groups"]}

    assert not rule_groups(False) & watch_groups
    assert watch_groups <= rule_groups(True)
