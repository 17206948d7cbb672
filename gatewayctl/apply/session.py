"""One diff/apply run against one Kong: catalog -> desired entities -> server check -> plan -> writes.

Each step is a function; the CLI strings them together and does the printing."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gatewayctl.apply import dbless
from gatewayctl.apply.batches import Cancel
from gatewayctl.apply.kong import Outcome, execute
from gatewayctl.apply.lock import KongLock
from gatewayctl.apply.snapshot import write_snapshot
from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.catalog.secrets import Reference, SecretResolver
from gatewayctl.clients.kong_admin import KongAdmin, KongError
from gatewayctl.diagnostics import CatalogInvalid, Diagnostic, KeyPath, format_path
from gatewayctl.gcpause import paused_gc
from gatewayctl.plan.entities import DesiredState, Entity, flatten, from_live
from gatewayctl.plan.fields import secret_paths_by_key
from gatewayctl.plan.kinds import BY_NAME, PARENT_FIELD
from gatewayctl.plan.kong import (
    KongPlan,
    LiveState,
    Page,
    SchemaCache,
    ServerInfo,
    build_plan,
    compared,
    fetch_live,
    refused_plugin_configs,
    schema_paths,
    server_problems,
    unique_values,
)
from gatewayctl.plan.kuma import Platform
from gatewayctl.plan.masking import Masker
from gatewayctl.render.kong import build_kong_config
from gatewayctl.render.kuma import KumaObject, build_kuma_objects
from gatewayctl.render.ownership import OWNER, catalog_tag, ownership_tags


@dataclass
class Desired:
    config: dict[str, Any]
    state: DesiredState
    masker: Masker


def render_desired(loaded: LoadedCatalog) -> Desired:
    """The catalog's Kong entities with secrets resolved; CatalogInvalid when a secret is missing."""
    secrets = loaded.secrets()
    loaded.check_secrets(["kong"], secrets)
    config = build_kong_config(loaded.catalog, secrets)
    return Desired(config, flatten(config, loaded.catalog), _resolved_masker(secrets))


def _resolved_masker(secrets: SecretResolver) -> Masker:
    """A masker of every secret `secrets` has resolved so far, each shown by its reference."""
    return Masker.of(secrets.resolved_values(), secrets.resolved_references())


@dataclass
class MissingSecrets:
    """A target that cannot be rendered here for want of its secrets: the references that cannot be resolved,
    and a masker of those that can (a server's error may still echo one of them)."""

    references: list[Reference]
    masker: Masker

    @property
    def names(self) -> list[str]:
        return [str(ref) for ref in self.references]


def missing_secrets(loaded: LoadedCatalog, target: str) -> MissingSecrets | None:
    """What `target` (kong, kuma) lacks to be rendered in this environment; None when every secret it needs
    resolves. Lets a command that can do without the rendering (status) go on without the secrets."""
    secrets = loaded.secrets()
    missing = loaded.unresolved([target], secrets)
    if not missing:
        return None
    for _, ref in loaded.needed_references([target]):
        if ref not in missing:
            secrets.value(ref)  # resolved for the masker: a server's error may echo it
    return MissingSecrets(missing, _resolved_masker(secrets))


def locate(loaded: LoadedCatalog, entity: Entity | KeyPath | None, message: str) -> Diagnostic:
    """`message` at the catalog entry `entity` was rendered from (or at a key path; the top without either)."""
    path = entity.origin if isinstance(entity, Entity) else (entity or ())
    return loaded.source.diagnostic(path, message)


def check_server(loaded: LoadedCatalog, server: ServerInfo, desired: Desired) -> None:
    """CatalogInvalid (located) when this Kong cannot take the catalog: version, edition, mode, plugins."""
    gateway = loaded.catalog.gateway
    problems = server_problems(server, desired.state, gateway.edition, gateway.mode)
    if problems:
        raise CatalogInvalid(locate(loaded, entity, message) for entity, message in problems)


def plan(client: KongAdmin, catalog_name: str, server: ServerInfo, desired: Desired, parallelism: int) -> KongPlan:
    schemas = SchemaCache.of(client, server)
    with paused_gc():  # tens of thousands of JSON dicts and their normal forms, no cycles (gcpause.py)
        with compared_as_read(desired, schemas, parallelism) as on_page:
            live = fetch_live(client, catalog_name, server, parallelism, on_page)
        return _plan_against(live, client, server, desired, parallelism)


