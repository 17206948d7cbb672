"""The command line: exit codes, help, schema, init, plain output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from emulators.kong import KongEmulator

from gatewayctl import __version__
from gatewayctl.cli import app, main
from gatewayctl.clients.kong_admin import Endpoint, TlsOptions

COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"gatewayctl {__version__}\n", "")


@pytest.mark.parametrize(
    "argv", [["bogus"], ["render", "x.yaml"], ["validate"], ["render", "x", "--out", "o", "--nope"]]
)
def test_usage_errors_exit_1(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "Error" in err and "Traceback" not in err


def test_every_command_has_help_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert {"validate", "render", "schema", "init"} <= set(COMMANDS)
    for command in COMMANDS:
        code, out, _ = run(capsys, command, "--help")
        assert code == 0
        assert "Examples:" in out and f"$ gatewayctl {command}" in out, command


def test_help_paragraphs_flow_at_the_terminal_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A docstring's line breaks inside a paragraph are the source's, not the terminal's: help wraps a
    paragraph at the terminal's width, so on a wide terminal a paragraph is one line."""
    import inspect

    monkeypatch.setenv("COLUMNS", "2000")
    for command in ("apply", "dump", "watch"):
        code, out, _ = run(capsys, command, "--help")
        callback = next(c.callback for c in app.registered_commands if (c.name or c.callback.__name__) == command)
        second = inspect.getdoc(callback).split("\n\n")[1]  # type: ignore[union-attr]
        assert code == 0 and "\n" in second  # written over several lines...
        assert " ".join(second.split("\n")) in out, out  # ...shown as one


@pytest.mark.parametrize("command", ["diff", "apply", "status", "rollback", "dump", "watch"])
def test_remote_commands_help_says_where_the_tokens_come_from(capsys: pytest.CaptureFixture[str], command: str) -> None:
    # Tokens have no flag on purpose (argv shows in ps): --help must say how to pass them.
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "GATEWAYCTL_KONG_ADMIN_TOKEN" in out and "GATEWAYCTL_KUMA_TOKEN" in out, out


def test_an_interrupt_after_the_last_write_does_not_ask_for_the_rest(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal that lands while the last batch finishes leaves every change made: the message must not
    send the user to re-run an apply for a rest there is not."""
    import gatewayctl.cli as cli
    from gatewayctl.apply.batches import Interrupted

    def interrupted_as_the_last_writes_finish(**_: object) -> int:
        raise Interrupted(62, 62)

    monkeypatch.setattr(cli, "app", interrupted_as_the_last_writes_finish)
    code, _, err = run(capsys, "apply", "catalog.yaml", "--yes")
    assert code == 130 and "all 62 changes were made" in err and "the rest" not in err, err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["diff", "catalog.yaml"], "interrupted"),
        (["render", "catalog.yaml", "--out", "build"], "interrupted"),
        (["status", "catalog.yaml", "--json"], "interrupted"),
        (["apply", "catalog.yaml", "--yes"], "interrupted: writes already in flight were finished"),
    ],
)
def test_an_interrupt_speaks_of_writes_only_for_a_command_that_writes_to_kong_or_kuma(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], says: str
) -> None:
    """Ctrl-C during a diff said that "writes already in flight were finished" and that "an interrupted apply
    or rollback picks up where it stopped"."""
    import gatewayctl.cli as cli

    def ctrl_c(**_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", ctrl_c)
    code, _, err = run(capsys, *argv)
    assert code == 130
    assert err.startswith(says) and (argv[0] == "apply") == ("writes" in err), err


def test_dump_help_does_not_promise_a_kuma_url_default() -> None:
    """dump reads Kuma only when --kuma-url (or its variable) names one; the shared help text of diff and apply
    ("default http://localhost:5681") would say it always reads one."""
    import typer.main

    dump = typer.main.get_command(app).commands["dump"]  # type: ignore[attr-defined]
    [kuma_url] = [p for p in dump.params if "--kuma-url" in p.opts]
    assert "default" not in kuma_url.help and "GATEWAYCTL_KUMA_URL" in kuma_url.help


def test_rollback_help_does_not_name_a_kuma_platform_flag_it_does_not_have() -> None:
    """rollback takes the platform from the snapshot: its --kubeconfig said "for --kuma-platform kubernetes"."""
    import typer.main

    rollback = typer.main.get_command(app).commands["rollback"]  # type: ignore[attr-defined]
    assert not [p for p in rollback.params if "--kuma-platform" in p.opts]
    [kubeconfig] = [p for p in rollback.params if "--kubeconfig" in p.opts]
    assert "--kuma-platform" not in kubeconfig.help and "snapshot" in kubeconfig.help


def test_force_conflicts_where_it_does_nothing_says_so(
    capsys: pytest.CaptureFixture[str], workdir: Path, kong: KongEmulator
) -> None:
    """--force-conflicts is for Kuma on Kubernetes (field managers); elsewhere it was silently ignored."""
    catalog = workdir / "catalog.yaml"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a, url: 'http://a:80'}]\n")
    code, _, err = run(capsys, "apply", str(catalog), "--yes", "--force-conflicts", "--kong-admin-url", kong.url)
    assert code == 0, err
    assert "warning: --force-conflicts does nothing here: it is for Kuma on Kubernetes" in err
    code, _, err = run(capsys, "apply", str(catalog), "--yes", "--kong-admin-url", kong.url)
    assert code == 0 and "--force-conflicts" not in err


