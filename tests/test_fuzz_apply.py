"""Mutation fuzzing of the remote path: valid catalogs (the examples, the emulator tests' catalogs, small
generated ones) are changed in ways that keep them valid but stress the plan (renames, a route moved to another
service, a unique value (key-auth key, username, custom_id, route name, upstream target) moved to another
entity or swapped, plugins switched on, off or to another scope, gateway-wide and mesh-wide settings, groups
gained or lost, a service turned upstream-backed and back, mesh edges and policies added or removed, the mesh
renamed), now and then in the ways tests/test_fuzz_catalog.py breaks them, or given a name another team's entity
holds. Mutant A is applied to a fresh Kong emulator (DB mode or DB-less, as the case draws) holding others'
entities, and to the Kuma emulator (Universal) when there is a mesh; then mutant B on top of it (a transition,
sometimes to a catalog generated afresh, which moves every unique value), then A again.

After every apply: exit 0, or 1/3 with a message and no traceback; after exit 0, `diff --exit-code` is 0, a
second apply writes nothing, what Kong and Kuma hold of the catalog's is what `render` makes of it, and entities
someone else made (without the ownership tags) are untouched; no secret value shows in any output (text or
--json). A valid catalog applied on top of a valid one must succeed: the plan orders its writes so that Kong's
uniqueness never refuses them (bar what Kong alone judges, and values another team holds).

Deterministic: `GATEWAYCTL_FUZZ_APPLY_SEED` (default below) and `GATEWAYCTL_FUZZ_APPLY_COUNT` (16 cases, some
25 s, in the normal suite; hundreds for a local run:
`GATEWAYCTL_FUZZ_APPLY_COUNT=300 .venv/bin/python -m pytest -q tests/test_fuzz_apply.py`). A failure names the
case's number and writes both catalogs to the test's tmp folder.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from emulators.harness import CATALOG as KONG_TEST_CATALOG
from emulators.harness import KUMA_CATALOG, SECRETS, ZIPKIN_SECRET
from emulators.kong import CHILD_KEYS, KongState
from emulators.kong import running as kong_running
from emulators.kuma import KumaState
from emulators.kuma import running as kuma_running

from gatewayctl.catalog.load import load_catalog
from gatewayctl.cli import main
from gatewayctl.render.kong import build_kong_config
from gatewayctl.render.kuma import build_kuma_objects
from gatewayctl.render.ownership import CATALOG_LABEL, catalog_tag

EXAMPLES = Path(__file__).parents[1] / "examples"
COUNT = int(os.environ.get("GATEWAYCTL_FUZZ_APPLY_COUNT", "16"))
SEED = int(os.environ.get("GATEWAYCTL_FUZZ_APPLY_SEED", "20261202"))
FILE = "catalog.yaml"
LOCATED = re.compile(r"catalog\.yaml(:\d+:\d+)?: ")  # catalog.yaml:L:C: path: message, or the file's summary
CALL = re.compile(r"\b(GET|PUT|POST|PATCH|DELETE) /|HTTP \d{3}")
PARALLELISM = [[], ["--parallelism", "1"], ["--parallelism", "32"]]  # the writes' order, as planned or raced
GENERATED_SECRET = "fz-s3cr3t-"  # every generated catalog's secrets start so: none may show in an output


def _environment() -> dict[str, str]:
    environ = dict(SECRETS, ZIPKIN_URL=ZIPKIN_SECRET)
    for line in (EXAMPLES / "example.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            environ[key] = value
    environ.update({f"FZ_SECRET_{n}": f"{GENERATED_SECRET}{n:04d}-value" for n in range(40)})
    return environ


ENV = _environment()
SEEDS: list[tuple[str, str]] = [(p.stem, p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))] + [
    ("kong-test", KONG_TEST_CATALOG),
    ("kuma-test", KUMA_CATALOG),
]

# --------------------------------------------------------------------------- a small catalog, generated

PLUGIN_CHOICES: list[tuple[str, dict[str, Any]]] = [
    ("correlation-id", {"header_name": "X-Trace"}),
    ("request-transformer", {"add": {"headers": ["x-team:fuzz"]}}),
    ("response-transformer", {"remove": {"headers": ["server"]}}),
    ("request-size-limiting", {"allowed_payload_size": 8}),
]


def generate(rng: random.Random) -> dict[str, Any]:
    """A valid catalog of a few services (some upstream-backed, some with auth), consumers with key-auth and
    basic-auth credentials whose values are secrets, groups, plugins at every scope, maybe a mesh."""
    # values drawn from small pools: two catalogs generated apart hold the same keys, usernames and custom_ids
    # on other consumers, the transition that moves unique values the most
    secrets = iter(rng.sample(range(12), 12))
    logins = iter(rng.sample(range(4), 4))
    customs = iter(rng.sample(range(4), 4))
    groups = ["users", "admins", "partners"]
    services: list[dict[str, Any]] = []
    for s in range(rng.randint(1, 4)):
        name = f"svc{s}"
        service: dict[str, Any] = {"name": name}
        if rng.random() < 0.3:
            service["upstream"] = {"targets": [f"10.0.{s}.{t + 1}:8080" for t in range(rng.randint(1, 3))]}
        else:
            service["url"] = f"http://{name}.default.svc:8080"
        service["routes"] = [
            {"name": f"r{r}", "paths": [f"/{name}/{r}"], **({"methods": ["GET"]} if rng.random() < 0.3 else {})}
            for r in range(rng.randint(1, 3))
        ]
        auth = rng.choice([None, "key-auth", "basic-auth"])
        if auth:
            service["auth"] = [auth]
            if rng.random() < 0.5:
                service["allow_groups"] = rng.sample(groups, rng.randint(1, 2))
        if rng.random() < 0.3:
            service["rate_limit"] = {"minute": rng.randint(1, 100)}
        if rng.random() < 0.3:
            plugin, config = rng.choice(PLUGIN_CHOICES)
            service["plugins"] = {plugin: copy.deepcopy(config)}
        services.append(service)
    consumers: list[dict[str, Any]] = []
    for c in range(rng.randint(0, 4)):
        consumer: dict[str, Any] = {"name": f"user{c}"}
        if rng.random() < 0.4:
            consumer["custom_id"] = f"crm-{next(customs)}"
        if rng.random() < 0.7:
            consumer["groups"] = rng.sample(groups, rng.randint(1, 2))
        credentials: dict[str, Any] = {}
        if rng.random() < 0.7:
            credentials["key_auth"] = [{"key": f"${{env:FZ_SECRET_{next(secrets)}}}"} for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.4:
            credentials["basic_auth"] = [
                {"username": f"login{next(logins)}", "password": f"${{env:FZ_SECRET_{next(secrets)}}}"}
            ]
        if credentials:
            consumer["credentials"] = credentials
        if rng.random() < 0.2:
            consumer["plugins"] = {"request-transformer": {"add": {"headers": [f"x-consumer:{c}"]}}}
        consumers.append(consumer)
    data: dict[str, Any] = {"format": 1, "name": "fuzz", "services": services}
    if consumers:
        data["consumers"] = consumers
    if rng.random() < 0.3:
        plugin, config = rng.choice(PLUGIN_CHOICES)
        data["gateway"] = {"plugins": {plugin: copy.deepcopy(config)}}
    if rng.random() < 0.4:
        data["mesh"] = {"enabled": True, "name": "fuzz"}
        for service in services:
            if "url" in service and rng.random() < 0.6:
                others = [s["name"] for s in services if s is not service and "url" in s]
                service["mesh"] = {"allow_from": rng.sample(others, rng.randint(0, len(others)))}
                if rng.random() < 0.4:
                    service["mesh"]["retries"] = {"attempts": rng.randint(1, 5)}
    return data


# --------------------------------------------------------------------------- mutations that stay valid

Mutation = Callable[[random.Random, dict[str, Any]], bool]  # False: nothing to mutate in this catalog


def _services(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in data.get("services") or [] if isinstance(s, dict)]


def _consumers(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The consumers, those whose credentials a structural mutation broke left out."""
    return [
        c
        for c in data.get("consumers") or []
        if isinstance(c, dict)
        and isinstance(c.get("credentials") or {}, dict)
        and all(isinstance(v, list) for v in (c.get("credentials") or {}).values())
    ]


