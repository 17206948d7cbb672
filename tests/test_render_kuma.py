"""Kuma rendering: what each mesh setting becomes, identities, names, both envelopes, who may reach whom,
golden files for the examples. Needs nothing outside the project.

Golden files live in tests/golden/<example>/kuma/; regenerate them with `UPDATE_GOLDEN=1 pytest`.
"""

from __future__ import annotations

import os
import re
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatewayctl.catalog.load import LoadedCatalog, load_catalog
from gatewayctl.cli import main
from gatewayctl.diagnostics import CatalogInvalid
from gatewayctl.render import render
from gatewayctl.render.kuma import (
    KumaObject,
    build_kuma_objects,
    go_duration,
    kubernetes_form,
    mesh_wiring,
    object_name,
    universal_form,
    workloads,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
RFC1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

MESH = """\
mesh:
  name: shop
  default_action: deny
"""

SHOP = """\
services:
  - name: web
    url: http://web.shop.svc.cluster.local:8080
    routes: [{name: home, paths: [/]}]
  - name: orders
    url: http://orders.shop.svc.cluster.local:8080
    mesh: {allow_from: [web]}
  - name: payments
    url: http://payments.shop.svc.cluster.local:9090
    mesh: {allow_from: [orders]}
  - name: audit
    url: http://audit.ops.svc.cluster.local:8080
    mesh: {allow_from: [orders, payments]}
"""


def load(tmp_path: Path, body: str) -> LoadedCatalog:
    path = tmp_path / "catalog.yaml"
    path.write_text("format: 1\nname: demo\n" + textwrap.dedent(body))
    return load_catalog(path)


def objects(tmp_path: Path, body: str) -> list[KumaObject]:
    return build_kuma_objects(load(tmp_path, body).catalog)


def find(objs: list[KumaObject], kind: str, name: str) -> KumaObject:
    matches = [o for o in objs if o.kind == kind and o.name == name]
    assert len(matches) == 1, f"{kind}/{name} in {[(o.kind, o.name) for o in objs]}"
    return matches[0]


def kinds(objs: list[KumaObject]) -> list[tuple[str, str]]:
    return [(o.kind, o.name) for o in objs]


# --------------------------------------------------------------------------- mesh-wide objects


def test_no_mesh_or_a_disabled_mesh_renders_nothing(tmp_path: Path) -> None:
    assert objects(tmp_path, SHOP.replace("mesh: {allow_from: [web]}", "")) == []
    assert objects(tmp_path, "mesh: {enabled: false}\n" + SHOP) == []


def test_mesh_has_builtin_ca_mtls_in_the_catalog_mode(tmp_path: Path) -> None:
    objs = objects(tmp_path, "mesh: {name: shop, mtls: {mode: permissive, rotation: 1d}}\n")
    mesh = find(objs, "Mesh", "shop")
    assert mesh.mesh is None
    assert mesh.spec == {
        "mtls": {
            "enabledBackend": "ca-1",
            "backends": [
                {"name": "ca-1", "type": "builtin", "mode": "PERMISSIVE", "dpCert": {"rotation": {"expiration": "24h"}}}
            ],
        }
    }


def test_mtls_is_strict_when_the_catalog_says_nothing(tmp_path: Path) -> None:
    # Without mTLS Kuma would enforce no MeshTrafficPermission at all.
    mesh = find(objects(tmp_path, "mesh: {}\n"), "Mesh", "default")
    assert mesh.spec["mtls"]["backends"] == [{"name": "ca-1", "type": "builtin", "mode": "STRICT"}]


def test_mesh_trace_zipkin_with_sampling_in_percent(tmp_path: Path) -> None:
    body = "mesh:\n  tracing: {zipkin: {endpoint: 'http://zipkin.obs:9411/api/v2/spans', sampling: %s}}\n"
    trace = find(objects(tmp_path, body % "10"), "MeshTrace", "demo")
    assert trace.spec == {
        "targetRef": {"kind": "Mesh"},
        "default": {
            "backends": [
                {"type": "Zipkin", "zipkin": {"url": "http://zipkin.obs:9411/api/v2/spans", "apiVersion": "httpJson"}}
            ],
            "sampling": {"overall": 10},
        },
    }
    # Kuma takes an integer or a decimal written as a string.
    assert find(objects(tmp_path, body % "12.5"), "MeshTrace", "demo").spec["default"]["sampling"] == {
        "overall": "12.5"
    }
    # every digit the catalog gave, never an exponent
    for given, written in (("12.3456789", "12.3456789"), ("0.00001", "0.00001"), ("99.99999999", "99.99999999")):
        spec = find(objects(tmp_path, body % given), "MeshTrace", "demo").spec
        assert spec["default"]["sampling"] == {"overall": written}


def test_mesh_metric_prometheus(tmp_path: Path) -> None:
    metric = find(
        objects(tmp_path, "mesh: {metrics: {prometheus: {port: 9901, path: /stats}}}\n"), "MeshMetric", "demo"
    )
    assert metric.spec == {
        "targetRef": {"kind": "Mesh"},
        "default": {"backends": [{"type": "Prometheus", "prometheus": {"port": 9901, "path": "/stats"}}]},
    }


def test_mesh_access_log_file_and_tcp_on_every_inbound(tmp_path: Path) -> None:
    log = find(
        objects(tmp_path, "mesh: {access_log: {file: /dev/stdout, tcp: 'logstash.obs:5000'}}\n"),
        "MeshAccessLog",
        "demo",
    )
    assert log.spec == {
        "targetRef": {"kind": "Mesh"},
        "rules": [
            {
                "default": {
                    "backends": [
                        {"type": "File", "file": {"path": "/dev/stdout"}},
                        {"type": "Tcp", "tcp": {"address": "logstash.obs:5000"}},
                    ]
                }
            }
        ],
    }


def test_mesh_wide_policies_are_only_rendered_when_configured(tmp_path: Path) -> None:
    assert kinds(objects(tmp_path, "mesh: {}\n")) == [("Mesh", "default")]


# --------------------------------------------------------------------------- permissions


def test_default_deny_has_no_allow_all_and_default_allow_has_one(tmp_path: Path) -> None:
    deny = objects(tmp_path, MESH + SHOP)
    assert not [o for o in deny if o.kind == "MeshTrafficPermission" and o.spec["targetRef"] == {"kind": "Mesh"}]
    allow = objects(tmp_path, MESH.replace("deny", "allow") + SHOP)
    assert find(allow, "MeshTrafficPermission", "demo").spec == {
        "targetRef": {"kind": "Mesh"},
        "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}],
    }


def test_permission_allows_kong_for_routed_services_and_each_allow_from_caller(tmp_path: Path) -> None:
    objs = objects(tmp_path, MESH + "  gateway_selector: {app.kubernetes.io/name: kong, tier: edge}\n" + SHOP)
    web = find(objs, "MeshTrafficPermission", "demo-web")
    assert web.spec == {
        "targetRef": {"kind": "Dataplane", "labels": {"app": "web"}},
        "from": [
            {
                "targetRef": {"kind": "MeshSubset", "tags": {"app.kubernetes.io/name": "kong", "tier": "edge"}},
                "default": {"action": "Allow"},
            }
        ],
    }
    audit = find(objs, "MeshTrafficPermission", "demo-audit")
    allow = {"action": "Allow"}
    assert audit.spec["from"] == [
        {"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "orders_shop_svc_8080"}}, "default": allow},
        {"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "payments_shop_svc_9090"}}, "default": allow},
    ]


def test_a_service_nothing_may_call_gets_no_permission(tmp_path: Path) -> None:
    objs = objects(tmp_path, MESH + SHOP + "  - {name: batch, url: 'http://batch.jobs.svc:80'}\n")
    assert ("MeshTrafficPermission", "demo-batch") not in kinds(objs)


# Who may reach whom, worked out the way Kuma 2.14 evaluates the MeshTrafficPermissions gatewayctl writes
# (pkg/plugins/policies/meshtrafficpermission: a policy applies to a proxy when its top-level targetRef
# selects it; a `from[]` entry applies to a caller whose certificate carries its tags; with mTLS on, a
# connection no Allow applies to is refused). gatewayctl writes no Deny, so "allowed" means "an Allow applies".
def allowed(objs: list[KumaObject], caller_tags: dict[str, str], target_labels: dict[str, str]) -> bool:
    actions = []
    for o in objs:
        if o.kind != "MeshTrafficPermission":
            continue
        top = o.spec["targetRef"]
        if top["kind"] == "Dataplane" and not top["labels"].items() <= target_labels.items():
            continue
        assert top["kind"] in ("Mesh", "Dataplane")
        for entry in o.spec["from"]:
            ref = entry["targetRef"]
            if ref["kind"] == "Mesh" or (ref["kind"] == "MeshSubset" and ref["tags"].items() <= caller_tags.items()):
                actions.append(entry["default"]["action"])
    assert "Deny" not in actions
    return "Allow" in actions


def reachability(loaded: LoadedCatalog) -> tuple[dict[tuple[str, str], bool], dict[tuple[str, str], bool]]:
    """(what the rendered permissions allow, what the catalog says) for every caller -> mesh service,
    Kong included, on Kubernetes: a pod's tags are its labels plus what Kuma adds (kuma.io/service, ...)."""
    catalog = loaded.catalog
    assert catalog.mesh is not None
    objs = build_kuma_objects(catalog)
    members = workloads(catalog)
    callers = {"kong": {**catalog.mesh.gateway_selector, "kuma.io/service": "kong-proxy_kong_svc_80"}}
    for w in members:
        callers[w.service.name] = {
            **w.selector,
            "kuma.io/service": w.kuma_service,
            "k8s.kuma.io/namespace": w.namespace or "",
        }
    rendered, intended = {}, {}
    everyone = catalog.mesh.default_action == "allow"
    for target in members:
        for caller, tags in callers.items():
            if caller == target.service.name:
                continue
            key = (caller, target.service.name)
            rendered[key] = allowed(objs, tags, target.selector)
            if caller == "kong":
                intended[key] = everyone or bool(target.service.routes)
            else:
                intended[key] = everyone or caller in target.settings.allow_from
    return rendered, intended


def test_default_deny_allows_exactly_the_catalog_edges(tmp_path: Path) -> None:
    rendered, intended = reachability(load(tmp_path, MESH + SHOP))
    assert rendered == intended
    assert rendered[("kong", "web")] and rendered[("web", "orders")] and rendered[("orders", "payments")]
    # Edges the catalog does not list are really denied.
    assert not rendered[("kong", "orders")]  # no routes: Kong has no business there
    assert not rendered[("web", "payments")]  # web may call orders, not what orders calls
    assert not rendered[("payments", "orders")]  # permissions are one-way
    assert not rendered[("audit", "web")]


def test_default_allow_allows_everything(tmp_path: Path) -> None:
    rendered, intended = reachability(load(tmp_path, MESH.replace("deny", "allow") + SHOP))
    assert rendered == intended and all(rendered.values())


def test_platform_example_permissions(example_env: None) -> None:
    rendered, intended = reachability(load_catalog(EXAMPLES / "platform.yaml"))
    assert rendered == intended
    allowed_edges = sorted(k for k, v in rendered.items() if v)
    assert allowed_edges == [
        ("kong", "backoffice"),
        ("kong", "orders"),
        ("kong", "partner-api"),
        ("kong", "products"),
        ("orders", "notifications"),
        ("orders", "payments"),
        ("orders", "products"),
        ("payments", "notifications"),
    ]
    assert "inventory" not in {t for _, t in rendered}  # mesh: null: Kong balances over its VMs itself


def test_a_caller_outside_the_mesh_gets_no_edge_and_a_warning(tmp_path: Path) -> None:
    body = MESH + SHOP + "  - {name: legacy, url: 'http://legacy.old.svc:80', mesh: null}\n"
    body = body.replace("allow_from: [orders, payments]", "allow_from: [orders, legacy]")
    loaded = load(tmp_path, body)
    assert any("'legacy' is not in the mesh" in d.message for d in loaded.warnings)
    audit = find(build_kuma_objects(loaded.catalog), "MeshTrafficPermission", "demo-audit")
    assert [e["targetRef"]["tags"] for e in audit.spec["from"]] == [{"kuma.io/service": "orders_shop_svc_8080"}]


# --------------------------------------------------------------------------- caller-side and inbound policies

RESILIENT = (
    MESH
    + """\
services:
  - name: api
    url: http://api.shop.svc.cluster.local:8080
    routes: [{name: api, paths: [/api]}]
    mesh:
      retries:
        attempts: 3
        on: [5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream]
        backoff: 25ms..1s
      timeouts: {connect: 2s, request: 15s, idle: 1h}
      circuit_breaker: {consecutive_5xx: 4, interval: 5s, base_ejection: 1m, max_ejection_percent: 25}
      health_check: {path: /healthz, interval: 5s, timeout: 1s, healthy_after: 2, unhealthy_after: 4}
      load_balancer: least-request
      rate_limit: {requests: 100, interval: 1s}
"""
)


def caller_side(objs: list[KumaObject], kind: str) -> dict[str, Any]:
    """The one `to[]` entry of a caller-side policy, checked for its shape on the way."""
    spec = find(objs, kind, "demo-api").spec
    assert spec["targetRef"] == {"kind": "Mesh"}  # every caller in the mesh, Kong's sidecar included
    (entry,) = spec["to"]
    assert entry["targetRef"] == {"kind": "MeshService", "name": "api_shop_svc_8080"}
    assert set(spec) == {"targetRef", "to"}
    return dict(entry["default"])


def test_mesh_retry(tmp_path: Path) -> None:
    assert caller_side(objects(tmp_path, RESILIENT), "MeshRetry") == {
        "http": {
            "numRetries": 3,
            "retryOn": ["5xx", "GatewayError", "Reset", "ConnectFailure", "Retriable4xx", "RefusedStream"],
            "backOff": {"baseInterval": "25ms", "maxInterval": "1s"},
        }
    }


def test_mesh_retry_for_grpc_and_tcp_services(tmp_path: Path) -> None:
    grpc = objects(
        tmp_path, RESILIENT.replace("http://api.shop", "grpc://api.shop").replace("paths: [/api]", "paths: [/api.Api/]")
    )
    assert caller_side(grpc, "MeshRetry") == {
        "grpc": {"numRetries": 3, "backOff": {"baseInterval": "25ms", "maxInterval": "1s"}}
    }
    tcp = objects(
        tmp_path,
        RESILIENT.replace("http://api.shop", "tcp://api.shop").replace("routes: [{name: api, paths: [/api]}]", ""),
    )
    assert caller_side(tcp, "MeshRetry") == {"tcp": {"maxConnectAttempt": 4}}  # the first attempt and 3 retries


def test_mesh_timeout(tmp_path: Path) -> None:
    assert caller_side(objects(tmp_path, RESILIENT), "MeshTimeout") == {
        "connectionTimeout": "2s",
        "idleTimeout": "1h",
        "http": {"requestTimeout": "15s"},
    }
    tcp = objects(
        tmp_path,
        RESILIENT.replace("http://api.shop", "tls://api.shop").replace("routes: [{name: api, paths: [/api]}]", ""),
    )
    assert caller_side(tcp, "MeshTimeout") == {"connectionTimeout": "2s", "idleTimeout": "1h"}


def test_mesh_circuit_breaker(tmp_path: Path) -> None:
    assert caller_side(objects(tmp_path, RESILIENT), "MeshCircuitBreaker") == {
        "outlierDetection": {
            "disabled": False,
            "interval": "5s",
            "baseEjectionTime": "1m",
            "maxEjectionPercent": 25,
            "detectors": {"totalFailures": {"consecutive": 4}},
        }
    }


def test_mesh_health_check(tmp_path: Path) -> None:
    assert caller_side(objects(tmp_path, RESILIENT), "MeshHealthCheck") == {
        "interval": "5s",
        "timeout": "1s",
        "unhealthyThreshold": 4,
        "healthyThreshold": 2,
        "http": {"path": "/healthz"},
    }


@pytest.mark.parametrize(
    ("catalog", "kuma"),
    [
        ("round-robin", "RoundRobin"),
        ("least-request", "LeastRequest"),
        ("ring-hash", "RingHash"),
        ("random", "Random"),
        ("maglev", "Maglev"),
    ],
)
def test_mesh_load_balancing_strategy(tmp_path: Path, catalog: str, kuma: str) -> None:
    objs = objects(tmp_path, RESILIENT.replace("least-request", catalog))
    assert caller_side(objs, "MeshLoadBalancingStrategy") == {"loadBalancer": {"type": kuma}}


def test_mesh_rate_limit_is_inbound_on_the_service_proxies(tmp_path: Path) -> None:
    limit = find(objects(tmp_path, RESILIENT), "MeshRateLimit", "demo-api")
    assert limit.spec == {
        "targetRef": {"kind": "Dataplane", "labels": {"app": "api"}},
        "rules": [
            {
                "default": {
                    "local": {"http": {"requestRate": {"num": 100, "interval": "1s"}, "onRateLimit": {"status": 429}}}
                }
            }
        ],
    }
    tcp = objects(
        tmp_path,
        RESILIENT.replace("http://api.shop", "tcp://api.shop").replace("routes: [{name: api, paths: [/api]}]", ""),
    )
    local = find(tcp, "MeshRateLimit", "demo-api").spec["rules"][0]["default"]["local"]
    assert local == {"tcp": {"connectionRate": {"num": 100, "interval": "1s"}}}


def test_a_service_without_mesh_settings_gets_only_its_permission(tmp_path: Path) -> None:
    objs = objects(tmp_path, MESH + SHOP)
    assert [k for k in kinds(objs) if k[1] == "demo-web"] == [("MeshTrafficPermission", "demo-web")]


def test_service_defaults_reach_every_mesh_service(tmp_path: Path) -> None:
    objs = objects(tmp_path, "defaults: {mesh: {timeouts: {request: 30s}}}\n" + MESH + SHOP)
    assert {o.name for o in objs if o.kind == "MeshTimeout"} == {
        "demo-web",
        "demo-orders",
        "demo-payments",
        "demo-audit",
    }


@pytest.mark.parametrize(
    ("text", "go"),
    [("250ms", "250ms"), ("5s", "5s"), ("90s", "90s"), ("2m", "2m"), ("1d", "24h"), ("1500ms", "1500ms")],
)
def test_durations_are_written_the_way_go_parses_them(text: str, go: str) -> None:
    from gatewayctl.catalog.units import parse_duration

    assert go_duration(parse_duration(text)) == go


# --------------------------------------------------------------------------- identity


def test_kubernetes_identity_comes_from_the_url_and_mesh_settings(tmp_path: Path) -> None:
    body = (
        MESH
        + """\
services:
  - {name: a, url: 'http://a.team-a.svc.cluster.local:8080'}
  - {name: b, url: 'http://backend-b.team-b:9000'}
  - {name: c, url: 'https://c.team-c.svc'}
  - {name: d, url: 'http://10.0.0.7:8080', mesh: {namespace: legacy, port: 8081, selector: {app: dee}}}
  - {name: e, upstream: {targets: ['10.0.0.8:80']}, mesh: {namespace: ops, port: 80}}
  - {name: f, upstream: {targets: ['10.0.0.9:80']}}
"""
    )
    found = {w.service.name: (w.kuma_service, w.selector, w.protocol) for w in workloads(load(tmp_path, body).catalog)}
    assert found == {
        "a": ("a_team-a_svc_8080", {"app": "a"}, "http"),
        "b": ("backend-b_team-b_svc_9000", {"app": "b"}, "http"),
        "c": ("c_team-c_svc_443", {"app": "c"}, "tcp"),  # TLS to the app itself: opaque to the mesh
        "d": ("d_legacy_svc_8081", {"app": "dee"}, "http"),
        "e": ("e_ops_svc_80", {"app": "e"}, "http"),
        # f is outside the mesh: Kong balances over its targets itself
    }


def test_universal_identity_is_the_catalog_name(tmp_path: Path) -> None:
    body = (
        MESH
        + "deployment: {platform: vm, vm: {kong_hosts: [10.0.0.5], kuma_cp: 10.0.0.6, observability_host: 10.0.0.7}}\n"
    )
    found = {w.service.name: w.kuma_service for w in workloads(load(tmp_path, body + SHOP).catalog)}
    assert found == {"web": "web", "orders": "orders", "payments": "payments", "audit": "audit"}


def test_a_mesh_service_on_kubernetes_needs_a_known_namespace(tmp_path: Path) -> None:
    with pytest.raises(CatalogInvalid) as exc:
        load(
            tmp_path, MESH + "services: [{name: a, url: 'http://a:8080'}, {name: b, url: 'http://b.example.com:80'}]\n"
        )
    messages = [(d.path, d.message) for d in exc.value.diagnostics]
    assert [p for p, m in messages if "namespace is unknown: set mesh.namespace" in m] == [
        "services[0].url",
        "services[1].url",
    ]


def test_names_are_rfc1123_short_and_stable() -> None:
    assert object_name("shop", "orders") == "shop-orders"
    long = object_name("a" * 40, "b" * 40)
    assert len(long) == 63 and RFC1123.match(long) and long == object_name("a" * 40, "b" * 40)
    assert long != object_name("a" * 40, "b" * 39 + "c")


# --------------------------------------------------------------------------- checks


def diagnostics(tmp_path: Path, body: str) -> list[tuple[str, str, str]]:
    try:
        found = load(tmp_path, body).warnings
    except CatalogInvalid as exc:
        found = exc.diagnostics
    return [(d.severity, d.path, d.message) for d in found]


def test_retry_conditions_kuma_does_not_have_are_errors(tmp_path: Path) -> None:
    body = RESILIENT.replace(
        "on: [5xx, gateway-error", "on: [5xx, retriable-status-codes, retriable-headers, gateway-error"
    )
    found = [(s, p) for s, p, m in diagnostics(tmp_path, body) if "Kuma's MeshRetry has no" in m]
    assert found == [("error", "services[0].mesh.retries.on[1]"), ("error", "services[0].mesh.retries.on[2]")]


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        ("interval: 1s}", "interval: 50ms}", "services[0].mesh.rate_limit.interval", "must be longer than 50ms"),
        ("timeouts: {connect: 2s", "timeouts: {connect: 0s", "services[0].mesh.timeouts.connect", "longer than 0s"),
        ("interval: 5s, timeout: 1s", "interval: 5s, timeout: 6s", "services[0].mesh.health_check.timeout", "interval"),
        ("interval: 5s, timeout: 1s", "interval: 0s, timeout: 0s", "services[0].mesh.health_check.interval", "0s"),
        ("base_ejection: 1m", "base_ejection: 0s", "services[0].mesh.circuit_breaker.base_ejection", "0s"),
        ("backoff: 25ms..1s", "backoff: 0s..1s", "services[0].mesh.retries.backoff", "longer than 0s"),
        ("name: shop\n", "name: shop\n  mtls: {rotation: 0s}\n", "mesh.mtls.rotation", "longer than 0s"),
    ],
)
def test_durations_kuma_rejects_are_errors(tmp_path: Path, old: str, new: str, path: str, message: str) -> None:
    assert old in RESILIENT
    found = diagnostics(tmp_path, RESILIENT.replace(old, new))
    assert [m for s, p, m in found if s == "error" and p == path and message in m], found


def test_unreachable_warning_only_for_mesh_services(tmp_path: Path) -> None:
    body = (
        MESH
        + SHOP
        + "  - {name: erp, upstream: {targets: ['10.0.0.1:80']}}\n  - {name: batch, url: 'http://b.jobs.svc:80'}\n"
    )
    warned = [p for s, p, m in diagnostics(tmp_path, body) if "nothing can reach this service" in m]
    assert warned == ["services[5].name"]  # batch; erp is outside the mesh, Kong balances over it


def test_a_mesh_name_kuma_deprecates_is_a_warning_at_the_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name starting with a digit is a DNS-1123 label but no DNS-1035 label: Kuma 2.14 takes such a Mesh,
    warning on every write of it that the name is deprecated, so validate warns and passes."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("format: 1\nname: demo\n" + MESH.replace("name: shop", "name: 1shop") + SHOP)
    assert main(["validate", str(catalog)]) == 0
    err = capsys.readouterr().err
    assert f"{catalog}:4:9: mesh.name: warning: Kuma 2.14 deprecates Mesh names that are not DNS-1035" in err, err
    assert "later Kuma versions are to refuse them" in err
    warned = [(s, m) for s, p, m in diagnostics(tmp_path, MESH + SHOP) if p == "mesh.name"]
    assert warned == []  # a name starting with a letter is fine
    disabled = MESH.replace("name: shop", "name: 1shop\n  enabled: false")
    assert [p for s, p, m in diagnostics(tmp_path, disabled + SHOP) if p == "mesh.name"] == []


# --------------------------------------------------------------------------- envelopes, labels, multi-zone


def test_envelopes(tmp_path: Path) -> None:
    objs = objects(tmp_path, RESILIENT)
    timeout = find(objs, "MeshTimeout", "demo-api")
    labels = {
        "app.kubernetes.io/managed-by": "gatewayctl",
        "gatewayctl.io/catalog": "demo",
        "kuma.io/mesh": "shop",
        "kuma.io/origin": "zone",
    }
    assert kubernetes_form(timeout, "kuma-system") == {
        "apiVersion": "kuma.io/v1alpha1",
        "kind": "MeshTimeout",
        "metadata": {"name": "demo-api", "namespace": "kuma-system", "labels": labels},
        "spec": timeout.spec,
    }
    assert universal_form(timeout) == {
        "type": "MeshTimeout",
        "name": "demo-api",
        "mesh": "shop",
        "labels": labels,
        "spec": timeout.spec,
    }
    mesh = find(objs, "Mesh", "shop")
    owner = {"app.kubernetes.io/managed-by": "gatewayctl", "gatewayctl.io/catalog": "demo"}
    # The Mesh is cluster-scoped on Kubernetes and proto-based: its fields sit at the top level in Universal.
    assert kubernetes_form(mesh, "kuma-system")["metadata"] == {"name": "shop", "labels": owner}
    assert universal_form(mesh) == {"type": "Mesh", "name": "shop", "labels": owner, **mesh.spec}


def test_policies_go_to_the_configured_kuma_namespace(tmp_path: Path) -> None:
    loaded = load(tmp_path, "deployment: {namespaces: {kuma: mesh-system}}\n" + RESILIENT)
    files = render(loaded, ["kuma"], loaded.secrets({}))
    namespaces = {yaml.safe_load(f.content)["metadata"].get("namespace") for f in files if "/kubernetes/" in f.path}
    assert namespaces == {"mesh-system", None}  # None: the cluster-scoped Mesh


def test_global_control_plane_policies_carry_no_zone_origin(tmp_path: Path) -> None:
    zone = objects(tmp_path, "deployment: {kuma: {mode: zone, zone: eu-1}}\n" + RESILIENT)
    glob = objects(tmp_path, "deployment: {kuma: {mode: global}}\n" + RESILIENT)
    assert kinds(zone) == kinds(glob)
    for z, g in zip(zone, glob, strict=True):
        assert z.spec == g.spec
        assert "kuma.io/origin" not in g.labels
        assert z.labels.get("kuma.io/origin") == (None if z.kind == "Mesh" else "zone")


def test_both_forms_hold_the_same_objects_with_the_same_spec(tmp_path: Path, example_env: None) -> None:
    for catalog in sorted(EXAMPLES.glob("*.yaml")):
        loaded = load_catalog(catalog)
        files = render(loaded, ["kuma"], loaded.secrets())
        k8s = {
            f.path.removeprefix("kuma/kubernetes/"): yaml.safe_load(f.content)
            for f in files
            if "/kubernetes/" in f.path
        }
        uni = {
            f.path.removeprefix("kuma/universal/"): yaml.safe_load(f.content) for f in files if "/universal/" in f.path
        }
        assert len(files) == len(k8s) + len(uni)
        assert k8s.keys() == uni.keys(), catalog.name
        for name, k in k8s.items():
            u = uni[name]
            assert (k["kind"], k["metadata"]["name"]) == (u["type"], u["name"])
            assert name == f"{k['kind'].lower()}-{k['metadata']['name']}.yaml"
            assert RFC1123.match(u["name"]) and len(u["name"]) <= 63
            # The Mesh is proto-based: in Universal its spec fields sit at the top level.
            u_spec = u["spec"] if "spec" in u else {x: y for x, y in u.items() if x not in ("type", "name", "labels")}
            assert k["spec"] == u_spec, name
            assert k["metadata"]["labels"] == u["labels"]
            if u["type"] != "Mesh":
                assert u["mesh"] == k["metadata"]["labels"]["kuma.io/mesh"]


# --------------------------------------------------------------------------- files and the CLI


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for line in (EXAMPLES / "example.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            monkeypatch.setenv(key, value)


def kuma_files(catalog: Path) -> dict[str, bytes]:
    loaded = load_catalog(catalog)
    return {f.path: f.content for f in render(loaded, ["kuma"], loaded.secrets())}


@pytest.mark.parametrize("example", sorted(p.stem for p in EXAMPLES.glob("*.yaml")))
def test_golden_output_of_the_examples(example: str, example_env: None) -> None:
    files = kuma_files(EXAMPLES / f"{example}.yaml")
    golden = GOLDEN / example
    if os.environ.get("UPDATE_GOLDEN") == "1":
        if (golden / "kuma").is_dir():
            for old in (golden / "kuma").rglob("*.yaml"):
                old.unlink()
        for path, content in files.items():
            (golden / path).parent.mkdir(parents=True, exist_ok=True)
            (golden / path).write_bytes(content)
    expected = {str(p.relative_to(golden)): p.read_bytes() for p in sorted(golden.glob("kuma/*/*.yaml"))}
    assert sorted(files) == sorted(expected), "run UPDATE_GOLDEN=1 pytest tests/test_render_kuma.py and review the diff"
    for path, content in files.items():
        assert content == expected[path], path


def test_every_example_with_a_mesh_renders_kuma() -> None:
    with_mesh = {p.stem for p in EXAMPLES.glob("*.yaml") if yaml.safe_load(p.read_text()).get("mesh")}
    assert with_mesh == {d.name for d in GOLDEN.iterdir() if (d / "kuma").is_dir()}
    assert with_mesh >= {"platform", "knowledge-base"}


def test_rendering_is_deterministic(example_env: None) -> None:
    assert kuma_files(EXAMPLES / "platform.yaml") == kuma_files(EXAMPLES / "platform.yaml")


def test_cli_writes_both_folders_and_removes_stale_policies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("format: 1\nname: demo\n" + RESILIENT)
    out = tmp_path / "out"
    assert main(["render", str(catalog), "--out", str(out), "--target", "kuma"]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml"))
    assert "kuma/kubernetes/meshratelimit-demo-api.yaml" in written
    assert "kuma/universal/meshratelimit-demo-api.yaml" in written
    assert len(written) == 2 * 8  # Mesh + 7 policies, in each form
    assert stat.S_IMODE((out / "kuma/universal/mesh-shop.yaml").stat().st_mode) == 0o644
    assert "kuma: 16 files" in capsys.readouterr().out
    catalog.write_text(catalog.read_text().replace("      rate_limit: {requests: 100, interval: 1s}\n", ""))
    assert main(["render", str(catalog), "--out", str(out), "--target", "kuma"]) == 0
    assert not (out / "kuma/kubernetes/meshratelimit-demo-api.yaml").exists()
    assert not (out / "kuma/universal/meshratelimit-demo-api.yaml").exists()


def test_a_secret_tracing_endpoint_is_resolved_and_the_files_are_private(tmp_path: Path) -> None:
    loaded = load(tmp_path, "mesh: {tracing: {zipkin: {endpoint: '${env:ZIPKIN_URL}'}}}\n")
    with pytest.raises(CatalogInvalid) as exc:
        render(loaded, ["kuma"], loaded.secrets({}))
    assert "ZIPKIN_URL is not set" in exc.value.diagnostics[0].message
    files = render(loaded, ["kuma"], loaded.secrets({"ZIPKIN_URL": "http://zipkin:9411/api/v2/spans"}))
    trace = next(f for f in files if f.path == "kuma/universal/meshtrace-demo.yaml")
    assert b"http://zipkin:9411/api/v2/spans" in trace.content and trace.mode == 0o600


# --------------------------------------------------------------------------- Kong and workloads in the mesh


def test_mesh_wiring_for_the_deployment(tmp_path: Path) -> None:
    loaded = load(
        tmp_path, MESH + "  gateway_selector: {app: kong-gw}\ndeployment: {namespaces: {kong: edge}}\n" + SHOP
    )
    wiring = mesh_wiring(loaded.catalog)
    assert wiring is not None
    assert wiring.namespace_labels == {
        "edge": {"kuma.io/sidecar-injection": "enabled", "kuma.io/mesh": "shop"},
        "shop": {"kuma.io/sidecar-injection": "enabled", "kuma.io/mesh": "shop"},
        "ops": {"kuma.io/sidecar-injection": "enabled", "kuma.io/mesh": "shop"},
    }
    assert wiring.kong_pod_annotations == {"kuma.io/gateway": "enabled"}
    assert wiring.kong_pod_labels == {"app": "kong-gw"}
    assert wiring.service_annotations["payments"] == {
        "ingress.kubernetes.io/service-upstream": "true",
        "9090.service.kuma.io/protocol": "http",
    }
    assert wiring.workload_labels["audit"] == {"app": "audit"}
    assert mesh_wiring(load(tmp_path, SHOP.replace("mesh: {allow_from: [web]}", "")).catalog) is None


def test_kong_upstreams_are_the_service_names_the_mesh_intercepts(example_env: None) -> None:
    # With the transparent proxy, Kong's sidecar intercepts connections to a Service's ClusterIP, which
    # Kong reaches through the url's Service DNS name. So Kong's services keep the catalog url's host.
    from gatewayctl.render.kong import build_kong_config

    loaded = load_catalog(EXAMPLES / "platform.yaml")
    kong = build_kong_config(loaded.catalog, loaded.secrets())
    hosts = {s["name"]: (s["host"], s["port"]) for s in kong["services"]}
    for w in workloads(loaded.catalog):
        assert hosts[w.service.name] == (f"{w.kubernetes_service}.{w.namespace}.svc.cluster.local", w.port)
