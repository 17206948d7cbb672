"""Kong rendering: what each catalog feature becomes in kong.yaml, ids, tags, determinism, files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatewayctl.catalog.load import load_catalog
from gatewayctl.cli import main
from gatewayctl.render.kong import build_kong_config, entity_id
from gatewayctl.render.output import MANIFEST

ENV = {"APP_KEY": "key-123", "JWT_SECRET": "jwt-s3cret", "SVC_PASSWORD": "pw", "REDIS_PASSWORD": "redis-pw"}


def kong(tmp_path: Path, body: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    path = tmp_path / "catalog.yaml"
    path.write_text("format: 1\nname: demo\n" + textwrap.dedent(body))
    loaded = load_catalog(path)
    secrets = loaded.secrets(ENV if environ is None else environ)
    loaded.check_secrets(["kong"], secrets)
    return build_kong_config(loaded.catalog, secrets)


def service(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in doc["services"] if s["name"] == name)


def plugins_of(entity: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in entity.get("plugins", [])}


def entities(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Kong entity in the document, nested ones included."""
    for p in doc.get("plugins", []):
        yield "plugin", p
    for s in doc.get("services", []):
        yield "service", s
        for p in s.get("plugins", []):
            yield "plugin", p
        for r in s.get("routes", []):
            yield "route", r
            for p in r.get("plugins", []):
                yield "plugin", p
    for u in doc.get("upstreams", []):
        yield "upstream", u
        for t in u.get("targets", []):
            yield "target", t
    for c in doc.get("consumers", []):
        yield "consumer", c
        for key in ("keyauth_credentials", "jwt_secrets", "basicauth_credentials", "oauth2_credentials", "acls"):
            for cred in c.get(key, []):
                yield key, cred
        for p in c.get("plugins", []):
            yield "plugin", p


FULL = """\
tags: [team-platform]
gateway:
  request_id: {header: X-Request-ID}
  metrics: {status_codes: true, latency: true}
  tracing: {zipkin: {endpoint: 'http://zipkin:9411/api/v2/spans', sample_ratio: 0.25}}
  security_headers: true
consumers:
  - name: app
    groups: [users]
    credentials:
      key_auth: [{key: '${env:APP_KEY}'}]
      jwt: [{key: app-issuer, secret: '${env:JWT_SECRET}'}]
      basic_auth: [{username: svc, password: '${env:SVC_PASSWORD}'}]
    rate_limit: {minute: 600}
services:
  - name: conversation
    url: http://conversation.aico.svc:8080/v1
    tags: [chat]
    timeouts: {connect: 5s, read: 1h}
    retries: 3
    auth: [jwt, key-auth]
    jwt: {maximum_expiration: 24h}
    allow_groups: [users]
    rate_limit: {minute: 100, day: 10000, by: 'header:X-User-ID', policy: redis,
                 redis: {host: redis, password: '${env:REDIS_PASSWORD}'}}
    cors: {origins: ['https://app.example.com'], credentials: true, max_age: 1h}
    ip_allow: [10.0.0.0/8]
    max_body: 64k
    cache: {ttl: 5m}
    routes:
      - {name: api, paths: [/api], methods: [GET, POST], tags: [public]}
      - {name: ws, paths: ['~/threads/[^/]+/ws$'], websocket: true}
      - {name: events, paths: [/events], streaming: true, plugins: {request-termination: null}}
  - name: engine
    upstream:
      algorithm: consistent-hashing
      hash_on: 'header:X-User-ID'
      targets: [{target: '10.0.0.11:8080', weight: 50}, '10.0.0.12']
      health_check: {path: /health, interval: 5s, timeout: 500ms, healthy_after: 2, unhealthy_after: 3}
      circuit_breaker: {http_failures: 5, timeouts: 3}
    routes: [{name: detect, paths: [/detect]}]
    auth: [basic-auth]
  - name: sim
    url: grpc://sim.sim.svc:9000
    grpc_web: true
    routes: [{name: rpc, paths: [/sim.v1.Sim/]}]
"""


