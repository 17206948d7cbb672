"""`gatewayctl dump`: the live Kong entities a catalog owns, written as a catalog to adopt.

The catalog is chosen by name (`--catalog-name`): dump is how a catalog starts when only the live Kong
exists, so it needs no catalog file. With `--kuma-url` (or GATEWAYCTL_KUMA_URL) the owned Kuma objects on
that control plane's API become the `mesh:` section and the services' `mesh:` blocks; with
`--kuma-platform kubernetes`, the owned Kuma CRDs in the cluster do (`--kubeconfig`, `--context`,
`--kuma-namespace`), each as gatewayctl's server-side applies set it (`managedFields`). Secrets become
`${env:NAME}` placeholders, listed on stderr with what each must hold; no secret value is printed or
written. Before finishing, the written file is validated and
planned against the live state with the placeholders set to the live values (in memory only): the command
says whether adopting the dump is a no-op, and lists what it would change otherwise."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from gatewayctl.apply import kuma_universal
from gatewayctl.catalog.load import load_catalog
from gatewayctl.catalog.secrets import SecretResolver
from gatewayctl.cli.console import EXIT_INVALID, EXIT_OK, EXIT_REMOTE, err, out, print_diagnostics
from gatewayctl.cli.remote_commands import (
    KUMA_URL_FLAGS,
    CaCert,
    ClientCert,
    ClientKey,
    Insecure,
    KongUrl,
    Kubeconfig,
    KubeContext,
    Parallelism,
    Timeout,
    _client,
    _remote,
    check_kuma_platform,
    remote_examples,
    usable_endpoint_or_exit,
)
from gatewayctl.clients.http import Endpoint
from gatewayctl.clients.kong_admin import TlsOptions
from gatewayctl.clients.kuma_api import URL_ENV as KUMA_URL_ENV
from gatewayctl.clients.kuma_api import KumaApi, KumaError, kuma_endpoint
from gatewayctl.clients.retry import RetryPolicy
from gatewayctl.diagnostics import CatalogInvalid, plural
from gatewayctl.dump import Dump, Placeholder, live_to_catalog, replay
from gatewayctl.dump.kuma import mesh_to_catalog, replay_kuma, zone_mode
from gatewayctl.plan.kong import LiveState, SchemaCache, fetch_live, read_server, schema_paths
from gatewayctl.plan.kuma import KumaChange
from gatewayctl.plan.masking import Masker
from gatewayctl.plan.report import names_by_id, text_lines
from gatewayctl.render.kuma import universal_form
from gatewayctl.render.output import dump_yaml

if TYPE_CHECKING:
    from gatewayctl.apply.kuma_kubernetes import KubeApi

NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Unlike diff and apply, dump reads Kuma only when asked: it has no catalog to say whether there is a mesh.
DumpKumaUrl = Annotated[
    str | None,
    typer.Option(
        "--kuma-url", help=f"Also read the owned Kuma objects at this control plane API URL (or {KUMA_URL_ENV})."
    ),
]


def register(app: typer.Typer) -> None:
    app.command(
        epilog=remote_examples(
            "gatewayctl dump --catalog-name shop --out catalog.yaml",
            "GATEWAYCTL_KONG_ADMIN_URL=https://kong-admin:8444 gatewayctl dump --catalog-name shop --out live.yaml",
            "gatewayctl dump --catalog-name shop --out catalog.yaml --kuma-url http://kuma-cp:5681",
            "gatewayctl dump --catalog-name shop --out catalog.yaml --kuma-platform kubernetes --context prod",
        )
    )(dump)


def dump(
    catalog_name: Annotated[
        str, typer.Option("--catalog-name", help="The catalog whose ownership tags select the entities.")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the catalog (replaced if it exists).")],
    kong_admin_url: KongUrl = None,
    kuma_url: DumpKumaUrl = None,
    kuma_platform: Annotated[
        str | None,
        typer.Option(
            "--kuma-platform", help="universal (the Kuma API at --kuma-url; the default) or kubernetes (the CRDs)."
        ),
    ] = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    kuma_namespace: Annotated[
        str, typer.Option("--kuma-namespace", help="Kubernetes: the namespace of the Kuma policies.")
    ] = "kuma-system",
    ca_cert: CaCert = None,
    client_cert: ClientCert = None,
    client_key: ClientKey = None,
    insecure: Insecure = False,
    timeout: Timeout = 30.0,
    parallelism: Parallelism = 8,
) -> int:
    """Write the live Kong entities carrying a catalog's ownership tags as a catalog you can adopt.

    Plugins become the catalog's own keys (auth, allow_groups, rate_limit, cors, ...) where that renders
    back exactly, and raw `plugins:` entries otherwise. With --kuma-url (or GATEWAYCTL_KUMA_URL), the owned
    Kuma objects on that API become the mesh: section and the services' mesh: blocks; with
    --kuma-platform kubernetes, the owned Kuma CRDs in the cluster do. Secrets become
    ${env:NAME} placeholders, listed on stderr; their values are never printed or written.
    """
    if not NAME.match(catalog_name):
        err.print(f"--catalog-name {escape(catalog_name)}: not a catalog name (lowercase letters, digits and '-')")
        raise typer.Exit(EXIT_INVALID)
    check_kuma_platform(kuma_platform)
    if out_file.is_dir() or not out_file.parent.is_dir():  # found out before Kong is read, not after
        where = (
            "is a folder: name a file in it" if out_file.is_dir() else f"its folder {out_file.parent} does not exist"
        )
        err.print(f"--out {escape(str(out_file))}: {escape(where)}; nothing was read or written")
        raise typer.Exit(EXIT_INVALID)
    # the Kuma API, when one is named (--kuma-url or GATEWAYCTL_KUMA_URL); a URL that cannot be one is the
    # user's to fix: said before Kong is read, and never retried
    kuma_api: Endpoint | None = None
    if kuma_platform != "kubernetes" and (kuma_url or os.environ.get(KUMA_URL_ENV)):
        kuma_api = kuma_endpoint(kuma_url, TlsOptions(ca_cert, client_cert, client_key, insecure), timeout)
        usable_endpoint_or_exit(kuma_api, "Kuma API", KUMA_URL_FLAGS, "; nothing was read or written")
    # likewise the kubeconfig (its file, context, server URL), before Kong is read
    kube = _connect_kube(kubeconfig, context, timeout) if kuma_platform == "kubernetes" else None
    with (
        _client(kong_admin_url, ca_cert, client_cert, client_key, insecure, timeout, parallelism) as client,
        contextlib.closing(kube) if kube is not None else contextlib.nullcontext(),
    ):
        server = _remote(lambda: read_server(client))
        live: LiveState = _remote(lambda: fetch_live(client, catalog_name, server, parallelism))
        schemas = SchemaCache(client)
        _remote(lambda: schemas.fetch(schema_paths(live.all()), parallelism))
        result: Dump = _remote(lambda: live_to_catalog(catalog_name, live, server, schemas.for_entity))
        if kube is not None:
            kuma_live = _read_kuma_crds(kube, kuma_namespace, catalog_name)
        else:
            kuma_live = _read_kuma(kuma_api, catalog_name, parallelism) if kuma_api is not None else []
        if kuma_live:
            result.catalog = _with_mesh(result, catalog_name, kuma_live)
        try:
            _write(out_file, _text(catalog_name, client.endpoint.display(), result))
        except OSError as exc:
            err.print(f"cannot write {escape(str(out_file))}: {escape(exc.strerror or str(exc))}")
            raise typer.Exit(EXIT_INVALID) from None
        counts = {kind: len(items) for kind, items in live.entities.items()}
        out.print(
            f"wrote {escape(str(out_file))}: {plural(len(result.catalog.get('services', [])), 'service')}, "
            f"{plural(len(result.catalog.get('consumers', [])), 'consumer')} "
            f"(from {sum(counts.values())} owned entities in Kong)"
        )
        if not counts or not any(counts.values()):
            # an empty catalog is a valid dump, but far more often a mistyped name than an empty Kong
            err.print(
                "[yellow]warning: no entity in Kong carries the tags gatewayctl and "
                f"gatewayctl-catalog:{escape(catalog_name)}: is --catalog-name the catalog's name: as applied?[/yellow]"
            )
        _list_placeholders(result)
        for note in result.notes:
            err.print(f"[yellow]warning: {escape(note)}[/yellow]")
        try:
            loaded = load_catalog(out_file)
        except CatalogInvalid as exc:
            print_diagnostics(exc.diagnostics)
            err.print(f"{escape(str(out_file))}: the dump does not validate; edit it before adopting it")
            raise typer.Exit(EXIT_INVALID) from None
        the_plan = _remote(lambda: replay(loaded, result, live, server, schemas.for_entity))
    masker = Masker.of(p.value for p in result.placeholders)
    kuma_changes: list[KumaChange] = []
    if kuma_live:
        resolver = SecretResolver(loaded.path.parent, {p.env: p.value for p in result.placeholders})
        kuma_changes = replay_kuma(loaded, kuma_live, resolver, masker)
        for change in kuma_changes:
            err.print(
                f"[yellow]applying the dump would {change.action} Kuma {change.kind} {escape(change.name)}[/yellow]"
            )
    if the_plan.changes:
        err.print(f"[yellow]applying the dump as it is would change Kong ({the_plan.summary()}):[/yellow]")
        # what a change creates names its parents too (`of consumer bob`, `(service orders)`), not only the live
        written = [c.entity for c in the_plan.changes if c.action != "delete"]
        for _style, line in text_lines(the_plan, names_by_id(the_plan, written), masker):
            err.print(escape(masker.text(line)))
    elif not kuma_changes:
        systems = "Kong and Kuma" if kuma_live else "Kong"
        out.print(f"checked: applying this catalog (with the variables set) changes nothing in {systems}")
    raise typer.Exit(EXIT_OK)


def _read_kuma(endpoint: Endpoint, catalog_name: str, parallelism: int) -> list[dict[str, Any]]:
    """The owned Kuma objects on the Kuma API at `endpoint`."""
    try:
        with KumaApi(endpoint, retry=RetryPolicy(), pool=parallelism) as client:
            server = kuma_universal.read_server(client)
            return kuma_universal.fetch_owned(client, server, catalog_name, parallelism)
    except (KumaError, kuma_universal.KumaRefused) as exc:
        err.print(f"kuma: {escape(str(exc))}; nothing was written")
        raise typer.Exit(EXIT_REMOTE) from None


def _connect_kube(kubeconfig: Path | None, context: str | None, timeout: float) -> KubeApi:
    """A client for the cluster; a kubeconfig that cannot be used is the user's to fix: exit 1, nothing read."""
    from gatewayctl.apply import kuma_kubernetes  # the kubernetes client is imported only when it is used

    try:
        return kuma_kubernetes.connect(kubeconfig, context, timeout)
    except kuma_kubernetes.KubeError as exc:
        err.print(f"kuma: {escape(exc.describe())}; nothing was read or written")
        raise typer.Exit(EXIT_INVALID) from None


