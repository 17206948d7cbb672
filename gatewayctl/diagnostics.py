"""Located diagnostics: the one error type every stage reports user mistakes with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
PathPart = str | int
KeyPath = tuple[PathPart, ...]


def plural(n: int, word: str) -> str:
    """`1 error`, `2 errors`: message wording shared by the CLI and the watch's log."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def format_path(path: Sequence[PathPart]) -> str:
    """`("services", 0, "routes", 1, "paths", 0)` -> `services[0].routes[1].paths[0]`; a key holding a line
    break or another character that is not printable as `headers['X-A\\n']`, so a diagnostic stays one line."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.isprintable():
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else part
    return out


def quoted_key(key: object) -> str:
    """A key as a message names it: in quotes, escaped as Python writes it when it is not all printable."""
    text = str(key)
    return f"'{text}'" if text.isprintable() else repr(text)


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str
    line: int
    col: int
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        prefix = "warning: " if self.severity == "warning" else ""
        if self.path:
            return f"{where}: {self.path}: {prefix}{self.message}"
        return f"{where}: {prefix}{self.message}"


class CatalogInvalid(Exception):
    """The catalog (or an overlay of it) cannot be used; carries every located error found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted_unique(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def sorted_unique(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Order by position; one report per (place, message) even when several paths lead there."""
    seen: set[tuple[str, int, int, str, str]] = set()
    out: list[Diagnostic] = []
    for d in sorted(diagnostics, key=lambda d: (d.file, d.line, d.col)):
        key = (d.file, d.line, d.col, d.message, d.severity)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
