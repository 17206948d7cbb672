"""The `gatewayctl` command line. Exit codes (every command): 0 success / no changes, 1 invalid
input or usage, 2 changes present (`diff --exit-code`), 3 a remote API failed or was unreachable."""

from __future__ import annotations

import contextlib
import inspect
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import typer

from gatewayctl import __version__
from gatewayctl.apply.batches import Interrupted
from gatewayctl.cli import catalog_commands, deploy_commands, dump_command, remote_commands, watch_command
from gatewayctl.cli.console import EXIT_INVALID, err

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

app = typer.Typer(
    name="gatewayctl",
    help="One service catalog for Kong Gateway and the Kuma service mesh: validate, render, plan and apply.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gatewayctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """One service catalog for Kong Gateway and the Kuma service mesh."""


catalog_commands.register(app)
deploy_commands.register(app)
remote_commands.register(app)
dump_command.register(app)
watch_command.register(app)


def _flowing(docstring: str) -> str:
    """A command's docstring as its --help text: paragraphs kept, the line breaks inside one dropped, so that
    the terminal wraps it at its own width (typer keeps them, which breaks lines mid-sentence)."""
    paragraphs = inspect.cleandoc(docstring).split("\n\n")
    return "\n\n".join(" ".join(paragraph.split("\n")) for paragraph in paragraphs)


for _registered in app.registered_commands:
    if _registered.help is None and _registered.callback is not None and _registered.callback.__doc__:
        _registered.help = _flowing(_registered.callback.__doc__)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a cancelled CI job, a stopped pod) ends a command the way Ctrl-C does, so that an apply
    releases its locks in Kong and Kuma on the way out; killed outright, it would leave them to block the
    next run from another machine for 15 minutes. `watch` installs its own handler while it runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, mapping usage errors (click's exit 2) to the contract's exit 1."""
    Interrupted.latest = None
    try:
        with _sigterm_as_interrupt():
            code = app(args=argv, prog_name="gatewayctl", standalone_mode=False)
    except typer.Abort:
        err.print("aborted")
        return EXIT_INVALID
    except typer.TyperException as exc:  # usage errors: bad options, missing arguments
        show = getattr(exc, "show", None)
        if show is not None:
            show(file=sys.stderr)
        else:
            err.print(str(exc))
        return EXIT_INVALID
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    during_writes = Interrupted.latest
    if code == EXIT_INTERRUPTED and during_writes is not None and during_writes.done >= during_writes.total:
        # the signal came while the last writes were finishing: there is no rest to make
        err.print(
            f"interrupted: all {during_writes.total} changes were made (the interrupt came as the last writes "
            "finished); a diff shows whether anything changed since"
        )
    elif code == EXIT_INTERRUPTED and during_writes is not None:  # say how far the writes got
        err.print(
            f"interrupted: {during_writes.done} of {during_writes.total} changes were made (writes in flight "
            "were finished, nothing new was started); run the same apply or rollback again to make the rest"
        )
    elif code == EXIT_INTERRUPTED and _command(sys.argv[1:] if argv is None else argv) not in ("apply", "rollback"):
        err.print("interrupted")  # diff, render, ...: no writes to Kong or Kuma to speak of
    elif code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into this exit code without a word
        err.print(
            "interrupted: writes already in flight were finished and nothing new was started; "
            "an interrupted apply or rollback picks up where it stopped when run again"
        )
    return code if isinstance(code, int) else 0


def _command(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (the first word that is no option), None without one."""
    return next((word for word in argv if not word.startswith("-")), None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