def _read_kuma_crds(api: KubeApi, namespace: str, catalog_name: str) -> list[dict[str, Any]]:
    """The owned Kuma CRDs in the cluster, in the Universal form the rest of the dump reads: each as
    gatewayctl's own server-side applies set it, without what Kuma's webhook or CRD defaults added."""
    from gatewayctl.apply import kuma_kubernetes

    try:
        by_kind, _missing = kuma_kubernetes.fetch_live(api, catalog_name, namespace)
    except kuma_kubernetes.KubeError as exc:
        err.print(f"kuma: {escape(exc.describe())}; nothing was written")
        raise typer.Exit(EXIT_INVALID if exc.method == "read" else EXIT_REMOTE) from None
    objects = [kuma_kubernetes.object_from_live(item) for items in by_kind.values() for item in items]
    return [universal_form(o) for o in sorted(objects, key=lambda o: (o.kind, o.name))]


def _with_mesh(result: Dump, catalog_name: str, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The dumped catalog with its `mesh:` section and each service's `mesh:` block, keys in catalog order."""
    services = list(result.catalog.get("services") or [])
    secrets: list[tuple[str, str, str]] = []
    section, blocks, notes = mesh_to_catalog(catalog_name, objects, services, secrets)
    result.notes.extend(notes)
    result.placeholders.extend(Placeholder(env, what, value) for env, what, value in secrets)
    if section is None:
        return result.catalog
    doc: dict[str, Any] = {}
    for key, value in result.catalog.items():
        if key == "consumers" or (key == "services" and "mesh" not in doc):
            doc.setdefault("mesh", section)
        doc[key] = (
            [{**s, "mesh": blocks[s["name"]]} if s["name"] in blocks else s for s in value]
            if key == "services"
            else value
        )
    doc.setdefault("mesh", section)
    if not zone_mode(objects):
        doc["deployment"] = {"kuma": {"mode": "global"}}
    return doc


def _text(catalog_name: str, kong: str, result: Dump) -> str:
    head = [
        f"# The live state of catalog '{catalog_name}' (Kong at {kong}), written by `gatewayctl dump`.",
        "# Secrets are ${env:...} placeholders: set them before diff or apply.",
    ]
    return "\n".join(head) + "\n" + dump_yaml(result.catalog)


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a temporary file next to the target, renamed over it."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # placeholders only: nothing secret in it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _list_placeholders(result: Dump) -> None:
    if not result.placeholders:
        return
    err.print(f"{plural(len(result.placeholders), 'secret')} replaced by placeholders; set them before diff or apply:")
    width = max(len(p.env) for p in result.placeholders)
    for p in result.placeholders:
        err.print(f"  {p.env.ljust(width)}  {escape(p.what)}")
