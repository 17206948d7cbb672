"""A Kuma 2.14 control-plane API emulator (Universal) over real HTTP on 127.0.0.1: stateful, with the behaviour
gatewayctl relies on reproduced from kumahq/kuma v2.14.3 (pkg/api-server/resource_endpoints.go, pagination.go,
filters/filtering.go, index_endpoints.go, policies_endpoints.go, mappers/resource_type_description.go,
pkg/core/rest/errors/error_handler.go, pkg/core/resources/labels/compute.go, pkg/defaults/mesh/mesh.go,
pkg/core/managers/apis/mesh/mesh_validator.go, pkg/core/resources/model/rest/...):

- `GET /` (hostname, product, version, instanceId, clusterId, gui; no mode), `GET /config` (the whole config:
  mode, environment, both multizone sections with zone.name and, when federated, globalAddress,
  apiServer.readOnly), `GET /_resources` (WsPath, includeInFederation from GlobalToZones)
- `GET/PUT/DELETE /meshes/{name}`, `GET/PUT/DELETE /meshes/{mesh}/{path}/{name}`, lists at `/meshes`,
  `/meshes/{mesh}/{path}` and across meshes at `/{path}`, GlobalSecrets at `/globalsecrets` and
  `/global-secrets`; PUT answers 201 `{}` on create and 200 `{}` on update (`{"warnings": [...]}` for what
  the resource's Deprecations() names: `from`, top-level targetRef kinds replaced by Dataplane, a Mesh name
  that is no DNS-1035 label, ...); DELETE 200 `{}`, 404 when absent
- a PUT in the server's order: the Mesh of the URL (404), decoding (400 "Bad Request" for a body that is not
  JSON; a policy's schema: `type`/`name`/`spec` required, `type` the collection's, `mesh` defaulting to
  "default"; then its Go validator), validateResourceRequest (name/type/mesh of URL and body, the zone prefix
  room on a federated zone, labels with qualified keys, ValidateMeta's RFC 1123 name), then create or update
- lists: `size` (default 100, max 1000, Atoi, the first value), label filters (the last value), the Mesh,
  then the offset (Atoi, not negative); `next` as a full URL or null, `total`; `name` (substring) and
  `filter[labels.<key>]=<value>` (ANDed) filters
- labels the control plane computes: `kuma.io/mesh` on mesh-scoped objects; on a zone control plane, for types
  a zone provides (policies, Secrets and GlobalSecrets, not the Mesh), `kuma.io/origin: zone`, `kuma.io/zone:
  <zone>`, `kuma.io/env: universal`; `origin`/`zone`/`display-name` immutable on update; `creationTime`,
  `modificationTime` (as Go prints them), `kri` (types with a short name)
- the Mesh `default` exists from the start (with its default policies) unless `default_mesh=False` or
  federated; a new Mesh gets the default policies `mesh-timeout-all-<m>`, `mesh-circuit-breaker-all-<m>`,
  `mesh-retry-all-<m>`, `mesh-gateways-timeout-all-<m>` (unless `skipCreatingInitialPolicies: ["*"]`);
  deleting a Mesh deletes everything in it, and is refused while Dataplanes are attached
- the Mesh is protobuf: unknown fields are dropped at every depth (kuma_fields.py) and zero values
  (including the enum default `STRICT`) are left out when it is read back; policies are Go structs:
  durations come back as Go prints them (`1m` -> `1m0s`) and the CRD schema defaults are filled in
  (MeshTrace zipkin `sharedSpanContext`, ...)
- policy specs: unknown fields dropped silently at every depth (decoded into Go structs; kuma_fields.py lists the
  fields of the policies gatewayctl owns; other policies at the top level and in to[]/from[]/rules[] items), schema
  enums checked (every enum of those policies' schemas, kuma_fields.ENUMS; targetRef kinds for the others:
  `spec.<path>` "in body should be one of [...]"); the value types of the fields of the policies gatewayctl owns
  (kuma_schema.py: strings, durations, booleans, objects, arrays, maps, required fields, lengths, patterns, maxItems
  (kuma_fields.py); kube-openapi's wording; every other leaf of their schemas from kuma_fields.SCALARS, int-or-string
  fields as `anyOf` errors and IntOrString's int32 decoding); the integer fields (GO_INTS) as the schema (`format:
  int32`: another JSON type, a fraction or a number beyond 2^53 - 1 "must be of type ..."; a number outside int32
  "Checked value must be of type integer with format int32 in <path>" under field ""; MeshLoadBalancingStrategy's
  bounds) and then the Go struct take them: a duration time.ParseDuration refuses, or a negative number in a uint32,
  is a 400 "Bad Request" `invalid <Kind> object: "time: invalid duration ..."` / `"json: cannot unmarshal number ...
  into Go struct field ..."` (pkg/core/resources/model/rest/unmarshaller.go)
- errors with Kuma's body `{type: "/std-errors", status, title, detail, invalid_parameters, details, causes}`:
  mesh missing (404 "Failed to retrieve Mesh"), name/type/mesh differing between URL and body, labels, basic
  targetRef-kind validation per policy, 405 with the server's read-only messages (API server read-only; a
  global CP for zone-provided types; a federated zone for global-provided types such as Mesh), on a federated
  zone policies and MeshServices without `kuma.io/origin: zone` (a DELETE names `["kuma.io/origin"]`), on a
  global CP an origin other than `global`; 401 for a wrong token
- fault injection shared with the other emulators (`server.py`): fail the Nth matching request, drop the
  connection (before or after doing the work), delay, or a seeded share of faulty writes

Run on its own for manual trials: `python -m tests.emulators.kuma --port 15681 [--mode global|zone]
[--federated] [--read-only]`.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

try:
    from . import server
    from .kuma_fields import ENUMS as SCHEMA_ENUMS
    from .kuma_fields import MESH_OBJECTS, POLICY_OBJECTS, SCALARS, TARGET_REF_KINDS, known_fields
    from .kuma_policy_rules import policy_rule_problems
    from .kuma_schema import (
        FIELD_TYPES,
        decode_order,
        duration_error,
        field_problems,
        go_json_kind,
        integer_problems,
        json_kind,
        mesh_decode_error,
        reprint_durations,
        value_type_problems,
        values_at,
    )
    from .server import ApiError, EmulatorHandler, EmulatorState, Fault, RandomFaults, Request
except ImportError:  # run as a script
    import server  # type: ignore[no-redef,import-not-found]
    from kuma_fields import ENUMS as SCHEMA_ENUMS  # type: ignore[no-redef,import-not-found]
    from kuma_fields import (  # type: ignore[no-redef,import-not-found]
        MESH_OBJECTS,
        POLICY_OBJECTS,
        SCALARS,
        TARGET_REF_KINDS,
        known_fields,
    )
    from kuma_policy_rules import policy_rule_problems  # type: ignore[no-redef,import-not-found]
    from kuma_schema import (  # type: ignore[no-redef,import-not-found]
        FIELD_TYPES,
        decode_order,
        duration_error,
        field_problems,
        go_json_kind,
        integer_problems,
        json_kind,
        mesh_decode_error,
        reprint_durations,
        value_type_problems,
        values_at,
    )
    from server import ApiError, EmulatorHandler, EmulatorState, Fault, RandomFaults, Request  # type: ignore[no-redef]

VERSION = "2.14.3"
K8S_READ_ONLY = (
    "On Kubernetes you cannot change the state of Kuma resources with 'kumactl apply' or via the HTTP API."
    " As a best practice, you should always be using 'kubectl apply' instead."
    " You can still use 'kumactl' or the HTTP API to make read-only operations. On Universal this limitation"
    " does not apply.\n"
)
GLOBAL_READ_ONLY = (
    "On global control plane you can not modify dataplane resources with 'kumactl apply' or via the HTTP API."
    " You can still use 'kumactl' or the HTTP API to modify them on the zone control plane.\n"
)
ZONE_READ_ONLY = (
    "On zone control plane you can only modify zone resources with 'kumactl apply' or via the HTTP API."
    " You can still use 'kumactl' or the HTTP API to modify the rest of the resource on the global control plane.\n"
)
META_FIELDS = {"type", "name", "mesh", "labels", "creationTime", "modificationTime", "kri", "spec", "status"}
DURATION = re.compile(
    r"^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h)(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))*$"
)
UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# pkg/core/resources/apis/mesh/meta_validator.go: a name is a lowercase RFC 1123 subdomain; the mesh of a
# mesh-scoped object only needs the old character set (a Mesh may predate the stricter rule)
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NAME_MESSAGE = (
    "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or"
    " '.', and must start and end with an alphanumeric character"
)
MESH_NAME = re.compile(r"^[0-9a-z-_.]*$")
MESH_NAME_MESSAGE = (
    "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', '.' symbols."
)
# k8s.io/apimachinery/pkg/util/validation (v0.36, as vendored by Kuma 2.14): label keys and values, DNS names
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
QUALIFIED_NAME_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    " (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?"
    "[A-Za-z0-9]')"
)
DNS1123_SUBDOMAIN = NAME
DNS1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start"
    " and end with an alphanumeric character (e.g. 'example.com', regex used for validation is"
    " '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start"
    " and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for"
    " validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic"
    " character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation"
    " is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

# Top-level / to[] / from[] targetRef kinds each policy's validator accepts for a system policy (2.14
# pkg/plugins/policies/<policy>/api/v1alpha1/validator.go validateTop / validateTo, for a top-level kind other
# than MeshGateway and MeshHTTPRoute; on Universal a policy without a `kuma.io/policy-role` label is a system
# policy, model/resource.go PolicyRole). None: the section is not allowed at all.
ALL_TOP = ["Mesh", "MeshSubset", "MeshGateway", "MeshService", "MeshServiceSubset", "MeshHTTPRoute", "Dataplane"]
TOP_NO_ROUTE = [k for k in ALL_TOP if k != "MeshHTTPRoute"]  # MeshAccessLog, -CircuitBreaker, -HealthCheck, ...
TO_KINDS = ["Mesh", "MeshService", "MeshExternalService", "MeshMultiZoneService", "MeshHTTPRoute"]
TO_NO_ROUTE = [k for k in TO_KINDS if k != "MeshHTTPRoute"]  # MeshCircuitBreaker, MeshHealthCheck validateTo


# The integer fields of the policies gatewayctl owns, with the Go struct holding each and its Go type (2.14
# pkg/plugins/policies/<policy>/api/v1alpha1/<policy>.go); every one is `format: int32` in the policy's
# rest.yaml (with a minimum/maximum where GO_INT_BOUNDS says). pkg/core/resources/model/rest/unmarshaller.go
# Unmarshal decodes the body into a map (numbers as float64), validates it against the schema, marshals it
# again (keys sorted) and decodes that into the Go struct, where encoding/json refuses a number the Go type
# cannot hold.
_SECTIONS = ("from[]", "rules[]", "to[]")
GO_INTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "MeshCircuitBreaker": tuple(
        (f"{section}.default.{path}", struct, "uint32")
        for section in _SECTIONS
        for path, struct in (
            ("connectionLimits.maxConnectionPools", "ConnectionLimits"),
            ("connectionLimits.maxConnections", "ConnectionLimits"),
            ("connectionLimits.maxPendingRequests", "ConnectionLimits"),
            ("connectionLimits.maxRequests", "ConnectionLimits"),
            ("connectionLimits.maxRetries", "ConnectionLimits"),
            ("outlierDetection.maxEjectionPercent", "OutlierDetection"),
            ("outlierDetection.detectors.totalFailures.consecutive", "DetectorTotalFailures"),
            ("outlierDetection.detectors.gatewayFailures.consecutive", "DetectorGatewayFailures"),
            ("outlierDetection.detectors.localOriginFailures.consecutive", "DetectorLocalOriginFailures"),
            ("outlierDetection.detectors.successRate.minimumHosts", "DetectorSuccessRateFailures"),
            ("outlierDetection.detectors.successRate.requestVolume", "DetectorSuccessRateFailures"),
            ("outlierDetection.detectors.failurePercentage.minimumHosts", "DetectorFailurePercentageFailures"),
            ("outlierDetection.detectors.failurePercentage.requestVolume", "DetectorFailurePercentageFailures"),
            ("outlierDetection.detectors.failurePercentage.threshold", "DetectorFailurePercentageFailures"),
        )
    ),
    "MeshHealthCheck": (
        ("to[].default.healthyThreshold", "Conf", "int32"),
        ("to[].default.unhealthyThreshold", "Conf", "int32"),
        ("to[].default.intervalJitterPercent", "Conf", "int32"),
        ("to[].default.http.expectedStatuses[]", "HttpHealthCheck", "int32"),
    ),
    "MeshLoadBalancingStrategy": (
        ("to[].default.localityAwareness.localZone.affinityTags[].weight", "AffinityTag", "uint32"),
        ("to[].default.loadBalancer.leastRequest.choiceCount", "LeastRequest", "uint32"),
        ("to[].default.loadBalancer.ringHash.minRingSize", "RingHash", "uint32"),
        ("to[].default.loadBalancer.ringHash.maxRingSize", "RingHash", "uint32"),
        ("to[].default.loadBalancer.maglev.tableSize", "Maglev", "uint32"),
    ),
    "MeshMetric": (
        ("default.applications[].port", "Application", "uint32"),
        ("default.backends[].prometheus.port", "PrometheusBackend", "uint32"),
    ),
    "MeshRateLimit": tuple(
        (f"{section}.default.local.{path}", struct, "uint32")
        for section in _SECTIONS
        for path, struct in (
            ("http.requestRate.num", "Rate"),
            ("http.onRateLimit.status", "OnRateLimit"),
            ("tcp.connectionRate.num", "Rate"),
        )
    ),
    "MeshRetry": (
        ("to[].default.tcp.maxConnectAttempt", "TCP", "uint32"),
        ("to[].default.http.numRetries", "HTTP", "uint32"),
        ("to[].default.http.hostSelection[].updateFrequency", "Predicate", "int32"),
        ("to[].default.grpc.numRetries", "GRPC", "uint32"),
    ),
}
# minimum/maximum in the rest.yaml schemas (MeshLoadBalancingStrategy), checked before the Go decoding
GO_INT_BOUNDS: dict[str, tuple[int, int | None]] = {
    "to[].default.loadBalancer.leastRequest.choiceCount": (2, None),
    "to[].default.loadBalancer.ringHash.minRingSize": (1, 8000000),
    "to[].default.loadBalancer.ringHash.maxRingSize": (1, 8000000),
    "to[].default.loadBalancer.maglev.tableSize": (1, 5000011),
}
GO_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}
MAX_JSON_INTEGER = 2**53 - 1  # go-openapi/swag conv.IsFloat64AJSONInteger: beyond it no float64 is an integer


@dataclass(frozen=True)
class Kind:
    name: str
    path: str  # WsPath
    scope: str  # Global | Mesh
    short: str
    by_zone: bool  # ProvidedByZoneFlag
    by_global: bool  # ProvidedByGlobalFlag
    policy: dict[str, bool] | None = None
    top: list[str] | None = None
    to: list[str] | None = None
    frm: list[str] | None = None
    defaults: tuple[tuple[str, Any], ...] = ()
    read_only: bool = False
    to_zones: bool = True  # GlobalToZonesFlag (ProvidedByGlobal | ConsumedByZone): `includeInFederation`
    alt_path: str = ""  # AlternativeWsPath, served too but not listed in /_resources
    plugin: bool = False  # IsPluginOriginated (policies, MeshService): a federated zone wants origin: zone


def _policy(
    name: str,
    path: str,
    short: str,
    *,
    to: bool = False,
    frm: bool = False,
    rules: bool = False,
    from_as_rules: bool = False,
    top: list[str] | None = None,
    to_kinds: list[str] | None = None,
    from_kinds: list[str] | None = None,
    defaults: tuple[tuple[str, Any], ...] = (),
) -> Kind:
    description = {
        "hasFromTargetRef": frm,
        "hasRulesTargetRef": rules,
        "hasToTargetRef": to,
        "isFromAsRules": from_as_rules,
        "isTargetRef": True,
    }
    return Kind(
        name,
        path,
        "Mesh",
        short,
        True,
        True,
        description,
        top or ALL_TOP,
        (to_kinds or TO_KINDS) if to else None,
        (from_kinds or ["Mesh", "MeshSubset", "MeshServiceSubset", "MeshService"]) if frm else None,
        defaults,
        plugin=True,
    )


KINDS: list[Kind] = [
    # KDSFlags of 2.14 pkg/core/resources/apis/{mesh,system}/zz_generated.resources.go, global_secret.go and
    # meshservice/api/v1alpha1/zz_generated.resource.go: Secret and GlobalSecret are GlobalToZones |
    # ProvidedByZone (a zone writes them, and labels them as its own), a Zone ProvidedByGlobal | ProvidedByZone
    Kind("Mesh", "meshes", "Global", "m", False, True),
    Kind("Dataplane", "dataplanes", "Mesh", "dp", True, False, to_zones=False),
    Kind("MeshService", "meshservices", "Mesh", "msvc", True, False, to_zones=False, plugin=True),
    Kind("Secret", "secrets", "Mesh", "", True, True),
    Kind("GlobalSecret", "globalsecrets", "Global", "", True, True, alt_path="global-secrets"),
    Kind("Zone", "zones", "Global", "z", True, True, to_zones=False),
    _policy(
        "MeshAccessLog",
        "meshaccesslogs",
        "mal",
        to=True,
        frm=True,
        rules=True,
        from_as_rules=True,
        top=TOP_NO_ROUTE,
        defaults=tuple(
            default
            for section in ("from", "rules", "to")
            for default in (
                (f"{section}[].default.backends[].file.format.omitEmptyValues", False),
                (f"{section}[].default.backends[].openTelemetry.endpoint", ""),
                (f"{section}[].default.backends[].tcp.format.omitEmptyValues", False),
            )
        ),
    ),
    _policy(
        "MeshCircuitBreaker",
        "meshcircuitbreakers",
        "mcb",
        to=True,
        frm=True,
        rules=True,
        from_as_rules=True,
        top=TOP_NO_ROUTE,
        to_kinds=TO_NO_ROUTE,
    ),
    _policy("MeshFaultInjection", "meshfaultinjections", "mfi", to=True, frm=True, rules=True),
    _policy("MeshHTTPRoute", "meshhttproutes", "mhttpr", to=True),
    _policy("MeshHealthCheck", "meshhealthchecks", "mhc", to=True, top=TOP_NO_ROUTE, to_kinds=TO_NO_ROUTE),
    _policy(
        "MeshLoadBalancingStrategy",
        "meshloadbalancingstrategies",
        "mlbs",
        to=True,
        top=TOP_NO_ROUTE,
        to_kinds=["Mesh", "MeshService", "MeshMultiZoneService", "MeshHTTPRoute"],
    ),
    _policy(
        "MeshMetric",
        "meshmetrics",
        "mm",
        top=TOP_NO_ROUTE,
        defaults=(
            ("default.applications[].path", "/metrics"),
            ("default.backends[].openTelemetry.endpoint", ""),
            ("default.backends[].prometheus.path", "/metrics"),
            ("default.backends[].prometheus.port", 5670),
            ("default.backends[].prometheus.tls.mode", "Disabled"),
        ),
    ),
    _policy("MeshPassthrough", "meshpassthroughs", "mp"),
    _policy("MeshProxyPatch", "meshproxypatches", "mpp"),
    _policy("MeshRateLimit", "meshratelimits", "mrl", to=True, frm=True, rules=True, from_as_rules=True),
    _policy(
        "MeshRetry",
        "meshretries",
        "mr",
        to=True,
        defaults=(
            ("to[].default.http.hostSelection[].updateFrequency", 2),
            ("to[].default.http.retriableRequestHeaders[].type", "Exact"),
            ("to[].default.http.retriableResponseHeaders[].type", "Exact"),
        ),
    ),
    _policy("MeshTCPRoute", "meshtcproutes", "mtcpr", to=True),
    _policy("MeshTLS", "meshtlses", "mtls", frm=True, rules=True, from_as_rules=True),
    _policy("MeshTimeout", "meshtimeouts", "mt", to=True, frm=True, rules=True, from_as_rules=True),
    _policy(
        "MeshTrace",
        "meshtraces",
        "mtr",
        top=TOP_NO_ROUTE,
        defaults=(
            ("default.backends[].datadog.splitService", False),
            ("default.backends[].openTelemetry.endpoint", ""),
            ("default.backends[].zipkin.apiVersion", "httpJson"),
            ("default.backends[].zipkin.sharedSpanContext", True),
            ("default.backends[].zipkin.traceId128bit", False),
        ),
    ),
    _policy(
        "MeshTrafficPermission",
        "meshtrafficpermissions",
        "mtp",
        frm=True,
        rules=True,
        top=["Mesh", "MeshSubset", "MeshService", "MeshServiceSubset", "Dataplane"],
        from_kinds=["Mesh", "MeshSubset", "MeshServiceSubset", "MeshService"],
    ),
]
BY_NAME = {k.name: k for k in KINDS}
BY_PATH = {path: k for k in KINDS for path in (k.path, k.alt_path) if path}


def std_error(status: int, title: str, detail: str, invalid: list[tuple[str, str]] | None = None) -> ApiError:
    """The body of pkg/core/rest/errors/error_handler.go HandleError."""
    body: dict[str, Any] = {"type": "/std-errors", "status": status, "title": title, "detail": detail}
    if invalid:
        body["invalid_parameters"] = [{"field": f, "reason": r} for f, r in invalid]
    body["details"] = detail
    if invalid:
        body["causes"] = [{"field": f, "message": r} for f, r in invalid]
    return ApiError(status, body)


def invalid(title: str, violations: list[tuple[str, str]]) -> ApiError:
    return std_error(400, title, "Resource is not valid", violations)


# ---------------------------------------------------------------------- Go and protobuf value shapes


def go_duration(text: str) -> str:
    """What Go's time.Duration.String() prints for a duration it parsed (k8s metav1.Duration marshalling)."""
    if text[:1] in "+-":
        shown = go_duration(text[1:])
        return "-" + shown if text[0] == "-" and shown != "0s" else shown
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text):
        total += float(number) * UNIT_NS[unit]
    ns = round(total)
    if ns == 0:
        return "0s"
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return f"{_trim(ns / size)}{unit}"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(rest / 10**9)
    out = ""
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{seconds}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def go_struct(value: Any) -> Any:
    """A policy spec as Kuma's Go types marshal it back: duration strings re-printed."""
    if isinstance(value, dict):
        return {k: go_struct(v) for k, v in value.items()}
    if isinstance(value, list):
        return [go_struct(v) for v in value]
    if isinstance(value, str) and DURATION.match(value):
        return go_duration(value)
    return value


