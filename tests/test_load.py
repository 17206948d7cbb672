"""The catalog stage end to end: typed validation, semantic checks, overlays, defaults, secrets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gatewayctl.catalog.load import LoadedCatalog, load_catalog
from gatewayctl.catalog.units import parse_duration, parse_size
from gatewayctl.diagnostics import CatalogInvalid

BASE = """\
format: 1
name: demo
"""


def write(tmp_path: Path, body: str, name: str = "catalog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(BASE + textwrap.dedent(body))
    return path


def errors(tmp_path: Path, body: str, env: str | None = None, *, all_environments: bool = False) -> list[str]:
    path = write(tmp_path, body)
    with pytest.raises(CatalogInvalid) as exc:
        load_catalog(path, env, all_environments=all_environments)
    return [str(d).replace(str(path), "catalog.yaml") for d in exc.value.diagnostics]


def load(tmp_path: Path, body: str, env: str | None = None) -> LoadedCatalog:
    return load_catalog(write(tmp_path, body), env)


SERVICE = """\
services:
  - name: api
    url: http://api.default.svc:8080
    routes:
      - name: main
        paths: [/api]
"""


# ---------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("text", "ms"), [("250ms", 250), ("5s", 5000), ("1m", 60_000), ("2h", 7_200_000), ("1d", 86_400_000)]
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text).ms == ms


@pytest.mark.parametrize("text", ["5", "5 seconds", "1.5s", "-1s", "", "5S"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="must be a duration"):
        parse_duration(text)


@pytest.mark.parametrize(("value", "size"), [("512k", 524_288), ("10m", 10_485_760), ("1g", 1 << 30), (100, 100)])
def test_sizes_are_binary(value: str | int, size: int) -> None:
    assert parse_size(value).bytes == size


@pytest.mark.parametrize("value", ["10 MB", "1.5m", "-3", True, "k"])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(ValueError, match="must be a size"):
        parse_size(value)


# ---------------------------------------------------------------------- types and keys


def test_a_valid_catalog_loads(tmp_path: Path) -> None:
    loaded = load(tmp_path, SERVICE)
    assert [s.name for s in loaded.catalog.services] == ["api"]
    assert loaded.warnings == []


def test_unknown_keys_get_did_you_mean(tmp_path: Path) -> None:
    assert errors(tmp_path, SERVICE.replace("    routes:", "    retires: 3\n    routes:")) == [
        "catalog.yaml:6:5: services[0].retires: unknown key 'retires'; did you mean 'retries'?"
    ]


def test_unknown_key_without_a_close_match_lists_what_is_allowed(tmp_path: Path) -> None:
    assert errors(tmp_path, "mesh:\n  zzz: 1\n") == [
        "catalog.yaml:4:3: mesh.zzz: unknown key 'zzz' (allowed here: access_log, default_action, enabled, "
        "gateway_selector, metrics, mtls, name, tracing)"
    ]


def test_strict_types_and_quote_hint(tmp_path: Path) -> None:
    assert errors(tmp_path, "deployment:\n  kong: {version: 3.10, replicas: '2'}\n") == [
        "catalog.yaml:4:19: deployment.kong.version: must be a string, not a number; quote it to keep it as written: "
        '"3.10"',
        "catalog.yaml:4:35: deployment.kong.replicas: must be a whole number, not a string",
    ]


def test_choices_get_did_you_mean(tmp_path: Path) -> None:
    assert errors(tmp_path, "gateway: {edition: enterprize}\n") == [
        "catalog.yaml:3:20: gateway.edition: must be 'oss' or 'enterprise' (got 'enterprize'); did you mean "
        "'enterprise'?"
    ]


def test_missing_required_keys_point_at_the_mapping(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("format: 1\nservices:\n  - url: http://a\n")
    with pytest.raises(CatalogInvalid) as exc:
        load_catalog(path)
    assert [f"{d.line}:{d.col} {d.path}: {d.message}" for d in exc.value.diagnostics] == [
        "1:1 : missing required key 'name'",
        "3:5 services[0]: missing required key 'name'",
    ]


def test_all_errors_are_reported_at_once_in_file_order(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        """\
        services:
          - name: Bad_Name
            url: http://a:8080
            max_body: 10 MB
            ip_allow: [10.0.0.1/8, nonsense]
            routes:
              - name: r
                paths: [nope, "~/users/(\\\\d+"]
        """,
    )
    assert found == [
        "catalog.yaml:4:11: services[0].name: not a valid name: use 1-63 lowercase letters, digits and '-', "
        "starting and ending with a letter or digit (got 'Bad_Name')",
        "catalog.yaml:6:15: services[0].max_body: must be a size such as 512k, 10m, 1g or a number of bytes "
        "(got '10 MB')",
        "catalog.yaml:7:16: services[0].ip_allow[0]: has host bits set; did you mean 10.0.0.0/8? (got '10.0.0.1/8')",
        "catalog.yaml:7:28: services[0].ip_allow[1]: is not an IP address or CIDR block (got 'nonsense')",
        'catalog.yaml:10:17: services[0].routes[0].paths[0]: must start with "/" (or "~/" for a regex) (got \'nope\')',
        "catalog.yaml:10:23: services[0].routes[0].paths[1]: is not a valid regular expression: missing ), "
        "unterminated subpattern at position 7",
    ]


def test_literal_secrets_are_refused_without_echoing_them(tmp_path: Path) -> None:
    found = errors(tmp_path, "consumers:\n  - name: app\n    credentials: {key_auth: [{key: hunter2}]}\n")
    assert len(found) == 1
    assert "secrets are never written literally" in found[0]
    assert "hunter2" not in found[0]


# ---------------------------------------------------------------------- semantic checks


def test_url_and_upstream_are_exclusive(tmp_path: Path) -> None:
    both = SERVICE.replace("    routes:", "    upstream: {targets: ['10.0.0.1:80']}\n    routes:")
    assert errors(tmp_path, both) == ["catalog.yaml:4:5: services[0]: set either url or upstream, not both"]
    neither = SERVICE.replace("    url: http://api.default.svc:8080\n", "")
    assert errors(tmp_path, neither) == ["catalog.yaml:4:5: services[0]: needs a url or an upstream"]


def test_conflicting_routes_across_services(tmp_path: Path) -> None:
    body = SERVICE + "  - name: other\n    url: http://o:80\n    routes:\n      - {name: x, paths: [/api]}\n"
    assert errors(tmp_path, body) == [
        "catalog.yaml:12:9: services[1].routes[0]: matches the same requests as services[0].routes[0] (api-main): "
        "host *, method *, path /api"
    ]


def test_routes_that_differ_by_host_do_not_conflict(tmp_path: Path) -> None:
    body = (
        SERVICE
        + "  - name: other\n    url: http://o:80\n    routes:\n      - {name: x, paths: [/api], hosts: [b.io]}\n"
    )
    assert load(tmp_path, body).catalog.services[1].routes[0].hosts == ["b.io"]


def test_kong_route_names_must_not_collide(tmp_path: Path) -> None:
    body = """\
    services:
      - name: a-b
        url: http://x:80
        routes: [{name: c, paths: [/1]}]
      - name: a
        url: http://y:80
        routes: [{name: b-c, paths: [/2]}]
    """
    assert errors(tmp_path, body) == [
        "catalog.yaml:9:21: services[1].routes[0].name: Kong route name 'a-b-c' (<service>-<route>) is also "
        "produced by services[0].routes[0]"
    ]


def test_grpc_route_rules(tmp_path: Path) -> None:
    body = """\
    services:
      - name: sim
        url: grpc://sim:9000
        routes:
          - {name: r, paths: [/sim.v1.Sim/], methods: [POST], strip_path: true}
    """
    assert errors(tmp_path, body) == [
        "catalog.yaml:7:51: services[0].routes[0].methods: gRPC routes cannot match on methods (Kong rejects them)",
        "catalog.yaml:7:71: services[0].routes[0].strip_path: gRPC routes must not strip the path (Kong rejects it)",
    ]


def test_enterprise_features_on_oss(tmp_path: Path) -> None:
    body = SERVICE + "    authz: {opa: {url: 'http://opa:8181', policy: /v1/data/allow}}\n    plugins: {canary: {}}\n"
    assert errors(tmp_path, body) == [
        "catalog.yaml:9:12: services[0].authz: authz.opa uses the opa plugin, which needs Kong Enterprise "
        "(gateway.edition: enterprise)",
        "catalog.yaml:10:15: services[0].plugins.canary: the canary plugin needs Kong Enterprise "
        "(gateway.edition: enterprise)",
    ]
    enterprise = load(tmp_path, "gateway: {edition: enterprise}\n" + body)
    assert enterprise.catalog.services[0].authz is not None


def test_feature_and_raw_plugin_of_the_same_kind_conflict(tmp_path: Path) -> None:
    body = SERVICE + "    cors: {origins: ['*']}\n    plugins: {cors: {origins: [a]}}\n"
    assert errors(tmp_path, body) == [
        "catalog.yaml:10:15: services[0].plugins.cors: cors is already configured by cors"
    ]


def test_a_plugin_kong_refuses_on_a_consumer_is_refused_there(tmp_path: Path) -> None:
    """cors and the auth plugins declare `consumer = typedefs.no_consumer` in Kong 3.9: an apply would get
    400 "consumer: value must be null"; request-transformer may run per consumer."""
    body = """\
    consumers:
      - name: app
        plugins: {cors: {origins: [a]}, request-transformer: {}}
    """
    assert errors(tmp_path, body) == [
        "catalog.yaml:5:15: consumers[0].plugins.cors: Kong does not run cors per consumer (its schema refuses a "
        "consumer): set it on the services or routes instead"
    ]


def test_a_global_only_plugin_is_refused_on_a_service_route_or_consumer(tmp_path: Path) -> None:
    """acme declares `typedefs.no_service` and `typedefs.no_route` besides `no_consumer` in Kong 3.9: an apply
    would get 400 "service: value must be null"."""
    body = (
        SERVICE
        + """    plugins: {acme: {account_email: ops@example.com}}
