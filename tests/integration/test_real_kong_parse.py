"""Every example's kong.yaml is accepted by a real Kong 3.9 (`kong config parse`), after stripping the
decK-only `_info` key exactly as the DB-less apply does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from gatewayctl.catalog.load import load_catalog
from gatewayctl.render import render

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
KONG_IMAGE = "kong:3.9"


@pytest.mark.integration
@pytest.mark.parametrize("catalog", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_kong_accepts_the_rendered_config(docker_engine: None, catalog: Path, tmp_path: Path) -> None:
    loaded = load_catalog(catalog)
    # One value per variable: Kong rejects two consumers sharing a key-auth key.
    environ = {name: f"example-{name.lower()}" for _, name in _references(loaded.data)}
    (kong_file,) = [f for f in render(loaded, ["kong"], loaded.secrets(environ)) if f.path == "kong/kong.yaml"]
    document = yaml.safe_load(kong_file.content)
    document.pop("_info", None)
    (tmp_path / "kong.yaml").write_text(yaml.safe_dump(document))
    result = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{tmp_path}:/cfg:ro", "-e", "KONG_DATABASE=off", KONG_IMAGE,
         "kong", "config", "parse", "/cfg/kong.yaml"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _references(data: object) -> list[tuple[tuple[str | int, ...], str]]:
    from gatewayctl.catalog.secrets import references_in

    return [(path, ref.name) for path, ref in references_in(data) if ref.kind == "env"]
