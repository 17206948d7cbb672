"""Custom resources checked against their CRD's structural schema, offline.

kubernetes-validate knows only the built-in kinds: a ServiceMonitor or a MeshRetry passes it unchecked.
This module validates such objects against `spec.versions[].schema.openAPIV3Schema` of a
CustomResourceDefinition, implementing the subset of OpenAPI v3 that Kubernetes structural schemas use:
type, properties, required, enum, pattern, items, additionalProperties, minimum/maximum,
minLength/maxLength, minItems/maxItems, minProperties/maxProperties, oneOf/anyOf, nullable,
x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string and x-kubernetes-list-type (set, map).

Unknown fields are errors, as with `kubectl apply` (strict field validation since Kubernetes 1.27):
the API server would otherwise prune them silently, and a silently dropped field is a bug. Every
problem comes with the path of the offending value (`.spec.to[0].default.http.numRetries`).

The CRDs are the project's own trimmed ones under tests/crds/ (see the source each cites).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CRDS = Path(__file__).resolve().parent / "crds"
Schema = dict[str, Any]

# RFC 1123 subdomain: the rule for metadata.name of custom resources.
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


@dataclass(frozen=True)
class Problem:
    path: str  # ".spec.to[0].default" ("" for the object itself)
    message: str

    def __str__(self) -> str:
        return f"{self.path or '.'}: {self.message}"


@dataclass(frozen=True)
class Crd:
    group: str
    kind: str
    scope: str  # Namespaced | Cluster
    versions: dict[str, Schema]  # served version name -> openAPIV3Schema

    @property
    def api_versions(self) -> list[str]:
        return [f"{self.group}/{v}" for v in self.versions]


class UnknownKind(LookupError):
    """No CRD is known for an object's apiVersion and kind."""


# --------------------------------------------------------------------------- loading


def load_crd(doc: dict[str, Any]) -> Crd:
    if doc.get("apiVersion") != "apiextensions.k8s.io/v1" or doc.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"not an apiextensions.k8s.io/v1 CustomResourceDefinition: {doc.get('kind')}")
    spec = doc["spec"]
    versions = {v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("served", True)}
    return Crd(spec["group"], spec["names"]["kind"], spec["scope"], versions)


@cache
def known_crds(folder: Path = CRDS) -> dict[tuple[str, str], Crd]:
    """(apiVersion, kind) -> CRD, for every CustomResourceDefinition in the folder's YAML files."""
    found: dict[tuple[str, str], Crd] = {}
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict):
                crd = load_crd(doc)
                for api_version in crd.api_versions:
                    found[(api_version, crd.kind)] = crd
    return found


def is_custom_resource(doc: dict[str, Any], folder: Path = CRDS) -> bool:
    """True when the object's API group is one our CRDs define (kuma.io, monitoring.coreos.com, ...)."""
    groups = {crd.group for crd in known_crds(folder).values()}
    api_version = str(doc.get("apiVersion", ""))
    return "/" in api_version and api_version.split("/", 1)[0] in groups


# --------------------------------------------------------------------------- checking objects


def check_resource(doc: dict[str, Any], folder: Path = CRDS) -> list[Problem]:
    """Every problem of one custom resource: envelope (apiVersion, kind, metadata, scope) and spec."""
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    crd = known_crds(folder).get(key)
    if crd is None:
        raise UnknownKind(f"no CRD for apiVersion {key[0]} kind {key[1]} in {folder}")
    problems = _check_metadata(doc.get("metadata"), crd)
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    schema = crd.versions[key[0].split("/", 1)[1]]
    envelope = {k: v for k, v in schema.get("properties", {}).items() if k not in ("apiVersion", "kind", "metadata")}
    problems += validate(body, {**schema, "properties": envelope})
    return problems


def _check_metadata(meta: Any, crd: Crd) -> list[Problem]:
    """What the API server checks of every object's metadata (the CRD schema leaves it to the server)."""
    if not isinstance(meta, dict):
        return [Problem(".metadata", "is required and must be an object")]
    problems: list[Problem] = []
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        problems.append(Problem(".metadata.name", "is required"))
    elif len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        problems.append(Problem(".metadata.name", f"{name!r} is not a lowercase RFC 1123 subdomain"))
    namespace = meta.get("namespace")
    if crd.scope == "Cluster" and namespace is not None:
        problems.append(Problem(".metadata.namespace", f"{crd.kind} is cluster-scoped: it has no namespace"))
    if namespace is not None and (not isinstance(namespace, str) or not DNS_LABEL.match(namespace)):
        problems.append(Problem(".metadata.namespace", f"{namespace!r} is not a lowercase RFC 1123 label"))
    for field in ("labels", "annotations"):
        value = meta.get(field, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append(Problem(f".metadata.{field}", "must map names to strings"))
    return problems


# --------------------------------------------------------------------------- the validator


def validate(value: Any, schema: Schema, path: str = "", *, declare: bool = True) -> list[Problem]:
    """Problems of `value` against a structural schema. `declare` is False inside oneOf/anyOf branches: in
    a structural schema those only constrain the fields the enclosing schema declares, so a field a
    branch does not list is not "unknown" there."""
    if value is None:
        return [] if schema.get("nullable") else [Problem(path, "must not be null")]
    problems = _check_type(value, schema, path)
    if problems:
        return problems
    problems += _check_scalar(value, schema, path)
    if isinstance(value, dict):
        problems += _check_object(value, schema, path, declare)
    elif isinstance(value, list):
        problems += _check_array(value, schema, path, declare)
    problems += _check_combinators(value, schema, path)
    return problems


def _type_name(value: Any) -> str:
    for name, types in JSON_TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name in ("integer", "number")):
            return name
    return type(value).__name__