consumers:
  - name: app
    plugins: {acme: {account_email: ops@example.com}}
gateway:
  plugins: {acme: {account_email: ops@example.com}}
"""
    )
    assert errors(tmp_path, body) == [
        "catalog.yaml:9:15: services[0].plugins.acme: Kong runs acme only globally (its schema refuses a service, "
        "a route and a consumer): set it in gateway.plugins",
        "catalog.yaml:12:15: consumers[0].plugins.acme: Kong runs acme only globally (its schema refuses a service, "
        "a route and a consumer): set it in gateway.plugins",
    ]


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    body = SERVICE + "    auth: [key-auth]\n    allow_groups: [admins]\n    plugins: {my-custom: {}}\n"
    loaded = load(tmp_path, body)
    assert [f"{w.path}: {w.message}" for w in loaded.warnings] == [
        "services[0].auth[0]: no consumer has key-auth credentials, so no client can authenticate",
        "services[0].allow_groups[0]: no consumer is in group 'admins'",
        "services[0].plugins.my-custom: 'my-custom' is not a plugin bundled with Kong 3.9 (a custom plugin?)",
    ]


def test_a_key_with_a_line_break_keeps_its_diagnostic_on_one_line(tmp_path: Path) -> None:
    """A plugin name or an unknown key is any string: written with a line break, the path and the message name
    it escaped, as Python writes it, rather than splitting the diagnostic over two lines."""
    body = SERVICE + '    plugins: {"my-custom\\n": {}}\n'
    assert [str(w).split(": ", 1)[1] for w in load(tmp_path, body).warnings] == [
        "services[0].plugins['my-custom\\n']: warning: 'my-custom\\n' is not a plugin bundled with Kong 3.9 "
        "(a custom plugin?)"
    ]
    assert errors(tmp_path, SERVICE + '    "retries\\n": 3\n') == [
        "catalog.yaml:9:5: services[0]['retries\\n']: unknown key 'retries\\n'; did you mean 'retries'?"
    ]


def test_mesh_allow_from_must_name_services(tmp_path: Path) -> None:
    body = "mesh: {enabled: true}\n" + SERVICE + "    mesh: {allow_from: [apii, api]}\n"
    assert errors(tmp_path, body) == [
        "catalog.yaml:10:25: services[0].mesh.allow_from[0]: no service named 'apii'; did you mean 'api'?",
        "catalog.yaml:10:31: services[0].mesh.allow_from[1]: a service does not need to allow itself",
    ]


@pytest.mark.parametrize(
    ("mesh", "error"),
    [
        # meshaccesslog validator.go validateBackend: govalidator.IsFilePath(file.path)
        (
            "access_log: {file: logs/access.log}",
            "catalog.yaml:5:22: mesh.access_log.file: must be an absolute path such as /dev/stdout (Kuma's "
            "MeshAccessLog refuses any other)",
        ),
        # meshaccesslog validator.go validateBackend: govalidator.IsURL(tcp.address) (no port: a path to Go)
        (
            "access_log: {tcp: collector}",
            "catalog.yaml:5:21: mesh.access_log.tcp: Kuma's MeshAccessLog refuses this address: give host:port, "
            "such as collector.logging:5170",
        ),
        (
            "access_log: {tcp: '0.0.0.0:5170'}",
            "catalog.yaml:5:21: mesh.access_log.tcp: Kuma's MeshAccessLog refuses this address: give host:port, "
            "such as collector.logging:5170",
        ),
        # meshtrace validator.go validateBackend: govalidator.IsURL(zipkin.url)
        (
            "tracing: {zipkin: {endpoint: 'http://0.0.0.0:9411/api/v2/spans'}}",
            "catalog.yaml:5:32: mesh.tracing.zipkin.endpoint: Kuma's MeshTrace refuses this URL as invalid "
            "(govalidator IsURL)",
        ),
    ],
)
def test_mesh_observability_values_kuma_refuses_are_refused(tmp_path: Path, mesh: str, error: str) -> None:
    body = f"mesh:\n  enabled: true\n  {mesh}\n" + SERVICE
    assert errors(tmp_path, body) == [error]


def test_mesh_observability_values_kuma_takes_load(tmp_path: Path) -> None:
    body = (
        "mesh:\n  enabled: true\n  access_log: {file: /dev/stdout, tcp: 'logs.example.com:5170'}\n"
        "  tracing: {zipkin: {endpoint: 'http://zipkin.observability:9411/api/v2/spans'}}\n" + SERVICE
    )
    assert load(tmp_path, body).catalog.mesh is not None


def test_an_http_mesh_health_check_needs_a_path(tmp_path: Path) -> None:
    # meshhealthcheck validator.go validateConfHttp: ValidateStringDefined(http.path)
    body = "mesh: {enabled: true}\n" + SERVICE + "    mesh: {health_check: {path: ''}}\n"
    assert errors(tmp_path, body) == [
        "catalog.yaml:10:33: services[0].mesh.health_check.path: must not be empty (Kuma's MeshHealthCheck refuses it)"
    ]
    tcp = (
        "mesh: {enabled: true}\nservices:\n  - name: db\n    url: tcp://db.default.svc:5432\n"
        "    mesh: {health_check: {path: ''}}\n"
    )
    assert load(tmp_path, tcp).catalog.services[0].mesh is not None  # a tcp check has no path to send


# ---------------------------------------------------------------------- defaults and environments


def test_defaults_apply_unless_a_service_sets_the_key(tmp_path: Path) -> None:
    body = (
        "defaults:\n  retries: 2\n  timeouts: {connect: 1s, read: 9s}\n  tags: [team]\n"
        + SERVICE
        + "    timeouts: {read: 30s}\n    tags: [api]\n"
        + "  - name: b\n    url: http://b:80\n    retries: 7\n"
    )
    catalog = load(tmp_path, body).catalog
    api, b = catalog.services
    assert api.retries == 2 and b.retries == 7
    assert api.timeouts is not None and api.timeouts.connect is not None and api.timeouts.read is not None
    assert (api.timeouts.connect.ms, api.timeouts.read.ms) == (1000, 30_000)
    assert api.tags == ["team", "api"] and b.tags == ["team"]


def test_an_error_in_defaults_is_reported_once_at_the_defaults_line(tmp_path: Path) -> None:
    body = "defaults:\n  retries: many\n" + SERVICE + "  - name: b\n    url: http://b:80\n"
    assert errors(tmp_path, body) == ["catalog.yaml:4:12: defaults.retries: must be a whole number, not a string"]


def test_a_problem_with_a_service_itself_points_at_the_service_not_at_defaults(tmp_path: Path) -> None:
    # The service mapping merged with `defaults` keeps the service's own position.
    body = "defaults:\n  retries: 2\n" + SERVICE + "  - name: b\n    retries: 7\n"
    assert errors(tmp_path, body) == ["catalog.yaml:11:5: services[1]: needs a url or an upstream"]


OVERLAY = (
    SERVICE
    + """\
