"""`gatewayctl status` where the catalog's secrets are not set (an on-call laptop, a monitoring job): every
system is still read (reachable, version, database, apply lock) and the drift is reported unknown, naming
the references it needs, never a value; exit 0 while every system answers. Against the Kong and Kuma
emulators; a system whose secrets are there still gets its drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from emulators.harness import CATALOG, SECRETS, cli, write_catalog
from emulators.kong import KongEmulator, KongState
from emulators.kong import running as kong_running
from emulators.kuma import KumaEmulator

from gatewayctl.cli import main


def test_status_without_kongs_secrets_reports_all_but_the_drift(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = str(write_catalog(workdir))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    monkeypatch.delenv("WEB_APP_KEY")
    monkeypatch.setenv("OPS_PASSWORD", "")  # a CI secret never configured is set empty: as good as missing
    seen = len(kong.state.requests)
    code, out, err = cli(capsys, kong, "status", catalog)
    assert code == 0, out + err
    # read, never planned: the owned entities are not listed (that needs the rendered catalog)
    assert [(r.method, r.path) for r in kong.state.requests[seen:]] == [
        ("GET", "/"),
        ("GET", "/status"),
        ("GET", "/consumers/gatewayctl-lock.shop"),
    ]
    assert out.splitlines() == [
        f"kong: {kong.url} reachable, 3.9.1 (community, database=postgres)",
        "database reachable: yes",
        "drift: unknown (needs ${env:WEB_APP_KEY}, ${env:OPS_PASSWORD})",
        "apply lock: free",
    ], out
    assert "Traceback" not in err and "error" not in err, err
    code, out, err = cli(capsys, kong, "status", catalog, "--json")
    report = json.loads(out)["kong"]
    assert code == 0, err
    assert report["reachable"] is True and report["version"] == "3.9.1" and report["database_reachable"] is True
    assert (report["drift"], report["summary"]) == (None, None)
    assert report["needs"] == ["${env:WEB_APP_KEY}", "${env:OPS_PASSWORD}"]


def test_status_without_secrets_still_names_the_lock_holder_and_the_drift_comes_back_with_them(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatewayctl.apply.lock import KongLock
    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin

    catalog = str(write_catalog(workdir))
    monkeypatch.delenv("OPS_PASSWORD")
    with KongAdmin(Endpoint(kong.url, None)) as other:
        holder = KongLock(other, "shop")
        holder.acquire()
        code, out, err = cli(capsys, kong, "status", catalog)
        assert code == 0 and re.search(r"apply lock: held by \S+ pid \d+, for \d+ s", out), out + err
        assert "drift: unknown (needs ${env:OPS_PASSWORD})" in out
        holder.release()
    monkeypatch.setenv("OPS_PASSWORD", SECRETS["OPS_PASSWORD"])
    code, out, err = cli(capsys, kong, "status", catalog, "--json")
    report = json.loads(out)["kong"]
    assert (code, report["drift"], report["needs"]) == (0, True, []), out + err
    assert report["summary"] == "kong: +19 ~0 -0"


def test_status_names_many_missing_references_on_one_line_and_all_in_json(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    keys = "".join(f'      - {{key: "${{env:APP_KEY_{i}}}"}}\n' for i in range(7))
    text = CATALOG.replace('      key_auth: [{key: "${env:WEB_APP_KEY}"}]\n', "      key_auth:\n" + keys)
    catalog = str(write_catalog(workdir, text))
    code, out, _ = cli(capsys, kong, "status", catalog)
    shown = ", ".join(f"${{env:APP_KEY_{i}}}" for i in range(5))
    assert code == 0 and f"drift: unknown (needs {shown} and 2 more)" in out, out
    code, out, _ = cli(capsys, kong, "status", catalog, "--json")
    assert json.loads(out)["kong"]["needs"] == [f"${{env:APP_KEY_{i}}}" for i in range(7)]


def test_status_with_kongs_secrets_but_not_the_meshs_plans_kong_only(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each system needs its own sections' secrets: the mesh's Zipkin URL missing leaves Kong's drift known."""
    monkeypatch.delenv("ZIPKIN_URL")
    with kong_running(KongState()) as kong:
        argv = ["--kong-admin-url", kong.url, "--kuma-url", kuma.url, "--kuma-platform", "universal"]
        code = main(["status", str(shop), *argv])
        out, err = capsys.readouterr()
        assert code == 0, out + err
        assert "drift: yes, kong: +4 ~0 -0" in out.splitlines(), out
        assert f"kuma: {kuma.url} reachable, Kuma 2.14.3, mode zone (universal)" in out.splitlines(), out
        assert "kuma drift: unknown (needs ${env:ZIPKIN_URL})" in out.splitlines(), out
        assert "kuma apply lock: free" in out.splitlines(), out
        assert kuma.state.writes() == [] and kong.state.writes() == []
        code = main(["status", str(shop), *argv, "--json"])
        report = json.loads(capsys.readouterr().out)
        assert code == 0
        assert (report["kong"]["drift"], report["kong"]["needs"]) == (True, [])
        assert (report["kuma"]["drift"], report["kuma"]["needs"]) == (None, ["${env:ZIPKIN_URL}"])
        assert report["kuma"]["version"] == "2.14.3" and report["kuma"]["apply_lock"] is None


