"""Mutation fuzzing of the catalog front end: the example catalogs (and the emulator tests' catalogs), each
mutated structurally (a key deleted, duplicated or renamed, a value's type swapped, emptied, made huge, odd
unicode, extreme numbers, aliases, merge keys, tags, overlays (some adding an item whose name is close to a base
item's), `${env:}`/`${file:}` references in odd places, secrets whose values hold `$`, quotes or white space)
or textually (tabs, a BOM, CRLF, several documents, a byte flipped, the file cut short), then run through
`gatewayctl validate` and `gatewayctl render --out DIR` in-process.

Whatever the mutant, the promise holds: exit 0 or 1, never a traceback, no secret's value shown; an exit 1
prints located diagnostics (`catalog.yaml:L:C: path: message`, inside the file) and a summary counting them,
and render writes nothing; an exit 0 render wrote parseable files, and the Kong configuration it wrote is one
the Kong emulator (Kong 3.9's schemas) loads. validate and render agree: a catalog validate accepts renders (bar
secrets it cannot resolve), and one whose base validate refuses does not render.

Deterministic: a fixed seed (`GATEWAYCTL_FUZZ_SEED`, default below) and a fixed count
(`GATEWAYCTL_FUZZ_COUNT`, a few hundred mutants in the normal suite; thousands for a longer local run:
`GATEWAYCTL_FUZZ_COUNT=5000 .venv/bin/python -m pytest -q tests/test_fuzz_catalog.py`). A failure names the
mutant's number and writes the mutant to the test's tmp folder, to turn it into a tests/bad/ case.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from emulators.harness import CATALOG as KONG_TEST_CATALOG
from emulators.harness import KUMA_CATALOG, SECRETS, ZIPKIN_SECRET
from emulators.kong import PLUGINS as KONG_PLUGINS
from emulators.kong import ApiError, KongState
from emulators.kong import route as kong_route
from emulators.kuma import BY_NAME, KumaState
from emulators.kuma import route as kuma_route

from gatewayctl.apply import dbless
from gatewayctl.catalog.load import load_catalog
from gatewayctl.cli import main
from gatewayctl.kong_plugins import ENTERPRISE_PLUGINS
from gatewayctl.render.kuma import build_kuma_objects, universal_form

EXAMPLES = Path(__file__).parents[1] / "examples"
BAD = Path(__file__).parent / "bad"
COUNT = int(os.environ.get("GATEWAYCTL_FUZZ_COUNT", "240"))
SEED = int(os.environ.get("GATEWAYCTL_FUZZ_SEED", "20261201"))
LOG = os.environ.get("GATEWAYCTL_FUZZ_LOG")
FILE = "catalog.yaml"
LOCATED = re.compile(r"^catalog\.yaml:(\d+):(\d+): (.*)$")
OVERLAY_PATH = re.compile(r"environments\.[^.:\s]+[.\[]")
SUMMARY = re.compile(r"^catalog\.yaml: (\d+) errors?(?:, \d+ warnings?)?(; nothing was written)?$")
# Kong Enterprise's plugins (opa, ...): the emulator is Kong OSS and has not their schemas.
ENTERPRISE_ONLY = set(ENTERPRISE_PLUGINS) - set(KONG_PLUGINS)
KUMA_CHECKED: list[int] = []  # one entry per mutant whose Kuma objects were checked


def _example_env() -> dict[str, str]:
    environ = dict(SECRETS, **FEATURES_ENV, **ODD_SECRETS, ZIPKIN_URL=ZIPKIN_SECRET, FUZZ_SET="fuzz-value-0001")
    environ["FUZZ_EMPTY"] = ""
    for line in (EXAMPLES / "example.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            environ[key] = value
    return environ


# The keys the other seeds leave out (stream routes, deny lists, opa, Redis TLS, ...), each set once.
FEATURES = """\
format: 1
name: features
gateway:
  edition: enterprise
  rate_limit: {month: 100000, year: 1000000, by: ip, policy: local}
mesh:
  enabled: true
  access_log: {tcp: 'collector.logging:5170'}
consumers:
  - name: app
    groups: [users]
    credentials:
      jwt: [{key: app-issuer, secret: "${env:FEATURES_JWT_SECRET}"}]
      key_auth: [{key: "${env:FEATURES_APP_KEY}", ttl: 30d}]
      oauth2: [{name: app, client_id: app-client, client_secret: "${env:FEATURES_CLIENT_SECRET}", redirect_uris: ["https://app.example.com/cb"]}]
  - name: blocked
    groups: [blocked]
    credentials:
      key_auth: [{key: "${env:FEATURES_BLOCKED_KEY}"}]