environments:
  staging:
    gateway: {mode: dbless}
    services:
      - name: api
        url: http://api.staging.svc:8080
      - name: extra
        url: http://extra:80
"""
)


def test_environment_overlay_merges_by_name(tmp_path: Path) -> None:
    catalog = load(tmp_path, OVERLAY, "staging").catalog
    assert catalog.gateway.mode == "dbless"
    assert [(s.name, s.url) for s in catalog.services] == [
        ("api", "http://api.staging.svc:8080"),
        ("extra", "http://extra:80"),
    ]
    assert catalog.services[0].routes[0].paths == ["/api"]  # untouched keys survive the merge


def test_errors_in_overlay_values_point_at_the_overlay(tmp_path: Path) -> None:
    body = OVERLAY.replace("url: http://api.staging.svc:8080", "url: staging-api")
    assert errors(tmp_path, body, "staging") == [
        "catalog.yaml:14:14: services[0].url: must be an absolute URL such as http://host:8080/path (got 'staging-api')"
    ]


def test_validate_without_env_checks_every_overlay(tmp_path: Path) -> None:
    body = OVERLAY.replace("url: http://extra:80", "url: nope")
    assert errors(tmp_path, body, all_environments=True) == [
        "catalog.yaml:16:14: services[1].url: [staging] must be an absolute URL such as http://host:8080/path "
        "(got 'nope')"
    ]


def test_unknown_environment_gets_did_you_mean(tmp_path: Path) -> None:
    assert errors(tmp_path, OVERLAY, "stagin") == [
        "catalog.yaml:10:3: environments: unknown environment 'stagin' (defined: staging); did you mean 'staging'?"
    ]


def test_overlay_cannot_change_format(tmp_path: Path) -> None:
    body = SERVICE + "environments:\n  prod: {format: 2}\n"
    assert errors(tmp_path, body, "prod") == [
        "catalog.yaml:10:10: environments.prod.format: an overlay cannot change 'format'"
    ]


# ---------------------------------------------------------------------- secrets


SECRET_CONSUMER = """\
consumers:
  - name: app
    credentials:
      key_auth: [{key: "${env:GW_TEST_KEY}"}, {key: "${file:key.txt}"}]
