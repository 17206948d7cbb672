"""The schema-compiled normaliser (plan/normalise.py) against a plain recursive reading of the same rules,
on every entity of every example as rendered and as the Kong emulator gives it back (defaults, nulls,
timestamps), plus the corner cases the rules name."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from emulators.kong import KongState, show_shorthands
from emulators.kong_schemas import ENTITIES, PLUGINS

from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.secrets import references_in
from gatewayctl.plan.entities import Entity, flatten
from gatewayctl.plan.normalise import SKIPPED, field_specs, normalise, plugin_schema
from gatewayctl.render.kong import build_kong_config

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))


# ---------------------------------------------------------------------- the rules, read plainly


def reference(body: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    specs = field_specs(schema)
    if not specs:
        return {k: plain(v) for k, v in body.items() if k not in SKIPPED and v is not None}
    return record(body, specs, top=True, shorthands=schema.get("shorthand_fields") if schema else None)


def record(
    value: dict[str, Any] | None, specs: list[tuple[str, Any]], top: bool = False, shorthands: Any = None
) -> dict[str, Any]:
    value = copy.deepcopy(value or {})
    for shorthand in shorthands or []:  # a deprecated shorthand stands for the field it names, which wins
        name, spec = next(iter(shorthand.items()))
        *parents, last = spec["deprecation"]["replaced_with"][0]["path"]
        given = value.pop(name, None)
        if given is None:
            continue
        parent = value
        for key in parents:
            if not isinstance(parent.get(key), dict):
                parent[key] = {}
            parent = parent[key]
        if parent.get(last) is None:
            parent[last] = given
    out: dict[str, Any] = {}
    for name, spec in specs:
        if not (top and name in SKIPPED):
            out[name] = field(value.get(name), spec)
    for name, v in value.items():
        if name not in out and not (top and name in SKIPPED):
            out[name] = plain(v)
    return out


def field(value: Any, spec: dict[str, Any]) -> Any:
    kind = spec.get("type")
    if value is None:
        if spec.get("default") is not None:
            value = copy.deepcopy(spec["default"])
        elif kind == "record" and not spec.get("abstract") and (spec.get("fields") or spec.get("required")):
            value = {}
        else:
            return None
    if kind == "foreign":
        return {"id": value.get("id")} if isinstance(value, dict) else value
    if kind == "record" and isinstance(value, dict):
        nested = field_specs(spec)
        return record(value, nested, shorthands=spec.get("shorthand_fields")) if nested else plain(value)
    if kind in ("array", "set") and isinstance(value, list):
        elements = spec.get("elements") or {}
        items = [field(v, elements) if elements.get("type") == "record" else plain(v) for v in value]
        if kind == "set":
            unique = {json.dumps(i, sort_keys=True): i for i in items}
            return [unique[k] for k in sorted(unique)]
        return items
    if kind == "map" and isinstance(value, dict):
        return {k: field(v, spec.get("values") or {}) for k, v in sorted(value.items())}
    return plain(value)


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value):
        number = float(f"{value:.14g}")  # what Kong keeps of it: Postgres JSONB written by cjson at 14 digits
        return int(number) if number.is_integer() else number
    return value


# ---------------------------------------------------------------------- the comparison


def schema_of(entity: Entity) -> dict[str, Any] | None:
    if entity.kind == "plugins":
        return plugin_schema({"fields": ENTITIES["plugins"]["fields"]}, PLUGINS.get(str(entity.body.get("name"))))
    return {"fields": ENTITIES[entity.kind]["fields"]} if entity.kind in ENTITIES else None


def entities_of(example: Path) -> list[Entity]:
    loaded = load_catalog(example)
    environ = {ref.name: f"secret-{ref.name}" for _, ref in references_in(loaded.data) if ref.kind == "env"}
    config = build_kong_config(loaded.catalog, loaded.secrets(environ))
    return flatten(config, loaded.catalog).entities


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_compiled_normaliser_matches_the_plain_rules(example: Path) -> None:
    entities = entities_of(example)
    assert entities
    state = KongState(plugins=sorted(PLUGINS))
    compared = 0
    for entity in entities:
        schema = schema_of(entity)
        assert normalise(entity.body, schema) == reference(entity.body, schema), entity.kind
        if entity.kind == "plugins" and entity.body.get("name") not in PLUGINS:
            continue  # a plugin the emulator does not know: its live copy cannot be made
        body = {k: ({"id": v["id"]} if isinstance(v, dict) and "id" in v else v) for k, v in entity.body.items()}
        for key in ("service", "route", "consumer", "upstream"):  # what a live copy refers to must exist
            if isinstance(body.get(key), dict) and not state.store.get(f"{key}s", {}).get(body[key]["id"]):
                state.seed(f"{key}s", {"id": body[key]["id"], **({"host": "h"} if key == "service" else {})})
        live = state.upsert(entity.kind, entity.id, copy.deepcopy(body), replace=True)
        live = show_shorthands(state, live)  # as Kong answers a read
        assert normalise(live, schema) == reference(live, schema), entity.kind
        compared += 1
    assert compared > len(entities) / 2


def test_corner_cases_of_the_rules() -> None:
    schema = {
        "fields": [
            {"id": {"type": "string"}},
            {"n": {"type": "number", "default": 1.0}},
            {"s": {"type": "set", "elements": {"type": "string"}}},
            {"mixed": {"type": "set", "elements": {"type": "record", "fields": [{"a": {"type": "integer"}}]}}},
            {"m": {"type": "map", "values": {"type": "record", "fields": [{"x": {"type": "string", "default": "d"}}]}}},
            {"r": {"type": "record", "fields": [{"deep": {"type": "array", "default": [1, 2]}}]}},
            {"abstract": {"type": "record", "abstract": True, "fields": [{"a": {"type": "string"}}]}},
            {"f": {"type": "foreign", "reference": "services"}},
            {"not_a_list": {"type": "set"}},
            {"ordered": {"type": "array", "elements": {"type": "string"}}},
        ]
    }
    bodies: list[dict[str, Any]] = [
        {},
        {"id": "x", "created_at": 1, "extra": {"k": 2.0}},
        {"s": ["b", "a", "b"], "mixed": [{"a": 2}, {"a": 1}, {"a": 2}], "m": {"z": {}, "a": None}},
        {"r": None, "abstract": None, "f": {"id": "s1", "name": "svc"}, "not_a_list": "text", "n": 3.0},
        {"r": "not a record", "m": "not a map", "f": "s1"},
        {"r": {"id": "kept: only the top level drops ids", "created_at": 5}},
        {"ordered": ["b", "a", "b"], "s": ["x", 2.0]},  # an array keeps order and repeats; a stray float
        {"n": 0.12345678901234567, "extra": [12345678901234567, 2**63, 0.5, float("inf")]},  # past 16 digits
    ]
    for body in bodies:
        assert normalise(body, schema) == reference(body, schema), body
    filled = normalise({}, schema)
    assert filled["n"] == 1 and filled["r"] == {"deep": [1, 2]} and filled["abstract"] is None
    filled["r"]["deep"].append(3)  # a default is copied, never shared between results
    assert normalise({}, schema)["r"] == {"deep": [1, 2]}
    # a number as Kong keeps it (with Postgres "%.14g", DB-less "%.16g") is the number sent
    for kept in (0.12345678901235, 0.1234567890123457):
        assert normalise({"n": 0.12345678901234567}, schema) == normalise({"n": kept}, schema)
    assert normalise({"extra": 123456789012345678}, schema) == normalise({"extra": 1.2345678901235e17}, schema)
    exact = {"n": 0.5, "extra": 10**14 - 1}
    assert normalise(exact, schema) == {**normalise({}, schema), **exact}
    assert normalise({"n": 0.1}, schema) != normalise({"n": 0.10000000000001}, schema)  # the 14th digit counts
    # fields the schema does not know are kept after the known ones, in the order they came
    assert list(normalise({"zz": 1, "id": "x", "n": 2, "aa": 2.0}, schema))[-2:] == ["zz", "aa"]


def test_a_deprecated_shorthand_kong_shows_on_reads_is_no_field_of_its_own() -> None:
    # Kong 3.9 answers every read of a rate-limiting plugin with config.redis_host & co. (the deprecated
    # shorthands, with the values of config.redis.*): not a change from a catalog that does not name them
    schema = plugin_schema({"fields": ENTITIES["plugins"]["fields"]}, PLUGINS["rate-limiting"])
    desired = {"name": "rate-limiting", "config": {"minute": 5, "policy": "redis", "redis": {"host": "r", "port": 1}}}
    state = KongState()
    live = show_shorthands(
        state, state.upsert("plugins", "9d0c5b8e-0000-4000-8000-000000000001", desired, replace=True)
    )
    assert live["config"]["redis_host"] == "r" and live["config"]["redis_password"] is None
    assert normalise(live, schema) == normalise(desired, schema) == reference(live, schema)
    assert "redis_host" not in normalise(live, schema)["config"]
    # a catalog that still uses one means the field it stands for, which wins when both are given
    flat = {"name": "rate-limiting", "config": {"minute": 5, "policy": "redis", "redis_host": "r", "redis_port": 1}}
    assert normalise(flat, schema) == normalise(desired, schema) == reference(flat, schema)
    assert flat["config"]["redis_host"] == "r" and "redis" not in flat["config"]  # the caller's body unchanged
    both = copy.deepcopy(desired)
    both["config"]["redis_port"] = 2
    assert normalise(both, schema)["config"]["redis"]["port"] == 1


def test_a_required_record_without_fields_is_an_empty_record_not_null() -> None:
    # acme's config.storage_config.kong: Kong answers {} for it (handle_missing_field expands a required
    # record), which is no change from a catalog that leaves it out
    schema = plugin_schema({"fields": ENTITIES["plugins"]["fields"]}, PLUGINS["acme"])
    desired = {"name": "acme", "config": {"account_email": "ops@example.com", "tos_accepted": True}}
    state = KongState()
    live = state.upsert("plugins", "9d0c5b8e-0000-4000-8000-000000000002", copy.deepcopy(desired), replace=True)
    assert live["config"]["storage_config"]["kong"] == {} and live["config"]["account_key"] is None
    assert normalise(live, schema) == normalise(desired, schema) == reference(live, schema)
