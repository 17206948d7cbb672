"""The value types of the policies gatewayctl writes, as Kuma 2.14 checks them on a Universal PUT before its Go
validators run (kumahq/kuma v2.14.3 pkg/core/resources/model/rest/unmarshaller.go `Unmarshal`):

1. the body is decoded into a map (numbers as float64) and validated against the policy's rest.yaml schema,
   turned into a structural schema and then into a kube-openapi SchemaValidator (the policies'
   zz_generated.resource.go). kube-openapi (v0.0.0-20260520065146-aa012df4f4af, as Kuma's go.mod pins it):
   - typeValidator (pkg/validation/validate/type.go): a string, an array or null where an integer is
     expected is `in body must be of type integer: "string"` (`"array"`, `"null"`); a boolean or an object
     there fails the format check first, `in body must be of type int32: ""`; a fraction
     `in body must be of type int32: "float64"`. Elsewhere `in body must be of type <type>: "<found>"`,
     with found one of string, number, boolean, object, array, null.
   - numberValidator (validator.go, since kube-openapi 1d94e88): a number outside the int32 range in a
     `format: int32` field is `Checked value must be of type integer with format int32 in <path>`, an error
     whose first word is no `spec.` path, so unmarshaller.go toValidationError files it under field "".
   - objectValidator: `<path>.<name> in body is required`; stringValidator: `in body should be at least 1
     chars long`.
   Every one is a 400 "Could not process a resource" with `invalid_parameters`.
2. the map is marshalled again (keys sorted) and decoded into the policy's Go struct with encoding/json:
   a duration (`*k8s.Duration`, metav1.Duration: time.ParseDuration) that does not parse stops the decoding
   with time's error, a 400 "Bad Request" `invalid <Kind> object: "time: invalid duration \\"x\\""`.

Modelled for the fields gatewayctl renders and their neighbours in the same objects (the table below, each
line a field of the policy's Go struct in pkg/plugins/policies/<policy>/api/v1alpha1/<policy>.go and its
schema type in rest.yaml); integer fields are kuma.py's GO_INTS. Every other field of the schema is
type-checked from kuma_fields.SCALARS (kuma.py leaf_type_problems), int-or-string fields included (anyOf);
their Go types are not modelled (a negative number in a uint32 field not in GO_INTS passes).
"""

from __future__ import annotations

import json
import re
from typing import Any

try:
    from . import kuma_fields as schema_tables
    from .kuma_fields import SCALARS
except ImportError:  # run as a script
    import kuma_fields as schema_tables  # type: ignore[no-redef]
    from kuma_fields import SCALARS  # type: ignore[no-redef,import-not-found]

# type codes: string, duration (a string in the schema, a metav1.Duration in Go), boolean, int64, map (an
# object of strings), strings (an array of strings), object, array (of objects). The int32 fields are kuma.py's
# GO_INTS.
Fields = tuple[tuple[str, str], ...]

