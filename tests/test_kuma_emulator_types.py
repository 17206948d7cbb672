"""The Kuma emulator refuses a value of the wrong JSON type, or a duration Go cannot parse, as Kuma 2.14.3's
Universal PUT does (pkg/core/resources/model/rest/unmarshaller.go Unmarshal): first the policy's rest.yaml
schema through kube-openapi aa012df4f4af (pkg/validation/validate/type.go typeValidator, object_validator.go
`required`, validator.go numberValidator), 400 "Could not process a resource"; then encoding/json into the
policy's Go struct, where metav1.Duration's UnmarshalJSON returns time.ParseDuration's error (time/format.go),
400 "Bad Request". Each refused value's valid neighbour is accepted, so no case passes by refusing everything."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from emulators.kuma import KumaState, running
from emulators.kuma_schema import parse_duration_error

MESH = {"type": "Mesh", "name": "m1"}
PATHS = {
    "MeshRetry": "meshretries",
    "MeshTimeout": "meshtimeouts",
    "MeshCircuitBreaker": "meshcircuitbreakers",
    "MeshHealthCheck": "meshhealthchecks",
    "MeshRateLimit": "meshratelimits",
    "MeshTrace": "meshtraces",
    "MeshMetric": "meshmetrics",
    "MeshAccessLog": "meshaccesslogs",
    "MeshTrafficPermission": "meshtrafficpermissions",
    "MeshLoadBalancingStrategy": "meshloadbalancingstrategies",
}
SERVICE = {"kind": "MeshService", "name": "api"}


def outbound(default: dict[str, Any]) -> dict[str, Any]:
    return {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": SERVICE, "default": default}]}


def inbound(default: dict[str, Any]) -> dict[str, Any]:
    return {"targetRef": {"kind": "Dataplane", "labels": {"app": "api"}}, "rules": [{"default": default}]}


RETRY = outbound({"http": {"numRetries": 3, "backOff": {"baseInterval": "25ms", "maxInterval": "250ms"}}})
TIMEOUT = outbound({"connectionTimeout": "5s", "idleTimeout": "1h", "http": {"requestTimeout": "15s"}})
BREAKER = outbound(
    {
        "outlierDetection": {
            "disabled": False,
            "interval": "10s",
            "baseEjectionTime": "30s",
            "maxEjectionPercent": 20,
            "detectors": {"totalFailures": {"consecutive": 5}},
        }
    }
)
CHECK = outbound(
    {"interval": "10s", "timeout": "2s", "unhealthyThreshold": 3, "healthyThreshold": 1, "http": {"path": "/"}}
)
RATE = inbound({"local": {"http": {"requestRate": {"num": 10, "interval": "1s"}, "onRateLimit": {"status": 429}}}})
TRACE = {
    "targetRef": {"kind": "Mesh"},
    "default": {"backends": [{"type": "Zipkin", "zipkin": {"url": "http://zipkin:9411/api/v2/spans"}}]},
}
METRIC = {
    "targetRef": {"kind": "Mesh"},
    "default": {"backends": [{"type": "Prometheus", "prometheus": {"port": 5670}}]},
}
LOG = {"targetRef": {"kind": "Mesh"}, "rules": [{"default": {"backends": [{"type": "File", "file": {"path": "/l"}}]}}]}
PERMISSION = {
    "targetRef": {"kind": "Dataplane", "labels": {"app": "api"}},
    "from": [{"targetRef": {"kind": "MeshSubset", "tags": {"app": "kong"}}, "default": {"action": "Allow"}}],
}
BALANCER = outbound(
    {
        "loadBalancer": {
            "type": "RingHash",
            "ringHash": {"hashPolicies": [{"type": "Header", "header": {"name": "x-user"}, "terminal": True}]},
        }
    }
)
HEADERS = outbound(
    {"interval": "10s", "http": {"path": "/", "requestHeadersToAdd": {"add": [{"name": "x", "value": "1"}]}}}
)
MISSING = object()  # the field left out

# (kind, valid spec, dotted path to edit, the refused value, [(field, reason)])
SCHEMA_CASES: list[tuple[str, dict[str, Any], str, Any, list[tuple[str, str]]]] = [
    # a string, a boolean, an object, an array, null in an int32 field (type.go: strings, slices and null
    # reach the type check; other kinds fail the format check first, with no data type named)
    ("MeshRetry", RETRY, "to.0.default.http.numRetries", "3", [("numRetries", 'must be of type integer: "string"')]),
    ("MeshRetry", RETRY, "to.0.default.http.numRetries", True, [("numRetries", 'must be of type int32: ""')]),
    ("MeshRetry", RETRY, "to.0.default.http.numRetries", {"n": 1}, [("numRetries", 'must be of type int32: ""')]),
    ("MeshRetry", RETRY, "to.0.default.http.numRetries", [3], [("numRetries", 'must be of type integer: "array"')]),
    ("MeshRetry", RETRY, "to.0.default.http.numRetries", None, [("numRetries", 'must be of type integer: "null"')]),
    (
        "MeshCircuitBreaker",
        BREAKER,
        "to.0.default.outlierDetection.maxEjectionPercent",
        "20",
        [("maxEjectionPercent", 'must be of type integer: "string"')],
    ),
    (
        "MeshHealthCheck",
        CHECK,
        "to.0.default.healthyThreshold",
        False,
        [("healthyThreshold", 'must be of type int32: ""')],
    ),
    (
        "MeshRateLimit",
        RATE,
        "rules.0.default.local.http.requestRate.num",
        "10",
        [("num", 'must be of type integer: "string"')],
    ),
    (
        "MeshMetric",
        METRIC,
        "default.backends.0.prometheus.port",
        "5670",
        [("port", 'must be of type integer: "string"')],
    ),
    # durations are strings in the schema
    (
        "MeshTimeout",
        TIMEOUT,
        "to.0.default.connectionTimeout",
        5,
        [("connectionTimeout", 'must be of type string: "number"')],
    ),
    (
        "MeshCircuitBreaker",
        BREAKER,
        "to.0.default.outlierDetection.interval",
        {"seconds": 10},
        [("interval", 'must be of type string: "object"')],
    ),
    (
        "MeshRateLimit",
        RATE,
        "rules.0.default.local.http.requestRate.interval",
        True,
        [("interval", 'must be of type string: "boolean"')],
    ),
    # other strings, booleans, objects, arrays
    ("MeshHealthCheck", CHECK, "to.0.default.http.path", 200, [("path", 'must be of type string: "number"')]),
    ("MeshTrace", TRACE, "default.backends.0.zipkin.url", ["http://z"], [("url", 'must be of type string: "array"')]),
    ("MeshAccessLog", LOG, "rules.0.default.backends.0.file.path", 1, [("path", 'must be of type string: "number"')]),
    (
        "MeshCircuitBreaker",
        BREAKER,
        "to.0.default.outlierDetection.disabled",
        "false",
        [("disabled", 'must be of type boolean: "string"')],
    ),
    ("MeshTimeout", TIMEOUT, "to.0.default.http", "15s", [("http", 'must be of type object: "string"')]),
    ("MeshRetry", RETRY, "to.0.default", [], [("default", 'must be of type object: "array"')]),
    ("MeshRetry", RETRY, "to", {"targetRef": SERVICE}, [("to", 'must be of type array: "object"')]),
    ("MeshTrace", TRACE, "default.backends", {"type": "Zipkin"}, [("backends", 'must be of type array: "object"')]),
    ("MeshTrafficPermission", PERMISSION, "targetRef.labels.app", 1, [("app", 'must be of type string: "number"')]),
    (
        "MeshTrafficPermission",
        PERMISSION,
        "from.0.targetRef.tags",
        ["app"],
        [("tags", 'must be of type object: "array"')],
    ),
    ("MeshRetry", RETRY, "to.0.targetRef.name", 7, [("name", 'must be of type string: "number"')]),
    # the fields gatewayctl does not render are type-checked too (kuma_fields.SCALARS: every leaf of rest.yaml)
    (
        "MeshLoadBalancingStrategy",
        BALANCER,
        "to.0.default.loadBalancer.ringHash.hashPolicies.0.terminal",
        "yes",
        [("terminal", 'must be of type boolean: "string"')],
    ),
    (
        "MeshLoadBalancingStrategy",
        BALANCER,
        "to.0.default.loadBalancer.ringHash.hashPolicies.0.header.name",
        1,
        [("name", 'must be of type string: "number"')],
    ),
    (
        "MeshHealthCheck",
        HEADERS,
        "to.0.default.http.requestHeadersToAdd.add.0.name",
        False,
        [("name", 'must be of type string: "boolean"')],
    ),
    # required (object_validator.go) and minLength (string validator)
    ("MeshRetry", RETRY, "to.0.targetRef", MISSING, [("targetRef", "is required")]),
    ("MeshRetry", RETRY, "to.0.targetRef.kind", MISSING, [("kind", "is required")]),
    ("MeshRateLimit", RATE, "rules.0.default.local.http.requestRate.num", MISSING, [("num", "is required")]),
    ("MeshTrace", TRACE, "default.backends.0.zipkin.url", MISSING, [("url", "is required")]),
    ("MeshAccessLog", LOG, "rules.0.default.backends.0.file.path", "", [("path", "should be at least 1 chars long")]),
]


def edited(spec: dict[str, Any], dotted: str, value: Any) -> tuple[dict[str, Any], str]:
    """`spec` with the value at `dotted` replaced (MISSING: removed), and the field's `spec.` path."""
    out = copy.deepcopy(spec)
    parts = dotted.split(".")
    node: Any = out
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if value is MISSING:
        node.pop(last)
    else:
        node[int(last) if last.isdigit() else last] = value
    path = "spec" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)
    return out, path


