"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from emulators.kong import KongEmulator
    from emulators.kuma import KumaEmulator

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


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean folder to run apply in: the emulator tests' secrets set, no admin token from the caller's
    environment, and retries that wait milliseconds instead of seconds."""
    from emulators.harness import SECRETS

    from gatewayctl.cli import remote_commands
    from gatewayctl.clients.retry import RetryPolicy

    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWAYCTL_KONG_ADMIN_TOKEN", raising=False)
    monkeypatch.setattr(remote_commands, "RetryPolicy", lambda: RetryPolicy(base=0.001, cap=0.01))
    return tmp_path


@pytest.fixture
def kong() -> Iterator[KongEmulator]:
    """A Kong emulator in DB mode with an empty store, stopped after the test (a module may define its own)."""
    from emulators.kong import KongState, running

    with running(KongState()) as emulator:
        yield emulator


@pytest.fixture
def kuma() -> Iterator[KumaEmulator]:
    """A Kuma (Universal, standalone) emulator with an empty store (a module may define its own)."""
    from emulators.kuma import KumaState, running

    with running(KumaState()) as emulator:
        yield emulator


@pytest.fixture
def shop(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Kuma tests' catalog (emulators.harness.KUMA_CATALOG) in `workdir`, its Zipkin secret set."""
    from emulators.harness import KUMA_CATALOG, ZIPKIN_SECRET

    monkeypatch.setenv("ZIPKIN_URL", ZIPKIN_SECRET)
    monkeypatch.delenv("GATEWAYCTL_KUMA_TOKEN", raising=False)
    path = workdir / "catalog.yaml"
    path.write_text(KUMA_CATALOG)
    return path