"""


def test_missing_secrets_are_all_named_and_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_TEST_KEY", raising=False)
    loaded = load(tmp_path, SECRET_CONSUMER)
    with pytest.raises(CatalogInvalid) as exc:
        loaded.check_secrets(["kong"], loaded.secrets())
    assert [f"{d.line}:{d.col} {d.message}" for d in exc.value.diagnostics] == [
        "6:24 environment variable GW_TEST_KEY is not set (needed by ${env:GW_TEST_KEY})",
        "6:53 secret file key.txt does not exist (needed by ${file:key.txt})",
    ]


def test_secrets_resolve_from_env_and_files_relative_to_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("from-file\n")
    loaded = load(tmp_path, SECRET_CONSUMER)
    resolver = loaded.secrets({"GW_TEST_KEY": "from-env"})
    loaded.check_secrets(["kong"], resolver)
    assert resolver.resolve("${env:GW_TEST_KEY}/${file:key.txt}") == "from-env/from-file"


def test_secrets_are_only_needed_by_targets_that_use_them(tmp_path: Path) -> None:
    body = "deployment:\n  observability: {grafana: {admin_password: '${env:GW_NOT_SET}'}}\n"
    loaded = load(tmp_path, body)
    loaded.check_secrets(["kong"], loaded.secrets({}))  # kong does not need grafana's password
    loaded.check_secrets(["observability"], loaded.secrets({}))  # nor do dashboards and rules
    loaded.check_secrets(["vm"], loaded.secrets({}))  # a Kubernetes catalog renders nothing for VMs
    with pytest.raises(CatalogInvalid):
        loaded.check_secrets(["kubernetes"], loaded.secrets({}))  # the grafana-admin Secret


def test_validate_without_env_reports_overlay_problems_located_in_the_base(tmp_path: Path) -> None:
    # The overlay only switches to DB-less; the policy it breaks is written in the base.
    body = """\
