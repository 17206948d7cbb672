"""Catalog -> Kuma 2.14 mesh policies, in Kubernetes (CRD) and Universal form.

The policies are built once, as plain data (`KumaObject`: kind, name, labels, spec), and wrapped in each
envelope; the spec is the same object in both forms. What each catalog key becomes, how services are
identified on each platform, and what changes for Kuma 3.0 is in docs/mesh.md.

Shapes used (the Kuma 2.14 subset that also survives 3.0, except where noted):
- top-level `targetRef` is `Mesh` or `Dataplane` with `labels`;
- outbound settings (retry, timeout, circuit breaker, health check, load balancing) sit on the callers'
  side: top-level `Mesh`, `to[]` the service (`MeshService` by its `kuma.io/service` name: 2.x only);
- inbound settings (rate limit, access log) use `rules[]`;
- `MeshTrafficPermission` uses `from[]` with `MeshSubset` tags, and the `Mesh` holds a builtin-CA mTLS
  backend: both are Kuma 2.x only (3.0 moves to MeshIdentity/MeshTrust and `rules[]` on SPIFFE ids).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from gatewayctl.catalog.checks import in_mesh, kubernetes_service
from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.catalog.model import Catalog, Mesh, MeshMtls, Service, ServiceMesh
from gatewayctl.catalog.secrets import SecretResolver
from gatewayctl.catalog.units import Duration
from gatewayctl.diagnostics import CatalogInvalid
from gatewayctl.render.output import PRIVATE, PUBLIC, RenderedFile
from gatewayctl.render.ownership import SECRET_LABEL, ownership_labels
from gatewayctl.render.yaml_emitter import Emitter

API_VERSION = "kuma.io/v1alpha1"
MESH_LABEL = "kuma.io/mesh"
ORIGIN_LABEL = "kuma.io/origin"
SERVICE_TAG = "kuma.io/service"
CA_BACKEND = "ca-1"
MAX_NAME = 63  # names also end up in label values (kuma.io/display-name), which allow 63 characters

Spec = dict[str, Any]
MeshProtocol = Literal["http", "grpc", "tcp"]

# Catalog retry conditions -> MeshRetry `http.retryOn` values (Kuma 2.14 `HTTPRetryOn`).
RETRY_ON = {
    "5xx": "5xx",
    "gateway-error": "GatewayError",
    "reset": "Reset",
    "connect-failure": "ConnectFailure",
    "retriable-4xx": "Retriable4xx",
    "refused-stream": "RefusedStream",
    "http3-post-connect-failure": "Http3PostConnectFailure",
}
LOAD_BALANCERS = {
    "round-robin": "RoundRobin",
    "least-request": "LeastRequest",
    "ring-hash": "RingHash",
    "random": "Random",
    "maglev": "Maglev",
}


@dataclass(frozen=True)
class KumaObject:
    """One Kuma resource, independent of its envelope."""

    kind: str
    name: str
    labels: dict[str, str]
    spec: Spec
    mesh: str | None = None  # None for the Mesh itself, which belongs to no mesh

    @property
    def file_name(self) -> str:
        return f"{self.kind.lower()}-{self.name}.yaml"


@dataclass(frozen=True)
class Workload:
    """A catalog service as the mesh sees it."""

    service: Service
    kuma_service: str
    """The `kuma.io/service` tag: how callers (`from[]`) and destinations (`to[]`) name it."""
    selector: dict[str, str]
    """The Dataplane labels that select its proxies (top-level `targetRef`)."""
    protocol: MeshProtocol
    namespace: str | None = None
    kubernetes_service: str | None = None
    port: int | None = None

    @property
    def settings(self) -> ServiceMesh:
        return self.service.mesh or ServiceMesh()


# --------------------------------------------------------------------------- identity


def mesh_protocol(service: Service) -> MeshProtocol:
    """How Kuma sees the service's traffic: gRPC and HTTP it can read; a service that speaks TLS itself
    (https, grpcs, tls) or raw TCP is opaque TCP to the mesh."""
    protocol = service.effective_protocol
    if protocol == "http":
        return "http"
    if protocol == "grpc":
        return "grpc"
    return "tcp"


def workload(catalog: Catalog, service: Service) -> Workload:
    """The service's mesh identity on the catalog's platform (Kubernetes or VMs / Universal)."""
    settings = service.mesh or ServiceMesh()
    selector = dict(settings.selector) if settings.selector else {"app": service.name}
    protocol = mesh_protocol(service)
    if catalog.deployment.platform != "kubernetes":
        # Universal: the Dataplane's inbound carries `kuma.io/service: <catalog name>` (see docs/mesh.md).
        return Workload(service, service.name, selector, protocol, port=settings.port)
    name, namespace, port = kubernetes_service(service)
    # What Kuma's pod converter computes for a Service port (`util_k8s.ServiceTag`); the checks make sure
    # namespace and port are known for every mesh service on Kubernetes.
    kuma_service = f"{name}_{namespace}_svc_{port}"
    return Workload(service, kuma_service, selector, protocol, namespace, name, port)


def workloads(catalog: Catalog) -> list[Workload]:
    """Every service that is a mesh workload, in catalog order."""
    return [workload(catalog, s) for s in catalog.services if in_mesh(catalog, s)]


def object_name(*parts: str) -> str:
    """An RFC 1123 name of at most 63 characters, stable across runs: the parts joined by '-', or, when
    that is too long, its first 54 characters and 8 hex digits of its hash."""
    name = "-".join(parts)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-.')}-{digest}"


def go_duration(value: Duration) -> str:
    """Kuma parses durations with Go's time.ParseDuration, which has no `d`: 1d becomes 24h."""
    ms = value.ms
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


