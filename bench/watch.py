"""Benchmark: `gatewayctl watch` for one simulated hour at a 1 s interval, against the Kong emulator.

The Watcher is wired as the command wires it (Kong system, metrics observer on the client's call log,
/metrics server) and driven through its real loop (`Watcher.run`), with a simulated clock: every wait of
the loop returns at once and moves the clock on, so 3,600 checks run back to back. The emulator runs in
its own process (`python -m tests.emulators.kong`), so this process holds only the watch. Along the way:

  drift     every `--drift-every` (60) checks a service is changed through the Admin API; with --heal
            (the default) the watch puts it back, so the hour includes heals (lock, snapshot, writes)
  reloads   every `--reload-every` (600) checks the catalog file is switched between two versions: the
            watch reloads it, plans the difference and heals it
  scrapes   /metrics is fetched every 15 checks (a Prometheus scrape interval of 15 s)
  catalog   the file is hashed at every check, as the loop does

Resident memory (VmRSS) is read after a warm-up of 100 checks and then every 300 checks; the growth is
end minus warm-up. Target: < 10 MB over the hour. Results go to bench/results/watch.json and watch.md.

    .venv/bin/python bench/watch.py                 # 3,600 checks
    .venv/bin/python bench/watch.py --checks 600    # a shorter run
    .venv/bin/python bench/watch.py --no-heal       # report only
    .venv/bin/python bench/watch.py --services 100  # bench/sync.py's synthetic catalog (watch-100.json/md)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import logging
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from emulators.harness import CATALOG, SECRETS  # noqa: E402

from gatewayctl.cli import main as cli  # noqa: E402
from gatewayctl.clients.kong_admin import Endpoint, KongAdmin  # noqa: E402
from gatewayctl.watch.health import Health, MetricsServer  # noqa: E402
from gatewayctl.watch.kong import KongSystem  # noqa: E402
from gatewayctl.watch.loop import WatchConfig, Watcher  # noqa: E402
from gatewayctl.watch.metrics import WatchMetrics  # noqa: E402
from gatewayctl.watch.source import CatalogSource  # noqa: E402

TARGET_MB = 10.0
WARMUP = 100
SAMPLE_EVERY = 300
SCRAPE_EVERY = 15


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SimulatedTime:
    """The loop's clock and its stop event in one: waiting moves the clock instead of sleeping, and the
    event reports "set" once the wanted number of checks is done."""

    def __init__(self, watcher_checks: Any, wanted: int) -> None:
        self.now = 0.0
        self.checks = watcher_checks
        self.wanted = wanted

    def clock(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return bool(self.checks() >= self.wanted)

    def wait(self, seconds: float | None = None) -> bool:
        self.now += seconds or 0.0
        return self.is_set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.kong", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/status", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the Kong emulator did not start")


def catalogs_and_service(services: int) -> tuple[str, str, str]:
    """Two versions of the catalog (the watch is switched between them to exercise reloads) and the
    service the drift is made on: the tests' harness catalog, or with `services` bench/sync.py's synthetic
    one (bench/render.py's, with plugins the emulator knows)."""
    if not services:
        os.environ.update(SECRETS)
        return CATALOG, CATALOG.replace("rate_limit: {minute: 60}", "rate_limit: {minute: 61}"), "orders"
    sys.path.insert(0, str(HERE))
    import render as render_bench
    import sync as sync_bench

    os.environ.update(render_bench.bench_environ())
    return sync_bench.catalog_text(services), sync_bench.catalog_text(services, changed=1), "svc-00000"


def run(checks: int, drift_every: int, reload_every: int, heal: bool, services: int = 0) -> dict[str, Any]:
    os.environ.pop("GATEWAYCTL_KONG_ADMIN_TOKEN", None)
    text, edited, drifting = catalogs_and_service(services)
    port = free_port()
    emulator = start_emulator(port)
    url = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="gatewayctl-watch-bench-"))
    catalog = work / "catalog.yaml"
    catalog.write_text(text)
    try:
        os.chdir(work)
        with contextlib.redirect_stdout(io.StringIO()):
            applied = cli(["apply", str(catalog), "--yes", "--kong-admin-url", url])
        if applied != 0:
            raise SystemExit("the initial apply failed")
        logging.getLogger("gatewayctl.watch").setLevel(logging.ERROR)  # a line per heal is not the point

        metrics = WatchMetrics()
        client = KongAdmin(Endpoint(url), pool=8)
        client.log.observers.append(metrics.remote_observer("kong"))
        system = KongSystem(client, parallelism=8, state_dir=work / "state")
        health = Health(stuck_after=300.0)
        config = WatchConfig(interval=1.0, heal=heal, poll=1.0)
        watcher = Watcher(CatalogSource(catalog), [system], metrics, health, config)
        sim = SimulatedTime(lambda: watcher.checks, checks)
        watcher.clock = sim.clock
        assert watcher.load()
        server = MetricsServer("127.0.0.1", 0, metrics.registry, health).start()
        admin = httpx.Client(base_url=url, timeout=10)

        samples: list[tuple[int, float]] = []
        drifts = 0
        reloads = 0
        scraped_bytes = 0
        original_check = watcher.check

        def check(stop: Any = None) -> Any:
            nonlocal drifts, reloads, scraped_bytes
            n = watcher.checks
            if reload_every and n and n % reload_every == 0:  # picked up at the loop's next turn
                catalog.write_text(edited if (n // reload_every) % 2 else text)
                reloads += 1
            if drift_every and n and n % drift_every == 0:
                admin.patch(f"/services/{drifting}", json={"retries": 1 + n % 4})
                drifts += 1
            result = original_check(stop)
            if n % SCRAPE_EVERY == 0:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as response:
                    scraped_bytes = len(response.read())
            if n + 1 == WARMUP or (n + 1) % SAMPLE_EVERY == 0 or n + 1 == checks:
                gc.collect()
                samples.append((n + 1, rss_mb()))
            return result

        original_load = watcher.load
        loads = 0

        def load(result: Any = None) -> bool:
            nonlocal loads
            ok = original_load(result)
            loads += ok
            return ok

        watcher.check = check  # type: ignore[method-assign]
        watcher.load = load  # type: ignore[method-assign]
        started = time.perf_counter()
        watcher.run(sim)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        server.stop()
        admin.close()
        system.close()
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

    def value(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    requests = sum(
        s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == "gatewayctl_remote_request_duration_seconds_count"
    )
    warm = next(mb for n, mb in samples if n >= WARMUP)
    end = samples[-1][1]
    return {
        "catalog": f"{services} synthetic services (bench/sync.py)" if services else "the tests' harness catalog",
        "entities": _entities(watcher),
        "checks": watcher.checks,
        "simulated_seconds": sim.now,
        "wall_seconds": round(elapsed, 1),
        "ms_per_check": round(1000 * elapsed / max(1, watcher.checks), 1),
        "drift_introduced": drifts,
        "catalog_edits": reloads,
        "catalog_reloads": loads,
        "heals": int(value("gatewayctl_applies_total", system="kong")),
        "heal_failures": int(sum(v for k, v in _by_label(metrics, "gatewayctl_apply_failures_total").items())),
        "check_failures": int(sum(_by_label(metrics, "gatewayctl_check_failures_total").values())),
        "requests": int(requests),
        "metrics_bytes": scraped_bytes,
        "rss_warm_mb": round(warm, 1),
        "rss_end_mb": round(end, 1),
        "rss_growth_mb": round(end - warm, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_samples": [{"checks": n, "rss_mb": round(mb, 1)} for n, mb in samples],
        "target_met": end - warm < TARGET_MB,
    }


def _entities(watcher: Watcher) -> int:
    loaded = watcher.source.loaded
    assert loaded is not None
    from gatewayctl.apply.session import render_desired

    return len(render_desired(loaded).state.entities)


def _by_label(metrics: WatchMetrics, name: str) -> dict[str, float]:
    return {
        json.dumps(s.labels, sort_keys=True): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == name
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("checks (1 s interval, simulated)", f"{result['checks']:,}"),
        ("wall time", f"{result['wall_seconds']} s ({result['ms_per_check']} ms per check)"),
        (
            "drift introduced / heals / heal failures",
            f"{result['drift_introduced']} / {result['heals']} / {result['heal_failures']}",
        ),
        ("catalog edits / reloads", f"{result['catalog_edits']} / {result['catalog_reloads']}"),
        ("check failures", str(result["check_failures"])),
        ("Admin API requests", f"{result['requests']:,}"),
        ("RSS after 100 checks", f"{result['rss_warm_mb']} MB"),
        ("RSS at the end", f"{result['rss_end_mb']} MB"),
        (
            "RSS growth",
            f"{result['rss_growth_mb']} MB (target < {TARGET_MB:g} MB: {'met' if result['target_met'] else 'MISSED'})",
        ),
        ("peak RSS", f"{result['peak_rss_mb']} MB"),
    ]
    lines = ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=3600)
    parser.add_argument("--drift-every", type=int, default=60, help="change a service every N checks (0: never)")
    parser.add_argument("--reload-every", type=int, default=600, help="edit the catalog every N checks (0: never)")
    parser.add_argument("--no-heal", action="store_true")
    parser.add_argument("--services", type=int, default=0, help="a synthetic catalog of N services instead")
    args = parser.parse_args()
    result = run(args.checks, args.drift_every, args.reload_every, not args.no_heal, args.services)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"Watch benchmark, {when}: Python {platform.python_version()}, {os.cpu_count()} CPU cores "
        f"({platform.system()} {platform.machine()}); Kong emulator in its own process on loopback; "
        f"{result['catalog']}, {result['entities']:,} Kong entities; "
        f"{'--heal' if not args.no_heal else 'report only'}, a service changed every "
        f"{args.drift_every} checks, the catalog edited every {args.reload_every}, "
        f"/metrics scraped every {SCRAPE_EVERY}."
    )
    text = header + "\n\n" + table(result) + "\n"
    print(text)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stem = f"watch-{args.services}" if args.services else "watch"
    (results / f"{stem}.json").write_text(json.dumps({"when": when, "args": vars(args), **result}, indent=2) + "\n")
    (results / f"{stem}.md").write_text(text)
    if not result["target_met"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