services:
  - name: api
    url: http://api.default.svc:8080
    routes:
      - {name: main, paths: [/api]}
    rate_limit: {minute: 10, policy: cluster}
environments:
  edge:
    gateway: {mode: dbless}
"""
    load(tmp_path, body)  # valid as written
    assert errors(tmp_path, body, all_environments=True) == [
        "catalog.yaml:8:38: services[0].rate_limit.policy: [edge] policy cluster needs a database; DB-less Kong "
        "(gateway.mode: dbless) supports local or redis"
    ]


def test_the_node_tree_is_released_after_loading_and_rebuilt_for_a_late_diagnostic(tmp_path: Path) -> None:
    loaded = load(tmp_path, OVERLAY, "staging")
    assert loaded.source._root is None  # a 10,000-service tree is hundreds of MB; it is not kept
    # A position asked for later (a missing secret at render time, say) still points at the overlay.
    assert str(loaded.source.diagnostic(("services", 0, "url"), "x")).endswith("catalog.yaml:14:14: services[0].url: x")


# ---------------------------------------------------------------------- what Kong itself would refuse


def messages(tmp_path: Path, body: str) -> list[str]:
    return [line.split(": ", 2)[-1] for line in errors(tmp_path, body)]


def test_stream_routes_need_sources_destinations_or_snis(tmp_path: Path) -> None:
    body = """\
services:
  - name: db
    url: tcp://db.default.svc:5432
    routes:
      - name: bare
