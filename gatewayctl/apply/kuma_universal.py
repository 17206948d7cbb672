"""Kuma on Universal: plan and apply the catalog's Kuma objects through the control plane's HTTP API.

Reading (`plan_universal`): `GET /` (product, version), `GET /_resources` (each type's path and whether the
API lets us write it) and, when readable, `GET /config` (mode, federation, read-only switch) come first: a
control plane that cannot take the writes is refused before anything is read or sent (`KumaRefused`). Then
every owned object of every kind gatewayctl renders, in any mesh: `GET /meshes` and `GET /<path>` (the
cross-mesh list) filtered by both ownership labels (`filter[labels.<key>]=<value>`, ANDed), 1,000 per page.

Comparing: both sides without what the control plane adds (`creationTime`, `modificationTime`, `kri`,
`status`, computed labels such as `kuma.io/zone`), the desired side filled with the policy schemas' defaults
(Kuma 2.14 `*.rest.yaml`: Kuma fills them on write), durations compared by length (`1m` = `1m0s`), the Mesh
as protobuf prints it (zero values, and the enum default `STRICT`, left out).

Writing (`apply_universal`): `PUT /meshes/{name}` for the Mesh and `PUT /meshes/{mesh}/{path}/{name}` for a
policy (an upsert: 201 created, 200 updated), `DELETE` of owned objects the catalog no longer has (404 = already
gone). The Mesh is written first and deleted last; within a phase up to `parallelism` writes run at once. A
Mesh is never deleted while it holds objects gatewayctl does not own (deleting a Mesh deletes everything in
it): the plan keeps it and says so in `notes`.

Two applies at once: the Universal API has no conditional writes (no resourceVersion, PUT is last-writer-
wins) and no object gatewayctl could hold as a lock, so two Kuma applies are not serialised. What holds
instead: every write is an idempotent PUT of the whole object or a DELETE, so two applies of the same catalog
revision converge to it; applies of different catalogs touch disjoint objects (ownership labels); of two
revisions of one catalog applied at once, each object ends as the last writer left it, and the next apply
or `diff --exit-code` shows any mix. Serialise Kuma applies per catalog in CI (docs/apply.md).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gatewayctl.apply.batches import Cancel, run_batches
from gatewayctl.apply.kuma import MESH_KIND, OWNED_KINDS, KumaOutcome, phases
from gatewayctl.clients.kuma_api import KumaApi, KumaError
from gatewayctl.plan.kuma import (
    COMPUTED_LABELS,
    KumaChange,
    KumaPlan,
    Obj,
    comparable_labels,
    comparable_spec,
    field_changes,
    order_free,
    without_secret_label,
)
from gatewayctl.plan.masking import Masker
from gatewayctl.render.kuma import ORIGIN_LABEL, KumaObject, universal_form
from gatewayctl.render.ownership import CATALOG_LABEL, MANAGED_BY_LABEL, OWNER, ownership_labels

Progress = Callable[[KumaChange], None]

# Defaults Kuma fills in on write from each policy's schema (2.14 `pkg/plugins/policies/<p>/api/v1alpha1/
# rest.yaml`, structural defaulting: a field gets its default when its parent object exists).
SCHEMA_DEFAULTS: dict[str, tuple[tuple[str, Any], ...]] = {
    "MeshTrace": (
        ("default.backends[].datadog.splitService", False),
        ("default.backends[].openTelemetry.endpoint", ""),
        ("default.backends[].zipkin.apiVersion", "httpJson"),
        ("default.backends[].zipkin.sharedSpanContext", True),
        ("default.backends[].zipkin.traceId128bit", False),
    ),
    "MeshMetric": (
        ("default.applications[].path", "/metrics"),
        ("default.backends[].openTelemetry.endpoint", ""),
        ("default.backends[].prometheus.path", "/metrics"),
        ("default.backends[].prometheus.port", 5670),
        ("default.backends[].prometheus.tls.mode", "Disabled"),
    ),
    "MeshRetry": (
        ("to[].default.http.hostSelection[].updateFrequency", 2),
        ("to[].default.http.retriableRequestHeaders[].type", "Exact"),
        ("to[].default.http.retriableResponseHeaders[].type", "Exact"),
    ),
    "MeshAccessLog": tuple(
        (f"{section}[].default.backends[].{out}.format.omitEmptyValues", False)
        for section in ("from", "rules", "to")
        for out in ("file", "tcp")
    ),
}
# What a new Mesh gets from the control plane (2.14 pkg/defaults/mesh/mesh.go): not a reason to keep a Mesh.
DEFAULT_POLICY_PREFIXES = (
    "mesh-timeout-all-",
    "mesh-circuit-breaker-all-",
    "mesh-retry-all-",
    "mesh-gateways-timeout-all-",
)
SERVER_FIELDS = ("creationTime", "modificationTime", "kri", "status", "snis")


MIN_VERSION = (2, 10)


def _major_minor(version: str) -> tuple[int, int]:
    """`2.14.3` -> (2, 14); an unparsable version (a dev build) passes as new enough."""
    parts = version.lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (99, 0)


class KumaRefused(Exception):
    """The control plane cannot take these writes (federated zone, read-only API, missing types, ...)."""


# ---------------------------------------------------------------------- reading the control plane


def read_server(client: KumaApi) -> dict[str, Any]:
    """`GET /`, `/_resources` and (when allowed) `/config`, boiled down to what the plan needs."""
    where = client.endpoint.display()
    root = client.get("/")
    if not isinstance(root, dict) or not isinstance(root.get("version"), str):  # another JSON API answers
        detail = f"the answer is not a Kuma control plane's (no version): is {where} the right URL?"
        raise client.error("GET", "/", 200, None, detail, 1)
    if "lua_version" in root:  # Kong's Admin API: its GET / names the LuaJIT it runs on, Kuma's never does
        detail = (
            f"the answer is Kong {root['version']}'s Admin API, not a Kuma control plane's: "
            f"is {where} the right URL (--kuma-url, GATEWAYCTL_KUMA_URL)?"
        )
        raise client.error("GET", "/", 200, None, detail, 1)
    found = client.get_optional("/_resources")
    if found is None:  # a Kuma older than the API gatewayctl writes to
        raise KumaRefused(
            f"{where} ({root.get('product', 'Kuma')} {root.get('version')}) does not serve "
            "GET /_resources; gatewayctl renders for Kuma 2.14 (2.10 or newer)"
        )
    types = found.get("resources") if isinstance(found, dict) else None
    if not isinstance(types, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in types):
        detail = f"the answer is not Kuma's list of resource types: is {where} the right URL?"
        raise client.error("GET", "/_resources", 200, None, detail, 1)
    config: dict[str, Any] = {}
    try:
        found = client.get_optional("/config")
        config = found if isinstance(found, dict) else {}
    except KumaError as exc:
        if not exc.rejected:  # 401/403: the config is not shown to everyone; the rest still works
            raise
    multizone = config.get("multizone")
    zone = multizone.get("zone") if isinstance(multizone, dict) else None
    zone = zone if isinstance(zone, dict) else {}
    return {
        "product": root.get("product", "Kuma"),
        "version": root.get("version"),
        "instance_id": root.get("instanceId"),
        "mode": config.get("mode"),
        "environment": config.get("environment"),
        "zone": zone.get("name"),
        "global_address": zone.get("globalAddress"),
        "api_read_only": api_server.get("readOnly")
        if isinstance(api_server := config.get("apiServer"), dict)
        else None,
        "types": {t["name"]: t for t in types},  # each checked above to be an object with a name
    }


def refusal(server: dict[str, Any], objects: list[KumaObject], display: str) -> str | None:
    """Why this control plane cannot take the catalog's objects, or None."""
    types = server["types"]
    if _major_minor(str(server.get("version"))) < MIN_VERSION:
        return (
            f"{display} runs {server['product']} {server['version']}; the policies gatewayctl renders (Dataplane "
            "targetRefs, rules[]) need Kuma 2.10 or newer (gatewayctl renders for 2.14)"
        )
    needed = sorted({o.kind for o in objects} | {MESH_KIND})  # the Mesh too: even a plan of deletes writes
    missing = [k for k in needed if k not in types]
    if missing:
        return (
            f"{display} ({server['product']} {server['version']}) does not know {', '.join(missing)}; "
            "gatewayctl renders for Kuma 2.14"
        )
    read_only = [k for k in needed if types[k].get("readOnly")]
    if not read_only:
        if server.get("mode") == "global" and any(o.labels.get(ORIGIN_LABEL) == "zone" for o in objects):
            return (
                f"{display} is a global control plane, but the catalog's policies are labelled "
                f"{ORIGIN_LABEL}: zone (deployment.kuma.mode: zone), which a global control plane refuses; "
                "set deployment.kuma.mode: global, or apply against the zone control plane"
            )
        return None
    if server.get("mode") == "zone" and server.get("global_address"):
        return (
            f"{display} is a zone control plane federated to a global control plane "
            f"({server['global_address']}): meshes and their policies are managed on the global control plane "
            "and synced to the zones; point --kuma-url (GATEWAYCTL_KUMA_URL) at the global control plane"
        )
    if server.get("api_read_only"):
        return (
            f"{display} serves a read-only API (KUMA_API_SERVER_READ_ONLY=true, the default on Kubernetes); "
            "on Kubernetes apply with --kuma-platform kubernetes"
        )
    return (
        f"{display} reports {', '.join(read_only)} as read-only (GET /_resources): a federated zone or a "
        "read-only API server; apply against the global control plane or use --kuma-platform kubernetes"
    )


