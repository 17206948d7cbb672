"""The bad-input corpus: every malformed catalog in tests/bad/ must fail with exit code 1, exactly the
located diagnostics in its `.expected` file (file name, line, column, key path, sentence, then the
summary line), no traceback, and nothing written.

A case is `tests/bad/NN-short-name.yaml` plus `tests/bad/NN-short-name.expected`. Extra command line
arguments go in a first-line comment of the catalog: `# args: --env staging`. Every `${env:NAME}` the
catalog mentions is removed from the environment, so missing-secret cases are missing everywhere.
Cases whose errors only exist at render time (missing secrets: the summary says "nothing was
written") are valid for `validate`, which never resolves secrets; the validate check skips them.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from gatewayctl.cli import main

BAD = Path(__file__).parent / "bad"
CASES = sorted(BAD.glob("*.yaml"))
ENV_REFERENCE = re.compile(rb"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
ARGS_COMMENT = re.compile(rb"\A# args:([^\n]*)")
RENDER_TIME_SUMMARY = "; nothing was written"


def case_id(path: Path) -> str:
    return path.stem


def extra_args(catalog: Path) -> list[str]:
    match = ARGS_COMMENT.match(catalog.read_bytes())
    return shlex.split(match.group(1).decode()) if match else []


def expected_lines(catalog: Path) -> list[str]:
    return catalog.with_suffix(".expected").read_text(encoding="utf-8").splitlines()


def is_render_time(catalog: Path) -> bool:
    lines = expected_lines(catalog)
    return bool(lines) and lines[-1].endswith(RENDER_TIME_SUMMARY)


@pytest.fixture
def in_bad_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from tests/bad/ so diagnostics show the bare file name, with no referenced env var set."""
    monkeypatch.chdir(BAD)
    for catalog in CASES:
        for name in ENV_REFERENCE.findall(catalog.read_bytes()):
            monkeypatch.delenv(name.decode(), raising=False)


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_corpus_is_complete() -> None:
    assert len(CASES) >= 34
    for catalog in CASES:
        assert re.fullmatch(r"\d\d-[a-z0-9-]+\.yaml", catalog.name), catalog.name
        assert catalog.with_suffix(".expected").is_file(), f"{catalog.name} has no .expected file"
    stray = {p.name for p in BAD.glob("*.expected")} - {c.with_suffix(".expected").name for c in CASES}
    assert not stray, f".expected files without a catalog: {sorted(stray)}"


@pytest.mark.usefixtures("in_bad_dir")
@pytest.mark.parametrize("catalog", CASES, ids=case_id)
def test_render_rejects(catalog: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, ["render", catalog.name, "--out", str(out_dir), *extra_args(catalog)])
    assert "Traceback" not in out + err
    assert err.splitlines() == expected_lines(catalog)
    assert code == 1
    assert not out_dir.exists() or not any(out_dir.iterdir()), "render wrote files for an invalid catalog"


@pytest.mark.usefixtures("in_bad_dir")
@pytest.mark.parametrize("catalog", [c for c in CASES if not is_render_time(c)], ids=case_id)
def test_validate_rejects(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, ["validate", catalog.name, *extra_args(catalog)])
    assert "Traceback" not in out + err
    assert code == 1
    assert err.splitlines()[-1].startswith(f"{catalog.name}: ")


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("${file:not-utf8.key}", "secret file not-utf8.key is not UTF-8 text (needed by ${file:not-utf8.key})"),
        ("${file:empty.key}", "secret file empty.key is empty (needed by ${file:empty.key})"),
        ("${env:GW_QA_EMPTY_KEY}", "environment variable GW_QA_EMPTY_KEY is empty (needed by ${env:GW_QA_EMPTY_KEY})"),
        (
            "${env:GW_QA_LINE_BREAK}",
            "environment variable GW_QA_LINE_BREAK is empty (needed by ${env:GW_QA_LINE_BREAK})",
        ),
        # a path that exists, but is no file to read (it was said not to exist)
        ("${file:keys}", "secret file keys is a folder, not a file (needed by ${file:keys})"),
        ("${file:/dev/null}", "secret file /dev/null is not a regular file (needed by ${file:/dev/null})"),
    ],
)
def test_render_rejects_an_unusable_secret_value(
    reference: str,
    why: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A secret that resolves to bytes that are not text, or to nothing (a CI secret never configured is
    set to ""), is a located error at render time, not a traceback or a key Kong refuses at apply."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GW_QA_EMPTY_KEY", "")
    monkeypatch.setenv("GW_QA_LINE_BREAK", "\n")
    (tmp_path / "not-utf8.key").write_bytes(b"\xff\xfe\x00\x01 a DER key, not text")
    (tmp_path / "empty.key").write_text("\n")
    (tmp_path / "keys").mkdir()
    catalog = (BAD / "25-missing-secret-file.yaml").read_text().replace("${file:missing.txt}", reference)
    (tmp_path / "catalog.yaml").write_text(catalog)
    code, out, err = run(capsys, ["render", "catalog.yaml", "--out", "out"])
    assert code == 1
    assert err.splitlines() == [
        f"catalog.yaml:7:16: consumers[0].credentials.key_auth[0].key: {why}",
        "catalog.yaml: 1 error; nothing was written",
    ]
    assert "Traceback" not in out + err
    assert not (tmp_path / "out").exists()


