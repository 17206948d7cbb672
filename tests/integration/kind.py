"""A kind cluster for the integration tests, and the commands they run against it (kind, kubectl, helm).

A module's cluster is created for it and deleted after it; `GATEWAYCTL_KIND_CLUSTER=<name>` reuses an existing
kind cluster instead and leaves it running. Without the tools or a Docker engine the tests skip, saying which
is missing."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import docker_engine_available

KUMA_VERSION = "2.14.3"  # the Kuma the emulators follow
KUMA_NAMESPACE = "kuma-system"
TIMEOUT = 900.0


def missing_tools(*tools: str) -> str | None:
    """None when every tool is on PATH and a Docker engine answers (kind runs its nodes in it), else why not."""
    for tool in tools:
        if shutil.which(tool) is None:
            return f"no {tool} on PATH"
    return docker_engine_available()


def run(*argv: str, kubeconfig: Path | None = None, stdin: str | None = None, timeout: float = TIMEOUT) -> str:
    """A command's stdout; its stderr in the AssertionError when it fails."""
    env = dict(os.environ)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    result = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def kubectl(kubeconfig: Path, *argv: str, stdin: str | None = None, timeout: float = TIMEOUT) -> str:
    return run("kubectl", *argv, kubeconfig=kubeconfig, stdin=stdin, timeout=timeout)


@contextlib.contextmanager
def kind_cluster(workdir: Path, name: str, tools: tuple[str, ...] = ("kind", "kubectl")) -> Iterator[Path]:
    """The kubeconfig of a kind cluster: `name`, created now and deleted afterwards, or the reused one."""
    reason = missing_tools(*tools)
    if reason:
        pytest.skip(f"needs a kind cluster ({', '.join(tools)} and a Docker engine): {reason}")
    kubeconfig = workdir / "kubeconfig"
    reuse = os.environ.get("GATEWAYCTL_KIND_CLUSTER")
    if reuse:
        kubeconfig.write_text(run("kind", "get", "kubeconfig", "--name", reuse))
        yield kubeconfig
        return
    run("kind", "create", "cluster", "--name", name, "--kubeconfig", str(kubeconfig), "--wait", "180s")
    try:
        yield kubeconfig
    finally:
        run("kind", "delete", "cluster", "--name", name, timeout=300)


def install_kuma(kubeconfig: Path) -> None:
    """Kuma with its Helm chart (a zone control plane, Kubernetes mode), waiting until it runs."""
    run("helm", "repo", "add", "--force-update", "kuma", "https://kumahq.github.io/charts", kubeconfig=kubeconfig)
    run(
        "helm", "upgrade", "--install", "kuma", "kuma/kuma", "--version", KUMA_VERSION,
        "--namespace", KUMA_NAMESPACE, "--create-namespace", "--wait", "--timeout", "10m",
        kubeconfig=kubeconfig,
    )  # fmt: skip


@contextlib.contextmanager
def port_forward(kubeconfig: Path, namespace: str, target: str, port: int) -> Iterator[int]:
    """`kubectl port-forward <target> :<port>` for as long as the block runs: the local port it chose."""
    process = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(kubeconfig), "-n", namespace, "port-forward", target, f":{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        first = process.stdout.readline()  # "Forwarding from 127.0.0.1:41234 -> 8001"; "" when kubectl quit
        found = re.search(r"127\.0\.0\.1:(\d+)", first)
        if found is None:
            process.kill()
            raise AssertionError(f"kubectl port-forward {target} :{port} failed: {first}{process.stderr.read()}")
        # kubectl writes a line per connection: read them, or it blocks once the pipe is full.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield int(found.group(1))
    finally:
        process.terminate()
        process.wait(timeout=30)