def test_unknown_render_target_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text("format: 1\nname: x\n")
    code, _, err = run(capsys, "render", str(catalog), "--out", str(tmp_path / "o"), "--target", "kong,nginx")
    assert code == 1 and "unknown target nginx: choose from kong" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value", ["", ",", " , "])
def test_a_render_target_list_naming_nothing_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str
) -> None:
    """`--target "$TARGETS"` with the variable unset rendered every target; `--target ,` none ("rendered ")."""
    catalog = tmp_path / "c.yaml"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a, url: 'http://a:80'}]\n")
    code, out, err = run(capsys, "render", str(catalog), "--out", str(tmp_path / "o"), "--target", value)
    assert code == 1 and out == ""
    assert "--target names no target (an unset variable?): choose from kong, kuma" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("out_dir", "where", "why"),
    [
        ("file", "file", "exists and is not a folder"),
        ("file/sub", "file/sub", "Not a directory"),
        ("o", "o/kong", "exists and is not a folder"),
    ],
)
def test_render_reports_the_path_it_cannot_write(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, out_dir: str, where: str, why: str
) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text("format: 1\nname: x\n")
    (tmp_path / "file").write_text("not a folder\n")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "kong").write_text("not a folder\n")
    code, out, err = run(capsys, "render", str(catalog), "--out", str(tmp_path / out_dir))
    assert code == 1 and out == ""
    assert err == f"cannot write {tmp_path / where}: {why}\n"
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["kong"], "render wrote part of its output"


