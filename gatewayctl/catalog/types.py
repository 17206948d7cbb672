"""Value types of the catalog: each one a pydantic-annotated type with a plain-English error and a
JSON Schema that editors can complete against."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, PlainSerializer, PlainValidator, WithJsonSchema

from gatewayctl.catalog import units
from gatewayctl.catalog.secrets import REFERENCE, is_reference

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_NAME = re.compile(NAME_PATTERN)
_TAG = re.compile(r"^[\x21-\x7e]+$")
_HOST = re.compile(
    r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(\.\*)?(:\d{1,5})?$"
)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_METHOD = re.compile(r"^[A-Z]+$")
_SPACE = re.compile(r"\s")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        problem = "too long" if len(value) > 63 else "not a valid name"
        raise ValueError(
            f"{problem}: use 1-63 lowercase letters, digits and '-', starting and ending with a letter"
            f" or digit (got {value!r})"
        )
    return value


def _tag(value: str) -> str:
    if not _TAG.fullmatch(value) or "," in value or "/" in value:
        raise ValueError(f"Kong tags are printable ASCII without spaces, ',' or '/' (got {value!r})")
    return value


# URLs that urlsplit surely accepts (a known scheme, a host name, at most 5 port digits, a plain path):
# these skip it, which saves most of the time spent on urls; anything else takes the full check below.
PLAIN_URL = re.compile(
    r"^(?P<scheme>https?|grpcs?|tcp|tls)://(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*)(?::(?P<port>\d{1,5}))?"
    r"(?P<path>/[A-Za-z0-9._~/%-]*)?\Z"
)


def url_problem(value: str, *, http_only: bool = False) -> str | None:
    """Why `value` is not a URL the renderers can split, or None. The reason does not repeat the value:
    for a URL assembled from secret references at render time, the value holds a secret."""
    plain = PLAIN_URL.match(value)
    if plain and (plain["port"] is None or 0 < int(plain["port"]) <= 65535):
        scheme = plain["scheme"]
    else:
        parts = urlsplit(value)
        scheme = parts.scheme
        if scheme not in ("http", "https", "grpc", "grpcs", "tcp", "tls") or not parts.hostname:
            return "must be an absolute URL such as http://host:8080/path"
        try:
            # Port 0 is no port to connect to; the renderers would put the scheme's default in its place.
            if parts.port == 0:
                return "has an invalid port"
        except ValueError:
            return "has an invalid port"
    if http_only and scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    return None


def _url(value: str) -> str:
    if REFERENCE.search(value):
        return value  # resolved at render time, and checked then (LoadedCatalog.check_secrets)
    problem = url_problem(value)
    if problem:
        raise ValueError(f"{problem} (got {value!r})")
    return value


def _http_url(value: str) -> str:
    if REFERENCE.search(value):  # (a `${` that is no reference, `${vault:x}`, stays as written: checked now)
        return value
    problem = url_problem(value, http_only=True)
    if problem:
        raise ValueError(f"{problem} (got {value!r})")
    return value


def _host(value: str) -> str:
    if not _HOST.fullmatch(value) or value.count("*") > 1:
        raise ValueError(
            f"must be a host name, optionally with one leading '*.' or trailing '.*' wildcard (got {value!r})"
        )
    return value


# Look-ahead, look-behind, backreferences (numbered or named), atomic groups and possessive quantifiers:
# Python accepts them, Kong 3.x's router (the Rust `regex` crate in the ATC router) rejects the route.
_UNSUPPORTED_REGEX = re.compile(r"\(\?<?[=!]|\(\?>|\(\?P=|(?<!\\)\\[1-9]|\\k<|[*+?}]\+")


_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?=[A-Za-z_])")


# typedefs.path of Kong 3.9 (kong/db/schema/typedefs.lua validate_path): RFC 3986 path characters only
_KONG_PATH = re.compile(r"^/[A-Za-z0-9.\-_~/%:@!$&'()*+,;=]*$")
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_URI_RESERVED = frozenset("!*'();:@&=+$,/?%#[]")


def kong_percent_problem(path: str) -> str | None:
    """A `%` that starts no `%XX` escape, in Kong's words (validate_path); None when there is none."""
    raw = _PERCENT_ESCAPE.sub("___", path)
    if "%" not in raw:
        return None
    at = raw.index("%")
    return f"invalid url-encoded value: '{raw[at : at + 3]}'"