services:
  - name: web
    url: http://web.default.svc:8080
    auth: [jwt, key-auth, oauth2]
    jwt: {key_claim_name: iss, cookie_names: [session], secret_is_base64: false, run_on_preflight: false}
    deny_groups: [blocked]
    ip_deny: [192.0.2.0/24]
    cors: {origins: ['https://app.example.com'], preflight_continue: true, private_network: true}
    authz: {opa: {url: 'http://opa.policy.svc:8181', policy: /v1/data/gateway/allow}}
    oauth2: {provision_key: "${env:FEATURES_PROVISION_KEY}", enable_implicit_grant: true, enable_password_grant: true}
    rate_limit:
      minute: 100
      policy: redis
      redis: {host: redis.default.svc, ssl: true, ssl_verify: true}
    routes:
      - name: pages
        paths: ['~/pages/[a-z]+$']
        regex_priority: 10
        preserve_host: true
        https_redirect_status_code: 308
        protocols: [https]
        snis: [app.example.com]
  - name: db
    url: tcp://db.default.svc:5432
    mesh:
      retries: {attempts: 2, on: [connect-failure, reset]}
      health_check: {path: /, interval: 10s, timeout: 2s, healthy_after: 1, unhealthy_after: 3}
    routes:
      - name: sql
        protocols: [tcp]
        sources: [{ip: 10.0.0.0/8, port: 40000}]
        destinations: [{ip: 10.1.0.1, port: 5432}]
  - name: pool
    upstream:
      slots: 100
      targets: [10.0.0.1:8080]
      health_check: {type: tcp, interval: 5s}
    routes:
      - {name: pool, paths: [/pool]}
