"""How the remote commands cope with answers that are odd, malformed or hostile: a proxy's HTML error page,
an empty or truncated body, JSON of the wrong shape, paging that never ends, redirects, refusals with and
without the server's own body, an answer past the timeout, a connection reset mid-body, an error echoing a
secret. Each case makes the emulator answer one chosen call oddly (fixed cases, no randomness) and checks the
promise: exit 3 (1 where the fault is the user's input), no traceback, a message naming the call, no secret
value anywhere in the output (text or --json), and a later normal run that converges."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from emulators.harness import KUMA_CATALOG, SECRETS, ZIPKIN_SECRET, write_catalog
from emulators.kong import KongEmulator, KongState
from emulators.kong import running as kong_running
from emulators.kuma import KumaEmulator, KumaState, std_error
from emulators.kuma import running as kuma_running

from gatewayctl.cli import main
from gatewayctl.clients.kong_admin import Endpoint, KongAdmin
from gatewayctl.clients.retry import RetryPolicy
from gatewayctl.watch.health import Health
from gatewayctl.watch.kong import KongSystem
from gatewayctl.watch.loop import WatchConfig, Watcher
from gatewayctl.watch.metrics import WatchMetrics
from gatewayctl.watch.source import CatalogSource

HTML_502 = (  # nginx's own error page
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>"
    b"\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
HTML_503 = b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1><p>No server is available.</p></body></html>"
HTML_404 = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
ALL_SECRETS = [*SECRETS.values(), ZIPKIN_SECRET, "s3cr3t-zipkin-token-0003"]
PAGES_BEFORE_GIVING_UP = 200
ALWAYS = 10_000  # `times` for a fault that every try of every matching call meets


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """`gatewayctl <argv>` in this process; an exception escaping `main` is the traceback a user would see."""
    try:
        code = main(list(argv))
    except BaseException:
        captured = capsys.readouterr()
        pytest.fail(f"gatewayctl {' '.join(argv)} raised:\n{traceback.format_exc()}\n{captured.out}{captured.err}")
    captured = capsys.readouterr()
    return Run(code, captured.out, SERVER_SIDE.sub("", captured.err))


# What the emulator's own threads print when a client hangs up on them (socketserver's handle_error): the
# server's log, not the command's output.
SERVER_SIDE = re.compile(r"-{40}\nException occurred during processing of request.*?\n-{40}\n", re.S)


def assert_failed_well(result: Run, call: str, code: int = 3) -> None:
    """The promise for a remote failure: its exit code, no traceback, the call named, no secret shown."""
    assert result.code == code, result.text
    assert "Traceback" not in result.text
    assert call in result.text, result.text
    assert_no_secrets(result.text)


def assert_no_secrets(text: str) -> None:
    for value in ALL_SECRETS:
        assert value not in text, text


# --------------------------------------------------------------------------- odd answers


def _each_item(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Any], Any]:
    return lambda page: {**page, "data": [change(dict(item)) for item in page["data"]]}


def _without_id(item: dict[str, Any]) -> dict[str, Any]:
    item.pop("id", None)
    return item


def _tags_as_text(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "tags": ",".join(item.get("tags") or [])}


def _kong_offset(last_id: str) -> str:
    """An offset Kong (Postgres) takes: the base64 of the JSON array of the last key seen."""
    return base64.b64encode(json.dumps([last_id]).encode()).decode().rstrip("=")


def _paging(data: Callable[[list[Any]], list[Any]], offsets: Iterator[str]) -> Callable[[Any], Any]:
    """Pages of `data(items)` that have a next one, at the next of `offsets` (each one Kong takes); after
    PAGES_BEFORE_GIVING_UP pages the real answer, so that a client that would loop forever ends instead."""
    served = itertools.count()

    def reshape(page: Any) -> Any:
        if next(served) >= PAGES_BEFORE_GIVING_UP:
            return page
        offset = next(offsets)
        return {"data": data(page["data"]), "next": f"/services?offset={offset}", "offset": offset}

    return reshape


def _same_page_again() -> Callable[[Any], Any]:
    """Every page points at the same offset, before the first key: the same first page comes again."""
    return _paging(lambda items: items, itertools.repeat(_kong_offset("")))


def _endless_new_offsets() -> Callable[[Any], Any]:
    """A new offset every time, each before the first key (a server paging in a circle)."""
    return _paging(lambda items: items, (_kong_offset(" " * n) for n in itertools.count()))


def _endless_empty_pages() -> Callable[[Any], Any]:
    """Empty pages, each with a next one at a new offset."""
    return _paging(lambda items: [], (_kong_offset(" " * n) for n in itertools.count()))


@dataclass(frozen=True)
class Odd:
    """One odd answer: `fault` (Fault fields) for the `nth` request matching method and path prefix."""

    name: str
    method: str
    path: str
    fault: dict[str, Any] = field(default_factory=dict)
    nth: int = 1
    times: int = ALWAYS
    says: str = ""  # besides the call, the message says this
    more: tuple[Odd, ...] = ()  # odd answers to other calls of the same run
    recovers: bool = False  # the run gets over it (a retry, or a read that shows what the odd answer hid)
    call: str = ""  # the call the message names, when not `method path`


KONG_READS = [
    Odd(
        "root-html-502",
        "GET",
        "/",
        {"status": 502, "raw": HTML_502, "content_type": "text/html"},
        says="502 Bad Gateway",
    ),
    Odd("root-404", "GET", "/", {"status": 404, "body": {"message": "Not found"}}),
    Odd(
        "root-401-kong-body",
        "GET",
        "/",
        {"status": 401, "body": {"message": "Invalid credentials. Token or User credentials required"}},
    ),
    Odd("root-401-no-body", "GET", "/", {"status": 401, "raw": b""}),
    Odd(
        "root-403-html",
        "GET",
        "/",
        {"status": 403, "raw": b"<html><body>Forbidden</body></html>", "content_type": "text/html"},
        says=": Forbidden;",
    ),
    Odd(
        "root-301-other-host",
        "GET",
        "/",
        {"status": 301, "raw": b"", "headers": {"Location": "http://elsewhere.example:8001/?token=x"}},
        says="to http://elsewhere.example:8001/ ",
    ),
    Odd(
        "root-302-https",
        "GET",
        "/",
        {"status": 302, "raw": b"", "headers": {"Location": "https://127.0.0.1:8444/"}},
        says="to https://127.0.0.1:8444/",
    ),
    Odd("root-200-not-json", "GET", "/", {"raw": b"Welcome to nginx!", "content_type": "text/html"}),
    Odd("root-200-empty", "GET", "/", {"raw": b"", "content_type": "application/json"}),
    Odd("root-reset-mid-body", "GET", "/", {"cut_after": 20}),
    Odd("root-slow", "GET", "/", {"delay": 0.3}),
    # A proxy that marks a body gzip and sends it plain: httpx cannot decode it (DecodingError, no TransportError)
    Odd("root-gzip-not-gzip", "GET", "/", {"raw": b'{"version": "3.9.1"}', "headers": GZIP}, says="cannot be decoded"),
    Odd("list-502-gzip-not-gzip", "GET", "/routes", {"status": 502, "raw": HTML_502, "headers": GZIP}, says="HTTP 502"),
    Odd("list-html-503", "GET", "/services", {"status": 503, "raw": HTML_503, "content_type": "text/html"}),
    Odd("list-empty-200", "GET", "/services", {"raw": b"", "content_type": "application/json; charset=utf-8"}),
    Odd("list-truncated-json", "GET", "/routes", {"raw": b'{"data": [{"id": "6a', "content_type": "application/json"}),
    Odd(
        "list-json-content-type-lie",
        "GET",
        "/routes",
        {"raw": b"<html>oops</html>", "content_type": "application/json"},
    ),
    Odd("list-data-null", "GET", "/services", {"reshape": lambda page: {**page, "data": None}}),
    Odd("list-data-object", "GET", "/services", {"reshape": lambda page: {**page, "data": {"id": "x"}}}),
    Odd("list-not-an-object", "GET", "/plugins", {"reshape": lambda page: [page]}),
    Odd(
        "list-next-without-offset",
        "GET",
        "/services",
        {"reshape": lambda page: {**page, "next": "/services?size=1000"}},
    ),
    Odd("list-offset-repeats", "GET", "/services", {"reshape": _same_page_again()}),
    Odd("list-empty-pages-never-end", "GET", "/services", {"reshape": _endless_empty_pages()}),
    Odd(
        "list-307",
        "GET",
        "/consumers",
        {"status": 307, "raw": b"", "headers": {"Location": "http://127.0.0.1:1/consumers"}},
    ),
    Odd("list-reset-mid-body", "GET", "/consumers", {"cut_after": 5}),
    Odd("list-slow", "GET", "/plugins", {"delay": 0.3}),
    Odd(
        "list-500-echoing-a-secret",
        "GET",
        "/key-auths",
        {"status": 500, "body": {"message": f"could not decrypt '{SECRETS['WEB_APP_KEY']}'"}},
    ),
    Odd("list-403-rbac", "GET", "/acls", {"status": 403, "body": {"message": "You cannot consume this service"}}),
    Odd("schemas-404", "GET", "/schemas", {"status": 404, "body": {"message": "Not found"}}),
    Odd("schemas-html-502", "GET", "/schemas", {"status": 502, "raw": HTML_502, "content_type": "text/html"}),
    Odd("schemas-not-json", "GET", "/schemas", {"raw": b"not json", "content_type": "text/plain"}),
    Odd("schemas-wrong-shape", "GET", "/schemas", {"reshape": lambda schema: {"fields": {"a": 1}}}),
]
# Odd shapes of entities, which need some in the store to show.
KONG_ENTITY_READS = [
    Odd("entity-without-id", "GET", "/services", {"reshape": _each_item(_without_id)}),
    Odd("entity-tags-not-a-list", "GET", "/routes", {"reshape": _each_item(_tags_as_text)}),
    Odd("entity-is-not-an-object", "GET", "/plugins", {"reshape": lambda page: {**page, "data": ["x", 1]}}),
    Odd("offsets-never-end", "GET", "/services", {"reshape": _endless_new_offsets()}),
]


@pytest.fixture(scope="module")
def applied_kong(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KongEmulator, Path]]:
    """One Kong emulator for the module's read-only cases, the harness catalog applied to it once."""
    catalog = write_catalog(tmp_path_factory.mktemp("applied"))
    with kong_running(KongState()) as emulator, pytest.MonkeyPatch.context() as patch:
        for key, value in SECRETS.items():
            patch.setenv(key, value)
        patch.chdir(catalog.parent)
        assert main(["apply", str(catalog), "--yes", "--kong-admin-url", emulator.url]) == 0
        yield emulator, catalog