_TARGET_REF: Fields = (
    ("kind", "string"),
    ("name", "string"),
    ("namespace", "string"),
    ("mesh", "string"),
    ("sectionName", "string"),
    ("labels", "map"),
    ("tags", "map"),
    ("proxyTypes", "strings"),
)
_RETRY_PROTOCOL: Fields = (
    ("perTryTimeout", "duration"),
    ("backOff", "object"),
    ("backOff.baseInterval", "duration"),
    ("backOff.maxInterval", "duration"),
    ("rateLimitedBackOff", "object"),
    ("rateLimitedBackOff.maxInterval", "duration"),
    ("rateLimitedBackOff.resetHeaders", "array"),
    ("retryOn", "strings"),
)
_TIMEOUT: Fields = (
    ("connectionTimeout", "duration"),
    ("idleTimeout", "duration"),
    ("http", "object"),
    ("http.requestTimeout", "duration"),
    ("http.streamIdleTimeout", "duration"),
    ("http.maxStreamDuration", "duration"),
    ("http.maxConnectionDuration", "duration"),
    ("http.requestHeadersTimeout", "duration"),
)
_BREAKER: Fields = (
    ("connectionLimits", "object"),
    ("outlierDetection", "object"),
    ("outlierDetection.disabled", "boolean"),
    ("outlierDetection.interval", "duration"),
    ("outlierDetection.baseEjectionTime", "duration"),
    ("outlierDetection.splitExternalAndLocalErrors", "boolean"),
    ("outlierDetection.detectors", "object"),
    *((f"outlierDetection.detectors.{name}", "object") for name in ("totalFailures", "gatewayFailures")),
    *((f"outlierDetection.detectors.{name}", "object") for name in ("localOriginFailures", "successRate")),
    ("outlierDetection.detectors.failurePercentage", "object"),
)
_RATE_LIMIT: Fields = (
    ("local", "object"),
    ("local.http", "object"),
    ("local.http.disabled", "boolean"),
    ("local.http.requestRate", "object"),
    ("local.http.requestRate.interval", "duration"),
    ("local.http.onRateLimit", "object"),
    ("local.http.onRateLimit.headers", "object"),
    ("local.tcp", "object"),
    ("local.tcp.disabled", "boolean"),
    ("local.tcp.connectionRate", "object"),
    ("local.tcp.connectionRate.interval", "duration"),
)
_LOG_FORMAT: Fields = (("type", "string"), ("plain", "string"), ("json", "array"), ("omitEmptyValues", "boolean"))
_ACCESS_LOG: Fields = (
    ("backends", "array"),
    ("backends[].type", "string"),
    ("backends[].file", "object"),
    ("backends[].file.path", "string"),
    ("backends[].file.format", "object"),
    *((f"backends[].file.format.{k}", t) for k, t in _LOG_FORMAT),
    ("backends[].tcp", "object"),
    ("backends[].tcp.address", "string"),
    ("backends[].tcp.format", "object"),
    *((f"backends[].tcp.format.{k}", t) for k, t in _LOG_FORMAT),
    ("backends[].openTelemetry", "object"),
    ("backends[].openTelemetry.endpoint", "string"),
)


def _section(name: str, default: Fields, *, rules: bool = False) -> Fields:
    """A to[]/from[]/rules[] section: items with a targetRef (rules: matches) and a `default` of these fields."""
    head: Fields = ((f"{name}", "array"), (f"{name}[].default", "object"))
    ref = ((f"{name}[].matches", "array"),) if rules else ((f"{name}[].targetRef", "object"),)
    refs = () if rules else tuple((f"{name}[].targetRef.{k}", t) for k, t in _TARGET_REF)
    return head + ref + refs + tuple((f"{name}[].default.{k}", t) for k, t in default)


_TOP: Fields = (("targetRef", "object"), *((f"targetRef.{k}", t) for k, t in _TARGET_REF))

