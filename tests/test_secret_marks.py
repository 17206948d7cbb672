"""Fields holding a value resolved from a reference, where nothing in their name says they are secret (a plugin
header, a tracing URL with a token, a service url), are named in a tag of the Kong entity. What reads the entity
later knows them without the catalog: a diff after the catalog stopped using the secret there, and a dump."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from emulators.harness import cli, write_catalog
from emulators.kong import KongEmulator

from gatewayctl.catalog.load import load_catalog
from gatewayctl.render.kong import build_kong_config
from gatewayctl.render.ownership import SECRET_TAG, secret_tag, secret_tag_paths

TOKEN, ZIPKIN_TOKEN, PATH_TOKEN = "s3cr3t-header-token-01", "s3cr3t-zipkin-token-02", "s3cr3t-path-token-03"
CATALOG = """\
format: 1
name: marks
gateway:
  tracing: {zipkin: {endpoint: "http://zipkin:9411/api/v2/spans?token=${env:ZIPKIN_TOKEN}", sample_ratio: 0.5}}
services:
  - name: orders
    url: http://orders.internal:8080/v1/${env:PATH_TOKEN}
    routes: [{name: api, paths: [/orders]}]
    plugins:
      request-transformer: {add: {headers: ["x-token:${env:TOKEN}", "x-team:orders"]}}
  - name: plain
    url: http://plain.internal:8080
    routes: [{name: api, paths: [/plain]}]
    plugins:
      request-transformer: {add: {headers: ["x-team:plain"]}}
