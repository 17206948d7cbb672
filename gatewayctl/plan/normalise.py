"""Both sides of a diff brought to the same shape with the defaults the live Kong reports in `/schemas`,
so that a field the catalog leaves out and Kong fills in is not a change (decK's phantom diffs, #1571,
#2166) and timestamps never are (#293).

Schemas have Kong's JSON form (`GET /schemas/services`, `GET /schemas/plugins/<name>`):
`{"fields": [{"name": {"type": "string", "default": ...}}, {"config": {"type": "record", "fields": [...]}}]}`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

Schema = dict[str, Any]
FieldSpec = dict[str, Any]
SKIPPED = frozenset({"id", "created_at", "updated_at"})


def field_specs(schema: Schema | None) -> list[tuple[str, FieldSpec]]:
    if not schema:
        return []
    fields = schema.get("fields") or []
    # Called for every record of every entity (40,000 times for 10,000 entities): the list is kept with
    # the fields list it was made from, which identifies it (schemas are not changed once fetched).
    cached = _SPECS.get(id(fields))
    if cached is not None and cached[0] is fields:
        return cached[1]
    specs = [next(iter(f.items())) for f in fields if isinstance(f, dict) and f]
    if len(_SPECS) > 10_000:
        _SPECS.clear()
    _SPECS[id(fields)] = (fields, specs)
    return specs


_SPECS: dict[int, tuple[Any, list[tuple[str, FieldSpec]]]] = {}


def plugin_schema(base: Schema | None, plugin: Schema | None) -> Schema | None:
    """The generic plugin entity's fields (`/schemas/plugins`) with a plugin's own (`/schemas/plugins/<name>`:
    config, protocols, scope restrictions) in their place."""
    if base is None and plugin is None:
        return None
    own = dict(field_specs(plugin))
    fields = [{name: own.pop(name, spec)} for name, spec in field_specs(base)]
    fields += [{name: spec} for name, spec in own.items()]
    return {"fields": fields}


def normalise(body: dict[str, Any], schema: Schema | None) -> dict[str, Any]:
    """Every schema field present (defaults filled in, sets sorted, foreign keys reduced to their id);
    fields the schema does not know are kept as they are; ids and timestamps dropped."""
    specs = field_specs(schema)
    if not specs:
        return {k: _plain(v) for k, v in body.items() if k not in SKIPPED and v is not None}
    return _record(body, specs, top=True)


def _record(value: dict[str, Any] | None, specs: list[tuple[str, FieldSpec]], top: bool = False) -> dict[str, Any]:
    value = value or {}
    out: dict[str, Any] = {}
    for name, spec in specs:
        if top and name in SKIPPED:
            continue
        out[name] = _value(value.get(name), spec)
    for name, v in value.items():
        if name not in out and not (top and name in SKIPPED):
            out[name] = _plain(v)
    return out


def _value(value: Any, spec: FieldSpec) -> Any:
    kind = spec.get("type")
    if value is None:
        if spec.get("default") is not None:
            value = copy.deepcopy(spec["default"])
        elif kind == "record" and spec.get("fields") and not spec.get("abstract"):
            value = {}
        else:
            return None
    if kind == "foreign":
        return {"id": value.get("id")} if isinstance(value, dict) else value
    if kind == "record" and isinstance(value, dict):
        nested = field_specs(spec)
        return _record(value, nested) if nested else _plain(value)
    if kind in ("array", "set") and isinstance(value, list):
        elements = spec.get("elements") or {}
        items = [_value(v, elements) if elements.get("type") == "record" else _plain(v) for v in value]
        if kind == "set":
            if all(type(i) is str for i in items):  # tags, methods, protocols: no JSON text needed to sort them
                return sorted(set(items))
            unique = {json.dumps(i, sort_keys=True): i for i in items}
            return [unique[k] for k in sorted(unique)]
        return items
    if kind == "map" and isinstance(value, dict):
        values = spec.get("values") or {}
        return {k: _value(v, values) for k, v in sorted(value.items())}
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def basic_auth_hash(password: str, consumer_id: str) -> str:
    """How Kong stores a basic-auth password: sha1(password .. consumer_id), hex
    (kong/plugins/basic-auth/crypto.lua). Comparing hashes finds a changed password without showing it."""
    return hashlib.sha1((password + consumer_id).encode()).hexdigest()