@contextlib.contextmanager
def compared_as_read(desired: Desired, schemas: SchemaCache, parallelism: int) -> Iterator[Callable[[str, Page], None]]:
    """What to do with each page of owned entities as it arrives: hand it to a thread of its own that compares
    those the catalog has too (into the memo `build_plan` reads), while the reading goes on. Comparing is most
    of a plan's own time, and the reading is mostly waiting for Kong; the thread that read a page asks for the
    next one at once, and the schemas a page needs are fetched meanwhile. Every comparison is done when the
    block ends."""
    wanted = desired.state.by_id()

    def compare_page(kind: str, items: Page) -> None:
        pairs = [(wanted[i], from_live(kind, item)) for item in items if (i := str(item.get("id"))) in wanted]
        pairs = [(entity, current) for entity, current in pairs if entity.kind == kind]
        if pairs:
            schemas.fetch(schema_paths(entity for entity, _ in pairs), parallelism)
            for entity, current in pairs:
                compared(entity, current, schemas.for_entity, desired.masker, schemas.compared)

    def on_page(kind: str, items: Page) -> None:
        # The schemas a page needs are asked for at once, all kinds at the same time (the comparing thread,
        # one page after another, would otherwise wait one round trip per kind).
        needed = (e for item in items if (e := wanted.get(str(item.get("id")))) is not None and e.kind == kind)
        paths = schema_paths(needed)
        if paths:
            pending.append(fetcher.submit(schemas.fetch, paths, parallelism))
        pending.append(comparer.submit(compare_page, kind, items))

    with ThreadPoolExecutor(max_workers=1) as comparer, ThreadPoolExecutor(max_workers=max(1, parallelism)) as fetcher:
        pending: list[Future[None]] = []
        yield on_page
        for future in pending:
            future.result()


def _plan_against(
    live: LiveState, client: KongAdmin, server: ServerInfo, desired: Desired, parallelism: int
) -> KongPlan:
    schemas = SchemaCache.of(client, server)
    # Only entities on both sides are compared field by field (creates and deletes need no defaults): an
    # initial sync reads no schema at all.
    live_ids = live.ids()
    schemas.fetch(schema_paths(e for e in desired.state.entities if e.id in live_ids), parallelism)
    return build_plan(desired.state, live, schemas.for_entity, server, desired.masker, schemas.compared)


@dataclass
class ApplyResult:
    plan: KongPlan  # the plan that was carried out (made again under the lock)
    outcome: Outcome
    snapshot: Path | None
    broke_stale_lock: str | None = None


def apply_db(
    client: KongAdmin,
    loaded: LoadedCatalog,
    server: ServerInfo,
    desired: Desired,
    *,
    parallelism: int,
    state_dir: Path,
    lock_wait: float,
    progress: Any = None,
    cancel: Cancel | None = None,
    kuma_snapshot: dict[str, Any] | None = None,
    planned: KongPlan | None = None,
) -> ApplyResult:
    """Take the lock, plan again under it, save a snapshot (with the owned Kuma objects, when given), write,
    release. `planned`: the plan made (and shown) before the lock. A plan depends only on the catalog, the
    schemas and the owned entities, so when those read again under the lock are exactly the ones it was made
    from, it still holds and is not worked out again."""
    desired_bodies = {e.id: (e.kind, e.body) for e in desired.state.entities}
    with ThreadPoolExecutor(max_workers=1) as background:
        # where the snapshot must mask secrets (from the catalog alone): found while the lock is taken and
        # Kong is read again
        secret_fields = background.submit(secret_paths_by_key, desired_bodies, desired.masker)
        with KongLock(client, loaded.catalog.name, wait=lock_wait) as lock:
            with paused_gc():
                # With the plan made before the lock, the entities read again are mostly the ones it was made
                # from: they are compared only when they are not (_plan_against, its memo), not as they arrive.
                comparing = compared_as_read(desired, SchemaCache.of(client, server), parallelism)
                with contextlib.nullcontext(None) if planned is not None else comparing as on_page:
                    live = fetch_live(client, loaded.catalog.name, server, parallelism, on_page)
                if planned is not None and live.entities == planned.live.entities:
                    fresh = KongPlan(server, planned.changes, live)
                else:
                    fresh = _plan_against(live, client, server, desired, parallelism)
            snapshot = None
            if fresh.changes:
                snapshot = write_snapshot(
                    state_dir / "snapshots",
                    loaded.catalog.name,
                    client.endpoint.display(),
                    fresh.live,
                    kuma=kuma_snapshot,
                    secret_fields=secret_fields.result(),
                )
            outcome = execute(client, fresh.changes, parallelism, progress, cancel)
    return ApplyResult(fresh, outcome, snapshot, lock.broke_stale)


