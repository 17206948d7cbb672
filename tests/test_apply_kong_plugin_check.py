"""Plugins written in a catalog's `plugins:` maps go to Kong as written, so only Kong can judge their configs:
`diff` and `apply` (DB mode) ask Kong (`POST /schemas/plugins/validate`) about each one the plan creates or
changes, before anything is written, and report a refusal at the catalog key it concerns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulators.harness import CATALOG, SECRETS, cli, write_catalog
from emulators.kong import KongEmulator, KongState, running

VALIDATE = "/schemas/plugins/validate"

# the tests' catalog with three plugins of its own: a global one, one on a service, one holding a secret
WITH_PLUGINS = CATALOG.replace("gateway:\n", "gateway:\n  plugins:\n    file-log: {path: /dev/stdout}\n").replace(
    "    rate_limit: {minute: 60}\n",
    "    rate_limit: {minute: 60}\n"
    "    plugins:\n"
    '      request-transformer: {add: {headers: ["x-team:orders"]}}\n'
    '      http-log: {http_endpoint: "http://logs.internal:8080/orders", headers: {x-key: "${env:WEB_APP_KEY}"}}\n',
)


def checks(kong: KongEmulator) -> list[str]:
    """The plugin names Kong was asked to judge."""
    return [json.loads(r.body or b"{}").get("name") for r in kong.state.requests if r.path == VALIDATE]


def position(text: str, line_text: str, word: str) -> str:
    """`line:col` of `word` in the line of `text` that is `line_text` (where a value is: diagnostics point
    at the value a key holds)."""
    number = text.splitlines().index(line_text)
    return f"{number + 1}:{line_text.index(word) + 1}"


def test_a_config_kong_refuses_is_reported_at_its_key_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    service_line = '      request-transformer: {add: {headers: ["x-team:orders"]}, bogus: 1}'
    global_line = "    file-log: {path: /dev/stdout, reopen: maybe}"
    bad = WITH_PLUGINS.replace('      request-transformer: {add: {headers: ["x-team:orders"]}}', service_line)
    bad = bad.replace("    file-log: {path: /dev/stdout}", global_line)
    catalog = str(write_catalog(workdir, bad))

    for command in (["diff", catalog, "--exit-code"], ["apply", catalog, "--yes"]):
        code, out, err = cli(capsys, kong, *command)
        assert code == 1, out + err
        assert (
            f"{catalog}:{position(bad, service_line, '1}')}: services[0].plugins.request-transformer.bogus: "
            "Kong refuses plugin request-transformer: unknown field"
        ) in err
        assert (
            f"{catalog}:{position(bad, global_line, 'maybe')}: gateway.plugins.file-log.reopen: "
            "Kong refuses plugin file-log: expected a boolean"
        ) in err
        assert "this Kong cannot take the catalog (2 problems); nothing was changed" in err
    assert kong.state.writes() == []  # not even the lock
    assert not kong.state.entities("services")
    assert sorted(checks(kong)) == ["file-log", "file-log", "http-log", "http-log"] + ["request-transformer"] * 2


def test_only_the_plugins_a_plan_creates_or_changes_are_judged(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    catalog = write_catalog(workdir, WITH_PLUGINS)
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0, err
    assert sorted(checks(kong)) == ["file-log", "http-log", "request-transformer"]
    assert {p["name"] for p in kong.state.entities("plugins")} >= {"file-log", "http-log", "request-transformer"}

    before = len(kong.state.requests)
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 0 and "nothing to do" in out, err
    assert not [r for r in kong.state.requests[before:] if r.method != "GET"]  # no check and no write

    # one raw plugin changed and a rendered one (rate_limit): only the raw one is asked about
    changed = WITH_PLUGINS.replace("x-team:orders", "x-team:shop").replace("{minute: 60}", "{minute: 90}")
    catalog.write_text(changed)
    before = len(kong.state.requests)
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes", "--json")
    assert code == 0, err
    asked = [r for r in kong.state.requests[before:] if r.path == VALIDATE]
    assert [json.loads(r.body or b"{}")["config"]["add"]["headers"] for r in asked] == [["x-team:shop"]]
    report = json.loads(out)["kong"]
    assert report["result"]["requests"]["writes"] == 2 + 2  # the two updates, the lock taken and released
    paths = sorted(c["catalog_path"] for c in report["changes"])
    assert paths == ["services[0]", "services[0].plugins.request-transformer"]


def test_kongs_refusal_is_placed_by_its_fields_and_secrets_it_echoes_are_masked(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    secret = SECRETS["WEB_APP_KEY"]
    # As Kong words a refused value (kong/db/schema/init.lua: "invalid value: %s"); array positions from 1,
    # `@entity` for the entity checks of the record they are in.
    fields = {
        "config": {
            "headers": {"x-key": f"invalid value: {secret}"},
            "@entity": ["at least one of these fields must be non-empty: 'config.http_endpoint'"],
        },
        "protocols": [None, "expected one of: grpc, grpcs, http, https"],
    }
    body = {"code": 2, "name": "schema violation", "message": f"3 schema violations ({secret})", "fields": fields}
    kong.state.fail(1, method="POST", path=VALIDATE, status=400, body=body, times=3)
    catalog = str(write_catalog(workdir, WITH_PLUGINS))
    code, out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 1, err
    assert secret not in out + err
    http_log = next(line for line in WITH_PLUGINS.splitlines() if "http-log:" in line)
    secret_at = position(WITH_PLUGINS, http_log, '"${env')
    assert (
        f"{catalog}:{secret_at}: services[0].plugins.http-log.headers.x-key: "
        "Kong refuses plugin http-log: invalid value: <secret ${env:WEB_APP_KEY}>"  # named by its reference
    ) in err
    assert (
        f"{catalog}:{position(WITH_PLUGINS, http_log, '{http_endpoint')}: services[0].plugins.http-log: "
        "Kong refuses plugin http-log: at least one of these fields must be non-empty: 'config.http_endpoint'"
    ) in err
    assert (
        "services[0].plugins.http-log: Kong refuses plugin http-log: protocols[1]: expected one of: grpc, grpcs, "
        "http, https"
    ) in err
    assert kong.state.writes() == []


@pytest.mark.parametrize(
    "refusal",
    [
        {"status": 403, "body": {"message": "Forbidden"}},  # Kong Enterprise's RBAC, to a token that may write plugins
        {"status": 404, "raw": b"<html><title>404 Not Found</title></html>", "content_type": "text/html"},  # a proxy
    ],
    ids=["rbac-403", "proxy-404-page"],
)
def test_a_kong_that_does_not_answer_the_check_leaves_it_to_the_write(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path, refusal: dict[str, Any]
) -> None:
    kong.state.fail(1, method="POST", path=VALIDATE, times=10, **refusal)
    line = '      request-transformer: {add: {headers: ["x-team:orders"]}, bogus: 1}'
    bad = WITH_PLUGINS.replace('      request-transformer: {add: {headers: ["x-team:orders"]}}', line)
    catalog = str(write_catalog(workdir, bad))
    code, _out, err = cli(capsys, kong, "apply", catalog, "--yes")
    assert code == 3, err  # refused at its write, after the writes before it: the check was all that could stop it
    assert f"{catalog}:{position(bad, line, '{add')}: services[0].plugins.request-transformer: Kong refused" in err
    assert "config.bogus: unknown field" in err


def test_dbless_kong_takes_a_configuration_whole_and_is_not_asked() -> None:
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as client:
        # the endpoint itself is there on DB-less Kong too (kong/api/routes/kong.lua has no DB-less guard)
        answer = client.post(VALIDATE, json={"name": "cors", "config": {"origins": ["*"]}})
        assert (answer.status_code, answer.json()) == (200, {"message": "schema validation successful"})


def test_the_dbless_apply_sends_no_check(capsys: pytest.CaptureFixture[str], workdir: Path) -> None:
    with running(KongState(dbless=True)) as kong:
        catalog = str(write_catalog(workdir, WITH_PLUGINS.replace("gateway:\n", "gateway:\n  mode: dbless\n")))
        code, _out, err = cli(capsys, kong, "apply", catalog, "--yes")
        assert code == 0, err
        assert checks(kong) == []


def test_the_emulated_check_is_the_schemas_alone(kong: KongEmulator) -> None:
    """kong/api/routes/kong.lua validate_schema: process_auto_fields and validate, no database: a foreign
    key need not exist, a taken name is not looked at, nothing is stored; an unknown entity is a 404."""
    with httpx.Client(base_url=kong.url) as client:
        assert client.post("/services", json={"name": "taken", "host": "a.internal"}).status_code == 201
        missing = "5b0c9c1e-9f5e-4f46-9d1a-0b8f0d2c6e11"
        ok = client.post(VALIDATE, json={"name": "cors", "service": {"id": missing}, "config": {"origins": ["*"]}})
        assert (ok.status_code, ok.json()) == (200, {"message": "schema validation successful"})
        assert client.post("/schemas/services/validate", json={"name": "taken", "host": "b"}).status_code == 200
        refused = client.post(VALIDATE, json={"name": "key-auth", "consumer": {"id": missing}})
        assert refused.status_code == 400
        assert refused.json()["fields"] == {"consumer": "value must be null"}
        assert refused.json()["code"] == 2
        unknown = client.post("/schemas/nothing/validate", json={})
        assert (unknown.status_code, unknown.json()) == (404, {"message": "No entity named 'nothing'"})
        assert client.get("/plugins").json()["data"] == []
        assert len(client.get("/services").json()["data"]) == 1


def test_plugins_alike_but_for_what_they_hang_off_are_asked_about_once(
    capsys: pytest.CaptureFixture[str], kong: KongEmulator, workdir: Path
) -> None:
    """A plugin every service gets from `defaults.plugins` is one question to Kong: a foreign key is only
    checked for its form, so the answer is the same for each service (and reported once, at `defaults`)."""
    services = "".join(
        f"  - name: svc{i}\n    url: http://svc{i}.internal:8080\n    routes: [{{name: api, paths: [/svc{i}]}}]\n"
        for i in range(5)
    )
    good_line = '    request-transformer: {add: {headers: ["x-shop:yes"]}}'
    text = f"format: 1\nname: alike\ndefaults:\n  plugins:\n{good_line}\nservices:\n{services}"
    bad_line = good_line.replace("}}", "}, bogus: 1}")
    catalog = write_catalog(workdir, text.replace(good_line, bad_line))
    code, out, err = cli(capsys, kong, "apply", str(catalog), "--yes")
    assert code == 1, out + err
    assert f"{catalog}:{position(catalog.read_text(), bad_line, '1}')}: services[0].plugins." in err
    assert "this Kong cannot take the catalog (1 problem)" in err
    assert len(checks(kong)) == 1 and kong.state.writes() == []

    catalog.write_text(text)
    assert cli(capsys, kong, "apply", str(catalog), "--yes")[0] == 0
    assert len(checks(kong)) == 2
    assert len([p for p in kong.state.entities("plugins") if p["name"] == "request-transformer"]) == 5