"""
    assert errors(tmp_path, body) == [
        "catalog.yaml:7:9: services[0].routes[0]: a tcp route needs at least one of sources, destinations or snis"
    ]


def test_tls_passthrough_routes_match_on_snis(tmp_path: Path) -> None:
    """Kong's stream subschema wants snis on a tls_passthrough route, and nothing else will do
    (kong/db/schema/entities/routes_subschemas.lua); tls cannot be added to it (another protocol group)."""
    body = """\
services:
  - name: db
    url: tcp://db.default.svc:5432
    routes:
      - {name: pass, protocols: [tls_passthrough], snis: [db.example.com]}
      - {name: bare, protocols: [tls_passthrough], sources: [{ip: 10.0.0.0/8}]}
"""
    assert errors(tmp_path, body) == [
        "catalog.yaml:8:9: services[0].routes[1]: a tls_passthrough route needs snis to match on"
    ]


def test_sources_and_destinations_belong_to_stream_routes(tmp_path: Path) -> None:
    body = SERVICE + "        sources: [{ip: 10.0.0.0/8}]\n"
    assert messages(tmp_path, body) == ["sources match only on tcp/tls routes"]


def test_a_stream_endpoint_needs_an_ip_or_a_port(tmp_path: Path) -> None:
    body = """\
services:
  - name: db
    url: tcp://db.default.svc:5432
    routes:
      - name: main
        destinations: [{}]
"""
    assert messages(tmp_path, body) == ["needs an ip, a port or both"]


def test_oauth2_needs_a_database(tmp_path: Path) -> None:
    body = """\
gateway: {mode: dbless}
deployment: {kong: {database: "off"}}
services:
  - name: api
    url: http://api:80
    routes: [{name: main, paths: [/api]}]
    auth: [oauth2]
    oauth2: {provision_key: "${env:PROVISION_KEY}"}
consumers:
  - name: app
    credentials: {oauth2: [{name: app, client_id: app, client_secret: "${env:APP_SECRET}"}]}
"""
    assert any(m.startswith("oauth2 needs Kong with a database") for m in messages(tmp_path, body))


def test_targets_are_checked_as_kong_keeps_them(tmp_path: Path) -> None:
    """Kong's targets DAO formats a target before keeping it (kong/db/dao/targets.lua format_target): two
    spellings of one address are one target to Kong (its 409), and an IPv6 address with an IPv4 tail or a zone,
    which Python takes, is no address to kong/tools/ip.lua normalize_ipv6."""
    body = """\
services:
  - name: api
    upstream:
      targets: [10.0.0.1, '010.0.0.1:8000', '[2001:db8::1]:80', '[2001:0DB8:0::1]:80', '[::ffff:1.2.3.4]:80']
    routes: [{name: main, paths: [/api]}]
"""
    found = [e.split(": ", 1)[1] for e in errors(tmp_path, body)]
    assert found == [
        "services[0].upstream.targets[1]: duplicate target 010.0.0.1:8000",
        "services[0].upstream.targets[3]: duplicate target [2001:0DB8:0::1]:80",
        "services[0].upstream.targets[4]: Kong refuses the target '[::ffff:1.2.3.4]:80': it is not an IPv6 address",
    ], found


def test_a_target_port_with_leading_zeros_is_the_same_target(tmp_path: Path) -> None:
    """kong/tools/ip.lua reads a target's port with tonumber: `b.internal:0081` is `b.internal:81` to Kong."""
    body = """\
services:
  - name: api
    upstream:
      targets: ['b.internal:81', 'b.internal:0081']
    routes: [{name: main, paths: [/api]}]
"""
    found = [e.split(": ", 1)[1] for e in errors(tmp_path, body)]
    assert found == ["services[0].upstream.targets[1]: duplicate target b.internal:0081"], found


def test_a_key_auth_ttl_needs_a_database(tmp_path: Path) -> None:
    """DB-less Kong reads a declarative ttl as the time the key expires (kong/db/strategies/off/init.lua
    process_ttl_field), so the duration gatewayctl renders would post a key that expired in 1970."""
    body = (
        """\
gateway: {mode: dbless}
deployment: {kong: {database: "off"}}
consumers:
  - name: app
    credentials: {key_auth: [{key: "${env:APP_KEY}"}, {key: "${env:APP_KEY2}", ttl: 30d}]}
"""
        + SERVICE
    )
    found = [e for e in errors(tmp_path, body) if "ttl" in e]
    assert len(found) == 1 and "consumers[0].credentials.key_auth[1].ttl" in found[0], found
    assert "needs Kong with a database" in found[0]
    in_db_mode = body.replace("mode: dbless", "mode: db").replace('deployment: {kong: {database: "off"}}\n', "")
    assert load(tmp_path, in_db_mode).catalog.consumers[0].credentials.key_auth[1].ttl is not None


