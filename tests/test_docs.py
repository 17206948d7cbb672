"""The documentation keeps up with the code: every catalog key is described in docs/catalog.md, every
command and option of the CLI is described somewhere, and every `gatewayctl` command line the docs show
uses options that command has."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.core
import typer.main
from pydantic import BaseModel

from gatewayctl.catalog.model import Catalog
from gatewayctl.cli import app

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md"]
CLI = typing.cast(typer.core.TyperGroup, typer.main.get_command(app))


def catalog_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key path of the catalog model, e.g. `services.upstream.health_check.interval`."""
    for name, field in model.model_fields.items():
        yield prefix + name
        for sub in nested_models(field.annotation):
            yield from catalog_keys(sub, f"{prefix}{name}.")


def nested_models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in nested_models(arg)]


def backticked_words(text: str) -> set[str]:
    """The words inside `code spans` (`timeouts.connect/read/write` gives timeouts, connect, read, write)."""
    return {word for span in re.findall(r"`([^`\n]+)`", text) for word in re.findall(r"[A-Za-z0-9_]+", span)}


def test_every_catalog_key_is_described_in_the_catalog_page() -> None:
    documented = backticked_words((ROOT / "docs" / "catalog.md").read_text())
    missing = [path for path in catalog_keys(Catalog) if path.rsplit(".", 1)[-1] not in documented]
    assert not missing, f"catalog keys not described in docs/catalog.md: {missing}"


def test_every_command_and_option_is_described() -> None:
    text = "\n".join(p.read_text() for p in DOCS)
    missing = [f"gatewayctl {name}" for name in CLI.commands if f"gatewayctl {name}" not in text]
    for name, command in CLI.commands.items():
        options = [o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]
        missing += [f"gatewayctl {name} {o}" for o in options if o != "--help" and o not in text]
    assert not missing, f"not in README.md or docs/: {missing}"


def documented_command_lines() -> Iterator[tuple[str, int, str, str]]:
    """(file, line number, command, the rest of the line) for each `gatewayctl COMMAND ...` the docs show in
    a code block or a code span, without comments and what a pipe or && feeds it into."""
    for path in DOCS:
        in_block = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                in_block = not in_block
                continue
            line = line.replace("\\|", "/")  # a table cell's escaped | (--only kong\|kuma)
            pieces = [line.split(" #", 1)[0]] if in_block else re.findall(r"`([^`]+)`", line)
            for piece in pieces:
                for match in re.finditer(r"\bgatewayctl ([a-z][a-z-]*)((?: [^|&;]*)?)", piece):
                    if match.group(1) in CLI.commands:
                        yield path.name, number, match.group(1), match.group(2)


def test_documented_command_lines_use_options_the_command_has() -> None:
    wrong = []
    for file, number, name, rest in documented_command_lines():
        command = CLI.commands[name]
        options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        for option in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", rest):
            if option not in options:
                wrong.append(f"{file}:{number}: gatewayctl {name} has no {option}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(CLI.commands))
def test_the_readme_table_names_each_commands_arguments_as_help_does(name: str) -> None:
    """The README's command table and `--help` call an argument the same (CATALOG, DIR, SNAPSHOT)."""
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `gatewayctl ")]
    row = next(r for r in rows if re.search(rf"`gatewayctl {re.escape(name)}\b", r))
    for param in CLI.commands[name].params:
        if isinstance(param, typer.core.TyperArgument):
            assert param.metavar and param.metavar in row, (name, param.name, param.metavar)