def proto_json(value: Any, path: tuple[str, ...] = ()) -> Any:
    """A Mesh as jsonpb (EmitDefaults off) prints it: zero values left out, the enum default STRICT too."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            shown = proto_json(v, (*path, k))
            if shown not in (None, "", 0, False, [], {}):
                out[k] = shown
        return out
    if isinstance(value, list):
        return [proto_json(v, path) for v in value]
    if path[-2:] == ("backends", "mode"):
        return None if value == "STRICT" else value
    return value


def fill_defaults(spec: Any, defaults: tuple[tuple[str, Any], ...]) -> None:
    """Structural-schema defaulting: a field gets its default when its parent object exists."""
    for dotted, value in defaults:
        _fill(spec, dotted.split("."), value)


def _fill(node: Any, parts: list[str], value: Any) -> None:
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = node.get(head[:-2])
        for item in items if isinstance(items, list) else []:
            _fill(item, rest, value)
        return
    if not rest:
        node.setdefault(head, copy.deepcopy(value))
        return
    _fill(node.get(head), rest, value)


def now_text() -> str:
    """time.Time as Go's JSON writes it (RFC 3339 with nanoseconds, trailing zeros and a zero fraction left out)."""
    now = datetime.now(UTC)
    fraction = f"{now.microsecond:06d}".rstrip("0")
    return now.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


