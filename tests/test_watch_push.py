"""`gatewayctl/watch/push.py` (for `apply --pushgateway`) against a fake Pushgateway over HTTP: the request
(POST to /metrics/job/<job>/catalog/<c>/env/<e>, text exposition) and its metrics, a failed run, a push
that fails without failing anything, and the exit code taken from how the apply ended."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import typer
from prometheus_client.parser import text_string_to_metric_families

from gatewayctl.watch.push import ApplyRun, push_apply_run, pushed_run


@dataclass
class Pushgateway:
    status: int = 200
    received: list[tuple[str, str, str, str]] = field(default_factory=list)  # method, path, content type, body
    server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def gateway() -> Iterator[Pushgateway]:
    fake = Pushgateway()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            fake.received.append((self.command, self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(fake.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = _record

    fake.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def pushed_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_a_successful_run_is_pushed_under_its_grouping_key(gateway: Pushgateway) -> None:
    run = ApplyRun("shop", "prod", duration=2.5)
    run.record("kong", (3, 1, 0))
    assert push_apply_run(gateway.url, run, now=lambda: 1_800_000_000.0) is None
    [(method, path, content_type, body)] = gateway.received
    assert method == "POST"  # pushadd: other metrics of the group (the last success) stay
    assert path == "/metrics/job/gatewayctl-apply/catalog/shop/env/prod"
    assert content_type.startswith("text/plain; version=0.0.4")
    metrics = pushed_metrics(body)
    assert metrics["gatewayctl_apply_run_duration_seconds"] == {(): 2.5}
    assert metrics["gatewayctl_apply_run_changes"] == {
        (("action", "create"), ("system", "kong")): 3,
        (("action", "update"), ("system", "kong")): 1,
        (("action", "delete"), ("system", "kong")): 0,
    }
    assert metrics["gatewayctl_apply_run_success"] == {(): 1}
    assert metrics["gatewayctl_apply_run_exit_code"] == {(): 0}
    assert metrics["gatewayctl_apply_run_last_success_timestamp_seconds"] == {(): 1_800_000_000.0}


def test_a_failed_run_keeps_the_last_success_and_odd_names_are_encoded(gateway: Pushgateway) -> None:
    run = ApplyRun("team/shop", None, exit_code=3)
    assert push_apply_run(gateway.url, run) is None
    [(_, path, _, body)] = gateway.received
    assert path == "/metrics/job/gatewayctl-apply/catalog@base64/dGVhbS9zaG9w"  # no env: not in the key
    metrics = pushed_metrics(body)
    assert metrics["gatewayctl_apply_run_success"] == {(): 0} and metrics["gatewayctl_apply_run_exit_code"] == {(): 3}
    assert "gatewayctl_apply_run_last_success_timestamp_seconds" not in metrics


def test_a_push_that_fails_is_a_warning_not_an_error(gateway: Pushgateway) -> None:
    gateway.status = 500
    problem = push_apply_run(gateway.url, ApplyRun("shop"))
    assert problem is not None and problem.startswith(f"could not push metrics to {gateway.url}")
    assert push_apply_run("http://127.0.0.1:1", ApplyRun("shop"), timeout=2) is not None  # nothing listening


@pytest.mark.parametrize(
    "url", ["http://[::1:9091/", "http://ci:pu5h-pw-0020@[::1/", "http://[::1/?token=pu5h-pw-0020"]
)
def test_a_pushgateway_url_urllib_cannot_read_is_a_warning_too(url: str) -> None:
    """A URL urlsplit refuses (`Invalid IPv6 URL`) made the masking of its credentials raise inside the
    warning's own handler: the apply ended in a traceback after its work was done."""
    problem = push_apply_run(url, ApplyRun("shop"), timeout=2)
    assert problem is not None and problem.startswith("could not push metrics to http://[::1"), problem
    assert "pu5h-pw" not in problem and "ci:" not in problem, problem


@pytest.mark.parametrize(("ending", "code"), [(None, 0), (typer.Exit(3), 3), (typer.Exit(0), 0), (RuntimeError(), 1)])
def test_pushed_run_takes_the_exit_code_from_how_apply_ended(
    gateway: Pushgateway, ending: BaseException | None, code: int
) -> None:
    warnings: list[str] = []
    ticks = iter([10.0, 12.0])
    with (
        pytest.raises(type(ending)) if ending else contextlib.nullcontext(),
        pushed_run(gateway.url, "shop", "prod", warnings.append, clock=lambda: next(ticks)) as run,
    ):
        run.record("kong", (1, 0, 0))
        if ending:
            raise ending
    metrics = pushed_metrics(gateway.received[0][3])
    assert metrics["gatewayctl_apply_run_exit_code"] == {(): code}
    assert metrics["gatewayctl_apply_run_duration_seconds"] == {(): 2.0}
    assert warnings == []


def test_no_gateway_no_push(gateway: Pushgateway) -> None:
    with pushed_run(None, "shop", None, lambda _: None):
        pass
    assert gateway.received == []
