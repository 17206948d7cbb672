"""Benchmark: validate + render a large service catalog to Kong, against a plain PyYAML baseline.

For each size (100, 1,000 and 10,000 services by default) this script writes a synthetic catalog to a
temporary folder and starts a FRESH Python process (`--child SIZE`) that measures, best of N runs:

  measured   load_catalog (read, compose, safety checks, defaults, pydantic, semantic checks)
             + render(..., ["kong"], secrets) + write_files(out, files, ["kong"])
  baseline   PyYAML's C loader parsing the same catalog file + PyYAML's C dumper writing the same
             Kong document (see `baseline` for why this is the floor to compare against)
  peak RSS   resource.getrusage(RUSAGE_SELF).ru_maxrss of that process, taken right after the
             measured runs and before the baseline runs (one size per process, so it is per size)

Each synthetic service has 3 routes and 4 Kong plugins (key-auth and acl from `auth`/`allow_groups`,
rate-limiting from `rate_limit`, and a fourth that rotates between `cors`, `max_body` and a raw
`plugins:` entry); there are 500 consumers with key-auth credentials (`${env:...}` references) and
ACL groups, `defaults` merged into every service and a few gateway-wide plugins.

Targets (2-core machine): 10,000 services in <= 3 s, <= 600 MB peak RSS and <= 3x the baseline.
Every size is held to the same three limits.

With `--mesh` the catalog also has a `mesh:` section (mTLS strict, default_action deny, tracing, metrics,
access log) and every service a `mesh:` block (allow_from 1-2 other services, retries, timeouts,
circuit_breaker, health_check, load_balancer, rate_limit), i.e. 7 Kuma objects per service, each written
in the Kubernetes and the Universal form (14 files per service). The measured run is load_catalog +
render(..., ["kong", "kuma"], secrets) + write_files(out, files, ["kong", "kuma"]), taken twice over:

  first write  into an empty folder (a fresh one per run): every file is created
  re-render    into the folder the last first write left: write_files leaves files whose bytes and mode
               are unchanged alone, so this is what a repeated render costs

Targets: <= 5 s and <= 800 MB peak RSS for every size, for the first write and the re-render alike; there
is no baseline (and no ratio). Results go to bench/results/render-mesh.json and render-mesh.md.

    .venv/bin/python bench/render.py                  # 100, 1,000, 10,000; results in bench/results/
    .venv/bin/python bench/render.py --sizes 100,1000
    .venv/bin/python bench/render.py --quick          # one run per size; 100 and 1,000 unless --sizes
    .venv/bin/python bench/render.py --profile 10000  # cProfile of one measured run, top functions
    .venv/bin/python bench/render.py --mesh           # Kong + Kuma; also with --sizes, --quick, --profile
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

DEFAULT_SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 1_000)
ROUTES_PER_SERVICE = 3
PLUGINS_PER_SERVICE = 4
CONSUMERS = 500
T = TypeVar("T")
GROUPS = 20

TARGET_SECONDS = 3.0
TARGET_RSS_MB = 600.0
TARGET_RATIO = 3.0
CHILD_TIMEOUT = 900  # seconds; a size that takes longer than this is a failure in itself
# A timed phase (the measured runs, the baseline parse, the baseline dump) starts no further run that
# would take it past this budget, so that a slow machine (or a slow version) still finishes in a few
# minutes: on the reference 2-core machine the 10,000-service size gets a single measured run.
PHASE_BUDGET_SECONDS = 30.0

# --mesh: Kong + Kuma
MESH_TARGETS = ("kong", "kuma")
MESH_TARGET_SECONDS = 5.0
MESH_TARGET_RSS_MB = 800.0
MESH_OBJECTS_PER_SERVICE = 7  # permission, retry, timeout, circuit breaker, health check, load balancing, rate limit
LOAD_BALANCERS = ("round-robin", "least-request", "ring-hash", "random", "maglev")


def repeats_for(size: int, quick: bool) -> int:
    """Best of 3 for the small sizes, best of 2 for the large one (fewer when over the phase budget)."""
    if quick:
        return 1
    return 2 if size >= 10_000 else 3


def repeat(run: Callable[[], T], times: int, duration: Callable[[T], float]) -> list[T]:
    """Up to `times` results of `run`, each started after a full collection; always at least one, and no
    run that the previous one says would end past PHASE_BUDGET_SECONDS."""
    results: list[T] = []
    started = time.perf_counter()
    for _ in range(times):
        if results and time.perf_counter() - started + duration(results[-1]) > PHASE_BUDGET_SECONDS:
            break
        gc.collect()
        results.append(run())
    gc.collect()
    return results


class GcClock:
    """Time spent in the garbage collector, per generation, while `running` is set."""

    def __init__(self) -> None:
        self.running = False
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if not self.running:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._start
            self.collections[info["generation"]] += 1


# --------------------------------------------------------------------------- the synthetic catalog


def key_env(i: int) -> str:
    return f"BENCH_CONSUMER_{i:04d}_KEY"


def bench_environ() -> dict[str, str]:
    """The environment the catalog's `${env:...}` references resolve against (one key per consumer:
    key-auth keys must be unique, and the checks compare the references themselves)."""
    return {key_env(i): f"bench-key-{i:04d}-5f0c3e9a1b7d4e26" for i in range(CONSUMERS)}


def catalog_yaml(services: int, mesh: bool = False) -> str:
    """The catalog as YAML text, written the way a person would (block style, short flow mappings).
    Built as text, not dumped from a dict, so that generating 10,000 services costs next to nothing.
    With `mesh`, a `mesh:` section and a `mesh:` block on every service (see `mesh_block`)."""
    out: list[str] = [
        "# Synthetic catalog written by bench/render.py",
        "format: 1",
        f"name: bench-{services}",
        f"description: Synthetic catalog with {services} services for the render benchmark.",
        "tags: [bench]",
        "defaults:",
        "  tags: [synthetic]",
        "  timeouts: {connect: 5s, read: 30s, write: 30s}",
        "  retries: 3",
        "gateway:",
        "  edition: oss",
        "  mode: db",
        "  request_id: {header: X-Request-ID}",
        "  metrics: {status_codes: true, latency: true, bandwidth: true, upstream_health: true}",
        "  security_headers: true",
    ]
    if mesh:
        out += [
            "mesh:",
            "  enabled: true",
            "  name: bench",
            "  mtls: {mode: strict, rotation: 24h}",
            "  default_action: deny",
            "  gateway_selector: {app: kong}",
            "  tracing:",
            "    zipkin: {endpoint: http://zipkin.observability.svc.cluster.local:9411/api/v2/spans, sampling: 10}",
            "  metrics:",
            "    prometheus: {port: 5670, path: /metrics}",
            "  access_log: {file: /dev/stdout}",
        ]
    out.append("consumers:")
    for i in range(CONSUMERS):
        groups = f"group-{i % GROUPS:02d}" + (f", group-{(i + 7) % GROUPS:02d}" if i % 3 == 0 else "")
        out += [
            f"  - name: consumer-{i:04d}",
            f"    custom_id: client-{i:04d}",
            f"    groups: [{groups}]",
            "    credentials:",
            "      key_auth:",
            f'        - key: "${{env:{key_env(i)}}}"',
        ]
        if i % 10 == 0:
            out.append("    rate_limit: {minute: 1200, by: consumer}")
    out.append("services:")
    for i in range(services):
        name = f"svc-{i:05d}"
        team = f"team-{i % 50:02d}"
        out += [
            f"  - name: {name}",
            f"    description: Synthetic service {i} of {services}",
            f"    tags: [{team}]",
            f"    url: http://{name}.{team}.svc.cluster.local:8080/api",
            "    routes:",
            "      - name: read",
            f"        paths: [/{name}/v1/items]",
            "        methods: [GET, HEAD]",
            "        hosts: [api.example.com]",
            "      - name: write",
            f"        paths: [/{name}/v1/items]",
            "        methods: [POST, PUT, PATCH, DELETE]",
            "        hosts: [api.example.com]",
            "      - name: admin",
            f"        paths: [/{name}/admin]",
            "        hosts: [admin.example.com]",
            "        strip_path: false",
            # plugins 1 and 2: key-auth and acl
            "    auth: [key-auth]",
            f"    allow_groups: [group-{i % GROUPS:02d}, group-{(i + 3) % GROUPS:02d}]",
            # plugin 3: rate-limiting
            f"    rate_limit: {{second: 10, minute: {300 + i % 7 * 100}, by: consumer, policy: local}}",
        ]
        # plugin 4: rotate through a feature with a richer config, a one-liner and a raw plugin
        variant = i % 3
        if variant == 0:
            out += [
                "    cors:",
                "      origins: [https://app.example.com, https://admin.example.com]",
                "      methods: [GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS]",
                "      headers: [Authorization, Content-Type, X-Request-ID]",
                "      credentials: true",
                "      max_age: 1h",
            ]
        elif variant == 1:
            out.append(f"    max_body: {1 + i % 16}m")
        else:
            out += [
                "    plugins:",
                "      request-transformer:",
                f'        add: {{headers: ["X-Service:{name}", "X-Team:{team}"]}}',
            ]
        if mesh:
            out += mesh_block(i, services)
    return "\n".join(out) + "\n"


def mesh_block(i: int, services: int) -> list[str]:
    """Service i's `mesh:` settings. Its Kubernetes identity (name, namespace team-yy, port 8080) comes
    from its url; Kong may call it (it has routes) and so may 1 or 2 other services."""
    callers = [c for c in dict.fromkeys(((i + 1) % services, (i + 13) % services if i % 2 == 0 else i)) if c != i]
    allow_from = ", ".join(f"svc-{c:05d}" for c in callers)
    return [
        "    mesh:",
        f"      allow_from: [{allow_from}]",
        f"      retries: {{attempts: {2 + i % 3}, on: [5xx, connect-failure, reset], backoff: 25ms..250ms}}",
        f"      timeouts: {{connect: 2s, request: {10 + i % 20}s, idle: 1h}}",
        "      circuit_breaker: {consecutive_5xx: 5, interval: 10s, base_ejection: 30s, max_ejection_percent: 20}",
        "      health_check: {path: /healthz, interval: 10s, timeout: 2s, healthy_after: 1, unhealthy_after: 3}",
        f"      load_balancer: {LOAD_BALANCERS[i % len(LOAD_BALANCERS)]}",
        f"      rate_limit: {{requests: {100 + i % 10 * 50}, interval: 1s}}",
    ]


# --------------------------------------------------------------------------- the child process


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def child(size: int, workdir: Path, repeats: int, profile: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    # Everything is imported before the clock starts: the benchmark is about a big catalog, not start-up.
    import yaml

    from gatewayctl.catalog.load import load_catalog
    from gatewayctl.render import render
    from gatewayctl.render.kong import build_kong_config
    from gatewayctl.render.output import write_files

    catalog_path = workdir / "catalog.yaml"
    out_dir = workdir / "out"
    environ = bench_environ()
    rss_after_import = peak_rss_mb()

    gc_clock = GcClock()
    last: dict[str, Any] = {}  # the catalog of the latest run, for the baseline's Kong document

    def measured_run() -> dict[str, Any]:
        last.clear()  # the previous run's catalog must not count towards this run's memory
        gc_clock.reset()
        gc_clock.running = True
        c0 = time.process_time()
        t0 = time.perf_counter()
        loaded = load_catalog(catalog_path)
        t1 = time.perf_counter()
        files = render(loaded, ["kong"], loaded.secrets(environ))
        t2 = time.perf_counter()
        write_files(out_dir, files, owned_dirs=["kong"])
        t3 = time.perf_counter()
        c3 = time.process_time()
        gc_clock.running = False
        last["loaded"] = loaded
        return {
            "seconds": t3 - t0,
            "cpu": c3 - c0,
            "load": t1 - t0,
            "render": t2 - t1,
            "write": t3 - t2,
            "gc": sum(gc_clock.seconds),
            "gc_full_collections": gc_clock.collections[2],
            "routes": sum(len(s.routes) for s in loaded.catalog.services),
            "consumers": len(loaded.catalog.consumers),
        }

    if profile:
        return profile_run(measured_run)

    runs = repeat(measured_run, repeats, lambda r: float(r["seconds"]))
    rss = peak_rss_mb()  # before the baseline, so that it is gatewayctl's peak alone
    best = min(runs, key=lambda r: float(r["seconds"]))

    # The baseline: the cheapest way from this catalog file to this kong.yaml with the same YAML
    # library. PyYAML's C loader parses the catalog file (what any tool reading the catalog pays) and
    # PyYAML's C dumper (block style, key order kept) writes the Kong document gatewayctl produced
    # (what any tool writing it with PyYAML pays). Left out is only what is gatewayctl's own:
    # node positions for located errors, safety checks, defaults, pydantic validation, semantic
    # checks, building the Kong entities and the atomic write. So `ratio` reads "how many times the
    # bare YAML I/O floor" a size costs. The parse runs with nothing else alive, as load_catalog does;
    # the Kong document comes from gatewayctl's own builder, outside the clock. gatewayctl writes it with
    # its own emitter (gatewayctl/render/yaml_emitter.py), which reads back as the same data; PyYAML's
    # layout differs in whitespace and quoting only, so the two files differ in size by a few percent.
    loaded = last.pop("loaded")
    kong_doc = {"data": build_kong_config(loaded.catalog, loaded.secrets(environ))}
    del loaded

    def parse_run() -> float:
        t0 = time.perf_counter()
        yaml.load(catalog_path.read_bytes(), Loader=yaml.CSafeLoader)
        return time.perf_counter() - t0

    def dump_run() -> float:
        t0 = time.perf_counter()
        text = yaml.dump(
            kong_doc["data"],
            Dumper=yaml.CSafeDumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=4096,
        )
        baseline_out.write_bytes(text.encode())
        return time.perf_counter() - t0

    baseline_out = workdir / "baseline-kong.yaml"
    dump_s = min(repeat(dump_run, repeats, float))
    kong_bytes = (out_dir / "kong" / "kong.yaml").read_bytes()
    kong_doc.clear()
    gc.collect()
    parse_s = min(repeat(parse_run, repeats, float))

    total = float(best["seconds"])
    baseline = parse_s + dump_s
    return {
        "services": size,
        "routes": best["routes"],
        "consumers": best["consumers"],
        "plugins_per_service": PLUGINS_PER_SERVICE,
        "catalog_bytes": catalog_path.stat().st_size,
        "kong_yaml_bytes": len(kong_bytes),
        "runs": len(runs),
        "seconds": round(total, 4),
        "cpu_seconds": round(best["cpu"], 4),
        "min_cpu_seconds": round(min(float(r["cpu"]) for r in runs), 4),
        "load_seconds": round(best["load"], 4),
        "render_seconds": round(best["render"], 4),
        "write_seconds": round(best["write"], 4),
        "gc_seconds": round(best["gc"], 4),
        "gc_full_collections": best["gc_full_collections"],
        "all_runs_seconds": [round(r["seconds"], 4) for r in runs],
        "baseline_seconds": round(baseline, 4),
        "baseline_parse_seconds": round(parse_s, 4),
        "baseline_dump_seconds": round(dump_s, 4),
        "ratio": round(total / baseline, 2) if baseline else None,
        "peak_rss_mb": round(rss, 1),
        "rss_after_import_mb": round(rss_after_import, 1),
    }


def mesh_child(size: int, workdir: Path, repeats: int, profile: bool) -> dict[str, Any]:
    """--mesh: Kong + Kuma, first written into empty folders, then re-rendered into the last of them."""
    sys.path.insert(0, str(ROOT))
    from gatewayctl.catalog.load import load_catalog
    from gatewayctl.render import render
    from gatewayctl.render.output import write_files

    catalog_path = workdir / "catalog.yaml"
    environ = bench_environ()
    targets = list(MESH_TARGETS)
    rss_after_import = peak_rss_mb()
    gc_clock = GcClock()

    def measured_run(out_dir: Path) -> dict[str, Any]:
        gc_clock.reset()
        gc_clock.running = True
        c0 = time.process_time()
        t0 = time.perf_counter()
        loaded = load_catalog(catalog_path)
        t1 = time.perf_counter()
        files = render(loaded, targets, loaded.secrets(environ))
        t2 = time.perf_counter()
        write_files(out_dir, files, owned_dirs=targets)
        t3 = time.perf_counter()
        c3 = time.process_time()
        gc_clock.running = False
        return {
            "seconds": t3 - t0,
            "cpu": c3 - c0,
            "load": t1 - t0,
            "render": t2 - t1,
            "write": t3 - t2,
            "gc": sum(gc_clock.seconds),
            "gc_full_collections": gc_clock.collections[2],
            "files": len(files),
            "kuma_files": sum(1 for f in files if f.path.startswith("kuma/")),
            "output_bytes": sum(len(f.content) for f in files),
            "routes": sum(len(s.routes) for s in loaded.catalog.services),
            "consumers": len(loaded.catalog.consumers),
        }

    def inodes(out_dir: Path) -> list[int]:
        """The inode of every file under out_dir, outside the clock. write_files never edits a file in place:
        it stages a new file and renames it over the old one, so a rewritten file has an inode that was not
        there before."""
        return [os.stat(os.path.join(folder, name)).st_ino for folder, _, names in os.walk(out_dir) for name in names]

    first_dirs: list[Path] = []

    def first_write() -> dict[str, Any]:
        out_dir = workdir / f"out-first-{len(first_dirs) + 1}"  # a fresh, empty folder every run
        first_dirs.append(out_dir)
        return measured_run(out_dir)

    def rerender() -> dict[str, Any]:
        before = array("Q", sorted(inodes(first_dirs[-1])))  # ~1 MB at 140,000 files: next to nothing in RSS
        gc.collect()
        result = measured_run(first_dirs[-1])
        result["rewritten"] = sum(1 for ino in inodes(first_dirs[-1]) if not _contains(before, ino))
        return result

    if profile:
        warm = first_write()  # not profiled: the profile is of a re-render (the first write is file creation)
        print(
            f"first write into an empty folder (not profiled): {warm['seconds']:.2f} s (load {warm['load']:.2f}, "
            f"render {warm['render']:.2f}, write {warm['write']:.2f}), {warm['files']:,} files; "
            "profiled below: re-renders into that folder",
            file=sys.stderr,
        )
        return profile_run(lambda: measured_run(first_dirs[-1]))

    firsts = repeat(first_write, repeats, lambda r: float(r["seconds"]))
    reruns = repeat(rerender, repeats, lambda r: float(r["seconds"]))
    rss = peak_rss_mb()
    first = min(firsts, key=lambda r: float(r["seconds"]))
    rerun = min(reruns, key=lambda r: float(r["seconds"]))
    result: dict[str, Any] = {
        "services": size,
        "routes": first["routes"],
        "consumers": first["consumers"],
        "kuma_objects_per_service": MESH_OBJECTS_PER_SERVICE,
        "catalog_bytes": catalog_path.stat().st_size,
        "files": first["files"],
        "kuma_files": first["kuma_files"],
        "output_bytes": first["output_bytes"],
        "kong_yaml_bytes": (first_dirs[-1] / "kong" / "kong.yaml").stat().st_size,
    }
    for phase, best, runs in (("first", first, firsts), ("rerender", rerun, reruns)):
        result |= {
            f"{phase}_runs": len(runs),
            f"{phase}_seconds": round(best["seconds"], 4),
            f"{phase}_cpu_seconds": round(best["cpu"], 4),
            f"{phase}_load_seconds": round(best["load"], 4),
            f"{phase}_render_seconds": round(best["render"], 4),
            f"{phase}_write_seconds": round(best["write"], 4),
            f"{phase}_gc_seconds": round(best["gc"], 4),
            f"{phase}_gc_full_collections": best["gc_full_collections"],
            f"{phase}_all_runs_seconds": [round(r["seconds"], 4) for r in runs],
        }
    result["rerender_rewritten_files"] = max(r["rewritten"] for r in reruns)
    result |= {
        "baseline_seconds": None,
        "ratio": None,
        "peak_rss_mb": round(rss, 1),
        "rss_after_import_mb": round(rss_after_import, 1),
    }
    return result


def _contains(sorted_values: array[int], value: int) -> bool:
    i = bisect.bisect_left(sorted_values, value)
    return i < len(sorted_values) and sorted_values[i] == value


def profile_run(measured_run: Callable[[], Any]) -> dict[str, Any]:
    """One measured run under a profiler, printed to stderr: pyinstrument's call tree when it is
    installed (`.venv/bin/pip install pyinstrument`; low overhead), and cProfile's top functions by
    cumulative and by own time in any case."""
    import cProfile
    import io
    import pstats

    try:
        from pyinstrument import Profiler
    except ImportError:
        print("(pyinstrument is not installed: cProfile only)", file=sys.stderr)
    else:
        sampler = Profiler(interval=0.001)
        sampler.start()
        measured_run()
        sampler.stop()
        print("===== pyinstrument =====", file=sys.stderr)
        print(sampler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
    gc.collect()
    profiler = cProfile.Profile()
    profiler.enable()
    measured_run()
    profiler.disable()
    for sort, limit in (("cumulative", 50), ("tottime", 30)):
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats(sort).print_stats(limit)
        print(f"===== cProfile: top {limit} by {sort} time =====", file=sys.stderr)
        print(buffer.getvalue().replace(str(ROOT) + "/", ""), file=sys.stderr)
    return {"profiled": True}


# --------------------------------------------------------------------------- the parent process


def run_size(size: int, repeats: int, profile: bool, mesh: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"gatewayctl-bench-{size}-") as tmp:
        workdir = Path(tmp)
        (workdir / "catalog.yaml").write_text(catalog_yaml(size, mesh), encoding="utf-8")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(size), "--workdir", tmp]
        cmd += ["--repeats", str(repeats)] + (["--profile-child"] if profile else []) + (["--mesh"] if mesh else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=ROOT, check=False)
        if profile:
            sys.stdout.write(proc.stderr)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"size {size}: the benchmark process failed (exit {proc.returncode})")
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def judge(result: dict[str, Any]) -> dict[str, Any]:
    misses = []
    if result["seconds"] > TARGET_SECONDS:
        misses.append("time")
    if result["peak_rss_mb"] > TARGET_RSS_MB:
        misses.append("rss")
    if result["ratio"] is None or result["ratio"] > TARGET_RATIO:
        misses.append("ratio")
    result["target_met"] = not misses
    result["target_missed"] = misses
    return result


COLUMNS = (
    ("services", "services", "{:,}"),
    ("routes", "routes", "{:,}"),
    ("consumers", "consumers", "{:,}"),
    ("catalog bytes", "catalog_bytes", "{:,}"),
    ("kong.yaml bytes", "kong_yaml_bytes", "{:,}"),
    ("validate+render s", "seconds", "{:.3f}"),
    ("CPU s", "cpu_seconds", "{:.3f}"),
    ("baseline s", "baseline_seconds", "{:.3f}"),
    ("ratio", "ratio", "{:.2f}x"),
    ("peak RSS MB", "peak_rss_mb", "{:.0f}"),
)


def cells(result: dict[str, Any]) -> list[str]:
    row = [fmt.format(result[key]) for _, key, fmt in COLUMNS]
    met = "yes" if result["target_met"] else "no (" + ", ".join(result["target_missed"]) + ")"
    return [*row, met]


def text_table(results: list[dict[str, Any]]) -> str:
    header = [title for title, _, _ in COLUMNS] + ["target met"]
    rows = [header] + [cells(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    header = [title for title, _, _ in COLUMNS] + ["target met"]
    runs = ", ".join(f"{r['services']:,} services: {r['runs']}" for r in results)
    libyaml = "with libyaml" if meta["libyaml"] else "without libyaml"
    lines = [
        f"Render benchmark, {meta['date']}: Python {meta['python']}, {meta['cpus']} CPU cores "
        f"({meta['machine']}), PyYAML {meta['pyyaml']} ({libyaml}), pydantic {meta['pydantic']}.",
        f"Each service has {ROUTES_PER_SERVICE} routes and {PLUGINS_PER_SERVICE} plugins; {CONSUMERS} key-auth "
        f"consumers. Times are the best of several runs ({runs}); targets: <= {TARGET_SECONDS:g} s, "
        f"<= {TARGET_RSS_MB:g} MB peak RSS, <= {TARGET_RATIO:g}x the PyYAML C parse + dump baseline.",
        f"Load average when the run ended (1, 5, 15 min): {', '.join(f'{x:g}' for x in meta['load_average'])} "
        f"on {meta['cpus']} cores; `CPU s` is the process's own CPU time (user + system) in the best run, "
        "which unlike wall time does not grow while the process waits for a core.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in results]
    return "\n".join(lines) + "\n"


def metadata(results: list[dict[str, Any]], quick: bool, mesh: bool = False) -> dict[str, Any]:
    import pydantic
    import yaml

    if mesh:
        return {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "machine": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
            "pyyaml": yaml.__version__,
            "libyaml": bool(yaml.__with_libyaml__),
            "pydantic": pydantic.VERSION,
            "quick": quick,
            "mesh": True,
            "render_targets": list(MESH_TARGETS),
            "runs": {r["services"]: {"first": r["first_runs"], "rerender": r["rerender_runs"]} for r in results},
            "targets": {"seconds": MESH_TARGET_SECONDS, "peak_rss_mb": MESH_TARGET_RSS_MB, "ratio": None},
        }
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "pyyaml": yaml.__version__,
        "libyaml": bool(yaml.__with_libyaml__),
        "pydantic": pydantic.VERSION,
        "quick": quick,
        "runs": {r["services"]: r["runs"] for r in results},
        "targets": {"seconds": TARGET_SECONDS, "peak_rss_mb": TARGET_RSS_MB, "ratio": TARGET_RATIO},
    }


# --------------------------------------------------------------------------- --mesh: judging and tables


def mesh_judge(result: dict[str, Any]) -> dict[str, Any]:
    """Both the first write and the re-render are held to the time target; there is no ratio target."""
    misses = []
    if result["first_seconds"] > MESH_TARGET_SECONDS:
        misses.append("time, first write")
    if result["rerender_seconds"] > MESH_TARGET_SECONDS:
        misses.append("time, re-render")
    if result["peak_rss_mb"] > MESH_TARGET_RSS_MB:
        misses.append("rss")
    result["target_met"] = not misses
    result["target_missed"] = misses
    return result


MESH_HEADER = (
    "services",
    "files written",
    "catalog bytes",
    "output bytes",
    "first write s (load / render / write; CPU)",
    "re-render s (load / render / write; CPU)",
    "files rewritten on re-render",
    "baseline s",
    "ratio",
    "peak RSS MB",
    "target met",
)


def mesh_cells(r: dict[str, Any]) -> list[str]:
    def split(phase: str) -> str:
        parts = " / ".join(f"{r[f'{phase}_{step}_seconds']:.2f}" for step in ("load", "render", "write"))
        return f"{r[f'{phase}_seconds']:.2f} ({parts}; CPU {r[f'{phase}_cpu_seconds']:.2f})"

    met = "yes" if r["target_met"] else "no (" + "; ".join(r["target_missed"]) + ")"
    return [
        f"{r['services']:,}",
        f"{r['files']:,}",
        f"{r['catalog_bytes']:,}",
        f"{r['output_bytes']:,}",
        split("first"),
        split("rerender"),
        f"{r['rerender_rewritten_files']:,}",
        "n/a",
        "n/a",
        f"{r['peak_rss_mb']:.0f}",
        met,
    ]


def mesh_text_table(results: list[dict[str, Any]]) -> str:
    rows = [list(MESH_HEADER)] + [mesh_cells(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(MESH_HEADER))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def mesh_markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    def runs(phase: str) -> str:
        return ", ".join(f"{r['services']:,}: {r[f'{phase}_runs']}" for r in results)

    libyaml = "with libyaml" if meta["libyaml"] else "without libyaml"
    lines = [
        f"Render benchmark, Kong + Kuma (`--mesh`), {meta['date']}: Python {meta['python']}, {meta['cpus']} CPU "
        f"cores ({meta['machine']}), PyYAML {meta['pyyaml']} ({libyaml}), pydantic {meta['pydantic']}.",
        f"Each service has {ROUTES_PER_SERVICE} routes, {PLUGINS_PER_SERVICE} plugins and a `mesh:` block "
        f"({MESH_OBJECTS_PER_SERVICE} Kuma objects, each in Kubernetes and Universal form); {CONSUMERS} key-auth "
        "consumers. Measured: load_catalog + render kong,kuma + write_files. **First write** is into an empty "
        "folder (every file created); **re-render** is into the folder the first write left (unchanged files "
        f"are read and compared, not rewritten). Best of several runs (first write: {runs('first')}; re-render: "
        f"{runs('rerender')}); targets: <= {MESH_TARGET_SECONDS:g} s for both, <= {MESH_TARGET_RSS_MB:g} MB "
        "peak RSS; no baseline.",
        f"Load average when the run ended (1, 5, 15 min): {', '.join(f'{x:g}' for x in meta['load_average'])} "
        f"on {meta['cpus']} cores; CPU is the process's own CPU time (user + system) in the best run.",
        "",
        "| " + " | ".join(MESH_HEADER) + " |",
        "|" + "|".join("---:" for _ in MESH_HEADER) + "|",
    ]
    lines += ["| " + " | ".join(mesh_cells(r)) + " |" for r in results]
    return "\n".join(lines) + "\n"


def mesh_main(sizes: list[int], quick: bool) -> int:
    started = time.perf_counter()
    results = []
    for size in sizes:
        print(f"{size:,} services (Kong + Kuma) ...", file=sys.stderr, flush=True)
        results.append(mesh_judge(run_size(size, repeats_for(size, quick), profile=False, mesh=True)))
    meta = metadata(results, quick, mesh=True)
    meta["wall_seconds"] = round(time.perf_counter() - started, 1)

    print(mesh_text_table(results))
    for r in results:
        print(
            f"{r['services']:>7,} services, {r['files']:,} files: first write (best of {r['first_runs']}) "
            f"{r['first_seconds']:.2f} s, garbage collector {r['first_gc_seconds']:.2f} s; re-render (best of "
            f"{r['rerender_runs']}) {r['rerender_seconds']:.2f} s, garbage collector {r['rerender_gc_seconds']:.2f} s, "
            f"{r['rerender_rewritten_files']:,} files rewritten"
        )
    print(f"all targets met: {'yes' if all(r['target_met'] for r in results) else 'no'} ({meta['wall_seconds']} s)")

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "render-mesh.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    (RESULTS / "render-mesh.md").write_text(mesh_markdown(results, meta))
    print(f"wrote {RESULTS / 'render-mesh.json'} and {RESULTS / 'render-mesh.md'}")
    return 0


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes takes numbers such as 100,1000 (got {text!r})") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("--sizes needs at least one positive number")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", type=parse_sizes, help="comma-separated service counts (default 100,1000,10000)")
    parser.add_argument("--quick", action="store_true", help="one run per size; 100 and 1,000 unless --sizes")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="SIZE",
        help="profile one run at SIZE (pyinstrument when installed, and cProfile); no results written",
    )
    parser.add_argument(
        "--mesh",
        action="store_true",
        help="mesh settings on every service; render and write kong + kuma (results in render-mesh.*)",
    )
    parser.add_argument("--child", type=int, metavar="SIZE", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        run_child = mesh_child if args.mesh else child
        result = run_child(args.child, args.workdir, args.repeats, args.profile_child)
        print(json.dumps(result))
        return 0

    if args.profile is not None:
        run_size(args.profile, 1, profile=True, mesh=args.mesh)
        return 0

    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.mesh:
        return mesh_main(sizes, args.quick)
    started = time.perf_counter()
    results = []
    for size in sizes:
        print(f"{size:,} services ...", file=sys.stderr, flush=True)
        results.append(judge(run_size(size, repeats_for(size, args.quick), profile=False)))
    meta = metadata(results, args.quick)
    meta["wall_seconds"] = round(time.perf_counter() - started, 1)

    print(text_table(results))
    for r in results:
        print(
            f"{r['services']:>7,} services, best of {r['runs']}: load_catalog {r['load_seconds']:.2f} s, "
            f"render {r['render_seconds']:.2f} s, write_files {r['write_seconds']:.2f} s "
            f"(of which garbage collector {r['gc_seconds']:.2f} s, {r['gc_full_collections']} full runs); "
            f"baseline parse {r['baseline_parse_seconds']:.2f} s + dump {r['baseline_dump_seconds']:.2f} s"
        )
    print(f"all targets met: {'yes' if all(r['target_met'] for r in results) else 'no'} ({meta['wall_seconds']} s)")

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "render.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    (RESULTS / "render.md").write_text(markdown(results, meta))
    print(f"wrote {RESULTS / 'render.json'} and {RESULTS / 'render.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