@pytest.fixture
def kong(workdir: Path) -> Iterator[KongEmulator]:
    with kong_running(KongState()) as emulator:
        yield emulator


def kong_args(kong: KongEmulator) -> list[str]:
    return ["--kong-admin-url", kong.url, "--timeout", "0.1"]


def text_and_json(odds: list[Odd], every: int = 3) -> list[Any]:
    """(odd, as_json) cases: every odd in text, and in --json every `every`-th one and each whose answer echoes
    a secret (the JSON report is made apart from the text one, so it is checked too, not for every odd)."""
    cases = []
    for index, odd in enumerate(odds):
        cases.append(pytest.param(odd, False, id=f"text-{odd.name}"))
        if index % every == 0 or "secret" in odd.name or "echoing" in odd.name:
            cases.append(pytest.param(odd, True, id=f"json-{odd.name}"))
    return cases


def inject(state: Any, odd: Odd) -> None:
    state.rules.clear()
    for each in (odd, *odd.more):
        state.fail(each.nth, method=each.method, path=each.path, times=each.times, **each.fault)


@pytest.mark.parametrize(("odd", "as_json"), text_and_json(KONG_READS + KONG_ENTITY_READS))
def test_diff_on_an_odd_kong_answer(
    applied_kong: tuple[KongEmulator, Path], workdir: Path, capsys: pytest.CaptureFixture[str], odd: Odd, as_json: bool
) -> None:
    kong, catalog = applied_kong
    inject(kong.state, odd)
    try:
        result = run(capsys, "diff", str(catalog), *kong_args(kong), *(["--json"] if as_json else []))
    finally:
        kong.state.rules.clear()
    assert_failed_well(result, f"GET {odd.path}")
    assert odd.says in result.err
    if as_json:
        assert "error" in json.dumps(json.loads(result.out))
    assert run(capsys, "diff", str(catalog), "--exit-code", *kong_args(kong)).code == 0


