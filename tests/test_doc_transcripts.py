"""The command output the docs show is what gatewayctl prints.

A transcript is a fenced block of README.md, docs/*.md or examples/README.md whose first line is a
`$ gatewayctl ...` command; each `$` line is followed by the output it gives (stdout and stderr as a
terminal shows them, one after the other). Right above the block, an HTML comment says what it runs
against, as YAML after the word `transcript`:

    <!-- transcript
    files:                            # written into the folder the commands run in
      catalog.yaml: above             # the ```yaml block nearest above the transcript
      first.yaml: "#a-first-run"      # the first ```yaml block of an earlier section of the same page
      before.yaml: "format: 1 ..."    # or the file's text
    env: {MOBILE_APP_KEY: null}       # variables set (a string) or unset (null) for the run
    kong:                             # a Kong emulator in DB mode, GATEWAYCTL_KONG_ADMIN_URL pointing at it
      seed: {services: [{name: orders, host: legacy.internal}]}   # entities someone else made
    kuma: {}                          # a Kuma emulator (Universal), GATEWAYCTL_KUMA_URL pointing at it
    kubernetes:                       # a kube-apiserver emulator with Kuma's CRDs and webhook, KUBECONFIG
      edits:                          # others' changes after `applied`: a JSON merge patch by another manager
        - {kind: MeshRetry, name: shop-orders, namespace: kuma-system, manager: kubectl-edit, patch: {...}}
    applied: [before.yaml]            # catalogs applied first (`gatewayctl apply --yes`, `--only` the
                                      # systems set up), their output unseen
    -->

Each test runs one transcript's commands in a fresh folder, in-process, and compares what they print
with the block, line for line. A `$` line may end in `; echo "exit $?"`, and then the exit code is
compared too. Run-dependent parts of the output are replaced before the comparison by the placeholders
of PLACEHOLDERS, which the docs show as they are, and an emulator's URL by the default URL of what it
stands in for (http://localhost:8001 for Kong, http://localhost:5681 for Kuma).
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatewayctl.cli import main

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md"]
ECHO_EXIT = '; echo "exit $?"'
# Output that differs from run to run, and what the docs show instead (explicit, so a reader knows).
PLACEHOLDERS = [
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\b"), "<timestamp>"),  # 2026-12-01T02:40:00Z
    (re.compile(r"\b\d{8}T\d{6}(?:\.\d+)?Z\b"), "<timestamp>"),  # a snapshot's name, 20261201T203525.426351Z
]
# A line of gatewayctl's output in a fenced block: a located message, a plan's change or summary line, a
# failed remote call.
OUTPUT_LINE = re.compile(
    r"^(\S+\.yaml:\d+:\d+: "
    r"|[+~-] [a-z-]+ \S+  \(|(kong|kuma): [+]\d+ ~\d+ -\d+"
    r"|(GET|PUT|POST|PATCH|DELETE) /\S*: HTTP \d{3} )"
)


@dataclass
class Transcript:
    file: str
    line: int
    setup: dict[str, Any]
    steps: list[tuple[str, list[str]]] = field(default_factory=list)  # ($ line, its output lines)
    problem: str = ""  # what keeps the transcript from being run

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def fenced_blocks(text: str) -> Iterator[tuple[int, str, list[str], str]]:
    """(line of the opening fence, info string, the block's lines, the text between the previous block and
    this one) for each fenced block."""
    lines = text.splitlines()
    opened: tuple[int, str] | None = None
    between_start = 0
    for index, line in enumerate(lines):
        if not line.lstrip().startswith("```"):
            continue
        if opened is None:
            opened = (index, line.strip()[3:])
        else:
            start, info = opened
            yield start + 1, info, lines[start + 1 : index], "\n".join(lines[between_start:start])
            between_start, opened = index + 1, None


def marker(between: str) -> dict[str, Any] | None:
    """The `<!-- transcript ... -->` comment ending the text right above a block, as data."""
    found = re.search(r"<!-- transcript\b(.*?)-->\s*\Z", between, re.S)
    if found is None:
        return None
    return yaml.safe_load(found.group(1)) or {}


def anchor(heading: str) -> str:
    """The `#fragment` GitHub gives a Markdown heading (`## A first run` is `#a-first-run`)."""
    return "#" + re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


def transcripts(path: Path) -> Iterator[Transcript]:
    yaml_blocks: dict[str, str] = {}  # "above": the nearest ```yaml block so far; "#anchor": a section's first
    section = ""
    for line, info, block, between in fenced_blocks(path.read_text()):
        for heading in re.findall(r"^#+ .*$", between, re.M):
            section = anchor(heading)
        if info == "yaml":
            yaml_blocks["above"] = "\n".join(block) + "\n"
            yaml_blocks.setdefault(section, yaml_blocks["above"])
        if not (block and block[0].startswith("$ gatewayctl ")):
            continue
        setup = marker(between)
        transcript = Transcript(path.relative_to(ROOT).as_posix(), line, setup or {"files": {}})
        if setup is None:
            transcript.problem = "no <!-- transcript --> comment right above it says what it runs against"
        files = transcript.setup.setdefault("files", {})
        for name, text in files.items():
            if text == "above" or re.fullmatch(r"#[\w-]+", text):  # a ```yaml block: the nearest, a section's first
                files[name] = yaml_blocks.get(text, "")
                if not files[name]:
                    transcript.problem = f"no ```yaml block {text} for {name}"
        for text in block:
            if text.startswith("$ "):
                transcript.steps.append((text[2:], []))
            else:
                transcript.steps[-1][1].append(text)
        yield transcript


ALL = [t for path in DOCS for t in transcripts(path)]


def run(command: str, urls: dict[str, str]) -> list[str]:
    """What `command` (`gatewayctl ARGS`, optionally echoing its exit code) prints, as a terminal shows it,
    with each emulator's URL as the URL it stands in for."""
    echo = command.endswith(ECHO_EXIT)
    argv = shlex.split(command.removesuffix(ECHO_EXIT))
    assert argv[0] == "gatewayctl" and not {";", "|", "&&", ">"} & set(argv), f"not a plain command: {command}"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = main(argv[1:])
    text = printed.getvalue()
    for pattern, placeholder in PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    for url, shown in urls.items():
        text = text.replace(url, shown)
    return text.splitlines() + ([f"exit {code}"] if echo else [])


