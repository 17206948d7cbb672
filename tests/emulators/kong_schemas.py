"""Hand-written Kong 3.9 schemas for the emulator: the entities and plugins the tests use, in the JSON form
`GET /schemas/<entity>` returns (`{"fields": [{"name": {...}}, ...]}`). Field names, types, defaults and
uniqueness follow Kong 3.9's entity and plugin schema modules (kong/db/schema/entities/*.lua,
kong/plugins/*/schema.lua and daos.lua, at tag 3.9.3): the entities the tests need, and every plugin Kong OSS 3.9
bundles (kong/constants.lua), with the types, defaults, required, one_of, between, shorthand fields and
consumer/service/route restrictions of their Lua schemas, and the `entity_checks` and custom validators (as
Python functions answering an error message or None) that can apply to what gatewayctl writes. Descriptions
and the other custom validators are left out."""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import os
import re
from typing import Any

try:
    from .lua_patterns import lua_pattern_regex
except ImportError:  # run as a script
    from lua_patterns import lua_pattern_regex  # type: ignore[no-redef,import-not-found]

Field = dict[str, Any]


def f(name: str, type_: str, **spec: Any) -> Field:
    return {name: {"type": type_, **spec}}


def record(name: str, fields: list[Field], **spec: Any) -> Field:
    return {name: {"type": "record", "fields": fields, **spec}}


def foreign(name: str, reference: str, **spec: Any) -> Field:
    return {name: {"type": "foreign", "reference": reference, **spec}}


# ---------------------------------------------------------------------- custom validators (as in the Lua)

RFC3986_PATH = re.compile(r"^/[A-Za-z0-9.\-_~/%:@!$&'()*+,;=]*$")


def validate_path(path: str) -> str | None:
    """typedefs.path (kong/db/schema/typedefs.lua): starts_with "/", match_none "//", then validate_path."""
    if not path.startswith("/"):
        return "should start with: /"
    if "//" in path:
        return "must not have empty segments"
    if not RFC3986_PATH.match(path):
        return f"invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)"
    raw = re.sub(r"%[0-9A-Fa-f]{2}", "___", path)
    if "%" in raw:
        at = raw.index("%")
        return f"invalid url-encoded value: '{raw[at : at + 3]}'"
    return None


def lua_url_parse(text: str) -> dict[str, str]:
    """LuaSocket's socket.url.parse, which the services `url` shorthand uses: scheme, authority (userinfo,
    host, port), fragment, query and params are cut off in that order; what is left is the path."""
    parsed: dict[str, str] = {}
    rest = text
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9+\-.]*):", rest)
    if match:
        parsed["scheme"], rest = match[1], rest[match.end() :]
    authority = None
    match = re.match(r"^//([^/]*)", rest)
    if match:
        authority, rest = match[1], rest[match.end() :]
    rest = rest.split("#", 1)[0]
    rest = rest.split("?", 1)[0]
    rest = rest.split(";", 1)[0]
    if rest:
        parsed["path"] = rest
    if authority is None:
        return parsed
    authority = re.sub(r"^[^@]*@", "", authority, count=1)
    match = re.search(r":([^:\]]*)$", authority)
    if match:
        parsed["port"], authority = match[1], authority[: match.start()]
    if authority:
        bracketed = re.fullmatch(r"\[(.+)\]", authority)
        parsed["host"] = bracketed[1] if bracketed else authority
    return parsed


def validate_url(url: str) -> str | None:
    """typedefs.url (kong/db/schema/typedefs.lua validate_url): socket.url.parse must find a host and a scheme."""
    parsed = lua_url_parse(url)
    if "host" not in parsed:
        return "missing host in url"
    if "scheme" not in parsed:
        return "missing scheme in url"
    return None


URI_RESERVED = frozenset("!*'();:@&=+$,/?%#[]")


def normalize_uri(uri: str) -> str:
    """kong/tools/uri.lua normalize(uri, merge_slashes = true): %XX of an unreserved character decoded, of a
    reserved one upper-cased; dot segments removed, slashes merged."""
    if uri in ("", "/"):
        return uri

    def decode(m: re.Match[bytes]) -> bytes:
        byte = int(m[1], 16)  # Lua's string.char: a byte, so %C3%A9 decodes to the two bytes of "é"
        return m[0].upper() if chr(byte) in URI_RESERVED else bytes([byte])

    uri = re.sub(rb"%([0-9A-Fa-f]{2})", decode, uri.encode()).decode("utf-8", "replace")
    if "." not in uri and "//" not in uri:
        return uri
    out: list[str] = []
    while uri:
        if uri == "/.":
            uri = "/"
        elif uri == "/..":
            uri = "/"
            out = out[:-1]
        elif uri in (".", ".."):
            uri = ""
        elif uri.startswith("../"):
            uri = uri[3:]
        elif uri.startswith("./") or uri.startswith("/./"):
            uri = uri[2:]
        elif uri.startswith("/../"):
            uri = uri[3:]
            out = out[:-1]
        elif uri.startswith("//"):
            uri = uri[1:]
        else:
            cut = uri.find("/", 1)
            out.append(uri if cut < 0 else uri[:cut])
            uri = "" if cut < 0 else uri[cut:]
    return "".join(out)


def validate_router_path(path: str) -> str | None:
    """typedefs.router_path: match_none "//", match_any "^/" or "^~/", then validate_path_with_regexes (a bad
    %-escape, or a plain path its normalized form differs from). The PCRE check of a regex path is left out:
    its messages are PCRE's own."""
    if "//" in path:
        return "must not have empty segments"
    if not (path.startswith("/") or path.startswith("~/")):
        return "should start with: / (fixed path) or ~/ (regex path)"
    problem = validate_path(path)
    if problem and problem.startswith("invalid url-encoded value"):
        return problem
    if not path.startswith("~"):
        normalized = normalize_uri(path)
        if normalized != path:
            return f"non-normalized path, consider use '{normalized}' instead"
    return None


def validate_header_name(name: str) -> str | None:
    """typedefs.header_name (kong/tools/http.lua validate_header_name): stricter than an HTTP token."""
    if re.fullmatch(r"[a-zA-Z0-9\-_]+", name):
        return None
    return f"bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"


def validate_http_token(token: str) -> str | None:
    """typedefs.cookie_name (kong/tools/http.lua validate_http_token)."""
    if not re.search(r'[\x00-\x20\x7f()<>@,;:\\"/?={}\[\]]', token):
        return None
    return (
        "contains one or more invalid characters. ASCII control characters (0-31;127), space, tab and the "
        'characters ()<>@,;:\\"/?={}[] are not allowed.'
    )


def _name_and_value(pair: str) -> tuple[str | None, str]:
    """`pair:match("^([^:]+):*(.-)$")` of the transformer plugins: (name, value), name None when it fails."""
    found = lua_pattern_regex("^([^:]+):*(.-)$").search(pair.encode())
    return (found[1].decode(), found[2].decode()) if found else (None, "")


def validate_transformer_header(pair: str) -> str | None:
    """request-transformer's validate_headers(pair): the part before the colon is a header name (Lua's
    tostring(nil) when there is none)."""
    name, _ = _name_and_value(pair)
    if name is None or validate_header_name(name) is not None:
        return f"'{'nil' if name is None else name}' is not a valid header"
    return None


def validate_colon_headers(pair: str) -> str | None:
    """The transformer plugins' validate_colon_headers: `old:new`, both header names."""
    problem = validate_transformer_header(pair)
    if problem:
        return problem
    _, value = _name_and_value(pair)
    return None if value and validate_header_name(value) is None else f"'{value}' is not a valid header"


def check_for_value(entry: str) -> str | None:
    """request-transformer's check_for_value: `name:value` with a value. Its pl_template compile check of the
    value is left out (Kong refuses a template that does not compile, the emulator does not)."""
    name, value = _name_and_value(entry)
    if name is None:  # Kong fails concatenating nil (a 500); a refusal all the same
        return "key 'nil' has no value"
    return None if value else f"key '{name}' has no value"


def validate_http_log_config(config: dict[str, Any]) -> str | None:
    """http-log's config custom_validator: no Authorization header when http_endpoint has user info."""
    authority = re.match(r"^(?:[A-Za-z0-9][A-Za-z0-9+\-.]*:)?//([^/]*)", config.get("http_endpoint") or "")
    headers = config.get("headers") if isinstance(config.get("headers"), dict) else {}
    if authority and "@" in authority[1] and any(name.lower() == "authorization" for name in headers):
        return "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"
    return None


def _normalize_ipv4(address: str) -> tuple[str | None, Any]:
    pattern = r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})" + (r":(\d+)" if ":" in address else "()")
    found = re.fullmatch(pattern, address, re.ASCII)
    if not found or any(int(part) > 255 for part in found.groups()[:4]):
        return None, f"invalid ipv4 address: {address}"
    port = int(found[5]) if found[5] else None
    if port is not None and port > 65535:
        return None, "invalid port number"
    return ".".join(str(int(part)) for part in found.groups()[:4]), port


def _normalize_ipv6(address: str) -> tuple[str | None, Any]:
    bracketed = re.fullmatch(r"\[([^\[\]]*)\](.*)", address, re.DOTALL)
    check, port = (bracketed[1], bracketed[2]) if bracketed else (address, "")
    if port:
        digits = re.fullmatch(r":(\d*)", port, re.ASCII)
        if digits is None:
            return None, "invalid ipv6 address"
        if int(digits[1] or 0) > 65535:
            return None, "invalid port number"
    check = ("0" + check if check.startswith(":") else check) + ("0" if check.endswith(":") else "")
    if "::" in check:
        check = check.replace("::", ":" + "0:" * (8 - check.count(":")), 1)
    groups = check.split(":")
    if len(groups) != 8 or not all(re.fullmatch(r"[0-9A-Fa-f]{1,4}", g) for g in groups):
        return None, f"invalid ipv6 address: {address}"
    return ":".join(g.lower().rjust(4, "0") for g in groups), int(port[1:]) if port[1:] else None


def _check_hostname(address: str) -> tuple[str | None, Any]:
    name, port = address, None
    found = re.search(r":(\d+)$", address, re.ASCII)
    if found:
        name, port = address[: found.start()], int(found[1])
        if port > 65535:
            return None, "invalid port number"
    segments = name.split(".")
    if not re.fullmatch(r"[0-9A-Za-z\-._]+", name) or any(
        s.endswith("-") or (s == "" and i != len(segments) - 1) for i, s in enumerate(segments)
    ):
        return None, f"invalid hostname: {address}"
    return name, port