def fetch_owned(client: KumaApi, server: dict[str, Any], catalog_name: str, parallelism: int) -> list[Obj]:
    """Every object carrying both ownership labels, of every kind gatewayctl renders, in any mesh."""
    labels = ownership_labels(catalog_name)
    kinds = [k for k in OWNED_KINDS if k in server["types"]]

    def one(kind: str) -> list[Obj]:
        path = "/meshes" if kind == MESH_KIND else "/" + str(server["types"][kind]["path"])
        return list(client.list_all(path, labels, kind))

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return [o for objects in pool.map(one, kinds) for o in objects]


def made_by_kuma(mesh: Obj, kind: str, name: str) -> bool:
    """Whether the control plane made this object of the Mesh (as read) for the Mesh itself, to be deleted
    with it (Kuma 2.14): its default policies (pkg/defaults/mesh/mesh.go), its Dataplane Token signing keys
    `dataplane-token-signing-key-<mesh>-<n>` (pkg/core/tokens/meshed_signing_key_manager.go; `-1` comes with
    every Mesh, later numbers with key rotation), and each builtin CA backend's Secrets
    `<mesh>.ca-builtin-cert-<backend>` and `<mesh>.ca-builtin-key-<backend>` (pkg/plugins/ca/builtin/manager.go)."""
    mesh_name = str(mesh.get("name"))
    if kind in ("MeshTimeout", "MeshCircuitBreaker", "MeshRetry"):
        return any(name == prefix + mesh_name for prefix in DEFAULT_POLICY_PREFIXES)
    if kind != "Secret":
        return False
    key_number = name.removeprefix(f"dataplane-token-signing-key-{mesh_name}-")
    if key_number != name and key_number.isdigit():
        return True
    backends = (mesh.get("mtls") or {}).get("backends") or []
    return any(
        isinstance(b, dict)
        and b.get("type") == "builtin"
        and name in (f"{mesh_name}.ca-builtin-{p}-{b.get('name')}" for p in ("cert", "key"))
        for b in backends
    )