FIELD_TYPES: dict[str, Fields] = {
    "MeshRetry": _TOP
    + _section(
        "to",
        (
            ("tcp", "object"),
            ("http", "object"),
            *((f"http.{k}", t) for k, t in _RETRY_PROTOCOL),
            ("http.hostSelection", "array"),
            ("http.hostSelectionMaxAttempts", "int64"),
            ("http.retriableRequestHeaders", "array"),
            ("http.retriableResponseHeaders", "array"),
            ("grpc", "object"),
            *((f"grpc.{k}", t) for k, t in _RETRY_PROTOCOL),
        ),
    ),
    "MeshTimeout": _TOP
    + _section("to", _TIMEOUT)
    + _section("from", _TIMEOUT)
    + _section("rules", _TIMEOUT, rules=True),
    "MeshCircuitBreaker": _TOP
    + _section("to", _BREAKER)
    + _section("from", _BREAKER)
    + _section("rules", _BREAKER, rules=True),
    "MeshHealthCheck": _TOP
    + _section(
        "to",
        (
            ("interval", "duration"),
            ("timeout", "duration"),
            ("initialJitter", "duration"),
            ("intervalJitter", "duration"),
            ("noTrafficInterval", "duration"),
            ("eventLogPath", "string"),
            ("alwaysLogHealthCheckFailures", "boolean"),
            ("failTrafficOnPanic", "boolean"),
            ("reuseConnection", "boolean"),
            ("http", "object"),
            ("http.disabled", "boolean"),
            ("http.path", "string"),
            ("http.expectedStatuses", "array"),
            ("http.requestHeadersToAdd", "object"),
            ("tcp", "object"),
            ("tcp.disabled", "boolean"),
            ("tcp.send", "string"),
            ("tcp.receive", "strings"),
            ("grpc", "object"),
            ("grpc.disabled", "boolean"),
            ("grpc.serviceName", "string"),
            ("grpc.authority", "string"),
        ),
    ),
    "MeshLoadBalancingStrategy": _TOP
    + _section(
        "to",
        (
            ("loadBalancer", "object"),
            ("loadBalancer.type", "string"),
            ("loadBalancer.leastRequest", "object"),
            ("loadBalancer.ringHash", "object"),
            ("loadBalancer.ringHash.hashFunction", "string"),
            ("loadBalancer.ringHash.hashPolicies", "array"),
            ("loadBalancer.maglev", "object"),
            ("loadBalancer.maglev.hashPolicies", "array"),
            ("localityAwareness", "object"),
            ("localityAwareness.disabled", "boolean"),
            ("hashPolicies", "array"),
            # HashPolicy.Cookie.TTL, a *k8s.Duration (meshloadbalancingstrategy.go)
            *(
                (f"{where}hashPolicies[].cookie.ttl", "duration")
                for where in ("", "loadBalancer.ringHash.", "loadBalancer.maglev.")
            ),
        ),
    ),
    "MeshRateLimit": _TOP
    + _section("to", _RATE_LIMIT)
    + _section("from", _RATE_LIMIT)
    + _section("rules", _RATE_LIMIT, rules=True),
    "MeshTrace": (
        *_TOP,
        ("default", "object"),
        ("default.backends", "array"),
        ("default.backends[].type", "string"),
        ("default.backends[].zipkin", "object"),
        ("default.backends[].zipkin.url", "string"),
        ("default.backends[].zipkin.apiVersion", "string"),
        ("default.backends[].zipkin.traceId128bit", "boolean"),
        ("default.backends[].zipkin.sharedSpanContext", "boolean"),
        ("default.backends[].datadog", "object"),
        ("default.backends[].datadog.url", "string"),
        ("default.backends[].datadog.splitService", "boolean"),
        ("default.backends[].openTelemetry", "object"),
        ("default.backends[].openTelemetry.endpoint", "string"),
        ("default.sampling", "object"),
        ("default.tags", "array"),
        ("default.tags[].name", "string"),
        ("default.tags[].literal", "string"),
        ("default.tags[].header", "object"),
    ),
    "MeshMetric": (
        *_TOP,
        ("default", "object"),
        ("default.applications", "array"),
        ("default.applications[].name", "string"),
        ("default.applications[].path", "string"),
        ("default.applications[].address", "string"),
        ("default.backends", "array"),
        ("default.backends[].type", "string"),
        ("default.backends[].prometheus", "object"),
        ("default.backends[].prometheus.clientId", "string"),
        ("default.backends[].prometheus.path", "string"),
        ("default.backends[].prometheus.tls", "object"),
        ("default.backends[].prometheus.tls.mode", "string"),
        ("default.backends[].openTelemetry", "object"),
        ("default.backends[].openTelemetry.endpoint", "string"),
        ("default.backends[].openTelemetry.refreshInterval", "duration"),
        ("default.sidecar", "object"),
        ("default.sidecar.includeUnused", "boolean"),
        ("default.sidecar.profiles", "object"),
    ),
    "MeshAccessLog": _TOP
    + _section("to", _ACCESS_LOG)
    + _section("from", _ACCESS_LOG)
    + _section("rules", _ACCESS_LOG, rules=True),
    "MeshTrafficPermission": (
        *_TOP,
        *_section("from", (("action", "string"),)),
        ("rules", "array"),
        ("rules[].default", "object"),
        ("rules[].default.allow", "array"),
        ("rules[].default.deny", "array"),
        ("rules[].default.allowWithShadowDeny", "array"),
    ),
}

# `required`, minLength, maxLength, maxItems and pattern of the rest.yaml schemas (kuma_fields.py)
REQUIRED = schema_tables.REQUIRED
MIN_LENGTH = schema_tables.MIN_LENGTH

INT32_RANGE = (-(2**31), 2**31 - 1)


