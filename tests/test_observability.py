"""Observability: stock rules and dashboards, and what `render --target observability` derives from the
catalog (scrape jobs, SLO alerts, the services dashboard), held against promtool and the metric list."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatewayctl.catalog.load import load_catalog
from gatewayctl.render import grafana, render
from gatewayctl.render.observability import dashboard_provider, datasources, prometheus_config
from gatewayctl.render.output import dump_json, dump_yaml, write_files
from gatewayctl.render.promql import base_name, metric_names
from gatewayctl.render.stack import JOB_KONG, JOB_KUMA_CP, JOB_KUMA_DP, JOB_ZIPKIN

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ASSETS = ROOT / "observability"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus; .ci/run does this)"
)


def example_env() -> dict[str, str]:
    env = {}
    for line in (EXAMPLES / "example.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env


def render_example(name: str, out: Path, targets: list[str]) -> Path:
    loaded = load_catalog(EXAMPLES / f"{name}.yaml")
    files = render(loaded, targets, loaded.secrets(example_env()))
    write_files(out, files, owned_dirs=targets)
    return out


EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("observability")
    return {n: render_example(n, base / n, ["observability"]) for n in EXAMPLE_NAMES}


def known_metrics() -> tuple[set[str], set[str]]:
    data = yaml.safe_load((ASSETS / "metrics.yaml").read_text())
    names = set(data["metrics"])
    histograms = {n for n, m in data["metrics"].items() if m["type"] == "histogram"}
    for name, m in data["metrics"].items():
        assert m["source"] in data["sources"], f"{name}: unknown source {m['source']}"
    return names, histograms


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=60)


def rule_exprs(path: Path) -> tuple[list[str], set[str]]:
    doc = yaml.safe_load(path.read_text())
    exprs, recorded = [], set()
    for group in doc["groups"]:
        for rule in group["rules"]:
            exprs.append(rule["expr"])
            if "record" in rule:
                recorded.add(rule["record"])
    return exprs, recorded


def dashboard_exprs(doc: dict[str, Any]) -> list[str]:
    exprs = []
    for panel in doc["panels"]:
        exprs += [t["expr"] for t in panel.get("targets", [])]
    for var in doc.get("templating", {}).get("list", []):
        if var["type"] == "query":
            exprs.append(var["definition"].removeprefix("label_values(").split(",")[0])
    return exprs


def assert_known(exprs: list[str], where: str, recorded: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    names, histograms = known_metrics()
    for expr in exprs:
        for name in metric_names(expr):
            assert base_name(name, histograms) in names | recorded, f"{where}: unknown metric {name} in {expr!r}"


# --------------------------------------------------------------------------- stock assets


def test_metric_list_has_kong_3_names_not_2x() -> None:
    names, histograms = known_metrics()
    assert "kong_http_requests_total" in names and "kong_request_latency_ms" in histograms
    assert not {"kong_http_status", "kong_latency"} & names
    data = yaml.safe_load((ASSETS / "metrics.yaml").read_text())
    assert "code" in data["metrics"]["kong_http_requests_total"]["labels"]
    assert "status" not in data["metrics"]["kong_http_requests_total"]["labels"]


def test_promql_names_are_read_correctly() -> None:
    expr = 'histogram_quantile(0.99, sum by (service, le) (rate(kong_request_latency_ms_bucket{code=~"5.."}[5m]))) > 2'
    assert metric_names(expr) == {"kong_request_latency_ms_bucket"}
    assert metric_names('up{job="kong"} == 0 and on (instance) kong_node_info') == {"up", "kong_node_info"}
    assert metric_names("sum(rate(x_total[$__rate_interval])) / 7 * 86400") == {"x_total"}


@pytest.mark.parametrize("path", sorted((ASSETS / "prometheus" / "rules").glob("*.yml")), ids=lambda p: p.name)
def test_stock_rules_use_known_metrics_and_kong_3_labels(path: Path) -> None:
    exprs, recorded = rule_exprs(path)
    assert_known(exprs, path.name, recorded)
    for expr in exprs:
        assert "status=" not in expr and 'status=~"' not in expr, "Kong 3.x names the status label `code`"


@needs_promtool
@pytest.mark.parametrize("path", sorted((ASSETS / "prometheus" / "rules").glob("*.yml")), ids=lambda p: p.name)
def test_stock_rules_pass_promtool(path: Path) -> None:
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_stock_kong_alerts_fire_on_synthetic_series(tmp_path: Path) -> None:
    shutil.copy(ASSETS / "prometheus" / "rules" / "kong.rules.yml", tmp_path / "kong.rules.yml")
    (tmp_path / "test.yml").write_text(
        textwrap.dedent(
            """\
            rule_files: [kong.rules.yml]
            evaluation_interval: 1m
            tests:
              - interval: 1m
                input_series:
                  - series: 'kong_http_requests_total{service="a",code="200",instance="k1",job="kong"}'
                    values: '0+600x30'
                  - series: 'kong_http_requests_total{service="a",code="503",instance="k1",job="kong"}'
                    values: '0+120x30'
                  - series: 'kong_datastore_reachable{instance="k1",job="kong"}'
                    values: '1 1 1 0 0 0 0 0'
                alert_rule_test:
                  - eval_time: 20m
                    alertname: KongHigh5xxRatio
                    exp_alerts:
                      - exp_labels: {severity: warning, service: a}
                        exp_annotations:
                          summary: More than 5% of requests to a fail with 5xx
                          description: "5xx ratio 16.67% over 5 minutes."
                  - eval_time: 6m
                    alertname: KongDatastoreUnreachable
                    exp_alerts:
                      - exp_labels: {severity: critical, instance: k1, job: kong}
                        exp_annotations:
                          summary: Kong at k1 cannot reach its database
                          description: Configuration changes are not applied and cache misses fail.
            """
        )
    )
    result = promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_stock_dashboards_are_what_grafana_py_builds() -> None:
    """observability/grafana/ is generated; UPDATE_GOLDEN=1 rewrites it after a change to grafana.py."""
    expected = {f"dashboards/{n}": dump_json(b()) for n, b in grafana.STOCK_DASHBOARDS.items()}
    expected["provisioning/datasources/datasources.yaml"] = dump_yaml(datasources())
    expected["provisioning/dashboards/dashboards.yaml"] = dump_yaml(dashboard_provider())
    for rel, text in expected.items():
        path = ASSETS / "grafana" / rel
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_text(text)
        assert path.read_text() == text, f"{path} is stale: run UPDATE_GOLDEN=1 pytest {__file__}"


def check_dashboard(path: Path) -> None:
    doc = json.loads(path.read_text())
    for key in ("uid", "title", "panels", "schemaVersion", "templating"):
        assert key in doc, f"{path.name}: no {key}"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
    variables = {v["name"] for v in doc["templating"]["list"]}
    assert "datasource" in variables
    for panel in doc["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for t in panel.get("targets", []):
            assert (t.get("datasource") or panel.get("datasource")) == grafana.DATASOURCE
    assert_known(dashboard_exprs(doc), path.name)


@pytest.mark.parametrize("path", sorted((ASSETS / "grafana" / "dashboards").glob("*.json")), ids=lambda p: p.name)
def test_stock_dashboards_are_sound(path: Path) -> None:
    check_dashboard(path)


def dashboard_as_rules(path: Path, out: Path) -> Path:
    """Every dashboard query as a recording rule (Grafana's variables replaced), for promtool to parse."""
    doc = json.loads(path.read_text())
    rules = []
    for i, expr in enumerate(dashboard_exprs(doc)):
        expr = expr.replace("$__rate_interval", "5m").replace("$service", "a").replace("$mesh", "default")
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    out.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))
    return out


