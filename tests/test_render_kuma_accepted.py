"""Whatever the Kuma renderer writes, Kuma 2.14 takes: every Kuma object of every example catalog (each
environment), and of a catalog setting every mesh key at the edges `validate` lets through, for each mesh
protocol, is PUT to the Kuma emulator, which runs each policy's own Go validation (tests/emulators/
kuma_policy_rules.py). A renderer output that Kuma would refuse with a 400 fails here, not at apply time."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emulators.kuma import BY_NAME, KumaState, running

from gatewayctl.apply.kuma import OWNED_KINDS
from gatewayctl.apply.kuma_kubernetes import KINDS as KUBERNETES_KINDS
from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.secrets import SecretResolver
from gatewayctl.diagnostics import CatalogInvalid
from gatewayctl.render.kuma import KumaObject, build_kuma_objects, universal_form

EXAMPLES = Path(__file__).parents[1] / "examples"
EXAMPLE_CASES = [
    (catalog, environment)
    for catalog in sorted(EXAMPLES.glob("*.yaml"))
    for environment in [None, *load_catalog(catalog).catalog.environments]
    if load_catalog(catalog, environment).catalog.mesh_enabled
]

# Every mesh key, at the values nearest to what Kuma refuses that `validate` still accepts.
EDGES = """\
format: 1
name: edges
mesh:
  enabled: true
  mtls: {mode: permissive, rotation: 1ms}
  default_action: allow
  tracing: {zipkin: {endpoint: 'http://zipkin:9411/api/v2/spans', sampling: 0.5}}
  metrics: {prometheus: {port: 65535, path: /m}}
  access_log: {file: /dev/stdout, tcp: 'ab:1'}
services:
"""
SERVICE = """\
- name: {name}
  url: {scheme}://{name}.default.svc:8080
  mesh:
    allow_from: [{caller}]
    retries: {{attempts: 1, on: [5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream,
      http3-post-connect-failure], backoff: 1ms..1ms}}
    timeouts: {{connect: 1ms, request: 0s, idle: 0s}}
    circuit_breaker: {{consecutive_5xx: 1, interval: 1ms, base_ejection: 1ms, max_ejection_percent: 100}}
    rate_limit: {{requests: 1, interval: 51ms}}
    health_check: {{path: /, interval: 1ms, timeout: 1ms, healthy_after: 1, unhealthy_after: 1}}
    load_balancer: {balancer}
"""
PROTOCOLS = [("web", "http", "least-request"), ("rpc", "grpc", "ring-hash"), ("db", "tcp", "maglev")]


def edges_catalog(tmp_path: Path) -> Path:
    services = [
        SERVICE.format(name=name, scheme=scheme, caller=PROTOCOLS[i - 1][0], balancer=balancer)
        for i, (name, scheme, balancer) in enumerate(PROTOCOLS)
    ]
    path = tmp_path / "edges.yaml"
    path.write_text(EDGES + textwrap.indent("".join(services), "  "))
    return path


def refusals(objects: list[KumaObject]) -> Iterator[str]:
    """Each object PUT to a fresh Kuma emulator (the Mesh first, as the renderer orders them); every answer
    other than 200/201, with its invalid_parameters."""
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as http:
        for obj in objects:
            path = (
                f"/meshes/{obj.name}" if obj.mesh is None else f"/meshes/{obj.mesh}/{BY_NAME[obj.kind].path}/{obj.name}"
            )
            answer = http.put(path, json=universal_form(obj))
            if answer.status_code not in (200, 201):
                yield f"{obj.kind} {obj.name}: {answer.status_code} {answer.json().get('invalid_parameters')}"


@pytest.mark.parametrize(
    ("catalog", "environment"), EXAMPLE_CASES, ids=[f"{c.stem}-{e or 'base'}" for c, e in EXAMPLE_CASES]
)
def test_every_example_policy_is_taken_by_kuma(
    catalog: Path, environment: str | None, example_env: dict[str, str]
) -> None:
    loaded = load_catalog(catalog, environment)
    objects = build_kuma_objects(loaded.catalog, SecretResolver(catalog.parent, example_env))
    assert objects[0].kind == "Mesh"
    assert list(refusals(objects)) == []


def test_every_mesh_setting_at_its_edges_is_taken_by_kuma(tmp_path: Path) -> None:
    loaded = load_catalog(edges_catalog(tmp_path))
    objects = build_kuma_objects(loaded.catalog)
    kinds = {obj.kind for obj in objects}
    assert kinds == set(OWNED_KINDS) == set(KUBERNETES_KINDS)  # every kind gatewayctl renders, on both platforms
    assert list(refusals(objects)) == []


def test_the_check_itself_sees_a_policy_kuma_refuses(tmp_path: Path) -> None:
    # The same edges past what `validate` allows (a 50ms rate-limit interval): built without the checks,
    # the emulator refuses the policy, so the tests above would fail on such a renderer output.
    loaded = load_catalog(edges_catalog(tmp_path))
    web = loaded.catalog.services[0]
    assert web.mesh is not None and web.mesh.rate_limit is not None
    limit = web.mesh.rate_limit.model_copy(update={"interval": type(web.mesh.rate_limit.interval)(50, "50ms")})
    mesh = web.mesh.model_copy(update={"rate_limit": limit})
    services = [web.model_copy(update={"mesh": mesh}), *loaded.catalog.services[1:]]
    catalog = loaded.catalog.model_copy(update={"services": services})
    found = list(refusals(build_kuma_objects(catalog)))
    assert found == [
        "MeshRateLimit edges-web: 400 [{'field': 'spec.rules[0].default.local.http.requestRate.interval', "
        "'reason': 'must be greater than: 50ms'}]"
    ]


def upper_edges_catalog(tmp_path: Path, count: int) -> Path:
    """The edges catalog with every count at `count` (and the retries at their maximum)."""
    text = edges_catalog(tmp_path).read_text()
    for low, high in (
        ("consecutive_5xx: 1,", f"consecutive_5xx: {count},"),
        ("requests: 1,", f"requests: {count},"),
        ("healthy_after: 1, unhealthy_after: 1", f"healthy_after: {count}, unhealthy_after: {count}"),
        ("attempts: 1,", "attempts: 100,"),
    ):
        assert low in text
        text = text.replace(low, high)
    path = tmp_path / "upper.yaml"
    path.write_text(text)
    return path


def test_every_count_at_its_upper_edge_is_taken_by_kuma(tmp_path: Path) -> None:
    """The policies' counts are `format: int32` in their schemas, which Kuma 2.14.3's kube-openapi bounds
    (numberValidator) even where the Go field is a uint32 (MeshRateLimit num, MeshCircuitBreaker consecutive):
    `validate` lets through the int32 maximum, and Kuma takes it."""
    objects = build_kuma_objects(load_catalog(upper_edges_catalog(tmp_path, 2**31 - 1)).catalog)
    assert list(refusals(objects)) == []


def test_a_count_beyond_int32_is_refused_by_validate_not_by_kuma(tmp_path: Path) -> None:
    """Regression: `validate` took counts up to 2^32 - 1 (the uint32 Go fields) that Kuma's schema refuses."""
    with pytest.raises(CatalogInvalid) as refused:
        load_catalog(upper_edges_catalog(tmp_path, 2**31))
    paths = {d.path for d in refused.value.errors}
    for i in range(len(PROTOCOLS)):
        for key in ("rate_limit.requests", "circuit_breaker.consecutive_5xx", "health_check.healthy_after"):
            assert f"services[{i}].mesh.{key}" in paths