# --------------------------------------------------------------------------- apply


LOCK_TAKEN = {
    "code": 5,
    "name": "unique constraint violation",
    "message": "UNIQUE violation detected on '{username=\"gatewayctl-lock.shop\"}'",
}
KONG_WRITES = [
    Odd("create-html-502", "POST", "/services", {"status": 502, "raw": HTML_502, "content_type": "text/html"}),
    Odd("create-403-rbac", "POST", "/routes", {"status": 403, "body": {"message": "You cannot consume this service"}}),
    Odd("create-401-no-body", "POST", "/plugins", {"status": 401, "raw": b""}),
    Odd(
        "create-redirect",
        "POST",
        "/upstreams",
        {"status": 307, "raw": b"", "headers": {"Location": "https://127.0.0.1:8444/upstreams"}},
    ),
    Odd("create-answer-cut", "POST", "/services", {"cut_after": 7}, times=2, recovers=True),
    Odd("create-answer-slow", "POST", "/routes", {"delay": 0.3}, times=2, recovers=True),
    Odd("create-answer-not-json", "POST", "/services", {"raw": b"<html>ok</html>", "content_type": "text/html"}),
    Odd("nested-create-answer-empty", "POST", "/upstreams/", {"status": 201, "raw": b""}),
    Odd(
        "credential-refused-echoing-it",
        "POST",
        "/key-auths",
        {
            "status": 400,
            "body": {
                "message": f"schema violation (key: '{SECRETS['WEB_APP_KEY']}' is not allowed; "
                f"password: '{SECRETS['OPS_PASSWORD']}')"
            },
        },
    ),
    Odd(
        "credential-conflict-echoing-it",
        "POST",
        "/basic-auths",
        {
            "status": 409,
            "body": {
                "code": 5,
                "name": "unique constraint violation",
                "message": f"UNIQUE violation detected on '{{key=\"{SECRETS['WEB_APP_KEY']}\"}}'",
            },
        },
    ),
    Odd("lock-answer-empty", "POST", "/consumers", {"status": 201, "raw": b""}),
    # The lock was made but its answer does not show it: found ours by reading it back, and held.
    # (the first POST /consumers only: consumers are created by POST /consumers too, after the lock)
    Odd(
        "lock-answer-without-id",
        "POST",
        "/consumers",
        {"reshape": lambda entity: {"username": "x"}},
        times=1,
        recovers=True,
    ),
    Odd("lock-answer-a-list", "POST", "/consumers", {"reshape": lambda entity: [entity]}, times=1, recovers=True),
    Odd(  # the lock looks held, and reading who holds it gets an odd answer
        "lock-read-odd",
        "GET",
        "/consumers/gatewayctl-lock.",
        {"raw": b'["x"]', "content_type": "application/json"},
        more=(Odd("lock-held", "POST", "/consumers", {"status": 409, "body": LOCK_TAKEN}),),
    ),
    Odd(  # the lock's create is refused as taken every time, yet there is none to read: not polled forever
        "lock-taken-yet-absent",
        "POST",
        "/consumers",
        {"status": 409, "body": LOCK_TAKEN},
        says="could not be taken in 1 s",
        call="lock",
    ),
]