def unowned_in_mesh(client: KumaApi, server: dict[str, Any], mesh: Obj, owned: set[tuple[str, str, str]]) -> list[str]:
    """'Kind name' of each object in the Mesh (as read) gatewayctl does not own, other than what the control
    plane made for it (`made_by_kuma`). A type the token may not list (Secrets are for admins only: 403) is
    named as unknown, which keeps the Mesh: what cannot be seen cannot be shown to be Kuma's own."""
    name_of_mesh = str(mesh.get("name"))
    found: list[str] = []
    for kind, info in sorted(server["types"].items()):
        if info.get("scope") != "Mesh" or kind.endswith(("Insight", "Overview")):
            continue
        path = f"/meshes/{name_of_mesh}/{info['path']}"
        try:
            items = list(client.list_all(path, kind=kind))
        except KumaError as exc:
            if exc.status != 403:
                raise
            found.append(f"any {kind}: GET {path} needs an admin token")
            continue
        for item in items:
            name = str(item.get("name"))
            if (kind, name_of_mesh, name) not in owned and not made_by_kuma(mesh, kind, name):
                found.append(f"{kind} {name}")
    return found


def taken_names(client: KumaApi, server: dict[str, Any], creates: list[KumaChange]) -> list[str]:
    """'Kind name' of each object the plan would create whose name is already taken by an object this
    catalog does not own (a PUT would silently replace it): one unfiltered list per kind and mesh concerned."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for change in creates:
        wanted.setdefault((change.kind, change.mesh or ""), set()).add(change.name)
    taken: list[str] = []
    for (kind, mesh), names in sorted(wanted.items()):
        path = "/meshes" if kind == MESH_KIND else f"/meshes/{mesh}/{server['types'][kind]['path']}"
        try:
            existing = {str(o["name"]): o for o in client.list_all(path, kind=kind)}
        except KumaError as exc:
            if exc.status == 404:  # the mesh does not exist yet: nothing in it can be taken
                continue
            raise
        where = f" in mesh {mesh}" if mesh else ""
        taken += [f"{kind} {name}{where}{_whose(existing[name])}" for name in sorted(names & set(existing))]
    return taken


def _whose(obj: Obj) -> str:
    """` (catalog 'NAME')` for an object another gatewayctl catalog owns (the catalog renamed, or another
    catalog using the same names), as the Kubernetes platform's refusal says; '' for anyone else's."""
    labels: dict[str, Any] = obj["labels"] if isinstance(obj.get("labels"), dict) else {}
    owner = labels.get(CATALOG_LABEL) if labels.get(MANAGED_BY_LABEL) == OWNER else None
    return f" (catalog '{owner}')" if owner else ""


# ---------------------------------------------------------------------- comparing


def key_of(obj: Obj) -> tuple[str, str, str]:
    return (str(obj.get("type")), str(obj.get("mesh") or ""), str(obj.get("name")))


def comparable(kind: str, obj: Obj, want_labels: dict[str, str], desired: bool) -> Obj:
    """The parts of a Universal object that are ours to compare (see the module docstring)."""
    body = {k: v for k, v in obj.items() if k not in SERVER_FIELDS and k not in ("type", "name", "mesh")}
    labels = without_secret_label(dict(body.pop("labels", None) or {}))
    out: Obj = {"labels": labels if desired else comparable_labels(want_labels, labels)}
    if kind == MESH_KIND:
        out.update(_proto_shape(body))
        return out
    spec = comparable_spec(body.get("spec") or {})  # a copy: defaults can be filled in without touching `obj`
    if desired:
        fill_schema_defaults(kind, spec, comparable_spec)
    out["spec"] = order_free(spec)
    return out


def fill_schema_defaults(kind: str, spec: Obj, shape: Callable[[Any], Any] = lambda v: v) -> None:
    """Put Kuma's schema defaults (SCHEMA_DEFAULTS) into `spec` where the parent exists and the field is not
    set, each value passed through `shape` (the form the caller compares in)."""
    for dotted, value in SCHEMA_DEFAULTS.get(kind, ()):
        _fill(spec, dotted.split("."), shape(value))


def _fill(node: Any, parts: list[str], value: Any) -> None:
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = node.get(head[:-2])
        for item in items if isinstance(items, list) else []:
            _fill(item, rest, value)
    elif not rest:
        node.setdefault(head, value)
    else:
        _fill(node.get(head), rest, value)


def _proto_shape(value: Any, path: tuple[str, ...] = ()) -> Any:
    """The Mesh as Kuma prints it (jsonpb without defaults): no zero values, no `mode: STRICT` (enum 0)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            shown = _proto_shape(v, (*path, k))
            if shown not in (None, "", 0, False, [], {}):
                out[k] = shown
        return out
    if isinstance(value, list):
        return [_proto_shape(v, path) for v in value]
    if path[-2:] == ("backends", "mode") and value == "STRICT":
        return None
    return value