# --------------------------------------------------------------------------- the objects


@dataclass
class _Builder:
    catalog: Catalog
    mesh: Mesh
    secrets: SecretResolver | None = None
    objects: list[KumaObject] = field(default_factory=list)

    def labels(self, mesh_scoped: bool = True) -> dict[str, str]:
        labels = ownership_labels(self.catalog.name)
        if mesh_scoped:
            labels[MESH_LABEL] = self.mesh.name
            if self.catalog.deployment.kuma.mode == "zone":
                # Required on a federated zone in Kuma 2.14 (and what a zone computes anyway).
                labels[ORIGIN_LABEL] = "zone"
        return labels

    def add(self, kind: str, name: str, spec: Spec) -> KumaObject:
        return KumaObject(kind, name, self.labels(), spec, self.mesh.name)

    def build(self) -> list[KumaObject]:
        self.objects.extend(self.each())
        return self.objects

    def each(self) -> Iterator[KumaObject]:
        """The objects one by one (render_kuma writes each and lets it go: 70,000 specs need not be alive
        at once)."""
        catalog, mesh = self.catalog, self.mesh
        yield KumaObject("Mesh", mesh.name, self.labels(mesh_scoped=False), mesh_spec(mesh))
        wide = object_name(catalog.name)
        if mesh.tracing and mesh.tracing.zipkin:
            trace = self.add("MeshTrace", wide, self.trace_spec())
            if "${" in mesh.tracing.zipkin.endpoint:
                trace.labels[SECRET_LABEL] = "true"
            yield trace
        if mesh.metrics and mesh.metrics.prometheus:
            prometheus = mesh.metrics.prometheus
            backend = {"type": "Prometheus", "prometheus": {"port": prometheus.port, "path": prometheus.path}}
            yield self.add("MeshMetric", wide, {"targetRef": {"kind": "Mesh"}, "default": {"backends": [backend]}})
        if mesh.access_log and (mesh.access_log.file or mesh.access_log.tcp):
            yield self.add("MeshAccessLog", wide, access_log_spec(mesh))
        if mesh.default_action == "allow":
            yield self.add("MeshTrafficPermission", wide, allow_all_spec())
        members = workloads(catalog)
        by_name = {w.service.name: w for w in members}
        for w in members:
            name = object_name(catalog.name, w.service.name)
            permission = permission_spec(w, by_name, mesh.gateway_selector)
            if permission:
                yield self.add("MeshTrafficPermission", name, permission)
            for kind, default in outbound_settings(w):
                yield self.add(kind, name, to_service(w, default))
            if w.settings.rate_limit:
                yield self.add("MeshRateLimit", name, rate_limit_spec(w))

    def trace_spec(self) -> Spec:
        zipkin = self.mesh.tracing.zipkin if self.mesh.tracing else None
        assert zipkin is not None
        url = self.secrets.resolve(zipkin.endpoint) if self.secrets else zipkin.endpoint
        sampling = zipkin.sampling
        overall = int(sampling) if sampling == int(sampling) else decimal_text(sampling)
        return {
            "targetRef": {"kind": "Mesh"},
            "default": {
                "backends": [{"type": "Zipkin", "zipkin": {"url": url, "apiVersion": "httpJson"}}],
                "sampling": {"overall": overall},
            },
        }


