"""A Kong 3.x Admin API emulator over real HTTP on 127.0.0.1: stateful, with the behaviour gatewayctl relies
on reproduced from Kong 3.9's source (kong/api/endpoints.lua, kong/db/errors.lua, kong/api/routes/config.lua,
kong/api/routes/upstreams.lua, kong/plugins/basic-auth/crypto.lua):

- `GET /` (version, edition, configuration.database, plugins.available_on_server), `GET /status`
  (database.reachable, or configuration_hash when DB-less), `GET /schemas/<dao>`, `GET /schemas/plugins/<name>`
- CRUD: `GET/POST /<collection>`, `GET/PUT/PATCH/DELETE /<collection>/<id or endpoint key>` (a key that is
  neither, where there is no endpoint key, is a 400 invalid primary key); PUT is an upsert that replaces the
  whole entity (omitted fields fall back to defaults) and keeps the endpoint key the path names; PATCH of a
  missing entity is Kong's 404 not-found error; DELETE answers 204 even when nothing was there
- nested, as kong/api/endpoints.lua generates them: `/services/<s>/routes`, `/{services,routes,consumers}/<x>/
  plugins`, `/consumers/<c>/{key-auth,basic-auth,jwt,oauth2,acls}` (acls also by group name,
  kong/plugins/acl/api.lua), each with `/<id or key>`; the path's parent wins over the body's; GET, PATCH and
  DELETE of a child of another parent are 404; nested lists ignore `tags`; `/routes/<r>/service` and the other
  foreign key endpoints; `GET /consumers?custom_id=`
- targets only under `/upstreams/<u>/targets` (kong/db/dao/targets.lua): addresses get port 8000, lists are
  newest first with a numeric offset and no tag filter, PUT and PATCH only update an existing one
- the services `url` shorthand (socket.url.parse; it wins over protocol/host/port/path)
- every field, and every element, key and value of an array, set or map, validated as Schema.validate_field
  does: the type's checks, a string's default `len_min` of 1 ("" is a value, refused), then the validators in
  Schema.validators_order (between, eq, ne, gt, len_*, match* with Lua patterns, starts_with, one_of, ...)
  with Kong's messages, per position for arrays and sets
- the schemas' `entity_checks` (at_least_one_of, only_one_of, distinct, conditional, conditional_at_least_one_of,
  mutually_required, mutually_exclusive, custom_entity_check) and custom validators, run and reported as
  kong/db/schema/init.lua does, where kong_schemas.py declares them (services, upstreams, consumers, the
  plugins gatewayctl renders)
- numbers read as Kong's cjson and lyaml read them, as doubles (an integer past 2^53 rounded, one past the
  double's range inf); a route's `regex_priority` past Postgres' bigint is a 500 (a database error), not when DB-less
- a key-auth credential's `ttl` taken as the write's option (kong/api/endpoints.lua extract_options) and checked
  first, DB-less too: 400 code 11 invalid options past DAO_MAX_TTL (kong/db/dao/init.lua validate_options_value)
- defaults filled on write, `created_at`/`updated_at`, basic-auth passwords stored as sha1(password..consumer_id)
- every plugin Kong OSS 3.9 bundles (kong_schemas.py); a plugin's `shorthand_fields` taken on writes (a
  deprecated one refused when its replacement holds another value) and, when deprecated with a named
  replacement (rate-limiting's `redis_host`), shown again on every answer that holds the plugin
  (kong/db/schema/init.lua process_auto_fields); consumer/service/route refused where the schema says so
- errors with Kong's bodies: 400 code 2 schema violation (`fields`, entity checks under `@entity`), 400 code 4
  foreign keys (a missing reference, or deleting a service its routes still use), 409 code 5
  `UNIQUE violation detected on '{...}'`, 404 `{"message":"Not found"}`, 405 code 12 for writes when DB-less
  (after the schema checks; deleting what is not there is still a 204)
- paging: `size` (read as Lua's tonumber, default 100, 1 to 1000) and `offset` (base64 of the last key),
  `next` (top-level: with tags and size; nested: offset only); DB-less filters tags after reading a page
- tags: `?tags=a,b` (all of them) or `?tags=a/b` (any of them); `GET /tags`
- DB-less: `POST /config` ({"config": "<text>"} or the object itself), `check_hash=1` -> 304 when the text's md5
  is the running hash, `flatten_errors=1`, `_info` refused as an unknown field; past the schema, a unique
  endpoint key or an id declared twice, a reference to nothing and a unique field held twice refused as
  kong/db/schema/others/declarative_config.lua does, with errors.lua's shapes and flatten_errors' quirks
  (declarative_refusal); `GET /config`
- fault injection: fail the Nth matching request with a status (and Retry-After), drop the connection (before
  or after doing the work), reset it (TCP RST), delay; or a seeded random share of faulty requests

Run on its own for manual trials: `python -m tests.emulators.kong --port 18001 [--dbless]`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
import ssl
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote, unquote

import yaml

try:
    from . import server
    from .kong_schemas import (
        COLLECTIONS,
        CREDENTIAL_PLUGIN,
        DBLESS_PLUGINS,
        ENTITIES,
        PLUGINS,
        SHORTHAND_TARGETS,
        SHORTHAND_VALUES,
        lua_url_parse,
        normalize_ip,
    )
    from .lua_patterns import lua_match
    from .server import ApiError, EmulatorHandler, EmulatorState, Fault, RandomFaults, Request
except ImportError:  # run as a script
    import server  # type: ignore[no-redef,import-not-found]
    from kong_schemas import (  # type: ignore[no-redef,import-not-found]
        COLLECTIONS,
        CREDENTIAL_PLUGIN,
        DBLESS_PLUGINS,
        ENTITIES,
        PLUGINS,
        SHORTHAND_TARGETS,
        SHORTHAND_VALUES,
        lua_url_parse,
        normalize_ip,
    )
    from lua_patterns import lua_match  # type: ignore[no-redef,import-not-found]
    from server import (  # type: ignore[no-redef]
        ApiError,
        EmulatorHandler,
        EmulatorState,
        Fault,
        RandomFaults,
        Request,
    )


UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
TAG_BYTES = r"[\x20-\x2B\x2D\x2E\x30-\x7E\x80-\U0010FFFF]+"
UTF8_NAME = re.compile(r"^[\w.\-~\x80-\U0010FFFF]+$")
TAGS_AND = re.compile(rf"^({TAG_BYTES}(,|$))+$")
TAGS_OR = re.compile(rf"^({TAG_BYTES}(/|$))+$")
EMPTY_HASH = "0" * 32
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same data, 10x faster
SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
NAME_FIELDS = {"services": ("name",), "routes": ("name",), "plugins": ("instance_name",)}  # typedefs.utf8_name
CHILD_KEYS = {  # declarative config nesting: parent dao -> {key: child dao}
    "services": {"routes": "routes", "plugins": "plugins"},
    "routes": {"plugins": "plugins"},
    "consumers": {
        "plugins": "plugins",
        "keyauth_credentials": "keyauth_credentials",
        "basicauth_credentials": "basicauth_credentials",
        "jwt_secrets": "jwt_secrets",
        "oauth2_credentials": "oauth2_credentials",
        "acls": "acls",
    },
    "upstreams": {"targets": "targets"},
}
FK_OF_PARENT = {"services": "service", "routes": "route", "consumers": "consumer", "upstreams": "upstream"}


def not_found() -> ApiError:
    return ApiError(404, {"message": "Not found"})


def pretty(value: Any) -> str:
    """Penlight's pretty.write(t, "") as Kong uses it in messages: {name="x",port=80}."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={pretty(v)}" for k, v in sorted(value.items())) + "}"
    if value is None:
        return "null"
    if isinstance(value, str):
        return penlight_quote(value)
    return json.dumps(value)


def penlight_quote(text: str) -> str:
    """Penlight's stringx.quote_string, which pretty.write uses for strings, under LuaJIT: long brackets for a
    string with a line break or a `[[`/`]=]`-like sequence (unless it holds a carriage return), the text as
    it is inside; else `%q` (lj_strfmt_putquoted): `"`, `\\` and a line break after a backslash, other control
    characters as decimal `\\ddd`, bytes past ASCII as they are."""
    level = _long_quote_level(text + "]")
    if ("\n" in text or level is not None) and "\r" not in text:
        equals = "=" * ((level if level is not None else -1) + 1)
        return f"[{equals}[{chr(10) if text.startswith(chr(10)) else ''}{text}]{equals}]"
    data = text.encode("utf-8", "surrogateescape")
    out = bytearray(b'"')
    for at, byte in enumerate(data):
        if byte in b'"\\\n':
            out += b"\\" + bytes([byte])
        elif byte < 32 or byte == 127:
            out += b"\\" + (f"{byte:03d}" if data[at + 1 : at + 2].isdigit() else str(byte)).encode()
        else:
            out.append(byte)
    return (out + b'"').decode("utf-8", "surrogateescape")


_LONG_QUOTE = re.compile(r"([\[\]])(=*)\1")  # pl/stringx.lua has_lquote: '([%[%]])(=*)%1'


def _long_quote_level(text: str) -> int | None:
    """has_lquote: the most `=` in a `[[`, `]]`, `[=[`, ... sequence of `text`, None when it has none (each
    search starting on the last character of the previous match, as Lua's `find` from `finish`)."""
    level: int | None = None
    at = 0
    while (found := _LONG_QUOTE.search(text, at)) is not None:
        level = max(level or 0, len(found.group(2)))
        at = found.end() - 1
    return level


def lua_pretty(value: Any, indent: str = "") -> str:
    """Penlight's pretty.write(t) as kong/db/errors.lua uses it for an error nested below a field's own
    (config.redis: {host = ...}): one entry a line, two spaces deeper, keys in order; a string as is."""
    if isinstance(value, str) and not indent:
        return value
    inner = indent + "  "
    if isinstance(value, dict):
        keys = sorted(value)
        lines = [
            f"{inner}{k if re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', k) else json.dumps(k).join('[]')} = "
            f"{lua_pretty(value[k], inner)}"
            for k in keys
        ]
    elif isinstance(value, list):
        # ipairs up to the first hole, then the other positions as `[n] = ...`
        run = next((i for i, v in enumerate(value) if v is None), len(value))
        lines = [f"{inner}{lua_pretty(v, inner)}" for v in value[:run]]
        lines += [f"{inner}[{i}] = {lua_pretty(v, inner)}" for i, v in enumerate(value, 1) if i > run and v is not None]
    elif isinstance(value, str):
        return penlight_quote(value)
    else:
        return json.dumps(value)
    return "{\n" + ",\n".join(lines) + "\n" + indent + "}"


def primary_key_violation(entity_id: str) -> ApiError:
    return ApiError(
        400,
        {
            "code": 3,
            "name": "primary key violation",
            "message": f"primary key violation on key '{pretty({'id': entity_id})}'",
            "fields": {"id": entity_id},
        },
    )


def schema_violation(errors: dict[str, Any]) -> ApiError:
    # entity check failures ("@entity") come first, then the fields by name (kong/db/errors.lua)
    parts: list[str] = list(errors.get("@entity") or [])
    for name in sorted(n for n in errors if n != "@entity"):
        value = errors[name]
        if isinstance(value, list):
            parts.extend(f"{name}.{i}: {v}" for i, v in enumerate(value, 1) if v is not None)
        elif isinstance(value, dict):
            parts.extend(f"{name}.{sub}: {lua_pretty(value[sub])}" for sub in sorted(value))
        else:
            parts.append(f"{name}: {value}")
    message = (
        f"schema violation ({parts[0]})" if len(parts) == 1 else f"{len(parts)} schema violations ({'; '.join(parts)})"
    )
    return ApiError(400, {"code": 2, "name": "schema violation", "message": message, "fields": errors})


def invalid_primary_key() -> ApiError:
    """A key that is no UUID on a collection without an endpoint key (kong/db/dao/init.lua, select)."""
    return ApiError(
        400,
        {
            "code": 1,
            "name": "invalid primary key",
            "message": "invalid primary key: '{id=\"expected a valid UUID\"}'",
            "fields": {"id": "expected a valid UUID"},
        },
    )


def entity_not_found(field: str, value: str) -> ApiError:
    """PATCH of an entity that is not there (kong/db/errors.lua not_found, not_found_by_field)."""
    where = f"primary key '{pretty({field: value})}'" if field == "id" else f"'{pretty({field: value})}'"
    return ApiError(
        404,
        {
            "code": 6,
            "name": "not found",
            "message": f"could not find the entity with {where}",
            "fields": {field: value},
        },
    )


