"""Semantic checks: what the types alone cannot say. Each check reports through `Report` with the
key path of the offending value, so every finding is located like a type error."""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gatewayctl.catalog.errors import did_you_mean
from gatewayctl.catalog.kuma_values import is_file_path, is_url
from gatewayctl.catalog.model import Catalog, Cors, Plugins, RateLimit, Route, Service, ServiceSettings
from gatewayctl.catalog.public_keys import public_key_problem
from gatewayctl.catalog.secrets import REFERENCE
from gatewayctl.catalog.source import Source
from gatewayctl.catalog.types import kong_address, kong_path_problem, kong_target
from gatewayctl.diagnostics import Diagnostic, KeyPath, quoted_key
from gatewayctl.kong_plugins import ENTERPRISE_PLUGINS, GLOBAL_ONLY_PLUGINS, KNOWN_PLUGINS, NO_CONSUMER_PLUGINS

_RATE_BY = re.compile(r"^(consumer|credential|ip|service|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|path:/\S*)$")
_HASH_ON = re.compile(r"^(none|consumer|ip|path|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|cookie:[^\s;,=]+)$")
# kong/tools/http.lua: validate_header_name (typedefs.header_name: key-auth key_names, rate-limiting
# header_name, upstream hash headers) is stricter than an HTTP token; validate_http_token (typedefs.cookie_name)
_KONG_HEADER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_KONG_COOKIE_FORBIDDEN = re.compile(r'[\x00-\x20\x7f()<>@,;:\\"/?={}\[\]]')
OAUTH2_FLOWS = (
    "enable_authorization_code",
    "enable_implicit_grant",
    "enable_client_credentials",
    "enable_password_grant",
)

# Catalog keys that render to a Kong plugin, per scope: a raw `plugins:` entry of the same name
# would be a second instance of that plugin on the same entity, which Kong refuses (409).
SERVICE_FEATURE_PLUGINS: dict[str, str] = {
    "rate_limit": "rate-limiting",
    "cors": "cors",
    "max_body": "request-size-limiting",
    "cache": "proxy-cache",
    "grpc_web": "grpc-web",
}
GATEWAY_FEATURE_PLUGINS: dict[str, str] = {
    "request_id": "correlation-id",
    "metrics": "prometheus",
    "tracing": "zipkin",
    "security_headers": "response-transformer",
    "cors": "cors",
    "rate_limit": "rate-limiting",
}
ANONYMOUS_CONSUMER = "gatewayctl-anonymous"
# plugins a catalog configures only through its own keys (auth, allow_groups, deny_groups), never `plugins:`
KEY_ONLY_PLUGINS = frozenset({"jwt", "key-auth", "basic-auth", "oauth2", "acl"})


def anonymous_username(catalog_name: str) -> str:
    """The anonymous consumer's Kong username: one per catalog, as Kong holds usernames unique and two
    catalogs sharing a Kong may both need one (the `.` keeps it apart from any catalog consumer name)."""
    return f"{ANONYMOUS_CONSUMER}.{catalog_name}"


STREAM_PROTOCOLS = frozenset(("tcp", "tls", "udp", "tls_passthrough"))
"""Kong route protocols that match connections, not requests (no paths, methods or buffering)."""
AUTH_CREDENTIALS = {"jwt": "jwt", "key-auth": "key_auth", "basic-auth": "basic_auth", "oauth2": "oauth2"}


@dataclass
class Report:
    source: Source
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, path: KeyPath, message: str, *, key: bool = False) -> None:
        self.diagnostics.append(self.source.diagnostic(path, message, key=key))

    def warning(self, path: KeyPath, message: str, *, key: bool = False) -> None:
        self.diagnostics.append(self.source.diagnostic(path, message, key=key, severity="warning"))


Check = Callable[[Catalog, Report], None]


def run_checks(catalog: Catalog, source: Source) -> list[Diagnostic]:
    report = Report(source)
    for check in CHECKS:
        check(catalog, report)
    return report.diagnostics


# --------------------------------------------------------------------------- names


def unique_names(catalog: Catalog, report: Report) -> None:
    def unique(items: list[tuple[str, KeyPath]], what: str) -> None:
        first: dict[str, KeyPath] = {}
        for name, path in items:
            if name in first:
                report.error(path, f"duplicate {what} name '{name}' (first defined at {_fmt(first[name])})")
            else:
                first[name] = path

    unique([(s.name, ("services", i, "name")) for i, s in enumerate(catalog.services)], "service")
    unique([(c.name, ("consumers", i, "name")) for i, c in enumerate(catalog.consumers)], "consumer")
    # Routes: one pass, key paths built only for a finding (there are tens of thousands of routes).
    first_route: dict[str, tuple[int, int]] = {}  # Kong route name -> its first (service, route) indexes
    clashes: list[tuple[KeyPath, str]] = []  # reported after every service's own duplicates, as before
    for i, service in enumerate(catalog.services):
        own: dict[str, int] = {}
        for j, route in enumerate(service.routes):
            if route.name in own:
                first_path: KeyPath = ("services", i, "routes", own[route.name], "name")
                report.error(
                    ("services", i, "routes", j, "name"),
                    f"duplicate route name '{route.name}' (first defined at {_fmt(first_path)})",
                )
            else:
                own[route.name] = j
            kong_name = f"{service.name}-{route.name}"
            first = first_route.setdefault(kong_name, (i, j))
            if first[0] != i:
                first_path = ("services", first[0], "routes", first[1], "name")
                clashes.append(
                    (
                        ("services", i, "routes", j, "name"),
                        f"Kong route name '{kong_name}' (<service>-<route>) is also produced by {_fmt(first_path)}",
                    )
                )
    for path, message in clashes:
        report.error(path, message)
    custom_ids: dict[str, int] = {}
    for i, consumer in enumerate(catalog.consumers):
        if consumer.custom_id is not None:
            if consumer.custom_id in custom_ids:
                report.error(
                    ("consumers", i, "custom_id"),
                    f"custom_id '{consumer.custom_id}' is also used by consumers[{custom_ids[consumer.custom_id]}]",
                )
            custom_ids.setdefault(consumer.custom_id, i)