def decimal_text(number: float) -> str:
    """A fraction as the plain decimal Kuma's IntOrString percentages take (shopspring's NewFromString), every
    digit the catalog gave kept: Python's shortest round-trip form, never an exponent (1e-05 -> 0.00001)."""
    return format(Decimal(repr(number)), "f")


def build_kuma_objects(catalog: Catalog, secrets: SecretResolver | None = None) -> list[KumaObject]:
    """Every Kuma object the catalog's mesh needs, in a stable order: the Mesh, the mesh-wide policies,
    then each mesh service's policies in catalog order. Empty when the catalog has no enabled mesh."""
    if not catalog.mesh_enabled or catalog.mesh is None:
        return []
    return _Builder(catalog, catalog.mesh, secrets).build()


def mesh_spec(mesh: Mesh) -> Spec:
    """mTLS from a builtin CA, always on: without it Kuma enforces no MeshTrafficPermission at all."""
    mtls = mesh.mtls or MeshMtls()
    backend: Spec = {"name": CA_BACKEND, "type": "builtin", "mode": mtls.mode.upper()}
    if mtls.rotation:
        backend["dpCert"] = {"rotation": {"expiration": go_duration(mtls.rotation)}}
    return {"mtls": {"enabledBackend": CA_BACKEND, "backends": [backend]}}


def access_log_spec(mesh: Mesh) -> Spec:
    """Every request a mesh proxy receives (inbound `rules[]`), to a file and/or a TCP collector."""
    log = mesh.access_log
    assert log is not None
    backends: list[Spec] = []
    if log.file:
        backends.append({"type": "File", "file": {"path": log.file}})
    if log.tcp:
        backends.append({"type": "Tcp", "tcp": {"address": log.tcp}})
    return {"targetRef": {"kind": "Mesh"}, "rules": [{"default": {"backends": backends}}]}


def allow_all_spec() -> Spec:
    return {
        "targetRef": {"kind": "Mesh"},
        "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}],
    }


def permission_spec(w: Workload, members: dict[str, Workload], gateway_selector: dict[str, str]) -> Spec | None:
    """Who may open connections to the service: Kong (by its Dataplane tags) when the service has
    routes, and each `allow_from` caller (by its `kuma.io/service`). Everyone else is denied while
    `default_action` is deny, because Kuma denies what no permission allows once mTLS is on."""
    callers: list[dict[str, str]] = []
    if w.service.routes:
        callers.append(dict(gateway_selector))
    for name in w.settings.allow_from:
        caller = members.get(name)
        if caller is not None and {SERVICE_TAG: caller.kuma_service} not in callers:
            callers.append({SERVICE_TAG: caller.kuma_service})
    if not callers:
        return None
    return {
        "targetRef": {"kind": "Dataplane", "labels": dict(w.selector)},
        "from": [
            {"targetRef": {"kind": "MeshSubset", "tags": tags}, "default": {"action": "Allow"}} for tags in callers
        ],
    }