def test_a_render_whose_move_into_place_fails_puts_back_what_it_replaced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last step, moving each written file into place, failing for one file (an immutable file, a mount
    point): the files moved before it kept their new content (render is all or nothing), and the error named
    the temporary file (`.gatewayctl-x1y2`) instead of the file it was to become."""
    import os

    catalog = tmp_path / "c.yaml"
    vm = "{kong_hosts: [10.0.0.1], kuma_cp: h, observability_host: h}"
    mesh = f"mesh: {{enabled: true, name: x}}\ndeployment: {{platform: vm, vm: {vm}}}\n"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a, url: 'http://a:80', mesh: {}}]\n" + mesh)
    out_dir = tmp_path / "o"
    assert run(capsys, "render", str(catalog), "--out", str(out_dir), "--target", "kong,kuma")[0] == 0
    before = {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
    stuck = out_dir / "kuma/universal/mesh-x.yaml"
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        if os.fspath(dst) == os.fspath(stuck):
            raise PermissionError(1, "Operation not permitted", src)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    catalog.write_text(catalog.read_text().replace("name: x\nservices", "name: y\nservices"))  # every file changes
    code, out, err = run(capsys, "render", str(catalog), "--out", str(out_dir), "--target", "kong,kuma")
    monkeypatch.undo()
    assert code == 1 and out == ""
    assert err.splitlines()[-1] == f"cannot write {stuck}: Operation not permitted"
    after = {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file() and p.name != ".gatewayctl.rendered"}
    assert after == {p: c for p, c in before.items() if p.name != ".gatewayctl.rendered"}


def test_render_says_which_files_of_an_earlier_render_it_removed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    catalog = tmp_path / "c.yaml"
    mesh = "format: 1\nname: x\nmesh: {enabled: true}\nservices:\n  - {name: a, url: 'http://a.ns.svc:80'}\n"
    catalog.write_text(mesh)
    assert run(capsys, "render", str(catalog), "--out", str(tmp_path / "o"), "--target", "kuma")[0] == 0
    kuma_files = sorted(str(p) for p in (tmp_path / "o" / "kuma").rglob("*.yaml"))
    assert kuma_files
    catalog.write_text(mesh.replace("enabled: true", "enabled: false"))
    code, out, _ = run(capsys, "render", str(catalog), "--out", str(tmp_path / "o"), "--target", "kuma")
    assert code == 0 and not list((tmp_path / "o" / "kuma").rglob("*.yaml"))
    lines = out.splitlines()
    assert sorted(line.split()[1] for line in lines if line.startswith("removed ")) == kuma_files
    assert lines[-1] == f"rendered kuma: nothing (the catalog has no enabled mesh), {len(kuma_files)} files removed"


def test_render_says_wrote_only_for_the_files_it_wrote_and_counts_those_left_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A file already as rendered is not rewritten (write_files compares first), so it is not said to be."""
    catalog = tmp_path / "c.yaml"
    mesh = "format: 1\nname: x\nmesh: {enabled: true}\nservices:\n  - {name: a, url: 'http://a.ns.svc:80', "
    mesh += "routes: [{name: r, paths: [/a]}]}\n"
    catalog.write_text(mesh)
    argv = ["render", str(catalog), "--out", str(tmp_path / "o"), "--target", "kong,kuma"]
    code, out, _ = run(capsys, *argv)
    kuma_files = len(list((tmp_path / "o" / "kuma").rglob("*.yaml")))
    assert code == 0 and out.count("wrote ") == 1 + kuma_files
    assert out.splitlines()[-1] == f"rendered kong: 1 file, kuma: {kuma_files} files"
    code, out, _ = run(capsys, *argv)
    assert code == 0 and out == f"rendered kong: 1 file (unchanged), kuma: {kuma_files} files (unchanged)\n"
    catalog.write_text(mesh.replace("paths: [/a]", "paths: [/b]"))  # Kong's file alone changes
    code, out, _ = run(capsys, *argv)
    assert code == 0 and [line.split()[:2] for line in out.splitlines()[:-1]] == [
        ["wrote", str(tmp_path / "o" / "kong" / "kong.yaml")]
    ]
    assert out.splitlines()[-1] == f"rendered kong: 1 file, kuma: {kuma_files} files (unchanged)"


def test_render_says_why_a_target_asked_for_rendered_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text("format: 1\nname: x\n")
    code, out, _ = run(capsys, "render", str(catalog), "--out", str(tmp_path / "o"), "--target", "kong,kuma,vm")
    assert code == 0
    assert out.splitlines()[-1] == (
        "rendered kong: 1 file, kuma: nothing (the catalog has no enabled mesh), "
        "vm: nothing (deployment.platform is kubernetes)"
    )
    code, out, _ = run(capsys, "render", str(catalog), "--out", str(tmp_path / "o"), "--target", "kuma")
    assert code == 0 and out == "rendered kuma: nothing (the catalog has no enabled mesh)\n"


