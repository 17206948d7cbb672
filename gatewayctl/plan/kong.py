"""The Kong plan: read what this catalog owns in Kong, compare it field by field with what the catalog
renders to, and list the writes that would make Kong match.

Ownership: only entities carrying both `gatewayctl` and `gatewayctl-catalog:<name>` are read (one tag
query, `?tags=a,b` = both), so anything else in Kong is invisible to the plan and can never be updated or
deleted by it.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from gatewayctl.clients.kong_admin import KongAdmin, KongError
from gatewayctl.diagnostics import KeyPath
from gatewayctl.plan.entities import DesiredState, Entity, from_live
from gatewayctl.plan.fields import FieldChange as FieldChange  # re-exported: plans import it from here too
from gatewayctl.plan.fields import action_counts, diff_fields, hide_new, hide_old, summary_line
from gatewayctl.plan.kinds import BY_NAME, KINDS
from gatewayctl.plan.masking import Masker
from gatewayctl.plan.normalise import (
    SKIPPED,
    Schema,
    basic_auth_hash,
    field_specs,
    normalise,
    oauth2_secret_hash,
    plugin_schema,
)
from gatewayctl.render.ownership import SECRET_TAG, ownership_tags, secret_tag_paths

Action = Literal["create", "update", "delete"]
# Credential kinds exist only when their plugin is loaded (their endpoints 404 otherwise).
CREDENTIAL_PLUGIN = {
    "keyauth_credentials": "key-auth",
    "basicauth_credentials": "basic-auth",
    "jwt_secrets": "jwt",
    "oauth2_credentials": "oauth2",
    "acls": "acl",
}


@dataclass(frozen=True)
class ServerInfo:
    version: str
    edition: str
    database: str
    plugins: frozenset[str]

    @classmethod
    def from_root(cls, root: dict[str, Any]) -> ServerInfo:
        listed = root.get("plugins")
        plugins = (listed.get("available_on_server") if isinstance(listed, dict) else None) or {}
        configuration = root.get("configuration")
        configuration = configuration if isinstance(configuration, dict) else {}
        return cls(
            version=str(root.get("version", "unknown")),
            edition=str(
                root.get("edition") or ("enterprise" if "enterprise" in str(root.get("version")) else "community")
            ),
            database=str(configuration.get("database", "unknown")),
            plugins=frozenset(plugins if isinstance(plugins, dict) else []),
        )

    @property
    def dbless(self) -> bool:
        return self.database == "off"

    def major_minor(self) -> tuple[int, int]:
        parts = [p for p in self.version.replace("-", ".").split(".") if p.isdigit()]
        try:
            return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
        except (IndexError, ValueError):
            return (0, 0)


@dataclass(frozen=True)
class Change:
    action: Action
    entity: Entity  # the desired entity for create/update, the live one for delete
    fields: tuple[FieldChange, ...] = ()
    name: str = ""
    replaces: str | None = None  # a delete that clears a name for a create: runs before creates
    after: tuple[str, ...] = ()  # ids whose writes must be done first: they give up a unique value this one takes
    # A write made before all others of its level, giving up the unique values other entities take from
    # this one when no order of the writes works (two swapped values): the entity written without those
    # fields, or deleted (then this change creates it again). None for almost every change.
    first: Change | None = None

    @property
    def kind(self) -> str:
        return self.entity.kind

    @property
    def label(self) -> str:
        return BY_NAME[self.kind].label


@dataclass
class LiveState:
    entities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # kind -> raw items as Kong gave them

    def all(self) -> Iterable[Entity]:
        for kind, items in self.entities.items():
            for item in items:
                yield from_live(kind, item)

    def ids(self) -> set[str]:
        """The ids of `all()`, without building its entities."""
        return {str(item["id"]) for items in self.entities.values() for item in items}


@dataclass
class KongPlan:
    server: ServerInfo
    changes: list[Change]
    live: LiveState

    def counts(self) -> tuple[int, int, int]:
        return action_counts(self.changes)

    def summary(self) -> str:
        return summary_line("kong", self.changes)


# ---------------------------------------------------------------------- reading Kong


def read_server(client: KongAdmin) -> ServerInfo:
    root = client.get("/")
    if not isinstance(root, dict) or not isinstance(root.get("version"), str):  # another JSON API at the URL
        detail = f"the answer is not the Kong Admin API's (no version): is {client.endpoint.display()} the right URL?"
        raise client.error("GET", "/", 200, None, detail, 1)
    if isinstance(root.get("product"), str):  # Kuma's GET / names its product (Kuma, Kong Mesh); Kong's never does
        detail = (
            f"the answer is {root['product']} {root['version']}'s, not the Kong Admin API's: "
            f"is {client.endpoint.display()} the right URL (--kong-admin-url, GATEWAYCTL_KONG_ADMIN_URL)?"
        )
        raise client.error("GET", "/", 200, None, detail, 1)
    return ServerInfo.from_root(root)


Page = list[dict[str, Any]]


def fetch_live(
    client: KongAdmin,
    catalog_name: str,
    server: ServerInfo,
    parallelism: int = 8,
    on_page: Callable[[str, Page], None] | None = None,
) -> LiveState:
    """Every owned entity of every kind, all pages, kinds fetched concurrently; targets per owned upstream.
    `on_page(kind, items)` is called with each page as it arrives, in the thread that read it."""
    tags = ownership_tags(catalog_name)
    kinds = [k for k in KINDS if not k.nested_under]

    def one(kind_name: str) -> tuple[str, Page]:
        spec = BY_NAME[kind_name]
        plugin = CREDENTIAL_PLUGIN.get(kind_name)
        if plugin and server.plugins and plugin not in server.plugins:
            return kind_name, []
        items: Page = []
        try:
            for page in client.list_pages(f"/{spec.collection}", tags):
                items += page
                if on_page is not None and page:
                    on_page(kind_name, page)
        except KongError as exc:
            if exc.status == 404 and plugin:  # plugin not loaded: no such collection, nothing of ours in it
                return kind_name, []
            raise
        return kind_name, items

    def targets(upstream_id: str) -> Page:
        # Kong reads an upstream's targets by the upstream alone and ignores `tags` there (postgres and
        # off strategies, page_for_<field>; kong/db/dao/targets.lua), so ownership is checked here.
        owned = [
            t
            for t in client.list_all(f"/upstreams/{upstream_id}/targets", tags)
            if set(tags) <= set(t.get("tags") or [])
        ]
        if on_page is not None and owned:
            on_page("targets", owned)
        return owned

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        state = LiveState(dict(pool.map(one, [k.name for k in kinds])))
        upstream_ids = [u["id"] for u in state.entities.get("upstreams", [])]
        state.entities["targets"] = [t for owned in pool.map(targets, upstream_ids) for t in owned]
    return state


class SchemaCache:
    """`/schemas/<entity>` and `/schemas/plugins/<name>`, each fetched at most once per run."""

    def __init__(self, client: KongAdmin) -> None:
        self.client = client
        self._cache: dict[str, Schema | None] = {}
        self._plugins: dict[str, Schema | None] = {}
        self.server: ServerInfo | None = None  # what the schemas were fetched from (see `of`)
        self.compared: Memo = {}  # build_plan's memo
        # Threads that compare pages as they arrive ask for schemas at the same time: each path is fetched
        # by the first to ask, the others wait for it.
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Event] = {}

    @classmethod
    def of(cls, client: KongAdmin, server: ServerInfo | None = None) -> SchemaCache:
        """The one cache of a client: apply plans twice (again under the lock) and fetches schemas once. A
        long-lived client (the drift watcher's) starts afresh when the server's version or plugins change."""
        cache = _CACHES.get(client)
        if cache is None or cache.server != server:
            cache = _CACHES[client] = cls(client)
            cache.server = server
        return cache

    def fetch(self, paths: Iterable[str], parallelism: int = 8) -> None:
        with self._lock:
            wanted = {p for p in paths if p not in self._cache}
            todo = sorted(p for p in wanted if p not in self._fetching)
            others = [self._fetching[p] for p in wanted if p in self._fetching]
            for path in todo:
                self._fetching[path] = threading.Event()
        try:
            if todo:
                with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(todo)))) as pool:
                    for path, schema in zip(todo, pool.map(self._read, todo), strict=True):
                        self._cache[path] = schema
        finally:
            for path in todo:  # also when it failed: a waiter then finds the path missing and `get`s it itself
                self._fetching[path].set()
        for event in others:
            event.wait()

    def get(self, path: str) -> Schema | None:
        if path not in self._cache:
            self._cache[path] = self._read(path)
        return self._cache[path]

    def _read(self, path: str) -> Schema | None:
        """A schema, None when Kong has none: only a plugin's own or a plugin's credentials' can be missing
        (a plugin this Kong does not load; its write then says so). Every Kong has the core entities' and the
        generic plugin's: a 404 or an answer of another shape there means something else answers at the URL,
        and a plan made without them would show every default Kong fills in as a change."""
        kind = path.removeprefix("/schemas/")
        optional = kind.startswith("plugins/") or kind in CREDENTIAL_PLUGIN
        schema = self.client.get_optional(path) if optional else self.client.get(path)
        if schema is not None and not _is_schema(schema):
            detail = f"the answer is not a Kong schema: is {self.client.endpoint.display()} the right URL?"
            raise self.client.error("GET", path, 200, None, detail, 1)
        return schema if isinstance(schema, dict) else None

    def for_entity(self, entity: Entity) -> Schema | None:
        if entity.kind == "plugins":
            name = str(entity.body.get("name"))
            if name not in self._plugins:  # merged once per plugin name, not once per plugin entity
                self._plugins[name] = plugin_schema(self.get("/schemas/plugins"), self.get(f"/schemas/plugins/{name}"))
            return self._plugins[name]
        return self.get(f"/schemas/{entity.kind}")


_CACHES: weakref.WeakKeyDictionary[KongAdmin, SchemaCache] = weakref.WeakKeyDictionary()


def _is_schema(answer: Any) -> bool:
    """Kong's schema form: `{"fields": [{"<name>": {<spec>}}, ...]}`."""
    fields = answer.get("fields") if isinstance(answer, dict) else None
    return isinstance(fields, list) and all(
        isinstance(f, dict) and len(f) == 1 and isinstance(next(iter(f.values())), dict) for f in fields
    )


def schema_paths(entities: Iterable[Entity]) -> set[str]:
    paths: set[str] = set()
    for e in entities:
        if e.kind == "plugins":
            paths |= {"/schemas/plugins", f"/schemas/plugins/{e.body.get('name')}"}
        else:
            paths.add(f"/schemas/{e.kind}")
    return paths


# ---------------------------------------------------------------------- comparing


def build_plan(
    desired: DesiredState,
    live: LiveState,
    schema_of: Callable[[Entity], Schema | None],
    server: ServerInfo,
    masker: Masker,
    memo: Memo | None = None,
) -> KongPlan:
    """The changes that make `live` match `desired`. With `memo` (one per run), an entity whose desired
    form and live body are the ones compared before is not compared again: apply plans twice, the second
    time under the lock, and most of what it reads then is what it read a moment before (and a plan's
    comparisons are made while the pages are read: `compared`)."""
    live_entities = {e.id: e for e in live.all()}
    changes: list[Change] = []
    wanted: dict[str, Entity] = {}
    for entity in desired.entities:
        wanted[entity.id] = entity
        current = live_entities.get(entity.id)
        if current is None:
            changes.append(Change("create", entity, name=entity.display_name()))
            continue
        if current.kind != entity.kind:  # impossible with uuid5 per kind, but never PUT over another kind
            continue
        entity, diffs = compared(entity, current, schema_of, masker, memo)
        if diffs:
            changes.append(Change("update", entity, tuple(diffs), name=entity.display_name()))
    changes = _order_moved_values(changes, live_entities, wanted)
    # Owned entities that hold a unique value a desired entity with another id needs: removed first.
    unwanted = [e for e in live_entities.values() if e.id not in wanted]
    taken = {value: e.id for e in wanted.values() for _, value in unique_values(e)} if unwanted else {}
    for entity in unwanted:
        holder = next((taken[value] for _, value in unique_values(entity) if value in taken), None)
        changes.append(Change("delete", entity, name=entity.display_name(), replaces=holder))
    return KongPlan(server, changes, live)


# entity id -> (the desired entity compared, the live body it was compared with, the differences)
Memo = dict[str, tuple[Entity, dict[str, Any], list[FieldChange]]]


def compared(
    entity: Entity,
    current: Entity,
    schema_of: Callable[[Entity], Schema | None],
    masker: Masker,
    memo: Memo | None = None,
) -> tuple[Entity, list[FieldChange]]:
    """(the desired entity as it would be written, its differences from `current`), from `memo` when this
    very entity was compared with this very live body before."""
    entity = keep_generated(entity, current, schema_of(entity))
    seen = memo.get(entity.id) if memo is not None else None
    if seen is not None and seen[0] is entity and seen[1] == current.body:
        return entity, seen[2]
    diffs = compare(entity, current, schema_of(entity), masker)
    if memo is not None:
        memo[entity.id] = (entity, current.body, diffs)
    return entity, diffs


def _order_moved_values(changes: list[Change], live: dict[str, Entity], wanted: dict[str, Entity]) -> list[Change]:
    """A unique value moving between two entities that both stay (a key-auth key whose list position
    changed, as key-auth ids follow the position; a custom_id given to another consumer) is given up before
    it is taken, or Kong answers 409: the write taking it goes `after` the one giving it up. In a cycle (two
    values swapped) no order works, so one member gives its values up in a `first` write: written without
    those fields when Kong lets them be empty, else deleted and created again when nothing refers to it.
    A re-run after a crash between the two finds the value free and plain ordering suffices."""
    # Only an entity with an update can give a value up (one keeping its value and another taking it is a
    # 409 no order avoids): the values those hold now, against the values every write takes.
    held = {
        value: (c.entity.id, fields)
        for c in changes
        if c.action == "update"
        for fields, value in unique_values(live[c.entity.id])
    }
    if not held:
        return changes
    takes: dict[str, dict[str, set[str]]] = {}  # taker id -> holder id -> the fields it takes from the holder
    for change in changes:
        for _, value in unique_values(change.entity):
            holder, fields = held.get(value, (change.entity.id, ()))
            if holder != change.entity.id:
                takes.setdefault(change.entity.id, {}).setdefault(holder, set()).update(fields)
    if not takes:
        return changes
    contested: dict[str, set[str]] = {}  # id -> its fields whose values move: given up or taken
    takers: dict[str, list[str]] = {}  # holder id -> the ids taking from it
    for taker, holders in takes.items():
        for holder, moved in holders.items():
            contested.setdefault(taker, set()).update(moved)
            contested.setdefault(holder, set()).update(moved)
            takers.setdefault(holder, []).append(taker)
    position = {c.entity.id: i for i, c in enumerate(changes)}
    firsts: dict[str, Change] = {}
    for cycle in _cycles(takes, sorted(takes, key=position.__getitem__)):  # each broken before the next
        candidates = (
            (m, _first_write(live[m], wanted[m], contested[m])) for m in sorted(cycle, key=position.__getitem__)
        )
        member, first = next(((m, w) for m, w in candidates if w is not None), (None, None))
        if member is None or first is None:  # no member can give its values up (a hand-made swap of upstream
            del takes[cycle[0]][cycle[1]]  # names): Kong will answer 409, which is reported
            continue
        firsts[member] = first
        for taker in takers[member]:  # what takes from it need not wait: its first write runs before them
            takes[taker].pop(member, None)
    out: list[Change] = []
    for change in changes:
        entity_id = change.entity.id
        after = tuple(takes.get(entity_id, ()))
        first = firsts.get(entity_id)
        out.append(replace(change, after=after, first=first) if after or first else change)
    return out


def _cycles(takes: dict[str, dict[str, set[str]]], order: list[str]) -> Iterator[list[str]]:
    """The cycles of `takes` (taker -> holders), each with its members in order, found depth first from
    `order`; the caller breaks each (removes edges) before asking for the next. An id once walked without
    meeting a cycle is not walked again, as removing edges makes no cycle: thousands of swapped keys are
    not walked thousands of times. Walked with an explicit stack: chains run as long as a list of keys."""
    done: set[str] = set()
    for start in order:
        while start not in done:
            path = [start]
            on_path = {start}
            todo = [iter(list(takes[start]))]
            cycle: list[str] | None = None
            while path and cycle is None:
                node = next(todo[-1], None)
                if node is None:
                    on_path.discard(path[-1])
                    done.add(path.pop())
                    todo.pop()
                elif node in on_path:
                    cycle = path[path.index(node) :]
                elif node not in done:
                    on_path.add(node)
                    path.append(node)
                    todo.append(iter(list(takes.get(node, ()))))
            if cycle is not None:
                yield cycle


def _first_write(current: Entity, desired: Entity, fields: set[str]) -> Change | None:
    """The write by which an entity in a cycle gives up the values of `fields` before the others take them,
    taking none of those it is to take itself; None when its kind has no such write."""
    spec = desired.spec
    body = {k: v for k, v in desired.body.items() if k not in fields}
    if fields <= set(spec.blankable) and (not spec.one_of or any(body.get(f) is not None for f in spec.one_of)):
        return Change("update", replace(desired, body=body), name=desired.display_name())
    if spec.recreatable:
        return Change("delete", current, name=current.display_name())
    return None


def keep_generated(desired: Entity, live: Entity, schema: Schema | None) -> Entity:
    """`desired` with the values Kong generated for the `auto` fields it leaves out (a raw oauth2 plugin's
    config.provision_key): they are Kong's to choose, not a change, and a PUT without them would make Kong
    draw new ones (clients provisioned with the old key locked out)."""
    auto = auto_paths(schema)
    if not auto:
        return desired
    body = desired.body
    for path in auto:
        if _at(body, path) is None and (value := _at(live.body, path)) is not None:
            body = _set_at(body, path, value)
    return desired if body is desired.body else replace(desired, body=body)


def auto_paths(schema: Schema | None) -> tuple[tuple[str, ...], ...]:
    """The paths of a schema's generated fields (`auto`), through records; not ids and timestamps."""
    if not schema:
        return ()
    fields = schema.get("fields") or []
    cached = _AUTO_PATHS.get(id(fields))
    if cached is not None and cached[0] is fields:
        return cached[1]

    def walk(specs: list[tuple[str, dict[str, Any]]], prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for name, spec in specs:
            if not prefix and name in SKIPPED:
                continue
            if spec.get("auto") and not spec.get("timestamp"):
                yield (*prefix, name)
            elif spec.get("type") == "record":
                yield from walk(field_specs(spec), (*prefix, name))

    paths = tuple(walk(field_specs(schema), ()))
    if len(_AUTO_PATHS) > 10_000:
        _AUTO_PATHS.clear()
    _AUTO_PATHS[id(fields)] = (fields, paths)
    return paths


_AUTO_PATHS: dict[int, tuple[Any, tuple[tuple[str, ...], ...]]] = {}


def _at(body: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def _set_at(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `body` (and of the records on the way) with `value` at `path`."""
    head, *rest = path
    inner = body.get(head)
    return {**body, head: _set_at(inner if isinstance(inner, dict) else {}, tuple(rest), value) if rest else value}


def compare(desired: Entity, live: Entity, schema: Schema | None, masker: Masker) -> list[FieldChange]:
    want = normalise(_comparable(desired), schema)
    have = normalise(_comparable(live), schema)
    if desired.kind == "oauth2_credentials" and want.get("hash_secret"):
        # stored hashed with a random salt: the desired secret is hashed with that salt, as Kong would check it
        stored, secret = have.get("client_secret"), want.get("client_secret")
        rehashed = oauth2_secret_hash(secret, stored) if isinstance(secret, str) and isinstance(stored, str) else None
        if rehashed is None:  # another form of hash (or none given): cannot be compared
            want.pop("client_secret", None)
            have.pop("client_secret", None)
        else:
            want["client_secret"] = rehashed
    if desired.kind == "keyauth_credentials":
        # Kong reports the time left, not what was set: only whether there is one is compared (a PUT with the
        # ttl option sets one, a PUT without it leaves none)
        wanted_ttl, held_ttl = want.pop("ttl", None), have.pop("ttl", None)
        if (wanted_ttl is None) != (held_ttl is None):
            want["ttl"], have["ttl"] = wanted_ttl, held_ttl
    changes = diff_fields(desired.kind, want, have, masker)
    marked = secret_tag_paths(live.body.get("tags"))
    if marked and changes:
        changes = hide_old(changes, marked)
    derived = secret_tag_paths(desired.body.get("tags"))
    if derived and changes:
        changes = hide_new(changes, derived)
    encrypted = encrypted_paths(schema) if changes else []
    if encrypted:  # secrets by Kong's own word: hidden on both sides, as fields named as secrets are
        changes = hide_new(hide_old(changes, encrypted), encrypted)
    hashed = HASHED_SECRETS.get(desired.kind)
    if hashed is not None:
        # compared as Kong's hash, shown by the reference of the secret itself
        shown = f"{masker.secret(desired.body.get(hashed))} (changed)"
        changes = [replace(c, new=shown) if c.path == hashed and c.new is not None else c for c in changes]
    return changes


# The secret field of each kind Kong keeps hashed, which compare() compares as that hash.
HASHED_SECRETS = {"basicauth_credentials": "password", "oauth2_credentials": "client_secret"}


def encrypted_paths(schema: Schema | None, prefix: tuple[str, ...] = ()) -> list[str]:
    """The dotted paths of the fields Kong's schema marks `encrypted` (Kong Enterprise encrypts them at rest:
    an aws-lambda `aws_key` and `aws_secret`, a loggly `key`) and of the maps whose values may be vault
    references (http-log's `headers`), which `dump` writes as placeholders: a value set there by hand is as
    secret as one the catalog resolved."""
    found: list[str] = []
    for name, spec in field_specs(schema):
        referenceable_map = spec.get("type") == "map" and (spec.get("values") or {}).get("referenceable")
        if spec.get("encrypted") or referenceable_map:
            found.append(".".join((*prefix, name)))
        elif spec.get("type") == "record":
            found += encrypted_paths(spec, (*prefix, name))
    return found


def _comparable(entity: Entity) -> dict[str, Any]:
    body = dict(entity.body)
    tags = body.get("tags")
    if isinstance(tags, list) and any(isinstance(t, str) and t.startswith(SECRET_TAG) for t in tags):
        # The marks of secret fields are no change of their own: an entity gets them when it is written for
        # a change, and a field written plain where a placeholder stood (a dump re-applied) is not rewritten.
        body["tags"] = [t for t in tags if not (isinstance(t, str) and t.startswith(SECRET_TAG))]
    if entity.kind == "basicauth_credentials" and entity.origin and isinstance(body.get("password"), str):
        consumer = entity.parent_id() or ""
        body["password"] = basic_auth_hash(body["password"], consumer)  # desired side: hash as Kong does
    return body


def unique_values(entity: Entity) -> Iterator[tuple[tuple[str, ...], str]]:
    """(fields, value) for each unique key of its kind the entity holds, the value as comparable text."""
    for fields in entity.spec.unique:
        parts = [entity.body.get(name) for name in fields]
        if len(parts) == 1 and parts[0] is None:  # Kong does not hold an empty one-field key unique
            continue
        refs = [part.get("id") if isinstance(part, dict) else part for part in parts]
        yield fields, json.dumps([entity.kind, fields, *refs], default=str)


# ---------------------------------------------------------------------- server capability


def server_problems(
    server: ServerInfo, desired: DesiredState, edition: str, mode: str
) -> list[tuple[Entity | KeyPath, str]]:
    """Why this Kong cannot take this catalog, each with the entity (or catalog key) that needs what is missing."""
    problems: list[tuple[Entity | KeyPath, str]] = []
    if server.major_minor() < (3, 0):
        problems.append(((), f"Kong {server.version} is too old: gatewayctl needs Kong 3.0 or newer"))
    if edition == "enterprise" and server.edition != "enterprise":
        problems.append(
            (
                ("gateway", "edition"),
                f"the catalog sets gateway.edition: enterprise but this Kong is the {server.edition} edition",
            )
        )
    if mode == "db" and server.dbless:
        problems.append(
            (
                ("gateway", "mode"),
                "this Kong runs without a database (database=off); set gateway.mode: dbless to apply with POST /config",
            )
        )
    if mode == "dbless" and not server.dbless and server.database != "unknown":
        problems.append(
            (
                ("gateway", "mode"),
                f"the catalog sets gateway.mode: dbless but this Kong uses a database ({server.database}); "
                "use gateway.mode: db",
            )
        )
    if server.plugins:
        seen: set[str] = set()
        for entity in desired.entities:
            name = entity.body.get("name") if entity.kind == "plugins" else CREDENTIAL_PLUGIN.get(entity.kind)
            if name and name not in server.plugins and name not in seen:
                seen.add(name)
                problems.append(
                    (entity, f"plugin '{name}' is not available on this Kong ({server.version}, {server.edition})")
                )
    return problems


# Kong's own check of a plugin entity, without the database (kong/api/routes/kong.lua validate_schema: the
# plugin's schema with defaults filled, and its entity checks; not foreign keys nor uniqueness).
VALIDATE_PLUGIN = "/schemas/plugins/validate"


def refused_plugin_configs(
    client: KongAdmin, changes: Iterable[Change], parallelism: int = 8
) -> list[tuple[Entity, dict[str, Any]]]:
    """(entity, Kong's 400 body) for each plugin from a catalog `plugins:` map that the plan creates or
    updates and Kong refuses. Those configs go to Kong as written, so only Kong can judge them, and a
    refusal found at its write would leave the apply half done: they are judged before anything is
    written, as decK's online validate does. A Kong that does not answer the check (403 from RBAC, 404 or
    405 from something in front of it) leaves the judging to the write."""
    todo = [c.entity for c in changes if c.action != "delete" and c.entity.from_plugins_map()]
    # One question per distinct plugin: entries alike but for the entity they hang off (a plugin every
    # service gets from `defaults.plugins`) get the same answer, as a foreign key is only checked for its form.
    alike: dict[str, list[Entity]] = {}
    for entity in todo:
        alike.setdefault(_judged_form(entity), []).append(entity)

    def verdict(entity: Entity) -> dict[str, Any] | None:
        response = client.request(
            "POST",
            VALIDATE_PLUGIN,
            json={**entity.body, "id": entity.id},
            ok=(200, 400, 403, 404, 405),
            read=True,
            any_404=True,
        )
        if response.status_code != 400:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        return body if isinstance(body, dict) else {}

    if not alike:
        return []
    groups = list(alike.values())
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(groups)))) as pool:
        answers = list(pool.map(lambda group: verdict(group[0]), groups))
    return [(entity, body) for group, body in zip(groups, answers, strict=True) if body is not None for entity in group]


def _judged_form(plugin: Entity) -> str:
    """What Kong's check of a plugin depends on: all but its id and the ids of what it hangs off."""
    scoped = {
        k: ({"id": k} if v else v) if k in ("service", "route", "consumer") else v for k, v in plugin.body.items()
    }
    return json.dumps(scoped, sort_keys=True, default=str)
