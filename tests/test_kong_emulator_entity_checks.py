"""The Kong emulator runs the `entity_checks` and custom validators of Kong 3.9's schemas the way
kong/db/schema/init.lua does (run_entity_check, Schema.entity_checkers, validation_errors) and reports them as
kong/db/errors.lua does: 400, code 2, the check's message under `@entity`, a conditional's field error under
the field it names. Sources at tag 3.9.3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulators.kong import KongState, running

PERIODS = "'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with running(KongState()) as kong, httpx.Client(base_url=kong.url) as http:
        yield http


def refused(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(path, json=body)
    assert answer.status_code == 400, answer.text
    payload: dict[str, Any] = answer.json()
    assert (payload["code"], payload["name"]) == (2, "schema violation")
    return payload


def test_at_least_one_of(client: httpx.Client) -> None:
    """rate-limiting/schema.lua: at_least_one_of the six periods; consumers.lua: custom_id or username.
    An empty list or string is no value (init.lua is_nonempty)."""
    body = refused(client, "/plugins", {"name": "rate-limiting", "config": {"limit_by": "ip"}})
    message = f"at least one of these fields must be non-empty: {PERIODS}"
    assert body["fields"] == {"@entity": [message]}
    assert body["message"] == f"schema violation ({message})"
    assert refused(client, "/consumers", {"tags": ["a"]})["fields"] == {
        "@entity": ["at least one of these fields must be non-empty: 'custom_id', 'username'"]
    }
    empty = refused(client, "/plugins", {"name": "ip-restriction", "config": {"deny": []}})
    assert empty["fields"] == {
        "@entity": ["at least one of these fields must be non-empty: 'config.allow', 'config.deny'"]
    }
    assert (
        client.post("/plugins", json={"name": "ip-restriction", "config": {"deny": ["10.0.0.0/8"]}}).status_code == 201
    )


def test_only_one_of(client: httpx.Client) -> None:
    """acl/schema.lua: only_one_of and at_least_one_of allow/deny, both failing on an empty allow list."""
    both = refused(client, "/plugins", {"name": "acl", "config": {"allow": ["a"], "deny": ["b"]}})
    assert both["fields"] == {
        "@entity": ["exactly one of these fields must be non-empty: 'config.allow', 'config.deny'"]
    }
    empty = refused(client, "/plugins", {"name": "acl", "config": {"allow": []}})
    assert empty["fields"]["@entity"] == [
        "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
        "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
    ]
    assert client.post("/plugins", json={"name": "acl", "config": {"deny": ["b"]}}).status_code == 201


def test_conditional_required(client: httpx.Client) -> None:
    """rate-limiting/schema.lua: limit_by header needs header_name, policy redis a redis host; the field is
    `required field missing` (init.lua set_field), the entity error names the if_field, and kong/db/errors.lua
    writes the nested error with pl.pretty."""
    body = refused(client, "/plugins", {"name": "rate-limiting", "config": {"minute": 5, "limit_by": "header"}})
    assert body["fields"] == {
        "@entity": ["failed conditional validation given value of field 'config.limit_by'"],
        "config": {"header_name": "required field missing"},
    }
    redis = refused(client, "/plugins", {"name": "rate-limiting", "config": {"minute": 5, "policy": "redis"}})
    assert redis["fields"] == {
        "@entity": ["failed conditional validation given value of field 'config.policy'"],
        "config": {"redis": {"host": "required field missing"}},
    }
    assert redis["message"] == (
        "2 schema violations (failed conditional validation given value of field 'config.policy'; "
        'config.redis: {\n  host = "required field missing"\n})'
    )


def test_conditional_match(client: httpx.Client) -> None:
    """jwt/schema.lua: maximum_expiration > 0 needs exp in claims_to_verify (`contains`); upstreams.lua: a
    fallback may not hash on what hash_on does (`one_of`); services.lua: no path on tcp (`eq = null`)."""
    jwt = refused(
        client, "/plugins", {"name": "jwt", "config": {"maximum_expiration": 60, "claims_to_verify": ["nbf"]}}
    )
    assert jwt["fields"] == {
        "@entity": ["failed conditional validation given value of field 'config.maximum_expiration'"],
        "config": {"claims_to_verify": "expected to contain: exp"},
    }
    upstream = refused(
        client, "/upstreams", {"name": "u", "algorithm": "consistent-hashing", "hash_on": "ip", "hash_fallback": "ip"}
    )
    assert upstream["fields"] == {
        "@entity": ["failed conditional validation given value of field 'hash_on'"],
        "hash_fallback": "expected one of: none, consumer, header, cookie, path, query_arg, uri_capture",
    }
    cookie = refused(
        client, "/upstreams", {"name": "u", "hash_on": "cookie", "hash_on_cookie": "c", "hash_fallback": "ip"}
    )
    assert cookie["fields"] == {
        "@entity": ["failed conditional validation given value of field 'hash_on'"],
        "hash_fallback": "expected one of: none",
    }


def test_distinct(client: httpx.Client) -> None:
    """upstreams.lua: distinct hash_on_header and hash_fallback_header."""
    body = {
        "name": "u",
        "algorithm": "consistent-hashing",
        "hash_on": "header",
        "hash_on_header": "X-A",
        "hash_fallback": "header",
        "hash_fallback_header": "X-A",
    }
    assert refused(client, "/upstreams", body)["fields"] == {
        "@entity": ["values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"]
    }
    assert client.post("/upstreams", json=body | {"hash_fallback_header": "X-B"}).status_code == 201


def test_record_entity_checks_and_custom_validator(client: httpx.Client) -> None:
    """oauth2/schema.lua: the config record's own entity check (mandatory_scope needs scopes) is reported
    inside `config`; its custom_validator (validate_flows) runs only once the record is otherwise valid."""
    body = refused(
        client, "/plugins", {"name": "oauth2", "config": {"mandatory_scope": True, "enable_password_grant": True}}
    )
    assert body["fields"] == {
        "config": {
            "@entity": ["failed conditional validation given value of field 'mandatory_scope'"],
            "scopes": "required field missing",
        }
    }
    no_flow = refused(client, "/plugins", {"name": "oauth2", "config": {}})
    assert no_flow["fields"] == {
        "config": "at least one of these fields must be true: enable_authorization_code, enable_implicit_grant, "
        "enable_client_credentials, enable_password_grant"
    }
    termination = refused(client, "/plugins", {"name": "request-termination", "config": {"message": "no", "body": "x"}})
    assert termination["fields"] == {"config": "message cannot be used with content_type or body"}


def test_custom_validators_of_fields(client: httpx.Client) -> None:
    """rate-limiting/schema.lua validate_periods_order (a record validator, Lua's %.1f); typedefs.path
    (starts_with, match_none "//", validate_path); typedefs.ip_or_cidr; cors validate_asterisk_or_regex. The
    `conditional` on limit_by = path fails too: its then_match falls back to the field's own spec (init.lua
    sets it as the match's __index), so the path's validators run again there."""
    order = refused(client, "/plugins", {"name": "rate-limiting", "config": {"second": 10, "minute": 5}})
    assert order["fields"] == {"config": "The limit for minute(5.0) cannot be lower than the limit for second(10.0)"}
    path = refused(
        client, "/plugins", {"name": "rate-limiting", "config": {"minute": 5, "limit_by": "path", "path": "/a//b"}}
    )
    assert path["fields"] == {
        "config": {"path": "must not have empty segments"},
        "@entity": ["failed conditional validation given value of field 'config.limit_by'"],
    }
    assert refused(client, "/services", {"host": "h", "path": "/a%zz"})["fields"] == {
        "path": "invalid url-encoded value: '%zz'"
    }
    ip = refused(client, "/plugins", {"name": "ip-restriction", "config": {"allow": ["10.0.0.0/8", "nope"]}})
    assert ip["fields"] == {"config": {"allow": [None, "invalid ip or cidr range: 'nope'"]}}
    cors = refused(client, "/plugins", {"name": "cors", "config": {"origins": ["*", "https://(a"]}})
    assert cors["fields"] == {"config": {"origins": [None, "'https://(a' is not a valid regex"]}}
    # a Lua table with a hole, as pl.pretty writes it
    assert cors["message"] == "schema violation (config.origins: {\n  [2] = \"'https://(a' is not a valid regex\"\n})"


def test_custom_entity_check(client: httpx.Client) -> None:
    """proxy-cache/schema.lua custom_entity_check: the memory strategy's shared dict must exist; its message
    is the function's own."""
    body = refused(
        client,
        "/plugins",
        {"name": "proxy-cache", "config": {"strategy": "memory", "memory": {"dictionary_name": "nope"}}},
    )
    assert body["fields"] == {"@entity": ["missing shared dict 'nope'"]}
    assert client.post("/plugins", json={"name": "proxy-cache", "config": {"strategy": "memory"}}).status_code == 201


def test_entity_checks_in_dbless_config_and_schemas() -> None:
    """A declarative config is refused with the same checks (flattened as kong/db/errors.lua does), and
    `/schemas` answers the entity checks without their functions (api_helpers.lua schema_to_jsonable)."""
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as http:
        doc = {"_format_version": "3.0", "plugins": [{"name": "acl", "config": {"allow": ["a"], "deny": ["b"]}}]}
        answer = http.post("/config", params={"flatten_errors": "1"}, json={"config": json.dumps(doc)})
        assert answer.status_code == 400
        errors = answer.json()["flattened_errors"][0]["errors"]
        assert errors == [
            {
                "type": "entity",
                "message": "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
            }
        ]
        schema = http.get("/schemas/plugins/proxy-cache").json()
        assert schema["entity_checks"] == [{"custom_entity_check": {"field_sources": ["config"]}}]
        assert http.get("/schemas/consumers").json()["entity_checks"] == [
            {"at_least_one_of": ["custom_id", "username"]}
        ]


def test_jwt_public_key_is_read_as_openssl_would(client: httpx.Client) -> None:
    """jwt/daos.lua: an RS/PS/EdDSA secret's rsa_public_key must be a key `openssl.pkey.new` reads: the
    PKCS#1 RSA PUBLIC KEY form is refused with Kong's "invalid key" (Kong/kong#2939, #7906)."""
    keys = Path(__file__).parent / "keys"
    consumer = client.post("/consumers", json={"username": "web"}).json()["id"]
    body = refused(
        client,
        f"/consumers/{consumer}/jwt",
        {"algorithm": "RS256", "rsa_public_key": (keys / "rsa.pkcs1.pem").read_text()},
    )
    assert body["fields"] == {
        "@entity": ["failed conditional validation given value of field 'algorithm'"],
        "rsa_public_key": "invalid key",
    }
    for algorithm, name in (("RS256", "rsa.pub.pem"), ("EdDSA", "ed25519.pub.pem")):
        answer = client.post(
            f"/consumers/{consumer}/jwt", json={"algorithm": algorithm, "rsa_public_key": (keys / name).read_text()}
        )
        assert answer.status_code == 201, answer.text
    # HS secrets ignore the field, as the conditional only looks at RS/PS/EdDSA
    assert client.post(f"/consumers/{consumer}/jwt", json={"rsa_public_key": "junk"}).status_code == 201


@pytest.mark.parametrize(
    ("key", "quoted"),
    [
        ('k"ey\\1', '"k\\"ey\\\\1"'),  # %q: quote and backslash escaped
        ("kéy\t9", '"kéy\\0099"'),  # bytes past ASCII as they are; a control character in decimal
        ("k\ney", "[[k\ney]]"),  # a line break: long brackets, the text as it is
        ("k]]ey", "[=[k]]ey]=]"),  # a closing bracket inside: one more `=`
    ],
)
def test_a_unique_violation_quotes_the_value_as_penlight_does(client: httpx.Client, key: str, quoted: str) -> None:
    """kong/db/errors.lua unique_violation: pl.pretty.write(unique_key, ""), whose strings are
    stringx.quote_string (long brackets, else LuaJIT's %q), not JSON (`\\u00e9`, `\\n`)."""
    consumer = client.post("/consumers", json={"username": "c"}).json()
    assert client.post("/key-auths", json={"key": key, "consumer": {"id": consumer["id"]}}).status_code == 201
    answer = client.post("/key-auths", json={"key": key, "consumer": {"id": consumer["id"]}})
    assert answer.status_code == 409
    assert answer.json()["message"] == f"UNIQUE violation detected on '{{key={quoted}}}'"
