"""The reconciler's alert rules (observability/prometheus/rules/gatewayctl.rules.yml) under `promtool test
rules`, the watch manifests (manifests/overlays/gatewayctl-watch) against the command they run, and the
reconciler row of the Kong dashboard. Stock-rule checks (promtool check, known metric names) run for this
file in tests/test_observability.py like for every rule file."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from test_observability import ASSETS, assert_known, needs_promtool, promtool, rule_exprs

from gatewayctl.cli import app
from gatewayctl.render import grafana
from gatewayctl.watch.metrics import WatchMetrics

ROOT = Path(__file__).resolve().parent.parent
RULES = ASSETS / "prometheus" / "rules" / "gatewayctl.rules.yml"
OVERLAY = ROOT / "manifests" / "overlays" / "gatewayctl-watch"
KUBECTL = shutil.which("kubectl")


# --------------------------------------------------------------------------- alert rules


def test_every_watch_metric_is_in_the_known_list_and_the_rules_use_them() -> None:
    names = {m.name for m in WatchMetrics().registry.collect()}
    known = set(yaml.safe_load((ASSETS / "metrics.yaml").read_text())["metrics"])
    counters = {f"{n}_total" for n in names}
    assert {n for n in names | counters if n in known} >= {n for n in names if n in known}
    for name in names:
        assert name in known or f"{name}_total" in known, f"{name} is not in observability/metrics.yaml"
    exprs, recorded = rule_exprs(RULES)
    assert_known(exprs, RULES.name, recorded)


def promtool_test(tmp_path: Path, series: str, alerts: str, interval: str = "1m") -> None:
    shutil.copy(RULES, tmp_path / RULES.name)
    test = {
        "rule_files": [RULES.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": interval,
                "input_series": yaml.safe_load(textwrap.dedent(series)),
                "alert_rule_test": yaml.safe_load(textwrap.dedent(alerts)),
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_drift_alert_fires_after_15_minutes_on_the_leaders_series(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        """\
        - series: 'gatewayctl_drift_objects{system="kong",kind="services",action="update",instance="a"}'
          values: '0 0 2x40'
        - series: 'gatewayctl_drift_objects{system="kong",kind="routes",action="delete",instance="a"}'
          values: '0 0 1x40'
        - series: 'gatewayctl_drift_objects{system="kong",kind="plugins",action="create",instance="a"}'
          values: '0x40'
        """,
        """\
        - eval_time: 10m
          alertname: GatewayctlDriftPresent
          exp_alerts: []
        - eval_time: 20m
          alertname: GatewayctlDriftPresent
          exp_alerts:
            - exp_labels: {severity: warning, system: kong}
              exp_annotations:
                summary: kong has differed from the catalog for 15 minutes
                description: >-
                  3 objects would be changed by an apply. Someone changed them by hand, or the watch runs
                  without --heal; see `gatewayctl diff` and the gatewayctl_drift_objects series by kind.
        """,
    )


@needs_promtool
def test_healed_drift_does_not_alert(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        """\
        - series: 'gatewayctl_drift_objects{system="kong",kind="services",action="update",instance="a"}'
          values: '0 1 1 0 0 1 1 0x40'
        """,
        "- {eval_time: 30m, alertname: GatewayctlDriftPresent, exp_alerts: []}\n",
    )


@needs_promtool
def test_watch_down_fires_only_when_no_replica_is_up(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        """\
        - series: 'up{job="gatewayctl-watch",instance="a"}'
          values: '1 1 0x10 0x20'
        - series: 'up{job="gatewayctl-watch",instance="b"}'
          values: '1x10 0x20'
        """,
        """\
        - eval_time: 8m
          alertname: GatewayctlWatchDown
          exp_alerts: []
        - eval_time: 20m
          alertname: GatewayctlWatchDown
          exp_alerts:
            - exp_labels: {severity: critical}
              exp_annotations:
                summary: No gatewayctl watch replica is up
                description: Nothing compares the live gateway and mesh with the catalog; drift goes unnoticed.
        """,
    )


@needs_promtool
def test_failing_heals_alert_but_a_shutdown_does_not(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        """\
        - series: 'gatewayctl_apply_failures_total{system="kong",reason="rejected",instance="a"}'
          values: '0+1x40'
        - series: 'gatewayctl_apply_failures_total{system="kong",reason="abandoned",instance="b"}'
          values: '0+1x40'
        """,
        """\
        - eval_time: 10m
          alertname: GatewayctlApplyFailing
          exp_alerts: []
        - eval_time: 30m
          alertname: GatewayctlApplyFailing
          exp_alerts:
            - exp_labels: {severity: warning, system: kong, reason: rejected}
              exp_annotations:
                summary: gatewayctl watch keeps failing to heal kong (rejected)
                description: >-
                  Heals have failed for 15 minutes. rejected: the server refuses a write (the log names the catalog
                  entry); remote: the admin API fails; lock_held: another apply holds the lock; snapshot: the state
                  directory is not writable.
        """,
    )


@needs_promtool
def test_checks_failing_fires_for_a_watch_that_never_succeeded(tmp_path: Path) -> None:
    """A watch deployed with a wrong Admin URL or token fails from its first check: it has no
    last-successful-check series, and the alert used to compare only that, so it never fired. A system that
    succeeds (kuma here) stays quiet while failing now and then."""
    description = (
        "The admin API is unreachable or failing, or the catalog cannot be planned against this server "
        "(gatewayctl_check_failures_total by reason; the watch's log names the failed call)."
    )
    promtool_test(
        tmp_path,
        """\
        - series: 'gatewayctl_check_failures_total{system="kong",reason="remote",instance="a"}'
          values: '1+1x40'
        - series: 'gatewayctl_check_failures_total{system="kuma",reason="remote",instance="a"}'
          values: '1+1x40'
        - series: 'gatewayctl_last_successful_check_timestamp_seconds{system="kuma",instance="a"}'
          values: '0+60x40'
        """,
        f"""\
        - eval_time: 3m
          alertname: GatewayctlChecksFailing
          exp_alerts: []
        - eval_time: 20m
          alertname: GatewayctlChecksFailing
          exp_alerts:
            - exp_labels: {{severity: warning, system: kong}}
              exp_annotations:
                summary: gatewayctl watch has not planned kong for over 10 minutes
                description: "{description}"
        """,
    )


@needs_promtool
def test_checks_failing_catalog_invalid_and_no_leader(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        """\
        - series: 'gatewayctl_last_successful_check_timestamp_seconds{system="kong",instance="a"}'
          values: '0+60x5 300x30'
        - series: 'gatewayctl_catalog_last_reload_successful{instance="a"}'
          values: '1 1 0x30'
        - series: 'gatewayctl_leader{job="gatewayctl-watch",instance="a"}'
          values: '1 1 0x30'
        - series: 'gatewayctl_leader{job="gatewayctl-watch",instance="b"}'
          values: '0x32'
        """,
        """\
        - eval_time: 14m
          alertname: GatewayctlChecksFailing
          exp_alerts: []
        - eval_time: 22m
          alertname: GatewayctlChecksFailing
          exp_alerts:
            - exp_labels: {severity: warning, system: kong}
              exp_annotations:
                summary: gatewayctl watch has not planned kong for over 10 minutes
                description: >-
                  The admin API is unreachable or failing, or the catalog cannot be planned against this server
                  (gatewayctl_check_failures_total by reason; the watch's log names the failed call).
        - eval_time: 4m
          alertname: GatewayctlCatalogInvalid
          exp_alerts: []
        - eval_time: 8m
          alertname: GatewayctlCatalogInvalid
          exp_alerts:
            - exp_labels: {severity: warning, instance: a}
              exp_annotations:
                summary: The catalog file on a does not load
                description: >-
                  An edit of the catalog is invalid; the watch keeps using the last good catalog. The log lists each
                  error at its line (`gatewayctl validate` shows the same).
        - eval_time: 10m
          alertname: GatewayctlWatchNoLeader
          exp_alerts:
            - exp_labels: {severity: warning}
              exp_annotations:
                summary: gatewayctl watch replicas run but none holds the Lease
                description: >-
                  The replicas cannot reach the Kubernetes API or may not update the Lease (RBAC); no one checks.
        """,
    )


@needs_promtool
def test_a_failed_ci_apply_alerts(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        """\
        - series: 'gatewayctl_apply_run_success{job="gatewayctl-apply",catalog="shop",env="prod"}'
          values: '1 1 0 0'
        """,
        """\
        - eval_time: 1m
          alertname: GatewayctlCIApplyFailed
          exp_alerts: []
        - eval_time: 3m
          alertname: GatewayctlCIApplyFailed
          exp_alerts:
            - exp_labels: {severity: warning, job: gatewayctl-apply, catalog: shop, env: prod}
              exp_annotations:
                summary: The last CI apply of catalog shop failed
                description: >-
                  gatewayctl_apply_run_exit_code says why: 1 the catalog is invalid, 3 Kong or Kuma failed or refused
                  a write (the CI log names the call); the live state may be part-way, and the next apply converges.
        """,
    )


# --------------------------------------------------------------------------- the dashboard row


def test_the_kong_dashboard_has_a_reconciler_row_with_known_metrics() -> None:
    doc = grafana.gateway_dashboard()
    titles = [p["title"] for p in doc["panels"]]
    assert "Drift watch (gatewayctl)" in titles
    row = titles.index("Drift watch (gatewayctl)")
    below = doc["panels"][row + 1 :]
    exprs = [t["expr"] for p in below for t in p.get("targets", [])]
    assert any("gatewayctl_drift_objects" in e for e in exprs)
    assert any("gatewayctl_apply_failures_total" in e for e in exprs)
    assert any("gatewayctl_remote_request_duration_seconds" in e for e in exprs)
    assert_known(exprs, "kong-gateway reconciler row")


# --------------------------------------------------------------------------- manifests


def built() -> list[dict[str, Any]]:
    assert KUBECTL is not None
    result = subprocess.run([KUBECTL, "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with its built-in kustomize) is not installed")
def test_watch_deployment_runs_a_command_gatewayctl_accepts() -> None:
    objs = by_kind(built())
    deploy = objs["Deployment"]
    assert deploy["metadata"]["namespace"] == "kong" and deploy["spec"]["replicas"] == 2
    pod = deploy["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = [a.replace("$(POD_NAMESPACE)", "kong") for a in container["args"]]
    assert args[:2] == ["watch", "/etc/gatewayctl/catalog.yaml"]
    # the same flags the Helm chart passes, parsed by the real command line (nothing run)
    command = typer.main.get_command(app)
    ctx = command.make_context("gatewayctl", list(args), resilient_parsing=False)  # type: ignore[attr-defined]
    sub = command.get_command(ctx, "watch")  # type: ignore[attr-defined]
    params = sub.make_context("watch", args[1:], parent=ctx).params
    assert params["metrics_port"] == 9542 and params["interval"] == 60 and params["lease_name"] == "gatewayctl-watch"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == params["metrics_port"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/etc/gatewayctl"] == "catalog" and str(params["state_dir"]) in mounts
    # RBAC: exactly the Lease the command names, for the ServiceAccount the pods run as
    role, binding = objs["Role"], objs["RoleBinding"]
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert named[0]["resourceNames"] == [params["lease_name"]] and set(named[0]["verbs"]) == {"get", "update"}
    assert (
        binding["subjects"][0]["name"]
        == pod["spec"]["serviceAccountName"]
        == objs["ServiceAccount"]["metadata"]["name"]
    )
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    # Kuma on Kubernetes: every kind the Kubernetes apply writes, for the same ServiceAccount
    from gatewayctl.apply.kuma_kubernetes import KINDS

    kuma_role, kuma_binding = objs["ClusterRole"], objs["ClusterRoleBinding"]
    assert set(kuma_role["rules"][0]["resources"]) == {plural for plural, _ in KINDS.values()}
    assert {"list", "patch", "delete"} <= set(kuma_role["rules"][0]["verbs"])
    subject = kuma_binding["subjects"][0]
    assert (subject["name"], subject["namespace"]) == (pod["spec"]["serviceAccountName"], "kong")
    # the Service selects the pods; Kong's NetworkPolicy lets them reach the Admin API
    labels = pod["metadata"]["labels"]
    assert objs["Service"]["spec"]["selector"].items() <= labels.items()
    kong = [d for d in yaml.safe_load_all((ROOT / "manifests/base/kong/kong.yaml").read_text()) if d]
    policy = next(d for d in kong if d["kind"] == "NetworkPolicy")
    admin = next(r for r in policy["spec"]["ingress"] if {"port": 8001, "protocol": "TCP"} in r.get("ports", []))
    assert admin["from"][0]["podSelector"]["matchLabels"].items() <= labels.items()
    env = {e["name"]: e.get("value") for e in container["env"]}
    admin_service = next(d for d in kong if d["kind"] == "Service" and d["metadata"]["name"] == "kong-admin")
    assert env["GATEWAYCTL_KONG_ADMIN_URL"] == f"http://kong-admin:{admin_service['spec']['ports'][0]['port']}"


def test_service_monitor_scrapes_the_service_as_the_rules_job() -> None:
    monitor = yaml.safe_load((OVERLAY / "servicemonitor.yaml").read_text())
    base = [d for d in yaml.safe_load_all((ROOT / "manifests/base/gatewayctl-watch/watch.yaml").read_text()) if d]
    service = next(d for d in base if d["kind"] == "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    assert f'job="{job}"' in RULES.read_text()
    assert "servicemonitor.yaml" not in (OVERLAY / "kustomization.yaml").read_text().split("resources:")[1]
