"""Owned Kuma objects (Universal form, as the control plane's API returns them) -> the catalog's `mesh:`
section and each service's `mesh:` block: the reverse of `gatewayctl/render/kuma.py`, for `gatewayctl dump`.

Services are identified as the renderer does on the catalog's default platform, Kubernetes:
`<name>_<namespace>_svc_<port>` from the service's url, with `mesh.namespace`/`mesh.port` written when the
live name says otherwise. What the mapping cannot say shows up in `replay`, which renders the written
catalog's Kuma objects and compares them with the live ones the way `apply` does."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from gatewayctl.apply.kuma_universal import build_changes
from gatewayctl.catalog.checks import kubernetes_service
from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.catalog.model import Service
from gatewayctl.catalog.secrets import SecretResolver
from gatewayctl.dump.values import duration
from gatewayctl.plan.kuma import KumaChange, duration_ns
from gatewayctl.plan.masking import Masker
from gatewayctl.render.kuma import (
    LOAD_BALANCERS,
    ORIGIN_LABEL,
    RETRY_ON,
    SERVICE_TAG,
    build_kuma_objects,
    object_name,
)
from gatewayctl.render.ownership import SECRET_LABEL

Obj = dict[str, Any]
K8S_SERVICE = re.compile(r"^(?P<name>.+)_(?P<namespace>[^_]+)_svc_(?P<port>\d+)$")
RETRY_FROM_KUMA = {v: k for k, v in RETRY_ON.items()}
BALANCER_FROM_KUMA = {v: k for k, v in LOAD_BALANCERS.items()}
OUTBOUND = ("MeshRetry", "MeshTimeout", "MeshCircuitBreaker", "MeshHealthCheck", "MeshLoadBalancingStrategy")


def mesh_to_catalog(
    catalog_name: str, objects: list[Obj], services: list[dict[str, Any]], secrets: list[tuple[str, str, str]]
) -> tuple[dict[str, Any] | None, dict[str, Any], list[str]]:
    """(the `mesh:` section or None, service name -> its `mesh:` value, notes) for a dumped catalog whose
    Kong services are `services`; a value that must not be written goes to `secrets` as (variable, what it
    holds, value) and into the catalog as `${env:variable}`."""
    meshes = [o for o in objects if o.get("type") == "Mesh"]
    notes: list[str] = []
    if not meshes:
        return None, {}, notes
    if len(meshes) > 1:
        notes.append(f"{len(meshes)} meshes carry this catalog's labels; a catalog has one: only the first is dumped")
    mesh_obj = meshes[0]
    mesh_name = str(mesh_obj.get("name"))
    policies = [o for o in objects if o.get("type") != "Mesh" and o.get("mesh") == mesh_name]
    section: dict[str, Any] = {}
    if mesh_name != "default":
        section["name"] = mesh_name
    section.update(_mtls(mesh_obj))
    wide = object_name(catalog_name)
    used: set[tuple[str, str]] = set()
    for policy in policies:
        kind, name, spec = str(policy.get("type")), str(policy.get("name")), policy.get("spec") or {}
        if name != wide:
            continue
        default = spec.get("default") or {}
        if kind == "MeshTrace":
            backend = (default.get("backends") or [{}])[0].get("zipkin") or {}
            zipkin: dict[str, Any] = {"endpoint": backend.get("url")}
            # a URL with credentials, or one the object's label says came from a reference (a token in a path)
            if secret_url(str(backend.get("url") or "")) or SECRET_LABEL in (policy.get("labels") or {}):
                secrets.append(
                    ("MESH_ZIPKIN_ENDPOINT", "the mesh's Zipkin endpoint (it holds credentials)", str(backend["url"]))
                )
                zipkin["endpoint"] = "${env:MESH_ZIPKIN_ENDPOINT}"
            overall = (default.get("sampling") or {}).get("overall")
            if overall is not None and float(overall) != 100:
                zipkin["sampling"] = float(overall) if float(overall) != int(float(overall)) else int(float(overall))
            section["tracing"] = {"zipkin": zipkin}
        elif kind == "MeshMetric":
            prometheus = (default.get("backends") or [{}])[0].get("prometheus") or {}
            section["metrics"] = {"prometheus": {k: prometheus[k] for k in ("port", "path") if k in prometheus}}
        elif kind == "MeshAccessLog":
            backends = ((spec.get("rules") or [{}])[0].get("default") or {}).get("backends") or []
            log: dict[str, Any] = {}
            for b in backends:
                if b.get("type") == "File":
                    log["file"] = (b.get("file") or {}).get("path")
                elif b.get("type") == "Tcp":
                    log["tcp"] = (b.get("tcp") or {}).get("address")
            section["access_log"] = log
        elif kind == "MeshTrafficPermission":
            section["default_action"] = "allow"
        else:
            continue
        used.add((kind, name))

    by_identity = _identities(services)
    blocks: dict[str, dict[str, Any]] = {}
    # mesh.namespace/mesh.port a service needs for the renderer to give it the name a policy uses: from any
    # policy naming it (its own outbound ones, or another's allow_from), whichever kind comes first
    placement: dict[str, dict[str, Any]] = {}
    gateway_selector: dict[str, str] | None = None
    for policy in policies:
        kind, name, spec = str(policy.get("type")), str(policy.get("name")), policy.get("spec") or {}
        if (kind, name) in used:
            continue
        if kind in OUTBOUND:
            to = (spec.get("to") or [{}])[0]
            identity = str((to.get("targetRef") or {}).get("name"))
            found = _service_for(identity, by_identity)
            if found is None:
                notes.append(f"{kind} {name}: targets {identity}, which is no service of the dump")
                continue
            service, extra = found
            placement.setdefault(service, {}).update(extra)
            block = blocks.setdefault(service, {})
            block.update(_outbound(kind, to.get("default") or {}))
        elif kind in ("MeshTrafficPermission", "MeshRateLimit"):
            owner = _owner(name, catalog_name, services)
            if owner is None:
                notes.append(f"{kind} {name}: for no service of the dump")
                continue
            service = owner
            block = blocks.setdefault(service, {})
            labels = (spec.get("targetRef") or {}).get("labels") or {}
            if labels and labels != {"app": service}:
                block["selector"] = dict(labels)
            if kind == "MeshRateLimit":
                block["rate_limit"] = _rate_limit(spec)
                continue
            callers = []
            for entry in spec.get("from") or []:
                tags = (entry.get("targetRef") or {}).get("tags") or {}
                if set(tags) == {SERVICE_TAG}:
                    caller = _service_for(str(tags[SERVICE_TAG]), by_identity)
                    if caller is not None:
                        callers.append(caller[0])
                        placement.setdefault(caller[0], {}).update(caller[1])
                    else:
                        notes.append(f"{kind} {name}: allows {tags[SERVICE_TAG]}, which is no service of the dump")
                elif gateway_selector is None:
                    gateway_selector = dict(tags)
            if callers:
                block["allow_from"] = callers
        else:
            notes.append(f"{kind} {name}: has no place in a catalog; not in the dump")
            continue
        used.add((kind, name))
    for service, extra in placement.items():
        if extra:
            blocks[service] = {**extra, **blocks.get(service, {})}
    if gateway_selector is not None and gateway_selector != {"app": "kong"}:
        section["gateway_selector"] = gateway_selector
    # every url service is in the mesh unless it opts out: those the mesh does not know about opt out
    out: dict[str, Any] = {}
    for s in services:
        name = str(s["name"])
        if name in blocks:
            out[name] = blocks[name]
        elif "url" in s:
            out[name] = None
    return section or {"enabled": True}, out, notes


def replay_kuma(loaded: LoadedCatalog, live: list[Obj], resolver: SecretResolver, masker: Masker) -> list[KumaChange]:
    """What applying the written dump would change in Kuma (on its API), as `apply` would compute it."""
    return build_changes(build_kuma_objects(loaded.catalog, resolver), live, masker)


# ---------------------------------------------------------------------- pieces


def _mtls(mesh: Obj) -> dict[str, Any]:
    backends = (mesh.get("mtls") or {}).get("backends") or [{}]
    backend = backends[0]
    mtls: dict[str, Any] = {}
    if str(backend.get("mode") or "STRICT").upper() == "PERMISSIVE":
        mtls["mode"] = "permissive"
    expiration = ((backend.get("dpCert") or {}).get("rotation") or {}).get("expiration")
    if isinstance(expiration, str) and duration_ns(expiration):
        mtls["rotation"] = duration((duration_ns(expiration) or 0) // 1_000_000)
    return {"mtls": mtls} if mtls else {}


def _identities(services: list[dict[str, Any]]) -> dict[str, tuple[str, str | None, int | None]]:
    """Kubernetes Service name -> (catalog service, namespace, port) as the url gives them."""
    out: dict[str, tuple[str, str | None, int | None]] = {}
    for s in services:
        model = Service.model_construct(name=s["name"], url=s.get("url"), mesh=None)
        name, namespace, port = kubernetes_service(model)
        out.setdefault(name, (str(s["name"]), namespace, port))
    return out


def _service_for(
    identity: str, by_identity: dict[str, tuple[str, str | None, int | None]]
) -> tuple[str, dict[str, Any]] | None:
    """(catalog service, the `mesh:` keys that make the renderer name it `identity`)."""
    match = K8S_SERVICE.match(identity)
    if match is None:
        return None
    found = by_identity.get(match["name"])
    if found is None:
        return None
    service, namespace, port = found
    extra: dict[str, Any] = {}
    if namespace != match["namespace"]:
        extra["namespace"] = match["namespace"]
    if port != int(match["port"]):
        extra["port"] = int(match["port"])
    return service, extra


def _owner(object_name_: str, catalog_name: str, services: list[dict[str, Any]]) -> str | None:
    for s in services:
        if object_name(catalog_name, str(s["name"])) == object_name_:
            return str(s["name"])
    return None


def _go(value: Any) -> str | None:
    ns = duration_ns(value) if isinstance(value, str) else None
    return duration(ns // 1_000_000) if ns else None


def _outbound(kind: str, default: dict[str, Any]) -> dict[str, Any]:
    if kind == "MeshRetry":
        if "tcp" in default:
            return {"retries": {"attempts": int(default["tcp"].get("maxConnectAttempt", 2)) - 1}}
        conf = default.get("http") or default.get("grpc") or {}
        retries: dict[str, Any] = {"attempts": conf.get("numRetries")}
        if "retryOn" in conf:
            retries["on"] = [RETRY_FROM_KUMA[v] for v in conf["retryOn"] if v in RETRY_FROM_KUMA]
        backoff = conf.get("backOff") or {}
        if backoff.get("baseInterval") and backoff.get("maxInterval"):
            retries["backoff"] = f"{_go(backoff['baseInterval'])}..{_go(backoff['maxInterval'])}"
        return {"retries": retries}
    if kind == "MeshTimeout":
        timeouts = {
            "connect": _go(default.get("connectionTimeout")),
            "idle": _go(default.get("idleTimeout")),
            "request": _go((default.get("http") or {}).get("requestTimeout")),
        }
        return {"timeouts": {k: v for k, v in timeouts.items() if v}}
    if kind == "MeshCircuitBreaker":
        od = default.get("outlierDetection") or {}
        return {
            "circuit_breaker": {
                "consecutive_5xx": ((od.get("detectors") or {}).get("totalFailures") or {}).get("consecutive"),
                "interval": _go(od.get("interval")),
                "base_ejection": _go(od.get("baseEjectionTime")),
                "max_ejection_percent": od.get("maxEjectionPercent"),
            }
        }
    if kind == "MeshHealthCheck":
        check = {
            "interval": _go(default.get("interval")),
            "timeout": _go(default.get("timeout")),
            "unhealthy_after": default.get("unhealthyThreshold"),
            "healthy_after": default.get("healthyThreshold"),
        }
        if (default.get("http") or {}).get("path"):
            check["path"] = default["http"]["path"]
        return {"health_check": {k: v for k, v in check.items() if v is not None}}
    balancer = (default.get("loadBalancer") or {}).get("type")
    return {"load_balancer": BALANCER_FROM_KUMA.get(str(balancer), str(balancer))}


def _rate_limit(spec: dict[str, Any]) -> dict[str, Any]:
    local = (((spec.get("rules") or [{}])[0].get("default") or {}).get("local")) or {}
    rate = (local.get("http") or {}).get("requestRate") or (local.get("tcp") or {}).get("connectionRate") or {}
    return {"requests": rate.get("num"), "interval": _go(rate.get("interval"))}


def zone_mode(objects: list[Obj]) -> bool:
    """Whether the objects were rendered for a zone control plane (they carry kuma.io/origin: zone)."""
    return any((o.get("labels") or {}).get(ORIGIN_LABEL) == "zone" for o in objects if o.get("type") != "Mesh")


def secret_url(url: str) -> bool:
    """A URL carrying credentials (a password, or a query string such as `?token=`) is dumped as a placeholder."""
    parts = urlsplit(url)
    return bool(parts.password or parts.query)