def operation_unsupported(operation: str, dao: str, by: str | None = None) -> ApiError:
    """A write when DB-less (kong/db/strategies/off/init.lua: unsupported, unsupported_by)."""
    by_text = f" by '{by}'" if by else ""
    return ApiError(
        405,
        {
            "code": 12,
            "name": "operation unsupported",
            "message": f"cannot {operation} '{dao}' entities{by_text} when not using a database",
        },
    )


def invalid_size(message: str) -> ApiError:
    return ApiError(400, {"code": 9, "name": "invalid size", "message": message})


def page_size(query: dict[str, str]) -> int | None:
    """`size` read as Lua's tonumber reads it (kong/api/endpoints.lua, get_page_size): 5, 5.0, 1e1, 0x10."""
    text = query.get("size")
    if text is None:
        return None
    number = lua_tonumber(text)
    if number is None:
        raise invalid_size("size must be a number")
    if (
        not math.isfinite(number) or number != int(number) or not 1 <= number <= 1000
    ):  # kong/db/dao/init.lua, validate_size_value
        raise invalid_size("size must be an integer between 1 and 1000")
    return int(number)


def lua_json_int(text: str) -> int | float:
    """A JSON integer as cjson reads it (kong/tools/cjson.lua, lua-cjson's strtod): every number is a Lua
    number, a double, so one beyond 2^53 comes out rounded to the nearest double and one beyond the double's
    range as inf, which no integer field then takes ("expected an integer")."""
    value = int(text)
    if abs(value) <= 2**53:
        return value
    as_double = float(text)
    return as_double if math.isinf(as_double) else int(as_double)


