"""A kube-apiserver emulator for the Kuma CRDs over real HTTP on 127.0.0.1, for the official `kubernetes`
Python client: stateful, with the behaviour gatewayctl relies on reproduced from the Kubernetes API
conventions and source (k8s.io/apimachinery pkg/api/errors/errors.go for Status bodies,
pkg/util/managedfields/internal/conflict.go for apply conflicts, pkg/util/validation for names and labels):

- `GET /version`, `GET /apis/kuma.io/v1alpha1` (APIResourceList, discovery)
- `coordination.k8s.io/v1` Leases, served by `kube_lease.py` (the apply lock on Kubernetes)
- the Mesh cluster-scoped (`/apis/kuma.io/v1alpha1/meshes[/name]`), policies namespaced
  (`/apis/kuma.io/v1alpha1/namespaces/<ns>/<plural>[/name]`, and `/apis/kuma.io/v1alpha1/<plural>` across
  namespaces); a CRD not installed answers 404 "the server could not find the requested resource"
- list with `labelSelector` (equality-based: `k=v`, `k==v`, `k!=v`, `k`, `!k`; comma = AND), `limit` and
  `continue` as etcd3 storage pages (key order, the next pages read at the first page's revision,
  `remainingItemCount` only without a selector, 410 Expired after `compact()`); items carry apiVersion and
  kind; the list carries the resourceVersion it was read at
- server-side apply (`PATCH`, `Content-Type: application/apply-patch+yaml`, `fieldManager` required (422 Invalid
  PatchOptions, as are `force` on a non-apply patch and a `dryRun` other than `All`), `force`,
  `dryRun=All`): creates when absent, merges otherwise, drops the fields the manager applied before and no
  longer applies (unless another manager owns them), keeps `managedFields` per manager (fieldsV1); applying a
  field another manager owns with a different value is a 409 Conflict with `details.causes`, unless `force`
  (the other manager then loses the field); a no-op apply leaves resourceVersion alone. Lists are atomic
  (no `x-kubernetes-list-type` in the Kuma CRDs gatewayctl writes); an empty mapping is merged in but owned by
  nobody (structured-merge-diff tofieldset.go).
- non-apply `PATCH` (`application/merge-patch+json`, RFC 7386) as another tool (kubectl edit) makes it: an
  Update operation that takes the fields it sets from every other manager
- `DELETE` answers 200 with a Success Status; `preconditions.uid` checked (409); 404 when absent
- uid, resourceVersion (one counter for the store), generation (bumped when spec changes),
  creationTimestamp; 422 Invalid for a name that is not an RFC 1123 subdomain or bad label keys/values;
  404 for a namespace that does not exist; 401 without the bearer token when one is set
- every written object (apply, merge patch) gets the CRDs' structural defaults (the table `kuma.py` fills in)
  and is checked against the CRD schemas' enums (kuma_fields.ENUMS): 422 Invalid with
  FieldValueNotSupported causes; server-side apply converts the applied object to the CRD's type first
  (structured-merge-diff): a field the CRD does not declare (at the root, e.g. `status`; in a policy's spec
  at every depth, kuma_fields.py) or a value of another JSON kind than the schema's is a 500 "failed to
  create typed patch object", one error per map at most (the walk of a map stops at its first undeclared
  field); then the CRD's schema validation (the same checks as kuma.py's on Universal: value types, int32
  formats and ranges, int-or-string anyOf, required, minLength, bounds) answers 422 Invalid with a cause per
  error. A JSON merge patch (kubectl edit) loses the undeclared fields (fieldValidation Warn, the default,
  naming each in a `Warning: 299 - "unknown field \\"<path>\\""` header, or Ignore), or with
  fieldValidation=Strict is refused (422, `strict decoding error: unknown field ...`). Not modelled: patterns,
  list and map limits
- `kuma_webhook=True` adds Kuma 2.14's admission webhooks, as its Helm chart installs them: what the defaulting
  webhook does to a written object (kumahq/kuma v2.14.3: pkg/plugins/runtime/k8s/webhooks/defaulter.go,
  pkg/core/resources/labels/compute.go, policies' `*k8s.Duration` fields re-marshalled by metav1.Duration, the
  Mesh re-marshalled by jsonpb without zero values; a duration Go cannot parse fails its decoding: 400), the
  owner-reference webhook (owner_reference_mutator.go: a mesh-scoped object created gets its Mesh as owner,
  and is refused, 400, while that Mesh does not exist), and
  the validating webhook (validation.go: each policy's validator and the Mesh's, as `kuma.py` models them;
  422 Invalid with a FieldValueInvalid cause per violation), each denial relayed as the API server does
  (`admission webhook "<name>" denied the request: ...`). Outside the system namespace the defaulting webhook
  computes the policy's role (labels/compute.go ComputePolicyRole: workload-owner, producer, consumer; 500
  for a policy mixing to[] and from[], or producer and consumer items) and the validators of the policies
  whose top-level targetRef depends on it take fewer kinds (kuma.py ROLE_TOP_KINDS). Not modelled: the
  webhooks' namespaceSelector (they run in every namespace here, not only those labelled
  kuma.io/sidecar-injection). The defaulting webhook's decoding into the Go types refuses (400) a duration
  Go cannot parse, what an int-or-string's int32 cannot hold, a fraction or a negative number in an integer
  field, before the CRD's schema validation runs
- fault injection (shared with the other emulators, `server.py`): fail the Nth matching request with a status
  (and Retry-After), drop the connection before or after doing the work; or a seeded random share of faulty
  requests

Run on its own for manual trials: `python -m tests.emulators.kubernetes --port 18443` (writes nothing;
point a kubeconfig at http://127.0.0.1:18443).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

try:
    from . import kube_lease, kuma_fields, kuma_schema, server
    from . import kuma as kuma_emulator
    from .server import EmulatorHandler, EmulatorState, Fault
except ImportError:  # run as a script
    import kube_lease  # type: ignore[no-redef,import-not-found]
    import kuma_fields  # type: ignore[no-redef,import-not-found]
    import kuma_schema  # type: ignore[no-redef,import-not-found]
    import server  # type: ignore[no-redef,import-not-found]
    from server import EmulatorHandler, EmulatorState, Fault  # type: ignore[no-redef]

    import kuma as kuma_emulator  # type: ignore[no-redef,import-not-found]

GROUP = "kuma.io"
VERSION = "v1alpha1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
# kind -> (plural, namespaced); the Kuma 2.14 policy CRDs gatewayctl renders, and the Mesh.
KUMA_KINDS: dict[str, tuple[str, bool]] = {
    "Mesh": ("meshes", False),
    "MeshTrafficPermission": ("meshtrafficpermissions", True),
    "MeshRetry": ("meshretries", True),
    "MeshTimeout": ("meshtimeouts", True),
    "MeshCircuitBreaker": ("meshcircuitbreakers", True),
    "MeshHealthCheck": ("meshhealthchecks", True),
    "MeshLoadBalancingStrategy": ("meshloadbalancingstrategies", True),
    "MeshRateLimit": ("meshratelimits", True),
    "MeshTrace": ("meshtraces", True),
    "MeshMetric": ("meshmetrics", True),
    "MeshAccessLog": ("meshaccesslogs", True),
}
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
DURATION_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
IDENTITY = {"apiVersion", "kind"}
META_SERVER = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")

Obj = dict[str, Any]
FieldPath = tuple[str, ...]


class ApiError(server.ApiError):
    """An answer with a Kubernetes Status body. `details` is left out when None: metav1.Status.Details is an
    omitempty pointer that errors.NewBadRequest, NewUnauthorized, NewServiceUnavailable and
    NewResourceExpired leave nil, while NewGenericServerResponse (the bare 404/405) sets an empty one."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None, **headers: str) -> None:
        self.code = code
        status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
        }
        if reason:  # StatusReasonUnknown ("") is omitted
            status["reason"] = reason
        if details is not None:
            status["details"] = details
        status["code"] = code
        super().__init__(code, status, {k.replace("_", "-"): v for k, v in headers.items()})


