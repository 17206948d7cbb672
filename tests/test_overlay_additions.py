"""An environment overlay's list item whose name matches no base item adds one (docs/catalog.md); when that
name is close to a base item's (`helo` for `hello`), it is most likely a misspelling, and every command that
merges the overlay warns at the overlay item's name. A name not close to any, or a deliberate variant
(`orders-v2` beside `orders-v1`, `hello-canary` beside `hello`), adds silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from emulators.harness import cli
from emulators.kong import KongEmulator

from gatewayctl.cli import main

BASE = """\
format: 1
name: shop
consumers:
  - {name: web-app, groups: [users]}
services:
  - name: hello
    url: http://hello.default.svc:8080
    routes: [{name: browse, paths: [/hello]}]
  - name: orders-v1
    url: http://orders.default.svc:8080
    routes: [{name: list, paths: [/orders]}]
environments:
  prod:
"""
MISSPELT = (
    BASE
    + """\
    services:
      - name: helo
        url: http://hello.prod.svc:8080
"""
)
HELO = (
    "catalog.yaml:15:15: environments.prod.services[0].name: warning: adds service 'helo', which the base "
    "catalog does not have (did you mean 'hello'?)"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_validate_warns_of_an_overlay_name_close_to_a_base_items(
    capsys: pytest.CaptureFixture[str], folder: Path
) -> None:
    (folder / "catalog.yaml").write_text(MISSPELT)
    for argv in (["--env", "prod"], []):  # one overlay, or every overlay (the path names the environment)
        code, out, err = run(capsys, "validate", "catalog.yaml", *argv)
        assert code == 0, err
        assert err.splitlines() == [HELO], err
        assert out.strip().endswith("1 warning"), out
    code, out, _ = run(capsys, "validate", "catalog.yaml", "--env", "prod", "--format", "json")
    [diagnostic] = json.loads(out)["diagnostics"]
    assert diagnostic["severity"] == "warning" and diagnostic["path"] == "environments.prod.services[0].name"
    assert (diagnostic["line"], diagnostic["col"]) == (15, 15)


def test_every_command_merging_the_overlay_warns(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    (folder / "catalog.yaml").write_text(MISSPELT)
    for argv in (["graph", "catalog.yaml"], ["render", "catalog.yaml", "--out", "build", "--target", "kong"]):
        code, _, err = run(capsys, *argv, "--env", "prod")
        assert code == 0 and HELO in err.splitlines(), err
        code, _, err = run(capsys, *argv)  # without the overlay: no warning
        assert code == 0 and "adds service" not in err, err


def test_diff_with_the_overlay_warns_before_planning(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    (workdir / "catalog.yaml").write_text(MISSPELT)
    code, out, err = cli(capsys, kong, "diff", "catalog.yaml", "--env", "prod")
    assert code == 0 and HELO in err.splitlines(), out + err
    assert "+ service helo" in out  # the warning does not change what the overlay means


@pytest.mark.parametrize(
    ("overlay", "warning"),
    [
        # a consumer, and a route merged into a base service by name
        (
            "    consumers:\n      - {name: web-ap, groups: [users]}\n",
            "catalog.yaml:15:16: environments.prod.consumers[0].name: warning: adds consumer 'web-ap', which the "
            "base catalog does not have (did you mean 'web-app'?)",
        ),
        (
            "    services:\n      - name: hello\n        routes: [{name: brwse, paths: [/v2]}]\n",
            "catalog.yaml:16:25: environments.prod.services[0].routes[0].name: warning: adds route 'brwse', "
            "which service 'hello' in the base catalog does not have (did you mean 'browse'?)",
        ),
        # the limit of the measure: two letters swapped in a four-letter name are not close enough
        (
            "    services:\n      - {name: orders-v1, routes: [{name: lsit, paths: [/v2]}]}\n",
            None,
        ),
    ],
)
def test_the_warning_reaches_consumers_and_nested_routes(
    capsys: pytest.CaptureFixture[str], folder: Path, overlay: str, warning: str | None
) -> None:
    (folder / "catalog.yaml").write_text(BASE + overlay)
    code, _, err = run(capsys, "validate", "catalog.yaml", "--env", "prod")
    assert code == 0, err
    assert err.splitlines() == ([warning] if warning else []), err


@pytest.mark.parametrize(
    "added",
    [
        "payments",  # not close to any base name: a deliberate addition
        "orders-v2",  # differs from orders-v1 only in digits
        "hello-canary",  # hello plus a part
        "canary-hello",
    ],
)
def test_a_deliberate_addition_adds_silently(capsys: pytest.CaptureFixture[str], folder: Path, added: str) -> None:
    overlay = (
        f"    services:\n      - {{name: {added}, url: http://x.prod.svc:8080, routes: [{{name: r, paths: [/x]}}]}}\n"
    )
    (folder / "catalog.yaml").write_text(BASE + overlay)
    code, out, err = run(capsys, "validate", "catalog.yaml", "--env", "prod")
    assert (code, err) == (0, ""), err
    assert "3 services" in out


def test_an_overlay_with_anchors_takes_the_node_path_and_still_warns(
    capsys: pytest.CaptureFixture[str], folder: Path
) -> None:
    """Aliases send the loader down the node-merging path (catalog/load.py): the warning is the same."""
    text = MISSPELT.replace("url: http://hello.default.svc:8080", "url: &u http://hello.default.svc:8080")
    text = text.replace("url: http://hello.prod.svc:8080", "url: *u")
    (folder / "catalog.yaml").write_text(text)
    code, _, err = run(capsys, "validate", "catalog.yaml", "--env", "prod")
    assert code == 0 and err.splitlines() == [HELO], err
