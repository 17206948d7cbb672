"""Commands that talk to Kong's Admin API and Kuma's control plane: diff, apply, status, rollback.

Kong is planned unless `--only kuma`; Kuma when the catalog has an enabled mesh, unless `--only kong`, on
the platform `--kuma-platform` names (default: the catalog's `deployment.platform`; VMs run Kuma
Universal): the Kuma HTTP API on Universal (`apply/kuma_universal.py`), server-side apply through the
Kubernetes API on Kubernetes (`apply/kuma_kubernetes.py`).

Exit codes: 0 done / no changes, 1 catalog or usage error (nothing sent), 2 changes present
(`diff --exit-code`), 3 a remote API failed, refused a write or was unreachable (the message names the call
and what was left unchanged). Secrets are masked in every line and in --json."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from gatewayctl.apply import dbless
from gatewayctl.apply.kong import Outcome, execute
from gatewayctl.apply.kuma import KumaOutcome
from gatewayctl.apply.kuma_lock import HeldLock
from gatewayctl.apply.kuma_target import KumaTarget, describe, is_remote_error, kubernetes_target, object_key
from gatewayctl.apply.kuma_universal import KumaRefused
from gatewayctl.apply.lock import KongLock, LockHeld, describe_record
from gatewayctl.apply.session import (
    DblessPayload,
    Desired,
    KumaDesired,
    MissingSecrets,
    apply_db,
    apply_dbless,
    cascade_problems,
    check_server,
    flattened_error_diagnostics,
    holder_catalog_of,
    kuma_platform,
    missing_secrets,
    plan,
    plan_kong,
    rejection_diagnostic,
    render_desired,
    render_kuma_desired,
)
from gatewayctl.apply.snapshot import (
    SNAPSHOT_DIR,
    SnapshotError,
    latest_snapshot,
    read_secret_fields,
    read_snapshot,
    read_snapshot_extras,
    taken_from,
    write_snapshot,
)
from gatewayctl.catalog.load import LoadedCatalog, is_stdin
from gatewayctl.catalog.model import Namespaces
from gatewayctl.cli.catalog_commands import CatalogArg, EnvOption, _examples, load_or_exit
from gatewayctl.cli.console import EXIT_CHANGES, EXIT_INVALID, EXIT_OK, EXIT_REMOTE, err, out, print_diagnostics
from gatewayctl.clients.http import CallLog
from gatewayctl.clients.http import Endpoint as HttpEndpoint
from gatewayctl.clients.kong_admin import URL_ENV, Endpoint, KongAdmin, KongError, TlsOptions
from gatewayctl.clients.kuma_api import URL_ENV as KUMA_URL_ENV
from gatewayctl.clients.kuma_api import KumaApi, KumaError, kuma_endpoint
from gatewayctl.clients.retry import RetryPolicy
from gatewayctl.diagnostics import CatalogInvalid, plural
from gatewayctl.plan.entities import DesiredState, from_live
from gatewayctl.plan.fields import hide_paths, secret_strings
from gatewayctl.plan.kong import KongPlan, LiveState, ServerInfo, read_server
from gatewayctl.plan.kuma import KumaPlan
from gatewayctl.plan.masking import Masker
from gatewayctl.plan.report import (
    first_note,
    json_report,
    kuma_json_report,
    kuma_text_lines,
    names_by_id,
    text_lines,
    title,
)
from gatewayctl.render.kuma import KumaObject

if TYPE_CHECKING:
    from gatewayctl.watch.push import ApplyRun

KongUrl = Annotated[
    str | None,
    typer.Option("--kong-admin-url", help=f"Kong Admin API URL (or {URL_ENV}; default http://localhost:8001)."),
]
CaCert = Annotated[
    Path | None, typer.Option("--ca-cert", help="CA bundle to verify the Admin API's (and Kuma API's) certificate.")
]
ClientCert = Annotated[Path | None, typer.Option("--client-cert", help="Client certificate for mutual TLS.")]
ClientKey = Annotated[Path | None, typer.Option("--client-key", help="Client key for mutual TLS.")]
Insecure = Annotated[
    bool, typer.Option("--insecure", help="Do not verify the APIs' TLS certificates (explicit opt-out).")
]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds per request.", min=0.1)]
Parallelism = Annotated[int, typer.Option("--parallelism", help="Requests in flight at once.", min=1, max=64)]
JsonOption = Annotated[bool, typer.Option("--json", help="A machine-readable report on stdout (secrets masked).")]
StateDir = Annotated[Path, typer.Option("--state-dir", help="Where snapshots are kept.")]
Only = Annotated[str | None, typer.Option("--only", help="Only this system: kong or kuma.")]
KumaUrl = Annotated[
    str | None,
    typer.Option("--kuma-url", help=f"Kuma control plane API URL (or {KUMA_URL_ENV}; default http://localhost:5681)."),
]
KumaPlatform = Annotated[
    str | None,
    typer.Option(
        "--kuma-platform", help="universal (Kuma HTTP API) or kubernetes (CRDs); default: deployment.platform."
    ),
]
Kubeconfig = Annotated[Path | None, typer.Option("--kubeconfig", help="kubeconfig for --kuma-platform kubernetes.")]
KubeContext = Annotated[str | None, typer.Option("--context", help="kubeconfig context for Kubernetes.")]
TOKEN_NOTE = (
    "Tokens are read from GATEWAYCTL_KONG_ADMIN_TOKEN (sent as Kong-Admin-Token) and GATEWAYCTL_KUMA_TOKEN "
    "(sent as Authorization: Bearer), never from argv."
)
PROGRESS_MIN = 50  # writes: below this an apply is over before a bar is worth drawing


def remote_examples(*lines: str) -> str:
    """A remote command's epilog: where its tokens come from (they have no flag), then examples."""
    return TOKEN_NOTE + "\n\n" + _examples(*lines)


def register(app: typer.Typer) -> None:
    app.command(
        epilog=remote_examples(
            "gatewayctl diff catalog.yaml --env prod",
            "GATEWAYCTL_KONG_ADMIN_URL=https://kong-admin:8444 gatewayctl diff catalog.yaml --exit-code",
            "GATEWAYCTL_KUMA_URL=http://kuma-cp:5681 gatewayctl diff catalog.yaml --only kuma",
            "gatewayctl diff catalog.yaml --json > plan.json",
        )
    )(_json_failures(diff))
    app.command(
        epilog=remote_examples(
            "gatewayctl apply catalog.yaml --dry-run",
            "gatewayctl apply catalog.yaml --env prod --yes --parallelism 16 --rps 200",
            "gatewayctl apply catalog.yaml --only kuma --kuma-platform kubernetes --context prod --yes",
        )
    )(_json_failures(apply))
    app.command(epilog=remote_examples("gatewayctl status catalog.yaml", "gatewayctl status catalog.yaml --json"))(
        _json_failures(status)
    )
    app.command(
        epilog=remote_examples(
            "gatewayctl rollback --yes", "gatewayctl rollback .gatewayctl/snapshots/20261201T101500.123456Z.json --yes"
        )
    )(rollback)


# ---------------------------------------------------------------------- one run's two systems


@dataclass
class Connection:
    """What reaching the two systems needs, from the flags."""

    kong_url: str | None
    kuma_url: str | None
    platform: str | None
    kubeconfig: Path | None
    context: str | None
    ca_cert: Path | None
    client_cert: Path | None
    client_key: Path | None
    insecure: bool
    timeout: float
    parallelism: int
    rps: float | None = None
    force_conflicts: bool = False  # Kubernetes: take fields other field managers own


@dataclass
class KongSide:
    client: KongAdmin
    desired: Desired
    server: ServerInfo
    plan: KongPlan
    extra: dict[str, Any] = field(default_factory=dict)
    text: str | None = None  # DB-less: the configuration that would be posted
    unchanged_hash: bool = False  # DB-less: Kong already runs exactly that text

    @property
    def pending(self) -> bool:
        # DB-less too: a running text that differs only in form (another catalog's apply posted the same
        # entities, its own nested and ours as exported) needs no reload; two catalogs sharing one Kong would
        # otherwise reload it on every apply, each undoing the other's text, while diff shows nothing
        return bool(self.plan.changes)