@pytest.mark.parametrize(
    ("path", "construct"),
    [
        ("~/a(?=b)", "(?="),
        ("~/(?<!x)a", "(?<!"),
        ("~/(a)/\\\\1", "\\1"),
        ("~/(?P<n>a)(?P=n)", "(?P="),
        ("~/(?<n>a)\\\\k<n>", "\\k<"),
    ],
)
def test_regex_paths_kong_cannot_compile_are_refused(tmp_path: Path, path: str, construct: str) -> None:
    body = SERVICE.replace("paths: [/api]", f'paths: ["{path}"]')
    (message,) = messages(tmp_path, body)
    assert "no look-around or backreferences" in message and repr(construct).strip("'") in message


def test_regex_paths_with_kongs_named_captures_are_accepted(tmp_path: Path) -> None:
    """`(?<name>...)` is how Kong's route docs write a named capture (Rust's regex accepts it; Python's
    re only knows `(?P<name>...)`); `(?<=` and `(?<!` stay look-behinds."""
    path = "~/version/(?<version>\\d+)/users/(?<user>\\S+)$"
    body = SERVICE.replace("paths: [/api]", 'paths: ["' + path.replace("\\", "\\\\") + '"]')
    assert load(tmp_path, body).catalog.services[0].routes[0].paths == [path]


def test_cors_methods_are_the_ones_kong_allows(tmp_path: Path) -> None:
    body = SERVICE + "    cors: {origins: ['*'], methods: [GET, PURGE]}\n"
    (message,) = messages(tmp_path, body)
    assert message.startswith("must be 'GET', 'HEAD', 'PUT'") and "(got 'PURGE')" in message


@pytest.mark.parametrize("field", ["cors: {origins: ['*'], max_age: 1500ms}", "cache: {ttl: 500ms}"])
def test_values_kong_keeps_in_whole_seconds_refuse_milliseconds(tmp_path: Path, field: str) -> None:
    (message,) = messages(tmp_path, SERVICE + f"    {field}\n")
    assert message.startswith("Kong counts this in whole seconds")


def test_kong_database_follows_gateway_mode_unless_set(tmp_path: Path) -> None:
    assert load(tmp_path, SERVICE).catalog.deployment.kong.database == "postgres"
    dbless = load(tmp_path, "gateway: {mode: dbless}\n" + SERVICE).catalog
    assert dbless.deployment.kong.database == "off"


