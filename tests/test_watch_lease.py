"""Leader election for `gatewayctl watch` against a fake Lease API over real HTTP (tests/emulators/
kube_lease.py, answering as the API server does: 409 on a stale resourceVersion, 422 without one): one
holder at a time, renewals, a follower taking over once the leader stops renewing, release on a clean stop,
fencing when renewals fail, and two `gatewayctl watch` processes sharing a Lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulators.harness import SECRETS, write_catalog
from emulators.kong import KongState
from emulators.kong import start as start_kong
from emulators.kube_lease import LeaseApi, running
from kubernetes import client as k8s
from test_watch import wait_for
from test_watch_process import free_port, get

from gatewayctl.apply.lease import LeaderElector
from gatewayctl.cli import main

NS = "gatewayctl"
LEASE_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"


@pytest.fixture
def api() -> Iterator[LeaseApi]:
    with running() as fake:
        yield fake


def coordination(fake: LeaseApi) -> Any:
    configuration = k8s.Configuration()
    configuration.host = fake.url
    return k8s.CoordinationV1Api(k8s.ApiClient(configuration))


def elector(fake: LeaseApi, identity: str, duration: float = 1.0) -> LeaderElector:
    return LeaderElector(coordination(fake), "gatewayctl-watch", NS, identity=identity, duration=duration)


def lease(fake: LeaseApi) -> dict[str, Any]:
    found = fake.state.get(NS, "gatewayctl-watch")
    assert found is not None
    return found


# --------------------------------------------------------------------------- the fake API itself


def test_fake_api_answers_like_the_api_server(api: LeaseApi) -> None:
    with httpx.Client(base_url=api.url) as http:
        missing = http.get(f"{LEASE_PATH}/x")
        assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"
        assert missing.json()["message"] == 'leases.coordination.k8s.io "x" not found'
        body = {"metadata": {"name": "x"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
        created = http.post(LEASE_PATH, json=body)
        assert created.status_code == 201
        rv = created.json()["metadata"]["resourceVersion"]
        assert http.post(LEASE_PATH, json=body).json()["reason"] == "AlreadyExists"
        unconditional = http.put(f"{LEASE_PATH}/x", json=body)
        assert unconditional.status_code == 422 and "must be specified for an update" in unconditional.json()["message"]
        update = {**body, "metadata": {"name": "x", "resourceVersion": rv}, "spec": {"holderIdentity": "b"}}
        first = http.put(f"{LEASE_PATH}/x", json=update)
        assert first.status_code == 200 and first.json()["metadata"]["resourceVersion"] != rv
        stale = http.put(f"{LEASE_PATH}/x", json=update)  # the same resourceVersion again: someone wrote since
        assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
        assert "the object has been modified" in stale.json()["message"]
        # the same content again with the current resourceVersion: nothing is written, the version stays
        # (etcd3 store GuaranteedUpdate: an object that encodes to the same bytes is not stored again)
        current = first.json()["metadata"]["resourceVersion"]
        same = http.put(f"{LEASE_PATH}/x", json={**update, "metadata": {"name": "x", "resourceVersion": current}})
        assert same.status_code == 200 and same.json()["metadata"]["resourceVersion"] == current
        bad = {"metadata": {"name": "y"}, "spec": {"leaseDurationSeconds": 0}}
        assert http.post(LEASE_PATH, json=bad).status_code == 422
        with_time = http.put(
            f"{LEASE_PATH}/z", json={"metadata": {"name": "z"}, "spec": {"renewTime": "2026-12-01T10:00:00.5+01:00"}}
        )
        assert with_time.status_code == 201  # the Lease strategy allows create on update
        assert with_time.json()["spec"]["renewTime"] == "2026-12-01T09:00:00.500000Z"


# --------------------------------------------------------------------------- election


def test_one_leader_renews_and_a_follower_takes_over_after_expiry(api: LeaseApi) -> None:
    a, b = elector(api, "a"), elector(api, "b")
    assert a.try_acquire_or_renew() and a.is_leader()
    assert not b.try_acquire_or_renew() and not b.is_leader()
    time.sleep(0.6)
    assert a.try_acquire_or_renew()  # renewed: b must wait a whole lease duration from now
    renewed = lease(api)["spec"]["renewTime"]
    assert not b.try_acquire_or_renew()
    # a stops renewing (hung or killed without releasing): b takes over once the lease expired
    started = time.monotonic()
    wait_for(b.try_acquire_or_renew, timeout=5, step=0.05)
    waited = time.monotonic() - started
    assert 0.5 <= waited <= 2.0, waited
    spec = lease(api)["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1 and spec["renewTime"] > renewed
    assert not a.is_leader()  # fenced: past its renew deadline it no longer acts
    assert not a.try_acquire_or_renew()  # and it sees b holding the lease


def test_a_stale_resource_version_loses_the_race(api: LeaseApi) -> None:
    a, racer = elector(api, "a"), elector(api, "racer")
    assert a.try_acquire_or_renew()
    assert not racer.try_acquire_or_renew()  # racer sees a's record for the first time
    time.sleep(1.1)  # a stops renewing: its lease expires in racer's eyes

    class Racing:
        """Another replica writes the Lease between racer's read and racer's write."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def replace_namespaced_lease(self, name: str, namespace: str, body: Any, **kw: Any) -> Any:
            other = self.inner.read_namespaced_lease(name, namespace)
            other.spec.holder_identity = "someone-else"
            self.inner.replace_namespaced_lease(name, namespace, other)
            return self.inner.replace_namespaced_lease(name, namespace, body, **kw)

    racer.api = Racing(racer.api)
    assert not racer.try_acquire_or_renew()  # its write carried the resourceVersion it read: 409 Conflict
    assert not racer.is_leader()
    assert lease(api)["spec"]["holderIdentity"] == "someone-else"
    assert api.state.writes[-1] == ("PUT", "gatewayctl-watch", 409)