@dataclass
class KumaSide:
    target: KumaTarget
    desired: KumaDesired
    plan: KumaPlan

    @property
    def display(self) -> str:
        return self.target.display

    @property
    def pending(self) -> bool:
        return bool(self.plan.changes)


def _systems(loaded: LoadedCatalog, only: str | None) -> tuple[bool, bool]:
    """(plan Kong, plan Kuma). A `mesh:` section with `enabled: false` is planned only with `--only kuma`:
    it renders no objects, so the plan removes everything of this catalog from Kuma, which nobody should
    get without asking for Kuma by name."""
    has_mesh = bool(loaded.catalog.mesh_enabled) or (only == "kuma" and loaded.catalog.mesh is not None)
    if only == "kuma" and not has_mesh:
        err.print(
            f"{loaded.path}: --only kuma: the catalog has no mesh: section, so nothing of it is planned in Kuma "
            "(to remove its objects from Kuma, set mesh: {enabled: false}); nothing was sent"
        )
        raise typer.Exit(EXIT_INVALID)
    return only != "kuma", has_mesh and only != "kong"


def _check_only(only: str | None) -> None:
    if only not in (None, "kong", "kuma"):
        err.print(f"--only {escape(only)}: choose kong or kuma")
        raise typer.Exit(EXIT_INVALID)


def check_kuma_platform(platform: str | None) -> None:
    """Exit 1 unless --kuma-platform is unset or names a platform gatewayctl knows."""
    if platform not in (None, "universal", "kubernetes"):
        err.print(f"--kuma-platform {escape(platform)}: choose universal or kubernetes")
        raise typer.Exit(EXIT_INVALID)


def _plan_systems(
    loaded: LoadedCatalog, only: str | None, conn: Connection, stack: contextlib.ExitStack
) -> tuple[KongSide | None, KumaSide | None]:
    with_kong, with_kuma = _systems(loaded, only)
    kong = kuma = None
    kong_desired = _render_or_exit(loaded) if with_kong else None  # every catalog problem before any request
    kuma_desired = _render_kuma_or_exit(loaded) if with_kuma else None
    # both connections too (a URL, a kubeconfig that cannot be used): exit 1 before either system is read
    client = stack.enter_context(kong_client(conn)) if kong_desired is not None else None
    target = _kuma_target(loaded, conn, stack) if kuma_desired is not None else None
    if kong_desired is not None and client is not None:
        server, the_plan, payload = _plan_or_exit(client, loaded, kong_desired, conn.parallelism)
        kong = KongSide(client, kong_desired, server, the_plan)
        if payload is not None:  # DB-less
            kong.text, kong.unchanged_hash = payload.text, payload.unchanged
            hashes = {"running": payload.running, "catalog": dbless.config_hash(payload.text)}
            kong.extra = {"configuration_hash": hashes}
    if kuma_desired is not None and target is not None:
        kuma = _plan_kuma(loaded, kuma_desired, conn, target)
    return kong, kuma


# ---------------------------------------------------------------------- --json on every ending

_json_report = {"printed": False}  # set once a command has printed its --json document


def _echo_json(document: dict[str, Any]) -> None:
    _json_report["printed"] = True
    typer.echo(json.dumps(document, indent=2))


@contextlib.contextmanager
def _json_on_failure(as_json: bool) -> Iterator[None]:
    """With --json, an ending before the report (an invalid catalog, an unreachable API, --yes missing)
    still prints one JSON document on stdout, so a CI step that parses it never meets empty output:
    {"error": {"exit_code": N, "messages": [what stderr said, already masked]}}."""
    if not as_json:
        yield
        return
    _json_report["printed"] = False
    err.record = True  # stderr is still written; the record is only read back here
    try:
        yield
    except typer.Exit as exc:
        if exc.exit_code not in (EXIT_OK, EXIT_CHANGES) and not _json_report["printed"]:
            messages = [line for line in err.export_text(clear=False).splitlines() if line.strip()]
            _echo_json({"error": {"exit_code": exc.exit_code, "messages": messages}})
        raise
    finally:
        err.export_text(clear=True)
        err.record = False


