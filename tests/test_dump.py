"""`gatewayctl dump`: the live owned Kong state as a catalog. A dump of a freshly applied catalog validates
and, re-applied with its placeholders set to the live values, makes zero writes; plugins map back to the
catalog's own keys where that is exact and to raw `plugins:` otherwise; no secret value is printed or
written; entities of others are not dumped."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from emulators.harness import CATALOG, SECRETS, cli, write_catalog
from emulators.kong import KongEmulator, KongState, running

from gatewayctl.cli import main

RICH_SECRETS = {
    "MOBILE_KEY": "s3cr3t-mobile-key-1111",
    "MOBILE_KEY_OLD": "s3cr3t-mobile-key-old-2222",
    "MOBILE_JWT": "s3cr3t-mobile-jwt-3333",
    "SVC_PASSWORD": "s3cr3t-svc-password-4444",
    "REDIS_PASSWORD": "s3cr3t-redis-password-5555",
    "ROUTE_REDIS": "s3cr3t-route-redis-6666",
}
# Most of what the renderer knows, with the plugins the emulator has schemas for.
RICH = """\
format: 1
name: rich
tags: [team-shop]
gateway:
  request_id: {header: X-Correlation-ID, generator: uuid}
  metrics: {status_codes: true, latency: true, per_consumer: true}
  cors: {origins: ["https://shop.example.com"], credentials: true, max_age: 1h}
consumers:
  - name: mobile
    custom_id: m-1
    tags: [mobile]
    groups: [users, beta]
    credentials:
      key_auth: [{key: "${env:MOBILE_KEY}"}, {key: "${env:MOBILE_KEY_OLD}"}]
      jwt:
        - {key: mobile-issuer, secret: "${env:MOBILE_JWT}"}
        - key: rsa-issuer
          algorithm: EdDSA
          rsa_public_key: |-
            -----BEGIN PUBLIC KEY-----
            MCowBQYDK2VwAyEAznZOsK483rumJ7SzyxLAPIg8b4Bw70HEnEHtyDGEERQ=
            -----END PUBLIC KEY-----
    rate_limit: {minute: 600, by: credential}
  - name: partner
    credentials:
      key_auth: [{key: "{vault://env/partner-key}"}]
  - name: svc
    groups: [admins]
    credentials:
      basic_auth: [{username: svc, password: "${env:SVC_PASSWORD}"}]
services:
  - name: orders
    tags: [orders]
    url: https://orders.internal:8443/v1
    timeouts: {connect: 5s, read: 90s}
    retries: 2
    auth: [key-auth, jwt]
    key_auth: {key_names: [x-api-key], hide_credentials: true}
    allow_groups: [users]
    rate_limit:
      minute: 100
      by: header:X-Tenant
      policy: redis
      redis: {host: redis.internal, password: "${env:REDIS_PASSWORD}", timeout: 250ms}
    cors: {origins: ["*"], methods: [GET, POST]}
    ip_deny: [10.9.0.0/16]
    max_body: 8m
    routes:
      - {name: api, paths: [/orders], methods: [GET, POST], hosts: [api.example.com], tags: [public]}
      - name: admin
        paths: ["~/admin/[a-z]+$"]
        strip_path: false
        preserve_host: true
        regex_priority: 10
        headers: {x-admin: ["yes"]}
        streaming: true
        plugins:
          request-termination: {status_code: 410, message: maintenance}
          rate-limiting: {minute: 5, policy: redis, redis: {host: redis.internal, password: "${env:ROUTE_REDIS}"}}
  - name: catalogue
    upstream:
      algorithm: consistent-hashing
      hash_on: header:X-User
      targets: [10.0.0.1, {target: "10.0.0.2:8080", weight: 50}]
      health_check: {path: /healthz, interval: 10s, healthy_after: 3}
      circuit_breaker: {http_failures: 5, timeouts: 3}
    routes:
      - {name: browse, paths: [/catalogue]}
    auth: [basic-auth]
    deny_groups: [banned]
    plugins:
      request-termination: {status_code: 418}
