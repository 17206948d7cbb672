"""Secret values that reached printed output by a side door: a value a server echoes back escaped, a
mistyped secret quoted back in a validation hint, ... Each test fails with its leak present."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from emulators.harness import CATALOG, SECRETS, cli, write_catalog
from emulators.kong import KongEmulator

from gatewayctl.plan.masking import SECRET, Masker

# Characters a generated password may hold that servers escape when they quote it back.
ODD_KEY = 'k3y-with-"quote"-and-\\backslash-0010'
REFERENCE_VM = """\
format: 1
name: example
gateway: {mode: db}
mesh: {enabled: true}
services:
  - name: example
    url: http://10.0.0.10:8080
    routes: [{name: api, paths: [/example]}]
deployment:
  platform: vm
  kong: {database: postgres}
  vm: {kong_hosts: [10.0.0.5], kuma_cp: 10.0.0.6, observability_host: 10.0.0.7}
"""
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


def test_a_short_key_kong_echoes_in_its_409_is_masked_where_quoted(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values shorter than 4 characters are not looked for in free text (they would mask "on", "80"), so a
    three-letter key Kong names in its 409 (`{key="q7z"}`) was shown; quoted, it is masked."""
    catalog = str(write_catalog(workdir))
    theirs = kong.state.seed("consumers", {"username": "theirs"})
    kong.state.seed("keyauth_credentials", {"key": "q7z", "consumer": {"id": theirs["id"]}})
    monkeypatch.setenv("WEB_APP_KEY", "q7z")
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 3 and "UNIQUE violation detected on '{key=<secret ${env:WEB_APP_KEY}>}'" in err, out + err
    assert "q7z" not in out + err
    assert Masker.of(["q7z"]).text("q7z: no quotes, not masked") == "q7z: no quotes, not masked"


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


@pytest.mark.parametrize(
    ("secret", "go_quoted"),
    [("ctl\x01pw\x7f", "ctl\\x01pw\\x7f"), ("soft\u00adhyphen", "soft\\u00adhyphen"), ('q"t\ab', 'q\\"t\\ab')],
)
def test_a_secret_quoted_the_go_way_is_masked(secret: str, go_quoted: str) -> None:
    """Kuma and the Kubernetes API server quote a refused value with Go's %q (`Invalid value: "..."`):
    `\\x01` and `\\a`, where JSON writes `\\u0001` and `\\u0007`."""
    message = f'spec.url: Invalid value: "{go_quoted}": must be a valid url'
    assert Masker.of([secret]).text(message) == f'spec.url: Invalid value: "{SECRET}": must be a valid url'


def test_a_secret_with_a_lone_surrogate_is_masked_without_failing() -> None:
    """A snapshot's JSON may hold `\\ud800` (no bytes stand behind it): Masker.of must not fail on it."""
    masker = Masker.of(["ab\ud800cd-secret", "x\udcffyz-secret"])
    assert masker.text("ab\ud800cd-secret x\udcffyz-secret") == f"{SECRET} {SECRET}"


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


@pytest.mark.parametrize(
    "token", ["adm1n-t0ken\n0011", "adm1n-t0ken-\u00e90011", "adm1n-t0ken\x7f0011", "adm1n\rt0ken-0011"]
)
def test_a_token_that_cannot_be_sent_is_refused_without_showing_it(
    capsys: pytest.CaptureFixture[str],
    kong: KongEmulator,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    token: str,
) -> None:
    """A token with a line break or a control character inside, or a character that is not ASCII: h11 refused
    the header quoting it (`Illegal header value b'adm1n-t0ken\\n0011'`) after six tries, and a non-ASCII one
    was reported as `cannot set up TLS`. (Spaces and line breaks around a token are dropped: test_cli.py.)"""
    catalog = str(write_catalog(workdir))
    monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_TOKEN", token)
    for argv in (["status", catalog], ["diff", catalog], ["apply", catalog, "--yes"]):
        code, out, err = cli(capsys, kong, *argv)
        assert code == 1, out + err
        assert "GATEWAYCTL_KONG_ADMIN_TOKEN cannot be sent in an HTTP header" in err, err
        assert "t0ken" not in out + err and "TLS" not in err
    assert kong.state.writes() == []
    monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_TOKEN", "fine token with inner spaces")
    monkeypatch.setenv("GATEWAYCTL_KUMA_TOKEN", token)
    code, out, err = cli(capsys, kong, "dump", "--catalog-name", "shop", "--out", "d.yaml", "--kuma-url", kong.url)
    assert code == 1 and "GATEWAYCTL_KUMA_TOKEN cannot be sent in an HTTP header" in err, out + err
    assert "t0ken" not in out + err