def test_render_into_the_catalogs_own_folder_keeps_the_catalog_and_its_secret_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kong/catalog.yaml` rendered with `--out .`: stale-file removal in kong/ must not take its input."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kong").mkdir()
    (tmp_path / "kong" / "keys.yaml").write_text("the-api-key\n")
    (tmp_path / "kong" / "catalog.yaml").write_text(
        "format: 1\nname: x\nconsumers:\n  - name: app\n    credentials: {key_auth: [{key: '${file:keys.yaml}'}]}\n"
    )
    for _ in range(2):  # the second render is the one that removes stale files
        code, _, _ = run(capsys, "render", "kong/catalog.yaml", "--out", ".", "--target", "kong")
        assert code == 0
    assert sorted(p.name for p in (tmp_path / "kong").iterdir()) == ["catalog.yaml", "keys.yaml", "kong.yaml"]


def test_render_refuses_an_empty_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--out "$BUILD_DIR"` with the variable unset is not the current folder (whose kong/, kuma/, ...
    folders render would prune)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("format: 1\nname: x\n")
    code, out, err = run(capsys, "render", "c.yaml", "--out", "")
    assert code == 1 and out == ""
    assert err == "--out is empty (an unset variable?); to render into the current folder, say --out .\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_validate_reports_counts_and_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text(
        "format: 1\nname: x\nservices: [{name: a, url: 'http://a:80', routes: [{name: r, paths: [/a]}]}]\n"
        "environments: {prod: {services: [{name: a, url: 'http://a.prod:80'}]}}\n"
    )
    code, out, _ = run(capsys, "validate", str(catalog))
    assert code == 0
    assert out == f"{catalog} and 1 environment: valid: 1 service, 1 route, 0 consumers\n"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a}]\n")
    code, out, err = run(capsys, "validate", str(catalog))
    assert code == 1 and out == ""
    assert err.splitlines() == [f"{catalog}:3:12: services[0]: needs a url or an upstream", f"{catalog}: 1 error"]


def test_an_overlay_with_nothing_under_it_changes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """docs/catalog.md: "An overlay that is empty (`prod:` with nothing under it) changes nothing"; YAML reads
    `prod:` as null, which was refused as "must be a mapping, not nothing"."""
    catalog = tmp_path / "c.yaml"
    catalog.write_text(
        "format: 1\nname: x\nservices: [{name: a, url: 'http://a:80', routes: [{name: r, paths: [/a]}]}]\n"
        "environments:\n  prod:\n  staging: {}\n"
    )
    code, out, err = run(capsys, "validate", str(catalog))
    assert (code, err) == (0, "")
    assert out == f"{catalog} and 2 environments: valid: 1 service, 1 route, 0 consumers\n"
    code, out, err = run(capsys, "render", str(catalog), "--env", "prod", "--out", str(tmp_path / "prod"))
    assert code == 0, err
    code, out, err = run(capsys, "render", str(catalog), "--out", str(tmp_path / "base"))
    assert code == 0, err
    assert (tmp_path / "prod/kong/kong.yaml").read_text() == (tmp_path / "base/kong/kong.yaml").read_text()


WARNED = (
    "format: 1\nname: x\nservices:\n  - name: a\n    url: http://a:80\n    allow_groups: [staff]\n"
    "    auth: [key-auth]\n    routes: [{name: r, paths: [/a]}]\n"
)


