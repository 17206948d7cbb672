"""The static assets shipped with gatewayctl (observability/, manifests/, kong/, kuma/, helm/).

In a source checkout or an editable install they are the top-level folders of the repository; a wheel
carries the same folders under `gatewayctl/_assets/` (pyproject's force-include).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

ASSET_FOLDERS = ("observability", "manifests", "kong", "kuma")


@cache
def asset_root() -> Path:
    package = Path(__file__).resolve().parent
    for root in (package / "_assets", package.parent):
        if (root / "observability" / "metrics.yaml").is_file():
            return root
    raise FileNotFoundError("gatewayctl's static assets (observability/, manifests/, ...) are not installed")


def asset(relative: str) -> Path:
    """A shipped file or folder, e.g. asset("observability/prometheus/rules")."""
    return asset_root() / relative


def read_asset(relative: str) -> bytes:
    return asset(relative).read_bytes()