def quietly(*argv: str) -> None:
    """Run a setup command, which must succeed; its output is not the transcript's."""
    with contextlib.redirect_stdout(io.StringIO()) as printed, contextlib.redirect_stderr(printed):
        assert main(list(argv)) == 0, f"{argv}: {printed.getvalue()}"


def prepare(
    setup: dict[str, Any], folder: Path, monkeypatch: pytest.MonkeyPatch, stack: contextlib.ExitStack
) -> dict[str, str]:
    """The folder, environment and emulators a transcript's marker asks for; returns each emulator's URL with
    the default URL it stands in for (what the docs show)."""
    urls: dict[str, str] = {}
    for name, value in setup.get("env", {}).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    for name, text in setup["files"].items():
        (folder / name).write_text(text)
    if "kong" in setup:
        from emulators.kong import KongState
        from emulators.kong import running as running_kong

        kong = stack.enter_context(running_kong(KongState()))
        monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_URL", kong.url)
        urls[kong.url] = "http://localhost:8001"
        for collection, bodies in setup["kong"].get("seed", {}).items():
            for body in bodies:
                kong.state.seed(collection, body)
    if "kuma" in setup:
        from emulators.kuma import KumaState
        from emulators.kuma import running as running_kuma

        kuma = stack.enter_context(running_kuma(KumaState()))
        monkeypatch.setenv("GATEWAYCTL_KUMA_URL", kuma.url)
        monkeypatch.delenv("GATEWAYCTL_KUMA_TOKEN", raising=False)
        urls[kuma.url] = "http://localhost:5681"
    if "kubernetes" in setup:
        from emulators.kubernetes import KubeState
        from emulators.kubernetes import running as running_kubernetes

        cluster = stack.enter_context(running_kubernetes(KubeState(kuma_webhook=True)))
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig(folder / "kubeconfig")))
    kuma_too = "kuma" in setup or "kubernetes" in setup
    only = [] if "kong" in setup and kuma_too else ["--only", "kuma" if kuma_too else "kong"]
    for name in setup.get("applied", []):
        quietly("apply", name, "--yes", *only)
    for edit in setup.get("kubernetes", {}).get("edits", []):
        cluster.state.merge_patch(edit["kind"], edit["name"], edit["namespace"], edit["patch"], edit["manager"])
    return urls