def resource_missing() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def not_found(plural: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{plural}.{GROUP} "{name}" not found', {"name": name, "group": GROUP, "kind": plural}
    )


def invalid(kind: str, plural: str, name: str, causes: list[Obj], group: str = GROUP) -> ApiError:
    """errors.NewInvalid: `<Kind>.<group> "<name>" is invalid: <field>: <message>` (several in brackets);
    details carry no name when it is empty (omitempty)."""
    parts = [f"{c['field']}: {c['message']}" for c in causes]
    listed = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details: Obj = {"name": name} if name else {}
    details.update(group=group, kind=kind, causes=causes)
    return ApiError(422, "Invalid", f'{kind}.{group} "{name}" is invalid: {listed}', details)


def check_options(kind: str, query: dict[str, str], apply: bool | None) -> None:
    """apiserver's ValidatePatchOptions / ValidateDeleteOptions (apimachinery pkg/apis/meta/v1/validation):
    checked before the object is looked up, answered 422 Invalid for the options kind in meta.k8s.io.
    `apply` is None for a DELETE, else whether the PATCH is an apply patch."""
    causes: list[Obj] = []
    if apply is False and "force" in query:
        causes.append(
            {
                "reason": "FieldValueForbidden",
                "message": "Forbidden: may not be specified for non-apply patch",
                "field": "force",
            }
        )
    if apply and not query.get("fieldManager"):
        causes.append(
            {
                "reason": "FieldValueRequired",
                "message": "Required value: is required for apply patch",
                "field": "fieldManager",
            }
        )
    if "dryRun" in query and query["dryRun"] != "All":
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "message": f'Unsupported value: []string{{"{query["dryRun"]}"}}: supported values: "All"',
                "field": "dryRun",
            }
        )
    if causes:
        raise invalid(kind, "", "", causes, group="meta.k8s.io")


# ---------------------------------------------------------------------- field sets (structured merge)


def leaves(value: Any, prefix: FieldPath = ()) -> dict[FieldPath, Any]:
    """Every leaf field of an object and its value: mappings are walked, lists and scalars (and empty
    mappings) are leaves."""
    if isinstance(value, dict) and value:
        out: dict[FieldPath, Any] = {}
        for key, sub in value.items():
            out.update(leaves(sub, (*prefix, key)))
        return out
    return {prefix: value}


def applied_fields(obj: Obj) -> set[FieldPath]:
    """The fields an applied configuration sets: identity and server-owned metadata are not tracked."""
    body = {k: v for k, v in obj.items() if k not in IDENTITY and k != "status"}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k in ("labels", "annotations")}
    body["metadata"] = meta
    if not meta:
        body.pop("metadata")
    # structured-merge-diff typed/tofieldset.go: a struct's fields are walked down to their leaves and an
    # empty one inserts nothing (doMap), so an empty mapping is no field of the applier's
    return {path for path, value in leaves(body).items() if value != {}} - {()}


def sorted_entries(entries: list[Obj]) -> list[Obj]:
    """managedFields in the order the API server encodes them (managedfields/internal/managedfields.go
    sortEncodedManagedFields): by operation (Apply before Update), time, manager, apiVersion."""
    return sorted(entries, key=lambda e: (e["operation"], e.get("time", ""), e["manager"], e.get("apiVersion", "")))