"""
FEATURES_ENV = {
    "FEATURES_JWT_SECRET": "features-jwt-secret",
    "FEATURES_APP_KEY": "features-app-key",
    "FEATURES_BLOCKED_KEY": "features-blocked-key",
    "FEATURES_PROVISION_KEY": "features-provision-key",
    "FEATURES_CLIENT_SECRET": "features-client-secret",
}
# Secret values that env files, Kong and Grafana read differently from how they were written (see odd_secret);
# each holds "oddsecret", which no output may show.
ODD_SECRETS = {
    "FUZZ_DOLLAR": "pa$$oddsecret$1$HOME$",
    "FUZZ_QUOTES": 'it\'s "oddsecret" \\n \\ # not a comment',
    "FUZZ_SPACE": "  oddsecret padded\t",
    "FUZZ_BREAK": "two\noddsecret lines",
    "FUZZ_GRAFANA": "x${HOME}oddsecret%(key)s$__env{HOME}",
    "FUZZ_SHELL": "`id`;$(id)|&<>*?~!oddsecret\u00a0🦍",
}
STARTER = Path(__file__).parents[1] / "gatewayctl" / "templates" / "starter.yaml"
SEEDS: list[tuple[str, str]] = [(p.stem, p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))] + [
    ("kong-test", KONG_TEST_CATALOG),
    ("kuma-test", KUMA_CATALOG),
    ("features", FEATURES),
    ("starter", STARTER.read_text()),
]
# The bad corpus, a fifth of the seeds drawn: a mutation can mend a case, or break it further.
BAD_SEEDS = [(p.stem, p.read_text(encoding="utf-8", errors="surrogateescape")) for p in sorted(BAD.glob("*.yaml"))]

# --------------------------------------------------------------------------- values

ODD_STRINGS = [
    "",
    " ",
    "\t",
    "x",
    "🦍🚀",
    "\u202eevil\u202c",  # right-to-left override
    "שלום",
    "a\x00b",
    "line\nbreak",
    "\ufeffbom",
    "\u200b",
    "..",
    "/",
    "~/",
    "~/(",
    "-",
    "*",
    "http://",
    "http://[::1",
    "http://h:99999",
    "0.0.0.0/0",
    "::/0",
    "10.0.0.1/33",
    "null",
    "yes",
    "1e309",
    "${env:FUZZ_SET}",
    "${env:FUZZ_EMPTY}",
    "${env:FUZZ_UNSET}",
    "${env:}",
    "${file:}",
    "${env:1BAD}",
    "${file:keys}",
    "${file:/etc/hostname}",
    "${file:../outside}",
    "${file:missing.pem}",
    "$${env:FUZZ_SET}",
    "${env:FUZZ_SET}${env:FUZZ_SET}",
    "${env:${env:FUZZ_SET}}",
    "${vault:x}",
    "${ENV:FUZZ_SET}",
    "[bold]markup[/bold]",
    "%s%n{0}",
]
ODD_NUMBERS: list[Any] = [0, -1, 1, 2**31, 2**63, -(2**63), 2**64, 10**30, 0.5, -0.0, 1e-300, 1e308]
# Near the limits of Kong's and Kuma's fields (bytes, statuses, ports, int32, uint32).
EDGE_NUMBERS: list[Any] = [99, 100, 255, 256, 900, 901, 999, 1000, 65535, 65536, 2**31 - 2, 2**31 - 1, 2**32, 100.5]
EDGE_DURATIONS = ["0s", "0ms", "1ms", "999ms", "1500ms", "65535s", "65536s", "24d", "25d", "100000d", "1m", "0d"]
ODD_YAML_SCALARS = [
    "1.0e+309",
    "-1.0e+309",
    ".nan",
    ".inf",
    "-.inf",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    "0b101",
    "190:20:30",
    "2001-12-14t21:59:43.10-05:00",
    "2026-12-01",
    "~",
    "null",
    "Null",
    "NO",
    "on",
    "'on'",
    '"\\uD800"',  # a lone surrogate
    '"\\udfff\\ud800"',
    '"\\0"',
    '"\\x7f\\x1b[31m"',
    '"\\u202e"',
    "!!binary aGVsbG8=",
    "!!python/object:os.system {}",
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!!python/tuple [1, 2]",
    "!custom value",
    "!!set {a: null}",
    "!!omap [a: 1]",
    "!!pairs [a: 1]",
    "!!str 5",
    "!!int '12'",
    "!!int x",
    "!!float x",
    "!!bool maybe",
    "!!null x",
    "!!timestamp 2001-12-14",
    "!!map {}",
    "!!seq []",
    "!<tag:yaml.org,2002:str> x",
    "&a 1",
    "*nowhere",
    "{a: 1, a: 2}",
    "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
    "{? [1]: 2}",
    "{[1]: 2}",
    "{1: 2}",
    "{null: 1}",
    "{true: 1}",
    "|\n  block",
    ">-\n  folded",
    "'unterminated",
    '"unterminated',
    "[unclosed",
    "{unclosed",
    "@reserved",
    "`reserved",
    "%",
    "- in a value",
    "? complex",
]


def _odd_value(rng: random.Random, data_values: list[Any]) -> Any:
    """A value of some type, odd more often than not (plain data: safe_dump can write it)."""
    kind = rng.randrange(10)
    if kind == 0:
        return rng.choice(ODD_STRINGS)
    if kind == 1:
        return rng.choice(ODD_NUMBERS + EDGE_NUMBERS + EDGE_NUMBERS)
    if kind == 8:
        return rng.choice(EDGE_DURATIONS)
    if kind == 2:
        return rng.choice([None, True, False])
    if kind == 3:
        return rng.choice([[], {}, [None], [{}], [[]], {"x": None}])
    if kind == 4:
        return rng.choice(["a", "é", "/x", "🦍"]) * rng.choice([64, 256, 4097, 70_000])
    if kind == 5:
        return [rng.choice(ODD_STRINGS) for _ in range(rng.randrange(1, 4))]
    if kind == 6:
        return {rng.choice(["name", "paths", "url", "x", ""]): rng.choice(ODD_STRINGS)}
    # Another value of the same catalog: a realistic value in the wrong place.
    return copy.deepcopy(rng.choice(data_values)) if data_values else None


# --------------------------------------------------------------------------- walking the data

Path_ = tuple[Any, ...]


def _places(data: Any, path: Path_ = (), seen: set[int] | None = None) -> list[Path_]:
    """Every path in the data (containers and leaves), the root aside. A container met again (see `share`: an
    alias, maybe a cycle) is not walked again, or the paths would multiply with every alias."""
    seen = set() if seen is None else seen
    found: list[Path_] = []
    if id(data) in seen:
        return found
    seen.add(id(data))
    items: Any = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found.append((*path, key))
        found.extend(_places(value, (*path, key), seen))
    return found


def _get(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def _parent(data: Any, path: Path_) -> tuple[Any, Any]:
    return _get(data, path[:-1]), path[-1]


# --------------------------------------------------------------------------- structural mutations


def delete(rng: random.Random, data: Any, places: list[Path_]) -> None:
    parent, key = _parent(data, rng.choice(places))
    del parent[key]


def set_odd(rng: random.Random, data: Any, places: list[Path_]) -> None:
    parent, key = _parent(data, rng.choice(places))
    parent[key] = _odd_value(rng, [_get(data, p) for p in rng.sample(places, min(5, len(places)))])


_DURATION_TEXT = re.compile(r"^\d+(ms|s|m|h|d)$")


def edge_leaf(rng: random.Random, data: Any, places: list[Path_]) -> None:
    """A number or a duration replaced by one near the limits of the Kong or Kuma field it becomes."""
    leaves = [
        p
        for p in places
        if (isinstance(v := _get(data, p), int | float) and not isinstance(v, bool))
        or (isinstance(v, str) and _DURATION_TEXT.match(v))
    ]
    if leaves:
        parent, key = _parent(data, rng.choice(leaves))
        parent[key] = rng.choice(EDGE_DURATIONS if isinstance(parent[key], str) else EDGE_NUMBERS + ODD_NUMBERS)


def empty(rng: random.Random, data: Any, places: list[Path_]) -> None:
    parent, key = _parent(data, rng.choice(places))
    value = parent[key]
    parent[key] = type(value)() if isinstance(value, str | list | dict) else rng.choice(["", [], {}, None])


def rename_key(rng: random.Random, data: Any, places: list[Path_]) -> None:
    keyed = [p for p in places if isinstance(p[-1], str)]
    if not keyed:
        return
    parent, key = _parent(data, rng.choice(keyed))
    new = rng.choice([key + "s", key[:-1], key.upper(), key.replace("_", "-"), "", " " + key, "🦍", "${env:X}"])
    if new not in parent:
        parent[new] = parent.pop(key)


def swap_list_items(rng: random.Random, data: Any, places: list[Path_]) -> None:
    lists = [p for p in places if isinstance(_get(data, p), list) and len(_get(data, p)) > 1]
    if lists:
        items = _get(data, rng.choice(lists))
        i, j = rng.sample(range(len(items)), 2)
        items[i], items[j] = items[j], copy.deepcopy(items[i])  # j's copy: a duplicate name, often


def duplicate_item(rng: random.Random, data: Any, places: list[Path_]) -> None:
    lists = [p for p in places if isinstance(_get(data, p), list) and _get(data, p)]
    if lists:
        items = _get(data, rng.choice(lists))
        items.append(copy.deepcopy(rng.choice(items)))


def share(rng: random.Random, data: Any, places: list[Path_]) -> None:
    """The same container in two places: safe_dump writes an anchor and an alias."""
    containers = [p for p in places if isinstance(_get(data, p), dict | list)]
    if containers:
        target = rng.choice(places)
        parent, key = _parent(data, target)
        parent[key] = _get(data, rng.choice(containers))


def add_overlay(rng: random.Random, data: Any, places: list[Path_]) -> None:
    if not isinstance(data, dict):
        return
    overlays = data.setdefault("environments", {})
    if not isinstance(overlays, dict):
        return
    name = rng.choice(["prod", "staging", "dev", "", "🦍", "a b", "format"])
    choice = rng.randrange(6)
    if choice == 0:
        overlays[name] = rng.choice([None, [], "x", 1, {"format": 2}, {"environments": {}}, {"bogus": 1}])
    elif choice == 1 and data.get("services"):
        services = copy.deepcopy(data["services"])
        leaf_places = _places(services)
        if leaf_places:
            set_odd(rng, services, leaf_places)
        overlays[name] = {"services": services}
    else:
        section = rng.choice([k for k in data if k not in ("format", "environments")] or ["name"])
        overlays[name] = {section: _odd_value(rng, [data.get(section)])}


def _misspelt(rng: random.Random, name: str) -> str:
    """`name` as a typo makes it (or as a deliberate variant: a digit, a `-canary` part, which stay silent)."""
    at = rng.randrange(len(name))
    return rng.choice(
        [
            name[:at] + name[at + 1 :] if len(name) > 2 else name + "x",
            name[:at] + name[at] + name[at:],
            name[:at] + name[at + 1 : at + 2] + name[at] + name[at + 2 :],
            name + "s",
            name.upper(),
            name + "2",
            name + "-canary",
        ]
    )


def overlay_near_name(rng: random.Random, data: Any, places: list[Path_]) -> None:
    """An overlay adding a copy of a named list item (a service, a route, a consumer...) with its name misspelt,
    inside the items that hold it: the overlay's near-name warning, and whatever the added item breaks."""
    named = [
        p
        for p in places
        if isinstance(p[-1], int)
        and p[0] not in ("format", "environments")
        and isinstance(item := _get(data, p), dict)
        and isinstance(item.get("name"), str)
        and item["name"]
    ]
    if not named or not isinstance(data, dict) or not isinstance(data.get("environments", {}), dict):
        return
    path = rng.choice(named)
    item = _get(data, path)
    added: Any = copy.deepcopy(item) if rng.random() < 0.5 else {"name": item["name"]}
    added["name"] = _misspelt(rng, item["name"])
    for depth in range(len(path) - 1, -1, -1):  # wrapped in the items that hold it, named as in the base
        part, holder = path[depth], _get(data, path[:depth])
        if isinstance(part, int):
            added = [added]
        elif depth > 0 and isinstance(path[depth - 1], int) and isinstance(holder.get("name"), str):
            added = {"name": holder["name"], part: added}
        else:
            added = {part: added}
    data.setdefault("environments", {})[rng.choice(["prod", "staging", "dev"])] = added