def kong_path_problem(path: str) -> str | None:
    """Why Kong 3.9 refuses `path` as a service path or a rate-limiting path (typedefs.path: starts_with "/",
    no empty segment, validate_path), in Kong's words; None when it takes it."""
    if not path.startswith("/"):
        return "should start with: /"
    if "//" in path:
        return "must not have empty segments"
    if not _KONG_PATH.fullmatch(path):
        return "characters outside of the reserved list of RFC 3986 found"
    return kong_percent_problem(path)


def kong_normalized_path(uri: str) -> str:
    """kong/tools/uri.lua normalize(uri, true), which a plain route path must already equal
    (typedefs.router_path): %XX of an unreserved character decoded, of a reserved one upper-cased, dot
    segments removed, slashes merged."""
    if uri in ("", "/"):
        return uri

    def decode(m: re.Match[bytes]) -> bytes:
        byte = int(m[1], 16)  # Lua's string.char: a byte, so %C3%A9 decodes to the two bytes of "é"
        return m[0].upper() if chr(byte) in _URI_RESERVED else bytes([byte])

    uri = re.sub(rb"%([0-9A-Fa-f]{2})", decode, uri.encode()).decode("utf-8", "replace")
    if "." not in uri and "//" not in uri:
        return uri
    out: list[str] = []
    while uri:
        if uri == "/.":
            uri = "/"
        elif uri == "/..":
            uri, out = "/", out[:-1]
        elif uri in (".", ".."):
            uri = ""
        elif uri.startswith("../"):
            uri = uri[3:]
        elif uri.startswith("./") or uri.startswith("/./"):
            uri = uri[2:]
        elif uri.startswith("/../"):
            uri, out = uri[3:], out[:-1]
        elif uri.startswith("//"):
            uri = uri[1:]
        else:
            cut = uri.find("/", 1)
            out.append(uri if cut < 0 else uri[:cut])
            uri = "" if cut < 0 else uri[cut:]
    return "".join(out)


def _route_path(value: str) -> str:
    if value.startswith("~"):
        pattern = value[1:]
        if not pattern.startswith("/"):
            raise ValueError(f'a regex path must start with "~/" (got {value!r})')
        # First: Python has no `\k<name>`, and "bad escape" would hide the reason Kong refuses it.
        unsupported = _UNSUPPORTED_REGEX.search(pattern)
        if unsupported:
            raise ValueError(
                f"Kong's router matches regex paths with Rust's regex engine, which has no look-around or "
                f"backreferences ({unsupported.group()!r} at position {unsupported.start() + 1}): {value!r}"
            )
        try:
            # Kong's documented named captures are `(?<name>...)`, which Python spells `(?P<name>...)`.
            re.compile(_NAMED_GROUP.sub("(?P<", pattern))
        except re.error as exc:
            raise ValueError(f"is not a valid regular expression: {exc.msg} at position {exc.pos}") from None
        return value
    if not value.startswith("/"):
        raise ValueError(f'must start with "/" (or "~/" for a regex) (got {value!r})')
    if _SPACE.search(value) or "//" in value:
        raise ValueError(f"must not contain spaces or empty segments (got {value!r})")
    if "%" not in value and "." not in value:
        return value  # nothing to decode and no dot segment: Kong's normal form is the path itself
    # typedefs.router_path validate_path_with_regexes: a bad %-escape, or a path Kong would normalize
    percent = kong_percent_problem(value)
    if percent:
        raise ValueError(f"Kong refuses {value!r}: {percent}")
    normalized = kong_normalized_path(value)
    if normalized != value:
        raise ValueError(f"Kong refuses a path it would normalize: write {normalized!r} (got {value!r})")
    return value


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"is not an IP address or CIDR block (got {value!r})") from None
        raise ValueError(f"has host bits set; did you mean {network}? (got {value!r})") from None
    return value