def body(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "mesh": "m1", "name": "p", "spec": spec}


@pytest.fixture(scope="module")
def http() -> Any:
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as client:
        client.put("/meshes/m1", json=MESH)
        yield client


@pytest.mark.parametrize(
    ("kind", "spec", "dotted", "value", "expected"),
    SCHEMA_CASES,
    ids=[f"{c[0]}:{c[2]}={'missing' if c[3] is MISSING else repr(c[3])}" for c in SCHEMA_CASES],
)
def test_a_value_of_the_wrong_type_fails_the_policys_schema(
    http: httpx.Client, kind: str, spec: dict[str, Any], dotted: str, value: Any, expected: list[tuple[str, str]]
) -> None:
    url = f"/meshes/m1/{PATHS[kind]}/p"
    assert http.put(url, json=body(kind, spec)).status_code in (200, 201)  # the valid neighbour
    broken, path = edited(spec, dotted, value)
    answer = http.put(url, json=body(kind, broken))
    parent = path.rsplit(".", 1)[0]
    want = [
        {"field": f"{parent}.{leaf}" if not path.endswith(f".{leaf}") else path, "reason": f"in body {reason}"}
        for leaf, reason in expected
    ]
    assert (answer.status_code, answer.json()["title"], answer.json()["invalid_parameters"]) == (
        400,
        "Could not process a resource",
        want,
    )
    assert http.get(url).json()["spec"]["targetRef"] == spec["targetRef"]  # the valid one is kept