def outbound_settings(w: Workload) -> list[tuple[str, Spec]]:
    """(kind, `to[].default`) for each caller-side setting the service has, in a fixed kind order."""
    s = w.settings
    out: list[tuple[str, Spec]] = []
    if s.retries:
        r = s.retries
        retry: Spec
        if w.protocol == "tcp":
            retry = {"tcp": {"maxConnectAttempt": r.attempts + 1}}  # the first attempt plus the retries
        else:
            conf: Spec = {"numRetries": r.attempts}
            if w.protocol == "http":
                conf["retryOn"] = [RETRY_ON[c] for c in r.on if c in RETRY_ON]
            if r.backoff:
                conf["backOff"] = {
                    "baseInterval": go_duration(r.backoff.low),
                    "maxInterval": go_duration(r.backoff.high),
                }
            retry = {w.protocol: conf}
        out.append(("MeshRetry", retry))
    if s.timeouts:
        t = s.timeouts
        timeout: Spec = {}
        if t.connect is not None:
            timeout["connectionTimeout"] = go_duration(t.connect)
        if t.idle is not None:
            timeout["idleTimeout"] = go_duration(t.idle)
        if t.request is not None and w.protocol != "tcp":
            timeout["http"] = {"requestTimeout": go_duration(t.request)}
        if timeout:
            out.append(("MeshTimeout", timeout))
    if s.circuit_breaker:
        cb = s.circuit_breaker
        out.append(
            (
                "MeshCircuitBreaker",
                {
                    "outlierDetection": {
                        "disabled": False,
                        "interval": go_duration(cb.interval),
                        "baseEjectionTime": go_duration(cb.base_ejection),
                        "maxEjectionPercent": cb.max_ejection_percent,
                        "detectors": {"totalFailures": {"consecutive": cb.consecutive_5xx}},
                    }
                },
            )
        )
    if s.health_check:
        hc = s.health_check
        check: Spec = {
            "interval": go_duration(hc.interval),
            "timeout": go_duration(hc.timeout),
            "unhealthyThreshold": hc.unhealthy_after,
            "healthyThreshold": hc.healthy_after,
        }
        if w.protocol == "http":
            check["http"] = {"path": hc.path}
        else:
            check[w.protocol] = {}
        out.append(("MeshHealthCheck", check))
    if s.load_balancer:
        out.append(("MeshLoadBalancingStrategy", {"loadBalancer": {"type": LOAD_BALANCERS[s.load_balancer]}}))
    return out


def to_service(w: Workload, default: Spec) -> Spec:
    """A caller-side policy: every proxy in the mesh, when it calls this service."""
    return {
        "targetRef": {"kind": "Mesh"},
        "to": [{"targetRef": {"kind": "MeshService", "name": w.kuma_service}, "default": default}],
    }


def rate_limit_spec(w: Workload) -> Spec:
    """A local limit on each instance's inbound: requests for HTTP and gRPC, connections for TCP."""
    limit = w.settings.rate_limit
    assert limit is not None
    rate = {"num": limit.requests, "interval": go_duration(limit.interval)}
    local: Spec = (
        {"tcp": {"connectionRate": rate}}
        if w.protocol == "tcp"
        else {"http": {"requestRate": rate, "onRateLimit": {"status": 429}}}
    )
    return {"targetRef": {"kind": "Dataplane", "labels": dict(w.selector)}, "rules": [{"default": {"local": local}}]}


# --------------------------------------------------------------------------- envelopes and files


def kubernetes_form(obj: KumaObject, namespace: str) -> dict[str, Any]:
    """The CRD form. Policies live in the Kuma system namespace (system policies); the Mesh is cluster-scoped."""
    metadata: dict[str, Any] = {"name": obj.name}
    if obj.mesh is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(obj.labels)
    return {"apiVersion": API_VERSION, "kind": obj.kind, "metadata": metadata, "spec": obj.spec}


def universal_form(obj: KumaObject) -> dict[str, Any]:
    """The form `kumactl apply` and the Kuma API take. The Mesh is proto-based: its fields sit at the top
    level instead of under `spec`."""
    doc: dict[str, Any] = {"type": obj.kind, "name": obj.name}
    if obj.mesh is not None:
        doc["mesh"] = obj.mesh
    doc["labels"] = dict(obj.labels)
    if obj.mesh is None:
        doc.update(obj.spec)
    else:
        doc["spec"] = obj.spec
    return doc