# ---------------------------------------------------------------------- faults


@dataclass
class KumaRandomFaults(RandomFaults):
    """The Kong emulator's seeded faults, with Kuma's error bodies."""

    def pick(self, method: str) -> Fault | None:
        fault = super().pick(method)
        if fault is None or fault.status is None:
            return fault
        if fault.status == 429:  # Kuma has no rate limiting of its own: a proxy in front answers this
            return Fault(status=429, retry_after=fault.retry_after, body={"message": "Too Many Requests"})
        title = "Service unavailable" if fault.status == 503 else "Could not process a resource"
        detail = "Service unavailable" if fault.status == 503 else "Internal Server Error"
        return Fault(status=fault.status, body=std_error(fault.status, title, detail).body)


# ---------------------------------------------------------------------- state


class KumaState(EmulatorState):
    def __init__(
        self,
        *,
        mode: str = "zone",
        zone: str = "default",
        federated: bool = False,
        read_only: bool = False,
        token: str | None = None,
        version: str = VERSION,
        latency: float = 0.0,
        default_mesh: bool = True,
    ) -> None:
        super().__init__(latency)
        self.mode = mode
        self.zone = zone
        self.federated = federated and mode == "zone"
        self.read_only = read_only
        self.token = token
        self.version = version
        self.instance_id = f"kuma-emulator-{uuid.uuid4().hex[:5]}"
        self.cluster_id = str(uuid.uuid4())
        self.store: dict[tuple[str, str, str], dict[str, Any]] = {}  # (type, mesh, name) -> resource as stored
        self.anonymous = False  # the request being served came without a token (with `token` set)
        self.requests: list[Request] = []
        if default_mesh and not self.federated:  # KUMA_DEFAULTS_SKIP_MESH_CREATION=false (a federated zone
            self.seed({"type": "Mesh", "name": "default"})  # gets its meshes from the global instead)
            self.ensure_default_policies("default", [])

    # -- test helpers

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    def objects(self, kind: str | None = None, mesh: str | None = None) -> list[dict[str, Any]]:
        """Stored objects as the API returns them."""
        with self.lock:
            return [
                self.render(BY_NAME[t], r)
                for (t, m, _), r in sorted(self.store.items())
                if (kind is None or t == kind) and (mesh is None or m == mesh)
            ]

    def seed(self, body: dict[str, Any]) -> None:
        """Create an object directly (as another team would), bypassing read-only and validation."""
        with self.lock:
            kind = BY_NAME[body["type"]]
            labels = self.compute_labels(kind, dict(body.get("labels") or {}), body.get("mesh", ""))
            self.put(kind, body.get("mesh", ""), body["name"], body, labels)

    # -- model

    def type_read_only(self, kind: Kind) -> bool:
        """ResourceTypeDescriptor.IsReadOnly with the API server's read-only switch (server.go)."""
        if self.read_only or kind.read_only:
            return True
        return (self.mode == "global" and not kind.by_global) or (self.federated and not kind.by_zone)

    def read_only_message(self) -> str:
        return {"global": GLOBAL_READ_ONLY, "zone": ZONE_READ_ONLY}.get(self.mode, K8S_READ_ONLY)

    def compute_labels(self, kind: Kind, labels: dict[str, str], mesh: str) -> dict[str, str]:
        """pkg/core/resources/labels/compute.go on Universal (no namespace, so no policy role)."""
        out = dict(labels)
        if kind.scope == "Mesh":
            out.setdefault("kuma.io/mesh", mesh or "default")
        if self.mode == "zone" and kind.by_zone:
            out.setdefault("kuma.io/origin", "zone")
            if out["kuma.io/origin"] != "global":
                out.setdefault("kuma.io/zone", self.zone)
                out.setdefault("kuma.io/env", "universal")
        return out

    def put(self, kind: Kind, mesh: str, name: str, body: dict[str, Any], labels: dict[str, str]) -> None:
        key = (kind.name, mesh, name)
        existing = self.store.get(key)
        now = now_text()
        stored: dict[str, Any] = {"type": kind.name}
        if kind.scope == "Mesh":
            stored["mesh"] = mesh
        stored["name"] = name
        stored["creationTime"] = existing["creationTime"] if existing else now
        stored["modificationTime"] = now
        if labels:
            stored["labels"] = labels
        if kind.name == "Mesh" or kind.policy is None:
            fields = {k: v for k, v in body.items() if k not in META_FIELDS}
            if kind.name == "Mesh":  # jsonpb with AllowUnknownFields: unknown fields dropped at every depth
                fields = known_fields(MESH_OBJECTS, fields)
            stored["fields"] = proto_json(fields)
        else:
            spec = prune(kind, copy.deepcopy(body.get("spec") or {}))
            fill_defaults(spec, kind.defaults)
            # the duration fields re-printed by metav1.Duration (any duration-like string, for kinds not modelled)
            stored["spec"] = reprint_durations(kind.name, spec, go_duration) or go_struct(spec)
        self.store[key] = stored
        if kind.name == "Mesh":
            self.ensure_builtin_cas(name, stored["fields"])

    def ensure_builtin_cas(self, mesh: str, fields: dict[str, Any]) -> None:
        """EnsureCAs (pkg/core/managers/apis/mesh/mesh_helpers.go) on every create and update of a Mesh: the
        builtin CA manager (pkg/plugins/ca/builtin/manager.go) keeps each builtin backend's root CA in two
        Secrets of the Mesh, `<mesh>.ca-builtin-cert-<backend>` and `<mesh>.ca-builtin-key-<backend>`,
        created through the secret manager (no labels), owned by the Mesh."""
        for backend in (fields.get("mtls") or {}).get("backends") or []:
            if not isinstance(backend, dict) or backend.get("type") != "builtin":
                continue
            for part, pem in (("cert", "CERTIFICATE"), ("key", "RSA PRIVATE KEY")):
                name = f"{mesh}.ca-builtin-{part}-{backend.get('name')}"
                if ("Secret", mesh, name) not in self.store:
                    data = base64.b64encode(f"-----BEGIN {pem}-----\n-----END {pem}-----\n".encode()).decode()
                    body = {"type": "Secret", "mesh": mesh, "name": name, "data": data}
                    self.put(BY_NAME["Secret"], mesh, name, body, {})

    def render(self, kind: Kind, stored: dict[str, Any]) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in stored.items() if k not in ("fields", "spec")}
        labels = stored.get("labels") or {}
        if kind.short:
            display = labels.get("kuma.io/display-name") or stored["name"]
            out["kri"] = (
                f"kri_{kind.short}_{stored.get('mesh', '')}_{labels.get('kuma.io/zone', '')}_"
                f"{labels.get('k8s.kuma.io/namespace', '')}_{display}_"
            )
        if "fields" in stored:
            out.update(copy.deepcopy(stored["fields"]))
        if "spec" in stored:
            out["spec"] = copy.deepcopy(stored["spec"])
        return out

    def ensure_default_policies(self, mesh: str, skipped: list[str]) -> None:
        """pkg/defaults/mesh/mesh.go EnsureDefaultMeshResources: the Dataplane Token signing key every new Mesh
        gets, a Secret `dataplane-token-signing-key-<mesh>-1` (pkg/core/tokens/meshed_signing_key_manager.go,
        no labels, owned by the Mesh) whatever `skipCreatingInitialPolicies` says, then its default policies."""
        key = f"dataplane-token-signing-key-{mesh}-1"
        if ("Secret", mesh, key) not in self.store:
            data = base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n").decode()
            self.put(BY_NAME["Secret"], mesh, key, {"type": "Secret", "mesh": mesh, "name": key, "data": data}, {})
        if "*" in skipped:
            return
        defaults = {
            "mesh-gateways-timeout-all": (
                "MeshTimeout",
                {
                    "targetRef": {"kind": "Mesh", "proxyTypes": ["Gateway"]},
                    "from": [
                        {
                            "targetRef": {"kind": "Mesh"},
                            "default": {
                                "idleTimeout": "5m",
                                "http": {"streamIdleTimeout": "5s", "requestHeadersTimeout": "500ms"},
                            },
                        }
                    ],
                    "to": [
                        {
                            "targetRef": {"kind": "Mesh"},
                            "default": {"idleTimeout": "1h", "http": {"streamIdleTimeout": "5s"}},
                        }
                    ],
                },
            ),
            "mesh-timeout-all": (
                "MeshTimeout",
                {
                    "targetRef": {"kind": "Mesh", "proxyTypes": ["Sidecar"]},
                    "from": [
                        {
                            "targetRef": {"kind": "Mesh"},
                            "default": {
                                "connectionTimeout": "5s",
                                "idleTimeout": "2h",
                                "http": {"requestTimeout": "15s", "streamIdleTimeout": "2h"},
                            },
                        }
                    ],
                    "to": [
                        {
                            "targetRef": {"kind": "Mesh"},
                            "default": {
                                "connectionTimeout": "5s",
                                "idleTimeout": "1h",
                                "http": {"requestTimeout": "15s", "streamIdleTimeout": "30m"},
                            },
                        }
                    ],
                },
            ),
            "mesh-circuit-breaker-all": (
                "MeshCircuitBreaker",
                {
                    "targetRef": {"kind": "Mesh"},
                    "to": [
                        {
                            "targetRef": {"kind": "Mesh"},
                            "default": {
                                "connectionLimits": {
                                    "maxConnections": 1024,
                                    "maxPendingRequests": 1024,
                                    "maxRequests": 1024,
                                    "maxRetries": 3,
                                },
                                "outlierDetection": {
                                    "disabled": False,
                                    "detectors": {
                                        "totalFailures": {"consecutive": 5},
                                        "gatewayFailures": {"consecutive": 5},
                                        "localOriginFailures": {"consecutive": 5},
                                    },
                                },
                            },
                        }
                    ],
                },
            ),
            "mesh-retry-all": (
                "MeshRetry",
                {
                    "targetRef": {"kind": "Mesh"},
                    "to": [
                        {
                            "targetRef": {"kind": "Mesh"},
                            "default": {
                                "tcp": {"maxConnectAttempt": 5},
                                "http": {
                                    "numRetries": 5,
                                    "perTryTimeout": "16s",
                                    "backOff": {"baseInterval": "25ms", "maxInterval": "250ms"},
                                },
                                "grpc": {
                                    "numRetries": 5,
                                    "perTryTimeout": "16s",
                                    "backOff": {"baseInterval": "25ms", "maxInterval": "250ms"},
                                },
                            },
                        }
                    ],
                },
            ),
        }
        for prefix, (kind_name, spec) in defaults.items():
            if kind_name in skipped:
                continue
            kind = BY_NAME[kind_name]
            name = f"{prefix}-{mesh}"
            if (kind_name, mesh, name) not in self.store:
                body = {"type": kind_name, "mesh": mesh, "name": name, "spec": spec}
                self.put(kind, mesh, name, body, self.compute_labels(kind, {}, mesh))