@pytest.mark.parametrize("transcript", ALL, ids=str)
def test_a_transcript_shows_what_gatewayctl_prints(
    transcript: Transcript, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not transcript.problem, f"{transcript}: {transcript.problem}"
    monkeypatch.setenv("NO_COLOR", "1")
    with contextlib.ExitStack() as stack:
        urls = prepare(transcript.setup, workdir, monkeypatch, stack)
        for command, shown in transcript.steps:
            printed = run(command, urls)
            assert printed == shown, f"{transcript}: $ {command} printed:\n" + "\n".join(printed)


def test_the_walkthrough_and_every_page_with_gatewayctl_output_are_found() -> None:
    """The finder sees the README's walkthrough and a transcript on each page that has one (a finder that
    saw nothing would leave the test above with nothing to run)."""
    found = {t.file for t in ALL}
    assert {"README.md", "docs/apply.md", "docs/catalog.md", "docs/mesh.md"} <= found, found
    walkthrough = next(t for t in ALL if t.file == "README.md")
    assert walkthrough.steps[0][0] == 'gatewayctl validate catalog.yaml; echo "exit $?"'
    assert "retires: 3" in walkthrough.setup["files"]["catalog.yaml"]


def test_every_output_the_docs_show_is_a_transcript() -> None:
    """A fenced block holding gatewayctl's output (a located message, a plan summary) starts with the command
    that prints it, so that the test above runs it."""
    untested = [
        f"{path.name}:{line}"
        for path in DOCS
        for line, info, block, _ in fenced_blocks(path.read_text())
        if info != "yaml"
        and any(OUTPUT_LINE.match(text) for text in block)
        and not block[0].startswith("$ gatewayctl ")
    ]
    assert not untested, f"output shown without the command that prints it: {untested}"


def test_the_walkthroughs_first_commands_work_as_written(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README walkthrough's first block (init, validate, a secret from the environment, render) runs as
    written: each command succeeds and the render writes Kong's configuration with the secret in it."""
    text = (ROOT / "README.md").read_text()
    start = text.index("## A five-minute walkthrough")
    block = next(b for _, info, b, _ in fenced_blocks(text[start:]) if info == "sh")
    commands = [line.split("#")[0].strip() for line in block]
    secret = "0f3c9a7e5b214d8c0f3c9a7e5b214d8c"  # what `openssl rand -hex 16` would give
    ran = []
    for command in filter(None, commands):
        if command.startswith("export "):
            name, _ = command.removeprefix("export ").split("=", 1)
            monkeypatch.setenv(name, secret)
            continue
        argv = shlex.split(command)
        assert argv[0] == ".venv/bin/gatewayctl", command
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            assert main(argv[1:]) == 0, f"$ {command}\n{printed.getvalue()}"
        ran.append(argv[1])
    assert ran == ["init", "validate", "render"]
    assert secret in (workdir / "build" / "kong" / "kong.yaml").read_text()
