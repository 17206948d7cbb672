"""Both sides of a diff brought to the same shape with the defaults the live Kong reports in `/schemas`,
so that a field the catalog leaves out and Kong fills in is not a change (decK's phantom diffs, #1571,
#2166) and timestamps never are (#293).

Schemas have Kong's JSON form (`GET /schemas/services`, `GET /schemas/plugins/<name>`):
`{"fields": [{"name": {"type": "string", "default": ...}}, {"config": {"type": "record", "fields": [...]}}]}`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import Any

Schema = dict[str, Any]
FieldSpec = dict[str, Any]
SKIPPED = frozenset({"id", "created_at", "updated_at"})


def field_specs(schema: Schema | None) -> list[tuple[str, FieldSpec]]:
    if not schema:
        return []
    fields = schema.get("fields") or []
    # Called for every record of every entity (40,000 times for 10,000 entities): the list is kept with
    # the fields list it was made from, which identifies it (schemas are not changed once fetched).
    cached = _SPECS.get(id(fields))
    if cached is not None and cached[0] is fields:
        return cached[1]
    specs = [next(iter(f.items())) for f in fields if isinstance(f, dict) and f]
    if len(_SPECS) > 10_000:
        _SPECS.clear()
    _SPECS[id(fields)] = (fields, specs)
    return specs


_SPECS: dict[int, tuple[Any, list[tuple[str, FieldSpec]]]] = {}


def plugin_schema(base: Schema | None, plugin: Schema | None) -> Schema | None:
    """The generic plugin entity's fields (`/schemas/plugins`) with a plugin's own (`/schemas/plugins/<name>`:
    config, protocols, scope restrictions) in their place."""
    if base is None and plugin is None:
        return None
    own = dict(field_specs(plugin))
    fields = [{name: own.pop(name, spec)} for name, spec in field_specs(base)]
    fields += [{name: spec} for name, spec in own.items()]
    return {"fields": fields}


def normalise(body: dict[str, Any], schema: Schema | None) -> dict[str, Any]:
    """Every schema field present (defaults filled in, sets sorted, foreign keys reduced to their id);
    fields the schema does not know are kept as they are; ids and timestamps dropped."""
    specs = field_specs(schema)
    if not specs:
        return {k: _plain(v) for k, v in body.items() if k not in SKIPPED and v is not None}
    normalised: dict[str, Any] = _record_normaliser(specs, top=True, shorthands=shorthand_paths(schema))(body)
    return normalised


def shorthand_paths(spec: Schema | FieldSpec | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(name, path of the field it stands for) of each deprecated shorthand of a record that names its
    replacement (`shorthand_fields`, `deprecation.replaced_with`): rate-limiting's `redis_host` for
    `redis.host`. Kong 3.9 takes one for its replacement on a write and shows it again, with the
    replacement's value, on every read (kong/db/schema/init.lua process_auto_fields), so it is no field of
    its own: without this, every read would differ from a catalog that does not name it."""
    out = []
    for field in (spec or {}).get("shorthand_fields") or []:
        if not isinstance(field, dict) or not field:
            continue
        name, data = next(iter(field.items()))
        replaced = ((data or {}).get("deprecation") or {}).get("replaced_with") or []
        path = replaced[0].get("path") if replaced and isinstance(replaced[0], dict) else None
        if path:
            out.append((name, tuple(path)))
    return tuple(out)


def fold_shorthands(value: dict[str, Any], shorthands: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, Any]:
    """`value` without its shorthands, each one's value moved to the field it stands for unless that is set
    (as Kong does: the field wins over a deprecated shorthand)."""
    if not any(name in value for name, _ in shorthands):
        return value
    value = dict(value)
    for name, path in shorthands:
        given = value.pop(name, None)
        if given is None:
            continue
        parent = value
        for key in path[:-1]:
            child = parent.get(key)
            parent[key] = dict(child) if isinstance(child, dict) else {}  # a copy: the caller's body stays
            parent = parent[key]
        if parent.get(path[-1]) is None:
            parent[path[-1]] = given
    return value


# Each schema is turned once into closures that know their field's type, default and nested fields, so
# that normalising 10,000 entities (both sides of a plan) does not read the same field specs 300,000
# times. Keyed by the identity of the spec objects, which a run's schema cache keeps alive and unchanged.
Normaliser = Callable[[Any], Any]
_RECORDS: dict[tuple[int, bool], tuple[Any, Normaliser]] = {}
_VALUES: dict[int, tuple[Any, Normaliser]] = {}


def _record_normaliser(
    specs: list[tuple[str, FieldSpec]], top: bool = False, shorthands: tuple[tuple[str, tuple[str, ...]], ...] = ()
) -> Normaliser:
    # the shorthands belong to the record whose field list `specs` is: the same for the same list
    cached = _RECORDS.get((id(specs), top))
    if cached is not None and cached[0] is specs:
        return cached[1]
    skip = SKIPPED if top else frozenset()
    fields = [(name, _value_normaliser(spec)) for name, spec in specs if name not in skip]
    known = frozenset(name for name, _ in fields) | skip

    def record(value: Any) -> dict[str, Any]:
        value = value or {}
        if shorthands:
            value = fold_shorthands(value, shorthands)
        get = value.get
        out = {name: normalise_field(get(name)) for name, normalise_field in fields}
        if not value.keys() <= known:  # fields this schema does not know: kept, in their order
            for name, v in value.items():
                if name not in known:
                    out[name] = _plain(v)
        return out

    _remember(_RECORDS, (id(specs), top), specs, record)
    return record


