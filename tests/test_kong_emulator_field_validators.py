"""The Kong emulator validates every field, and every element, key and value of an array, set or map, as
kong/db/schema/init.lua Schema.validate_field does at tag 3.9.3: the type's checks, a string's default
`len_min = 1`, then the validators in Schema.validators_order with the messages of `validation_errors` (or
the field's own `err`); an array's errors at their positions, a map's first error as the map's. The `match*`
validators read Lua patterns, translated to regexes by tests/emulators/lua_patterns.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from emulators.kong import KongState, check_field, running
from emulators.lua_patterns import lua_match, lua_pattern_regex

UUID = "0b9b6d3c-3f63-4a8b-9d0e-6f0c1b2a3d4e"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with running(KongState()) as kong, httpx.Client(base_url=kong.url) as http:
        yield http


def fields(client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    """The `fields` of Kong's 400 schema violation for a write."""
    answer = client.post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 2
    return answer.json()["fields"]


def plugin(name: str, **config: Any) -> dict[str, Any]:
    return {"name": name, "config": config}


# -- each validator, with Kong's message at the field's position


def test_between_gt_and_timestamp(client: httpx.Client) -> None:
    assert fields(client, "/services", {"host": "h", "retries": 40000}) == {
        "retries": "value should be between 0 and 32767"
    }
    assert fields(client, "/plugins", plugin("rate-limiting", second=0)) == {
        "config": {"second": "value must be greater than 0"}
    }
    assert fields(client, "/services", {"host": "h", "created_at": -5}) == {"created_at": "expected a valid timestamp"}
    # between's %d: a fractional limit is written as an integer (the queue's initial_retry_delay is 0.001..1e6)
    assert fields(client, "/plugins", plugin("http-log", http_endpoint="http://h/", queue={"initial_retry_delay": 0}))[
        "config"
    ] == {"queue": {"initial_retry_delay": "value should be between 0 and 1000000"}}


def test_eq_and_one_of_and_not_one_of(client: httpx.Client) -> None:
    assert fields(client, "/plugins", {**plugin("cors"), "consumer": {"id": UUID}})["consumer"] == "value must be null"
    assert fields(client, "/plugins", {**plugin("key-auth"), "protocols": ["http", "tcp"]}) == {
        "protocols": [None, "expected one of: grpc, grpcs, http, https"]
    }
    tags = [{"name": "lc", "value": "x"}]
    assert fields(client, "/plugins", plugin("zipkin", static_tags=tags)) == {
        "config": {"static_tags": [{"name": "must not be one of: " + ", ".join(ZIPKIN_PROTECTED)}]}
    }


ZIPKIN_PROTECTED = (
    *("error", "http.method", "http.path", "http.status_code", "kong.balancer.state", "kong.balancer.try"),
    *("kong.consumer", "kong.credential", "kong.node.id", "kong.route", "kong.service", "lc", "peer.hostname"),
)


def test_length_validators_count_bytes_items_and_pairs(client: httpx.Client) -> None:
    """A string's length is Lua's `#`: its bytes. A string field without `len_min` refuses "" (len_min 1),
    top-level or nested; one that says `len_min = 0` takes it."""
    assert fields(client, "/services", {"host": "h", "name": ""}) == {"name": "length must be at least 1"}
    assert fields(client, "/plugins", plugin("request-termination", message="")) == {
        "config": {"message": "length must be at least 1"}
    }
    assert fields(client, "/routes", {"paths": ["/"], "protocols": []}) == {"protocols": "length must be at least 1"}
    assert fields(client, "/plugins", plugin("proxy-cache", strategy="memory", response_code=[])) == {
        "config": {"response_code": "length must be at least 1"}
    }
    prompt = {"role": "user", "content": "é" * 300}  # 300 characters, 600 bytes
    decorator = plugin("ai-prompt-decorator", prompts={"prepend": [prompt]})
    assert fields(client, "/plugins", decorator) == {
        "config": {"prompts": {"prepend": [{"content": "length must be at most 500"}]}}
    }
    guard = plugin("ai-prompt-guard", allow_patterns=["a"] * 11)
    assert fields(client, "/plugins", guard) == {"config": {"allow_patterns": "length must be at most 10"}}
    accepted = client.post("/plugins", json=plugin("rate-limiting", minute=1, redis={"password": ""}))
    assert accepted.status_code == 201, accepted.text


