"""Catalog -> Kong declarative configuration (`_format_version: "3.0"`, decK file layout).

Every entity gets a deterministic UUIDv5 id derived from the catalog name and its own name, so a
re-render, a re-apply after a crash, or a second machine all name the same entities the same way,
and every entity carries the ownership tags apply relies on.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from gatewayctl.catalog.checks import (
    ANONYMOUS_CONSUMER,
    STREAM_PROTOCOLS,
    anonymous_username,
    default_route_protocols,
    service_protocol,
)
from gatewayctl.catalog.load import SECRET_SECTIONS, LoadedCatalog
from gatewayctl.catalog.model import (
    Catalog,
    Consumer,
    Cors,
    RateLimit,
    Route,
    SecurityHeaders,
    Service,
    StreamEndpoint,
    Upstream,
)
from gatewayctl.catalog.secrets import REFERENCE, SecretResolver, references_in
from gatewayctl.catalog.types import PLAIN_URL, kong_target
from gatewayctl.catalog.units import Duration
from gatewayctl.kong_plugins import without_shorthands
from gatewayctl.render.output import PRIVATE, PUBLIC, RenderedFile, dump_yaml
from gatewayctl.render.ownership import catalog_tag, ownership_tags, secret_tag

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://gatewayctl.dev/kong")
DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "grpc": 80,
    "grpcs": 443,
    "tcp": 80,
    "tls": 443,
    "ws": 80,
    "wss": 443,
}
Entity = dict[str, Any]


def entity_id(catalog_name: str, kind: str, *names: str) -> str:
    """The same catalog, kind and names give the same id on every machine and every run: the UUIDv5 of
    "<catalog>/<kind>/<names...>" in gatewayctl's namespace (RFC 9562 section 5.5), computed without building
    uuid.UUID objects, which cost more than the hash when a catalog has 100,000 entities."""
    return _uuid5(hashlib.sha1(_NAMESPACE_BYTES + "/".join((catalog_name, kind, *names)).encode()).digest())


_NAMESPACE_BYTES = _NAMESPACE.bytes
# The RFC 4122 variant keeps a byte's low 6 bits and sets its top two to 10: on the byte's first hex digit,
# 0-3 -> 8-b and so on.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def _uuid5(sha1: bytes) -> str:
    """A UUIDv5 in text form from the SHA-1 of namespace + name: the version digit is 5 (digit 12)."""
    h = sha1[:16].hex()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def render_kong(loaded: LoadedCatalog, secrets: SecretResolver) -> list[RenderedFile]:
    holds_secrets = any(path[0] in SECRET_SECTIONS["kong"] for path, _ in loaded.secret_references)
    # The document, its text and its bytes are each tens of MB at 10,000 services: each goes once the next
    # is made, so that at most two of them are alive at a time (peak memory).
    config = build_kong_config(loaded.catalog, secrets)
    text = dump_yaml(config)
    del config
    content = text.encode()
    del text
    return [RenderedFile("kong/kong.yaml", content, PRIVATE if holds_secrets else PUBLIC)]


def build_kong_config(catalog: Catalog, secrets: SecretResolver) -> dict[str, Any]:
    return _KongBuilder(catalog, secrets).build()


class _KongBuilder:
    def __init__(self, catalog: Catalog, secrets: SecretResolver) -> None:
        self.catalog = catalog
        self.secrets = secrets
        self.base_tags = _unique([*ownership_tags(catalog.name), *catalog.tags])
        self.needs_anonymous = any(len(s.auth) > 1 for s in catalog.services)
        self.enterprise = catalog.gateway.edition == "enterprise"
        self.id_prefix = hashlib.sha1(_NAMESPACE_BYTES + f"{catalog.name}/".encode())

    def id(self, kind: str, *names: str) -> str:
        """entity_id(catalog name, kind, *names), hashing the part every id shares only once."""
        sha1 = self.id_prefix.copy()
        sha1.update("/".join((kind, *names)).encode())
        h = sha1.hexdigest()  # _uuid5 on the hex digest: one call fewer per id (there are 100,000s)
        return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"

    def tags(self, *extra: Iterable[str]) -> list[str]:
        """The catalog's tags then `extra`'s, each once; a new list per entity (callers may change one)."""
        if not any(extra):
            return self.base_tags.copy()
        return _unique([*self.base_tags, *(t for group in extra for t in group)])

    # ------------------------------------------------------------------ document

    def build(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "_format_version": "3.0",
            "_info": {"select_tags": [catalog_tag(self.catalog.name)]},
        }
        services = [self.service(s) for s in self.catalog.services]
        upstreams = [self.upstream(s, s.upstream) for s in self.catalog.services if s.upstream]
        consumers = [self.consumer(c) for c in self.catalog.consumers]
        if self.needs_anonymous:
            consumers.append(self.anonymous_consumer())
        plugins = self.global_plugins()
        if services:
            doc["services"] = services
        if upstreams:
            doc["upstreams"] = upstreams
        if consumers:
            doc["consumers"] = consumers
        if plugins:
            doc["plugins"] = plugins
        return doc

    # ------------------------------------------------------------------ services and routes

    def service(self, service: Service) -> Entity:
        entity: Entity = {"name": service.name, "id": self.id("service", service.name)}
        protocol = self.service_protocol(service)
        if service.url:
            scheme, host, port, path = _split_url(self.secrets.resolve(service.url))
            entity["protocol"] = protocol
            entity["host"] = host
            entity["port"] = port or DEFAULT_PORTS.get(scheme, 80)
            if path and path != "/" and protocol not in ("grpc", "grpcs", "tcp", "tls"):
                entity["path"] = path
        else:
            entity["protocol"] = protocol
            entity["host"] = upstream_name(service.name)
            entity["port"] = DEFAULT_PORTS.get(protocol, 80)
        timeouts = service.timeouts
        entity["connect_timeout"] = _ms(timeouts.connect if timeouts else None, 60_000)
        entity["read_timeout"] = _ms(timeouts.read if timeouts else None, 60_000)
        entity["write_timeout"] = _ms(timeouts.write if timeouts else None, 60_000)
        entity["retries"] = 5 if service.retries is None else service.retries
        entity["enabled"] = True
        service_tags = self.tags(service.tags)
        entity["tags"] = service_tags
        if service.url and "${" in service.url:  # the url's parts, whichever holds the secret
            mark_secrets(entity, [(key,) for key in ("protocol", "host", "port", "path") if key in entity])
        # Computed once per service, not per route: the protocols of routes that set none, and the tags of
        # routes that add none (copied, so that every entity keeps a list of its own).
        default_protocols = default_route_protocols(protocol)
        entity["routes"] = [self.route(service, r, default_protocols, service_tags) for r in service.routes]
        plugins = self.service_plugins(service)
        if plugins:
            entity["plugins"] = plugins
        if not entity["routes"]:
            del entity["routes"]
        return entity

    def service_protocol(self, service: Service) -> str:
        return service_protocol(service, self.enterprise)

    def route(self, service: Service, route: Route, default_protocols: list[str], service_tags: list[str]) -> Entity:
        """`default_protocols`: route_protocols of a route that sets none; `service_tags`: self.tags(service.tags)."""
        name = f"{service.name}-{route.name}"
        protocols = list(route.protocols) if route.protocols else default_protocols.copy()
        entity: Entity = {"name": name, "id": self.id("route", name), "protocols": protocols}
        if route.paths:
            entity["paths"] = list(route.paths)
        if route.hosts:
            entity["hosts"] = list(route.hosts)
        if route.methods:
            entity["methods"] = list(route.methods)
        if route.headers:
            entity["headers"] = {k: list(v) for k, v in route.headers.items()}
        if route.snis:
            entity["snis"] = list(route.snis)
        if route.sources:
            entity["sources"] = _endpoints(route.sources)
        if route.destinations:
            entity["destinations"] = _endpoints(route.destinations)
        grpc = "grpc" in protocols or "grpcs" in protocols
        if STREAM_PROTOCOLS.isdisjoint(protocols):
            entity["strip_path"] = False if grpc else (True if route.strip_path is None else route.strip_path)
            entity["preserve_host"] = route.preserve_host
            entity["regex_priority"] = route.regex_priority
            entity["https_redirect_status_code"] = route.https_redirect_status_code
            entity["request_buffering"] = not route.streaming
            entity["response_buffering"] = not route.streaming
        entity["tags"] = self.tags(service.tags, route.tags) if route.tags else service_tags.copy()
        if route.plugins:
            entity["plugins"] = [self.raw_plugin(("route", name), p, c) for p, c in route.plugins.items()]
        return entity

    # ------------------------------------------------------------------ upstreams

    def upstream(self, service: Service, upstream: Upstream) -> Entity:
        name = upstream_name(service.name)
        entity: Entity = {"name": name, "id": self.id("upstream", name), "algorithm": upstream.algorithm}
        for prefix, value in (("hash_on", upstream.hash_on), ("hash_fallback", upstream.hash_fallback)):
            if value is None:
                continue
            kind, _, arg = value.partition(":")
            entity[prefix] = kind
            if kind == "header":
                entity[f"{prefix}_header"] = arg
            elif kind == "cookie":
                entity[f"{prefix}_cookie"] = arg
                entity[f"{prefix}_cookie_path"] = "/"
        entity["slots"] = upstream.slots
        if upstream.host_header:
            entity["host_header"] = self.secrets.resolve(upstream.host_header)
        healthchecks = self.healthchecks(upstream)
        if healthchecks:
            entity["healthchecks"] = healthchecks
        entity["tags"] = self.tags(service.tags)
        if upstream.host_header and REFERENCE.search(upstream.host_header):
            mark_secrets(entity, [("host_header",)])
        entity["targets"] = [
            {
                # as Kong keeps it (its port or 8000, an IP address in normal form): read back unchanged
                "target": kong_target(t.target) or t.target,
                "id": self.id("target", name, t.target),
                "weight": t.weight,
                "tags": self.tags(service.tags),
            }
            for t in upstream.targets
        ]
        return entity

    def healthchecks(self, upstream: Upstream) -> Entity:
        out: Entity = {}
        check = upstream.health_check
        if check:
            unhealthy: Entity = {
                "interval": _seconds(check.interval),
                "tcp_failures": check.unhealthy_after,
                "timeouts": check.unhealthy_after,
            }
            healthy: Entity = {"interval": _seconds(check.interval), "successes": check.healthy_after}
            if check.type != "tcp":
                unhealthy["http_failures"] = check.unhealthy_after
                if check.healthy_statuses:
                    healthy["http_statuses"] = list(check.healthy_statuses)
                if check.unhealthy_statuses:
                    unhealthy["http_statuses"] = list(check.unhealthy_statuses)
            active: Entity = {"type": check.type, "timeout": _seconds(check.timeout)}
            if check.type != "tcp":
                active["http_path"] = check.path
            active["healthy"] = healthy
            active["unhealthy"] = unhealthy
            out["active"] = active
        breaker = upstream.circuit_breaker
        if breaker:
            passive_unhealthy: Entity = {
                "http_failures": breaker.http_failures,
                "timeouts": breaker.timeouts,
                "tcp_failures": breaker.tcp_failures,
            }
            if breaker.statuses:
                passive_unhealthy["http_statuses"] = list(breaker.statuses)
            out["passive"] = {
                "type": "tcp" if check and check.type == "tcp" else "http",
                "unhealthy": passive_unhealthy,
            }
        return out

    # ------------------------------------------------------------------ consumers

    def consumer(self, consumer: Consumer) -> Entity:
        name = consumer.name
        tags = self.tags(consumer.tags)
        entity: Entity = {"username": name, "id": self.id("consumer", name)}
        if consumer.custom_id:
            entity["custom_id"] = consumer.custom_id
        entity["tags"] = tags
        creds = consumer.credentials
        r = self.secrets.resolve
        if creds.key_auth:
            entity["keyauth_credentials"] = [
                {"id": self.id("key-auth", name, str(i)), "key": r(c.key), "tags": tags}
                | ({"ttl": int(c.ttl.seconds)} if c.ttl else {})
                for i, c in enumerate(creds.key_auth)
            ]
        if creds.jwt:
            entity["jwt_secrets"] = [
                {
                    "id": self.id("jwt", name, c.key),
                    "key": c.key,
                    "algorithm": c.algorithm,
                    # Kong only reads the secret for HS*; decK's file format requires one regardless.
                    "secret": r(c.secret) if c.secret else self.id("jwt-unused-secret", name, c.key),
                    "tags": tags,
                }
                | ({"rsa_public_key": r(c.rsa_public_key)} if c.rsa_public_key else {})
                for c in creds.jwt
            ]
        if creds.basic_auth:
            entity["basicauth_credentials"] = [
                {
                    "id": self.id("basic-auth", name, c.username),
                    "username": c.username,
                    "password": r(c.password),
                    "tags": tags,
                }
                for c in creds.basic_auth
            ]
        if creds.oauth2:
            entity["oauth2_credentials"] = [
                {
                    "id": self.id("oauth2", name, c.client_id),
                    "name": c.name,
                    "client_id": c.client_id,
                    "client_secret": r(c.client_secret),
                    "hash_secret": c.hash_secret,
                    "redirect_uris": [r(uri) for uri in c.redirect_uris],
                    "tags": tags,
                }
                for c in creds.oauth2
            ]
        if consumer.groups:
            entity["acls"] = [{"id": self.id("acl", name, g), "group": g, "tags": tags} for g in consumer.groups]
        plugins: list[Entity] = []
        scope = ("consumer", name)
        if consumer.rate_limit:
            plugins.append(self.rate_limiting(scope, consumer.rate_limit))
        plugins += [self.raw_plugin(scope, p, c) for p, c in consumer.plugins.items()]
        if plugins:
            entity["plugins"] = plugins
        return entity

    def anonymous_consumer(self) -> Entity:
        """Services that accept several auth methods run every auth plugin with `anonymous` set, so a
        request carrying any one valid credential passes; a request with none lands on this consumer,
        whose request-termination plugin answers 401."""
        scope = ("consumer", ANONYMOUS_CONSUMER)
        return {
            "username": anonymous_username(self.catalog.name),
            "id": self.id("consumer", ANONYMOUS_CONSUMER),  # the id of the earlier name, which it replaces in place
            "tags": self.tags(),
            "plugins": [
                self.plugin(scope, "request-termination", {"status_code": 401, "message": "Unauthorized"}),
            ],
        }

    # ------------------------------------------------------------------ plugins

    def plugin(self, scope: tuple[str, str], name: str, config: dict[str, Any] | None) -> Entity:
        entity: Entity = {"name": name, "id": self.id("plugin", *scope, name), "enabled": True}
        if config is not None:
            entity["config"] = config
        entity["tags"] = self.tags()
        return entity

    def rate_limiting(self, scope: tuple[str, str], limit: RateLimit) -> Entity:
        entity = self.plugin(scope, "rate-limiting", rate_limiting_config(limit, self.secrets))
        host_is_secret = limit.redis is not None and REFERENCE.search(limit.redis.host)
        return mark_secrets(entity, [("config", "redis", "host")] if host_is_secret else [])

    def raw_plugin(self, scope: tuple[str, str], name: str, config: dict[str, Any] | None) -> Entity:
        if config is None:
            return self.plugin(scope, name, None)
        config = without_shorthands(name, config)
        entity = self.plugin(scope, name, self.secrets.resolve_tree(config))
        return mark_secrets(entity, [("config", *path) for path, _ in references_in(config)])

    def global_plugins(self) -> list[Entity]:
        gateway = self.catalog.gateway
        scope = ("global", "")
        plugins: list[Entity] = []
        if gateway.request_id:
            rid = gateway.request_id
            plugins.append(
                self.plugin(
                    scope,
                    "correlation-id",
                    {"header_name": rid.header, "generator": rid.generator, "echo_downstream": rid.echo_downstream},
                )
            )
        if gateway.metrics:
            m = gateway.metrics
            plugins.append(
                self.plugin(
                    scope,
                    "prometheus",
                    {
                        "status_code_metrics": m.status_codes,
                        "latency_metrics": m.latency,
                        "bandwidth_metrics": m.bandwidth,
                        "upstream_health_metrics": m.upstream_health,
                        "per_consumer": m.per_consumer,
                    },
                )
            )
        if gateway.tracing and gateway.tracing.zipkin:
            z = gateway.tracing.zipkin
            zipkin = self.plugin(
                scope,
                "zipkin",
                {
                    "http_endpoint": self.secrets.resolve(z.endpoint),
                    "sample_ratio": z.sample_ratio,
                    "local_service_name": "kong",
                    "header_type": "preserve",
                    "default_header_type": "b3",
                },
            )
            plugins.append(mark_secrets(zipkin, [("config", "http_endpoint")] if "${" in z.endpoint else []))
        if isinstance(gateway.security_headers, SecurityHeaders):
            plugins.append(
                self.plugin(scope, "response-transformer", security_headers_config(gateway.security_headers))
            )
        if gateway.cors:
            plugins.append(self.plugin(scope, "cors", cors_config(gateway.cors)))
        if gateway.rate_limit:
            plugins.append(self.rate_limiting(scope, gateway.rate_limit))
        plugins += [self.raw_plugin(scope, p, c) for p, c in gateway.plugins.items()]
        return plugins

    def service_plugins(self, service: Service) -> list[Entity]:
        scope = ("service", service.name)
        plugins: list[Entity] = []
        anonymous = self.id("consumer", ANONYMOUS_CONSUMER) if len(service.auth) > 1 else None
        for method in service.auth:
            plugins.append(self.plugin(scope, method, self.auth_config(service, method, anonymous)))
        if service.allow_groups is not None:
            plugins.append(self.plugin(scope, "acl", {"allow": list(service.allow_groups), "hide_groups_header": True}))
        elif service.deny_groups is not None:
            plugins.append(self.plugin(scope, "acl", {"deny": list(service.deny_groups), "hide_groups_header": True}))
        if service.ip_allow is not None or service.ip_deny is not None:
            config: dict[str, Any] = {}
            if service.ip_allow is not None:
                config["allow"] = list(service.ip_allow)
            if service.ip_deny is not None:
                config["deny"] = list(service.ip_deny)
            config["status"] = 403
            config["message"] = "Forbidden"
            plugins.append(self.plugin(scope, "ip-restriction", config))
        if service.rate_limit:
            plugins.append(self.rate_limiting(scope, service.rate_limit))
        if service.cors:
            plugins.append(self.plugin(scope, "cors", cors_config(service.cors)))
        if service.max_body is not None:
            plugins.append(self.plugin(scope, "request-size-limiting", request_size_config(service.max_body.bytes)))
        if service.cache:
            c = service.cache
            cache: dict[str, Any] = {
                "strategy": "memory",
                "cache_ttl": int(c.ttl.seconds),
                "content_type": list(c.content_types),
                "request_method": list(c.methods),
                "response_code": list(c.response_codes),
            }
            if c.vary_headers:
                cache["vary_headers"] = list(c.vary_headers)
            if c.vary_query_params:
                cache["vary_query_params"] = list(c.vary_query_params)
            plugins.append(self.plugin(scope, "proxy-cache", cache))
        if service.grpc_web:
            plugins.append(self.plugin(scope, "grpc-web", {"pass_stripped_path": False}))
        if service.authz and service.authz.opa:
            url = service.authz.opa.url
            opa = urlsplit(self.secrets.resolve(url))
            config = {
                "opa_protocol": opa.scheme,
                "opa_host": opa.hostname,
                "opa_port": opa.port or DEFAULT_PORTS[opa.scheme],
                "opa_path": service.authz.opa.policy,
            }
            marked = [("config", key) for key in ("opa_protocol", "opa_host", "opa_port")] if "${" in url else []
            plugins.append(mark_secrets(self.plugin(scope, "opa", config), marked))
        plugins += [self.raw_plugin(scope, p, c) for p, c in service.plugins.items()]
        return plugins

    def auth_config(self, service: Service, method: str, anonymous: str | None) -> dict[str, Any]:
        config: dict[str, Any]
        if method == "jwt":
            j = service.jwt
            config = (
                {"claims_to_verify": ["exp"]}
                if j is None
                else {
                    "claims_to_verify": list(j.claims_to_verify),
                    "key_claim_name": j.key_claim_name,
                    "header_names": list(j.header_names),
                    "uri_param_names": list(j.uri_param_names),
                    "cookie_names": list(j.cookie_names),
                    "secret_is_base64": j.secret_is_base64,
                    "run_on_preflight": j.run_on_preflight,
                }
            )
            if j and j.maximum_expiration:
                config["maximum_expiration"] = int(j.maximum_expiration.seconds)
        elif method == "key-auth":
            k = service.key_auth
            config = (
                {}
                if k is None
                else {
                    "key_names": list(k.key_names),
                    "key_in_header": k.key_in_header,
                    "key_in_query": k.key_in_query,
                    "key_in_body": k.key_in_body,
                    "hide_credentials": k.hide_credentials,
                    "run_on_preflight": k.run_on_preflight,
                }
            )
        elif method == "basic-auth":
            config = {"hide_credentials": True}
        else:
            o = service.oauth2
            assert o is not None and o.provision_key is not None  # enforced by the checks
            config = {
                "provision_key": self.secrets.resolve(o.provision_key),
                "enable_authorization_code": o.enable_authorization_code,
                "enable_client_credentials": o.enable_client_credentials,
                "enable_implicit_grant": o.enable_implicit_grant,
                "enable_password_grant": o.enable_password_grant,
                "mandatory_scope": o.mandatory_scope,
                "token_expiration": int(o.token_expiration.seconds),
                "pkce": o.pkce,
            }
            if o.scopes:
                config["scopes"] = list(o.scopes)
        if anonymous:
            config["anonymous"] = anonymous
        return config


# ---------------------------------------------------------------------- feature -> plugin config


def rate_limiting_config(limit: RateLimit, secrets: SecretResolver) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for period in ("second", "minute", "hour", "day", "month", "year"):
        value = getattr(limit, period)
        if value is not None:
            config[period] = value
    kind, _, arg = limit.by.partition(":")
    config["limit_by"] = kind
    if kind == "header":
        config["header_name"] = arg
    elif kind == "path":
        config["path"] = arg
    config["policy"] = limit.policy
    config["fault_tolerant"] = limit.fault_tolerant
    config["hide_client_headers"] = limit.hide_client_headers
    if limit.redis is not None:
        redis: dict[str, Any] = {
            "host": secrets.resolve(limit.redis.host),
            "port": limit.redis.port,
            "database": limit.redis.database,
            "ssl": limit.redis.ssl,
            "ssl_verify": limit.redis.ssl_verify,
        }
        if limit.redis.username:
            redis["username"] = limit.redis.username
        if limit.redis.password:
            redis["password"] = secrets.resolve(limit.redis.password)
        if limit.redis.timeout:
            redis["timeout"] = limit.redis.timeout.ms
        config["redis"] = redis
    return config


def cors_config(cors: Cors) -> dict[str, Any]:
    config: dict[str, Any] = {"origins": list(cors.origins)}
    if cors.methods is not None:
        config["methods"] = list(cors.methods)
    if cors.headers is not None:
        config["headers"] = list(cors.headers)
    if cors.exposed_headers is not None:
        config["exposed_headers"] = list(cors.exposed_headers)
    config["credentials"] = cors.credentials
    if cors.max_age is not None:
        config["max_age"] = int(cors.max_age.seconds)
    config["preflight_continue"] = cors.preflight_continue
    config["private_network"] = cors.private_network
    return config


def request_size_config(size_bytes: int) -> dict[str, Any]:
    """Kong's units are binary (kilobytes = 1024 bytes); pick the largest that is exact."""
    if size_bytes % (1024 * 1024) == 0:
        return {
            "allowed_payload_size": size_bytes // (1024 * 1024),
            "size_unit": "megabytes",
            "require_content_length": False,
        }
    if size_bytes % 1024 == 0:
        return {
            "allowed_payload_size": size_bytes // 1024,
            "size_unit": "kilobytes",
            "require_content_length": False,
        }
    return {"allowed_payload_size": size_bytes, "size_unit": "bytes", "require_content_length": False}


