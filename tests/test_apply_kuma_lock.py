"""The Kuma apply lock (`apply/kuma_lock.py`): a GlobalSecret created only by a PUT that answers 201 on
Universal, a renewed Lease on Kubernetes. Two applies never write at once; a crashed holder's lock is
taken over; a lost race never leaves the loser's name on the winner's lock; the CLI explains who holds it
and changes nothing in Kong or Kuma while it does."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulators.kube_lease import LeaseState
from emulators.kube_lease import running as lease_running
from emulators.kuma import KumaEmulator
from test_apply_kuma import CATALOG, UNIVERSAL, cli

from gatewayctl.apply.kuma_lock import UniversalLock, lease_lock, recorded_tags
from gatewayctl.apply.lock import LockHeld
from gatewayctl.clients.kong_admin import TlsOptions
from gatewayctl.clients.kuma_api import KumaApi, KumaError, kuma_endpoint

LOCK = "/global-secrets/gatewayctl-lock-shop"


OPENED: list[KumaApi] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    """Kept-alive connections hold the emulator's handler threads (and its state) after the test."""
    yield
    while OPENED:
        OPENED.pop().close()


def client(kuma: KumaEmulator) -> KumaApi:
    OPENED.append(KumaApi(kuma_endpoint(kuma.url, TlsOptions())))
    return OPENED[-1]


def lock(kuma: KumaEmulator, wait: float = 0.0) -> UniversalLock:
    return UniversalLock(client(kuma), "shop", wait=wait, poll=0.02)


def lock_host() -> str:
    from gatewayctl.apply.lock import _host

    return _host()


def record(kuma: KumaEmulator) -> list[str]:
    stored = client(kuma).get_optional(LOCK)
    assert stored is not None
    return recorded_tags(stored)


def test_one_holder_at_a_time_and_the_next_takes_it_once_released(kuma: KumaEmulator) -> None:
    first, second = lock(kuma), lock(kuma, wait=0.2)
    first.acquire()
    assert first.held and f"run:{first.client.run_id}" in record(kuma)
    assert f"holder:{lock_host()}:{os.getpid()}" in record(kuma)
    with pytest.raises(LockHeld, match=r"another apply of catalog 'shop' is running \(held by .* pid \d+"):
        second.acquire()
    assert not second.held and f"run:{first.client.run_id}" in record(kuma)  # the holder's record is untouched
    first.release()
    assert client(kuma).get_optional(LOCK) is None
    second.acquire()
    assert second.held and f"run:{second.client.run_id}" in record(kuma)
    second.release()


def test_a_waiting_apply_gets_the_lock_when_the_holder_releases_it(kuma: KumaEmulator) -> None:
    first, second = lock(kuma), lock(kuma, wait=10)
    first.acquire()
    threading.Timer(0.3, first.release).start()
    started = time.monotonic()
    second.acquire()
    assert second.held and 0.2 < time.monotonic() - started < 5
    second.release()


def test_racing_applies_exactly_one_holds_it(kuma: KumaEmulator) -> None:
    """Eight applies at once, each holding the lock a moment: never two holders at the same time."""
    holding: list[int] = []
    overlaps: list[int] = []
    guard = threading.Lock()

    def one(number: int) -> None:
        each = lock(kuma, wait=30)
        each.acquire()
        with guard:
            if holding:
                overlaps.append(number)
            holding.append(number)
        time.sleep(0.02)
        with guard:
            holding.remove(number)
        each.release()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlaps == [] and client(kuma).get_optional(LOCK) is None


def test_a_stale_lock_is_taken_over_and_said_so(kuma: KumaEmulator) -> None:
    first = lock(kuma)
    first.acquire()
    stored = kuma.state.store[("GlobalSecret", "", "gatewayctl-lock-shop")]
    stored["creationTime"] = "2026-01-01T00:00:00.123456789Z"  # Go writes nanoseconds
    second = lock(kuma)
    second.acquire()
    assert second.held and second.broke_stale and second.broke_stale.startswith("held by ")
    assert f"run:{second.client.run_id}" in record(kuma)