def to_fields_v1(paths: set[FieldPath]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def from_fields_v1(tree: Obj, prefix: FieldPath = ()) -> set[FieldPath]:
    out: set[FieldPath] = set()
    for key, sub in tree.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        out |= from_fields_v1(sub, path) if sub else {path}
    return out


def get_path(obj: Any, path: FieldPath) -> tuple[bool, Any]:
    node = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def set_path(obj: Obj, path: FieldPath, value: Any) -> None:
    node = obj
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = copy.deepcopy(value)


def remove_path(obj: Obj, path: FieldPath) -> None:
    trail: list[tuple[Obj, str]] = []
    node: Any = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        trail.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, part in reversed(trail):  # a mapping left empty by the removal goes too
        if parent[part] == {}:
            del parent[part]


def overlaps(a: FieldPath, b: FieldPath) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def dotted(path: FieldPath) -> str:
    return "".join(f".{p}" for p in path)


# ---------------------------------------------------------------------- Kuma's webhook


def go_duration(text: str) -> str:
    """What metav1.Duration marshals after parsing `text`: Go's time.Duration.String()."""
    total = sum(round(float(n) * DURATION_NS[unit]) for n, unit in GO_DURATION_PART.findall(text))
    if total == 0:
        return "0s"
    if total < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if total >= size:
                return f"{total / size:.9f}".rstrip("0").rstrip(".") + unit  # every digit, as Go prints them
    hours, rest = divmod(total, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = f"{rest / 10**9:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{minutes}m{seconds}"
    return seconds


def canonical_durations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: canonical_durations(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical_durations(v) for v in value]
    if isinstance(value, str) and GO_DURATION.match(value):
        return go_duration(value)
    return value


def kuma_defaulter(kind: str, obj: Obj, system_namespace: str) -> None:
    """What a Kuma 2.14 zone control plane (kind, non-federated) does to an object on CREATE/UPDATE."""
    meta = obj["metadata"]
    labels = meta.setdefault("labels", {})
    spec = obj.get("spec") or {}
    if kind == "Mesh":
        # the Mesh re-marshalled from its proto message: jsonpb (AllowUnknownFields) dropped what mesh.proto
        # does not declare, at every depth, and drops zero values: mtls backend mode STRICT (enum 0) disappears.
        spec = kuma_fields.known_fields(kuma_fields.MESH_OBJECTS, spec)
        if "spec" in obj:
            obj["spec"] = spec
        for backend in (spec.get("mtls") or {}).get("backends") or []:
            if backend.get("mode") == "STRICT":
                del backend["mode"]
        return
    labels.setdefault("kuma.io/mesh", "default")
    labels.setdefault("kuma.io/origin", "zone")
    if labels["kuma.io/origin"] != "global":
        labels.setdefault("kuma.io/zone", "default")
        labels.setdefault("kuma.io/env", "kubernetes")
    labels.setdefault("k8s.kuma.io/namespace", meta["namespace"])
    role = compute_policy_role(kind, spec, meta["namespace"], system_namespace)
    labels["kuma.io/policy-role"] = role
    # re-marshalled from the Go struct: only the *k8s.Duration fields print as Go does (kuma_schema
    # FIELD_TYPES); a kind not modelled there has every duration-like string re-printed
    reprinted = kuma_schema.reprint_durations(kind, copy.deepcopy(spec), go_duration)
    obj["spec"] = reprinted if reprinted is not None else canonical_durations(spec)


def compute_policy_role(kind: str, spec: Obj, namespace: str, system_namespace: str) -> str:
    """pkg/core/resources/labels/compute.go ComputePolicyRole: `system` in the system namespace; else
    `workload-owner` with a from[] or neither list, `producer` when every to[] item is a named MeshService or
    MeshHTTPRoute of the policy's namespace (or none given), `consumer` when none is. Mixing to[] and from[],
    or producer and consumer items, is an error, which the defaulting webhook answers 500
    (admission.Errored(http.StatusInternalServerError)): raised here as the API server relays it."""
    if namespace == system_namespace:
        return "system"
    model = kuma_emulator.BY_NAME.get(kind)
    to = spec.get("to") if model is not None and model.to is not None else None
    frm = spec.get("from") if model is not None and model.frm is not None else None
    has_to, has_from = bool(to), bool(frm)
    if has_to and has_from:
        raise webhook_denial(
            DEFAULTER_WEBHOOK, 500, "it's not allowed to mix 'to' and 'from' arrays in the same policy"
        )
    if not has_to:
        return "workload-owner"
    producers = 0
    for item in to or []:
        ref = (item.get("targetRef") if isinstance(item, dict) else None) or {}
        same_namespace = (ref.get("namespace") or "") in ("", namespace)
        if ref.get("kind") in ("MeshService", "MeshHTTPRoute") and ref.get("name") and same_namespace:
            producers += 1
    if producers == len(to or []):
        return "producer"
    if producers == 0:
        return "consumer"
    raise webhook_denial(
        DEFAULTER_WEBHOOK, 500, "it's not allowed to mix producer and consumer items in the same policy"
    )


def crd_defaults(kind: str, obj: Obj) -> None:
    """The CRDs' structural defaults, which the API server itself fills in (apimachinery's managedfields
    structuredmerge.go defaults the applied result; apiextensions' structural defaulting), webhook or not:
    the same kubebuilder markers as the Universal schemas (`kuma.py`), so the same table (MeshTrace zipkin,
    MeshMetric prometheus port/path/tls, MeshRetry, MeshAccessLog)."""
    if kind in kuma_emulator.BY_NAME and isinstance(obj.get("spec"), dict):
        kuma_emulator.fill_defaults(obj["spec"], kuma_emulator.BY_NAME[kind].defaults)


def typed_patch_errors(kind: str, obj: Obj) -> list[str]:
    """What server-side apply finds converting the applied object to the CRD schema's type
    (apimachinery managedfields/internal/structuredmerge.go Apply: typeConverter.ObjectToTyped, i.e.
    structured-merge-diff typed/validate.go): at the root (the CRDs declare apiVersion, kind, metadata and
    spec, the Mesh also its legacy `mesh`; no status: the Kuma CRDs have no status subresource nor field)
    and, at every depth, in the spec of the policies kuma_fields.py lists (the CRDs are generated from the
    same Go structs as the rest.yaml it was taken from): a field not declared, a value of another kind than
    the schema's (validateScalar, mapValue, listValue, in their words). visitMapItems stops at a map's first
    undeclared field, and walks a map in Go's map order, which is random: the body's order is one of those
    orders. Int-or-string fields are untyped (kube-openapi schemaconv), the Mesh's spec is unstructured
    (x-kubernetes-preserve-unknown-fields). Other policies: undeclared fields at the top of their spec and of
    its to[]/from[]/rules[] items, all of them."""
    root = {"apiVersion", "kind", "metadata", "spec"} | ({"mesh"} if kind == "Mesh" else set())
    found: list[str] = []
    model = kuma_emulator.BY_NAME.get(kind)
    typed = kind in kuma_fields.POLICY_OBJECTS
    for key, value in obj.items():
        if key not in root:
            found.append(f".{key}: field not declared in schema")
            if typed:
                break
            continue
        if key == "spec" and typed:
            found += smd_errors(kuma_fields.POLICY_OBJECTS[kind], kuma_fields.SCALARS[kind], value, "", ".spec")
    spec = obj.get("spec")
    if typed or model is None or model.policy is None or not isinstance(spec, dict):
        return found
    kept = kuma_emulator.prune(model, spec)
    found += [f".spec.{key}: field not declared in schema" for key in spec if key not in kept]
    for section in ("to", "from", "rules"):
        for i, (item, known) in enumerate(zip(spec.get(section) or [], kept.get(section) or [], strict=False)):
            if isinstance(item, dict) and isinstance(known, dict):
                found += [
                    f".spec.{section}[{i}].{key}: field not declared in schema" for key in item if key not in known
                ]
    return found


def smd_errors(
    objects: kuma_fields.Objects, leaves: kuma_fields.Leaves, value: Any, path: str, shown: str
) -> list[str]:
    """structured-merge-diff's validatingObjectWalker on `value`, at the schema path `path` (kuma_fields'
    notation) shown as `shown`. A null is a valid scalar, list and map."""
    if value is None:
        return []
    if path in objects:  # a struct: a map with fields
        if not isinstance(value, dict):
            return [f"{shown}: expected map, got {go_value(value)}"]
        found: list[str] = []
        for key, item in value.items():
            if key not in objects[path]:
                found.append(f"{shown}.{key}: field not declared in schema")
                break
            found += smd_errors(objects, leaves, item, f"{path}.{key}" if path else key, f"{shown}.{key}")
        return found
    if f"{path}[]" in objects:  # a list of structs
        if not isinstance(value, list):
            return [f"{shown}: expected list, got {go_value(value)}"]
        return [
            e for i, item in enumerate(value) for e in smd_errors(objects, leaves, item, f"{path}[]", f"{shown}[{i}]")
        ]
    code = leaves.get(path)
    if code == "map":
        if not isinstance(value, dict):
            return [f"{shown}: expected map, got {go_value(value)}"]
        return [e for key, item in value.items() for e in smd_scalar_errors("string", item, f"{shown}.{key}")]
    if code in ("strings", "int32s"):
        if not isinstance(value, list):
            return [f"{shown}: expected list, got {go_value(value)}"]
        element = "string" if code == "strings" else "int32"
        return [e for i, item in enumerate(value) for e in smd_scalar_errors(element, item, f"{shown}[{i}]")]
    return smd_scalar_errors(code or "", value, shown)


def smd_scalar_errors(code: str, value: Any, shown: str) -> list[str]:
    """typed/validate.go validateScalar: Numeric (`%T` of the value), String (`%#v` of the walker's
    *value.valueUnstructured), Boolean (`%v` of it). A list or map value meets the scalar check too, when the
    schema has only a scalar there (helpers.go deduceAtom)."""
    if value is None:
        return []
    if code in ("int32", "int64") and (isinstance(value, bool) or not isinstance(value, int | float)):
        return [f"{shown}: expected numeric (int or float), got {go_type(value)}"]
    if code == "string" and not isinstance(value, str):
        return [f"{shown}: expected string, got &value.valueUnstructured{{Value:{go_sharp_v(value)}}}"]
    if code == "boolean" and not isinstance(value, bool):
        return [f"{shown}: expected boolean, got {go_value(value)}"]
    return []


def go_float(number: float) -> str:
    """Go's %v (and %#v) of a float64: strconv 'g' with the shortest precision, the %e form from 1e+06 on and
    below 1e-04."""
    if number == 0:
        return "0"
    exponent = int(f"{float(number):e}".partition("e")[2])
    if -4 <= exponent < 6:
        return repr(float(number)).removesuffix(".0")  # Python's repr is the shortest round trip too
    mantissa = ""
    for precision in range(17):  # the shortest mantissa that reads back as the same float64
        mantissa = f"{float(number):.{precision}e}".partition("e")[0]
        if float(f"{mantissa}e{exponent}") == float(number):
            break
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def go_plain(value: Any) -> str:
    """Go's %v of a decoded JSON value (map keys sorted, as fmt prints them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_plain(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_plain(v) for v in value) + "]"
    return "<nil>" if value is None else str(value)


def go_value(value: Any) -> str:
    """`%v` of the walker's *value.valueUnstructured holding `value`."""
    return f"&{{{go_plain(value)}}}"


def go_sharp_v(value: Any) -> str:
    """Go's %#v of a decoded JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k, ensure_ascii=False)}:{go_sharp_v(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_sharp_v(v) for v in value) + "}"
    return "interface {}(nil)"


def go_type(value: Any) -> str:
    """Go's %T of a decoded JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    return {str: "string", dict: "map[string]interface {}", list: "[]interface {}"}[type(value)]


def value_at(obj: Any, dotted_path: str) -> Any:
    """The value at a path such as `spec.from[0].default.action`."""
    node = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", dotted_path):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def schema_causes(kind: str, obj: Obj) -> list[Obj]:
    """The CRD schema's enums (kuma.py schema_problems: kuma_fields.ENUMS, the same in the CRDs) as the
    apiextensions-apiserver reports them (validation.go kubeOpenAPIResultToFieldErrors: EnumFailCode ->
    field.NotSupported)."""
    if kind not in kuma_emulator.BY_NAME:
        return []
    causes = []
    for path, reason in kuma_emulator.schema_problems(kuma_emulator.BY_NAME[kind], obj.get("spec")):
        allowed = reason.removeprefix("in body should be one of [").removesuffix("]").split(" ")
        value = value_at(obj, path)
        shown = value if isinstance(value, str) else json.dumps(value)
        supported = ", ".join(f'"{a}"' for a in allowed)
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "message": f'Unsupported value: "{shown}": supported values: {supported}',
                "field": path,
            }
        )
    return causes