def _check_type(value: Any, schema: Schema, path: str) -> list[Problem]:
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        return [] if ok else [Problem(path, f"must be an integer or a string, not {_type_name(value)}")]
    expected = schema.get("type")
    if expected is None:
        return []
    ok = isinstance(value, JSON_TYPES[expected]) and not (isinstance(value, bool) and expected != "boolean")
    if expected == "number" and isinstance(value, float) and value != value:  # NaN is not JSON
        ok = False
    return [] if ok else [Problem(path, f"must be of type {expected}, not {_type_name(value)}")]


def _check_scalar(value: Any, schema: Schema, path: str) -> list[Problem]:
    problems: list[Problem] = []
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(e) for e in schema["enum"])
        problems.append(Problem(path, f"{value!r} is not one of {allowed}"))
    if isinstance(value, str):
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            problems.append(Problem(path, f"{value!r} does not match {schema['pattern']!r}"))
        if len(value) < schema.get("minLength", 0):
            problems.append(Problem(path, f"must be at least {schema['minLength']} characters long"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(Problem(path, f"must be at most {schema['maxLength']} characters long"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(Problem(path, f"{value} is less than the minimum {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(Problem(path, f"{value} is more than the maximum {schema['maximum']}"))
    return problems


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    # Kubernetes evaluates ECMA-262 patterns; the ones CRDs use are also Python regexes, except for
    # Go's inline flag group `(?i)` not at the start, which Python refuses: move it to the front.
    if "(?i)" in pattern and not pattern.startswith("(?i)"):
        pattern = "(?i)" + pattern.replace("(?i)", "")
    return re.compile(pattern)


def _check_object(value: dict[str, Any], schema: Schema, path: str, declare: bool) -> list[Problem]:
    problems = [Problem(_join(path, k), "is required") for k in schema.get("required", []) if k not in value]
    if len(value) < schema.get("minProperties", 0):
        problems.append(Problem(path, f"must have at least {schema['minProperties']} fields"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        problems.append(Problem(path, f"must have at most {schema['maxProperties']} fields"))
    properties: dict[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    for key, item in value.items():
        where = _join(path, key)
        if key in properties:
            problems += validate(item, properties[key], where, declare=declare)
        elif isinstance(extra, dict):
            problems += validate(item, extra, where, declare=declare)
        elif extra is True or preserve or not declare:
            continue
        else:
            problems.append(Problem(where, "unknown field"))
    return problems


def _check_array(value: list[Any], schema: Schema, path: str, declare: bool) -> list[Problem]:
    problems: list[Problem] = []
    if len(value) < schema.get("minItems", 0):
        problems.append(Problem(path, f"must have at least {schema['minItems']} items"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        problems.append(Problem(path, f"must have at most {schema['maxItems']} items"))
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            problems += validate(item, items, f"{path}[{i}]", declare=declare)
    problems += _check_list_type(value, schema, path)
    return problems


def _check_list_type(value: list[Any], schema: Schema, path: str) -> list[Problem]:
    """`set`: no item twice; `map`: no two items with the same values of the list-map keys."""
    kind = schema.get("x-kubernetes-list-type")
    if kind == "set":
        keys: Iterable[Any] = (repr(v) for v in value)
    elif kind == "map":
        names = schema.get("x-kubernetes-list-map-keys", [])
        keys = (tuple(v.get(n) for n in names) if isinstance(v, dict) else repr(v) for v in value)
    else:
        return []
    seen: set[Any] = set()
    problems: list[Problem] = []
    for i, key in enumerate(keys):
        if key in seen:
            problems.append(Problem(f"{path}[{i}]", f"duplicate entry {key!r} in a list of type {kind}"))
        seen.add(key)
    return problems


def _check_combinators(value: Any, schema: Schema, path: str) -> list[Problem]:
    problems: list[Problem] = []
    if "anyOf" in schema:
        results = [validate(value, branch, path, declare=False) for branch in schema["anyOf"]]
        if all(results):
            best = min(results, key=len)
            problems.append(Problem(path, "matches none of anyOf: " + "; ".join(str(p) for p in best)))
    if "oneOf" in schema:
        results = [validate(value, branch, path, declare=False) for branch in schema["oneOf"]]
        matched = sum(not r for r in results)
        if matched != 1:
            problems.append(Problem(path, f"must match exactly one of oneOf, matches {matched}"))
    return problems


def _join(path: str, key: str) -> str:
    return f"{path}.{key}"