@dataclass
class DblessResult:
    loaded_config: bool  # False: Kong already ran exactly this configuration
    snapshot: Path | None
    config_hash: str


@dataclass
class DblessPayload:
    text: str  # the configuration apply would post
    running: str | None  # the configuration hash Kong reports
    others: dbless.Carried  # the entities of others carried over into `text`, by kind

    @property
    def unchanged(self) -> bool:
        """Kong already runs exactly this configuration."""
        return self.running == dbless.config_hash(self.text)


def dbless_payload(client: KongAdmin, loaded: LoadedCatalog, desired: Desired) -> DblessPayload:
    return DblessPayload(*dbless.payload_for(client, desired.config, loaded.catalog.name))


def plan_kong(
    client: KongAdmin,
    loaded: LoadedCatalog,
    server: ServerInfo,
    desired: Desired,
    parallelism: int,
    check_plugins: bool = True,
) -> tuple[KongPlan, DblessPayload | None]:
    """The plan, and on DB-less Kong the configuration to post. When a DB-less Kong already runs exactly
    that configuration (same hash), no entity can differ: the entities and schemas are not read at all.
    `check_plugins`: ask Kong about the `plugins:` configs the plan writes (`check_plugin_configs`) and what
    its deletes would take with them (`check_cascades`) now, rather than just before writing (the drift
    watcher, which mostly only looks)."""
    payload = dbless_payload(client, loaded, desired) if server.dbless else None
    if payload is not None and payload.unchanged:
        return KongPlan(server, [], LiveState()), payload
    the_plan = plan(client, loaded.catalog.name, server, desired, parallelism)
    if payload is not None and (problems := carried_over_problems(loaded, desired, payload.others, the_plan.live)):
        raise CatalogInvalid(problems)
    if payload is None and check_plugins:  # DB-less Kong takes a configuration whole or none of it
        check_cascades(loaded, client, the_plan, parallelism)
        check_plugin_configs(loaded, client, the_plan, desired, parallelism)
    return the_plan, payload


def carried_over_problems(
    loaded: LoadedCatalog, desired: Desired, others: dbless.Carried, live: LiveState
) -> list[Diagnostic]:
    """What DB-less Kong would make of this catalog's entities posted with those of others carried over
    (kong/db/schema/others/declarative_config.lua), told before anything is posted: a unique value held by
    both, or a reference of theirs to an entity this catalog drops, refuses the whole configuration (with a
    message quoting the value, or with none at all: `flatten_errors` loses the errors it keys by name); a
    plugin of the same name and scope as theirs is loaded beside it, nothing holding a plugin's scope unique
    there, and Kong runs whichever it wrote last (kong/db/declarative/import.lua). At the catalog entry,
    naming the other entity, never a secret value."""
    carried = [
        from_live(kind, {k: {"id": v} if k in FOREIGN_KEYS and isinstance(v, str) else v for k, v in item.items()})
        for kind, items in others.items()
        if kind in BY_NAME
        for item in items
        if isinstance(item, dict) and "id" in item
    ]
    held = {value: other for other in carried for _, value in unique_values(other)}
    out: list[Diagnostic] = []
    for entity in desired.state.entities:
        clash = next(((fields, held[v]) for fields, v in unique_values(entity) if v in held), None)
        if clash is not None:
            out.append(locate(loaded, entity, desired.masker.text(_clash_message(entity, *clash))))
    kept = {e.id for e in desired.state.entities} | {
        str(item.get("id")) for items in others.values() for item in items if isinstance(item, dict)
    }
    dropped = {e.id: e for e in live.all()}
    for other in carried:
        for name in FOREIGN_KEYS:
            ref = other.body.get(name)
            ref_id = ref.get("id") if isinstance(ref, dict) else None
            if isinstance(ref_id, str) and ref_id not in kept:
                gone = dropped.get(ref_id)
                what = f"{gone.spec.label} {gone.display_name()}" if gone is not None else f"{name} {ref_id}"
                message = (
                    f"{other.spec.label} {other.display_name()} in Kong, not this catalog's, belongs to {what}, "
                    "which this catalog no longer has: DB-less Kong would refuse the configuration (an invalid "
                    f"reference); keep {what} in the catalog, or have that {other.spec.label} removed first"
                )
                out.append(locate(loaded, None, desired.masker.text(message)))
    return out