@pytest.mark.parametrize(("odd", "as_json"), text_and_json(KONG_WRITES))
def test_apply_on_an_odd_kong_answer_fails_well_and_converges_when_run_again(
    kong: KongEmulator, workdir: Path, capsys: pytest.CaptureFixture[str], odd: Odd, as_json: bool
) -> None:
    catalog = write_catalog(workdir)
    inject(kong.state, odd)
    json_args = ["--json"] if as_json else []
    result = run(capsys, "apply", str(catalog), "--yes", "--lock-wait", "1", *kong_args(kong), *json_args)
    if odd.recovers:
        assert result.code == 0, result.text
        assert_no_secrets(result.text)
    else:
        assert_failed_well(result, odd.call or f"{odd.method} {odd.path}")
        assert odd.says in result.err
    kong.state.rules.clear()
    again = run(capsys, "apply", str(catalog), "--yes", *kong_args(kong))
    assert again.code == 0, again.text
    assert run(capsys, "diff", str(catalog), "--exit-code", *kong_args(kong)).code == 0
    assert not [c for c in kong.state.store.get("consumers", {}).values() if "lock" in str(c.get("username"))]


# --------------------------------------------------------------------------- status, dump, rollback

READ_COMMANDS = {
    "status": lambda catalog: ["status", str(catalog)],
    "dump": lambda catalog: ["dump", "--catalog-name", "shop", "--out", str(catalog.parent / "dumped.yaml")],
}
STATUS_AND_DUMP = [
    Odd("root-html-502", "GET", "/", {"status": 502, "raw": HTML_502, "content_type": "text/html"}),
    Odd("root-302-https", "GET", "/", {"status": 302, "raw": b"", "headers": {"Location": "https://127.0.0.1:8444/"}}),
    Odd("root-not-kong", "GET", "/", {"reshape": lambda root: {"tagline": "Welcome"}}),
    Odd("status-html-503", "GET", "/status", {"status": 503, "raw": HTML_503, "content_type": "text/html"}),
    # Only the database's state is missing from the report: it is shown as unknown.
    Odd("status-a-list", "GET", "/status", {"reshape": lambda status: [status]}, recovers=True),
    Odd("status-database-odd", "GET", "/status", {"reshape": lambda s: {**s, "database": "up"}}, recovers=True),
    Odd("list-data-null", "GET", "/services", {"reshape": lambda page: {**page, "data": None}}),
    Odd("entity-without-id", "GET", "/routes", {"reshape": _each_item(_without_id)}),
    Odd("list-reset-mid-body", "GET", "/plugins", {"cut_after": 30}),
    Odd("targets-not-a-page", "GET", "/upstreams/", {"reshape": lambda page: {"data": "x"}}),
    Odd("schemas-404", "GET", "/schemas/services", {"status": 404, "body": {"message": "Not found"}}),
    Odd("lock-read-odd", "GET", "/consumers/gatewayctl-lock.", {"raw": b"[1]", "content_type": "application/json"}),
]