# (kind, valid spec, dotted path, value) -> time.ParseDuration's error
DURATION_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("MeshTimeout", TIMEOUT, "to.0.default.connectionTimeout", "5"),
    ("MeshTimeout", TIMEOUT, "to.0.default.http.requestTimeout", "1d"),
    ("MeshRetry", RETRY, "to.0.default.http.backOff.baseInterval", "fast"),
    ("MeshCircuitBreaker", BREAKER, "to.0.default.outlierDetection.baseEjectionTime", ""),
    ("MeshHealthCheck", CHECK, "to.0.default.interval", "10 s"),
    ("MeshRateLimit", RATE, "rules.0.default.local.http.requestRate.interval", "1sec"),
    (
        "MeshLoadBalancingStrategy",
        outbound({"hashPolicies": [{"type": "Cookie", "cookie": {"name": "session", "ttl": "1h"}}]}),
        "to.0.default.hashPolicies.0.cookie.ttl",
        "1d",
    ),
]


@pytest.mark.parametrize(("kind", "spec", "dotted", "value"), DURATION_CASES)
def test_a_duration_go_cannot_parse_is_refused_when_decoding(
    http: httpx.Client, kind: str, spec: dict[str, Any], dotted: str, value: str
) -> None:
    """unmarshaller.go: InvalidResourceError `invalid <Kind> object: %q` of json.Unmarshal's error, which is
    metav1.Duration.UnmarshalJSON's time.ParseDuration error as it is (encoding/json adds no context to an
    Unmarshaler's error); error_handler.go answers it 400 "Bad Request"."""
    url = f"/meshes/m1/{PATHS[kind]}/d"
    broken, _ = edited(spec, dotted, value)
    answer = http.put(url, json={**body(kind, broken), "name": "d"})
    reason = parse_duration_error(value)
    assert reason is not None
    detail = f"invalid {kind} object: " + '"' + reason.replace('"', '\\"') + '"'
    assert (answer.status_code, answer.json()) == (
        400,
        {"type": "/std-errors", "status": 400, "title": "Bad Request", "detail": detail, "details": detail},
    )
    assert http.put(url, json={**body(kind, spec), "name": "d"}).status_code in (200, 201)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("5", 'time: missing unit in duration "5"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("abc", 'time: invalid duration "abc"'),
        ("", 'time: invalid duration ""'),
        (".", 'time: invalid duration "."'),
        ("1s2", 'time: missing unit in duration "1s2"'),
        ("µs", 'time: invalid duration "\\xc2\\xb5s"'),
        ("0", None),
        ("-1.5h", None),
        (".5s", None),
        ("1h2m3s4ms5us6ns", None),
        ("2µs", None),
    ],
)
def test_durations_parse_as_gos_time_package_does(text: str, error: str | None) -> None:
    """time/format.go ParseDuration and quote (the time package's own quoting, non-ASCII bytes as \\x..)."""
    assert parse_duration_error(text) == error