def _fmt(path: KeyPath) -> str:
    from gatewayctl.diagnostics import format_path

    return format_path(path[:-1] if path and path[-1] == "name" else path)


# --------------------------------------------------------------------------- services and routes


def service_url_refusals(url: str) -> list[tuple[str, str, str]]:
    """The parts of a service url Kong refuses: (path or host, the part, why in Kong's words). A url holding a
    reference is checked with this once resolved (LoadedCatalog.check_secrets)."""
    parts = urlsplit(url)
    refusals: list[tuple[str, str, str]] = []
    if parts.path not in ("", "/") and (problem := kong_path_problem(parts.path)):
        refusals.append(("path", parts.path, problem))
    # the url shorthand's host is Kong's typedefs.host (kong/db/schema/typedefs.lua validate_host at 3.9.1)
    host = parts.hostname or ""
    if problem := kong_address(host)[0]:
        refusals.append(("host", host, f"it {problem}"))
    return refusals


def service_targets(catalog: Catalog, report: Report) -> None:
    for i, service in enumerate(catalog.services):
        path: KeyPath = ("services", i)
        if service.url and service.upstream:
            report.error(path, "set either url or upstream, not both")
        elif not service.url and not service.upstream:
            report.error(path, "needs a url or an upstream")
        if service.url and service.protocol and not service.url.startswith(service.protocol + "://"):
            report.error((*path, "protocol"), f"protocol {service.protocol} contradicts url {service.url}")
        if service.url and not REFERENCE.search(service.url) and "{vault://" not in service.url:
            for part, value, why in service_url_refusals(service.url):
                report.error((*path, "url"), f"Kong refuses the {part} {value!r}: {why}")
        upstream = service.upstream
        if upstream is None:
            continue
        up: KeyPath = (*path, "upstream")
        for key in ("hash_on", "hash_fallback"):
            value = getattr(upstream, key)
            if value is None:
                continue
            kind, _, name = value.partition(":")
            if not _HASH_ON.fullmatch(value):
                report.error((*up, key), f"must be consumer, ip, path, header:NAME or cookie:NAME (got {value!r})")
            elif kind == "header" and (problem := kong_header_name_problem(name)):
                report.error((*up, key), problem)
            elif kind == "cookie" and _KONG_COOKIE_FORBIDDEN.search(name):
                report.error(
                    (*up, key),
                    f"Kong refuses the cookie name {name!r}: it must be an HTTP token "
                    "(no separators such as ( ) < > @ : / ? = { } [ ] or quotes)",
                )
            elif upstream.algorithm != "consistent-hashing":
                report.error((*up, key), "needs algorithm: consistent-hashing")
        if upstream.algorithm == "consistent-hashing" and upstream.hash_on is None:
            report.error(
                (*up, "algorithm"),
                "consistent-hashing needs hash_on (what to hash: ip, consumer, header:NAME, cookie:NAME or path)",
            )
        fallback = upstream.hash_fallback
        if upstream.hash_on and upstream.hash_on.startswith("cookie:") and fallback:
            report.error((*up, "hash_fallback"), "Kong allows no fallback when hashing on a cookie")
        elif fallback and fallback.startswith("cookie:"):
            # upstreams.lua: a cookie fallback needs hash_on_cookie, which only hash_on: cookie sets
            report.error((*up, "hash_fallback"), "Kong cannot fall back to a cookie (only hash_on may be cookie:NAME)")
        elif fallback and fallback == upstream.hash_on and _HASH_ON.fullmatch(fallback):
            # upstreams.lua: conditional hash_fallback one_of (not hash_on's kind); distinct header names
            report.error((*up, "hash_fallback"), f"is the same as hash_on ({fallback}): Kong refuses it")
        seen: dict[str, int] = {}
        for j, target in enumerate(upstream.targets):
            kept = kong_target(target.target)  # 10.0.0.1 and 10.0.0.1:8000 are one target to Kong
            if kept is None:
                problem = kong_address(target.target)[0]
                report.error((*up, "targets", j), f"Kong refuses the target {target.target!r}: it {problem}")
            elif kept in seen:
                report.error((*up, "targets", j), f"duplicate target {target.target}")
            seen.setdefault(kept or target.target, j)
        check = upstream.health_check
        if check and check.timeout.ms > check.interval.ms:
            report.error((*up, "health_check", "timeout"), "must not be longer than the interval")
        if check and (problem := kong_path_problem(check.path)):  # healthchecks.active.http_path: typedefs.path
            report.error((*up, "health_check", "path"), f"Kong refuses the path {check.path!r}: {problem}")
        if upstream.circuit_breaker and not check:
            report.warning(
                (*up, "circuit_breaker"),
                "targets the circuit breaker takes out come back only through "
                "active health checks (health_check) or by hand",
            )