def lua_numbers(doc: Any) -> Any:
    """A parsed YAML document's integers as lyaml hands them to Kong (tonumber: doubles), see lua_json_int."""
    if isinstance(doc, dict):
        return {k: lua_numbers(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [lua_numbers(v) for v in doc]
    if isinstance(doc, int) and not isinstance(doc, bool) and abs(doc) > 2**53:
        return lua_json_int(str(doc))
    return doc


# Integer fields without a schema bound whose Postgres column is a BIGINT (kong/db/migrations/core/000_base.lua
# at 3.9.1): the Postgres strategy writes the double with fmt("%16.f") (kong/db/strategies/postgres/init.lua
# escape_literal), and Postgres refuses a literal beyond the bigint range ("out of range for type bigint"),
# which reaches the Admin API as a database error: 500 "An unexpected error occurred" (kong/api/api_helpers.lua).
PG_BIGINT_FIELDS = {"routes": ("regex_priority",)}


def lua_tonumber(text: str) -> float | None:
    text = text.strip()
    if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+", text):
        return float(int(text, 16))
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return float(text)
    return None


def expand_url_shorthand(body: dict[str, Any]) -> dict[str, Any]:
    """The services `url` shorthand (kong/db/schema/entities/services.lua, shorthand_fields): it sets all of
    protocol, host, port and path, over whatever the body also says (process_auto_fields in
    kong/db/schema/init.lua: a shorthand without `deprecation` wins); a url without a path sets path null."""
    if "url" not in body or body["url"] is None:
        return body
    url, error = check_field({"type": "string"}, body["url"])  # the shorthand's own spec, checked first
    if error is not None:
        raise schema_violation({"url": error})
    out = {k: v for k, v in body.items() if k != "url"}
    parsed = lua_url_parse(url)
    port_text = parsed.get("port")
    port: Any = int(port_text) if port_text and port_text.isdigit() else port_text
    fallback = "http" if port == 80 else "https" if port == 443 else None
    protocol = parsed.get("scheme") or fallback or "http"
    if port is None:
        port = 80 if protocol == "http" else 443 if protocol == "https" else 80
    out.update(protocol=protocol, host=parsed.get("host"), port=port, path=parsed.get("path"))
    return out


# ---------------------------------------------------------------------- state


class KongState(EmulatorState):
    def __init__(
        self,
        *,
        dbless: bool = False,
        version: str = "3.9.1",
        edition: str = "community",
        plugins: list[str] | None = None,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency)
        self.dbless = dbless
        self.version = version
        self.edition = edition
        self.available = sorted(plugins if plugins is not None else PLUGINS)
        self.plugins = DBLESS_PLUGINS if dbless else PLUGINS  # the schemas as this Kong loaded them
        self.store: dict[str, dict[str, dict[str, Any]]] = {dao: {} for dao in ENTITIES}
        self._indexes: dict[str, tuple[dict[str, dict[str, Any]], dict[tuple[str, ...], dict[str, str]]]] = {}
        self.config_hash = EMPTY_HASH
        self.requests: list[Request] = []
        self.config_busy: Fault | None = None

    # -- test helpers

    def writes(self) -> list[Request]:
        """Requests that can change something: not GETs, nor the schema checks (`/schemas/.../validate`)."""
        return [r for r in self.requests if r.method != "GET" and not r.path.startswith("/schemas/")]

    def entities(self, dao: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(e) for e in self.store[dao].values()]

    def seed(self, dao: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create an entity directly (as another team would through the API), bypassing DB-less read-only."""
        with self.lock:
            return self.upsert(dao, body.get("id") or str(uuid.uuid4()), body, replace=True)

    # -- schema

    def schema(self, dao: str, body: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
        fields = [next(iter(f.items())) for f in ENTITIES[dao]["fields"]]
        if dao == "plugins" and body is not None and body.get("name") in PLUGINS:
            own = dict(next(iter(f.items())) for f in self.plugins[body["name"]]["fields"])
            fields = [(n, own.get(n, s)) for n, s in fields]
        return fields

    def fill(self, dao: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(entity with defaults, schema errors)."""
        errors: dict[str, Any] = {}
        if dao == "plugins":
            name = body.get("name")
            if name is None:
                errors["name"] = "required field missing"
            elif name not in self.available or name not in PLUGINS:
                errors["name"] = f"plugin '{name}' not enabled; add it to the 'plugins' configuration property"
        # an empty string is a value like any other (a JSON body is not put through kong/api/arguments.lua
        # infer_value): a string field refuses it with its `len_min` (1 unless the schema says otherwise)
        fields = self.schema(dao, body)
        config_spec = dict(fields).get("config", {})
        if dao == "plugins" and isinstance(body.get("config"), dict):
            shorthand_errors: dict[str, Any] = {}
            body = {**body, "config": _take_shorthands(config_spec, body["config"], shorthand_errors)}
            if shorthand_errors:  # process_auto_fields fails before any validation
                return body, {"config": shorthand_errors}
        out = _fill_record(fields, body, errors, top=True)
        for field in NAME_FIELDS.get(dao, ()):
            value = out.get(field)
            if isinstance(value, str) and field not in errors and not UTF8_NAME.fullmatch(value):
                # kong/db/schema/typedefs.lua validate_utf8_name
                errors[field] = (
                    f"invalid value '{value}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
                )
        if dao == "routes" and isinstance(out.get("protocols"), list) and "protocols" not in errors:
            _route_checks(body, out, errors)
        # the entity checks of the entity's schema, then those of the plugin's (the plugin schema's
        # entity_checks are the entity's own: kong/db/schema/plugin_loader.lua)
        checks = list(ENTITIES[dao].get("entity_checks") or [])
        if dao == "plugins" and body.get("name") in self.plugins:
            checks += self.plugins[body["name"]].get("entity_checks") or []
        run_entity_checks(checks, fields, {**body, **out}, errors)
        if dao == "targets" and isinstance(out.get("target"), str) and "target" not in errors:
            formatted = format_target(out["target"])
            if formatted is None and self.dbless:  # the schema's validate_target (kong/db/schema/entities/targets.lua)
                errors["target"] = f"Invalid target ('{out['target']}'); not a valid hostname or ip address"
            elif formatted is None:  # kong/db/dao/targets.lua, format_target
                errors["target"] = "Invalid target; not a valid hostname or ip address"
            elif not self.dbless:
                # the DAO's insert and upsert write it formatted; a declarative load keeps the text it was given
                # (kong/db/declarative/import.lua writes entities without the DAO)
                out["target"] = formatted
        return out, errors

    def validate(self, dao: str, body: dict[str, Any]) -> None:
        """Schema checks alone: DB-less Kong runs them before it refuses the write (kong/db/dao/init.lua)."""
        body = self.resolve_foreign(dao, expand_url_shorthand(body) if dao == "services" else body)
        _, errors = self.fill(dao, body)
        if errors:
            raise schema_violation(errors)

    # -- writes

    def upsert(
        self, dao: str, entity_id: str, body: dict[str, Any], *, replace: bool, partial: bool = False
    ) -> dict[str, Any]:
        existing = self.store[dao].get(entity_id)
        # a given created_at is Kong's to keep (process_auto_fields sets only a missing one), so it is validated;
        # a given updated_at is always replaced before validation
        given_created = body.get("created_at")
        given = set(body)
        if dao == "services":
            body = expand_url_shorthand(body)
        body = self.resolve_foreign(dao, body)
        if partial:
            if existing is None:
                raise not_found()
            # an update's ttl is its option alone: Postgres sets the column from it, null without one
            merged = {k: v for k, v in existing.items() if k not in ("created_at", "updated_at", "ttl")}
            merged.update(body)
            body = merged
        body = {k: v for k, v in body.items() if k not in ("created_at", "updated_at")}
        body["id"] = entity_id
        entity, errors = self.fill(dao, body)
        if given_created is not None:
            _, error = check_field(dict(self.schema(dao))["created_at"], given_created)
            if error is not None:
                errors["created_at"] = error
        if errors:
            raise schema_violation(errors)
        if any(not -(2**63) <= (entity.get(name) or 0) < 2**63 for name in PG_BIGINT_FIELDS.get(dao, ())):
            # Postgres refuses the statement as it parses it: before any foreign key or unique constraint
            raise ApiError(500, {"message": "An unexpected error occurred"})
        self._check_foreign(dao, entity)
        self._check_unique(dao, entity)
        if dao == "basicauth_credentials":
            password = entity.get("password")
            stored = existing.get("password") if existing and partial else None
            if password != stored:
                entity["password"] = _basic_auth_hash(str(password), entity["consumer"]["id"])
        if dao == "oauth2_credentials" and entity.get("hash_secret") and (not partial or "hash_secret" in given):
            # kong/db/schema/init.lua run_transformations: when the write gives its input, hash_secret (a PUT
            # or POST has it filled in), on the secret the entity then holds
            entity["client_secret"] = _oauth2_secret_hash(str(entity["client_secret"]))
        # targets' timestamps are in seconds with milliseconds (typedefs.auto_timestamp_ms), others whole seconds
        now: float = round(time.time(), 3) if dao == "targets" else int(time.time())
        entity["created_at"] = existing["created_at"] if existing else now
        if ENTITIES[dao].get("ttl"):
            # Postgres keeps the time the entity expires: the ttl option added to the write's time, null for
            # none or 0 (kong/db/strategies/postgres/init.lua get_ttl_value); reads show the seconds left
            ttl = entity.get("ttl")
            entity["ttl"] = int(now) + ttl if ttl else None
        if "updated_at" in dict(self.schema(dao)):
            entity["updated_at"] = now
        if not self.dbless:
            for name, spec in self.schema(dao, entity):
                if spec.get("type") in PG_JSON_TYPES and entity.get(name) is not None:
                    entity[name] = cjson_numbers(entity[name], PG_JSON_DIGITS)
        if existing is not None:
            self._index(dao, existing, add=False)
        self.store[dao][entity_id] = entity
        self._index(dao, entity, add=True)
        return copy.deepcopy(entity)

    def resolve_foreign(self, dao: str, body: dict[str, Any]) -> dict[str, Any]:
        """A foreign key given by the other entity's unique fields ({"name": "a"}) instead of its id is
        looked up, before any schema check (kong/db/dao/init.lua resolve_foreign, errors.lua
        foreign_keys_unresolved)."""
        out = dict(body)
        errors: dict[str, dict[str, str]] = {}
        for name, spec in self.schema(dao, body):
            value = body.get(name)
            if spec.get("type") != "foreign" or not isinstance(value, dict) or UUID_RE.match(str(value.get("id"))):
                continue
            if spec["reference"] not in ENTITIES:  # certificates: not emulated, left to the foreign key check
                continue
            reference = ENTITIES[spec["reference"]]
            for field, field_spec in (next(iter(f.items())) for f in reference["fields"]):
                unique_value = value.get(field)
                wanted = field_spec.get("unique") or reference.get("endpoint_key") == field
                if not wanted or not isinstance(unique_value, str):
                    continue
                found = next((e for e in self.store[spec["reference"]].values() if e.get(field) == unique_value), None)
                if found is not None:
                    out[name] = {"id": found["id"]}
                    break
                errors.setdefault(name, {})[field] = (
                    f"the foreign key cannot be resolved with '{pretty({field: unique_value})}' "
                    f"for an existing '{spec['reference']}' entity"
                )
        if errors:
            parts = [
                f"{name}.{field}: {text}" for name in sorted(errors) for field, text in sorted(errors[name].items())
            ]
            message = (
                f"foreign key unresolved ({parts[0]})"
                if len(parts) == 1
                else f"{len(parts)} foreign keys unresolved ({'; '.join(parts)})"
            )
            raise ApiError(400, {"code": 13, "name": "foreign keys unresolved", "message": message, "fields": errors})
        return out

    def _check_foreign(self, dao: str, entity: dict[str, Any]) -> None:
        for name, spec in self.schema(dao, entity):
            if spec.get("type") != "foreign":
                continue
            ref = entity.get(name)
            if ref is None:
                continue
            if spec["reference"] not in self.store or ref.get("id") not in self.store[spec["reference"]]:
                raise ApiError(
                    400,
                    {
                        "code": 4,
                        "name": "foreign key violation",
                        "message": f"the foreign key '{pretty(ref)}' does not reference "
                        f"an existing '{spec['reference']}' entity.",
                        "fields": {name: ref},
                    },
                )

    def unique_keys(self, dao: str) -> list[tuple[str, ...]]:
        keys: list[tuple[str, ...]] = [(n,) for n, s in self.schema(dao) if s.get("unique")]
        if dao == "plugins":
            keys.append(("consumer", "name", "route", "service"))
        if dao == "acls":
            keys.append(("consumer", "group"))
        if dao == "targets":
            keys.append(("target", "upstream"))
        return keys

    def _unique_index(self, dao: str) -> dict[tuple[str, ...], dict[str, str]]:
        """Unique key -> value -> id for one dao, so that a write checks its keys in O(1) instead of scanning
        every entity (4,000 plugins made that quadratic). Rebuilt whenever the dao's dict is replaced."""
        items = self.store[dao]
        cached = self._indexes.get(dao)
        if cached is not None and cached[0] is items:
            return cached[1]
        index: dict[tuple[str, ...], dict[str, str]] = {key: {} for key in self.unique_keys(dao)}
        for entity in items.values():
            for key, values in index.items():
                value = _key_value(key, entity)
                if value is not None:
                    values[value] = entity["id"]
        self._indexes[dao] = (items, index)
        return index

    def _check_unique(self, dao: str, entity: dict[str, Any]) -> None:
        for key, values in self._unique_index(dao).items():
            value = _key_value(key, entity)
            other = values.get(value) if value is not None else None
            if other is not None and other != entity["id"] and other in self.store[dao]:
                shown = {
                    k: ({"id": _fk_id(entity.get(k))} if isinstance(entity.get(k), dict) else entity.get(k))
                    for k in key
                }
                raise ApiError(
                    409,
                    {
                        "code": 5,
                        "name": "unique constraint violation",
                        "message": f"UNIQUE violation detected on '{pretty(shown)}'",
                        "fields": shown,
                    },
                )

    def _index(self, dao: str, entity: dict[str, Any], add: bool) -> None:
        for key, values in self._unique_index(dao).items():
            value = _key_value(key, entity)
            if value is None:
                continue
            if add:
                values[value] = entity["id"]
            elif values.get(value) == entity["id"]:
                del values[value]

    def delete(self, dao: str, entity_id: str) -> None:
        if entity_id not in self.store[dao]:
            return
        for child_dao in self.store:
            for name, spec in self.schema(child_dao):
                if spec.get("type") != "foreign" or spec.get("reference") != dao:
                    continue
                children = [e for e in self.store[child_dao].values() if _fk_id(e.get(name)) == entity_id]
                if not children:
                    continue
                if spec.get("on_delete") == "cascade":
                    for child in children:
                        self.delete(child_dao, child["id"])
                else:
                    raise ApiError(
                        400,
                        {
                            "code": 4,
                            "name": "foreign key violation",
                            "message": f"an existing '{child_dao}' entity references this '{dao}' entity",
                            "fields": {"@referenced_by": child_dao},
                        },
                    )
        self._index(dao, self.store[dao][entity_id], add=False)
        del self.store[dao][entity_id]

    # -- reads

    def with_ttl_left(self, dao: str, entity: dict[str, Any]) -> dict[str, Any] | None:
        """An entity of a dao with `ttl = true` as Kong reads it, None when its time has passed. Kong keeps the
        time it expires, in seconds since 1970: Postgres from the write's ttl option (get_ttl_value), DB-less
        the declarative `ttl` as given, which is that time too (what an export from Postgres holds:
        select_for_export_expressions, Kong commit 48dc2ef "export ttl as absolute value"). A read shows the
        seconds left: Postgres FLOOR(ttl - CURRENT_TIMESTAMP) of rows with ttl >= now (postgres/init.lua),
        DB-less `ttl - ngx.time()` of entities with some left, others not returned (off/init.lua
        process_ttl_field). So a declarative `ttl: 3600` expired in 1970."""
        expires = entity.get("ttl") if ENTITIES[dao].get("ttl") else None
        if expires is None:
            return entity
        now = time.time()
        left = expires - int(now) if self.dbless else math.floor(expires - now)
        if left < 0 or (self.dbless and left == 0):
            return None
        return {**entity, "ttl": left}

    def find(self, dao: str, key: str) -> dict[str, Any] | None:
        if UUID_RE.match(key):
            return self.store[dao].get(key.lower())
        endpoint_key = ENTITIES[dao].get("endpoint_key")
        if not endpoint_key:
            return None
        return next((e for e in self.store[dao].values() if e.get(endpoint_key) == key), None)

    def page(self, items: list[dict[str, Any]], query: dict[str, str], base: str, nested: bool) -> dict[str, Any]:
        """One page, ordered by id. `tags` is checked everywhere but filters only top-level collections:
        a nested list (`/services/x/routes`, `/upstreams/x/targets`) is read by its foreign key alone
        (kong/db/strategies/postgres/init.lua and off/init.lua, page_for_<field>). DB-less filters a page
        after reading it (off/init.lua, page_for_tags), so its pages can be short, or empty, with more to
        come. `next` repeats tags and size only at the top level (kong/api/endpoints.lua)."""
        size = page_size(query) or 100
        tags = query.get("tags")
        filtered = _filter_tags(items, tags)
        if tags is not None and not nested and not self.dbless:
            items = filtered
        items = sorted(items, key=lambda e: e["id"])
        start = 0
        if "offset" in query:
            last = self._decode_offset(query["offset"])
            start = next((i for i, e in enumerate(items) if e["id"] > last), len(items))
        chunk = items[start : start + size]
        if tags is not None and not nested and self.dbless:
            kept = {e["id"] for e in filtered}
            chunk = [e for e in chunk if e["id"] in kept]
        body: dict[str, Any] = {"data": [copy.deepcopy(e) for e in chunk], "next": None}
        if start + size < len(items):
            offset = self._encode_offset(items[start + size - 1]["id"])
            body["offset"] = offset
            nxt = f"{base}?offset={quote(offset, safe='')}"
            if not nested:
                if tags is not None:
                    nxt += "&tags=" + quote(tags, safe="")
                if "size" in query:
                    nxt += f"&size={query['size']}"
            body["next"] = nxt
        return body

    def _encode_offset(self, last_id: str) -> str:
        """Postgres: base64 (no padding) of the JSON array of the last primary key; DB-less: of its own key."""
        text = last_id if self.dbless else json.dumps([last_id])
        return base64.b64encode(text.encode()).decode().rstrip("=")

    def _decode_offset(self, offset: str) -> str:
        def invalid(reason: str) -> ApiError:
            message = f"'{offset}' is not a valid offset: {reason}"
            return ApiError(400, {"code": 7, "name": "invalid offset", "message": message})

        try:
            text = base64.b64decode(offset + "=" * (-len(offset) % 4), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise invalid("bad base64 encoding") from None
        if self.dbless:
            return text
        try:
            key = json.loads(text)
        except ValueError:
            raise invalid("bad json encoding") from None
        return str(key[0]) if isinstance(key, list) and key else ""

    # -- declarative (DB-less)

    def load_config(self, doc: Any, flatten: bool) -> dict[str, dict[str, dict[str, Any]]]:
        if not isinstance(doc, dict):
            raise ApiError(
                400, {"code": 14, "name": "invalid declarative configuration", "message": "expected an object"}
            )
        errors: dict[str, Any] = {}
        flat_errors: list[dict[str, Any]] = []
        for key in doc:
            if key not in ("_format_version", "_transform", "_comment", "_ignore") and key not in ENTITIES:
                errors[key] = "unknown field"
        if doc.get("_format_version") not in ("1.1", "2.1", "3.0"):
            errors["_format_version"] = (
                "required field missing" if "_format_version" not in doc else "expected one of: 1.1, 2.1, 3.0"
            )
        new: dict[str, dict[str, dict[str, Any]]] = {dao: {} for dao in ENTITIES}
        pending: list[tuple[str, dict[str, Any]]] = []

        def walk(dao: str, item: dict[str, Any], parent: tuple[str, str] | None) -> None:
            body = {k: v for k, v in item.items() if k not in CHILD_KEYS.get(dao, {})}
            if parent:
                body[FK_OF_PARENT[parent[0]]] = {"id": parent[1]}
            for name, spec in self.schema(dao, body):
                if spec.get("type") == "foreign" and isinstance(body.get(name), str):
                    body[name] = {"id": body[name]}
            body.setdefault("id", str(uuid.uuid4()))
            pending.append((dao, body))
            for key, child in CHILD_KEYS.get(dao, {}).items():
                for sub in item.get(key) or []:
                    walk(child, sub, (dao, body["id"]))

        for dao in ENTITIES:
            for item in doc.get(dao) or []:
                walk(dao, item, None)
        saved = self.store
        self.store = new
        try:
            for dao, body in pending:
                try:  # a shorthand is processed on import as on a write (process_auto_fields)
                    body = expand_url_shorthand(body) if dao == "services" else body
                    entity, errs = self.fill(dao, body)
                except ApiError as refused:  # the url shorthand's own type check
                    entity, errs = body, refused.body.get("fields") or {}
                if errs:
                    flat_errors.append(
                        {**_entity_identity(dao, body), "entity": body, "errors": _categorize_errors(errs)}
                    )
                    errors.setdefault(dao, []).append(errs)
                    continue
                # transformations run on import too, unless the document says `_transform: false` (what
                # Kong's own export says: its passwords are hashes already) (declarative/import.lua)
                if dao == "basicauth_credentials" and doc.get("_transform", True) is not False:
                    entity["password"] = _basic_auth_hash(str(entity["password"]), entity["consumer"]["id"])
                if dao == "oauth2_credentials" and entity["hash_secret"] and doc.get("_transform", True) is not False:
                    entity["client_secret"] = _oauth2_secret_hash(str(entity["client_secret"]))
                entity["created_at"] = int(time.time())
                new[dao][entity["id"]] = entity
        finally:
            self.store = saved
        if errors:
            body = {
                "code": 14,
                "name": "invalid declarative configuration",
                "message": f"declarative config is invalid: {pretty(errors)}",
                "fields": errors,
            }
            if flatten:
                # flatten_errors drains every entity's errors out of the table `fields` and the message are made
                # of: only a top-level key's own error (`_info = "unknown field"`) is left (errors.lua)
                left = {k: v for k, v in errors.items() if isinstance(v, str)}
                body.update(message=f"declarative config is invalid: {pretty(left)}", fields=left)
                body["flattened_errors"] = flat_errors
            raise ApiError(400, body)
        # past the schema: references and uniqueness (declarative_config.lua flatten: validate_references,
        # then the unique fields), each refusing the whole document
        lua_errors = declarative_references(doc) or declarative_uniques(new)
        if lua_errors:
            raise ApiError(400, declarative_refusal(lua_errors, doc, flatten))
        return new

    def export(self) -> str:
        """`GET /config`: what DB-less Kong reads back, each entity through off/init.lua construct_entity, so
        an entity with a ttl shows the seconds it has left, and one past its time is left out; written by lyaml
        (kong/db/declarative/export.lua), see lyaml_form."""
        doc: dict[str, Any] = {"_format_version": "3.0", "_transform": False}
        for dao, items in self.store.items():
            alive = [e for e in (self.with_ttl_left(dao, e) for e in items.values()) if e is not None]
            if alive:
                # foreign keys as their ids; nulls kept (GLOBAL_QUERY_OPTS nulls = true, written as lyaml.null)
                doc[dao] = [
                    {k: (v["id"] if isinstance(v, dict) and set(v) == {"id"} else v) for k, v in e.items()}
                    for e in sorted(alive, key=lambda e: e["id"])
                ]
        return str(yaml.dump(lyaml_form(doc), Dumper=SAFE_DUMPER, sort_keys=True))


# kong/db/schema/others/declarative_config.lua: the order validate_references visits the entity types in
# (the schemas' topological sort, kong/db/schema/topological_sort.lua: a referenced type before those
# referencing it, the others by name), which decides which of two entities holding one value is refused
DECLARATIVE_ORDER = (
    "consumers",
    "services",
    "routes",
    "plugins",
    "upstreams",
    "targets",
    "acls",
    "basicauth_credentials",
    "jwt_secrets",
    "keyauth_credentials",
    "oauth2_credentials",
)
ENDPOINT_KEYS = {  # the entity types whose endpoint key is unique (populate_references: `use_key`)
    dao: spec["endpoint_key"]
    for dao, spec in ENTITIES.items()
    if spec.get("endpoint_key")
    and any(next(iter(f)) == spec["endpoint_key"] and next(iter(f.values())).get("unique") for f in spec["fields"])
}
DECLARATIVE_FOREIGN = {
    dao: {n: s["reference"] for n, s in (next(iter(f.items())) for f in spec["fields"]) if s.get("type") == "foreign"}
    for dao, spec in ENTITIES.items()
}


def uniqueness_error_msg(dao: str, key: str, value: Any) -> str:
    return f"uniqueness violation: '{dao}' entity with {key} set to '{value}' already declared"


def declarative_references(doc: dict[str, Any]) -> dict[str, Any]:
    """declarative_config.lua validate_references: errors as Lua keeps them (dicts keyed by the position
    from 1, or by a key or id), empty when none.

    - populate_references: a unique endpoint key (a service's name, a credential's key) declared twice is
      refused at the second one's position in its own list, under its own type even when it is nested
      (errs.keyauth_credentials[2] for the second credential of a consumer); an id declared twice within
      one type, at its position under its parent when nested (errs.upstreams[1].targets[2]);
    - then each foreign key an entity itself holds (not the parent's, filled in after the check) must name
      an entity declared anywhere in the document, by id or by unique endpoint key: a list of messages at
      the entity's endpoint key, else its id (errs.routes["my-route"])."""
    by_id: dict[str, dict[str, Any]] = {}
    by_key: dict[str, dict[Any, Any]] = {}
    expected: list[tuple[str, str, str, Any, Any]] = []
    errs: dict[str, Any] = {}

    def populate(data: dict[str, Any], parent: tuple[str, int] | None) -> None:
        for dao in DECLARATIVE_ORDER:
            items = data.get(dao)
            if not isinstance(items, list):
                continue
            endpoint_key = ENDPOINT_KEYS.get(dao)
            for i, item in enumerate(items, 1):
                if not isinstance(item, dict):
                    continue
                populate(item, (dao, i))
                item_id = item.get("id")
                key = item.get(endpoint_key) if endpoint_key else None
                failed = False
                if key is not None:
                    if key in by_key.setdefault(dao, {}):
                        errs.setdefault(dao, {})[i] = uniqueness_error_msg(dao, endpoint_key, key)
                        failed = True
                    else:
                        by_key[dao][key] = item
                if item_id is not None:
                    ids = by_id.setdefault(dao, {})
                    if not failed and str(item_id) in ids:
                        at = errs.setdefault(parent[0], {}).setdefault(parent[1], {}) if parent else errs
                        at.setdefault(dao, {})[i] = uniqueness_error_msg(dao, "primary key", item_id)
                    else:
                        ids[str(item_id)] = item
                for field, value in item.items():
                    reference = DECLARATIVE_FOREIGN.get(dao, {}).get(field)
                    if reference in ENTITIES and value is not None:
                        expected.append((dao, reference, field, value, key or item_id or i))

    populate(doc, None)
    for dao, reference, field, value, at in expected:
        wanted = value.get("id", value) if isinstance(value, dict) else value
        found = (not isinstance(wanted, dict)) and (
            wanted in by_key.get(reference, {}) or str(wanted) in by_id.get(reference, {})
        )
        if not found:
            shown = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            errs.setdefault(dao, {}).setdefault(at, []).append(
                f"invalid reference '{field}: {shown}' (no such entry in '{reference}')"
            )
    return errs


def declarative_uniques(entities: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """declarative_config.lua flatten, once the references hold: every `unique` field (a consumer's
    custom_id) once per type, the error keyed by the entity's endpoint key (else its id). Kong resets the
    type's errors at each violation (`errs[entity] = errors[entity] or {}`, `errors` being the error
    module), so only the last one of a type is reported."""
    errs: dict[str, Any] = {}
    for dao in DECLARATIVE_ORDER:
        spec = ENTITIES[dao]
        fields = [n for n, s in (next(iter(f.items())) for f in spec["fields"]) if s.get("unique")]
        seen: dict[str, set[Any]] = {name: set() for name in fields}
        for entity in entities.get(dao, {}).values():
            for name in fields:
                value = entity.get(name)
                if value is None:
                    continue
                if value in seen[name]:
                    key = entity.get(spec.get("endpoint_key") or "id") or entity["id"]
                    errs[dao] = {key: uniqueness_error_msg(dao, name, value)}
                seen[name].add(value)
    return errs


def declarative_refusal(errs: dict[str, Any], doc: dict[str, Any], flatten: bool) -> dict[str, Any]:
    """The 400 of a document refused past its schema (kong/api/routes/config.lua): errors.lua
    declarative_config, or with `flatten_errors` declarative_config_flattened, whose flatten_errors drains
    the error table: a type's errors keyed by position are matched with the document's top-level list of
    that type (nested entities are not: a nested credential's error is matched with the top-level
    credential at its position, if there is one) and leave `fields`; those of a type the document has no
    top-level list of stay in `fields`; those keyed by name or id are matched with nothing and vanish from
    both (Kong then answers `declarative config is invalid: {}`)."""
    flattened: list[dict[str, Any]] = []
    if flatten:
        for dao in sorted(errs):
            section = errs[dao]
            entities = doc.get(dao)
            if not isinstance(entities, list):
                continue
            del errs[dao]
            for at in sorted(section, key=str):
                if isinstance(at, int) and 1 <= at <= len(entities) and isinstance(entities[at - 1], dict):
                    flattened.extend(_flattened_entity(dao, dict(entities[at - 1]), section[at]))
    body: dict[str, Any] = {
        "code": 14,
        "name": "invalid declarative configuration",
        "message": f"declarative config is invalid: {_lua_pretty_line(errs)}",
        "fields": _lua_json(errs),
    }
    if flatten:
        body["flattened_errors"] = flattened or {}  # an empty Lua table: cjson writes `{}`
    return body


def _flattened_entity(dao: str, entity: dict[str, Any], errors: Any) -> list[dict[str, Any]]:
    """errors.lua add_entity_errors: a string is the entity's own (`@entity`) error; the errors of its
    nested entities go to them (their parent's key filled in), the rest are the entity's."""
    errors = {"@entity": errors} if isinstance(errors, str) else dict(errors)
    out: list[dict[str, Any]] = []
    own_key = FK_OF_PARENT.get(dao)
    for key, child in CHILD_KEYS.get(dao, {}).items():
        nested = entity.pop(key, None)
        child_errors = errors.pop(key, None)
        if isinstance(nested, list) and child_errors:
            for at, item in enumerate(nested, 1):
                if isinstance(item, dict) and at in child_errors:
                    item = {**item} if own_key in item else {**item, own_key: _pk(entity)}
                    out.extend(_flattened_entity(child, item, child_errors[at]))
    if not errors:
        return out
    messages = errors.pop("@entity", None)
    listed = [{"type": "entity", "message": m} for m in ([messages] if isinstance(messages, str) else messages or [])]
    listed += _categorize_errors({str(k): v for k, v in errors.items()})
    return [*out, {**_entity_identity(dao, entity), "entity": entity, "errors": listed}]


def _entity_identity(dao: str, entity: dict[str, Any]) -> dict[str, Any]:
    """errors.lua add_entity_errors: entity_type singular; entity_name, entity_id and entity_tags left out
    unless well-formed (validate_name, validate_id, validate_tags)."""
    found: dict[str, Any] = {"entity_type": dao[:-1] if dao.endswith("s") else dao}
    name, entity_id, tags = entity.get("name"), entity.get("id"), entity.get("tags")
    if isinstance(name, str) and name:
        found["entity_name"] = name
    if isinstance(entity_id, str) and UUID_RE.match(entity_id):
        found["entity_id"] = entity_id
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        found["entity_tags"] = tags
    return found


def _pk(entity: dict[str, Any]) -> Any:
    entity_id = entity.get("id")
    return {"id": entity_id} if isinstance(entity_id, str) and UUID_RE.match(entity_id) else None


def _lua_json(value: Any) -> Any:
    """A Lua error table as cjson writes it: keyed by positions only, an array (see _lua_array)."""
    if not isinstance(value, dict):
        return value
    if value and all(isinstance(k, int) and k > 0 for k in value):
        return _lua_array([_lua_json(value.get(i)) for i in range(1, max(value) + 1)])
    return {str(k): _lua_json(v) for k, v in value.items()}


def _lua_pretty_line(value: Any) -> str:
    """pl.pretty.write(t, "") of an error table: the array part first, then other positions as `[n]=`, then
    string keys in order, as `name=` when an identifier, else quoted (`["a-b"]=`)."""
    if isinstance(value, list):
        value = {i: v for i, v in enumerate(value, 1)}
    if not isinstance(value, dict):
        return penlight_quote(value) if isinstance(value, str) else json.dumps(value)
    run = 0
    while run + 1 in value:
        run += 1
    parts = [_lua_pretty_line(value[i]) for i in range(1, run + 1)]
    parts += [f"[{k}]={_lua_pretty_line(value[k])}" for k in sorted(k for k in value if isinstance(k, int) and k > run)]
    for k in sorted(k for k in value if isinstance(k, str)):
        shown = k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) and k not in LUA_KEYWORDS else f"[{penlight_quote(k)}]"
        parts.append(f"{shown}={_lua_pretty_line(value[k])}")
    return "{" + ",".join(parts) + "}"


LUA_KEYWORDS = frozenset(
    [
        "and",
        "break",
        "do",
        "else",
        "elseif",
        "end",
        "false",
        "for",
        "function",
        "goto",
        "if",
        "in",
        "local",
        "nil",
        "not",
        "or",
        "repeat",
        "return",
        "then",
        "true",
        "until",
        "while",
    ]
)


def lyaml_form(value: Any) -> Any:
    """`value` as lyaml's dump writes it (lib/lyaml/init.lua dump_node, dump_scalar): a number with Lua's
    tostring, "%.14g" in LuaJIT, and a table with no elements as a mapping, so an empty array reads back `{}`."""
    if isinstance(value, dict):
        return {k: lyaml_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lyaml_form(v) for v in value] if value else {}
    return cjson_numbers(value, 14)


def _basic_auth_hash(password: str, consumer_id: str) -> str:
    """kong/plugins/basic-auth/crypto.lua: sha1(password .. consumer_id), hex."""
    return hashlib.sha1((password + consumer_id).encode()).hexdigest()


def _oauth2_secret_hash(secret: str) -> str:
    """kong/plugins/oauth2/secret.lua hash, with the one algorithm 3.9 enables (PBKDF2): a PHC string of
    PBKDF2-HMAC-SHA512, 10000 iterations, 32 bytes, over a random 16-byte salt (base64 without padding), so
    the same secret is stored differently on every write (the oauth2 daos.lua transformation of hash_secret)."""
    salt = uuid.uuid4().bytes
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, 10000, 32)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    return f"$pbkdf2-sha512$i=10000,l=32${b64(salt)}${b64(digest)}"


def format_target(target: str) -> str | None:
    """kong/db/dao/targets.lua format_target: kong/tools/ip.lua normalize_ip then format_host, so an IPv4 address
    without leading zeros, an IPv6 address written in full inside brackets (one with an IPv4 tail or a zone is
    refused), a name as it is, each with its port or 8000; None when invalid."""
    res, _ = normalize_ip(target)
    if res is None:
        return None
    host = f"[{res['host']}]" if res["type"] == "ipv6" else res["host"]
    return f"{host}:{8000 if res['port'] is None else res['port']}"


def _fk_id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _key_value(key: tuple[str, ...], entity: dict[str, Any]) -> str | None:
    """An entity's value for a unique key, comparable as text; None when a one-field key is unset (Kong
    does not hold nulls unique)."""
    if len(key) == 1 and entity.get(key[0]) is None:
        return None
    return json.dumps([_fk_id(entity.get(k)) for k in key], sort_keys=True, default=str)


def _filter_tags(items: list[dict[str, Any]], tags: str | None) -> list[dict[str, Any]]:
    if tags is None:
        return list(items)
    if tags == "":  # kong/api/endpoints.lua extract_options
        raise ApiError(
            400,
            {
                "code": 11,
                "name": "invalid options",
                "message": "invalid option (tags: cannot be null)",
                "options": {"tags": "cannot be null"},
            },
        )
    if TAGS_AND.match(tags):
        wanted = tags.split(",")
        test: Callable[[set[str]], bool] = lambda have: all(t in have for t in wanted)  # noqa: E731
    elif TAGS_OR.match(tags):
        wanted = tags.split("/")
        test = lambda have: any(t in have for t in wanted)  # noqa: E731
    else:
        raise ApiError(
            400,
            {
                "code": 11,
                "name": "invalid options",
                "message": "invalid option (tags: invalid filter syntax)",
                "options": {"tags": "invalid filter syntax"},
            },
        )
    if len(wanted) > 5:
        raise ApiError(
            400,
            {
                "code": 11,
                "name": "invalid options",
                "message": "invalid option (tags: cannot query more than 5 tags)",
                "options": {"tags": "cannot query more than 5 tags"},
            },
        )
    return [e for e in items if test(set(e.get("tags") or []))]


TYPE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "expected a string"),
    "integer": (lambda v: isinstance(v, int) and not isinstance(v, bool), "expected an integer"),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "expected a number"),
    "boolean": (lambda v: isinstance(v, bool), "expected a boolean"),
    "array": (lambda v: isinstance(v, list), "expected an array"),
    "set": (lambda v: isinstance(v, list), "expected a set"),
    "map": (lambda v: isinstance(v, dict), "expected a map"),
    "record": (lambda v: isinstance(v, dict), "expected a record"),
    "foreign": (lambda v: isinstance(v, dict) and isinstance(v.get("id"), str), "expected a record"),
}