def render_kuma(loaded: LoadedCatalog, secrets: SecretResolver) -> list[RenderedFile]:
    """OUT/kuma/kubernetes/*.yaml and OUT/kuma/universal/*.yaml, one object per file, the same objects
    (and the same spec) in both folders."""
    catalog = loaded.catalog
    if not catalog.mesh_enabled:
        return []
    references = [(path, ref) for path, ref in loaded.secret_references if path[0] == "mesh"]
    problems = [loaded.source.diagnostic(path, why) for path, ref in references if (why := secrets.problem(ref))]
    if problems:
        raise CatalogInvalid(problems)
    mode = PRIVATE if references else PUBLIC
    namespace = catalog.deployment.namespaces.kuma
    kubernetes: list[RenderedFile] = []
    universal: list[RenderedFile] = []
    emitter = Emitter()  # one set of caches for the 140,000 documents of a 10,000-service mesh
    heads = _Heads(namespace, emitter)
    specs = _Specs(emitter)
    if catalog.mesh is None:  # mesh_enabled says there is one
        return []
    for obj in _Builder(catalog, catalog.mesh, secrets).each():  # what build_kuma_objects lists, one by one
        if obj.mesh is None:  # the Mesh: its fields sit at the top level in Universal form
            for folder, doc, out in (
                ("kubernetes", kubernetes_form(obj, namespace), kubernetes),
                ("universal", universal_form(obj), universal),
            ):
                out.append(RenderedFile(f"kuma/{folder}/{obj.file_name}", emitter.emit(doc).encode(), mode))
            continue
        # The spec is the same in both forms and ends both documents: dump it once (a block mapping's
        # top-level keys dump independently, so head + spec is byte for byte the whole document).
        spec = specs.text(obj.spec)
        for folder, out in (("kubernetes", kubernetes), ("universal", universal)):
            content = heads.head(folder, obj) + spec
            out.append(RenderedFile(f"kuma/{folder}/{obj.file_name}", content.encode(), mode))
    return kubernetes + universal


class _Specs:
    """The `spec:` text of each policy. A caller-side policy (`to_service`) differs from another of the same
    settings only by the service it names, and services share settings (defaults, overlays): its text is
    written once per distinct `to[].default` (told apart by repr, exact for plain data) with a placeholder
    name, and each policy's service name is spliced in. Any other spec is written whole."""

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.templates: dict[str, tuple[str, str] | None] = {}

    def text(self, spec: Spec) -> str:
        target = _to_one_service(spec)
        if target is None:
            return self.emitter.emit({"spec": spec})
        name, default = target
        key = repr(default)
        if key not in self.templates:
            self.templates[key] = self.template(default)
        template = self.templates[key]
        if template is None:
            return self.emitter.emit({"spec": spec})
        before, after = template
        return before + self.emitter.spell(name) + after

    def template(self, default: Spec) -> tuple[str, str] | None:
        placeholder = _Heads.PLACEHOLDER
        spec = {
            "targetRef": {"kind": "Mesh"},
            "to": [{"targetRef": {"kind": "MeshService", "name": placeholder}, "default": default}],
        }
        parts = self.emitter.emit({"spec": spec}).split(f"name: {placeholder}\n")
        if len(parts) != 2 or placeholder in parts[0] + parts[1]:
            return None
        return parts[0] + "name: ", "\n" + parts[1]


def _to_one_service(spec: Spec) -> tuple[str, Spec] | None:
    """(service name, default) when `spec` is exactly what `to_service` builds, else None."""
    to = spec.get("to")
    if list(spec) != ["targetRef", "to"] or spec["targetRef"] != {"kind": "Mesh"} or type(to) is not list:
        return None
    if len(to) != 1 or type(to[0]) is not dict or list(to[0]) != ["targetRef", "default"]:
        return None
    ref = to[0]["targetRef"]
    if type(ref) is not dict or list(ref) != ["kind", "name"] or ref["kind"] != "MeshService":
        return None
    name = ref["name"]
    if type(name) is not str or "\n" in name:
        return None
    return name, to[0]["default"]


