"""Snapshots: before every apply that writes, the owned live state goes to
`.gatewayctl/snapshots/<UTC timestamp>.json` (`20261201T101500.123456Z.json`); the folder is 0700 and
the file 0600: it holds live credentials.

`targets` says what a snapshot holds: `kong` (the owned Kong entities) and/or `kuma` (the owned Kuma objects
as the control plane returned them, with the platform and URL they came from). A snapshot without
`targets` is an older one and holds Kong only."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gatewayctl.apply.kuma import OWNED_KINDS
from gatewayctl.plan.kinds import BY_NAME
from gatewayctl.plan.kong import LiveState

SNAPSHOT_DIR = Path(".gatewayctl") / "snapshots"
FORMAT = 1


class SnapshotError(Exception):
    pass


def write_snapshot(
    folder: Path,
    catalog_name: str,
    kong_url: str,
    live: LiveState,
    now: datetime | None = None,
    *,
    kuma: dict[str, Any] | None = None,
    kong: bool = True,
    secret_fields: dict[str, list[str]] | None = None,
) -> Path:
    """`kuma`: {"platform", "url", "objects", "secret_fields"}; `kong=False` when the Kong part is not a saved
    state; `secret_fields`: {entity id: paths} of the Kong entities being applied that hold secrets."""
    now = now or datetime.now(UTC)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    document: dict[str, Any] = {
        "format": FORMAT,
        "catalog": catalog_name,
        "kong": kong_url,
        "taken_at": now.isoformat(timespec="seconds"),
        "entities": live.entities if kong else {},
        "targets": (["kong"] if kong else []) + (["kuma"] if kuma is not None else []),
    }
    if kuma is not None:
        document["kuma"] = kuma
    if secret_fields:
        document["secret_fields"] = secret_fields
    # fixed width, so that name order is time order (latest_snapshot relies on it)
    path = folder / f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_json_text(document) + "\n")
    return path


def _json_text(value: Any, depth: int = 0, open_levels: int = 3) -> str:
    """Sorted JSON with one entity (or Kuma object) per line: readable, diffable, and written by the C
    encoder (`indent=` would take json's pure-Python path: about 1 s for 10,000 entities)."""
    pad, inner = " " * depth, " " * (depth + 1)
    if depth < open_levels and isinstance(value, dict) and value:
        fields = [f"{inner}{json.dumps(k)}: {_json_text(v, depth + 1)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(fields) + f"\n{pad}}}"
    if depth < open_levels and isinstance(value, list) and value:
        return "[\n" + ",\n".join(inner + _json_text(v, depth + 1) for v in value) + f"\n{pad}]"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def latest_snapshot(folder: Path, here: dict[str, str] | None = None) -> Path | None:
    """The newest snapshot in `folder`; with `here` ({"kong": URL, "kuma": URL}, where a rollback would write),
    the newest taken from there: one folder serves every environment's applies (`--env staging` against
    one Kong, `--env prod` against another), and restoring one Kong's state into another would write that
    environment's entities over the other's."""
    files = sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []
    if here is None:
        return files[0] if files else None
    return next((f for f in files if _taken_here(taken_from(f), here)), None)


def taken_from(path: Path) -> dict[str, str] | None:
    """Where each part of a snapshot was read, as messages name the API: {"kong": URL} for its Kong part,
    {"kuma": URL} for a Kuma part read through the Universal API (one read on Kubernetes is named by its
    context, which a later run may name otherwise); None for a file that is no snapshot."""
    try:
        document: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    targets = document.get("targets", ["kong"])
    targets = targets if isinstance(targets, list) else []
    kuma: dict[str, Any] = document["kuma"] if isinstance(document.get("kuma"), dict) else {}
    found: dict[str, str] = {}
    if "kong" in targets and isinstance(document.get("kong"), str) and document["kong"]:
        found["kong"] = document["kong"]
    if "kuma" in targets and kuma.get("platform") != "kubernetes" and isinstance(kuma.get("url"), str):
        found["kuma"] = kuma["url"]
    return found


