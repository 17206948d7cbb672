"""`gatewayctl deploy-plan`: print the ordered steps that bring the stack up for a catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gatewayctl.cli.catalog_commands import CatalogArg, EnvOption, load_or_exit
from gatewayctl.cli.console import EXIT_OK
from gatewayctl.deploy_plan import deploy_plan, format_plan

EXAMPLES = """Examples:

  $ gatewayctl deploy-plan examples/platform.yaml

  $ gatewayctl deploy-plan catalog.yaml --out build/ --env prod > DEPLOY.md
"""


def register(app: typer.Typer) -> None:
    app.command(name="deploy-plan", epilog=EXAMPLES)(deploy_plan_cmd)


def deploy_plan_cmd(
    catalog: CatalogArg,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where `render` writes (or wrote) the files.")] = Path(
        "build"
    ),
    env: EnvOption = None,
) -> int:
    """Print the ordered steps, with exact commands, that bring Kong, Kuma and observability up.

    On the catalog's platform (deployment.platform: kubernetes or vm), from the files `render` writes.
    """
    loaded = load_or_exit(catalog, env)
    typer.echo(format_plan(deploy_plan(loaded.catalog, catalog, out_dir, env)), nl=False)
    raise typer.Exit(EXIT_OK)