def normalize_ip(address: str) -> tuple[dict[str, Any] | None, Any]:
    """kong/tools/ip.lua normalize_ip: ({type, host, port}, None), or (None, error); the type by hostname_type
    (two colons or more: ipv6; digits and dots: ipv4; else a name, checked by check_hostname)."""
    remainder = address.replace(":", "")
    kind = "ipv6" if address.count(":") > 1 else "ipv4" if re.fullmatch(r"[\d.]+", remainder, re.ASCII) else "name"
    host, port_or_error = {"ipv4": _normalize_ipv4, "ipv6": _normalize_ipv6, "name": _check_hostname}[kind](address)
    if host is None:
        return None, port_or_error
    return {"type": kind, "host": host, "port": port_or_error}, None


def validate_host(host: str) -> str | None:
    """typedefs.host: an address or name, without a port."""
    res, error = normalize_ip(host)
    if error is not None and error != "invalid port number":
        return f"invalid value: {host}"
    if error == "invalid port number" or (res and res["port"] is not None):
        return "must not have a port"
    return None


def validate_host_with_optional_port(host: str) -> str | None:
    return normalize_ip(host)[1]


def validate_host_with_wildcards(host: str) -> str | None:
    """typedefs.hosts' elements: a `*` stands for a label."""
    return validate_host_with_optional_port(host.replace("*", "abc"))


def validate_wildcard_host(host: str) -> str | None:
    """typedefs.wildcard_host (the routes' snis with the default router flavor)."""
    if "*" in host:
        at = host.index("*")
        if at not in (0, len(host.encode()) - 1):
            return "wildcard must be leftmost or rightmost character"
        if host.count("*") > 1:
            return "only one wildcard must be specified"
        host = host.replace("*", "wildcard")
    res, error = normalize_ip(host)
    if error is not None and error != "invalid port number":
        return f"invalid value: {host}"
    if res and res["type"] != "name":
        return "must not be an IP"
    if error == "invalid port number" or (res and res["port"] is not None):
        return "must not have a port"
    return None


def validate_sni(host: str) -> str | None:
    """typedefs.sni: a name, without a port."""
    res, error = normalize_ip(host)
    if error is not None and error != "invalid port number":
        return f"invalid value: {host}"
    if res and res["type"] != "name":
        return "must not be an IP"
    if error == "invalid port number" or (res and res["port"] is not None):
        return "must not have a port"
    return None


def validate_upstream_name(name: str) -> str | None:
    """upstreams.lua validate_name: a host name, no address, no port."""
    res, _ = normalize_ip(name)
    if res is None:
        return f"Invalid name ('{name}'); must be a valid hostname"
    if res["type"] != "name":
        return f"Invalid name ('{name}'); no ip addresses allowed"
    if res["port"] is not None:
        return f"Invalid name ('{name}'); no port allowed"
    return None


def validate_redirect_uri(uri: str) -> str | None:
    """oauth2/daos.lua validate_uri: socket.url.parse finds a host and a scheme, and no fragment."""
    parsed = lua_url_parse(uri)
    if "host" not in parsed or "scheme" not in parsed:
        return f"cannot parse '{uri}'"
    if "#" in uri:
        return f"fragment not allowed in '{uri}'"
    return None


_PEM_KEY = re.compile(
    r"^-----BEGIN (PUBLIC KEY|PRIVATE KEY|RSA PRIVATE KEY|EC PRIVATE KEY)-----[ \t\r]*\n(.*?)^-----END \1-----",
    re.MULTILINE | re.DOTALL,
)


def validate_ssl_key(key: str) -> str | None:
    """jwt/daos.lua validate_ssl_key: `openssl.pkey.new(key)` reads it, or "invalid key". luaossl asks
    OpenSSL's PEM reader for a PUBLIC KEY block, then for a private key (so PKCS#1's RSA PUBLIC KEY and
    certificates are refused, a private key is taken). Only the PEM and the outer DER SEQUENCE are looked
    at: OpenSSL's parse of the key inside (curve points, RSA integers) is not reproduced."""
    for block in _PEM_KEY.finditer(key):
        try:
            der = base64.b64decode("".join(block.group(2).split()), validate=True)
        except binascii.Error:
            continue
        if len(der) >= 2 and der[0] == 0x30:
            size, start = der[1], 2
            if size & 0x80:
                count = size & 0x7F
                size, start = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
            if start + size <= len(der):
                return None
    return "invalid key"


def validate_static_tags(tags: list[dict[str, Any]]) -> str | None:
    """zipkin/schema.lua validate_static_tags: each tag name once."""
    seen: set[Any] = set()
    for tag in tags:
        if tag.get("name") in seen:
            return f"repeated tags are not allowed: {tag.get('name')}"
        seen.add(tag.get("name"))
    return None


