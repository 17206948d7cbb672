"""Rendered kong.yaml (decK layout, entities nested) -> flat Admin API entities, each remembering the
catalog entry it came from so that a refusal by Kong can be reported at the catalog's file:line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gatewayctl.catalog.model import Catalog
from gatewayctl.diagnostics import KeyPath, format_path
from gatewayctl.plan.kinds import BY_NAME, NESTED_KEYS, PARENT_FIELD, Kind

Body = dict[str, Any]
# How each nested credential list is spelled in the catalog (consumers[].credentials.<key>).
CREDENTIAL_KEYS = {
    "keyauth_credentials": "key_auth",
    "jwt_secrets": "jwt",
    "basicauth_credentials": "basic_auth",
    "oauth2_credentials": "oauth2",
}
IGNORED_FIELDS = frozenset({"id", "created_at", "updated_at"})


@dataclass(frozen=True)
class Entity:
    kind: str
    id: str
    body: Body  # as the Admin API takes it: foreign keys as {"id": ...}, no nested children
    origin: KeyPath = ()  # the catalog entry it was rendered from

    @property
    def spec(self) -> Kind:
        return BY_NAME[self.kind]

    def parent_id(self) -> str | None:
        field_name = self.spec.parent
        ref = self.body.get(field_name) if field_name else None
        return ref.get("id") if isinstance(ref, dict) else None

    def display_name(self) -> str:
        spec = self.spec
        if self.kind == "plugins":
            scope = next(
                (f"{k} {_short(self.body[k]['id'])}" for k in ("route", "service", "consumer") if self.body.get(k)),
                "global",
            )
            return f"{self.body.get('name')} ({scope})"
        if spec.secret_fields and spec.name_field in spec.secret_fields:
            return self.id
        value = self.body.get(spec.name_field)
        return str(value) if value else self.id

    def where(self) -> str:
        return format_path(self.origin)

    def from_plugins_map(self) -> bool:
        """A plugin written in a `plugins:` map of the catalog, its config passed to Kong as it is (rather
        than made by gatewayctl from the catalog's own keys, which validate checks)."""
        return self.kind == "plugins" and len(self.origin) >= 2 and self.origin[-2] == "plugins"

    def write_path(self) -> str:
        spec = self.spec
        if spec.nested_under:
            return f"/{spec.nested_under}/{self.parent_id()}/{spec.collection}/{self.id}"
        return f"/{spec.collection}/{self.id}"

    def create_path(self) -> str:
        """Where a POST creates it (with its id in the body)."""
        spec = self.spec
        if spec.nested_under:
            return f"/{spec.nested_under}/{self.parent_id()}/{spec.collection}"
        return f"/{spec.collection}"


@dataclass
class DesiredState:
    entities: list[Entity] = field(default_factory=list)

    def by_id(self) -> dict[str, Entity]:
        return {e.id: e for e in self.entities}


def flatten(config: dict[str, Any], catalog: Catalog | None = None) -> DesiredState:
    """Every entity of a rendered decK-layout config, parents before children."""
    places = _Places(catalog)
    out: list[Entity] = []
    for top in ("consumers", "services", "upstreams", "plugins"):
        for index, item in enumerate(config.get(top) or []):
            out.extend(_walk(top, item, None, places.top(top, item, index), places))
    return DesiredState(out)


def _walk(
    kind: str, item: dict[str, Any], parent: tuple[str, str] | None, origin: KeyPath, places: _Places
) -> Iterator[Entity]:
    body = {k: v for k, v in item.items() if k not in NESTED_KEYS or not isinstance(v, list)}
    if parent is not None:
        parent_kind, parent_id = parent
        body[PARENT_FIELD[parent_kind]] = {"id": parent_id}
    entity_id = str(body.pop("id"))
    yield Entity(kind, entity_id, body, origin)
    for key, child_kind in NESTED_KEYS.items():
        children = item.get(key)
        if not isinstance(children, list):
            continue
        for index, child in enumerate(children):
            where = places.nested(origin, child_kind, index, child)
            yield from _walk(child_kind, child, (kind, entity_id), where, places)


class _Places:
    """Catalog key paths of rendered entities (services and consumers by name, nested ones by position; a
    plugin from a `plugins:` map at its own key, any other plugin at the entry whose settings made it)."""

    def __init__(self, catalog: Catalog | None) -> None:
        self.services = {s.name: i for i, s in enumerate(catalog.services)} if catalog else {}
        self.consumers = {c.name: i for i, c in enumerate(catalog.consumers)} if catalog else {}
        self.raw_plugins: set[tuple[KeyPath, str]] = set()  # (scope, plugin name) of each `plugins:` entry
        if catalog is not None:
            self.raw_plugins |= {(("gateway",), name) for name in catalog.gateway.plugins}
            for i, service in enumerate(catalog.services):
                self.raw_plugins |= {(("services", i), name) for name in service.plugins}
                for j, route in enumerate(service.routes):
                    self.raw_plugins |= {(("services", i, "routes", j), name) for name in route.plugins}
            for k, consumer in enumerate(catalog.consumers):
                self.raw_plugins |= {(("consumers", k), name) for name in consumer.plugins}

    def plugin(self, scope: KeyPath, item: dict[str, Any]) -> KeyPath:
        name = str(item.get("name"))
        return (*scope, "plugins", name) if (scope, name) in self.raw_plugins else scope

    def top(self, kind: str, item: dict[str, Any], index: int) -> KeyPath:
        if kind == "services":
            i = self.services.get(str(item.get("name")))
            return ("services", i) if i is not None else ("services",)
        if kind == "upstreams":
            name = str(item.get("name", "")).removesuffix(".upstream")
            i = self.services.get(name)
            return ("services", i, "upstream") if i is not None else ("services",)
        if kind == "consumers":
            k = self.consumers.get(str(item.get("username")))
            return ("consumers", k) if k is not None else ("services",)  # the anonymous consumer: services' auth
        return self.plugin(("gateway",), item)  # global plugins

    def nested(self, origin: KeyPath, kind: str, index: int, item: dict[str, Any]) -> KeyPath:
        if kind == "routes":
            return (*origin, "routes", index)
        if kind == "targets":
            return (*origin, "targets", index)
        if kind in CREDENTIAL_KEYS and origin[:1] == ("consumers",):
            return (*origin, "credentials", CREDENTIAL_KEYS[kind], index)
        if kind == "acls" and origin[:1] == ("consumers",):
            return (*origin, "groups", index)
        return self.plugin(origin, item)  # plugins: of the service, route or consumer they were rendered from


def from_live(kind: str, item: dict[str, Any]) -> Entity:
    """A live entity as the Admin API returned it, less what no write may send back: a credential without a
    ttl reads `"ttl": null`, but Kong takes a write's ttl as an option it hands to math.floor (kong/api/endpoints.lua
    extract_options, kong/db/dao/init.lua validate_options_value at 3.9.1), and null there is a 500."""
    body = {k: v for k, v in item.items() if k not in IGNORED_FIELDS and not (k == "ttl" and v is None)}
    return Entity(kind, str(item["id"]), body)


def _short(value: Any) -> str:
    return str(value)[:8]