# ---------------------------------------------------------------------- validation


def prune(kind: Kind, spec: dict[str, Any]) -> dict[str, Any]:
    """What decoding into the policy's Go struct keeps: unknown fields are dropped, not refused (the CRD
    schemas do not forbid additional properties), at every depth for the policies kuma_fields.py lists; for
    the others, at the top level and in the items of to[], from[] and rules[]."""
    if kind.name in POLICY_OBJECTS:
        return known_fields(POLICY_OBJECTS[kind.name], spec)  # type: ignore[no-any-return]
    sections = {"targetRef"}
    policy = kind.policy or {}
    if kind.to is not None:
        sections.add("to")
    if kind.frm is not None:
        sections.add("from")
    if policy.get("hasRulesTargetRef"):
        sections.add("rules")
    if not (policy.get("hasToTargetRef") or policy.get("hasFromTargetRef") or policy.get("hasRulesTargetRef")):
        sections.add("default")
    out = {k: v for k, v in spec.items() if k in sections}
    item_keys = {
        "to": TO_ITEM_KEYS.get(kind.name, {"targetRef", "default"}),
        "from": {"targetRef", "default"},
        "rules": RULE_ITEM_KEYS.get(kind.name, {"matches", "default"}),
    }
    for section, keys in item_keys.items():
        if isinstance(out.get(section), list):
            out[section] = [
                {k: v for k, v in i.items() if k in keys} if isinstance(i, dict) else i for i in out[section]
            ]
    return out


# The fields of the to[] and rules[] items whose Go structs differ from {targetRef, default} / {matches,
# default} (2.14 pkg/plugins/policies/<policy>/api/v1alpha1/<policy>.go To and Rule)
TO_ITEM_KEYS = {"MeshHTTPRoute": {"targetRef", "hostnames", "rules"}, "MeshTCPRoute": {"targetRef", "rules"}}
RULE_ITEM_KEYS = {"MeshTrafficPermission": {"default"}, "MeshTLS": {"default"}}


def schema_problems(kind: Kind, spec: Any) -> list[tuple[str, str]]:
    """kube-openapi's enum errors as Kuma words them: field `spec.<path>`, reason `in body should be one of [...]`;
    every enum of the schema for the policies kuma_fields.py lists, the targetRef kinds for the others."""
    problems: list[tuple[str, str]] = []
    if not isinstance(spec, dict):
        return problems
    if kind.name in SCHEMA_ENUMS:
        # objectValidator walks the properties in Go's map order (random): in path order here
        for dotted, allowed in SCHEMA_ENUMS[kind.name].items():
            for path, value in values_at(spec, dotted):
                if value not in allowed:
                    problems.append((path, f"in body should be one of [{' '.join(allowed)}]"))
        return sorted(problems, key=lambda problem: decode_order(problem[0]))
    refs = (
        [("spec.targetRef.kind", (spec.get("targetRef") or {}).get("kind"))]
        if isinstance(spec.get("targetRef"), dict)
        else []
    )
    for section in ("to", "from"):
        for i, item in enumerate(spec.get(section) or []):
            if isinstance(item, dict) and isinstance(item.get("targetRef"), dict):
                refs.append((f"spec.{section}[{i}].targetRef.kind", item["targetRef"].get("kind")))
    for path, value in refs:
        if value is not None and value not in TARGET_REF_KINDS:
            problems.append((path, f"in body should be one of [{' '.join(TARGET_REF_KINDS)}]"))
    return problems


