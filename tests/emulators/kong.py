"""A Kong 3.x Admin API emulator over real HTTP on 127.0.0.1: stateful, with the behaviour gatewayctl relies
on reproduced from Kong 3.9's source (kong/api/endpoints.lua, kong/db/errors.lua, kong/api/routes/config.lua,
kong/api/routes/upstreams.lua, kong/plugins/basic-auth/crypto.lua):

- `GET /` (version, edition, configuration.database, plugins.available_on_server), `GET /status`
  (database.reachable, or configuration_hash when DB-less), `GET /schemas/<dao>`, `GET /schemas/plugins/<name>`
- CRUD: `GET/POST /<collection>`, `GET/PUT/PATCH/DELETE /<collection>/<id or endpoint key>`; PUT is an
  upsert that replaces the whole entity (omitted fields fall back to defaults); DELETE answers 204 even when
  nothing was there; targets live under `/upstreams/<u>/targets` and PUT only updates an existing one
- defaults filled on write, `created_at`/`updated_at`, basic-auth passwords stored as sha1(password..consumer_id)
- errors with Kong's bodies: 400 code 2 schema violation (`fields`), 400 code 4 foreign keys (a missing
  reference, or deleting a service its routes still use), 409 code 5 `UNIQUE violation detected on '{...}'`,
  404 `{"message":"Not found"}`, 405 code 12 for writes when DB-less
- paging: `size` (default 100, max 1000) and `offset`, `next` (top-level: with tags and size; nested: offset only)
- tags: `?tags=a,b` (all of them) or `?tags=a/b` (any of them); `GET /tags`
- DB-less: `POST /config` ({"config": "<text>"} or the object itself), `check_hash=1` -> 304 when the text's md5
  is the running hash, `flatten_errors=1`, `_info` refused as an unknown field; `GET /config`
- fault injection: fail the Nth matching request with a status (and Retry-After), drop the connection (before
  or after doing the work), reset it (TCP RST), delay; or a seeded random share of faulty requests

Run on its own for manual trials: `python -m tests.emulators.kong --port 18001 [--dbless]`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
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
    from .kong_schemas import COLLECTIONS, CREDENTIAL_PLUGIN, ENTITIES, PLUGINS
    from .server import ApiError, EmulatorHandler, EmulatorState, Fault, RandomFaults, Request
except ImportError:  # run as a script
    import server  # type: ignore[no-redef,import-not-found]
    from kong_schemas import COLLECTIONS, CREDENTIAL_PLUGIN, ENTITIES, PLUGINS  # type: ignore[no-redef,import-not-found]
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
TAGS_AND = re.compile(rf"^({TAG_BYTES}(,|$))+$")
TAGS_OR = re.compile(rf"^({TAG_BYTES}(/|$))+$")
EMPTY_HASH = "0" * 32
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same data, 10x faster
SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
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
        return json.dumps(value)
    return json.dumps(value)


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
    parts: list[str] = []
    for name in sorted(errors):
        value = errors[name]
        if isinstance(value, dict):
            parts.extend(f"{name}.{sub}: {value[sub]}" for sub in sorted(value))
        else:
            parts.append(f"{name}: {value}")
    message = (
        f"schema violation ({parts[0]})" if len(parts) == 1 else f"{len(parts)} schema violations ({'; '.join(parts)})"
    )
    return ApiError(400, {"code": 2, "name": "schema violation", "message": message, "fields": errors})


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
        self.store: dict[str, dict[str, dict[str, Any]]] = {dao: {} for dao in ENTITIES}
        self._indexes: dict[str, tuple[dict[str, dict[str, Any]], dict[tuple[str, ...], dict[str, str]]]] = {}
        self.config_hash = EMPTY_HASH
        self.requests: list[Request] = []
        self.config_busy: Fault | None = None

    # -- test helpers

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

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
            own = dict(next(iter(f.items())) for f in PLUGINS[body["name"]]["fields"])
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
        out = _fill_record(self.schema(dao, body), body, errors, top=True)
        return out, errors

    # -- writes

    def upsert(
        self, dao: str, entity_id: str, body: dict[str, Any], *, replace: bool, partial: bool = False
    ) -> dict[str, Any]:
        existing = self.store[dao].get(entity_id)
        if partial:
            if existing is None:
                raise not_found()
            merged = {k: v for k, v in existing.items() if k not in ("created_at", "updated_at")}
            merged.update(body)
            body = merged
        body = {k: v for k, v in body.items() if k not in ("created_at", "updated_at")}
        body["id"] = entity_id
        entity, errors = self.fill(dao, body)
        if errors:
            raise schema_violation(errors)
        self._check_foreign(dao, entity)
        self._check_unique(dao, entity)
        if dao == "basicauth_credentials":
            password = entity.get("password")
            stored = existing.get("password") if existing and partial else None
            if password != stored:
                entity["password"] = _basic_auth_hash(str(password), entity["consumer"]["id"])
        now = int(time.time())
        entity["created_at"] = existing["created_at"] if existing else now
        if "updated_at" in dict(self.schema(dao)):
            entity["updated_at"] = now
        if existing is not None:
            self._index(dao, existing, add=False)
        self.store[dao][entity_id] = entity
        self._index(dao, entity, add=True)
        return copy.deepcopy(entity)

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

    def find(self, dao: str, key: str) -> dict[str, Any] | None:
        if UUID_RE.match(key):
            return self.store[dao].get(key.lower())
        endpoint_key = ENTITIES[dao].get("endpoint_key")
        if not endpoint_key:
            return None
        return next((e for e in self.store[dao].values() if e.get(endpoint_key) == key), None)

    def page(self, items: list[dict[str, Any]], query: dict[str, str], base: str, nested: bool) -> dict[str, Any]:
        size_text = query.get("size")
        size = 100
        if size_text is not None:
            try:
                size = int(size_text)
            except ValueError:
                raise ApiError(400, {"code": 9, "name": "invalid size", "message": "size must be a number"}) from None
            if not 1 <= size <= 1000:
                raise ApiError(
                    400, {"code": 9, "name": "invalid size", "message": "size must be an integer between 1 and 1000"}
                )
        items = _filter_tags(items, query.get("tags"))
        items.sort(key=lambda e: e["id"])
        start = 0
        if query.get("offset"):
            try:
                last = base64.urlsafe_b64decode(query["offset"].encode()).decode()
            except (ValueError, UnicodeDecodeError):
                raise ApiError(
                    400,
                    {
                        "code": 7,
                        "name": "invalid offset",
                        "message": f"'{query['offset']}' is not a valid offset: bad base64 encoding",
                    },
                ) from None
            start = next((i for i, e in enumerate(items) if e["id"] > last), len(items))
        chunk = items[start : start + size]
        body: dict[str, Any] = {"data": [copy.deepcopy(e) for e in chunk], "next": None}
        if start + size < len(items):
            offset = base64.urlsafe_b64encode(chunk[-1]["id"].encode()).decode()
            body["offset"] = offset
            nxt = f"{base}?offset={quote(offset, safe='')}"
            if not nested:
                if query.get("tags"):
                    nxt += "&tags=" + quote(query["tags"], safe="")
                if size_text:
                    nxt += f"&size={size_text}"
            body["next"] = nxt
        return body

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
                entity, errs = self.fill(dao, body)
                if errs:
                    flat_errors.append(
                        {
                            "entity_type": dao[:-1] if dao.endswith("s") else dao,
                            "entity_id": body.get("id"),
                            "entity_name": body.get("name"),
                            "entity_tags": body.get("tags"),
                            "entity": body,
                            "errors": [
                                {"type": "field", "field": k, "message": v if isinstance(v, str) else json.dumps(v)}
                                for k, v in errs.items()
                            ],
                        }
                    )
                    errors.setdefault(dao, []).append(errs)
                    continue
                # transformations run on import too, unless the document says `_transform: false` (what
                # Kong's own export says: its passwords are hashes already) (declarative/import.lua)
                if dao == "basicauth_credentials" and doc.get("_transform", True) is not False:
                    entity["password"] = _basic_auth_hash(str(entity["password"]), entity["consumer"]["id"])
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
                body["flattened_errors"] = flat_errors
            raise ApiError(400, body)
        return new

    def export(self) -> str:
        doc: dict[str, Any] = {"_format_version": "3.0", "_transform": False}
        for dao, items in self.store.items():
            if items:
                doc[dao] = [
                    {
                        k: (v["id"] if isinstance(v, dict) and set(v) == {"id"} else v)
                        for k, v in e.items()
                        if v is not None
                    }
                    for e in sorted(items.values(), key=lambda e: e["id"])
                ]
        return str(yaml.dump(doc, Dumper=SAFE_DUMPER, sort_keys=True))


def _basic_auth_hash(password: str, consumer_id: str) -> str:
    """kong/plugins/basic-auth/crypto.lua: sha1(password .. consumer_id), hex."""
    return hashlib.sha1((password + consumer_id).encode()).hexdigest()


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
            elif kind == "record" and spec.get("fields") and not spec.get("abstract"):
                value = {}
            elif spec.get("auto") and name == "id":
                value = str(uuid.uuid4())
            elif spec.get("auto") and kind == "string" and not spec.get("timestamp"):
                value = uuid.uuid4().hex
            elif spec.get("required") and not spec.get("auto"):
                errors[name] = "required field missing"
                continue
            else:
                out[name] = None
                continue
        check, message = TYPE_CHECKS.get(kind, (lambda v: True, ""))
        if not check(value):
            errors[name] = message
            continue
        if "eq" in spec and value != spec["eq"]:  # typedefs.no_consumer: eq = null
            errors[name] = "value must be null" if spec["eq"] is None else f"value must be {spec['eq']}"
            continue
        if kind == "record" and spec.get("fields"):
            nested: dict[str, Any] = {}
            value = _fill_record([next(iter(f.items())) for f in spec["fields"]], value, nested)
            if nested:
                errors[name] = nested
                continue
        if kind == "foreign":
            value = {"id": value["id"]}
        if "one_of" in spec and value not in spec["one_of"]:
            errors[name] = "expected one of: " + ", ".join(str(v) for v in spec["one_of"])
            continue
        if "between" in spec and not spec["between"][0] <= value <= spec["between"][1]:
            errors[name] = f"value should be between {spec['between'][0]} and {spec['between'][1]}"
            continue
        if kind in ("array", "set"):
            elements = spec.get("elements") or {}
            element_check, element_message = TYPE_CHECKS.get(elements.get("type", ""), (lambda v: True, ""))
            bad = [i for i, v in enumerate(value) if not element_check(v)]
            if bad:
                errors[name] = element_message
                continue
            if "one_of" in elements and any(v not in elements["one_of"] for v in value):
                errors[name] = "expected one of: " + ", ".join(elements["one_of"])
                continue
            if kind == "set":
                value = list(dict.fromkeys(json.dumps(v, sort_keys=True) for v in value))
                value = [json.loads(v) for v in value]
        out[name] = value
    return out


# ---------------------------------------------------------------------- HTTP


class Handler(EmulatorHandler[KongState]):
    def do_PATCH(self) -> None:
        self.handle_method("PATCH")

    def answer(self, method: str, path: str, query: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise ApiError(400, {"message": "Cannot parse JSON body"}) from None
        with self.state.lock:
            return route(self.state, method, path, server.first_values(query), body)

    def send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = b"" if status in (204, 304) or payload is None else json.dumps(payload).encode()
        content_type = "application/json; charset=utf-8" if data else None
        self.reply(status, data, content_type, {"Server": "kong/emulator", **headers})


def route(
    state: KongState, method: str, path: str, query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    segments = [unquote(s) for s in path.strip("/").split("/")] if path != "/" else []
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
            schema = PLUGINS.get(segments[2])
            if schema is None or segments[2] not in state.available:
                raise ApiError(404, {"message": f"No plugin named '{segments[2]}'"})
            return 200, copy.deepcopy(schema), {}
        if len(segments) == 2 and segments[1] in ENTITIES:
            return 200, {"fields": copy.deepcopy(ENTITIES[segments[1]]["fields"])}, {}
        raise ApiError(404, {"message": f"No entity named '{segments[-1]}'"})
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
        return targets_endpoint(state, method, segments, query, body)
    dao = COLLECTIONS.get(head)
    if dao is None or not _plugin_loaded(state, dao):
        raise not_found()
    if len(segments) == 1:
        if method == "GET":
            return 200, state.page(list(state.store[dao].values()), query, "/" + head, nested=False), {}
        if method == "POST":
            _writable(state, dao, "create")
            entity_id = str(body.get("id") or uuid.uuid4())
            if entity_id in state.store[dao]:
                raise primary_key_violation(entity_id)
            return 201, state.upsert(dao, entity_id, body, replace=True), {}
        raise ApiError(405, {"message": "Method not allowed"})
    if len(segments) == 2:
        key = segments[1]
        current = state.find(dao, key)
        if method == "GET":
            if current is None:
                raise not_found()
            return 200, copy.deepcopy(current), {}
        if method == "DELETE":
            _writable(state, dao, "delete")
            if current is not None:
                state.delete(dao, current["id"])
            return 204, None, {}
        if method in ("PUT", "PATCH"):
            _writable(state, dao, "create or update" if method == "PUT" else "update")
            if current is not None:
                entity_id = current["id"]
            elif UUID_RE.match(key):
                entity_id = key.lower()
            else:
                if method == "PATCH":
                    raise not_found()
                entity_id = str(uuid.uuid4())
                body = {**body, ENTITIES[dao]["endpoint_key"]: key}
            return 200, state.upsert(dao, entity_id, body, replace=method == "PUT", partial=method == "PATCH"), {}
    raise not_found()


def _plugin_loaded(state: KongState, dao: str) -> bool:
    plugin = CREDENTIAL_PLUGIN.get(dao)
    return plugin is None or plugin in state.available


def _writable(state: KongState, dao: str, operation: str) -> None:
    if state.dbless:
        raise ApiError(
            405,
            {
                "code": 12,
                "name": "operation unsupported",
                "message": f"cannot {operation} '{dao}' entities when not using a database",
            },
        )


def targets_endpoint(
    state: KongState, method: str, segments: list[str], query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    upstream = state.find("upstreams", segments[1])
    if upstream is None:
        raise not_found()
    mine = [t for t in state.store["targets"].values() if t["upstream"]["id"] == upstream["id"]]
    if len(segments) == 3:
        if method == "GET":
            return 200, state.page(mine, query, f"/upstreams/{upstream['id']}/targets", nested=True), {}
        if method == "POST":
            _writable(state, "targets", "create")
            entity_id = str(body.get("id") or uuid.uuid4())
            if entity_id in state.store["targets"]:
                raise primary_key_violation(entity_id)
            return (
                201,
                state.upsert("targets", entity_id, {**body, "upstream": {"id": upstream["id"]}}, replace=True),
                {},
            )
        raise ApiError(405, {"message": "Method not allowed"})
    key = segments[3]
    target = next((t for t in mine if t["id"] == key.lower() or t["target"] == key), None)
    if target is None:
        raise not_found()
    if method == "GET":
        return 200, copy.deepcopy(target), {}
    if method == "DELETE":
        _writable(state, "targets", "delete")
        state.delete("targets", target["id"])
        return 204, None, {}
    if method in ("PUT", "PATCH"):
        _writable(state, "targets", "update")
        merged = {**{k: v for k, v in target.items() if k not in ("created_at", "updated_at")}, **body}
        merged["upstream"] = {"id": upstream["id"]}
        return 200, state.upsert("targets", target["id"], merged, replace=True), {}
    raise ApiError(405, {"message": "Method not allowed"})


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
            doc = json.loads(text)
        except ValueError:
            doc = None
        try:
            doc = yaml.load(text, Loader=SAFE_LOADER) if doc is None else doc
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