@needs_promtool
def test_every_dashboard_query_parses(tmp_path: Path, rendered: dict[str, Path]) -> None:
    paths = sorted((ASSETS / "grafana" / "dashboards").glob("*.json"))
    paths += sorted(rendered["platform"].glob("observability/grafana/dashboards/*-services.json"))
    paths += sorted(rendered["detection-api"].glob("observability/grafana/dashboards/*-services.json"))
    for path in paths:
        result = promtool("check", "rules", dashboard_as_rules(path, tmp_path / f"{path.stem}.yml"))
        assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr}"


# --------------------------------------------------------------------------- rendered output


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_rendered_rules_and_dashboards(name: str, rendered: dict[str, Path]) -> None:
    out = rendered[name] / "observability"
    for path in sorted(out.glob("prometheus/rules/*.yml")):
        exprs, recorded = rule_exprs(path)
        assert_known(exprs, f"{name}/{path.name}", recorded | slo_recorded(out))
        if PROMTOOL:
            result = promtool("check", "rules", path)
            assert result.returncode == 0, result.stdout + result.stderr
    for path in sorted(out.glob("grafana/dashboards/*.json")):
        check_dashboard(path)


def slo_recorded(out: Path) -> set[str]:
    slo = out / "prometheus" / "rules" / "slo.rules.yml"
    return rule_exprs(slo)[1] if slo.exists() else set()