FOREIGN_KEYS = tuple(PARENT_FIELD.values())  # the keys by which an entity refers to another


def _clash_message(entity: Entity, fields: tuple[str, ...], other: Entity) -> str:
    if entity.kind == "plugins" and len(fields) > 1:
        return (
            f"Kong's running configuration has another {entity.display_name()} plugin, not this catalog's "
            f"({other.id}): DB-less Kong would load both and run only the one it happened to write last; only "
            "one of them can be set: remove one, or tag the other one"
        )
    held = " and ".join(f for f in fields if f not in FOREIGN_KEYS) or " and ".join(fields)
    return (
        f"{other.spec.label} {other.display_name()} in Kong's running configuration, not this catalog's, holds "
        f"the same {held}: DB-less Kong refuses a configuration holding it twice; change one of them, or "
        "remove or tag the other one"
    )


# What Kong deletes with an entity (`on_delete = "cascade"` foreign keys: kong/db/schema/entities/plugins.lua,
# targets.lua, kong/plugins/*/daos.lua), as the nested lists that show it, and a service's routes, for which
# Kong refuses the delete instead (midway through an apply). A nested list Kong does not have answers 404.
CASCADES: dict[str, tuple[tuple[str, str | None], ...]] = {  # kind: (nested list, the plugin it needs)
    "consumers": (
        ("plugins", None),
        ("key-auth", "key-auth"),
        ("basic-auth", "basic-auth"),
        ("jwt", "jwt"),
        ("oauth2", "oauth2"),
        ("acls", "acl"),
        ("hmac-auth", "hmac-auth"),
    ),
    "services": (("plugins", None), ("routes", None)),  # routes: Kong refuses the delete instead (restrict)
    "routes": (("plugins", None),),
    "upstreams": (("targets", None),),
}


def cascade_problems(
    client: KongAdmin, the_plan: KongPlan, catalog_name: str, parallelism: int
) -> list[tuple[Entity, str]]:
    """(entity, why) for each owned entity the plan deletes that has entities without this catalog's tags
    hanging off it (a key-auth added by hand to a consumer, a plugin someone put on a service): Kong would
    delete them with it, and no snapshot holds them. One GET per list of each such delete; a credential list
    only where its plugin is installed (a list Kong does not have answers 404 all the same)."""
    deleted = [c.entity for c in the_plan.changes if c.action == "delete" and c.entity.kind in CASCADES]
    ours = set(ownership_tags(catalog_name))
    installed = the_plan.server.plugins

    def unowned_children(entity: Entity) -> list[str]:
        found: list[str] = []
        for nested, plugin in CASCADES[entity.kind]:
            if plugin is not None and installed and plugin not in installed:
                continue
            try:
                items = list(client.list_all(f"/{entity.spec.collection}/{entity.id}/{nested}"))
            except KongError as exc:
                if exc.status == 404:  # no such list on this Kong, or the entity is gone already
                    continue
                raise
            found += [  # named by id where the name could be a secret (a key)
                f"{nested.removesuffix('s')} {item.get('name') or item.get('target') or item.get('id')}"
                for item in items
                if isinstance(item, dict) and not ours <= set(item.get("tags") or [])
            ]
        return found

    if not deleted:
        return []
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        children = list(pool.map(unowned_children, deleted))
    tags = " and ".join(sorted(ours))
    return [
        (
            entity,
            f"{entity.spec.label} {entity.display_name()}, which this plan deletes, has what this catalog does not "
            f"own hanging off it ({', '.join(found[:5])}{f' and {len(found) - 5} more' if len(found) > 5 else ''}), "
            "which Kong would delete with it (or, for a route, refuse to delete it, midway through the apply); "
            "gatewayctl never deletes what it does not own: delete or move those first, or hand them over by "
            f"tagging them {tags}",
        )
        for entity, found in zip(deleted, children, strict=True)
        if found
    ]


