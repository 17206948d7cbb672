"""Rendered files: built in memory, dumped deterministically, written all-or-nothing."""

from __future__ import annotations

import json
import os
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
    """Write every file, replacing earlier ones atomically, and remove files an earlier render left in
    the folders this render owns (a removed service must not leave a stale policy behind)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, Path]] = []
    try:
        for f in files:
            target = out_dir / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".gatewayctl-", dir=target.parent)
            try:
                os.fchmod(fd, f.mode)
                os.write(fd, f.content)
            finally:
                os.close(fd)
            staged.append((tmp, target))
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    keep = {out_dir / f.path for f in files}
    for owned in owned_dirs:
        folder = out_dir / owned
        if not folder.is_dir():
            continue
        for old in folder.rglob("*"):
            if old.is_file() and old not in keep and old.suffix in (".yaml", ".yml", ".json"):
                old.unlink()
    return sorted(keep)
