"""The watch loop: every interval, and as soon as the catalog file changes, plan every system; with
--heal apply what drifted and plan again, so the gauges show the state after healing.

Failure handling: nothing a remote does stops the loop. A check that cannot reach a system is counted and
logged, and the next one waits a capped exponential back-off (interval, 2x, 4x ... up to `max_backoff`)
instead of the interval. An edit that does not load is logged with its located errors and counted; the
last good catalog keeps being used. Stopping (SIGTERM/SIGINT set `stop`) is looked at between steps, and an
apply in flight sees it between write batches only, so no write is cut off half-sent."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gatewayctl.diagnostics import CatalogInvalid, plural
from gatewayctl.watch.health import Health
from gatewayctl.watch.metrics import WatchMetrics
from gatewayctl.watch.source import CatalogSource, Reload
from gatewayctl.watch.system import Applied, Check, RemoteFailure, System

log = logging.getLogger("gatewayctl.watch")


@dataclass(frozen=True)
class WatchConfig:
    interval: float = 60.0
    heal: bool = False
    max_backoff: float = 300.0  # the longest wait after repeated failures (never below the interval)
    poll: float = 1.0  # how often the catalog file is looked at

    def backoff(self, failures: int) -> float:
        """Seconds before the next check after `failures` failed checks in a row (0: the interval)."""
        if failures <= 0:
            return self.interval
        return min(self.interval * 2.0 ** min(failures - 1, 30), max(self.interval, self.max_backoff))


@dataclass
class CheckResult:
    reached: bool  # every system was planned
    drift: int  # objects drifted over all systems (after healing, with --heal)
    checks: list[Check]


class Watcher:
    def __init__(
        self,
        source: CatalogSource,
        systems: Sequence[System],
        metrics: WatchMetrics,
        health: Health,
        config: WatchConfig,
        is_leader: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.systems = list(systems)
        self.metrics = metrics
        self.health = health
        self.config = config
        self.is_leader = is_leader
        self.clock = clock
        self.wall = wall
        self.checks = 0  # checks finished (tests and the bench count them)
        self._leading: bool | None = None
        for system in self.systems:
            metrics.start_system(system.name, system.kinds)

    # ---------------------------------------------------------------- catalog

    def load(self, result: Reload | None = None) -> bool:
        """(Re)load the catalog file (or report the load just made); False when it did not load (the last
        good catalog stays)."""
        result = result or self.source.reload()
        # load_catalog freezes what it allocated (gatewayctl/gcpause.py); a process that lives on must hand
        # those objects back to the collector, or reference cycles among them would never be freed.
        gc.unfreeze()
        for d in result.diagnostics:
            (log.warning if d.severity == "warning" or result.ok else log.error)("%s", d)
        if result.ok:
            self.metrics.reload_ok.set(1)
            self.metrics.reload_time.set(self.wall())
            assert self.source.loaded is not None
            log.info("catalog %s loaded (%s)", self.source.path, self.source.loaded.catalog.name)
        else:
            self.metrics.reload_ok.set(0)
            self.metrics.reload_errors.inc()
            kept = "keeping the last good catalog" if self.source.loaded else "no catalog to check with yet"
            errors = sum(d.severity != "warning" for d in result.diagnostics)  # warnings are logged, not counted
            log.error("catalog %s did not load (%s); %s", self.source.path, plural(errors, "error"), kept)
        self.health.update(catalog_loaded=self.source.loaded is not None)
        return result.ok

    # ---------------------------------------------------------------- one check

    def check(self, stop: threading.Event | None = None) -> CheckResult:
        """Plan every system once (and heal with --heal). Never raises for remote or catalog problems."""
        stop = stop or threading.Event()
        loaded = self.source.loaded
        if loaded is None:
            return CheckResult(False, 0, [])
        reached = True
        problems: list[str] = []
        done: list[Check] = []
        for system in self.systems:
            if stop.is_set():
                reached = False
                break
            check = self._plan(system, problems)
            if check is None:
                reached = False
                continue
            if self.config.heal and check.pending and not stop.is_set():
                check = self._heal(system, check, stop) or check
            done.append(check)
        self.health.update(reached=reached, problem="; ".join(problems))
        self.checks += 1
        return CheckResult(reached, sum(c.total for c in done), done)

    def _plan(self, system: System, problems: list[str]) -> Check | None:
        loaded = self.source.loaded
        assert loaded is not None
        started = self.clock()
        try:
            check = system.plan(loaded)
        except CatalogInvalid as exc:
            for d in exc.errors:
                log.error("%s", d)
            self.metrics.check_failures.labels(system.name, "catalog").inc()
            problems.append(f"{system.name}: the catalog cannot be planned ({plural(len(exc.errors), 'error')})")
            return None
        except RemoteFailure as exc:
            self.metrics.check_failures.labels(system.name, exc.reason).inc()
            problems.append(str(exc))
            log.error("%s check failed: %s", system.name, exc)
            return None
        except Exception as exc:  # not foreseen (a client library's own error, a bug): logged in full, loop goes on
            log.exception("%s check failed unexpectedly", system.name)
            self.metrics.check_failures.labels(system.name, "error").inc()
            problems.append(f"{system.name}: {type(exc).__name__}: {exc}")
            return None
        finally:
            self.metrics.plan_duration.labels(system.name).observe(self.clock() - started)
        self.metrics.set_drift(system.name, dict(check.drift))
        self.metrics.last_check.labels(system.name).set(self.wall())
        if check.total:
            log.warning("%s drifted from the catalog: %s", system.name, _counts(check))
        return check

    def _heal(self, system: System, check: Check, stop: threading.Event) -> Check | None:
        loaded = self.source.loaded
        assert loaded is not None
        log.info("%s: applying %s", system.name, _counts(check))
        self.metrics.applies.labels(system.name).inc()
        started = self.clock()
        try:
            applied = system.apply(loaded, check, stop)
        except Exception as exc:  # the systems report remote problems in the result; this is anything else
            log.exception("%s: apply failed unexpectedly", system.name)
            applied = Applied(0, check.total, "error", [f"{system.name}: {exc}"])
        self.metrics.apply_duration.labels(system.name).observe(self.clock() - started)
        for message in applied.messages:
            (log.info if applied.ok else log.error)("%s", message)
        if applied.ok:
            self.metrics.last_apply.labels(system.name).set(self.wall())
            log.info("%s: %s applied", system.name, plural(applied.done, "change"))
        else:
            assert applied.failure is not None
            self.metrics.apply_failures.labels(system.name, applied.failure).inc()
            log.error(
                "%s: apply failed (%s): %d applied, %d left", system.name, applied.failure, applied.done, applied.left
            )
        if stop.is_set():
            return None
        return self._plan(system, [])  # the gauges show what is left after healing

    # ---------------------------------------------------------------- the loop

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set. The catalog must have loaded once (see `load`)."""
        failures = 0
        next_check = self.clock()
        while not stop.is_set():
            self.health.beat()
            due = self.clock() >= next_check
            if self.source.changed(hash_anyway=due):
                log.info("catalog %s changed; reloading", self.source.path)
                if self.load():
                    due = True
            was_leading = self._leading
            leading = self._lead()
            due = due or (leading and was_leading is False)  # just took over: check at once
            if due and leading and not stop.is_set():
                try:
                    reached = self.check(stop).reached
                except Exception:  # a bug in one check must not end the watch; it is logged in full
                    log.exception("the check failed unexpectedly")
                    reached = False
                failures = 0 if reached else failures + 1
                if failures and not stop.is_set():
                    log.warning("next check in %.1f s (%d failed in a row)", self.config.backoff(failures), failures)
                next_check = self.clock() + self.config.backoff(failures)
            elif due:
                next_check = self.clock() + self.config.interval
            stop.wait(max(0.0, min(self.config.poll, next_check - self.clock())))

    def _lead(self) -> bool:
        leading = self.is_leader()
        if leading != self._leading:
            self._leading = leading
            self.metrics.leader.set(1 if leading else 0)
            self.health.update(follower=not leading)
            if leading:
                log.info("leading: checking%s", " and healing" if self.config.heal else "")
                for system in self.systems:
                    self.metrics.start_system(system.name, system.kinds)
            else:
                log.info("following: not holding the lease (another replica acts)")
                self.metrics.clear_drift()
        return leading


def _counts(check: Check) -> str:
    """`+2 ~0 -1`: the plan's summary without its `kong: ` prefix, since log lines name the system already."""
    return check.summary.split(": ", 1)[-1]