def test_a_bad_duration_stops_the_decoding_before_a_number_the_go_field_cannot_hold() -> None:
    """encoding/json keeps an UnmarshalTypeError (saveError) and goes on, but returns an Unmarshaler's error
    at once: a bad duration anywhere wins over a negative uint32 before it in key order."""
    spec = outbound({"http": {"numRetries": -1, "perTryTimeout": "1x"}})
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as client:
        client.put("/meshes/m1", json=MESH)
        answer = client.put("/meshes/m1/meshretries/p", json=body("MeshRetry", spec)).json()
        assert answer["detail"] == 'invalid MeshRetry object: "time: unknown unit \\"x\\" in duration \\"1x\\""'
        spec["to"][0]["default"]["http"]["perTryTimeout"] = "1s"
        answer = client.put("/meshes/m1/meshretries/p", json=body("MeshRetry", spec)).json()
        assert answer["detail"].startswith('invalid MeshRetry object: "json: cannot unmarshal number -1 into Go')


@pytest.mark.parametrize(
    ("value", "status", "answer"),
    [
        (80, 201, None),
        ("80.5", 201, None),
        (None, 201, None),
        (
            True,
            400,
            [
                ("", '"spec.default.sampling.overall" must validate at least one schema (anyOf)'),
                ("spec.default.sampling.overall", 'in body must be of type integer: "boolean"'),
            ],
        ),
        (
            50.5,
            400,
            [
                ("", '"spec.default.sampling.overall" must validate at least one schema (anyOf)'),
                ("spec.default.sampling.overall", 'in body must be of type integer: "number"'),
            ],
        ),
        (
            {"percent": 5},
            400,
            [
                ("", '"spec.default.sampling.overall" must validate at least one schema (anyOf)'),
                ("spec.default.sampling.overall", 'in body must be of type integer: "object"'),
            ],
        ),
        (3000000000, 400, "json: cannot unmarshal number 3000000000 into Go value of type int32"),
        (150, 400, [("spec.default.sampling.overall", "must be between 0 and 100")]),
    ],
)
def test_an_int_or_string_field_takes_an_integer_or_a_string(value: Any, status: int, answer: Any) -> None:
    """MeshTrace's sampling percentages are *intstr.IntOrString: `anyOf: [{type: integer}, {type: string}]`
    in rest.yaml, no type of their own. Anything else fails both branches: kube-openapi schema_props.go's
    `"<path>" must validate at least one schema (anyOf)` (a quoted path: toValidationError files it under
    field ""), then the first branch's type error. An integral number the schema lets through goes into
    IntOrString's int32 with json.Unmarshal (intstr.go UnmarshalJSON), whose error stops the decoding: 400
    "Bad Request". Null passes (kube-openapi runs only the type and enum checks on nil); the percentage's
    range is the Go validator's (meshtrace validator.go validateSampling)."""
    spec = copy.deepcopy(TRACE)
    spec["default"]["sampling"] = {"overall": value}
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as client:
        client.put("/meshes/m1", json=MESH)
        reply = client.put("/meshes/m1/meshtraces/p", json=body("MeshTrace", spec))
        assert reply.status_code == status
        if isinstance(answer, str):
            detail = f"invalid MeshTrace object: {json.dumps(answer)}"
            assert (reply.json()["title"], reply.json()["detail"]) == ("Bad Request", detail)
        elif answer is not None:
            got = [(p["field"], p["reason"]) for p in reply.json()["invalid_parameters"]]
            assert got == answer
        else:
            assert client.get("/meshes/m1/meshtraces/p").json()["spec"]["default"]["sampling"] == (
                {} if value is None else {"overall": value}
            )