def check_cascades(loaded: LoadedCatalog, client: KongAdmin, the_plan: KongPlan, parallelism: int) -> None:
    """CatalogInvalid when the plan's deletes would take unowned entities with them (`cascade_problems`);
    nothing is sent then (DB-less Kong refuses such a configuration too)."""
    problems = cascade_problems(client, the_plan, loaded.catalog.name, parallelism)
    if problems:
        raise CatalogInvalid(locate(loaded, None, why) for _, why in problems)


def check_plugin_configs(
    loaded: LoadedCatalog, client: KongAdmin, the_plan: KongPlan, desired: Desired, parallelism: int
) -> None:
    """CatalogInvalid, at each key of a `plugins:` entry Kong refuses, before anything is written."""
    refused = refused_plugin_configs(client, the_plan.changes, parallelism)
    if refused:
        raise CatalogInvalid(
            d for entity, body in refused for d in plugin_refusal_diagnostics(loaded, desired, entity, body)
        )


def plugin_refusal_diagnostics(
    loaded: LoadedCatalog, desired: Desired, entity: Entity, body: dict[str, Any]
) -> list[Diagnostic]:
    """Kong's schema violations of one `plugins:` entry (`POST /schemas/plugins/validate`), each at its key."""
    lead = f"Kong refuses plugin {entity.body.get('name')}"
    out = [field_diagnostic(loaded, desired, entity, path, lead, m) for path, m in _field_errors(body.get("fields"))]
    return out or [field_diagnostic(loaded, desired, entity, (), lead, body.get("message") or "schema violation")]


def _field_errors(fields: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str]]:
    """(key path, message) of each error in a Kong error body's `fields`: nested like the entity, array
    elements by their Lua index (from 1), `@entity` for the entity checks of the record it is in."""
    if isinstance(fields, str):
        yield path, fields
    elif isinstance(fields, list):
        for index, value in enumerate(fields):
            yield from _field_errors(value, (*path, index))
    elif isinstance(fields, dict):
        for key, value in fields.items():
            if key == "@entity":
                yield from ((path, str(v)) for v in (value if isinstance(value, list) else [value]) if v is not None)
            else:
                yield from _field_errors(value, (*path, int(key) - 1 if key.isdigit() else key))


def apply_dbless(
    client: KongAdmin,
    loaded: LoadedCatalog,
    text: str,
    live: LiveState,
    state_dir: Path,
    kuma_snapshot: dict[str, Any] | None = None,
) -> DblessResult:
    snapshot = write_snapshot(
        state_dir / "snapshots", loaded.catalog.name, client.endpoint.display(), live, kuma=kuma_snapshot
    )
    changed = dbless.post_config(client, text)
    return DblessResult(changed, snapshot, dbless.config_hash(text))


def flattened_error_diagnostics(loaded: LoadedCatalog, desired: Desired, error: KongError) -> list[Diagnostic]:
    """A DB-less 400's `flattened_errors`, one located diagnostic per entity error (values masked)."""
    body = error.body if isinstance(error.body, dict) else {}
    by_id = desired.state.by_id()
    out: list[Diagnostic] = []
    for item in body.get("flattened_errors") or []:
        if not isinstance(item, dict):
            continue
        entity = by_id.get(str(item.get("entity_id")))
        label = f"{item.get('entity_type', 'entity')} {item.get('entity_name') or item.get('entity_id') or ''}".strip()
        for err in item.get("errors") or []:
            if not isinstance(err, dict):
                continue
            # "config.origins.1": Kong joins the keys of its nested errors with dots, array indexes from 1
            field = tuple(int(p) - 1 if p.isdigit() else p for p in str(err.get("field") or "").split(".") if p)
            out.append(field_diagnostic(loaded, desired, entity, field, f"Kong refused {label}", err.get("message")))
    out.extend(_unflattened_uniqueness(loaded, desired, body.get("fields")))
    if not out:
        out.append(locate(loaded, None, desired.masker.text(f"Kong refused the configuration: {error.kong_message()}")))
    return out