def add_key(rng: random.Random, data: Any, places: list[Path_]) -> None:
    maps = [()] + [p for p in places if isinstance(_get(data, p), dict)]
    target = _get(data, rng.choice(maps))
    if isinstance(target, dict):
        target[rng.choice(["bogus", "name", "x-extra", "plugins", "tags", "mesh", "routes"])] = _odd_value(rng, [])


STRUCTURAL: list[Callable[[random.Random, Any, list[Path_]], None]] = [
    delete,
    set_odd,
    set_odd,
    set_odd,
    empty,
    edge_leaf,
    edge_leaf,
    rename_key,
    swap_list_items,
    duplicate_item,
    share,
    add_overlay,
    overlay_near_name,
    add_key,
]


_PARSED: dict[str, Any] = {}  # a seed's data, parsed once (libyaml: the pure-Python parser is 10x slower)


def structural(rng: random.Random, text: str) -> str:
    if text not in _PARSED:
        _PARSED.clear() if len(_PARSED) > 64 else None
        _PARSED[text] = yaml.load(text, Loader=yaml.CSafeLoader)
    data = copy.deepcopy(_PARSED[text])
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        places = _places(data)
        if not places:
            break
        rng.choice(STRUCTURAL)(rng, data, places)
    return str(
        yaml.dump(
            data,
            Dumper=yaml.CSafeDumper,
            sort_keys=False,
            allow_unicode=rng.random() < 0.5,
            width=rng.choice([80, 10**6]),
        )
    )


