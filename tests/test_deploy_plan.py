"""`gatewayctl deploy-plan`: ordered steps whose commands name files the render really writes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from test_observability import EXAMPLE_NAMES, EXAMPLES, render_example

from gatewayctl.catalog.load import load_catalog
from gatewayctl.cli import main
from gatewayctl.deploy_plan import deploy_plan, format_plan


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_file_a_command_names_is_rendered(name: str, tmp_path: Path) -> None:
    out = render_example(name, tmp_path / "out", ["kong", "kuma", "observability", "kubernetes", "vm"])
    catalog = load_catalog(EXAMPLES / f"{name}.yaml").catalog
    steps = deploy_plan(catalog, EXAMPLES / f"{name}.yaml", out)
    assert steps[0].commands[0].startswith("gatewayctl render ")
    text = format_plan(steps)
    for path in set(re.findall(re.escape(str(out)) + r"/[\w./@*-]+", text)):
        matches = list(Path("/").glob(path.lstrip("/"))) if "*" in path else [Path(path)]
        assert matches and all(p.exists() for p in matches), f"{name}: {path} is not rendered"


def test_kubernetes_order_kuma_then_stack_then_policies_then_config(tmp_path: Path) -> None:
    catalog = load_catalog(EXAMPLES / "platform.yaml").catalog
    titles = [s.title for s in deploy_plan(catalog, EXAMPLES / "platform.yaml", tmp_path)]
    order = [
        next(i for i, t in enumerate(titles) if word in t)
        for word in ("Kuma", "Apply namespaces", "mesh policies", "Admin API")
    ]
    assert order == sorted(order)


def test_vm_plan_names_every_kong_host(tmp_path: Path) -> None:
    catalog = load_catalog(EXAMPLES / "detection-api.yaml").catalog
    text = format_plan(deploy_plan(catalog, EXAMPLES / "detection-api.yaml", tmp_path))
    assert "10.40.0.5" in text and "10.40.0.6" in text and "docker compose up -d" in text
    assert "gatewayctl apply" in text  # DB mode


def test_cli_prints_the_plan_and_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy-plan", str(EXAMPLES / "knowledge-base.yaml"), "--out", "build/kb"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("1. Render") and "kubectl apply --server-side -k build/kb/kubernetes" in printed
    assert main(["deploy-plan", "--help"]) == 0
    assert "$ gatewayctl deploy-plan" in capsys.readouterr().out


@pytest.mark.parametrize("out", ["build", "my build", "it's/build", "/abs/build"])
def test_the_remote_cd_names_the_folder_rsync_creates_as_one_word(out: str) -> None:
    """The ssh command's remote shell must see `cd` with the synced folder as one argument, whatever the
    --out folder is called (a space or a quote used to split it)."""
    catalog = load_catalog(EXAMPLES / "detection-api.yaml").catalog
    commands = [c for s in deploy_plan(catalog, EXAMPLES / "detection-api.yaml", Path(out)) for c in s.commands]
    ssh = next(c for c in commands if c.startswith("ssh ") and "docker compose up -d'" in c and "/opt" in c)
    _, _host, remote = shlex.split(ssh)  # what the local shell passes to ssh
    assert shlex.split(remote) == [
        "cd",
        f"/opt/gatewayctl/{out.lstrip('/')}/vm/observability",
        "&&",
        *["docker", "compose", "up", "-d"],
    ]