# kong/db/schema/entities/routes_subschemas.lua: the subschema of a route's first known protocol forbids
# some fields (each with its own message) and wants at least one of some others, by protocol.
ROUTE_SUBSCHEMAS: dict[str, dict[str, Any]] = {
    "http": {
        "forbidden": {
            "sources": "cannot set 'sources' when 'protocols' is 'http' or 'https'",
            "destinations": "cannot set 'destinations' when 'protocols' is 'http' or 'https'",
        },
        # (protocol it must contain, fields of which one is needed, message) in order: if, else
        "needs": [
            ("https", ("methods", "hosts", "headers", "paths", "snis"), "when 'protocols' is 'https'"),
            ("http", ("methods", "hosts", "headers", "paths"), "when 'protocols' is 'http'"),
        ],
    },
    "stream": {
        "forbidden": {
            field: f"cannot set '{field}' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"
            for field in ("methods", "hosts", "paths", "headers")
        },
        "needs_all": [
            (("tcp", "tls", "udp"), ("sources", "destinations", "snis"), "when 'protocols' is 'tcp', 'tls' or 'udp'"),
            (("tls_passthrough",), ("snis",), None),
        ],
    },
    "grpc": {
        "forbidden": {
            field: f"cannot set '{field}' when 'protocols' is 'grpc' or 'grpcs'"
            for field in ("methods", "sources", "destinations")
        },
        "needs": [
            ("grpcs", ("hosts", "headers", "paths", "snis"), "when 'protocols' is 'grpcs'"),
            ("grpc", ("hosts", "headers", "paths"), "when 'protocols' is 'grpc'"),
        ],
    },
}
ROUTE_SUBSCHEMA_OF = {
    "http": "http",
    "https": "http",
    "tcp": "stream",
    "tls": "stream",
    "udp": "stream",
    "tls_passthrough": "stream",
    "grpc": "grpc",
    "grpcs": "grpc",
}
SNI_PROTOCOLS = ("grpcs", "https", "tls", "tls_passthrough")