def test_match_and_not_match_read_lua_patterns(client: httpx.Client) -> None:
    """request-transformer: `headers` entries match "^[^:]+:.*$", http_method "^%u+$" (typedefs.http_method)."""
    assert fields(client, "/plugins", plugin("request-transformer", add={"headers": ["a:1", "novalue"]})) == {
        "config": {"add": {"headers": [None, "invalid value: novalue"]}}
    }
    assert fields(client, "/plugins", plugin("request-transformer", http_method="get")) == {
        "config": {"http_method": "invalid value: get"}
    }
    assert client.post("/plugins", json=plugin("request-transformer", http_method="PURGE")).status_code == 201
    assert fields(client, "/routes", {"paths": ["/"], "methods": ["GET", "post"]}) == {
        "methods": [None, "invalid value: post"]
    }
    assert check_field({"type": "string", "not_match": "%s"}, "a b") == ("a b", "invalid value: a b")
    assert check_field({"type": "string", "not_match": "%s"}, "ab") == ("ab", None)


def test_match_all_any_none_with_their_err(client: httpx.Client) -> None:
    """typedefs.hosts (match_all, match_any), router_path (match_any, match_none), the routes' header names
    (match_none), typedefs.path (starts_with, match_none); a list item without `err` says "invalid value"."""
    assert fields(client, "/routes", {"hosts": ["a.com", "*.b.*"]}) == {
        "hosts": [None, "invalid wildcard: must have at most one wildcard"]
    }
    assert fields(client, "/routes", {"hosts": ["a.*.com"]}) == {
        "hosts": ["invalid wildcard: must be placed at leftmost or rightmost label"]
    }
    assert fields(client, "/routes", {"paths": ["x"]}) == {
        "paths": ["should start with: / (fixed path) or ~/ (regex path)"]
    }
    assert fields(client, "/routes", {"paths": ["/a//b"]}) == {"paths": ["must not have empty segments"]}
    assert fields(client, "/routes", {"paths": ["/"], "headers": {"Host": ["x"]}}) == {
        "headers": "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
    }
    assert fields(client, "/services", {"host": "h", "path": "a"}) == {"path": "should start with: /"}
    assert check_field({"type": "string", "match_any": {"patterns": ["^a"]}}, "b") == ("b", "invalid value: b")
    assert check_field({"type": "string", "match_none": [{"pattern": "b"}]}, "b") == ("b", "invalid value: b")


def test_uuid_is_regex_and_contains(client: httpx.Client) -> None:
    assert fields(client, "/services", {"host": "h", "protocol": "https", "ca_certificates": [UUID, "x"]}) == {
        "ca_certificates": [None, "expected a valid UUID"]
    }
    assert fields(client, "/plugins", plugin("bot-detection", deny=["ok", "("])) == {
        "config": {"deny": [None, "not a valid regex: ("]}
    }
    jwt = fields(client, "/plugins", plugin("jwt", maximum_expiration=60, claims_to_verify=["nbf"]))
    assert jwt["config"] == {"claims_to_verify": "expected to contain: exp"}


def test_custom_validators_and_references(client: httpx.Client) -> None:
    """typedefs.url (http-log's http_endpoint), typedefs.host; a vault reference in a referenceable field
    skips the validators (init.lua: `field.referenceable and is_reference(value)`)."""
    assert fields(client, "/plugins", plugin("http-log", http_endpoint="not a url")) == {
        "config": {"http_endpoint": "missing host in url"}
    }
    assert fields(client, "/plugins", plugin("http-log", http_endpoint="//h/x")) == {
        "config": {"http_endpoint": "missing scheme in url"}
    }
    assert client.post("/plugins", json=plugin("http-log", http_endpoint="{vault://env/log-url}")).status_code == 201
    assert fields(client, "/services", {"host": "h:8080"}) == {"host": "must not have a port"}
    assert fields(client, "/services", {"host": "bad host"}) == {"host": "invalid value: bad host"}
    redis = plugin("rate-limiting", minute=1, policy="redis", redis={"host": "redis.internal:6379"})
    # the host fails twice: as a field, and in the conditional on policy = redis (its then_match falls back to
    # the field's spec); port and timeout have their defaults by then (process_auto_fields runs first)
    assert fields(client, "/plugins", redis) == {
        "config": {"redis": {"host": "must not have a port"}},
        "@entity": ["failed conditional validation given value of field 'config.policy'"],
    }
    assert fields(client, "/upstreams", {"name": "10.0.0.1"}) == {
        "name": "Invalid name ('10.0.0.1'); no ip addresses allowed"
    }


