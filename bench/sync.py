"""Benchmark: `gatewayctl apply` against the Kong Admin API emulator on loopback, next to a raw-httpx baseline.

The catalog is bench/render.py's synthetic one (1,000 services by default: 3 routes and 4 plugins each,
500 consumers with key-auth credentials and ACL groups, gateway-wide plugins). Three syncs, in order, on
one emulator:

  initial   an empty Kong: every entity is created
  no-op     the same catalog again: nothing to write
  1%        1% of the services changed (10 of 1,000: a new rate limit and a second path on one route)

Each is measured as a whole `gatewayctl apply --yes` run in this process (catalog load and render
included; imports are not), counting the HTTP requests its Admin API client sends. The baseline sends the
same minimal set of requests with raw httpx at the same concurrency on a second, identical emulator: the
owned-entity list pages one plan reads (`?tags=...&size=1000`, following `next`), then exactly the writes
that are due, level by level, with bodies computed beforehand. So the baseline is the floor any tool pays
for this sync over HTTP; what gatewayctl sends on top (`GET /`, `/schemas/...`, Kong's check of each
`plugins:` config it creates or changes, the lock, the second read under the lock) is reported as "extra".

DB-less: the same three syncs against an emulator with `database=off`; gatewayctl sends one
`POST /config` when the configuration changed and none when Kong's configuration hash already matches; the
baseline sends the one `POST /config?check_hash=1` (answered 304 when unchanged).

Targets (issue 4): requests = changed entities + list pages (nothing more); wall time <= 1.3x the
baseline; no-op sync <= 2 s. The emulator runs in its own process (Python, one thread per connection),
so it, not the client, is most of the time on both sides; the machine's load average is recorded.

    .venv/bin/python bench/sync.py                   # 1,000 services; results in bench/results/sync.*
    .venv/bin/python bench/sync.py --services 100    # smaller
    .venv/bin/python bench/sync.py --profile         # cProfile of gatewayctl's initial and 1% syncs
    .venv/bin/python bench/sync.py --latency 0.03    # every answer 30 ms late; results in results/sync-latency.*
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
import render as render_bench  # noqa: E402  (bench/render.py: the synthetic catalog)

from gatewayctl.apply import dbless  # noqa: E402
from gatewayctl.apply.lock import lock_name  # noqa: E402
from gatewayctl.catalog.load import load_catalog  # noqa: E402
from gatewayctl.cli import console, main, remote_commands  # noqa: E402
from gatewayctl.clients.kong_admin import PAGE_SIZE, KongAdmin  # noqa: E402
from gatewayctl.plan.entities import Entity, flatten  # noqa: E402
from gatewayctl.plan.kinds import KINDS, LEVELS  # noqa: E402
from gatewayctl.render.kong import build_kong_config  # noqa: E402
from gatewayctl.render.ownership import ownership_tags  # noqa: E402

PARALLELISM = 8
LOCK = lock_name("")  # the apply lock's consumer name, before the catalog's
REPEATS = 3  # no-op and 1% change syncs: the best of this many
CHANGED_SHARE = 0.01
TARGET_RATIO = 1.3
TARGET_NOOP_SECONDS = 2.0


# --------------------------------------------------------------------------- catalogs


def catalog_text(services: int, changed: int = 0, mode: str = "db") -> str:
    """bench/render.py's catalog in Kong `mode`; the first `changed` services altered."""
    lines = render_bench.catalog_yaml(services).splitlines()
    out: list[str] = []
    service = -1
    for line in lines:
        if line == "  mode: db":
            line = f"  mode: {mode}"
        if line.startswith("  - name: svc-"):
            service += 1
        if 0 <= service < changed:
            if line.startswith("    rate_limit: {second: 10, minute: "):
                line = line.replace("minute: ", "minute: 1", 1)
            elif line.startswith("        paths: [/svc-") and line.endswith("/admin]"):
                line = line[:-1] + ", /svc-admin-" + str(service) + "]"
        out.append(line)
    return "\n".join(out) + "\n"


def desired_entities(path: Path, environ: dict[str, str]) -> tuple[list[Entity], dict[str, Any]]:
    loaded = load_catalog(path)
    config = build_kong_config(loaded.catalog, loaded.secrets(environ))
    return flatten(config, loaded.catalog).entities, config


