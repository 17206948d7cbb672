"""Field-level differences between a desired and a live object, shared by every plan (Kong, Kuma).

Both sides are plain JSON-like data, already normalised by the caller. Mappings are compared key by key
(a key missing on one side counts as None there); anything else, lists included, is compared as a whole
value. Values pass through the `Masker`, so a secret field or a resolved secret value never appears.
`action_counts` and `summary_line` are every plan's totals (`kong: +3 ~1 -0`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gatewayctl.plan.masking import SECRET, Masker

Path = tuple[str | int, ...]


class HasAction(Protocol):
    @property
    def action(self) -> str: ...


def action_counts(changes: Iterable[HasAction]) -> tuple[int, int, int]:
    """(creates, updates, deletes)."""
    actions = [c.action for c in changes]
    return actions.count("create"), actions.count("update"), actions.count("delete")


def summary_line(system: str, changes: Iterable[HasAction]) -> str:
    create, update, delete = action_counts(changes)
    return f"{system}: +{create} ~{update} -{delete}"


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any  # masked
    new: Any  # masked


def diff_fields(kind: str, want: Any, have: Any, masker: Masker) -> list[FieldChange]:
    """Every field whose desired value differs from the live one, desired keys first, in their order."""
    out: list[FieldChange] = []
    _diff(kind, (), want, have, masker, out)
    return out


def _diff(kind: str, path: Path, want: Any, have: Any, masker: Masker, out: list[FieldChange]) -> None:
    if isinstance(want, dict) and isinstance(have, dict):
        for key in list(want) + [k for k in have if k not in want]:
            _diff(kind, (*path, key), want.get(key), have.get(key), masker, out)
        return
    if want == have:
        return
    dotted = ".".join(str(p) for p in path)
    shown = masker.value(kind, path, want)
    # A field whose desired value holds a secret is <secret> on both sides: its live value holds the
    # previous secret (a rotation), which the masker cannot know.
    if masker.is_secret_field(kind, path) or SECRET in json.dumps(shown, default=str):
        out.append(FieldChange(dotted, SECRET if have is not None else None, f"{SECRET} (changed)"))
        return
    out.append(FieldChange(dotted, masker.value(kind, path, have), shown))


def secret_paths(kind: str, value: Any, masker: Masker, path: Path = ()) -> list[str]:
    """The dotted paths (as `diff_fields` names them) where `value` holds a secret field or a resolved
    secret. A snapshot records them: rollback has no catalog, so without them it could not tell that a
    free-text field (a tracing URL with a token, a plugin header) is secret."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in secret_paths(kind, v, masker, (*path, k))]
    if path and (masker.is_secret_field(kind, path) or SECRET in json.dumps(masker.value(kind, path, value))):
        return [".".join(str(p) for p in path)]
    return []


def hide_paths(changes: Iterable[FieldChange], paths: Collection[str]) -> tuple[FieldChange, ...]:
    """`changes` with every field at, above or under one of `paths` shown as <secret> on both sides. A Kuma
    object's paths are compared without their envelope (`metadata.`, `spec.`), which differs by platform."""

    def parts(dotted: str) -> tuple[str, ...]:
        split = tuple(dotted.split("."))
        split = split[1:] if split[:1] == ("metadata",) else split
        return split[1:] if split[:1] == ("spec",) else split

    hidden = [parts(p) for p in paths]

    def covered(dotted: str) -> bool:
        mine = parts(dotted)
        return any(mine[: len(h)] == h or h[: len(mine)] == mine for h in hidden)

    return tuple(
        FieldChange(c.path, SECRET if c.old is not None else None, f"{SECRET} (changed)") if covered(c.path) else c
        for c in changes
    )


def secret_paths_by_key(items: Mapping[str, tuple[str, Any]], masker: Masker) -> dict[str, list[str]]:
    """{key: secret paths} for (kind, value) per key, leaving out keys without any."""
    found = {key: secret_paths(kind, value, masker) for key, (kind, value) in items.items()}
    return {key: paths for key, paths in found.items() if paths}
