"""Every example catalog is clean, renders in every environment, matches the JSON Schema, and its kong.yaml
matches a golden file a reviewer can read (tests/golden/<example>/kong/kong.yaml, rendered with the dummy
secrets of examples/example.env). Regenerate on purpose only: `UPDATE_GOLDEN=1 pytest tests/test_examples.py`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.source import parse, to_data
from gatewayctl.cli.catalog_commands import catalog_json_schema
from gatewayctl.render import TARGETS, render

EXAMPLES = Path(__file__).parents[1] / "examples"
GOLDEN = Path(__file__).parent / "golden"
CATALOGS = sorted(EXAMPLES.glob("*.yaml"))
IDS = [p.stem for p in CATALOGS]


@pytest.mark.parametrize("catalog", CATALOGS, ids=IDS)
def test_example_validates_without_warnings_in_every_environment(catalog: Path) -> None:
    loaded = load_catalog(catalog, all_environments=True)
    assert loaded.warnings == []


@pytest.mark.parametrize("catalog", CATALOGS, ids=IDS)
def test_example_renders_every_target_in_every_environment(catalog: Path, example_env: dict[str, str]) -> None:
    environments = [None, *load_catalog(catalog).catalog.environments]
    for environment in environments:
        loaded = load_catalog(catalog, environment)
        files = render(loaded, list(TARGETS), loaded.secrets(example_env))
        assert any(f.path == "kong/kong.yaml" for f in files), environment
        for f in files:
            if f.path.endswith((".yaml", ".yml")):
                yaml.safe_load(f.content)


@pytest.mark.parametrize("catalog", CATALOGS, ids=IDS)
def test_example_matches_the_json_schema(catalog: Path) -> None:
    validator = jsonschema.Draft202012Validator(catalog_json_schema())
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_data(catalog))]
    assert problems == []


@pytest.mark.parametrize("catalog", CATALOGS, ids=IDS)
def test_example_kong_config_matches_its_golden_file(catalog: Path, example_env: dict[str, str]) -> None:
    loaded = load_catalog(catalog)
    (kong,) = [f for f in render(loaded, ["kong"], loaded.secrets(example_env)) if f.path == "kong/kong.yaml"]
    golden = GOLDEN / catalog.stem / "kong" / "kong.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(kong.content)
    assert golden.is_file(), f"no golden file: run UPDATE_GOLDEN=1 pytest {__file__} and review it"
    assert kong.content.decode() == golden.read_text(), "kong.yaml changed: review, then UPDATE_GOLDEN=1"


def test_every_example_secret_has_a_dummy_value(example_env: dict[str, str]) -> None:
    from gatewayctl.catalog.secrets import references_in

    needed = {ref.name for c in CATALOGS for _, ref in references_in(_data(c)) if ref.kind == "env"}
    assert needed <= set(example_env)


def _data(catalog: Path) -> Any:
    # Read as gatewayctl reads it (keys as written: YAML 1.1 would turn `on:` into True), then as JSON,
    # which is what an editor's schema check sees.
    return json.loads(json.dumps(to_data(parse(catalog.read_bytes(), catalog.name).root)))