def test_every_entity_has_a_deterministic_id_and_the_ownership_tags(tmp_path: Path) -> None:
    doc = kong(tmp_path, FULL)
    ids = []
    for kind, entity in entities(doc):
        assert uuid.UUID(entity["id"]).version == 5, kind
        assert entity["tags"][:3] == ["gatewayctl", "gatewayctl-catalog:demo", "team-platform"], (kind, entity)
        ids.append(entity["id"])
    assert len(ids) == len(set(ids)), "ids must be unique"
    assert doc["_format_version"] == "3.0"
    assert doc["_info"] == {"select_tags": ["gatewayctl-catalog:demo"]}
    assert service(doc, "conversation")["id"] == entity_id("demo", "service", "conversation")
    assert entity_id("demo", "service", "x") != entity_id("other", "service", "x")


def test_service_and_route_fields(tmp_path: Path) -> None:
    conv = service(kong(tmp_path, FULL), "conversation")
    assert {k: conv[k] for k in ("protocol", "host", "port", "path", "connect_timeout", "read_timeout")} == {
        "protocol": "http",
        "host": "conversation.aico.svc",
        "port": 8080,
        "path": "/v1",
        "connect_timeout": 5000,
        "read_timeout": 3_600_000,
    }
    assert conv["write_timeout"] == 60_000 and conv["retries"] == 3
    api, ws, events = conv["routes"]
    assert api["name"] == "conversation-api" and api["methods"] == ["GET", "POST"]
    assert api["tags"][-2:] == ["chat", "public"]
    assert ws["protocols"] == ["http", "https"], "WebSocket on OSS upgrades over http/https routes"
    assert ws["paths"] == ["~/threads/[^/]+/ws$"]
    assert (events["request_buffering"], events["response_buffering"]) == (False, False)
    assert (api["request_buffering"], api["response_buffering"]) == (True, True)
    assert plugins_of(events)["request-termination"].get("config") is None


def test_several_auth_methods_use_the_anonymous_consumer_pattern(tmp_path: Path) -> None:
    doc = kong(tmp_path, FULL)
    # one per catalog (Kong holds usernames unique; two catalogs may share a Kong); the id is the one the
    # consumer had as `gatewayctl-anonymous`, so an upgrade renames it in place
    anonymous = next(c for c in doc["consumers"] if c["username"] == "gatewayctl-anonymous.demo")
    assert anonymous["id"] == entity_id("demo", "consumer", "gatewayctl-anonymous")
    plugins = plugins_of(service(doc, "conversation"))
    assert plugins["jwt"]["config"]["anonymous"] == anonymous["id"]
    assert plugins["key-auth"]["config"]["anonymous"] == anonymous["id"]
    termination = plugins_of(anonymous)["request-termination"]["config"]
    assert termination == {"status_code": 401, "message": "Unauthorized"}
    # A single method needs no anonymous fallback: a request without the credential is refused outright.
    assert "anonymous" not in plugins_of(service(doc, "engine"))["basic-auth"]["config"]


def test_single_auth_method_catalog_has_no_anonymous_consumer(tmp_path: Path) -> None:
    doc = kong(
        tmp_path, "services:\n  - {name: a, url: 'http://a:80', auth: [key-auth], routes: [{name: r, paths: [/a]}]}\n"
    )
    assert "consumers" not in doc


def test_feature_plugins_and_their_units(tmp_path: Path) -> None:
    plugins = plugins_of(service(kong(tmp_path, FULL), "conversation"))
    assert plugins["jwt"]["config"]["maximum_expiration"] == 86_400
    assert plugins["acl"]["config"] == {"allow": ["users"], "hide_groups_header": True}
    assert plugins["ip-restriction"]["config"]["allow"] == ["10.0.0.0/8"]
    assert plugins["request-size-limiting"]["config"] == {
        "allowed_payload_size": 64,
        "size_unit": "kilobytes",
        "require_content_length": False,
    }
    assert plugins["proxy-cache"]["config"]["cache_ttl"] == 300
    assert plugins["proxy-cache"]["config"]["strategy"] == "memory"
    assert plugins["cors"]["config"]["max_age"] == 3600
    limit = plugins["rate-limiting"]["config"]
    assert (limit["minute"], limit["day"], limit["limit_by"], limit["header_name"]) == (
        100,
        10000,
        "header",
        "X-User-ID",
    )
    assert limit["policy"] == "redis" and limit["redis"]["password"] == "redis-pw"