def test_validate_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text(WARNED)
    code, out, err = run(capsys, "validate", str(catalog), "--format", "json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["valid"] is True and document["environment"] is None
    assert document["counts"] == {"services": 1, "routes": 1, "consumers": 0}
    warning, other = document["diagnostics"]
    assert other["path"] == "services[0].auth[0]" and other["severity"] == "warning"
    assert warning == {
        "file": str(catalog),
        "line": 6,
        "col": 20,
        "path": "services[0].allow_groups[0]",
        "severity": "warning",
        "message": "no consumer is in group 'staff'",
    }
    catalog.write_text("format: 1\nname: x\nservices: [{name: a}]\n")
    code, out, err = run(capsys, "validate", str(catalog), "-f", "json")
    assert (code, err) == (1, "")
    document = json.loads(out)
    assert document["valid"] is False and document["counts"] is None
    assert [(d["line"], d["col"], d["path"], d["message"]) for d in document["diagnostics"]] == [
        (3, 12, "services[0]", "needs a url or an upstream")
    ]


def test_validate_for_github_actions_annotates_the_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Workflow commands on stdout (the runner turns them into annotations on the pull request's lines),
    # escaped as actions/toolkit does; the usual text still on stderr for the log.
    catalog = tmp_path / "a,b:c.yaml"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a}]\n")
    code, out, err = run(capsys, "validate", str(catalog), "--format", "github")
    escaped = str(catalog).replace(",", "%2C").replace(":", "%3A")
    assert code == 1
    assert out.splitlines() == [
        f"::error file={escaped},line=3,col=12,title=gatewayctl validate::services[0]: needs a url or an upstream"
    ]
    assert err.splitlines() == [f"{catalog}:3:12: services[0]: needs a url or an upstream", f"{catalog}: 1 error"]
    good = tmp_path / "good.yaml"
    good.write_text(WARNED)
    code, out, err = run(capsys, "validate", str(good), "-f", "github")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        f"::warning file={good},line=6,col=20,title=gatewayctl validate::services[0].allow_groups[0]: "
        "no consumer is in group 'staff'"
    )
    assert lines[1].startswith(f"::warning file={good},line=7,col=12,title=gatewayctl validate::services[0].auth[0]")
    assert lines[2].endswith("valid: 1 service, 1 route, 0 consumers, 2 warnings")
    assert "warning: no consumer is in group 'staff'" in err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert code == 1 and "nope.yaml:1:1: file not found" in err


def test_schema_is_a_json_schema_that_accepts_a_real_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load(
        "format: 1\nname: demo\ngateway: {security_headers: true}\n"
        "services:\n  - name: a\n    url: http://a:80\n    timeouts: {connect: 5s}\n    max_body: 10m\n"
        "    routes: [{name: r, paths: [/a]}]\n"
    )
    assert list(validator.iter_errors(good)) == []
    bad = {"format": 1, "name": "demo", "services": [{"name": "a", "colour": "blue"}]}
    assert [e.message for e in validator.iter_errors(bad)] != []


def test_init_writes_a_starter_that_validates(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "init", str(tmp_path / "p"))
    assert code == 0 and "catalog.yaml" in out
    assert "set WEB_APP_API_KEY in the environment" in out  # the starter's one secret, needed to render
    text = (tmp_path / "p" / "catalog.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=./catalog.schema.json")
    assert json.loads((tmp_path / "p" / "catalog.schema.json").read_text())["title"].startswith("gatewayctl")
    assert run(capsys, "validate", str(tmp_path / "p" / "catalog.yaml"))[0] == 0
    assert run(capsys, "init", str(tmp_path / "p"))[0] == 1, "an existing catalog is not overwritten"
    assert run(capsys, "init", str(tmp_path / "p"), "--force")[0] == 0


@pytest.mark.parametrize(
    ("argv", "where", "why"),
    [
        (["schema", "--out", "{tmp}"], "{tmp}", "Is a directory"),
        (["schema", "--out", "{tmp}/file/schema.json"], "{tmp}/file/schema.json", "Not a directory"),
        (["schema", "--out", "{tmp}/missing/schema.json"], "{tmp}/missing/schema.json", "No such file or directory"),
        (["init", "{tmp}/file"], "{tmp}/file", "exists and is not a folder"),
        (["init", "{tmp}/file/sub"], "{tmp}/file/sub", "Not a directory"),
        (["init", "{tmp}/taken", "--force"], "{tmp}/taken/catalog.yaml", "Is a directory"),
    ],
)
def test_schema_and_init_report_a_path_they_cannot_write(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], where: str, why: str
) -> None:
    (tmp_path / "file").write_text("not a folder\n")
    (tmp_path / "taken" / "catalog.yaml").mkdir(parents=True)
    code, out, err = run(capsys, *(a.format(tmp=tmp_path) for a in argv))
    assert code == 1
    assert err == f"cannot write {where.format(tmp=tmp_path)}: {why}\n"
    assert out == ""
    assert (tmp_path / "file").read_text() == "not a folder\n"


