"""Live owned Kong state -> a catalog the user can adopt (`gatewayctl dump`): the reverse of
`gatewayctl/render/kong.py`.

A walk over the entities `fetch_live` returns (a small context keeps what is still unaccounted for and the
placeholders so far). Services, routes, upstreams with their targets and
consumers with their credentials become catalog entries; a plugin becomes the catalog's own key (`auth`,
`allow_groups`, `rate_limit`, `cors`, `cache`, ...) only when rendering that key gives back exactly the live
plugin (checked by rendering a one-entry catalog and comparing with the plan's own comparison), and the raw
`plugins:` pass-through otherwise, with the values Kong's schema defaults to left out.

Secret values (credential keys and passwords, secret plugin config keys, the config fields Kong's schema
marks as secrets) are never written: each becomes a
`${env:NAME}` placeholder with a name derived from where it sits, so the same Kong gives the same names.
The live values stay in memory, only to check the dump (`replay`): the written catalog, rendered with the
placeholders set to them, is planned against the live state like an apply would, and any change is reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gatewayctl.catalog.checks import ANONYMOUS_CONSUMER, KEY_ONLY_PLUGINS, anonymous_username
from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.catalog.model import (
    ActiveHealthCheck,
    Cache,
    CircuitBreaker,
    JwtOptions,
    KeyAuthOptions,
    OAuth2Options,
    RateLimit,
    Redis,
    RequestId,
    Route,
    Upstream,
    ZipkinTracing,
)
from gatewayctl.catalog.model import (
    Catalog as CatalogModel,
)
from gatewayctl.catalog.secrets import SecretResolver, references_in
from gatewayctl.catalog.types import NAME_PATTERN
from gatewayctl.dump.placeholders import Placeholder, Secrets
from gatewayctl.dump.values import cors, duration, fk, non_default, security_headers, strip_defaults
from gatewayctl.plan.entities import Entity, flatten, from_live
from gatewayctl.plan.kinds import SECRET_CONFIG_KEYS
from gatewayctl.plan.kong import KongPlan, LiveState, ServerInfo, build_plan, compare
from gatewayctl.plan.masking import Masker
from gatewayctl.plan.normalise import Schema, field_specs, shorthand_paths
from gatewayctl.render.kong import DEFAULT_PORTS, build_kong_config, entity_id, upstream_name
from gatewayctl.render.ownership import SECRET_TAG, ownership_tags, secret_tag_paths

Item = dict[str, Any]
SchemaOf = Callable[[Entity], Schema | None]
AUTH_PLUGINS = ("key-auth", "jwt", "basic-auth", "oauth2")
PROBE_URL = "http://dump.invalid"  # the url of the one-service catalogs that check a plugin mapping


@dataclass
class Dump:
    catalog: dict[str, Any]
    placeholders: list[Placeholder]
    notes: list[str]  # what the catalog cannot say exactly


# ---------------------------------------------------------------------- the whole catalog


def live_to_catalog(catalog_name: str, live: LiveState, server: ServerInfo, schema_of: SchemaOf) -> Dump:
    """The catalog whose rendering is the live owned state, as far as a catalog can say it."""
    ctx = _Context(catalog_name, live, server, schema_of)
    doc: dict[str, Any] = {"format": 1, "name": catalog_name}
    if ctx.base_extra:
        doc["tags"] = ctx.base_extra
    gateway: dict[str, Any] = {}
    if server.edition == "enterprise":
        gateway["edition"] = "enterprise"
    if server.dbless:
        gateway["mode"] = "dbless"
    gateway.update(ctx.global_plugins())
    if gateway:
        doc["gateway"] = gateway
    consumers = []
    for item in ctx.sorted_items("consumers"):
        if item.get("username") in (ANONYMOUS_CONSUMER, anonymous_username(catalog_name)):
            # rendered again from services with several auth methods (the replay check says if it is not)
            for entity in [item, *ctx.plugins_of("consumer", item["id"])]:
                ctx.take(entity)
        else:
            consumers.append(ctx.consumer(item))
    if consumers:
        doc["consumers"] = consumers
    services = [ctx.service(s) for s in ctx.sorted_items("services")]
    if services:
        doc["services"] = services
    ctx.leftovers()
    used = {ref.name for _, ref in references_in(doc)}
    placeholders = [p for env, p in sorted(ctx.secrets.by_env.items()) if env in used]
    return Dump(doc, placeholders, ctx.notes)


class _Context:
    def __init__(self, catalog_name: str, live: LiveState, server: ServerInfo, schema_of: SchemaOf) -> None:
        self.name = catalog_name
        self.live = live
        self.server = server
        self.schema_of = schema_of
        self.secrets = Secrets()
        self.notes: list[str] = []
        self.used: set[str] = set()  # ids of live entities the catalog accounts for
        self.items: dict[str, list[Item]] = {k: list(v) for k, v in live.entities.items()}
        self.by_id = {i["id"]: i for items in self.items.values() for i in items}
        everything = [set(i.get("tags") or []) for items in self.items.values() for i in items]
        common = set.intersection(*everything) if everything else set()
        owner = ownership_tags(catalog_name)
        first = next((i.get("tags") or [] for items in self.items.values() for i in items), [])
        self.base_extra = [t for t in first if t in common and t not in owner]  # the catalog's `tags:`
        self.base = set(owner) | set(self.base_extra)
        self.names: dict[str, set[str]] = {"consumer": set(), "service": set()}  # catalog names given so far

    def id(self, kind: str, *names: str) -> str:
        return entity_id(self.name, kind, *names)

    def sorted_items(self, kind: str) -> list[Item]:
        key = "username" if kind == "consumers" else "name"
        return sorted(self.items.get(kind, []), key=lambda i: (str(i.get(key) or ""), i["id"]))

    def children(self, kind: str, parent_field: str, parent_id: str) -> list[Item]:
        return [i for i in self.items.get(kind, []) if fk(i.get(parent_field)) == parent_id]

    def own_tags(self, item: Item, inherited: Iterable[str] = ()) -> list[str]:
        """The tags a catalog gives the entity itself: not the catalog's, not those it inherits, not the
        marks of its secret fields (rendered again from the placeholders that stand for them)."""
        skip = self.base | set(inherited)
        return [t for t in item.get("tags") or [] if t not in skip and not t.startswith(SECRET_TAG)]

    def marked(self, item: Item, path: str) -> bool:
        """The entity's tags say that the field at `path` held a resolved secret (ownership.SECRET_TAG)."""
        return path in secret_tag_paths(item.get("tags"))

    def secret_or_value(self, item: Item, paths: Iterable[str], parts: list[str], what: str, value: str) -> str:
        """`value`, or a placeholder for it when one of `paths` of the entity is marked secret."""
        return self.secrets.ref(parts, what, value) if any(self.marked(item, p) for p in paths) else value

    def catalog_name(self, kind: str, raw: object, item: Item, taken: set[str], valid: Iterable[object] = ()) -> str:
        """`raw` when it is a valid catalog name, else the nearest one (Kong allows no name at all, and
        upper case, '_', '.' and '~'), noted, so the dump still validates; unique among `taken` and the
        siblings' names that are `valid` as they are (those keep theirs)."""
        text = raw if isinstance(raw, str) else ""
        name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
        kept = {v for v in valid if isinstance(v, str) and re.match(NAME_PATTERN, v)} - {text}
        if not name or name in taken or name in kept:
            name = f"{name or kind}-{str(item['id'])[:8]}".strip("-")[-63:].strip("-")
        if name != text:
            problem = f"{kind} '{text}': not a catalog name" if text else f"{kind} {item['id']}: has no name"
            self.note(f"{problem}; dumped as '{name}', and re-applying renames (replaces) it")
        taken.add(name)
        return name

    def take(self, item: Item) -> None:
        self.used.add(item["id"])

    def entry(self, item: Item, kind: str, name: str) -> tuple[str, str]:
        """(name, id) of a consumer or service, marked used; an id a catalog would not give it is noted."""
        self.take(item)
        if item["id"] != self.id(kind, name):
            self.note(f"{kind} {name}: its id is not the one a catalog gives it; re-applying replaces it")
        return name, str(item["id"])

    def note(self, text: str) -> None:
        self.notes.append(text)

    def leftovers(self) -> None:
        for kind, items in self.items.items():
            for item in items:
                if item["id"] not in self.used:
                    label = item.get("name") or item.get("username") or item.get("target") or item["id"]
                    self.note(f"{kind} {label} ({item['id']}): has no place in a catalog; not in the dump")

    # ------------------------------------------------------------------ plugins

    def plugins_of(self, scope: str, owner_id: str | None) -> list[Item]:
        """Plugins attached to exactly this one service, route or consumer (or to nothing: global)."""
        out = []
        for plugin in self.items.get("plugins", []):
            refs = {k: fk(plugin.get(k)) for k in ("service", "route", "consumer")}
            attached = [k for k, v in refs.items() if v]
            if (owner_id is None and not attached) or (attached == [scope] and refs[scope] == owner_id):
                out.append(plugin)
        return sorted(out, key=lambda p: str(p.get("name")))

    def map_plugins(
        self, scope: str, owner_name: str, plugins: list[Item], candidates: list[tuple[dict[str, Any], list[Item]]]
    ) -> dict[str, Any]:
        """The catalog keys for a scope's plugins: each candidate mapping that renders back exactly, and the
        raw pass-through for the rest."""
        keys: dict[str, Any] = {}
        covered: set[str] = set()
        for candidate, items in candidates:
            differences = self.differences(scope, owner_name, candidate, items)
            if differences and all(i.get("name") in KEY_ONLY_PLUGINS for i in items):
                # `plugins:` cannot hold these (the catalog would not validate): the nearest key, and what
                # re-applying it changes, said out loud
                names = ", ".join(sorted(str(i.get("name")) for i in items))
                self.note(
                    f"plugin {names} ({scope} {owner_name or 'global'}): a catalog cannot say it exactly; dumped as "
                    f"{', '.join(candidate)}, and re-applying changes {'; '.join(differences)}"
                )
            elif differences != []:
                continue
            keys.update(candidate)
            covered |= {i["id"] for i in items}
        raw: dict[str, Any] = {}
        for plugin in plugins:
            if plugin["id"] in covered:
                continue
            config = self.raw_config(scope, owner_name, plugin)
            if plugin.get("name") in raw or not self.renders_back(
                scope, owner_name, {"plugins": {plugin["name"]: config}}, [plugin]
            ):
                self.note(
                    f"plugin {plugin.get('name')} ({scope} {owner_name or 'global'}): "
                    "settings outside its config (enabled, protocols, ordering, instance_name) differ from what a "
                    "catalog renders; re-applying the dump would change them"
                )
            raw[plugin["name"]] = config
        for plugin in plugins:
            self.take(plugin)
        if raw:
            keys["plugins"] = raw
        return keys

    def renders_back(self, scope: str, owner_name: str, keys: dict[str, Any], items: list[Item]) -> bool:
        """True when a one-entry catalog with `keys` renders exactly these live plugins."""
        return self.differences(scope, owner_name, keys, items) == []

    def differences(self, scope: str, owner_name: str, keys: dict[str, Any], items: list[Item]) -> list[str] | None:
        """What a one-entry catalog with `keys` renders differently from these live plugins ('config.x:
        false -> true'), or None when it cannot render them at all."""
        if scope == "service":
            probe: dict[str, Any] = {"services": [{"name": owner_name, "url": PROBE_URL, **keys}]}
        elif scope == "consumer":
            probe = {"consumers": [{"name": owner_name, **keys}]}
        elif scope == "route":
            service, _, route = owner_name.partition("/")
            probe = {"services": [{"name": service, "url": PROBE_URL, "routes": [{"name": route, **keys}]}]}
        else:
            probe = {"gateway": keys}
        try:
            catalog = CatalogModel.model_validate({"format": 1, "name": self.name, **probe})
        except ValidationError:
            return None
        try:
            rendered = flatten(build_kong_config(catalog, self.secrets.resolver()))
        except (KeyError, ValueError, TypeError, AssertionError):  # a candidate the renderer cannot take
            return None
        plugins = {e.body.get("name"): e for e in rendered.entities if e.kind == "plugins"}
        if len(plugins) < len(items):
            return None
        changes: list[str] = []
        for item in items:
            entity = plugins.get(item.get("name"))
            if entity is None:
                return None
            live = from_live("plugins", item)
            body = {**entity.body, "tags": live.body.get("tags")}  # tags are the catalog's business, checked apart
            # so is the owner's id: a hand-made service's plugin still maps back to its key (the owner's own
            # id is noted apart), where comparing the probe's id would send `key-auth` to an invalid `plugins:`
            for ref in ("service", "route", "consumer"):
                if body.get(ref) and live.body.get(ref):
                    body[ref] = live.body[ref]
            for change in compare(Entity("plugins", live.id, body, ("probe",)), live, self.schema_of(live), Masker()):
                changes.append(f"{change.path}: {_shown(change.old)} -> {_shown(change.new)}")
        return changes

    def raw_config(self, scope: str, owner_name: str, plugin: Item) -> dict[str, Any] | None:
        """The live config without what Kong's schema defaults to, secret keys as placeholders."""
        config = plugin.get("config")
        if not isinstance(config, dict):
            return None
        stripped = self.kong_defaults_left_out(plugin)
        parts = [scope, owner_name or "global", str(plugin.get("name"))]
        what = f"{plugin.get('name')} plugin ({scope} {owner_name or 'global'})"
        marked = [tuple(p.split("."))[1:] for p in secret_tag_paths(plugin.get("tags")) if p.startswith("config.")]
        masked: dict[str, Any] = self.mask_tree(stripped, parts, what, self.config_spec(plugin), marked)
        return masked

    def kong_defaults_left_out(self, plugin: Item) -> dict[str, Any]:
        """A plugin's config without the values Kong's schema fills in (a cors `methods` Kong defaulted)."""
        config = plugin.get("config")
        if not isinstance(config, dict):
            return {}
        specs = self.config_spec(plugin)
        return strip_defaults(config, field_specs(specs), shorthand_paths(specs))

    def config_spec(self, plugin: Item) -> dict[str, Any]:
        """The `config` record of the plugin's schema ({} when Kong gave none)."""
        spec: dict[str, Any] = dict(field_specs(self.schema_of(from_live("plugins", plugin)))).get("config") or {}
        return spec

    def mask_dict(self, value: dict[str, Any], parts: list[str], what: str) -> dict[str, Any]:
        masked: dict[str, Any] = self.mask_tree(value, parts, what)
        return masked

    def mask_tree(
        self,
        value: Any,
        parts: list[str],
        what: str,
        spec: dict[str, Any] | None = None,
        marked: list[tuple[str, ...]] | None = None,
    ) -> Any:
        """`value` with its secrets as placeholders: the keys known to hold secrets and, where the schema is
        known, what Kong itself treats as one: an `encrypted` field (Kong Enterprise encrypts it at rest: a
        loggly key, a webhook secret, an AI provider's auth header value) and the values of a map of
        vault-referenceable strings (http-log's headers: an Authorization header); and every string under a
        path of `marked` (relative to `value`): fields the entity's tags say held a resolved secret."""
        marked = marked or []
        if () in marked:
            return self.all_strings_as_refs(value, parts, what)
        if isinstance(value, dict):
            specs = dict(field_specs(spec)) if spec and spec.get("type", "record") == "record" else {}
            secret_values = bool(spec and spec.get("type") == "map" and (spec.get("values") or {}).get("referenceable"))
            out: dict[str, Any] = {}
            for k, v in value.items():
                field = specs.get(k) or {}
                if isinstance(v, str) and (k.lower() in SECRET_CONFIG_KEYS or field.get("encrypted") or secret_values):
                    out[k] = self.secrets.ref([*parts, k], f"{what} config {k}", v)
                else:
                    inner = [m[1:] for m in marked if m[:1] == (k,)]
                    out[k] = self.mask_tree(v, [*parts, k], what, field or None, inner)
            return out
        if isinstance(value, list):
            elements = (spec or {}).get("elements")
            return [self.mask_tree(v, parts, what, elements) for v in value]
        return value

    def all_strings_as_refs(self, value: Any, parts: list[str], what: str) -> Any:
        """Every string of `value` as a placeholder (the items of a list, each its own)."""
        if isinstance(value, str):
            return self.secrets.ref(parts, f"{what} config {'.'.join(parts[3:])}", value)
        if isinstance(value, dict):
            return {k: self.all_strings_as_refs(v, [*parts, k], what) for k, v in value.items()}
        if isinstance(value, list):
            return [self.all_strings_as_refs(v, [*parts, str(i)], what) for i, v in enumerate(value)]
        return value

    def global_plugins(self) -> dict[str, Any]:
        plugins = self.plugins_of("global", None)
        by_name = {p["name"]: p for p in plugins}
        candidates: list[tuple[dict[str, Any], list[Item]]] = []
        p: Item | None
        if p := by_name.get("correlation-id"):
            c = p.get("config") or {}
            rid = {
                "header": c.get("header_name"),
                "generator": c.get("generator"),
                "echo_downstream": c.get("echo_downstream"),
            }
            candidates.append(({"request_id": non_default(RequestId, rid)}, [p]))
        if p := by_name.get("prometheus"):
            c = p.get("config") or {}
            flags = ("status_code_metrics", "latency_metrics", "bandwidth_metrics", "upstream_health_metrics")
            metrics = {k.removesuffix("_metrics").replace("status_code", "status_codes"): bool(c.get(k)) for k in flags}
            metrics["per_consumer"] = bool(c.get("per_consumer"))
            candidates.append(({"metrics": {k: v for k, v in metrics.items() if v}}, [p]))
        if p := by_name.get("zipkin"):
            c = p.get("config") or {}
            endpoint = c.get("http_endpoint")
            if isinstance(endpoint, str):
                endpoint = self.secret_or_value(
                    p, ["config.http_endpoint"], ["gateway", "zipkin"], "zipkin endpoint", endpoint
                )
            zipkin = non_default(ZipkinTracing, {"endpoint": endpoint, "sample_ratio": c.get("sample_ratio")})
            candidates.append(({"tracing": {"zipkin": zipkin}}, [p]))
        if p := by_name.get("response-transformer"):
            headers = security_headers(p.get("config") or {})
            if headers is not None:
                candidates.append(({"security_headers": headers or True}, [p]))
        if p := by_name.get("cors"):
            candidates.append(({"cors": cors(self.kong_defaults_left_out(p))}, [p]))
        if p := by_name.get("rate-limiting"):
            candidates.append(({"rate_limit": self.rate_limit(p, "global", "")}, [p]))
        return self.map_plugins("global", "", plugins, candidates)

    def service_plugins(self, name: str, service_id: str) -> dict[str, Any]:
        plugins = self.plugins_of("service", service_id)
        by_name = {p["name"]: p for p in plugins}
        candidates: list[tuple[dict[str, Any], list[Item]]] = []
        p: Item | None
        auth = [by_name[m] for m in AUTH_PLUGINS if m in by_name]
        if auth:
            keys: dict[str, Any] = {"auth": [p["name"] for p in auth]}
            for p in auth:
                c = p.get("config") or {}
                if p["name"] == "key-auth":
                    options = non_default(KeyAuthOptions, {k: c.get(k) for k in KeyAuthOptions.model_fields})
                    if options:
                        keys["key_auth"] = options
                elif p["name"] == "jwt":
                    options = {k: c.get(k) for k in JwtOptions.model_fields if k != "maximum_expiration"}
                    if c.get("maximum_expiration"):
                        options["maximum_expiration"] = duration(int(c["maximum_expiration"]) * 1000)
                    options = non_default(JwtOptions, options)
                    if options:
                        keys["jwt"] = options
                elif p["name"] == "oauth2":
                    options = {
                        k: c.get(k)
                        for k in OAuth2Options.model_fields
                        if k not in ("provision_key", "token_expiration", "scopes")
                    }
                    if c.get("scopes"):
                        options["scopes"] = c["scopes"]
                    if c.get("token_expiration") is not None:
                        options["token_expiration"] = duration(int(c["token_expiration"]) * 1000)
                    options = non_default(OAuth2Options, options)
                    if isinstance(c.get("provision_key"), str):
                        options["provision_key"] = self.secrets.ref(
                            ["service", name, "oauth2", "provision_key"],
                            f"oauth2 provision_key of service {name}",
                            c["provision_key"],
                        )
                    keys["oauth2"] = options
            candidates.append((keys, auth))
        if p := by_name.get("acl"):
            c = p.get("config") or {}
            if c.get("allow"):
                candidates.append(({"allow_groups": list(c["allow"])}, [p]))
            elif c.get("deny"):
                candidates.append(({"deny_groups": list(c["deny"])}, [p]))
        if p := by_name.get("ip-restriction"):
            c = p.get("config") or {}
            keys = {}
            if c.get("allow") is not None:
                keys["ip_allow"] = list(c["allow"])
            if c.get("deny") is not None:
                keys["ip_deny"] = list(c["deny"])
            candidates.append((keys, [p]))
        if p := by_name.get("rate-limiting"):
            candidates.append(({"rate_limit": self.rate_limit(p, "service", name)}, [p]))
        if p := by_name.get("cors"):
            candidates.append(({"cors": cors(self.kong_defaults_left_out(p))}, [p]))
        if p := by_name.get("request-size-limiting"):
            c = p.get("config") or {}
            unit = {"megabytes": "m", "kilobytes": "k", "bytes": ""}.get(str(c.get("size_unit")))
            if unit is not None and isinstance(c.get("allowed_payload_size"), int):
                size: str | int = f"{c['allowed_payload_size']}{unit}" if unit else c["allowed_payload_size"]
                candidates.append(({"max_body": size}, [p]))
        if p := by_name.get("proxy-cache"):
            c = p.get("config") or {}
            cache: dict[str, Any] = {
                "ttl": duration(int(c.get("cache_ttl") or 300) * 1000),
                "content_types": c.get("content_type"),
                "methods": c.get("request_method"),
                "response_codes": c.get("response_code"),
            }
            if c.get("vary_headers"):
                cache["vary_headers"] = c["vary_headers"]
            if c.get("vary_query_params"):
                cache["vary_query_params"] = c["vary_query_params"]
            candidates.append(({"cache": non_default(Cache, cache)}, [p]))
        if p := by_name.get("grpc-web"):
            candidates.append(({"grpc_web": True}, [p]))
        if p := by_name.get("opa"):
            c = p.get("config") or {}
            scheme = str(c.get("opa_protocol") or "http")
            port = c.get("opa_port")
            shown_port = "" if port == DEFAULT_PORTS.get(scheme) else f":{port}"
            url = f"{scheme}://{c.get('opa_host')}{shown_port}"
            marks = ["config.opa_protocol", "config.opa_host", "config.opa_port"]
            url = self.secret_or_value(p, marks, ["service", name, "opa", "url"], f"opa url (service {name})", url)
            candidates.append(({"authz": {"opa": {"url": url, "policy": c.get("opa_path")}}}, [p]))
        return self.map_plugins("service", name, plugins, candidates)

    def rate_limit(self, plugin: Item, scope: str, owner: str) -> dict[str, Any]:
        c = plugin.get("config") or {}
        out: dict[str, Any] = {k: c[k] for k in ("second", "minute", "hour", "day", "month", "year") if c.get(k)}
        by = str(c.get("limit_by") or "consumer")
        if by == "header":
            by = f"header:{c.get('header_name')}"
        elif by == "path":
            by = f"path:{c.get('path')}"
        out.update(
            {
                "by": by,
                "policy": c.get("policy"),
                "fault_tolerant": c.get("fault_tolerant"),
                "hide_client_headers": c.get("hide_client_headers"),
            }
        )
        redis = c.get("redis") if out["policy"] == "redis" else None
        if isinstance(redis, dict):
            r: dict[str, Any] = {k: redis.get(k) for k in ("host", "port", "username", "database", "ssl", "ssl_verify")}
            if isinstance(redis.get("password"), str):
                r["password"] = self.secrets.ref(
                    [scope, owner or "global", "rate_limiting", "redis_password"],
                    f"redis password of the rate-limiting plugin ({scope} {owner or 'global'})",
                    redis["password"],
                )
            if redis.get("timeout"):
                r["timeout"] = duration(int(redis["timeout"]))
            out["redis"] = non_default(Redis, {k: v for k, v in r.items() if v is not None}, keep=("host",))
        return non_default(RateLimit, out)

    # ------------------------------------------------------------------ consumers

    def consumer(self, item: Item) -> dict[str, Any]:
        name, cid = self.entry(
            item,
            "consumer",
            self.catalog_name(
                "consumer",
                item.get("username"),
                item,
                self.names["consumer"],
                (c.get("username") for c in self.items.get("consumers", [])),
            ),
        )
        out: dict[str, Any] = {"name": name}
        if item.get("custom_id"):
            out["custom_id"] = item["custom_id"]
        tags = self.own_tags(item)
        if tags:
            out["tags"] = tags
        groups = [a for a in self.children("acls", "consumer", cid)]
        for acl in groups:
            self.take(acl)
        if groups:
            out["groups"] = sorted(str(a.get("group")) for a in groups)
        credentials = self.credentials(name, cid)
        if credentials:
            out["credentials"] = credentials
        plugins = self.plugins_of("consumer", cid)
        by_name = {p["name"]: p for p in plugins}
        candidates: list[tuple[dict[str, Any], list[Item]]] = []
        p: Item | None
        if p := by_name.get("rate-limiting"):
            candidates.append(({"rate_limit": self.rate_limit(p, "consumer", name)}, [p]))
        out.update(self.map_plugins("consumer", name, plugins, candidates))
        return out

    def credentials(self, name: str, cid: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        keys = self.children("keyauth_credentials", "consumer", cid)
        if keys:
            # the catalog names key-auth credentials by position: put each where its id says it was
            by_id = {k["id"]: k for k in keys}
            ordered = [
                by_id.pop(self.id("key-auth", name, str(i)))
                for i in range(len(keys))
                if self.id("key-auth", name, str(i)) in by_id
            ]
            ordered += sorted(by_id.values(), key=lambda k: k["id"])
            entries = []
            for i, k in enumerate(ordered):
                self.take(k)
                entries.append(
                    {
                        "key": self.secrets.ref(
                            [name, "key_auth", str(i)], f"key-auth key #{i} of consumer {name}", str(k.get("key"))
                        )
                    }
                )
                if k.get("ttl"):
                    self.note(
                        f"consumer {name}: key-auth credential #{i} expires; Kong reports only the time left, "
                        "so no ttl is dumped"
                    )
            out["key_auth"] = entries
        jwts = sorted(self.children("jwt_secrets", "consumer", cid), key=lambda j: str(j.get("key")))
        if jwts:
            entries = []
            for j in jwts:
                self.take(j)
                key = str(j.get("key"))
                entry: dict[str, Any] = {"key": key}
                secret = j.get("secret")
                if isinstance(secret, str) and secret != self.id("jwt-unused-secret", name, key):
                    entry["secret"] = self.secrets.ref(
                        [name, "jwt", key, "secret"], f"jwt secret '{key}' of consumer {name}", secret
                    )
                if j.get("algorithm") and j["algorithm"] != "HS256":
                    entry["algorithm"] = j["algorithm"]
                public_key = j.get("rsa_public_key")
                if isinstance(public_key, str) and "PRIVATE KEY-----" in public_key:
                    # Kong takes a private key there too (OpenSSL reads one): a secret, never written out
                    entry["rsa_public_key"] = self.secrets.ref(
                        [name, "jwt", key, "rsa_public_key"],
                        f"jwt rsa_public_key '{key}' of consumer {name}",
                        public_key,
                    )
                    self.note(
                        f"consumer {name}: jwt credential '{key}' holds a private key where its public key belongs;"
                        " dumped as a placeholder: give the catalog the public key (openssl pkey -in KEY -pubout)"
                    )
                elif public_key:
                    entry["rsa_public_key"] = public_key  # a public key: no secret
                entries.append(entry)
            out["jwt"] = entries
        basics = sorted(self.children("basicauth_credentials", "consumer", cid), key=lambda b: str(b.get("username")))
        if basics:
            entries = []
            for b in basics:
                self.take(b)
                user = str(b.get("username"))
                what = (
                    f"basic-auth password of '{user}' (consumer {name}); "
                    "Kong keeps only a hash: set the password itself"
                )
                entries.append(
                    {
                        "username": user,
                        "password": self.secrets.ref(
                            [name, "basic_auth", user, "password"], what, str(b.get("password")), hashed=True
                        ),
                    }
                )
            out["basic_auth"] = entries
        oauths = sorted(self.children("oauth2_credentials", "consumer", cid), key=lambda o: str(o.get("client_id")))
        if oauths:
            entries = []
            for o in oauths:
                self.take(o)
                client = str(o.get("client_id"))
                what = f"oauth2 client_secret of '{client}' (consumer {name})"
                if o.get("hash_secret"):
                    what += "; Kong keeps only a hash: set the secret itself"
                entry = {
                    "name": o.get("name"),
                    "client_id": client,
                    "client_secret": self.secrets.ref(
                        [name, "oauth2", client, "secret"], what, str(o.get("client_secret"))
                    ),
                }
                if o.get("redirect_uris"):
                    entry["redirect_uris"] = list(o["redirect_uris"])
                if o.get("hash_secret"):
                    entry["hash_secret"] = True
                entries.append(entry)
            out["oauth2"] = entries
        return out

    # ------------------------------------------------------------------ services

    def service(self, item: Item) -> dict[str, Any]:
        name, sid = self.entry(
            item,
            "service",
            self.catalog_name(
                "service",
                item.get("name"),
                item,
                self.names["service"],
                (c.get("name") for c in self.items.get("services", [])),
            ),
        )
        out: dict[str, Any] = {"name": name}
        tags = self.own_tags(item)
        if tags:
            out["tags"] = tags
        protocol = str(item.get("protocol") or "http")
        upstream = next((u for u in self.items.get("upstreams", []) if u.get("name") == item.get("host")), None)
        if (
            upstream is not None
            and upstream["id"] not in self.used  # a shared upstream: one service's only
            and item.get("port") == DEFAULT_PORTS.get(protocol, 80)
        ):
            if protocol != "http":
                out["protocol"] = protocol
            if upstream.get("name") != upstream_name(name):
                # written as a url, the service would point at a host that only the dropped upstream resolved
                self.note(
                    f"service {name}: its upstream {upstream.get('name')} is named {upstream_name(name)} in a "
                    "catalog; re-applying replaces it under that name (same targets)"
                )
            out["upstream"] = self.upstream(upstream, tags)
        else:
            if upstream is not None:
                self.note(
                    f"service {name}: its host is upstream {upstream.get('name')}, which a catalog gives one service "
                    "only (or a service on its default port); dumped as a url to that host"
                )
            port = item.get("port")
            shown = "" if port == DEFAULT_PORTS.get(protocol, 80) and protocol in ("http", "https") else f":{port}"
            url = f"{protocol}://{item.get('host')}{shown}{item.get('path') or ''}"
            marks = ["protocol", "host", "port", "path"]
            out["url"] = self.secret_or_value(item, marks, ["service", name, "url"], f"service {name} url", url)
        timeouts = {
            key: duration(int(item[f"{key}_timeout"]))
            for key in ("connect", "read", "write")
            if item.get(f"{key}_timeout") not in (None, 60_000)
        }
        if timeouts:
            out["timeouts"] = timeouts
        if item.get("retries") not in (None, 5):
            out["retries"] = item["retries"]
        children = sorted(self.children("routes", "service", sid), key=lambda r: str(r.get("name")))
        # the names routes keep as they are: a renamed route must not take one of them
        stems = [r["name"].removeprefix(f"{name}-") for r in children if re.match(NAME_PATTERN, str(r.get("name")))]
        route_names: set[str] = set()
        routes = [self.route(name, protocol, r, tags, route_names, stems) for r in children]
        out.update(self.service_plugins(name, sid))
        if routes:
            out["routes"] = routes
        return out

    def route(
        self, service: str, protocol: str, item: Item, service_tags: list[str], taken: set[str], stems: list[str]
    ) -> dict[str, Any]:
        self.take(item)
        full = item.get("name")
        if isinstance(full, str) and full.startswith(f"{service}-") and re.match(NAME_PATTERN, full):
            name = self.catalog_name("route", full.removeprefix(f"{service}-"), item, taken, stems)
        elif isinstance(full, str) and re.match(NAME_PATTERN, full):
            name = self.catalog_name("route", full, item, taken, stems)
            self.note(f"route {full}: its name does not start with '{service}-'; re-applying renames (replaces) it")
        else:
            name = self.catalog_name("route", full, item, taken, stems)
        out: dict[str, Any] = {"name": name}
        for key in ("paths", "hosts", "methods", "snis"):
            if item.get(key):
                out[key] = list(item[key])
        if item.get("headers"):
            out["headers"] = {k: list(v) for k, v in item["headers"].items()}
        for key in ("sources", "destinations"):
            if item.get(key):
                out[key] = [{k: v for k, v in e.items() if v is not None} for e in item[key]]
        default = {
            "grpc": ["grpc", "grpcs"],
            "grpcs": ["grpc", "grpcs"],
            "tcp": ["tcp", "tls"],
            "tls": ["tcp", "tls"],
        }.get(protocol, ["http", "https"])
        if sorted(item.get("protocols") or []) != sorted(default):
            out["protocols"] = list(item.get("protocols") or [])
        protocols = item.get("protocols") or default
        if not any(p in ("tcp", "tls", "udp", "tls_passthrough") for p in protocols):
            grpc = any(p in ("grpc", "grpcs") for p in protocols)
            if not grpc and item.get("strip_path") is False:
                out["strip_path"] = False
            settings = {
                "preserve_host": item.get("preserve_host"),
                "regex_priority": item.get("regex_priority"),
                "https_redirect_status_code": item.get("https_redirect_status_code"),
            }
            out.update(non_default(Route, {k: v for k, v in settings.items() if v is not None}))
            if item.get("request_buffering") is False and item.get("response_buffering") is False:
                out["streaming"] = True
        tags = self.own_tags(item, service_tags)
        if tags:
            out["tags"] = tags
        plugins = self.plugins_of("route", item["id"])
        out.update(self.map_plugins("route", f"{service}/{name}", plugins, []))
        return out

    def upstream(self, item: Item, service_tags: list[str]) -> dict[str, Any]:
        self.take(item)
        name = str(item.get("name"))
        out: dict[str, Any] = {"algorithm": item.get("algorithm")}
        for prefix in ("hash_on", "hash_fallback"):
            kind = item.get(prefix)
            if kind in (None, "none"):
                continue
            arg = (
                item.get(f"{prefix}_header")
                if kind == "header"
                else item.get(f"{prefix}_cookie")
                if kind == "cookie"
                else None
            )
            out[prefix] = f"{kind}:{arg}" if arg else kind
        out["slots"] = item.get("slots")
        if item.get("host_header"):
            out["host_header"] = item["host_header"]
        targets = []
        for t in sorted(self.children("targets", "upstream", item["id"]), key=lambda t: str(t.get("target"))):
            self.take(t)
            text = str(t.get("target"))
            short = text.removesuffix(":8000")
            # the id remembers how the catalog wrote the target (without a port, Kong's 8000 was added)
            if short != text and t["id"] == self.id("target", name, short):
                text = short
            targets.append(text if t.get("weight") in (None, 100) else {"target": text, "weight": t["weight"]})
        out["targets"] = targets
        checks = item.get("healthchecks") or {}
        active = checks.get("active") or {}
        healthy, unhealthy = active.get("healthy") or {}, active.get("unhealthy") or {}
        if healthy.get("interval") or unhealthy.get("interval"):
            check: dict[str, Any] = {
                "type": active.get("type") or "http",
                "interval": duration(round(float(healthy.get("interval") or 0) * 1000)),
                "timeout": duration(round(float(active.get("timeout") or 1) * 1000)),
                "healthy_after": healthy.get("successes"),
                "unhealthy_after": unhealthy.get("tcp_failures"),
            }
            if check["type"] != "tcp":
                check["path"] = active.get("http_path") or "/"
                check["healthy_statuses"] = healthy.get("http_statuses")
                check["unhealthy_statuses"] = unhealthy.get("http_statuses")
            out["health_check"] = non_default(ActiveHealthCheck, {k: v for k, v in check.items() if v is not None})
        passive = (checks.get("passive") or {}).get("unhealthy") or {}
        if any(passive.get(k) for k in ("http_failures", "timeouts", "tcp_failures")):
            breaker = {k: passive.get(k) for k in ("http_failures", "timeouts", "tcp_failures")}
            breaker["statuses"] = passive.get("http_statuses")
            out["circuit_breaker"] = non_default(CircuitBreaker, {k: v for k, v in breaker.items() if v is not None})
        return non_default(Upstream, out, keep=("targets",))


def _shown(value: Any) -> str:
    """A changed value as YAML would write it (`false`, not `False`)."""
    return json.dumps(value) if isinstance(value, (bool, type(None))) else str(value)


def replay(loaded: LoadedCatalog, dump: Dump, live: LiveState, server: ServerInfo, schema_of: SchemaOf) -> KongPlan:
    """What applying the written dump would change, with its placeholders set to the live values: the
    check that adopting it is a no-op (the plan lists whatever the catalog could not say)."""
    resolver = SecretResolver(loaded.path.parent, {p.env: p.value for p in dump.placeholders})
    desired = flatten(build_kong_config(loaded.catalog, resolver), loaded.catalog)
    hashes = {p.value for p in dump.placeholders if p.hashed}
    # A basic-auth password placeholder holds Kong's hash here: compared as stored, not hashed again
    # (an entity without a catalog origin is compared as it is).
    desired.entities = [
        Entity(e.kind, e.id, e.body) if e.kind == "basicauth_credentials" and e.body.get("password") in hashes else e
        for e in desired.entities
    ]
    return build_plan(desired, live, schema_of, server, Masker.of(p.value for p in dump.placeholders))