@pytest.mark.parametrize(
    ("size", "expected"),
    [("10m", (10, "megabytes")), ("1536k", (1536, "kilobytes")), (1000, (1000, "bytes")), ("1g", (1024, "megabytes"))],
)
def test_body_limits_use_the_largest_exact_kong_unit(
    tmp_path: Path, size: str | int, expected: tuple[int, str]
) -> None:
    size_text = size if isinstance(size, int) else f"'{size}'"
    doc = kong(tmp_path, f"services:\n  - {{name: a, url: 'http://a:80', max_body: {size_text}}}\n")
    config = plugins_of(doc["services"][0])["request-size-limiting"]["config"]
    assert (config["allowed_payload_size"], config["size_unit"]) == expected


def test_global_plugins(tmp_path: Path) -> None:
    plugins = plugins_of(kong(tmp_path, FULL))
    assert plugins["correlation-id"]["config"]["header_name"] == "X-Request-ID"
    assert plugins["prometheus"]["config"]["status_code_metrics"] is True
    assert plugins["prometheus"]["config"]["bandwidth_metrics"] is False
    assert plugins["zipkin"]["config"]["http_endpoint"] == "http://zipkin:9411/api/v2/spans"
    assert plugins["zipkin"]["config"]["sample_ratio"] == 0.25
    headers = plugins["response-transformer"]["config"]["add"]["headers"]
    assert "X-Content-Type-Options:nosniff" in headers
    assert any(h.startswith("Strict-Transport-Security:max-age=31536000") for h in headers)


def test_consumers_credentials_and_consumer_plugins(tmp_path: Path) -> None:
    app = next(c for c in kong(tmp_path, FULL)["consumers"] if c["username"] == "app")
    assert [c["key"] for c in app["keyauth_credentials"]] == ["key-123"]
    assert app["jwt_secrets"][0] | {"id": None, "tags": None} == {
        "id": None,
        "key": "app-issuer",
        "algorithm": "HS256",
        "secret": "jwt-s3cret",
        "tags": None,
    }
    assert app["basicauth_credentials"][0]["password"] == "pw"
    assert [a["group"] for a in app["acls"]] == ["users"]
    assert plugins_of(app)["rate-limiting"]["config"]["minute"] == 600


def test_upstream_targets_and_health_checks(tmp_path: Path) -> None:
    doc = kong(tmp_path, FULL)
    engine = service(doc, "engine")
    (upstream,) = doc["upstreams"]
    assert engine["host"] == upstream["name"] == "engine.upstream"
    assert (upstream["hash_on"], upstream["hash_on_header"]) == ("header", "X-User-ID")
    assert [(t["target"], t["weight"]) for t in upstream["targets"]] == [
        ("10.0.0.11:8080", 50),
        ("10.0.0.12:8000", 100),
    ]
    active = upstream["healthchecks"]["active"]
    assert (active["http_path"], active["timeout"]) == ("/health", 0.5)
    assert active["healthy"] == {"interval": 5, "successes": 2}
    assert active["unhealthy"] == {"interval": 5, "tcp_failures": 3, "timeouts": 3, "http_failures": 3}
    assert upstream["healthchecks"]["passive"]["unhealthy"] == {"http_failures": 5, "timeouts": 3, "tcp_failures": 0}


def test_grpc_services(tmp_path: Path) -> None:
    sim = service(kong(tmp_path, FULL), "sim")
    assert (sim["protocol"], sim["port"]) == ("grpc", 9000)
    (route,) = sim["routes"]
    assert route["protocols"] == ["grpc", "grpcs"] and route["strip_path"] is False
    assert "grpc-web" in plugins_of(sim)


def test_enterprise_websocket_services_use_ws_protocols(tmp_path: Path) -> None:
    doc = kong(
        tmp_path,
        "gateway: {edition: enterprise}\n"
        "services:\n  - {name: live, url: 'http://live:80', routes: [{name: ws, paths: [/ws], websocket: true}]}\n",
    )
    live = doc["services"][0]
    assert live["protocol"] == "ws" and live["routes"][0]["protocols"] == ["ws", "wss"]


