"""A plan as a person reads it (text lines) and as a machine reads it (JSON). Values are already masked
in the plan; names are resolved (a plugin shows the service or route it is attached to)."""

from __future__ import annotations

import json
from typing import Any

from gatewayctl.plan.entities import Entity, from_live
from gatewayctl.plan.kong import Change, KongPlan
from gatewayctl.plan.kuma import KumaChange, KumaPlan
from gatewayctl.plan.masking import Masker

SIGN = {"create": "+", "update": "~", "delete": "-"}
STYLE = {"create": "green", "update": "yellow", "delete": "red"}


NAMED_KINDS = ("services", "routes", "consumers", "upstreams")  # what a plugin or credential is shown by


def names_by_id(plan: KongPlan, desired: list[Entity]) -> dict[str, str]:
    live = (from_live(kind, item) for kind in NAMED_KINDS for item in plan.live.entities.get(kind, ()))
    names: dict[str, str] = {}
    for entity in [*live, *(e for e in desired if e.kind in NAMED_KINDS)]:
        names[entity.id] = f"{entity.spec.label} {entity.display_name()}"
    return names


def title(change: Change, names: dict[str, str]) -> str:
    entity = change.entity
    if entity.kind == "plugins":
        scope = next(
            (
                names.get(str(entity.body[k].get("id")), f"{k} {entity.body[k].get('id')}")
                for k in ("route", "service", "consumer")
                if isinstance(entity.body.get(k), dict)
            ),
            "global",
        )
        return f"plugin {entity.body.get('name')} ({scope})"
    owner = ""
    if entity.spec.parent and entity.kind != "routes":
        parent = entity.parent_id()
        owner = f" of {names[parent]}" if parent in names else ""
    return f"{change.label} {change.name}{owner}"


def text_lines(plan: KongPlan, names: dict[str, str], masker: Masker) -> list[tuple[str, str]]:
    """(style, line) pairs: one line per change, indented field lines under updates."""
    lines: list[tuple[str, str]] = []
    for change in sorted(plan.changes, key=_order):
        where = f"  ({change.entity.where()})" if change.entity.origin else ""
        lines.append((STYLE[change.action], f"{SIGN[change.action]} {masker.text(title(change, names))}{where}"))
        for f in change.fields:
            lines.append(("", f"    {f.path}: {_show(f.old)} -> {_show(f.new)}"))
        if change.first is not None:
            lines.append(("", f"    ({first_note(change)})"))
    return lines


def first_note(change: Change) -> str:
    """What the extra write before a change does (a cycle of unique values: two swapped custom_ids)."""
    assert change.first is not None
    cycle = f"unique values move in a cycle between {change.label}s"
    if change.first.action == "delete":
        return f"deleted and created again: {cycle}"
    return f"{', '.join(_left_out(change))} given up first in a separate write: {cycle}"


def _left_out(change: Change) -> list[str]:
    first = change.first.entity.body if change.first is not None else {}
    return [k for k in change.entity.body if k not in first]


def json_report(plan: KongPlan, names: dict[str, str], masker: Masker) -> dict[str, Any]:
    create, update, delete = plan.counts()
    return {
        "server": {
            "version": plan.server.version,
            "edition": plan.server.edition,
            "database": plan.server.database,
        },
        "summary": {"create": create, "update": update, "delete": delete},
        "changes": [
            {
                "action": c.action,
                "kind": c.kind,
                "id": c.entity.id,
                "name": masker.text(title(c, names)),
                "catalog_path": c.entity.where() or None,
                "fields": [{"path": f.path, "old": f.old, "new": f.new} for f in c.fields],
            }
            | ({"first": _first_json(c)} if c.first is not None else {})
            for c in sorted(plan.changes, key=_order)
        ],
    }


def _first_json(change: Change) -> dict[str, Any]:
    assert change.first is not None
    if change.first.action == "delete":
        return {"action": "delete"}
    return {"action": "update", "without": _left_out(change)}


def _order(change: Change) -> tuple[int, int, str]:
    level = change.entity.spec.level
    return ({"delete": 2, "create": 0, "update": 1}[change.action], level, change.entity.id)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value if value.startswith("<secret") else json.dumps(value)
    return json.dumps(value, sort_keys=True)


# ---------------------------------------------------------------------- Kuma

KUMA_ORDER = {"create": 0, "update": 1, "delete": 2}


def kuma_text_lines(plan: KumaPlan, masker: Masker) -> list[tuple[str, str]]:
    """(style, line) pairs for a Kuma plan: one line per change, field lines under updates, then notes."""
    lines: list[tuple[str, str]] = []
    for change in sorted(plan.changes, key=_kuma_order):
        lines.append((STYLE[change.action], f"{SIGN[change.action]} {masker.text(change.title)}"))
        for f in change.fields:
            lines.append(("", f"    {f.path}: {_show(f.old)} -> {_show(f.new)}"))
    for note in plan.notes:
        lines.append(("yellow", f"! {masker.text(note)}"))
    return lines


def kuma_json_report(plan: KumaPlan, masker: Masker) -> dict[str, Any]:
    create, update, delete = plan.counts()
    server = {k: v for k, v in plan.server.items() if k != "types" and isinstance(v, str | int | bool | None)}
    return {
        "platform": plan.platform,
        "server": server,
        "summary": {"create": create, "update": update, "delete": delete},
        "changes": [
            {
                "action": c.action,
                "kind": c.kind,
                "name": c.name,
                "mesh": c.mesh,
                "fields": [{"path": f.path, "old": f.old, "new": f.new} for f in c.fields],
            }
            for c in sorted(plan.changes, key=_kuma_order)
        ],
        "notes": [masker.text(n) for n in plan.notes],
    }


def _kuma_order(change: KumaChange) -> tuple[int, int, str, str, str]:
    mesh_first = 0 if change.kind == "Mesh" else 1
    if change.action == "delete":
        mesh_first = 1 - mesh_first  # the Mesh goes last when deleting
    return (KUMA_ORDER[change.action], mesh_first, change.mesh or "", change.kind, change.name)