def security_headers_config(headers: SecurityHeaders) -> dict[str, Any]:
    hsts = int(headers.hsts_max_age.seconds)
    return {
        "add": {
            "headers": [
                f"Strict-Transport-Security:max-age={hsts}; includeSubDomains",
                "X-Content-Type-Options:nosniff",
                f"X-Frame-Options:{headers.frame_options}",
                f"Content-Security-Policy:{headers.content_security_policy}",
                f"Referrer-Policy:{headers.referrer_policy}",
            ]
        }
    }


def upstream_name(service_name: str) -> str:
    return f"{service_name}.upstream"


def _ms(value: Duration | None, default: int) -> int:
    return default if value is None else value.ms


def _seconds(value: Duration) -> int | float:
    return value.ms // 1000 if value.ms % 1000 == 0 else value.ms / 1000


def _split_url(url: str) -> tuple[str, str | None, int | None, str]:
    """urlsplit's scheme, hostname, port and path; a plain url (most are) is read with one regex match."""
    plain = PLAIN_URL.match(url)
    if plain and (plain["port"] is None or int(plain["port"]) <= 65535):
        port = plain["port"]
        return plain["scheme"], plain["host"].lower(), int(port) if port else None, plain["path"] or ""
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port, parts.path


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _endpoints(endpoints: list[StreamEndpoint]) -> list[Entity]:
    return [{k: v for k, v in (("ip", e.ip), ("port", e.port)) if v is not None} for e in endpoints]


def mark_secrets(entity: Entity, paths: Iterable[tuple[str | int, ...]]) -> Entity:
    """`entity` with a tag naming each field of `paths`: those that hold a value resolved from a reference
    (ownership.SECRET_TAG), so that a later diff, dump or rollback knows them for secret without the catalog."""
    marks = sorted({secret_tag(path) for path in paths})
    if marks:
        entity["tags"] = _unique([*entity["tags"], *marks])
    return entity
