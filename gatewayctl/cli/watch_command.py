"""`gatewayctl watch`: the drift reconciler (see gatewayctl/watch/). Runs until SIGTERM/SIGINT, then exits 0.

Exit 1 when the catalog does not load at start, an option is wrong or the metrics port cannot be bound;
remote failures never end it (they are logged, counted and retried with back-off)."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from gatewayctl.apply import lease
from gatewayctl.apply.kuma_target import KumaTarget, kubernetes_target
from gatewayctl.apply.session import kuma_platform
from gatewayctl.catalog.load import LoadedCatalog, is_stdin
from gatewayctl.cli.catalog_commands import EnvOption
from gatewayctl.cli.console import EXIT_INVALID, EXIT_OK, err, print_diagnostics
from gatewayctl.cli.remote_commands import (
    CaCert,
    ClientCert,
    ClientKey,
    Connection,
    Insecure,
    KongUrl,
    Kubeconfig,
    KubeContext,
    KumaPlatform,
    KumaUrl,
    Only,
    Parallelism,
    StateDir,
    Timeout,
    check_kuma_platform,
    kong_client,
    kuma_client,
    remote_examples,
)
from gatewayctl.diagnostics import plural
from gatewayctl.watch.health import Health, MetricsServer
from gatewayctl.watch.kong import KongSystem
from gatewayctl.watch.kuma import KumaSystem
from gatewayctl.watch.loop import WatchConfig, Watcher
from gatewayctl.watch.metrics import WatchMetrics
from gatewayctl.watch.source import CatalogSource
from gatewayctl.watch.system import System

log = logging.getLogger("gatewayctl.watch")


# Not CatalogArg: watch reads the file again whenever it changes, so standard input (`-`) cannot be it.
WatchedCatalog = Annotated[
    Path,
    typer.Argument(
        help="The catalog file (YAML), read again whenever it changes.", show_default=False, metavar="CATALOG"
    ),
]


def register(app: typer.Typer) -> None:
    app.command(
        epilog=remote_examples(
            "gatewayctl watch catalog.yaml --env prod --interval 60",
            "gatewayctl watch catalog.yaml --heal --metrics-port 9542",
            "gatewayctl watch /etc/gatewayctl/catalog.yaml --lease-name gatewayctl-watch --lease-namespace kong",
        )
    )(watch)


def watch(
    catalog: WatchedCatalog,
    env: EnvOption = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between checks.", min=0.05)] = 60.0,
    heal: Annotated[bool, typer.Option("--heal", help="Apply the plan whenever something drifted.")] = False,
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", help="Port of /metrics, /healthz and /readyz (0: any).", min=0, max=65535)
    ] = 9542,
    metrics_address: Annotated[str, typer.Option("--metrics-address", help="Address to listen on.")] = "0.0.0.0",
    leader_election: Annotated[
        bool | None,
        typer.Option(
            "--leader-election/--no-leader-election",
            help="Hold a coordination.k8s.io Lease so one replica acts (default: on inside Kubernetes).",
            show_default=False,
        ),
    ] = None,
    lease_name: Annotated[str, typer.Option("--lease-name", help="The Lease's name.")] = "gatewayctl-watch",
    lease_namespace: Annotated[
        str | None, typer.Option("--lease-namespace", help="The Lease's namespace (default: the pod's).")
    ] = None,
    lease_duration: Annotated[
        float, typer.Option("--lease-duration", help="Seconds a Lease holds without renewal.", min=1)
    ] = 15.0,
    only: Only = None,
    kong_admin_url: KongUrl = None,
    kuma_url: KumaUrl = None,
    kuma_platform_name: KumaPlatform = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    ca_cert: CaCert = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    insecure: Insecure = False,
    timeout: Timeout = 30.0,
    parallelism: Parallelism = 8,
    lock_wait: Annotated[
        float, typer.Option("--lock-wait", help="Seconds a heal waits for another apply (Kong and Kuma locks).", min=0)
    ] = 10.0,
    state_dir: StateDir = Path(".gatewayctl"),
    keep_snapshots: Annotated[
        int, typer.Option("--keep-snapshots", help="Snapshots kept in --state-dir (heals write one each).", min=1)
    ] = 20,
) -> int:
    """Compare the live Kong and Kuma with the catalog every --interval and whenever the catalog file changes.

    Drift is exported as Prometheus metrics (gatewayctl_drift_objects ...) on --metrics-port, with /healthz
    and /readyz for probes; with --heal the plan is applied as `gatewayctl apply` would (lock, snapshot).
    Remote failures are logged and retried with back-off; an invalid catalog edit is reported and the last
    good catalog kept. SIGTERM/SIGINT stop it cleanly (an apply stops between write batches).
    """
    if is_stdin(catalog):
        err.print(
            "watch -: the catalog is read again whenever its file changes, and standard input can be read only "
            "once; give the catalog's file"
        )
        raise typer.Exit(EXIT_INVALID)
    _setup_logging()
    source = CatalogSource(catalog, env)
    first = source.reload()
    if not first.ok:
        errors, _ = print_diagnostics(first.diagnostics)
        err.print(f"{catalog}: {plural(errors, 'error')}; not watching")
        raise typer.Exit(EXIT_INVALID)

    if only not in (None, "kong", "kuma"):
        err.print(f"--only {escape(only)}: choose kong or kuma")
        raise typer.Exit(EXIT_INVALID)
    assert source.loaded is not None
    metrics = WatchMetrics()
    health = Health(stuck_after=max(3 * interval, 300.0))
    conn = Connection(
        kong_admin_url,
        kuma_url,
        kuma_platform_name,
        kubeconfig,
        context,
        ca_cert,
        client_cert,
        client_key,
        insecure,
        timeout,
        parallelism,
    )
    systems: list[System] = []
    if only != "kuma":
        client = kong_client(conn)  # warns about --insecure
        client.log.observers += [metrics.remote_observer("kong"), _progress(health)]
        systems.append(
            KongSystem(
                client, parallelism=parallelism, state_dir=state_dir, lock_wait=lock_wait, keep_snapshots=keep_snapshots
            )
        )
    if only != "kong" and source.loaded.catalog.mesh_enabled:
        kuma = _kuma_system(source.loaded, conn, state_dir, lock_wait)
        kuma.call_log.observers += [metrics.remote_observer("kuma"), _progress(health)]
        systems.append(kuma)
    if not systems:
        err.print(f"{catalog}: --only kuma: the catalog has no enabled mesh; nothing to watch")
        raise typer.Exit(EXIT_INVALID)

    config = WatchConfig(interval=interval, heal=heal, poll=min(1.0, interval))
    elector = _elector(leader_election, lease_name, lease_namespace, lease_duration, conn)
    watcher = Watcher(source, systems, metrics, health, config, elector.is_leader if elector else lambda: True)
    watcher.load(first)  # metrics and readiness for the catalog read above
    try:
        server = MetricsServer(metrics_address, metrics_port, metrics.registry, health).start()
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:  # the address is what is wrong
            err.print(f"--metrics-address {escape(metrics_address)}: cannot listen there: {exc.strerror}")
        else:
            err.print(f"--metrics-port {metrics_port}: cannot listen on {escape(metrics_address)}: {exc.strerror}")
        raise typer.Exit(EXIT_INVALID) from None
    log.info(
        "watching %s (%s) every %s s%s; metrics on %s:%d",
        catalog,
        ", ".join(_where(system) for system in systems),
        f"{interval:g}",
        ", healing" if heal else "",
        metrics_address,
        server.port,
    )
    stop = threading.Event()
    lease_stop = threading.Event()
    lease_thread = elector.start(lease_stop) if elector else None
    try:
        with _stop_on_signals(stop):
            watcher.run(stop)
    finally:
        # The lease goes last: it is given up only once no apply can be running.
        lease_stop.set()
        if lease_thread is not None:
            lease_thread.join(timeout=lease.REQUEST_TIMEOUT * 2 + 1)
        server.stop()
        for system in systems:
            system.close()
    log.info("stopped after %s", plural(watcher.checks, "check"))
    raise typer.Exit(EXIT_OK)


def _progress(health: Health) -> Callable[[str, str, int | None, float], None]:
    """Every answered or failed request is progress: a long check of a large catalog is not a stuck loop."""

    def beat(_method: str, _path: str, _status: int | None, _seconds: float) -> None:
        health.beat()

    return beat


def _elector(
    enabled: bool | None, name: str, namespace: str | None, duration: float, conn: Connection
) -> lease.LeaderElector | None:
    from gatewayctl.apply.kuma_kubernetes import KubeError

    if enabled is None:
        enabled = lease.in_kubernetes()
    if not enabled:
        return None
    try:
        api = lease.coordination_api(conn.kubeconfig, conn.context)
    except KubeError as exc:  # no kubeconfig (the error names the file), or one that cannot be used
        err.print(f"--leader-election: {escape(exc.describe())}")
        raise typer.Exit(EXIT_INVALID) from None
    return lease.LeaderElector(api, name, namespace or lease.default_namespace(), duration=duration)


def _kuma_system(loaded: LoadedCatalog, conn: Connection, state_dir: Path, lock_wait: float) -> KumaSystem:
    check_kuma_platform(conn.platform)
    namespace = loaded.catalog.deployment.namespaces.kuma
    if kuma_platform(loaded, conn.platform) == "universal":
        client = kuma_client(conn)
        target = KumaTarget("universal", client.endpoint.display(), namespace, client=client)
    else:
        from gatewayctl.apply.kuma_kubernetes import KubeError

        try:
            target = kubernetes_target(conn.kubeconfig, conn.context, namespace, conn.timeout)
        except KubeError as exc:
            err.print(f"kuma: {escape(exc.describe())}")
            raise typer.Exit(EXIT_INVALID) from None
    return KumaSystem(target, parallelism=conn.parallelism, state_dir=state_dir, lock_wait=lock_wait)


def _where(system: System) -> str:
    if isinstance(system, KongSystem):
        return f"kong at {system.client.endpoint.display()}"
    if isinstance(system, KumaSystem):
        return f"kuma at {system.target.display}"
    return system.name


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop`; the loop finishes its step (an apply its write batch) and returns."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            log.info("%s received: stopping after the current step", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _setup_logging() -> None:
    """One line per event on stderr, UTC timestamps (container logs are read next to other pods')."""
    for existing in log.handlers:
        if getattr(existing, "_gatewayctl_watch", False):
            # a second watch in one process (tests, an embedding tool): today's stderr, not the first's
            # (not setStream, which flushes the old stream first: closed by now, it raises)
            if isinstance(existing, logging.StreamHandler):
                existing.acquire()
                try:
                    existing.stream = sys.stderr
                finally:
                    existing.release()
            return
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler._gatewayctl_watch = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
