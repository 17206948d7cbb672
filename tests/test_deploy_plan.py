"""`gatewayctl deploy-plan`: ordered steps whose commands name files the render really writes."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from test_observability import EXAMPLE_NAMES, EXAMPLES, example_env, render_example

from gatewayctl.catalog.load import load_catalog
from gatewayctl.cli import main
from gatewayctl.deploy_plan import deploy_plan, format_plan
from gatewayctl.render import render
from gatewayctl.render.output import write_files


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


def test_every_port_forward_names_a_port_of_its_service(tmp_path: Path) -> None:
    """`kubectl port-forward service/S LOCAL:REMOTE` needs REMOTE to be a port of the Service S (kubectl maps
    it to the targetPort itself); with admin_port 9001 the plan forwarded to 9001, which kong-admin (8001 →
    the container's named port) does not have, and the command failed."""
    body = (EXAMPLES / "platform.yaml").read_text()
    ports = "    admin_port: 8001\n    status_port: 8100"
    assert ports in body
    (tmp_path / "catalog.yaml").write_text(body.replace(ports, "    admin_port: 9001\n    status_port: 9100"))
    shutil.copytree(EXAMPLES / "keys", tmp_path / "keys")  # the catalog's ${file:keys/...}
    loaded = load_catalog(tmp_path / "catalog.yaml")
    out = tmp_path / "out"
    write_files(out, render(loaded, ["kubernetes"], loaded.secrets(example_env())), owned_dirs=["kubernetes"])
    catalog = loaded.catalog
    services = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): {p["port"] for p in d["spec"]["ports"]}
        for path in (out / "kubernetes").rglob("service-*.yaml")
        for d in [yaml.safe_load(path.read_text())]
    }
    forwards = [
        shlex.split(c.rstrip(" &").split("#")[0])
        for s in deploy_plan(catalog, tmp_path / "catalog.yaml", out)
        for c in s.commands
        if "port-forward" in c
    ]
    assert len(forwards) == 4 and ["service/kong-admin", "9001:8001"] in [w[-2:] for w in forwards]
    for words in forwards:
        namespace, target, pair = words[words.index("-n") + 1], words[-2], words[-1]
        remote = int(pair.split(":")[-1])
        assert remote in services[(namespace, target.removeprefix("service/"))], words


@pytest.mark.parametrize(("name", "migrations"), [("platform", True), ("knowledge-base", False)])
def test_only_a_kong_with_postgres_waits_for_migrations(name: str, migrations: bool, tmp_path: Path) -> None:
    """A DB-less Kong has no migrations Job: its plan said it waited for them."""
    catalog = load_catalog(EXAMPLES / f"{name}.yaml").catalog
    [wait] = [s for s in deploy_plan(catalog, EXAMPLES / f"{name}.yaml", tmp_path) if s.title.startswith("Wait")]
    assert ("migrations" in wait.title) is migrations
    assert any("job/kong-migrations" in c for c in wait.commands) is migrations
