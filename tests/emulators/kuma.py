"""A Kuma 2.14 control-plane API emulator (Universal) over real HTTP on 127.0.0.1: stateful, with the behaviour
gatewayctl relies on reproduced from kumahq/kuma v2.14.3 (pkg/api-server/resource_endpoints.go, pagination.go,
filters/filtering.go, index_endpoints.go, policies_endpoints.go, mappers/resource_type_description.go,
pkg/core/rest/errors/error_handler.go, pkg/core/resources/labels/compute.go, pkg/defaults/mesh/mesh.go,
pkg/core/managers/apis/mesh/mesh_validator.go, pkg/core/resources/model/rest/...):

- `GET /` (hostname, product, version, instanceId, clusterId, gui; no mode), `GET /config` (mode,
  environment, multizone.zone.name/globalAddress, apiServer.readOnly), `GET /_resources`
- `GET/PUT/DELETE /meshes/{name}`, `GET/PUT/DELETE /meshes/{mesh}/{path}/{name}`, lists at `/meshes`,
  `/meshes/{mesh}/{path}` and across meshes at `/{path}`; PUT answers 201 `{}` on create and 200 `{}` on
  update (`{"warnings": [...]}` for deprecations, e.g. MeshTrafficPermission `from`); DELETE 200 `{}`, 404
  when absent
- lists: `size` (default 100, max 1000, errors as the server words them), numeric `offset`, `next` as a full
  URL or null, `total`; `name` (substring) and `filter[labels.<key>]=<value>` (ANDed) filters
- labels the control plane computes: `kuma.io/mesh` on mesh-scoped objects; on a zone control plane, for types
  a zone provides (policies, not the Mesh), `kuma.io/origin: zone`, `kuma.io/zone: <zone>`, `kuma.io/env:
  universal`; `origin`/`zone`/`display-name` immutable on update; `creationTime`, `modificationTime`, `kri`
- the Mesh `default` exists from the start (with its default policies) unless `default_mesh=False` or
  federated; a new Mesh gets the default policies `mesh-timeout-all-<m>`, `mesh-circuit-breaker-all-<m>`,
  `mesh-retry-all-<m>`, `mesh-gateways-timeout-all-<m>` (unless `skipCreatingInitialPolicies: ["*"]`);
  deleting a Mesh deletes everything in it, and is refused while Dataplanes are attached
- the Mesh is protobuf: unknown fields are dropped and zero values (including the enum default `STRICT`)
  are left out when it is read back; policies are Go structs: durations come back as Go prints them
  (`1m` -> `1m0s`) and the CRD schema defaults are filled in (MeshTrace zipkin `sharedSpanContext`, ...)
- policy specs: unknown fields dropped (decoded into Go structs; modelled at the top level and in to[]/from[]/
  rules[] items), schema enums checked (targetRef kinds, MeshTrafficPermission actions, backend types, load
  balancer types: `spec.<path>` "in body should be one of [...]")
- errors with Kuma's body `{type: "/std-errors", status, title, detail, invalid_parameters, details, causes}`:
  mesh missing (404 "Failed to retrieve Mesh"), name/type/mesh differing between URL and body, labels, basic
  targetRef-kind validation per policy, 405 with the server's read-only messages (API server read-only; a
  global CP for zone-provided types; a federated zone for global-provided types such as Mesh), on a federated
  zone policies without `kuma.io/origin: zone`, on a global CP an origin other than `global`; 401 for a wrong
  token
- fault injection shared with the other emulators (`server.py`): fail the Nth matching request, drop the
  connection (before or after doing the work), delay, or a seeded share of faulty writes

Run on its own for manual trials: `python -m tests.emulators.kuma --port 15681 [--mode global|zone]
[--federated] [--read-only]`.
"""

from __future__ import annotations

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
    from .server import ApiError, EmulatorHandler, EmulatorState, Fault, RandomFaults, Request
except ImportError:  # run as a script
    import server  # type: ignore[no-redef,import-not-found]
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
MESH_FIELDS = {  # mesh.proto top-level fields; anything else in a Mesh body is dropped (protojson, unknown allowed)
    "mtls",
    "tracing",
    "logging",
    "metrics",
    "networking",
    "routing",
    "constraints",
    "skipCreatingInitialPolicies",
    "meshServices",
}
META_FIELDS = {"type", "name", "mesh", "labels", "creationTime", "modificationTime", "kri", "spec", "status"}
DURATION = re.compile(
    r"^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h)(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))*$"
)
UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")