def _json_failures(command: Callable[..., int]) -> Callable[..., int]:
    """`command` (which has a --json option) run under `_json_on_failure`."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> int:
        with _json_on_failure(bool(kwargs.get("as_json"))):
            return command(*args, **kwargs)

    return run


# ---------------------------------------------------------------------- commands


def diff(
    catalog: CatalogArg,
    env: EnvOption = None,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 2 when there are changes.")] = False,
    as_json: JsonOption = False,
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
) -> int:
    """Show what apply would change in Kong and Kuma: per object and per field, secrets masked.

    Reads only what carries this catalog's ownership tags (Kong) or labels (Kuma). Ends with a summary line
    such as `kong: +3 ~1 -0 · kuma: +2 ~0 -1`.
    """
    _check_only(only)
    check_kuma_platform(kuma_platform_name)  # usage errors before anything is sent, Kong included
    loaded = load_or_exit(catalog, env)
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
    with contextlib.ExitStack() as stack:
        kong, kuma = _plan_systems(loaded, only, conn, stack)
    _print_plans(kong, kuma, as_json)
    if exit_code and ((kong is not None and kong.plan.changes) or (kuma is not None and kuma.plan.changes)):
        raise typer.Exit(EXIT_CHANGES)
    raise typer.Exit(EXIT_OK)


def apply(
    catalog: CatalogArg,
    env: EnvOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; write nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (required when not interactive).")] = False,
    only: Only = None,
    as_json: JsonOption = False,
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
    rps: Annotated[float | None, typer.Option("--rps", help="At most this many requests per second.", min=0.1)] = None,
    lock_wait: Annotated[float, typer.Option("--lock-wait", help="Seconds to wait for another apply.", min=0)] = 60.0,
    force_conflicts: Annotated[
        bool,
        typer.Option("--force-conflicts", help="Kuma on Kubernetes: take over fields another field manager owns."),
    ] = False,
    state_dir: StateDir = Path(".gatewayctl"),
    pushgateway: Annotated[
        str | None,
        typer.Option("--pushgateway", help="Push this run's duration, changes and result to a Prometheus Pushgateway."),
    ] = None,
) -> int:
    """Make Kong and Kuma match the catalog: creates, updates and deletes only what this catalog owns.

    Kong first, then Kuma. Writes go in dependency order with bounded concurrency, retrying
    429/5xx/connection errors; a refused write is reported at its catalog entry. Before writing, the owned
    live state is saved to .gatewayctl/snapshots/ (mode 0600) for `gatewayctl rollback`. Two applies of
    a catalog never interleave (locks held in Kong and in Kuma).
    """
    _check_only(only)
    check_kuma_platform(kuma_platform_name)  # usage errors before anything is sent, Kong included
    if is_stdin(catalog) and not (yes or dry_run):  # before the catalog is read: nothing to answer with
        err.print(
            "apply -: the catalog comes from standard input, which leaves nothing to answer the confirmation "
            "with; pass --yes (or --dry-run); nothing was sent"
        )
        raise typer.Exit(EXIT_INVALID)
    from gatewayctl.watch.push import pushed_run  # prometheus_client: loaded only by the command that pushes

    def warn(message: str) -> None:
        err.print(f"[yellow]warning: {escape(message)}[/yellow]")

    with pushed_run(pushgateway, "stdin" if is_stdin(catalog) else catalog.stem, env, warn) as run:
        _apply(
            run,
            catalog,
            env,
            dry_run,
            yes,
            only,
            as_json,
            lock_wait,
            state_dir,
            Connection(
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
                rps,
                force_conflicts,
            ),
        )
    raise typer.Exit(EXIT_OK)  # pragma: no cover - _apply always exits


def _apply(
    run: ApplyRun,
    catalog: Path,
    env: str | None,
    dry_run: bool,
    yes: bool,
    only: str | None,
    as_json: bool,
    lock_wait: float,
    state_dir: Path,
    conn: Connection,
) -> None:
    """apply's body; every ending is a typer.Exit (its code goes to the Pushgateway when asked)."""
    loaded = load_or_exit(catalog, env)
    run.catalog = loaded.catalog.name
    with contextlib.ExitStack() as stack:
        kong, kuma = _plan_systems(loaded, only, conn, stack)
        if conn.force_conflicts and (kuma is None or kuma.target.platform != "kubernetes"):
            # field managers are the Kubernetes API's: nothing else has fields to take over
            err.print("[yellow]warning: --force-conflicts does nothing here: it is for Kuma on Kubernetes[/yellow]")
        if kong is not None:
            run.record("kong", kong.plan.counts())
        if kuma is not None:
            run.record("kuma", kuma.plan.counts())
        if not as_json:
            _print_plans(kong, kuma, False)
        pending = (kong is not None and kong.pending) or (kuma is not None and kuma.pending)
        if not pending:
            if as_json:
                nothing = {"applied": 0, "writes": 0}
                _print_plans(kong, kuma, True, {"kong": nothing, "kuma": nothing})
            else:
                out.print("nothing to do")
            raise typer.Exit(EXIT_OK)
        if dry_run:
            if as_json:
                dry = {"applied": 0, "dry_run": True}
                _print_plans(kong, kuma, True, {"kong": dry, "kuma": dry})
            raise typer.Exit(EXIT_OK)
        where = []
        if kong is not None and kong.pending:
            where.append(f"Kong at {kong.client.endpoint.display()}")
        if kuma is not None and kuma.pending:
            where.append(f"Kuma at {kuma.display}")
        _confirm(yes, "apply these changes to " + " and ".join(where))
        results: dict[str, dict[str, Any]] = {}
        code = EXIT_OK
        # Kuma's lock is taken before Kong is written (and always in that order, so two applies cannot
        # each wait for the other's): Kong's snapshot then records the Kuma state this apply replaces.
        held = _lock_kuma(kuma, kong, loaded, conn, lock_wait, stack, as_json) if kuma and kuma.pending else None
        kuma_saved = (
            kuma.target.snapshot(kuma.plan.live, kuma.desired.objects, kuma.desired.masker)
            if kuma is not None and kuma.pending
            else None
        )
        if kong is not None and kong.pending:
            code, results["kong"] = _apply_kong(kong, loaded, conn, state_dir, lock_wait, as_json, kuma_saved)
            kuma_saved = None if code == EXIT_OK and results["kong"].get("snapshot") else kuma_saved
        if kuma is not None and held is not None:
            if code != EXIT_OK:
                err.print(f"kuma: not applied because Kong failed; nothing was changed in Kuma ({kuma.plan.summary()})")
                results["kuma"] = {
                    "applied": 0,
                    "failed": [],
                    "left_unchanged": [kuma.desired.masker.text(c.title) for c in kuma.plan.changes],
                    "error": "not applied because Kong failed",
                }
            else:
                code, results["kuma"] = _apply_kuma(kuma, loaded, conn, state_dir, as_json, kuma_saved, held)
        if as_json:
            stack.close()  # the Kuma lock released first: its requests are counted too (Kong's is by now)
            if kuma is not None and "kuma" in results:
                results["kuma"]["requests"] = request_counts(kuma.target.calls)
            _print_plans(kong, kuma, True, results)
    raise typer.Exit(code)


def status(
    catalog: CatalogArg,
    env: EnvOption = None,
    as_json: JsonOption = False,
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
) -> int:
    """Are Kong and Kuma reachable, which versions, is Kong's database reachable, has either drifted?

    Drift is against the catalog, as `diff` plans it; who holds the apply locks is shown too. Without the
    catalog's secrets the rest is still read and the drift is reported unknown, naming the references it
    needs. Exit 0 while every system answers (drifted, or not, or unknown), 3 when one cannot be reached.
    """
    _check_only(only)
    check_kuma_platform(kuma_platform_name)  # before any system is asked: a usage error is no system's state
    loaded = load_or_exit(catalog, env)
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
    with_kong, with_kuma = _systems(loaded, only)
    # Each system is reported even when the other cannot be reached: status is how people check both.
    with contextlib.ExitStack() as stack:
        checks: dict[str, Callable[[], dict[str, Any]]] = {}
        if with_kong:
            checks["kong"] = _kong_status(loaded, conn, stack)
        if with_kuma:
            checks["kuma"] = _kuma_status(loaded, conn, stack)
        report = {name: check() for name, check in checks.items()}  # the reads, once nothing is left to refuse
    code = EXIT_OK if all(system["reachable"] for system in report.values()) else EXIT_REMOTE
    if as_json:
        _echo_json(report)
        raise typer.Exit(code)
    for name, system in report.items():
        if not system["reachable"]:
            out.print(f"{name}: {escape(system['url'])} not reachable (see above)")
    if report.get("kong", {}).get("reachable"):
        k = report["kong"]
        out.print(f"kong: {escape(k['url'])} reachable, {k['version']} ({k['edition']}, database={k['database']})")
        if k["database_reachable"] is not None:
            out.print(f"database reachable: {'yes' if k['database_reachable'] else 'no'}")
        if k["configuration_hash"]:
            out.print(f"configuration hash: {k['configuration_hash']}")
        problem = k["problem"]
        out.print(f"drift: {escape(_drift_line(k))}" if not problem else f"cannot plan: {escape(problem)}")
        if k["database"] != "off":
            out.print(f"apply lock: {escape(k['apply_lock'] or 'free')}")
    if report.get("kuma", {}).get("reachable"):
        m = report["kuma"]
        where = " ".join(str(part) for part in (m["product"], m["version"]) if part)
        where += f", mode {m['mode']}" if m.get("mode") else ""
        out.print(f"kuma: {escape(m['url'])} reachable, {escape(where)} ({m['platform']})")
        if m["problem"]:  # why, on stderr above; its lock was not read: the control plane refused the catalog first
            out.print("kuma cannot plan: the control plane cannot take the catalog (see above)")
        else:
            out.print(f"kuma drift: {escape(_drift_line(m))}")
            out.print(f"kuma apply lock: {escape(m['apply_lock'] or 'free')}")
    raise typer.Exit(code)