"""


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("TOKEN", TOKEN), ("ZIPKIN_TOKEN", ZIPKIN_TOKEN), ("PATH_TOKEN", PATH_TOKEN)):
        monkeypatch.setenv(name, value)


def marks(config: dict, kind: str, name: str) -> dict[str, list[str]]:
    """{entity name: its secret marks} of one kind (plugins by their scope's service name)."""
    out = {}
    for service in config["services"]:
        items = [service] if kind == "services" else [p for p in service.get("plugins", []) if p["name"] == name]
        for item in items:
            out[service["name"]] = secret_tag_paths(item["tags"])
    if kind == "plugins":
        for plugin in config.get("plugins", []):
            if plugin["name"] == name:
                out["global"] = secret_tag_paths(plugin["tags"])
    return out


def test_fields_resolved_from_references_are_marked_and_no_other(secrets: None, tmp_path: Path) -> None:
    path = write_catalog(tmp_path, CATALOG)
    loaded = load_catalog(path)
    config = build_kong_config(loaded.catalog, loaded.secrets())
    # a list is one value to a diff: its path stops at the list
    assert marks(config, "plugins", "request-transformer") == {"orders": ["config.add.headers"], "plain": []}
    assert marks(config, "plugins", "zipkin") == {"global": ["config.http_endpoint"]}
    assert marks(config, "services", "") == {"orders": ["host", "path", "port", "protocol"], "plain": []}
    routes = [r for s in config["services"] for r in s["routes"]]
    assert not [t for r in routes for t in r["tags"] if t.startswith(SECRET_TAG)]  # routes take no service mark


def test_a_mark_survives_the_characters_kong_refuses_in_tags() -> None:
    tag = secret_tag(("config", "headers", "X-Key,with/odd%chars", 0, "ignored"))
    assert "," not in tag and "/" not in tag
    assert secret_tag_paths(["gatewayctl", tag]) == ["config.headers.X-Key,with/odd%chars"]


def test_a_secret_the_catalog_stops_using_is_not_shown_by_the_diff(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, secrets: None
) -> None:
    catalog = write_catalog(workdir, CATALOG)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    # the catalog now writes plain text where the secrets were: nothing in it says the live values are secret
    plain = CATALOG.replace("${env:TOKEN}", "none").replace("${env:ZIPKIN_TOKEN}", "none")
    catalog.write_text(plain.replace("${env:PATH_TOKEN}", "v2"))
    code, out, err = cli(capsys, kong, "diff", str(catalog))
    assert code == 0, err
    for value in (TOKEN, ZIPKIN_TOKEN, PATH_TOKEN):
        assert value not in out + err
    assert 'config.add.headers: <secret> -> ["x-token:none", "x-team:orders"]' in out
    assert "config.http_endpoint: <secret> -> " in out
    assert 'path: <secret> -> "/v1/v2"' in out
    code, out, err = cli(capsys, kong, "diff", str(catalog), "--json")
    assert code == 0 and not any(value in out for value in (TOKEN, ZIPKIN_TOKEN, PATH_TOKEN)), err
    olds = [f["old"] for c in json.loads(out)["kong"]["changes"] for f in c["fields"]]
    assert olds.count("<secret>") == 3

    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    written = [p for p in kong.state.entities("plugins") if p["name"] in ("zipkin", "request-transformer")]
    assert not [t for p in written for t in p["tags"] if t.startswith(SECRET_TAG)]  # plain now: no mark


def test_a_url_held_whole_by_a_reference_is_not_shown_in_parts_by_the_diff(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service url that one `${env:...}` holds whole is split into host, port and path, none of which is the
    resolved value the masker looks for: the marks of the desired entity hide them (the new host and path were
    printed in clear, next to the live ones shown as <secret>)."""
    monkeypatch.setenv("ORDERS_URL", "http://orders-a.internal:8080/v1/s3cr3t-path-a")
    catalog = write_catalog(
        workdir, CATALOG.replace("http://orders.internal:8080/v1/${env:PATH_TOKEN}", "${env:ORDERS_URL}")
    )
    monkeypatch.setenv("TOKEN", TOKEN)
    monkeypatch.setenv("ZIPKIN_TOKEN", ZIPKIN_TOKEN)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    monkeypatch.setenv("ORDERS_URL", "https://orders-b.internal:8443/v2/s3cr3t-path-b")
    for as_json in (False, True):
        code, out, err = cli(capsys, kong, "diff", str(catalog), *(["--json"] if as_json else []))
        assert code == 0, err
        for part in ("orders-a", "orders-b", "s3cr3t-path", "8443"):
            assert part not in out + err, (part, out)
    code, out, err = cli(capsys, kong, "diff", str(catalog))
    assert "host: <secret> -> <secret> (changed)" in out
    assert "path: <secret> -> <secret> (changed)" in out


def test_marks_alone_are_no_change(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, secrets: None
) -> None:
    """The same values written plain where references stood: Kong holds exactly them, so nothing is written
    (the marks go when the entity is next written for a change)."""
    catalog = write_catalog(workdir, CATALOG)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    catalog.write_text(
        CATALOG.replace("${env:TOKEN}", TOKEN)
        .replace("${env:ZIPKIN_TOKEN}", ZIPKIN_TOKEN)
        .replace("${env:PATH_TOKEN}", PATH_TOKEN)
    )
    writes = len(kong.state.writes())
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0 and "nothing to do" in out, out + err
    assert len(kong.state.writes()) == writes


def test_a_dump_writes_marked_fields_as_placeholders_and_replays_to_nothing(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, secrets: None
) -> None:
    catalog = write_catalog(workdir, CATALOG)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    dumped = workdir / "dumped.yaml"
    code, out, err = cli(capsys, kong, "dump", "--catalog-name", "marks", "--out", str(dumped))
    assert code == 0, err
    assert "changes nothing in Kong" in out, out + err
    text = dumped.read_text()
    for value in (TOKEN, ZIPKIN_TOKEN, PATH_TOKEN):
        assert value not in text + out + err
    assert SECRET_TAG not in text  # the marks are rendered again from the placeholders, not written as tags
    assert "url: ${env:SERVICE_ORDERS_URL}" in text
    assert "endpoint: ${env:GATEWAY_ZIPKIN}" in text
    assert "- x-team:plain" in text  # an unmarked plugin's values stay as they are