def _header_name(value: str) -> str:
    if not _HEADER_NAME.fullmatch(value):
        raise ValueError(f"is not a valid HTTP header name (got {value!r})")
    return value


def _method(value: str) -> str:
    if not _METHOD.fullmatch(value):
        hint = f"; did you mean {value.upper()!r}?" if _METHOD.fullmatch(value.upper()) else ""
        raise ValueError(f"HTTP methods are upper case letters{hint} (got {value!r})")
    return value


SECRET_ADVICE = (
    "secrets are never written literally: use ${env:NAME}, ${file:PATH} or a Kong vault reference {vault://...}"
)


def _secret(value: str) -> str:
    if not is_reference(value):
        raise ValueError(SECRET_ADVICE)
    return value


def _label_key(value: str) -> str:
    if not _LABEL_KEY.fullmatch(value):
        raise ValueError(f"is not a valid Kubernetes label key (got {value!r})")
    return value


def _label_value(value: str) -> str:
    if not _LABEL_VALUE.fullmatch(value):
        raise ValueError(f"is not a valid Kubernetes label value (got {value!r})")
    return value


def target_from_text(value: Any) -> Any:
    """`- 10.0.0.1:8080` is short for `- {target: 10.0.0.1:8080}`."""
    if isinstance(value, str):
        value = {"target": value}
    return value


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, ""
    if host.startswith("[") and host.endswith("]"):
        ipaddress.ip_address(host[1:-1])
    elif not _HOST.fullmatch(host) or "*" in host:
        raise ValueError(f"must be host:port (got {value!r})")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"has an invalid port (got {value!r})")
    return value


_KONG_HOST_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def kong_ipv6(address: str) -> str | None:
    """kong/tools/ip.lua normalize_ipv6 (tag 3.9.1) of an address without brackets or port: eight groups of one
    to four hex digits once a "::" is expanded, each written as four, in lower case; None when Kong refuses it
    (an IPv4 tail such as ::ffff:1.2.3.4, a zone such as %eth0, which Python's ipaddress takes)."""
    check = ("0" if address.startswith(":") else "") + address + ("0" if address.endswith(":") else "")
    if "::" in check:
        check = check.replace("::", ":" + "0:" * max(0, 8 - check.count(":")), 1)
    groups = check.split(":")
    if len(groups) != 8 or not all(_HEX_GROUP.fullmatch(g) for g in groups):
        return None
    return ":".join(g.rjust(4, "0") for g in groups).lower()


_HEX_GROUP = re.compile(r"[0-9A-Fa-f]{1,4}")


def kong_target(value: str) -> str | None:
    """A target as Kong keeps it (kong/db/dao/targets.lua format_target with kong/tools/ip.lua normalize_ip and
    format_host, tag 3.9.1): an IPv4 address without leading zeros, an IPv6 address written in full in
    brackets, a name as it is, each with its port or 8000; None when Kong refuses it."""
    if kong_address(value)[0]:
        return None
    if value.count(":") > 1:
        address, port = _split_ipv6(value)
        host = f"[{kong_ipv6(address)}]"
    else:
        host, _, port = value.partition(":")
        if _IPV4_LIKE.fullmatch(host):
            host = ".".join(str(int(part)) for part in host.split("."))
    return f"{host}:{int(port) if port else 8000}"  # the port read with tonumber: 08080 is kept as 8080


# kong/tools/ip.lua hostname_type: two colons or more make an IPv6 address, digits and dots an IPv4 one
_IPV4_LIKE = re.compile(r"[\d.]+")
_BRACKETED_IPV6 = re.compile(r"\[([^\]]*)\](?::(\d+))?")


def _split_ipv6(value: str) -> tuple[str, str | None]:
    """An IPv6 host, bare or [bracketed] with an optional port: (the address, the port or None)."""
    bracketed = _BRACKETED_IPV6.fullmatch(value)
    return (bracketed[1], bracketed[2]) if bracketed else (value, None)