def test_tracing_plugins_validators(client: httpx.Client) -> None:
    """zipkin validate_static_tags; opentelemetry's header names (typedefs.header_name) and its deprecated
    `endpoint` shorthand, a typedefs.url checked before it is taken (process_auto_fields)."""
    tags = [{"name": "team", "value": "a"}, {"name": "team", "value": "b"}]
    assert fields(client, "/plugins", plugin("zipkin", static_tags=tags)) == {
        "config": {"static_tags": "repeated tags are not allowed: team"}
    }
    assert fields(client, "/plugins", plugin("opentelemetry", endpoint="collector:4318")) == {
        "config": {"endpoint": "missing host in url"}
    }
    otel = plugin("opentelemetry", traces_endpoint="http://collector:4318/v1/traces", headers={"X.Tenant": "a"})
    assert fields(client, "/plugins", otel) == {
        "config": {"headers": "bad header name 'X.Tenant', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}
    }


def test_mutually_exclusive_subsets(client: httpx.Client) -> None:
    assert fields(client, "/routes", {"paths": ["/"], "protocols": ["http", "tcp"]}) == {
        "protocols": "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')"
    }


def test_validators_run_in_kong_order(client: httpx.Client) -> None:
    """match before custom_validator: an entry without a colon is "invalid value", one with a bad header
    name is the custom validator's message (request-transformer validate_headers)."""
    headers = ["x y", "x y:1", "X-Ok:1"]
    assert fields(client, "/plugins", plugin("request-transformer", append={"headers": headers})) == {
        "config": {"append": {"headers": ["invalid value: x y", "'x y' is not a valid header"]}}
    }
    # one_of comes before the type-dependent gt, eq before everything
    spec = {"type": "integer", "one_of": [1, 2], "gt": 5}
    assert check_field(spec, 3) == (3, "expected one of: 1, 2")
    assert check_field({"type": "string", "eq": "a", "len_min": 5}, "b") == ("b", "value must be a")
    assert check_field({"type": "string", "ne": "b"}, "b") == ("b", "value must not be b")
    assert check_field({"type": "string", "len_eq": 2}, "abc") == ("abc", "length must be 2")
    assert check_field({"type": "string", "match": "^a", "err": "own message"}, "b") == ("b", "own message")


# -- aggregates: positions, nulls, maps


def test_elements_are_required_and_errors_keep_their_positions(client: httpx.Client) -> None:
    assert fields(client, "/plugins", plugin("cors", origins=["*", None, "x"])) == {
        "config": {"origins": [None, "required field missing"]}
    }
    assert fields(client, "/routes", {"paths": ["/"], "tags": ["ok", "", "a,b"]}) == {
        "tags": [
            None,
            "length must be at least 1",
            "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
        ]
    }


def test_sets_drop_repeats_before_their_elements_are_checked(client: httpx.Client) -> None:
    """init.lua make_set runs in process_auto_fields, so positions are those of the set without repeats."""
    assert fields(client, "/routes", {"paths": ["/"], "tags": ["a", "a", "b/c"]}) == {
        "tags": [None, "invalid tag 'b/c': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"]
    }
    created = client.post("/routes", json={"paths": ["/"], "methods": ["GET", "GET", "POST"]})
    assert created.json()["methods"] == ["GET", "POST"]


def test_map_keys_then_values_first_error_is_the_maps(client: httpx.Client) -> None:
    endpoint = "http://h/"
    assert fields(client, "/plugins", plugin("http-log", http_endpoint=endpoint, headers={"X-A": ""})) == {
        "config": {"headers": "length must be at least 1"}
    }
    assert fields(client, "/plugins", plugin("http-log", http_endpoint=endpoint, headers={"bad name": "x"})) == {
        "config": {"headers": "bad header name 'bad name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}
    }
    assert fields(client, "/plugins", plugin("http-log", http_endpoint=endpoint, headers={"Content-Type": "x"})) == {
        "config": {"headers": "cannot contain 'Content-Type' header"}
    }
    # http-log's own pattern has [nn] for the n of Length: Kong lets "Content-LeNgth" through
    accepted = client.post("/plugins", json=plugin("http-log", http_endpoint=endpoint, headers={"Content-LeNgth": "1"}))
    assert accepted.status_code == 201, accepted.text


def test_records_in_arrays_are_filled_and_checked(client: httpx.Client) -> None:
    assert fields(client, "/routes", {"protocols": ["tcp"], "sources": [{"ip": "10.0.0.0/8"}, {}]}) == {
        "sources": [None, {"@entity": ["at least one of these fields must be non-empty: 'ip', 'port'"]}]
    }
    created = client.post("/routes", json={"protocols": ["tcp"], "sources": [{"ip": "10.0.0.0/8"}]})
    assert created.json()["sources"] == [{"ip": "10.0.0.0/8", "port": None}]


def test_integral_numbers_are_integers(client: httpx.Client) -> None:
    """cjson reads 8080.0 as the number 8080, which is an integer to validate_field."""
    created = client.post("/services", json={"host": "h", "port": 8080.0})
    assert created.status_code == 201, created.text
    assert created.json()["port"] == 8080
    assert fields(client, "/services", {"host": "h", "port": 80.5}) == {"port": "expected an integer"}


# -- Lua patterns


@pytest.mark.parametrize(
    ("pattern", "subject", "found"),
    [
        ("^%u+$", "GET", True),
        ("^%u+$", "Get", False),
        ("^%l+$", "get", True),
        ("^%d%d?%d?$", "255", True),
        ("^%d%d?%d?$", "2555", False),
        ("^%a+$", "abcXYZ", True),
        ("^%a+$", "ab1", False),
        ("^%w+$", "ab1", True),
        ("%s", "a b", True),
        ("%s", "a\tb", True),
        ("%s", "ab", False),
        ("^%p+$", "!-.", True),
        ("^%x+$", "0fA9", True),
        ("^%x+$", "0g", False),
        ("^%S+$", "ab", True),
        ("^%S+$", "a b", False),
        ("%.", "a.b", True),
        ("%.", "ab", False),
        ("a.b", "axb", True),
        ("^[^:]+:.*$", "name:value", True),
        ("^[^:]+:.*$", ":value", False),
        ("^[%w%.%-_~]+$", "a-b.c_d~e", True),
        ("^[%w%.%-_~]+$", "a b", False),
        ("^[a-c]+$", "abcab", True),
        ("^[a-c]+$", "abd", False),
        ("^[]]$", "]", True),
        ("^[^]]$", "a", True),
        ("^x.-y$", "xaybzy", True),
        ("^a-$", "aaa", True),
        ("^ab?c$", "ac", True),
        ("^a*$", "", True),
        ("b", "abc", True),  # unanchored: string.match finds anywhere
        ("a^b", "a^b", True),  # ^ not first is a character
        ("a$b", "a$b", True),  # $ not last is a character
        ("^.$", "é", False),  # Lua sees the two bytes of "é"
        ("^..$", "é", True),
        ("^[Hh][Oo][Ss][Tt]$", "HoSt", True),
        ("a+", "x(a+)", True),
        ("^%(%)$", "()", True),
        ("[%]]", "]", True),
        ("^%*%.", "*.a.com", True),
        ("%.%*$", "a.*", True),
    ],
)
def test_lua_pattern(pattern: str, subject: str, found: bool) -> None:
    assert lua_match(subject, pattern) is found


def test_lua_pattern_captures_and_unsupported_items() -> None:
    captured = lua_pattern_regex("^([^:]+):*(.-)$").search(b"X-Name:value")
    assert captured is not None and (captured[1], captured[2]) == (b"X-Name", b"value")
    for unsupported in ("%b()", "%f[%a]", "(a)%1"):
        with pytest.raises(ValueError):
            lua_pattern_regex(unsupported)
    with pytest.raises(ValueError):
        lua_pattern_regex("[a")


# -- numbers as Kong reads them


def test_regex_priority_beyond_what_kong_stores(client: httpx.Client) -> None:
    """routes.regex_priority is an integer with no bound (kong/db/schema/entities/routes.lua at 3.9.1), but cjson
    reads a JSON number as a double (kong/tools/cjson.lua): past 2^53 it is rounded, past the double's range it is
    inf, which the integer check refuses (kong/db/schema/init.lua validate_field). The column is a BIGINT
    (kong/db/migrations/core/000_base.lua) written with fmt("%16.f") (kong/db/strategies/postgres/init.lua
    escape_literal): past 2^63 Postgres refuses it, a database error, the Admin API's 500 (kong/api/api_helpers.lua)."""
    route = {"paths": ["~/v1/[a-z]+$"]}
    stored = client.post("/routes", json={**route, "regex_priority": 2**53 + 1})
    assert stored.status_code == 201, stored.text
    assert stored.json()["regex_priority"] == 2**53
    # 2^63 - 1 is no double: it is read as 2^63, one past the bigint range
    for value in (2**63 - 1, -(2**63) - 2048, 10**30):
        refused = client.post("/routes", json={**route, "regex_priority": value})
        assert (refused.status_code, refused.json()) == (500, {"message": "An unexpected error occurred"}), value
    assert client.post("/routes", json={**route, "regex_priority": -(2**63)}).status_code == 201
    assert fields(client, "/routes", {**route, "regex_priority": 10**400}) == {"regex_priority": "expected an integer"}


@pytest.mark.parametrize("text", ['{"_format_version": "3.0", "routes": [%s]}', "_format_version: '3.0'\nroutes: [%s]"])
def test_declarative_numbers_are_doubles(text: str) -> None:
    """DB-less Kong reads its declarative config with cjson or lyaml, both into doubles; nothing is in Postgres."""
    route = '{"name": "r%d", "paths": ["/r%d"], "regex_priority": %d}'
    config = text % ", ".join(route % (i, i, v) for i, v in enumerate((2**53 + 1, 2**63, 10**400)))
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as http:
        answer = http.post("/config", json={"config": config})
        assert answer.status_code == 400, answer.text
        assert answer.json()["fields"]["routes"] == [{"regex_priority": "expected an integer"}]
        answer = http.post("/config", json={"config": config.replace(str(10**400), "0")})
        assert answer.status_code == 201, answer.text
        assert sorted(r["regex_priority"] for r in answer.json()["routes"].values()) == [0, 2**53, 2**63]


TTL_REFUSED = {
    "code": 11,
    "name": "invalid options",
    "message": "invalid option (ttl: must be an integer between 0 and 100000000)",
    "options": {"ttl": "must be an integer between 0 and 100000000"},
}


def test_a_credential_ttl_is_an_option_kong_bounds(client: httpx.Client) -> None:
    """On an entity whose schema says `ttl = true` (kong/plugins/key-auth/daos.lua) a write's `ttl` is an option
    (kong/api/endpoints.lua extract_options), which the DAO checks before the schema and before reading the entity
    (kong/db/dao/init.lua validate_options_value, DAO_MAX_TTL of kong/constants.lua, all at 3.9.1): a 400 invalid
    options (kong/db/errors.lua). On any other entity `ttl` is an unknown field."""
    consumer = client.post("/consumers", json={"username": "alice"}).json()
    for ttl in (100_000_001, -1, 1.5, 10**400):
        answer = client.post("/consumers/alice/key-auth", json={"key": "k1", "ttl": ttl})
        assert (answer.status_code, answer.json()) == (400, TTL_REFUSED), ttl
    answer = client.put("/key-auths/k2", json={"consumer": {"id": consumer["id"]}, "ttl": 100_000_001})
    assert (answer.status_code, answer.json()) == (400, TTL_REFUSED)
    answer = client.patch(f"/key-auths/{UUID}", json={"ttl": -5})  # not there: the option is checked first
    assert (answer.status_code, answer.json()) == (400, TTL_REFUSED)
    # ...and before the schema: a key that is no string is not reported
    answer = client.post("/consumers/alice/key-auth", json={"key": 5, "ttl": -1})
    assert (answer.status_code, answer.json()) == (400, TTL_REFUSED)
    assert client.post("/consumers/alice/key-auth", json={"key": "k3", "ttl": 100_000_000}).status_code == 201
    assert client.post("/consumers/alice/key-auth", json={"key": "k4", "ttl": "60"}).status_code == 201
    answer = client.post("/consumers/alice/key-auth", json={"key": "k5", "ttl": None})  # math.floor(null) raises
    assert (answer.status_code, answer.json()) == (500, {"message": "An unexpected error occurred"})
    assert fields(client, "/consumers", {"username": "bob", "ttl": 60}) == {"ttl": "unknown field"}
    # and /schemas shows it as Kong serializes the schema: `ttl: true`, no ttl among the fields
    schema = client.get("/schemas/keyauth_credentials").json()
    assert schema["ttl"] is True and not [f for f in schema["fields"] if "ttl" in f]
    assert [next(iter(f)) for f in schema["fields"]] == ["id", "created_at", "consumer", "key", "tags"]


def test_a_credential_ttl_is_checked_when_dbless_too() -> None:
    """DB-less Kong runs the DAO's option check before its strategy refuses the write."""
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as http:
        kong.state.seed("consumers", {"username": "alice"})
        answer = http.post("/consumers/alice/key-auth", json={"key": "k1", "ttl": 100_000_001})
        assert (answer.status_code, answer.json()) == (400, TTL_REFUSED)
        assert http.post("/consumers/alice/key-auth", json={"key": "k1", "ttl": 60}).status_code == 405


def test_a_credential_ttl_reads_as_the_seconds_left(client: httpx.Client) -> None:
    """Postgres keeps the time a credential expires, the write's ttl added to its time (kong/db/strategies/
    postgres/init.lua get_ttl_value at 3.9.1), and a read shows FLOOR(ttl - CURRENT_TIMESTAMP): the seconds
    left, never the ttl written. A write without the option (a PUT, a PATCH too: an update's ttl is its option)
    leaves none."""
    client.post("/consumers", json={"username": "alice"})
    created = client.post("/consumers/alice/key-auth", json={"key": "k1", "ttl": 3600}).json()
    listed = client.get("/key-auths").json()["data"]
    for read in (client.get("/key-auths/k1").json(), listed[0], client.get("/consumers/alice/key-auth/k1").json()):
        assert 3598 <= read["ttl"] <= 3600, read
    answer = client.patch(f"/key-auths/{created['id']}", json={"tags": ["t"]})
    assert answer.json()["ttl"] is None and client.get("/key-auths/k1").json()["ttl"] is None
    client.put("/key-auths/k1", json={"consumer": {"id": created["consumer"]["id"]}, "ttl": 60})
    assert 58 <= client.get("/key-auths/k1").json()["ttl"] <= 60
    client.put("/key-auths/k1", json={"consumer": {"id": created["consumer"]["id"]}})
    assert client.get("/key-auths/k1").json()["ttl"] is None


def test_a_declarative_ttl_is_the_time_the_credential_expires() -> None:
    """DB-less Kong keeps a declarative credential's `ttl` as given and reads it as `ttl - ngx.time()`, leaving
    out an entity with none left (kong/db/strategies/off/init.lua process_ttl_field at 3.9.1; the declarative
    ttl is the expiry time an export from Postgres holds, Kong commit 48dc2ef987): a ttl of 3600 expired an
    hour into 1970, so the credential is in no list, not found, and not in the export; one that is a time to
    come reads as the seconds left, in the export too."""
    later = int(time.time()) + 600
    config = {
        "_format_version": "3.0",
        "consumers": [
            {
                "username": "alice",
                "keyauth_credentials": [
                    {"id": UUID, "key": "seconds", "ttl": 3600},
                    {"key": "expiry-time", "ttl": later},
                ],
            }
        ],
    }
    with running(KongState(dbless=True)) as kong, httpx.Client(base_url=kong.url) as http:
        assert http.post("/config", json=config).status_code == 201
        assert [c["key"] for c in http.get("/key-auths").json()["data"]] == ["expiry-time"]
        assert http.get("/key-auths/seconds").status_code == 404
        assert http.get(f"/key-auths/{UUID}").status_code == 404
        assert 598 <= http.get("/key-auths/expiry-time").json()["ttl"] <= 600
        exported = yaml.safe_load(http.get("/config").json()["config"])["keyauth_credentials"]
        assert [(c["key"], 598 <= c["ttl"] <= 600) for c in exported] == [("expiry-time", True)]
