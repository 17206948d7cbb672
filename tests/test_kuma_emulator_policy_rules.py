"""The Kuma emulator refuses what each policy's Go validator in Kuma 2.14 refuses, with its 400 body: one case
per rule, each citing pkg/plugins/policies/<policy>/api/v1alpha1/validator.go (and the valid neighbour of
each value is accepted, so a case cannot pass by refusing everything)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from emulators.kuma import KumaState, running
from emulators.kuma_policy_rules import is_file_path, is_url

MESH = {"type": "Mesh", "name": "m1"}
TO_SERVICE = {"kind": "MeshService", "name": "api"}
DATAPLANE = {"kind": "Dataplane", "labels": {"app": "api"}}


def outbound(default: dict[str, Any]) -> dict[str, Any]:
    return {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": TO_SERVICE, "default": default}]}


def inbound(default: dict[str, Any]) -> dict[str, Any]:
    return {"targetRef": DATAPLANE, "rules": [{"default": default}]}


RATE = {"local": {"http": {"requestRate": {"num": 10, "interval": "1s"}, "onRateLimit": {"status": 429}}}}
BREAKER = {
    "outlierDetection": {
        "interval": "10s",
        "baseEjectionTime": "30s",
        "maxEjectionPercent": 20,
        "detectors": {"totalFailures": {"consecutive": 5}},
    }
}
CHECK = {"interval": "10s", "timeout": "2s", "unhealthyThreshold": 3, "healthyThreshold": 1, "http": {"path": "/"}}
TRACE = {
    "targetRef": {"kind": "Mesh"},
    "default": {
        "backends": [{"type": "Zipkin", "zipkin": {"url": "http://zipkin:9411/api/v2/spans"}}],
        "sampling": {"overall": 100},
    },
}
LOG = {"backends": [{"type": "File", "file": {"path": "/dev/stdout"}}, {"type": "Tcp", "tcp": {"address": "c:5170"}}]}

# (validator, kind, valid spec, edit that breaks it, [(field, reason)])
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], list[tuple[str, str]]]] = [
    (
        "meshretry validateTCP",
        "MeshRetry",
        outbound({"tcp": {"maxConnectAttempt": 4}}),
        {"to.0.default.tcp.maxConnectAttempt": 0},
        [("spec.to[0].default.conf.tcp.maxConnectAttempt", "must be greater than 0")],
    ),
    (
        "meshretry validateTCP (nil maxConnectAttempt)",
        "MeshRetry",
        outbound({"tcp": {"maxConnectAttempt": 4}}),
        {"to.0.default.tcp": {}},
        [("spec.to[0].default.conf.tcp", "must not be empty")],
    ),
    (
        "meshretry validateDefault",
        "MeshRetry",
        outbound({"http": {"numRetries": 3}}),
        {"to.0.default": {}},
        [("spec.to[0].default.conf", "at least one of the 'tcp', 'http', 'grpc' must be specified")],
    ),
    (
        "meshretry validateHTTP",
        "MeshRetry",
        outbound({"http": {"numRetries": 3}}),
        {"to.0.default.http": {}},
        [("spec.to[0].default.conf.http", "must not be empty")],
    ),
    (
        "meshretry validateBackOff",
        "MeshRetry",
        outbound({"grpc": {"numRetries": 3, "backOff": {"baseInterval": "25ms"}}}),
        {"to.0.default.grpc.backOff": {}},
        [("spec.to[0].default.conf.grpc.backOff", "must not be empty")],
    ),
    (
        "meshretry validateHTTPRetryOn",
        "MeshRetry",
        outbound({"http": {"retryOn": ["5xx", "GatewayError", "503"]}}),
        {"to.0.default.http.retryOn": ["5xx", "Timeout", "999"]},
        [
            ("spec.to[0].default.conf.http.retryOn[1]", "unknown item 'Timeout'"),
            ("spec.to[0].default.conf.http.retryOn[2]", "unknown item '999'"),
        ],
    ),
    (
        # validateGRPCRetryOn never sees it: GRPCRetryOn's kubebuilder Enum is in rest.yaml, whose schema
        # refuses the value first (unmarshaller.go)
        "meshretry GRPCRetryOn enum",
        "MeshRetry",
        outbound({"grpc": {"retryOn": ["Unavailable"]}}),
        {"to.0.default.grpc.retryOn": ["5xx"]},
        [
            (
                "spec.to[0].default.grpc.retryOn[0]",
                "in body should be one of [Canceled DeadlineExceeded Internal ResourceExhausted Unavailable]",
            )
        ],
    ),
    (
        "meshtimeout validateDefault (connectionTimeout)",
        "MeshTimeout",
        outbound({"connectionTimeout": "5s", "idleTimeout": "0s"}),
        {"to.0.default.connectionTimeout": "0s"},
        [("spec.to[0].default.connectionTimeout", "must be greater than zero when defined")],
    ),
    (
        "meshtimeout validateDefault (idleTimeout)",
        "MeshTimeout",
        outbound({"idleTimeout": "0s"}),
        {"to.0.default.idleTimeout": "-1s"},
        [("spec.to[0].default.idleTimeout", "must not be negative when defined")],
    ),
    (
        "meshtimeout validateDefault (nothing)",
        "MeshTimeout",
        outbound({"idleTimeout": "1h"}),
        {"to.0.default": {}},
        [("spec.to[0].default", "at least one timeout should be configured")],
    ),
    (
        "meshtimeout validateHttp",
        "MeshTimeout",
        outbound({"http": {"requestTimeout": "0s"}}),
        {"to.0.default.http": {}},
        [("spec.to[0].default.http", "at least one timeout in this section should be configured")],
    ),
    (
        "meshtimeout validateHttp (requestTimeout)",
        "MeshTimeout",
        outbound({"http": {"requestTimeout": "0s"}}),
        {"to.0.default.http.requestTimeout": "-5s"},
        [("spec.to[0].default.http.requestTimeout", "must not be negative when defined")],
    ),
    (
        "meshtimeout validate (sections)",
        "MeshTimeout",
        outbound({"idleTimeout": "1h"}),
        {"to": []},
        [("spec", "at least one of 'from', 'to' or 'rules' has to be defined")],
    ),
    (
        "meshcircuitbreaker validateOutlierDetection (interval)",
        "MeshCircuitBreaker",
        outbound(BREAKER),
        {"to.0.default.outlierDetection.interval": "0s"},
        [("spec.to[0].default.outlierDetection.interval", "must be greater than zero when defined")],
    ),
    (
        "meshcircuitbreaker validateOutlierDetection (baseEjectionTime)",
        "MeshCircuitBreaker",
        outbound(BREAKER),
        {"to.0.default.outlierDetection.baseEjectionTime": "0ms"},
        [("spec.to[0].default.outlierDetection.baseEjectionTime", "must be greater than zero when defined")],
    ),
    (
        "meshcircuitbreaker validateOutlierDetection (maxEjectionPercent)",
        "MeshCircuitBreaker",
        outbound(BREAKER),
        {"to.0.default.outlierDetection.maxEjectionPercent": 101},
        [("spec.to[0].default.outlierDetection.maxEjectionPercent", "must be in inclusive range [0, 100]")],
    ),
    (
        "meshcircuitbreaker validateDetectorTotalFailures",
        "MeshCircuitBreaker",
        outbound(BREAKER),
        {"to.0.default.outlierDetection.detectors.totalFailures.consecutive": 0},
        [("spec.to[0].default.outlierDetection.detectors.totalFailures.consecutive", "must be greater than 0")],
    ),
    (
        "meshcircuitbreaker validateDetectors",
        "MeshCircuitBreaker",
        outbound(BREAKER),
        {"to.0.default.outlierDetection.detectors": {}},
        [
            (
                "spec.to[0].default.outlierDetection.detectors",
                "must have at least one defined: totalFailures, gatewayFailures, localOriginFailures, successRate, "
                "failurePercentage",
            )
        ],
    ),
    (
        "meshcircuitbreaker validateDefault",
        "MeshCircuitBreaker",
        outbound(BREAKER),
        {"to.0.default": {}},
        [("spec.to[0].default", "at least one of: 'connectionLimits' or 'outlierDetection' should be configured")],
    ),
    (
        "meshcircuitbreaker validateConnectionLimits",
        "MeshCircuitBreaker",
        outbound({"connectionLimits": {"maxConnections": 5}}),
        {"to.0.default.connectionLimits.maxConnections": 0},
        [("spec.to[0].default.connectionLimits.maxConnections", "must be greater than 0")],
    ),
    (
        "meshhealthcheck validateDefault (interval, timeout)",
        "MeshHealthCheck",
        outbound(CHECK),
        {"to.0.default.interval": "0s", "to.0.default.timeout": "0s"},
        [
            ("spec.to[0].default.interval", "must be greater than zero when defined"),
            ("spec.to[0].default.timeout", "must be greater than zero when defined"),
        ],
    ),
    (
        "meshhealthcheck validateDefault (thresholds)",
        "MeshHealthCheck",
        outbound(CHECK),
        {"to.0.default.unhealthyThreshold": 0, "to.0.default.healthyThreshold": 0},
        [
            ("spec.to[0].default.unhealthyThreshold", "must be greater than zero when defined"),
            ("spec.to[0].default.healthyThreshold", "must be greater than zero when defined"),
        ],
    ),
    (
        "meshhealthcheck validateConfHttp",
        "MeshHealthCheck",
        outbound(CHECK),
        {"to.0.default.http.path": ""},
        [("spec.to[0].default.http.path", "must be defined")],
    ),
    (
        "meshhealthcheck validateConfHttpExpectedStatuses",
        "MeshHealthCheck",
        outbound({**CHECK, "http": {"path": "/", "expectedStatuses": [200]}}),
        {"to.0.default.http.expectedStatuses": [200, 600]},
        [("spec.to[0].default.http.expectedStatuses[1]", "must be in inclusive range [100, 599]")],
    ),
    (
        "meshhealthcheck validateDefault (protocol)",
        "MeshHealthCheck",
        outbound({"interval": "10s", "tcp": {}}),
        {"to.0.default": {"interval": "10s"}},
        [("spec.to[0].default", "must have at least one defined: http, tcp, grpc")],
    ),
    (
        "meshloadbalancingstrategy validateLeastRequest",
        "MeshLoadBalancingStrategy",
        outbound({"loadBalancer": {"type": "LeastRequest", "leastRequest": {"activeRequestBias": "1.5"}}}),
        {"to.0.default.loadBalancer.leastRequest.activeRequestBias": "-1"},
        [("spec.to[0].default.loadBalancer.leastRequest.activeRequestBias", "must be greater or equal then: 0")],
    ),
    (
        "meshloadbalancingstrategy validateHashPolicies",
        "MeshLoadBalancingStrategy",
        outbound({"hashPolicies": [{"type": "Header", "header": {"name": "x-user"}}]}),
        {"to.0.default.hashPolicies.0": {"type": "Header"}},
        [("spec.to[0].default.hashPolicies[0].header", "must be defined")],
    ),
    (
        "meshratelimit validateRate (num, interval)",
        "MeshRateLimit",
        inbound(RATE),
        {"rules.0.default.local.http.requestRate": {"num": 0, "interval": "50ms"}},
        [
            ("spec.rules[0].default.local.http.requestRate.num", "must be greater than 0"),
            ("spec.rules[0].default.local.http.requestRate.interval", "must be greater than: 50ms"),
        ],
    ),
    (
        "meshratelimit validateLocalTcp",
        "MeshRateLimit",
        inbound({"local": {"tcp": {"connectionRate": {"num": 5, "interval": "51ms"}}}}),
        {"rules.0.default.local.tcp": {}},
        [("spec.rules[0].default.local.tcp", "must have at least one defined: disabled, connectionRate")],
    ),
    (
        "meshratelimit validateLocalHttp (onRateLimit)",
        "MeshRateLimit",
        inbound(RATE),
        {"rules.0.default.local.http.onRateLimit.status": 0},
        [("spec.rules[0].default.local.http.onRateLimit.status", "must be greater than 0")],
    ),
    (
        "meshratelimit validateDefault",
        "MeshRateLimit",
        inbound(RATE),
        {"rules.0.default": {}},
        [("spec.rules[0].default.local", "must be defined")],
    ),
    (
        "meshratelimit validateRules (gateways in scope)",
        "MeshRateLimit",
        inbound(RATE),
        {"targetRef": {"kind": "Mesh"}},
        [("spec.rules", "must not be defined")],
    ),
    (
        "meshtrace validateBackend (zipkin url)",
        "MeshTrace",
        TRACE,
        {"default.backends.0.zipkin.url": "not a url"},
        [("spec.default.backends[0].zipkin.url", "must be a valid url")],
    ),
    (
        "meshtrace validateSampling",
        "MeshTrace",
        TRACE,
        {"default.sampling.overall": "100.5"},
        [("spec.default.sampling.overall", "must be between 0 and 100")],
    ),
    (
        # validateDefault's "must have zero or one backend defined" is never reached: rest.yaml's `maxItems: 1`
        # refuses a second backend first (unmarshaller.go)
        "meshtrace backends maxItems",
        "MeshTrace",
        TRACE,
        {"default.backends": [TRACE["default"]["backends"][0]] * 2},
        [("spec.default.backends", "in body should have at most 1 items")],
    ),
    (
        "meshmetric validateBackend (prometheus port)",
        "MeshMetric",
        {"targetRef": {"kind": "Mesh"}, "default": {"backends": [{"type": "Prometheus", "prometheus": {"port": 1}}]}},
        {"default.backends.0.prometheus.port": 65536},
        [("spec.default.backends.backend[0].port", "port must be a valid (1-65535)")],
    ),
    (
        "meshaccesslog validateBackend (file path)",
        "MeshAccessLog",
        {"targetRef": {"kind": "Mesh"}, "rules": [{"default": LOG}]},
        {"rules.0.default.backends.0.file.path": "logs/access.log"},
        [("spec.rules[0].default.backends[0].file.path", "file backend requires a valid path")],
    ),
    (
        "meshaccesslog validateBackend (tcp address)",
        "MeshAccessLog",
        {"targetRef": {"kind": "Mesh"}, "rules": [{"default": LOG}]},
        {"rules.0.default.backends.1.tcp.address": "collector"},
        [("spec.rules[0].default.backends[1].tcp.address", "tcp backend requires valid address")],
    ),
    (
        "meshaccesslog validateDefault",
        "MeshAccessLog",
        {"targetRef": {"kind": "Mesh"}, "rules": [{"default": LOG}]},
        {"rules.0.default": {}},
        [("spec.rules[0].default.backends", "must be defined")],
    ),
    (
        "meshtrafficpermission validateDefault",
        "MeshTrafficPermission",
        {"targetRef": DATAPLANE, "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}]},
        {"from.0.default": {}},
        [("spec.from[0].default.action", "must be defined")],
    ),
    (
        "meshtrafficpermission validate (sections)",
        "MeshTrafficPermission",
        {"targetRef": DATAPLANE, "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}]},
        {"from": []},
        [("spec", "at least one of 'from' or 'rules' has to be defined")],
    ),
]
PATHS = {
    "MeshRetry": "meshretries",
    "MeshTimeout": "meshtimeouts",
    "MeshCircuitBreaker": "meshcircuitbreakers",
    "MeshHealthCheck": "meshhealthchecks",
    "MeshLoadBalancingStrategy": "meshloadbalancingstrategies",
    "MeshRateLimit": "meshratelimits",
    "MeshTrace": "meshtraces",
    "MeshMetric": "meshmetrics",
    "MeshAccessLog": "meshaccesslogs",
    "MeshTrafficPermission": "meshtrafficpermissions",
}


def edited(spec: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """`spec` with each dotted path (list indexes as numbers) set to its value."""
    out = copy.deepcopy(spec)
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return out


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with running(KumaState()) as emulator, httpx.Client(base_url=emulator.url) as client:
        assert client.put("/meshes/m1", json=MESH).status_code == 201
        yield client


def put(http: httpx.Client, kind: str, spec: dict[str, Any]) -> httpx.Response:
    body = {"type": kind, "mesh": "m1", "name": "p", "spec": spec}
    return http.put(f"/meshes/m1/{PATHS[kind]}/p", json=body)


@pytest.mark.parametrize(("validator", "kind", "valid", "edits", "violations"), CASES, ids=[c[0] for c in CASES])
def test_a_policy_value_its_validator_refuses_is_a_400_naming_field_and_reason(
    http: httpx.Client,
    validator: str,
    kind: str,
    valid: dict[str, Any],
    edits: dict[str, Any],
    violations: list[tuple[str, str]],
) -> None:
    assert put(http, kind, valid).status_code in (200, 201), put(http, kind, valid).json()
    answer = put(http, kind, edited(valid, edits))
    assert answer.status_code == 400
    body = answer.json()
    assert (body["title"], body["detail"]) == ("Could not process a resource", "Resource is not valid")
    assert body["invalid_parameters"] == [{"field": f, "reason": r} for f, r in violations]


def test_the_circuit_breakers_rules_are_reported_under_from_as_its_validator_roots_them(http: httpx.Client) -> None:
    # meshcircuitbreaker validateRules: `path := validators.RootedAt("from").Index(idx)`
    spec = {"targetRef": DATAPLANE, "rules": [{"default": {}}]}
    body = put(http, "MeshCircuitBreaker", spec).json()
    reason = "at least one of: 'connectionLimits' or 'outlierDetection' should be configured"
    assert body["invalid_parameters"] == [{"field": "spec.from[0].default", "reason": reason}]


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("collector:5170", True),
        ("logs.example.com:5000", True),
        ("10.0.0.7:5170", True),
        ("[::1]:5170", True),
        ("http://zipkin.observability:9411/api/v2/spans", True),
        ("collector", False),  # no port, no dot: url.Parse sees a path
        ("0.0.0.0:5170", False),  # URLIP's first octet starts at 1
        ("abc", False),  # 3 characters or fewer
        ("a" * 40 + "!", False),  # and quickly: no exponential backtracking
    ],
)
def test_is_url_follows_govalidator(text: str, valid: bool) -> None:
    assert is_url(text) is valid


@pytest.mark.parametrize(
    ("text", "valid"), [("/dev/stdout", True), ("/var/log/a b.log", True), ("C:\\logs\\a.log", True), ("a.log", False)]
)
def test_is_file_path_follows_govalidator(text: str, valid: bool) -> None:
    assert is_file_path(text) is valid


ROUTE = {"kind": "MeshHTTPRoute", "name": "r"}
GATEWAY = {"kind": "MeshGateway", "name": "g"}
EXTERNAL = {"kind": "MeshExternalService", "name": "x"}


@pytest.mark.parametrize(
    ("kind", "spec", "taken", "field"),
    [
        # validateTop of meshaccesslog, meshcircuitbreaker, meshhealthcheck, meshloadbalancingstrategy: no route
        (
            "MeshAccessLog",
            {"targetRef": ROUTE, "to": [{"targetRef": {"kind": "Mesh"}, "default": LOG}]},
            False,
            "spec.targetRef.kind",
        ),
        (
            "MeshCircuitBreaker",
            {"targetRef": ROUTE, "to": [{"targetRef": {"kind": "Mesh"}, "default": BREAKER}]},
            False,
            "spec.targetRef.kind",
        ),
        (
            "MeshHealthCheck",
            {"targetRef": ROUTE, "to": [{"targetRef": {"kind": "Mesh"}, "default": CHECK}]},
            False,
            "spec.targetRef.kind",
        ),
        (
            "MeshLoadBalancingStrategy",
            {
                "targetRef": ROUTE,
                "to": [{"targetRef": {"kind": "Mesh"}, "default": {"loadBalancer": {"type": "Random"}}}],
            },
            False,
            "spec.targetRef.kind",
        ),
        (
            "MeshRetry",
            {"targetRef": ROUTE, "to": [{"targetRef": {"kind": "Mesh"}, "default": {"tcp": {"maxConnectAttempt": 1}}}]},
            True,
            "",
        ),
        # validateTo of meshcircuitbreaker and meshhealthcheck: no route; meshloadbalancingstrategy: no MES
        (
            "MeshCircuitBreaker",
            {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": ROUTE, "default": BREAKER}]},
            False,
            "spec.to[0].targetRef.kind",
        ),
        (
            "MeshHealthCheck",
            {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": ROUTE, "default": CHECK}]},
            False,
            "spec.to[0].targetRef.kind",
        ),
        (
            "MeshHealthCheck",
            {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": EXTERNAL, "default": CHECK}]},
            True,
            "",
        ),
        (
            "MeshLoadBalancingStrategy",
            {
                "targetRef": {"kind": "Mesh"},
                "to": [{"targetRef": EXTERNAL, "default": {"loadBalancer": {"type": "Random"}}}],
            },
            False,
            "spec.to[0].targetRef.kind",
        ),
        # validateTop of meshtrace and meshmetric for a system policy: MeshGateway too
        ("MeshTrace", {**TRACE, "targetRef": GATEWAY}, True, ""),
        (
            "MeshMetric",
            {"targetRef": GATEWAY, "default": {"backends": [{"type": "Prometheus", "prometheus": {"port": 5670}}]}},
            True,
            "",
        ),
    ],
)
def test_each_policy_takes_the_target_kinds_its_validator_lists(
    http: httpx.Client, kind: str, spec: dict[str, Any], taken: bool, field: str
) -> None:
    """pkg/plugins/policies/<policy>/api/v1alpha1/validator.go validateTop / validateTo (v2.14.3), a system
    policy (no kuma.io/policy-role label: model/resource.go PolicyRole): validators.go ValidateTargetRef's
    `value '<kind>' is not supported`."""
    answer = put(http, kind, spec)
    if taken:
        assert answer.status_code in (200, 201), answer.json()
    else:
        refused = spec["targetRef"] if field == "spec.targetRef.kind" else spec["to"][0]["targetRef"]
        assert answer.status_code == 400
        assert {"field": field, "reason": f"value '{refused['kind']}' is not supported"} in answer.json()[
            "invalid_parameters"
        ]
