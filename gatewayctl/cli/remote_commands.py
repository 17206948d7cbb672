"""Commands that talk to Kong's Admin API: diff, apply, status, rollback.

Exit codes: 0 done / no changes, 1 catalog or usage error (nothing sent), 2 changes present
(`diff --exit-code`), 3 Kong failed, refused a write or was unreachable (the message names the call and
what was left unchanged). Secrets are masked in every line and in --json."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from gatewayctl.apply import dbless
from gatewayctl.apply.kong import Outcome, execute
from gatewayctl.apply.lock import LockHeld
from gatewayctl.apply.session import (
    Desired,
    apply_db,
    apply_dbless,
    check_server,
    dbless_text,
    flattened_error_diagnostics,
    plan,
    rejection_diagnostic,
    render_desired,
)
from gatewayctl.apply.snapshot import SNAPSHOT_DIR, SnapshotError, latest_snapshot, read_snapshot
from gatewayctl.catalog.load import LoadedCatalog
from gatewayctl.cli.catalog_commands import CatalogArg, EnvOption, _examples, load_or_exit
from gatewayctl.cli.console import EXIT_CHANGES, EXIT_INVALID, EXIT_OK, EXIT_REMOTE, err, out, plural, print_diagnostics
from gatewayctl.clients.kong_admin import URL_ENV, Endpoint, KongAdmin, KongError, TlsOptions
from gatewayctl.clients.retry import RetryPolicy
from gatewayctl.diagnostics import CatalogInvalid
from gatewayctl.plan.entities import DesiredState, from_live
from gatewayctl.plan.kong import KongPlan, ServerInfo, read_server
from gatewayctl.plan.masking import Masker
from gatewayctl.plan.report import json_report, names_by_id, text_lines, title

KongUrl = Annotated[
    str | None,
    typer.Option("--kong-admin-url", help=f"Kong Admin API URL (or {URL_ENV}; default http://localhost:8001)."),
]
CaCert = Annotated[Path | None, typer.Option("--ca-cert", help="CA bundle to verify the Admin API's certificate.")]
ClientCert = Annotated[Path | None, typer.Option("--client-cert", help="Client certificate for mutual TLS.")]
ClientKey = Annotated[Path | None, typer.Option("--client-key", help="Client key for mutual TLS.")]
Insecure = Annotated[
    bool, typer.Option("--insecure", help="Do not verify the Admin API's TLS certificate (explicit opt-out).")
]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds per request.", min=0.1)]
Parallelism = Annotated[int, typer.Option("--parallelism", help="Requests in flight at once.", min=1, max=64)]
JsonOption = Annotated[bool, typer.Option("--json", help="A machine-readable report on stdout (secrets masked).")]
StateDir = Annotated[Path, typer.Option("--state-dir", help="Where snapshots are kept.")]
TOKEN_NOTE = "The Admin token is read from GATEWAYCTL_KONG_ADMIN_TOKEN (sent as Kong-Admin-Token), never from argv."


def register(app: typer.Typer) -> None:
    app.command(
        epilog=_examples(
            "gatewayctl diff catalog.yaml --env prod",
            "GATEWAYCTL_KONG_ADMIN_URL=https://kong-admin:8444 gatewayctl diff catalog.yaml --exit-code",
            "gatewayctl diff catalog.yaml --json > plan.json",
        )
    )(diff)
    app.command(
        epilog=_examples(
            "gatewayctl apply catalog.yaml --dry-run",
            "gatewayctl apply catalog.yaml --env prod --yes --parallelism 16 --rps 200",
        )
    )(apply)
    app.command(epilog=_examples("gatewayctl status catalog.yaml", "gatewayctl status catalog.yaml --json"))(status)
    app.command(
        epilog=_examples(
            "gatewayctl rollback --yes", "gatewayctl rollback .gatewayctl/snapshots/20261201T101500.123456Z.json --yes"
        )
    )(rollback)


# ---------------------------------------------------------------------- commands


def diff(
    catalog: CatalogArg,
    env: EnvOption = None,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 2 when there are changes.")] = False,
    as_json: JsonOption = False,
    kong_admin_url: KongUrl = None,
    ca_cert: CaCert = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    insecure: Insecure = False,
    timeout: Timeout = 30.0,
    parallelism: Parallelism = 8,
) -> int:
    """Show what apply would change in Kong: per entity and per field, secrets masked.

    Reads only the entities carrying this catalog's ownership tags. Ends with a summary line such as
    `kong: +3 ~1 -0`.
    """
    loaded = load_or_exit(catalog, env)
    desired = _render_or_exit(loaded)
    with _client(kong_admin_url, ca_cert, client_cert, client_key, insecure, timeout, parallelism) as client:
        server, the_plan = _plan_or_exit(client, loaded, desired, parallelism)
        extra: dict[str, Any] = {}
        if server.dbless:
            extra = _dbless_state(client, loaded, desired)
    _print_plan(the_plan, desired, as_json, extra)
    if the_plan.changes and exit_code:
        raise typer.Exit(EXIT_CHANGES)
    raise typer.Exit(EXIT_OK)


def apply(
    catalog: CatalogArg,
    env: EnvOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; write nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (required when not interactive).")] = False,
    only: Annotated[str | None, typer.Option("--only", help="Apply only this target: kong (kuma: not yet).")] = None,
    as_json: JsonOption = False,
    kong_admin_url: KongUrl = None,
    ca_cert: CaCert = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    insecure: Insecure = False,
    timeout: Timeout = 30.0,
    parallelism: Parallelism = 8,
    rps: Annotated[float | None, typer.Option("--rps", help="At most this many requests per second.", min=0.1)] = None,
    lock_wait: Annotated[float, typer.Option("--lock-wait", help="Seconds to wait for another apply.", min=0)] = 60.0,
    state_dir: StateDir = Path(".gatewayctl"),
) -> int:
    """Make Kong match the catalog: creates, updates and deletes only what this catalog owns.

    Writes go in dependency order with bounded concurrency, retrying 429/5xx/connection errors; a refused
    write is reported at its catalog entry. Before writing, the owned live state is saved to
    .gatewayctl/snapshots/ (mode 0600) for `gatewayctl rollback`. Two applies never interleave (a lock held
    in Kong).
    """
    if only not in (None, "kong"):
        err.print(
            f"--only {escape(only)}: only 'kong' can be applied so far (Kuma apply is not implemented yet)"
            if only == "kuma"
            else f"--only {escape(only)}: choose kong or kuma"
        )
        raise typer.Exit(EXIT_INVALID)
    loaded = load_or_exit(catalog, env)
    desired = _render_or_exit(loaded)
    if loaded.catalog.mesh is not None and only is None:
        err.print("kuma: not applied (Kuma apply is not implemented yet; `gatewayctl render` writes its policies)")
    with _client(kong_admin_url, ca_cert, client_cert, client_key, insecure, timeout, parallelism, rps) as client:
        server, the_plan = _plan_or_exit(client, loaded, desired, parallelism)
        text = None
        unchanged_hash = False
        if server.dbless:
            text = _remote(lambda: dbless_text(client, loaded, desired))
            running = _remote(lambda: dbless.running_hash(client))
            unchanged_hash = running == dbless.config_hash(text)
        if not as_json:
            _print_plan(the_plan, desired, False, {})
        if not the_plan.changes and (not server.dbless or unchanged_hash):
            _finish_json(as_json, the_plan, desired, {"applied": False, "writes": 0})
            if not as_json:
                out.print("nothing to do")
            raise typer.Exit(EXIT_OK)
        if dry_run:
            _finish_json(as_json, the_plan, desired, {"applied": False, "dry_run": True})
            raise typer.Exit(EXIT_OK)
        _confirm(yes, "apply these changes to Kong at " + client.endpoint.display())
        if server.dbless:
            assert text is not None
            _apply_dbless(client, loaded, desired, the_plan, text, state_dir, as_json)
        _apply_db(client, loaded, desired, server, parallelism, state_dir, lock_wait, as_json)
    raise typer.Exit(EXIT_OK)  # pragma: no cover - the helpers exit


def status(
    catalog: CatalogArg,
    env: EnvOption = None,
    as_json: JsonOption = False,
    kong_admin_url: KongUrl = None,
    ca_cert: CaCert = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    insecure: Insecure = False,
    timeout: Timeout = 30.0,
    parallelism: Parallelism = 8,
) -> int:
    """Is Kong reachable, which version and edition, is its database reachable, has it drifted from the catalog."""
    loaded = load_or_exit(catalog, env)
    desired = _render_or_exit(loaded)
    with _client(kong_admin_url, ca_cert, client_cert, client_key, insecure, timeout, parallelism) as client:
        server = _remote(lambda: read_server(client))
        health = _remote(lambda: client.get("/status"))
        try:
            check_server(loaded, server, desired)
            _, the_plan = _plan_or_exit(client, loaded, desired, parallelism)
            drift: str | None = the_plan.summary() if the_plan.changes else None
            problem = None
        except typer.Exit:
            raise
        except CatalogInvalid as exc:
            drift, problem = None, "; ".join(d.message for d in exc.errors)
    database = health.get("database") if isinstance(health, dict) else None
    report = {
        "kong": client.endpoint.display(),
        "reachable": True,
        "version": server.version,
        "edition": server.edition,
        "database": server.database,
        "database_reachable": database.get("reachable") if isinstance(database, dict) else None,
        "configuration_hash": health.get("configuration_hash") if isinstance(health, dict) else None,
        "drift": drift is not None,
        "summary": drift or "kong: +0 ~0 -0",
        "problem": problem,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        out.print(
            f"kong: {escape(report['kong'])} reachable, {server.version} ({server.edition}, database={server.database})"
        )
        if report["database_reachable"] is not None:
            out.print(f"database reachable: {'yes' if report['database_reachable'] else 'no'}")
        if report["configuration_hash"]:
            out.print(f"configuration hash: {report['configuration_hash']}")
        out.print(f"drift: {'yes, ' + drift if drift else 'no'}" if not problem else f"cannot plan: {escape(problem)}")
    raise typer.Exit(EXIT_OK)


def rollback(
    snapshot: Annotated[
        Path | None, typer.Argument(help="Snapshot file (default: the newest in .gatewayctl/snapshots/).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (required when not interactive).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    kong_admin_url: KongUrl = None,
    ca_cert: CaCert = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    insecure: Insecure = False,
    timeout: Timeout = 30.0,
    parallelism: Parallelism = 8,
    state_dir: StateDir = Path(".gatewayctl"),
) -> int:
    """Put back the owned Kong state saved by an earlier apply (DB mode).

    Only entities carrying the snapshot's catalog tags are touched. Basic-auth passwords cannot be restored
    (Kong keeps only their hash): such credentials are reported and left as they are.
    """
    path = snapshot or latest_snapshot(state_dir / SNAPSHOT_DIR.name)
    if path is None:
        err.print(f"no snapshot in {state_dir / SNAPSHOT_DIR.name}; name one")
        raise typer.Exit(EXIT_INVALID)
    try:
        catalog_name, saved = read_snapshot(path)
    except SnapshotError as exc:
        err.print(escape(str(exc)))
        raise typer.Exit(EXIT_INVALID) from None
    wanted = DesiredState([from_live(kind, item) for kind, items in saved.entities.items() for item in items])
    desired = Desired({}, wanted, Masker())
    with _client(kong_admin_url, ca_cert, client_cert, client_key, insecure, timeout, parallelism) as client:
        server = _remote(lambda: read_server(client))
        if server.dbless:
            err.print("rollback works on Kong with a database; for DB-less Kong apply the earlier catalog again")
            raise typer.Exit(EXIT_INVALID)
        the_plan = _remote(lambda: plan(client, catalog_name, server, desired, parallelism))
        hashed = [c for c in the_plan.changes if c.kind == "basicauth_credentials" and c.action != "delete"]
        if hashed:
            for c in hashed:
                err.print(
                    f"cannot restore basic-auth credential {escape(c.name)}: Kong stores only its password's hash"
                )
            the_plan.changes = [c for c in the_plan.changes if c not in hashed]
        out.print(f"rollback to {path} (catalog {catalog_name})")
        _print_plan(the_plan, desired, False, {})
        if not the_plan.changes or dry_run:
            raise typer.Exit(EXIT_OK)
        _confirm(yes, "roll Kong back at " + client.endpoint.display())
        outcome = execute(client, the_plan.changes, parallelism)
        _report_outcome(outcome, None, desired, client, as_json=False)
    raise typer.Exit(EXIT_OK)  # pragma: no cover - _report_outcome exits


# ---------------------------------------------------------------------- steps


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
    if client_key and not client_cert:
        err.print("--client-key needs --client-cert")
        raise typer.Exit(EXIT_INVALID)
    for option, value in (("--ca-cert", ca_cert), ("--client-cert", client_cert), ("--client-key", client_key)):
        if value is not None and not value.is_file():
            err.print(f"{option} {escape(str(value))}: no such file")
            raise typer.Exit(EXIT_INVALID)
    tls = TlsOptions(ca_cert, client_cert, client_key, insecure)
    endpoint = Endpoint.from_environment(url, tls, timeout)
    if not endpoint.url.startswith(("http://", "https://")):
        err.print(f"Kong Admin API URL must start with http:// or https:// (got {escape(endpoint.display())})")
        raise typer.Exit(EXIT_INVALID)
    if insecure:
        err.print("[yellow]warning: --insecure: the Admin API's TLS certificate is not verified[/yellow]")
    try:
        return KongAdmin(endpoint, retry=RetryPolicy(), rps=rps, pool=parallelism)
    except (OSError, ValueError) as exc:
        err.print(f"cannot set up TLS: {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None


def _render_or_exit(loaded: LoadedCatalog) -> Desired:
    try:
        return render_desired(loaded)
    except CatalogInvalid as exc:
        errors, _ = print_diagnostics(exc.diagnostics)
        err.print(f"{loaded.path}: {plural(errors, 'error')}; nothing was sent")
        raise typer.Exit(EXIT_INVALID) from None


def _remote(call: Any) -> Any:
    try:
        return call()
    except KongError as exc:
        err.print(f"kong: {escape(exc.describe())}; nothing was changed")
        raise typer.Exit(EXIT_REMOTE) from None


def _plan_or_exit(
    client: KongAdmin, loaded: LoadedCatalog, desired: Desired, parallelism: int
) -> tuple[ServerInfo, KongPlan]:
    server = _remote(lambda: read_server(client))
    try:
        check_server(loaded, server, desired)
    except CatalogInvalid as exc:
        errors, _ = print_diagnostics(exc.diagnostics)
        err.print(f"{loaded.path}: this Kong cannot take the catalog ({plural(errors, 'problem')}); nothing was sent")
        raise typer.Exit(EXIT_INVALID) from None
    return server, _remote(lambda: plan(client, loaded.catalog.name, server, desired, parallelism))


def _dbless_state(client: KongAdmin, loaded: LoadedCatalog, desired: Desired) -> dict[str, Any]:
    text = _remote(lambda: dbless_text(client, loaded, desired))
    running = _remote(lambda: dbless.running_hash(client))
    return {"configuration_hash": {"running": running, "catalog": dbless.config_hash(text)}}


def _print_plan(the_plan: KongPlan, desired: Desired, as_json: bool, extra: dict[str, Any]) -> None:
    names = names_by_id(the_plan, desired.state.entities)
    if as_json:
        typer.echo(json.dumps({"kong": {**json_report(the_plan, names, desired.masker), **extra}}, indent=2))
        return
    for style, line in text_lines(the_plan, names, desired.masker):
        out.print(f"[{style}]{escape(line)}[/{style}]" if style else escape(line))
    out.print(the_plan.summary())


def _finish_json(as_json: bool, the_plan: KongPlan, desired: Desired, result: dict[str, Any]) -> None:
    if as_json:
        _print_plan(the_plan, desired, True, {"result": result})


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        err.print("not interactive: pass --yes to apply")
        raise typer.Exit(EXIT_INVALID)
    if not typer.confirm(question + "?", default=False):
        err.print("nothing was changed")
        raise typer.Exit(EXIT_OK)


def _apply_db(
    client: KongAdmin,
    loaded: LoadedCatalog,
    desired: Desired,
    server: ServerInfo,
    parallelism: int,
    state_dir: Path,
    lock_wait: float,
    as_json: bool,
) -> None:
    try:
        result = apply_db(
            client, loaded, server, desired, parallelism=parallelism, state_dir=state_dir, lock_wait=lock_wait
        )
    except LockHeld as exc:
        err.print(f"kong: {escape(str(exc))}; nothing was changed")
        raise typer.Exit(EXIT_REMOTE) from None
    except KongError as exc:
        err.print(f"kong: {escape(desired.masker.text(exc.describe()))}; nothing was changed")
        raise typer.Exit(EXIT_REMOTE) from None
    except OSError as exc:
        err.print(f"cannot write the snapshot: {escape(str(exc))}; nothing was changed")
        raise typer.Exit(EXIT_INVALID) from None
    if result.broke_stale_lock:
        err.print(f"[yellow]warning: took over a stale apply lock ({escape(result.broke_stale_lock)})[/yellow]")
    if result.snapshot and not as_json:
        out.print(f"snapshot of the previous state: {result.snapshot}")
    _report_outcome(result.outcome, loaded, desired, client, as_json, result.plan)


def _report_outcome(
    outcome: Outcome,
    loaded: LoadedCatalog | None,
    desired: Desired,
    client: KongAdmin,
    as_json: bool,
    the_plan: KongPlan | None = None,
) -> None:
    names: dict[str, str] = names_by_id(the_plan, desired.state.entities) if the_plan else {}
    for change, exc in outcome.failed:
        label = desired.masker.text(title(change, names))
        if exc.rejected and loaded is not None and change.action != "delete":
            print_diagnostics([rejection_diagnostic(loaded, desired, change.entity, label, exc)])
        else:
            err.print(f"kong: {change.action} {escape(label)} failed: {escape(desired.masker.text(exc.describe()))}")
    done = len(outcome.done)
    left = len(outcome.skipped) + len(outcome.failed)
    summary = f"kong: {plural(done, 'change')} applied" + (f", {left} left unchanged" if left else "")
    if as_json and the_plan is not None:
        _print_plan(
            the_plan,
            desired,
            True,
            {
                "result": {
                    "applied": done,
                    "failed": [
                        {"id": c.entity.id, "error": desired.masker.text(e.describe())} for c, e in outcome.failed
                    ],
                    "left_unchanged": [c.entity.id for c in outcome.skipped],
                    "requests": {"reads": client.log.reads, "writes": client.log.writes, "retries": client.log.retries},
                }
            },
        )
    if outcome.failed:
        for change in outcome.skipped[:10]:
            err.print(f"  left unchanged: {change.action} {escape(desired.masker.text(title(change, names)))}")
        if len(outcome.skipped) > 10:
            err.print(f"  ... and {len(outcome.skipped) - 10} more")
        err.print(summary + "; run apply again after fixing the cause: it picks up where this one stopped")
        raise typer.Exit(EXIT_REMOTE)
    (err if as_json else out).print(summary)
    raise typer.Exit(EXIT_OK)


def _apply_dbless(
    client: KongAdmin,
    loaded: LoadedCatalog,
    desired: Desired,
    the_plan: KongPlan,
    text: str,
    state_dir: Path,
    as_json: bool,
) -> None:
    try:
        result = apply_dbless(client, loaded, text, the_plan.live, state_dir)
    except KongError as exc:
        if exc.status == 400:
            print_diagnostics(flattened_error_diagnostics(loaded, desired, exc))
        elif exc.status == 413:
            err.print(f"kong: POST /config: HTTP 413: {escape(exc.kong_message())}")
        else:
            err.print(f"kong: {escape(desired.masker.text(exc.describe()))}")
        err.print("kong: the configuration was not loaded; Kong keeps running the previous one")
        raise typer.Exit(EXIT_REMOTE) from None
    except OSError as exc:
        err.print(f"cannot write the snapshot: {escape(str(exc))}; nothing was changed")
        raise typer.Exit(EXIT_INVALID) from None
    message = (
        f"kong: configuration loaded (hash {result.config_hash})"
        if result.loaded_config
        else "kong: Kong already runs this configuration (304)"
    )
    if as_json:
        _print_plan(the_plan, desired, True, {"result": {"loaded": result.loaded_config, "hash": result.config_hash}})
        err.print(message)
    else:
        out.print(f"snapshot of the previous state: {result.snapshot}")
        out.print(message)
    raise typer.Exit(EXIT_OK)
