"""Terminal output. Results go to stdout, diagnostics to stderr; rich drops colour by itself when
NO_COLOR is set or the stream is not a terminal, so CI logs stay plain."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape

from gatewayctl.diagnostics import Diagnostic

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_CHANGES = 2
EXIT_REMOTE = 3

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> tuple[int, int]:
    """Print one line per diagnostic (editor- and CI-parsable) and return (errors, warnings)."""
    errors = warnings = 0
    for d in diagnostics:
        style = "yellow" if d.severity == "warning" else "red"
        err.print(f"[{style}]{escape(str(d))}[/{style}]")
        if d.severity == "warning":
            warnings += 1
        else:
            errors += 1
    return errors, warnings
