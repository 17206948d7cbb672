"""The Kong emulator answers the way Kong 3.9 does (kong/api/endpoints.lua, kong/db/errors.lua), so the apply
tests prove something: error bodies, status codes, paging, tag filters, defaults, DB-less read-only."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from emulators.kong import KongState, running

SID = "0b4f0d39-64a5-4f55-a8f1-5b1f7e0b7a11"


@pytest.fixture
def http() -> Iterator[tuple[httpx.Client, KongState]]:
    state = KongState()
    with running(state) as kong, httpx.Client(base_url=kong.url) as client:
        yield client, state


def test_put_upserts_with_defaults_and_timestamps(http: tuple[httpx.Client, KongState]) -> None:
    client, _ = http
    created = client.put(f"/services/{SID}", json={"name": "a", "host": "a.internal"}).json()
    assert created["port"] == 80 and created["retries"] == 5 and created["path"] is None
    assert created["created_at"] == created["updated_at"]
    replaced = client.put(f"/services/{SID}", json={"name": "a", "host": "b.internal", "port": 81}).json()
    assert replaced["id"] == SID and replaced["port"] == 81 and replaced["created_at"] == created["created_at"]
    assert client.get("/services/a").json()["host"] == "b.internal"  # by endpoint key


def test_error_bodies(http: tuple[httpx.Client, KongState]) -> None:
    client, _ = http
    client.put(f"/services/{SID}", json={"name": "a", "host": "a"})
    dup = client.put("/services/9d0c5b8e-0000-4000-8000-000000000001", json={"name": "a", "host": "a"})
    assert dup.status_code == 409
    assert dup.json() == {
        "code": 5,
        "name": "unique constraint violation",
        "message": "UNIQUE violation detected on '{name=\"a\"}'",
        "fields": {"name": "a"},
    }
    bad = client.post("/services", json={"name": "b", "port": "x", "bogus": 1})
    assert bad.status_code == 400 and bad.json()["code"] == 2
    assert bad.json()["fields"] == {
        "bogus": "unknown field",
        "host": "required field missing",
        "port": "expected an integer",
    }
    assert bad.json()["message"].startswith("3 schema violations (bogus: unknown field; host: required field missing")
    client.put(
        "/routes/9d0c5b8e-0000-4000-8000-000000000002", json={"name": "r", "paths": ["/"], "service": {"id": SID}}
    )
    held = client.delete(f"/services/{SID}")
    assert held.status_code == 400 and held.json()["code"] == 4
    assert held.json()["message"] == "an existing 'routes' entity references this 'services' entity"
    missing_fk = client.put(
        "/routes/9d0c5b8e-0000-4000-8000-000000000003",
        json={"name": "q", "service": {"id": "9d0c5b8e-0000-4000-8000-00000000ffff"}},
    )
    assert missing_fk.status_code == 400 and missing_fk.json()["code"] == 4
    assert client.get("/services/nope").status_code == 404 and client.get("/services/nope").json() == {
        "message": "Not found"
    }
    assert client.delete("/consumers/9d0c5b8e-0000-4000-8000-0000000000ff").status_code == 204


def test_paging_and_tags(http: tuple[httpx.Client, KongState]) -> None:
    client, state = http
    for i in range(5):
        state.seed("consumers", {"username": f"c{i}", "tags": ["a", "b"] if i % 2 else ["a"]})
    first = client.get("/consumers", params={"size": "2", "tags": "a"}).json()
    assert (
        len(first["data"]) == 2
        and first["next"].startswith("/consumers?offset=")
        and first["next"].endswith("&tags=a&size=2")
    )
    rest = client.get(first["next"]).json()
    assert len(rest["data"]) == 2
    assert len(client.get("/consumers", params={"tags": "a,b"}).json()["data"]) == 2
    assert len(client.get("/consumers", params={"tags": "b/a"}).json()["data"]) == 5
    assert client.get("/consumers", params={"size": "1001"}).json()["code"] == 9
    last = client.get("/consumers", params={"size": "5"}).json()
    assert last["next"] is None and "offset" not in last


def test_dbless_is_read_only_except_config() -> None:
    state = KongState(dbless=True)
    with running(state) as kong, httpx.Client(base_url=kong.url) as client:
        refused = client.put(f"/services/{SID}", json={"name": "a", "host": "a"})
        assert refused.status_code == 405
        assert refused.json() == {
            "code": 12,
            "name": "operation unsupported",
            "message": "cannot create or update 'services' entities when not using a database",
        }
        assert client.get("/").json()["configuration"]["database"] == "off"
        assert client.get("/status").json()["configuration_hash"] == "0" * 32


def test_dbless_hashes_basic_auth_passwords_on_load_unless_transform_is_false() -> None:
    """kong/db/declarative/import.lua runs the basic-auth transformation on load unless the document says
    `_transform: false`, as Kong's own export (`GET /config`) does: its passwords are hashes already."""
    from gatewayctl.plan.normalise import basic_auth_hash

    state = KongState(dbless=True)
    consumer = "9d0c5b8e-0000-4000-8000-000000000010"

    def load(client: httpx.Client, **meta: object) -> str:
        doc = {
            "_format_version": "3.0",
            **meta,
            "consumers": [{"id": consumer, "username": "ops"}],
            "basicauth_credentials": [{"username": "ops", "password": "pw", "consumer": consumer}],
        }
        assert client.post("/config", json={"config": json.dumps(doc)}).status_code == 201
        return str(state.entities("basicauth_credentials")[0]["password"])

    with running(state) as kong, httpx.Client(base_url=kong.url) as client:
        assert load(client) == basic_auth_hash("pw", consumer)
        assert load(client, _transform=False) == "pw"
        assert "_transform: false" in client.get("/config").json()["config"]


def test_plugins_without_a_consumer_scope_are_refused_on_a_consumer(http: tuple[httpx.Client, KongState]) -> None:
    """typedefs.no_consumer (cors, the auth plugins): Kong 3.9 refuses them on a consumer."""
    client, state = http
    consumer = state.seed("consumers", {"username": "app"})["id"]
    refused = client.post("/plugins", json={"name": "cors", "consumer": {"id": consumer}})
    assert refused.status_code == 400 and refused.json()["fields"] == {"consumer": "value must be null"}
    limited = {"name": "rate-limiting", "consumer": {"id": consumer}, "config": {"minute": 1}}
    assert client.post("/plugins", json=limited).status_code == 201
    assert client.post("/plugins", json={"name": "cors"}).status_code == 201


def test_upstream_and_route_schemas_are_kong_39s(http: tuple[httpx.Client, KongState]) -> None:
    """Kong 3.9's upstream algorithms (sticky-sessions came later), its passive health check defaults, and
    its route protocols (tls_passthrough included)."""
    client, _ = http
    uid = "9d0c5b8e-0000-4000-8000-000000000020"
    refused = client.put(f"/upstreams/{uid}", json={"name": "u", "algorithm": "sticky-sessions"})
    assert refused.status_code == 400 and "algorithm" in refused.json()["fields"]
    upstream = client.put(f"/upstreams/{uid}", json={"name": "u"}).json()
    passive = upstream["healthchecks"]["passive"]["healthy"]["http_statuses"]
    assert passive == [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308]
    client.put(f"/services/{SID}", json={"name": "a", "host": "a", "protocol": "tcp"})
    route = {"name": "p", "protocols": ["tls_passthrough"], "snis": ["a.example.com"], "service": {"id": SID}}
    assert client.put("/routes/9d0c5b8e-0000-4000-8000-000000000021", json=route).status_code == 200