def _route_checks(body: dict[str, Any], out: dict[str, Any], errors: dict[str, Any]) -> None:
    """routes.lua's snis check and the protocol subschemas of routes_subschemas.lua, on a filled route."""
    protocols: list[str] = out["protocols"]

    def needed(fields: tuple[str, ...], then: str | None) -> None:
        # an invalid field is still given (init.lua runs at_least_one_of with invalid fields)
        if not any((out[f] if f in out else body.get(f)) not in (None, [], {}, "") for f in fields):
            names = ", ".join(f"'{f}'" for f in fields)
            errors.setdefault("@entity", []).append(
                f"must set one of {names} {then}" if then else "must set snis when 'protocols' is 'tls_passthrough'"
            )

    if out.get("snis") and not any(p in SNI_PROTOCOLS for p in protocols):
        errors["snis"] = "length must be 0"
        errors.setdefault("@entity", []).append(
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"
        )
    kind = next((ROUTE_SUBSCHEMA_OF[p] for p in protocols if p in ROUTE_SUBSCHEMA_OF), None)
    if kind is None:
        return
    subschema = ROUTE_SUBSCHEMAS[kind]
    if kind == "grpc":
        # the grpc subschema's strip_path: default false, and true refused
        if body.get("strip_path") is None:
            out["strip_path"] = False
        elif out.get("strip_path") is True:
            errors["strip_path"] = "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"
    for field, message in subschema["forbidden"].items():
        if out.get(field) is not None:
            errors[field] = message
    for protocol, fields, then in subschema.get("needs", ()):
        if protocol in protocols:
            needed(fields, then)
            break
    for allowed, fields, then in subschema.get("needs_all", ()):
        if all(p in allowed for p in protocols):
            needed(fields, then)


def _shorthands(record_spec: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[str] | None]]:
    """(name, spec, the path of the field it sets) of a record's shorthand fields: the path a deprecated one
    names (`deprecation.replaced_with`), else the one its Lua `func` sets (SHORTHAND_TARGETS)."""
    out = []
    for field in record_spec.get("shorthand_fields") or []:
        name, spec = next(iter(field.items()))
        replaced = (spec.get("deprecation") or {}).get("replaced_with")
        out.append((name, spec, replaced[0]["path"] if replaced else SHORTHAND_TARGETS.get(name)))
    return out


