"""Commands that work on the catalog alone: validate, render, graph, schema, init."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from gatewayctl.catalog.load import LoadedCatalog, display_path, is_stdin, load_catalog
from gatewayctl.catalog.model import Catalog
from gatewayctl.catalog.secrets import REFERENCE
from gatewayctl.cli.console import EXIT_INVALID, EXIT_OK, err, out, print_diagnostics
from gatewayctl.diagnostics import CatalogInvalid, Diagnostic, plural
from gatewayctl.graph import render_graph
from gatewayctl.render import TARGETS, render
from gatewayctl.render.output import RenderedFile, write_files

CatalogArg = Annotated[
    Path,
    typer.Argument(
        help="The catalog file (YAML); - reads it from standard input.", show_default=False, metavar="CATALOG"
    ),
]
EnvOption = Annotated[
    str | None, typer.Option("--env", "-e", help="Merge this environment overlay (environments.NAME) first.")
]
SCHEMA_FILE = "catalog.schema.json"


def register(app: typer.Typer) -> None:
    validate_examples = _examples(
        "gatewayctl validate catalog.yaml",
        "gatewayctl validate catalog.yaml --env prod",
        "gatewayctl validate catalog.yaml --format github  # in a GitHub Actions job",
        "generate-catalog | gatewayctl validate -  # the catalog from standard input",
    )
    render_examples = _examples(
        "gatewayctl render catalog.yaml --out build/",
        "gatewayctl render catalog.yaml --out build/ --env staging --target kong",
    )
    app.command(epilog=validate_examples)(validate)
    app.command(name="render", epilog=render_examples)(render_cmd)
    graph_examples = _examples(
        "gatewayctl graph catalog.yaml > topology.mmd",
        "gatewayctl graph catalog.yaml --format dot | dot -Tsvg > topology.svg",
        "gatewayctl graph catalog.yaml --env prod",
    )
    app.command(epilog=graph_examples)(graph)
    app.command(epilog=_examples("gatewayctl schema > catalog.schema.json"))(schema)
    app.command(epilog=_examples("gatewayctl init", "gatewayctl init platform/"))(init)


def _examples(*lines: str) -> str:
    return "Examples:\n\n" + "\n\n".join(f"  $ {line}" for line in lines)


def load_or_exit(path: Path, env: str | None, *, all_environments: bool = False) -> LoadedCatalog:
    """Load the catalog; on invalid input print every located error and exit 1."""
    try:
        loaded = load_catalog(path, env, all_environments=all_environments)
    except CatalogInvalid as exc:
        _print_invalid(path, exc.diagnostics)
        raise typer.Exit(EXIT_INVALID) from None
    print_diagnostics(loaded.warnings)
    return loaded


def _print_invalid(path: Path, diagnostics: list[Diagnostic]) -> None:
    errors, warnings = print_diagnostics(diagnostics)
    err.print(
        f"{display_path(path)}: {plural(errors, 'error')}" + (f", {plural(warnings, 'warning')}" if warnings else "")
    )


class ValidateFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def validate(
    catalog: CatalogArg,
    env: EnvOption = None,
    output_format: Annotated[
        ValidateFormat,
        typer.Option(
            "--format",
            "-f",
            help="text (file:line:col: path: message, on stderr), json (one document on stdout) or github "
            "(also GitHub Actions annotations on stdout, shown on the pull request's lines).",
        ),
    ] = ValidateFormat.text,
) -> int:
    """Check a catalog: types, names, routes, auth, mesh permissions; print every problem located.

    Without --env the base catalog and every environment overlay are checked.
    """
    try:
        loaded = load_catalog(catalog, env, all_environments=env is None)
    except CatalogInvalid as exc:
        _report(catalog, env, output_format, exc.diagnostics, None)
        raise typer.Exit(EXIT_INVALID) from None
    _report(catalog, env, output_format, loaded.warnings, loaded.catalog)
    raise typer.Exit(EXIT_OK)


def _counts(catalog: Catalog) -> dict[str, int]:
    return {
        "services": len(catalog.services),
        "routes": sum(len(s.routes) for s in catalog.services),
        "consumers": len(catalog.consumers),
    }


def _report(
    path: Path, env: str | None, output_format: ValidateFormat, diagnostics: list[Diagnostic], catalog: Catalog | None
) -> None:
    """validate's findings (`catalog` is None when it is invalid): as text, as one JSON document, or as
    GitHub Actions workflow commands (each diagnostic an annotation on its file and line) and the text."""
    if output_format is ValidateFormat.json:
        document = {
            "catalog": display_path(path),
            "environment": env,
            "valid": catalog is not None,
            "counts": None if catalog is None else _counts(catalog),
            "diagnostics": [dataclasses.asdict(d) for d in diagnostics],
        }
        typer.echo(json.dumps(document, indent=2))
        return
    if output_format is ValidateFormat.github:
        for d in diagnostics:
            where = ",".join(
                f"{key}={_github_property(str(value))}"
                for key, value in (("file", d.file), ("line", d.line), ("col", d.col), ("title", "gatewayctl validate"))
            )
            typer.echo(f"::{d.severity} {where}::{_github_data(f'{d.path}: {d.message}' if d.path else d.message)}")
    if catalog is None:
        _print_invalid(path, diagnostics)
        return
    print_diagnostics(diagnostics)
    counts = _counts(catalog)
    where = (
        f" (environment {env})"
        if env
        else (f" and {plural(len(catalog.environments), 'environment')}" if catalog.environments else "")
    )
    out.print(
        f"{display_path(path)}{where}: valid: {plural(counts['services'], 'service')}, "
        f"{plural(counts['routes'], 'route')}, {plural(counts['consumers'], 'consumer')}"
        + (f", {plural(len(diagnostics), 'warning')}" if diagnostics else "")
    )


def _github_data(text: str) -> str:
    """A workflow command's message, escaped as the Actions runner unescapes it (actions/toolkit command.ts)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def render_cmd(
    catalog: CatalogArg,
    out: Annotated[str, typer.Option("--out", "-o", help="Folder to write into (created if missing).")],
    env: EnvOption = None,
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help=f"Comma-separated targets: {', '.join(TARGETS)}. Default: all."),
    ] = None,
) -> int:
    """Render the catalog into configuration files: OUT/kong/kong.yaml, ...

    Nothing is written unless the whole render succeeds; files holding resolved secrets are mode 0600.
    """
    if not out.strip():
        # `--out "$BUILD_DIR"` with the variable unset would otherwise render into (and prune) the current folder.
        err.print("--out is empty (an unset variable?); to render into the current folder, say --out .")
        raise typer.Exit(EXIT_INVALID)
    out_dir = Path(out)
    targets = _parse_targets(target)
    loaded = load_or_exit(catalog, env)
    warnings: list[Diagnostic] = []
    try:
        files = render(loaded, targets, loaded.secrets(), warnings.append)
    except CatalogInvalid as exc:
        errors, _ = print_diagnostics(exc.diagnostics)
        err.print(f"{display_path(catalog)}: {plural(errors, 'error')}; nothing was written")
        raise typer.Exit(EXIT_INVALID) from None
    print_diagnostics(warnings)
    removed: list[str] = []
    unchanged: list[str] = []
    inputs = [*([] if is_stdin(catalog) else [catalog]), *loaded.input_files()]
    try:
        write_files(out_dir, files, owned_dirs=targets, inputs=inputs, removed=removed, unchanged=unchanged)
    except OSError as exc:
        _cannot_write(out_dir, exc)
    _summarise(out_dir, files, targets if target else [], loaded.catalog, sorted(removed), set(unchanged))
    raise typer.Exit(EXIT_OK)


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"