def _int_fields(kind: Kind, spec: Any) -> list[tuple[tuple[Any, ...], str, str, str, str, Any]]:
    """(order, `spec.to[0]...` path, table path, Go struct, Go type, value) of each integer field present, in
    the order the marshalled map (keys sorted) puts them."""
    found = []
    for dotted, struct, go_type in GO_INTS.get(kind.name, ()):
        listed = dotted.endswith("[]")  # a list of numbers (expectedStatuses)
        for path, value in _values({"spec": spec}, ["spec", *dotted.removesuffix("[]").split(".")], ""):
            items = list(enumerate(value)) if listed and isinstance(value, list) else [] if listed else [(None, value)]
            for i, item in items:
                where = path.lstrip(".") + (f"[{i}]" if i is not None else "")
                order = tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", where) if p)
                found.append((order, where, dotted, struct, go_type, item))
    return sorted(found, key=lambda f: f[0])


def int_schema_problems(kind: Kind, spec: Any) -> list[tuple[str, str]]:
    """kube-openapi's typeValidator and numberValidator on the `format: int32` integer fields (kuma_schema
    integer_problems: other JSON types, a fraction or a number beyond 2^53 - 1, a number outside the int32
    range), then the schema's bounds."""
    problems: list[tuple[str, str]] = []
    for _, path, dotted, _, _, value in _int_fields(kind, spec):
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        problems += integer_problems(value, path, "int32", is_number and _json_integer(value))
        if not is_number or not _json_integer(value):
            continue
        low, high = GO_INT_BOUNDS.get(dotted, (None, None))
        if low is not None and value < low:
            problems.append((path, f"in body should be greater than or equal to {low}"))
        if high is not None and value > high:
            problems.append((path, f"in body should be less than or equal to {high}"))
    return problems


def leaf_type_problems(kind: Kind, spec: Any) -> list[tuple[str, str]]:
    """typeValidator on the fields of the policy's schema that FIELD_TYPES and GO_INTS leave out (kuma_fields
    SCALARS: every leaf of rest.yaml), in the same words. An int-or-string field (`anyOf: [{type: integer},
    {type: string}]`, no type of its own) fails both branches with anything else than a string or an integral
    number (null passes: kube-openapi's SchemaValidator runs only the type and enum checks on nil, and this
    schema has neither): schema_props.go adds `"<path>" must validate at least one schema (anyOf)` (the path
    quoted, so unmarshaller.go toValidationError files it under field ""), then the errors of the first
    branch, `in body must be of type integer: "<found>"`."""
    covered = {dotted for dotted, _ in FIELD_TYPES.get(kind.name, ())} | {
        dotted.removesuffix("[]") for dotted, _, _ in GO_INTS.get(kind.name, ())
    }
    problems: list[tuple[str, str]] = []
    for dotted, code in SCALARS.get(kind.name, {}).items():
        if dotted in covered or code == "json":
            continue
        for path, value in values_at(spec, dotted):
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if code == "intstr":
                if value is None or isinstance(value, str) or (is_number and _json_integer(value)):
                    continue
                problems.append(("", f'"{path}" must validate at least one schema (anyOf)'))
                problems.append((path, f'in body must be of type integer: "{json_kind(value)}"'))
            elif code in ("int32", "int64"):
                problems += integer_problems(value, path, code, is_number and _json_integer(value))
            elif code == "int32s":
                for i, item in enumerate(value if isinstance(value, list) else []):
                    item_is_number = isinstance(item, int | float) and not isinstance(item, bool)
                    problems += integer_problems(item, f"{path}[{i}]", "int32", item_is_number and _json_integer(item))
                if not isinstance(value, list):
                    problems.append((path, f'in body must be of type array: "{json_kind(value)}"'))
            else:
                problems += value_type_problems(value, code, path)
    return problems


def _json_integer(value: float) -> bool:
    """go-openapi/swag conv.IsFloat64AJSONInteger, on the float64 the body's number decodes to."""
    number = float(value)
    if not -MAX_JSON_INTEGER <= number <= MAX_JSON_INTEGER:
        return False
    rounded = round(number)
    return number == rounded or (rounded != 0 and abs(number - rounded) < 1e-9 * abs(rounded))


def go_int_overflow(kind: Kind, spec: Any) -> str | None:
    """encoding/json's error for the first integer field (in the marshalled order) its Go type cannot hold:
    `json: cannot unmarshal number <text> into Go struct field <Struct>.<json path> of type <type>`, the text
    being how Go marshals the float64 (decode.go literalStore, UnmarshalTypeError; the path is the JSON names
    from the resource, list indices left out)."""
    for _, path, _, struct, go_type, value in _int_fields(kind, spec):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        text = str(int(value)) if float(value).is_integer() else repr(float(value))
        low, high = GO_INT_RANGES[go_type]
        if not float(value).is_integer() or not low <= int(value) <= high:
            field = re.sub(r"\[\d+\]", "", path)
            return f"json: cannot unmarshal number {text} into Go struct field {struct}.{field} of type {go_type}"
    return None


def _values(node: Any, parts: list[str], path: str) -> list[tuple[str, Any]]:
    if not parts or not isinstance(node, dict):
        return []
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = node.get(head[:-2])
        out: list[tuple[str, Any]] = []
        for i, item in enumerate(items if isinstance(items, list) else []):
            out += _values(item, rest, f"{path}.{head[:-2]}[{i}]")
        return out
    if head not in node:
        return []
    if not rest:
        return [(f"{path}.{head}", node[head])]
    return _values(node[head], rest, f"{path}.{head}")


def validate_spec(kind: Kind, body: dict[str, Any]) -> list[tuple[str, str]]:
    """Per-policy validation: targetRef kinds at the top, in to[] and from[], the sections allowed, then each
    policy's own rules (kuma_policy_rules)."""
    spec = body.get("spec")
    if kind.policy is None:
        return []
    if not isinstance(spec, dict):
        return [("spec", "must be defined")]
    problems: list[tuple[str, str]] = []
    top = spec.get("targetRef")
    allowed_top = kind.top or ALL_TOP
    if policy_role(body) != "system" and kind.name in ROLE_TOP_KINDS:
        allowed_top = NON_SYSTEM_TOP
    if isinstance(top, dict):
        problems += _target_ref("spec.targetRef", top, allowed_top)
    for section, allowed in (("to", kind.to), ("from", kind.frm)):
        items = spec.get(section)
        if items is None:
            continue
        if allowed is None:
            problems.append((f"spec.{section}", "must not be defined"))
            continue
        for i, item in enumerate(items if isinstance(items, list) else []):
            ref = item.get("targetRef") if isinstance(item, dict) else None
            if not isinstance(ref, dict):
                problems.append((f"spec.{section}[{i}].targetRef.kind", "must be defined"))
                continue
            problems += _target_ref(f"spec.{section}[{i}].targetRef", ref, allowed)
    if "rules" in spec and not (kind.policy or {}).get("hasRulesTargetRef"):
        problems.append(("spec.rules", "must not be defined"))
    return problems + policy_rule_problems(kind.name, spec)


# The policies whose validateTop (pkg/plugins/policies/<policy>/api/v1alpha1/validator.go) takes fewer
# top-level kinds for a policy that is not a system policy (core_model.PolicyRole: the `kuma.io/policy-role`
# label, which Kuma computes on Kubernetes outside the system namespace; a label set by hand counts too): no
# MeshGateway, no MeshHTTPRoute.
ROLE_TOP_KINDS = (
    "MeshFaultInjection",
    "MeshMetric",
    "MeshProxyPatch",
    "MeshRateLimit",
    "MeshRetry",
    "MeshTCPRoute",
    "MeshTimeout",
    "MeshTrace",
)
NON_SYSTEM_TOP = ["Mesh", "MeshSubset", "MeshService", "MeshServiceSubset", "Dataplane"]


def policy_role(body: dict[str, Any]) -> str:
    """core_model.PolicyRole: the `kuma.io/policy-role` label, `system` when there is none."""
    labels = body.get("labels") if isinstance(body.get("labels"), dict) else {}
    return str((labels or {}).get("kuma.io/policy-role") or "system")


def _target_ref(path: str, ref: dict[str, Any], allowed: list[str]) -> list[tuple[str, str]]:
    kind = ref.get("kind")
    if not kind:
        return [(f"{path}.kind", "must be defined")]
    if kind not in allowed:
        return [(f"{path}.kind", f"value '{kind}' is not supported")]
    if kind == "Mesh":
        return [(f"{path}.{k}", f"must not be set with kind {kind}") for k in ("tags", "labels") if ref.get(k)]
    if kind == "MeshService" and not ref.get("name") and not ref.get("labels"):
        return [(path, f"name or labels must be set when kind is {kind}")]
    if kind == "Dataplane" and ref.get("tags"):
        return [(f"{path}.tags", f"must not be set with kind {kind}")]
    return []


def validate_labels(state: KumaState, kind: Kind, body: dict[str, Any]) -> list[tuple[str, str]]:
    """resource_endpoints.go validateLabels (with validateOriginForWrite), under `labels`."""
    labels = body.get("labels") or {}
    problems: list[tuple[str, str]] = []
    if not isinstance(labels, dict):
        return [("labels", "must be a map")]
    origin = labels.get("kuma.io/origin")
    if origin is not None and origin not in ("global", "zone"):
        problems.append(('["kuma.io/origin"]', f"unknown resource origin {json.dumps(origin)}"))
    problems += origin_problems(state, kind, labels)
    if state.mode != "global" and origin != "global":
        if "kuma.io/zone" in labels and labels["kuma.io/zone"] != state.zone:
            problems.append(('["kuma.io/zone"]', f"kuma.io/zone label should have {state.zone} value"))
        if "kuma.io/mesh" in labels and labels["kuma.io/mesh"] != body.get("mesh"):
            problems.append(('["kuma.io/mesh"]', "kuma.io/mesh label must not differ from mesh set on resource"))
    for key in sorted(labels):
        problems += [(f"[{json.dumps(key)}]", why) for why in qualified_name_problems(key)]
        problems += [(f"[{json.dumps(key)}]", why) for why in label_value_problems(str(labels[key]))]
    return [(f"labels{where}", why) for where, why in problems]