@needs_promtool
@pytest.mark.parametrize("name", ["assistant", "detection-api"])
def test_vm_prometheus_config_passes_promtool(name: str, rendered: dict[str, Path]) -> None:
    prometheus = rendered[name] / "observability" / "prometheus"
    result = promtool("check", "config", "prometheus.yml", cwd=prometheus)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr, "a rule file or file SD target list is missing"
    targets = json.loads((prometheus / "targets" / f"{JOB_KONG}.json").read_text())
    assert targets[0]["targets"]


def test_kubernetes_scrape_jobs_find_what_the_stack_exposes() -> None:
    """Debian's promtool has no kubernetes_sd_configs, so the Kubernetes config is checked here."""
    catalog = load_catalog(EXAMPLES / "platform.yaml").catalog
    config = prometheus_config(catalog)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", JOB_KONG, JOB_ZIPKIN, JOB_KUMA_CP, JOB_KUMA_DP}
    kong = jobs[JOB_KONG]
    assert kong["kubernetes_sd_configs"] == [{"role": "endpoints", "namespaces": {"names": ["kong"]}}]
    assert kong["relabel_configs"][0]["regex"] == "kong-status;status"
    assert jobs[JOB_KUMA_CP]["relabel_configs"][0]["regex"] == "kuma-control-plane;diagnostics"
    dp = jobs[JOB_KUMA_DP]
    assert dp["metrics_path"] == "/metrics"
    assert any(r.get("replacement") == "${1}:5670" for r in dp["relabel_configs"])
    for job in jobs.values():
        for sd in job.get("kubernetes_sd_configs", []):
            assert sd["role"] in ("endpoints", "pod", "service", "node", "endpointslice", "ingress")


def test_kong_plugins_line_up_with_the_scrape_and_zipkin(rendered: dict[str, Path], tmp_path: Path) -> None:
    """What Kong emits (prometheus plugin flags, zipkin endpoint) is what the stack collects."""
    out = render_example("detection-api", tmp_path / "d", ["kong", "observability"])
    kong = yaml.safe_load((out / "kong" / "kong.yaml").read_text())
    plugins = {p["name"]: p["config"] for p in kong["plugins"]}
    assert plugins["prometheus"]["status_code_metrics"] and plugins["prometheus"]["latency_metrics"]
    assert plugins["zipkin"]["http_endpoint"] == "http://10.40.3.10:9411/api/v2/spans"
    zipkin_targets = json.loads((out / "observability/prometheus/targets/zipkin.json").read_text())
    assert zipkin_targets[0]["targets"] == ["10.40.3.10:9411"]


# --------------------------------------------------------------------------- SLO alerts


def slo_test(rule_file: str, series: str, alerts: str) -> str:
    """A promtool unit test file: input series and expected alerts given as YAML lists."""
    test = {"interval": "1m", "input_series": yaml.safe_load(series), "alert_rule_test": yaml.safe_load(alerts)}
    return yaml.safe_dump({"rule_files": [rule_file], "evaluation_interval": "1m", "tests": [test]})


def kong_series(service: str, ok_per_min: int, errors_per_min: int) -> str:
    return textwrap.dedent(
        f"""\
        - series: 'kong_http_requests_total{{service="{service}",route="{service}-r",code="200"}}'
          values: '0+{ok_per_min}x90'
        - series: 'kong_http_requests_total{{service="{service}",route="{service}-r",code="500"}}'
          values: '0+{errors_per_min}x90'
        """
    )