def crd_type_causes(kind: str, obj: Obj) -> list[Obj]:
    """The rest of the CRD schema's validation (apiextensions-apiserver pkg/registry/customresource/
    validator.go ValidateCustomResource with a nil path, kube-openapi's validators, the same schemas as
    Universal's rest.yaml: kuma.py's checks of value types, int32 formats and ranges, int-or-string anyOf,
    required fields, lengths, patterns, maxItems and bounds), as validation.go kubeOpenAPIResultToFieldErrors
    turns them into field errors: a type error TypeInvalid with the found type as value, `required`
    Required, maxLength TooLong, maxItems TooMany, others Invalid with the value; an error with no name
    (anyOf's, numberValidator's int32 range) at the nil path, which field.Path prints `<nil>`."""
    model = kuma_emulator.BY_NAME.get(kind)
    spec = obj.get("spec")
    if model is None or model.policy is None or not isinstance(spec, dict):
        return []
    problems = kuma_schema.field_problems(kind, spec) + kuma_emulator.int_schema_problems(model, spec)
    problems += kuma_emulator.leaf_type_problems(model, spec)
    causes = []
    for path, reason in problems:
        found = re.fullmatch(r'in body must be of type [^:]+: "(.*)"', reason)
        if reason == "in body is required":
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": path})
        elif found:
            message = f'Invalid value: "{found.group(1)}": {path} {reason}'
            causes.append({"reason": "FieldValueTypeInvalid", "message": message, "field": path})
        elif not path:
            causes.append({"reason": "FieldValueInvalid", "message": f'Invalid value: "": {reason}', "field": "<nil>"})
        elif longest := re.fullmatch(r"in body should be at most (\d+) chars long", reason):
            # field.TooLong (apimachinery v0.31 wording: the API server this emulates is 1.31)
            message = f"Too long: must have at most {longest.group(1)} bytes"
            causes.append({"reason": "FieldValueTooLong", "message": message, "field": path})
        elif most := re.fullmatch(r"in body should have at most (\d+) items", reason):
            # field.TooMany with the actual count (a Go int, printed with %#v)
            message = f"Too many: {len(value_at(obj, path))}: must have at most {most.group(1)} items"
            causes.append({"reason": "FieldValueTooMany", "message": message, "field": path})
        else:
            value = value_at(obj, path)
            shown = json.dumps(value) if isinstance(value, str) else go_plain(value)
            message = f"Invalid value: {shown}: {path} {reason}"
            causes.append({"reason": "FieldValueInvalid", "message": message, "field": path})
    return causes


# Kuma 2.14.3's admission webhooks (deployments/charts/kuma/templates/cp-webhooks-and-secrets.yaml): both take
# the kuma.io policies and the Mesh, in namespaces labelled kuma.io/sidecar-injection (the system namespace is,
# `kuma.io/sidecar-injection: disabled`) and cluster-scoped objects; failurePolicy Fail.
DEFAULTER_WEBHOOK = "mesh.defaulter.kuma-admission.kuma.io"
OWNER_REFERENCE_WEBHOOK = "owner-reference.kuma-admission.kuma.io"
VALIDATOR_WEBHOOK = "validator.kuma-admission.kuma.io"


def webhook_denial(webhook: str, code: int, message: str, reason: str = "", details: Obj | None = None) -> ApiError:
    """A webhook's denial as the API server relays it (k8s.io/apiserver pkg/admission/plugin/webhook/errors
    statuserror.go ToStatusErr): the webhook's Status with `admission webhook "<name>" denied the request: `
    before its message, status Failure, a code under 400 raised to 400."""
    return ApiError(max(code, 400), reason, f'admission webhook "{webhook}" denied the request: {message}', details)


def kuma_decode_failure(kind: str, obj: Obj) -> str | None:
    """The error decoding the object into Kuma's Go type, which the mutating webhook does first
    (pkg/plugins/runtime/k8s/webhooks/defaulter.go: `admission.Errored(http.StatusBadRequest, err)`), on what
    the typed conversion of the apply let through: a duration time.ParseDuration refuses (metav1.Duration)
    or an int-or-string IntOrString's int32 cannot take (a boolean, an object, a fraction: the field is
    untyped to structured-merge-diff), each of which stops the decoding; else the first number an integer
    field's Go type cannot hold (a fraction, a negative number in a uint32: kuma.py go_int_overflow)."""
    model = kuma_emulator.BY_NAME.get(kind)
    if model is None or not isinstance(obj.get("spec"), dict):
        return None
    return kuma_schema.duration_error(kind, obj["spec"]) or kuma_emulator.go_int_overflow(model, obj["spec"])


def kuma_validation(kind: str, obj: Obj) -> list[tuple[str, str]]:
    """What the validating webhook's validator.Validate(coreRes) finds (pkg/plugins/runtime/k8s/webhooks/
    validation.go): a policy's own validator, its fields as written (`spec.to[0]...`), the same as on
    Universal (kuma.py validate_spec, as for a policy in the system namespace); the Mesh's, under `spec.`
    (convertSpecValidationError: not plugin-originated)."""
    model = kuma_emulator.BY_NAME.get(kind)
    spec = obj.get("spec")
    if model is None:
        return []
    if kind == "Mesh":
        problems = kuma_emulator.mesh_mtls_problems(spec if isinstance(spec, dict) else {})
        return [(f"spec.{field}", message) for field, message in problems]
    return kuma_emulator.validate_spec(model, {"spec": spec, "labels": obj["metadata"].get("labels") or {}})


