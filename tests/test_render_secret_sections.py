"""Which secrets each render target asks for: only those it writes into a file.

Dashboards and rules hold no password, so `--target observability` must render without
GRAFANA_ADMIN_PASSWORD; the platform targets need it (the grafana-admin Secret, grafana.env) and, for a
DB-less Kong, Kong's own secrets too (the configuration they write)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_observability import EXAMPLES, example_env

from gatewayctl.cli import main


def render(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    out: Path,
    example: str,
    target: str,
    *unset: str,
) -> tuple[int, str]:
    for name, value in example_env().items():
        monkeypatch.setenv(name, value)
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    code = main(["render", str(EXAMPLES / f"{example}.yaml"), "--out", str(out), "--target", target])
    return code, capsys.readouterr().err


def test_observability_renders_without_the_grafana_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, err = render(capsys, monkeypatch, tmp_path, "platform", "observability", "GRAFANA_ADMIN_PASSWORD")
    assert code == 0, err
    assert (tmp_path / "observability/prometheus/prometheus.yml").is_file()


def test_kubernetes_still_needs_the_grafana_password_located(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, err = render(capsys, monkeypatch, tmp_path, "platform", "kubernetes", "GRAFANA_ADMIN_PASSWORD")
    assert code == 1 and "Traceback" not in err
    line = next(
        n for n, text in enumerate((EXAMPLES / "platform.yaml").read_text().splitlines(), 1) if "GRAFANA" in text
    )
    assert f"platform.yaml:{line}:" in err and "GRAFANA_ADMIN_PASSWORD is not set" in err
    assert not (tmp_path / "kubernetes").exists()


def test_a_platform_target_asks_nothing_for_the_other_platform(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # platform.yaml runs on Kubernetes: the vm target writes nothing, so it needs no password.
    code, err = render(capsys, monkeypatch, tmp_path, "platform", "vm", "GRAFANA_ADMIN_PASSWORD", "KONG_PG_PASSWORD")
    assert code == 0, err


def test_dbless_kubernetes_needs_kongs_secrets_located_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # knowledge-base is DB-less: its Kong configuration (with the JWT secrets) goes into a Secret.
    code, err = render(capsys, monkeypatch, tmp_path, "knowledge-base", "kubernetes", "KB_WEB_JWT_SECRET")
    assert code == 1 and "Traceback" not in err
    assert "KB_WEB_JWT_SECRET is not set" in err and "knowledge-base.yaml:" in err


@pytest.mark.parametrize(
    ("example", "target", "variable", "value", "refused"),
    [
        # Kong strips white space around KONG_PG_PASSWORD (kong/conf_loader/parse.lua, parse_value), Postgres
        # does not: Kong could not log in. On Kubernetes the value goes through a Secret, on VMs an env file.
        ("platform", "kubernetes", "KONG_PG_PASSWORD", " pg-pass-0041", "postgres_password: the value of"),
        ("detection-api", "vm", "DETECT_KONG_PG_PASSWORD", "pg-pass-0042\t", "postgres_password: the value of"),
        # Grafana replaces ${NAME}, $__env{NAME}, $__file{path} (pkg/setting/expanders.go) and %(key)s (ini.v1)
        # in every setting, GF_SECURITY_ADMIN_PASSWORD included: the admin could not log in with the password.
        ("platform", "kubernetes", "GRAFANA_ADMIN_PASSWORD", "adm${HOME}-0043", "admin_password: the value of"),
        ("detection-api", "vm", "GRAFANA_ADMIN_PASSWORD", "adm$__file{/etc/hostname}-0044", "admin_password:"),
        ("platform", "kubernetes", "GRAFANA_ADMIN_PASSWORD", "adm%(secret_key)s-0045", "admin_password:"),
    ],
)
def test_a_secret_the_program_reading_it_would_change_is_a_located_error(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    example: str,
    target: str,
    variable: str,
    value: str,
    refused: str,
) -> None:
    for name, dummy in example_env().items():
        monkeypatch.setenv(name, dummy)
    monkeypatch.setenv(variable, value)
    code = main(["render", str(EXAMPLES / f"{example}.yaml"), "--out", str(tmp_path), "--target", target])
    err = capsys.readouterr().err
    line = next(
        n for n, text in enumerate((EXAMPLES / f"{example}.yaml").read_text().splitlines(), 1) if variable in text
    )
    assert code == 1 and f"{example}.yaml:{line}:" in err and refused in err and "(value not shown)" in err, err
    assert value.strip() not in err and value.strip()[-5:] not in err  # its own tail, "-0041"
    assert not (tmp_path / target).exists()
    # a value nothing changes renders
    monkeypatch.setenv(variable, "plain-0046")
    assert main(["render", str(EXAMPLES / f"{example}.yaml"), "--out", str(tmp_path), "--target", target]) == 0


@pytest.mark.parametrize("example", ["platform", "detection-api"])
def test_one_placeholder_for_every_variable_renders_with_a_warning_for_the_equal_keys(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, example: str
) -> None:
    """Rendering with one dummy value for every variable (a schema check in CI, a review) gives key-auth keys
    that are equal once resolved: the files are right for the values given, so render writes them and warns
    at the keys; diff and apply, which write to Kong, refuse them (test_apply_dbless.py)."""
    catalog = EXAMPLES / f"{example}.yaml"
    for name in example_env():
        monkeypatch.setenv(name, "same-placeholder-0051")
    code = main(["render", str(catalog), "--out", str(tmp_path), "--target", "kong"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "credentials.key_auth[0].key: warning: this key is the same as consumers[" in err, err
    assert "same-placeholder-0051" not in err
    assert (tmp_path / "kong" / "kong.yaml").is_file()