# --------------------------------------------------------------------------- textual mutations

_VALUE_LINE = re.compile(r"^( *)(- )?([A-Za-z_][\w-]*): (.+)$")
_KEY_LINE = re.compile(r"^( *)(?:- )?([A-Za-z_][\w-]*):")


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _pick(
    rng: random.Random, lines: list[str], pattern: re.Pattern[str], keep: Callable[[str], bool] = lambda line: True
) -> tuple[int, re.Match[str]] | None:
    """A line matching `pattern` (and `keep`), chosen at random, with its match; None when there is none."""
    candidates = [i for i, line in enumerate(lines) if pattern.match(line) and keep(line)]
    if not candidates:
        return None
    i = rng.choice(candidates)
    match = pattern.match(lines[i])
    assert match
    return i, match


def replace_scalar(rng: random.Random, text: str) -> str:
    """A `key: value` line's value replaced by odd YAML (tags, aliases, specials, broken quoting)."""
    lines = _lines(text)
    picked = _pick(rng, lines, _VALUE_LINE, lambda line: not line.lstrip().startswith("#"))
    if picked is None:
        return text
    i, match = picked
    indent, dash, key, _ = match.groups()
    odd = rng.choice(ODD_YAML_SCALARS)
    if "\n" in odd:
        odd = odd.replace("\n", "\n" + indent + ("  " if dash else "") + "  ")
    lines[i] = f"{indent}{dash or ''}{key}: {odd}"
    return "\n".join(lines)


def duplicate_key_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    picked = _pick(rng, lines, _VALUE_LINE)
    if picked is None:
        return text
    i, match = picked
    line = lines[i]
    copy_line = line if not match.group(2) else " " * (len(match.group(1)) + 2) + line.lstrip()[2:]
    lines.insert(i + 1, copy_line)
    return "\n".join(lines)


def merge_key(rng: random.Random, text: str) -> str:
    """`<<:` added before a key line: merging an inline mapping, an anchor defined there, or nonsense."""
    lines = _lines(text)
    picked = _pick(rng, lines, _KEY_LINE, lambda line: not line.lstrip().startswith("- "))
    if picked is None:
        return text
    i, match = picked
    indent = match.group(1)
    value = rng.choice(["{retries: 3}", "{}", "[{a: 1}, {b: 2}]", "1", "[1]", "*nowhere", "{name: merged}", "~"])
    lines.insert(i, f"{indent}<<: {value}")
    return "\n".join(lines)


def anchor_alias(rng: random.Random, text: str) -> str:
    """An anchor on one value, an alias to it at another value (maybe inside itself: a cycle)."""
    lines = _lines(text)
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line) and not line.lstrip().startswith("#")]
    if len(candidates) < 2:
        return text
    first, second = sorted(rng.sample(candidates, 2))
    m1 = _KEY_LINE.match(lines[first])
    m2 = _VALUE_LINE.match(lines[second]) or _KEY_LINE.match(lines[second])
    assert m1 and m2
    head = lines[first][: m1.end()]
    lines[first] = head + " &fz" + lines[first][m1.end() :]
    head2 = lines[second][: m2.end(3) + 1] if m2.re is _VALUE_LINE else lines[second][: m2.end()]
    lines[second] = head2 + " *fz"
    return "\n".join(lines)


def multiple_documents(rng: random.Random, text: str) -> str:
    return rng.choice(
        [
            text + "\n---\n" + text,
            "---\n" + text + "\n...\n",
            "%YAML 1.2\n---\n" + text,
            "%YAML 1.1\n%TAG ! tag:example.com,2000:\n---\n" + text,
            text + "\n---\n",
            "--- !!map\n" + text,
            "",
            "---\n",
            "# only a comment\n",
            "[]\n",
            "- " + text.replace("\n", "\n  "),
            "42\n",
            "~\n",
        ]
    )


