"""`-` as the catalog reads it from standard input (`generate | gatewayctl validate -`): located errors name
`<stdin>`, relative `${file:...}` references are read from the current directory, and a command that
cannot take it (apply that would ask for confirmation, watch that re-reads its file) refuses before
anything is sent."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from emulators.harness import CATALOG, cli
from emulators.kong import KongEmulator

from gatewayctl.cli import main

BROKEN = """\
format: 1
name: shop
services:
  - name: hello
    url: http//hello:8080
    routes: [{name: api, paths: [hello]}]
"""
WITH_FILE = """\
format: 1
name: shop
consumers:
  - name: web-app
    credentials:
      key_auth: [{key: "${file:secrets/web-app.key}"}]
services:
  - name: hello
    url: http://hello.default.svc:8080
    routes: [{name: api, paths: [/hello]}]
    auth: [key-auth]
"""


def piped(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Standard input holding `text`, as a shell pipe gives it (not a terminal)."""
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_validate_reads_stdin_and_locates_errors_there(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    piped(monkeypatch, BROKEN)
    code, out, err = run(capsys, "validate", "-")
    assert (code, out) == (1, ""), err
    assert err.splitlines() == [
        "<stdin>:5:10: services[0].url: must be an absolute URL such as http://host:8080/path (got 'http//hello:8080')",
        '<stdin>:6:34: services[0].routes[0].paths[0]: must start with "/" (or "~/" for a regex) (got \'hello\')',
        "<stdin>: 2 errors",
    ]
    piped(monkeypatch, BROKEN)
    code, out, _ = run(capsys, "validate", "-", "--format", "json")
    document = json.loads(out)
    assert code == 1 and document["catalog"] == "<stdin>"
    assert {d["file"] for d in document["diagnostics"]} == {"<stdin>"}
    piped(monkeypatch, CATALOG)
    code, out, err = run(capsys, "validate", "-")
    assert (code, out.strip()) == (0, "<stdin>: valid: 2 services, 2 routes, 2 consumers"), err
    assert not list(tmp_path.iterdir())  # nothing read or written in the folder


def test_render_from_stdin_reads_relative_files_from_the_current_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    here = tmp_path / "here"
    (here / "secrets").mkdir(parents=True)
    (here / "secrets" / "web-app.key").write_text("from-the-current-directory\n")
    monkeypatch.chdir(here)
    piped(monkeypatch, WITH_FILE)
    code, out, err = run(capsys, "render", "-", "--out", "build", "--target", "kong")
    assert code == 0, err
    assert "key: from-the-current-directory" in (here / "build" / "kong" / "kong.yaml").read_text()
    assert "rendered kong: 1 file" in out
    # elsewhere the same relative path is not there: the error names the reference, at its place on stdin
    monkeypatch.chdir(tmp_path)
    piped(monkeypatch, WITH_FILE)
    code, out, err = run(capsys, "render", "-", "--out", "build", "--target", "kong")
    assert code == 1 and not (tmp_path / "build").exists(), out + err
    assert err.splitlines() == [
        "<stdin>:6:24: consumers[0].credentials.key_auth[0].key: secret file secrets/web-app.key does not exist "
        "(needed by ${file:secrets/web-app.key})",
        "<stdin>: 1 error; nothing was written",
    ]


def test_diff_and_apply_yes_take_stdin(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped(monkeypatch, CATALOG)
    code, out, err = cli(capsys, kong, "diff", "-", "--exit-code")
    assert code == 2 and out.strip().splitlines()[-1] == "kong: +19 ~0 -0", out + err
    piped(monkeypatch, CATALOG)
    code, out, err = cli(capsys, kong, "apply", "-", "--yes")
    assert code == 0 and "kong: 19 changes applied" in out, out + err
    piped(monkeypatch, CATALOG)
    code, out, err = cli(capsys, kong, "status", "-")
    assert code == 0 and "drift: no" in out, out + err


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_apply_from_stdin_without_yes_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
    kong: KongEmulator,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
) -> None:
    """The confirmation would read its answer from standard input, which holds the catalog."""
    piped(monkeypatch, CATALOG)
    code, out, err = cli(capsys, kong, "apply", "-", *extra)
    says = "apply -: the catalog comes from standard input, which leaves nothing to answer the confirmation with"
    assert code == 1 and says in err and "--yes" in err, out + err
    assert kong.state.requests == []
    if extra:
        assert json.loads(out)["error"]["exit_code"] == 1
    piped(monkeypatch, CATALOG)
    code, out, err = cli(capsys, kong, "apply", "-", "--dry-run")  # nothing to confirm
    assert code == 0 and "kong: +19 ~0 -0" in out and kong.state.writes() == [], out + err


def test_watch_refuses_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    piped(monkeypatch, CATALOG)
    code, out, err = run(capsys, "watch", "-")
    assert code == 1 and "watch -: the catalog is read again whenever its file changes" in err, out + err
    assert "Traceback" not in err


def test_a_closed_stdin_is_a_located_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", None)  # what Python leaves when started with `<&-`
    code, out, err = run(capsys, "validate", "-")
    assert (code, out) == (1, "")
    assert err.splitlines() == ["<stdin>:1:1: cannot read: standard input is closed", "<stdin>: 1 error"]


def test_graph_and_deploy_plan_take_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG)
    for argv in (["graph"], ["deploy-plan"]):
        from_file = run(capsys, *argv, "catalog.yaml")
        piped(monkeypatch, CATALOG)
        from_stdin = run(capsys, *argv, "-")
        assert from_stdin[0] == 0 and from_file[0] == 0, from_stdin
        # the same output; a deploy plan's commands name the catalog as it was given
        assert from_stdin[1] == from_file[1].replace("catalog.yaml", "-"), from_stdin[1]
