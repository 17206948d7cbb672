"""Catalog values whose rendering Kong 3.9 refuses through its schemas' entity checks and custom validators
(kong/db/schema/typedefs.lua path, host, router_path, header_name and cookie_name,
kong/db/schema/entities/upstreams.lua,
kong/plugins/{acl,ip-restriction,cors,oauth2}/schema.lua at 3.9.3): `gatewayctl validate` refuses each one
with a located error, and the Kong emulator (which runs those checks) shows the check is real: the same catalog rendered
without gatewayctl's checks is refused by it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from emulators.kong import KongState, running

import gatewayctl.catalog.load as catalog_load
from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.secrets import SecretResolver
from gatewayctl.cli import main
from gatewayctl.render.kong import build_kong_config

HEAD = """\
format: 1
name: demo
consumers:
  - name: alice
    groups: [staff]
    credentials:
      oauth2: [{name: app, client_id: app, client_secret: "${env:APP_SECRET}", redirect_uris: [https://app.example.com/cb]}]
      key_auth: [{key: "${env:APP_SECRET}"}]
services:
  - name: api
"""
URL = "    url: http://api.internal:8080\n"
ROUTES = "    routes: [{name: main, paths: [/api]}]\n"
OAUTH2 = '    auth: [oauth2]\n    oauth2: {provision_key: "${env:APP_SECRET}"'
UPSTREAM = "    upstream: {algorithm: consistent-hashing, targets: ['10.0.0.1:80'], "

# (the service's keys, the text the error points at, the error `validate` reports there)
CASES = {
    "acl-empty-allow": (
        URL + "    auth: [oauth2]\n    oauth2: {provision_key: '${env:APP_SECRET}'}\n    allow_groups: []\n",
        "[]",
        "services[0].allow_groups: needs at least one group (Kong's acl plugin refuses an empty list)",
    ),
    "acl-empty-deny": (
        URL + "    auth: [oauth2]\n    oauth2: {provision_key: '${env:APP_SECRET}'}\n    deny_groups: []\n",
        "[]",
        "services[0].deny_groups: needs at least one group (Kong's acl plugin refuses an empty list)",
    ),
    "ip-restriction-empty-deny": (
        URL + "    ip_deny: []\n",
        "[]",
        "services[0].ip_deny: an empty ip_deny list denies no one (Kong refuses it); remove it instead",
    ),
    "rate-limit-path-empty-segment": (
        URL + "    rate_limit: {minute: 5, by: 'path:/a//b'}\n",
        "'path:",
        "services[0].rate_limit.by: Kong refuses the path '/a//b': must not have empty segments",
    ),
    "rate-limit-path-bad-escape": (
        URL + "    rate_limit: {minute: 5, by: 'path:/a%zz'}\n",
        "'path:",
        "services[0].rate_limit.by: Kong refuses the path '/a%zz': invalid url-encoded value: '%zz'",
    ),
    "url-path-not-rfc3986": (
        "    url: http://api.internal:8080/a|b\n",
        "http://api.internal:8080/a|b",
        "services[0].url: Kong refuses the path '/a|b': characters outside of the reserved list of RFC 3986 found",
    ),
    "url-path-empty-segment": (
        "    url: http://api.internal:8080/v1//x\n",
        "http://api.internal:8080/v1//x",
        "services[0].url: Kong refuses the path '/v1//x': must not have empty segments",
    ),
    "url-host-cut-short": (
        "    url: http://10.0.0./v1\n",
        "http://10.0.0./v1",
        "services[0].url: Kong refuses the host '10.0.0.': it is not an IPv4 address",
    ),
    "url-host-with-a-space": (
        "    url: 'http://api.internal /v1'\n",
        "'http://api.internal /v1'",
        "services[0].url: Kong refuses the host 'api.internal ': it is not a host name or IP address",
    ),
    "cors-origin-not-a-regex": (
        URL + "    cors: {origins: ['https://(a']}\n",
        "'https://(a'",
        "services[0].cors.origins[0]: Kong reads an origin as '*' or a regex: 'https://(a' is not a valid "
        "regex (missing ), unterminated subpattern at position 8)",
    ),
    "oauth2-no-flow": (
        URL + OAUTH2 + ", enable_client_credentials: false}\n",
        "{provision_key",
        "services[0].oauth2: Kong needs at least one flow set true: enable_authorization_code, "
        "enable_implicit_grant, enable_client_credentials, enable_password_grant",
    ),
    "oauth2-mandatory-scope-without-scopes": (
        URL + OAUTH2 + ", mandatory_scope: true}\n",
        "true}",
        "services[0].oauth2.mandatory_scope: needs scopes (Kong refuses it without any)",
    ),
    "hash-fallback-same-as-hash-on": (
        UPSTREAM + "hash_on: ip, hash_fallback: ip}\n",
        "ip}",
        "services[0].upstream.hash_fallback: is the same as hash_on (ip): Kong refuses it",
    ),
    "hash-fallback-same-header": (
        UPSTREAM + "hash_on: 'header:X-A', hash_fallback: 'header:X-A'}\n",
        "'header:X-A'}",
        "services[0].upstream.hash_fallback: is the same as hash_on (header:X-A): Kong refuses it",
    ),
    "hash-fallback-cookie": (
        UPSTREAM + "hash_on: ip, hash_fallback: 'cookie:c'}\n",
        "'cookie:c'",
        "services[0].upstream.hash_fallback: Kong cannot fall back to a cookie (only hash_on may be cookie:NAME)",
    ),
    "rate-limit-header-not-kong-header-name": (
        URL + "    rate_limit: {minute: 5, by: 'header:X.Tenant'}\n",
        "'header:",
        "services[0].rate_limit.by: Kong refuses the header name 'X.Tenant': only A-Z, a-z, 0-9, '_' and '-' are "
        "allowed",
    ),
    "key-names-not-kong-header-names": (
        URL + "    auth: [key-auth]\n    key_auth: {key_names: [apikey, x.api.key]}\n",
        "x.api.key",
        "services[0].key_auth.key_names[1]: Kong refuses the header name 'x.api.key': only A-Z, a-z, 0-9, '_' and "
        "'-' are allowed",
    ),
    "hash-on-header-not-kong-header-name": (
        UPSTREAM + "hash_on: 'header:X.A'}\n",
        "'header:",
        "services[0].upstream.hash_on: Kong refuses the header name 'X.A': only A-Z, a-z, 0-9, '_' and '-' are allowed",
    ),
    "hash-on-cookie-not-a-token": (
        UPSTREAM + "hash_on: 'cookie:a(b'}\n",
        "'cookie:",
        "services[0].upstream.hash_on: Kong refuses the cookie name 'a(b': it must be an HTTP token (no separators "
        "such as ( ) < > @ : / ? = { } [ ] or quotes)",
    ),
}


# what Kong's schema says of each (the emulator's copy of the entity check or custom validator)
KONG_SAYS = {
    "acl-empty-allow": "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
    "acl-empty-deny": "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
    "ip-restriction-empty-deny": "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
    "rate-limit-path-empty-segment": "must not have empty segments",
    "rate-limit-path-bad-escape": "invalid url-encoded value: '%zz'",
    "url-path-not-rfc3986": "invalid path: '/a|b' (characters outside of the reserved list of RFC 3986 found)",
    "url-path-empty-segment": "must not have empty segments",
    "url-host-cut-short": "invalid value: 10.0.0.",
    "url-host-with-a-space": "invalid value: api.internal ",
    "cors-origin-not-a-regex": "'https://(a' is not a valid regex",
    "oauth2-no-flow": "at least one of these fields must be true: enable_authorization_code, enable_implicit_grant, "
    "enable_client_credentials, enable_password_grant",
    "oauth2-mandatory-scope-without-scopes": "failed conditional validation given value of field 'mandatory_scope'",
    "hash-fallback-same-as-hash-on": "failed conditional validation given value of field 'hash_on'",
    "hash-fallback-same-header": "values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'",
    "hash-fallback-cookie": "failed conditional validation given value of field 'hash_fallback'",
    "rate-limit-header-not-kong-header-name": "bad header name 'X.Tenant', allowed characters are A-Z, a-z, 0-9, "
    "'_', and '-'",
    "key-names-not-kong-header-names": "bad header name 'x.api.key', allowed characters are A-Z, a-z, 0-9, '_', "
    "and '-'",
    "hash-on-header-not-kong-header-name": "bad header name 'X.A', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
    "hash-on-cookie-not-a-token": "contains one or more invalid characters. ASCII control characters (0-31;127), "
    'space, tab and the characters ()<>@,;:\\"/?={}[] are not allowed.',
}


def write_case(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD + CASES[name][0] + ROUTES)
    return path


def located(path: Path, needle: str, start: int = 0) -> str:
    """file:line:col of the first `needle` from `start` on (1-based, as diagnostics count)."""
    text = path.read_text()
    at = text.index(needle, start)
    return f"{path}:{text.count(chr(10), 0, at) + 1}:{at - text.rfind(chr(10), 0, at)}"


@pytest.fixture(autouse=True)
def app_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_SECRET", "s3cret-value-for-tests")


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_refuses_what_kong_refuses(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_case(tmp_path, name)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": warning: " not in line]
    _, needle, message = CASES[name]
    assert errors == [f"{located(path, needle, len(HEAD))}: {message}", f"{path}: 1 error"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_kong_refuses_it_when_the_checks_are_skipped(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered without gatewayctl's semantic checks, the catalog makes an entity the emulator refuses with a
    schema violation: the check above stands for a real Kong refusal."""
    monkeypatch.setattr(catalog_load, "run_checks", lambda catalog, source: [])
    loaded = load_catalog(write_case(tmp_path, name))
    config = build_kong_config(loaded.catalog, SecretResolver(tmp_path))
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as client:
        answer = client.post("/config", params={"flatten_errors": "1"}, json=config)
    assert answer.status_code == 400, answer.text
    messages = [e["message"] for entity in answer.json()["flattened_errors"] for e in entity["errors"]]
    assert KONG_SAYS[name] in messages


def test_validate_refuses_a_gateway_cors_origin_that_is_no_regex(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(
        HEAD.replace("services:\n", "gateway: {cors: {origins: ['*', 'https://[a']}}\nservices:\n") + URL + ROUTES
    )
    assert main(["validate", str(path)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if ": warning: " not in line]
    assert errors == [
        f"{located(path, chr(39) + 'https://[a')}: gateway.cors.origins[1]: Kong reads an origin as '*' or a regex: "
        "'https://[a' is not a valid regex (unterminated character set at position 8)",
        f"{path}: 1 error",
    ]


@pytest.mark.parametrize(
    ("route_path", "message", "kong_says"),
    [
        (
            "/v1/../admin",
            "Kong refuses a path it would normalize: write '/admin' (got '/v1/../admin')",
            "non-normalized path, consider use '/admin' instead",
        ),
        (
            "/caf%C3%A9",
            "Kong refuses a path it would normalize: write '/caf\u00e9' (got '/caf%C3%A9')",
            "non-normalized path, consider use '/caf\u00e9' instead",
        ),
        ("/a%zz", "Kong refuses '/a%zz': invalid url-encoded value: '%zz'", "invalid url-encoded value: '%zz'"),
    ],
)
def test_route_paths_kong_would_normalize_or_cannot_decode(
    route_path: str, message: str, kong_says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """typedefs.router_path validate_path_with_regexes: a plain path must be in the form kong/tools/uri.lua
    normalize() gives it, with no bad %-escape. The emulator refuses the same route."""
    path = tmp_path / "catalog.yaml"
    path.write_text(HEAD + URL + f"    routes: [{{name: main, paths: ['{route_path}']}}]\n")
    assert main(["validate", str(path)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if ": warning: " not in line]
    assert errors == [
        f"{located(path, repr(route_path), len(HEAD))}: services[0].routes[0].paths[0]: {message}",
        f"{path}: 1 error",
    ]
    with running(KongState()) as kong, httpx.Client(base_url=kong.url) as client:
        answer = client.post("/routes", json={"protocols": ["http"], "paths": [route_path]})
    assert answer.status_code == 400
    assert answer.json()["fields"] == {"paths": [kong_says]}


def test_the_key_auth_ttl_limit_is_kongs(tmp_path: Path) -> None:
    """validate's longest key-auth `ttl` (100000000s, tests/bad/62) is DAO_MAX_TTL (kong/constants.lua at 3.9.1):
    the credential rendered at the limit is taken by the emulator, which checks the ttl option as
    kong/db/dao/init.lua validate_options_value does, and one second more is refused."""
    path = tmp_path / "ttl.yaml"
    path.write_text(
        HEAD.replace(
            'key_auth: [{key: "${env:APP_SECRET}"}]', 'key_auth: [{key: "${env:APP_SECRET}", ttl: 100000000s}]'
        )
        + URL
        + ROUTES
    )
    config = build_kong_config(load_catalog(path).catalog, SecretResolver(tmp_path))
    consumer = {k: v for k, v in config["consumers"][0].items() if k in ("id", "username", "tags")}
    credential = config["consumers"][0]["keyauth_credentials"][0]
    assert credential["ttl"] == 100_000_000
    with running(KongState()) as kong, httpx.Client(base_url=kong.url) as client:
        assert client.post("/consumers", json=consumer).status_code == 201
        too_long = client.post(f"/consumers/{consumer['id']}/key-auth", json={**credential, "ttl": 100_000_001})
        assert too_long.status_code == 400 and too_long.json()["code"] == 11, too_long.text
        taken = client.post(f"/consumers/{consumer['id']}/key-auth", json=credential)
        assert taken.status_code == 201, taken.text