def test_db_mode_on_a_kong_without_database_is_refused(tmp_path: Path) -> None:
    body = "gateway: {mode: db}\ndeployment: {kong: {database: 'off'}}\n" + SERVICE
    assert errors(tmp_path, body) == [
        "catalog.yaml:4:31: deployment.kong.database: gateway.mode db writes entities through the Admin API, "
        "which DB-less Kong refuses: use database: postgres, or gateway.mode: dbless"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("true", "must be the number 1 (got true)"),
        ("1.0", "must be the number 1 (got 1.0)"),
        ('"1"', "must be the number 1 (got '1')"),
        ("99999999999999999999", "is far too large a number (got 99999999999999999999)"),
    ],
)
def test_format_is_the_number_1_and_nothing_that_equals_it(tmp_path: Path, value: str, message: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(f"format: {value}\nname: demo\n")
    with pytest.raises(CatalogInvalid) as exc:
        load_catalog(path)
    assert [d.message for d in exc.value.diagnostics] == [message]


def test_route_header_names_and_values_kong_takes(tmp_path: Path) -> None:
    """A route's header names are Kong's typedefs.header_name (letters, digits, '_' and '-' only, not every
    HTTP token) and its values non-empty strings: validate says so instead of apply failing half-way."""
    body = SERVICE + "        headers: {X.Custom: [a], X-Empty: [ok, '']}\n"
    assert errors(tmp_path, body) == [
        "catalog.yaml:9:19: services[0].routes[0].headers.X.Custom: Kong refuses the header name 'X.Custom': "
        "only A-Z, a-z, 0-9, '_' and '-' are allowed",
        "catalog.yaml:9:48: services[0].routes[0].headers.X-Empty[1]: Kong refuses an empty header value",
    ]


def test_route_hosts_and_snis_kong_takes(tmp_path: Path) -> None:
    """kong/tools/ip.lua normalize_ip: a host's port is at most 65535; an SNI (typedefs.wildcard_host) has no
    port and is not an IP address."""
    body = SERVICE + "        hosts: [a.example.com:99999, b.example.com:8443]\n"
    assert messages(tmp_path, body) == ["Kong refuses the port of 'a.example.com:99999': ports go up to 65535"]
    body = SERVICE + "        protocols: [https]\n        snis: [a.example.com:443, 10.0.0.1, '*.example.com']\n"
    assert messages(tmp_path, body) == [
        "an SNI is a server name without a port (got 'a.example.com:443')",
        "an SNI is a server name, not an IP address (got '10.0.0.1')",
    ]


UPSTREAM = SERVICE.replace("    url: http://api.default.svc:8080\n", "    upstream:\n      targets: ['10.0.0.1:80']\n")


def test_upstream_fields_kong_takes(tmp_path: Path) -> None:
    """Kong 3.9's upstreams.lua: the active health check's interval and timeout are seconds up to 65535 and its
    http_path a typedefs.path; host_header a host with an optional port (kong/tools/ip.lua normalize_ip)."""
    body = UPSTREAM.replace(
        "      targets:", "      health_check: {path: /a//b, interval: 30h, timeout: 19h}\n      targets:"
    )
    assert messages(tmp_path, body) == [
        "must be at most 65535s (18.2 hours), Kong's limit (got '30h')",
        "must be at most 65535s (18.2 hours), Kong's limit (got '19h')",
    ]
    body = UPSTREAM.replace("      targets:", "      health_check: {path: health}\n      targets:")
    assert messages(tmp_path, body) == ["Kong refuses the path 'health': should start with: /"]
    for host_header, problem in [
        ("bad host", "is not a host name or IP address"),
        ("a.example.com:70000", "has a port above 65535"),
        ("300.1.1.1", "is not an IPv4 address"),
    ]:
        body = UPSTREAM.replace("      targets:", f"      host_header: '{host_header}'\n      targets:")
        assert messages(tmp_path, body) == [f"Kong refuses the host {host_header!r}: it {problem}"]
    for fine in ("a.example.com:8443", "10.0.0.1", "[::1]:80", "${env:HOST_HEADER}"):
        load(tmp_path, UPSTREAM.replace("      targets:", f"      host_header: '{fine}'\n      targets:"))


def test_redis_host_and_cache_lists_kong_takes(tmp_path: Path) -> None:
    """kong/tools/redis/schema.lua: the Redis host is a typedefs.host (no port); proxy-cache's content types
    and query parameters are strings Kong refuses empty."""
    limit = "    rate_limit: {minute: 5, policy: redis, redis: {host: '%s'}}\n"
    assert messages(tmp_path, SERVICE + limit % "redis.internal:6379") == [
        "Kong refuses the host 'redis.internal:6379': it must not have a port"
    ]
    load(tmp_path, SERVICE + limit % "redis.internal")
    cache = "    cache: {content_types: [text/html, ''], vary_query_params: ['']}\n"
    assert messages(tmp_path, SERVICE + cache) == ["must not be empty", "must not be empty"]


def test_a_cache_ttl_of_zero_is_refused_as_kong_does(tmp_path: Path) -> None:
    """proxy-cache/schema.lua: cache_ttl gt = 0 (it used to be rendered as 1 s without a word)."""
    assert messages(tmp_path, SERVICE + "    cache: {ttl: 0s}\n") == [
        "must be at least 1s: Kong's proxy-cache refuses a cache_ttl of 0 (got '0s')"
    ]
    assert load(tmp_path, SERVICE + "    cache: {ttl: 1s}\n").catalog.services[0].cache is not None


def test_strings_kong_refuses_empty(tmp_path: Path) -> None:
    """Kong refuses "" in a string field (kong/db/schema/init.lua: len_min 1 unless the schema says otherwise):
    cors origins, the jwt plugin's claim name and token places, jwt credential keys."""
    body = SERVICE + (
        "    auth: [jwt]\n"
        "    jwt: {key_claim_name: '', header_names: [''], uri_param_names: [''], cookie_names: ['']}\n"
        "    cors: {origins: ['']}\n"
        "consumers:\n"
        "  - name: app\n"
        "    credentials: {jwt: [{key: '', secret: '${env:APP_JWT_SECRET}'}]}\n"
    )
    assert [line.split(": ", 2)[1] for line in errors(tmp_path, body)] == [
        "services[0].jwt.key_claim_name",
        "services[0].jwt.header_names[0]",
        "services[0].jwt.uri_param_names[0]",
        "services[0].jwt.cookie_names[0]",
        "services[0].cors.origins[0]",
        "consumers[0].credentials.jwt[0].key",
    ]
    assert set(messages(tmp_path, body)) == {"must not be empty"}