@pytest.mark.parametrize(("odd", "as_json"), text_and_json(STATUS_AND_DUMP))
@pytest.mark.parametrize("command", sorted(READ_COMMANDS))
def test_status_and_dump_on_an_odd_kong_answer(
    applied_kong: tuple[KongEmulator, Path],
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    odd: Odd,
    command: str,
    as_json: bool,
) -> None:
    kong, catalog = applied_kong
    argv = [*READ_COMMANDS[command](catalog), *kong_args(kong)]
    json_args = ["--json"] if as_json and command == "status" else []
    inject(kong.state, odd)
    before = len(kong.state.requests)
    try:
        result = run(capsys, *argv, *json_args)
    finally:
        kong.state.rules.clear()
    made = [r for r in kong.state.requests[before:] if r.method == odd.method and r.path.startswith(odd.path)]
    if not made or odd.recovers:  # dump reads no /status and no lock
        assert result.code == 0, result.text
        assert_no_secrets(result.text)
    else:
        assert_failed_well(result, f"GET {odd.path}")
    assert run(capsys, *argv).code == 0


ROLLBACK = [
    Odd("list-data-object", "GET", "/routes", {"reshape": lambda page: {**page, "data": {}}}),
    Odd("delete-html-502", "DELETE", "/plugins", {"status": 502, "raw": HTML_502, "content_type": "text/html"}),
    Odd("delete-403-no-body", "DELETE", "/routes", {"status": 403, "raw": b""}),
    Odd("delete-redirect", "DELETE", "/services", {"status": 301, "raw": b"", "headers": {"Location": "/x"}}),
    # a proxy's 404 page says nothing about Kong: the plugin is not counted as already gone
    Odd("delete-404-html", "DELETE", "/plugins", {"status": 404, "raw": HTML_404, "content_type": "text/html"}),
    Odd("delete-answer-cut", "DELETE", "/consumers", {"drop_after": True}, times=1, recovers=True),
    Odd("lock-answer-not-json", "POST", "/consumers", {"status": 201, "raw": b"{", "content_type": "application/json"}),
]


@pytest.mark.parametrize("odd", ROLLBACK, ids=lambda odd: odd.name)
def test_rollback_on_an_odd_kong_answer_fails_well_and_finishes_when_run_again(
    kong: KongEmulator, workdir: Path, capsys: pytest.CaptureFixture[str], odd: Odd
) -> None:
    catalog = write_catalog(workdir)
    assert run(capsys, "apply", str(catalog), "--yes", *kong_args(kong)).code == 0
    inject(kong.state, odd)
    result = run(capsys, "rollback", "--yes", "--lock-wait", "1", *kong_args(kong))
    if odd.recovers:
        assert result.code == 0, result.text
        assert_no_secrets(result.text)
    else:
        assert_failed_well(result, f"{odd.method} {odd.path}")
    kong.state.rules.clear()
    again = run(capsys, "rollback", "--yes", *kong_args(kong))
    assert again.code == 0, again.text
    assert not [e for kind in kong.state.store.values() for e in kind.values()]  # back to the empty Kong


# --------------------------------------------------------------------------- Kuma


def _kuma_error(status: int, title: str, detail: str, reason: str = "") -> dict[str, Any]:
    """Kuma's own error body (pkg/core/rest/errors/error_handler.go), as the emulator answers it."""
    invalid = [("spec.tracing.backends[0].zipkin.url", reason)] if reason else None
    body: dict[str, Any] = std_error(status, title, detail, invalid).body
    return body


def _each_resource(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Any], Any]:
    return lambda page: {**page, "items": [change(dict(item)) for item in page.get("items") or []]}


def _without(item: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != key}


def _kuma_paging_forever(page: Any) -> Any:
    return {**page, "next": "http://127.0.0.1/meshes?offset=0&size=1000"}


def _kuma_empty_pages_forever() -> Callable[[Any], Any]:
    """Empty pages without a total, each with a next one at a new offset."""
    offsets = itertools.count(1)
    return lambda page: {"items": [], "next": f"http://127.0.0.1/meshes?offset={next(offsets)}&size=1000"}