# --------------------------------------------------------------------------- the emulator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def emulator(dbless_mode: bool = False, latency: float = 0.0) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "tests.emulators.kong", "--port", str(port), "--latency", str(latency)]
    process = subprocess.Popen(
        [*command, *(["--dbless"] if dbless_mode else [])],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/status", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# --------------------------------------------------------------------------- gatewayctl


class CountingKongAdmin(KongAdmin):
    """The CLI's Admin API client, remembered so that its request counts can be read afterwards. Each attempt
    is noted as (method, path, whether it was the apply lock's): the lock is a consumer, taken by a
    `POST /consumers` like any consumer's create and released by a `DELETE` by its id, so it is told apart by
    what was sent, not by the path."""

    made: ClassVar[list[CountingKongAdmin]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, str, bool]] = []
        self.lock_ids: set[str] = set()
        self.in_lock = threading.local()
        self.log.observers.append(
            lambda method, path, _status, _seconds: self.sent.append((method, path, getattr(self.in_lock, "on", False)))
        )
        CountingKongAdmin.made.append(self)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        body = kwargs.get("json")
        taking = method == "POST" and isinstance(body, dict) and str(body.get("username", "")).startswith(LOCK)
        releasing = method == "DELETE" and path.removeprefix("/consumers/") in self.lock_ids
        self.in_lock.on = taking or releasing or LOCK in path
        try:
            response = super().request(method, path, **kwargs)
        finally:
            self.in_lock.on = False
        if taking:
            self.lock_ids.add(str(response.json().get("id")))
        return response


def purposes(sent: list[tuple[str, str, bool]]) -> Counter[str]:
    """What each request was for: the version check, schemas, Kong's check of `plugins:` configs, the lock,
    DB-less checks, or the list pages and writes a baseline sends too."""
    out: Counter[str] = Counter()
    for method, path, lock in sent:
        if lock:
            out["lock"] += 1
        elif path == "/":
            out["version"] += 1
        elif path == "/schemas/plugins/validate":
            out["plugin checks"] += 1
        elif path.startswith("/schemas"):
            out["schemas"] += 1
        elif path in ("/status", "/config") and method == "GET":
            out["dbless"] += 1
        elif method == "GET":
            out["list"] += 1
        else:
            out["write"] += 1
    return out


def gatewayctl_sync(url: str, catalog: Path, profile: cProfile.Profile | None = None) -> dict[str, Any]:
    CountingKongAdmin.made = []
    argv = ["apply", str(catalog), "--yes", "--kong-admin-url", url, "--parallelism", str(PARALLELISM)]
    with console.out.capture(), console.err.capture() as err:
        t0 = time.perf_counter()
        if profile:
            profile.enable()
        code = main(argv)
        if profile:
            profile.disable()
        seconds = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"gatewayctl apply exited {code}: {err.get()[-2000:]}")
    logs = [c.log for c in CountingKongAdmin.made]
    return {
        "purposes": purposes([r for c in CountingKongAdmin.made for r in c.sent]),
        "seconds": seconds,
        "reads": sum(log.reads for log in logs),
        "writes": sum(log.writes for log in logs),
        "retries": sum(log.retries for log in logs),
    }


# --------------------------------------------------------------------------- the baseline


def list_pages(client: httpx.Client, path: str, tags: str) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    params = {"size": str(PAGE_SIZE), "tags": tags}
    pages = 0
    while True:
        page = client.get(path, params=params).json()
        pages += 1
        items += page.get("data") or []
        if not page.get("next"):
            return items, pages
        params = {**params, "offset": str(page["offset"])}


def read_owned(client: httpx.Client, pool: ThreadPoolExecutor, catalog_name: str) -> int:
    """The list pages one plan reads: every kind (concurrently), then targets per owned upstream."""
    tags = ",".join(ownership_tags(catalog_name))
    kinds = [k for k in KINDS if not k.nested_under]
    results = list(pool.map(lambda k: list_pages(client, f"/{k.collection}", tags), kinds))
    upstreams = results[[k.name for k in kinds].index("upstreams")][0]
    targets = list(pool.map(lambda u: list_pages(client, f"/upstreams/{u['id']}/targets", tags), upstreams))
    return sum(pages for _, pages in results) + sum(pages for _, pages in targets)


def write_levels(client: httpx.Client, pool: ThreadPoolExecutor, entities: list[Entity], existing: set[str]) -> int:
    def send(entity: Entity) -> None:
        if entity.spec.nested_under and entity.id not in existing:
            response = client.post(entity.create_path(), json={**entity.body, "id": entity.id})
        else:
            response = client.put(entity.write_path(), json=entity.body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"baseline write refused: {response.status_code} {response.text[:200]}")

    for level in LEVELS:
        list(pool.map(send, [e for e in entities if e.spec.level == level]))
    return len(entities)


def baseline_sync(url: str, catalog_name: str, writes: list[Entity], existing: set[str]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=PARALLELISM + 2, max_keepalive_connections=PARALLELISM + 2)
    with (
        httpx.Client(base_url=url, limits=limits, trust_env=False) as client,
        ThreadPoolExecutor(PARALLELISM) as pool,
    ):
        t0 = time.perf_counter()
        pages = read_owned(client, pool, catalog_name)
        sent = write_levels(client, pool, writes, existing)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "reads": pages, "writes": sent, "retries": 0}