def kong_address(value: str) -> tuple[str | None, bool]:
    """How Kong reads a host (kong/tools/ip.lua normalize_ip): an IPv4 or IPv6 address or a name, each with
    an optional port. (Why Kong refuses `value`, None when it takes it; whether it names a port.)"""
    if value.count(":") > 1:  # IPv6: bare, or [bracketed] with an optional port
        address, port = _split_ipv6(value)
        if kong_ipv6(address) is None:
            return "is not an IPv6 address", False
    else:
        address, colon, port = value.rpartition(":") if ":" in value else (value, "", "")
        if colon and not port.isdigit():
            return "is not a host name or IP address", False
        if _IPV4_LIKE.fullmatch(address):
            parts = address.split(".")
            if len(parts) != 4 or any(not 1 <= len(p) <= 3 or int(p) > 255 for p in parts):
                return "is not an IPv4 address", False
        else:
            labels = address.split(".")
            if not _KONG_HOST_NAME.fullmatch(address) or any(
                label.endswith("-") or (not label and i != len(labels) - 1) for i, label in enumerate(labels)
            ):
                return "is not a host name or IP address", False
    if port and int(port) > 65535:
        return "has a port above 65535", True
    return None, bool(port)


def _kong_host(value: str) -> str:
    """Kong's typedefs.host: an address or name without a port (a `${env:..}` reference is substituted at
    render time and checked once resolved, by Kong; a `${` that is no reference is text, checked now)."""
    if not REFERENCE.search(value):
        problem, has_port = kong_address(value)
        if problem or has_port:
            raise ValueError(f"Kong refuses the host {value!r}: it {problem or 'must not have a port'}")
    return value


def _kong_host_port(value: str) -> str:
    """Kong's typedefs.host_with_optional_port."""
    if not REFERENCE.search(value) and (problem := kong_address(value)[0]):
        raise ValueError(f"Kong refuses the host {value!r}: it {problem}")
    return value


def _remembered(check: Callable[[str], str]) -> Callable[[str], str]:
    """`check` with its accepted values remembered: a catalog repeats the same methods, hosts, tags, route
    and group names thousands of times, and a repeat is then answered in C without running `check` again.
    A rejected value raises every time (exceptions are not cached), with the same message."""
    return functools.lru_cache(maxsize=4096)(check)


Name = Annotated[str, AfterValidator(_remembered(_name)), WithJsonSchema({"type": "string", "pattern": NAME_PATTERN})]
Tag = Annotated[str, AfterValidator(_remembered(_tag))]
Url = Annotated[str, AfterValidator(_url), WithJsonSchema({"type": "string", "format": "uri"})]
HttpUrl = Annotated[str, AfterValidator(_http_url), WithJsonSchema({"type": "string", "format": "uri"})]
Host = Annotated[str, AfterValidator(_remembered(_host))]
HostPort = Annotated[str, AfterValidator(_remembered(_host_port))]
KongHost = Annotated[str, AfterValidator(_kong_host)]
KongHostPort = Annotated[str, AfterValidator(_kong_host_port)]
RoutePath = Annotated[str, AfterValidator(_route_path)]
Cidr = Annotated[str, AfterValidator(_remembered(_cidr))]
HeaderName = Annotated[str, AfterValidator(_remembered(_header_name))]
Method = Annotated[str, AfterValidator(_remembered(_method))]
LabelKey = Annotated[str, AfterValidator(_remembered(_label_key))]
LabelValue = Annotated[str, AfterValidator(_remembered(_label_value))]
Secret = Annotated[
    str,
    AfterValidator(_secret),
    WithJsonSchema({"type": "string", "pattern": r"^(\$\{(env|file):[^}]+\}|\{vault://[^}]+\})$"}),
]

Duration = Annotated[
    units.Duration,
    PlainValidator(units.parse_duration),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "pattern": units.DURATION_PATTERN, "examples": ["250ms", "5s", "1m"]}),
]
Seconds = Annotated[
    units.Duration,
    PlainValidator(units.parse_whole_seconds),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "pattern": units.DURATION_PATTERN, "examples": ["30s", "5m", "1d"]}),
]


