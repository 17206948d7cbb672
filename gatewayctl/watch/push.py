"""`gatewayctl apply --pushgateway URL`: a CI apply's duration, change counts and result, pushed to a
Prometheus Pushgateway so that CI syncs show up on the same dashboards as the watch.

Grouping key: job `gatewayctl-apply`, `catalog` and `env` (left out when no --env). The push is a
`pushadd` (HTTP POST): it replaces the metrics it names in that group and keeps the others, so
`gatewayctl_apply_run_last_success_timestamp_seconds` survives a failed run (a PUT would drop it, and with
it the "no successful CI apply for a day" alert). A push that fails is reported by the caller as a warning;
it never changes apply's exit code, and names the URL without its credentials (as the API clients do).

Wiring into `apply` (gatewayctl/cli/remote_commands.py): a `--pushgateway URL` option, the command's body
inside `with pushed_run(pushgateway, catalog.stem, env, warn) as run:` (`stdin` for a catalog read from
standard input; warn prints a yellow warning), and
once the plans exist `run.catalog = loaded.catalog.name` and `run.record("kong", kong.plan.counts())` /
`run.record("kuma", kuma.plan.counts())`. Every ending of `apply` is a typer.Exit, whose code is recorded.

| metric | labels | value |
|---|---|---|
| gatewayctl_apply_run_duration_seconds | | the run, wall time |
| gatewayctl_apply_run_changes | system, action | changes planned (create/update/delete) |
| gatewayctl_apply_run_success | | 1 when apply exited 0 |
| gatewayctl_apply_run_exit_code | | apply's exit code (0 ok, 1 invalid, 3 remote) |
| gatewayctl_apply_run_last_timestamp_seconds | | when the run ended |
| gatewayctl_apply_run_last_success_timestamp_seconds | | when a run last succeeded (pushed on success only) |
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import default_handler, pushadd_to_gateway

from gatewayctl.clients.http import Endpoint, url_credentials
from gatewayctl.plan.masking import Masker

JOB = "gatewayctl-apply"
ACTIONS = ("create", "update", "delete")


@dataclass
class ApplyRun:
    catalog: str
    env: str | None = None
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (system, action) -> planned changes
    duration: float = 0.0
    exit_code: int = 0

    def record(self, system: str, counts: tuple[int, int, int]) -> None:
        """A system's plan counts as (create, update, delete), e.g. `KongPlan.counts()`."""
        for action, n in zip(ACTIONS, counts, strict=True):
            self.changes[(system, action)] = n

    def grouping_key(self) -> dict[str, str]:
        return {"catalog": self.catalog, **({"env": self.env} if self.env else {})}


def run_registry(run: ApplyRun, ended: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge("gatewayctl_apply_run_duration_seconds", "Wall time of the apply run.", registry=registry).set(run.duration)
    changes = Gauge(
        "gatewayctl_apply_run_changes",
        "Changes the run planned, by system and action.",
        ["system", "action"],
        registry=registry,
    )
    for (system, action), n in sorted(run.changes.items()):
        changes.labels(system, action).set(n)
    ok = run.exit_code == 0
    Gauge("gatewayctl_apply_run_success", "1 when the apply run exited 0.", registry=registry).set(1 if ok else 0)
    Gauge("gatewayctl_apply_run_exit_code", "The apply run's exit code.", registry=registry).set(run.exit_code)
    Gauge("gatewayctl_apply_run_last_timestamp_seconds", "When the run ended.", registry=registry).set(ended)
    if ok:
        Gauge(
            "gatewayctl_apply_run_last_success_timestamp_seconds",
            "When an apply run last succeeded.",
            registry=registry,
        ).set(ended)
    return registry


def push_apply_run(
    gateway: str,
    run: ApplyRun,
    *,
    job: str = JOB,
    timeout: float = 10.0,
    handler: Callable[..., Any] = default_handler,
    now: Callable[[], float] = time.time,
) -> str | None:
    """Push the run; None when it went through, else why not (one line, for a warning)."""
    try:
        pushadd_to_gateway(
            gateway,
            job=job,
            registry=run_registry(run, now()),
            grouping_key=run.grouping_key(),
            timeout=timeout,
            handler=handler,
        )
    except Exception as exc:  # urllib's URLError/HTTPError/timeouts, a malformed URL: never fail the apply for it
        text = str(exc).strip().splitlines()
        # the URL as the Admin APIs' are shown: without a user:password@ or a query that may hold a token,
        # and those masked where urllib quotes them (`nonnumeric port: 'password@host'`)
        shown = Masker.of(url_credentials(gateway)).text(text[0]) if text else type(exc).__name__
        return f"could not push metrics to {Endpoint(gateway).display()}: {shown}"
    return None


@contextmanager
def pushed_run(
    gateway: str | None,
    catalog: str,
    env: str | None,
    warn: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[ApplyRun]:
    """Time the block, take its exit code from how it ends (typer.Exit/SystemExit carry one; any other
    exception is 1), push when `gateway` is set, and let the ending go on unchanged."""
    run = ApplyRun(catalog, env)
    started = clock()
    try:
        yield run
    except BaseException as exc:
        run.exit_code = _exit_code(exc)
        raise
    finally:
        run.duration = clock() - started
        if gateway:
            problem = push_apply_run(gateway, run)
            if problem:
                warn(problem)


def _exit_code(exc: BaseException) -> int:
    code = getattr(exc, "exit_code", None)  # click/typer Exit
    if code is None and isinstance(exc, SystemExit):
        code = exc.code
    return code if isinstance(code, int) else 1
