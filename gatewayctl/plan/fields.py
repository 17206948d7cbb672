"""Field-level differences between a desired and a live object, shared by every plan (Kong, Kuma).

Both sides are plain JSON-like data, already normalised by the caller. Mappings are compared key by key
(a key missing on one side counts as None there); anything else, lists included, is compared as a whole
value. Values pass through the `Masker`, so a secret field or a resolved secret value never appears.
`action_counts` and `summary_line` are every plan's totals (`kong: +3 ~1 -0`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gatewayctl.plan.kinds import BY_NAME, SECRET_CONFIG_KEYS
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
    if want == have:  # most pairs in a plan: one C-level comparison instead of a walk (a missing key and
        return []  # None are alike to the walk, so unequal sides may still have no change)
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
    if masker.is_secret_field(kind, path) or masker.masked(shown):
        # a secret removed (a redis password when the policy leaves redis) is shown going away, not changing
        out.append(
            FieldChange(
                dotted,
                SECRET if have is not None else None,
                None if want is None else f"{masker.secret(want)} (changed)",
            )
        )
        return
    out.append(FieldChange(dotted, masker.value(kind, path, have), shown))


def secret_paths(kind: str, value: Any, masker: Masker, path: Path = ()) -> list[str]:
    """The dotted paths (as `diff_fields` names them) where `value` holds a secret field or a resolved
    secret. A snapshot records them: rollback has no catalog, so without them it could not tell that a
    free-text field (a tracing URL with a token, a plugin header) is secret."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in secret_paths(kind, v, masker, (*path, k))]
    if path and (masker.is_secret_field(kind, path) or masker.masked(masker.value(kind, path, value))):
        return [".".join(str(p) for p in path)]
    return []


def _parts(dotted: str) -> tuple[str, ...]:
    """A dotted path without a Kuma object's envelope (`metadata.`, `spec.`), which differs by platform."""
    split = tuple(dotted.split("."))
    split = split[1:] if split[:1] == ("metadata",) else split
    return split[1:] if split[:1] == ("spec",) else split


def _covered(dotted: str, hidden: list[tuple[str, ...]]) -> bool:
    """`dotted` is at, above or under one of the `hidden` paths."""
    mine = _parts(dotted)
    return any(mine[: len(h)] == h or h[: len(mine)] == mine for h in hidden)


def hide_paths(changes: Iterable[FieldChange], paths: Collection[str]) -> tuple[FieldChange, ...]:
    """`changes` with every field at, above or under one of `paths` shown as <secret> on both sides (a Kuma
    object's paths compared without their envelope)."""
    hidden = [_parts(p) for p in paths]
    return tuple(
        FieldChange(c.path, SECRET if c.old is not None else None, None if c.new is None else f"{SECRET} (changed)")
        if _covered(c.path, hidden)
        else c
        for c in changes
    )


def hide_old(changes: Iterable[FieldChange], paths: Collection[str]) -> list[FieldChange]:
    """`changes` with the live value at, above or under one of `paths` shown as <secret>: fields the live
    entity says held a secret (a Kong tag), which the desired side may no longer hold (the catalog now writes
    plain text there, so nothing else tells that the value being replaced is secret), and fields Kong's schema
    marks as secret (plan/kong.py encrypted_paths)."""
    hidden = [_parts(p) for p in paths]
    return [
        FieldChange(c.path, SECRET, c.new) if c.old is not None and c.old != SECRET and _covered(c.path, hidden) else c
        for c in changes
    ]


def hide_new(changes: Iterable[FieldChange], paths: Collection[str]) -> list[FieldChange]:
    """`changes` with the desired value at, above or under one of `paths` shown as <secret> on both sides,
    unless the masker already shows it by its reference: fields the desired entity says hold a resolved secret
    (its Kong tags), whose value may be only part of one, which the masker cannot find in it (the host of a
    service url that a `${env:...}` holds whole), and fields Kong's schema marks as secret."""
    hidden = [_parts(p) for p in paths]
    return [
        FieldChange(c.path, None if c.old is None else SECRET, f"{SECRET} (changed)")
        if c.new is not None and not Masker.masked(c.new) and _covered(c.path, hidden)
        else c
        for c in changes
    ]


def secret_strings(kind: str, value: Any, paths: Collection[str], path: Path = ()) -> list[str]:
    """The strings of `value` (an entity or object as Kong or Kuma returned it) at or under one of `paths`
    or a field secret by name: what rollback, which has no catalog, masks in the answers it prints (a
    refused write echoes the value it refused)."""
    mine = _parts(".".join(str(p) for p in path))
    under = any(mine[: len(h)] == h for h in (_parts(p) for p in paths))  # not above: a whole spec is no secret
    if path and (Masker().is_secret_field(kind, path) or under):
        return list(_strings(value))
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in secret_strings(kind, v, paths, (*path, k))]
    return []


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def secret_paths_by_key(items: Mapping[str, tuple[str, Any]], masker: Masker) -> dict[str, list[str]]:
    """{key: secret paths} for (kind, value) per key, leaving out keys without any."""
    found = {
        key: secret_paths(kind, value, masker)
        for key, (kind, value) in items.items()
        if _may_hold_secret(kind, value, masker)
    }
    return {key: paths for key, paths in found.items() if paths}


def _may_hold_secret(kind: str, value: Any, masker: Masker) -> bool:
    """False when `value` certainly has no secret path: none of its strings holds a secret value and it has
    no field that can be secret by name. One string search instead of a walk over every field (a snapshot of
    10,000 entities, nearly all without secrets)."""
    spec = BY_NAME.get(kind)
    if spec is not None and spec.secret_fields:
        return True
    strings = "\n".join(_strings(value))  # joined: a match across two strings is only a needless walk
    if SECRET in strings or masker.holds_secret(strings):
        return True
    if kind != "plugins":
        return False
    keys = json.dumps(value, default=str).lower()
    return any(f'"{key}"' in keys for key in SECRET_CONFIG_KEYS)
