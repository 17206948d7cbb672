"""Every example catalog, in every environment, applies to a fresh Kong emulator (DB-less where the example
says so) and to the Kuma emulator where it has a mesh: exit 0, then `diff --exit-code` finds nothing, a
second apply makes no write, and no dummy secret of examples/example.env shows in any output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from emulators.kong import KongEmulator, KongState
from emulators.kong import running as kong_running
from emulators.kuma import KumaEmulator, KumaState
from emulators.kuma import running as kuma_running

from gatewayctl.catalog.load import load_catalog
from gatewayctl.cli import main

EXAMPLES = Path(__file__).parents[1] / "examples"
CASES = [
    (catalog, environment)
    for catalog in sorted(EXAMPLES.glob("*.yaml"))
    for environment in [None, *load_catalog(catalog).catalog.environments]
]


@pytest.fixture
def emulators(request: pytest.FixtureRequest) -> Iterator[tuple[KongEmulator, KumaEmulator | None]]:
    catalog, environment = request.param
    loaded = load_catalog(catalog, environment).catalog
    with ExitStack() as stack:
        kong = stack.enter_context(kong_running(KongState(dbless=loaded.gateway.mode == "dbless")))
        yield kong, stack.enter_context(kuma_running(KumaState())) if loaded.mesh_enabled else None


@pytest.mark.parametrize(
    ("case", "emulators"),
    [(c, c) for c in CASES],
    ids=[f"{c.stem}-{e or 'base'}" for c, e in CASES],
    indirect=["emulators"],
)
def test_example_applies_then_has_no_diff_and_reapplies_without_writes(
    case: tuple[Path, str | None],
    emulators: tuple[KongEmulator, KumaEmulator | None],
    example_env: dict[str, str],
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog, environment = case
    kong, kuma = emulators
    targets = ["--kong-admin-url", kong.url]
    if kuma is not None:
        # The examples deploy Kuma on Kubernetes; the Kuma emulator is the control plane's HTTP API, which
        # gatewayctl drives on the universal platform with the same policies.
        targets += ["--kuma-url", kuma.url, "--kuma-platform", "universal"]
    env = ["--env", environment] if environment else []
    outputs: list[str] = []

    def run(*argv: str) -> int:
        code = main([*argv, str(catalog), *env, *targets])
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        return code

    assert run("apply", "--yes") == 0, outputs[-1]
    assert kong.state.writes(), "the first apply wrote nothing"
    assert run("diff", "--exit-code") == 0, outputs[-1]
    kong_writes = len(kong.state.writes())
    kuma_writes = len(kuma.state.writes()) if kuma is not None else 0
    assert run("apply", "--yes") == 0, outputs[-1]
    assert kong.state.writes()[kong_writes:] == []
    if kuma is not None:
        assert kuma.state.writes()[kuma_writes:] == []
    shown = [name for name, value in example_env.items() for output in outputs if value in output]
    assert shown == []