def _routes(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(s, r) for s in _services(data) for r in s.get("routes") or [] if isinstance(r, dict)]


def _rename_everywhere(data: Any, old: str, new: str) -> Any:
    """Every string equal to `old` (a name in allow_from, a group) becomes `new`."""
    if isinstance(data, dict):
        return {k: _rename_everywhere(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [_rename_everywhere(v, old, new) for v in data]
    return new if data == old else data


def rename_service(rng: random.Random, data: dict[str, Any]) -> bool:
    services = _services(data)
    if not services:
        return False
    service = rng.choice(services)
    old = service["name"]
    new = rng.choice([f"{old}-v2", f"renamed{rng.randint(0, 9)}"])
    data.update(_rename_everywhere({k: v for k, v in data.items() if k != "environments"}, old, new))
    return True


def swap_service_names(rng: random.Random, data: dict[str, Any]) -> bool:
    """Two services trade names (and so their Kong ids, routes' names and plugins' ids)."""
    services = _services(data)
    if len(services) < 2:
        return False
    a, b = rng.sample(services, 2)
    a["name"], b["name"] = b["name"], a["name"]
    return True


def rename_route(rng: random.Random, data: dict[str, Any]) -> bool:
    routes = _routes(data)
    if not routes:
        return False
    _, route = rng.choice(routes)
    route["name"] = f"{route.get('name', 'r')}-x"
    return True


def move_route(rng: random.Random, data: dict[str, Any]) -> bool:
    services = [s for s in _services(data) if s.get("routes")]
    if len(_services(data)) < 2 or not services:
        return False
    source = rng.choice(services)
    target = rng.choice([s for s in _services(data) if s is not source])
    route = source["routes"].pop(rng.randrange(len(source["routes"])))
    target.setdefault("routes", []).append(route)
    if not source["routes"]:
        del source["routes"]
    return True


def swap_route_names(rng: random.Random, data: dict[str, Any]) -> bool:
    routes = [r for _, r in _routes(data) if "name" in r]
    if len(routes) < 2:
        return False
    a, b = rng.sample(routes, 2)
    a["name"], b["name"] = b["name"], a["name"]
    return True


def move_credential(rng: random.Random, data: dict[str, Any]) -> bool:
    """A credential (its key, its username) given to another consumer."""
    consumers = _consumers(data)
    holders = [(c, kind) for c in consumers for kind, items in (c.get("credentials") or {}).items() if items]
    if len(consumers) < 2 or not holders:
        return False
    source, kind = rng.choice(holders)
    target = rng.choice([c for c in consumers if c is not source])
    items = source["credentials"][kind]
    item = items.pop(rng.randrange(len(items)))
    if not items:
        del source["credentials"][kind]
    target.setdefault("credentials", {}).setdefault(kind, []).insert(rng.randint(0, 1), item)
    return True


def swap_credentials(rng: random.Random, data: dict[str, Any]) -> bool:
    """Two key-auth keys (or custom_ids) trade places: a cycle of unique values."""
    keys = [(c, i) for c in _consumers(data) for i in range(len((c.get("credentials") or {}).get("key_auth") or []))]
    custom = [c for c in _consumers(data) if "custom_id" in c]
    if len(custom) >= 2 and (len(keys) < 2 or rng.random() < 0.5):
        a, b = rng.sample(custom, 2)
        a["custom_id"], b["custom_id"] = b["custom_id"], a["custom_id"]
        return True
    if len(keys) < 2:
        return False
    (ca, ia), (cb, ib) = rng.sample(keys, 2)
    ka, kb = ca["credentials"]["key_auth"], cb["credentials"]["key_auth"]
    ka[ia]["key"], kb[ib]["key"] = kb[ib]["key"], ka[ia]["key"]
    return True


def swap_consumer_names(rng: random.Random, data: dict[str, Any]) -> bool:
    consumers = _consumers(data)
    if len(consumers) < 2:
        return False
    a, b = rng.sample(consumers, 2)
    a["name"], b["name"] = b["name"], a["name"]
    return True


def rename_consumer(rng: random.Random, data: dict[str, Any]) -> bool:
    consumers = _consumers(data)
    if not consumers:
        return False
    rng.choice(consumers)["name"] += "-2"
    return True


def move_target(rng: random.Random, data: dict[str, Any]) -> bool:
    upstreams = [s for s in _services(data) if isinstance(s.get("upstream"), dict) and s["upstream"].get("targets")]
    if not upstreams:
        return False
    source = rng.choice(upstreams)
    others = [s for s in upstreams if s is not source]
    target = rng.choice(others) if others and rng.random() < 0.7 else None
    item = source["upstream"]["targets"][rng.randrange(len(source["upstream"]["targets"]))]
    if target is not None:
        target["upstream"]["targets"].append(copy.deepcopy(item))
        if len(source["upstream"]["targets"]) > 1:
            source["upstream"]["targets"].remove(item)
    elif isinstance(item, str):  # a weight added or a target's address changed
        source["upstream"]["targets"][source["upstream"]["targets"].index(item)] = rng.choice(
            [{"target": item, "weight": rng.randint(0, 1000)}, item.replace(":8080", ":8081")]
        )
    return True


def toggle_upstream(rng: random.Random, data: dict[str, Any]) -> bool:
    services = _services(data)
    if not services:
        return False
    service = rng.choice(services)
    if "upstream" in service:
        del service["upstream"]
        service["url"] = f"http://{service['name']}.default.svc:8080"
    elif "url" in service:
        url = str(service.pop("url"))
        host = url.split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        service["upstream"] = {"targets": [f"{host}:8080", "10.9.9.9:80"][: rng.randint(1, 2)]}
    else:
        return False
    return True


def switch_plugin(rng: random.Random, data: dict[str, Any]) -> bool:
    """A plugin switched on or off, or moved to another scope (gateway, service, route, consumer)."""
    scopes: list[dict[str, Any]] = [data.setdefault("gateway", {}) if isinstance(data.get("gateway"), dict) else {}]
    scopes += _services(data) + [r for _, r in _routes(data)] + _consumers(data)
    holding = [s for s in scopes if isinstance(s.get("plugins"), dict) and s["plugins"]]
    choice = rng.random()
    if holding and choice < 0.4:  # moved
        source = rng.choice(holding)
        name = rng.choice(sorted(source["plugins"]))
        target = rng.choice(scopes)
        if name in (target.get("plugins") or {}) or target is source:
            return False
        target.setdefault("plugins", {})[name] = source["plugins"].pop(name)
        if not source["plugins"]:
            del source["plugins"]
        return True
    if holding and choice < 0.7:  # off
        source = rng.choice(holding)
        del source["plugins"][rng.choice(sorted(source["plugins"]))]
        if not source["plugins"]:
            del source["plugins"]
        return True
    target = rng.choice(scopes)
    plugin, config = rng.choice(PLUGIN_CHOICES)
    target.setdefault("plugins", {})[plugin] = copy.deepcopy(config)
    return True


GATEWAY_WIDE: list[tuple[str, Any]] = [
    ("request_id", {"header": "X-Request-ID"}),
    ("metrics", {"status_codes": True}),
    ("security_headers", True),
    ("rate_limit", {"minute": 600, "by": "ip", "policy": "local"}),
    ("cors", {"origins": ["https://app.example.com"]}),
    ("tracing", {"zipkin": {"endpoint": "${env:ZIPKIN_URL}", "sample_ratio": 0.5}}),
]


def gateway_setting(rng: random.Random, data: dict[str, Any]) -> bool:
    """A gateway-wide setting (a global plugin) switched on or off; the tracing endpoint holds a secret."""
    gateway = data.setdefault("gateway", {})
    if not isinstance(gateway, dict):
        return False
    key, value = rng.choice(GATEWAY_WIDE)
    if key in gateway:
        del gateway[key]
    else:
        gateway[key] = copy.deepcopy(value)
    return True


def toggle_auth(rng: random.Random, data: dict[str, Any]) -> bool:
    services = _services(data)
    if not services:
        return False
    service = rng.choice(services)
    if service.get("auth"):
        service.pop("auth")
        service.pop("allow_groups", None)
        service.pop("deny_groups", None)
    else:
        service["auth"] = [rng.choice(["key-auth", "basic-auth"])]
    return True


def toggle_rate_limit(rng: random.Random, data: dict[str, Any]) -> bool:
    holders = _services(data) + _consumers(data)
    if not holders:
        return False
    holder = rng.choice(holders)
    if "rate_limit" in holder:
        del holder["rate_limit"]
    else:
        holder["rate_limit"] = {"minute": rng.randint(1, 500)}
    return True


def change_groups(rng: random.Random, data: dict[str, Any]) -> bool:
    consumers = _consumers(data)
    if not consumers:
        return False
    consumer = rng.choice(consumers)
    groups = list(consumer.get("groups") or [])
    if groups and rng.random() < 0.5:
        groups.remove(rng.choice(groups))
    else:
        extra = [g for g in ("users", "admins", "partners", "customers", "fuzzers") if g not in groups]
        groups.append(rng.choice(extra))
    if groups:
        consumer["groups"] = groups
    else:
        consumer.pop("groups", None)
    return True


def mesh_edge(rng: random.Random, data: dict[str, Any]) -> bool:
    mesh = data.get("mesh")
    if not isinstance(mesh, dict) or not mesh.get("enabled"):
        return False
    services = [s for s in _services(data) if "url" in s or isinstance(s.get("mesh"), dict)]
    if len(services) < 2:
        return False
    service = rng.choice(services)
    edges = service.setdefault("mesh", {}).setdefault("allow_from", [])
    if not isinstance(edges, list):
        return False
    if edges and rng.random() < 0.5:
        edges.remove(rng.choice(edges))
    else:
        others = [s["name"] for s in services if s is not service and s["name"] not in edges]
        if not others:
            return False
        edges.append(rng.choice(others))
    return True


MESH_SETTINGS: list[tuple[str, Any]] = [
    ("retries", {"attempts": 2}),
    ("timeouts", {"connect": "1s", "request": "20s"}),
    ("circuit_breaker", {"consecutive_5xx": 3}),
    ("rate_limit", {"requests": 50, "interval": "1s"}),
    ("load_balancer", "least-request"),
]


MESH_WIDE: list[tuple[str, Any]] = [
    ("default_action", "allow"),
    ("mtls", {"mode": "permissive"}),
    ("tracing", {"zipkin": {"endpoint": "${env:ZIPKIN_URL}", "sampling": 5}}),
    ("metrics", {"prometheus": {"port": 5670, "path": "/metrics"}}),
    ("access_log", {"file": "/dev/stdout"}),
]


def mesh_setting(rng: random.Random, data: dict[str, Any]) -> bool:
    """A service's mesh policy switched on or off, or the mesh renamed, switched off or on."""
    mesh = data.get("mesh")
    if not isinstance(mesh, dict):
        return False
    choice = rng.random()
    if choice < 0.15:
        mesh["name"] = f"{mesh.get('name', data.get('name'))}-b"
        return True
    if choice < 0.25:
        mesh["enabled"] = not mesh.get("enabled", True)
        return True
    if choice < 0.45:  # mesh-wide: permissions, mTLS, tracing (its endpoint a secret), metrics, access log
        key, value = rng.choice(MESH_WIDE)
        if key in mesh:
            del mesh[key]
        else:
            mesh[key] = copy.deepcopy(value)
        return True
    services = [s for s in _services(data) if "url" in s]
    if not services:
        return False
    service = rng.choice(services)
    settings = service.setdefault("mesh", {})
    if not isinstance(settings, dict):
        return False
    key, value = rng.choice(MESH_SETTINGS)
    if key in settings:
        del settings[key]
    else:
        settings[key] = copy.deepcopy(value)
    return True


def take_foreign_name(rng: random.Random, data: dict[str, Any]) -> bool:
    """A name or key another team's entity holds in Kong (seed_foreign): refused, never taken over."""
    choice = rng.random()
    if choice < 0.4 and _services(data):
        rng.choice(_services(data))["name"] = "foreign-svc"
    elif choice < 0.7 and _consumers(data):
        rng.choice(_consumers(data))["name"] = "foreign-user"
    elif _consumers(data):
        credentials = rng.choice(_consumers(data)).setdefault("credentials", {})
        credentials.setdefault("key_auth", []).append({"key": "foreign-key-0001"})
    else:
        return False
    return True


def drop_item(rng: random.Random, data: dict[str, Any]) -> bool:
    """A whole service or consumer removed (what references it may make the catalog invalid)."""
    key = rng.choice(["services", "consumers"])
    items = data.get(key)
    if not isinstance(items, list) or len(items) < 2:
        return False
    items.pop(rng.randrange(len(items)))
    return True


MUTATIONS: list[Mutation] = [
    rename_service,
    swap_service_names,
    rename_route,
    move_route,
    swap_route_names,
    move_credential,
    swap_credentials,
    swap_consumer_names,
    rename_consumer,
    move_target,
    toggle_upstream,
    switch_plugin,
    toggle_auth,
    gateway_setting,
    toggle_rate_limit,
    change_groups,
    mesh_edge,
    mesh_setting,
    drop_item,
    take_foreign_name,
]


def _break(rng: random.Random, data: dict[str, Any]) -> bool:
    """One of the catalog fuzzer's structural mutations (most make the catalog invalid)."""
    import test_fuzz_catalog as catalog_fuzz

    mutate = rng.choice(catalog_fuzz.STRUCTURAL)
    mutate(rng, data, catalog_fuzz._places(data))
    return True


def mutate(rng: random.Random, data: dict[str, Any], breaking: float = 0.05) -> tuple[dict[str, Any], list[str]]:
    """`data` changed by one to three mutations; their names."""
    data = copy.deepcopy(data)
    done: list[str] = []
    for _ in range(rng.randint(1, 4)):
        mutation = _break if rng.random() < breaking else rng.choice(MUTATIONS)
        try:
            if mutation(rng, data):
                done.append(mutation.__name__)
        except (TypeError, KeyError, AttributeError, ValueError, IndexError):  # a shape an earlier one broke
            done.append(f"{mutation.__name__}?")
    return data, done


# --------------------------------------------------------------------------- one case


@dataclass
class Case:
    number: int
    seed_name: str
    dbless: bool
    before: str
    after: str
    mutations: list[str]


def make_case(number: int) -> Case:
    rng = random.Random(f"{SEED}:{number}")
    if rng.random() < 0.5:
        seed_name, base = "generated", generate(rng)
    else:
        seed_name, text = rng.choice(SEEDS)
        base = yaml.safe_load(text)
    dbless = rng.random() < 0.5
    gateway = base.setdefault("gateway", {})
    if isinstance(gateway, dict):
        gateway["mode"] = "dbless" if dbless else "db"
        if dbless:  # oauth2 needs a database: a DB-less catalog cannot use it (validate says so)
            _drop_oauth2(base)
    before, first = mutate(rng, base) if rng.random() < 0.7 else (base, [])
    if seed_name == "generated" and rng.random() < 0.4:  # another catalog of the same name altogether
        after, second = generate(rng), ["generate"]
        after.setdefault("gateway", {})["mode"] = "dbless" if dbless else "db"
    else:
        after, second = mutate(rng, before)
    for data in (before, after):  # apply takes one environment: the base is applied, validate judges it alone
        data.pop("environments", None)
    dump = yaml.safe_dump
    return Case(
        number, seed_name, dbless, dump(before, sort_keys=False), dump(after, sort_keys=False), [*first, "|", *second]
    )


def _drop_oauth2(data: dict[str, Any]) -> None:
    for service in _services(data):
        if isinstance(service.get("auth"), list) and "oauth2" in service["auth"]:
            service["auth"] = [a for a in service["auth"] if a != "oauth2"] or ["key-auth"]
        service.pop("oauth2", None)
    for consumer in _consumers(data):
        (consumer.get("credentials") or {}).pop("oauth2", None)
    for overlay in (data.get("environments") or {}).values():
        if isinstance(overlay, dict):
            _drop_oauth2(overlay)


def _owned_kong(state: KongState, name: str) -> dict[str, dict[str, dict[str, Any]]]:
    tag = catalog_tag(name)
    with state.lock:
        return {
            dao: {i: copy.deepcopy(e) for i, e in items.items() if tag in (e.get("tags") or [])}
            for dao, items in state.store.items()
        }


def _foreign_kong(state: KongState, names: set[str]) -> dict[str, dict[str, Any]]:
    """Entities no catalog here owns, without what Kong stamps on every DB-less load, nor the apply lock."""
    found = {}
    with state.lock:
        for dao, items in state.store.items():
            for i, e in items.items():
                tags = e.get("tags") or []
                if any(catalog_tag(n) in tags for n in names) or "gatewayctl-lock" in tags:
                    continue
                found[f"{dao}/{i}"] = {k: v for k, v in e.items() if k not in ("created_at", "updated_at")}
    return found


def _foreign_kuma(state: KumaState) -> dict[str, Any]:
    return {
        f"{o['type']}/{o.get('mesh', '')}/{o['name']}": {k: v for k, v in o.items() if k != "modificationTime"}
        for o in state.objects()
        if CATALOG_LABEL not in (o.get("labels") or {})
    }


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The objects of `before` that `after` lacks or holds otherwise."""
    return [key for key, value in before.items() if after.get(key) != value]


def _kuma_lost(before: dict[str, Any], kuma: KumaState) -> list[str]:
    """Others' Kuma objects lost or changed, bar what Kuma made with a Mesh the catalog dropped (its default
    policies, CA secrets, signing keys go with it); another team's object in it keeps the Mesh alive. The
    empty, unlabelled Mesh `default` Kuma makes at start is taken over by a catalog whose mesh is `default`
    (docs/apply.md)."""
    meshes = {o["name"] for o in kuma.objects("Mesh")}
    taken = {
        f"Mesh//{o['name']}"
        for o in kuma.objects("Mesh")
        if o["name"] == "default" and CATALOG_LABEL in (o.get("labels") or {})
    }
    return [
        key
        for key in _changed(before, _foreign_kuma(kuma))
        if key not in taken
        and (key.split("/")[1] in meshes or key.split("/")[2] == FOREIGN_KUMA["name"] or key.startswith("Mesh/"))
    ]


def seed_foreign(kong: KongState) -> None:
    """What another team made in Kong: a service with a route and a plugin, a consumer with a key."""
    service = kong.seed("services", {"name": "foreign-svc", "host": "foreign.internal", "tags": ["team-x"]})
    kong.seed("routes", {"name": "foreign-route", "paths": ["/foreign"], "service": {"id": service["id"]}})
    kong.seed("plugins", {"name": "request-termination", "service": {"id": service["id"]}, "config": {}})
    consumer = kong.seed("consumers", {"username": "foreign-user", "tags": ["team-x"]})
    if "keyauth_credentials" in kong.store:
        kong.seed("keyauth_credentials", {"key": "foreign-key-0001", "consumer": {"id": consumer["id"]}})


FOREIGN_KUMA = {
    "type": "MeshTimeout",
    "name": "foreign-timeout",
    "labels": {"team": "x"},
    "spec": {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "Mesh"}, "default": {"idleTimeout": "5s"}}]},
}


def seed_foreign_kuma(kuma: KumaState, workdir: Path) -> None:
    """What another team made in the catalog's mesh, once the catalog made it."""
    catalog = load_catalog(workdir / FILE).catalog
    if catalog.mesh_enabled and catalog.mesh is not None:
        kuma.seed({**FOREIGN_KUMA, "mesh": catalog.mesh.name})


def seed_foreign_on_ours(kong: KongState, names: set[str]) -> None:
    """Another team's route on one of the catalog's services (Kong refuses to delete the service under it) and
    plugin on one of its consumers (Kong would delete it with the consumer)."""
    for dao, body in (
        ("services", {"name": "foreign-on-ours", "paths": ["/foreign-on-ours"]}),
        ("consumers", {"name": "request-termination", "config": {}}),
    ):
        owned = [e for e in kong.entities(dao) if any(catalog_tag(n) in (e.get("tags") or []) for n in names)]
        if owned:
            parent = sorted(owned, key=lambda e: str(e["id"]))[0]
            kong.seed("routes" if dao == "services" else "plugins", {**body, dao[:-1]: {"id": parent["id"]}})


# Fields whose live value is not the rendered one by design: Kong hashes these secrets on write.
HASHED = {("basicauth_credentials", "password"), ("oauth2_credentials", "client_secret")}


def _same(rendered: Any, live: Any) -> bool:
    """Rendered values are in live ones: dict keys Kong fills with defaults may be extra, lists of scalars
    compare as sets (Kong keeps methods, hosts... as given, the plan compares them as sets)."""
    if isinstance(rendered, dict):
        return isinstance(live, dict) and all(_same(v, live.get(k)) for k, v in rendered.items())
    if isinstance(rendered, list) and isinstance(live, list):
        if all(not isinstance(v, (dict, list)) for v in rendered + live):
            return sorted(map(json.dumps, rendered)) == sorted(map(json.dumps, live))
        return len(rendered) == len(live) and all(_same(a, b) for a, b in zip(rendered, live, strict=True))
    if isinstance(rendered, float) or isinstance(live, float):
        return isinstance(live, (int, float)) and float(f"{rendered:.14g}") == float(f"{live:.14g}")
    return bool(rendered == live)


def _rendered_kong(config: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """The declarative config flattened: dao -> id -> entity without its children."""
    flat: dict[str, dict[str, dict[str, Any]]] = {}

    def walk(dao: str, item: dict[str, Any]) -> None:
        children = CHILD_KEYS.get(dao, {})
        flat.setdefault(dao, {})[item["id"]] = {k: v for k, v in item.items() if k not in children}
        for key, child in children.items():
            for sub in item.get(key) or []:
                walk(child, sub)

    for dao, items in config.items():
        if not dao.startswith("_"):
            for item in items:
                walk(dao, item)
    return flat


def live_matches_render(kong: KongState, kuma: KumaState | None, workdir: Path) -> list[str]:
    loaded = load_catalog(workdir / FILE)
    catalog = loaded.catalog
    problems = []
    rendered = _rendered_kong(build_kong_config(catalog, loaded.secrets()))
    live = _owned_kong(kong, catalog.name)
    for dao in sorted(set(rendered) | {d for d, items in live.items() if items}):
        want, have = rendered.get(dao, {}), live.get(dao, {})
        for missing in sorted(want.keys() - have.keys()):
            problems.append(f"live Kong lacks {dao} {want[missing].get('name', missing)}")
        for extra in sorted(have.keys() - want.keys()):
            problems.append(f"live Kong has {dao} {have[extra].get('name', extra)} the render has not")
        for entity_id in sorted(want.keys() & have.keys()):
            for field, value in want[entity_id].items():
                if (dao, field) in HASHED or field in ("ttl", "tags"):
                    continue
                live_value = have[entity_id].get(field)
                if isinstance(value, str) and isinstance(live_value, dict) and "id" in live_value:
                    live_value = live_value["id"]  # a foreign key the render writes as an id
                if not _same(value, live_value):
                    problems.append(f"live Kong {dao} {want[entity_id].get('name', entity_id)}: {field} differs")
            if not set(want[entity_id].get("tags") or []) <= set(have[entity_id].get("tags") or []):
                problems.append(f"live Kong {dao} {want[entity_id].get('name', entity_id)}: tags differ")
    if kuma is not None and catalog.mesh_enabled:  # a plain apply leaves a dropped mesh be (docs/apply.md)
        objects = build_kuma_objects(catalog, loaded.secrets())
        want_names = {(o.kind, o.mesh or "", o.name) for o in objects}
        have_names = {
            (o["type"], o.get("mesh", ""), o["name"])
            for o in kuma.objects()
            if (o.get("labels") or {}).get(CATALOG_LABEL) == catalog.name
        }
        problems += [f"live Kuma lacks {k}" for k in sorted(want_names - have_names)]
        # a Mesh holding others' objects is kept when the catalog drops or renames it (docs/apply.md)
        kept = {("Mesh", "", o["mesh"]) for o in kuma.objects() if o["name"] == FOREIGN_KUMA["name"]}
        problems += [f"live Kuma has {k} the render has not" for k in sorted(have_names - want_names - kept)]
    return problems


def _judged_by_kong(case: Case, output: str) -> bool:
    """A config in a `plugins:` map, broken by a structural mutation, is Kong's to judge (validate cannot):
    refused before any write, exit 1 (docs/apply.md), or by DB-less Kong's POST, exit 3. A value another
    team's entity holds is refused too, naming the catalog entry: DB-less before the POST (exit 1), DB mode by
    Kong's 409 (exit 3); so is dropping a service or consumer another team's entity hangs off (exit 1)."""
    if "_break" in case.mutations and re.search(r"Kong refuse[sd] plugin", output):
        return True
    # another team's route or plugin on a service or consumer the catalog drops (seed_foreign_on_ours)
    if re.search(r"(route foreign-on-ours|plugin request-termination \(consumer \w+\)) in Kong, not this", output):
        return True  # DB-less: the configuration Kong would refuse
    if re.search(r"does not own hanging off it \((route foreign-on-ours|plugin request-termination)", output):
        return True  # DB mode: what Kong would delete with it, or refuse to delete it for
    return "take_foreign_name" in case.mutations and (
        "without this catalog's ownership tags" in output
        or "in Kong's running configuration, not this catalog's" in output
    )


def run_case(case: Case, workdir: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Every broken promise of one case: A applied to fresh emulators, then B on top."""
    path = workdir / FILE
    problems: list[str] = []
    outputs: list[str] = []
    names: set[str] = set()
    for text in (case.before, case.after):
        data = yaml.safe_load(text)
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            names.add(data["name"])
    mesh = any("mesh" in (yaml.safe_load(t) or {}) for t in (case.before, case.after))
    with ExitStack() as stack:
        kong = stack.enter_context(kong_running(KongState(dbless=case.dbless)))
        kuma = stack.enter_context(kuma_running(KumaState())) if mesh else None
        targets = ["--kong-admin-url", kong.url]
        if kuma is not None:
            targets += ["--kuma-url", kuma.url, "--kuma-platform", "universal"]
        seed_foreign(kong.state)

        def run(*argv: str) -> tuple[int | str, str]:
            try:
                code: int | str = main([*argv, str(path), *(targets if argv[0] != "validate" else [])])
            except SystemExit as exc:  # typer's own exit, as the console script would end
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception:  # a traceback is the finding
                code = "traceback"
                outputs.append(traceback.format_exc())
            captured = capsys.readouterr()
            outputs.append(captured.out + captured.err)
            return code, captured.out + captured.err

        valid_before = None
        for step, text in (("A", case.before), ("B", case.after), ("back to A", case.before)):
            path.write_text(text)
            validated, _ = run("validate")
            foreign_kong = _foreign_kong(kong.state, names)
            foreign_kuma = _foreign_kuma(kuma.state) if kuma is not None else {}
            code, out = run("apply", "--yes", *(["--json"] if case.number % 2 else []), *PARALLELISM[case.number % 3])
            if code == "traceback" or "Traceback" in out:
                problems.append(f"{step}: apply raised\n{outputs[-2] if code == 'traceback' else out}")
                break
            if code not in (0, 1, 3):
                problems.append(f"{step}: apply exit {code}\n{out}")
            if code == 1 and not LOCATED.search(out):
                problems.append(f"{step}: apply exit 1 without a located message\n{out}")
            if code == 3 and not CALL.search(out) and not LOCATED.search(out):  # DB-less: Kong's errors, located
                problems.append(f"{step}: apply exit 3 without naming the failed call\n{out}")
            if _foreign_kong(kong.state, names) != foreign_kong:
                problems.append(f"{step}: an entity without the ownership tags changed")
            # Kuma adds its default policies to a new mesh: those are new, the ones before must be untouched
            if kuma is not None and _kuma_lost(foreign_kuma, kuma.state):
                problems.append(f"{step}: a Kuma object without the ownership labels changed")
            if code == 0:
                if validated != 0:
                    problems.append(f"{step}: apply succeeded where validate exits {validated}")
                if (diffed := run("diff", "--exit-code"))[0] != 0:
                    problems.append(f"{step}: diff after apply exits {diffed[0]}\n{diffed[1]}")
                writes = (len(kong.state.writes()), len(kuma.state.writes()) if kuma is not None else 0)
                again = run("apply", "--yes", "--json")
                after = (len(kong.state.writes()), len(kuma.state.writes()) if kuma is not None else 0)
                if again[0] != 0 or after != writes:
                    problems.append(f"{step}: second apply exits {again[0]}, writes {after} != {writes}\n{again[1]}")
                problems += [
                    f"{step}: {p}" for p in live_matches_render(kong.state, kuma.state if kuma else None, workdir)
                ]
            elif validated == 0 and (step == "A" or valid_before == 0) and not _judged_by_kong(case, out):
                # a valid catalog, from an empty or a valid catalog's state, is Kong's to take (or gatewayctl's
                # to refuse before any write, exit 1, for what Kong would refuse: a foreign entity's value)
                problems.append(f"{step}: a valid catalog's apply exits {code}\n{out}")
            valid_before = validated if code == 0 else None
            if code == 0 and step == "A":
                seed_foreign_on_ours(kong.state, names)
                if kuma is not None:
                    seed_foreign_kuma(kuma.state, workdir)
            if problems:
                break
    for output in outputs:
        shown = [name for name, value in ENV.items() if len(value) > 3 and value in output]
        if shown or GENERATED_SECRET in output:
            problems.append(f"secret shown ({shown or GENERATED_SECRET}):\n{output}")
            break
    return problems


@pytest.fixture
def fuzz_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from gatewayctl.cli import remote_commands
    from gatewayctl.clients.retry import RetryPolicy

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    for name in ("GATEWAYCTL_KONG_ADMIN_TOKEN", "GATEWAYCTL_KUMA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(remote_commands, "RetryPolicy", lambda: RetryPolicy(base=0.001, cap=0.01))
    shutil.copytree(EXAMPLES / "keys", tmp_path / "keys")  # the examples' ${file:keys/...}, as in examples/
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.mark.parametrize("number", range(COUNT))
def test_mutants_apply_converge_and_keep_their_promises(
    number: int, fuzz_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = make_case(number)
    problems = run_case(case, fuzz_dir, capsys)
    if problems:
        (fuzz_dir / "before.yaml").write_text(case.before)
        (fuzz_dir / "after.yaml").write_text(case.after)
    assert not problems, (
        f"case {number} (seed {SEED}, {case.seed_name}, {'dbless' if case.dbless else 'db'}, "
        f"{' '.join(case.mutations)}; catalogs in {fuzz_dir}):\n" + "\n".join(problems)
    )


def test_the_cases_are_the_same_every_run() -> None:
    assert [make_case(n) for n in range(4)] == [make_case(n) for n in range(4)]


def test_the_judge_sees_live_state_that_is_not_the_render(fuzz_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The invariants can fail: an owned route changed behind gatewayctl's back, an owned entity the render has
    not, another team's entity changed."""
    catalog = fuzz_dir / FILE
    catalog.write_text(KONG_TEST_CATALOG)
    with kong_running(KongState()) as kong:
        seed_foreign(kong.state)
        foreign = _foreign_kong(kong.state, {"shop"})
        assert main(["apply", str(catalog), "--yes", "--kong-admin-url", kong.url]) == 0
        assert live_matches_render(kong.state, None, fuzz_dir) == []
        route = kong.state.find("routes", "orders-api")
        kong.state.upsert("routes", route["id"], {"paths": ["/elsewhere"]}, replace=False, partial=True)
        kong.state.seed("services", {"name": "stray", "host": "stray.internal", "tags": route["tags"]})
        assert live_matches_render(kong.state, None, fuzz_dir) == [
            "live Kong routes orders-api: paths differs",
            "live Kong has services stray the render has not",
        ]
        assert _foreign_kong(kong.state, {"shop"}) == foreign
        kong.state.upsert(
            "services", kong.state.find("services", "foreign-svc")["id"], {"port": 81}, replace=False, partial=True
        )
        assert _foreign_kong(kong.state, {"shop"}) != foreign
    capsys.readouterr()