def routes(catalog: Catalog, report: Report) -> None:
    enterprise = catalog.gateway.edition == "enterprise"
    for i, service in enumerate(catalog.services):
        protocol = service.effective_protocol
        grpc = protocol in ("grpc", "grpcs")
        stream = protocol in ("tcp", "tls")
        default_protocols = default_route_protocols(service_protocol(service, enterprise)) if service.routes else []
        for j, route in enumerate(service.routes):
            path: KeyPath = ("services", i, "routes", j)
            protocols = route.protocols or default_protocols  # route_protocols(service, route, enterprise)
            if route.protocols:
                groups = {_protocol_group(p) for p in route.protocols}
                if len(groups) > 1:
                    report.error(
                        (*path, "protocols"),
                        "mixes protocols Kong keeps apart: "
                        "{http,https}, {grpc,grpcs}, {tcp,tls,udp}, {tls_passthrough}, {ws,wss}",
                    )
                if ("ws" in route.protocols or "wss" in route.protocols) and not enterprise:
                    report.error(
                        (*path, "protocols"),
                        "ws/wss routes need Kong Enterprise (gateway.edition: "
                        "enterprise); on OSS use websocket: true with http/https",
                    )
            if grpc or "grpc" in protocols or "grpcs" in protocols:
                if route.methods:
                    report.error((*path, "methods"), "gRPC routes cannot match on methods (Kong rejects them)")
                if route.strip_path:
                    report.error((*path, "strip_path"), "gRPC routes must not strip the path (Kong rejects it)")
                if route.websocket:
                    report.error((*path, "websocket"), "a gRPC route cannot be a WebSocket route")
                if not (route.paths or route.hosts or route.headers):
                    report.error(path, "a gRPC route needs paths, hosts or headers to match on")
            elif stream:
                if route.paths or route.methods or route.hosts or route.headers:
                    report.error(
                        path,
                        f"a {protocol} service's routes match on sources/destinations/snis, not "
                        "paths, hosts, methods or headers",
                    )
                elif "tls_passthrough" in protocols and not route.snis:
                    # Kong: "must set snis when 'protocols' is 'tls_passthrough'" (routes_subschemas.lua)
                    report.error(path, "a tls_passthrough route needs snis to match on")
                elif not (route.sources or route.destinations or route.snis):
                    # Kong: "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls'"
                    report.error(path, f"a {protocol} route needs at least one of sources, destinations or snis")
                if route.snis and "tls" not in protocols and "tls_passthrough" not in protocols:
                    report.error((*path, "snis"), "snis match only on TLS; add tls to protocols")
            elif not (route.paths or route.hosts or route.methods or route.headers or route.snis):
                report.error(path, "needs at least one of paths, hosts, methods or headers to match on")
            if not stream and STREAM_PROTOCOLS.isdisjoint(protocols):
                if route.sources:
                    report.error((*path, "sources"), "sources match only on tcp/tls routes", key=True)
                if route.destinations:
                    report.error((*path, "destinations"), "destinations match only on tcp/tls routes", key=True)
                if route.snis and not any(p in ("https", "grpcs", "wss") for p in protocols):
                    report.error((*path, "snis"), "snis match only on TLS connections (https, grpcs, wss)", key=True)
            if route.sources or route.destinations:
                for key in ("sources", "destinations"):
                    for k, endpoint in enumerate(getattr(route, key)):
                        if endpoint.ip is None and endpoint.port is None:
                            report.error((*path, key, k), "needs an ip, a port or both")
            if route.websocket and route.streaming:
                report.warning(
                    (*path, "streaming"), "WebSocket connections are never buffered; streaming has no effect here"
                )
            for key, name in route.headers.items():
                if key.lower() == "host":
                    report.error((*path, "headers", key), "match hosts with hosts:, not a Host header", key=True)
                elif problem := kong_header_name_problem(key):  # a route's header names are typedefs.header_name
                    report.error((*path, "headers", key), problem, key=True)
                if not name:
                    report.error((*path, "headers", key), "needs at least one value")
                for k, value in enumerate(name):
                    if not value:  # Kong: "length must be at least 1"
                        report.error((*path, "headers", key, k), "Kong refuses an empty header value")
            route_addresses(route, path, report)


def route_addresses(route: Route, path: KeyPath, report: Report) -> None:
    """What Kong's route schema refuses in hosts and snis (kong/tools/ip.lua normalize_ip): a port above 65535;
    an SNI with a port or that is an IP address (typedefs.wildcard_host)."""
    for k, host in enumerate(route.hosts):
        _, colon, port = host.rpartition(":")
        if colon and int(port) > 65535:
            report.error((*path, "hosts", k), f"Kong refuses the port of {host!r}: ports go up to 65535")
    for k, sni in enumerate(route.snis):
        if ":" in sni:
            report.error((*path, "snis", k), f"an SNI is a server name without a port (got {sni!r})")
        elif re.fullmatch(r"[\d.]+", sni):
            report.error((*path, "snis", k), f"an SNI is a server name, not an IP address (got {sni!r})")


def service_protocol(service: Service, enterprise: bool) -> str:
    """The Kong protocol a catalog service ends up with: ws/wss on Enterprise when every one of its routes
    is a WebSocket route (Kong wants a ws service for ws routes), else the catalog's own."""
    protocol = service.effective_protocol
    websocket_only = bool(service.routes) and all(r.websocket for r in service.routes)
    if enterprise and websocket_only and protocol in ("http", "https"):
        return {"http": "ws", "https": "wss"}[protocol]
    return protocol