def qualified_name_problems(key: str) -> list[str]:
    """validation.IsQualifiedName: an optional DNS subdomain prefix and '/', then a name of up to 63."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            f"a valid label key {QUALIFIED_NAME_MESSAGE} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    problems: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                problems.append("prefix part must be no more than 253 characters")
            if not DNS1123_SUBDOMAIN.match(prefix):
                problems.append(f"prefix part {DNS1123_SUBDOMAIN_MESSAGE}")
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if not QUALIFIED_NAME.match(name):
        problems.append(f"name part {QUALIFIED_NAME_MESSAGE}")
    return problems


def label_value_problems(value: str) -> list[str]:
    """validation.IsValidLabelValue: both problems when both apply."""
    problems = ["must be no more than 63 characters"] if len(value) > 63 else []
    return problems + ([] if LABEL_VALUE.match(value) else [LABEL_VALUE_MESSAGE])


def dns1035_problems(name: str) -> list[str]:
    """validation.IsDNS1035Label."""
    problems = ["must be no more than 63 characters"] if len(name) > 63 else []
    return problems + ([] if DNS1035_LABEL.match(name) else [DNS1035_LABEL_MESSAGE])


def origin_problems(state: KumaState, kind: Kind, labels: dict[str, Any]) -> list[tuple[str, str]]:
    """validateOriginForWrite, at the label's key (`["kuma.io/origin"]`): a PUT puts it under `labels`, a
    DELETE answers it as it is."""
    origin = labels.get("kuma.io/origin")
    if state.mode == "global" and origin is not None and origin != "global":
        return [('["kuma.io/origin"]', "the origin label must be set to 'global'")]
    if state.federated and kind.plugin and origin != "zone":
        return [('["kuma.io/origin"]', "the origin label must be set to 'zone'")]
    return []


def meta_problems(kind: Kind, body: dict[str, Any]) -> list[tuple[str, str]]:
    """core_mesh.ValidateMeta on the body's name (and, for a mesh-scoped type, its mesh)."""
    problems: list[tuple[str, str]] = []
    checks = [("name", str(body.get("name") or ""), NAME, NAME_MESSAGE)]
    if kind.scope == "Mesh":
        checks.append(("mesh", str(body.get("mesh") or ""), MESH_NAME, MESH_NAME_MESSAGE))
    for field_name, value, pattern, message in checks:
        if value == "":
            problems.append((field_name, "cannot be empty"))
        elif len(value) > 253:
            problems.append((field_name, "value length must less or equal 253"))
        elif not pattern.match(value):
            problems.append((field_name, message))
    return problems


# ---------------------------------------------------------------------- routes


def route(
    state: KumaState, method: str, path: str, query: dict[str, list[str]], body: Any, host: str
) -> tuple[int, Any]:
    segments = [unquote(s) for s in path.strip("/").split("/")] if path != "/" else []
    if method == "GET" and not segments:
        return 200, {
            "hostname": "kuma-emulator",
            "product": "Kuma",
            "version": state.version,
            "instanceId": state.instance_id,
            "clusterId": state.cluster_id,
            "gui": "/gui",
        }
    if method == "GET" and segments == ["config"]:
        # the whole kuma-cp config (config_ws.go ConfigForDisplay): both multizone sections are always there,
        # the zone's name defaulting to "default" even on a global; `globalAddress` only when set (omitempty)
        zone: dict[str, Any] = {"name": state.zone, "kds": {"refreshInterval": "1s", "maxMsgSize": 10485760}}
        if state.federated:
            zone["globalAddress"] = "grpcs://kuma-global:5685"
        return 200, {
            "mode": state.mode,
            "environment": "universal",
            "store": {"type": "memory"},
            "apiServer": {"readOnly": state.read_only, "http": {"port": 5681}},
            "multizone": {"global": {"kds": {"grpcPort": 5685, "tlsEnabled": True}}, "zone": zone},
        }
    if method == "GET" and segments == ["_resources"]:
        return 200, {"resources": [resource_description(state, k) for k in sorted(KINDS, key=lambda k: k.name)]}
    if segments and segments[0] == "meshes":
        if len(segments) <= 2:
            return crud(
                state, BY_NAME["Mesh"], "", segments[1] if len(segments) == 2 else None, method, query, body, host, path
            )
        kind = BY_PATH.get(segments[2])
        if kind is None or kind.scope != "Mesh" or len(segments) > 4:
            raise ApiError(404, "404: Page Not Found")
        return crud(
            state, kind, segments[1], segments[3] if len(segments) == 4 else None, method, query, body, host, path
        )
    if len(segments) == 1 and segments[0] in BY_PATH and BY_PATH[segments[0]].scope == "Mesh":
        if method != "GET":  # only the cross-mesh list is routed there: go-restful's own 405
            raise ApiError(405, "405: Method Not Allowed")
        return 200, list_page(state, BY_PATH[segments[0]], None, query, host, path)
    if segments and segments[0] in BY_PATH and BY_PATH[segments[0]].scope == "Global" and len(segments) <= 2:
        return crud(
            state,
            BY_PATH[segments[0]],
            "",
            segments[1] if len(segments) == 2 else None,
            method,
            query,
            body,
            host,
            path,
        )
    raise ApiError(404, "404: Page Not Found")


def resource_description(state: KumaState, kind: Kind) -> dict[str, Any]:
    words = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", kind.name)
    plural = (
        words[:-1] + "ies" if words.endswith("y") else words + ("es" if words.endswith(("s", "sh", "ch", "S")) else "s")
    )
    out: dict[str, Any] = {
        "includeInFederation": kind.to_zones and not kind.read_only,
        "name": kind.name,
        "path": kind.path,
        "pluralDisplayName": plural,
        "readOnly": state.read_only or state.federated or kind.read_only,  # mappers.MapResourceTypeDescription
        "scope": kind.scope,
        "shortName": kind.short,
        "singularDisplayName": words,
    }
    if kind.policy is not None:
        out["policy"] = dict(kind.policy)
    return out


def crud(
    state: KumaState,
    kind: Kind,
    mesh: str,
    name: str | None,
    method: str,
    query: dict[str, list[str]],
    body: Any,
    host: str,
    path: str,
) -> tuple[int, Any]:
    if name is None:
        if method != "GET":
            raise ApiError(405, "405: Method Not Allowed")
        return 200, list_page(state, kind, mesh if kind.scope == "Mesh" else None, query, host, path)
    if method == "GET":
        _mesh_exists(state, kind, mesh)
        _admin_access(state, kind)
        stored = state.store.get((kind.name, mesh, name))
        if stored is None:
            raise std_error(404, "Could not retrieve a resource", "Not found")
        return 200, state.render(kind, stored)
    if method not in ("PUT", "DELETE"):
        raise ApiError(405, "405: Method Not Allowed")
    if state.type_read_only(kind):  # the route itself answers (methodNotAllowed): nothing else is looked at
        raise std_error(405, "Method not allowed", state.read_only_message())
    if method == "DELETE":
        return delete(state, kind, mesh, name)
    return put(state, kind, mesh, name, body)


def _mesh_exists(state: KumaState, kind: Kind, mesh: str) -> None:
    if kind.scope == "Mesh" and mesh and ("Mesh", "", mesh) not in state.store:
        raise std_error(404, "Failed to retrieve Mesh", "Not found")


def _admin_access(state: KumaState, kind: Kind) -> None:
    """admin_resource_access.go: Secrets and GlobalSecrets (AdminOnly) are for `mesh-system:admin` only
    (access.static.adminResources); a request without a token is `mesh-system:anonymous`. Tokens are taken
    as an admin's."""
    if state.anonymous and kind.name in ("Secret", "GlobalSecret"):
        reason = (
            f'user "mesh-system:anonymous/mesh-system:unauthenticated" cannot access the resource of type "{kind.name}"'
        )
        raise std_error(403, "Access Denied", reason)


@dataclass(frozen=True)
class Unparsable:
    """A request body that is not JSON (the handler parses every body; only a PUT reads it)."""

    reason: str


def put(state: KumaState, kind: Kind, mesh: str, name: str, body: Any) -> tuple[int, Any]:
    """createOrUpdateResource: the Mesh of the URL, decoding (rest.JSON.Unmarshal: a policy's schema with its
    defaults, then the Go validator), validateResourceRequest, then create (201) or update (200)."""
    _mesh_exists(state, kind, mesh)
    body = decode(kind, body)
    existing = state.store.get((kind.name, mesh, name))
    problems = request_problems(state, kind, mesh, name, body)
    if problems:
        raise invalid("Could not process a resource", problems)
    _admin_access(state, kind)  # ValidateCreate / ValidateUpdate
    labels = state.compute_labels(kind, dict(body.get("labels") or {}), mesh)
    if existing is not None:
        before = existing.get("labels") or {}
        immutable = []
        for label in ("kuma.io/origin", "kuma.io/zone", "kuma.io/display-name"):
            if label in before and label not in labels:
                immutable.append(
                    (f'labels["{label}"]', f"is immutable, cannot be removed (was {json.dumps(before[label])})")
                )
            elif label in before and before[label] != labels[label]:
                immutable.append(
                    (
                        f'labels["{label}"]',
                        f"is immutable, cannot be changed from {json.dumps(before[label])} "
                        f"to {json.dumps(labels[label])}",
                    )
                )
        if immutable:
            raise invalid("Could not update a resource", immutable)
    if kind.name == "Mesh":  # the mesh manager's ValidateCreate / ValidateUpdate
        problems = [("name", "cannot be longer than 63 characters")] if existing is None and len(name) > 63 else []
        problems += mesh_manager_problems(body, existing)
        if problems:
            raise invalid("Failed to update a resource" if existing else "Failed to create a resource", problems)
    state.put(kind, mesh, name, body, labels)
    if kind.name == "Mesh" and existing is None:
        skipped = body.get("skipCreatingInitialPolicies") or []
        state.ensure_default_policies(name, [str(s) for s in skipped])
    warnings = deprecations(kind, name, body, labels)
    return (200 if existing is not None else 201), ({"warnings": warnings} if warnings else {})


