"""Loading and rendering must leave no reference cycles behind: gatewayctl pauses the cyclic garbage
collector while it works (see gatewayctl/gcpause.py), so anything caught in a cycle would stay in memory."""

from __future__ import annotations

import gc
from pathlib import Path

from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.secrets import references_in
from gatewayctl.render import render

EXAMPLE = Path(__file__).parents[1] / "examples" / "platform.yaml"


def test_load_and_render_leave_no_cyclic_garbage() -> None:
    gc.unfreeze()  # earlier tests' leftovers, frozen by their own loads, must not count here
    gc.collect()
    loaded = load_catalog(EXAMPLE)
    environ = {ref.name: f"secret-{ref.name}" for _, ref in references_in(loaded.data) if ref.kind == "env"}
    files = render(loaded, ["kong"], loaded.secrets(environ))
    assert files
    del loaded, files
    gc.unfreeze()
    # A handful of objects (pydantic/typing caches) is fine; a node tree or a model graph is thousands.
    assert gc.collect() < 200