def validate_ip_or_cidr(value: str) -> str | None:
    """typedefs.ip_or_cidr (kong/tools/ip.lua is_valid_ip_or_cidr): an IPv4/IPv6 address or network; host
    bits may be set (192.168.1.1/24 is valid)."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"invalid ip or cidr range: '{value}'"
    return None


def validate_asterisk_or_regex(value: str) -> str | None:
    """kong/plugins/cors/schema.lua: an origin is "*" or a regex PCRE compiles (Python's re as a stand-in)."""
    if value == "*":
        return None
    try:
        re.compile(value)
    except re.error:
        return f"'{value}' is not a valid regex"
    return None


def _present(value: Any) -> bool:
    """kong/plugins/request-termination/schema.lua is_present: a non-empty string."""
    return isinstance(value, str) and value != ""


def validate_request_termination(config: dict[str, Any]) -> str | None:
    if _present(config.get("message")) and (_present(config.get("content_type")) or _present(config.get("body"))):
        return "message cannot be used with content_type or body"
    if _present(config.get("content_type")) and not _present(config.get("body")):
        return "content_type requires a body"
    if config.get("echo") and (_present(config.get("content_type")) or _present(config.get("body"))):
        return "echo cannot be used with content_type and body"
    return None


def validate_periods_order(config: dict[str, Any]) -> str | None:
    """kong/plugins/rate-limiting/schema.lua validate_periods_order (Lua's %.1f for the limits)."""
    periods = ("second", "minute", "hour", "day", "month", "year")
    for i, lower in enumerate(periods):
        v1 = config.get(lower)
        if not isinstance(v1, int | float):
            continue
        for upper in periods[i + 1 :]:
            v2 = config.get(upper)
            if isinstance(v2, int | float) and v2 < v1:
                return f"The limit for {upper}({v2:.1f}) cannot be lower than the limit for {lower}({v1:.1f})"
    sync_rate = config.get("sync_rate")
    if config.get("policy") != "redis" and sync_rate != -1:
        return "sync_rate can only be used with the redis policy"
    if config.get("policy") == "redis" and sync_rate != -1 and isinstance(sync_rate, int | float) and sync_rate < 0.02:
        return "sync_rate must be greater than 0.02, or -1 to disable"
    return None


def validate_oauth2_flows(config: dict[str, Any]) -> str | None:
    flows = ("enable_authorization_code", "enable_implicit_grant", "enable_client_credentials", "enable_password_grant")
    if any(config.get(flow) for flow in flows):
        return None
    return "at least one of these fields must be true: " + ", ".join(flows)


# the lua_shared_dict blocks of Kong's nginx template (kong/templates/nginx_kong.lua) a plugin may name
KONG_SHARED_DICTS = frozenset(
    {
        "kong",
        "kong_locks",
        "kong_healthchecks",
        "kong_cluster_events",
        "kong_rate_limiting_counters",
        "kong_core_db_cache",
        "kong_core_db_cache_miss",
        "kong_db_cache",
        "kong_db_cache_miss",
        "kong_secrets",
        "prometheus_metrics",
    }
)


def check_proxy_cache_shdict(entity: dict[str, Any]) -> str | None:
    """kong/plugins/proxy-cache/schema.lua custom_entity_check: the memory strategy's dictionary must exist."""
    config = entity.get("config") or {}
    name = (config.get("memory") or {}).get("dictionary_name")
    if config.get("strategy") == "memory" and name not in KONG_SHARED_DICTS:
        return f"missing shared dict '{name}'"
    return None


def conditional(if_field: str, if_match: dict[str, Any], then_field: str, then_match: dict[str, Any]) -> Field:
    return {
        "conditional": {"if_field": if_field, "if_match": if_match, "then_field": then_field, "then_match": then_match}
    }


def _hash_fallback_not(same: str, allowed: list[str]) -> Field:
    """upstreams.lua: the fallback may not hash on what hash_on already does (`allowed` in the Lua's order)."""
    return conditional("hash_on", {"match": f"^{same}$"}, "hash_fallback", {"one_of": allowed})


ID = f("id", "string", uuid=True, auto=True)
CREATED = f("created_at", "integer", timestamp=True, auto=True)
UPDATED = f("updated_at", "integer", timestamp=True, auto=True)
TAG_TEXT = re.compile("^[ \x21-\x2b\x2d\x2e\x30-\x7e\x80-\U0010ffff]+$")


def validate_tag(tag: str) -> str | None:
    """typedefs.tag (kong/db/schema/typedefs.lua validate_tag): printable ASCII but `,` and `/`, or UTF-8."""
    if TAG_TEXT.match(tag):
        return None
    return f"invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"


TAGS = f("tags", "set", elements={"type": "string", "required": True, "custom_validator": validate_tag})
HTTP_PROTOCOLS = ["grpc", "grpcs", "http", "https"]
PROTOCOLS = ["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"]  # constants.PROTOCOLS
HASH_ON = ["none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"]

PATH = {  # typedefs.path
    "starts_with": "/",
    "match_none": [{"pattern": "//", "err": "must not have empty segments"}],
    "custom_validator": validate_path,
}
ROUTE_HOST = {  # typedefs.hosts' elements
    "type": "string",
    "match_all": [{"pattern": "^[^*]*%*?[^*]*$", "err": "invalid wildcard: must have at most one wildcard"}],
    "match_any": {
        "patterns": ["^%*%.", "%.%*$", "^[^*]*$"],
        "err": "invalid wildcard: must be placed at leftmost or rightmost label",
    },
    "custom_validator": validate_host_with_wildcards,
}
ROUTER_PATH = {  # typedefs.router_path
    "type": "string",
    "match_any": {"patterns": ["^/", "^~/"], "err": "should start with: / (fixed path) or ~/ (regex path)"},
    "match_none": [{"pattern": "//", "err": "must not have empty segments"}],
    "custom_validator": validate_router_path,
}
IP_PORT = {  # typedefs.sources/destinations' elements
    "type": "record",
    "fields": [
        f("ip", "string", custom_validator=validate_ip_or_cidr),
        f("port", "integer", between=[0, 65535]),
    ],
    "entity_checks": [{"at_least_one_of": ["ip", "port"]}],
}
HEADER_NAME = {"type": "string", "custom_validator": validate_header_name}
STRINGS = {"type": "array", "elements": {"type": "string"}}
# upstreams.lua's healthchecks types
CHECK_TYPES = ["tcp", "http", "https", "grpc", "grpcs"]
SECONDS = [0, 65535]
ONE_BYTE = [0, 255]
HTTP_STATUS = {"type": "integer", "between": [100, 999]}
JWT_ALGORITHMS = [
    *("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"),
    *("PS256", "PS384", "PS512", "EdDSA"),
]

ENTITIES: dict[str, dict[str, Any]] = {
    "services": {
        "endpoint_key": "name",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            f("name", "string", unique=True),
            f("retries", "integer", default=5, between=[0, 32767]),
            f(
                "protocol",
                "string",
                default="http",
                required=True,
                one_of=["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"],
            ),
            f("host", "string", required=True, custom_validator=validate_host),
            f("port", "integer", default=80, required=True, between=[0, 65535]),
            f(
                "path",
                "string",
                starts_with="/",
                match_none=[{"pattern": "//", "err": "must not have empty segments"}],
                custom_validator=validate_path,
            ),
            f("connect_timeout", "integer", default=60000, between=[1, 2147483646]),
            f("write_timeout", "integer", default=60000, between=[1, 2147483646]),
            f("read_timeout", "integer", default=60000, between=[1, 2147483646]),
            TAGS,
            f("client_certificate", "foreign", reference="certificates"),
            f("tls_verify", "boolean"),
            f("tls_verify_depth", "integer", between=[0, 64]),
            f("ca_certificates", "array", elements={"type": "string", "uuid": True}),
            f("enabled", "boolean", default=True, required=True),
        ],
        "entity_checks": [
            conditional("protocol", {"one_of": ["tcp", "tls", "udp", "grpc", "grpcs"]}, "path", {"eq": None}),
            *(
                conditional("protocol", {"not_one_of": ["https", "tls"]}, field, {"eq": None})
                for field in ("client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates")
            ),
        ],
    },
    "routes": {
        "endpoint_key": "name",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            f("name", "string", unique=True),
            f(
                "protocols",
                "set",
                default=["http", "https"],
                required=True,
                len_min=1,
                elements={"type": "string", "one_of": PROTOCOLS},
                mutually_exclusive_subsets=[
                    ["http", "https"],
                    ["tcp", "tls", "udp"],
                    ["tls_passthrough"],
                    ["grpc", "grpcs"],
                ],
            ),
            f("methods", "set", elements={"type": "string", "match": "^%u+$"}),  # typedefs.methods
            f("hosts", "array", elements=ROUTE_HOST),
            f("paths", "array", elements=ROUTER_PATH),
            f(
                "headers",
                "map",
                keys={
                    "type": "string",
                    "custom_validator": validate_header_name,
                    "match_none": [
                        {
                            "pattern": "^[Hh][Oo][Ss][Tt]$",
                            "err": "cannot contain 'host' header, which must be specified in the 'hosts' attribute",
                        }
                    ],
                },
                values={"type": "array", "elements": {"type": "string"}},
            ),
            f("https_redirect_status_code", "integer", default=426, required=True, one_of=[426, 301, 302, 307, 308]),
            f("regex_priority", "integer", default=0),
            f("strip_path", "boolean", default=True, required=True),
            f("path_handling", "string", default="v0", one_of=["v0", "v1"]),
            f("preserve_host", "boolean", default=False, required=True),
            f("request_buffering", "boolean", default=True, required=True),
            f("response_buffering", "boolean", default=True, required=True),
            f("snis", "set", elements={"type": "string", "custom_validator": validate_wildcard_host}),
            f("sources", "set", elements=IP_PORT),
            f("destinations", "set", elements=IP_PORT),
            TAGS,
            foreign("service", "services"),
        ],
    },
    "upstreams": {
        "endpoint_key": "name",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            f("name", "string", required=True, unique=True, custom_validator=validate_upstream_name),
            f(
                "algorithm",
                "string",
                default="round-robin",
                one_of=[
                    "consistent-hashing",
                    "least-connections",
                    "round-robin",
                    "latency",
                ],  # no sticky-sessions in 3.9
            ),
            *(f(name, "string", default="none", one_of=HASH_ON) for name in ("hash_on", "hash_fallback")),
            f("hash_on_header", "string", custom_validator=validate_header_name),
            f("hash_fallback_header", "string", custom_validator=validate_header_name),
            f("hash_on_cookie", "string", custom_validator=validate_http_token),
            f("hash_on_cookie_path", "string", default="/", **PATH),
            *(
                f(name, "string", len_min=1)
                for name in (
                    "hash_on_query_arg",
                    "hash_fallback_query_arg",
                    "hash_on_uri_capture",
                    "hash_fallback_uri_capture",
                )
            ),
            f("slots", "integer", default=10000, between=[10, 65536]),
            record(
                "healthchecks",
                [
                    record(
                        "active",
                        [
                            f("type", "string", default="http", one_of=CHECK_TYPES),
                            f("timeout", "number", default=1, between=SECONDS),
                            f("concurrency", "integer", default=10, between=[1, 2**31]),
                            f("http_path", "string", default="/", **PATH),
                            f("https_sni", "string", required=False, custom_validator=validate_sni),
                            f("https_verify_certificate", "boolean", default=True, required=True),
                            f("headers", "map", required=False, keys=HEADER_NAME, values=STRINGS),
                            record(
                                "healthy",
                                [
                                    f("interval", "number", default=0, between=SECONDS),
                                    f("http_statuses", "array", default=[200, 302], elements=HTTP_STATUS),
                                    f("successes", "integer", default=0, between=ONE_BYTE),
                                ],
                            ),
                            record(
                                "unhealthy",
                                [
                                    f("interval", "number", default=0, between=SECONDS),
                                    f(
                                        "http_statuses",
                                        "array",
                                        default=[429, 404, 500, 501, 502, 503, 504, 505],
                                        elements=HTTP_STATUS,
                                    ),
                                    f("tcp_failures", "integer", default=0, between=ONE_BYTE),
                                    f("timeouts", "integer", default=0, between=ONE_BYTE),
                                    f("http_failures", "integer", default=0, between=ONE_BYTE),
                                ],
                            ),
                        ],
                    ),
                    record(
                        "passive",
                        [
                            f("type", "string", default="http", one_of=CHECK_TYPES),
                            record(
                                "healthy",
                                [
                                    f(
                                        "http_statuses",
                                        "array",
                                        default=[*range(200, 209), 226, *range(300, 309)],
                                        elements=HTTP_STATUS,
                                    ),
                                    f("successes", "integer", default=0, between=ONE_BYTE),
                                ],
                            ),
                            record(
                                "unhealthy",
                                [
                                    f("http_statuses", "array", default=[429, 500, 503], elements=HTTP_STATUS),
                                    f("tcp_failures", "integer", default=0, between=ONE_BYTE),
                                    f("timeouts", "integer", default=0, between=ONE_BYTE),
                                    f("http_failures", "integer", default=0, between=ONE_BYTE),
                                ],
                            ),
                        ],
                    ),
                    f("threshold", "number", default=0, between=[0, 100]),
                ],
            ),
            f("host_header", "string", custom_validator=validate_host_with_optional_port),
            f("client_certificate", "foreign", reference="certificates"),
            TAGS,
            f("use_srv_name", "boolean", default=False),
        ],
        # kong/db/schema/entities/upstreams.lua
        "entity_checks": [
            conditional("hash_on", {"match": "^header$"}, "hash_on_header", {"required": True}),
            conditional("hash_fallback", {"match": "^header$"}, "hash_fallback_header", {"required": True}),
            conditional("hash_on", {"match": "^cookie$"}, "hash_on_cookie", {"required": True}),
            conditional("hash_fallback", {"match": "^cookie$"}, "hash_on_cookie", {"required": True}),
            conditional("hash_on", {"match": "^none$"}, "hash_fallback", {"one_of": ["none"]}),
            conditional("hash_on", {"match": "^cookie$"}, "hash_fallback", {"one_of": ["none"]}),
            _hash_fallback_not("consumer", ["none", "ip", "header", "cookie", "path", "query_arg", "uri_capture"]),
            _hash_fallback_not("ip", ["none", "consumer", "header", "cookie", "path", "query_arg", "uri_capture"]),
            _hash_fallback_not("path", ["none", "consumer", "header", "cookie", "query_arg", "ip", "uri_capture"]),
            {"distinct": ["hash_on_header", "hash_fallback_header"]},
            conditional("hash_on", {"match": "^query_arg$"}, "hash_on_query_arg", {"required": True}),
            conditional("hash_fallback", {"match": "^query_arg$"}, "hash_fallback_query_arg", {"required": True}),
            {"distinct": ["hash_on_query_arg", "hash_fallback_query_arg"]},
            conditional("hash_on", {"match": "^uri_capture$"}, "hash_on_uri_capture", {"required": True}),
            conditional("hash_fallback", {"match": "^uri_capture$"}, "hash_fallback_uri_capture", {"required": True}),
            {"distinct": ["hash_on_uri_capture", "hash_fallback_uri_capture"]},
        ],
    },
    "targets": {
        "endpoint_key": "target",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            foreign("upstream", "upstreams", required=True, on_delete="cascade"),
            f("target", "string", required=True),
            f("weight", "integer", default=100, between=[0, 65535]),
            TAGS,
        ],
    },
    "consumers": {
        "endpoint_key": "username",
        "fields": [
            ID,
            CREATED,
            UPDATED,
            f("username", "string", unique=True),
            f("custom_id", "string", unique=True),
            TAGS,
        ],
        "entity_checks": [{"at_least_one_of": ["custom_id", "username"]}],
    },
    "plugins": {
        "endpoint_key": "instance_name",
        "fields": [
            ID,
            f("name", "string", required=True),
            f("instance_name", "string", unique=True),
            CREATED,
            UPDATED,
            foreign("route", "routes", default=None, on_delete="cascade"),
            foreign("service", "services", default=None, on_delete="cascade"),
            foreign("consumer", "consumers", default=None, on_delete="cascade"),
            {"config": {"type": "record", "abstract": True}},
            f(
                "protocols",
                "set",
                default=HTTP_PROTOCOLS,
                required=True,
                elements={"type": "string", "one_of": PROTOCOLS},
            ),
            f("enabled", "boolean", default=True),
            TAGS,
            f("ordering", "record", fields=[]),
        ],
    },
    "keyauth_credentials": {
        "endpoint_key": "key",
        "ttl": True,  # kong/plugins/key-auth/daos.lua: a write may say how long the credential lives
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("key", "string", unique=True, auto=True),
            f("ttl", "integer"),
            TAGS,
        ],
    },
    "basicauth_credentials": {
        "endpoint_key": "username",
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("username", "string", required=True, unique=True),
            f("password", "string", required=True),
            TAGS,
        ],
    },
    "jwt_secrets": {
        "endpoint_key": "key",
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("key", "string", unique=True, auto=True),
            f("secret", "string", auto=True),
            f("rsa_public_key", "string"),
            f("algorithm", "string", default="HS256", one_of=JWT_ALGORITHMS),
            TAGS,
        ],
        # jwt/daos.lua: an RSA/PS/EdDSA secret needs its public key, one OpenSSL can read
        "entity_checks": [
            conditional(
                "algorithm",
                {"match_any": {"patterns": [f"^{a}$" for a in JWT_ALGORITHMS if a[:2] in ("RS", "PS", "Ed")]}},
                "rsa_public_key",
                {"required": True, "custom_validator": validate_ssl_key},
            )
        ],
    },
    "oauth2_credentials": {
        "endpoint_key": "client_id",
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("name", "string", required=True),
            f("client_id", "string", unique=True, auto=True),
            f("client_secret", "string", auto=True),
            f("hash_secret", "boolean", default=False, required=True),
            f("redirect_uris", "array", elements={"type": "string", "custom_validator": validate_redirect_uri}),
            TAGS,
            f("client_type", "string", required=True, default="confidential", one_of=["confidential", "public"]),
        ],
    },
    "acls": {
        "fields": [
            ID,
            CREATED,
            foreign("consumer", "consumers", required=True, on_delete="cascade"),
            f("group", "string", required=True),
            TAGS,
        ],
        "unique_together": ["consumer", "group"],
    },
}