def baseline_dbless(url: str, text: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, trust_env=False, timeout=120) as client:
        t0 = time.perf_counter()
        response = client.post("/config", params={"check_hash": "1"}, json={"config": text})
        seconds = time.perf_counter() - t0
    if response.status_code not in (201, 304):
        raise RuntimeError(f"baseline POST /config: {response.status_code} {response.text[:200]}")
    return {"seconds": seconds, "reads": 0, "writes": 1, "retries": 0, "status": response.status_code}


def timed(work: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def changed_entities(before: list[Entity], after: list[Entity]) -> list[Entity]:
    old = {e.id: e.body for e in before}
    return [e for e in after if old.get(e.id) != e.body]


# --------------------------------------------------------------------------- running it


def run(services: int, profile: bool, latency: float = 0.0) -> dict[str, Any]:
    environ = render_bench.bench_environ()
    os.environ.update(environ)
    remote_commands.KongAdmin = CountingKongAdmin  # type: ignore[attr-defined]
    changed = max(1, round(services * CHANGED_SHARE))
    name = f"bench-{services}"
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gatewayctl-sync-") as tmp:
        work = Path(tmp)
        os.chdir(work)  # snapshots go to ./.gatewayctl
        paths = {}
        for key, text in (
            ("full", catalog_text(services)),
            ("changed", catalog_text(services, changed)),
            ("full-dbless", catalog_text(services, mode="dbless")),
            ("changed-dbless", catalog_text(services, changed, mode="dbless")),
        ):
            paths[key] = work / f"{key}.yaml"
            paths[key].write_text(text)
        catalog_seconds = min(timed(lambda: desired_entities(paths["full"], environ)) for _ in range(REPEATS))
        full, _ = desired_entities(paths["full"], environ)
        after, _ = desired_entities(paths["changed"], environ)
        delta = changed_entities(full, after)
        profiler = cProfile.Profile() if profile else None

        ids = {e.id for e in full}
        back = changed_entities(after, full)
        # run in this order on one emulator; no-op and the 1% change (there, back, there again) three times
        scenarios: list[tuple[str, Path, list[Entity], set[str]]] = [("initial", paths["full"], full, set())]
        scenarios += [("no-op", paths["full"], [], ids)] * REPEATS
        scenarios += [
            ("1% change", paths["changed"], delta, ids),
            ("1% change", paths["full"], back, ids),
            ("1% change", paths["changed"], delta, ids),
        ][:REPEATS]
        ours, theirs = [], []
        # two identical emulators, one sync each in turn: both sides meet the same machine load
        with emulator(latency=latency) as mine, emulator(latency=latency) as other:
            for label, path, writes, existing in scenarios:
                ours.append(gatewayctl_sync(mine, path, profiler if label != "no-op" else None))
                theirs.append(baseline_sync(other, name, writes, existing))
        for label in ("initial", "no-op", "1% change"):
            runs = [i for i, s in enumerate(scenarios) if s[0] == label]
            rows.append(row("db", label, len(scenarios[runs[0]][2]), best(ours, runs), best(theirs, runs), len(runs)))

        _, full_config = desired_entities(paths["full-dbless"], environ)
        _, changed_config = desired_entities(paths["changed-dbless"], environ)
        full_text, changed_text = dbless.payload(full_config), dbless.payload(changed_config)
        dbless_runs = [("initial", paths["full-dbless"], full_text)]
        dbless_runs += [("no-op", paths["full-dbless"], full_text)] * REPEATS
        dbless_runs += [
            ("1% change", paths["changed-dbless"], changed_text),
            ("1% change", paths["full-dbless"], full_text),
            ("1% change", paths["changed-dbless"], changed_text),
        ][:REPEATS]
        ours, theirs = [], []
        with emulator(True, latency) as mine, emulator(True, latency) as other:
            for _, path, text in dbless_runs:
                ours.append(gatewayctl_sync(mine, path))
                theirs.append(baseline_dbless(other, text))
        for label in ("initial", "no-op", "1% change"):
            runs = [i for i, r in enumerate(dbless_runs) if r[0] == label]
            rows.append(
                row("dbless", label, 0 if label == "no-op" else 1, best(ours, runs), best(theirs, runs), len(runs))
            )
        if profiler:
            stream = io.StringIO()
            pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(30)
            print(stream.getvalue())
    return {
        "services": services,
        "routes": services * render_bench.ROUTES_PER_SERVICE,
        "plugins": sum(1 for e in full if e.kind == "plugins"),
        "consumers": render_bench.CONSUMERS,
        "entities": len(full),
        "changed_services": changed,
        "parallelism": PARALLELISM,
        "catalog_seconds": round(catalog_seconds, 3),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }


def best(results: list[dict[str, Any]], runs: list[int]) -> dict[str, Any]:
    return min((results[i] for i in runs), key=lambda r: float(r["seconds"]))


def row(mode: str, label: str, due: int, ours: dict[str, Any], theirs: dict[str, Any], runs: int) -> dict[str, Any]:
    ours_requests = ours["reads"] + ours["writes"]
    theirs_requests = theirs["reads"] + theirs["writes"]
    ratio = ours["seconds"] / theirs["seconds"] if theirs["seconds"] else None
    missed = []
    if ours_requests > due + theirs["reads"]:
        missed.append(f"requests +{ours_requests - due - theirs['reads']}")
    if ratio is not None and ratio > TARGET_RATIO:
        missed.append("time")
    if label == "no-op" and ours["seconds"] > TARGET_NOOP_SECONDS:
        missed.append("no-op time")
    used = ours.get("purposes") or Counter()
    extra = {
        "version check": used["version"],
        "schemas": used["schemas"],
        "plugin config checks": used["plugin checks"],
        "lock": used["lock"],
        "DB-less hash and export": used["dbless"],
        "list pages": max(0, used["list"] - theirs["reads"]),
    }
    return {
        "extra_by_purpose": {k: v for k, v in extra.items() if v},
        "mode": mode,
        "sync": label,
        "runs": runs,
        "due_writes": due,
        "requests": ours_requests,
        "reads": ours["reads"],
        "writes": ours["writes"],
        "retries": ours["retries"],
        "baseline_requests": theirs_requests,
        "baseline_list_pages": theirs["reads"],
        "extra_requests": ours_requests - theirs_requests,
        "seconds": round(ours["seconds"], 3),
        "baseline_seconds": round(theirs["seconds"], 3),
        "ratio": round(ratio, 2) if ratio is not None else None,
        "target_met": "yes" if not missed else "no (" + ", ".join(missed) + ")",
    }


def markdown(result: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        f"Sync benchmark, {meta['date']}: Python {meta['python']}, {meta['cpus']} CPU cores ({meta['machine']}), "
        f"load average {result['load_average_before'][0]} before / {result['load_average_after'][0]} after "
        "(the machine is shared)."
        + (
            f" Every emulator answer delayed {result['latency_seconds'] * 1000:g} ms, as over a network."
            if result.get("latency_seconds")
            else ""
        ),
        f"{result['services']:,} services, {result['routes']:,} routes, {result['plugins']:,} plugins, "
        f"{result['consumers']} consumers with credentials: {result['entities']:,} Kong entities; "
        f"--parallelism {result['parallelism']}; the 1% change alters {result['changed_services']} services. "
        "Times are the best of 3 for the no-op and the 1% change (there, back, there again), one initial sync; "
        "gatewayctl and the baseline take turns on two identical emulators. Every gatewayctl sync includes "
        f"loading, validating and rendering the catalog: {result['catalog_seconds']:.2f} s on its own. "
        "Targets: requests = changed entities + list pages, wall time <= 1.3x the raw-httpx baseline, "
        "no-op <= 2 s.",
        "",
        "| mode | sync | writes due | requests (reads + writes) | baseline requests (list pages + writes) "
        "| extra | extra: what for | s | baseline s | ratio | target met |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['mode']} | {r['sync']} | {r['due_writes']:,} | {r['requests']:,} ({r['reads']:,} + {r['writes']:,}) "
            f"| {r['baseline_requests']:,} ({r['baseline_list_pages']:,} + "
            f"{r['baseline_requests'] - r['baseline_list_pages']:,}) | {r['extra_requests']:,} "
            f"| {', '.join(f'{v} {k}' for k, v in r['extra_by_purpose'].items()) or '-'} | {r['seconds']:.2f} "
            f"| {r['baseline_seconds']:.2f} | {r['ratio']}x | {r['target_met']} |"
        )
    return "\n".join(lines) + "\n"


def main_cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="cProfile gatewayctl's initial and 1%% syncs")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds each emulator answer is delayed, as over a network (results go to results/sync-latency.*)",
    )
    args = parser.parse_args(argv)
    result = run(args.services, args.profile, args.latency)
    result["latency_seconds"] = args.latency
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}",
    }
    text = markdown(result, meta)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        stem = "sync-latency" if args.latency else "sync"
        (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, **result}, indent=2) + "\n")
        (RESULTS / f"{stem}.md").write_text(text)
        print(f"wrote {RESULTS / f'{stem}.json'} and {RESULTS / f'{stem}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main_cli())