# kong/db/schema/others/declarative_config.lua uniqueness_error_msg
UNIQUENESS_VIOLATION = re.compile(
    r"uniqueness violation: '(\w+)' entity with (.+?) set to '(.*)' already declared", re.S
)


def _unflattened_uniqueness(loaded: LoadedCatalog, desired: Desired, errors: Any) -> Iterator[Diagnostic]:
    """A uniqueness violation `flatten_errors` left in `errors` (the body's `fields`: a nested credential's,
    which Kong keys by its position in its consumer's list, under its own type, matching no entity), at each
    of this catalog's entities holding the value it quotes."""
    if isinstance(errors, dict):
        errors = list(errors.values())
    if isinstance(errors, list):
        for error in errors:
            yield from _unflattened_uniqueness(loaded, desired, error)
    elif isinstance(errors, str) and (found := UNIQUENESS_VIOLATION.fullmatch(errors)):
        kind, field, value = found.groups()
        for entity in desired.state.entities:
            held = entity.id if field == "primary key" else entity.body.get(field)
            if entity.kind == kind and held is not None and str(held) == value:
                label = f"{entity.spec.label} {entity.display_name()}"
                yield locate(loaded, entity, desired.masker.text(f"Kong refused {label}: {errors}"))


def field_diagnostic(
    loaded: LoadedCatalog, desired: Desired, entity: Entity | None, field: KeyPath, lead: str, message: Any
) -> Diagnostic:
    """Kong's error on one field of `entity`, at the catalog key the field came from: `config.<path>` of a
    plugin from a `plugins:` map is that entry's own `<path>` (the catalog writes the config as the entry);
    any other field is named in the message, at the entry the entity was rendered from."""
    text = str(message or "invalid")
    if entity is not None and entity.from_plugins_map() and field[:1] == ("config",):
        return loaded.source.diagnostic((*entity.origin, *field[1:]), desired.masker.text(f"{lead}: {text}"))
    named = f"{format_path(field)}: {text}" if field else text
    return locate(loaded, entity, desired.masker.text(f"{lead}: {named}"))


def rejection_diagnostic(
    loaded: LoadedCatalog,
    desired: Desired,
    entity: Entity,
    label: str,
    error: KongError,
    owned: Iterable[Entity] = (),
    holder_catalog: str | None = None,
) -> Diagnostic:
    """A 4xx on one write, at the catalog entry the entity was rendered from. `owned`: this catalog's
    entities as the plan read them, to tell whether a 409's holder is one of them; `holder_catalog`: the
    gatewayctl catalog whose tags the 409's holder carries, when it was found (`holder_catalog_of`)."""
    message = error.kong_message()
    scoped = any(entity.body.get(k) for k in ("service", "route", "consumer"))
    holder = owned_holder(entity, owned, error.body) if error.status == 409 else None
    if holder is not None:
        wanted = desired.state.by_id().get(holder.id)
        shown = f"{holder.spec.label} {(wanted or holder).display_name()}"
        where = f" ({format_path(wanted.origin)})" if wanted is not None and wanted.origin else ""
        message += (
            f" (Kong holds this name or key on this catalog's own {shown}{where}, and gatewayctl found no order "
            "of writes that frees it first: values swapped between entities that can be neither written "
            "without them nor deleted and created again, such as upstream names swapped by hand; rename or "
            "delete one of them in Kong by hand, then apply again)"
        )
    elif error.status == 409 and entity.kind == "plugins" and not scoped:
        message += (
            f" (Kong runs one global {entity.body.get('name')} plugin, and this Kong has one without this "
            "catalog's ownership tags: another catalog sharing this Kong, or someone else, sets it; only one "
            "of them can)"
        )
    elif error.status == 409 and holder_catalog and holder_catalog != loaded.catalog.name:
        this = loaded.catalog.name
        message += (
            f" (the entity holding it in Kong is catalog '{holder_catalog}''s, not this catalog's: another "
            "catalog sharing this Kong, or this one under its former name; gatewayctl never changes it: rename "
            f"one of them, or, when this catalog was '{holder_catalog}' before, hand its entities over by "
            f"replacing their tag {catalog_tag(holder_catalog)} with {catalog_tag(this)})"
        )
    elif error.status == 409:
        message += (
            " (an entity with this name or key exists in Kong without this catalog's ownership tags; gatewayctl "
            "never changes it: rename one of them, or remove or tag the other one)"
        )
    elif error.status == 400 and error.code == PRIMARY_KEY_VIOLATION:
        message += (
            " (an entity with the id this catalog gives it exists in Kong without this catalog's ownership tags: "
            "they were changed by hand or by another tool; gatewayctl never overwrites it: delete it, or hand it "
            f"back by putting the tags {' and '.join(ownership_tags(loaded.catalog.name))} on it again)"
        )
    return locate(
        loaded,
        entity,
        desired.masker.text(f"Kong refused {label} ({error.method} {error.path}, HTTP {error.status}): {message}"),
    )