# Top-level / to[] / from[] targetRef kinds each policy's validator accepts for a system policy (2.14
# pkg/plugins/policies/<policy>/api/v1alpha1/validator.go). None: the section is not allowed at all.
ALL_TOP = ["Mesh", "MeshSubset", "MeshGateway", "MeshService", "MeshServiceSubset", "MeshHTTPRoute", "Dataplane"]
TO_KINDS = ["Mesh", "MeshService", "MeshExternalService", "MeshMultiZoneService", "MeshHTTPRoute"]


# Enums the policies' CRD schemas declare (2.14 `*.rest.yaml`) for fields gatewayctl writes; a value outside
# one fails schema validation before the Go validator runs (pkg/core/resources/model/rest/unmarshaller.go).
ENUMS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "MeshTrafficPermission": (("from[].default.action", ("Allow", "Deny", "AllowWithShadowDeny")),),
    "MeshLoadBalancingStrategy": (
        ("to[].default.loadBalancer.type", ("RoundRobin", "LeastRequest", "RingHash", "Random", "Maglev")),
    ),
    "MeshTrace": (("default.backends[].type", ("Zipkin", "Datadog", "OpenTelemetry")),),
    "MeshMetric": (("default.backends[].type", ("Prometheus", "OpenTelemetry")),),
    "MeshAccessLog": tuple(
        (f"{section}[].default.backends[].type", ("Tcp", "File", "OpenTelemetry"))
        for section in ("from", "rules", "to")
    ),
}
TARGET_REF_KINDS = (
    "Mesh",
    "MeshSubset",
    "MeshGateway",
    "MeshService",
    "MeshExternalService",
    "MeshMultiZoneService",
    "MeshServiceSubset",
    "MeshHTTPRoute",
    "Dataplane",
)


@dataclass(frozen=True)
class Kind:
    name: str
    path: str
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
    )


KINDS: list[Kind] = [
    Kind("Mesh", "meshes", "Global", "m", False, True),
    Kind("Dataplane", "dataplanes", "Mesh", "dp", True, False),
    Kind("MeshService", "meshservices", "Mesh", "msvc", True, False),
    Kind("Secret", "secrets", "Mesh", "", False, True),
    Kind("GlobalSecret", "global-secrets", "Global", "", False, True),
    Kind("Zone", "zones", "Global", "z", False, True),
    _policy(
        "MeshAccessLog",
        "meshaccesslogs",
        "mal",
        to=True,
        frm=True,
        rules=True,
        from_as_rules=True,
        defaults=tuple(
            (f"{section}[].default.backends[].{out}.format.omitEmptyValues", False)
            for section in ("from", "rules", "to")
            for out in ("file", "tcp")
        ),
    ),
    _policy("MeshCircuitBreaker", "meshcircuitbreakers", "mcb", to=True, frm=True, rules=True, from_as_rules=True),
    _policy("MeshFaultInjection", "meshfaultinjections", "mfi", to=True, frm=True, rules=True),
    _policy("MeshHTTPRoute", "meshhttproutes", "mhttpr", to=True),
    _policy("MeshHealthCheck", "meshhealthchecks", "mhc", to=True),
    _policy("MeshLoadBalancingStrategy", "meshloadbalancingstrategies", "mlbs", to=True),
    _policy(
        "MeshMetric",
        "meshmetrics",
        "mm",
        top=["Mesh", "MeshSubset", "MeshService", "MeshServiceSubset", "Dataplane"],
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
        top=["Mesh", "MeshSubset", "MeshService", "MeshServiceSubset", "Dataplane"],
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
BY_PATH = {k.path: k for k in KINDS}


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
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text):
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
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
            if kind.name == "Mesh":
                fields = {k: v for k, v in fields.items() if k in MESH_FIELDS}
            stored["fields"] = proto_json(fields)
        else:
            spec = prune(kind, copy.deepcopy(body.get("spec") or {}))
            fill_defaults(spec, kind.defaults)
            stored["spec"] = go_struct(spec)
        self.store[key] = stored

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
        """pkg/defaults/mesh/mesh.go: the policies every new Mesh gets."""
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
    schemas do not forbid additional properties). Modelled for the top level and the items of to[], from[]
    and rules[]."""
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
    for section, keys in (("to", {"targetRef", "default"}), ("from", {"targetRef", "default"})):
        if isinstance(out.get(section), list):
            out[section] = [
                {k: v for k, v in i.items() if k in keys} if isinstance(i, dict) else i for i in out[section]
            ]
    if isinstance(out.get("rules"), list):
        out["rules"] = [
            {k: v for k, v in i.items() if k in ("matches", "default")} if isinstance(i, dict) else i
            for i in out["rules"]
        ]
    return out


def schema_problems(kind: Kind, spec: Any) -> list[tuple[str, str]]:
    """kube-openapi's enum errors as Kuma words them: field `spec.<path>`, reason `in body should be one of [...]`."""
    problems: list[tuple[str, str]] = []
    if not isinstance(spec, dict):
        return problems
    for dotted, allowed in ENUMS.get(kind.name, ()):
        for path, value in _values(spec, dotted.split("."), "spec"):
            if value not in allowed:
                problems.append((path, f"in body should be one of [{' '.join(allowed)}]"))
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
    """Basic per-policy validation: targetRef kinds at the top, in to[] and from[], and the sections allowed."""
    spec = body.get("spec")
    if kind.policy is None:
        return []
    if not isinstance(spec, dict):
        return [("spec", "must be defined")]
    problems: list[tuple[str, str]] = []
    top = spec.get("targetRef")
    if isinstance(top, dict):
        problems += _target_ref("spec.targetRef", top, kind.top or ALL_TOP)
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
    return problems


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
    """resource_endpoints.go validateLabels / validateOriginForWrite."""
    labels = body.get("labels") or {}
    problems: list[tuple[str, str]] = []
    if not isinstance(labels, dict):
        return [("labels", "must be a map")]
    origin = labels.get("kuma.io/origin")
    if origin is not None and origin not in ("global", "zone"):
        problems.append(('labels["kuma.io/origin"]', f"unknown resource origin {origin!r}"))
    problems += origin_problems(state, kind, labels)
    if state.mode != "global" and origin != "global":
        if "kuma.io/zone" in labels and labels["kuma.io/zone"] != state.zone:
            problems.append(('labels["kuma.io/zone"]', f"kuma.io/zone label should have {state.zone} value"))
        if "kuma.io/mesh" in labels and labels["kuma.io/mesh"] != body.get("mesh"):
            problems.append(('labels["kuma.io/mesh"]', "kuma.io/mesh label must not differ from mesh set on resource"))
    for key in sorted(labels):
        value = str(labels[key])
        if len(value) > 63:
            problems.append((f'labels["{key}"]', "must be no more than 63 characters"))
        elif not LABEL_VALUE.match(value):
            problems.append(
                (
                    f'labels["{key}"]',
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                )
            )
    return problems