def graph(
    catalog: CatalogArg,
    fmt: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="mermaid (pastes into Markdown) or dot (Graphviz).")
    ] = GraphFormat.mermaid,
    env: EnvOption = None,
) -> int:
    """Draw the catalog's topology: clients -> Kong routes -> services -> allowed mesh edges.

    Printed to standard output; the same catalog always gives the same text.
    """
    loaded = load_or_exit(catalog, env)
    typer.echo(render_graph(loaded.catalog, fmt.value), nl=False)
    raise typer.Exit(EXIT_OK)


def _parse_targets(value: str | None) -> list[str]:
    if value is None:
        return list(TARGETS)
    names = [t.strip() for t in value.split(",") if t.strip()]
    if not names:  # `--target "$TARGETS"` with the variable unset: not every target, nor none
        err.print(f"--target names no target (an unset variable?): choose from {', '.join(TARGETS)}")
        raise typer.Exit(EXIT_INVALID)
    unknown = [t for t in names if t not in TARGETS]
    if unknown:
        err.print(f"unknown target {', '.join(unknown)}: choose from {', '.join(TARGETS)}")
        raise typer.Exit(EXIT_INVALID)
    return [t for t in TARGETS if t in names]  # the canonical order, duplicates dropped


def _summarise(
    out_dir: Path,
    files: list[RenderedFile],
    asked: list[str],
    catalog: Catalog,
    removed: list[str],
    unchanged: set[str],
) -> None:
    by_folder = Counter(f.path.split("/", 1)[0] for f in files)
    kept = Counter(path.split("/", 1)[0] for path in unchanged)
    for f in files:
        if f.path in unchanged:  # already as rendered and not rewritten: counted below, not said to be written
            continue
        private = "  (0600: holds secrets)" if f.mode == 0o600 else ""
        out.print(f"wrote {escape(str(out_dir / f.path))}  {len(f.content):,} bytes{private}")
    for path in removed:  # an earlier render's file this one no longer writes: say so, not just vanish
        out.print(f"removed {escape(str(out_dir / path))}  (no longer rendered)")
    rendered = [f"{name}: {plural(n, 'file')}{_unchanged_note(kept[name], n)}" for name, n in by_folder.items()]
    # A target asked for by name that has nothing to render says why, rather than vanishing from the line.
    empty = [f"{t}: nothing ({_why_empty(t, catalog)})" for t in asked if t not in by_folder]
    gone = [f"{plural(len(removed), 'file')} removed"] if removed else []
    out.print("rendered " + ", ".join(rendered + empty + gone))


