"""Secret values that reached printed output by a side door: a value a server echoes back escaped, a
mistyped secret quoted back in a validation hint, ... Each test fails with its leak present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from emulators.harness import CATALOG, SECRETS, cli, write_catalog
from emulators.kong import KongEmulator

from gatewayctl.plan.masking import SECRET, Masker

# Characters a generated password may hold that servers escape when they quote it back.
ODD_KEY = 'k3y-with-"quote"-and-\\backslash-0010'
ESCAPED = ODD_KEY.replace("\\", "\\\\").replace('"', '\\"')  # as Lua's %q (and JSON) write it


def test_a_key_kong_echoes_escaped_in_its_409_is_masked_in_text_and_json(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kong quotes the unique value it refuses with Penlight (`{key="k3y-with-\\"quote\\"..."}`): the key
    as written in the message is not the key itself, and was shown."""
    catalog = str(write_catalog(workdir))
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    theirs = kong.state.seed("consumers", {"username": "theirs"})
    kong.state.seed("keyauth_credentials", {"key": ODD_KEY, "consumer": {"id": theirs["id"]}})
    monkeypatch.setenv("WEB_APP_KEY", ODD_KEY)
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 3 and "UNIQUE violation detected on '{key=\"<secret ${env:WEB_APP_KEY}>\"}'" in err, out + err
    assert ESCAPED not in out + err and ODD_KEY not in out + err
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes", "--json")
    assert code == 3 and "<secret ${env:WEB_APP_KEY}>" in out, out + err
    assert ESCAPED not in out + err and json.dumps(ESCAPED)[1:-1] not in out + err


def test_rollback_masks_a_key_kong_echoes_escaped(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rollback has no catalog: the snapshot's secret fields say what to mask, escaped forms included."""
    catalog = str(write_catalog(workdir))
    monkeypatch.setenv("WEB_APP_KEY", ODD_KEY)
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    monkeypatch.setenv("WEB_APP_KEY", SECRETS["WEB_APP_KEY"])
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    theirs = kong.state.seed("consumers", {"username": "theirs"})
    kong.state.seed("keyauth_credentials", {"key": ODD_KEY, "consumer": {"id": theirs["id"]}})
    code, out, err = cli(capsys, kong, "rollback", "--yes")
    assert code == 3 and "UNIQUE violation detected on '{key=\"<secret>\"}'" in err, out + err
    assert ESCAPED not in out + err and ODD_KEY not in out + err


@pytest.mark.parametrize(
    "secret",
    ['pa"ss-word', "back\\slash-pw", "tab\tand 9\t9", "line\nbreak", "ümlaut-é-pw", "slash/y-pw", "ctl\x01x\x7f"],
)
def test_every_form_a_server_writes_a_secret_in_is_masked(secret: str) -> None:
    """As itself, JSON-escaped (ASCII or not, cjson's `\\/`), and Lua's %q (Kong's Penlight messages)."""
    masker = Masker.of([secret])
    lua = (
        secret.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\\n")
        .replace("\t9", "\\0099")
        .replace("\t", "\\9")
        .replace("\x01", "\\1")
        .replace("\x7f", "\\127")
    )
    for ascii_only in (False, True):
        as_json = json.dumps({"message": f"refused {secret}!"}, ensure_ascii=ascii_only)
        assert masker.text(as_json) == json.dumps({"message": f"refused {SECRET}!"}), as_json
        assert masker.text(as_json.replace("/", "\\/")) == json.dumps({"message": f"refused {SECRET}!"})
    assert masker.text(f"on '{{key=\"{lua}\"}}'") == f"on '{{key=\"{SECRET}\"}}'"
    named = Masker.of([secret], {secret: "${env:PW}"})
    assert named.secret([secret]) == "<secret ${env:PW}>"  # found in a list's JSON as well


def test_a_number_in_a_secret_field_is_not_quoted_back(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`password: 918273645` is a literal secret: the type error said `quote it to keep it as written:
    "918273645"`, printing the password (and advising to write it literally), in the base and an overlay."""
    from gatewayctl.cli import main

    overlay = "environments:\n  prod:\n    consumers:\n      - name: web-app\n"
    overlay += "        credentials: {key_auth: [{key: 5647382910}]}\n"
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG.replace('password: "${env:OPS_PASSWORD}"', "password: 918273645") + overlay)
    for argv in (["validate", str(catalog)], ["validate", str(catalog), "--env", "prod"]):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 1
        assert "918273645" not in out + err and "5647382910" not in out + err, out + err
        assert "credentials.basic_auth[0].password: must be a string, not a number" in err, err
        assert "secrets are never written literally" in err
    # elsewhere the hint stays: a number where text is wanted, quoted as written
    catalog.write_text(CATALOG.replace("name: orders", "name: 1234"))
    assert main(["validate", str(catalog)]) == 1
    assert 'quote it to keep it as written: "1234"' in capsys.readouterr().err