def route_protocols(service: Service, route: Route, enterprise: bool) -> list[str]:
    """The Kong protocols a catalog route ends up with."""
    if route.protocols:
        return list(route.protocols)
    return default_route_protocols(service_protocol(service, enterprise))


def default_route_protocols(protocol: str) -> list[str]:
    """The Kong protocols of a route that sets none, on a service whose Kong protocol is `protocol`."""
    if protocol in ("grpc", "grpcs"):
        return ["grpc", "grpcs"]
    if protocol in ("tcp", "tls"):
        return ["tcp", "tls"]
    if protocol in ("ws", "wss"):
        return ["ws", "wss"]
    return ["http", "https"]


def _protocol_group(protocol: str) -> str:
    return {"https": "http", "grpcs": "grpc", "tls": "tcp", "udp": "tcp", "wss": "ws"}.get(protocol, protocol)


_ANY = ["*"]
_ROOT = ["/"]


def route_conflicts(catalog: Catalog, report: Report) -> None:
    """Two routes in different services that match exactly the same (host, method, path)."""
    owners: dict[tuple[str, str, str, tuple[tuple[str, tuple[str, ...]], ...]], tuple[int, int]] = {}
    for i, service in enumerate(catalog.services):
        for j, route in enumerate(service.routes):
            headers = (
                tuple(sorted((k.lower(), tuple(sorted(v))) for k, v in route.headers.items())) if route.headers else ()
            )
            methods = route.methods or _ANY
            paths = route.paths or _ROOT
            owner = (i, j)
            for host in route.hosts or _ANY:
                host_key = host.lower()
                for method in methods:
                    for path in paths:
                        # One dict operation per key: the first route to match a request keeps it.
                        other = owners.setdefault((host_key, method, path, headers), owner)
                        if other is owner or other[0] == i:
                            continue
                        oi, oj = other
                        where = f"services[{oi}].routes[{oj}] ({catalog.services[oi].name}-{catalog.services[oi].routes[oj].name})"  # noqa: E501
                        report.error(
                            ("services", i, "routes", j),
                            f"matches the same requests as {where}: host {host}, method {method}, path {path}",
                        )
                        break
                    else:
                        continue
                    break
                else:
                    continue
                break


# --------------------------------------------------------------------------- features