def test_a_dead_holder_on_this_machine_is_taken_over_at_once(kuma: KumaEmulator) -> None:
    """A killed apply (its pid gone, same host and pid namespace) does not make the next one wait."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    first = lock(kuma)
    first.acquire()
    stored = kuma.state.store[("GlobalSecret", "", "gatewayctl-lock-shop")]
    tags = [t if not t.startswith("holder:") else t.rsplit(":", 1)[0] + f":{dead_pid}" for t in record(kuma)]
    stored["fields"]["data"] = base64.b64encode(json.dumps({"catalog": "shop", "tags": tags}).encode()).decode()
    second = lock(kuma, wait=0)
    second.acquire()
    assert second.held and second.broke_stale == f"held by {tags[1].split(':')[1]} pid {dead_pid}"


def test_a_put_that_finds_the_lock_after_all_blanks_its_own_name_and_waits(kuma: KumaEmulator) -> None:
    """The race between our GET (absent) and our PUT: the PUT updates (200) the lock another apply has just
    created. The loser must not leave its own name there (its exit would look like the holder's death)."""
    winner = lock(kuma)
    winner.acquire()
    loser = lock(kuma, wait=0.1)
    real_get = loser.client.get_optional
    calls = {"n": 0}

    def first_get_misses(path: str) -> Any:
        calls["n"] += 1
        return None if calls["n"] == 1 else real_get(path)

    loser.client.get_optional = first_get_misses  # type: ignore[method-assign]
    with pytest.raises(LockHeld, match="holder unknown"):
        loser.acquire()
    assert not loser.held
    assert record(kuma) == ["gatewayctl-lock"]  # names nobody: neither the loser nor (lost) the winner
    winner.release()  # the winner still releases what it holds
    assert client(kuma).get_optional(LOCK) is None


def test_a_lost_answer_to_our_create_still_counts_as_holding_it(kuma: KumaEmulator) -> None:
    """The PUT is never retried (a retry would update what it made and answer 200): after a dropped
    answer the lock is read, and a record of ours that was never updated is ours."""
    kuma.state.fail(method="PUT", path=LOCK, drop_after=True)
    taker = lock(kuma)
    taker.acquire()
    assert taker.held and [r.method for r in kuma.state.writes()] == ["PUT"]
    taker.release()


def test_a_conflict_from_a_racing_create_means_look_again(kuma: KumaEmulator) -> None:
    kuma.state.fail(method="PUT", path=LOCK, status=409)
    taker = lock(kuma)
    taker.acquire()
    assert taker.held and [(r.method, r.status) for r in kuma.state.writes()] == [("PUT", 409), ("PUT", 201)]
    taker.release()


def test_too_many_requests_on_the_create_is_waited_for(kuma: KumaEmulator) -> None:
    kuma.state.fail(method="PUT", path=LOCK, status=429, retry_after="1")
    taker = lock(kuma)
    pauses: list[float] = []
    taker.sleep = pauses.append
    taker.acquire()
    assert taker.held and pauses == [1.0]
    assert [(r.method, r.status) for r in kuma.state.writes()] == [("PUT", 429), ("PUT", 201)]
    taker.release()


def test_a_refused_lock_write_is_an_error_not_a_wait(kuma: KumaEmulator) -> None:
    """Secrets are admin resources in Kuma: a token without access gets 403, said at once."""
    kuma.state.fail(method="PUT", path=LOCK, status=403)
    with pytest.raises(KumaError) as caught:
        lock(kuma, wait=30).acquire()
    assert caught.value.status == 403 and "only admins read and write (use an admin token)" in caught.value.describe()


def test_without_an_admin_token_the_lock_refusal_says_why_at_its_first_read(
    capsys: pytest.CaptureFixture[str], shop: Path
) -> None:
    """Kuma refuses a GlobalSecret to non-admins on every call (admin_resource_access.go), so the first one,
    the lock's GET, is the 403 to explain; the plan's reads (meshes, policies) were allowed."""
    from emulators.kuma import KumaState, running

    with running(KumaState(token="admin-token")) as kuma:  # GATEWAYCTL_KUMA_TOKEN unset: anonymous
        code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
        assert code == 3, out + err
        assert f"GET {LOCK}" in err and "only admins read and write (use an admin token)" in err
        assert "nothing was changed in Kong or Kuma" in err
        assert kuma.state.writes() == []


# ---------------------------------------------------------------------- through the CLI


def test_apply_waits_for_nobody_else_and_says_who_holds_the_lock(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    other = lock(kuma)
    other.acquire()
    code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes", "--lock-wait", "0.2")
    assert code == 3, out + err
    assert "kuma: another apply of catalog 'shop' is running (held by" in err
    assert "nothing was changed in Kong or Kuma" in err
    assert [r.path for r in kuma.state.writes()] == [LOCK]  # our one PUT found it taken (and blanked its name)
    code, out, _ = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes", "--lock-wait", "0", "--json")
    report = json.loads(out)["kuma"]  # --json still gets its document: the plan, nothing applied, and why
    assert code == 3 and report["result"]["applied"] == 0 and "is running" in report["result"]["error"]
    assert report["summary"] == {"create": 9, "update": 0, "delete": 0}
    assert kuma.state.objects("MeshTrafficPermission") == []
    other.release()
    code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")
    assert code == 0 and "kuma: 9 changes applied" in out, out + err
    assert client(kuma).get_optional(LOCK) is None  # released


def test_no_change_apply_does_not_take_the_lock(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    writes = len(kuma.state.writes())
    other = lock(kuma)
    other.acquire()  # held by someone else: a no-op apply is not held up by it, and writes nothing
    code, out, _ = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes", "--lock-wait", "0")
    assert code == 0 and "nothing to do" in out
    assert len(kuma.state.writes()) == writes + 1  # only `other`'s PUT
    other.release()


def test_apply_plans_again_under_the_lock(capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path) -> None:
    """While one apply waited for the lock, the holder made Kuma match: the waiter then writes nothing."""
    from gatewayctl.apply.kuma_universal import apply_universal, plan_universal
    from gatewayctl.apply.session import render_kuma_desired
    from gatewayctl.catalog.load import load_catalog

    other = lock(kuma)
    other.acquire()
    desired = render_kuma_desired(load_catalog(shop))

    def holder_applies_then_releases() -> None:
        time.sleep(0.3)  # the waiter has planned (9 creates) and waits for the lock by now
        the_plan = plan_universal(other.client, "shop", desired.objects, desired.masker)
        assert apply_universal(other.client, the_plan, 4).ok
        other.release()

    thread = threading.Thread(target=holder_applies_then_releases)
    thread.start()
    code, out, err = cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes", "--lock-wait", "30")
    thread.join(30)
    assert code == 0, out + err
    assert "kuma: +9 ~0 -0" in out  # what it planned before it held the lock
    assert "kuma: nothing left to do (another apply made these changes meanwhile)" in out
    puts = [r for r in kuma.state.writes() if r.method == "PUT" and r.path != LOCK]
    assert len(puts) == 9  # the holder's nine; none from the waiter


# ---------------------------------------------------------------------- Kubernetes: a Lease


def coordination(url: str) -> Any:
    from kubernetes import client as kube_client

    configuration = kube_client.Configuration()
    configuration.host = url
    api_client = kube_client.ApiClient(configuration)
    KUBE_OPENED.append(api_client)
    return kube_client.CoordinationV1Api(api_client)


KUBE_OPENED: list[Any] = []


@pytest.fixture(autouse=True)
def close_kube_clients() -> Iterator[None]:
    yield
    while KUBE_OPENED:
        client = KUBE_OPENED.pop()
        client.rest_client.pool_manager.clear()
        client.close()


def test_the_lease_is_held_renewed_released_and_refused_to_a_second_apply() -> None:
    with lease_running(LeaseState()) as api:
        with lease_lock(coordination(api.url), "kuma-system", "shop", wait=1, duration=1.5) as held:
            lease = dict(api.state.leases[("kuma-system", "gatewayctl-apply-shop")])
            assert lease["spec"]["holderIdentity"]
            renewed = lease["spec"]["renewTime"]
            second = lease_lock(coordination(api.url), "kuma-system", "shop", wait=0.3, duration=1.5)
            with pytest.raises(LockHeld, match="holds the Lease kuma-system/gatewayctl-apply-shop"), second:
                pass
            time.sleep(1.2)  # past one renewal (every duration / 3)
            assert api.state.leases[("kuma-system", "gatewayctl-apply-shop")]["spec"]["renewTime"] != renewed
            assert not held.lost.is_set()
        assert not api.state.leases[("kuma-system", "gatewayctl-apply-shop")]["spec"].get("holderIdentity")
        with lease_lock(coordination(api.url), "kuma-system", "shop", wait=0.5, duration=1.5):
            pass  # released: taken again at once


def test_an_apply_that_cannot_renew_its_lease_is_told_to_stop() -> None:
    """Fencing: renewals failing past the renew deadline set `lost` (writes then stop between batches)
    before another apply may take the Lease over."""
    with (
        lease_running(LeaseState()) as api,
        lease_lock(coordination(api.url), "kuma-system", "shop", wait=1, duration=1.5) as held,
    ):
        api.state.unavailable = True
        assert held.lost.wait(5)
        api.state.unavailable = False


def test_the_lease_emulator_creates_only_in_existing_namespaces() -> None:
    """NamespaceLifecycle admission (kubernetes plugin/pkg/admission/namespace/lifecycle): a create, by POST
    or by PUT, in a namespace that does not exist is 404 `namespaces "<ns>" not found`; a read there just
    finds no Lease."""
    import httpx

    with lease_running(LeaseState(namespaces={"kuma-system"})) as api, httpx.Client(base_url=api.url) as http:
        base = "/apis/coordination.k8s.io/v1/namespaces"
        body = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}}
        read = http.get(f"{base}/nope/leases/l")
        assert read.status_code == 404 and read.json()["message"] == 'leases.coordination.k8s.io "l" not found'
        for answer in (http.post(f"{base}/nope/leases", json=body), http.put(f"{base}/nope/leases/l", json=body)):
            assert answer.status_code == 404
            assert answer.json()["message"] == 'namespaces "nope" not found'
            assert answer.json()["details"] == {"name": "nope", "kind": "namespaces"}
        assert http.post(f"{base}/kuma-system/leases", json=body).status_code == 201


def test_a_lease_the_cluster_refuses_to_create_is_an_error_at_once_not_a_wait(
    capsys: pytest.CaptureFixture[str], shop: Path
) -> None:
    """Kuma's namespace missing: the Lease read finds nothing (404 for the Lease) and its create is refused
    (404 for the namespace). Waiting cannot help; gatewayctl waited --lock-wait and then blamed the Lease."""
    from emulators.kubernetes import KubeState
    from emulators.kubernetes import running as kube_running

    from gatewayctl.cli import main

    with kube_running(KubeState(kuma_webhook=True, namespaces=("default",))) as cluster:
        kubeconfig = str(cluster.kubeconfig(shop.parent / "kubeconfig"))
        argv = ["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", kubeconfig]
        started = time.monotonic()
        code = main(["apply", str(shop), *argv, "--yes", "--lock-wait", "20"])
        captured = capsys.readouterr()
        assert code == 3, captured.out + captured.err
        assert time.monotonic() - started < 10
        err = " ".join(captured.err.split())
        assert "POST /apis/coordination.k8s.io/v1/namespaces/kuma-system/leases: HTTP 404" in err, err
        assert 'namespaces "kuma-system" not found' in err, err


def test_kubernetes_apply_refuses_while_another_holds_the_lease(capsys: pytest.CaptureFixture[str], shop: Path) -> None:
    from emulators.kubernetes import KubeState
    from emulators.kubernetes import running as kube_running

    from gatewayctl.cli import main

    with kube_running(KubeState(kuma_webhook=True)) as cluster:
        kubeconfig = str(cluster.kubeconfig(shop.parent / "kubeconfig"))
        argv = ["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", kubeconfig]
        with lease_lock(coordination(cluster.url), "kuma-system", "shop", wait=1, duration=30):
            code = main(["apply", str(shop), *argv, "--yes", "--lock-wait", "0.3"])
            captured = capsys.readouterr()
            assert code == 3, captured.out + captured.err
            assert "holds the Lease kuma-system/gatewayctl-apply-shop" in captured.err
            assert [r.path for r in cluster.state.writes() if "/leases" not in r.path] == []  # no Kuma object
        code = main(["apply", str(shop), *argv, "--yes"])
        captured = capsys.readouterr()
        assert code == 0 and "kuma: 9 changes applied" in captured.out, captured.out + captured.err
        lease = cluster.state.leases.leases[("kuma-system", "gatewayctl-apply-shop")]
        assert not lease["spec"].get("holderIdentity")  # released after the apply


def test_rollback_takes_the_kuma_lock_too(capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path) -> None:
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    shop.write_text(CATALOG.replace("attempts: 3", "attempts: 5"))
    assert cli(capsys, kuma, "apply", str(shop), *UNIVERSAL, "--yes")[0] == 0
    retries = kuma.state.objects("MeshRetry", "shop")
    assert '"numRetries": 5' in json.dumps(retries)
    other = lock(kuma)
    other.acquire()
    code, out, err = cli(capsys, kuma, "rollback", "--yes", "--lock-wait", "0.2")
    assert code == 3 and "another apply of catalog 'shop' is running" in err, out + err
    assert kuma.state.objects("MeshRetry", "shop") == retries  # not rolled back while the lock is held
    other.release()
    code, out, err = cli(capsys, kuma, "rollback", "--yes")
    assert code == 0, out + err
    shop.write_text(CATALOG)
    assert cli(capsys, kuma, "diff", str(shop), *UNIVERSAL, "--exit-code")[0] == 0
    assert client(kuma).get_optional(LOCK) is None


def test_status_says_who_holds_the_kuma_lock(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    code, out, err = cli(capsys, kuma, "status", str(shop), *UNIVERSAL)
    assert code == 0 and "kuma apply lock: free" in out, out + err
    other = lock(kuma)
    other.acquire()
    code, out, err = cli(capsys, kuma, "status", str(shop), *UNIVERSAL, "--json")
    assert json.loads(out)["kuma"]["apply_lock"].startswith(f"held by {lock_host()} pid {os.getpid()}, for ")
    other.release()


def test_status_names_the_lease_holder_on_kubernetes(capsys: pytest.CaptureFixture[str], shop: Path) -> None:
    from emulators.kubernetes import KubeState
    from emulators.kubernetes import running as kube_running

    from gatewayctl.cli import main

    with kube_running(KubeState(kuma_webhook=True)) as cluster:
        kubeconfig = str(cluster.kubeconfig(shop.parent / "kubeconfig"))
        argv = ["--only", "kuma", "--kuma-platform", "kubernetes", "--kubeconfig", kubeconfig]
        assert main(["status", str(shop), *argv]) == 0
        assert "kuma apply lock: free" in capsys.readouterr().out
        with lease_lock(coordination(cluster.url), "kuma-system", "shop", wait=1, duration=30):
            assert main(["status", str(shop), *argv]) == 0
            out = capsys.readouterr().out
            assert "kuma apply lock: held by " in out and "(Lease kuma-system/gatewayctl-apply-shop)" in out


def test_status_reports_kuma_when_kong_cannot_be_reached(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    unreachable = ["--kong-admin-url", "http://127.0.0.1:9", "--kuma-platform", "universal"]
    code, out, err = cli(capsys, kuma, "status", str(shop), *unreachable)
    assert code == 3, out + err
    assert "kong: http://127.0.0.1:9 not reachable" in out and "kuma drift: yes, kuma: +" in out, out
    assert "kong: GET /: no response" in err and "Traceback" not in err
    assert "nothing was changed" not in err  # status never writes: no outcome to tell
    code, out, _ = cli(capsys, kuma, "status", str(shop), *unreachable, "--json")
    report = json.loads(out)
    assert code == 3 and report["kong"]["reachable"] is False and "GET /" in report["kong"]["error"]
    assert report["kuma"]["reachable"] is True and report["kuma"]["drift"] is True


@pytest.mark.parametrize("failing", ["/status", "/services", "/consumers/gatewayctl-lock.shop"])
def test_status_reports_kuma_when_a_later_kong_call_fails(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path, failing: str
) -> None:
    """Kong answers its root, then a later read fails (its /status, a list, the lock): the failure is Kong's
    report, exit 3, and Kuma is still checked. It ended the whole status there, Kuma unreported."""
    from emulators.kong import KongState
    from emulators.kong import running as kong_running

    with kong_running(KongState()) as kong:
        kong.state.fail(1, method="GET", path=failing, times=1000, status=503, body={"message": "unavailable"})
        argv = ["--kong-admin-url", kong.url, "--kuma-platform", "universal"]
        code, out, err = cli(capsys, kuma, "status", str(shop), *argv)
        assert code == 3, out + err
        assert f"kong: {kong.url} not reachable" in out and "kuma drift: yes, kuma: +" in out, out
        assert f"kong: GET {failing}" in err and "Traceback" not in err, err
        code, out, _ = cli(capsys, kuma, "status", str(shop), *argv, "--json")
        report = json.loads(out)
        assert code == 3 and report["kong"]["reachable"] is False and f"GET {failing}" in report["kong"]["error"]
        assert report["kuma"]["reachable"] is True and report["kuma"]["drift"] is True


def test_status_reports_kong_when_reading_kumas_lock_fails(
    capsys: pytest.CaptureFixture[str], kuma: KumaEmulator, shop: Path
) -> None:
    """Kuma planned, then its lock's read failed: Kong's report was lost with it (exit 3 and stderr only)."""
    from emulators.kong import KongState
    from emulators.kong import running as kong_running

    lock = "/global-secrets/gatewayctl-lock-shop"
    kuma.state.fail(1, method="GET", path=lock, times=1000, status=503, body={"title": "x", "detail": "down"})
    with kong_running(KongState()) as kong:
        argv = ["--kong-admin-url", kong.url, "--kuma-platform", "universal"]
        code, out, err = cli(capsys, kuma, "status", str(shop), *argv, "--json")
        report = json.loads(out)
        assert code == 3, out + err
        assert report["kong"]["reachable"] is True and report["kong"]["drift"] is True
        assert report["kuma"]["reachable"] is False and f"GET {lock}" in report["kuma"]["error"]
        assert "nothing was changed" not in report["kuma"]["error"]
