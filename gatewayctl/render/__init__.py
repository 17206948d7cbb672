"""The render stage: a checked catalog in, files out. Each target is one function."""

from __future__ import annotations

from collections.abc import Callable

from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.catalog.secrets import SecretResolver
from gatewayctl.diagnostics import Diagnostic
from gatewayctl.gcpause import paused_gc
from gatewayctl.render.kong import render_kong
from gatewayctl.render.kubernetes import render_kubernetes
from gatewayctl.render.kuma import render_kuma
from gatewayctl.render.observability import render_observability
from gatewayctl.render.output import RenderedFile
from gatewayctl.render.vm import render_vm

Renderer = Callable[[LoadedCatalog, SecretResolver], list[RenderedFile]]

# In the order a person reads the output; `render` without --target renders them all.
TARGETS: dict[str, Renderer] = {
    "kong": render_kong,
    "kuma": render_kuma,
    "observability": render_observability,
    "kubernetes": render_kubernetes,
    "vm": render_vm,
}


def render(
    loaded: LoadedCatalog,
    targets: list[str],
    secrets: SecretResolver,
    warn: Callable[[Diagnostic], None] = lambda _: None,
) -> list[RenderedFile]:
    """Every file of the requested targets, in memory. Raises CatalogInvalid (missing secrets,
    for instance) before anything is written; what the files hold that Kong would refuse when it loads them
    (two keys equal once resolved, as placeholder values often are) goes to `warn`."""
    with paused_gc():
        for warning in loaded.check_secrets(targets, secrets, files_only=True):
            warn(warning)
        files: list[RenderedFile] = []
        for target in targets:
            files.extend(TARGETS[target](loaded, secrets))
        return files