def kuma_validation_denial(kind: str, name: str, violations: list[tuple[str, str]]) -> ApiError:
    """validation.go convertValidationErrorOf: Status Failure, reason Invalid, code 422, the ValidationError's
    text (`<field>: <message>` joined by `; `) as message, details with the name, the kind and a
    FieldValueInvalid cause per violation."""
    message = "; ".join(f"{field}: {why}" for field, why in violations)
    causes = [{"reason": "FieldValueInvalid", "message": why, "field": field} for field, why in violations]
    return webhook_denial(VALIDATOR_WEBHOOK, 422, message, "Invalid", {"name": name, "kind": kind, "causes": causes})


# ---------------------------------------------------------------------- faults


@dataclass
class RandomFaults(server.RandomFaults):
    """The shared seeded faults, reads included by default; the kube-apiserver's 429 asks to retry after 1 s
    (what API Priority and Fairness sends). The bodies are the API server's (FAULT_STATUS), not these."""

    writes_only: bool = False
    retry_after: str = "1"


FAULT_STATUS = {
    500: ("InternalError", "Internal error occurred: injected"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}


@dataclass
class Request:
    method: str
    path: str
    query: str
    content_type: str
    status: int

    @property
    def dry_run(self) -> bool:
        return "dryRun=" in self.query

    @property
    def write(self) -> bool:
        return self.method != "GET" and not self.dry_run


# ---------------------------------------------------------------------- state


class KubeState(EmulatorState):
    def __init__(
        self,
        *,
        kinds: dict[str, tuple[str, bool]] | None = None,
        namespaces: tuple[str, ...] = ("default", "kube-system", "kuma-system"),
        token: str | None = None,
        kuma_webhook: bool = False,
        system_namespace: str = "kuma-system",
    ) -> None:
        super().__init__()
        self.kinds = dict(KUMA_KINDS if kinds is None else kinds)
        self.namespaces = set(namespaces)
        self.token = token
        self.kuma_webhook = kuma_webhook
        self.system_namespace = system_namespace
        self.store: dict[tuple[str, str, str], Obj] = {}  # (plural, namespace or "", name) -> object
        self.revision = 1000
        self.requests: list[Request] = []
        # coordination.k8s.io, as `kube_lease.py` serves it alone, in the same namespaces
        self.leases = kube_lease.LeaseState(namespaces=self.namespaces)
        # The store as it was at each resourceVersion a paged list started from: the next pages read it
        # (etcd serves them at that revision), until `compact()` (etcd compacts every 5 minutes).
        self.snapshots: dict[int, dict[tuple[str, str, str], Obj]] = {}
        self.after_list: Callable[[KubeState], None] | None = None  # test hook, called after every list

    # -- test helpers

    def writes(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.write]

    def objects(self, kind: str | None = None) -> list[Obj]:
        with self.lock:
            plural = self.kinds[kind][0] if kind else None
            return [copy.deepcopy(o) for (p, _, _), o in sorted(self.store.items()) if plural in (None, p)]

    def get(self, kind: str, name: str, namespace: str = "") -> Obj | None:
        with self.lock:
            found = self.store.get((self.kinds[kind][0], namespace, name))
            return copy.deepcopy(found) if found else None

    def compact(self) -> None:
        """etcd compaction up to the latest revision: a continue token of an earlier one answers 410 Expired."""
        with self.lock:
            self.snapshots.clear()

    def uninstall(self, kind: str) -> None:
        with self.lock:
            self.kinds.pop(kind, None)

    def next_revision(self) -> str:
        self.revision += 1
        return str(self.revision)

    # -- validation

    def validate(self, kind: str, plural: str, name: str, obj: Obj) -> None:
        causes: list[Obj] = []
        if not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": f'Invalid value: "{name}": {SUBDOMAIN_MESSAGE}',
                    "field": "metadata.name",
                }
            )
        for key, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
            prefix, _, label = key.rpartition("/")
            if not LABEL_NAME.match(label) or len(label) > 63 or (prefix and not DNS1123_SUBDOMAIN.match(prefix)):
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": f'Invalid value: "{key}": name part must consist of alphanumeric characters',
                        "field": "metadata.labels",
                    }
                )
            if not isinstance(value, str) or len(value) > 63 or (value and not LABEL_NAME.match(value)):
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": f'Invalid value: "{value}": {LABEL_VALUE_MESSAGE}',
                        "field": "metadata.labels",
                    }
                )
        if causes:
            raise invalid(kind, plural, name, causes)

    # -- server-side apply

    def apply(
        self, kind: str, plural: str, namespace: str, name: str, body: Obj, manager: str, force: bool, dry_run: bool
    ) -> tuple[int, Obj]:
        if body.get("apiVersion") != GROUP_VERSION or body.get("kind") != kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({body.get('apiVersion')}) does not match the expected API version "
                f"({GROUP_VERSION})"
                if body.get("apiVersion") != GROUP_VERSION
                else f"the kind in the data ({body.get('kind')}) does not match the expected kind ({kind})",
            )
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
            )
        if namespace and meta.get("namespace") not in (None, namespace):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        problems = typed_patch_errors(kind, body)
        if problems:
            where = f"{namespace}/{name}" if namespace else f"/{name}"
            listed = problems[0] if len(problems) == 1 else "\n".join(["errors:", *(f"  {p}" for p in problems)])
            # structuredmerge.go Apply: a plain error, so a 500 with no reason (kubernetes#122480)
            raise ApiError(
                500, "", f"failed to create typed patch object ({where}; {GROUP_VERSION}, Kind={kind}): {listed}"
            )
        self.validate(kind, plural, name, body)
        key = (plural, namespace, name)
        live = self.store.get(key)
        fields = applied_fields(body)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if live is None:
            if namespace and namespace not in self.namespaces:
                raise ApiError(
                    404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"}
                )
            obj = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("status",)}
            obj["metadata"] = {k: copy.deepcopy(v) for k, v in meta.items() if k not in META_SERVER}
            obj["metadata"]["name"] = name
            if namespace:
                obj["metadata"]["namespace"] = namespace
            self.admit(kind, name, obj, creating=True)
            obj["metadata"].update(
                uid=str(uuid.uuid4()),
                generation=1,
                creationTimestamp=now,
                managedFields=[self.entry(manager, "Apply", fields, now)],
            )
            # A dry-run create never reaches storage, which is what sets resourceVersion (apiserver
            # registry/generic/registry/dryrun.go DryRunnableStorage.Create copies the object as it is).
            if not dry_run:
                obj["metadata"]["resourceVersion"] = self.next_revision()
                self.store[key] = obj
            return 201, copy.deepcopy(obj)
        managers = {(m["manager"], m["operation"]): m for m in live["metadata"].get("managedFields", [])}
        owned = {k: from_fields_v1(m.get("fieldsV1") or {}) for k, m in managers.items()}
        mine = (manager, "Apply")
        # What the object becomes: the manager's previous fields that nobody else owns are dropped, then the
        # applied configuration is merged in.
        merged = copy.deepcopy({k: v for k, v in live.items() if k != "metadata"})
        merged["metadata"] = {k: copy.deepcopy(v) for k, v in live["metadata"].items()}
        others = set().union(*(paths for k, paths in owned.items() if k != mine))
        for path in owned.get(mine, set()) - fields:
            if not any(overlaps(path, other) for other in others):
                remove_path(merged, path)
        applied = leaves({k: v for k, v in body.items() if k not in IDENTITY and k != "status"})
        for path, value in applied.items():
            if path and path[0] == "metadata" and (len(path) < 2 or path[1] not in ("labels", "annotations")):
                continue
            if value == {} and isinstance(get_path(merged, path)[1], dict):
                continue  # merging an empty mapping into one keeps what is there
            if path:
                set_path(merged, path, value)
        conflicts: list[tuple[tuple[str, str], FieldPath]] = []
        for other, paths in owned.items():
            if other == mine or other[0] == manager:
                continue
            for theirs in sorted(paths):
                if any(overlaps(theirs, ours) for ours in fields) and get_path(live, theirs) != get_path(
                    merged, theirs
                ):
                    conflicts.append((other, theirs))
        if conflicts and not force:
            raise self.conflict_error(conflicts, managers)
        for other, path in conflicts:
            owned[other] = {p for p in owned[other] if not overlaps(p, path)}
        owned[mine] = fields
        self.admit(kind, name, merged)
        changed = (
            {k: v for k, v in merged.items() if k != "metadata"} != {k: v for k, v in live.items() if k != "metadata"}
            or merged["metadata"].get("labels") != live["metadata"].get("labels")
            or merged["metadata"].get("annotations") != live["metadata"].get("annotations")
        )
        old_owned = {k: from_fields_v1(m.get("fieldsV1") or {}) for k, m in managers.items()}
        if not changed and owned == old_owned:
            return 200, copy.deepcopy(live)  # a no-op apply writes nothing
        entries = []
        for k, paths in owned.items():
            if not paths:
                continue
            previous = managers.get(k)
            stamp = now if k == mine or previous is None else previous.get("time", now)
            entries.append(self.entry(k[0], k[1], paths, stamp))
        merged["metadata"]["managedFields"] = sorted_entries(entries)
        # managedFields are part of the stored object: a change of ownership alone (a second manager
        # applying the same values, now co-owned) is a write too, with a new resourceVersion. Only an
        # object that encodes to the same bytes is left alone (etcd3 store GuaranteedUpdate).
        merged["metadata"]["resourceVersion"] = (
            self.next_revision() if not dry_run else live["metadata"]["resourceVersion"]
        )
        if merged.get("spec") != live.get("spec"):
            merged["metadata"]["generation"] = live["metadata"].get("generation", 1) + 1
        if not dry_run:
            self.store[key] = merged
        return 200, copy.deepcopy(merged)

    def admit(self, kind: str, name: str, obj: Obj, creating: bool = False) -> None:
        """What happens to a written object before it is stored, in the API server's order (mutating
        admission, then the object's validation, then validating admission): the CRD's defaults, Kuma's
        mutating webhooks (if installed: the defaulter, which decodes the object first, then on a create the
        owner-reference one), the CRD schema's validation (422 Invalid), then Kuma's validating webhook."""
        crd_defaults(kind, obj)
        if self.kuma_webhook:
            failure = kuma_decode_failure(kind, obj)
            if failure:
                raise webhook_denial(DEFAULTER_WEBHOOK, 400, failure)
            kuma_defaulter(kind, obj, self.system_namespace)
            if creating:
                self.own_by_mesh(kind, obj)
        causes = schema_causes(kind, obj) + crd_type_causes(kind, obj)
        if causes:
            raise invalid(kind, "", name, causes)
        if self.kuma_webhook:
            violations = kuma_validation(kind, obj)
            if violations:
                raise kuma_validation_denial(kind, name, violations)

    def own_by_mesh(self, kind: str, obj: Obj) -> None:
        """Kuma's owner-reference webhook on a create (pkg/plugins/runtime/k8s/webhooks/
        owner_reference_mutator.go): a mesh-scoped object gets its Mesh (the `kuma.io/mesh` label, else
        `default`) as owner, read from the cluster, so a Mesh that does not exist yet denies the create
        (`admission.Errored(400)` with the client's NotFound) -- a dry run too. An object synced from the
        global (origin `global` on a zone) is left alone."""
        if kind == "Mesh" or kind not in self.kinds:
            return
        labels = obj["metadata"].get("labels") or {}
        if labels.get("kuma.io/origin") == "global":
            return
        mesh_name = labels.get("kuma.io/mesh", "default")
        mesh = self.store.get((self.kinds["Mesh"][0], "", mesh_name))
        if mesh is None:
            raise webhook_denial(OWNER_REFERENCE_WEBHOOK, 400, f'meshes.{GROUP} "{mesh_name}" not found')
        owner = {"apiVersion": GROUP_VERSION, "kind": "Mesh", "name": mesh_name, "uid": mesh["metadata"]["uid"]}
        obj["metadata"]["ownerReferences"] = [owner]  # controllerutil.SetOwnerReference

    def entry(self, manager: str, operation: str, paths: set[FieldPath], stamp: str) -> Obj:
        return {
            "manager": manager,
            "operation": operation,
            "apiVersion": GROUP_VERSION,
            "time": stamp,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(paths),
        }

    def conflict_error(
        self, conflicts: list[tuple[tuple[str, str], FieldPath]], managers: dict[tuple[str, str], Obj]
    ) -> ApiError:
        def who(key: tuple[str, str]) -> str:
            entry = managers[key]
            if key[1] == "Update":
                return f'"{key[0]}" using {entry.get("apiVersion")} at {entry.get("time")}'
            return f'"{key[0]}"'

        causes = [
            {"reason": "FieldManagerConflict", "message": f"conflict with {who(m)}", "field": dotted(p)}
            for m, p in conflicts
        ]
        if len(conflicts) == 1:
            (m, p) = conflicts[0]
            message = f"Apply failed with 1 conflict: conflict with {who(m)}: {dotted(p)}"
        else:
            lines: list[str] = []
            for m in sorted({m for m, _ in conflicts}):
                lines.append(f"conflicts with {who(m)}:")
                lines.extend(f"- {dotted(p)}" for mm, p in conflicts if mm == m)
            message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
        return ApiError(409, "Conflict", message, {"causes": causes})

    # -- what other tools do

    def merge_patch(
        self,
        kind: str,
        name: str,
        namespace: str,
        patch: Obj,
        manager: str,
        field_validation: str = "Warn",
        warnings: list[str] | None = None,
    ) -> Obj:
        """`kubectl edit`/`kubectl patch --type merge`: an Update that takes the fields it sets. Fields the
        CRD does not declare are dropped (under Warn, each named in `warnings`), or with
        fieldValidation=Strict refused (strict_decoding_error)."""
        plural = self.kinds[kind][0]
        key = (plural, namespace, name)
        with self.lock:
            live = self.store.get(key)
            if live is None:
                raise not_found(plural, name)
            patched = merge_patch(live, patch)
            unknown = unknown_field_paths(kind, patched)
            if unknown and field_validation == "Strict":
                raise strict_decoding_error(patched, unknown)
            if warnings is not None and field_validation == "Warn":
                warnings += [f'unknown field "{path}"' for path in unknown]
            merged = prune_unknown(kind, patched)
            self.admit(kind, name, merged)
            touched = set(leaves({k: v for k, v in patch.items() if k != "metadata"})) | {
                ("metadata", "labels", k) for k in ((patch.get("metadata") or {}).get("labels") or {})
            }
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            entries = []
            for m in live["metadata"].get("managedFields", []):
                paths = {p for p in from_fields_v1(m.get("fieldsV1") or {}) if not any(overlaps(p, t) for t in touched)}
                if paths and m["manager"] != manager:
                    entries.append(self.entry(m["manager"], m["operation"], paths, m.get("time", now)))
            entries.append(self.entry(manager, "Update", touched, now))
            merged["metadata"]["managedFields"] = sorted_entries(entries)
            merged["metadata"]["resourceVersion"] = self.next_revision()
            if merged.get("spec") != live.get("spec"):
                merged["metadata"]["generation"] = live["metadata"].get("generation", 1) + 1
            self.store[key] = merged
            return copy.deepcopy(merged)

    def create(self, obj: Obj, manager: str = "kubectl-create") -> Obj:
        """Another tool creating an object (POST): an Update operation owning every field it set."""
        kind = obj["kind"]
        plural, namespaced = self.kinds[kind]
        meta = obj["metadata"]
        with self.lock:
            created = copy.deepcopy(obj)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            created["metadata"].update(
                uid=str(uuid.uuid4()),
                resourceVersion=self.next_revision(),
                generation=1,
                creationTimestamp=now,
                managedFields=[self.entry(manager, "Update", applied_fields(obj), now)],
            )
            self.store[(plural, meta.get("namespace", "") if namespaced else "", meta["name"])] = created
            return copy.deepcopy(created)