def test_raw_plugins_pass_through_with_secrets_resolved(tmp_path: Path) -> None:
    doc = kong(
        tmp_path,
        "gateway:\n  plugins:\n    http-log: {http_endpoint: 'https://logs/${env:APP_KEY}', vault: '{vault://env/x}'}\n",
    )
    (plugin,) = doc["plugins"]
    assert plugin["config"] == {"http_endpoint": "https://logs/key-123", "vault": "{vault://env/x}"}


def test_references_in_urls_are_resolved(tmp_path: Path) -> None:
    """Every URL key may hold a reference (validation lets it through), so every one is resolved."""
    environ = {**ENV, "OPA_URL": "https://opa.policy:8443", "CALLBACK": "https://partner.example/cb"}
    doc = kong(
        tmp_path,
        """\
        gateway: {edition: enterprise}
        consumers:
          - name: partner
            credentials:
              oauth2: [{name: p, client_id: p, client_secret: '${env:APP_KEY}', redirect_uris: ['${env:CALLBACK}']}]
        services:
          - name: api
            url: http://api:8080
            authz: {opa: {url: '${env:OPA_URL}', policy: /v1/data/allow}}
        """,
        environ,
    )
    assert doc["consumers"][0]["oauth2_credentials"][0]["redirect_uris"] == ["https://partner.example/cb"]
    opa = plugins_of(service(doc, "api"))["opa"]["config"]
    assert (opa["opa_protocol"], opa["opa_host"], opa["opa_port"]) == ("https", "opa.policy", 8443)


def test_references_in_host_keys_are_resolved_and_marked_secret(tmp_path: Path) -> None:
    """An upstream's host_header and a Redis host may hold a reference (validation lets it through): each
    is resolved, as Kong cannot take the reference's text as a host, and marked as holding a secret."""
    environ = {**ENV, "API_HOST": "api.internal:8443", "REDIS_HOST": "redis.internal"}
    doc = kong(
        tmp_path,
        """        services:
          - name: api
            upstream: {targets: [10.0.0.1:8080], host_header: '${env:API_HOST}'}
            rate_limit: {minute: 5, policy: redis, redis: {host: '${env:REDIS_HOST}'}}
        """,
        environ,
    )
    (upstream,) = doc["upstreams"]
    assert upstream["host_header"] == "api.internal:8443"
    assert "gatewayctl-secret:host_header" in upstream["tags"]
    limit = plugins_of(service(doc, "api"))["rate-limiting"]
    assert limit["config"]["redis"]["host"] == "redis.internal"
    assert "gatewayctl-secret:config.redis.host" in limit["tags"]


# ---------------------------------------------------------------------- the files on disk