def features(catalog: Catalog, report: Report) -> None:
    dbless = catalog.gateway.mode == "dbless"
    enterprise = catalog.gateway.edition == "enterprise"
    scopes: list[tuple[KeyPath, ServiceSettings | None, Plugins, str]] = [
        (("defaults",), catalog.defaults, catalog.defaults.plugins, "defaults")
    ]
    for i, service in enumerate(catalog.services):
        scopes.append((("services", i), service, service.plugins, "service"))
        # A scope without settings has only its plugins to check: most routes and consumers have none.
        scopes += [
            (("services", i, "routes", j), None, r.plugins, "route") for j, r in enumerate(service.routes) if r.plugins
        ]
    for i, consumer in enumerate(catalog.consumers):
        if consumer.plugins:
            scopes.append((("consumers", i), None, consumer.plugins, "consumer"))
        if consumer.rate_limit:
            rate_limit(consumer.rate_limit, ("consumers", i, "rate_limit"), dbless, report)
            if "rate-limiting" in consumer.plugins:
                report.error(
                    ("consumers", i, "plugins", "rate-limiting"),
                    "rate-limiting is already configured by this consumer's rate_limit",
                    key=True,
                )
    scopes.append((("gateway",), None, catalog.gateway.plugins, "gateway"))

    for path, settings, plugins, scope in scopes:
        for name in plugins:
            where = (*path, "plugins", name)
            if name not in KNOWN_PLUGINS:
                report.warning(
                    where,
                    f"{quoted_key(name)} is not a plugin bundled with Kong 3.9 (a custom plugin?)"
                    f"{did_you_mean(name, KNOWN_PLUGINS)}",
                    key=True,
                )
            elif name in ENTERPRISE_PLUGINS and not enterprise:
                report.error(where, f"the {name} plugin needs Kong Enterprise (gateway.edition: enterprise)", key=True)
            if name in KEY_ONLY_PLUGINS and settings is not None:
                report.error(where, f"configure {name} through auth/allow_groups/deny_groups, not plugins:", key=True)
            if name in GLOBAL_ONLY_PLUGINS and scope != "gateway":
                report.error(
                    where,
                    f"Kong runs {name} only globally (its schema refuses a service, a route and a consumer): "
                    "set it in gateway.plugins",
                    key=True,
                )
            elif name in NO_CONSUMER_PLUGINS and scope == "consumer":
                report.error(
                    where,
                    f"Kong does not run {name} per consumer (its schema refuses a consumer): "
                    "set it on the services or routes instead",
                    key=True,
                )
        if settings is None:
            continue
        if plugins:
            for feature, plugin in SERVICE_FEATURE_PLUGINS.items():
                if getattr(settings, feature) not in (None, False) and plugin in plugins:
                    report.error((*path, "plugins", plugin), f"{plugin} is already configured by {feature}", key=True)
        if settings.allow_groups is not None and settings.deny_groups is not None:
            report.error((*path, "deny_groups"), "set allow_groups or deny_groups, not both")
        if (settings.allow_groups or settings.deny_groups) and not settings.auth and scope == "service":
            report.error(
                (*path, "allow_groups" if settings.allow_groups else "deny_groups"),
                "group rules need auth: the consumer must be known before its groups are",
            )
        if settings.ip_allow is not None and not settings.ip_allow and not settings.ip_deny:
            report.error((*path, "ip_allow"), "an empty ip_allow list would block everyone; remove it instead")
        elif settings.ip_deny is not None and not settings.ip_deny and settings.ip_allow is None:
            # ip-restriction/schema.lua: at_least_one_of config.allow, config.deny (an empty list is none)
            report.error((*path, "ip_deny"), "an empty ip_deny list denies no one (Kong refuses it); remove it instead")
        for key in ("allow_groups", "deny_groups"):
            if getattr(settings, key) == []:
                # acl/schema.lua: only_one_of and at_least_one_of config.allow, config.deny
                report.error((*path, key), "needs at least one group (Kong's acl plugin refuses an empty list)")
        if settings.cors:
            cors_origins(settings.cors, (*path, "cors"), report)
        if settings.key_auth:
            for j, key_name in enumerate(settings.key_auth.key_names):
                if problem := kong_header_name_problem(key_name):
                    report.error((*path, "key_auth", "key_names", j), problem)
        if settings.oauth2:
            o = settings.oauth2
            if not any(getattr(o, flow) for flow in OAUTH2_FLOWS):
                # oauth2/schema.lua validate_flows
                report.error((*path, "oauth2"), "Kong needs at least one flow set true: " + ", ".join(OAUTH2_FLOWS))
            if o.mandatory_scope and not o.scopes:
                # oauth2/schema.lua: conditional mandatory_scope = true -> scopes required
                report.error((*path, "oauth2", "mandatory_scope"), "needs scopes (Kong refuses it without any)")
        if settings.rate_limit:
            rate_limit(settings.rate_limit, (*path, "rate_limit"), dbless, report)
        if settings.authz and settings.authz.opa and not enterprise:
            report.error(
                (*path, "authz"),
                "authz.opa uses the opa plugin, which needs Kong Enterprise (gateway.edition: enterprise)",
            )
        if settings.jwt and settings.jwt.maximum_expiration and "exp" not in settings.jwt.claims_to_verify:
            report.error((*path, "jwt", "maximum_expiration"), "needs exp in claims_to_verify (Kong rejects it)")
        if settings.max_body is not None and settings.max_body.bytes == 0:
            report.error((*path, "max_body"), "must be more than 0 bytes")
        if scope == "service":
            for option, options in (
                ("jwt", settings.jwt),
                ("key_auth", settings.key_auth),
                ("oauth2", settings.oauth2),
            ):
                method = option.replace("_", "-")
                if options is not None and method not in settings.auth:
                    report.warning((*path, option), f"{option} options have no effect unless auth lists {method}")

    for i, service in enumerate(catalog.services):
        if service.grpc_web and service.effective_protocol not in ("grpc", "grpcs"):
            report.error(
                ("services", i, "grpc_web"),
                "grpc-web translates to a gRPC upstream: set protocol grpc or grpcs (or a grpc:// url)",
            )
        if service.cache and any(r.websocket for r in service.routes):
            report.warning(("services", i, "cache"), "proxy-cache does not apply to WebSocket routes")

    for key, plugin in GATEWAY_FEATURE_PLUGINS.items():
        if getattr(catalog.gateway, key) is not None and plugin in catalog.gateway.plugins:
            report.error(("gateway", "plugins", plugin), f"{plugin} is already configured by gateway.{key}", key=True)
    if catalog.gateway.rate_limit:
        rate_limit(catalog.gateway.rate_limit, ("gateway", "rate_limit"), dbless, report)
    if catalog.gateway.cors:
        cors_origins(catalog.gateway.cors, ("gateway", "cors"), report)