def test_a_kubeconfig_token_file_ending_in_a_line_break_is_sent_trimmed(tmp_path: Path) -> None:
    """client-go trims a token file; the Python client sent its line break, and http.client's refusal quoted
    the token in a traceback (`ValueError: Invalid header value b'Bearer ...\\n'`)."""
    from emulators.kubernetes import KubeState, running

    from gatewayctl.apply.kuma_kubernetes import KubeError, connect, lease_holder

    token = "kube-t0ken-0012"
    with running(KubeState(token=token)) as emulator:
        kubeconfig = emulator.kubeconfig(tmp_path / "kubeconfig")
        config = kubeconfig.read_text().replace(f"token: {token}", f"tokenFile: {tmp_path / 'token'}")
        kubeconfig.write_text(config)
        (tmp_path / "token").write_text(token + "\n")
        api = connect(kubeconfig, None)
        assert lease_holder(api, "kuma-system", "shop") is None  # sent, and accepted
        api.close()
        (tmp_path / "token").write_text("kube-t0ken\n-0012\n")  # a line break inside: cannot be sent at all
        api = connect(kubeconfig, None)
        with pytest.raises(KubeError) as caught:
            lease_holder(api, "kuma-system", "shop")
        api.close()
    assert "cannot be sent in an HTTP header (value not shown)" in str(caught.value)
    assert "t0ken" not in str(caught.value)


