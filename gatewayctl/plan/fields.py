"""Field-level differences between a desired and a live object, shared by every plan (Kong, Kuma).

Both sides are plain JSON-like data, already normalised by the caller. Mappings are compared key by key
(a key missing on one side counts as None there); anything else, lists included, is compared as a whole
value. Values pass through the `Masker`, so a secret field or a resolved secret value never appears.
`action_counts` and `summary_line` are every plan's totals (`kong: +3 ~1 -0`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