def test_labels_and_spec_of_the_wrong_type_are_the_schemas_errors() -> None:
    """The rest.yaml envelope: `spec` an object, `labels` an object of strings; a label's error has no `spec.`
    path, so toValidationError files it under field ""."""
    with running(KumaState()) as kuma, httpx.Client(base_url=kuma.url) as client:
        client.put("/meshes/m1", json=MESH)
        answer = client.put("/meshes/m1/meshretries/p", json={**body("MeshRetry", RETRY), "labels": {"team": 1}})
        assert answer.json()["invalid_parameters"] == [
            {"field": "", "reason": 'labels.team in body must be of type string: "number"'}
        ]
        answer = client.put("/meshes/m1/meshretries/p", json={**body("MeshRetry", RETRY), "spec": "x"})
        assert answer.json()["invalid_parameters"] == [
            {"field": "spec", "reason": 'in body must be of type object: "string"'}
        ]


@pytest.mark.parametrize(
    ("mesh", "error"),
    [
        ({"mtls": "on"}, "json: cannot unmarshal string into Go value of type map[string]json.RawMessage"),
        ({"mtls": {"enabledBackend": 1}}, "json: cannot unmarshal number into Go value of type string"),
        (
            {"mtls": {"backends": {"name": "ca-1"}}},
            "json: cannot unmarshal object into Go value of type []json.RawMessage",
        ),
        (
            {"mtls": {"backends": [{"name": "ca-1", "type": "builtin", "mode": "strict"}]}},
            'unknown value "\\"strict\\"" for enum kuma.mesh.v1alpha1.CertificateAuthorityBackend.Mode',
        ),
        (
            {"mtls": {"backends": [{"name": "ca-1", "type": "builtin", "mode": True}]}},
            "json: cannot unmarshal bool into Go value of type protoreflect.EnumNumber",
        ),
        (
            {
                "mtls": {
                    "backends": [{"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": 86400}}}]
                }
            },
            "json: cannot unmarshal number into Go value of type string",
        ),
        (
            {"mtls": {"backends": [{"name": "ca-1", "type": "builtin", "dpCert": {"requestTimeout": "1d"}}]}},
            'bad Duration: time: unknown unit "d" in duration "1d"',
        ),
        ({"mtls": {"skipValidation": "yes"}}, "json: cannot unmarshal string into Go value of type bool"),
        # the other sections, message by message (mesh.proto, metrics.proto)
        ({"routing": {"zoneEgress": "yes"}}, "json: cannot unmarshal string into Go value of type bool"),
        (
            {"networking": {"outbound": {"passthrough": "true"}}},
            "json: cannot unmarshal string into Go value of type bool",
        ),
        (
            {"constraints": {"dataplaneProxy": {"requirements": [{"tags": {"team": 1}}]}}},
            "json: cannot unmarshal number into Go value of type string",
        ),
        (
            {"metrics": {"backends": [{"name": "prom", "type": 1}]}},
            "json: cannot unmarshal number into Go value of type string",
        ),
        ({"logging": {"defaultBackend": ["file"]}}, "json: cannot unmarshal array into Go value of type string"),
        # a DoubleValue: quotes trimmed, then json.Unmarshal into a float64
        (
            {"tracing": {"backends": [{"name": "z", "sampling": True}]}},
            "json: cannot unmarshal bool into Go value of type float64",
        ),
        (
            {"tracing": {"backends": [{"name": "z", "sampling": "high"}]}},
            "invalid character 'h' looking for beginning of value",
        ),
        ({"tracing": {"backends": [{"name": "z", "sampling": "5%"}]}}, "invalid character '%' after top-level value"),
        ({"skipCreatingInitialPolicies": "*"}, "json: cannot unmarshal string into Go value of type []json.RawMessage"),
        (
            {"labels": {"team": 7}},
            "json: cannot unmarshal number into Go struct field ResourceMeta.labels of type string",
        ),
    ],
)
def test_a_mesh_field_of_the_wrong_type_fails_its_protobuf_decoding(
    http: httpx.Client, mesh: dict[str, Any], error: str
) -> None:
    """The Mesh has no schema: pkg/core/resources/model/rest/unversioned/resource.go UnmarshalJSON decodes its
    meta with encoding/json, then its fields with jsonpb (pkg/util/proto FromJSON: golang/protobuf v1.5
    jsonpb/decode.go, unknown fields allowed, the first error returned); unmarshaller.go answers 400 "Bad
    Request" `invalid Mesh object: %q`. The valid form of each is taken."""
    answer = http.put("/meshes/m2", json={"type": "Mesh", "name": "m2", **mesh})
    detail = "invalid Mesh object: " + '"' + error.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert (answer.status_code, answer.json()["title"], answer.json()["detail"]) == (400, "Bad Request", detail)
    valid = {
        "type": "Mesh",
        "name": "m2",
        "mtls": {
            "enabledBackend": "ca-1",
            "skipValidation": False,
            "backends": [
                {
                    "name": "ca-1",
                    "type": "builtin",
                    "mode": "PERMISSIVE",
                    "dpCert": {"rotation": {"expiration": "1d"}, "requestTimeout": "5s"},
                }
            ],
        },
        "skipCreatingInitialPolicies": ["*"],
        "labels": {"team": "7"},
    }
    assert http.put("/meshes/m2", json=valid).status_code in (200, 201)