def test_an_init_that_cannot_write_the_schema_leaves_no_catalog_that_blocks_the_next(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """init wrote catalog.yaml, then failed on the schema (exit 1): the next init refused the half-made folder
    ("exists; use --force")."""
    (tmp_path / "p" / "catalog.schema.json").mkdir(parents=True)
    code, _, err = run(capsys, "init", str(tmp_path / "p"))
    assert code == 1 and "catalog.schema.json: Is a directory" in err
    assert not (tmp_path / "p" / "catalog.yaml").exists()
    (tmp_path / "p" / "catalog.schema.json").rmdir()
    assert run(capsys, "init", str(tmp_path / "p"))[0] == 0


def test_output_is_plain_when_not_a_terminal(tmp_path: Path) -> None:
    catalog = tmp_path / "c.yaml"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a}]\n")
    for env in ({"NO_COLOR": "1", "FORCE_COLOR": ""}, {}):
        result = subprocess.run(
            [sys.executable, "-m", "gatewayctl", "validate", str(catalog)],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", **env},
        )
        assert result.returncode == 1
        assert "\x1b[" not in result.stderr + result.stdout
        assert result.stderr.startswith(f"{catalog}:3:12: services[0]: needs a url or an upstream")


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        (
            "GATEWAYCTL_KONG_ADMIN_URL",
            "",
            "Kong Admin API URL (--kong-admin-url or GATEWAYCTL_KONG_ADMIN_URL): is empty",
        ),
        (
            "GATEWAYCTL_KONG_ADMIN_URL",
            "  \n",
            "Kong Admin API URL (--kong-admin-url or GATEWAYCTL_KONG_ADMIN_URL): is empty",
        ),
        ("GATEWAYCTL_KONG_ADMIN_URL", "http://kong admin:8001", "has a space or line break in it"),
        ("GATEWAYCTL_KONG_ADMIN_URL", "http://kong:8001?token=1", "must not have a query (?...) or fragment (#...)"),
        ("GATEWAYCTL_KUMA_URL", "", "Kuma API URL (--kuma-url or GATEWAYCTL_KUMA_URL): is empty"),
        ("GATEWAYCTL_KUMA_URL", "http://kuma:5681/#/meshes", "must not have a query (?...) or fragment (#...)"),
    ],
)
def test_a_url_variable_set_to_nothing_or_to_no_base_url_is_exit_1_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    says: str,
) -> None:
    """The README's CI recipe sets GATEWAYCTL_KONG_ADMIN_URL from a CI variable: one not defined in that
    environment is empty, which sent diff and apply to the default http://localhost:8001. A query or fragment
    had the API's paths appended after it ("?token=1/consumers")."""
    catalog = workdir / "catalog.yaml"
    catalog.write_text(
        "format: 1\nname: x\nmesh: {enabled: true, name: x}\nservices: [{name: a, url: 'http://a:80'}]\n"
        "deployment: {platform: vm, vm: {kong_hosts: [10.0.0.1], kuma_cp: 10.0.0.2, observability_host: 10.0.0.2}}\n"
    )
    monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_URL", "http://127.0.0.1:9")
    monkeypatch.setenv(variable, value)
    only = "kong" if variable == "GATEWAYCTL_KONG_ADMIN_URL" else "kuma"
    for command in ("diff", "apply", "status"):
        code, out, err = run(capsys, command, str(catalog), "--only", only, *(["--yes"] if command == "apply" else []))
        assert code == 1, out + err
        assert says in err and "no response" not in err and "Traceback" not in err


def test_spaces_around_a_url_variable_are_dropped(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch, kong: KongEmulator
) -> None:
    """A URL pasted into a CI variable with a space or line break around it (one before the scheme was retried
    six times as "missing an 'http://' or 'https://' protocol")."""
    catalog = workdir / "catalog.yaml"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a, url: 'http://a:80'}]\n")
    for value in (f" {kong.url}", f"{kong.url}\n", f"\t{kong.url}/ "):
        monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_URL", value)
        code, out, err = run(capsys, "diff", str(catalog))
        assert code == 0, err
        assert out.endswith("kong: +1 ~0 -0\n")


