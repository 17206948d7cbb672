"""Every example catalog, in every environment, applies to a fresh Kong emulator (DB-less where the example
says so) and to the Kuma emulator where it has a mesh: exit 0, then `diff --exit-code` finds nothing, a
second apply makes no write, and no dummy secret of examples/example.env shows in any output. The same for
a catalog with every plugin Kong 3.9 bundles, as raw `plugins:` (their defaults, shorthands, secrets)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from emulators.kong import KongEmulator, KongState
from emulators.kong import running as kong_running
from emulators.kong_schemas import PLUGINS
from emulators.kuma import KumaEmulator, KumaState
from emulators.kuma import running as kuma_running

from gatewayctl.catalog.load import load_catalog
from gatewayctl.cli import main
from gatewayctl.kong_plugins import OSS_PLUGINS

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


# The config each plugin needs at least (its required fields, the entity checks Kong runs); {} for the others.
# Some use a shorthand Kong stores under another field (session, opentelemetry), some hold a secret.
LLM = {
    "route_type": "llm/v1/chat",
    "auth": {"header_name": "Authorization", "header_value": "Bearer ${env:PLUGIN_TOKEN}"},
    "model": {"provider": "openai", "name": "gpt-4o", "options": {"temperature": 0.2}},
}
PLUGIN_CONFIGS: dict[str, dict[str, Any]] = {
    "ai-prompt-decorator": {"prompts": {"prepend": [{"role": "system", "content": "Answer briefly."}]}},
    "ai-prompt-guard": {"deny_patterns": [".*password.*"]},
    "ai-prompt-template": {"templates": [{"name": "summary", "template": "Summarise {{text}}"}]},
    "ai-proxy": LLM,
    "ai-request-transformer": {"prompt": "Translate to French", "llm": LLM},
    "ai-response-transformer": {"prompt": "Translate to English", "llm": LLM},
    "acl": {"allow": ["staff"]},
    "acme": {"account_email": "ops@example.com", "tos_accepted": True},
    "azure-functions": {"appname": "shop", "functionname": "resize"},
    "file-log": {"path": "/var/log/kong/access.log"},
    "http-log": {"http_endpoint": "http://audit:8080/kong", "headers": {"Authorization": "Bearer ${env:PLUGIN_TOKEN}"}},
    "ip-restriction": {"allow": ["10.0.0.0/8"]},
    "ldap-auth": {"ldap_host": "ldap.internal", "base_dn": "dc=example,dc=com", "attribute": "uid"},
    "loggly": {"key": "${env:PLUGIN_TOKEN}"},
    "oauth2": {"enable_client_credentials": True},
    "opentelemetry": {"endpoint": "http://otel:4318/v1/traces"},
    "post-function": {"log": ["kong.log.info('done')"]},
    "pre-function": {"access": ["kong.log.info('start')"]},
    "proxy-cache": {"strategy": "memory"},
    "rate-limiting": {"minute": 60, "policy": "redis", "redis": {"host": "redis", "password": "${env:PLUGIN_TOKEN}"}},
    "redirect": {"location": "https://shop.example.com/"},
    "response-ratelimiting": {"limits": {"video": {"minute": 10}}},
    "session": {"secret": "${env:PLUGIN_TOKEN}", "cookie_lifetime": 7200, "cookie_samesite": "off"},
    "standard-webhooks": {"secret_v1": "${env:PLUGIN_TOKEN}"},
    "tcp-log": {"host": "logs.internal", "port": 5000},
    "udp-log": {"host": "logs.internal", "port": 5001},
}
PLUGIN_TOKEN = "s3cr3t-plugin-token-0042"


@pytest.mark.parametrize("dbless", [False, True], ids=["db", "dbless"])
def test_every_plugin_kong_bundles_applies_then_has_no_diff_and_reapplies_without_writes(
    dbless: bool, workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGIN_TOKEN", PLUGIN_TOKEN)
    bundled = sorted(OSS_PLUGINS & PLUGINS.keys())
    catalog = {
        "format": 1,
        "name": "shop",
        "gateway": {"mode": "dbless" if dbless else "db", "plugins": {p: PLUGIN_CONFIGS.get(p, {}) for p in bundled}},
        "services": [{"name": "orders", "url": "http://orders:8080", "routes": [{"name": "api", "paths": ["/o"]}]}],
    }
    path = workdir / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog))
    outputs: list[str] = []
    with kong_running(KongState(dbless=dbless)) as kong:

        def run(*argv: str) -> int:
            code = main([*argv, str(path), "--kong-admin-url", kong.url])
            captured = capsys.readouterr()
            outputs.append(captured.out + captured.err)
            return code

        assert run("apply", "--yes") == 0, outputs[-1]
        assert {p["name"] for p in kong.state.entities("plugins")} == set(bundled)
        assert run("diff", "--exit-code") == 0, outputs[-1]
        writes = len(kong.state.writes())
        assert run("apply", "--yes") == 0, outputs[-1]
        assert kong.state.writes()[writes:] == []
    assert not any(PLUGIN_TOKEN in output for output in outputs)