def build_changes(objects: list[KumaObject], live: list[Obj], masker: Masker) -> list[KumaChange]:
    live_by_key = {key_of(o): o for o in live}
    changes: list[KumaChange] = []
    wanted: set[tuple[str, str, str]] = set()
    for obj in objects:
        desired = universal_form(obj)
        key = key_of(desired)
        wanted.add(key)
        current = live_by_key.get(key)
        if current is None:
            changes.append(KumaChange("create", obj.kind, obj.name, obj.mesh, desired, None))
            continue
        want = comparable(obj.kind, desired, obj.labels, desired=True)
        have = comparable(obj.kind, current, obj.labels, desired=False)
        diffs = field_changes(obj.kind, want, have, masker, current.get("labels"))
        if diffs:
            changes.append(KumaChange("update", obj.kind, obj.name, obj.mesh, desired, current, diffs))
    for key, current in live_by_key.items():
        if key not in wanted:
            kind, mesh, name = key
            changes.append(KumaChange("delete", kind, name, mesh or None, None, current))
    return changes


def plan_universal(
    client: KumaApi, catalog_name: str, objects: list[KumaObject], masker: Masker, parallelism: int = 8
) -> KumaPlan:
    """KumaRefused when the control plane cannot take the writes; KumaError when a read fails."""
    server = read_server(client)
    why = refusal(server, objects, client.endpoint.display())
    if why:
        raise KumaRefused(why)
    live = fetch_owned(client, server, catalog_name, parallelism)
    plan = KumaPlan("universal", server, build_changes(objects, live, masker), live)
    _adopt_pristine_default_mesh(client, plan, masker)
    taken = taken_names(client, server, [c for c in plan.changes if c.action == "create"])
    if taken:
        shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
        labels = ", ".join(f"{k}={v}" for k, v in ownership_labels(catalog_name).items())
        # only when the Mesh 'default' is among them, and no catalog's: the note would mislead otherwise
        default_mesh = f"{MESH_KIND} default" in taken
        raise KumaRefused(
            f"{client.endpoint.display()} already has {shown} without this catalog's ownership labels, and "
            "gatewayctl never replaces what it does not own (a PUT would); rename it in the catalog, remove "
            f"it, or hand it over by adding the labels {labels} to it"
            + (
                " (Kuma creates the Mesh 'default' itself at start: a catalog that manages mesh 'default' must be "
                "handed it this way)"
                if default_mesh
                else ""
            )
        )
    owned = {key_of(o) for o in live}
    for change in [c for c in plan.changes if c.action == "delete" and c.kind == MESH_KIND]:
        others = unowned_in_mesh(client, server, change.live or {"name": change.name}, owned)
        if others:
            plan.changes.remove(change)
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            plan.notes.append(
                f"Mesh {change.name} is no longer in the catalog but is kept: it holds objects gatewayctl does "
                f"not own ({shown}), and deleting a Mesh deletes everything in it"
            )
    return plan