def decode(kind: Kind, body: Any) -> dict[str, Any]:
    """rest.JSON.Unmarshal: a body that does not decode is a 400 "Bad Request"; a policy is checked against its
    schema (`type`, `name` and `spec` required, `type` the collection's, `mesh` defaulting to "default"), then
    by its Go validator (400 "Could not process a resource" either way). Returns the body as decoded."""
    if isinstance(body, Unparsable) or body is None:
        reason = body.reason if isinstance(body, Unparsable) else "unexpected end of JSON input"
        raise std_error(400, "Bad Request", f"invalid {kind.name} object: {json.dumps(reason)}")
    if not isinstance(body, dict):
        into = "map[string]interface {}" if kind.policy is not None else "Go value"
        reason = f"json: cannot unmarshal {_json_type(body)} into {into}"
        raise std_error(400, "Bad Request", f"invalid {kind.name} object: {json.dumps(reason)}")
    if kind.policy is None:
        for key in ("type", "name", "mesh"):
            if key in body and not isinstance(body[key], str):
                reason = (
                    f"json: cannot unmarshal {_json_type(body[key])} into Go struct field ResourceMeta.{key} "
                    "of type string"
                )
                raise std_error(400, "Bad Request", f"invalid {kind.name} object: {json.dumps(reason)}")
        labels = body.get("labels")
        if isinstance(labels, dict) and any(not isinstance(v, str) for v in labels.values()):
            value = next(v for v in labels.values() if not isinstance(v, str))
            reason = (
                f"json: cannot unmarshal {go_json_kind(value)} into Go struct field ResourceMeta.labels of type string"
            )
            raise std_error(400, "Bad Request", f"invalid {kind.name} object: {json.dumps(reason)}")
        failure = mesh_decode_error(body) if kind.name == "Mesh" else None
        if failure:  # jsonpb into the Mesh message (unversioned/resource.go UnmarshalJSON)
            raise std_error(400, "Bad Request", f"invalid {kind.name} object: {json.dumps(failure)}")
        problems = mesh_mtls_problems(body) if kind.name == "Mesh" else []  # the Mesh's Validate()
        if problems:
            raise invalid("Could not process a resource", problems)
        return body
    body = {"mesh": "default", **body}  # the schema's default (`mesh: {type: string, default: default}`)
    problems = [("", f"{key} in body is required") for key in ("type", "name", "spec") if key not in body]
    for key in ("type", "name", "mesh"):
        if key in body and not isinstance(body[key], str):
            problems.append(("", f"{key} in body must be of type string: {json.dumps(_json_type(body[key]))}"))
    if isinstance(body.get("type"), str) and body["type"] != kind.name:
        problems.append(("", f"type in body should be one of [{kind.name}]"))
    labels = body.get("labels")
    if "labels" in body and not isinstance(labels, dict):
        problems.append(("", f'labels in body must be of type object: "{json_kind(labels)}"'))
    elif isinstance(labels, dict):  # `labels.<key> in ...`: no `spec.` path, so under field ""
        problems += [
            ("", f'labels.{k} in body must be of type string: "{json_kind(v)}"')
            for k, v in labels.items()
            if not isinstance(v, str)
        ]
    spec = body.get("spec")
    if "spec" in body and not isinstance(spec, dict):
        problems.append(("spec", f'in body must be of type object: "{json_kind(spec)}"'))
    problems += schema_problems(kind, spec) + field_problems(kind.name, spec) + int_schema_problems(kind, spec)
    problems += leaf_type_problems(kind, spec)
    # decoding into the Go struct: a duration time.ParseDuration refuses stops it (an error returned at once);
    # a number the Go type cannot hold is an error kept until the end (encoding/json saveError)
    failure = None if problems else duration_error(kind.name, spec) or go_int_overflow(kind, spec)
    if failure:  # InvalidResourceError, 400 "Bad Request"
        raise std_error(400, "Bad Request", f"invalid {kind.name} object: {json.dumps(failure)}")
    if not problems:  # the Go validator runs only on a schema-valid object, decoded: what the struct kept
        decoded = prune(kind, copy.deepcopy(spec)) if isinstance(spec, dict) else spec
        problems = validate_spec(kind, {**body, "spec": decoded})
    if problems:
        raise invalid("Could not process a resource", problems)
    return body


MESH_DURATION = re.compile(r"^(\d+)(y|w|d|h|m|s|ms)$")  # mesh_helpers.go ParseDuration: one unit, or "0"
CA_TYPES = ("builtin", "provided")  # the CA managers Kuma (not Kong Mesh) installs


def mesh_mtls_problems(body: dict[str, Any]) -> list[tuple[str, str]]:
    """MeshResource.Validate's validateMtls (pkg/core/resources/apis/mesh/mesh_validator.go)."""
    mtls = body.get("mtls") if isinstance(body.get("mtls"), dict) else {}
    backends = [b for b in mtls.get("backends") or [] if isinstance(b, dict)]
    problems: list[tuple[str, str]] = []
    if len(backends) > 1:
        problems.append(("mtls.backends", "cannot have more than 1 backends"))
    names: set[str] = set()
    for i, backend in enumerate(backends):
        name = str(backend.get("name") or "")
        if name in names:
            problems.append(
                (f"mtls.backends[{i}].name", f"{json.dumps(name)} name is already used for another backend")
            )
        names.add(name)
        cert = backend.get("dpCert")
        if isinstance(cert, dict):
            expiration = str(((cert.get("rotation") or {}).get("expiration")) or "")
            if expiration != "0" and not MESH_DURATION.match(expiration):
                problems.append(("mtls.dpcert.rotation.expiration", "has to be a valid format"))
    enabled = mtls.get("enabledBackend") or ""
    if enabled and enabled not in names:
        problems.append(("mtls.enabledBackend", "has to be set to one of the backends in the mesh"))
    return problems


def mesh_manager_problems(body: dict[str, Any], before: dict[str, Any] | None) -> list[tuple[str, str]]:
    """pkg/core/managers/apis/mesh/mesh_validator.go: on update, no change of CA while mTLS is on; each
    backend's type needs an installed CA manager."""
    mtls = body.get("mtls") if isinstance(body.get("mtls"), dict) else {}
    problems: list[tuple[str, str]] = []
    if before is not None:
        was = ((before.get("fields") or {}).get("mtls") or {}).get("enabledBackend") or ""
        now = mtls.get("enabledBackend") or ""
        if was and now and was != now:
            problems.append(
                (
                    "mtls.enabledBackend",
                    "Changing CA when mTLS is enabled is forbidden. Disable mTLS first and then change the CA",
                )
            )
    for i, backend in enumerate(b for b in mtls.get("backends") or [] if isinstance(b, dict)):
        if backend.get("type") not in CA_TYPES:
            return [*problems, (f"mtls.backends[{i}].type", "could not find installed plugin for this type")]
    return problems


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "null")