def json_kind(value: Any) -> str:
    """The JSON type kube-openapi names for a decoded value (typeValidator.schemaInfoForType)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "array", str: "string"}[type(value)]


def type_problem(value: Any, code: str, path: str) -> str | None:
    """typeValidator's reason for a value of a field typed `code` (None when it is of that type). Integers
    (int32/int64) are checked by `integer_problems`."""
    found = json_kind(value)
    expected = {
        "string": "string",
        "duration": "string",
        "boolean": "boolean",
        "map": "object",
        "object": "object",
        "strings": "array",
        "array": "array",
    }[code]
    return None if found == expected else f'in body must be of type {expected}: "{found}"'


def integer_problems(value: Any, path: str, fmt: str, is_json_integer: bool) -> list[tuple[str, str]]:
    """typeValidator, then numberValidator, on a `type: integer, format: <fmt>` field."""
    found = json_kind(value)
    if found in ("boolean", "object"):  # no string or slice kind: the format check comes first
        return [(path, f'in body must be of type {fmt}: ""')]
    if found in ("string", "array", "null"):
        return [(path, f'in body must be of type integer: "{found}"')]
    problems = [] if is_json_integer else [(path, f'in body must be of type {fmt}: "float64"')]
    if fmt == "int32" and not (float(value).is_integer() and INT32_RANGE[0] <= value <= INT32_RANGE[1]):
        # IsValueValidAgainstRange: swag.ConvertInt32(strconv.FormatFloat(v, 'f', -1, 64)) fails
        problems.append(("", f"Checked value must be of type integer with format int32 in {path}"))
    return problems


def values_at(node: Any, dotted: str, prefix: str = "spec") -> list[tuple[str, Any]]:
    """(path, value) of every value present at `dotted` (`to[].default.http`), `[]` meaning each list item."""
    out: list[tuple[str, Any]] = [(prefix, node)]
    for part in dotted.split("."):
        listed = part.endswith("[]")
        name = part.removesuffix("[]")
        nxt: list[tuple[str, Any]] = []
        for path, value in out:
            if not isinstance(value, dict) or name not in value:
                continue
            child, where = value[name], f"{path}.{name}"
            if listed:
                nxt += [(f"{where}[{i}]", item) for i, item in enumerate(child)] if isinstance(child, list) else []
            else:
                nxt.append((where, child))
        out = nxt
    return out


def value_type_problems(value: Any, code: str, path: str) -> list[tuple[str, str]]:
    """typeValidator on a value of a non-integer field typed `code`, and on the items of a map or an array
    of strings."""
    why = type_problem(value, code, path)
    if why:
        return [(path, why)]
    if code == "map":
        return [
            (f"{path}.{k}", f'in body must be of type string: "{json_kind(v)}"')
            for k, v in value.items()
            if not isinstance(v, str)
        ]
    if code == "strings":
        return [
            (f"{path}[{i}]", f'in body must be of type string: "{json_kind(v)}"')
            for i, v in enumerate(value)
            if not isinstance(v, str)
        ]
    return []


def string_problems(kind: str, dotted: str, path: str, value: str) -> list[tuple[str, str]]:
    """kube-openapi's stringValidator: maxLength, then minLength, then pattern; the first that fails is its
    only error (validator.go)."""
    most = schema_tables.MAX_LENGTH.get(kind, {}).get(dotted)
    least = MIN_LENGTH.get(kind, {}).get(dotted)
    pattern = schema_tables.PATTERN.get(kind, {}).get(dotted)
    if most is not None and len(value) > most:
        return [(path, f"in body should be at most {most} chars long")]
    if least is not None and len(value) < least:
        return [(path, f"in body should be at least {least} chars long")]
    if pattern is not None and not re.search(pattern, value):
        return [(path, f"in body should match '{pattern}'")]
    return []


def field_problems(kind: str, spec: Any) -> list[tuple[str, str]]:
    """typeValidator on the non-integer fields of FIELD_TYPES, `required`, `minLength`, `maxLength`, `pattern`
    and `maxItems`, in path order.
    A value of the wrong type is not looked into further (its children have no values to check)."""
    problems: list[tuple[str, str]] = []
    for dotted, code in FIELD_TYPES.get(kind, ()):
        for path, value in values_at(spec, dotted):
            if code == "int64":
                is_number = isinstance(value, int | float) and not isinstance(value, bool)
                problems += integer_problems(value, path, code, not is_number or float(value).is_integer())
                continue
            problems += value_type_problems(value, code, path)
    for dotted, names in REQUIRED.get(kind, {}).items():
        for path, value in values_at(spec, dotted):
            if isinstance(value, dict):
                problems += [(f"{path}.{name}", "in body is required") for name in names if name not in value]
    strings = {**MIN_LENGTH.get(kind, {}), **schema_tables.MAX_LENGTH.get(kind, {})}
    strings.update(schema_tables.PATTERN.get(kind, {}))
    for dotted in strings:
        for path, value in values_at(spec, dotted):
            if isinstance(value, str):
                problems += string_problems(kind, dotted, path, value)
    for dotted, most in schema_tables.MAX_ITEMS.get(kind, {}).items():
        for path, value in values_at(spec, dotted):
            if isinstance(value, list) and len(value) > most:
                problems.append((path, f"in body should have at most {most} items"))
    return problems


# ---------------------------------------------------------------------- Go's time.ParseDuration

_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def _quote(text: str) -> str:
    """time's quote(): the text in double quotes, `"` and `\\` escaped, the bytes of a non-ASCII or control
    character as `\\x..`."""
    out = ""
    for c in text:
        if ord(c) >= 0x80 or ord(c) < 0x20:
            out += "".join(f"\\x{b:02x}" for b in c.encode())
        else:
            out += "\\" + c if c in '"\\' else c
    return f'"{out}"'


def parse_duration_error(text: str) -> str | None:
    """The error Go's time.ParseDuration gives for `text`, None when it parses (time/format.go)."""
    invalid = f"time: invalid duration {_quote(text)}"
    s = text
    if s[:1] in ("-", "+"):
        s = s[1:]
    if s == "0":
        return None
    if s == "":
        return invalid
    total = 0
    while s:
        if not (s[0] == "." or (s[0].isascii() and s[0].isdigit())):
            return invalid
        match = re.match(r"([0-9]*)(?:\.([0-9]*))?", s)
        assert match is not None
        whole, fraction = match.group(1), match.group(2)
        if whole == "" and not fraction:
            return invalid
        s = s[match.end() :]
        unit = re.match(r"[^0-9.]*", s)
        assert unit is not None
        name = unit.group(0)
        if not name:
            return f"time: missing unit in duration {_quote(text)}"
        if name not in _UNITS:
            return f"time: unknown unit {_quote(name)} in duration {_quote(text)}"
        s = s[len(name) :]
        total += int(whole or "0") * _UNITS[name] + int(int(fraction or "0") * _UNITS[name] / 10 ** len(fraction or ""))
        if total > 2**63:
            return invalid
    return None