def _adopt_pristine_default_mesh(client: KumaApi, plan: KumaPlan, masker: Masker) -> None:
    """Kuma creates the Mesh `default` at start, empty and unlabelled: nobody configured it, so a catalog whose
    mesh is `default` takes it over (an update, shown in the plan) instead of being refused. A `default`
    Mesh with any setting or label is someone's and stays refused (`taken_names`)."""
    for change in [c for c in plan.changes if c.action == "create" and c.kind == MESH_KIND and c.name == "default"]:
        found = client.get_optional("/meshes/default")
        if not isinstance(found, dict):
            continue
        settings = {k for k in found if k not in SERVER_FIELDS and k not in ("type", "name", "labels")}
        if found.get("labels") or settings:
            continue
        desired = change.desired or {}
        want = comparable(MESH_KIND, desired, dict(desired.get("labels") or {}), desired=True)
        have = comparable(MESH_KIND, found, dict(desired.get("labels") or {}), desired=False)
        adopted = KumaChange(
            "update", MESH_KIND, "default", None, desired, found, field_changes(MESH_KIND, want, have, masker)
        )
        plan.changes[plan.changes.index(change)] = adopted
        plan.live.append(found)
        plan.notes.append(
            "Mesh default was created by Kuma at start with no settings: this catalog takes it over "
            "(its labels and settings are set; `gatewayctl rollback` puts it back)"
        )


# ---------------------------------------------------------------------- writing


def write_path(server: dict[str, Any], change: KumaChange) -> str:
    if change.kind == MESH_KIND:
        return f"/meshes/{change.name}"
    return f"/meshes/{change.mesh}/{server['types'][change.kind]['path']}/{change.name}"


def apply_universal(
    client: KumaApi,
    plan: KumaPlan,
    parallelism: int,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> KumaOutcome:
    """Carry out the plan phase by phase; after the first failure nothing new starts (what was in flight
    finishes), and the outcome says what was done, what failed and what was left unchanged."""
    outcome: KumaOutcome = run_batches(
        phases(plan.changes), lambda c: write(client, plan.server, c), KumaError, parallelism, progress, cancel
    )
    return outcome


def write(client: KumaApi, server: dict[str, Any], change: KumaChange) -> list[str]:
    """One PUT or DELETE; the control plane's warnings (deprecations) of a PUT."""
    path = write_path(server, change)
    if change.action == "delete":
        response = client.request("DELETE", path, ok=(200, 404))  # already gone (a Mesh's cascade) is fine
        if response.status_code == 200:
            client.written(response, path)
        return []
    body = {k: v for k, v in (change.desired or {}).items() if k not in SERVER_FIELDS}
    return client.written(client.request("PUT", path, json=body, ok=(200, 201)), path)


__all__ = [
    "COMPUTED_LABELS",
    "KumaRefused",
    "apply_universal",
    "build_changes",
    "plan_universal",
    "read_server",
]