PRIMARY_KEY_VIOLATION = 3  # kong/db/errors.lua ERRORS.PRIMARY_KEY_VIOLATION (HTTP 400)
# The unique fields Kong also reads an entity by (its endpoint key: GET /<collection>/<value>)
ENDPOINT_KEYS = {"consumers": "username", "services": "name", "routes": "name", "upstreams": "name"}


def holder_catalog_of(client: KongAdmin, entity: Entity, error: KongError) -> str | None:
    """The gatewayctl catalog whose tags the holder of a 409's name carries (another catalog, or this one
    under its former name), read by that name; None when it is no catalog's, or cannot be read."""
    field = ENDPOINT_KEYS.get(entity.kind)
    fields = error.body.get("fields") if isinstance(error.body, dict) else None
    value = fields.get(field) if isinstance(fields, dict) and field else None
    if not isinstance(value, str) or not value:
        return None
    try:
        holder = client.get_optional(f"/{entity.spec.collection}/{quote(value, safe='')}")
    except KongError:
        return None  # only a better message was at stake
    tags = holder.get("tags") if isinstance(holder, dict) else None
    prefix = catalog_tag("")
    owners = [t[len(prefix) :] for t in tags or [] if isinstance(t, str) and t.startswith(prefix)]
    return owners[0] if isinstance(tags, list) and OWNER in tags and owners else None


def owned_holder(entity: Entity, owned: Iterable[Entity], refusal: Any = None) -> Entity | None:
    """The entity among `owned` (another than `entity`) holding one of `entity`'s unique values: of those Kong's
    409 names in its `fields` (kong/db/errors.lua unique_violation), when it names them. A renamed consumer
    keeps its custom_id on the old one until it is deleted: a username another team holds is not that."""
    named = set(refusal["fields"]) if isinstance(refusal, dict) and isinstance(refusal.get("fields"), dict) else set()
    held = list(unique_values(entity))
    # Kong names a plugin's violation by its cache_key, none of the fields: then any of its values
    values = {value for fields, value in held if set(fields) <= named} or {value for _, value in held}
    return next((e for e in owned if e.id != entity.id and any(v in values for _, v in unique_values(e))), None)


# ---------------------------------------------------------------------- Kuma


@dataclass
class KumaDesired:
    objects: list[KumaObject]
    masker: Masker


def render_kuma_desired(loaded: LoadedCatalog) -> KumaDesired:
    """The catalog's Kuma objects with secrets resolved; CatalogInvalid when a secret is missing."""
    secrets = loaded.secrets()
    loaded.check_secrets(["kuma"], secrets)
    return KumaDesired(build_kuma_objects(loaded.catalog, secrets), _resolved_masker(secrets))


def kuma_platform(loaded: LoadedCatalog, chosen: str | None) -> Platform:
    """`--kuma-platform`, else the catalog's deployment platform (VMs run Kuma Universal)."""
    if chosen in ("universal", "kubernetes"):
        return "universal" if chosen == "universal" else "kubernetes"
    return "kubernetes" if loaded.catalog.deployment.platform == "kubernetes" else "universal"