def duration_error(kind: str, spec: Any) -> str | None:
    """encoding/json's error decoding the spec into the Go struct, for the first duration (in the key order of
    the re-marshalled map) that time.ParseDuration refuses: metav1.Duration.UnmarshalJSON returns it, and the
    decoding stops there."""
    found: list[tuple[tuple[Any, ...], str]] = []
    for dotted, code in FIELD_TYPES.get(kind, ()):
        if code != "duration":
            continue
        for path, value in values_at(spec, dotted):
            error = parse_duration_error(value) if isinstance(value, str) else None
            if error:
                found.append((decode_order(path), error))
    # intstr.IntOrString.UnmarshalJSON (k8s.io/apimachinery util/intstr): a number goes into its int32 IntVal
    # with json.Unmarshal, whose error it returns as it is, which stops the decoding too
    for dotted, code in SCALARS.get(kind, {}).items():
        if code != "intstr":
            continue
        for path, value in values_at(spec, dotted):
            if value is None or isinstance(value, str):
                continue
            if isinstance(value, bool | dict | list) or not float(value).is_integer():
                # only on Kubernetes, where structured-merge-diff takes any value in an untyped field and
                # Kuma's defaulting webhook decodes the object before the CRD's schema validation runs
                found_kind = {bool: "bool", dict: "object", list: "array"}.get(type(value), f"number {value!r}")
                why = f"json: cannot unmarshal {found_kind} into Go value of type int32"
                found.append((decode_order(path), why))
                continue
            if not -(2**31) <= value <= 2**31 - 1:
                # (beyond 2^53 the schema has refused it already: no float64 is an integer there)
                found.append(
                    (decode_order(path), f"json: cannot unmarshal number {int(value)} into Go value of type int32")
                )
    return min(found)[1] if found else None