def origin_problems(state: KumaState, kind: Kind, labels: dict[str, Any]) -> list[tuple[str, str]]:
    origin = labels.get("kuma.io/origin")
    if state.mode == "global" and origin is not None and origin != "global":
        return [('labels["kuma.io/origin"]', "the origin label must be set to 'global'")]
    if state.federated and kind.policy is not None and origin != "zone":
        return [('labels["kuma.io/origin"]', "the origin label must be set to 'zone'")]
    return []


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
        zone: dict[str, Any] = {"name": state.zone} if state.mode == "zone" else {}
        if state.federated:
            zone["globalAddress"] = "grpcs://kuma-global:5685"
        return 200, {
            "mode": state.mode,
            "environment": "universal",
            "store": {"type": "memory"},
            "apiServer": {"readOnly": state.read_only, "http": {"port": 5681}},
            "multizone": {"zone": zone} if zone else {"global": {}},
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
    if len(segments) == 1 and method == "GET" and segments[0] in BY_PATH and BY_PATH[segments[0]].scope == "Mesh":
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
    plural = words[:-1] + "ies" if words.endswith("y") else words + ("es" if words.endswith(("s", "sh", "S")) else "s")
    out: dict[str, Any] = {
        "includeInFederation": kind.by_global and not kind.read_only,
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
        _mesh_exists(state, kind, mesh)
        return 200, list_page(state, kind, mesh if kind.scope == "Mesh" else None, query, host, path)
    if method == "GET":
        _mesh_exists(state, kind, mesh)
        stored = state.store.get((kind.name, mesh, name))
        if stored is None:
            raise std_error(404, "Could not retrieve a resource", "Not found")
        return 200, state.render(kind, stored)
    if method not in ("PUT", "DELETE"):
        raise ApiError(405, "405: Method Not Allowed")
    if state.type_read_only(kind):
        raise std_error(405, "Method not allowed", state.read_only_message())
    if method == "DELETE":
        return delete(state, kind, mesh, name)
    return put(state, kind, mesh, name, body)


def _mesh_exists(state: KumaState, kind: Kind, mesh: str) -> None:
    if kind.scope == "Mesh" and mesh and ("Mesh", "", mesh) not in state.store:
        raise std_error(404, "Failed to retrieve Mesh", "Not found")


def put(state: KumaState, kind: Kind, mesh: str, name: str, body: Any) -> tuple[int, Any]:
    _mesh_exists(state, kind, mesh)
    if not isinstance(body, dict):
        raise std_error(400, "Bad Request", f'invalid {kind.name} object: "json: cannot unmarshal into Go value"')
    problems = schema_problems(kind, body.get("spec")) if kind.policy is not None else []
    problems = problems or validate_spec(kind, body)  # the Go validator runs only on a schema-valid object
    if problems:
        raise invalid("Could not process a resource", problems)
    existing = state.store.get((kind.name, mesh, name))
    problems = []
    if body.get("name") != name:
        problems.append(("name", "name from the URL has to be the same as in body"))
    if body.get("type") != kind.name:
        problems.append(("type", "type from the URL has to be the same as in body"))
    if kind.scope == "Mesh" and body.get("mesh") != mesh:
        problems.append(("mesh", "mesh from the URL has to be the same as in body"))
    problems += validate_labels(state, kind, body)
    if not NAME.match(name) or len(name) > 253:
        problems.append(("name", "invalid name"))
    if problems:
        raise invalid("Could not process a resource", problems)
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
    elif kind.name == "Mesh" and len(name) > 63:
        raise invalid("Failed to create a resource", [("name", "cannot be longer than 63 characters")])
    state.put(kind, mesh, name, body, labels)
    if kind.name == "Mesh" and existing is None:
        skipped = body.get("skipCreatingInitialPolicies") or []
        state.ensure_default_policies(name, [str(s) for s in skipped])
    warnings = deprecations(kind, body)
    return (200 if existing is not None else 201), ({"warnings": warnings} if warnings else {})


def deprecations(kind: Kind, body: dict[str, Any]) -> list[str]:
    spec = body.get("spec") or {}
    if kind.name == "MeshTrafficPermission" and spec.get("from"):
        return [
            "'from' field is deprecated and will be removed in 3.0, use 'rules' with MeshIdentity (spiffeId) instead"
        ]
    if kind.name in ("MeshRateLimit", "MeshTimeout", "MeshAccessLog", "MeshCircuitBreaker") and spec.get("from"):
        return ["'from' field is deprecated, use 'rules' instead"]
    return []


def delete(state: KumaState, kind: Kind, mesh: str, name: str) -> tuple[int, Any]:
    _mesh_exists(state, kind, mesh)
    stored = state.store.get((kind.name, mesh, name))
    if stored is None:
        raise std_error(404, "Could not delete a resource", "Not found")
    problems = origin_problems(state, kind, stored.get("labels") or {})
    if problems:
        raise invalid("Could not delete a resource", problems)
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


def list_page(
    state: KumaState, kind: Kind, mesh: str | None, query: dict[str, list[str]], host: str, path: str
) -> dict[str, Any]:
    size = 100
    if query.get("size", [""])[-1] != "":
        text = query["size"][-1]
        if not re.fullmatch(r"-?\d+", text):
            raise std_error(400, "Could not retrieve resources", "Invalid page size", [("size", "invalid format")])
        size = int(text)
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
    offset = 0
    if query.get("offset", [""])[-1] != "":
        text = query["offset"][-1]
        if not re.fullmatch(r"\d+", text):
            message = f'invalid: invalid offset: strconv.Atoi: parsing "{text}": invalid syntax'
            raise std_error(400, "Could not retrieve resources", message)
        offset = int(text)
    filters: dict[str, str] = {}
    violations: list[tuple[str, str]] = []
    route_path = "/meshes/{mesh}/" + kind.path if mesh is not None else "/" + kind.path
    for key, values in query.items():
        if not key.startswith("filter["):
            continue
        if not key.startswith("filter[labels."):
            violations.append((f"{route_path}.{key}", "filters are only supported on labels"))
            continue
        closing = key.index("]")
        if closing != len(key) - 1:
            violations.append((f"{route_path}.{key}", "advanced filters are not supported"))
            continue
        filters[key[len("filter[labels.") : closing]] = values[-1]
    if violations:
        raise invalid("Could not retrieve resources", violations)
    contains = query.get("name", [""])[-1]
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
        params = {k: v[-1] for k, v in query.items()}
        params["offset"] = str(offset + size)
        nxt = f"http://{host}{path}?{urlencode(sorted(params.items()))}"
    return {"total": len(items), "items": [state.render(kind, s) for s in chunk], "next": nxt}


# ---------------------------------------------------------------------- HTTP


class Handler(EmulatorHandler[KumaState]):
    def answer(self, method: str, path: str, query: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        state = self.state
        auth = self.headers.get("Authorization")
        if state.token is not None and auth is not None and auth != f"Bearer {state.token}" and path != "/":
            raise std_error(401, "Invalid authentication data", "Unauthenticated")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            raise std_error(400, "Bad Request", "invalid character in JSON body") from None
        params = parse_qs(query, keep_blank_values=True)
        with state.lock:
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
