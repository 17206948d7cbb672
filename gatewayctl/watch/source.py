"""The catalog file as the watch sees it: loaded at start, reloaded when its content changes, and the last
good version kept when an edit does not load.

Change detection polls: `stat` every tick (cheap; a Kubernetes ConfigMap update swaps a symlink, which
changes what `stat` follows) and the content's SHA-256 whenever `stat` moved or at each interval (an edit
within the filesystem's timestamp granularity keeps mtime and size). No file-watching dependency."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from gatewayctl.catalog.load import LoadedCatalog, load_catalog
from gatewayctl.diagnostics import CatalogInvalid, Diagnostic

Stat = tuple[int, int, int, int]  # device, inode, size, mtime_ns


@dataclass
class Reload:
    ok: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)  # errors (not ok) or warnings (ok)


@dataclass
class CatalogSource:
    path: Path
    env: str | None = None
    loaded: LoadedCatalog | None = None  # the last good catalog
    digest: str | None = None  # of the content last tried (good or not): an unchanged bad edit is reported once
    _stat: Stat | None = None

    def changed(self, *, hash_anyway: bool = False) -> bool:
        """Has the file's content changed since it was last loaded (or tried)?"""
        current = _stat(self.path)
        if current == self._stat and not hash_anyway:
            return False
        self._stat = current
        return _digest(self.path) != self.digest

    def reload(self) -> Reload:
        """Load the file; on success it becomes the catalog, otherwise the last good one stays."""
        self._stat = _stat(self.path)
        self.digest = _digest(self.path)
        try:
            loaded = load_catalog(self.path, self.env)
        except CatalogInvalid as exc:
            return Reload(False, exc.diagnostics)
        self.loaded = loaded
        return Reload(True, loaded.warnings)


def _stat(path: Path) -> Stat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
