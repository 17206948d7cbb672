"""Kong plugin config and live values -> the catalog's own values (the small reverse mappings dump needs)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from gatewayctl.catalog.model import Cors, SecurityHeaders
from gatewayctl.plan.normalise import field_specs, fold_shorthands, shorthand_paths


def cors(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"origins": config.get("origins")}
    for key in ("methods", "headers", "exposed_headers"):
        if config.get(key) is not None:
            out[key] = config[key]
    out["credentials"] = config.get("credentials")
    if config.get("max_age") is not None:
        out["max_age"] = duration(int(config["max_age"]) * 1000)
    out["preflight_continue"] = config.get("preflight_continue")
    out["private_network"] = config.get("private_network")
    return non_default(Cors, {k: v for k, v in out.items() if v is not None}, keep=("origins",))


SECURITY_HEADER = re.compile(r"^Strict-Transport-Security:max-age=(\d+); includeSubDomains$")


def security_headers(config: dict[str, Any]) -> dict[str, Any] | None:
    """The `security_headers` mapping the response-transformer plugin was rendered from, or None when it
    is not that plugin's shape."""
    headers = ((config.get("add") or {}).get("headers")) or []
    if len(headers) != 5:
        return None
    hsts = SECURITY_HEADER.match(str(headers[0]))
    prefixes = ("X-Content-Type-Options:nosniff", "X-Frame-Options:", "Content-Security-Policy:", "Referrer-Policy:")
    if (
        not hsts
        or headers[1] != prefixes[0]
        or not all(str(h).startswith(p) for h, p in zip(headers[2:], prefixes[1:], strict=True))
    ):
        return None
    out = {
        "hsts_max_age": duration(int(hsts.group(1)) * 1000),
        "frame_options": str(headers[2]).split(":", 1)[1],
        "content_security_policy": str(headers[3]).split(":", 1)[1],
        "referrer_policy": str(headers[4]).split(":", 1)[1],
    }
    return non_default(SecurityHeaders, out)


def duration(ms: int) -> str:
    """A catalog duration for a number of milliseconds, in the largest unit that is exact."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def non_default(model: type[BaseModel], values: dict[str, Any], keep: Iterable[str] = ()) -> dict[str, Any]:
    """`values` without the keys whose value is the catalog model's own default (the catalog stays short)."""
    out: dict[str, Any] = {}
    fields = model.model_fields
    for key, value in values.items():
        spec = fields.get(key)
        if key in keep or spec is None:
            out[key] = value
            continue
        default = spec.get_default(call_default_factory=True)
        plain = getattr(default, "text", default)  # Duration defaults compare by their text
        if value == plain or (value is None and default is None):
            continue
        out[key] = value
    return out


def strip_defaults(
    config: dict[str, Any],
    specs: list[tuple[str, dict[str, Any]]],
    shorthands: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> dict[str, Any]:
    """A plugin config without the values Kong's schema fills in by itself (nulls included), and without the
    deprecated shorthands Kong shows again on reads (`redis_password` for `redis.password`): they repeat
    another field, under a name no secret check knows."""
    config = fold_shorthands(config, shorthands)
    known = dict(specs)
    out: dict[str, Any] = {}
    for key, value in config.items():
        spec = known.get(key)
        if spec is None:
            if value is not None:
                out[key] = value
            continue
        default = spec.get("default")
        if spec.get("type") == "record" and isinstance(value, dict) and spec.get("fields"):
            nested = strip_defaults(value, field_specs(spec), shorthand_paths(spec))
            if nested or (default is not None and value != default):
                out[key] = nested
            continue
        if value is None and default is None:
            continue
        if value == default:
            continue
        out[key] = value
    return out


def fk(value: Any) -> str | None:
    return str(value["id"]) if isinstance(value, dict) and value.get("id") else None