def render(tmp_path: Path, catalog: Path, out: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    return main(["render", str(catalog), "--out", str(out), *args])


def test_files_with_secrets_are_private_and_others_are_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("format: 1\nname: demo\n" + FULL)
    plain = tmp_path / "plain.yaml"
    plain.write_text("format: 1\nname: demo\nservices: [{name: a, url: 'http://a:80'}]\n")
    assert render(tmp_path, secret, tmp_path / "s", monkeypatch) == 0
    assert render(tmp_path, plain, tmp_path / "p", monkeypatch) == 0
    assert stat.S_IMODE((tmp_path / "s/kong/kong.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "p/kong/kong.yaml").stat().st_mode) == 0o644


def test_nothing_is_written_when_a_secret_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text("format: 1\nname: demo\n" + FULL)
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    env_without_redis = {k: v for k, v in ENV.items() if k != "REDIS_PASSWORD"}
    for key, value in env_without_redis.items():
        monkeypatch.setenv(key, value)
    assert main(["render", str(catalog), "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()


def test_a_re_render_replaces_files_and_removes_stale_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text("format: 1\nname: demo\nservices: [{name: a, url: 'http://a:80'}]\n")
    out = tmp_path / "out"
    (out / "kong").mkdir(parents=True)
    (out / "kong" / "docker-compose.yaml").write_text("services: {}\n")  # hand-written, in a rendered folder
    (out / "notes.txt").write_text("mine")
    assert render(tmp_path, catalog, out, monkeypatch) == 0
    assert sorted(p.name for p in (out / "kong").iterdir()) == ["docker-compose.yaml", "kong.yaml"]
    # a file an earlier render wrote (its manifest says so) and this one does not: removed
    (out / "kong" / "old-service.yaml").write_text("stale")
    with (out / MANIFEST).open("a") as manifest:
        manifest.write("kong/old-service.yaml\n")
    assert render(tmp_path, catalog, out, monkeypatch) == 0
    assert sorted(p.name for p in (out / "kong").iterdir()) == ["docker-compose.yaml", "kong.yaml"]
    assert (out / "notes.txt").read_text() == "mine", "files outside the rendered folders are left alone"


def test_output_is_byte_identical_across_processes(tmp_path: Path) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text("format: 1\nname: demo\n" + FULL)
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        env = {**os.environ, **ENV, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "gatewayctl", "render", str(catalog), "--out", str(out)],
            env=env,
            check=True,
            capture_output=True,
        )
        outputs.append((out / "kong" / "kong.yaml").read_bytes())
    assert outputs[0] == outputs[1]
    assert yaml.safe_load(outputs[0])["_format_version"] == "3.0"


def test_stream_routes_match_on_sources_destinations_and_snis(tmp_path: Path) -> None:
    doc = kong(
        tmp_path,
        """\
        services:
          - name: db
            url: tls://db.default.svc:5432
            routes:
              - name: main
                snis: [db.example.com]
                sources: [{ip: 10.0.0.0/8}]
                destinations: [{ip: 192.0.2.10, port: 5432}, {port: 6432}]
        """,
    )
    (route,) = service(doc, "db")["routes"]
    assert route["protocols"] == ["tcp", "tls"]
    assert route["snis"] == ["db.example.com"]
    assert route["sources"] == [{"ip": "10.0.0.0/8"}]
    assert route["destinations"] == [{"ip": "192.0.2.10", "port": 5432}, {"port": 6432}]
    assert "strip_path" not in route and "paths" not in route  # Kong rejects http fields on stream routes


def test_enterprise_service_with_mixed_routes_keeps_websocket_routes_on_http(tmp_path: Path) -> None:
    doc = kong(
        tmp_path,
        """\
        gateway: {edition: enterprise}
        services:
          - name: live
            url: http://live:80
            routes:
              - {name: ws, paths: [/ws], websocket: true}
              - {name: rest, paths: [/rest]}
        """,
    )
    live = service(doc, "live")
    assert live["protocol"] == "http"
    assert [r["protocols"] for r in live["routes"]] == [["http", "https"], ["http", "https"]]


def test_entity_ids_are_rfc_uuid5_of_catalog_kind_and_names() -> None:
    import uuid

    from gatewayctl.render.kong import _NAMESPACE

    for parts in [("shop", "service", "orders"), ("shop", "route", "orders-read"), ("ü", "plugin", "a/b", "0")]:
        expected = uuid.uuid5(_NAMESPACE, "/".join(parts))
        assert entity_id(*parts) == str(expected) and expected.version == 5


def test_shorthands_kong_stores_under_another_field_are_rendered_as_that_field(tmp_path: Path) -> None:
    """session's lua-resty-session 3 options and opentelemetry's `endpoint` are shorthands Kong 3.9 takes for
    other fields and never shows again: rendered as what Kong stores, they are no change on the next plan."""
    doc = kong(
        tmp_path,
        """\
        gateway:
          plugins:
            session: {cookie_lifetime: 7200, rolling_timeout: 60, cookie_samesite: "off", cookie_renew: 600}
            opentelemetry: {endpoint: "http://otel:4318/v1/traces"}
        services:
          - name: api
            url: http://api:8080
            plugins:
              opentelemetry: {endpoint: "http://old:4318", traces_endpoint: "http://otel:4318/v1/traces"}
        """,
    )
    globals_ = plugins_of(doc)
    # not deprecated: the shorthand wins over the field; cookie_renew is ignored by Kong
    assert globals_["session"]["config"] == {"rolling_timeout": 7200, "cookie_same_site": "Lax"}
    assert globals_["opentelemetry"]["config"] == {"traces_endpoint": "http://otel:4318/v1/traces"}
    # deprecated: the field wins over the shorthand
    assert plugins_of(service(doc, "api"))["opentelemetry"]["config"] == {
        "traces_endpoint": "http://otel:4318/v1/traces"
    }
