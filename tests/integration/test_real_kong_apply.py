"""The emulator scenarios against a real Kong 3.9 (Postgres and DB-less) started with docker compose:
fresh apply, clean diff, a no-change apply with zero writes, others' entities untouched, DB-less 304.
Marked `integration`; skipped with the reason when no Docker engine answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emulators.harness import CATALOG, SECRETS, write_catalog

from gatewayctl.catalog.public_keys import public_key_problem
from gatewayctl.cli import main

from .conftest import answers, compose_services, published_url

COMPOSE = Path(__file__).with_name("docker-compose.kong.yml")


@pytest.fixture(scope="module")
def kong_urls(docker_engine: None) -> Iterator[dict[str, str]]:
    with compose_services(COMPOSE) as services:
        urls = {service: published_url(services, service, 8001) for service in ("kong-db", "kong-dbless")}
        for url in urls.values():
            services.wait_until_responsive(lambda url=url: answers(url + "/status"), timeout=120, pause=1)
        yield urls


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.integration
def test_db_mode_converges_and_leaves_others_alone(
    kong_urls: dict[str, str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = kong_urls["kong-db"]
    theirs = httpx.put(url + "/services/theirs", json={"host": "theirs.internal", "tags": ["team-x"]}).json()
    catalog = str(write_catalog(workdir))
    assert main(["apply", catalog, "--yes", "--kong-admin-url", url]) == 0
    assert main(["diff", catalog, "--exit-code", "--kong-admin-url", url]) == 0
    capsys.readouterr()
    assert main(["apply", catalog, "--yes", "--kong-admin-url", url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["kong"]
    assert report["result"]["writes"] == 0
    Path(catalog).write_text(CATALOG.split("services:")[0] + "services: []\n")
    assert main(["apply", catalog, "--yes", "--kong-admin-url", url]) == 0
    assert httpx.get(url + "/services/theirs").json()["id"] == theirs["id"]


@pytest.mark.integration
def test_dbless_posts_once_then_nothing(kong_urls: dict[str, str], workdir: Path) -> None:
    url = kong_urls["kong-dbless"]
    catalog = str(write_catalog(workdir, CATALOG.replace("gateway:\n", "gateway:\n  mode: dbless\n")))
    assert main(["apply", catalog, "--yes", "--kong-admin-url", url]) == 0
    assert main(["diff", catalog, "--exit-code", "--kong-admin-url", url]) == 0
    running = httpx.get(url + "/status").json()["configuration_hash"]
    assert main(["apply", catalog, "--yes", "--kong-admin-url", url]) == 0
    assert httpx.get(url + "/status").json()["configuration_hash"] == running


@pytest.mark.integration
def test_rollback_waits_for_the_lock_then_restores(
    kong_urls: dict[str, str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As tests/test_apply_kong.py on the emulator: the lock held by another apply makes rollback wait and
    give up (exit 3, nothing changed); released, rollback restores the state before the last apply."""
    from gatewayctl.apply.lock import KongLock
    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin

    url = kong_urls["kong-db"]
    catalog = write_catalog(workdir)
    assert main(["apply", str(catalog), "--yes", "--kong-admin-url", url]) == 0
    catalog.write_text(CATALOG.replace("paths: [/orders]", "paths: [/orders, /v2/orders]"))
    assert main(["apply", str(catalog), "--yes", "--kong-admin-url", url]) == 0
    with KongAdmin(Endpoint(url, None)) as other:
        holder = KongLock(other, "shop")
        holder.acquire()
        capsys.readouterr()
        assert main(["rollback", "--yes", "--lock-wait", "0.5", "--kong-admin-url", url]) == 3
        assert "another apply of catalog 'shop' is running" in capsys.readouterr().err
        assert httpx.get(url + "/routes/orders-api").json()["paths"] == ["/orders", "/v2/orders"]
        holder.release()
    assert main(["rollback", "--yes", "--kong-admin-url", url]) == 0
    assert httpx.get(url + "/routes/orders-api").json()["paths"] == ["/orders"]
    catalog.write_text(CATALOG)
    assert main(["diff", str(catalog), "--exit-code", "--kong-admin-url", url]) == 0


@pytest.mark.integration
def test_swapped_custom_ids_are_applied_in_one_run(kong_urls: dict[str, str], workdir: Path) -> None:
    """As tests/test_apply_kong.py on the emulator: Kong holds custom_id unique, so one consumer gives its
    custom_id up in a first write; the apply needs no second run."""
    url = kong_urls["kong-db"]
    text = "format: 1\nname: swap\nconsumers:\n  - {name: alice, custom_id: crm-1}\n  - {name: bob, custom_id: crm-2}\n"
    catalog = write_catalog(workdir, text)
    assert main(["apply", str(catalog), "--yes", "--kong-admin-url", url]) == 0
    catalog.write_text(text.replace("crm-1", "crm-x").replace("crm-2", "crm-1").replace("crm-x", "crm-2"))
    assert main(["apply", str(catalog), "--yes", "--kong-admin-url", url]) == 0
    assert httpx.get(url + "/consumers/alice").json()["custom_id"] == "crm-2"
    assert main(["diff", str(catalog), "--exit-code", "--kong-admin-url", url]) == 0
    catalog.write_text("format: 1\nname: swap\nconsumers: []\n")
    assert main(["apply", str(catalog), "--yes", "--kong-admin-url", url]) == 0


@pytest.mark.integration
def test_a_plugin_config_kong_refuses_stops_the_apply_before_any_write(
    kong_urls: dict[str, str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As tests/test_apply_kong_plugin_check.py on the emulator: Kong's own POST /schemas/plugins/validate
    refuses the `plugins:` entry, reported at its key, and nothing of the catalog is written."""
    url = kong_urls["kong-db"]
    text = (
        "format: 1\nname: checked\nservices:\n  - name: checked\n    url: http://checked.internal:8080\n"
        "    routes: [{name: api, paths: [/checked]}]\n    plugins:\n      request-transformer: {bogus: 1}\n"
    )
    catalog = str(write_catalog(workdir, text))
    capsys.readouterr()
    assert main(["apply", catalog, "--yes", "--kong-admin-url", url]) == 1
    assert "services[0].plugins.request-transformer.bogus: Kong refuses plugin request-transformer: unknown field" in (
        capsys.readouterr().err
    )
    assert httpx.get(url + "/services/checked").status_code == 404


@pytest.mark.integration
def test_jwt_public_keys_are_judged_as_real_kong_does(kong_urls: dict[str, str]) -> None:
    """As tests/test_kong_emulator_entity_checks.py and tests/test_public_keys.py: Kong's OpenSSL refuses
    the PKCS#1 form with "invalid key", takes the SubjectPublicKeyInfo form, and gatewayctl's own check
    agrees on both."""
    keys = Path(__file__).parents[1] / "keys"
    url = kong_urls["kong-db"]
    consumer = httpx.put(url + "/consumers/key-check", json={"tags": ["team-x"]}).json()["id"]
    pkcs1, spki = (keys / "rsa.pkcs1.pem").read_text(), (keys / "rsa.pub.pem").read_text()
    refused = httpx.post(f"{url}/consumers/{consumer}/jwt", json={"algorithm": "RS256", "rsa_public_key": pkcs1})
    assert refused.status_code == 400 and refused.json()["fields"]["rsa_public_key"] == "invalid key"
    assert public_key_problem(pkcs1, "RS256") is not None
    taken = httpx.post(f"{url}/consumers/{consumer}/jwt", json={"algorithm": "RS256", "rsa_public_key": spki})
    assert taken.status_code == 201, taken.text
    assert public_key_problem(spki, "RS256") is None