def test_only_duration_fields_come_back_as_go_prints_them(http: httpx.Client) -> None:
    """The policy is stored as its Go struct and marshalled back: a `*k8s.Duration` (metav1.Duration) prints
    time.Duration.String() (`1h` -> `1h0m0s`, `-5s` stays `-5s`: meshretry's validator leaves perTryTimeout
    alone), any other string stays as it was sent (a label value that looks like a duration included)."""
    retry = outbound({"http": {"perTryTimeout": "-5s", "backOff": {"baseInterval": "1h", "maxInterval": "1.5s"}}})
    assert http.put("/meshes/m1/meshretries/r", json={**body("MeshRetry", retry), "name": "r"}).status_code in (
        200,
        201,
    )
    conf = http.get("/meshes/m1/meshretries/r").json()["spec"]["to"][0]["default"]["http"]
    assert conf == {"perTryTimeout": "-5s", "backOff": {"baseInterval": "1h0m0s", "maxInterval": "1.5s"}}
    permission = {**PERMISSION, "targetRef": {"kind": "Dataplane", "labels": {"window": "1h"}}}
    put = http.put(
        "/meshes/m1/meshtrafficpermissions/r", json={**body("MeshTrafficPermission", permission), "name": "r"}
    )
    assert put.status_code in (200, 201)
    got = http.get("/meshes/m1/meshtrafficpermissions/r").json()["spec"]["targetRef"]["labels"]
    assert got == {"window": "1h"}
    # a cookie hash policy's ttl is a *k8s.Duration too, at each of its three places (meshloadbalancingstrategy.go)
    cookie = {"type": "Cookie", "cookie": {"name": "session", "ttl": "90s"}}
    balancer = outbound(
        {"hashPolicies": [cookie], "loadBalancer": {"type": "Maglev", "maglev": {"hashPolicies": [cookie]}}}
    )
    url = "/meshes/m1/meshloadbalancingstrategies/r"
    assert http.put(url, json={**body("MeshLoadBalancingStrategy", balancer), "name": "r"}).status_code in (200, 201)
    default = http.get(url).json()["spec"]["to"][0]["default"]
    assert default["hashPolicies"][0]["cookie"]["ttl"] == "1m30s"
    assert default["loadBalancer"]["maglev"]["hashPolicies"][0]["cookie"]["ttl"] == "1m30s"