def cors_origins(cors: Cors, path: KeyPath, report: Report) -> None:
    for j, origin in enumerate(cors.origins):
        if problem := regex_problem(origin):
            # cors/schema.lua validate_asterisk_or_regex
            report.error((*path, "origins", j), f"Kong reads an origin as '*' or a regex: {problem}")


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is neither '*' nor a regex (Python's re standing in for Kong's PCRE); None when it is."""
    if pattern == "*":
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"{pattern!r} is not a valid regex ({exc})"
    return None


def kong_header_name_problem(name: str) -> str | None:
    if _KONG_HEADER_NAME.fullmatch(name):
        return None
    return f"Kong refuses the header name {name!r}: only A-Z, a-z, 0-9, '_' and '-' are allowed"


def rate_limit(limit: RateLimit, path: KeyPath, dbless: bool, report: Report) -> None:
    limits = (limit.second, limit.minute, limit.hour, limit.day, limit.month, limit.year)  # shortest first
    values = [v for v in limits if v]
    if not values:
        report.error(path, "needs at least one of second, minute, hour, day, month or year")
    if len(values) > 1 and any(a > b for a, b in itertools.pairwise(values)):
        report.error(path, "a longer period must allow at least as many requests as a shorter one")
    if not _RATE_BY.fullmatch(limit.by):
        hint = did_you_mean(limit.by, ["consumer", "credential", "ip", "service"])
        report.error(
            (*path, "by"), f"must be consumer, credential, ip, service, header:NAME or path:/p (got {limit.by!r}){hint}"
        )
    elif limit.by.startswith("path:") and (problem := kong_path_problem(limit.by[5:])):
        report.error((*path, "by"), f"Kong refuses the path {limit.by[5:]!r}: {problem}")
    elif limit.by.startswith("header:") and (problem := kong_header_name_problem(limit.by[7:])):
        report.error((*path, "by"), problem)
    if limit.policy == "redis" and limit.redis is None:
        report.error((*path, "policy"), "policy redis needs redis: {host: ...}")
    if limit.redis is not None and limit.policy != "redis":
        report.error((*path, "redis"), "redis settings are used only with policy: redis")
    if limit.policy == "cluster" and dbless:
        report.error(
            (*path, "policy"),
            "policy cluster needs a database; DB-less Kong (gateway.mode: dbless) supports local or redis",
        )


# --------------------------------------------------------------------------- consumers and auth


# The credential values Kong holds unique across all consumers, compared here as written (and once resolved by
# LoadedCatalog.check_secrets, where two references may hold one value).
UNIQUE_CREDENTIAL_FIELDS = (("key_auth", "key"), ("jwt", "key"), ("basic_auth", "username"), ("oauth2", "client_id"))


def consumers_and_auth(catalog: Catalog, report: Report) -> None:
    held_groups = {g for c in catalog.consumers for g in c.groups}
    credential_kinds = {
        kind for c in catalog.consumers for kind in AUTH_CREDENTIALS.values() if getattr(c.credentials, kind)
    }
    seen_keys: dict[tuple[str, str], KeyPath] = {}
    for i, consumer in enumerate(catalog.consumers):
        if consumer.name == ANONYMOUS_CONSUMER:
            report.error(
                ("consumers", i, "name"),
                f"'{ANONYMOUS_CONSUMER}' is reserved for the consumer that rejects requests without credentials",
            )
        for j, group in enumerate(consumer.groups):
            if group in consumer.groups[:j]:  # one ACL per consumer and group: Kong refuses a second (cache_key)
                report.error(("consumers", i, "groups", j), f"lists group '{group}' twice")
        creds = consumer.credentials
        for kind, attr in UNIQUE_CREDENTIAL_FIELDS:
            for j, cred in enumerate(getattr(creds, kind)):
                value = getattr(cred, attr)
                path: KeyPath = ("consumers", i, "credentials", kind, j, attr)
                if (kind, value) in seen_keys:
                    shown = "this key" if kind == "key_auth" else repr(value)
                    report.error(
                        path,
                        f"{shown} is already used by {_fmt(seen_keys[(kind, value)])} (Kong requires it to be unique)",
                    )
                seen_keys.setdefault((kind, value), path)
        for j, key_auth in enumerate(creds.key_auth):
            if key_auth.ttl is not None and catalog.gateway.mode == "dbless":
                # kong/db/strategies/off/init.lua process_ttl_field: DB-less Kong reads a declarative ttl as the
                # time the credential expires (ttl - ngx.time()), so a duration there expired in 1970
                report.error(
                    ("consumers", i, "credentials", "key_auth", j, "ttl"),
                    "a key-auth ttl needs Kong with a database: DB-less Kong (gateway.mode: dbless) reads a "
                    "declarative ttl as the time the key expires (seconds since 1970), so this key would be "
                    "expired on arrival",
                )
        for j, jwt in enumerate(creds.jwt):
            path = ("consumers", i, "credentials", "jwt", j)
            if jwt.algorithm.startswith("HS") and not jwt.secret:
                report.error(path, f"{jwt.algorithm} needs a secret")
            if not jwt.algorithm.startswith("HS"):
                key = jwt.rsa_public_key
                if not key:
                    report.error(path, f"{jwt.algorithm} needs rsa_public_key (the PEM public key)")
                elif REFERENCE.search(key) or "{vault://" in key:
                    pass  # with a reference: once resolved (load.py)
                elif why := public_key_problem(key, jwt.algorithm):
                    report.error((*path, "rsa_public_key"), why)
    for i, service in enumerate(catalog.services):
        for group_key, groups in (("allow_groups", service.allow_groups), ("deny_groups", service.deny_groups)):
            for j, group in enumerate(groups or ()):
                if group not in held_groups:
                    report.warning(
                        ("services", i, group_key, j),
                        f"no consumer is in group '{group}'{did_you_mean(group, held_groups)}",
                    )
        for j, method in enumerate(service.auth):
            if AUTH_CREDENTIALS[method] not in credential_kinds:
                report.warning(
                    ("services", i, "auth", j), f"no consumer has {method} credentials, so no client can authenticate"
                )
        if "oauth2" in service.auth and (service.oauth2 is None or service.oauth2.provision_key is None):
            report.error(
                ("services", i, "auth"),
                "oauth2 needs oauth2.provision_key: ${env:NAME} (Kong requires one; your authorization app sends it)",
            )
        if len(set(service.auth)) != len(service.auth):
            report.error(("services", i, "auth"), "lists a method twice")
        if "oauth2" in service.auth and catalog.gateway.mode == "dbless":
            report.error(
                ("services", i, "auth", service.auth.index("oauth2")),
                "oauth2 needs Kong with a database: it stores the tokens it issues, which DB-less Kong "
                "(gateway.mode: dbless) cannot; use jwt with your identity provider instead",
            )


# --------------------------------------------------------------------------- mesh

# MeshRetry conditions Kuma 2.14 does not have (it takes status codes and retriable headers elsewhere).
UNSUPPORTED_MESH_RETRY_ON = {"retriable-status-codes", "retriable-headers"}
_SCHEME_PORTS = {"https": 443, "grpcs": 443, "tls": 443}


def in_mesh(catalog: Catalog, service: Service) -> bool:
    """Whether a service is a workload of the catalog's mesh: the mesh is enabled and the service has a
    `mesh` section, or has a url and does not opt out with `mesh: null`. Services that Kong reaches
    through `upstream` targets are outside the mesh unless they say otherwise."""
    if not catalog.mesh_enabled:
        return False
    if service.mesh is not None:
        return True
    return service.url is not None and "mesh" not in service.model_fields_set


def kubernetes_service(service: Service) -> tuple[str, str | None, int | None]:
    """The Kubernetes Service a catalog service runs behind: (name, namespace, port), taken from a url
    of the form `<name>[.<namespace>[.svc[.<cluster domain>]]]:<port>` and overridden by `mesh.namespace`
    and `mesh.port`. The name falls back to the catalog name; namespace and port to None (unknown)."""
    name, namespace, port = service.name, None, None
    if service.url and not REFERENCE.search(service.url):
        url = urlsplit(service.url)
        host = url.hostname or ""
        labels = host.split(".")
        if not _is_ip(host) and (len(labels) <= 2 or labels[2] == "svc"):
            name = labels[0]
            namespace = labels[1] if len(labels) > 1 else None
        port = url.port or _SCHEME_PORTS.get(url.scheme, 80)
    if service.mesh is not None:
        namespace = service.mesh.namespace or namespace
        port = service.mesh.port or port
    return name, namespace, port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def mesh(catalog: Catalog, report: Report) -> None:
    names = {s.name for s in catalog.services}
    enabled = catalog.mesh_enabled
    members = {s.name for s in catalog.services if in_mesh(catalog, s)}
    kubernetes = catalog.deployment.platform == "kubernetes"
    for i, service in enumerate(catalog.services):
        path: KeyPath = ("services", i, "mesh")
        if enabled and service.name in members and kubernetes:
            _, namespace, port = kubernetes_service(service)
            if namespace is None:
                report.error(
                    path if service.mesh else ("services", i, "url"),
                    "is in the mesh, but its Kubernetes namespace is unknown: set mesh.namespace "
                    "(the url is not <service>.<namespace>.svc...)",
                )
            if port is None:
                report.error(path, "is in the mesh, but its port is unknown: set mesh.port (it has no url)")
        if service.mesh is None:
            continue
        if not enabled:
            report.warning(path, "the catalog has no enabled mesh, so these settings are ignored")
        for j, caller in enumerate(service.mesh.allow_from):
            if caller == service.name:
                report.error((*path, "allow_from", j), "a service does not need to allow itself")
            elif caller not in names:
                report.error((*path, "allow_from", j), f"no service named '{caller}'{did_you_mean(caller, names)}")
            elif enabled and caller not in members:
                report.warning(
                    (*path, "allow_from", j),
                    f"'{caller}' is not in the mesh (mesh: null or upstream targets), so it has no mesh "
                    "identity this permission could name",
                )
        _mesh_ranges(service, path, report)
    if enabled and catalog.mesh and not catalog.mesh.name[0].isalpha():
        # A name is already a DNS-1123 label; a DNS-1035 label also starts with a letter. Kuma 2.14 still
        # takes such a Mesh but answers every write of it with a deprecation warning.
        report.warning(
            ("mesh", "name"),
            f"Kuma 2.14 deprecates Mesh names that are not DNS-1035 labels ('{catalog.mesh.name}' starts with "
            "a digit): it takes them but warns on every write of the Mesh, and later Kuma versions are to refuse "
            "them; start the name with a letter",
        )
    if catalog.mesh and catalog.mesh.mtls and catalog.mesh.mtls.rotation and catalog.mesh.mtls.rotation.ms == 0:
        report.error(("mesh", "mtls", "rotation"), "must be longer than 0s")
    _mesh_observability(catalog, report)
    if enabled and catalog.mesh and catalog.mesh.default_action == "deny":
        callers: dict[str, set[str]] = defaultdict(set)
        for service in catalog.services:
            for caller in service.mesh.allow_from if service.mesh else []:
                callers[service.name].add(caller)
        for i, service in enumerate(catalog.services):
            if service.name in members and not service.routes and not callers[service.name]:
                report.warning(
                    ("services", i, "name"),
                    "with default_action deny nothing can reach this service (no routes and no allow_from)",
                )


def _mesh_ranges(service: Service, path: KeyPath, report: Report) -> None:
    """Values the types accept but Kuma 2.14 rejects or cannot express."""
    settings = service.mesh
    assert settings is not None
    retries, timeouts = settings.retries, settings.timeouts
    if retries:
        for j, condition in enumerate(retries.on):
            if condition in UNSUPPORTED_MESH_RETRY_ON:
                report.error(
                    (*path, "retries", "on", j),
                    f"Kuma's MeshRetry has no {condition} condition; use 5xx, gateway-error, reset, "
                    "connect-failure, retriable-4xx, refused-stream or http3-post-connect-failure",
                )
        if retries.backoff and retries.backoff.low.ms == 0:
            report.error((*path, "retries", "backoff"), "the first back-off interval must be longer than 0s")
        if retries.backoff and timeouts and timeouts.request and retries.backoff.high > timeouts.request:
            report.warning((*path, "retries", "backoff"), "the longest backoff exceeds the request timeout")
    if timeouts and timeouts.connect is not None and timeouts.connect.ms == 0:
        report.error((*path, "timeouts", "connect"), "must be longer than 0s")
    if settings.rate_limit and settings.rate_limit.interval.ms <= 50:
        report.error((*path, "rate_limit", "interval"), "must be longer than 50ms (Kuma's shortest interval)")
    check = settings.health_check
    if check:
        for key in ("interval", "timeout"):
            if getattr(check, key).ms == 0:
                report.error((*path, "health_check", key), "must be longer than 0s")
        if check.timeout.ms > check.interval.ms:
            report.error((*path, "health_check", "timeout"), "must not be longer than the interval")
        if check.path == "" and service.effective_protocol == "http":  # the renderer's http health check
            report.error((*path, "health_check", "path"), "must not be empty (Kuma's MeshHealthCheck refuses it)")
    breaker = settings.circuit_breaker
    if breaker:
        for key in ("interval", "base_ejection"):
            if getattr(breaker, key).ms == 0:
                report.error((*path, "circuit_breaker", key), "must be longer than 0s")


MESH_ZIPKIN: KeyPath = ("mesh", "tracing", "zipkin", "endpoint")
# The reason leaves the value out, as url_problem does: an endpoint may carry credentials.
MESH_ZIPKIN_REFUSED = "Kuma's MeshTrace refuses this URL as invalid (govalidator IsURL)"


def _mesh_observability(catalog: Catalog, report: Report) -> None:
    """The strings Kuma 2.14's MeshAccessLog and MeshTrace validators check with govalidator (kuma_values)."""
    mesh = catalog.mesh
    log = mesh.access_log if mesh else None
    if log and log.file and not is_file_path(log.file):
        report.error(
            ("mesh", "access_log", "file"),
            "must be an absolute path such as /dev/stdout (Kuma's MeshAccessLog refuses any other)",
        )
    if log and log.tcp and not is_url(log.tcp):
        report.error(
            ("mesh", "access_log", "tcp"),
            "Kuma's MeshAccessLog refuses this address: give host:port, such as collector.logging:5170",
        )
    zipkin = mesh.tracing.zipkin if mesh and mesh.tracing else None
    if zipkin and not REFERENCE.search(zipkin.endpoint) and not is_url(zipkin.endpoint):  # with a reference: at render
        report.error(MESH_ZIPKIN, MESH_ZIPKIN_REFUSED)