def test_dump_refuses_a_kuma_url_that_is_no_url_before_reading_kong(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    """As diff does (exit 1, nothing sent); dump retried it six times and exited 3, after reading Kong."""
    argv = ["dump", "--catalog-name", "x", "--out", "x.yaml", "--kong-admin-url", "http://127.0.0.1:9"]
    code, out, err = run(capsys, *argv, "--kuma-url", "localhost:5681")
    assert code == 1, out + err
    assert "Kuma API URL localhost:5681: must start with http:// or https://; nothing was read or written" in err
    assert "no response" not in err and not (workdir / "x.yaml").exists()


def test_a_failed_push_never_prints_the_password_in_the_pushgateway_url(
    capsys: pytest.CaptureFixture[str], workdir: Path, kong: KongEmulator
) -> None:
    catalog = workdir / "catalog.yaml"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a, url: 'http://a:80'}]\n")
    gateway = "http://ci:pushgateway-pass-0042@127.0.0.1:9/"
    code, out, err = run(capsys, "apply", str(catalog), "--yes", "--kong-admin-url", kong.url, "--pushgateway", gateway)
    assert code == 0, err  # a push that fails is a warning
    assert "warning: could not push metrics to http://127.0.0.1:9" in err.replace("\n", "")
    assert "pushgateway-pass-0042" not in out + err


def test_a_token_with_a_line_break_is_never_printed_nor_retried(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch, kong: KongEmulator
) -> None:
    """A token read from a Secret's file ends in a line break: it was retried six times as a connection
    failure (exit 3) whose message quoted it ("Illegal header value b'<token>\\n'"); a non-ASCII one was
    "cannot set up TLS". Around it the line break is dropped; inside it, or a character no header carries, is
    exit 1 naming the variable and never the value."""
    catalog = workdir / "catalog.yaml"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a, url: 'http://a:80'}]\n")
    monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_TOKEN", "kong-token-0042\n")
    code, out, err = run(capsys, "diff", str(catalog), "--kong-admin-url", kong.url)
    assert code == 0, err
    assert Endpoint.from_environment(None, TlsOptions()).token == "kong-token-0042"  # what goes in the header
    for variable, value in (
        ("GATEWAYCTL_KONG_ADMIN_TOKEN", "kong-token\n0042"),
        ("GATEWAYCTL_KUMA_TOKEN", "kumä-0042"),
    ):
        monkeypatch.setenv(variable, value)
        only = "kong" if "KONG" in variable else "kuma"
        argv = [
            "status",
            str(catalog),
            "--only",
            only,
            "--kong-admin-url",
            kong.url,
            "--kuma-url",
            "http://127.0.0.1:9",
        ]
        if only == "kuma":
            catalog.write_text(
                catalog.read_text() + "mesh: {enabled: true, name: x}\ndeployment: {platform: vm, vm: "
                "{kong_hosts: [10.0.0.1], kuma_cp: 10.0.0.2, observability_host: 10.0.0.2}}\n"
            )
        code, out, err = run(capsys, *argv)
        assert code == 1, out + err
        assert f"{variable} cannot be sent in an HTTP header" in err
        assert "kong-token" not in out + err and "kumä" not in out + err and "TLS" not in err
        monkeypatch.delenv(variable)


def test_a_catalog_that_is_a_folder_is_named_as_other_folders_are(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A folder given for a file is 'a folder' in every message (a ${file:...} secret, --ca-cert, dump --out)."""
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert code == 1 and f"{tmp_path}:1:1: is a folder, not a catalog file" in err.replace("\n", ""), out + err


@pytest.mark.parametrize("url", ["http://[::1/?token=t0ken-0036", "http://kong:99999/#t0ken-0036"])
def test_a_url_that_is_no_url_is_named_without_its_query_or_fragment(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """A URL urlsplit cannot read (an unclosed `[`, a port past 65535) was named with its query or fragment,
    which may hold a token, where a URL it can read is named without them."""
    catalog = workdir / "catalog.yaml"
    catalog.write_text("format: 1\nname: x\nservices: [{name: a, url: 'http://a:80'}]\n")
    monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_URL", url)
    code, out, err = run(capsys, "diff", str(catalog))
    assert code == 1 and "is not a valid URL" in err, out + err
    assert "t0ken" not in out + err, out + err