@pytest.mark.parametrize(
    ("kind", "spec", "dotted", "value", "allowed"),
    [
        ("MeshRetry", RETRY, "targetRef.proxyTypes", ["Sidecar", "Ingress"], "Sidecar Gateway"),
        (
            "MeshLoadBalancingStrategy",
            BALANCER,
            "to.0.default.loadBalancer.ringHash.hashFunction",
            "SHA1",
            "XXHash MurmurHash2",
        ),
        (
            "MeshAccessLog",
            LOG,
            "rules.0.default.backends.0.file.format",
            {"type": "Text", "plain": "%START_TIME%"},
            "Plain Json",
        ),
        (
            "MeshMetric",
            METRIC,
            "default.backends.0.prometheus.tls",
            {"mode": "Strict"},
            "Disabled ProvidedTLS ActiveMTLSBackend",
        ),
        ("MeshTrace", TRACE, "default.backends.0.zipkin.apiVersion", "httpXml", "httpJson httpProto"),
    ],
)
def test_every_enum_of_the_schema_is_checked(
    http: httpx.Client, kind: str, spec: dict[str, Any], dotted: str, value: Any, allowed: str
) -> None:
    """kuma_fields.ENUMS: each `enum` of the policy's rest.yaml, not only those of the fields gatewayctl
    renders; kube-openapi's `in body should be one of [...]` at the value's path."""
    url = f"/meshes/m1/{PATHS[kind]}/p"
    broken, path = edited(spec, dotted, value)
    answer = http.put(url, json=body(kind, broken))
    leaf = {
        "targetRef.proxyTypes": f"{path}[1]",
        "rules.0.default.backends.0.file.format": f"{path}.type",
        "default.backends.0.prometheus.tls": f"{path}.mode",
    }.get(dotted, path)
    assert (answer.status_code, answer.json()["invalid_parameters"]) == (
        400,
        [{"field": leaf, "reason": f"in body should be one of [{allowed}]"}],
    )


HEADER_NAME = "^[a-z0-9!#$%&'*+\\-.^_\\x60|~]+$"  # rest.yaml's pattern on a header name (Go regexp syntax)


@pytest.mark.parametrize(
    ("dotted", "value", "field", "reason"),
    [
        ("add.0.name", "x" * 257, "add[0].name", "in body should be at most 256 chars long"),
        ("add.0.name", "X-Team", "add[0].name", f"in body should match '{HEADER_NAME}'"),
        ("add.0.name", "", "add[0].name", "in body should be at least 1 chars long"),
        ("add.0.value", MISSING, "add[0].value", "in body is required"),
        (
            "add",
            [{"name": f"x-{i}", "value": "1"} for i in range(17)],
            "add",
            "in body should have at most 16 items",
        ),
    ],
)
def test_every_constraint_of_the_schema_is_checked(
    http: httpx.Client, dotted: str, value: Any, field: str, reason: str
) -> None:
    """kuma_fields REQUIRED, MIN_LENGTH, MAX_LENGTH, PATTERN, MAX_ITEMS: each constraint of the policy's
    rest.yaml (here MeshHealthCheck's requestHeadersToAdd), in kube-openapi's words."""
    url = "/meshes/m1/meshhealthchecks/p"
    assert http.put(url, json=body("MeshHealthCheck", HEADERS)).status_code in (200, 201)
    broken, _ = edited(HEADERS, f"to.0.default.http.requestHeadersToAdd.{dotted}", value)
    answer = http.put(url, json=body("MeshHealthCheck", broken))
    assert (answer.status_code, answer.json()["invalid_parameters"]) == (
        400,
        [{"field": f"spec.to[0].default.http.requestHeadersToAdd.{field}", "reason": reason}],
    )


def test_a_mesh_takes_what_jsonpb_takes(http: httpx.Client) -> None:
    """jsonpb's lenient forms: a DoubleValue as a quoted number or "NaN", a null map value, a BoolValue."""
    mesh = {
        "type": "Mesh",
        "name": "m3",
        "tracing": {"backends": [{"name": "z", "sampling": "50"}, {"name": "y", "sampling": "NaN"}]},
        "constraints": {"dataplaneProxy": {"requirements": [{"tags": {"team": None}}]}},
        "networking": {"outbound": {"passthrough": False}},
    }
    assert http.put("/meshes/m3", json=mesh).status_code == 201