def test_a_secret_from_the_environment_loses_its_trailing_line_break_as_one_from_a_file_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable filled from a Kubernetes Secret's file (the Helm chart's secretEnv) ends in a line break:
    it went into Kong as part of the API key, which no client can then send in a header."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GW_QA_KEY", "mobile-key-0042\r\n")
    catalog = (BAD / "25-missing-secret-file.yaml").read_text().replace("${file:missing.txt}", "${env:GW_QA_KEY}")
    (tmp_path / "catalog.yaml").write_text(catalog)
    code, _, err = run(capsys, ["render", "catalog.yaml", "--out", "out", "--target", "kong"])
    assert code == 0, err
    config = yaml.safe_load((tmp_path / "out/kong/kong.yaml").read_text())
    assert config["consumers"][0]["keyauth_credentials"][0]["key"] == "mobile-key-0042"


@pytest.mark.parametrize(
    ("url", "value", "why"),
    [
        ("http://svc:${env:GW_QA_URL_PART}@api:8080", "pass/word", "has an invalid port"),
        ("${env:GW_QA_URL_PART}", "api.default.svc:8080", "must be an absolute URL such as http://host:8080/path"),
        ("${env:GW_QA_URL_PART}", "http://api:123456", "has an invalid port"),
        # what validate says of a literal url Kong refuses (checks.service_url_refusals), without the value
        (
            "${env:GW_QA_URL_PART}",
            "http://api internal:8080",
            "Kong refuses its host: it is not a host name or IP address",
        ),
        ("http://${env:GW_QA_URL_PART}:8080", "10.0.0.", "Kong refuses its host: it is not an IPv4 address"),
        ("${env:GW_QA_URL_PART}", "http://api:8080/v1//x", "Kong refuses its path: must not have empty segments"),
    ],
)
def test_render_rejects_a_url_that_is_not_one_once_resolved_without_printing_it(
    url: str,
    value: str,
    why: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """validate cannot check a url holding a reference; render checks it resolved, and names only the
    reference: the value holds a secret (it used to be a traceback quoting it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GW_QA_URL_PART", value)
    catalog = (BAD / "25-missing-secret-file.yaml").read_text().replace("${file:missing.txt}", "${env:GW_QA_KEY}")
    (tmp_path / "catalog.yaml").write_text(catalog.replace("http://api.default.svc:8080", f'"{url}"'))
    monkeypatch.setenv("GW_QA_KEY", "k")
    code, out, err = run(capsys, ["render", "catalog.yaml", "--out", "out"])
    assert code == 1
    assert err.splitlines() == [
        f"catalog.yaml:10:10: services[0].url: {why}, once ${{env:GW_QA_URL_PART}} is resolved (value not shown)",
        "catalog.yaml: 1 error; nothing was written",
    ]
    assert value not in out + err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("host_header", "$x.internal", "Kong refuses this host: it is not a host name or IP address"),
        ("redis_host", "redis.internal:6379", "Kong refuses this host: it must not have a port"),
    ],
)
def test_render_rejects_a_host_kong_refuses_once_resolved_without_printing_it(
    key: str,
    value: str,
    why: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An upstream's host_header and a Redis host may hold a reference, resolved at render time: the value
    is checked then, as Kong would check it (it used to reach Kong, which refused the whole configuration)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GW_QA_HOST", value)
    host_header = "${env:GW_QA_HOST}" if key == "host_header" else "api.internal"
    redis_host = "${env:GW_QA_HOST}" if key == "redis_host" else "redis.internal"
    (tmp_path / "catalog.yaml").write_text(
        "format: 1\nname: demo\nservices:\n  - name: api\n"
        f"    upstream: {{targets: [10.0.0.1:8080], host_header: '{host_header}'}}\n"
        f"    rate_limit: {{minute: 5, policy: redis, redis: {{host: '{redis_host}'}}}}\n"
    )
    code, out, err = run(capsys, ["render", "catalog.yaml", "--out", "out"])
    line, col, path = (
        (5, 55, "services[0].upstream.host_header")
        if key == "host_header"
        else (6, 58, "services[0].rate_limit.redis.host")
    )
    assert err.splitlines() == [
        f"catalog.yaml:{line}:{col}: {path}: {why}, once ${{env:GW_QA_HOST}} is resolved (value not shown)",
        "catalog.yaml: 1 error; nothing was written",
    ]
    assert code == 1
    assert value not in out + err
    assert not (tmp_path / "out").exists()


def test_render_rejects_a_mesh_zipkin_endpoint_kuma_refuses_once_resolved_without_printing_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """meshtrace validator.go validateBackend checks zipkin.url with govalidator.IsURL, which refuses
    0.0.0.0; validate cannot see a value behind a reference, so render checks it resolved."""
    monkeypatch.chdir(tmp_path)
    value = "http://0.0.0.0:9411/api/v2/spans"
    monkeypatch.setenv("GW_QA_ZIPKIN", value)
    (tmp_path / "catalog.yaml").write_text(
        "format: 1\nname: demo\nmesh:\n  default_action: allow\n"
        "  tracing: {zipkin: {endpoint: '${env:GW_QA_ZIPKIN}'}}\n"
        "services:\n  - name: api\n    url: http://api.default.svc:8080\n"
    )
    code, out, err = run(capsys, ["render", "catalog.yaml", "--out", "out"])
    assert code == 1
    assert err.splitlines() == [
        "catalog.yaml:5:32: mesh.tracing.zipkin.endpoint: Kuma's MeshTrace refuses this URL as invalid (govalidator "
        "IsURL), once ${env:GW_QA_ZIPKIN} is resolved (value not shown)",
        "catalog.yaml: 1 error; nothing was written",
    ]
    assert value not in out + err
    assert not (tmp_path / "out").exists()