def test_a_variable_that_is_not_utf8_is_a_located_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates: the YAML writer and httpx's JSON encoding
    failed on them with a traceback."""
    from gatewayctl.cli import main

    catalog = str(write_catalog(workdir))
    monkeypatch.setenv("WEB_APP_KEY", "bad-\udcff\udcfe-key-0013")
    for argv in (["render", catalog, "--out", "build"], ["diff", catalog, "--kong-admin-url", kong.url]):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 1, out + err
        assert "consumers[0].credentials.key_auth[0].key: environment variable WEB_APP_KEY is not UTF-8" in err
        assert "Traceback" not in err and "key-0013" not in out + err
    assert kong.state.writes() == []


def test_a_vm_env_file_secret_spanning_lines_is_a_located_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An env file holds one `NAME=value` a line: a password with a line break ended the render with
    `ValueError: a secret for an env file spans several lines` in a traceback."""
    from gatewayctl.cli import main

    text = REFERENCE_VM.replace(
        "kong: {database: postgres}", 'kong: {database: postgres, postgres_password: "${env:PG}"}'
    )
    text += '  observability: {grafana: {admin_password: "${env:GRAFANA}"}}\n'
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(text)
    monkeypatch.setenv("PG", "pg-pass\nINJECTED=0014")
    monkeypatch.setenv("GRAFANA", "grafana-pass\r0015")  # around a value, line breaks are dropped
    code = main(["render", str(catalog), "--out", str(tmp_path / "build"), "--target", "vm"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err, out + err
    assert f"{catalog}:11:49: deployment.kong.postgres_password: the value of ${{env:PG}} spans several lines" in err
    assert "deployment.observability.grafana.admin_password: the value of ${env:GRAFANA} spans" in err
    assert "INJECTED=0014" not in out + err and "pg-pass" not in out + err and "grafana-pass" not in out + err
    assert not (tmp_path / "build").exists()


def without_snapshot_names(text: str) -> str:
    """`text` with the snapshots' timestamped names taken out: their digits (20261202T001653.514762Z) may
    hold any of the secrets' digit runs by chance."""
    return re.sub(r"\d{8}T\d{6}(?:\.\d+)?Z", "<timestamp>", text)


def test_the_parts_of_a_service_url_from_a_secret_are_masked_on_the_new_side_too(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service `url: ${env:...}` is written as host, port and path, each only a part of the resolved value:
    the live side was `<secret>` (the entity's marks) but the new one was shown (`path: <secret> ->
    "/hooks/T0KEN-0016"`), in diff, --json and rollback."""
    url_service = "  - name: hooks\n    url: ${env:HOOKS_URL}\n    routes: [{name: h, paths: [/hooks]}]\n"
    catalog = str(write_catalog(workdir, CATALOG + url_service))
    monkeypatch.setenv("HOOKS_URL", "http://Hooks-0016.internal:8181/hooks/T0KEN-0016")
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    monkeypatch.setenv("HOOKS_URL", "http://Hooks-0017.internal:9090/hooks/T0KEN-0017")
    for argv in (["diff", catalog], ["diff", catalog, "--json"], ["apply", catalog, "--yes"]):
        code, out, err = cli(capsys, kong, *argv)
        assert code == 0, out + err
        shown = without_snapshot_names(out + err)
        assert "ooks-0017" not in shown and "T0KEN-0017" not in shown and ":9090" not in shown, out + err
    code, out, err = cli(capsys, kong, "diff", catalog)  # nothing left to change: written as resolved
    assert code == 0 and out.strip().endswith("kong: +0 ~0 -0"), out
    monkeypatch.setenv("HOOKS_URL", "http://hooks-0016.internal:8181/hooks/T0KEN-0016")
    code, out, err = cli(capsys, kong, "diff", catalog)
    assert "    path: <secret> -> <secret> (changed)" in out and "    port: <secret> -> <secret> (changed)" in out
    code, out, err = cli(capsys, kong, "rollback", "--dry-run")
    assert code == 0 and "    path: <secret> -> <secret> (changed)" in out, out + err
    shown = without_snapshot_names(out + err)
    assert "ooks-0016" not in shown and "T0KEN-0016" not in shown and ":8181" not in shown, out + err


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, text="401 Unauthorized: token adm1n-t0ken-0018 is not valid\n"),  # a proxy's page
        httpx.Response(403, json={"message": "forbidden for adm1n-t0ken-0018 (user ops:pa55-w0rd-0019)"}),
    ],
)
def test_an_answer_quoting_the_token_or_the_urls_password_back_is_masked(answer: httpx.Response) -> None:
    """What a client sends that is secret (the token, a URL's password) is masked in every error it raises,
    whoever quotes it back (a proxy in front of the Admin API, a library's message)."""
    from gatewayctl.clients.kong_admin import Endpoint, KongAdmin, KongError
    from gatewayctl.clients.retry import RetryPolicy

    endpoint = Endpoint("http://ops:pa55-w0rd-0019@kong.internal:8001", "adm1n-t0ken-0018")
    transport = httpx.MockTransport(lambda request: answer)
    with (
        KongAdmin(endpoint, retry=RetryPolicy(attempts=1), transport=transport) as client,
        pytest.raises(KongError) as caught,
    ):
        client.get("/")
    assert "0018" not in caught.value.describe() and "0019" not in caught.value.describe(), caught.value.describe()
    assert f"HTTP {answer.status_code}: " in caught.value.describe() and SECRET in caught.value.describe()


@pytest.mark.parametrize(
    "url",
    [
        "http://ci:pu5h-pw-0020@127.0.0.1/",
        "http://ci:pu5h-pw-0020@127.0.0.1:1/",
        "http://127.0.0.1:1/?token=pu5h-pw-0020",
    ],
)
def test_a_pushgateway_urls_credentials_are_not_in_the_warning(url: str) -> None:
    """`apply --pushgateway URL` warned `could not push metrics to http://ci:<password>@...: nonnumeric port:
    '<password>@127.0.0.1'`: the URL is shown as the Admin APIs' are, and urllib's words masked."""
    from gatewayctl.watch.push import ApplyRun, push_apply_run

    problem = push_apply_run(url, ApplyRun("shop"), timeout=2)
    assert problem is not None and problem.startswith("could not push metrics to http://127.0.0.1"), problem
    assert "pu5h-pw" not in problem and "ci:" not in problem, problem


def test_a_value_set_by_hand_in_a_field_kong_encrypts_or_an_authorization_header_is_masked(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drift in a field Kong's schema marks `encrypted` (aws-lambda's `aws_key`) or in a header map whose values
    may be vault references (http-log's) was shown on the live side (`config.aws_key: "AKIA..." -> ...`): dump
    writes both as placeholders, and the hand-set value is someone's credential. Now `<secret>` on both sides,
    in diff and rollback."""
    plugins = (
        "    plugins:\n"
        "      aws-lambda: {aws_key: AKIAPLAIN, aws_secret: plain-s3cret, aws_region: us-east-1, function_name: f}\n"
        "      http-log: {http_endpoint: 'http://audit:8080/kong', headers: {Authorization: Bearer plain}}\n"
    )
    catalog = str(
        write_catalog(workdir, CATALOG.replace("    auth: [basic-auth]\n", "    auth: [basic-auth]\n" + plugins))
    )
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    for plugin in kong.state.entities("plugins"):
        if plugin["name"] == "aws-lambda":
            kong.state.store["plugins"][plugin["id"]]["config"]["aws_key"] = "AKIA-HAND-0021"
        if plugin["name"] == "http-log":
            headers = {"Authorization": "Bearer hand-0022", "X-Api-Key": "hand-0023"}  # values Kong may vault
            kong.state.store["plugins"][plugin["id"]]["config"]["headers"] = headers
    for argv in (["diff", catalog], ["diff", catalog, "--json"]):
        code, out, err = cli(capsys, kong, *argv)
        assert code == 0 and "HAND" not in out + err and "hand-00" not in out + err, out + err
    code, out, err = cli(capsys, kong, "diff", catalog)
    assert "config.aws_key: <secret> -> <secret> (changed)" in out, out
    assert "config.headers.Authorization: <secret> -> <secret> (changed)" in out, out
    assert cli(capsys, kong, "apply", catalog, "--yes")[0] == 0
    code, out, err = cli(capsys, kong, "rollback", "--dry-run")  # back to the hand-set values
    assert code == 0 and "config.aws_key: <secret> -> <secret> (changed)" in out, out + err
    assert "HAND" not in out + err and "hand-00" not in out + err
