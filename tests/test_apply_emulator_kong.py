"""The Kong emulator answers the way Kong 3.9 does (kong/api/endpoints.lua, kong/db/errors.lua), so the apply
tests prove something: error bodies, status codes, paging, tag filters, defaults, DB-less read-only."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml
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
        json={"name": "q", "paths": ["/q"], "service": {"id": "9d0c5b8e-0000-4000-8000-00000000ffff"}},
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


def test_oauth2_secrets_with_hash_secret_are_stored_as_salted_pbkdf2(
    http: tuple[httpx.Client, KongState],
) -> None:
    """kong/plugins/oauth2/daos.lua: with hash_secret, client_secret is replaced on write by secret.lua's hash,
    PBKDF2 (the one algorithm 3.9 enables) with a random salt: a GET never shows the secret written, and writing
    the same secret again stores another hash. DB-less loads run it too, unless `_transform: false`."""
    client, state = http
    client.post("/consumers", json={"username": "app"})
    body = {"name": "app", "client_id": "app-id", "client_secret": "plain-secret", "hash_secret": True}
    first = client.put("/consumers/app/oauth2/app-id", json=body).json()["client_secret"]
    again = client.put("/consumers/app/oauth2/app-id", json=body).json()["client_secret"]
    assert first != again and client.get("/oauth2/app-id").json()["client_secret"] == again
    algorithm, params, salt, digest = first.split("$")[1:]
    assert (algorithm, params) == ("pbkdf2-sha512", "i=10000,l=32")

    def unpadded(text: str) -> bytes:
        return base64.b64decode(text + "=" * (-len(text) % 4))

    assert hashlib.pbkdf2_hmac("sha512", b"plain-secret", unpadded(salt), 10000, 32) == unpadded(digest)
    # a PATCH that does not name hash_secret leaves the stored hash alone; without hash_secret a secret is kept
    assert client.patch("/oauth2/app-id", json={"name": "renamed"}).json()["client_secret"] == again
    plain = client.put("/consumers/app/oauth2/app-id", json={**body, "hash_secret": False}).json()
    assert plain["client_secret"] == "plain-secret"
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as dbless:
        consumer = {"username": "app", "oauth2_credentials": [body]}
        for meta, hashed in (({}, True), ({"_transform": False}, False)):
            doc = {"_format_version": "3.0", **meta, "consumers": [consumer]}
            assert dbless.post("/config", json=doc).status_code == 201
            stored = dbless.get("/oauth2/app-id").json()["client_secret"]
            assert stored.startswith("$pbkdf2-sha512$") is hashed, stored
    assert state.entities("oauth2_credentials")[0]["client_secret"] == "plain-secret"


def test_numbers_are_written_with_cjsons_precision(http: tuple[httpx.Client, KongState]) -> None:
    """Kong writes its answers with lua-cjson at encode_number_precision 16 (kong/globalpatches.lua,
    CJSON_MAX_PRECISION in kong/constants.lua, kong/pdk/response.lua), "%.16g", after Postgres kept a record
    field (a plugin's config) as JSONB that pgmoon's encode_json wrote with lua-cjson's own module at its default
    precision, 14 (kong/db/strategies/postgres/init.lua escape_literal). A double that takes 17 digits comes back
    rounded to 14 with a database, to 16 without (the declarative config is kept as it was read); an integral
    one as an integer; an integer past 16 digits in exponent form."""
    client, _ = http
    raw = '{"name": "zipkin", "config": {"http_endpoint": "http://z:9411/", "sample_ratio": 0.12345678901234567}}'
    created = client.post("/plugins", content=raw, headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    assert created.json()["config"]["sample_ratio"] == 0.12345678901235
    assert '"sample_ratio": 0.12345678901235' in client.get(f"/plugins/{created.json()['id']}").text
    client.put(f"/services/{SID}", json={"name": "a", "host": "a.internal"})
    config = {"http_endpoint": "http://z:9411/", "sample_ratio": 1.0}
    plugin = {"name": "zipkin", "service": {"id": SID}, "config": config}
    assert re.search(r'"sample_ratio": 1[,}]', client.post("/plugins", json=plugin).text)
    route = client.post("/routes", json={"paths": ["/r"], "regex_priority": 12345678901234567}).json()
    assert route["regex_priority"] == 1.234567890123457e16  # an integer column: the double, in 16 digits
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as dbless:
        doc = '{"_format_version": "3.0", "plugins": [' + raw + "]}"
        assert dbless.post("/config", json={"config": doc}).status_code == 201
        assert dbless.get("/plugins").json()["data"][0]["config"]["sample_ratio"] == 0.1234567890123457


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


def test_service_url_shorthand_sets_protocol_host_port_and_path(http: tuple[httpx.Client, KongState]) -> None:
    """kong/db/schema/entities/services.lua shorthand_fields: `url` is split with socket.url.parse; the port
    defaults by scheme (80, 443, else 80); it sets all four fields over whatever the body also says
    (kong/db/schema/init.lua process_auto_fields), path null when the url has none."""
    client, _ = http
    made = client.post("/services", json={"name": "a", "url": "https://api.example.com/v1?x=1"}).json()
    assert (made["protocol"], made["host"], made["port"], made["path"]) == ("https", "api.example.com", 443, "/v1")
    both = {"url": "http://b.internal:8080", "protocol": "https", "host": "ignored", "port": 1, "path": "/p"}
    put = client.put("/services/a", json=both).json()
    assert (put["protocol"], put["host"], put["port"], put["path"]) == ("http", "b.internal", 8080, None)
    client.patch("/services/a", json={"path": "/kept"})
    patched = client.patch("/services/a", json={"url": "grpcs://g.internal"}).json()
    assert (patched["protocol"], patched["port"], patched["path"], patched["retries"]) == ("grpcs", 80, None, 5)
    assert client.post("/services", json={"url": 5}).json()["fields"] == {"url": "expected a string"}
    hostless = client.post("/services", json={"name": "c", "url": "just-a-name"})
    # socket.url.parse reads a bare name as a path, which typedefs.path then refuses
    assert hostless.status_code == 400 and hostless.json()["fields"] == {
        "host": "required field missing",
        "path": "should start with: /",
    }


def test_service_protocol_checks_and_empty_strings(http: tuple[httpx.Client, KongState]) -> None:
    """services.lua entity_checks (conditional: no path on tcp/tls/udp/grpc(s), no TLS settings unless
    https/tls), reported first in the message (kong/db/errors.lua schema_violation); an empty string in a JSON
    body is a value (kong/api/arguments.lua infers nothing from JSON) that a string field refuses with its default
    `len_min` of 1 (kong/db/schema/init.lua validate_field), the `url` shorthand too (spec: "client error with
    empty url")."""
    client, _ = http
    refused = client.post("/services", json={"name": "t", "host": "db", "protocol": "tcp", "path": "/x"})
    assert refused.status_code == 400
    assert refused.json()["fields"] == {
        "@entity": ["failed conditional validation given value of field 'protocol'"],
        "path": "value must be null",
    }
    assert refused.json()["message"] == (
        "2 schema violations (failed conditional validation given value of field 'protocol'; path: value must be null)"
    )
    assert client.post("/services", json={"host": "h", "tls_verify": True}).json()["fields"]["tls_verify"] == (
        "value must be null"
    )
    assert client.post("/services", json={"host": "h", "path": ""}).json()["fields"] == {
        "path": "length must be at least 1"
    }
    assert client.post("/services", json={"host": ""}).json()["fields"] == {"host": "length must be at least 1"}
    assert client.post("/services", json={"url": ""}).json()["fields"] == {"url": "length must be at least 1"}


def test_put_and_patch_by_id_or_name(http: tuple[httpx.Client, KongState]) -> None:
    """kong/db/dao/init.lua: PUT by endpoint key keeps the key the path names (check_upsert); PATCH of a
    missing entity is a 404 with Kong's not-found error (errors.lua not_found, not_found_by_field), except on
    /plugins without a name, which is read first (kong/api/routes/plugins.lua patch_plugin); a non-UUID key
    where there is no endpoint key is an invalid primary key."""
    client, _ = http
    assert client.put("/services/a", json={"name": "b", "host": "h"}).json()["name"] == "a"
    assert client.get("/services/b").status_code == 404
    missing = client.patch(f"/services/{SID}", json={"port": 1})
    assert missing.status_code == 404
    assert missing.json() == {
        "code": 6,
        "name": "not found",
        "message": f"could not find the entity with primary key '{{id=\"{SID}\"}}'",
        "fields": {"id": SID},
    }
    by_name = client.patch("/services/nope", json={"port": 1}).json()
    assert by_name["message"] == "could not find the entity with '{name=\"nope\"}'"
    assert client.patch(f"/plugins/{SID}", json={"enabled": False}).json() == {"message": "Not found"}
    assert client.patch(f"/plugins/{SID}", json={"name": "cors"}).json()["code"] == 6
    bad_key = client.get("/acls/admins")
    assert bad_key.status_code == 400 and bad_key.json() == {
        "code": 1,
        "name": "invalid primary key",
        "message": "invalid primary key: '{id=\"expected a valid UUID\"}'",
        "fields": {"id": "expected a valid UUID"},
    }


def test_nested_routes_belong_to_the_parent_in_the_path(http: tuple[httpx.Client, KongState]) -> None:
    """kong/api/endpoints.lua: a nested POST sets the foreign key to the path's parent, whatever the body
    says; GET, PATCH and DELETE of a child under another parent (or a missing one) are 404, even DELETE
    (unlike the top-level DELETE); PUT sets the parent and upserts; the parent must exist."""
    client, _ = http
    a = client.put("/services/a", json={"host": "a"}).json()
    b = client.put("/services/b", json={"host": "b"}).json()
    made = client.post("/services/a/routes", json={"name": "r", "paths": ["/"], "service": {"id": b["id"]}})
    assert made.status_code == 201 and made.json()["service"] == {"id": a["id"]}
    rid = made.json()["id"]
    assert client.get(f"/services/{a['id']}/routes/r").json()["id"] == rid
    assert client.get(f"/services/b/routes/{rid}").json() == {"message": "Not found"}
    assert client.patch(f"/services/b/routes/{rid}", json={"paths": ["/b"]}).status_code == 404
    assert client.delete(f"/services/b/routes/{rid}").status_code == 404
    assert client.delete(f"/services/a/routes/{SID}").status_code == 404
    assert client.get("/services/nope/routes").status_code == 404
    assert client.post("/services/nope/routes", json={"paths": ["/"]}).status_code == 404
    moved = client.put(f"/services/b/routes/{rid}", json={"paths": ["/moved"]}).json()
    assert moved["service"] == {"id": b["id"]} and moved["name"] is None  # PUT replaces the whole route
    assert [r["id"] for r in client.get("/services/b/routes").json()["data"]] == [rid]
    assert client.get("/services/a/routes").json() == {"data": [], "next": None}
    assert client.delete(f"/services/b/routes/{rid}").status_code == 204
    assert client.get(f"/routes/{rid}").status_code == 404


def test_nested_lists_ignore_tags_and_page_with_offset_only(http: tuple[httpx.Client, KongState]) -> None:
    """kong/db/strategies/postgres/init.lua page(): a foreign key read takes no tags (they are still
    checked, kong/api/endpoints.lua extract_options); `next` names the parent as the path did and carries
    the offset alone (endpoints.lua get_collection_endpoint)."""
    client, state = http
    a = client.put("/services/a", json={"host": "a"}).json()
    for i in range(3):
        state.seed("routes", {"name": f"r{i}", "paths": ["/"], "service": {"id": a["id"]}, "tags": ["t"] if i else []})
    first = client.get("/services/a/routes", params={"tags": "t", "size": "2"}).json()
    assert len(first["data"]) == 2 and first["next"].startswith("/services/a/routes?offset=")
    assert "tags" not in first["next"] and "size" not in first["next"]
    assert len(client.get("/services/a/routes", params={"offset": first["offset"], "size": "2"}).json()["data"]) == 1
    assert client.get("/services/a/routes", params={"tags": "a,b,c,d,e,f"}).json()["code"] == 11
    assert client.get("/routes", params={"tags": ""}).json()["options"] == {"tags": "cannot be null"}
    assert len(client.get("/routes", params={"tags": "t"}).json()["data"]) == 2  # top level: filtered


def test_consumer_credentials_and_plugins_nested(http: tuple[httpx.Client, KongState]) -> None:
    """/consumers/:c/key-auth (admin_api_nested_name in kong/plugins/key-auth/daos.lua), by id or key;
    /consumers/:c/acls/:group by group name, PUT creating it (kong/plugins/acl/api.lua); plugins under
    services, routes and consumers scoped by the path (kong/api/routes/plugins.lua)."""
    client, _ = http
    c = client.put("/consumers/app", json={}).json()
    other = client.put("/consumers/other", json={}).json()
    key = client.post("/consumers/app/key-auth", json={"key": "k1", "consumer": {"id": other["id"]}}).json()
    assert key["consumer"] == {"id": c["id"]}
    assert client.get("/consumers/app/key-auth/k1").json()["id"] == key["id"]
    assert client.get(f"/consumers/other/key-auth/{key['id']}").status_code == 404
    assert client.patch("/consumers/app/key-auth/k1", json={"tags": ["x"]}).json()["tags"] == ["x"]
    assert [k["id"] for k in client.get(f"/consumers/{c['id']}/key-auth").json()["data"]] == [key["id"]]
    assert client.delete("/consumers/app/key-auth/k1").status_code == 204
    assert client.get("/consumers/app/key-auth/k1").status_code == 404
    assert client.post("/consumers/app/basic-auth", json={"username": "u", "password": "p"}).status_code == 201
    assert client.post("/consumers/app/jwt", json={}).json()["consumer"] == {"id": c["id"]}
    acl = client.put("/consumers/app/acls/admins", json={}).json()
    assert acl["group"] == "admins" and acl["consumer"] == {"id": c["id"]}
    assert client.get("/consumers/app/acls/admins").json()["id"] == acl["id"]
    assert client.get("/consumers/other/acls/admins").status_code == 404
    limited = client.post("/consumers/app/plugins", json={"name": "rate-limiting", "config": {"minute": 1}}).json()
    assert limited["consumer"] == {"id": c["id"]}
    assert client.get(f"/consumers/app/plugins/{limited['id']}").status_code == 200
    assert client.get(f"/services/{SID}/plugins").status_code == 404
    client.put("/services/s", json={"host": "s"})
    route = client.post("/services/s/routes", json={"name": "r", "paths": ["/"]}).json()
    assert client.post("/routes/r/plugins", json={"name": "cors"}).json()["route"] == {"id": route["id"]}
    assert client.post("/services/s/plugins", json={"name": "cors"}).json()["service"] == {"id": route["service"]["id"]}


def test_credential_collections_need_their_plugin() -> None:
    """The credential daos come with their plugin (kong/api/init.lua loads the plugins' daos): none, no
    endpoint, top level or nested."""
    state = KongState(plugins=["cors"])
    with running(state) as kong, httpx.Client(base_url=kong.url) as client:
        client.put("/consumers/app", json={})
        assert client.get("/key-auths").status_code == 404
        assert client.get("/consumers/app/key-auth").status_code == 404


def test_foreign_entity_endpoints(http: tuple[httpx.Client, KongState]) -> None:
    """/routes/:r/service (kong/api/endpoints.lua, is_foreign_entity_endpoint): GET and PATCH reach the
    service; DELETE is never allowed (405); without a service, 404."""
    client, _ = http
    client.put("/services/s", json={"host": "s"})
    client.post("/services/s/routes", json={"name": "r", "paths": ["/"]})
    client.post("/routes", json={"name": "lonely", "paths": ["/l"]})
    assert client.get("/routes/r/service").json()["name"] == "s"
    assert client.patch("/routes/r/service", json={"port": 81}).json()["port"] == 81
    assert client.delete("/routes/r/service").status_code == 405
    assert client.get("/routes/lonely/service").status_code == 404


def test_page_size_and_offset_are_read_as_kong_reads_them(http: tuple[httpx.Client, KongState]) -> None:
    """kong/api/endpoints.lua get_page_size (Lua tonumber), kong/db/dao/init.lua validate_size_value, and
    the offset's base64 then JSON decoding (kong/db/strategies/postgres/init.lua page)."""
    client, state = http
    for i in range(12):
        state.seed("consumers", {"username": f"c{i}"})
    assert len(client.get("/consumers", params={"size": "1e1"}).json()["data"]) == 10
    for size in ("1.5", "0", "1001"):
        assert client.get("/consumers", params={"size": size}).json() == {
            "code": 9,
            "name": "invalid size",
            "message": "size must be an integer between 1 and 1000",
        }
    assert client.get("/consumers", params={"size": "ten"}).json()["message"] == "size must be a number"
    bad = client.get("/consumers", params={"offset": "!!"}).json()
    assert bad == {"code": 7, "name": "invalid offset", "message": "'!!' is not a valid offset: bad base64 encoding"}
    assert client.get("/consumers", params={"offset": "bm90IGpzb24"}).json()["message"].endswith("bad json encoding")


def test_targets_as_kong_39_keeps_them(http: tuple[httpx.Client, KongState]) -> None:
    """kong/db/dao/targets.lua: an address without a port gets 8000, IPv6 written out in brackets, an
    invalid one refused; the list is newest first, ignores tags, caps size at 1000 instead of refusing it,
    and pages with a numeric offset; targets are only under their upstream (kong/api/routes/targets.lua)."""
    client, state = http
    client.put("/upstreams/u", json={})
    assert client.post("/upstreams/u/targets", json={"target": "10.0.0.1"}).json()["target"] == "10.0.0.1:8000"
    ipv6 = client.post("/upstreams/u/targets", json={"target": "::1"}).json()["target"]
    assert ipv6 == "[0000:0000:0000:0000:0000:0000:0000:0001]:8000"
    refused = client.post("/upstreams/u/targets", json={"target": "not a host"})
    assert refused.status_code == 400
    assert refused.json()["fields"] == {"target": "Invalid target; not a valid hostname or ip address"}
    # kong/tools/ip.lua normalize_ipv6 wants eight hex groups: an IPv4 tail or a zone is no IPv6 address to Kong
    for address in ("[::ffff:10.0.0.1]:80", "[fe80::1%eth0]:80"):
        assert client.post("/upstreams/u/targets", json={"target": address}).status_code == 400, address
    zeros = client.post("/upstreams/u/targets", json={"target": "010.000.0.07:81"}).json()["target"]
    assert zeros == "10.0.0.7:81"  # normalize_ipv4's %d
    client.delete(f"/upstreams/u/targets/{zeros}")
    time.sleep(0.01)  # created_at has milliseconds: the newest is listed first
    client.post("/upstreams/u/targets", json={"target": "b.internal:80", "tags": ["t"]})
    listed = client.get("/upstreams/u/targets", params={"tags": "t", "size": "5000"}).json()
    assert listed["data"][0]["target"] == "b.internal:80" and len(listed["data"]) == 3
    first = client.get("/upstreams/u/targets", params={"size": "2"}).json()
    assert first["offset"] == "2" and first["next"] == "/upstreams/u/targets?offset=2"
    assert len(client.get("/upstreams/u/targets", params={"offset": "2"}).json()["data"]) == 1
    assert client.get("/upstreams/u/targets/10.0.0.1").json()["target"] == "10.0.0.1:8000"
    assert client.put("/upstreams/u/targets/10.9.9.9:80", json={"weight": 1}).status_code == 404
    assert client.delete("/upstreams/u/targets/10.9.9.9:80").status_code == 404
    assert client.get("/targets").status_code == 404
    assert isinstance(state.entities("targets")[0]["created_at"], float)


def test_a_dbless_load_keeps_a_target_as_written() -> None:
    """Only the targets DAO formats a target (kong/db/dao/targets.lua insert, upsert); a declarative load
    writes entities without it (kong/db/declarative/import.lua), after the schema's validate_target
    (kong/db/schema/entities/targets.lua), so DB-less Kong keeps the text it was given."""
    doc = {
        "_format_version": "3.0",
        "upstreams": [{"name": "u", "targets": [{"target": "[2001:db8::1]:80"}, {"target": "010.0.0.1"}]}],
    }
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as client:
        assert client.post("/config", json=doc).status_code == 201
        targets = client.get("/upstreams/u/targets").json()["data"]
        assert sorted(t["target"] for t in targets) == ["010.0.0.1", "[2001:db8::1]:80"]
        doc["upstreams"][0]["targets"] = [{"target": "[::ffff:1.2.3.4]:80"}]
        refused = client.post("/config", json=doc)
        assert refused.status_code == 400
        assert "Invalid target ('[::ffff:1.2.3.4]:80'); not a valid hostname or ip address" in refused.text


def test_the_dbless_export_is_written_as_lyaml_writes_it_and_loads_again() -> None:
    """`GET /config` is written by lyaml (kong/db/declarative/export.lua; lib/lyaml/init.lua dump_node and
    dump_scalar): a number with LuaJIT's tostring, "%.14g", a table without elements as a mapping, so an empty
    array is exported as `{}`, which a load takes for an empty array again (init.lua is_sequence), and every
    null (export.lua reads with nulls = true)."""
    zipkin = {"name": "zipkin", "config": {"http_endpoint": "http://z:9411/", "sample_ratio": 0.12345678901234567}}
    transformer = {"name": "response-transformer", "config": {"add": {"headers": ["X-A:1"]}}}
    doc = {"_format_version": "3.0", "plugins": [zipkin, transformer]}
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as client:
        assert client.post("/config", json=doc).status_code == 201
        exported = client.get("/config").json()["config"]
        plugins = yaml.safe_load(exported)["plugins"]
        assert all(p["service"] is None and p["instance_name"] is None for p in plugins)  # nulls are exported
        configs = {p["name"]: p["config"] for p in plugins}
        assert configs["zipkin"]["sample_ratio"] == 0.12345678901235
        assert configs["response-transformer"]["remove"]["headers"] == {}
        assert configs["response-transformer"]["add"]["headers"] == ["X-A:1"]
        assert client.post("/config", json={"config": exported}).status_code == 201
        loaded = {p["name"]: p["config"] for p in client.get("/plugins").json()["data"]}
        assert loaded["response-transformer"]["remove"]["headers"] == []
        assert loaded["zipkin"]["sample_ratio"] == 0.12345678901235


def test_dbless_writes_are_checked_then_refused() -> None:
    """kong/db/dao/init.lua validates before the off strategy refuses (kong/db/strategies/off/init.lua:
    `remove`, `... by 'name'`); deleting what is not there reads first and answers 204."""
    state = KongState(dbless=True)
    with running(state) as kong, httpx.Client(base_url=kong.url) as client:
        assert client.post("/services", json={"port": "x"}).json()["code"] == 2
        assert client.put("/services/a", json={"host": "a"}).json()["message"] == (
            "cannot create or update 'services' entities by 'name' when not using a database"
        )
        assert client.delete("/services/a").status_code == 204
        state.seed("services", {"name": "a", "host": "a"})
        refused = client.delete("/services/a")
        assert refused.status_code == 405
        assert refused.json()["message"] == "cannot remove 'services' entities by 'name' when not using a database"


def test_dbless_filters_tags_after_reading_a_page() -> None:
    """kong/db/strategies/off/init.lua page_for_tags: a page of `size` entities is read, then filtered, so a
    page can be short or empty while `next` says there is more."""
    state = KongState(dbless=True)
    for i in range(4):
        state.seed("consumers", {"username": f"c{i}", "tags": ["t"] if i == 3 else []})
    with running(state) as kong, httpx.Client(base_url=kong.url) as client:
        seen: list[str] = []
        page = client.get("/consumers", params={"tags": "t", "size": "1"}).json()
        pages = 1
        while page["next"]:
            seen += [c["username"] for c in page["data"]]
            page = client.get(page["next"]).json()
            pages += 1
        seen += [c["username"] for c in page["data"]]
        assert seen == ["c3"] and pages == 4


def test_consumers_by_custom_id(http: tuple[httpx.Client, KongState]) -> None:
    """kong/api/routes/consumers.lua: `?custom_id=` looks one consumer up."""
    client, state = http
    state.seed("consumers", {"username": "a", "custom_id": "x"})
    state.seed("consumers", {"username": "b"})
    assert [c["username"] for c in client.get("/consumers", params={"custom_id": "x"}).json()["data"]] == ["a"]
    assert client.get("/consumers", params={"custom_id": "y"}).json() == {"data": [], "next": None}
    assert client.get("/consumers", params={"custom_id": ""}).status_code == 400


def test_foreign_keys_by_name_are_resolved(http: tuple[httpx.Client, KongState]) -> None:
    """kong/db/dao/init.lua resolve_foreign: a foreign key may name the entity by a unique field; one that
    names nothing is a 400 `foreign keys unresolved` (kong/db/errors.lua)."""
    client, _ = http
    service = client.put("/services/a", json={"host": "a"}).json()
    route = client.post("/routes", json={"paths": ["/"], "service": {"name": "a"}}).json()
    assert route["service"] == {"id": service["id"]}
    refused = client.post("/routes", json={"paths": ["/"], "service": {"name": "nope"}})
    assert refused.status_code == 400
    assert refused.json() == {
        "code": 13,
        "name": "foreign keys unresolved",
        "message": "foreign key unresolved (service.name: the foreign key cannot be resolved with "
        "'{name=\"nope\"}' for an existing 'services' entity)",
        "fields": {
            "service": {
                "name": "the foreign key cannot be resolved with '{name=\"nope\"}' for an existing 'services' entity"
            }
        },
    }


def test_names_tags_and_ids_are_checked(http: tuple[httpx.Client, KongState]) -> None:
    """kong/db/schema/typedefs.lua: utf8_name (services, routes, plugin instance names), tag and uuid; an
    array's errors are listed by position (kong/db/schema/init.lua validate_elements), `tags.2` in the
    message."""
    client, _ = http
    refused = client.post("/services", json={"name": "a b", "host": "h", "tags": ["ok", "a,b"]}).json()
    tag_error = "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
    name_error = "invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
    assert refused["fields"] == {"name": name_error, "tags": [None, tag_error]}
    assert refused["message"] == f"2 schema violations (name: {name_error}; tags.2: {tag_error})"
    assert client.post("/services", json={"id": "x", "host": "h"}).json()["fields"] == {"id": "expected a valid UUID"}
    assert client.post("/routes", json={"name": "ok_name-1.~", "paths": ["/"]}).status_code == 201


def test_routes_are_checked_by_protocol(http: tuple[httpx.Client, KongState]) -> None:
    """kong/db/schema/entities/routes_subschemas.lua (the first known protocol picks the subschema) and the
    snis check of routes.lua; entity check messages go under `@entity`."""
    client, _ = http

    def refused(route: dict[str, object]) -> dict[str, object]:
        answer = client.post("/routes", json=route)
        assert answer.status_code == 400
        return dict(answer.json()["fields"])

    assert refused({"protocols": ["http"]}) == {
        "@entity": ["must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"]
    }
    assert client.post("/routes", json={"protocols": ["https"], "snis": ["a.example.com"]}).status_code == 201
    assert refused({"protocols": ["http"], "paths": ["/"], "snis": ["a.example.com"]}) == {
        "snis": "length must be 0",
        "@entity": ["'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"],
    }
    assert refused({"protocols": ["tcp"], "paths": ["/"]}) == {
        "paths": "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
        "@entity": ["must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'"],
    }
    assert refused({"protocols": ["tls_passthrough"]}) == {
        "@entity": ["must set snis when 'protocols' is 'tls_passthrough'"]
    }
    grpc = client.post("/routes", json={"protocols": ["grpc"], "paths": ["/g"]}).json()
    assert grpc["strip_path"] is False  # the grpc subschema's default
    assert refused({"protocols": ["grpc"], "paths": ["/g"], "strip_path": True, "methods": ["GET"]}) == {
        "strip_path": "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'",
        "methods": "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'",
    }


def test_dbless_flattened_errors_are_categorised() -> None:
    """kong/db/errors.lua categorize_errors: entity checks become `type: entity` errors, a record's or an
    array's inner errors `parent.child` field errors."""
    state = KongState(dbless=True)
    doc = {
        "_format_version": "3.0",
        "services": [{"name": "s", "host": "h", "routes": [{"name": "r", "protocols": ["http"]}]}],
        "plugins": [{"name": "rate-limiting", "config": {"minute": "x"}, "tags": ["ok", "a/b"]}],
    }
    with running(state) as kong, httpx.Client(base_url=kong.url) as client:
        answer = client.post("/config", params={"flatten_errors": "1"}, json={"config": json.dumps(doc)})
        assert answer.status_code == 400
        errors = {item["entity_type"]: item["errors"] for item in answer.json()["flattened_errors"]}
        assert errors["route"] == [
            {
                "type": "entity",
                "message": "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'",
            }
        ]
        assert errors["plugin"] == [
            {"type": "field", "field": "config.minute", "message": "expected a number"},
            {
                "type": "field",
                "field": "tags.2",
                "message": "invalid tag 'a/b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
            },
        ]


def test_deprecated_redis_shorthands_are_taken_on_writes_and_shown_on_reads(
    http: tuple[httpx.Client, KongState],
) -> None:
    # kong/db/schema/init.lua process_auto_fields, kong/plugins/rate-limiting/schema.lua shorthand_fields
    client, state = http
    pid = "9d0c5b8e-0000-4000-8000-000000000010"
    config = {"minute": 5, "policy": "redis", "redis_host": "redis.internal", "redis": {"port": 6380}}
    written = client.put(f"/plugins/{pid}", json={"name": "rate-limiting", "config": config})
    assert written.status_code == 200, written.text
    stored = state.entities("plugins")[0]["config"]
    assert stored["redis"]["host"] == "redis.internal" and "redis_host" not in stored
    shown = client.get(f"/plugins/{pid}").json()["config"]
    assert (shown["redis_host"], shown["redis_port"], shown["redis_password"]) == ("redis.internal", 6380, None)
    assert client.get("/plugins").json()["data"][0]["config"]["redis_port"] == 6380
    assert written.json()["config"]["redis_host"] == "redis.internal"
    mismatch = client.put(
        f"/plugins/{pid}", json={"name": "rate-limiting", "config": {**config, "redis": {"host": "other"}}}
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["fields"] == {
        "config": {
            "redis_host": "both deprecated and new field are used but their values mismatch: "
            "redis_host = redis.internal vs redis.host = other"
        }
    }
    listed = client.get("/schemas/plugins/rate-limiting").json()["fields"][1]["config"]["shorthand_fields"]
    assert listed[0]["redis_host"]["deprecation"]["replaced_with"] == [{"path": ["redis", "host"]}]


def test_other_shorthands_nested_or_naming_no_replacement(http: tuple[httpx.Client, KongState]) -> None:
    client, _ = http
    ids = [f"9d0c5b8e-0000-4000-8000-00000000002{i}" for i in range(3)]
    # acme: deprecated shorthands of a nested record (storage_config.redis), shown again there
    acme = {"account_email": "ops@example.com", "storage_config": {"redis": {"host": "r", "auth": "pw"}}}
    redis = client.put(f"/plugins/{ids[0]}", json={"name": "acme", "config": acme}).json()["config"]
    assert redis["storage_config"]["redis"]["password"] == redis["storage_config"]["redis"]["auth"] == "pw"
    assert redis["storage_config"]["kong"] == {} and redis["account_key"] is None  # required / optional record
    # opentelemetry: deprecated, naming no replacement: taken for traces_endpoint, never shown
    otel = {"endpoint": "http://otel:4318/v1/traces"}
    shown = client.put(f"/plugins/{ids[1]}", json={"name": "opentelemetry", "config": otel}).json()["config"]
    assert shown["traces_endpoint"] == otel["endpoint"] and "endpoint" not in shown
    assert shown["queue"]["max_batch_size"] == 200
    # session: not deprecated: the shorthand wins over the field, and is never shown
    session = {"cookie_lifetime": 100, "rolling_timeout": 5, "cookie_samesite": "off"}
    shown = client.put(f"/plugins/{ids[2]}", json={"name": "session", "config": session}).json()["config"]
    assert (shown["rolling_timeout"], shown["cookie_same_site"]) == (100, "Lax") and "cookie_lifetime" not in shown
    on_consumer = client.post("/plugins", json={"name": "session", "consumer": {"id": ids[0]}})
    assert on_consumer.status_code == 400 and on_consumer.json()["fields"]["consumer"] == "value must be null"


def test_a_dbless_kong_offers_no_cluster_rate_limiting_policy() -> None:
    # kong/plugins/rate-limiting/schema.lua: is_dbless() at schema load leaves `cluster` out of `policy`
    body = {"name": "rate-limiting", "config": {"minute": 5, "policy": "cluster"}}
    for dbless, allowed in ((False, ["local", "cluster", "redis"]), (True, ["local", "redis"])):
        state = KongState(dbless=dbless)
        with running(state) as kong, httpx.Client(base_url=kong.url) as client:
            schema = client.get("/schemas/plugins/rate-limiting").json()
            policy = next(f["policy"] for f in schema["fields"][1]["config"]["fields"] if "policy" in f)
            assert policy["one_of"] == allowed
        _, errors = state.fill("plugins", body)
        assert errors == ({"config": {"policy": "expected one of: local, redis"}} if dbless else {})
