"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The dummy secrets of examples/example.env, set in the environment and returned."""
    environ: dict[str, str] = {}
    for line in (EXAMPLES / "example.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            environ[key] = value
            monkeypatch.setenv(key, value)
    return environ
