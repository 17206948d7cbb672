"""`gatewayctl watch` as a process, the way a Deployment runs it: /metrics parsed while it runs, SIGTERM in
the middle of a heal stops it cleanly (the write batch in flight finishes, the rest is left for the next
apply, the lock is released, exit 0), and what makes it refuse to start (exit 1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulators.harness import SECRETS, write_catalog
from emulators.kong import KongEmulator, KongState, start
from prometheus_client.parser import text_string_to_metric_families
from test_watch import wait_for

from gatewayctl.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kong() -> Iterator[KongEmulator]:
    emulator = start(KongState())
    yield emulator
    emulator.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(catalog: Path, kong: KongEmulator, port: int, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, **SECRETS, "NO_COLOR": "1"}
    env.pop("GATEWAYCTL_KONG_ADMIN_TOKEN", None)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    argv = [sys.executable, "-m", "gatewayctl", "watch", str(catalog), "--kong-admin-url", kong.url]
    argv += [
        "--metrics-port",
        str(port),
        "--metrics-address",
        "127.0.0.1",
        "--state-dir",
        str(catalog.parent / "state"),
    ]
    return subprocess.Popen(
        [*argv, *extra], cwd=catalog.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return process.returncode, err


def test_metrics_while_running_and_sigterm_exits_0(kong: KongEmulator, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path)
    port = free_port()
    process = spawn(catalog, kong, port, "--interval", "0.2")
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout=20)
        status, text = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        drift = {(s.labels["kind"], s.labels["action"]): s.value for s in families["gatewayctl_drift_objects"].samples}
        assert sum(drift.values()) == 19 and drift[("services", "create")] == 2  # nothing applied yet
        assert families["gatewayctl_leader"].samples[0].value == 1  # no lease outside Kubernetes: it leads
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "SIGTERM received" in err and "stopped after" in err
    assert not [r for r in kong.state.requests if r.method != "GET"]  # no --heal: nothing written
    for value in SECRETS.values():
        assert value not in err


def entity_writes(kong: KongEmulator) -> list[Any]:
    """The creates (POSTs carrying the id) and updates (PUTs) made, the lock's create left out."""
    return [r for r in kong.state.requests if r.method in ("PUT", "POST") and b"gatewayctl-lock." not in r.body]


def test_sigterm_during_a_heal_finishes_the_batch_and_stops_cleanly(
    kong: KongEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = write_catalog(tmp_path)
    kong.state.latency = 0.2  # each write batch takes a moment: the signal lands inside the apply
    port = free_port()
    process = spawn(catalog, kong, port, "--heal", "--interval", "0.2", "--parallelism", "2")
    try:
        wait_for(lambda: bool(entity_writes(kong)), timeout=30)
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "stopped between write batches" in err and "left for the next apply" in err, err
    puts = entity_writes(kong)
    assert 0 < len(puts) < 19  # some written, not all: abandoned between batches
    assert all(200 <= r.status < 300 for r in puts)  # every write it started got its answer
    assert not [c for c in kong.state.entities("consumers") if c["username"].startswith("gatewayctl-lock")]
    # the state left behind is a consistent prefix of the plan: a re-run converges
    kong.state.latency = 0.0
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert main(["diff", str(catalog), "--exit-code", "--kong-admin-url", kong.url]) == 2
    assert main(["apply", str(catalog), "--yes", "--kong-admin-url", kong.url]) == 0
    assert main(["diff", str(catalog), "--exit-code", "--kong-admin-url", kong.url]) == 0
    capsys.readouterr()


def test_an_invalid_catalog_at_start_is_exit_1_with_located_errors(kong: KongEmulator, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("format: 1\nname: shop\nservices:\n  - name: a\n    url: http://a:80\n    retires: 3\n")
    process = spawn(catalog, kong, free_port())
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "catalog.yaml:6:5: services[0].retires: unknown key 'retires'" in err
    assert "Traceback" not in err


def test_a_metrics_port_in_use_is_exit_1(kong: KongEmulator, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        process = spawn(catalog, kong, busy.getsockname()[1])
        _, err = process.communicate(timeout=30)
    assert process.returncode == 1 and "--metrics-port" in err and "Traceback" not in err


@pytest.mark.parametrize("address", ["999.1.1.1", "192.0.2.1"])  # no such address; one this machine does not have
def test_a_metrics_address_it_cannot_listen_on_is_exit_1_naming_that_flag(
    kong: KongEmulator, tmp_path: Path, address: str
) -> None:
    """The error names --metrics-address, not --metrics-port (whose value is fine)."""
    process = spawn(write_catalog(tmp_path), kong, free_port(), "--metrics-address", address)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1 and "Traceback" not in err
    assert f"--metrics-address {address}: cannot listen there" in err, err
    assert "--metrics-port" not in err