def request_problems(state: KumaState, kind: Kind, mesh: str, name: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """validateResourceRequest, in its order."""
    problems: list[tuple[str, str]] = []
    if body.get("name") != name:
        problems.append(("name", "name from the URL has to be the same as in body"))
    if state.federated and len(f"{state.zone}.{name}") >= 253:  # doesNameLengthFitsGlobal
        problems.append(("name", "the length of the name must be shorter"))
    if body.get("type") != kind.name:
        problems.append(("type", "type from the URL has to be the same as in body"))
    if kind.scope == "Mesh" and body.get("mesh") != mesh:
        problems.append(("mesh", "mesh from the URL has to be the same as in body"))
    return problems + validate_labels(state, kind, body) + meta_problems(kind, body)


# The Deprecations() of 2.14's resources (pkg/plugins/policies/<p>/api/v1alpha1/deprecated.go,
# pkg/core/resources/apis/{mesh,system}/deprecated.go), answered as the PUT's `warnings`.
FROM_DEPRECATED = {
    "MeshTimeout": "'from' field is deprecated, use 'rules' instead",
    "MeshRateLimit": "'from' field is deprecated, use 'rules' instead",
    "MeshAccessLog": "'from' field is deprecated, use 'rules' instead",
    "MeshCircuitBreaker": "'from' field is deprecated, use 'rules' instead",
    "MeshTLS": "'from' field is deprecated, use 'rules' instead",
    "MeshFaultInjection": "'from' field is deprecated, use 'rules' with SPIFFE-based 'matches' instead",
    "MeshTrafficPermission": (
        "'from' field is deprecated and will be removed in 3.0, use 'rules' with MeshIdentity (spiffeId) instead"
    ),
}
OTEL_ENDPOINT_DEPRECATED = (
    "openTelemetry.endpoint is deprecated, use openTelemetry.backendRef with a MeshOpenTelemetryBackend resource"
    " instead"
)


def deprecations(kind: Kind, name: str, body: dict[str, Any], labels: dict[str, str]) -> list[str]:
    if kind.name in ("Mesh", "Zone"):
        display = labels.get("kuma.io/display-name") or name
        errors = dns1035_problems(display)
        if not errors:
            return []
        return [
            f"Invalid {kind.name} resource name: '{display}'. It does not conform to the DNS format (RFC 1035)."
            f" This is deprecated. Errors: {'; '.join(errors)}"
        ]
    if kind.policy is None:
        return []
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    items = {s: [i for i in spec.get(s) or [] if isinstance(i, dict)] for s in ("from", "to", "rules")}
    out: list[str] = []
    if items["from"] and kind.name in FROM_DEPRECATED:
        out.append(FROM_DEPRECATED[kind.name])
    if kind.name == "MeshTrafficPermission":
        out += [
            "MeshService value for 'from[].targetRef.kind' is deprecated, use MeshSubset with 'kuma.io/service' instead"
            for i in items["from"]
            if (i.get("targetRef") or {}).get("kind") == "MeshService"
        ]
    if kind.name == "MeshRateLimit":
        for section in ("from", "rules", "to"):
            if section == "from" and not items["from"]:
                continue
            for n, item in enumerate(items[section]):
                local = (item.get("default") or {}).get("local") or {}
                status = ((local.get("http") or {}).get("onRateLimit") or {}).get("status")
                if isinstance(status, int) and status < 400:
                    out.append(
                        f"'spec.{section}[{n}].default.local.http.requestRate.status' must be 400 or higher. "
                        "Please update your configuration."
                    )
    if kind.name in ("MeshAccessLog", "MeshTrace", "MeshMetric"):
        defaults = (
            [spec.get("default") or {}]
            if kind.name != "MeshAccessLog"
            else [i.get("default") or {} for s in ("to", "from", "rules") for i in items[s]]
        )
        if any(
            isinstance(b, dict)
            and isinstance(b.get("openTelemetry"), dict)
            and b["openTelemetry"].get("endpoint")
            and b["openTelemetry"].get("backendRef") is None
            for d in defaults
            if isinstance(d, dict)
            for b in d.get("backends") or []
        ):
            out.append(OTEL_ENDPOINT_DEPRECATED)
    top = (spec.get("targetRef") or {}).get("kind") if isinstance(spec.get("targetRef"), dict) else None
    top_level: list[str] = []
    if top in ("MeshService", "MeshServiceSubset", "MeshSubset"):
        top_level.append(f"{top} value for 'targetRef.kind' is deprecated, use Dataplane with labels instead")
    elif top == "MeshHTTPRoute":
        top_level.append(
            "MeshHTTPRoute value for 'targetRef.kind' is deprecated, use MeshHTTPRoute in spec.to[].targetRef"
        )
    if kind.name == "MeshHealthCheck":  # its own order: the targetRef's first
        return top_level + [
            "healthyPanicThreshold for 'to[].default' is deprecated. The setting has been moved to "
            "MeshCircuitBreaker policy, please use MeshCircuitBreaker policy instead."
            for i in items["to"]
            if isinstance(i.get("default"), dict) and i["default"].get("healthyPanicThreshold") is not None
        ]
    return out + top_level


def delete(state: KumaState, kind: Kind, mesh: str, name: str) -> tuple[int, Any]:
    _mesh_exists(state, kind, mesh)
    stored = state.store.get((kind.name, mesh, name))
    if stored is None:
        raise std_error(404, "Could not delete a resource", "Not found")
    problems = origin_problems(state, kind, stored.get("labels") or {})  # not under `labels` here
    if problems:
        raise invalid("Could not delete a resource", problems)
    _admin_access(state, kind)
    if kind.name == "Mesh":
        if any(t == "Dataplane" and m == name for t, m, _ in state.store):
            raise invalid(
                "Could not delete a resource",
                [("mesh", "unable to delete mesh, there are still some dataplanes attached")],
            )
        for key in [k for k in state.store if k[1] == name and k[0] != "Mesh"]:  # owned by the Mesh: cascade
            del state.store[key]
    del state.store[(kind.name, mesh, name)]
    return 200, {}


def _param(query: dict[str, list[str]], key: str) -> str:
    """go-restful's QueryParameter: the first value."""
    return (query.get(key) or [""])[0]


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi: an optional sign and decimal digits, within int64."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def list_page(
    state: KumaState, kind: Kind, mesh: str | None, query: dict[str, list[str]], host: str, path: str
) -> dict[str, Any]:
    """listResources: page size, then label filters, then the Mesh of the URL, then the offset (checked by the
    pagination store as it lists)."""
    size = 100
    if _param(query, "size") != "":
        parsed = _atoi(_param(query, "size"))
        if parsed is None:
            raise std_error(400, "Could not retrieve resources", "Invalid page size", [("size", "invalid format")])
        size = parsed
        if size <= 0:
            raise std_error(
                400, "Could not retrieve resources", "Invalid page size", [("size", "must be greater than 0")]
            )
        if size > 1000:
            raise std_error(
                400,
                "Could not retrieve resources",
                "Invalid page size",
                [("size", f"invalid page size of {size}. Maximum page size is 1000")],
            )
    filters: dict[str, str] = {}
    violations: list[tuple[str, str]] = []
    parts = path.strip("/").split("/")
    route_path = "/" + "/".join(["meshes", "{mesh}", parts[2]] if len(parts) == 3 else parts)  # SelectedRoutePath
    for key, values in query.items():
        if not key.startswith("filter["):
            continue
        if not key.startswith("filter[labels."):
            violations.append((f"{route_path}.{key}", "filters are only supported on labels"))
            continue
        closing = key.find("]")
        if closing != len(key) - 1:
            violations.append((f"{route_path}.{key}", "advanced filters are not supported"))
            continue
        filters[key[len("filter[labels.") : closing]] = values[-1]  # the last value, unlike size/offset/name
    if violations:
        raise invalid("Could not retrieve resources", violations)
    if mesh:
        _mesh_exists(state, kind, mesh)
    _admin_access(state, kind)  # ValidateList
    offset = 0
    if _param(query, "offset") != "":
        text = _param(query, "offset")
        parsed = _atoi(text)
        if parsed is None:
            syntax = "value out of range" if re.fullmatch(r"[+-]?[0-9]+", text) else "invalid syntax"
            message = f"invalid: invalid offset: strconv.Atoi: parsing {json.dumps(text)}: {syntax}"
            raise std_error(400, "Could not retrieve resources", message)
        if parsed < 0:
            raise std_error(400, "Could not retrieve resources", "invalid: invalid offset: must be non-negative")
        offset = parsed
    contains = _param(query, "name")
    items = [
        stored
        for (t, m, n), stored in sorted(state.store.items(), key=lambda kv: (kv[0][1], kv[0][2]))
        if t == kind.name
        and (mesh is None or m == mesh)
        and contains in n
        and all((stored.get("labels") or {}).get(k) == v for k, v in filters.items())
    ]
    chunk = items[offset : offset + size]
    nxt = None
    if offset + size < len(items):
        params = [(k, v) for k, values in sorted(query.items()) if k != "offset" for v in values]
        params.append(("offset", str(offset + size)))
        nxt = f"http://{host}{path}?{urlencode(sorted(params, key=lambda kv: kv[0]))}"  # url.Values.Encode
    return {"total": len(items), "items": [state.render(kind, s) for s in chunk], "next": nxt}


# ---------------------------------------------------------------------- HTTP


class Handler(EmulatorHandler[KumaState]):
    def answer(self, method: str, path: str, query: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        state = self.state
        auth = self.headers.get("Authorization") or ""
        bearer = auth.startswith("Bearer ")  # tokens/authenticator.go: any other header is no credential
        if state.token is not None and bearer and auth != f"Bearer {state.token}" and path != "/":
            raise std_error(401, "Invalid authentication data", "Unauthenticated")
        body: Any
        try:
            body = json.loads(raw) if raw else None
        except ValueError as exc:  # only a PUT reads its body, after looking up the Mesh of the URL
            body = Unparsable(f"invalid character in JSON body: {exc.msg}")
        params = parse_qs(query, keep_blank_values=True)
        with state.lock:
            state.anonymous = state.token is not None and not bearer  # this request's user, while it is served
            status, payload = route(state, method, path, params, body, self.headers.get("Host", "127.0.0.1"))
        return status, payload, {}

    def send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        if isinstance(payload, str):  # go-restful's own plain-text answers (no such route)
            data, content_type = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"  # not problem+json (see module)
        self.reply(status, data, content_type, headers)


@dataclass
class KumaEmulator(server.Emulator[KumaState]):
    extra: dict[str, Any] = field(default_factory=dict)


def start(state: KumaState | None = None, port: int = 0) -> KumaEmulator:
    state = state or KumaState()
    return KumaEmulator(state, *server.serve(Handler, state, port, "kuma-emulator"))


def running(state: KumaState | None = None) -> AbstractContextManager[KumaEmulator]:
    return server.running(start, state)


def main() -> None:
    parser = server.arguments("Kuma 2.14 control-plane API emulator, Universal (tests and trials)", 15681)
    parser.add_argument("--mode", default="zone", choices=["zone", "global"])
    parser.add_argument("--zone", default="default")
    parser.add_argument("--federated", action="store_true", help="a zone connected to a global control plane")
    parser.add_argument("--read-only", action="store_true", help="KUMA_API_SERVER_READ_ONLY=true")
    server.add_fault_arguments(parser, faulty_reads=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    args = parser.parse_args()
    state = KumaState(
        mode=args.mode, zone=args.zone, federated=args.federated, read_only=args.read_only, latency=args.latency
    )
    if args.fault_rate:
        state.random_faults = KumaRandomFaults(
            args.fault_rate, args.seed, writes_only=not args.faulty_reads, retry_after="1", resets=True
        )
    emulator = start(state, args.port)
    server.serve_until_interrupted(emulator, f"Kuma API emulator on {emulator.url} (mode {args.mode})")


if __name__ == "__main__":
    main()