KUMA_READS = [
    Odd("root-html-502", "GET", "/", {"status": 502, "raw": HTML_502, "content_type": "text/html"}),
    Odd(
        "root-401-kuma-body",
        "GET",
        "/",
        {"status": 401, "body": _kuma_error(401, "Unauthenticated", "Invalid authentication data")},
    ),
    Odd("root-not-kuma", "GET", "/", {"reshape": lambda root: {"hostname": "x"}}),
    Odd("resources-a-list", "GET", "/_resources", {"reshape": lambda answer: [answer]}),
    Odd("resources-types-odd", "GET", "/_resources", {"reshape": lambda answer: {"resources": [1, "x", None]}}),
    Odd("config-not-json", "GET", "/config", {"raw": b"<html></html>", "content_type": "text/html"}),
    # Only where the zone is shown from: the rest works.
    Odd("config-zone-odd", "GET", "/config", {"reshape": lambda c: {**c, "multizone": "zone"}}, recovers=True),
    Odd("list-items-object", "GET", "/meshes", {"reshape": lambda page: {**page, "items": {"name": "shop"}}}),
    # Kuma never answers `items: null` (v2.14.3 pkg/core/resources/model/rest/converter.go ResourceList makes
    # the slice with make(): `[]` when empty); read as empty, it would plan to create everything.
    Odd("list-items-null", "GET", "/meshes", {"reshape": lambda page: {**page, "items": None}}),
    Odd("list-items-missing", "GET", "/meshtraces", {"reshape": lambda page: {"total": 0, "next": None}}),
    Odd("list-not-an-object", "GET", "/meshretries", {"reshape": lambda page: [page]}),
    Odd("resource-without-name", "GET", "/meshtimeouts", {"reshape": _each_resource(lambda r: {"type": r["type"]})}),
    Odd("resource-a-string", "GET", "/meshretries", {"reshape": lambda page: {**page, "items": ["x"]}}),
    Odd("resource-labels-odd", "GET", "/meshtraces", {"reshape": _each_resource(lambda r: {**r, "labels": ["a"]})}),
    # Shapes Kuma never prints (v2.14.3 pkg/core/resources/model/rest/v1alpha1/meta.go and resource.go: type and
    # name always strings, labels a map[string]string left out when empty, a policy's spec its Go struct; a
    # Mesh's settings protobuf messages): the answer is not Kuma's, not drift for an apply to "put right".
    Odd("resource-labels-text", "GET", "/meshes", {"reshape": _each_resource(lambda r: {**r, "labels": "a=b"})}),
    Odd("resource-labels-null", "GET", "/meshtraces", {"reshape": _each_resource(lambda r: {**r, "labels": None})}),
    Odd(
        "resource-label-a-number",
        "GET",
        "/meshretries",
        {"reshape": _each_resource(lambda r: {**r, "labels": {**r.get("labels", {}), "n": 1}})},
    ),
    Odd("resource-spec-odd", "GET", "/meshtraces", {"reshape": _each_resource(lambda r: {**r, "spec": "x"})}),
    Odd("resource-spec-null", "GET", "/meshretries", {"reshape": _each_resource(lambda r: {**r, "spec": None})}),
    Odd("resource-without-type", "GET", "/meshtimeouts", {"reshape": _each_resource(lambda r: _without(r, "type"))}),
    Odd("resource-of-another-type", "GET", "/meshtraces", {"reshape": _each_resource(lambda r: {**r, "type": "X"})}),
    Odd("resource-mesh-odd", "GET", "/meshretries", {"reshape": _each_resource(lambda r: {**r, "mesh": ["shop"]})}),
    Odd("mesh-fields-odd", "GET", "/meshes", {"reshape": _each_resource(lambda r: {**r, "mtls": "on"})}),
    Odd("list-next-repeats", "GET", "/meshes", {"reshape": _kuma_paging_forever}),
    Odd("list-empty-pages-never-end", "GET", "/meshes", {"reshape": _kuma_empty_pages_forever()}),
    Odd(
        "list-next-without-offset", "GET", "/meshretries", {"reshape": lambda page: {**page, "next": "http://x/meshes"}}
    ),
    Odd("list-reset-mid-body", "GET", "/meshes", {"cut_after": 9}),
    Odd("list-slow", "GET", "/meshratelimits", {"delay": 0.3}),
    Odd("list-gzip-not-gzip", "GET", "/meshretries", {"raw": b'{"items": []}', "headers": GZIP}, says="be decoded"),
    Odd(
        "list-307",
        "GET",
        "/meshtimeouts",
        {"status": 307, "raw": b"", "headers": {"Location": "https://127.0.0.1:5682/meshtimeouts"}},
    ),
    Odd("list-403-no-body", "GET", "/meshretries", {"status": 403, "raw": b""}),
    Odd(
        "list-echoing-a-secret",
        "GET",
        "/meshes",
        {"status": 500, "body": _kuma_error(500, "Could not list", f"backend {ZIPKIN_SECRET} failed")},
    ),
]