# --------------------------------------------------------------------------- deployment


def deployment(catalog: Catalog, report: Report) -> None:
    dep = catalog.deployment
    if dep.platform == "vm" and dep.vm is None:
        report.error(
            ("deployment", "platform"),
            "platform vm needs deployment.vm (kong_hosts, observability_host, and kuma_cp with a mesh)",
        )
    if dep.platform == "vm" and dep.vm is not None and dep.vm.kuma_cp is None and catalog.mesh_enabled:
        report.error(
            ("deployment", "vm"), "the mesh needs deployment.vm.kuma_cp: the host the Kuma control plane runs on"
        )
    if catalog.gateway.mode == "dbless" and dep.kong.database != "off":
        report.error(
            ("deployment", "kong", "database"), 'gateway.mode dbless runs Kong without a database: set database: "off"'
        )
    if catalog.gateway.mode == "db" and dep.kong.database == "off":
        report.error(
            ("deployment", "kong", "database"),
            "gateway.mode db writes entities through the Admin API, which DB-less Kong refuses: "
            "use database: postgres, or gateway.mode: dbless",
        )
    ports = {
        "proxy_port": dep.kong.proxy_port,
        "admin_port": dep.kong.admin_port,
        "status_port": dep.kong.status_port,
    }
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            report.error(("deployment", "kong", key), f"port {port} is also the {seen[port]}")
        seen.setdefault(port, key)


