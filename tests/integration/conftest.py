"""Integration tests need a real Kong/Kuma: a Docker engine (docker compose) or a kind cluster.
They are marked `integration` and skip with the reason when neither is present."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def docker_engine_available() -> str | None:
    """None when a Docker engine answers, else why not."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    try:
        result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    if result.returncode != 0:
        return "no Docker engine is running (docker info failed)"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    reason = docker_engine_available()
    if reason:
        pytest.skip(f"needs a Docker engine to run Kong/Kuma: {reason}")