def rollback(
    snapshot: Annotated[
        Path | None,
        typer.Argument(
            help="Snapshot file (default: the newest in --state-dir's snapshots/ taken from this Kong and Kuma).",
            metavar="SNAPSHOT",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (required when not interactive).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    kong_admin_url: KongUrl = None,
    kuma_url: KumaUrl = None,
    kubeconfig: Annotated[
        Path | None, typer.Option("--kubeconfig", help="kubeconfig, for a snapshot of Kuma on Kubernetes.")
    ] = None,
    context: KubeContext = None,
    ca_cert: CaCert = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    insecure: Insecure = False,
    timeout: Timeout = 30.0,
    parallelism: Parallelism = 8,
    lock_wait: Annotated[float, typer.Option("--lock-wait", help="Seconds to wait for an apply.", min=0)] = 60.0,
    state_dir: StateDir = Path(".gatewayctl"),
) -> int:
    """Put back the owned Kong (DB mode) and Kuma state saved by an earlier apply.

    Only what carries the snapshot's catalog tags or labels is touched. Basic-auth passwords cannot be
    restored (Kong keeps only their hash): such credentials are reported and left as they are.
    """
    conn = Connection(
        kong_admin_url,
        kuma_url,
        None,
        kubeconfig,
        context,
        ca_cert,
        client_cert,
        client_key,
        insecure,
        timeout,
        parallelism,
    )
    here = _where_rollback_writes(conn)
    path = snapshot or _latest_snapshot_here(state_dir / SNAPSHOT_DIR.name, here)
    try:
        catalog_name, saved = read_snapshot(path)
        targets, kuma_saved, kong_secret_fields = read_snapshot_extras(path)
    except SnapshotError as exc:
        err.print(escape(str(exc)))
        raise typer.Exit(EXIT_INVALID) from None
    out.print(f"rollback to {path} (catalog {catalog_name})")
    taken, going = (taken_from(path) or {}).get("kong"), here.get("kong")
    if "kong" in targets and taken and going and taken != going:  # the file was named: said, as for Kuma
        err.print(
            f"[yellow]note: the snapshot was taken from {escape(taken)}; restoring it to {escape(going)}[/yellow]"
        )
    code = EXIT_OK
    if "kong" in targets:
        try:
            code = _rollback_kong(catalog_name, saved, kong_secret_fields, conn, yes, dry_run, lock_wait)
        except typer.Exit as exc:  # Kong unreachable or refusing: its own message is out; Kuma's part too
            if exc.exit_code == EXIT_OK:  # "no" at the confirmation: nothing more is asked
                raise
            code = int(exc.exit_code)
    if kuma_saved is not None and code == EXIT_OK:
        code = _rollback_kuma(catalog_name, kuma_saved, conn, yes, dry_run, lock_wait)
    elif kuma_saved is not None:
        err.print("kuma: not rolled back because Kong's rollback did not finish; nothing was changed in Kuma")
    raise typer.Exit(code)


def _where_rollback_writes(conn: Connection) -> dict[str, str]:
    """The Kong and Kuma (Universal) URLs a rollback writes to, as snapshots record them (nothing is sent); a
    URL that cannot be used is left out, for the client's own check to report when it is needed."""
    endpoints = {
        "kong": Endpoint.from_environment(conn.kong_url, TlsOptions(), conn.timeout),
        "kuma": kuma_endpoint(conn.kuma_url, TlsOptions(), conn.timeout),
    }
    return {part: endpoint.display() for part, endpoint in endpoints.items() if endpoint.problem() is None}


def _latest_snapshot_here(folder: Path, here: dict[str, str]) -> Path:
    """The newest snapshot taken from the Kong (and Kuma) this rollback writes to; exit 1 when there is none.
    The snapshots of every environment's applies share the folder: the newest of all may be another
    environment's, and restoring it here would write that environment's state over this one's."""
    found = latest_snapshot(folder, here)
    if found is not None:
        return found
    newest = latest_snapshot(folder)
    if newest is None:
        err.print(f"no snapshot in {escape(str(folder))}; name one")
        raise typer.Exit(EXIT_INVALID)
    origin = taken_from(newest) or {}
    theirs = " and ".join(f"{part.capitalize()} at {url}" for part, url in origin.items())
    ours = " and ".join(f"{part.capitalize()} at {here[part]}" for part in origin if part in here)
    err.print(
        f"no snapshot in {escape(str(folder))} was taken from {escape(ours)}, where this rollback writes; the "
        f"newest, {escape(str(newest))}, is of {escape(theirs)}: point --kong-admin-url (and --kuma-url) there "
        "to roll that one back, or name the file to restore it here; nothing was sent"
    )
    raise typer.Exit(EXIT_INVALID)


# ---------------------------------------------------------------------- Kong steps


def _client(
    url: str | None,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    insecure: bool,
    timeout: float,
    parallelism: int,
    rps: float | None = None,
) -> KongAdmin:
    tls = tls_or_exit(ca_cert, client_cert, client_key, insecure)
    endpoint = usable_endpoint_or_exit(Endpoint.from_environment(url, tls, timeout), "Kong Admin API", KONG_URL_FLAGS)
    if insecure:
        err.print("[yellow]warning: --insecure: the Admin API's TLS certificate is not verified[/yellow]")
    try:
        return KongAdmin(endpoint, retry=RetryPolicy(), rps=rps, pool=parallelism)
    except (OSError, ValueError) as exc:
        err.print(f"cannot set up TLS{_tls_files(endpoint.tls)}: {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None


KONG_URL_FLAGS = f"--kong-admin-url or {URL_ENV}"
KUMA_URL_FLAGS = f"--kuma-url or {KUMA_URL_ENV}"


def usable_endpoint_or_exit(endpoint: HttpEndpoint, api: str, flags: str, after: str = "") -> HttpEndpoint:
    """`endpoint` when its URL and token can be used; else why not (the URL named as `flags` when empty,
    `after` appended: what was left alone) and exit 1, before any client is made."""
    problem = endpoint.problem()
    if problem:
        err.print(f"{api} URL {escape(endpoint.display() or f'({flags})')}: {problem}{after}")
        raise typer.Exit(EXIT_INVALID)
    problem = endpoint.token_problem()
    if problem:
        err.print(f"{escape(problem)}{after}")
        raise typer.Exit(EXIT_INVALID)
    return endpoint


def _tls_files(tls: TlsOptions) -> str:
    """The TLS files given, for an error that came from loading one of them (ssl's own text names none)."""
    files = [
        f"{option} {value}"
        for option, value in (
            ("--ca-cert", tls.ca_cert),
            ("--client-cert", tls.client_cert),
            ("--client-key", tls.client_key),
        )
        if value is not None
    ]
    return f" from {', '.join(escape(f) for f in files)}" if files else ""


def kong_client(conn: Connection) -> KongAdmin:
    return _client(
        conn.kong_url,
        conn.ca_cert,
        conn.client_cert,
        conn.client_key,
        conn.insecure,
        conn.timeout,
        conn.parallelism,
        conn.rps,
    )


def tls_or_exit(ca_cert: Path | None, client_cert: Path | None, client_key: Path | None, insecure: bool) -> TlsOptions:
    if client_key and not client_cert:
        err.print("--client-key needs --client-cert")
        raise typer.Exit(EXIT_INVALID)
    for option, value in (("--ca-cert", ca_cert), ("--client-cert", client_cert), ("--client-key", client_key)):
        if value is not None and not value.is_file():
            why = "is a folder: name the PEM file in it" if value.is_dir() else "no such file"
            err.print(f"{option} {escape(str(value))}: {why}")
            raise typer.Exit(EXIT_INVALID)
    return TlsOptions(ca_cert, client_cert, client_key, insecure)


def _render_or_exit(loaded: LoadedCatalog) -> Desired:
    try:
        return render_desired(loaded)
    except CatalogInvalid as exc:
        errors, _ = print_diagnostics(exc.diagnostics)
        err.print(f"{loaded.path}: {plural(errors, 'error')}; nothing was sent")
        raise typer.Exit(EXIT_INVALID) from None


class RemoteExit(typer.Exit):
    """Exit 3 after a failed call, carrying the message printed for it (status reports it and goes on)."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_REMOTE)
        self.message = message


class RefusedExit(typer.Exit):
    """Exit 1: a Kuma control plane that answers but cannot take the catalog (federated zone, read-only API,
    too old), carrying why (status reports it and goes on)."""

    def __init__(self, reason: str) -> None:
        super().__init__(EXIT_INVALID)
        self.reason = reason


def _remote_exit(message: str) -> RemoteExit:
    err.print(escape(message))
    return RemoteExit(message)


def _remote(call: Any, masker: Masker | None = None, what: str | None = "nothing was changed") -> Any:
    """Run a Kong call; a failed one exits 3, named, with the catalog's secrets masked in what the server
    said (an error may echo a value it was sent or holds). `what`: what the message adds about the outcome
    (None for a command that never writes)."""
    try:
        return call()
    except KongError as exc:
        raise _remote_exit(_masked(masker, f"kong: {exc.describe()}" + (f"; {what}" if what else ""))) from None


def _masked(masker: Masker | None, text: str) -> str:
    return masker.text(text) if masker is not None else text


def _plan_or_exit(
    client: KongAdmin, loaded: LoadedCatalog, desired: Desired, parallelism: int
) -> tuple[ServerInfo, KongPlan, DblessPayload | None]:
    server = _remote(lambda: read_server(client), desired.masker)
    try:
        check_server(loaded, server, desired)
        the_plan, payload = _remote(lambda: plan_kong(client, loaded, server, desired, parallelism), desired.masker)
    except CatalogInvalid as exc:  # this Kong lacks what the catalog needs, or refuses a `plugins:` config
        errors, _ = print_diagnostics(exc.diagnostics)
        err.print(
            f"{loaded.path}: this Kong cannot take the catalog ({plural(errors, 'problem')}); nothing was changed"
        )
        raise typer.Exit(EXIT_INVALID) from None
    return server, the_plan, payload


def _print_plan(the_plan: KongPlan, desired: Desired, as_json: bool, extra: dict[str, Any]) -> None:
    """One Kong plan on its own (rollback)."""
    names = names_by_id(the_plan, desired.state.entities)
    if as_json:
        typer.echo(json.dumps({"kong": {**json_report(the_plan, names, desired.masker), **extra}}, indent=2))
        return
    _print_lines(text_lines(the_plan, names, desired.masker))
    out.print(the_plan.summary())


def _print_plans(
    kong: KongSide | None, kuma: KumaSide | None, as_json: bool, results: dict[str, dict[str, Any]] | None = None
) -> None:
    """Both plans: text lines then one summary line, or one JSON document holding both systems."""
    results = results or {}
    if as_json:
        document: dict[str, Any] = {}
        if kong is not None:
            names = names_by_id(kong.plan, kong.desired.state.entities)
            document["kong"] = {**json_report(kong.plan, names, kong.desired.masker), **kong.extra}
            if "kong" in results:
                document["kong"]["result"] = results["kong"]
        if kuma is not None:
            document["kuma"] = kuma_json_report(kuma.plan, kuma.desired.masker)
            if "kuma" in results:
                document["kuma"]["result"] = results["kuma"]
        _echo_json(document)
        return
    summaries = []
    if kong is not None:
        _print_lines(text_lines(kong.plan, names_by_id(kong.plan, kong.desired.state.entities), kong.desired.masker))
        summaries.append(kong.plan.summary())
    if kuma is not None:
        _print_lines(kuma_text_lines(kuma.plan, kuma.desired.masker))
        summaries.append(kuma.plan.summary())
    out.print(" · ".join(summaries))


def _print_lines(lines: list[tuple[str, str]]) -> None:
    # One Text printed once: a plan of 10,000 objects as 10,000 console.print calls took a second.
    text = Text()
    for style, line in lines:
        text.append(line, style=style or None)
        text.append("\n")
    out.print(text, end="")


def _confirm(yes: bool, question: str, verb: str = "apply") -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        err.print(f"not interactive: pass --yes to {verb}; nothing was changed")
        raise typer.Exit(EXIT_INVALID)
    if not typer.confirm(question + "?", default=False):
        err.print("nothing was changed")
        raise typer.Exit(EXIT_OK)


@contextlib.contextmanager
def _progress(total: int, label: str, as_json: bool) -> Iterator[Callable[[Any], None] | None]:
    """A progress bar on stderr for long applies (a terminal, more than PROGRESS_MIN writes, not --json)."""
    if as_json or total <= PROGRESS_MIN or not err.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda _change: bar.advance(task)


def _apply_kong(
    kong: KongSide,
    loaded: LoadedCatalog,
    conn: Connection,
    state_dir: Path,
    lock_wait: float,
    as_json: bool,
    kuma_saved: dict[str, Any] | None,
) -> tuple[int, dict[str, Any]]:
    if kong.server.dbless:
        assert kong.text is not None
        return _apply_dbless(kong, loaded, state_dir, as_json, kuma_saved)
    return _apply_db(kong, loaded, conn.parallelism, state_dir, lock_wait, as_json, kuma_saved)


def _apply_db(
    kong: KongSide,
    loaded: LoadedCatalog,
    parallelism: int,
    state_dir: Path,
    lock_wait: float,
    as_json: bool,
    kuma_saved: dict[str, Any] | None,
) -> tuple[int, dict[str, Any]]:
    client, desired = kong.client, kong.desired
    try:
        with _progress(len(kong.plan.changes), "kong", as_json) as progress:
            result = apply_db(
                client,
                loaded,
                kong.server,
                desired,
                parallelism=parallelism,
                state_dir=state_dir,
                lock_wait=lock_wait,
                progress=progress,
                kuma_snapshot=kuma_saved,
                planned=kong.plan,
            )
    except LockHeld as exc:
        err.print(f"kong: {escape(str(exc))}; nothing was changed")
        return EXIT_REMOTE, {"applied": 0, "error": str(exc)}
    except KongError as exc:
        err.print(f"kong: {escape(desired.masker.text(exc.describe()))}; nothing was changed")
        return EXIT_REMOTE, {"applied": 0, "error": desired.masker.text(exc.describe())}
    except OSError as exc:
        err.print(f"cannot write the snapshot: {escape(str(exc))}; nothing was changed")
        raise typer.Exit(EXIT_INVALID) from None
    if result.broke_stale_lock:
        err.print(f"[yellow]warning: took over a stale apply lock ({escape(result.broke_stale_lock)})[/yellow]")
    if result.snapshot and not as_json:
        out.print(f"snapshot of the previous state: {result.snapshot}")
    kong.plan = result.plan
    code, report = _report_outcome(result.outcome, loaded, desired, client, as_json, result.plan)
    report["snapshot"] = str(result.snapshot) if result.snapshot else None
    return code, report


def _report_outcome(
    outcome: Outcome,
    loaded: LoadedCatalog | None,
    desired: Desired,
    client: KongAdmin,
    as_json: bool,
    the_plan: KongPlan | None = None,
) -> tuple[int, dict[str, Any]]:
    """Print what failed and the summary; (exit code, the JSON result)."""
    names: dict[str, str] = names_by_id(the_plan, desired.state.entities) if the_plan else {}
    for change, exc in outcome.failed:
        label = desired.masker.text(title(change, names))
        if exc.rejected and loaded is not None and change.action != "delete":
            owned = the_plan.live.all() if the_plan else ()
            holder = holder_catalog_of(client, change.entity, exc) if exc.status == 409 else None
            print_diagnostics([rejection_diagnostic(loaded, desired, change.entity, label, exc, owned, holder)])
        else:
            err.print(f"kong: {change.action} {escape(label)} failed: {escape(desired.masker.text(exc.describe()))}")
    done = len(outcome.done)
    summary = _outcome_summary("kong", done, len(outcome.failed), len(outcome.skipped))
    result = {
        "applied": done,
        "failed": [{"id": c.entity.id, "error": desired.masker.text(e.describe())} for c, e in outcome.failed],
        "left_unchanged": [c.entity.id for c in outcome.skipped],
        "requests": request_counts(client.log),
    }
    if outcome.begun:
        result["left_half_done"] = [c.entity.id for c in outcome.begun]
    if outcome.failed:
        for change in outcome.skipped[:10]:
            shown = f"{change.action} {escape(desired.masker.text(title(change, names)))}"
            if change in outcome.begun:  # its first write, giving up a unique value, was made
                err.print(f"  left half done: {shown} ({first_note(change)}; that write was made, not the rest)")
            else:
                err.print(f"  left unchanged: {shown}")
        if len(outcome.skipped) > 10:
            err.print(f"  ... and {len(outcome.skipped) - 10} more")
        err.print(summary + "; run apply again after fixing the cause: it picks up where this one stopped")
        return EXIT_REMOTE, result
    (err if as_json else out).print(summary)
    return EXIT_OK, result


def _apply_dbless(
    kong: KongSide, loaded: LoadedCatalog, state_dir: Path, as_json: bool, kuma_saved: dict[str, Any] | None
) -> tuple[int, dict[str, Any]]:
    client, desired, text = kong.client, kong.desired, kong.text or ""
    try:
        result = apply_dbless(client, loaded, text, kong.plan.live, state_dir, kuma_saved)
    except KongError as exc:
        if exc.status == 400:
            print_diagnostics(flattened_error_diagnostics(loaded, desired, exc))
        elif exc.status == 413:
            err.print(f"kong: POST /config: HTTP 413: {escape(exc.kong_message())}")
        else:
            err.print(f"kong: {escape(desired.masker.text(exc.describe()))}")
        err.print("kong: the configuration was not loaded; Kong keeps running the previous one")
        return EXIT_REMOTE, {"applied": 0, "loaded": False, "error": desired.masker.text(exc.describe())}
    except OSError as exc:
        err.print(f"cannot write the snapshot: {escape(str(exc))}; nothing was changed")
        raise typer.Exit(EXIT_INVALID) from None
    message = (
        f"kong: configuration loaded (hash {result.config_hash})"
        if result.loaded_config
        else "kong: Kong already runs this configuration (304)"
    )
    if as_json:
        err.print(message)
    else:
        out.print(f"snapshot of the previous state: {result.snapshot}")
        out.print(message)
    # `applied` counts changes as in DB mode: one POST makes all of them (none when Kong answered 304)
    applied = len(kong.plan.changes) if result.loaded_config else 0
    return EXIT_OK, {
        "applied": applied,
        "loaded": result.loaded_config,
        "hash": result.config_hash,
        "snapshot": str(result.snapshot),
    }


def _kong_status(loaded: LoadedCatalog, conn: Connection, stack: contextlib.ExitStack) -> Callable[[], dict[str, Any]]:
    """What is the user's to fix (the catalog, the URL) is checked now, exit 1; the check returned reads Kong."""
    # Without Kong's secrets (an on-call laptop, a monitoring job) the catalog cannot be rendered: everything
    # but the drift is still read, and the drift is reported unknown with the references it needs.
    missing = missing_secrets(loaded, "kong")
    desired = _render_or_exit(loaded) if missing is None else None
    masker = desired.masker if desired is not None else missing.masker if missing is not None else None
    client = stack.enter_context(kong_client(conn))

    def check() -> dict[str, Any]:
        try:
            return _kong_report(loaded, conn, client, desired, missing, masker)
        except RemoteExit as exc:  # its root or a later read (a list, the lock): named, and Kuma still checked
            return {"url": client.endpoint.display(), "reachable": False, "error": exc.message}

    return check


def _kong_report(
    loaded: LoadedCatalog,
    conn: Connection,
    client: KongAdmin,
    desired: Desired | None,
    missing: MissingSecrets | None,
    masker: Masker | None,
) -> dict[str, Any]:
    server = _remote(lambda: read_server(client), masker, None)
    health = _remote(lambda: client.get("/status"), masker, None)
    drift: str | None = None
    problem = None
    if desired is not None:
        try:
            check_server(loaded, server, desired)
            the_plan = _remote(
                lambda: plan(client, loaded.catalog.name, server, desired, conn.parallelism), masker, None
            )
            drift = the_plan.summary() if the_plan.changes else None
        except CatalogInvalid as exc:
            problem = "; ".join(d.message for d in exc.errors)
    database = health.get("database") if isinstance(health, dict) else None
    lock = None
    if not server.dbless:  # a DB-less Kong has no lock (nothing can be written to hold one)
        record = _remote(lambda: KongLock(client, loaded.catalog.name).read(), masker, None)
        lock = describe_record(record, time.time()) if record is not None else None
    return {
        "url": client.endpoint.display(),
        "reachable": True,
        "version": server.version,
        "edition": server.edition,
        "database": server.database,
        "database_reachable": database.get("reachable") if isinstance(database, dict) else None,
        "configuration_hash": health.get("configuration_hash") if isinstance(health, dict) else None,
        **_drift_fields(drift, missing, "kong"),
        "problem": problem,
        "apply_lock": lock,
    }


def _drift_fields(drift: str | None, missing: MissingSecrets | None, system: str) -> dict[str, Any]:
    """status's drift keys: `drift` true/false, or null when it is unknown for want of secrets, with the
    references that were needed in `needs` (names only: the values are not there, and are never shown)."""
    if missing is not None:
        return {"drift": None, "summary": None, "needs": missing.names}
    return {"drift": drift is not None, "summary": drift or f"{system}: +0 ~0 -0", "needs": []}


NEEDS_SHOWN = 5  # references named on status's drift line; --json lists them all


def _drift_line(system: dict[str, Any]) -> str:
    """`yes, kong: +1 ~0 -0`, `no`, or `unknown (needs ${env:A}, ${env:B})`."""
    if system["drift"] is None:
        needs = system["needs"]
        shown = ", ".join(needs[:NEEDS_SHOWN]) + (
            f" and {len(needs) - NEEDS_SHOWN} more" if len(needs) > NEEDS_SHOWN else ""
        )
        return f"unknown (needs {shown})"
    return "yes, " + system["summary"] if system["drift"] else "no"


def _rollback_kong(
    catalog_name: str,
    saved: LiveState,
    secret_fields: dict[str, list[str]],
    conn: Connection,
    yes: bool,
    dry_run: bool,
    lock_wait: float,
) -> int:
    wanted = DesiredState([from_live(kind, item) for kind, items in saved.entities.items() for item in items])
    masker = Masker.of(s for e in wanted.entities for s in secret_strings(e.kind, e.body, secret_fields.get(e.id, ())))
    desired = Desired({}, wanted, masker)
    with kong_client(conn) as client:
        server = _remote(lambda: read_server(client), masker)
        if server.dbless:
            err.print("rollback works on Kong with a database; for DB-less Kong apply the earlier catalog again")
            return EXIT_INVALID

        def rollback_plan(report: bool) -> KongPlan:
            the_plan: KongPlan = _remote(lambda: plan(client, catalog_name, server, desired, conn.parallelism), masker)
            hashed = [c for c in the_plan.changes if c.kind == "basicauth_credentials" and c.action != "delete"]
            for change in hashed if report else []:
                err.print(
                    f"cannot restore basic-auth credential {escape(change.name)}: Kong stores only its password's hash"
                )
            the_plan.changes = [
                replace(c, fields=hide_paths(c.fields, secret_fields.get(c.entity.id, ())))
                for c in the_plan.changes
                if c not in hashed
            ]
            return the_plan

        the_plan = rollback_plan(report=True)
        _print_plan(the_plan, desired, False, {})
        # as apply: a delete never takes others' entities with it (Kong cascades to what hangs off it)
        cascades = _remote(lambda: cascade_problems(client, the_plan, catalog_name, conn.parallelism), masker)
        for _, why in cascades:
            err.print(escape(masker.text(why)))
        if cascades:
            err.print(
                f"kong: this rollback would delete entities catalog {catalog_name} does not own; nothing was changed"
            )
            return EXIT_INVALID
        if not the_plan.changes:
            out.print("kong: nothing to roll back")
            return EXIT_OK
        if dry_run:
            return EXIT_OK
        _confirm(yes, "roll Kong back at " + client.endpoint.display(), "roll back")
        try:
            with KongLock(client, catalog_name, wait=lock_wait):  # never interleaved with an apply
                the_plan = rollback_plan(report=False)  # again, under the lock
                outcome = execute(client, the_plan.changes, conn.parallelism)
        except (LockHeld, KongError) as exc:  # taking the lock failed: nothing was written
            why = exc.describe() if isinstance(exc, KongError) else str(exc)
            err.print(f"kong: {escape(why)}; nothing was changed")
            return EXIT_REMOTE
        return _report_outcome(outcome, None, desired, client, as_json=False)[0]


# ---------------------------------------------------------------------- Kuma steps


def _render_kuma_or_exit(loaded: LoadedCatalog) -> KumaDesired:
    try:
        return render_kuma_desired(loaded)
    except CatalogInvalid as exc:
        errors, _ = print_diagnostics(exc.diagnostics)
        err.print(f"{loaded.path}: {plural(errors, 'error')}; nothing was sent")
        raise typer.Exit(EXIT_INVALID) from None


def kuma_client(conn: Connection) -> KumaApi:
    tls = tls_or_exit(conn.ca_cert, conn.client_cert, conn.client_key, conn.insecure)
    endpoint = usable_endpoint_or_exit(kuma_endpoint(conn.kuma_url, tls, conn.timeout), "Kuma API", KUMA_URL_FLAGS)
    if conn.insecure:  # here, so that every command making one says it (rollback did not)
        err.print("[yellow]warning: --insecure: the Kuma API's TLS certificate is not verified[/yellow]")
    try:
        return KumaApi(endpoint, retry=RetryPolicy(), rps=conn.rps, pool=conn.parallelism)
    except (OSError, ValueError) as exc:
        err.print(f"cannot set up TLS{_tls_files(endpoint.tls)}: {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None


def _kuma_remote(
    call: Callable[[], Any], what: str | None = "nothing was changed", masker: Masker | None = None
) -> Any:
    """Run a Kuma call; a refusal exits 1, a failed call 3 (named, with what was left alone: `what`, None for a
    command that never writes), the catalog's secrets masked in what the server said."""
    outcome = f"; {what}" if what else ""
    try:
        return call()
    except KumaRefused as exc:
        reason = _masked(masker, str(exc))
        err.print(f"kuma: {escape(reason)}; nothing was sent")
        raise RefusedExit(reason) from None
    except KumaError as exc:
        raise _remote_exit(_masked(masker, f"kuma: {exc.describe()}{outcome}")) from None
    except Exception as exc:  # KubeError: the Kubernetes platform's
        if not is_remote_error(exc):
            raise
        if getattr(exc, "method", "") == "read":  # a kubeconfig that cannot be read: bad input
            err.print(f"kuma: {escape(describe(exc))}{outcome}")
            raise typer.Exit(EXIT_INVALID) from None
        raise _remote_exit(_masked(masker, f"kuma: {describe(exc)}{outcome}")) from None


def _kuma_target(loaded: LoadedCatalog, conn: Connection, stack: contextlib.ExitStack) -> KumaTarget:
    """The control plane the flags name, closed with `stack`."""
    check_kuma_platform(conn.platform)
    namespace = loaded.catalog.deployment.namespaces.kuma
    if kuma_platform(loaded, conn.platform) == "universal":
        client = kuma_client(conn)
        target = KumaTarget("universal", client.endpoint.display(), namespace, client=client)
    else:
        target = _kuma_remote(
            lambda: kubernetes_target(conn.kubeconfig, conn.context, namespace, conn.timeout, conn.rps)
        )
    stack.callback(target.close)
    return target


def _plan_kuma(
    loaded: LoadedCatalog,
    desired: KumaDesired,
    conn: Connection,
    target: KumaTarget,
    what: str | None = "nothing was changed",
) -> KumaSide:
    name = loaded.catalog.name
    the_plan = _kuma_remote(
        lambda: target.plan(name, desired.objects, desired.masker, conn.parallelism), what, desired.masker
    )
    return KumaSide(target, desired, the_plan)


def _lock_kuma(
    kuma: KumaSide,
    kong: KongSide | None,
    loaded: LoadedCatalog,
    conn: Connection,
    lock_wait: float,
    stack: contextlib.ExitStack,
    as_json: bool,
) -> HeldLock:
    """Hold Kuma's apply lock for the rest of the run and plan Kuma again under it, so that this apply never
    acts on a state another apply has just changed."""
    name = loaded.catalog.name
    untouched = "nothing was changed in Kong or Kuma"
    try:
        held: HeldLock = _kuma_remote(
            lambda: stack.enter_context(kuma.target.lock(name, lock_wait)), untouched, kuma.desired.masker
        )
    except LockHeld as exc:
        err.print(f"kuma: {escape(str(exc))}; {untouched}")
        if as_json:  # a CI job reading --json gets its document, saying nothing was applied and why
            result = {"applied": 0, "error": str(exc)}
            _print_plans(kong, kuma, True, {"kong": result, "kuma": result} if kong is not None else {"kuma": result})
        raise typer.Exit(EXIT_REMOTE) from None
    if held.broke_stale:
        err.print(f"[yellow]warning: took over a stale Kuma apply lock ({escape(held.broke_stale)})[/yellow]")
    desired = kuma.desired
    kuma.plan = _kuma_remote(
        lambda: kuma.target.plan(name, desired.objects, desired.masker, conn.parallelism), untouched, desired.masker
    )
    return held


def _apply_kuma(
    kuma: KumaSide,
    loaded: LoadedCatalog,
    conn: Connection,
    state_dir: Path,
    as_json: bool,
    kuma_saved: dict[str, Any] | None,
    held: HeldLock,
) -> tuple[int, dict[str, Any]]:
    if not kuma.pending:  # planned again under the lock: another apply has made Kuma match meanwhile
        (err if as_json else out).print("kuma: nothing left to do (another apply made these changes meanwhile)")
        return EXIT_OK, {"applied": 0, "failed": [], "left_unchanged": [], "warnings": []}
    if kuma_saved is not None:  # Kong wrote none (nothing to change there): a snapshot of Kuma alone
        try:
            path = write_snapshot(
                state_dir / "snapshots", loaded.catalog.name, "", LiveState(), kuma=kuma_saved, kong=False
            )
        except OSError as exc:
            err.print(f"cannot write the snapshot: {escape(str(exc))}; nothing was changed in Kuma")
            raise typer.Exit(EXIT_INVALID) from None
        if not as_json:
            out.print(f"snapshot of the previous Kuma state: {path}")
    with _progress(len(kuma.plan.changes), "kuma", as_json) as progress:
        outcome = kuma.target.apply(
            kuma.plan, conn.parallelism, progress, cancel=held.lost, force_conflicts=conn.force_conflicts
        )
    return _report_kuma_outcome(outcome, kuma, as_json)


def request_counts(calls: CallLog) -> dict[str, int]:
    """What was sent to one system, for the --json result."""
    return {"reads": calls.reads, "writes": calls.writes, "retries": calls.retries}


def _outcome_summary(system: str, done: int, failed: int, skipped: int) -> str:
    """`kong: 3 changes applied, 1 failed, 2 left unchanged`: a failed write is counted apart from those never
    started, since a write whose answer was lost may have been made (the failure line says which it was)."""
    parts = [f"{plural(done, 'change')} applied"]
    parts += [f"{failed} failed"] if failed else []
    parts += [f"{skipped} left unchanged"] if skipped else []
    return f"{system}: " + ", ".join(parts)


def _report_kuma_outcome(outcome: KumaOutcome, kuma: KumaSide, as_json: bool) -> tuple[int, dict[str, Any]]:
    masker = kuma.desired.masker
    for warning in outcome.warnings:
        err.print(f"[yellow]kuma: warning from the control plane: {escape(masker.text(warning))}[/yellow]")
    for change, exc in outcome.failed:
        text = describe(exc)
        err.print(f"kuma: {change.action} {escape(masker.text(change.title))} failed: {escape(masker.text(text))}")
    done = len(outcome.done)
    summary = _outcome_summary("kuma", done, len(outcome.failed), len(outcome.skipped))
    result: dict[str, Any] = {
        "applied": done,
        "failed": [{"object": masker.text(c.title), "error": masker.text(describe(e))} for c, e in outcome.failed],
        "left_unchanged": [masker.text(c.title) for c in outcome.skipped],
        "warnings": [masker.text(w) for w in outcome.warnings],
    }
    result["requests"] = request_counts(kuma.target.calls)
    if outcome.failed or outcome.skipped:
        for change in outcome.skipped[:10]:
            err.print(f"  left unchanged: {change.action} {escape(masker.text(change.title))}")
        if len(outcome.skipped) > 10:
            err.print(f"  ... and {len(outcome.skipped) - 10} more")
        err.print(summary + "; run apply again after fixing the cause: it picks up where this one stopped")
        return EXIT_REMOTE, result
    (err if as_json else out).print(summary)
    return EXIT_OK, result


def _kuma_status(loaded: LoadedCatalog, conn: Connection, stack: contextlib.ExitStack) -> Callable[[], dict[str, Any]]:
    """As `_kong_status`: the catalog, the URL or kubeconfig now (exit 1); the check returned reads Kuma."""
    # As for Kong: without the mesh's secrets the control plane is still read (version, lock), not planned.
    missing = missing_secrets(loaded, "kuma")
    desired = _render_kuma_or_exit(loaded) if missing is None else None
    masker = desired.masker if desired is not None else missing.masker if missing is not None else None
    connected = _kuma_target(loaded, conn, stack)
    platform = kuma_platform(loaded, conn.platform)

    def check() -> dict[str, Any]:
        try:
            return _kuma_report(loaded, conn, connected, desired, missing, masker)
        except RemoteExit as exc:  # reading it, planning or reading its lock
            return {
                "url": _kuma_display(conn, connected),
                "platform": platform,
                "reachable": False,
                "error": exc.message,
            }

    return check


def _kuma_report(
    loaded: LoadedCatalog,
    conn: Connection,
    connected: KumaTarget,
    desired: KumaDesired | None,
    missing: MissingSecrets | None,
    masker: Masker | None,
) -> dict[str, Any]:
    platform = kuma_platform(loaded, conn.platform)
    problem = None
    target: KumaTarget | None = None
    drift: str | None = None
    server: dict[str, Any] = {}
    try:
        if desired is not None:
            side = _plan_kuma(loaded, desired, conn, connected, what=None)  # status never writes
            target, server = side.target, side.plan.server
            drift = side.plan.summary() if side.plan.changes else None
        else:
            target = connected
            server = _kuma_remote(target.server_info, None, masker)
    except RefusedExit as exc:  # it answered, and said why it cannot take the catalog; its lock is not read
        target, problem = None, exc.reason
    name = loaded.catalog.name
    lock = _kuma_remote(lambda: target.lock_holder(name), None, masker) if target is not None else None
    return {
        "url": target.display if target is not None else _kuma_display(conn, connected),
        "platform": platform,
        "reachable": True,
        # on Kubernetes the server is the API server: its version is Kubernetes', not Kuma's
        "product": server.get("product") or ("Kubernetes" if platform == "kubernetes" else "Kuma"),
        "version": server.get("version"),
        "mode": server.get("mode"),
        **_drift_fields(drift, missing, "kuma"),
        "problem": problem,
        "apply_lock": lock,
    }


def _kuma_display(conn: Connection, target: KumaTarget) -> str:
    """Where Kuma is reached, as status names it when it cannot be read."""
    if target.platform == "universal":
        return target.display
    return f"the Kubernetes API ({conn.context or 'current context'})"


def _rollback_kuma(
    catalog_name: str, saved: dict[str, Any], conn: Connection, yes: bool, dry_run: bool, lock_wait: float
) -> int:
    items = [o for o in saved.get("objects") or [] if isinstance(o, dict)]
    with contextlib.ExitStack() as stack:
        if saved.get("platform") == "kubernetes":
            from gatewayctl.apply.kuma_kubernetes import object_from_live

            objects = [object_from_live(o) for o in items]
            namespace = str(saved.get("namespace") or _namespace_of(items))
            target = _kuma_remote(
                lambda: kubernetes_target(conn.kubeconfig, conn.context, namespace, conn.timeout, conn.rps)
            )
        else:
            objects = [_object_from_live(o) for o in items]
            client = kuma_client(conn)  # the flag or the environment, as for Kong
            target = KumaTarget("universal", client.endpoint.display(), "", client=client)
        stack.callback(target.close)
        secret_fields = read_secret_fields(saved)
        masker = Masker.of(
            s
            for obj, item in zip(objects, items, strict=True)
            for s in secret_strings(obj.kind, item, secret_fields.get(object_key(obj.kind, obj.mesh, obj.name), ()))
        )
        desired = KumaDesired(objects, masker)
        if saved.get("url") and saved["url"] != target.display:
            err.print(
                f"[yellow]note: the snapshot was taken from {escape(str(saved['url']))}; "
                f"restoring it to {escape(target.display)}[/yellow]"
            )

        def rollback_plan() -> KumaPlan:
            nonlocal objects
            the_plan: KumaPlan = _kuma_remote(
                lambda: target.plan(catalog_name, objects, masker, conn.parallelism), masker=masker
            )
            if saved.get("platform") == "kubernetes":
                # Fields taken over since the snapshot (--force-conflicts) are gatewayctl's now: restoring
                # them needs the live managedFields, so plan once more with them when that adds any.
                now = {(o.get("kind"), (o.get("metadata") or {}).get("name")): o for o in the_plan.live}
                again = [
                    object_from_live(o, now.get((o.get("kind"), (o.get("metadata") or {}).get("name")))) for o in items
                ]
                if again != objects:
                    objects = again
                    the_plan = _kuma_remote(
                        lambda: target.plan(catalog_name, objects, masker, conn.parallelism), masker=masker
                    )
            the_plan.changes = [
                replace(c, fields=hide_paths(c.fields, secret_fields.get(object_key(c.kind, c.mesh, c.name), ())))
                for c in the_plan.changes
            ]
            return the_plan

        the_plan = rollback_plan()
        side = KumaSide(target, desired, the_plan)
        _print_lines(kuma_text_lines(the_plan, masker))
        out.print(the_plan.summary())
        if not the_plan.changes:
            out.print("kuma: nothing to roll back")
            return EXIT_OK
        if dry_run:
            return EXIT_OK
        _confirm(yes, "roll Kuma back at " + side.display, "roll back")
        try:  # as apply: never interleaved with an apply of this catalog
            held = _kuma_remote(lambda: stack.enter_context(target.lock(catalog_name, lock_wait)), masker=masker)
        except LockHeld as exc:
            err.print(f"kuma: {escape(str(exc))}; nothing was changed")
            return EXIT_REMOTE
        side.plan = rollback_plan()
        outcome = target.apply(side.plan, conn.parallelism, cancel=held.lost)
        return _report_kuma_outcome(outcome, side, as_json=False)[0]


def _namespace_of(items: list[dict[str, Any]]) -> str:
    """Where a snapshot's policies were (snapshots from before the namespace was recorded)."""
    for item in items:
        namespace = (item.get("metadata") or {}).get("namespace")
        if namespace:
            return str(namespace)
    return Namespaces().kuma


def _object_from_live(item: dict[str, Any]) -> KumaObject:
    """A live Universal object (as a snapshot holds it) as the KumaObject that renders back to it."""
    skip = {"type", "name", "mesh", "labels", "creationTime", "modificationTime", "kri", "status", "snis"}
    kind = str(item.get("type"))
    labels = {str(k): str(v) for k, v in (item.get("labels") or {}).items()}
    if kind == "Mesh":
        return KumaObject(kind, str(item.get("name")), labels, {k: v for k, v in item.items() if k not in skip})
    return KumaObject(kind, str(item.get("name")), labels, dict(item.get("spec") or {}), str(item.get("mesh")))


__all__ = [  # imported by the dump and watch commands: keep these names
    "KUMA_URL_FLAGS",
    "CaCert",
    "ClientCert",
    "ClientKey",
    "Connection",
    "Insecure",
    "JsonOption",
    "KongUrl",
    "KubeContext",
    "Kubeconfig",
    "KumaPlatform",
    "KumaUrl",
    "Only",
    "Parallelism",
    "StateDir",
    "Timeout",
    "_client",
    "_remote",
    "check_kuma_platform",
    "kong_client",
    "kuma_client",
    "register",
    "tls_or_exit",
    "usable_endpoint_or_exit",
]
