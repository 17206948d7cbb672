"""deployment.vm.kuma_cp: the Kuma control plane's host is needed only when there is a mesh to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatewayctl.catalog.load import load_catalog
from gatewayctl.cli import main
from gatewayctl.diagnostics import CatalogInvalid
from gatewayctl.render import render

CATALOG = """\
format: 1
name: edge-only
services:
  - name: api
    url: http://10.0.0.10:8080
    routes: [{name: api, paths: [/api]}]
deployment:
  platform: vm
  kong: {database: postgres}
  vm:
    kong_hosts: [10.0.0.5]
    observability_host: 10.0.0.7
"""
MESH = "mesh: {enabled: true}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def test_a_vm_catalog_without_a_mesh_needs_no_kuma_cp(tmp_path: Path) -> None:
    loaded = load_catalog(write(tmp_path, CATALOG))
    assert loaded.catalog.deployment.vm is not None and loaded.catalog.deployment.vm.kuma_cp is None
    files = {f.path for f in render(loaded, ["observability", "vm"], loaded.secrets({}))}
    assert "vm/kong/kong.conf" in files
    assert not any(p.startswith("vm/kuma/") for p in files)  # nothing of Kuma to run or scrape
    assert "observability/prometheus/targets/kuma-control-plane.json" not in files


def test_a_mesh_on_vms_without_kuma_cp_is_a_located_error(tmp_path: Path) -> None:
    path = write(tmp_path, CATALOG + MESH)
    with pytest.raises(CatalogInvalid) as exc:
        load_catalog(path)
    [problem] = exc.value.diagnostics
    value_line = CATALOG.splitlines().index("  vm:") + 2  # where deployment.vm's mapping starts
    assert (problem.line, problem.col) == (value_line, 5)
    assert problem.path == "deployment.vm" and "kuma_cp" in problem.message


def test_the_cli_reports_it_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CATALOG + MESH)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{CATALOG.splitlines().index('  vm:') + 2}:5: deployment.vm:" in err and "Traceback" not in err


def test_a_mesh_on_vms_with_kuma_cp_renders_its_units(tmp_path: Path) -> None:
    text = CATALOG.replace("    observability_host", "    kuma_cp: 10.0.0.6\n    observability_host") + MESH
    loaded = load_catalog(write(tmp_path, text))
    files = {f.path: f.content for f in render(loaded, ["vm"], loaded.secrets({}))}
    assert b"10.0.0.6" in files["vm/kuma/kuma-dp@.service"]