def test_release_on_a_clean_stop_hands_over_at_once(api: LeaseApi) -> None:
    a, b = elector(api, "a", duration=30), elector(api, "b", duration=30)
    stop_a, stop_b = threading.Event(), threading.Event()
    thread_a = a.start(stop_a)
    wait_for(a.is_leader)
    thread_b = b.start(stop_b)
    time.sleep(0.3)
    assert not b.is_leader()
    stop_a.set()
    thread_a.join(timeout=5)
    spec = lease(api)["spec"]
    assert "holderIdentity" not in spec and spec["leaseDurationSeconds"] == 1
    wait_for(b.is_leader, timeout=6)  # its next try (every 2 s), not a 30 s wait for expiry
    stop_b.set()
    thread_b.join(timeout=5)


def test_failing_renewals_fence_the_leader(api: LeaseApi) -> None:
    a = elector(api, "a", duration=1.5)
    assert a.try_acquire_or_renew()
    api.state.unavailable = True
    assert a.try_acquire_or_renew()  # one failed renewal: still inside its renew deadline
    time.sleep(1.1)  # past 2/3 of the lease
    assert not a.try_acquire_or_renew() and not a.is_leader()
    api.state.unavailable = False
    assert a.try_acquire_or_renew()  # nobody took it meanwhile: a holds it again


# --------------------------------------------------------------------------- two watch processes