def latency_series(service: str, all_below_ms: int) -> str:
    """600 requests a minute, every one of them faster than `all_below_ms` (a bucket bound)."""
    lines = []
    for le in (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000, "+Inf"):
        per_min = 600 if le == "+Inf" or int(le) >= all_below_ms else 0
        lines.append(
            f'- series: \'kong_request_latency_ms_bucket{{service="{service}",route="{service}-r",le="{le}"}}\'\n'
            f"  values: '0+{per_min}x60'"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def slo_dir(rendered: dict[str, Path]) -> Path:
    return rendered["platform"] / "observability" / "prometheus" / "rules"


@needs_promtool
def test_availability_alert_fires_when_the_budget_burns(slo_dir: Path) -> None:
    # products: availability 99.95 -> budget 0.05%; fast burn at 14.4x = 0.72% 5xx. Here 5% fail.
    alerts = textwrap.dedent(
        """\
        - eval_time: 70m
          alertname: SLOErrorBudgetFastBurn
          exp_alerts:
            - exp_labels: {service: products, catalog: shop-platform, severity: critical, slo: availability}
              exp_annotations:
                summary: products burns its 99.95% availability budget 14.4x too fast
                description: 5xx ratio over 1h is 5%; the SLO allows 0.05% over 30 days.
        """
    )
    (slo_dir / "fires.test.yml").write_text(slo_test("slo.rules.yml", kong_series("products", 5700, 300), alerts))
    result = promtool("test", "rules", "fires.test.yml", cwd=slo_dir)
    (slo_dir / "fires.test.yml").unlink()
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_availability_alert_stays_quiet_within_budget(slo_dir: Path) -> None:
    # 0.02% of requests fail: inside a 0.05% budget; neither burn alert fires at any point.
    alerts = "".join(
        f"- eval_time: {t}\n  alertname: {a}\n  exp_alerts: []\n"
        for t in ("10m", "70m", "89m")
        for a in ("SLOErrorBudgetFastBurn", "SLOErrorBudgetSlowBurn")
    )
    (slo_dir / "quiet.test.yml").write_text(slo_test("slo.rules.yml", kong_series("products", 49990, 10), alerts))
    result = promtool("test", "rules", "quiet.test.yml", cwd=slo_dir)
    (slo_dir / "quiet.test.yml").unlink()
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize(("bucket", "fires"), [(1000, True), (100, False)])
def test_latency_alert(slo_dir: Path, bucket: int, fires: bool) -> None:
    # products: latency_p99 200ms. Every request in (700 ms, 1 s] (p99 interpolates to 997 ms) fires;
    # every one under 100 ms does not.
    expected = (
        textwrap.dedent(
            """\
            - exp_labels: {service: products, catalog: shop-platform, severity: warning, slo: latency}
              exp_annotations:
                summary: The p99 latency of products is above its 200ms SLO
                description: p99 997 ms over 5 minutes.
            """
        )
        if fires
        else ""
    )
    alerts = "- eval_time: 30m\n  alertname: SLOLatencyP99\n  exp_alerts:" + (
        "\n" + textwrap.indent(expected, "    ") if fires else " []\n"
    )
    (slo_dir / "latency.test.yml").write_text(slo_test("slo.rules.yml", latency_series("products", bucket), alerts))
    result = promtool("test", "rules", "latency.test.yml", cwd=slo_dir)
    (slo_dir / "latency.test.yml").unlink()
    assert result.returncode == 0, result.stdout + result.stderr


def test_slo_rules_cover_every_measured_service() -> None:
    catalog = load_catalog(EXAMPLES / "platform.yaml").catalog
    from gatewayctl.render.observability import slo_rules

    rules = slo_rules(catalog)
    assert rules is not None
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    services = {r["labels"]["service"] for r in alerts}
    # payments has no routes: measured by the callers' Envoys; inventory has no slo of its own but the
    # defaults give it one, and it has routes.
    assert {"products", "orders", "payments", "notifications", "partner-api", "backoffice"} <= services
    payments = next(r for r in alerts if r["labels"]["service"] == "payments" and r["alert"] == "SLOLatencyP99")
    assert 'envoy_cluster_name="payments_shop_svc_8080"' in payments["expr"]
    assert payments["expr"].endswith("> 1000")


def test_no_slo_no_rule_file(tmp_path: Path) -> None:
    out = render_example("assistant", tmp_path / "a", ["observability"])
    assert not (out / "observability/prometheus/rules/slo.rules.yml").exists()
    assert (out / "observability/prometheus/rules/kong.rules.yml").exists()