def prune_unknown(kind: str, obj: Obj) -> Obj:
    """What the API server does with the fields a CRD does not declare in an object written whole (create,
    update, JSON merge patch) with the default fieldValidation, Warn: it drops them (apiextensions-apiserver
    structural pruning, at every depth for the policies kuma_fields.py lists) and names them in a `Warning`
    header. Server-side apply refuses them instead (typed_patch_errors)."""
    root = {"apiVersion", "kind", "metadata", "spec"} | ({"mesh"} if kind == "Mesh" else set())
    out = {k: v for k, v in obj.items() if k in root}
    if kind in kuma_fields.POLICY_OBJECTS and isinstance(out.get("spec"), dict):
        out["spec"] = kuma_fields.known_fields(kuma_fields.POLICY_OBJECTS[kind], out["spec"])
    return out


class Reply(dict[str, Any]):
    """A response body with the warnings to send in `Warning` headers."""

    def __init__(self, body: Obj, warnings: list[str]) -> None:
        super().__init__(body)
        self.warnings = warnings


def unknown_field_paths(kind: str, obj: Obj) -> list[str]:
    """The fields structural pruning drops from an object decoded whole, as it records them
    (apiextensions-apiserver pkg/apiserver/schema/pruning/algorithm.go PruneWithOptions, options.go: keys
    joined by `.`, indices in brackets, sorted)."""
    root = {"apiVersion", "kind", "metadata", "spec"} | ({"mesh"} if kind == "Mesh" else set())
    found = [key for key in obj if key not in root]
    if kind in kuma_fields.POLICY_OBJECTS and isinstance(obj.get("spec"), dict):
        objects = kuma_fields.POLICY_OBJECTS[kind]
        found += kuma_fields.unknown_fields(objects, obj["spec"], "", "spec")
    return sorted(found)