def kubeconfig(path: Path, fake: LeaseApi) -> Path:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "{fake.url}"}}}}]
users: [{{name: watch, user: {{token: not-a-real-token}}}}]
contexts: [{{name: fake, context: {{cluster: fake, user: watch}}}}]
current-context: fake
"""
    )
    return path


def test_two_watch_processes_one_leader_and_takeover_when_it_dies(api: LeaseApi, tmp_path: Path) -> None:
    kong = start_kong(KongState())
    catalog = write_catalog(tmp_path)
    env = {**os.environ, **SECRETS, "KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", api))}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gatewayctl",
                "watch",
                str(catalog),
                "--kong-admin-url",
                kong.url,
                "--interval",
                "0.2",
                "--metrics-port",
                str(port),
                "--metrics-address",
                "127.0.0.1",
                "--leader-election",
                "--lease-namespace",
                NS,
                "--lease-duration",
                "2",
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for port in ports
    ]

    def leader_gauges() -> list[float | None]:
        out: list[float | None] = []
        for port in ports:
            status, text = get(f"http://127.0.0.1:{port}/metrics")
            line = next((ln for ln in text.splitlines() if ln.startswith("gatewayctl_leader ")), None)
            out.append(float(line.split()[1]) if status == 200 and line else None)
        return out

    try:
        # both must be serving metrics (None: not listening yet), one leading and one following
        wait_for(lambda: sorted(g if g is not None else -1.0 for g in leader_gauges()) == [0.0, 1.0], timeout=30)
        leader = leader_gauges().index(1.0)
        follower = 1 - leader
        assert get(f"http://127.0.0.1:{ports[follower]}/readyz") == (200, "ok (follower)\n")
        processes[leader].send_signal(signal.SIGKILL)  # dies without releasing the lease
        processes[leader].wait(timeout=10)
        started = time.monotonic()
        wait_for(lambda: leader_gauges()[follower] == 1.0, timeout=10)
        assert time.monotonic() - started >= 0.5  # it waited for the lease to expire
        assert lease(api)["spec"]["leaseTransitions"] == 1
        processes[follower].send_signal(signal.SIGTERM)
        _, err = processes[follower].communicate(timeout=30)
        assert processes[follower].returncode == 0, err
        assert "released lease" in err
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()
        kong.stop()


# --------------------------------------------------------------------------- which cluster the Lease is in


def test_the_lease_is_taken_in_the_cluster_of_kubeconfig_and_context(api: LeaseApi, tmp_path: Path) -> None:
    """--kubeconfig/--context pick the Lease's cluster, as they pick Kuma's; $KUBECONFIG (here a file whose
    current context is a dead server) is not consulted."""
    chosen = tmp_path / "chosen"
    chosen.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
  - {{name: dead, cluster: {{server: "http://127.0.0.1:{free_port()}"}}}}
  - {{name: fake, cluster: {{server: "{api.url}"}}}}
users: [{{name: watch, user: {{token: not-a-real-token}}}}]
contexts:
  - {{name: dead, context: {{cluster: dead, user: watch}}}}
  - {{name: fake, context: {{cluster: fake, user: watch}}}}
current-context: dead
"""
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text(chosen.read_text().replace("current-context: dead", "current-context: nowhere"))
    kong = start_kong(KongState())
    catalog = write_catalog(tmp_path)
    env = {**os.environ, **SECRETS, "KUBECONFIG": str(elsewhere)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    port = free_port()
    argv = [sys.executable, "-m", "gatewayctl", "watch", str(catalog), "--kong-admin-url", kong.url]
    argv += ["--metrics-port", str(port), "--metrics-address", "127.0.0.1", "--interval", "0.2"]
    argv += ["--leader-election", "--lease-namespace", NS, "--kubeconfig", str(chosen), "--context", "fake"]
    process = subprocess.Popen(argv, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: api.state.get(NS, "gatewayctl-watch") is not None, timeout=30)
        assert lease(api)["spec"]["holderIdentity"]
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        kong.stop()
    assert process.returncode == 0, err
    assert "released lease" in err and lease(api)["spec"].get("holderIdentity") is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "kubeconfig file not found"),
        ("clusters: [oops\n", "not a kubeconfig"),
        ("apiVersion: v1\nkind: Config\n", "cannot use it"),
        # valid YAML of another shape: a traceback from inside the Kubernetes client
        ("root:x:0:0:root:/root:/bin/bash\n", "not a kubeconfig: not a mapping of clusters, users and contexts"),
        ("- a\n- b\n", "not a kubeconfig: not a mapping of clusters, users and contexts"),
        ("clusters: 3\ncontexts: 4\nusers: 5\n", "not a kubeconfig: not a mapping of clusters, users and contexts"),
    ],
)
def test_an_unusable_kubeconfig_is_exit_1_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    catalog = write_catalog(tmp_path)
    argv = ["watch", str(catalog), "--kong-admin-url", "http://127.0.0.1:9", "--leader-election"]
    code = main([*argv, "--kubeconfig", str(path), "--metrics-port", "0", "--metrics-address", "127.0.0.1"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"--leader-election: read {path}" in err.replace("\n", "") and expected in err.replace("\n", "")
    assert "Traceback" not in err