class _Heads:
    """Everything of a policy's document but its spec: the same text for every policy of a kind (apiVersion,
    kind, namespace, mesh, labels) but for its name. It is written once per kind, form and labels, with a
    placeholder name, and each policy's name is spliced in: writing the head of each of 140,000 documents
    took longer than everything else in the render."""

    PLACEHOLDER = "gatewayctl-name-placeholder-5f0c3e9a1b7d"

    def __init__(self, namespace: str, emitter: Emitter) -> None:
        self.namespace = namespace
        self.emitter = emitter
        self.templates: dict[tuple[Any, ...], tuple[str, str] | None] = {}

    def head(self, folder: str, obj: KumaObject) -> str:
        key = (folder, obj.kind, obj.mesh, *obj.labels.items())
        if key not in self.templates:
            self.templates[key] = self.template(folder, obj)
        template = self.templates[key]
        if template is None or "\n" in obj.name:  # no single name line to splice into: write it whole
            return self.emitter.emit(self.document(folder, obj))
        before, after = template
        return before + self.emitter.spell(obj.name) + after

    def template(self, folder: str, obj: KumaObject) -> tuple[str, str] | None:
        text = self.emitter.emit(self.document(folder, replace(obj, name=self.PLACEHOLDER)))
        parts = text.split(f"name: {self.PLACEHOLDER}\n")
        if len(parts) != 2 or self.PLACEHOLDER in parts[0] + parts[1]:
            return None
        return parts[0] + "name: ", "\n" + parts[1]

    def document(self, folder: str, obj: KumaObject) -> dict[str, Any]:
        doc = kubernetes_form(obj, self.namespace) if folder == "kubernetes" else universal_form(obj)
        return {k: v for k, v in doc.items() if k != "spec"}


# --------------------------------------------------------------------------- Kong and workloads in the mesh


@dataclass(frozen=True)
class MeshWiring:
    """What the Kubernetes objects around the policies need so that the policies apply (for the
    deployment renderer): Kong joins the mesh as a delegated gateway, the services' pods get sidecars,
    and Kuma learns each Service's protocol."""

    namespace_labels: dict[str, dict[str, str]]
    """Namespace -> labels: sidecar injection (and the mesh, when it is not `default`)."""
    kong_pod_annotations: dict[str, str]
    """`kuma.io/gateway: enabled`: the sidecar handles only traffic leaving Kong."""
    kong_pod_labels: dict[str, str]
    """`mesh.gateway_selector`: the labels the permissions name Kong by."""
    service_annotations: dict[str, dict[str, str]]
    """Catalog service -> annotations for its Kubernetes Service (Kong sends to the ClusterIP, which the
    transparent proxy intercepts; the protocol lets Kuma apply HTTP policies)."""
    workload_labels: dict[str, dict[str, str]]
    """Catalog service -> pod labels its policies select."""


def mesh_wiring(catalog: Catalog) -> MeshWiring | None:
    """None when the catalog has no enabled mesh."""
    if not catalog.mesh_enabled or catalog.mesh is None:
        return None
    mesh = catalog.mesh
    injection = {"kuma.io/sidecar-injection": "enabled"}
    if mesh.name != "default":
        injection[MESH_LABEL] = mesh.name
    members = workloads(catalog)
    namespaces = [catalog.deployment.namespaces.kong] + [w.namespace for w in members if w.namespace]
    annotations: dict[str, dict[str, str]] = {}
    for w in members:
        service_annotations = {"ingress.kubernetes.io/service-upstream": "true"}
        if w.port is not None:
            service_annotations[f"{w.port}.service.kuma.io/protocol"] = w.protocol
        annotations[w.service.name] = service_annotations
    return MeshWiring(
        namespace_labels={ns: dict(injection) for ns in dict.fromkeys(namespaces)},
        kong_pod_annotations={"kuma.io/gateway": "enabled"},
        kong_pod_labels=dict(mesh.gateway_selector),
        service_annotations=annotations,
        workload_labels={w.service.name: dict(w.selector) for w in members},
    )