def _at_most(limit: units.Duration, about: str) -> Callable[[units.Duration], units.Duration]:
    """A check that a duration is within the range the Kong field it becomes accepts (Kong refuses the
    whole configuration otherwise, at apply time)."""

    def check(value: units.Duration) -> units.Duration:
        if value.ms > limit.ms:
            raise ValueError(f"must be at most {limit}{about}, Kong's limit (got {value.text!r})")
        return value

    return check


def _not_zero(least: str, refuser: str) -> Callable[[units.Duration], units.Duration]:
    """A check that a duration is not 0, which the Kong field it becomes refuses (`refuser` says whose)."""

    def check(value: units.Duration) -> units.Duration:
        if value.ms == 0:
            raise ValueError(f"must be at least {least}: {refuser} of 0 (got {value.text!r})")
        return value

    return check


# Kong 3.9's default router (router_flavor traditional_compatible) packs a regex route's regex_priority
# into the route's priority with `lshift_uint64(regex_priority, 19)` (kong/router/transform.lua get_priority,
# tag 3.9.1), which, given a Lua number, is LuaJIT's 32-bit bit.lshift: only 0..1023 stay in the regex
# priority bits. 1024..4095 reach the bit a route's match weight (the kinds of fields it matches on) lands in,
# 4096..8191 and every negative value turn into the sign bit, which sets every high bit and so outranks every
# other route, and from 8192 on the value wraps round (8192 ranks as 0). Far beyond that, Kong's JSON reads a
# number past 2^53 rounded, Postgres (a BIGINT column) refuses one past 2^63 with a 500, and one past the
# double's range is "expected an integer".
REGEX_PRIORITY_MAX = 1023


def _regex_priority(value: int) -> int:
    if not 0 <= value <= REGEX_PRIORITY_MAX:
        raise ValueError(
            f"must be between 0 and {REGEX_PRIORITY_MAX}: Kong 3.9's router keeps only that range in order (a larger "
            f"or negative value outranks routes that match on more fields, or wraps round) (got {value})"
        )
    return value


KongRegexPriority = Annotated[
    int,
    AfterValidator(_regex_priority),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": REGEX_PRIORITY_MAX}),
]
# Kong's `timeout` fields (Redis timeouts, ...) are milliseconds between 0 and 2^31 - 2.
KongTimeout = Annotated[Duration, AfterValidator(_at_most(units.Duration(2**31 - 2, "2147483646ms"), " (24.8 days)"))]
# A service's connect/read/write timeouts are Kong's `nonzero_timeout` (services.lua): between 1 and 2^31 - 2.
KongServiceTimeout = Annotated[KongTimeout, AfterValidator(_not_zero("1ms", "Kong refuses a service timeout"))]
# An upstream's health check interval and timeout are seconds between 0 and 65535 (upstreams.lua `seconds`).
KongHealthSeconds = Annotated[Duration, AfterValidator(_at_most(units.Duration(65_535_000, "65535s"), " (18.2 hours)"))]
# jwt `maximum_expiration` is at most 31536000 seconds.
JwtMaximumExpiration = Annotated[Seconds, AfterValidator(_at_most(units.Duration(31_536_000_000, "365d"), ""))]
# proxy-cache's `cache_ttl` is an integer > 0 (its schema.lua: gt = 0).
CacheTtl = Annotated[Seconds, AfterValidator(_not_zero("1s", "Kong's proxy-cache refuses a cache_ttl"))]
# An entity's `ttl` (a key-auth credential's) is at most DAO_MAX_TTL, 1e8 seconds (kong/constants.lua, checked by
# kong/db/dao/init.lua validate_options_value at 3.9.1; DB-less Kong's declarative import does not check it).
KongTtl = Annotated[Seconds, AfterValidator(_at_most(units.Duration(100_000_000_000, "100000000s"), " (1157 days)"))]
DurationRange = Annotated[
    units.DurationRange,
    PlainValidator(units.parse_duration_range),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(ms|s|m|h|d)\.\.\d+(ms|s|m|h|d)$"}),
]
Size = Annotated[
    units.Size,
    PlainValidator(units.parse_size),
    PlainSerializer(str),
    WithJsonSchema({"oneOf": [{"type": "string", "pattern": units.SIZE_PATTERN}, {"type": "integer", "minimum": 0}]}),
]