def tab_indent(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    indented = [i for i, line in enumerate(lines) if line.startswith("  ")]
    if indented:
        i = rng.choice(indented)
        lines[i] = "\t" + lines[i][2:] if rng.random() < 0.5 else lines[i].replace(": ", ":\t", 1)
    return "\n".join(lines)


def line_endings(rng: random.Random, text: str) -> str:
    choice = rng.randrange(5)
    if choice == 0:
        return "\ufeff" + text
    if choice == 1:
        return text.replace("\n", "\r\n")
    if choice == 2:
        return text.replace("\n", "\r")
    if choice == 3:
        return "\ufeff" + text.replace("\n", "\r\n")
    return text.replace("\n", "\u2028", 1)


def reference_in_odd_place(rng: random.Random, text: str) -> str:
    """A `${env:...}`/`${file:...}` reference replacing a key, a number, a name, a path."""
    lines = _lines(text)
    picked = _pick(rng, lines, _VALUE_LINE)
    if picked is None:
        return text
    i, match = picked
    indent, dash, key, value = match.groups()
    reference = rng.choice([s for s in ODD_STRINGS if "${" in s])
    if rng.random() < 0.3:
        lines[i] = f"{indent}{dash or ''}'{reference}': {value}"
    else:
        lines[i] = f"{indent}{dash or ''}{key}: '{reference}'"
    return "\n".join(lines)


_ENV_REFERENCE = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*\}")


def odd_secret(rng: random.Random, text: str) -> str:
    """A `${env:...}` reference (a password, a key, a URL) swapped for one whose value holds `$`, quotes, white
    space, a line break, Grafana's expanders or shell characters (ODD_SECRETS)."""
    spots = list(_ENV_REFERENCE.finditer(text))
    if not spots:
        return text
    spot = rng.choice(spots)
    return text[: spot.start()] + "${env:" + rng.choice(list(ODD_SECRETS)) + "}" + text[spot.end() :]


def long_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    picked = _pick(rng, lines, _VALUE_LINE)
    if picked is None:
        return text
    i, match = picked
    filler = rng.choice(["a", "🦍", "é", " a"]) * rng.choice([1025, 20_000, 100_000])
    lines[i] = f"{match.group(1)}{match.group(2) or ''}{match.group(3)}: '{filler}'"
    return "\n".join(lines)


def deep_nesting(rng: random.Random, text: str) -> str:
    depth = rng.choice([30, 63, 64, 65, 200, 5000])
    return text + f"\nx-deep: {'[' * depth}{']' * depth}\n"


def byte_noise(rng: random.Random, text: str) -> bytes:
    raw = bytearray(text.encode("utf-8", "surrogateescape"))
    if not raw:
        return bytes(raw)
    for _ in range(rng.choice([1, 1, 2, 5])):
        at = rng.randrange(len(raw))
        choice = rng.randrange(4)
        if choice == 0:
            raw[at] = rng.randrange(256)
        elif choice == 1:
            del raw[at]
        elif choice == 2:
            raw.insert(at, rng.choice(b"\x00\t\r\n:{}[]&*!|>'\"%@`#,-?\xff\xc3"))
        else:
            raw[at:at] = raw[rng.randrange(len(raw)) :][: rng.randrange(1, 40)]
    return bytes(raw)


def truncate(rng: random.Random, text: str) -> bytes:
    raw = text.encode("utf-8", "surrogateescape")
    return raw[: rng.randrange(len(raw) + 1)]


TEXTUAL: list[Callable[[random.Random, str], str | bytes]] = [
    replace_scalar,
    replace_scalar,
    replace_scalar,
    duplicate_key_line,
    merge_key,
    anchor_alias,
    multiple_documents,
    tab_indent,
    line_endings,
    reference_in_odd_place,
    reference_in_odd_place,
    odd_secret,
    long_line,
    deep_nesting,
    byte_noise,
    truncate,
]


@dataclass
class Mutant:
    number: int
    seed_name: str
    how: str
    content: bytes
    env: str | None  # --env for render (validate checks every overlay without it)