def _taken_here(origin: dict[str, str] | None, here: dict[str, str]) -> bool:
    """Every part of the snapshot came from where `here` says it would go (a part neither names, such as
    Kuma on Kubernetes, is not compared). A damaged file is taken, so that rollback says what is wrong with
    it rather than passing over it to an older state."""
    return origin is None or all(url == here[part] for part, url in origin.items() if part in here)


def read_snapshot(path: Path) -> tuple[str, LiveState]:
    """(catalog name, entities) of a snapshot file."""
    try:
        document: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise SnapshotError(f"{path}: no such snapshot") from None
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{path}: not a readable snapshot ({exc})") from None
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or not isinstance(document.get("entities"), dict)
    ):
        raise SnapshotError(f"{path}: not a gatewayctl snapshot (format {FORMAT})")
    problem = _shape_problem(document)
    if problem:  # a hand-edited or damaged file: refused before anything is planned from it
        raise SnapshotError(f"{path}: not a usable snapshot: {problem}")
    return str(document["catalog"]), LiveState({k: list(v) for k, v in document["entities"].items()})


def _shape_problem(document: dict[str, Any]) -> str | None:
    """What makes an otherwise well-formed snapshot unusable (None when nothing): rollback restores exactly
    what the file says, so a missing catalog name or a damaged entity must stop it, not be guessed at."""
    catalog = document.get("catalog")
    if not isinstance(catalog, str) or not catalog:
        return "catalog: the catalog name is missing"
    for kind, items in document["entities"].items():
        if kind not in BY_NAME:
            return f"entities.{kind}: not a Kong entity kind gatewayctl manages"
        if not isinstance(items, list):
            return f"entities.{kind}: not a list"
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                return f"entities.{kind}[{i}]: not an entity with an id"
    targets = document.get("targets", ["kong"])
    if not isinstance(targets, list) or not set(targets) <= {"kong", "kuma"}:
        return "targets: not a list of kong and kuma"
    kuma = document.get("kuma")
    if "kuma" not in targets:
        return None
    if not isinstance(kuma, dict) or not isinstance(kuma.get("objects"), list):
        return "kuma: targets names kuma but the Kuma objects are missing"
    kubernetes = kuma.get("platform") == "kubernetes"
    parts, kind_key = (("metadata", "spec"), "kind") if kubernetes else (("labels", "spec"), "type")
    for i, item in enumerate(kuma["objects"]):
        if not isinstance(item, dict) or any(not isinstance(item.get(p) or {}, dict) for p in parts):
            return f"kuma.objects[{i}]: not a Kuma object"
        if item.get(kind_key) not in OWNED_KINDS:  # a newer gatewayctl's, or a hand edit: not guessed at
            return f"kuma.objects[{i}].{kind_key}: {item.get(kind_key)!r} is not a Kuma kind gatewayctl manages"
    return None


def read_secret_fields(part: Any) -> dict[str, list[str]]:
    """A snapshot's (or its Kuma part's) `secret_fields`, {} when absent (older snapshots) or damaged."""
    found = part.get("secret_fields") if isinstance(part, dict) else None
    if not isinstance(found, dict):
        return {}
    return {str(k): [str(p) for p in v] for k, v in found.items() if isinstance(v, list)}


def read_snapshot_extras(path: Path) -> tuple[list[str], dict[str, Any] | None, dict[str, list[str]]]:
    """(targets, the Kuma part or None, the Kong entities' secret fields) of a snapshot `read_snapshot`
    accepted."""
    document: Any = json.loads(path.read_text())
    targets = document.get("targets")
    kuma = document.get("kuma")
    return (
        [str(t) for t in targets] if isinstance(targets, list) else ["kong"],
        kuma if isinstance(kuma, dict) else None,
        read_secret_fields(document),
    )