# Admin API collection -> DAO, and back.
COLLECTIONS = {
    "services": "services",
    "routes": "routes",
    "upstreams": "upstreams",
    "consumers": "consumers",
    "plugins": "plugins",
    "key-auths": "keyauth_credentials",
    "basic-auths": "basicauth_credentials",
    "jwts": "jwt_secrets",
    "oauth2": "oauth2_credentials",
    "acls": "acls",
}
CREDENTIAL_PLUGIN = {
    "keyauth_credentials": "key-auth",
    "basicauth_credentials": "basic-auth",
    "jwt_secrets": "jwt",
    "oauth2_credentials": "oauth2",
    "acls": "acl",
}


def _make_records_required(spec: dict[str, Any]) -> None:
    """kong/db/schema/entity.lua make_records_required: in a plugin's schema every record that does not say
    otherwise is required, "so that they return their full structure on API queries" (and `/schemas` says so)."""
    for field in spec.get("fields") or []:
        nested = next(iter(field.values()))
        if nested.get("type") == "record":
            nested.setdefault("required", True)
            _make_records_required(nested)


def _plugin(
    fields: list[Field],
    protocols: list[str] | None = None,
    shorthand_fields: list[Field] | None = None,
    entity_checks: list[Field] | None = None,
    config_spec: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """`entity_checks`: the plugin schema's own (on the plugin entity: `config.second` ...); `config_spec`: more
    of the config record's spec (its `custom_validator`, its `entity_checks`)."""
    config = record("config", fields, required=True, **(config_spec or {}))
    _make_records_required(config["config"])
    if shorthand_fields:
        config["config"]["shorthand_fields"] = shorthand_fields
    schema: dict[str, Any] = {
        "fields": [
            f("protocols", "set", default=protocols or HTTP_PROTOCOLS, required=True, elements={"type": "string"}),
            config,
            *[{k: v} for k, v in extra.items()],
        ]
    }
    if entity_checks:
        schema["entity_checks"] = entity_checks
    return schema


AUTH_COMMON = [f("anonymous", "string"), f("run_on_preflight", "boolean", default=True, required=True)]
# kong/tools/redis/schema.lua config_schema: rate-limiting's and response-ratelimiting's `redis`
REDIS = record(
    "redis",
    [
        f("host", "string", custom_validator=validate_host),
        f("port", "integer", default=6379, between=[0, 65535]),
        f("timeout", "integer", default=2000, between=[0, 2147483646]),
        f("username", "string", referenceable=True),
        f("password", "string", encrypted=True, referenceable=True, len_min=0),
        f("database", "integer", default=0),
        f("ssl", "boolean", required=False, default=False),
        f("ssl_verify", "boolean", required=False, default=False),
        f("server_name", "string", required=False, custom_validator=validate_sni),
    ],
)


def redis_shorthands(plugin: str) -> list[Field]:
    """The deprecated flat `redis_*` fields (config.shorthand_fields): Kong 3.9 takes them for `redis.*` on
    writes and, as they name their replacement (`replaced_with`), shows them again on every read."""
    kinds = {
        **dict.fromkeys(("host", "password", "username", "server_name"), "string"),
        **dict.fromkeys(("port", "timeout", "database"), "integer"),
        **dict.fromkeys(("ssl", "ssl_verify"), "boolean"),
    }
    order = ("host", "port", "password", "username", "ssl", "ssl_verify", "server_name", "timeout", "database")
    return [
        f(
            f"redis_{name}",
            kinds[name],
            **({"len_min": 0} if name == "password" else {}),
            deprecation={
                "replaced_with": [{"path": ["redis", name]}],
                "message": f"{plugin}: config.redis_{name} is deprecated, please use config.redis.{name} instead",
                "removal_in_version": "4.0",
            },
        )
        for name in order
    ]


CORS_METHODS = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
PLUGINS: dict[str, dict[str, Any]] = {
    "key-auth": _plugin(
        [
            f(
                "key_names",
                "array",
                default=["apikey"],
                required=True,
                elements={"type": "string", "custom_validator": validate_header_name},
            ),
            f("hide_credentials", "boolean", default=False, required=True),
            f("key_in_header", "boolean", default=True, required=True),
            f("key_in_query", "boolean", default=True, required=True),
            f("key_in_body", "boolean", default=False, required=True),
            f("realm", "string"),
            *AUTH_COMMON,
        ]
    ),
    "basic-auth": _plugin(
        [
            f("hide_credentials", "boolean", default=False, required=True),
            f("realm", "string", default="service"),
            f("anonymous", "string"),
        ]
    ),
    "jwt": _plugin(
        [
            f("uri_param_names", "set", default=["jwt"], elements={"type": "string"}),
            f("cookie_names", "set", default=[], elements={"type": "string"}),
            f("key_claim_name", "string", default="iss"),
            f("secret_is_base64", "boolean", default=False, required=True),
            f("claims_to_verify", "set", elements={"type": "string", "one_of": ["exp", "nbf"]}),
            f("maximum_expiration", "number", default=0, between=[0, 31536000]),
            f("header_names", "set", default=["authorization"], elements={"type": "string"}),
            f("realm", "string"),
            *AUTH_COMMON,
        ],
        entity_checks=[
            conditional("config.maximum_expiration", {"gt": 0}, "config.claims_to_verify", {"contains": "exp"})
        ],
    ),
    "acl": _plugin(
        [
            f("allow", "array", elements={"type": "string"}),
            f("deny", "array", elements={"type": "string"}),
            f("hide_groups_header", "boolean", default=False, required=True),
            f("always_use_authenticated_groups", "boolean", default=False, required=True),
        ],
        entity_checks=[
            {"only_one_of": ["config.allow", "config.deny"]},
            {"at_least_one_of": ["config.allow", "config.deny"]},
        ],
    ),
    "rate-limiting": _plugin(
        [
            *[f(p, "number", gt=0) for p in ("second", "minute", "hour", "day", "month", "year")],
            f(
                "limit_by",
                "string",
                default="consumer",
                one_of=["consumer", "credential", "ip", "service", "header", "path"],
            ),
            f("header_name", "string", custom_validator=validate_header_name),
            f(
                "path",
                "string",
                starts_with="/",
                match_none=[{"pattern": "//", "err": "must not have empty segments"}],
                custom_validator=validate_path,
            ),
            # DB-less Kong (and a control plane) offers local and redis only
            f("policy", "string", default="local", len_min=0, one_of=["local", "cluster", "redis"]),
            f("fault_tolerant", "boolean", required=True, default=True),
            REDIS,
            f("hide_client_headers", "boolean", required=True, default=False),
            f("error_code", "number", default=429, gt=0),
            f("error_message", "string", default="API rate limit exceeded"),
            f("sync_rate", "number", required=True, default=-1),
        ],
        shorthand_fields=redis_shorthands("rate-limiting"),
        config_spec={"custom_validator": validate_periods_order},
        entity_checks=[
            {"at_least_one_of": [f"config.{p}" for p in ("second", "minute", "hour", "day", "month", "year")]},
            *(
                conditional("config.policy", {"eq": "redis"}, f"config.redis.{field}", {"required": True})
                for field in ("host", "port", "timeout")
            ),
            conditional("config.limit_by", {"eq": "header"}, "config.header_name", {"required": True}),
            conditional("config.limit_by", {"eq": "path"}, "config.path", {"required": True}),
        ],
    ),
    "cors": _plugin(
        [
            f("origins", "array", elements={"type": "string", "custom_validator": validate_asterisk_or_regex}),
            f("headers", "array", elements={"type": "string"}),
            f("exposed_headers", "array", elements={"type": "string"}),
            f(
                "methods",
                "array",
                default=CORS_METHODS,
                elements={"type": "string", "one_of": CORS_METHODS},
            ),
            f("max_age", "number"),
            f("credentials", "boolean", default=False, required=True),
            f("private_network", "boolean", default=False, required=True),
            f("preflight_continue", "boolean", default=False, required=True),
        ]
    ),
    "request-termination": _plugin(
        [
            f("status_code", "integer", default=503, required=True, between=[100, 599]),
            f("message", "string"),
            f("content_type", "string"),
            f("body", "string"),
            f("trigger", "string", custom_validator=validate_header_name),
            f("echo", "boolean", default=False, required=True),
        ],
        config_spec={"custom_validator": validate_request_termination},
    ),
    "ip-restriction": _plugin(
        [
            f("allow", "array", elements={"type": "string", "custom_validator": validate_ip_or_cidr}),
            f("deny", "array", elements={"type": "string", "custom_validator": validate_ip_or_cidr}),
            f("status", "number"),
            f("message", "string"),
        ],
        entity_checks=[{"at_least_one_of": ["config.allow", "config.deny"]}],
    ),
    "correlation-id": _plugin(
        [
            f("header_name", "string", default="Kong-Request-ID"),
            f("generator", "string", default="uuid#counter", required=True, one_of=["uuid", "uuid#counter", "tracker"]),
            f("echo_downstream", "boolean", default=False, required=True),
        ]
    ),
    "prometheus": _plugin(
        [
            f(k, "boolean", default=False)
            for k in (
                "per_consumer",
                "status_code_metrics",
                "ai_metrics",
                "latency_metrics",
                "bandwidth_metrics",
                "upstream_health_metrics",
            )
        ]
    ),
    "request-size-limiting": _plugin(
        [
            f("allowed_payload_size", "integer", default=128),
            f("size_unit", "string", default="megabytes", required=True, one_of=["megabytes", "kilobytes", "bytes"]),
            f("require_content_length", "boolean", default=False, required=True),
        ]
    ),
}


def _deprecated(name: str, type_: str) -> Field:
    """A field kept for compatibility (`deprecation`, removal in 4.0) with no default any more."""
    return f(name, type_)


# kong/tools/queue_schema.lua (typedefs.queue): the batch queue of the log and tracing plugins.
QUEUE = record(
    "queue",
    [
        f("max_batch_size", "integer", default=1, between=[1, 1000000]),
        f("max_coalescing_delay", "number", default=1, between=[0, 3600]),
        f("max_entries", "integer", default=10000, between=[1, 1000000]),
        f("max_bytes", "integer"),
        f("max_retry_time", "number", default=60),
        f("initial_retry_delay", "number", default=0.01, between=[0.001, 1000000]),
        f("max_retry_delay", "number", default=60, between=[0.001, 1000000]),
        f("concurrency_limit", "integer", default=1, one_of=[-1, 1]),
    ],
)
# typedefs.lua_code: custom_fields_by_lua and the like
LUA_CODE = {"type": "map", "keys": {"type": "string", "len_min": 1}, "values": {"type": "string", "len_min": 1}}
# kong/observability/tracing/propagation/utils.lua FORMATS (a Lua hash: Kong lists them in no fixed order)
TRACING_FORMATS = ["aws", "b3", "b3-single", "datadog", "gcp", "jaeger", "ot", "w3c"]


def propagation(**spec: Any) -> Field:
    """typedefs.propagation (kong/observability/tracing/propagation/schema.lua)."""
    return record(
        "propagation",
        [
            f(
                "extract",
                "array",
                elements={"type": "string", "one_of": [x for x in TRACING_FORMATS if x != "b3-single"]},
            ),
            f("clear", "array", elements={"type": "string"}),
            f("inject", "array", elements={"type": "string", "one_of": ["preserve", *TRACING_FORMATS]}),
            f("default_format", "string", required=True, one_of=TRACING_FORMATS),
        ],
        **spec,
    )


def timeout(name: str, **spec: Any) -> Field:
    """typedefs.timeout"""
    return f(name, "integer", between=[0, 2147483646], **spec)


def _strings(**spec: Any) -> dict[str, Any]:
    """The transformer plugins' `{type = "array", default = {}, required = true, elements = ...}` lists."""
    return {"type": "array", "default": [], "required": True, "elements": {"type": "string", **spec}}


ZIPKIN_PROTECTED_TAGS = [
    *("error", "http.method", "http.path", "http.status_code", "kong.balancer.state", "kong.balancer.try"),
    *("kong.consumer", "kong.credential", "kong.node.id", "kong.route", "kong.service", "lc", "peer.hostname"),
]
COLON = "^[^:]+:.*$"  # request/response-transformer: `name:value` entries
PLUGINS.update(
    {
        "bot-detection": _plugin(
            [
                f("allow", "array", default=[], elements={"type": "string", "is_regex": True}),
                f("deny", "array", default=[], elements={"type": "string", "is_regex": True}),
            ]
        ),
        "grpc-web": _plugin(
            [
                f("proto", "string", required=False),
                f("pass_stripped_path", "boolean", required=False),
                f("allow_origin_header", "string", required=False, default="*"),
            ]
        ),
        "http-log": _plugin(
            [
                f(
                    "http_endpoint",
                    "string",
                    required=True,
                    encrypted=True,
                    referenceable=True,
                    custom_validator=validate_url,
                ),
                f("method", "string", default="POST", one_of=["POST", "PUT", "PATCH"]),
                f(
                    "content_type",
                    "string",
                    default="application/json",
                    one_of=["application/json", "application/json; charset=utf-8"],
                ),
                f("timeout", "number", default=10000),
                f("keepalive", "number", default=60000),
                _deprecated("retry_count", "integer"),
                _deprecated("queue_size", "integer"),
                _deprecated("flush_timeout", "number"),
                f(
                    "headers",
                    "map",
                    keys={
                        "type": "string",
                        "custom_validator": validate_header_name,
                        "match_none": [  # sic: [nn] in the Lua, so "Content-LeNgth" passes
                            {"pattern": "^[Hh][Oo][Ss][Tt]$", "err": "cannot contain 'Host' header"},
                            {
                                "pattern": "^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Ll][Ee][nn][Gg][Tt][Hh]$",
                                "err": "cannot contain 'Content-Length' header",
                            },
                            {
                                "pattern": "^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Tt][Yy][Pp][Ee]$",
                                "err": "cannot contain 'Content-Type' header",
                            },
                        ],
                    },
                    values={"type": "string", "referenceable": True},
                ),
                QUEUE,
                {"custom_fields_by_lua": LUA_CODE},
            ],
            config_spec={"custom_validator": validate_http_log_config},
        ),
        "oauth2": _plugin(
            [
                f("scopes", "array", elements={"type": "string"}),
                f("mandatory_scope", "boolean", default=False, required=True),
                f("provision_key", "string", unique=True, auto=True, required=True, encrypted=True),
                f("token_expiration", "number", default=7200, required=True),
                f("enable_authorization_code", "boolean", default=False, required=True),
                f("enable_implicit_grant", "boolean", default=False, required=True),
                f("enable_client_credentials", "boolean", default=False, required=True),
                f("enable_password_grant", "boolean", default=False, required=True),
                f("hide_credentials", "boolean", default=False, required=True),
                f("accept_http_if_already_terminated", "boolean", default=False, required=True),
                f("anonymous", "string"),
                f("global_credentials", "boolean", default=False, required=True),
                f("auth_header_name", "string", default="authorization"),
                f("refresh_token_ttl", "number", default=1209600, required=True, between=[0, 100000000]),
                f("reuse_refresh_token", "boolean", default=False, required=True),
                f("pkce", "string", default="lax", required=False, one_of=["none", "lax", "strict"]),
                f("realm", "string", required=False),
            ],
            config_spec={
                "custom_validator": validate_oauth2_flows,
                "entity_checks": [conditional("mandatory_scope", {"eq": True}, "scopes", {"required": True})],
            },
        ),
        "proxy-cache": _plugin(
            [
                f(
                    "response_code",
                    "array",
                    default=[200, 301, 404],
                    elements={"type": "integer", "between": [100, 900]},
                    len_min=1,
                    required=True,
                ),
                f(
                    "request_method",
                    "array",
                    default=["GET", "HEAD"],
                    elements={"type": "string", "one_of": ["HEAD", "GET", "POST", "PATCH", "PUT"]},
                    required=True,
                ),
                f(
                    "content_type",
                    "array",
                    default=["text/plain", "application/json"],
                    elements={"type": "string"},
                    required=True,
                ),
                f("cache_ttl", "integer", default=300, gt=0),
                f("strategy", "string", one_of=["memory"], required=True),
                f("cache_control", "boolean", default=False, required=True),
                f("ignore_uri_case", "boolean", default=False, required=False),
                f("storage_ttl", "integer"),
                record("memory", [f("dictionary_name", "string", required=True, default="kong_db_cache")]),
                f("vary_query_params", "array", elements={"type": "string"}),
                f("vary_headers", "array", elements={"type": "string"}),
                record(
                    "response_headers",
                    [
                        f("age", "boolean", default=True),
                        f("X-Cache-Status", "boolean", default=True),
                        f("X-Cache-Key", "boolean", default=True),
                    ],
                ),
            ],
            entity_checks=[{"custom_entity_check": {"field_sources": ["config"], "fn": check_proxy_cache_shdict}}],
        ),
        "request-transformer": _plugin(
            [
                f("http_method", "string", match="^%u+$"),  # typedefs.http_method
                record(
                    "remove",
                    [
                        {"body": _strings()},
                        {"headers": _strings(custom_validator=validate_transformer_header)},
                        {"querystring": _strings()},
                    ],
                ),
                record(
                    "rename",
                    [
                        {"body": _strings(custom_validator=check_for_value)},
                        {"headers": _strings(match=COLON, custom_validator=validate_colon_headers)},
                        {"querystring": _strings(custom_validator=check_for_value)},
                    ],
                ),
                *[
                    record(
                        action,
                        [
                            {"body": _strings(custom_validator=check_for_value)},
                            {"headers": _strings(match=COLON, custom_validator=validate_transformer_header)},
                            {"querystring": _strings(custom_validator=check_for_value)},
                            *([f("uri", "string")] if action == "replace" else []),
                        ],
                    )
                    for action in ("replace", "add", "append")
                ],
            ]
        ),
        "response-transformer": _plugin(
            [
                record("remove", [{"json": _strings()}, {"headers": _strings()}]),
                record(
                    "rename",
                    [
                        {"json": _strings(match=COLON)},
                        {"headers": _strings(match=COLON, custom_validator=validate_colon_headers)},
                    ],
                ),
                *[
                    record(
                        action,
                        [
                            {"json": _strings(match=COLON)},
                            {"json_types": _strings(one_of=["boolean", "number", "string"])},
                            {"headers": _strings(match=COLON)},
                        ],
                    )
                    for action in ("replace", "add", "append")
                ],
            ]
        ),
        "zipkin": _plugin(
            [
                f("local_service_name", "string", required=True, default="kong"),
                f("http_endpoint", "string", custom_validator=validate_url),
                f("sample_ratio", "number", default=0.001, between=[0, 1]),
                f("default_service_name", "string"),
                f("include_credential", "boolean", required=True, default=True),
                f("traceid_byte_count", "integer", required=True, default=16, one_of=[8, 16]),
                f(
                    "header_type",
                    "string",
                    required=True,
                    default="preserve",
                    one_of=["preserve", "ignore", "b3", "b3-single", "w3c", "jaeger", "ot", "aws", "datadog", "gcp"],
                ),
                f(
                    "default_header_type",
                    "string",
                    required=True,
                    default="b3",
                    one_of=["b3", "b3-single", "w3c", "jaeger", "ot", "aws", "datadog", "gcp"],
                ),
                f("tags_header", "string", required=True, default="Zipkin-Tags"),
                f(
                    "static_tags",
                    "array",
                    elements={
                        "type": "record",
                        "fields": [
                            f("name", "string", required=True, not_one_of=ZIPKIN_PROTECTED_TAGS),
                            f("value", "string", required=True),
                        ],
                    },
                    custom_validator=validate_static_tags,
                ),
                f("http_span_name", "string", required=True, default="method", one_of=["method", "method_path"]),
                timeout("connect_timeout", default=2000),
                timeout("send_timeout", default=5000),
                timeout("read_timeout", default=5000),
                f("http_response_header_for_traceid", "string"),
                f(
                    "phase_duration_flavor",
                    "string",
                    required=True,
                    default="annotations",
                    one_of=["annotations", "tags"],
                ),
                QUEUE,
                propagation(default={"default_format": "b3"}),
            ]
        ),
    }
)

SYSLOG_SEVERITIES = ["debug", "info", "notice", "warning", "err", "crit", "alert", "emerg"]
HMAC_ALGORITHMS = ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"]


def port(name: str, **spec: Any) -> Field:
    """typedefs.port"""
    return f(name, "integer", between=[0, 65535], **spec)


def _phase_functions() -> dict[str, Any]:
    """pre-function/_schema.lua phase_functions"""
    return {"type": "array", "required": True, "default": [], "elements": {"type": "string", "required": False}}


PLUGINS.update(
    {
        "aws-lambda": _plugin(
            [
                f("timeout", "number", required=True, default=60000),
                f("keepalive", "number", required=True, default=60000),
                f("aws_key", "string", encrypted=True, referenceable=True),
                f("aws_secret", "string", encrypted=True, referenceable=True),
                f("aws_assume_role_arn", "string", encrypted=True, referenceable=True),
                f("aws_role_session_name", "string", default="kong"),
                f("aws_sts_endpoint_url", "string"),
                f("aws_region", "string"),
                f("function_name", "string", required=False),
                f("qualifier", "string"),
                f(
                    "invocation_type",
                    "string",
                    required=True,
                    default="RequestResponse",
                    one_of=["RequestResponse", "Event", "DryRun"],
                ),
                f("log_type", "string", required=True, default="Tail", one_of=["Tail", "None"]),
                f("host", "string"),
                port("port", default=443),
                f("disable_https", "boolean", default=False),
                f("unhandled_status", "integer", between=[100, 999]),
                *[
                    f(name, "boolean", default=False)
                    for name in (
                        "forward_request_method",
                        "forward_request_uri",
                        "forward_request_headers",
                        "forward_request_body",
                        "is_proxy_integration",
                        "awsgateway_compatible",
                    )
                ],
                f("proxy_url", "string"),
                f("skip_large_bodies", "boolean", default=True),
                f("base64_encode_body", "boolean", default=True),
                f("aws_imds_protocol_version", "string", required=True, default="v1", one_of=["v1", "v2"]),
                f("empty_arrays_mode", "string", required=True, default="legacy", one_of=["legacy", "correct"]),
            ]
        ),
        "azure-functions": _plugin(
            [
                f("timeout", "number", default=600000),
                f("keepalive", "number", default=60000),
                f("https", "boolean", default=True),
                f("https_verify", "boolean", default=False),
                f("apikey", "string", encrypted=True, referenceable=True),
                f("clientid", "string", encrypted=True, referenceable=True),
                f("appname", "string", required=True),
                f("hostdomain", "string", required=True, default="azurewebsites.net"),
                f("routeprefix", "string", default="api"),
                f("functionname", "string", required=True),
            ]
        ),
        "file-log": _plugin(
            [
                f("path", "string", required=True, match=r"^[^*&%%\`]+$", err="not a valid filename"),
                f("reopen", "boolean", required=True, default=False),
                {"custom_fields_by_lua": LUA_CODE},
            ]
        ),
        "grpc-gateway": _plugin([f("proto", "string", required=False)]),
        "hmac-auth": _plugin(
            [
                f("hide_credentials", "boolean", required=True, default=False),
                f("clock_skew", "number", default=300, gt=0),
                f("anonymous", "string"),
                f("validate_request_body", "boolean", required=True, default=False),
                f("enforce_headers", "array", elements={"type": "string"}, default=[]),
                f(
                    "algorithms",
                    "array",
                    elements={"type": "string", "one_of": HMAC_ALGORITHMS},
                    default=HMAC_ALGORITHMS,
                ),
                f("realm", "string", required=False),
            ]
        ),
        "ldap-auth": _plugin(
            [
                f("ldap_host", "string", required=True),
                port("ldap_port", required=True, default=389),
                f("ldaps", "boolean", required=True, default=False),
                f("start_tls", "boolean", required=True, default=False),
                f("verify_ldap_host", "boolean", required=True, default=False),
                f("base_dn", "string", required=True),
                f("attribute", "string", required=True),
                f("cache_ttl", "number", required=True, default=60),
                f("hide_credentials", "boolean", required=True, default=False),
                f("timeout", "number", default=10000),
                f("keepalive", "number", default=60000),
                f("anonymous", "string"),
                f("header_type", "string", default="ldap"),
                f("realm", "string", required=False),
            ]
        ),
        "loggly": _plugin(
            [
                f("host", "string", default="logs-01.loggly.com"),
                port("port", default=514),
                f("key", "string", required=True, encrypted=True, referenceable=True),
                f("tags", "set", default=["kong"], elements={"type": "string"}),
                *[
                    f(name, "string", default="info", one_of=SYSLOG_SEVERITIES)
                    for name in ("log_level", "successful_severity", "client_errors_severity", "server_errors_severity")
                ],
                f("timeout", "number", default=10000),
                {"custom_fields_by_lua": LUA_CODE},
            ]
        ),
        **{
            name: _plugin(
                [
                    {phase: _phase_functions()}
                    for phase in ("certificate", "rewrite", "access", "header_filter", "body_filter", "log")
                ]
            )
            for name in ("pre-function", "post-function")
        },
        "redirect": _plugin(
            [
                f("status_code", "integer", required=True, default=301, between=[100, 599]),
                f("location", "string", required=True),
                f("keep_incoming_path", "boolean", default=False),
            ]
        ),
        "standard-webhooks": _plugin(
            [
                f("secret_v1", "string", required=True, referenceable=True, encrypted=True),
                f("tolerance_second", "integer", required=True, gt=-1, default=300),
            ]
        ),
        "syslog": _plugin(
            [
                *[
                    f(name, "string", default="info", required=True, one_of=SYSLOG_SEVERITIES)
                    for name in ("log_level", "successful_severity", "client_errors_severity", "server_errors_severity")
                ],
                {"custom_fields_by_lua": LUA_CODE},
                f(
                    "facility",
                    "string",
                    default="user",
                    required=True,
                    one_of=[
                        *("auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail"),
                        *("news", "syslog", "user", "uucp", "local0", "local1", "local2", "local3"),
                        *("local4", "local5", "local6", "local7"),
                    ],
                ),
            ]
        ),
        "tcp-log": _plugin(
            [
                f("host", "string", required=True),
                port("port", required=True),
                f("timeout", "number", default=10000),
                f("keepalive", "number", default=60000),
                f("tls", "boolean", required=True, default=False),
                f("tls_sni", "string"),
                {"custom_fields_by_lua": LUA_CODE},
            ]
        ),
        "udp-log": _plugin(
            [
                f("host", "string", required=True),
                port("port", required=True),
                f("timeout", "number", default=10000),
                {"custom_fields_by_lua": LUA_CODE},
            ]
        ),
    }
)

# The Lua `func` of the shorthand fields that name no replacement (kong_schemas can only say it in JSON, as
# Kong does, for deprecated ones): the field each sets (None: it sets nothing), and the values it changes.
SHORTHAND_TARGETS: dict[str, list[str] | None] = {
    "endpoint": ["traces_endpoint"],  # opentelemetry
    # session (kong/plugins/session/schema.lua): the options of lua-resty-session 3
    "cookie_lifetime": ["rolling_timeout"],
    "cookie_idletime": ["idling_timeout"],
    "cookie_renew": None,
    "cookie_discard": ["stale_ttl"],
    "cookie_samesite": ["cookie_same_site"],
    "cookie_httponly": ["cookie_http_only"],
    "cookie_persistent": ["remember"],
}
SHORTHAND_VALUES: dict[str, dict[Any, Any]] = {"cookie_samesite": {"off": "Lax"}}


SESSION_SECRET = base64.b64encode(os.urandom(32)).decode().translate(str.maketrans("/+=", "7Kq"))
SESSION_HEADERS = {
    "type": "string",
    "one_of": ["id", "audience", "subject", "timeout", "idling-timeout", "rolling-timeout", "absolute-timeout"],
}


def _deprecated_shorthand(name: str, type_: str, plugin: str, path: list[str], **spec: Any) -> Field:
    return f(
        name,
        type_,
        **spec,
        deprecation={
            "replaced_with": [{"path": path}],
            "message": f"{plugin}: config.{name} is deprecated, please use config.{'.'.join(path)} instead",
            "removal_in_version": "4.0",
        },
    )


DATADOG_METRICS = [
    {"name": n, "stat_type": t, **({"sample_rate": 1} if t == "counter" else {}), "tags": ["app:kong"]}
    | {"consumer_identifier": "custom_id"}
    for n, t in (
        ("request_count", "counter"),
        ("latency", "timer"),
        ("request_size", "timer"),
        ("response_size", "timer"),
        ("upstream_latency", "timer"),
        ("kong_latency", "timer"),
    )
]
STATSD_METRICS = [
    {"name": n, "stat_type": t, **({"sample_rate": 1} if t in ("counter", "gauge") else {})}
    for n, t in (
        ("request_count", "counter"),
        ("latency", "timer"),
        ("request_size", "counter"),
        ("status_count", "counter"),
        ("response_size", "counter"),
        ("unique_users", "set"),
        ("request_per_user", "counter"),
        ("upstream_latency", "timer"),
        ("kong_latency", "timer"),
        ("status_count_per_user", "counter"),
        ("status_count_per_workspace", "counter"),
        ("status_count_per_user_per_route", "counter"),
        ("shdict_usage", "gauge"),
    )
]
CONSUMER_IDENTIFIERS = ["consumer_id", "custom_id", "username"]
SERVICE_IDENTIFIERS = ["service_id", "service_name", "service_host", "service_name_or_host"]
WORKSPACE_IDENTIFIERS = ["workspace_id", "workspace_name"]
PERIODS = ("second", "minute", "hour", "day", "month", "year")


PLUGINS.update(
    {
        "acme": _plugin(
            [
                f(
                    "account_email",
                    "string",
                    match="%w*%p*@+%w*%.?%w*",
                    required=True,
                    encrypted=True,
                    referenceable=True,
                ),
                record(
                    "account_key",
                    [f("key_id", "string", required=True), f("key_set", "string")],
                    required=False,
                ),
                f("api_uri", "string", default="https://acme-v02.api.letsencrypt.org/directory"),
                f("tos_accepted", "boolean", default=False),
                f("eab_kid", "string", encrypted=True, referenceable=True),
                f("eab_hmac_key", "string", encrypted=True, referenceable=True),
                f("cert_type", "string", default="rsa", one_of=["rsa", "ecc"]),
                f("rsa_key_size", "number", default=4096, one_of=[2048, 3072, 4096]),
                f("renew_threshold_days", "number", default=14),
                f(
                    "domains",
                    "array",
                    elements={
                        "type": "string",
                        "match_all": [
                            {"pattern": "^[^*]*%*?[^*]*$", "err": "invalid wildcard: must have at most one wildcard"}
                        ],
                    },
                ),
                f("allow_any_domain", "boolean", default=False),
                f("fail_backoff_minutes", "number", default=5),
                f("storage", "string", default="shm", one_of=["kong", "shm", "redis", "consul", "vault"]),
                record(
                    "storage_config",
                    [
                        record("shm", [f("shm_name", "string", default="kong")]),
                        {"kong": {"type": "record", "fields": []}},
                        record(
                            "redis",
                            [
                                *REDIS["redis"]["fields"],
                                record(
                                    "extra_options",
                                    [
                                        f("namespace", "string", required=True, default="", len_min=0),
                                        f("scan_count", "number", required=False, default=10),
                                    ],
                                ),
                            ],
                            shorthand_fields=[
                                _deprecated_shorthand("auth", "string", "acme", ["password"], len_min=0),
                                _deprecated_shorthand("ssl_server_name", "string", "acme", ["server_name"]),
                                _deprecated_shorthand(
                                    "namespace", "string", "acme", ["extra_options", "namespace"], len_min=0
                                ),
                                _deprecated_shorthand("scan_count", "integer", "acme", ["extra_options", "scan_count"]),
                            ],
                        ),
                        record(
                            "consul",
                            [
                                f("https", "boolean", default=False),
                                f("host", "string"),
                                port("port"),
                                f("kv_path", "string"),
                                f("timeout", "number"),
                                f("token", "string", referenceable=True),
                            ],
                        ),
                        record(
                            "vault",
                            [
                                f("https", "boolean", default=False),
                                f("host", "string"),
                                port("port"),
                                f("kv_path", "string"),
                                f("timeout", "number"),
                                f("token", "string", referenceable=True),
                                f("tls_verify", "boolean", default=True),
                                f("tls_server_name", "string"),
                                f("auth_method", "string", default="token", one_of=["token", "kubernetes"]),
                                f("auth_path", "string"),
                                f("auth_role", "string"),
                                f("jwt_path", "string"),
                            ],
                        ),
                    ],
                ),
                f("preferred_chain", "string"),
                f("enable_ipv4_common_name", "boolean", default=True),
            ],
            # typedefs.no_service, typedefs.no_route: a global plugin only
            service=foreign("service", "services", eq=None)["service"],
            route=foreign("route", "routes", eq=None)["route"],
        ),
        "datadog": _plugin(
            [
                f("host", "string", referenceable=True, default="localhost"),
                port("port", default=8125),
                f("prefix", "string", default="kong"),
                f("service_name_tag", "string", default="name"),
                f("status_tag", "string", default="status"),
                f("consumer_tag", "string", default="consumer"),
                _deprecated("retry_count", "integer"),
                _deprecated("queue_size", "integer"),
                _deprecated("flush_timeout", "number"),
                QUEUE,
                f(
                    "metrics",
                    "array",
                    required=True,
                    default=DATADOG_METRICS,
                    elements={
                        "type": "record",
                        "fields": [
                            f(
                                "name",
                                "string",
                                required=True,
                                one_of=[
                                    *("kong_latency", "latency", "request_count", "request_size", "response_size"),
                                    "upstream_latency",
                                ],
                            ),
                            f(
                                "stat_type",
                                "string",
                                required=True,
                                one_of=["counter", "gauge", "histogram", "meter", "set", "timer", "distribution"],
                            ),
                            f("tags", "array", elements={"type": "string", "match": "^.*[^:]$"}),
                            f("sample_rate", "number", between=[0, 1]),
                            f("consumer_identifier", "string", one_of=CONSUMER_IDENTIFIERS),
                        ],
                    },
                ),
            ]
        ),
        "opentelemetry": _plugin(
            [
                f("traces_endpoint", "string", referenceable=True, custom_validator=validate_url),
                f("logs_endpoint", "string", referenceable=True, custom_validator=validate_url),
                f("headers", "map", keys=HEADER_NAME, values={"type": "string", "referenceable": True}),
                f(
                    "resource_attributes",
                    "map",
                    keys={"type": "string", "required": True},
                    values={"type": "string", "required": True},
                ),
                {"queue": {**QUEUE["queue"], "default": {"max_batch_size": 200}}},
                _deprecated("batch_span_count", "integer"),
                _deprecated("batch_flush_delay", "integer"),
                timeout("connect_timeout", default=1000),
                timeout("send_timeout", default=5000),
                timeout("read_timeout", default=5000),
                f("http_response_header_for_traceid", "string"),
                f(
                    "header_type",
                    "string",
                    required=False,
                    default="preserve",
                    one_of=["preserve", "ignore", "b3", "b3-single", "w3c", "jaeger", "ot", "aws", "gcp", "datadog"],
                ),
                f("sampling_rate", "number", between=[0, 1], required=False),
                propagation(default={"default_format": "w3c"}),
            ],
            # deprecated, but naming no replacement: taken on writes, never shown on reads
            shorthand_fields=[
                f(
                    "endpoint",
                    "string",
                    referenceable=True,
                    custom_validator=validate_url,
                    deprecation={
                        "message": "OpenTelemetry: config.endpoint is deprecated, please use config.traces_endpoint "
                        "instead",
                        "removal_in_version": "4.0",
                    },
                )
            ],
        ),
        "response-ratelimiting": _plugin(
            [
                f("header_name", "string", default="x-kong-limit"),
                f("limit_by", "string", default="consumer", one_of=["consumer", "credential", "ip"]),
                # DB-less Kong (and a control plane) offers local and redis only
                f("policy", "string", default="local", one_of=["local", "cluster", "redis"]),
                f("fault_tolerant", "boolean", required=True, default=True),
                REDIS,
                f("block_on_first_violation", "boolean", required=True, default=False),
                f("hide_client_headers", "boolean", required=True, default=False),
                f(
                    "limits",
                    "map",
                    required=True,
                    len_min=1,
                    keys={"type": "string"},
                    values={"type": "record", "required": True, "fields": [f(p, "number", gt=0) for p in PERIODS]},
                ),
            ],
            shorthand_fields=redis_shorthands("response-ratelimiting"),
        ),
        "session": _plugin(
            [
                # a random string Kong draws when it loads the schema (kong/plugins/session/schema.lua)
                f("secret", "string", required=False, default=SESSION_SECRET, encrypted=True, referenceable=True),
                f("storage", "string", one_of=["cookie", "kong"], default="cookie"),
                f("audience", "string", default="default"),
                f("idling_timeout", "number", default=900),
                f("rolling_timeout", "number", default=3600),
                f("absolute_timeout", "number", default=86400),
                f("stale_ttl", "number", default=10),
                f("cookie_name", "string", default="session"),
                f("cookie_path", "string", default="/"),
                f("cookie_domain", "string"),
                f("cookie_same_site", "string", default="Strict", one_of=["Strict", "Lax", "None", "Default"]),
                f("cookie_http_only", "boolean", default=True),
                f("cookie_secure", "boolean", default=True),
                f("remember", "boolean", default=False),
                f("remember_cookie_name", "string", default="remember"),
                f("remember_rolling_timeout", "number", default=604800),
                f("remember_absolute_timeout", "number", default=2592000),
                *[
                    f("response_headers" if i == 0 else "request_headers", "set", elements=SESSION_HEADERS)
                    for i in range(2)
                ],
                f("read_body_for_logout", "boolean", default=False),
                f(
                    "logout_methods",
                    "set",
                    elements={"type": "string", "one_of": ["GET", "POST", "DELETE"]},
                    default=["POST", "DELETE"],
                ),
                f("logout_query_arg", "string", default="session_logout"),
                f("logout_post_arg", "string", default="session_logout"),
            ],
            shorthand_fields=[
                f("cookie_lifetime", "number"),
                f("cookie_idletime", "number"),
                f("cookie_renew", "number"),
                f("cookie_discard", "number"),
                f("cookie_samesite", "string"),
                f("cookie_httponly", "boolean"),
                f("cookie_persistent", "boolean"),
            ],
        ),
        "statsd": _plugin(
            [
                f("host", "string", default="localhost"),
                port("port", default=8125),
                f("prefix", "string", default="kong"),
                f(
                    "metrics",
                    "array",
                    default=STATSD_METRICS,
                    elements={
                        "type": "record",
                        "fields": [
                            f(
                                "name",
                                "string",
                                required=True,
                                one_of=[
                                    *("kong_latency", "latency", "request_count", "request_per_user", "request_size"),
                                    *("response_size", "status_count", "status_count_per_user", "unique_users"),
                                    *("upstream_latency", "status_count_per_workspace"),
                                    *("status_count_per_user_per_route", "shdict_usage"),
                                ],
                            ),
                            f(
                                "stat_type",
                                "string",
                                required=True,
                                one_of=["counter", "gauge", "histogram", "meter", "set", "timer"],
                            ),
                            f("sample_rate", "number", gt=0),
                            f("consumer_identifier", "string", one_of=CONSUMER_IDENTIFIERS),
                            f("service_identifier", "string", one_of=SERVICE_IDENTIFIERS),
                            f("workspace_identifier", "string", one_of=WORKSPACE_IDENTIFIERS),
                        ],
                    },
                ),
                f("allow_status_codes", "array", elements={"type": "string", "match": "^[0-9]+-[0-9]+$"}),
                f("udp_packet_size", "number", between=[0, 65507], default=0),
                f("use_tcp", "boolean", default=False),
                f("hostname_in_prefix", "boolean", default=False),
                f(
                    "consumer_identifier_default",
                    "string",
                    required=True,
                    default="custom_id",
                    one_of=CONSUMER_IDENTIFIERS,
                ),
                f(
                    "service_identifier_default",
                    "string",
                    required=True,
                    default="service_name_or_host",
                    one_of=SERVICE_IDENTIFIERS,
                ),
                f(
                    "workspace_identifier_default",
                    "string",
                    required=True,
                    default="workspace_id",
                    one_of=WORKSPACE_IDENTIFIERS,
                ),
                _deprecated("retry_count", "integer"),
                _deprecated("queue_size", "integer"),
                _deprecated("flush_timeout", "number"),
                f("tag_style", "string", required=False, one_of=["dogstatsd", "influxdb", "librato", "signalfx"]),
                QUEUE,
            ]
        ),
    }
)


# kong/llm/schemas/init.lua: the `llm` config of the AI plugins (ai-proxy's whole config, the transformers' `llm`)
def llm_fields() -> list[Field]:
    optional = {"required": False}
    return [
        f("route_type", "string", required=True, one_of=["llm/v1/chat", "llm/v1/completions", "preserve"]),
        record(
            "auth",
            [
                f("header_name", "string", required=False, referenceable=True),
                f("header_value", "string", required=False, encrypted=True, referenceable=True),
                f("param_name", "string", required=False, referenceable=True),
                f("param_value", "string", required=False, encrypted=True, referenceable=True),
                f("param_location", "string", required=False, one_of=["query", "body"]),
                f("gcp_use_service_account", "boolean", required=False, default=False),
                f("gcp_service_account_json", "string", required=False, referenceable=True),
                f("aws_access_key_id", "string", required=False, encrypted=True, referenceable=True),
                f("aws_secret_access_key", "string", required=False, encrypted=True, referenceable=True),
                f("allow_override", "boolean", required=False, default=False),
            ],
            **optional,
        ),
        record(
            "model",
            [
                f(
                    "provider",
                    "string",
                    required=True,
                    one_of=[
                        *("openai", "azure", "anthropic", "cohere", "mistral", "llama2", "gemini", "bedrock"),
                        "huggingface",
                    ],
                ),
                f("name", "string", required=False),
                record(
                    "options",
                    [
                        f("max_tokens", "integer", required=False),
                        f("input_cost", "number", required=False, gt=0),
                        f("output_cost", "number", required=False, gt=0),
                        f("temperature", "number", required=False, between=[0.0, 5.0]),
                        f("top_p", "number", required=False, between=[0, 1]),
                        f("top_k", "integer", required=False, between=[0, 500]),
                        f("anthropic_version", "string", required=False),
                        f("azure_instance", "string", required=False),
                        f("azure_api_version", "string", required=False, default="2023-05-15"),
                        f("azure_deployment_id", "string", required=False),
                        f("llama2_format", "string", required=False, one_of=["raw", "openai", "ollama"]),
                        f("mistral_format", "string", required=False, one_of=["openai", "ollama"]),
                        f("upstream_url", "string", required=False),
                        f("upstream_path", "string", required=False),
                        record(
                            "gemini",
                            [
                                f("api_endpoint", "string", required=False),
                                f("project_id", "string", required=False),
                                f("location_id", "string", required=False),
                            ],
                            **optional,
                        ),
                        record("bedrock", [f("aws_region", "string", required=False)], **optional),
                        record(
                            "huggingface",
                            [f("use_cache", "boolean", required=False), f("wait_for_model", "boolean", required=False)],
                            **optional,
                        ),
                    ],
                    **optional,
                ),
            ],
            required=True,
        ),
        record(
            "logging",
            [
                f("log_statistics", "boolean", required=True, default=False),
                f("log_payloads", "boolean", required=True, default=False),
            ],
            required=True,
        ),
    ]


LLM_FORMAT = f("llm_format", "string", default="openai", required=False, one_of=["openai", "bedrock", "gemini"])
MAX_REQUEST_BODY_SIZE = f("max_request_body_size", "integer", default=8 * 1024, gt=0)


def _ai_transformer(fields: list[Field]) -> dict[str, Any]:
    """ai-request-transformer and ai-response-transformer: their own fields, then the HTTP client and the llm."""
    return _plugin(
        [
            *fields,
            f("http_timeout", "integer", required=True, default=60000),
            f("https_verify", "boolean", required=True, default=True),
            MAX_REQUEST_BODY_SIZE,
            f("http_proxy_host", "string"),
            port("http_proxy_port"),
            f("https_proxy_host", "string"),
            port("https_proxy_port"),
            record("llm", llm_fields()),
        ]
    )


def _prompt() -> dict[str, Any]:
    return {
        "type": "record",
        "required": False,
        "fields": [
            f("role", "string", required=True, one_of=["system", "assistant", "user"], default="system"),
            f("content", "string", required=True, len_min=1, len_max=500),
        ],
    }


PLUGINS.update(
    {
        "ai-prompt-decorator": _plugin(
            [
                record(
                    "prompts",
                    [
                        f("prepend", "array", elements=_prompt(), required=False, len_max=15),
                        f("append", "array", elements=_prompt(), required=False, len_max=15),
                    ],
                    required=False,
                ),
                MAX_REQUEST_BODY_SIZE,
                LLM_FORMAT,
            ]
        ),
        "ai-prompt-guard": _plugin(
            [
                *[
                    f(
                        name,
                        "array",
                        required=False,
                        len_max=10,
                        elements={"type": "string", "len_min": 1, "len_max": 500},
                    )
                    for name in ("allow_patterns", "deny_patterns")
                ],
                f("allow_all_conversation_history", "boolean", required=True, default=False),
                MAX_REQUEST_BODY_SIZE,
                f("match_all_roles", "boolean", required=True, default=False),
                LLM_FORMAT,
            ]
        ),
        "ai-prompt-template": _plugin(
            [
                f(
                    "templates",
                    "array",
                    elements={
                        "type": "record",
                        "required": True,
                        "fields": [f("name", "string", required=True), f("template", "string", required=True)],
                    },
                    required=True,
                ),
                f("allow_untemplated_requests", "boolean", required=True, default=True),
                f("log_original_request", "boolean", required=True, default=False),
                MAX_REQUEST_BODY_SIZE,
            ]
        ),
        "ai-proxy": _plugin(
            [
                *llm_fields(),
                f("response_streaming", "string", required=False, default="allow", one_of=["allow", "deny", "always"]),
                MAX_REQUEST_BODY_SIZE,
                f("model_name_header", "boolean", default=True),
                LLM_FORMAT,
            ]
        ),
        "ai-request-transformer": _ai_transformer(
            [f("prompt", "string", required=True), f("transformation_extract_pattern", "string", required=False)]
        ),
        "ai-response-transformer": _ai_transformer(
            [
                f("prompt", "string", required=True),
                f("transformation_extract_pattern", "string", required=False),
                f("parse_llm_response_json_instructions", "boolean", required=True, default=False),
            ]
        ),
    }
)

# typedefs.no_consumer in these plugins' schemas: Kong refuses them on a consumer ("value must be null")
for _name in (
    *("acl", "acme", "ai-request-transformer", "basic-auth", "bot-detection", "cors", "hmac-auth", "jwt"),
    *("key-auth", "ldap-auth", "oauth2", "post-function", "pre-function", "session", "standard-webhooks"),
):
    if _name in PLUGINS:
        PLUGINS[_name]["fields"].append(foreign("consumer", "consumers", eq=None))


# typedefs.protocols_http in these plugins' schemas: protocols one of the http ones; every other plugin's
# typedefs.protocols takes any of constants.PROTOCOLS
PROTOCOLS_HTTP_PLUGINS = frozenset(
    {
        *("key-auth", "basic-auth", "jwt", "acl", "rate-limiting", "cors", "request-termination", "correlation-id"),
        *("request-size-limiting", "bot-detection", "oauth2", "response-transformer", "aws-lambda", "hmac-auth"),
        *("ldap-auth", "redirect", "standard-webhooks", "acme", "opentelemetry", "response-ratelimiting"),
        *("ai-prompt-decorator", "ai-prompt-guard", "ai-prompt-template", "ai-proxy", "ai-request-transformer"),
        "ai-response-transformer",
    }
)
for _name, _schema in PLUGINS.items():
    _protocols = _schema["fields"][0]["protocols"]
    _protocols["elements"]["one_of"] = HTTP_PROTOCOLS if _name in PROTOCOLS_HTTP_PLUGINS else PROTOCOLS
PLUGINS["ip-restriction"]["fields"][0]["protocols"]["default"] = ["http", "https", "tcp", "tls", "grpc", "grpcs"]


# rate-limiting's and response-ratelimiting's `policy` as a DB-less Kong (or a control plane) loads it: no
# `cluster`, which needs the database (their schema.lua, is_dbless()).
DBLESS_PLUGINS = copy.deepcopy(PLUGINS)
for _name in ("rate-limiting", "response-ratelimiting"):
    for _field in DBLESS_PLUGINS[_name]["fields"][1]["config"]["fields"]:
        if "policy" in _field:
            _field["policy"]["one_of"] = ["local", "redis"]