def _value_normaliser(spec: FieldSpec) -> Normaliser:
    cached = _VALUES.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    convert = _converter(spec)
    kind, default = spec.get("type"), spec.get("default")
    if default is not None and type(default) in _IMMUTABLE:
        normal_default = convert(default)

        def value_or_constant(value: Any) -> Any:
            return normal_default if value is None else convert(value)

        normaliser = value_or_constant
    elif default is not None:

        def value_or_default(value: Any) -> Any:  # a fresh copy: callers may change what they get
            return convert(copy.deepcopy(default) if value is None else value)

        normaliser = value_or_default
    elif kind == "record" and not spec.get("abstract") and (spec.get("fields") or spec.get("required")):
        # Kong expands a missing record to its structure, a required one even with no fields (acme's
        # storage_config.kong is {}); an optional one is null there, filled alike on both sides here

        def value_or_record(value: Any) -> Any:
            return convert({} if value is None else value)

        normaliser = value_or_record
    else:

        def value_or_none(value: Any) -> Any:
            return None if value is None else convert(value)

        normaliser = value_or_none
    _remember(_VALUES, id(spec), spec, normaliser)
    return normaliser


def _converter(spec: FieldSpec) -> Normaliser:
    """A present value's normal form, by the field's type."""
    kind = spec.get("type")
    if kind == "foreign":
        return lambda value: {"id": value.get("id")} if isinstance(value, dict) else value
    if kind == "record":
        nested = field_specs(spec)
        inner = _record_normaliser(nested, shorthands=shorthand_paths(spec)) if nested else _plain
        return lambda value: inner(value) if isinstance(value, dict) else _plain(value)
    if kind in ("array", "set"):
        elements = spec.get("elements") or {}
        element = _value_normaliser(elements) if elements.get("type") == "record" else _plain
        as_set = kind == "set"

        def sequence(value: Any) -> Any:
            if not isinstance(value, list):
                return _plain(value)
            if element is _plain and all(type(v) is str for v in value):  # tags, methods, protocols
                return sorted(set(value)) if as_set else list(value)
            items = [element(v) for v in value]
            if not as_set:
                return items
            if all(type(i) is str for i in items):  # tags, methods, protocols: no JSON text needed to sort them
                return sorted(set(items))
            unique = {json.dumps(i, sort_keys=True): i for i in items}
            return [unique[k] for k in sorted(unique)]

        return sequence
    if kind == "map":
        values = _value_normaliser(spec.get("values") or {})
        return lambda value: (
            {k: values(v) for k, v in sorted(value.items())} if isinstance(value, dict) else _plain(value)
        )
    return _plain


def _remember(cache: dict[Any, tuple[Any, Normaliser]], key: Any, owner: Any, normaliser: Normaliser) -> None:
    if len(cache) > 10_000:  # a long-lived process that fetched schemas again and again
        cache.clear()
    cache[key] = (owner, normaliser)


_IMMUTABLE = frozenset({str, int, float, bool})


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is bool or value is None:  # most values: no isinstance chain
        return value
    if kind is int:
        return value if -_EXACT_INTEGER_LIMIT < value < _EXACT_INTEGER_LIMIT else _as_kong_keeps(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return _as_kong_keeps(value)
    return value


# Numbers are compared to 14 significant digits, on both sides. Kong with Postgres keeps a plugin's config and
# an upstream's healthchecks as JSONB written by pgmoon with lua-cjson's own module at its default precision,
# "%.14g" (kong/db/strategies/postgres/init.lua escape_literal), and answers in 16 digits (kong/globalpatches.lua):
# a sample_ratio of 0.12345678901234567 reads back as 0.12345678901235 (DB-less, as 0.1234567890123457).
_SIGNIFICANT_DIGITS = 14
_EXACT_INTEGER_LIMIT = 10**_SIGNIFICANT_DIGITS  # an integer within it is written exactly in those digits


def _as_kong_keeps(value: float) -> int | float:
    """`value` rounded to the significant digits Kong keeps, an integer when it is whole."""
    if not math.isfinite(value):
        return value
    number = float(f"{value:.{_SIGNIFICANT_DIGITS}g}")
    return int(number) if number.is_integer() else number


def basic_auth_hash(password: str, consumer_id: str) -> str:
    """How Kong stores a basic-auth password: sha1(password .. consumer_id), hex
    (kong/plugins/basic-auth/crypto.lua). Comparing hashes finds a changed password without showing it."""
    return hashlib.sha1((password + consumer_id).encode()).hexdigest()


def oauth2_secret_hash(secret: str, stored: str) -> str | None:
    """`secret` hashed as Kong hashed the `stored` one, with its salt: Kong 3.9 keeps an oauth2 client_secret
    under hash_secret as a PHC string of PBKDF2 (kong/plugins/oauth2/secret.lua, the one algorithm it enables:
    `$pbkdf2-<digest>$i=<iterations>,l=<length>$<salt>$<hash>`, base64 without padding). None when `stored`
    is not one (argon2 or bcrypt from another build): then the two cannot be compared."""
    found = _PBKDF2_PHC.fullmatch(stored)
    if found is None or found["digest"] not in hashlib.algorithms_available:
        return None
    try:
        salt = base64.b64decode(found["salt"] + "=" * (-len(found["salt"]) % 4))
    except ValueError:
        return None
    digest = hashlib.pbkdf2_hmac(found["digest"], secret.encode(), salt, int(found["i"]), int(found["l"]))
    hashed = base64.b64encode(digest).decode().rstrip("=")
    return f"$pbkdf2-{found['digest']}$i={found['i']},l={found['l']}${found['salt']}${hashed}"


_PBKDF2_PHC = re.compile(
    r"\$pbkdf2-(?P<digest>\w+)\$i=(?P<i>\d{1,7}),l=(?P<l>\d{1,4})\$(?P<salt>[A-Za-z0-9+/]+)\$[A-Za-z0-9+/]+"
)