def strict_decoding_error(patched: Obj, unknown: list[str]) -> ApiError:
    """apiserver pkg/endpoints/handlers/patch.go jsonPatcher.applyPatchToCurrentObject under
    fieldValidation=Strict: errors.NewInvalid with an empty GroupKind and name, one field error on `patch`
    whose value is the patched object's JSON (json.Marshal: keys sorted, `<`, `>`, `&` escaped) and whose
    detail is runtime.StrictDecodingError (customresource_handler.go schemaCoercingDecoder: `unknown field
    "<path>"` each)."""
    text = json.dumps(patched, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    detail = "strict decoding error: " + ", ".join(f'unknown field "{path}"' for path in unknown)
    message = f"Invalid value: {json.dumps(text, ensure_ascii=False)}: {detail}"
    cause = {"reason": "FieldValueInvalid", "message": message, "field": "patch"}
    return ApiError(422, "Invalid", f' "" is invalid: patch: {message}', {"causes": [cause]})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selector (k8s.io/apimachinery/pkg/labels): `,` is AND."""
    for raw in filter(None, (s.strip() for s in selector.split(","))):
        if "!=" in raw:
            key, value = (p.strip() for p in raw.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "==" in raw or "=" in raw:
            key, value = (p.strip() for p in raw.split("==" if "==" in raw else "=", 1))
            if labels.get(key) != value:
                return False
        elif raw.startswith("!"):
            if raw[1:].strip() in labels:
                return False
        elif raw not in labels:
            return False
    return True


def check_selector(selector: str) -> None:
    for raw in filter(None, (s.strip() for s in selector.split(","))):
        key = re.split(r"!=|==|=", raw.lstrip("!"), maxsplit=1)[0].strip()
        name = key.rpartition("/")[2]
        if not LABEL_NAME.match(name):
            raise ApiError(400, "BadRequest", f'unable to parse requirement: invalid label key "{key}"')


# ---------------------------------------------------------------------- routing


def route(state: KubeState, method: str, path: str, query: dict[str, str], headers: Any, raw: bytes) -> tuple[int, Any]:
    if path == "/version" and method == "GET":
        return 200, {
            "major": "1",
            "minor": "31",
            "gitVersion": "v1.31.0",
            "gitCommit": "9a7a1ee8e7e3d8b2b2a4e1f5e3c0f2b5b0c6a1d4",
            "gitTreeState": "clean",
            "buildDate": "2024-08-13T07:28:49Z",
            "goVersion": "go1.22.5",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
    if path == f"/apis/{GROUP_VERSION}" and method == "GET":
        if not state.kinds:
            raise resource_missing()
        resources = [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
            }
            for kind, (plural, namespaced) in sorted(state.kinds.items())
        ]
        return 200, {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": GROUP_VERSION,
            "resources": resources,
        }
    prefix = f"/apis/{GROUP_VERSION}/"
    if not path.startswith(prefix):
        raise resource_missing()
    parts = [unquote(p) for p in path[len(prefix) :].split("/") if p]
    namespace = ""
    if len(parts) >= 2 and parts[0] == "namespaces":
        namespace, parts = parts[1], parts[2:]
    by_plural = {plural: (kind, namespaced) for kind, (plural, namespaced) in state.kinds.items()}
    if not parts or parts[0] not in by_plural or len(parts) > 2:
        raise resource_missing()
    kind, namespaced = by_plural[parts[0]]
    plural = parts[0]
    if namespace and not namespaced:
        raise resource_missing()
    name = parts[1] if len(parts) == 2 else None
    if name is None:
        if method != "GET":
            raise ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
            )
        return 200, list_objects(state, kind, plural, namespaced, namespace, query)
    if namespaced and not namespace:
        raise resource_missing()
    if method == "GET":
        found = state.store.get((plural, namespace, name))
        if found is None:
            raise not_found(plural, name)
        return 200, found
    if method == "PATCH":
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type not in ("application/apply-patch+yaml", "application/merge-patch+json"):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            )
        check_options("PatchOptions", query, content_type == "application/apply-patch+yaml")
        if content_type == "application/merge-patch+json":
            manager = query.get("fieldManager") or "kubectl-patch"
            validation = query.get("fieldValidation") or "Warn"
            warnings: list[str] = []
            patched = state.merge_patch(kind, name, namespace, json.loads(raw or b"{}"), manager, validation, warnings)
            return 200, Reply(patched, warnings)
        manager = query["fieldManager"]
        try:
            body = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError as exc:
            raise ApiError(400, "BadRequest", f"error decoding YAML: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "Object 'Kind' is missing in the request body")
        # apimachinery runtime/conversion.go Convert_Slice_string_To_Pointer_bool: only "0" and "false" (any
        # case) are false, any other value given (even an empty one) is true
        force = "force" in query and query["force"] != "0" and query["force"].lower() != "false"
        return state.apply(kind, plural, namespace, name, body, manager, force, query.get("dryRun") == "All")
    if method == "DELETE":
        check_options("DeleteOptions", query, None)
        found = state.store.get((plural, namespace, name))
        if found is None:
            raise not_found(plural, name)
        options = json.loads(raw) if raw else {}
        wanted_uid = ((options or {}).get("preconditions") or {}).get("uid")
        if wanted_uid and wanted_uid != found["metadata"]["uid"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {plural}.{GROUP} "{name}": Precondition failed: '
                f"UID in precondition: {wanted_uid}, UID in object meta: {found['metadata']['uid']}",
                {"name": name, "group": GROUP, "kind": plural},
            )
        if query.get("dryRun") != "All":
            del state.store[(plural, namespace, name)]
            state.next_revision()
        return 200, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": GROUP, "kind": plural, "uid": found["metadata"]["uid"]},
        }
    raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list."
)


def encode_continue(start: str, revision: int) -> str:
    """apiserver storage.EncodeContinue: unpadded URL-safe base64 of {"v", "rv", "start"}, `start` being the
    key after the last one returned (the key and a NUL)."""
    token = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[str, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        start, revision = data["start"], int(data["rv"])
        if data.get("v") != "meta.k8s.io/v1" or not isinstance(start, str) or revision == 0:
            raise ValueError(token)
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "BadRequest", "invalid continue token: continue key is not valid") from None
    return start, revision


def list_objects(
    state: KubeState, kind: str, plural: str, namespaced: bool, namespace: str, query: dict[str, str]
) -> Obj:
    """One page of a list, as the etcd3 storage answers it: objects in key order (`<namespace>/<name>`); with
    `limit`, a continue token naming the key after the last one returned and the revision of the first page,
    whose view the next pages keep (objects changed meanwhile do not show); `remainingItemCount` only
    without a selector (etcd3 store.go GetList: `pred.Empty()`); a token from before a compaction answers
    410 Expired with a token that goes on at the latest revision (handleCompactedErrorForPaging)."""
    selector = query.get("labelSelector", "")
    check_selector(selector)
    after, revision = decode_continue(query["continue"]) if query.get("continue") else ("", state.revision)
    if revision == -1:
        revision = state.revision
    view = state.store if revision == state.revision else state.snapshots.get(revision)
    if view is None:
        error = ApiError(410, "Expired", EXPIRED_CONTINUE)
        error.body["metadata"] = {"continue": encode_continue(after, -1)}
        raise error
    keyed = sorted(
        (f"{ns}/{name}" if ns else name, o)
        for (p, ns, name), o in view.items()
        if p == plural and (not namespace or ns == namespace)
    )
    matching = [(k, o) for k, o in keyed if k > after and selector_matches(selector, o["metadata"].get("labels") or {})]
    try:
        limit = int(query.get("limit") or 0)
    except ValueError:
        raise ApiError(400, "BadRequest", f'limit: Invalid value: "{query["limit"]}"') from None
    page = matching[:limit] if limit > 0 else matching
    meta: Obj = {"resourceVersion": str(revision)}
    if limit > 0 and len(matching) > limit:
        meta["continue"] = encode_continue(page[-1][0] + "\x00", revision)
        if not selector:
            meta["remainingItemCount"] = len(matching) - limit
        state.snapshots.setdefault(revision, dict(view))
    if state.after_list is not None:
        state.after_list(state)
    return {"apiVersion": GROUP_VERSION, "kind": f"{kind}List", "metadata": meta, "items": [o for _, o in page]}


# ---------------------------------------------------------------------- HTTP


class Handler(EmulatorHandler[KubeState]):
    def do_PATCH(self) -> None:
        self.handle_method("PATCH")

    def fault_error(self, fault: Fault) -> ApiError:
        status = fault.status or 500
        reason, message = FAULT_STATUS.get(status, ("InternalError", "injected"))
        extra = {"Retry_After": fault.retry_after} if fault.retry_after is not None else {}
        # NewTooManyRequests says when to retry, NewInternalError carries its cause, the others nothing
        details = {429: {"retryAfterSeconds": 1}, 500: {"causes": [{"message": "injected"}]}}.get(status)
        return ApiError(status, reason, message, details, **extra)

    def record(self, method: str, path: str, query: str, status: int, started: float, body: bytes = b"") -> None:
        with self.state.lock:
            self.state.requests.append(Request(method, path, query, self.headers.get("Content-Type", ""), status))

    def answer(self, method: str, path: str, query: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        state = self.state
        if state.token and self.headers.get("Authorization") != f"Bearer {state.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if kube_lease.is_lease_path(path):
            lease_status, lease_payload = kube_lease.route(state.leases, method, path, raw)
            return lease_status, lease_payload, {}
        with state.lock:
            status, payload = route(state, method, path, server.first_values(query), self.headers, raw)
        if isinstance(payload, Reply) and payload.warnings:
            # apiserver pkg/endpoints/handlers/patch.go addStrictDecodingWarnings, warning.AddWarning: one
            # `299 - "<text>"` value each (net/http writes a Warning line per value; one line, comma-joined, here)
            quoted = (json.dumps(text) for text in payload.warnings)
            return status, payload, {"Warning": ", ".join(f"299 - {text}" for text in quoted)}
        return status, payload, {}

    def send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        self.reply_json(status, payload, {"Audit-Id": str(uuid.uuid4()), **headers})


class KubeEmulator(server.Emulator[KubeState]):
    def kubeconfig(self, path: Path, *, context: str = "emulator", token: str | None = None) -> Path:
        """A kubeconfig file pointing at this server (token: the one the state expects, if any)."""
        user: Obj = {"token": token or self.state.token} if (token or self.state.token) else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": user}],
            "contexts": [{"name": context, "context": {"cluster": "emulator", "user": "emulator"}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config))
        return path


def start(state: KubeState | None = None, port: int = 0) -> KubeEmulator:
    state = state or KubeState()
    # a tracking server: stopping closes the connections clients kept alive and waits for their threads
    return KubeEmulator(state, *server.serve(Handler, state, port, "kube-emulator", server.TrackingServer))


def running(state: KubeState | None = None) -> AbstractContextManager[KubeEmulator]:
    return server.running(start, state)


def main() -> None:
    parser = server.arguments("kube-apiserver emulator for the Kuma CRDs (tests and trials)", 18443)
    parser.add_argument(
        "--kuma-webhook",
        action="store_true",
        help="Kuma's admission webhooks: mutate and validate objects as they do",
    )
    server.add_fault_arguments(parser, faulty_reads=False)
    args = parser.parse_args()
    state = KubeState(kuma_webhook=args.kuma_webhook)
    if args.fault_rate:
        state.random_faults = RandomFaults(args.fault_rate, args.seed)
    emulator = start(state, args.port)
    server.serve_until_interrupted(emulator, f"kube-apiserver emulator (Kuma CRDs) on {emulator.url}")


if __name__ == "__main__":
    main()
