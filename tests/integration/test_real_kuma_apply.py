"""The Kuma emulator scenarios against a real kuma-cp 2.14 (Universal) started with docker compose: fresh
apply, a clean diff, a no-change apply, an object of someone else's surviving, a removed service losing its
policies. Marked `integration`; skipped with the reason when no Docker engine answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emulators.harness import KUMA_CATALOG as CATALOG  # the emulator tests' catalog: the same scenario
from emulators.harness import ZIPKIN_SECRET

from gatewayctl.cli import main

from .conftest import answers, compose_services

COMPOSE = Path(__file__).with_name("docker-compose.kuma.yml")
URL = "http://127.0.0.1:5681"
KUMA = ["--only", "kuma", "--kuma-platform", "universal", "--kuma-url", URL]
THEIRS = {
    "type": "MeshRetry",
    "mesh": "shop",
    "name": "team-x-retry",
    "labels": {"team": "x"},
    "spec": {
        "targetRef": {"kind": "Mesh"},
        "to": [{"targetRef": {"kind": "Mesh"}, "default": {"tcp": {"maxConnectAttempt": 2}}}],
    },
}


@pytest.fixture(scope="module")
def kuma_cp(docker_engine: None) -> Iterator[str]:
    with compose_services(COMPOSE) as services:
        # `up --wait` only knows the binary runs: the API answers a little later.
        services.wait_until_responsive(lambda: answers(URL + "/"), timeout=180, pause=1)
        yield URL


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWAYCTL_KUMA_TOKEN", raising=False)
    monkeypatch.setenv("ZIPKIN_URL", ZIPKIN_SECRET)
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    return path


@pytest.mark.integration
def test_apply_converges_and_leaves_others_alone(
    kuma_cp: str, catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(catalog), "--yes", *KUMA]) == 0
    assert httpx.put(f"{kuma_cp}/meshes/shop/meshretries/team-x-retry", json=THEIRS).status_code in (200, 201)
    capsys.readouterr()
    assert main(["diff", str(catalog), "--exit-code", *KUMA]) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main(["apply", str(catalog), "--yes", *KUMA]) == 0
    assert "nothing to do" in capsys.readouterr().out

    catalog.write_text(CATALOG.split("  - name: catalogue")[0].replace("      allow_from: [catalogue]\n", ""))
    assert main(["apply", str(catalog), "--yes", *KUMA]) == 0
    capsys.readouterr()
    assert main(["diff", str(catalog), "--json", *KUMA]) == 0
    report = json.loads(capsys.readouterr().out)["kuma"]
    assert report["summary"] == {"create": 0, "update": 0, "delete": 0}
    limits = httpx.get(f"{kuma_cp}/meshes/shop/meshratelimits").json()["items"]
    assert not [p for p in limits if p["labels"].get("gatewayctl.io/catalog") == "shop"]
    assert httpx.get(f"{kuma_cp}/meshes/shop/meshretries/team-x-retry").status_code == 200


@pytest.mark.integration
def test_the_apply_lock_relies_on_what_kuma_cp_answers(kuma_cp: str) -> None:
    """What `apply/kuma_lock.py` assumes of the Kuma API, on the real thing: a PUT of a new GlobalSecret
    answers 201 and of an existing one 200, `creationTime` survives an update, one holder at a time."""
    from gatewayctl.apply.kuma_lock import UniversalLock, recorded_tags
    from gatewayctl.apply.lock import LockHeld
    from gatewayctl.clients.kong_admin import TlsOptions
    from gatewayctl.clients.kuma_api import KumaApi, kuma_endpoint

    path = "/global-secrets/gatewayctl-lock-probe"
    body = {"type": "GlobalSecret", "name": "gatewayctl-lock-probe", "data": "e30="}
    first = httpx.put(kuma_cp + path, json=body)
    again = httpx.put(kuma_cp + path, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    stored = httpx.get(kuma_cp + path).json()
    assert stored["creationTime"] != stored["modificationTime"]  # the update kept the creation time
    assert httpx.delete(kuma_cp + path).status_code == 200

    with KumaApi(kuma_endpoint(kuma_cp, TlsOptions())) as one, KumaApi(kuma_endpoint(kuma_cp, TlsOptions())) as two:
        holder = UniversalLock(one, "shop", wait=0)
        holder.acquire()
        assert f"run:{one.run_id}" in recorded_tags(one.get(holder.path))
        with pytest.raises(LockHeld):
            UniversalLock(two, "shop", wait=0.5, poll=0.1).acquire()
        holder.release()
        assert one.get_optional(holder.path) is None
        UniversalLock(two, "shop", wait=0).acquire()  # free again: taken at once
        two.request("DELETE", holder.path, ok=(200,))


@pytest.mark.integration
def test_rollback_restores_the_state_before_the_last_apply(
    kuma_cp: str, catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", str(catalog), "--yes", *KUMA]) == 0
    catalog.write_text(CATALOG.replace("attempts: 3", "attempts: 5"))
    assert main(["apply", str(catalog), "--yes", *KUMA]) == 0
    assert main(["rollback", "--yes", "--kuma-url", kuma_cp]) == 0
    catalog.write_text(CATALOG)
    capsys.readouterr()
    assert main(["diff", str(catalog), "--exit-code", *KUMA]) == 0, capsys.readouterr().out