def _encode(text: str) -> bytes:
    """The bytes of a mutant's text: a bad corpus case's bytes that are not UTF-8 come back as they were."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def make_mutant(number: int) -> Mutant:
    rng = random.Random(f"{SEED}:{number}")
    seed_name, text = rng.choice(BAD_SEEDS if rng.random() < 0.2 else SEEDS)
    steps: list[str] = []
    result: str | bytes = text
    for _ in range(rng.choice([1, 1, 1, 2])):
        if isinstance(result, bytes):
            break
        if rng.random() < 0.45:
            try:
                result = structural(rng, result)
            except Exception:  # a textual step made it YAML that PyYAML cannot build as data
                continue
            steps.append("structural")
        else:
            mutation = rng.choice(TEXTUAL)
            result = mutation(rng, result)
            steps.append(mutation.__name__)
    content = result if isinstance(result, bytes) else _encode(result)
    env = None
    if rng.random() < 0.3:
        env = rng.choice(["prod", "staging", "dev", "nope"])
    return Mutant(number, seed_name, "+".join(steps) or "none", content, env)


# --------------------------------------------------------------------------- running and judging


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int | str, str]:
    try:
        code: int | str = main(argv)
    except BaseException:  # any escape from main is the defect being looked for
        code = "raised"
        captured = capsys.readouterr()
        return code, captured.out + captured.err + traceback.format_exc()
    captured = capsys.readouterr()
    return code, captured.out + captured.err


_YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # the line breaks YAML counts


def _source_lines(content: bytes) -> list[str] | None:
    """The catalog's lines as YAML counts them (columns are characters), or None when it is not UTF-8."""
    try:
        return _YAML_LINE_BREAK.split(content.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def _diagnostic_problems(output: str, source: list[str] | None) -> list[str]:
    """An exit-1 output must have located diagnostics inside the file and a summary that counts them."""
    lines = output.splitlines()
    located = [m for m in map(LOCATED.match, lines) if m]
    summaries = [m for m in map(SUMMARY.match, lines) if m]
    if not located:
        return ["exit 1 without a located diagnostic"]
    problems = []
    for m in located:
        line, col = int(m.group(1)), int(m.group(2))
        if source is None:
            continue
        # A missing key is placed at the end of what holds it: one past the last line or character at most.
        width = len(source[line - 1].lstrip("\ufeff")) if 1 <= line <= len(source) else 0
        if not 1 <= line <= len(source) + 1 or not 1 <= col <= width + 1:
            problems.append(f"diagnostic outside the file ({len(source)} lines, {width} columns): {m.group(0)[:200]}")
    if len(summaries) != 1:
        problems.append("no single summary line")
    else:
        errors = sum(1 for m in located if ": warning: " not in m.group(3) and not m.group(3).startswith("warning: "))
        if int(summaries[0].group(1)) != errors:
            problems.append(f"summary says {summaries[0].group(1)} errors, {errors} printed")
    return problems


def _raw_plugin_names(data: Any) -> set[str]:
    """The plugins named in the catalog's `plugins:` maps (at any level)."""
    names: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "plugins" and isinstance(value, dict):
                names.update(str(k) for k in value)
            names |= _raw_plugin_names(value)
    elif isinstance(data, list):
        for item in data:
            names |= _raw_plugin_names(item)
    return names


def _kong_refusal(kong_yaml: Path, env: str | None) -> str | None:
    """What the Kong emulator (DB-less, Kong 3.9's schemas) says of the rendered configuration, if it refuses.
    Plugins written in a `plugins:` map are passed to Kong as written, and Kong judges them at diff/apply
    (`POST /schemas/plugins/validate`, docs/apply.md): their refusals are not validate's to catch."""
    state = KongState(dbless=True)
    # The declarative loader's checks are the schemas a DB-mode Kong checks each PUT with; a DB-mode catalog
    # may use the plugins a DB-less Kong does not load (oauth2), so every plugin's schema is loaded here.
    state.plugins = KONG_PLUGINS
    text = dbless.payload(yaml.safe_load(kong_yaml.read_text()))
    try:
        kong_route(state, "POST", "/config", {"flatten_errors": "1"}, {"config": text})
    except ApiError as exc:
        raw = _raw_plugin_names(load_catalog(FILE, env).data)
        refused = [
            e
            for e in exc.body.get("flattened_errors", [])
            if not (e["entity_type"] == "plugin" and e["entity"].get("name") in raw | ENTERPRISE_ONLY)
        ]
        if refused or not exc.body.get("flattened_errors"):
            return f"{exc.status} {json.dumps(refused or exc.body)[:2000]}"
    return None


def _kuma_refusals(env: str | None) -> list[str]:
    """What the Kuma emulator (Kuma 2.14's validators) refuses among the Kuma objects of the catalog as
    rendered: each PUT in the renderer's order (the Mesh first) to a fresh control plane, in-process."""
    loaded = load_catalog(FILE, env)
    if not loaded.catalog.mesh_enabled:
        return []
    state = KumaState()
    refused = []
    KUMA_CHECKED.append(1)
    for obj in build_kuma_objects(loaded.catalog, loaded.secrets()):
        path = f"/meshes/{obj.name}" if obj.mesh is None else f"/meshes/{obj.mesh}/{BY_NAME[obj.kind].path}/{obj.name}"
        try:
            kuma_route(state, "PUT", path, {}, json.loads(json.dumps(universal_form(obj))), "127.0.0.1")
        except ApiError as exc:
            refused.append(f"{obj.kind} {obj.name}: {exc.status} {json.dumps(exc.body)[:1000]}")
    return refused


def judge(mutant: Mutant, workdir: Path, capsys: pytest.CaptureFixture[str], outcomes: Counter[str]) -> list[str]:
    """Every broken promise for one mutant; `outcomes` counts how the commands ended."""
    catalog = workdir / FILE
    catalog.write_bytes(mutant.content)
    source = _source_lines(mutant.content)
    problems: list[str] = []
    env_args = ["--env", mutant.env] if mutant.env else []

    v_code, v_out = _run(capsys, ["validate", FILE])
    if v_code not in (0, 1) or "Traceback" in v_out:
        problems.append(f"validate: exit {v_code}: {v_out[-3000:]}")
    elif v_code == 1:
        problems += [f"validate: {p}" for p in _diagnostic_problems(v_out, source)]

    out_dir = workdir / "out"
    r_code, r_out = _run(capsys, ["render", FILE, "--out", "out", *env_args])
    written = _files(out_dir)
    if r_code not in (0, 1) or "Traceback" in r_out:
        problems.append(f"render: exit {r_code}: {r_out[-3000:]}")
    elif r_code == 1:
        problems += [f"render: {p}" for p in _diagnostic_problems(r_out, source)]
        if out_dir.exists():
            problems.append(f"render failed but wrote {[str(p.relative_to(out_dir)) for p in written][:5]}")
    else:
        kong_yaml = out_dir / "kong" / "kong.yaml"
        if not kong_yaml.is_file():
            problems.append("render succeeded without kong/kong.yaml")
        for path in written:
            if path.suffix in (".yaml", ".yml"):
                try:
                    list(yaml.safe_load_all(path.read_text()))
                except (yaml.YAMLError, UnicodeDecodeError) as exc:
                    problems.append(f"render wrote unparseable {path.relative_to(out_dir)}: {exc}")
        if kong_yaml.is_file() and (refusal := _kong_refusal(kong_yaml, mutant.env)):
            problems.append(f"Kong refuses the rendered kong.yaml: {refusal}")
        problems += [f"Kuma refuses {refusal}" for refusal in _kuma_refusals(mutant.env)]

    for command, output in (("validate", v_out), ("render", r_out)):
        if "oddsecret" in output:  # what a message may say of a secret's value is its reference
            problems.append(
                f"{command} printed a secret's value: {[x for x in output.splitlines() if 'oddsecret' in x][:2]}"
            )
    if not env_args and v_code == 0 and r_code == 1:
        # validate never resolves secrets: render may only add problems with references.
        unlocated = [
            line
            for line in r_out.splitlines()
            if LOCATED.match(line) and "${" not in line and ": warning: " not in line
        ]
        if unlocated:
            problems.append(f"validate accepts, render refuses: {unlocated[:3]}")
    if not env_args and r_code == 0 and v_code == 1:
        # validate without --env checks the base too: a base error must stop render as well. An overlay's own
        # errors are not the base's: tagged [env], or placed inside the overlay (environments.env.<key>).
        base_errors = [
            line
            for line in v_out.splitlines()
            if (located := LOCATED.match(line))
            and " warning: " not in line
            and not re.search(r": \[[^\]]*\] ", line)
            and not OVERLAY_PATH.match(located.group(3))
        ]
        if base_errors:
            problems.append(f"render accepts what validate refuses: {base_errors[:3]}")
    outcomes[f"validate {v_code}"] += 1
    outcomes[f"render {r_code}"] += 1
    shutil.rmtree(out_dir, ignore_errors=True)
    return problems


@pytest.fixture
def fuzz_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the examples' key files, the examples' secrets set, and the fuzz variables."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES / "keys", tmp_path / "keys")
    for key, value in _example_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FUZZ_UNSET", raising=False)
    return tmp_path


def test_mutants_get_located_errors_or_render(fuzz_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failures: list[str] = []
    outcomes: Counter[str] = Counter()
    KUMA_CHECKED.clear()
    for number in range(COUNT):
        mutant = make_mutant(number)
        problems = judge(mutant, fuzz_dir, capsys, outcomes)
        if problems:
            kept = fuzz_dir / f"mutant-{number}.yaml"
            kept.write_bytes(mutant.content)
            failures.append(f"mutant {number} ({mutant.seed_name}, {mutant.how}, env {mutant.env}) -> {kept}:")
            failures += [f"    {p[:1500]}" for p in problems]
            if LOG:  # a long run's findings as they come
                with open(LOG, "a", encoding="utf-8") as log:
                    log.write("\n".join(failures[-len(problems) - 1 :]) + "\n")
    assert not failures, "\n".join(failures)
    # The mutants reach both ends: most are refused, some still render (and some of those with a mesh).
    assert outcomes["render 1"] > COUNT / 2 and outcomes["render 0"] > COUNT / 20 and KUMA_CHECKED, outcomes


def test_a_render_refused_only_for_a_secret_beside_a_warning_is_no_finding(
    fuzz_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate never resolves secrets: render refusing a catalog for an unset variable only is as promised,
    whatever warnings both print (seed 3's mutant 1772 was reported for its warning line)."""
    catalog = (
        "format: 1\nname: demo\nconsumers:\n  - name: app\n    credentials:\n"
        '      key_auth: [{key: "${env:FUZZ_UNSET}"}]\nservices:\n  - name: api\n'
        "    url: http://api.default.svc:8080\n    routes: [{name: main, paths: [/api]}]\n"
        "    auth: [key-auth]\n    allow_groups: [nobody]\n"
    )
    outcomes: Counter[str] = Counter()
    assert judge(Mutant(0, "handmade", "none", catalog.encode(), None), fuzz_dir, capsys, outcomes) == []
    assert outcomes == Counter({"validate 0": 1, "render 1": 1})


def test_the_mutants_are_the_same_every_run() -> None:
    """Fixed seeds: the fuzz test cannot flake."""
    first = [make_mutant(n).content for n in range(10)]
    assert first == [make_mutant(n).content for n in range(10)]
    assert len(set(first)) == 10  # and they do differ from one another