def test_status_without_secrets_and_an_unreachable_system_is_still_exit_3(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZIPKIN_URL")
    code = main(
        ["status", str(shop), "--only", "kuma", "--kuma-platform", "universal", "--kuma-url", "http://127.0.0.1:9"]
    )
    out, err = capsys.readouterr()
    assert code == 3 and "http://127.0.0.1:9 not reachable" in out and "GET /: no response" in err, out + err


def test_status_without_the_secrets_never_prints_the_ones_that_are_set(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server error echoing a secret that is set is masked even though the catalog was not rendered."""
    catalog = str(write_catalog(workdir))
    monkeypatch.delenv("OPS_PASSWORD")
    kong.state.fail(
        1, method="GET", path="/status", times=20, status=500, body={"message": f"bad key {SECRETS['WEB_APP_KEY']}"}
    )
    code, out, err = cli(capsys, kong, "status", catalog)
    assert code == 3, out + err
    assert SECRETS["WEB_APP_KEY"] not in out + err and "<secret" in err, err


def test_status_on_kubernetes_without_the_meshs_secrets_names_the_lease_holder(
    capsys: pytest.CaptureFixture[str], shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kuma on Kubernetes: the API server's version and the Lease are read without rendering the catalog."""
    from emulators.kubernetes import KubeState
    from emulators.kubernetes import running as kube_running
    from kubernetes import client as kube_client

    from gatewayctl.apply.kuma_lock import lease_lock

    monkeypatch.delenv("ZIPKIN_URL")
    with kube_running(KubeState(kuma_webhook=True)) as cluster:
        kubeconfig = str(cluster.kubeconfig(shop.parent / "kubeconfig"))
        argv = ["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", kubeconfig]
        configuration = kube_client.Configuration()
        configuration.host = cluster.url
        with kube_client.ApiClient(configuration) as api_client:
            leases = kube_client.CoordinationV1Api(api_client)
            with lease_lock(leases, "kuma-system", "shop", wait=1, duration=30):
                code = main(["status", str(shop), *argv])
                out, err = capsys.readouterr()
        assert code == 0, out + err
        lines = out.splitlines()
        assert lines[0].startswith("kuma: Kubernetes (current context, namespace kuma-system) reachable, Kubernetes v")
        assert lines[1] == "kuma drift: unknown (needs ${env:ZIPKIN_URL})", out
        assert lines[2].startswith("kuma apply lock: held by ") and "(Lease kuma-system/gatewayctl-apply-shop)" in out
        assert main(["status", str(shop), *argv, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)["kuma"]
        assert (report["drift"], report["needs"], report["product"]) == (None, ["${env:ZIPKIN_URL}"], "Kubernetes")
        assert report["version"] and report["apply_lock"] is None