"""


def apply_dump_reapply(
    capsys: pytest.CaptureFixture[str],
    kong: KongEmulator,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    catalog_text: str,
    catalog_name: str,
    values: dict[str, str],
    placeholders: dict[str, str],
) -> tuple[dict[str, Any], str, str]:
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    catalog = write_catalog(workdir, catalog_text)
    code, _out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0, err
    dumped = workdir / "dumped.yaml"
    code, out, err = cli(capsys, kong, "dump", "--catalog-name", catalog_name, "--out", str(dumped))
    dump_out, dump_err = out, err
    assert code == 0, err
    assert "changes nothing in Kong" in out, err
    text = dumped.read_text()
    for value in values.values():
        assert value not in text and value not in out and value not in err
    for key in values:
        monkeypatch.delenv(key)
    for name, value in placeholders.items():
        assert f"${{env:{name}}}" in text, name
        assert name in err  # listed for the user
        monkeypatch.setenv(name, value)
    assert main(["validate", str(dumped)]) == 0, capsys.readouterr().err
    before = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "apply", str(dumped), "--yes")
    assert code == 0 and "nothing to do" in out, out + err
    assert len(kong.state.writes()) == before
    return yaml.safe_load(text), dump_out, dump_err


def apply_then_dump(
    capsys: pytest.CaptureFixture[str],
    workdir: Path,
    catalog_text: str,
    catalog_name: str,
    apply_args: list[str],
    dump_args: list[str],
) -> tuple[Path, str, str]:
    """Apply the catalog to Kong and Kuma, then dump it: (the dump, dump's stdout, its stderr). The dump says
    that re-applying it changes nothing."""
    catalog = write_catalog(workdir, catalog_text)
    code = main(["apply", str(catalog), "--yes", *apply_args])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    dumped = workdir / "dumped.yaml"
    code = main(["dump", "--catalog-name", catalog_name, "--out", str(dumped), *dump_args])
    out, err = capsys.readouterr()
    assert code == 0 and "changes nothing in Kong and Kuma" in out, out + err
    return dumped, out, err


def reapply_writes_nothing(
    capsys: pytest.CaptureFixture[str], dumped: Path, apply_args: list[str], *states: Any
) -> None:
    """Applying the dump says nothing to do and writes nothing to any of the emulators' `states`."""
    writes = [len(state.writes()) for state in states]
    code = main(["apply", str(dumped), "--yes", *apply_args])
    out, err = capsys.readouterr()
    assert code == 0 and "nothing to do" in out, out + err
    assert [len(state.writes()) for state in states] == writes


def test_dump_of_a_fresh_apply_readopted_makes_zero_writes(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc, _, _ = apply_dump_reapply(
        capsys,
        kong,
        workdir,
        monkeypatch,
        CATALOG,
        "shop",
        SECRETS,
        {"WEB_APP_KEY_AUTH_0": SECRETS["WEB_APP_KEY"], "OPS_BASIC_AUTH_OPS_PASSWORD": SECRETS["OPS_PASSWORD"]},
    )
    orders = next(s for s in doc["services"] if s["name"] == "orders")
    assert orders["url"] == "http://orders.default.svc:8080/v1"
    assert orders["auth"] == ["key-auth"] and orders["allow_groups"] == ["users"]
    assert orders["rate_limit"] == {"minute": 60}
    assert orders["routes"] == [{"name": "api", "paths": ["/orders"], "methods": ["GET", "POST"]}]
    catalogue = next(s for s in doc["services"] if s["name"] == "catalogue")
    assert catalogue["upstream"]["targets"] == ["10.0.0.1:8080", {"target": "10.0.0.2:8080", "weight": 50}]
    assert doc["gateway"] == {"request_id": {}, "metrics": {"status_codes": True}}  # the header is the default
    assert [c["name"] for c in doc["consumers"]] == ["ops", "web-app"]


def test_a_rich_catalog_maps_back_to_its_own_keys(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc, _out, err = apply_dump_reapply(
        capsys,
        kong,
        workdir,
        monkeypatch,
        RICH,
        "rich",
        RICH_SECRETS,
        {
            "MOBILE_KEY_AUTH_0": RICH_SECRETS["MOBILE_KEY"],
            "MOBILE_KEY_AUTH_1": RICH_SECRETS["MOBILE_KEY_OLD"],
            "MOBILE_JWT_MOBILE_ISSUER_SECRET": RICH_SECRETS["MOBILE_JWT"],
            "SVC_BASIC_AUTH_SVC_PASSWORD": RICH_SECRETS["SVC_PASSWORD"],
            "SERVICE_ORDERS_RATE_LIMITING_REDIS_PASSWORD": RICH_SECRETS["REDIS_PASSWORD"],
            "ROUTE_ORDERS_ADMIN_RATE_LIMITING_REDIS_PASSWORD": RICH_SECRETS["ROUTE_REDIS"],
        },
    )
    assert doc["tags"] == ["team-shop"]
    assert doc["gateway"] == {
        "request_id": {"header": "X-Correlation-ID", "generator": "uuid"},
        "metrics": {"status_codes": True, "latency": True, "per_consumer": True},
        "cors": {"origins": ["https://shop.example.com"], "credentials": True, "max_age": "1h"},
    }
    services = {s["name"]: s for s in doc["services"]}
    orders = services["orders"]
    assert orders["url"] == "https://orders.internal:8443/v1"
    assert orders["tags"] == ["orders"]
    assert orders["timeouts"] == {"connect": "5s", "read": "90s"} and orders["retries"] == 2
    assert orders["auth"] == ["key-auth", "jwt"]
    assert orders["key_auth"] == {"key_names": ["x-api-key"], "hide_credentials": True}
    assert orders["allow_groups"] == ["users"] and orders["ip_deny"] == ["10.9.0.0/16"]
    assert orders["max_body"] == "8m"
    assert orders["rate_limit"]["by"] == "header:X-Tenant"
    assert orders["rate_limit"]["redis"]["password"] == "${env:SERVICE_ORDERS_RATE_LIMITING_REDIS_PASSWORD}"
    assert "plugins" not in orders
    routes = {r["name"]: r for r in orders["routes"]}
    assert routes["api"]["tags"] == ["public"]
    assert routes["admin"]["streaming"] is True and routes["admin"]["strip_path"] is False
    assert routes["admin"]["plugins"] == {
        "request-termination": {"status_code": 410, "message": "maintenance"},
        "rate-limiting": {  # raw on a route: Kong's defaults left out, the password a placeholder
            "minute": 5,
            "policy": "redis",
            "redis": {"host": "redis.internal", "password": "${env:ROUTE_ORDERS_ADMIN_RATE_LIMITING_REDIS_PASSWORD}"},
        },
    }
    catalogue = services["catalogue"]
    assert catalogue["deny_groups"] == ["banned"]
    assert catalogue["plugins"] == {"request-termination": {"status_code": 418}}
    assert catalogue["upstream"]["targets"] == ["10.0.0.1", {"target": "10.0.0.2:8080", "weight": 50}]
    assert catalogue["upstream"]["health_check"]["path"] == "/healthz"
    consumers = {c["name"]: c for c in doc["consumers"]}
    assert "gatewayctl-anonymous" not in consumers  # rendered again from the two auth methods
    assert consumers["partner"]["credentials"] == {"key_auth": [{"key": "{vault://env/partner-key}"}]}  # no secret
    mobile = consumers["mobile"]
    assert mobile["custom_id"] == "m-1" and mobile["tags"] == ["mobile"] and mobile["groups"] == ["beta", "users"]
    assert mobile["rate_limit"] == {"minute": 600, "by": "credential"}
    assert mobile["credentials"]["jwt"][1] == {
        "key": "rsa-issuer",
        "algorithm": "EdDSA",
        "rsa_public_key": "\n".join(
            [
                "-----BEGIN PUBLIC KEY-----",
                "MCowBQYDK2VwAyEAznZOsK483rumJ7SzyxLAPIg8b4Bw70HEnEHtyDGEERQ=",
                "-----END PUBLIC KEY-----",
            ]
        ),
    }
    assert "warning" not in err


def test_entities_of_others_are_not_dumped_and_odd_ones_are_reported(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    tags = ["gatewayctl", "gatewayctl-catalog:shop"]
    kong.state.seed("services", {"name": "billing", "host": "billing.internal", "tags": ["team-billing"]})
    kong.state.seed(
        "services", {"name": "search", "host": "search.internal", "tags": ["gatewayctl", "gatewayctl-catalog:x"]}
    )
    odd = kong.state.seed("services", {"name": "legacy", "host": "legacy.internal", "tags": tags})
    kong.state.seed("routes", {"name": "oldroute", "paths": ["/old"], "service": {"id": odd["id"]}, "tags": tags})
    dumped = workdir / "out.yaml"
    code, out, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", str(dumped))
    assert code == 0, err
    doc = yaml.safe_load(dumped.read_text())
    assert [s["name"] for s in doc["services"]] == ["legacy"]
    assert "service legacy: its id is not the one a catalog gives it" in err
    assert "route oldroute: its name does not start with 'legacy-'" in err
    assert "applying the dump as it is would change Kong (kong: +2 ~0 -2)" in err
    assert "changes nothing" not in out


def test_bad_catalog_name_and_unreachable_kong(capsys: pytest.CaptureFixture[str], workdir: Path) -> None:
    assert main(["dump", "--catalog-name", "Not_A_Name", "--out", "x.yaml"]) == 1
    assert "not a catalog name" in capsys.readouterr().err
    code = main(["dump", "--catalog-name", "shop", "--out", "x.yaml", "--kong-admin-url", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 3 and "GET /: no response" in err and "Traceback" not in err
    assert not (workdir / "x.yaml").exists()


def test_an_out_path_that_cannot_be_written_is_refused_before_kong_is_read(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    for out_path, problem in [
        (str(workdir), "is a folder: name a file in it"),
        (str(workdir / "missing" / "x.yaml"), "does not exist"),
    ]:
        code, _, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", out_path)
        assert (code, "Traceback" in err) == (1, False) and f"--out {out_path}: " in err and problem in err, err
    code, _, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", "x.yaml", "--kuma-platform", "vm")
    assert code == 1 and "--kuma-platform vm: choose universal or kubernetes" in err
    # a kubeconfig that cannot be used (missing, its server no URL) is found out before Kong is read too
    bad_server = workdir / "bad-server"
    bad_server.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://kube..example:6443'}}]\n"
        "users: [{name: u, user: {token: t0ken-never-shown}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    for kubeconfig, problem in [(workdir / "missing", "kubeconfig file not found"), (bad_server, "bad-server")]:
        kube = ["--kuma-platform", "kubernetes", "--kubeconfig", str(kubeconfig)]
        code, _, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", "x.yaml", *kube)
        assert (code, "Traceback" in err, "t0ken" in err) == (1, False, False) and problem in err, err
    assert kong.state.requests == []


def test_dbless_dump_readopted_posts_nothing(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(KongState(dbless=True)) as kong:
        text = CATALOG.replace("gateway:\n", "gateway:\n  mode: dbless\n", 1)
        doc, _, _ = apply_dump_reapply(
            capsys,
            kong,
            workdir,
            monkeypatch,
            text,
            "shop",
            SECRETS,
            {"WEB_APP_KEY_AUTH_0": SECRETS["WEB_APP_KEY"], "OPS_BASIC_AUTH_OPS_PASSWORD": SECRETS["OPS_PASSWORD"]},
        )
        assert doc["gateway"]["mode"] == "dbless"
        assert len([r for r in kong.state.requests if r.method == "POST" and r.path == "/config"]) == 1


MESH_CATALOG = """\
format: 1
name: shop
mesh:
  enabled: true
  name: shop
  mtls: {mode: permissive, rotation: 24h}
  gateway_selector: {app: edge}
  tracing:
    zipkin: {endpoint: "${env:ZIPKIN_URL}", sampling: 10}
  metrics:
    prometheus: {port: 5670, path: /metrics}
  access_log: {file: /dev/stdout}
services:
  - name: orders
    url: http://orders.default.svc:8080
    routes: [{name: api, paths: [/orders]}]
    mesh:
      allow_from: [catalogue]
      retries: {attempts: 3, backoff: 25ms..250ms}
      timeouts: {connect: 1m, request: 30s}
      load_balancer: least-request
  - name: catalogue
    url: http://catalogue.shop.svc:9090
    routes: [{name: browse, paths: [/catalogue]}]
    mesh:
      selector: {app: catalogue, tier: web}
      rate_limit: {requests: 100, interval: 1m}
      circuit_breaker: {consecutive_5xx: 5}
      health_check: {path: /healthz, interval: 5s}
  - name: legacy
    url: http://legacy.internal:8000
    mesh: null
"""
ZIPKIN = "http://zipkin.internal:9411/api/v2/spans?token=s3cr3t-zipkin-token-0003"


def test_kong_and_kuma_dump_readopted_makes_zero_writes_in_both(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emulators.kuma import KumaState
    from emulators.kuma import running as kuma_running

    monkeypatch.setenv("ZIPKIN_URL", ZIPKIN)
    monkeypatch.delenv("GATEWAYCTL_KUMA_TOKEN", raising=False)
    with running(KongState()) as kong, kuma_running(KumaState()) as kuma:
        urls = ["--kong-admin-url", kong.url, "--kuma-url", kuma.url]
        apply_args = ["--kuma-platform", "universal", *urls]
        dumped, out, err = apply_then_dump(capsys, workdir, MESH_CATALOG, "shop", apply_args, urls)
        text = dumped.read_text()
        assert ZIPKIN not in text + out + err and "s3cr3t" not in text + out + err
        doc = yaml.safe_load(text)
        assert doc["mesh"]["tracing"] == {"zipkin": {"endpoint": "${env:MESH_ZIPKIN_ENDPOINT}", "sampling": 10}}
        assert doc["mesh"]["mtls"] == {"mode": "permissive", "rotation": "1d"}
        assert doc["mesh"]["gateway_selector"] == {"app": "edge"}
        services = {s["name"]: s for s in doc["services"]}
        assert services["orders"]["mesh"]["allow_from"] == ["catalogue"]
        assert services["orders"]["mesh"]["load_balancer"] == "least-request"
        assert services["catalogue"]["mesh"]["selector"] == {"app": "catalogue", "tier": "web"}
        assert services["legacy"]["mesh"] is None
        assert "MESH_ZIPKIN_ENDPOINT" in err

        monkeypatch.delenv("ZIPKIN_URL")
        monkeypatch.setenv("MESH_ZIPKIN_ENDPOINT", ZIPKIN)
        assert main(["validate", str(dumped)]) == 0, capsys.readouterr().err
        reapply_writes_nothing(capsys, dumped, apply_args, kong.state, kuma.state)


def test_kuma_on_kubernetes_dump_readopted_makes_zero_writes(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mesh section from the cluster's CRDs: each object as gatewayctl's server-side applies set it, so
    what Kuma's webhook and the CRD defaults add (computed labels, re-marshalled durations) never turns
    into catalog settings, and applying the dump changes nothing."""
    from emulators.kubernetes import KubeState
    from emulators.kubernetes import running as kube_running

    monkeypatch.setenv("ZIPKIN_URL", ZIPKIN)
    with running(KongState()) as kong, kube_running(KubeState(kuma_webhook=True)) as cluster:
        kube = ["--kuma-platform", "kubernetes", "--kubeconfig", str(cluster.kubeconfig(workdir / "kubeconfig"))]
        args = ["--kong-admin-url", kong.url, *kube]
        dumped, out, err = apply_then_dump(capsys, workdir, MESH_CATALOG, "shop", args, args)
        text = dumped.read_text()
        assert ZIPKIN not in text + out + err
        doc = yaml.safe_load(text)
        assert doc["mesh"]["mtls"] == {"mode": "permissive", "rotation": "1d"}
        assert doc["mesh"]["tracing"]["zipkin"]["endpoint"] == "${env:MESH_ZIPKIN_ENDPOINT}"
        services = {s["name"]: s for s in doc["services"]}
        retries = services["orders"]["mesh"]["retries"]
        assert (retries["attempts"], retries["backoff"]) == (3, "25ms..250ms")
        assert services["orders"]["mesh"]["timeouts"] == {"connect": "1m", "request": "30s"}
        assert services["catalogue"]["mesh"]["selector"] == {"app": "catalogue", "tier": "web"}

        monkeypatch.delenv("ZIPKIN_URL")
        monkeypatch.setenv("MESH_ZIPKIN_ENDPOINT", ZIPKIN)
        reapply_writes_nothing(capsys, dumped, args, kong.state, cluster.state)
        argv = ["dump", "--catalog-name", "shop", "--out", str(dumped), "--kong-admin-url", kong.url, *kube[:2]]
        code = main([*argv, "--kubeconfig", str(workdir / "missing")])
        assert code == 1 and "kubeconfig file not found" in capsys.readouterr().err


GLOBAL_MESH_CATALOG = """\
format: 1
name: grid
mesh:
  default_action: allow
services:
  - name: ledger
    url: tcp://ledger.money.svc:7000
    routes: [{name: wire, protocols: [tcp], destinations: [{port: 7000}]}]
    mesh:
      retries: {attempts: 2}
      health_check: {interval: 20s, timeout: 3s, healthy_after: 2, unhealthy_after: 4}
      rate_limit: {requests: 50, interval: 1s}
      timeouts: {connect: 3s, idle: 1h}
  - name: quotes
    url: grpc://quotes.money.svc:9000
    routes: [{name: rpc, paths: [/quotes.Quotes]}]
    mesh:
      allow_from: [ledger]
      retries: {attempts: 4, backoff: 10ms..1s}
      timeouts: {request: 15s}
      load_balancer: ring-hash
  - name: pool
    upstream: {targets: [10.0.0.1:8080]}
deployment:
  kuma: {mode: global}
"""


def test_tcp_grpc_and_a_global_control_plane_round_trip(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emulators.kuma import KumaState
    from emulators.kuma import running as kuma_running

    monkeypatch.delenv("GATEWAYCTL_KUMA_TOKEN", raising=False)
    with running(KongState()) as kong, kuma_running(KumaState(mode="global")) as kuma:
        urls = ["--kong-admin-url", kong.url, "--kuma-url", kuma.url]
        apply_args = ["--kuma-platform", "universal", *urls]
        dumped, _, _ = apply_then_dump(capsys, workdir, GLOBAL_MESH_CATALOG, "grid", apply_args, urls)
        doc = yaml.safe_load(dumped.read_text())
        assert doc["mesh"] == {"default_action": "allow"} and doc["deployment"] == {"kuma": {"mode": "global"}}
        services = {s["name"]: s for s in doc["services"]}
        assert services["ledger"]["mesh"]["retries"] == {"attempts": 2}
        assert services["quotes"]["mesh"]["retries"] == {"attempts": 4, "backoff": "10ms..1s"}
        assert "mesh" not in services["pool"]  # behind an upstream: outside the mesh unless it says otherwise
        assert main(["validate", str(dumped)]) == 0, capsys.readouterr().err
        reapply_writes_nothing(capsys, dumped, apply_args, kong.state, kuma.state)


UPSTREAM_MESH_CATALOG = """\
format: 1
name: mix
mesh: {name: mix}
services:
  - name: inv
    upstream: {targets: [10.0.0.1:8080]}
    routes: [{name: r, paths: [/inv]}]
    mesh: {port: 8080, namespace: erp, selector: {app: inventory}, allow_from: [web], retries: {attempts: 2}}
  - name: ledger
    upstream: {targets: [10.0.0.2:9000]}
    mesh: {port: 9000, namespace: money}
  - name: web
    url: http://web.shop.svc:8080
    routes: [{name: r, paths: [/web]}]
    mesh: {allow_from: [ledger]}
"""


def test_a_mesh_service_behind_an_upstream_keeps_its_namespace_and_port(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a url, only the policies' `<name>_<namespace>_svc_<port>` say where the workload runs: from its
    own retry (the traffic permission, read first, had made the block without them) or from another's
    allow_from (ledger); the dump did not validate."""
    from emulators.kuma import KumaState
    from emulators.kuma import running as kuma_running

    monkeypatch.delenv("GATEWAYCTL_KUMA_TOKEN", raising=False)
    with running(KongState()) as kong, kuma_running(KumaState()) as kuma:
        urls = ["--kong-admin-url", kong.url, "--kuma-url", kuma.url]
        apply_args = ["--kuma-platform", "universal", *urls]
        dumped, _, _ = apply_then_dump(capsys, workdir, UPSTREAM_MESH_CATALOG, "mix", apply_args, urls)
        services = {s["name"]: s for s in yaml.safe_load(dumped.read_text())["services"]}
        assert services["inv"]["mesh"] == {
            "namespace": "erp",
            "port": 8080,
            "selector": {"app": "inventory"},
            "allow_from": ["web"],
            "retries": {"attempts": 2, "on": ["5xx", "connect-failure"]},
        }
        assert services["ledger"]["mesh"] == {"namespace": "money", "port": 9000}
        reapply_writes_nothing(capsys, dumped, apply_args, kong.state, kuma.state)


def test_a_catalog_with_nothing_in_kong_dumps_to_an_empty_valid_catalog(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    kong.state.seed("services", {"name": "billing", "host": "billing.internal", "tags": ["team-billing"]})
    dumped = workdir / "empty.yaml"
    code, out, err = cli(capsys, kong, "dump", "--catalog-name", "nothing-here", "--out", str(dumped))
    assert code == 0, err
    assert yaml.safe_load(dumped.read_text()) == {"format": 1, "name": "nothing-here"}
    assert "changes nothing in Kong" in out and "placeholders" not in err
    assert "warning: no entity in Kong carries the tags gatewayctl and gatewayctl-catalog:nothing-here" in err
    assert main(["validate", str(dumped)]) == 0


def test_plugins_of_a_hand_made_service_map_to_catalog_keys_and_a_dump_always_validates(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    # Made by hand through the Admin API: random ids, then the ownership tags added. The key-auth and
    # rate-limiting plugins are exactly what `auth` / `rate_limit` render; basic-auth and acl keep Kong's
    # defaults (hide_credentials, hide_groups_header false), which no catalog key renders.
    tags = ["gatewayctl", "gatewayctl-catalog:shop"]
    orders = kong.state.seed("services", {"name": "orders", "host": "orders.internal", "tags": tags})
    shop = kong.state.seed("services", {"name": "shop", "host": "shop.internal", "tags": tags})
    on_orders = {"service": {"id": orders["id"]}, "tags": tags}
    kong.state.seed("plugins", {"name": "key-auth", "config": {"hide_credentials": True}, **on_orders})
    kong.state.seed("plugins", {"name": "rate-limiting", "config": {"minute": 60}, **on_orders})
    kong.state.seed("plugins", {"name": "acl", "config": {"allow": ["users"]}, **on_orders})
    kong.state.seed("plugins", {"name": "basic-auth", "service": {"id": shop["id"]}, "tags": tags})
    dumped = workdir / "out.yaml"
    code, _out, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", str(dumped))
    assert code == 0, err
    assert "does not validate" not in err
    doc = yaml.safe_load(dumped.read_text())
    by_name = {s["name"]: s for s in doc["services"]}
    assert by_name["orders"]["auth"] == ["key-auth"] and by_name["orders"]["rate_limit"] == {"minute": 60}
    assert by_name["orders"]["allow_groups"] == ["users"] and "plugins" not in by_name["orders"]
    assert by_name["shop"]["auth"] == ["basic-auth"] and "plugins" not in by_name["shop"]
    # what re-applying changes is said, plugin by plugin; an exact mapping gets no such warning
    assert (
        "plugin acl (service orders): a catalog cannot say it exactly; dumped as allow_groups, and re-applying "
        "changes config.hide_groups_header: false -> true" in err
    )
    assert "plugin basic-auth (service shop): a catalog cannot say it exactly; dumped as auth" in err
    warnings = err.split("applying the dump as it is")[0]
    assert "plugin key-auth" not in warnings and "plugin rate-limiting" not in warnings
    assert main(["validate", str(dumped)]) == 0, capsys.readouterr().err


def test_a_hand_made_upstream_under_another_name_stays_the_services_upstream(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    # Written as `url: http://pool` with the upstream dropped, re-applying would delete `pool` and leave
    # the service pointing at a host nothing resolves.
    tags = ["gatewayctl", "gatewayctl-catalog:shop"]
    pool = kong.state.seed("upstreams", {"name": "pool", "tags": tags})
    kong.state.seed("targets", {"target": "10.1.0.1:8080", "upstream": {"id": pool["id"]}, "tags": tags})
    kong.state.seed("services", {"name": "search", "host": "pool", "tags": tags})
    kong.state.seed("services", {"name": "search-v2", "host": "pool", "tags": tags})
    dumped = workdir / "out.yaml"
    code, _out, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", str(dumped))
    assert code == 0, err
    by_name = {s["name"]: s for s in yaml.safe_load(dumped.read_text())["services"]}
    assert by_name["search"]["upstream"] == {"targets": ["10.1.0.1:8080"]}
    assert "service search: its upstream pool is named search.upstream in a catalog" in err
    # the second service on the shared upstream keeps its host, said out loud
    assert by_name["search-v2"]["url"] == "http://pool"
    assert "service search-v2: its host is upstream pool, which a catalog gives one service only" in err
    assert "has no place in a catalog" not in err


def test_names_a_catalog_cannot_hold_are_dumped_as_valid_names_and_reported(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    # Kong takes nameless services and routes, consumers with only a custom_id, and names with upper
    # case or '_': the dump used to write them as `name: None` / `Orders_API`, which does not validate.
    tags = ["gatewayctl", "gatewayctl-catalog:shop"]
    named = kong.state.seed("services", {"name": "Orders_API", "host": "orders.internal", "tags": tags})
    kong.state.seed("services", {"name": "orders-api", "host": "orders2.internal", "tags": tags})
    nameless = kong.state.seed("services", {"host": "noname.internal", "tags": tags})
    route = kong.state.seed("routes", {"paths": ["/x"], "service": {"id": named["id"]}, "tags": tags})
    kong.state.seed("routes", {"name": "Orders_API-v1", "paths": ["/v1"], "service": {"id": named["id"]}, "tags": tags})
    consumer = kong.state.seed("consumers", {"custom_id": "only-custom", "tags": tags})
    dumped = workdir / "out.yaml"
    code, _out, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", str(dumped))
    assert code == 0, err
    assert "does not validate" not in err and "None" not in dumped.read_text()
    doc = yaml.safe_load(dumped.read_text())
    # 'orders-api' is taken by the service already named so: the id tells the other apart
    names = sorted(s["name"] for s in doc["services"])
    assert names == sorted(["orders-api", f"orders-api-{named['id'][:8]}", f"service-{nameless['id'][:8]}"])
    odd = next(s for s in doc["services"] if s["name"] == f"orders-api-{named['id'][:8]}")
    assert sorted(r["name"] for r in odd["routes"]) == sorted([f"route-{route['id'][:8]}", "orders-api-v1"])
    assert doc["consumers"] == [{"name": f"consumer-{consumer['id'][:8]}", "custom_id": "only-custom"}]
    assert f"service 'Orders_API': not a catalog name; dumped as 'orders-api-{named['id'][:8]}'" in err
    assert f"service {nameless['id']}: has no name; dumped as 'service-{nameless['id'][:8]}'" in err
    assert f"route {route['id']}: has no name" in err and f"consumer {consumer['id']}: has no name" in err
    assert main(["validate", str(dumped)]) == 0, capsys.readouterr().err


def test_the_replay_names_what_a_created_entity_hangs_off(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """A hand-made service and consumer that re-applying renames: the plan's creates named their service and
    consumer by id, or not at all ("plugin rate-limiting (service 29eea4ef-...)", "basic-auth credential bob")."""
    tags = ["gatewayctl", "gatewayctl-catalog:shop"]
    service = kong.state.seed("services", {"name": "Legacy_Svc", "host": "legacy.internal", "tags": tags})
    plugin = {"name": "rate-limiting", "config": {"minute": 5, "policy": "local"}, "tags": tags}
    kong.state.seed("plugins", {**plugin, "service": {"id": service["id"]}})
    consumer = kong.state.seed("consumers", {"username": "Bob.Smith", "tags": tags})
    kong.state.seed("keyauth_credentials", {"key": "bobs-key-0042", "consumer": {"id": consumer["id"]}, "tags": tags})
    code, _out, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", str(workdir / "out.yaml"))
    assert code == 0, err
    assert "+ plugin rate-limiting (service legacy-svc)  (services[0])" in err
    assert "of consumer bob-smith" in next(line for line in err.splitlines() if line.startswith("+ key-auth"))
    assert "bobs-key-0042" not in err


def test_a_private_key_kong_took_as_a_public_key_is_dumped_as_a_placeholder(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    # Kong's OpenSSL reads a private key where the public key belongs, and stores it: a secret, so the
    # dump must not write it out (it used to, as it writes public keys).
    tags = ["gatewayctl", "gatewayctl-catalog:shop"]
    pkcs8 = bytes.fromhex("302e020100300506032b657004220420") + bytes(range(32))  # an Ed25519 private key
    private = "-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(pkcs8).decode() + "\n-----END PRIVATE KEY-----"
    consumer = kong.state.seed("consumers", {"username": "web", "tags": tags})
    created = kong.state.seed(
        "jwt_secrets",
        {
            "key": "sso",
            "algorithm": "EdDSA",
            "rsa_public_key": private,
            "consumer": {"id": consumer["id"]},
            "tags": tags,
        },
    )
    assert created["rsa_public_key"] == private  # the emulator, as Kong, took it
    dumped = workdir / "out.yaml"
    code, out, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", str(dumped))
    assert code == 0, err
    [jwt] = yaml.safe_load(dumped.read_text())["consumers"][0]["credentials"]["jwt"]
    assert (jwt["key"], jwt["algorithm"]) == ("sso", "EdDSA")
    assert jwt["rsa_public_key"] == "${env:WEB_JWT_SSO_RSA_PUBLIC_KEY}"
    assert "jwt credential 'sso' holds a private key where its public key belongs" in err
    body = private.splitlines()[1]
    assert body not in dumped.read_text() and body not in out + err


PLUGIN_SECRETS_CATALOG = """\
format: 1
name: shop
gateway:
  plugins:
    http-log:
      http_endpoint: http://audit:8080/kong
      headers: {Authorization: "Bearer ${env:AUDIT_TOKEN}"}
    loggly: {key: "${env:LOGGLY_KEY}"}
    standard-webhooks: {secret_v1: "${env:WEBHOOK_SECRET}"}
    ai-proxy:
      route_type: llm/v1/chat
      auth: {header_name: Authorization, header_value: "Bearer ${env:OPENAI_KEY}"}
      model: {provider: openai}
services:
  - name: orders
    url: http://orders:8080
    routes: [{name: api, paths: [/orders]}]
"""
PLUGIN_SECRETS = {
    "AUDIT_TOKEN": "s3cr3t-audit-token-0101",
    "LOGGLY_KEY": "s3cr3t-loggly-key-0202",
    "WEBHOOK_SECRET": "s3cr3t-webhook-0303",
    "OPENAI_KEY": "s3cr3t-openai-key-0404",
}


def test_secrets_kong_marks_in_a_plugin_schema_are_dumped_as_placeholders(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Their keys say nothing (key, secret_v1, header_value, a header): Kong's schema marks them, as
    # `encrypted` fields and a map of vault-referenceable values.
    doc, _, _ = apply_dump_reapply(
        capsys,
        kong,
        workdir,
        monkeypatch,
        PLUGIN_SECRETS_CATALOG,
        "shop",
        PLUGIN_SECRETS,
        {
            "GLOBAL_GLOBAL_HTTP_LOG_HEADERS_AUTHORIZATION": f"Bearer {PLUGIN_SECRETS['AUDIT_TOKEN']}",
            "GLOBAL_GLOBAL_HTTP_LOG_HTTP_ENDPOINT": "http://audit:8080/kong",
            "GLOBAL_GLOBAL_LOGGLY_KEY": PLUGIN_SECRETS["LOGGLY_KEY"],
            "GLOBAL_GLOBAL_STANDARD_WEBHOOKS_SECRET_V1": PLUGIN_SECRETS["WEBHOOK_SECRET"],
            "GLOBAL_GLOBAL_AI_PROXY_AUTH_HEADER_VALUE": f"Bearer {PLUGIN_SECRETS['OPENAI_KEY']}",
        },
    )
    assert doc["gateway"]["plugins"]["ai-proxy"]["auth"]["header_name"] == "Authorization"  # no secret


def test_a_mesh_tracing_url_from_a_reference_is_a_placeholder_by_its_label_alone(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in this URL looks like a credential (no password, no query): the MeshTrace's
    `gatewayctl.io/holds-secret` label, set because the catalog took it from a reference, is what tells."""
    from emulators.kuma import KumaState
    from emulators.kuma import running as kuma_running

    in_path = "http://zipkin.internal:9411/s3cr3t-zipkin-path-0004/api/v2/spans"
    monkeypatch.setenv("ZIPKIN_URL", in_path)
    monkeypatch.delenv("GATEWAYCTL_KUMA_TOKEN", raising=False)
    with running(KongState()) as kong, kuma_running(KumaState()) as kuma:
        urls = ["--kong-admin-url", kong.url, "--kuma-url", kuma.url]
        apply_args = ["--kuma-platform", "universal", *urls]
        dumped, out, err = apply_then_dump(capsys, workdir, MESH_CATALOG, "shop", apply_args, urls)
        assert "s3cr3t" not in dumped.read_text() + out + err
        doc = yaml.safe_load(dumped.read_text())
        assert doc["mesh"]["tracing"]["zipkin"]["endpoint"] == "${env:MESH_ZIPKIN_ENDPOINT}"
        monkeypatch.delenv("ZIPKIN_URL")
        monkeypatch.setenv("MESH_ZIPKIN_ENDPOINT", in_path)
        reapply_writes_nothing(capsys, dumped, apply_args, kong.state, kuma.state)