CHECKS: list[Check] = [
    unique_names,
    service_targets,
    routes,
    route_conflicts,
    features,
    consumers_and_auth,
    mesh,
    deployment,
]


# What Kong's conf_loader strips from both ends of every setting, KONG_PG_PASSWORD too (kong/conf_loader/parse.lua,
# parse_value), while Postgres keeps the password as set.
_KONG_SETTING_STRIPS = " \t\n\v\f\r"
# Grafana expands `${NAME}`, `$__env{NAME}`, `$__file{path}` (and further `$__<name>{...}` expanders) in every
# setting once environment overrides are applied (pkg/setting/expanders.go: `\$(|__\w+){([^}]+)}`), and its ini
# library replaces `%(key)s` with another key's value (gopkg.in/ini.v1, transformValue): no escape for either.
_GRAFANA_EXPANDED = re.compile(r"\$(?:|__\w+)\{[^}]+\}|%\([^)]+\)s")

# The secrets the deployment hands to a program that changes them, by catalog path: why, once resolved.
DEPLOYMENT_SECRET_PROBLEMS: dict[tuple[str, ...], Callable[[str], str | None]] = {
    ("deployment", "kong", "postgres_password"): lambda value: (
        "starts or ends with white space, which Kong strips from KONG_PG_PASSWORD (Postgres keeps it)"
        if value.strip(_KONG_SETTING_STRIPS) != value
        else None
    ),
    ("deployment", "observability", "grafana", "admin_password"): lambda value: (
        "holds ${...}, $__name{...} or %(...)s, which Grafana replaces in its settings (no escape exists)"
        if _GRAFANA_EXPANDED.search(value)
        else None
    ),
}