def decode_order(path: str) -> tuple[Any, ...]:
    """Where encoding/json meets `path` in the re-marshalled spec (keys sorted, items in order)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\[\]]+", path) if p)


def reprint_durations(kind: str, spec: Any, reprint: Any) -> Any | None:
    """`spec` with each duration field of FIELD_TYPES replaced by `reprint(value)` (how metav1.Duration
    marshals what it parsed), every other string as it was; None for a kind not modelled here."""
    if kind not in FIELD_TYPES:
        return None
    for dotted, code in FIELD_TYPES[kind]:
        if code != "duration":
            continue
        parent, _, name = dotted.rpartition(".")
        for _, node in values_at(spec, parent) if parent else [("spec", spec)]:
            if isinstance(node, dict) and isinstance(node.get(name), str) and parse_duration_error(node[name]) is None:
                node[name] = reprint(node[name])
    return spec


# ---------------------------------------------------------------------- the Mesh: protobuf through jsonpb

# Message fields in declaration order (api/mesh/v1alpha1/mesh.proto): name -> kind, a kind being a scalar
# (string, bool, enum:<full name>:<values>), "duration" (google.protobuf.Duration), "struct"
# (google.protobuf.Struct), "strings" (repeated string), a message (a tuple of its fields), or
# ("repeated", message).
_ROTATION = (("expiration", "string"),)
_DP_CERT = (("rotation", _ROTATION), ("requestTimeout", "duration"))
_BACKEND = (
    ("name", "string"),
    ("type", "string"),
    ("dpCert", _DP_CERT),
    ("conf", "struct"),
    ("mode", "enum:kuma.mesh.v1alpha1.CertificateAuthorityBackend.Mode:STRICT,PERMISSIVE"),
    ("rootChain", (("requestTimeout", "duration"),)),
)
_RULES = ("repeated", (("tags", "map"),))  # DataplaneProxyConstraints.Rules: map<string, string> tags
MESH_MESSAGE: tuple[tuple[str, Any], ...] = (
    (
        "mtls",
        (("enabledBackend", "string"), ("backends", ("repeated", _BACKEND)), ("skipValidation", "bool")),
    ),
    (
        "tracing",
        (
            ("defaultBackend", "string"),
            (
                "backends",
                ("repeated", (("name", "string"), ("sampling", "double"), ("type", "string"), ("conf", "struct"))),
            ),
        ),
    ),
    (
        "logging",
        (
            ("defaultBackend", "string"),
            (
                "backends",
                ("repeated", (("name", "string"), ("format", "string"), ("type", "string"), ("conf", "struct"))),
            ),
        ),
    ),
    (
        "metrics",  # metrics.proto
        (
            ("enabledBackend", "string"),
            ("backends", ("repeated", (("name", "string"), ("type", "string"), ("conf", "struct")))),
        ),
    ),
    ("networking", (("outbound", (("passthrough", "bool"),)),)),  # a BoolValue decodes as a bool
    (
        "routing",
        (
            ("localityAwareLoadBalancing", "bool"),
            ("zoneEgress", "bool"),
            ("defaultForbidMeshExternalServiceAccess", "bool"),
        ),
    ),
    ("constraints", (("dataplaneProxy", (("requirements", _RULES), ("restrictions", _RULES))),)),
    ("skipCreatingInitialPolicies", "strings"),
    (
        "meshServices",
        (("mode", "enum:kuma.mesh.v1alpha1.Mesh.MeshServices.Mode:Disabled,Everywhere,ReachableBackends,Exclusive"),),
    ),
)
_GO_JSON = {str: "string", bool: "bool", list: "array", dict: "object"}


def go_json_kind(value: Any) -> str:
    """encoding/json's name of a JSON value in an UnmarshalTypeError."""
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else _GO_JSON[type(value)]


def _cannot(value: Any, go_type: str) -> str:
    return f"json: cannot unmarshal {go_json_kind(value)} into Go value of type {go_type}"