@pytest.fixture(scope="module")
def applied_kuma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KumaEmulator, Path]]:
    """One Kuma emulator for the module's read-only cases, the Kuma catalog applied to it once."""
    catalog = write_catalog(tmp_path_factory.mktemp("kuma"), KUMA_CATALOG)
    with kuma_running(KumaState()) as emulator, pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZIPKIN_URL", ZIPKIN_SECRET)
        patch.chdir(catalog.parent)
        assert main(["apply", str(catalog), "--yes", *kuma_args(emulator)]) == 0
        yield emulator, catalog


def kuma_args(kuma: KumaEmulator) -> list[str]:
    return ["--only", "kuma", "--kuma-platform", "universal", "--kuma-url", kuma.url, "--timeout", "0.1"]


@pytest.mark.parametrize(("odd", "as_json"), text_and_json(KUMA_READS))
@pytest.mark.parametrize("command", ["diff", "status"])
def test_diff_and_status_on_an_odd_kuma_answer(
    applied_kuma: tuple[KumaEmulator, Path],
    shop: Path,
    capsys: pytest.CaptureFixture[str],
    odd: Odd,
    command: str,
    as_json: bool,
) -> None:
    kuma, catalog = applied_kuma
    inject(kuma.state, odd)
    before = len(kuma.state.requests)
    try:
        result = run(capsys, command, str(catalog), *kuma_args(kuma), *(["--json"] if as_json else []))
    finally:
        kuma.state.rules.clear()
    made = [r for r in kuma.state.requests[before:] if r.method == odd.method and r.path.startswith(odd.path)]

    if not made or odd.recovers:
        assert result.code == 0, result.text
        assert_no_secrets(result.text)
    else:
        assert_failed_well(result, odd.call or f"GET {odd.path}")
        assert odd.says in result.err
    assert run(capsys, "diff", str(catalog), "--exit-code", *kuma_args(kuma)).code == 0


KUMA_WRITES = [
    Odd(
        "mesh-put-html-502",
        "PUT",
        "/meshes/shop",
        {"status": 502, "raw": HTML_502, "content_type": "text/html"},
        times=ALWAYS,
    ),
    Odd(
        "trace-refused-echoing-the-secret",
        "PUT",
        "/meshes/shop/meshtraces",
        {
            "status": 400,
            "body": _kuma_error(400, "Resource is not valid", "bad", f"url {ZIPKIN_SECRET} is unreachable"),
        },
    ),
    Odd("policy-put-403-no-body", "PUT", "/meshes/shop/meshretries", {"status": 403, "raw": b""}),
    Odd(
        "policy-put-redirect",
        "PUT",
        "/meshes/shop/meshtimeouts",
        {"status": 308, "raw": b"", "headers": {"Location": "https://x/"}},
    ),
    Odd("policy-put-answer-cut", "PUT", "/meshes/shop/meshratelimits", {"cut_after": 3}, times=1, recovers=True),
    # Kuma answers a PUT 201/200 with `{}` or `{"warnings": [...]}` as application/json (v2.14.3
    # pkg/api-server/resource_endpoints.go): a 200 otherwise is something else's, and the write not known done.
    Odd(
        "mesh-put-200-html",
        "PUT",
        "/meshes/shop",
        {"raw": b"<html><title>Portal</title></html>", "content_type": "text/html"},
    ),
    Odd(
        "policy-put-201-empty",
        "PUT",
        "/meshes/shop/meshretries",
        {"status": 201, "raw": b"", "content_type": "application/json"},
    ),
    Odd("policy-put-200-other-json", "PUT", "/meshes/shop/meshtimeouts", {"reshape": lambda answer: {"ok": True}}),
    Odd("policy-put-200-text", "PUT", "/meshes/shop/meshtraces", {"raw": b"{}", "content_type": "text/plain"}),
    Odd(  # the lock's create answered by a proxy's page: not taken, and given up at --lock-wait
        "lock-put-201-html",
        "PUT",
        "/global-secrets/gatewayctl-lock",
        {"status": 201, "raw": b"<html>Created</html>", "content_type": "text/html"},
    ),
    # ... when the lock was made all the same (the answer reshaped after the work): found ours and held
    Odd(
        "lock-put-made-answered-oddly",
        "PUT",
        "/global-secrets/gatewayctl-lock",
        {"reshape": lambda a: "ok"},
        times=1,
        recovers=True,
    ),
    Odd(
        "lock-read-a-list", "GET", "/global-secrets/gatewayctl-lock", {"raw": b"[]", "content_type": "application/json"}
    ),
    Odd(
        "lock-read-not-json", "GET", "/global-secrets/gatewayctl-lock", {"raw": b"<html/>", "content_type": "text/html"}
    ),
    Odd(
        "lock-put-html-503",
        "PUT",
        "/global-secrets/gatewayctl-lock",
        {"status": 503, "raw": HTML_503, "content_type": "text/html"},
    ),
]