def _path_value(data: dict[str, Any], path: list[str]) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _take_shorthands(record_spec: dict[str, Any], value: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    """kong/db/schema/init.lua process_auto_fields, for a record and the records in it: a shorthand given on a
    write is validated (its type and validators), refused when it is deprecated and the field it names holds
    another value (validate_deprecation_exclusiveness), and dropped after setting its field: a deprecated one
    only when that field is unset (the real field wins), any other one always."""
    value = dict(value)
    for name, spec, path in _shorthands(record_spec):
        if name not in value:
            continue
        given = value.pop(name)
        if given is None:
            continue
        _, error = check_field(spec, given)  # process_auto_fields: self:validate_field(sdata, value)
        current = _path_value(value, path) if path else None
        deprecated = "deprecation" in spec
        if error is not None:
            errors[name] = error
        elif deprecated and path and current is not None and current != given:
            errors[name] = (
                "both deprecated and new field are used but their values mismatch: "
                f"{name} = {_lua_tostring(given)} vs {'.'.join(path)} = {_lua_tostring(current)}"
            )
        elif path and (current is None or not deprecated):
            parent = value
            for key in path[:-1]:
                parent[key] = dict(parent[key]) if isinstance(parent.get(key), dict) else {}
                parent = parent[key]
            parent[path[-1]] = SHORTHAND_VALUES.get(name, {}).get(given, given)
    for name, spec in (next(iter(f.items())) for f in record_spec.get("fields") or []):
        if spec.get("type") == "record" and isinstance(value.get(name), dict):
            nested: dict[str, Any] = {}
            value[name] = _take_shorthands(spec, value[name], nested)
            if nested:
                errors[name] = nested
    return value


def _lua_tostring(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _lua_number(value) if isinstance(value, int | float) else str(value)


def _show_record_shorthands(record_spec: dict[str, Any], value: dict[str, Any]) -> None:
    for name, spec, path in _shorthands(record_spec):
        if path and (spec.get("deprecation") or {}).get("replaced_with"):
            value[name] = _path_value(value, path)
    for name, spec in (next(iter(f.items())) for f in record_spec.get("fields") or []):
        if spec.get("type") == "record" and isinstance(value.get(name), dict):
            _show_record_shorthands(spec, value[name])


def show_shorthands(state: KongState, payload: Any) -> Any:
    """A plugin as Kong 3.9 answers it (kong/db/schema/init.lua process_auto_fields on select): each deprecated
    shorthand that names its replacement is shown again, with the replacement's value (null when unset)."""
    items = payload.get("data") if isinstance(payload, dict) and isinstance(payload.get("data"), list) else [payload]
    for item in items:
        if not isinstance(item, dict) or item.get("name") not in PLUGINS or not isinstance(item.get("config"), dict):
            continue
        _show_record_shorthands(dict(state.schema("plugins", item)).get("config", {}), item["config"])
    return payload


def cjson_numbers(value: Any, digits: int = 16) -> Any:
    """`value` with each number as lua-cjson writes it with encode_number_precision `digits`, "%.<digits>g", and
    a client reads that text back: a double that takes more digits comes back rounded, an integral one as an
    integer, an integer past `digits` digits in exponent form. Kong's answers use 16 (kong/pdk/response.lua exit
    with cjson.safe, set by kong/globalpatches.lua to CJSON_MAX_PRECISION of kong/constants.lua, at 3.9.1)."""
    kind = type(value)
    if kind is dict:
        return {k: cjson_numbers(v, digits) for k, v in value.items()}
    if kind is list:
        return [cjson_numbers(v, digits) for v in value]
    if (kind is float and math.isfinite(value)) or (kind is int and not -(10**digits) < value < 10**digits):
        return json.loads(f"{value:.{digits}g}")
    return value


# Postgres keeps a record, map or json field (a plugin's config, an upstream's healthchecks, a route's headers)
# as JSONB written by pgmoon's encode_json (kong/db/strategies/postgres/init.lua escape_literal), which is
# lua-cjson's own module, not cjson.safe that Kong sets to 16 digits: the library's default precision, 14.
PG_JSON_DIGITS = 14
PG_JSON_TYPES = ("record", "map", "json")


def with_ttls_left(state: KongState, payload: Any) -> Any:
    """A read's answer with each entity of a dao with `ttl = true` as KongState.with_ttl_left shows it: the
    seconds it has left; one past its time is not in a list, and read alone is not found."""

    def shown(item: Any) -> Any:
        for dao in TTL_DAOS:
            if isinstance(item, dict) and item.get("id") in state.store[dao]:
                return state.with_ttl_left(dao, item)
        return item

    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        return {**payload, "data": [i for i in map(shown, payload["data"]) if i is not None]}
    entity = shown(payload)
    if entity is None and payload is not None:
        raise not_found()
    return entity


TTL_DAOS = [dao for dao, spec in ENTITIES.items() if spec.get("ttl")]


def _categorize_errors(errors: Any, namespace: str = "") -> list[dict[str, str]]:
    """kong/db/errors.lua categorize_errors: keys in order, `@entity` messages as entity errors, nested
    ones (a record's fields, an array's positions) as `parent.child` field errors."""
    items = (
        [(str(i), v) for i, v in enumerate(errors, 1) if v is not None]
        if isinstance(errors, list)
        else sorted(errors.items())
    )
    out: list[dict[str, str]] = []
    for key, value in items:
        field = f"{namespace}.{key}" if namespace else key
        if key == "@entity":
            out.extend({"type": "entity", "message": message} for message in value)
        elif isinstance(value, str):
            out.append({"type": "field", "field": field, "message": value})
        else:
            out.extend(_categorize_errors(value, field))
    return out


def _lua_array(items: list[Any]) -> Any:
    """A Lua table with holes as cjson writes it: an array with nulls, unless it is too sparse (past index
    10 with more than half of it holes), then an object keyed by position."""
    last = max(i for i, v in enumerate(items) if v is not None) + 1
    count = sum(v is not None for v in items)
    if last > 10 and last > 2 * count:
        return {str(i + 1): v for i, v in enumerate(items) if v is not None}
    return items[:last]


def _expanded_when_missing(spec: dict[str, Any]) -> bool:
    """kong/db/schema/init.lua handle_missing_field: a missing required record is expanded to its structure,
    even one with no fields (acme's storage_config.kong); an optional one (`required = false`) is null."""
    if spec.get("abstract") or spec.get("required") is False:
        return False
    return bool(spec.get("fields") or spec.get("required"))


def _fill_record(
    fields: list[tuple[str, dict[str, Any]]], body: dict[str, Any], errors: dict[str, Any], top: bool = False
) -> dict[str, Any]:
    known = {n for n, _ in fields}
    for key in body:
        if key not in known:
            errors[key] = "unknown field"
    out: dict[str, Any] = {}
    for name, spec in fields:
        value: Any = body.get(name)
        kind = spec.get("type", "string")
        if value is None:
            if "default" in spec and spec["default"] is not None:
                value = copy.deepcopy(spec["default"])
            elif kind == "record" and _expanded_when_missing(spec):
                value = {}
            elif spec.get("auto") and name == "id":
                value = str(uuid.uuid4())
            elif spec.get("auto") and kind == "string" and not spec.get("timestamp"):
                value = uuid.uuid4().hex
            elif not spec.get("auto"):
                _, error = check_field(spec, None)  # required, or an `eq`/`ne` that refuses null
                if error is not None:
                    errors[name] = error
                    continue
        value, error = check_field(spec, value)
        if error is not None:
            errors[name] = error
        # kept even when invalid: the entity checks see it, defaults filled (process_auto_fields runs first)
        out[name] = value
    return out


# ---------------------------------------------------------------------- field validation (kong/db/schema/init.lua)

# Schema.validators_order: the validators a field's spec may name, run in this order after the type's checks
VALIDATORS_ORDER = (
    "eq",
    "ne",
    "not_one_of",
    "one_of",
    "gt",
    "timestamp",
    "uuid",
    "is_regex",
    "between",
    "len_eq",
    "len_min",
    "len_max",
    "starts_with",
    "not_match",
    "match_none",
    "match",
    "match_all",
    "match_any",
    "contains",
    "custom_validator",
    "mutually_exclusive_subsets",
)


def _lua_number(value: float) -> str:
    """LuaJIT's tostring of a number ("%.14g": 5.0 is "5")."""
    return f"{value:.14g}"


def _lua_concat(options: list[Any]) -> str:
    """table.concat(options, ", ")."""
    return ", ".join(_lua_tostring(v) for v in options)


def _length(value: Any) -> int:
    """Lua's `#` as make_length_validator uses it: a string's bytes, an array's items, a map's pairs."""
    return len(value.encode()) if isinstance(value, str) else len(value)


def _validator_failure(kind: str, arg: Any, value: Any) -> str | None:
    """Schema.validators[kind](value, arg) with its validation_errors message; None when it passes."""
    if kind == "eq":
        return None if value == arg else f"value must be {'null' if arg is None else _lua_tostring(arg)}"
    if kind == "ne":
        return None if value != arg else f"value must not be {'null' if arg is None else _lua_tostring(value)}"
    if kind == "not_one_of":
        return f"must not be one of: {_lua_concat(arg)}" if value in arg else None
    if kind == "one_of":
        return None if value in arg else f"expected one of: {_lua_concat(arg)}"
    if kind == "gt":
        return None if value > arg else f"value must be greater than {_lua_tostring(arg)}"
    if kind == "timestamp":
        return None if value > 0 else "expected a valid timestamp"
    if kind == "uuid":
        return None if len(value) == 36 and UUID_RE.match(value) else "expected a valid UUID"
    if kind == "is_regex":
        try:  # PCRE's check (ngx.re.match); Python's re as the stand-in
            re.compile(value)
        except re.error:
            return f"not a valid regex: {value}"
        return None
    if kind == "between":
        low, high = arg
        return None if low <= value <= high else f"value should be between {int(low)} and {int(high)}"
    if kind == "len_eq":
        return None if _length(value) == arg else f"length must be {arg}"
    if kind == "len_min":
        return None if _length(value) >= arg else f"length must be at least {arg}"
    if kind == "len_max":
        return None if _length(value) <= arg else f"length must be at most {arg}"
    if kind == "starts_with":
        return None if value.encode()[: len(arg.encode())] == arg.encode() else f"should start with: {arg}"
    if kind in ("not_match", "match"):
        found = lua_match(value, arg)
        return None if found == (kind == "match") else f"invalid value: {value}"
    # match_none/match_all/match_any answer their list's `err`, else MATCH_*'s "invalid value: %s"
    if kind == "match_none":
        failed = next((item for item in arg if lua_match(value, item["pattern"])), None)
        return None if failed is None else failed.get("err") or f"invalid value: {value}"
    if kind == "match_all":
        failed = next((item for item in arg if not lua_match(value, item["pattern"])), None)
        return None if failed is None else failed.get("err") or f"invalid value: {value}"
    if kind == "match_any":
        found = any(lua_match(value, p) for p in arg["patterns"])
        return None if found else arg.get("err") or f"invalid value: {value}"
    if kind == "contains":
        return None if arg in value else f"expected to contain: {_lua_tostring(arg)}"
    if kind == "custom_validator":
        return arg(value)  # the Python stand-ins answer Kong's message or None
    # mutually_exclusive_subsets
    member_of: list[list[str]] = []
    for item in value:
        subset = next((s for s in arg if item in s), None)
        if subset is not None and subset not in member_of:
            member_of.append(subset)
    if len(member_of) <= 1:
        return None
    return "these sets are mutually exclusive: " + ", ".join(f"({_quoted_list(s)})" for s in member_of)


def _make_set(items: list[Any]) -> list[Any]:
    """init.lua make_set (process_auto_fields, before validation): repeats dropped as Lua's table keys see
    them (equal strings, numbers, booleans, null), a record or array never equal to another."""
    seen: set[tuple[str, Any]] = set()
    out = []
    for item in items:
        if isinstance(item, dict | list):
            out.append(item)
            continue
        key = ("boolean" if isinstance(item, bool) else "number" if isinstance(item, int | float) else "other", item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _is_reference(value: str) -> bool:
    """kong/pdk/vault.lua is_reference: `{vault://...}`."""
    return value.startswith("{vault://") and value.endswith("}")


def check_field(spec: dict[str, Any], value: Any) -> tuple[Any, Any]:
    """Schema.validate_field of kong/db/schema/init.lua for one value (null included) against its spec, with
    the value as process_auto_fields fills it (a record's defaults, a set without repeats): (value, error),
    the error None, a message, or for an array/set/record the nested errors (per position or per field).

    The type's checks come first (an array's or set's elements, each `required`, errors at their positions;
    a map's keys then values, the first failure as the map's error; a record's fields and entity checks;
    a string's `len_min` of 1 unless the spec says otherwise; a vault reference in a referenceable string
    skips the rest), then the validators in Schema.validators_order. The spec's `err`, when it has one,
    replaces the validators' messages."""
    kind = spec.get("type", "string")
    if value is None:
        if "ne" in spec and spec["ne"] is None:
            return None, spec.get("err") or "value must not be null"
        if spec.get("eq") is not None:
            return None, f"value must be {_lua_tostring(spec['eq'])}"
        return None, ("required field missing" if spec.get("required") else None)
    if "eq" in spec and spec["eq"] is None:  # typedefs.no_consumer and the like
        return value, spec.get("err") or "value must be null"
    if kind in ("array", "set", "map", "record") and (value == {} or value == []):
        value = [] if kind in ("array", "set") else {}  # an empty Lua table is any of them (init.lua is_sequence)
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)  # a JSON 5.0 is Lua's 5: an integer
    check, message = TYPE_CHECKS.get(kind, (lambda v: True, ""))
    if not check(value):
        return value, message
    if kind in ("array", "set"):
        if kind == "set":
            value = _make_set(value)
        elements = {**(spec.get("elements") or {}), "required": True}
        checked = [check_field(elements, v) for v in value]
        if any(error is not None for _, error in checked):
            return value, _lua_array([error for _, error in checked])  # validate_elements: per position
        value = [v for v, _ in checked]
    elif kind == "map":
        keys, values = ({**(spec.get(part) or {}), "required": True} for part in ("keys", "values"))
        out = {}
        for key, item in value.items():
            _, error = check_field(keys, key)
            if error is None:
                out[key], error = check_field(values, item)
            if error is not None:
                return value, error
        value = out
    elif kind == "record" and spec.get("fields"):
        nested: dict[str, Any] = {}
        record_fields = [next(iter(f.items())) for f in spec["fields"]]
        value = _fill_record(record_fields, value, nested)
        # a record's own entity checks run within its validation (oauth2's config), before its validators
        run_entity_checks(spec.get("entity_checks") or [], record_fields, value, nested)
        if nested:
            return value, nested
    elif kind == "foreign":
        value = {"id": value["id"]}
    elif kind == "string" and spec.get("referenceable") and _is_reference(value):
        return value, None
    for validator in VALIDATORS_ORDER:
        if validator == "len_min" and kind == "string" and "len_min" not in spec:
            failure = _validator_failure("len_min", 1, value)  # empty strings are not accepted by default
        elif validator in spec:
            failure = _validator_failure(validator, spec[validator], value)
        else:
            continue
        if failure:
            return value, spec.get("err") or failure
    return value, None


# ---------------------------------------------------------------------- entity checks (kong/db/schema/init.lua)

# validation_errors of kong/db/schema/init.lua: the message of each entity checker that has one (a
# custom_entity_check's message is its function's own)
ENTITY_CHECK_MESSAGES = {
    "at_least_one_of": "at least one of these fields must be non-empty: {}",
    "conditional_at_least_one_of": "at least one of these fields must be non-empty: {}",
    "only_one_of": "exactly one of these fields must be non-empty: {}",
    "distinct": "values of these fields must be distinct: {}",
    "conditional": "failed conditional validation given value of field '{}'",
    "mutually_required": "all or none of these fields must be set: {}",
    "mutually_exclusive": "only one or none of these fields must be set: {}",
}


def _nonempty(value: Any) -> bool:
    """init.lua is_nonempty: null, an empty table and "" are empty."""
    return value not in (None, "", [], {})


def _quoted_list(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _dotted(entity: dict[str, Any], name: str) -> Any:
    """init.lua get_field: `config.redis.host` read through nested records (null when a parent is)."""
    value: Any = entity
    for key in name.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _set_dotted(errors: dict[str, Any], name: str, message: Any) -> None:
    """init.lua set_field: the error of `config.redis.host` as {"config": {"redis": {"host": message}}}."""
    *parents, last = name.split(".")
    for key in parents:
        nested = errors.setdefault(key, {})
        if not isinstance(nested, dict):  # the parent already failed as a whole
            return
        errors = nested
    errors[last] = message


def _spec_of(fields: list[tuple[str, dict[str, Any]]], name: str) -> dict[str, Any]:
    """init.lua get_schema_field: the spec of a dotted field name."""
    head, _, rest = name.partition(".")
    spec = dict(fields).get(head, {})
    if not rest:
        return spec
    return _spec_of([next(iter(f.items())) for f in spec.get("fields") or []], rest)


def _validate_match(match: dict[str, Any], spec: dict[str, Any], value: Any) -> Any:
    """Schema.validate_field for an entity check's `if_match`/`then_match`: the match falls back to the
    field's own spec (the metatable __index init.lua sets), so the field's type and validators run too, and
    a null passes unless the match or the field says `required` or names an `eq`."""
    return check_field({**spec, **match}, value)[1]


def run_entity_checks(
    checks: list[dict[str, Any]],
    fields: list[tuple[str, dict[str, Any]]],
    entity: dict[str, Any],
    errors: dict[str, Any],
) -> None:
    """kong/db/schema/init.lua run_entity_checks on a filled entity (a full check: every field is present,
    null when unset), in declaration order; failures go to `errors["@entity"]` and, for `conditional`, to the
    field it names."""
    for check in checks:
        (kind, arg), *_ = check.items()
        if kind == "custom_entity_check":
            sources = arg["field_sources"]
            # run_with_invalid_fields = false: skipped when one of its fields already failed
            if any(name in errors for name in sources):
                continue
            message = arg["fn"]({name: _dotted(entity, name) for name in sources})
            if message:
                errors.setdefault("@entity", []).append(message)
            continue
        failed = _entity_check_failure(kind, arg, fields, entity, errors)
        if failed is not None:
            errors.setdefault("@entity", []).append(failed)


def _entity_check_failure(
    kind: str, arg: Any, fields: list[tuple[str, dict[str, Any]]], entity: dict[str, Any], errors: dict[str, Any]
) -> str | None:
    """The `@entity` message of one failed entity check, None when it passes."""
    message = ENTITY_CHECK_MESSAGES[kind]
    if kind in ("at_least_one_of", "only_one_of", "mutually_required", "mutually_exclusive"):
        given = sum(_nonempty(_dotted(entity, name)) for name in arg)
        ok = {
            "at_least_one_of": given >= 1,
            "only_one_of": given == 1,
            "mutually_required": given in (0, len(arg)),
            "mutually_exclusive": given <= 1,
        }[kind]
        return None if ok else message.format(_quoted_list(arg))
    if kind == "distinct":
        values = [json.dumps(v) for v in (_dotted(entity, name) for name in arg) if _nonempty(v)]
        return None if len(values) == len(set(values)) else message.format(_quoted_list(arg))
    if_value = _dotted(entity, arg["if_field"])
    if_spec = _spec_of(fields, arg["if_field"])
    if kind == "conditional_at_least_one_of":
        if if_value is None:
            return None
        if _validate_match(arg["if_match"], if_spec, if_value) is None:
            names, template = arg["then_at_least_one_of"], arg.get("then_err")
        elif arg.get("else_match") is not None and _validate_match(arg["else_match"], if_spec, if_value) is None:
            names, template = arg["else_then_at_least_one_of"], arg.get("else_then_err")
        else:
            return None
        if any(_nonempty(_dotted(entity, name)) for name in names):
            return None
        return template.replace("%s", _quoted_list(names)) if template else message.format(_quoted_list(names))
    # conditional
    if _validate_match(arg["if_match"], if_spec, if_value) is not None:
        return None
    then_field, then_value = arg["then_field"], _dotted(entity, arg["then_field"])
    if arg["then_match"].get("required") and then_value is None:
        _set_dotted(errors, then_field, "required field missing")
        return message.format(arg["if_field"])
    failure = _validate_match(arg["then_match"], _spec_of(fields, then_field), then_value)
    if failure is None:
        return None
    _set_dotted(errors, then_field, failure)
    return arg["then_err"].replace("%s", arg["if_field"]) if arg.get("then_err") else message.format(arg["if_field"])


def jsonable_schema(schema: dict[str, Any]) -> Any:
    """kong/api/api_helpers.lua schema_to_jsonable: a schema as `/schemas` answers it, its functions (custom
    validators, a custom_entity_check's fn) left out."""
    if isinstance(schema, dict):
        return {k: jsonable_schema(v) for k, v in schema.items() if not callable(v)}
    if isinstance(schema, list):
        return [jsonable_schema(v) for v in schema]
    return schema


# ---------------------------------------------------------------------- HTTP


class Handler(EmulatorHandler[KongState]):
    def do_PATCH(self) -> None:
        self.handle_method("PATCH")

    def answer(self, method: str, path: str, query: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        try:
            body = json.loads(raw, parse_int=lua_json_int) if raw else {}
        except ValueError:
            raise ApiError(400, {"message": "Cannot parse JSON body"}) from None
        with self.state.lock:
            status, payload, headers = route(self.state, method, path, server.first_values(query), body)
            if method == "GET":
                payload = with_ttls_left(self.state, payload)
            return status, cjson_numbers(show_shorthands(self.state, payload)), headers

    def send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = b"" if status in (204, 304) or payload is None else json.dumps(payload).encode()
        content_type = "application/json; charset=utf-8" if data else None
        self.reply(status, data, content_type, {"Server": "kong/emulator", **headers})


def route(
    state: KongState, method: str, path: str, query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    raw_segments = path.strip("/").split("/") if path != "/" else []
    segments = [unquote(s) for s in raw_segments]
    if not segments:
        if method != "GET":
            raise ApiError(405, {"message": "Method not allowed"})
        return 200, root_info(state), {}
    head = segments[0]
    if head == "status" and method == "GET":
        info: dict[str, Any] = {
            "server": {
                "connections_accepted": len(state.requests),
                "connections_active": 1,
                "total_requests": len(state.requests),
            },
            "memory": {"lua_shared_dicts": {}, "workers_lua_vms": []},
        }
        if state.dbless:
            info["configuration_hash"] = state.config_hash
        else:
            info["database"] = {"reachable": True}
        return 200, info, {}
    if head == "schemas" and method == "GET":
        if len(segments) == 3 and segments[1] == "plugins":
            schema = state.plugins.get(segments[2])
            if schema is None or segments[2] not in state.available:
                raise ApiError(404, {"message": f"No plugin named '{segments[2]}'"})
            return 200, jsonable_schema(schema), {}
        if len(segments) == 2 and segments[1] in ENTITIES:
            entity = ENTITIES[segments[1]]
            # the `ttl` this emulator keeps as a field is an option in Kong (`ttl = true`), not among the fields
            fields = [f for f in entity["fields"] if not (entity.get("ttl") and "ttl" in f)]
            answer = (
                {"fields": fields}
                | ({"ttl": True} if entity.get("ttl") else {})
                | ({"entity_checks": entity["entity_checks"]} if "entity_checks" in entity else {})
            )
            return 200, jsonable_schema(answer), {}
        raise ApiError(404, {"message": f"No entity named '{segments[-1]}'"})
    if head == "schemas" and len(segments) in (2, 3) and segments[-1] == "validate":
        return validate_endpoint(state, method, segments, body)
    if head == "config":
        return config_endpoint(state, method, query, body)
    if head == "tags" and method == "GET":
        rows = [
            {"entity_name": dao, "entity_id": e["id"], "tag": t}
            for dao, items in state.store.items()
            for e in items.values()
            for t in e.get("tags") or []
            if len(segments) == 1 or t == segments[1]
        ]
        for row in rows:
            row["id"] = f"{row['entity_id']}{row['tag']}"
        page = state.page(rows, {k: v for k, v in query.items() if k != "tags"}, "/" + "/".join(segments), nested=False)
        for row in page["data"]:
            row.pop("id", None)
        return 200, page, {}
    if head == "upstreams" and len(segments) >= 3 and segments[2] == "targets":
        return targets_endpoint(state, method, segments, raw_segments[1], query, body)
    dao = COLLECTIONS.get(head)
    if dao is None or not _plugin_loaded(state, dao):
        raise not_found()
    if len(segments) == 1:
        return collection_endpoint(state, method, dao, query, body)
    if len(segments) == 2:
        return entity_endpoint(state, method, dao, segments[1], body)
    nested = NESTED.get((dao, segments[2]))
    if nested is not None and _plugin_loaded(state, nested[0]) and len(segments) in (3, 4):
        child, foreign_field = nested
        parent = _select(state, dao, segments[1])
        if parent is None:
            raise not_found()
        if len(segments) == 3:
            base = f"/{head}/{raw_segments[1]}/{segments[2]}"
            return nested_collection_endpoint(state, method, child, foreign_field, parent, base, query, body)
        return nested_entity_endpoint(state, method, child, foreign_field, parent, segments[3], body)
    if segments[2] in FOREIGN_FIELDS.get(dao, ()) and len(segments) == 3:
        return foreign_entity_endpoint(state, method, dao, segments[1], segments[2], body)
    raise not_found()


def validate_endpoint(
    state: KongState, method: str, segments: list[str], body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    """`POST /schemas/plugins/validate` and `/schemas/<dao>/validate` (kong/api/routes/kong.lua
    validate_schema): the schema checks of a write (defaults filled, entity checks), none of the database's
    (foreign keys need not exist, uniqueness is not looked at); nothing is stored. Also on DB-less Kong."""
    if method != "POST" or len(segments) != 3:  # GETs are answered as /schemas/:name and /schemas/plugins/:name
        raise ApiError(405, {"message": "Method not allowed"})
    dao = segments[1]
    if dao not in ENTITIES or not _plugin_loaded(state, dao):
        raise ApiError(404, {"message": f"No entity named '{dao}'"})
    body = expand_url_shorthand(body) if dao == "services" else body
    _, errors = state.fill(dao, body)
    if errors:
        raise schema_violation(errors)
    return 200, {"message": "schema validation successful"}, {}


# Where Kong's generated endpoints put each entity under its parent (kong/api/endpoints.lua,
# generate_endpoints: /<parent collection>/:parent/<admin_api_nested_name or admin_api_name>), with the
# credential daos' nested names from their daos.lua. Targets have their own (kong/api/routes/upstreams.lua).
NESTED_NAME = {"keyauth_credentials": "key-auth", "basicauth_credentials": "basic-auth", "jwt_secrets": "jwt"}
COLLECTION_OF = {dao: collection for collection, dao in COLLECTIONS.items()}
NESTED: dict[tuple[str, str], tuple[str, str]] = {}  # (parent dao, path segment) -> (child dao, foreign key field)
FOREIGN_FIELDS: dict[str, set[str]] = {}  # dao -> its foreign key fields: /routes/:routes/service
for _child, _spec in ENTITIES.items():
    for _field, _field_spec in (next(iter(f.items())) for f in _spec["fields"]):
        if _field_spec.get("type") != "foreign" or _field_spec["reference"] not in COLLECTION_OF:
            continue
        if _child in COLLECTION_OF:
            FOREIGN_FIELDS.setdefault(_child, set()).add(_field)
            _nested_name = NESTED_NAME.get(_child, COLLECTION_OF[_child])
            NESTED[(_field_spec["reference"], _nested_name)] = (_child, _field)


def _plugin_loaded(state: KongState, dao: str) -> bool:
    plugin = CREDENTIAL_PLUGIN.get(dao)
    return plugin is None or plugin in state.available


def _select(state: KongState, dao: str, key: str) -> dict[str, Any] | None:
    """An entity by id, or by its endpoint key when the key is no UUID; a key that is neither is a 400
    (kong/api/endpoints.lua query_entity, then kong/db/dao/init.lua select)."""
    if not UUID_RE.match(key) and not ENTITIES[dao].get("endpoint_key"):
        raise invalid_primary_key()
    return state.find(dao, key)


def _by_key(dao: str, key: str) -> str | None:
    """The endpoint key a path addresses the entity by, None when by id."""
    return None if UUID_RE.match(key) else ENTITIES[dao].get("endpoint_key")


def collection_endpoint(
    state: KongState, method: str, dao: str, query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    if method == "GET":
        if dao == "consumers" and "custom_id" in query:
            return 200, consumer_by_custom_id(state, query["custom_id"]), {}
        return 200, state.page(list(state.store[dao].values()), query, "/" + COLLECTION_OF[dao], nested=False), {}
    if method == "POST":
        return 201, create(state, dao, body), {}
    raise ApiError(405, {"message": "Method not allowed"})


def consumer_by_custom_id(state: KongState, custom_id: str) -> dict[str, Any]:
    """`GET /consumers?custom_id=` is a lookup, not a filter: one consumer or none (kong/api/routes/consumers.lua)."""
    if custom_id == "":
        raise ApiError(400, {"message": "custom_id must be an unempty string"})
    found = [copy.deepcopy(c) for c in state.store["consumers"].values() if c.get("custom_id") == custom_id]
    return {"data": found[:1], "next": None}


# kong/constants.lua DATABASE.DAO_MAX_TTL (1e8, which Lua writes as 100000000) at 3.9.1
DAO_MAX_TTL = 100_000_000


def check_ttl_option(dao: str, body: dict[str, Any]) -> dict[str, Any]:
    """A write's `ttl` on an entity whose schema says `ttl = true` is an option, not a field
    (kong/api/endpoints.lua extract_options), checked by the DAO before anything else, DB-less too
    (kong/db/dao/init.lua validate_options_value in check_insert, check_update, check_upsert): a 400
    invalid options (kong/db/errors.lua invalid_options). On any other entity it stays a field, unknown.
    A ttl that Lua's math.floor cannot take (null, true, a string that is no number) raises: a 500."""
    if not ENTITIES[dao].get("ttl") or "ttl" not in body:
        return body
    ttl = body["ttl"]
    if isinstance(ttl, str):
        ttl = lua_tonumber(ttl)  # Lua's arithmetic coerces a numeric string
    if not isinstance(ttl, int | float) or isinstance(ttl, bool):
        raise ApiError(500, {"message": "An unexpected error occurred"})
    if math.isfinite(ttl) and ttl == math.floor(ttl) and 0 <= ttl <= DAO_MAX_TTL:
        return {**body, "ttl": int(ttl)}
    error = f"must be an integer between 0 and {DAO_MAX_TTL}"
    raise ApiError(
        400,
        {"code": 11, "name": "invalid options", "message": f"invalid option (ttl: {error})", "options": {"ttl": error}},
    )


def create(state: KongState, dao: str, body: dict[str, Any]) -> dict[str, Any]:
    body = check_ttl_option(dao, body)
    if state.dbless:
        state.validate(dao, body)
        raise operation_unsupported("create", dao)
    entity_id = str(body.get("id") or uuid.uuid4())
    if entity_id in state.store[dao]:
        raise primary_key_violation(entity_id)
    return state.upsert(dao, entity_id, body, replace=True)


def entity_endpoint(
    state: KongState, method: str, dao: str, key: str, body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    current = _select(state, dao, key)
    if method == "GET":
        if current is None:
            raise not_found()
        return 200, copy.deepcopy(current), {}
    if method == "DELETE":
        return delete(state, dao, key, current)
    if method == "PUT":
        return 200, put(state, dao, key, current, body), {}
    if method == "PATCH":
        if dao == "plugins" and "name" not in body and current is None:
            raise not_found()  # kong/api/routes/plugins.lua patch_plugin reads the plugin for its name first
        return 200, patch(state, dao, key, current, body), {}
    raise ApiError(405, {"message": "Method not allowed"})


def delete(state: KongState, dao: str, key: str, current: dict[str, Any] | None) -> tuple[int, Any, dict[str, str]]:
    """204 whether or not it was there, also DB-less (kong/db/dao/init.lua delete reads first)."""
    if current is not None:
        if state.dbless:
            raise operation_unsupported("remove", dao, _by_key(dao, key))
        state.delete(dao, current["id"])
    return 204, None, {}


def put(state: KongState, dao: str, key: str, current: dict[str, Any] | None, body: dict[str, Any]) -> dict[str, Any]:
    """An upsert that replaces the whole entity. Addressed by its endpoint key, that key wins over the
    body's (kong/db/dao/init.lua check_upsert: entity_to_upsert[name] = key)."""
    body = check_ttl_option(dao, body)
    by = _by_key(dao, key)
    if by is not None:
        body = {**body, by: key}
    if state.dbless:
        state.validate(dao, body)
        raise operation_unsupported("create or update", dao, by)
    if current is not None:
        entity_id = current["id"]
    elif by is None:
        entity_id = key.lower()
    else:
        entity_id = str(body.get("id") or uuid.uuid4())
    return state.upsert(dao, entity_id, body, replace=True)


def patch(state: KongState, dao: str, key: str, current: dict[str, Any] | None, body: dict[str, Any]) -> dict[str, Any]:
    body = check_ttl_option(dao, body)  # before the entity is read (check_update)
    by = _by_key(dao, key)
    if current is None:
        raise entity_not_found(by or "id", key if by else key.lower())
    if state.dbless:
        state.validate(dao, {**current, **body})
        raise operation_unsupported("update", dao, by)
    return state.upsert(dao, current["id"], body, replace=False, partial=True)


def nested_collection_endpoint(
    state: KongState,
    method: str,
    dao: str,
    foreign_field: str,
    parent: dict[str, Any],
    base: str,
    query: dict[str, str],
    body: dict[str, Any],
) -> tuple[int, Any, dict[str, str]]:
    """`/services/:s/routes` and the like (kong/api/endpoints.lua get_ and post_collection_endpoint)."""
    if method == "GET":
        mine = [e for e in state.store[dao].values() if _fk_id(e.get(foreign_field)) == parent["id"]]
        return 200, state.page(mine, query, base, nested=True), {}
    if method == "POST":
        # the path's parent replaces whatever parent the body names
        return 201, create(state, dao, {**body, foreign_field: {"id": parent["id"]}}), {}
    raise ApiError(405, {"message": "Method not allowed"})


def nested_entity_endpoint(
    state: KongState,
    method: str,
    dao: str,
    foreign_field: str,
    parent: dict[str, Any],
    key: str,
    body: dict[str, Any],
) -> tuple[int, Any, dict[str, str]]:
    """`/services/:s/routes/:r` and the like (kong/api/endpoints.lua get_, put_, patch_, delete_entity_endpoint).
    GET, PATCH and DELETE answer 404 unless the entity hangs off that parent; PUT sets the parent and
    upserts, whichever parent the entity had; PATCH keeps a parent the body names."""
    if dao == "acls" and not UUID_RE.match(key):
        # kong/plugins/acl/api.lua: a group name instead of an id, within that consumer; PUT creates it
        current = next(
            (a for a in state.store["acls"].values() if a["consumer"]["id"] == parent["id"] and a["group"] == key),
            None,
        )
        if current is None and method != "PUT":
            raise not_found()
        if method == "PUT":
            body = {"group": key, **body}
        key = current["id"] if current is not None else str(uuid.uuid4())
    else:
        current = _select(state, dao, key)
    if method == "PUT":
        return 200, put(state, dao, key, current, {**body, foreign_field: {"id": parent["id"]}}), {}
    if current is None or _fk_id(current.get(foreign_field)) != parent["id"]:
        raise not_found()
    if method == "GET":
        return 200, copy.deepcopy(current), {}
    if method == "PATCH":
        return 200, patch(state, dao, key, current, {foreign_field: {"id": parent["id"]}, **body}), {}
    if method == "DELETE":
        return delete(state, dao, key, current)
    raise ApiError(405, {"message": "Method not allowed"})


def foreign_entity_endpoint(
    state: KongState, method: str, dao: str, key: str, foreign_field: str, body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    """`/routes/:r/service`, `/plugins/:p/consumer`, `/key-auths/:k/consumer`: the entity a foreign key
    points at (kong/api/endpoints.lua, is_foreign_entity_endpoint). PUT upserts it, and when nothing is
    referenced yet creates one and points the key at it; DELETE is never allowed."""
    entity = _select(state, dao, key)
    if entity is None:
        raise not_found()
    reference = dict(next(iter(f.items())) for f in ENTITIES[dao]["fields"])[foreign_field]["reference"]
    referenced = _fk_id(entity.get(foreign_field))
    current = state.store[reference].get(referenced) if referenced else None
    if method == "PUT":
        if state.dbless:
            state.validate(reference, body)
            raise operation_unsupported("create or update", reference)
        upserted = state.upsert(reference, referenced or str(uuid.uuid4()), body, replace=True)
        if referenced is None:
            state.upsert(dao, entity["id"], {foreign_field: {"id": upserted["id"]}}, replace=False, partial=True)
        return 200, upserted, {}
    if referenced is None or current is None:
        raise not_found()
    if method == "GET":
        return 200, copy.deepcopy(current), {}
    if method == "PATCH":
        return 200, patch(state, reference, current["id"], current, body), {}
    raise ApiError(405, {"message": "Method not allowed"})  # DELETE included


def targets_endpoint(
    state: KongState,
    method: str,
    segments: list[str],
    raw_upstream: str,
    query: dict[str, str],
    body: dict[str, Any],
) -> tuple[int, Any, dict[str, str]]:
    """kong/api/routes/upstreams.lua with kong/db/dao/targets.lua: POST creates under the upstream; PUT and
    PATCH both update an existing target (by id or by its address); DELETE of a missing one is a 404."""
    upstream = _select(state, "upstreams", segments[1])
    if upstream is None:
        raise not_found()
    mine = [t for t in state.store["targets"].values() if t["upstream"]["id"] == upstream["id"]]
    if len(segments) == 3:
        if method == "GET":
            return 200, targets_page(mine, query, f"/upstreams/{raw_upstream}/targets"), {}
        if method == "POST":
            return 201, create(state, "targets", {**body, "upstream": {"id": upstream["id"]}}), {}
        raise ApiError(405, {"message": "Method not allowed"})
    if len(segments) != 4:
        raise not_found()
    key = segments[3]
    if UUID_RE.match(key):
        target = state.store["targets"].get(key.lower())
    else:
        wanted = format_target(key) or key
        target = next((t for t in mine if t["target"] == wanted), None)
    if target is None or target["upstream"]["id"] != upstream["id"]:
        raise not_found()
    if method == "GET":
        return 200, copy.deepcopy(target), {}
    if method == "DELETE":
        if state.dbless:
            raise operation_unsupported("remove", "targets")
        state.delete("targets", target["id"])
        return 204, None, {}
    if method in ("PUT", "PATCH"):
        # update_target_cb: an update by id, whatever the method; the body may even move it elsewhere
        return 200, patch(state, "targets", target["id"], target, body), {}
    raise ApiError(405, {"message": "Method not allowed"})


def targets_page(targets: list[dict[str, Any]], query: dict[str, str], base: str) -> dict[str, Any]:
    """kong/db/dao/targets.lua page_for_upstream: every target of the upstream read at once (tags are not
    applied), newest first, `size` capped at 1000 rather than refused, and a numeric `offset`."""
    size = 100
    if "size" in query:
        number = lua_tonumber(query["size"])
        if number is None:
            raise invalid_size("size must be a number")
        size = int(min(number, 1000))
    _filter_tags(targets, query.get("tags"))  # still checked (kong/api/endpoints.lua, extract_options)
    ordered = sorted(targets, key=lambda t: (t["created_at"], t["id"]), reverse=True)
    try:
        start = int(query.get("offset") or 0)
    except ValueError:
        raise ApiError(500, {"message": "An unexpected error occurred"}) from None
    chunk = ordered[start : start + max(size, 0)]
    body: dict[str, Any] = {"data": [copy.deepcopy(t) for t in chunk], "next": None}
    if len(ordered) > start + size:
        body["offset"] = str(start + size)
        body["next"] = f"{base}?offset={start + size}"
    return body


def config_endpoint(
    state: KongState, method: str, query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    if not state.dbless:
        raise ApiError(
            400, {"message": "this endpoint is only available when Kong is configured to not use a database"}
        )
    if method == "GET":
        return 200, {"config": state.export()}, {}
    if method != "POST":
        raise ApiError(405, {"message": "Method not allowed"})
    check_hash = query.get("check_hash") == "1"
    flatten = query.get("flatten_errors", "").lower() in ("1", "true", "on", "yes")
    new_hash: str | None = None
    if "_format_version" in body:
        doc: Any = body
    elif isinstance(body.get("config"), str):
        text = body["config"]
        new_hash = hashlib.md5(text.encode()).hexdigest()
        # Kong compares the text's hash before parsing it (kong/db/declarative/init.lua, parse_string)
        if check_hash and new_hash == state.config_hash:
            return 304, None, {}
        try:
            # JSON first, then YAML, as Kong's parse_string does without a file name
            doc = json.loads(text, parse_int=lua_json_int)
        except ValueError:
            doc = None
        try:
            doc = lua_numbers(yaml.load(text, Loader=SAFE_LOADER)) if doc is None else doc
        except yaml.YAMLError as exc:
            message = f"failed parsing declarative configuration: {exc}"
            raise ApiError(
                400,
                {
                    "code": 14,
                    "name": "invalid declarative configuration",
                    "message": message,
                    "fields": {"error": message},
                },
            ) from None
    else:
        raise ApiError(400, {"message": "expected a declarative configuration"})
    if check_hash and new_hash and new_hash == state.config_hash:
        return 304, None, {}
    if state.config_busy is not None:
        busy = state.config_busy
        raise ApiError(
            busy.status or 429,
            busy.body or {"message": "Currently loading previous configuration"},
            {"Retry-After": busy.retry_after or "1"},
        )
    new = state.load_config(doc, flatten)
    state.store = new
    state.config_hash = new_hash or hashlib.md5(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    flat = {dao: {i: copy.deepcopy(e) for i, e in items.items()} for dao, items in new.items() if items}
    return 201, flat, {}


def root_info(state: KongState) -> dict[str, Any]:
    return {
        "version": state.version,
        "edition": state.edition,
        "tagline": "Welcome to kong",
        "hostname": "kong-emulator",
        "node_id": "5a9f4d6c-58a2-4c7e-9d1e-8b0b0a3c1f11",
        "lua_version": "LuaJIT 2.1.0-20231117",
        "configuration": {"database": "off" if state.dbless else "postgres", "role": "traditional"},
        "plugins": {
            "available_on_server": {name: {"version": state.version, "priority": 1000} for name in state.available},
            "enabled_in_cluster": sorted({p["name"] for p in state.store["plugins"].values()}),
        },
        "timers": {"running": 0, "pending": 1},
        "pids": {"master": 1, "workers": [2]},
    }


# ---------------------------------------------------------------------- server


class KongEmulator(server.Emulator[KongState]):
    pass


def start(state: KongState | None = None, port: int = 0, tls: ssl.SSLContext | None = None) -> KongEmulator:
    state = state or KongState()
    return KongEmulator(state, *server.serve(Handler, state, port, "kong-emulator", tls=tls))


def running(state: KongState | None = None) -> AbstractContextManager[KongEmulator]:
    return server.running(start, state)


def main() -> None:
    parser = server.arguments("Kong 3.x Admin API emulator (tests and manual trials)", 18001)
    parser.add_argument("--dbless", action="store_true")
    parser.add_argument("--edition", default="community", choices=["community", "enterprise"])
    server.add_fault_arguments(parser, faulty_reads=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    args = parser.parse_args()
    state = KongState(dbless=args.dbless, edition=args.edition, latency=args.latency)
    if args.fault_rate:
        state.random_faults = RandomFaults(
            args.fault_rate, args.seed, writes_only=not args.faulty_reads, retry_after="1", resets=True
        )
    emulator = start(state, args.port)
    server.serve_until_interrupted(
        emulator, f"Kong Admin API emulator on {emulator.url} ({'DB-less' if args.dbless else 'DB mode'})"
    )


if __name__ == "__main__":
    main()