def _message_error(value: Any, fields: tuple[tuple[str, Any], ...]) -> str | None:
    """jsonpb (github.com/golang/protobuf v1.5 jsonpb/decode.go unmarshalMessage): the object read into a
    map[string]json.RawMessage, then each known field in declaration order; null skips a field."""
    if not isinstance(value, dict):
        return _cannot(value, "map[string]json.RawMessage")
    for name, kind in fields:
        if name in value and value[name] is not None:
            error = _value_error(value[name], kind)
            if error:
                return error
    return None


def _value_error(value: Any, kind: Any) -> str | None:
    """unmarshalValue / unmarshalSingularValue for one field."""
    if isinstance(kind, tuple) and kind[:1] == ("repeated",):
        if not isinstance(value, list):
            return _cannot(value, "[]json.RawMessage")
        for item in value:
            error = None if item is None else _message_error(item, kind[1])
            if error:
                return error
        return None
    if isinstance(kind, tuple):
        return _message_error(value, kind)
    if kind == "strings":
        if not isinstance(value, list):
            return _cannot(value, "[]json.RawMessage")
        return next((_cannot(v, "string") for v in value if v is not None and not isinstance(v, str)), None)
    if kind == "string":
        return None if isinstance(value, str) else _cannot(value, "string")
    if kind == "bool":
        return None if isinstance(value, bool) else _cannot(value, "bool")
    if kind == "struct":
        return None if isinstance(value, dict) else "bad StructValue: " + _cannot(value, "map[string]json.RawMessage")
    if kind == "map":  # unmarshalValue's map: an object, then each value as the value kind (string here)
        if not isinstance(value, dict):
            return _cannot(value, "map[string]json.RawMessage")
        return next((_cannot(v, "string") for v in value.values() if v is not None and not isinstance(v, str)), None)
    if kind == "double":
        return _double_error(value)
    if kind == "duration":
        if not isinstance(value, str):
            return _cannot(value, "string")
        error = parse_duration_error(value)
        return f"bad Duration: {error}" if error else None
    _, enum, names = kind.split(":")
    if isinstance(value, str):
        return None if value in names.split(",") else f'unknown value "\\"{value}\\"" for enum {enum}'
    if isinstance(value, int | float) and not isinstance(value, bool):
        if float(value).is_integer() and -(2**31) <= value < 2**31:
            return None
        text = str(int(value)) if float(value).is_integer() else repr(value)  # encoding/json: "number <literal>"
        return f"json: cannot unmarshal number {text} into Go value of type protoreflect.EnumNumber"
    return _cannot(value, "protoreflect.EnumNumber")


def _double_error(value: Any) -> str | None:
    """A DoubleValue (jsonpb decode.go unmarshalSingularValue, DoubleKind): "NaN", "Infinity", "-Infinity",
    else the value with its quotes trimmed, through json.Unmarshal into a float64 (a quoted number passes;
    encoding/json's syntax errors for what is no JSON at all)."""
    if isinstance(value, bool | dict | list):
        return _cannot(value, "float64")
    if not isinstance(value, str) or value in ("NaN", "Infinity", "-Infinity"):
        return None
    text = value
    if not text.strip():
        return "unexpected end of JSON input"
    start = len(text) - len(text.lstrip())
    try:
        parsed, end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        return f"invalid character {_go_char(text[start])} looking for beginning of value"
    if text[end:].strip():
        return f"invalid character {_go_char(text[end:].lstrip()[0])} after top-level value"
    return None if isinstance(parsed, int | float) and not isinstance(parsed, bool) else _cannot(parsed, "float64")


def _go_char(char: str) -> str:
    """encoding/json's quoteChar: `'x'`, with `'\\''` and `'\"'` escaped."""
    return "'\\''" if char == "'" else "'\"'" if char == '"' else f"'{char}'"


def mesh_decode_error(body: dict[str, Any]) -> str | None:
    """The error decoding a Mesh body (its fields at the top level) into the Mesh message: Kuma 2.14.3
    pkg/core/resources/model/rest/unversioned/resource.go UnmarshalJSON, util/proto FromJSON (jsonpb,
    unknown fields allowed), every message of mesh.proto and metrics.proto."""
    return _message_error(body, MESH_MESSAGE)