@pytest.mark.parametrize(("odd", "as_json"), text_and_json(KUMA_WRITES))
def test_apply_on_an_odd_kuma_answer_fails_well_and_converges_when_run_again(
    kuma: KumaEmulator, shop: Path, capsys: pytest.CaptureFixture[str], odd: Odd, as_json: bool
) -> None:
    inject(kuma.state, odd)
    json_args = ["--json"] if as_json else []
    result = run(capsys, "apply", str(shop), "--yes", "--lock-wait", "1", *kuma_args(kuma), *json_args)

    if odd.recovers:
        assert result.code == 0, result.text
        assert_no_secrets(result.text)
    else:
        assert_failed_well(result, odd.call or f"{odd.method} {odd.path}")
    kuma.state.rules.clear()
    again = run(capsys, "apply", str(shop), "--yes", "--lock-wait", "1", *kuma_args(kuma))
    assert again.code == 0, again.text
    assert run(capsys, "diff", str(shop), "--exit-code", *kuma_args(kuma)).code == 0


# --------------------------------------------------------------------------- watch


@pytest.mark.parametrize(
    "odd",
    [
        Odd("entity-without-id", "GET", "/services", {"reshape": _each_item(_without_id)}),
        Odd("offsets-never-end", "GET", "/services", {"reshape": _endless_new_offsets()}),
        Odd(
            "list-500-echoing-a-secret",
            "GET",
            "/key-auths",
            {"status": 500, "body": {"message": SECRETS["WEB_APP_KEY"]}},
        ),
    ],
    ids=lambda odd: odd.name,
)
def test_a_watch_check_on_an_odd_kong_answer_is_a_named_remote_failure(
    applied_kong: tuple[KongEmulator, Path], workdir: Path, caplog: pytest.LogCaptureFixture, odd: Odd
) -> None:
    """One check of `gatewayctl watch`, wired as the command wires it: the odd answer is a remote failure
    naming the call in its log line and health, no traceback logged, no secret; the next check is clean."""
    kong, catalog = applied_kong
    client = KongAdmin(Endpoint(kong.url, timeout=1.0), retry=RetryPolicy(attempts=2, base=0.001, cap=0.01))
    health = Health(stuck_after=30.0)
    config = WatchConfig(interval=0.2, heal=False, max_backoff=1.0, poll=0.05)
    system = KongSystem(client, parallelism=4, state_dir=workdir)
    watcher = Watcher(CatalogSource(catalog), [system], WatchMetrics(), health, config, lambda: True)
    assert watcher.load()
    inject(kong.state, odd)
    try:
        with caplog.at_level(logging.INFO):
            result = watcher.check()
    finally:
        kong.state.rules.clear()
    logged = "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}{r.exc_info or ''}" for r in caplog.records)
    assert not result.reached
    assert f"GET {odd.path}" in logged and f"GET {odd.path}" in health.problem
    assert "Traceback" not in logged and not any(r.exc_info for r in caplog.records)
    assert_no_secrets(logged + health.problem)
    assert watcher.check().reached  # answered normally again
    system.close()


@pytest.mark.parametrize("command", ["diff", "status"])
def test_the_kong_and_kuma_urls_swapped_are_named_as_the_wrong_server(
    kong: KongEmulator, kuma: KumaEmulator, shop: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Each URL pointing at the other system (the two variables swapped) is a remote failure that says which
    server answered and which setting to check, not "Kong 2.14.3 is too old" at the catalog's top line (exit 1)
    or a "Kuma 3.9.1" without `/_resources`."""
    as_kong = run(capsys, command, str(shop), "--only", "kong", "--kong-admin-url", kuma.url)
    assert_failed_well(as_kong, "GET /")
    assert f"the answer is Kuma 2.14.3's, not the Kong Admin API's: is {kuma.url} the right URL" in as_kong.err
    assert "--kong-admin-url, GATEWAYCTL_KONG_ADMIN_URL" in as_kong.err
    assert "too old" not in as_kong.err

    as_kuma = run(capsys, command, str(shop), "--only", "kuma", "--kuma-platform", "universal", "--kuma-url", kong.url)
    assert_failed_well(as_kuma, "GET /")
    assert (
        f"the answer is Kong 3.9.1's Admin API, not a Kuma control plane's: is {kong.url} the right URL" in as_kuma.err
    )
    assert "--kuma-url, GATEWAYCTL_KUMA_URL" in as_kuma.err
    assert "_resources" not in as_kuma.err
