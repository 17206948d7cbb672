"""Integration tests need a real Kong/Kuma: a Docker engine (docker compose) or a kind cluster.
They are marked `integration` and skip with the reason when neither is present."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_docker.plugin import Services, get_docker_ip, get_docker_services


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


@contextlib.contextmanager
def compose_services(file: Path) -> Iterator[Services]:
    """pytest-docker's services of one compose file, in a project of its own: `up --wait` (every healthcheck
    passing), then `down -v` however the tests end. Ask for the `docker_engine` fixture first, so that a
    machine without one skips instead of failing here."""
    project = f"gatewayctl-it-{file.stem.removeprefix('docker-compose.')}-{os.getpid()}"
    with get_docker_services("docker compose", str(file), project, ["up --wait"], ["down -v"]) as services:
        yield services


def published_url(services: Services, service: str, port: int) -> str:
    """The http:// address on this machine of a compose service's published port."""
    return f"http://{get_docker_ip()}:{services.port_for(service, port)}"


def answers(url: str) -> bool:
    """True once GET url answers 200 (for `Services.wait_until_responsive`)."""
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
