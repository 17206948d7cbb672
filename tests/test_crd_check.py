"""The structural-schema validator in crd_check.py, and the trimmed CRDs under tests/crds/."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from crd_check import CRDS, Problem, UnknownKind, check_resource, is_custom_resource, known_crds, validate

# --------------------------------------------------------------------------- the validator, keyword by keyword


def messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def test_type_is_checked_and_a_bool_is_not_an_integer() -> None:
    assert messages(validate("3", {"type": "integer"}, ".n")) == [".n: must be of type integer, not string"]
    assert messages(validate(True, {"type": "integer"}, ".n")) == [".n: must be of type integer, not boolean"]
    assert validate(3, {"type": "integer"}) == [] and validate(2.5, {"type": "number"}) == []
    assert messages(validate(2.5, {"type": "integer"}, ".n")) == [".n: must be of type integer, not number"]


def test_required_properties_and_unknown_fields_carry_their_path() -> None:
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}
    assert messages(validate({"b": 1}, schema, ".spec")) == [".spec.a: is required", ".spec.b: unknown field"]


def test_additional_properties_schema_and_preserve_unknown_fields() -> None:
    labels = {"type": "object", "additionalProperties": {"type": "string"}}
    assert messages(validate({"x": 1}, labels, ".l")) == [".l.x: must be of type string, not integer"]
    assert validate({"anything": {"goes": 1}}, {"type": "object", "x-kubernetes-preserve-unknown-fields": True}) == []
    assert validate({"x": 1}, {"type": "object", "additionalProperties": True}) == []


def test_enum_and_pattern() -> None:
    assert messages(validate("allow", {"type": "string", "enum": ["Allow", "Deny"]}, ".a")) == [
        ".a: 'allow' is not one of 'Allow', 'Deny'"
    ]
    duration = {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"}
    assert validate("1m30s", duration) == []
    assert messages(validate("30 s", duration, ".d")) == [".d: '30 s' does not match '^([0-9]+(ms|s|m|h))+$'"]


def test_a_go_inline_flag_in_a_pattern_is_honoured() -> None:
    schema = {"type": "string", "pattern": "^(?i)(abort|warn)?$"}  # prometheus-operator's
    assert validate("ABORT", schema) == [] and validate("", schema) == []
    assert len(validate("retry", schema)) == 1


def test_items_lengths_and_bounds() -> None:
    schema = {"type": "array", "maxItems": 1, "items": {"type": "integer", "minimum": 0, "maximum": 10}}
    assert messages(validate([11, -1], schema, ".b")) == [
        ".b: must have at most 1 items",
        ".b[0]: 11 is more than the maximum 10",
        ".b[1]: -1 is less than the minimum 0",
    ]
    assert messages(validate("", {"type": "string", "minLength": 1}, ".p")) == [
        ".p: must be at least 1 characters long"
    ]


def test_int_or_string() -> None:
    schema = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert validate(10, schema) == [] and validate("10.5", schema) == []
    assert messages(validate(10.5, schema, ".s")) == [".s: must be an integer or a string, not number"]
    assert len(validate(True, schema)) == 1


def test_any_of_and_one_of() -> None:
    any_of = {"anyOf": [{"type": "string", "enum": ["STRICT"]}, {"type": "integer", "enum": [0, 1]}]}
    assert validate("STRICT", any_of) == [] and validate(1, any_of) == []
    [problem] = validate("strict", any_of, ".mode")
    assert problem.path == ".mode" and problem.message.startswith("matches none of anyOf")
    # Branches constrain declared fields (structural schemas): a field a branch does not list is no error.
    one_of = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
    }
    assert validate({"a": "x"}, one_of) == []
    assert messages(validate({"a": "x", "b": "y"}, one_of, ".o")) == [".o: must match exactly one of oneOf, matches 2"]
    assert messages(validate({}, one_of, ".o")) == [".o: must match exactly one of oneOf, matches 0"]


def test_null_only_where_nullable() -> None:
    assert messages(validate(None, {"type": "string"}, ".x")) == [".x: must not be null"]
    assert validate(None, {"type": "string", "nullable": True}) == []


def test_list_type_map_and_set_refuse_duplicates() -> None:
    groups = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
    }
    assert messages(validate([{"name": "a"}, {"name": "b"}, {"name": "a"}], groups, ".g")) == [
        ".g[2]: duplicate entry ('a',) in a list of type map"
    ]
    assert len(validate(["x", "x"], {"type": "array", "x-kubernetes-list-type": "set"})) == 1


# --------------------------------------------------------------------------- custom resources


def cr(kind: str, spec: dict[str, Any], api_version: str = "kuma.io/v1alpha1", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", **meta}, "spec": spec}


RETRY = cr(
    "MeshRetry",
    {
        "targetRef": {"kind": "Mesh"},
        "to": [
            {
                "targetRef": {"kind": "MeshService", "name": "orders_shop_svc_8080"},
                "default": {"http": {"numRetries": 3, "retryOn": ["5xx"], "backOff": {"baseInterval": "25ms"}}},
            }
        ],
    },
    namespace="kuma-system",
)


def test_a_good_custom_resource_passes() -> None:
    assert check_resource(RETRY) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["spec"]["to"][0]["default"]["http"].__setitem__("numRetries", "3"),
            ".spec.to[0].default.http.numRetries: must be of type integer, not string",
        ),
        (
            lambda d: d["spec"]["to"][0]["targetRef"].__setitem__("kind", "Service"),
            ".spec.to[0].targetRef.kind: 'Service' is not one of",
        ),
        (lambda d: d["spec"]["to"][0].pop("targetRef"), ".spec.to[0].targetRef: is required"),
        (
            lambda d: d["spec"]["to"][0]["default"]["http"]["backOff"].__setitem__("baseInterval", "25 ms"),
            ".spec.to[0].default.http.backOff.baseInterval: '25 ms' does not match",
        ),
        (lambda d: d["spec"].__setitem__("from", []), ".spec.from: unknown field"),
        (lambda d: d["metadata"].__setitem__("name", "Orders_Retry"), ".metadata.name: 'Orders_Retry' is not"),
        (lambda d: d["metadata"].pop("name"), ".metadata.name: is required"),
        (lambda d: d["metadata"].__setitem__("labels", {"n": 1}), ".metadata.labels: must map names to strings"),
    ],
)
def test_a_bad_custom_resource_is_rejected_with_its_path(change: Any, expected: str) -> None:
    doc = copy.deepcopy(RETRY)
    change(doc)
    assert any(m.startswith(expected) for m in messages(check_resource(doc))), messages(check_resource(doc))


def test_a_health_check_threshold_is_bounded_as_its_go_int32() -> None:
    """MeshHealthCheck healthyThreshold/unhealthyThreshold are *int32 (kumahq/kuma v2.14.3
    pkg/plugins/policies/meshhealthcheck/api/v1alpha1/meshhealthcheck.go), not uint32: 2^31 does not decode."""
    check = cr(
        "MeshHealthCheck",
        {
            "targetRef": {"kind": "Mesh"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": {"healthyThreshold": 2**31 - 1}}],
        },
        namespace="kuma-system",
    )
    assert check_resource(check) == []
    check["spec"]["to"][0]["default"]["unhealthyThreshold"] = 2**31
    assert messages(check_resource(check)) == [
        ".spec.to[0].default.unhealthyThreshold: 2147483648 is more than the maximum 2147483647"
    ]


def test_a_cluster_scoped_kind_takes_no_namespace() -> None:
    mesh = cr("Mesh", {"mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}})
    assert check_resource(mesh) == []
    mesh["metadata"]["namespace"] = "kuma-system"
    assert messages(check_resource(mesh)) == [".metadata.namespace: Mesh is cluster-scoped: it has no namespace"]
    mesh = cr("Mesh", {"mtls": {"backends": [{"name": "ca-1", "mode": "strict"}]}})
    assert [p.path for p in check_resource(mesh)] == [".spec.mtls.backends[0].mode"]


def test_prometheus_operator_kinds() -> None:
    monitor = cr(
        "ServiceMonitor",
        {"selector": {"matchLabels": {"app": "kong"}}, "endpoints": [{"port": "status", "interval": "15s"}]},
        api_version="monitoring.coreos.com/v1",
    )
    assert check_resource(monitor) == []
    monitor["spec"]["endpoints"][0].update(interval="15 seconds", scheme="ftp")
    assert sorted(p.path for p in check_resource(monitor)) == [
        ".spec.endpoints[0].interval",
        ".spec.endpoints[0].scheme",
    ]
    del monitor["spec"]["selector"]
    assert ".spec.selector: is required" in messages(check_resource(monitor))
    rule = {"name": "kong", "rules": [{"alert": "A", "expr": "up == 0", "for": "5m"}]}
    rules = cr("PrometheusRule", {"groups": [rule, rule]}, api_version="monitoring.coreos.com/v1")
    assert [p.path for p in check_resource(rules)] == [".spec.groups[1]"]
    del rules["spec"]["groups"][1]
    del rules["spec"]["groups"][0]["rules"][0]["expr"]
    assert messages(check_resource(rules)) == [".spec.groups[0].rules[0].expr: is required"]


def test_an_unknown_kind_is_refused_not_passed() -> None:
    with pytest.raises(UnknownKind):
        check_resource(cr("MeshFaultInjection", {}))
    assert is_custom_resource(cr("MeshFaultInjection", {}))  # a kuma.io kind: it must have a CRD here
    assert not is_custom_resource({"apiVersion": "apps/v1", "kind": "Deployment"})


# --------------------------------------------------------------------------- the trimmed CRD files

UPSTREAM = re.compile(r"^# Source: (kumahq/kuma v2\.14\.3|prometheus-operator v0\.93\.0), \S+", re.MULTILINE)


@pytest.mark.parametrize("path", sorted(CRDS.glob("*.yaml")), ids=lambda p: p.name)
def test_each_trimmed_crd_cites_its_upstream_source_and_is_well_formed(path: Path) -> None:
    text = path.read_text()
    assert UPSTREAM.search(text), f"{path.name}: the first comment must name the upstream file and version"
    [doc] = [d for d in yaml.safe_load_all(text) if d]
    spec = doc["spec"]
    assert doc["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
    assert path.name == f"{spec['group']}_{spec['names']['plural']}.yaml"
    for version in spec["versions"]:
        _structural(version["schema"]["openAPIV3Schema"], spec["names"]["kind"])


def _structural(schema: dict[str, Any], where: str) -> None:
    """Every node says its type (or is int-or-string / preserve-unknown / a pure anyOf of typed branches)."""
    typed = "type" in schema or schema.get("x-kubernetes-int-or-string") or "anyOf" in schema
    assert typed or schema.get("x-kubernetes-preserve-unknown-fields"), f"{where}: no type"
    for name, sub in schema.get("properties", {}).items():
        _structural(sub, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        _structural(schema["items"], f"{where}[]")


def test_every_kuma_kind_the_renderer_emits_has_a_crd() -> None:
    from gatewayctl.render import kuma

    source = Path(kuma.__file__).read_text()
    emitted = set(re.findall(r'"(Mesh[A-Za-z]*)"', source)) - {"MeshService", "MeshSubset"}  # targetRef kinds
    known = {kind for (_, kind) in known_crds()}
    assert emitted and emitted <= known, emitted - known