def _unchanged_note(unchanged: int, files: int) -> str:
    if not unchanged:
        return ""
    return " (unchanged)" if unchanged == files else f" ({unchanged} unchanged)"


def _why_empty(target: str, catalog: Catalog) -> str:
    if target == "kuma":
        return "the catalog has no enabled mesh"
    if target in ("kubernetes", "vm"):
        return f"deployment.platform is {catalog.deployment.platform}"
    return "no files for this catalog"


def _cannot_write(path: Path, exc: OSError) -> NoReturn:
    """Report a failed write at the path that failed (the OS names it: a parent that is a file, ...), exit 1."""
    where = exc.filename if exc.filename is not None else path
    # mkdir's EEXIST on a path that is a file says "File exists", which reads as if nothing were wrong.
    why = "exists and is not a folder" if isinstance(exc, FileExistsError) else exc.strerror or str(exc)
    err.print(f"cannot write {escape(str(where))}: {escape(why)}")
    raise typer.Exit(EXIT_INVALID) from None


def catalog_json_schema() -> dict[str, object]:
    schema = Catalog.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "gatewayctl service catalog (format 1)"
    return schema


def schema(
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")] = None,
) -> int:
    """Print the catalog's JSON Schema, for editor completion and validation."""
    text = json.dumps(catalog_json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        try:
            output.write_text(text)
        except OSError as exc:
            _cannot_write(output, exc)
        out.print(f"wrote {escape(str(output))}")
    else:
        typer.echo(text, nl=False)
    raise typer.Exit(EXIT_OK)


def init(
    directory: Annotated[
        Path, typer.Argument(help="Folder for catalog.yaml (created if missing).", metavar="DIR")
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing catalog.yaml.")] = False,
) -> int:
    """Write a commented starter catalog (and its JSON Schema, for editor completion)."""
    target = directory / "catalog.yaml"
    if target.exists() and not force:
        err.print(f"{target} exists; use --force to overwrite it")
        raise typer.Exit(EXIT_INVALID)
    starter = (Path(__file__).parent.parent / "templates" / "starter.yaml").read_text()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # the schema first: a catalog.yaml left behind by a failed init would refuse the next one (--force)
        (directory / SCHEMA_FILE).write_text(json.dumps(catalog_json_schema(), indent=2, sort_keys=True) + "\n")
        target.write_text(starter)
    except OSError as exc:
        _cannot_write(directory, exc)
    out.print(f"wrote {target} and {directory / SCHEMA_FILE}")
    out.print(f"next: gatewayctl validate {target}")
    needed = sorted({m.group(2) for m in REFERENCE.finditer(starter) if m.group(1) == "env"})
    if needed:  # render and apply resolve them; validate does not need them
        out.print(f"then, before render or apply, set {', '.join(needed)} in the environment")
    raise typer.Exit(EXIT_OK)
