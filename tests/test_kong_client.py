"""The Admin API client: token header, retry decisions, Retry-After, back-off bounds, the rps cap, paging."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gatewayctl.clients.kong_admin import Endpoint, KongAdmin, KongError, TlsOptions
from gatewayctl.clients.retry import RateLimiter, RetryPolicy, retry_after_seconds


def client_for(handler: httpx.MockTransport, token: str | None = None, **kwargs: object) -> KongAdmin:
    return KongAdmin(Endpoint("http://kong.test:8001", token), transport=handler, sleep=lambda _: None, **kwargs)  # type: ignore[arg-type]


def test_token_comes_from_the_environment_and_goes_in_kong_admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_TOKEN", "tok-123")
    monkeypatch.setenv("GATEWAYCTL_KONG_ADMIN_URL", "https://admin:pw@kong.test:8444/")
    endpoint = Endpoint.from_environment(None, TlsOptions())
    assert endpoint.token == "tok-123" and endpoint.url == "https://admin:pw@kong.test:8444"
    assert endpoint.display() == "https://kong.test:8444"  # no credentials in anything printed
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Kong-Admin-Token"))
        return httpx.Response(200, json={"version": "3.9.1"})

    with client_for(httpx.MockTransport(handler), token="tok-123") as client:
        client.get("/")
    assert seen == ["tok-123"]


def test_an_ipv6_address_is_shown_in_brackets() -> None:
    """`http://::1:8001`, as messages named an IPv6 Admin API, is no URL: which colon starts the port?"""
    assert Endpoint("http://admin:pw@[::1]:8001/kong").display() == "http://[::1]:8001/kong"
    assert Endpoint("https://[fd00::a:1]").display() == "https://[fd00::a:1]"


def test_tls_options() -> None:
    assert TlsOptions().verify() is True
    assert TlsOptions(insecure=True).verify() is False
    # a CA or a client certificate is loaded into an SSL context here (tests/test_tls.py uses them for real)


def test_retries_5xx_and_429_but_never_4xx() -> None:
    answers = iter([503, 500, 429, 200])
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        status = next(answers)
        return httpx.Response(status, json={"message": "x"} if status != 200 else {"ok": True})

    with client_for(httpx.MockTransport(handler)) as client:
        assert client.get("/x") == {"ok": True}
        assert client.log.retries == 3

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append("refused")
        return httpx.Response(400, json={"code": 2, "message": "schema violation (name: expected a string)"})

    with client_for(httpx.MockTransport(refuse)) as client, pytest.raises(KongError) as caught:
        client.request("PUT", "/services/x", json={})
    assert calls.count("refused") == 1 and caught.value.rejected and caught.value.code == 2


def test_gives_up_after_the_last_attempt_naming_the_call() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with (
        client_for(httpx.MockTransport(handler), retry=RetryPolicy(attempts=3)) as client,
        pytest.raises(KongError) as caught,
    ):
        client.get("/status")
    assert caught.value.describe() == (
        "GET /status: no response after 3 tries: cannot connect to http://kong.test:8001 (connection refused)"
    )


def test_a_retry_after_longer_than_gatewayctl_waits_is_named_in_the_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3600"}, json={"message": "API rate limit exceeded"})

    with client_for(httpx.MockTransport(handler)) as client, pytest.raises(KongError) as caught:
        client.request("POST", "/config", json={})
    assert caught.value.describe() == (
        "POST /config: HTTP 429: API rate limit exceeded "
        "(the server asked to retry after 3600 s, longer than the 60 s waited)"
    )
    assert client.log.retries == 0


def test_retry_after_forms() -> None:
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3
    assert retry_after_seconds("Tue, 01 Dec 2026 12:00:10 GMT", now=lambda: now) == 10
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(base=0.5, cap=4)
    assert [policy.backoff(n, rng=lambda: 1.0) for n in range(6)] == [0.5, 1, 2, 4, 4, 4]
    assert policy.backoff(3, rng=lambda: 0.0) == 0


def test_rate_limiter_spaces_request_starts() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert waits == [0.25, 0.5, 0.75, 1.0]


def test_paging_resends_size_and_tags_with_the_offset() -> None:
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(request.url.query.decode())
        if "offset" not in request.url.params:
            return httpx.Response(
                200, json={"data": [{"id": "1"}], "offset": "abc", "next": "/upstreams/u/targets?offset=abc"}
            )
        return httpx.Response(200, json={"data": [{"id": "2"}], "next": None})

    with client_for(httpx.MockTransport(handler)) as client:
        items = list(client.list_all("/upstreams/u/targets", ["a", "b"]))
    assert [i["id"] for i in items] == ["1", "2"]
    assert queries == ["size=1000&tags=a%2Cb", "size=1000&tags=a%2Cb&offset=abc"]


def test_no_token_option_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from gatewayctl.cli import main

    assert main(["diff", "c.yaml", "--kong-admin-token", "x"]) == 1
    assert "No such option" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "shown", "problem"),
    [
        ("http://[::1", "http://[::1", "is not a valid URL"),
        ("http://admin:pw@kong:port/x", "http://kong:port/x", "is not a valid URL"),
        ("http://kong.test:99999", "http://kong.test:99999", "is not a valid URL"),
        ("http://", "http://", "has no host"),
        # host names DNS cannot take (a typo's empty label, a label past 63 characters, a bad xn-- label): the
        # first request raised the idna codec's UnicodeError
        ("https://kong..example.com:8444", "https://kong..example.com:8444", "has a host name DNS cannot take"),
        (f"http://{'k' * 64}.test", f"http://{'k' * 64}.test", "has a host name DNS cannot take"),
        ("http://xn--:8001", "http://xn--:8001", "has a host name DNS cannot take"),
        ("ftp://admin:pw@kong.test", "ftp://kong.test", "must start with http:// or https://"),
        # No scheme: shown as typed (it was "localhost://8001" and "://kong-admin"), still without the password.
        ("localhost:8001", "localhost:8001", "must start with http:// or https://"),
        ("kong-admin", "kong-admin", "must start with http:// or https://"),
        ("admin:pw@kong.test:8001", "kong.test:8001", "must start with http:// or https://"),
    ],
)
@pytest.mark.parametrize("flag", ["--kong-admin-url", "--kuma-url"])
def test_an_unusable_url_is_bad_input_without_its_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, url: str, shown: str, problem: str
) -> None:
    from emulators.harness import KUMA_CATALOG

    from gatewayctl.cli import main

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(KUMA_CATALOG.replace("${env:ZIPKIN_URL}", "http://zipkin:9411/api/v2/spans"))
    only = "kong" if flag == "--kong-admin-url" else "kuma"
    code = main(["diff", str(catalog), "--only", only, "--kuma-platform", "universal", flag, url])
    err = capsys.readouterr().err
    assert (code, "Traceback" in err, "pw" in err) == (1, False, False), err
    assert f"API URL {shown}: {problem}" in err, err


@pytest.mark.parametrize(
    ("content_type", "body", "detail"),
    [
        (
            "text/html",
            b"<html>proxy</html>",
            "the answer is not JSON (text/html): is http://kong.test:8001 the right URL?",
        ),
        ("application/json", b"[]", "the answer is not the Kong Admin API's (no version)"),
        ("application/json", b'{"status": "ok"}', "the answer is not the Kong Admin API's (no version)"),
    ],
)
def test_something_else_at_the_url_is_a_remote_error_naming_the_call(
    content_type: str, body: bytes, detail: str
) -> None:
    """A web page or another JSON API where the Admin API should be: exit 3 with the call, no traceback."""
    from gatewayctl.plan.kong import read_server

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    with client_for(httpx.MockTransport(handler)) as client, pytest.raises(KongError) as caught:
        read_server(client)
    assert caught.value.describe().startswith("GET /: HTTP 200: ") and detail in caught.value.describe()

    def not_a_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": 5})

    with client_for(httpx.MockTransport(not_a_page)) as client, pytest.raises(KongError) as caught:
        list(client.list_all("/services"))
    assert "GET /services: HTTP 200: the answer is not a page of Kong entities" in caught.value.describe()


def test_a_ca_cert_that_is_not_a_certificate_is_named(capsys: pytest.CaptureFixture[str], workdir: Path) -> None:
    from emulators.harness import CATALOG

    from gatewayctl.cli import main

    catalog = workdir / "catalog.yaml"
    catalog.write_text(CATALOG)
    not_pem = workdir / "ca.pem"
    not_pem.write_text("not a certificate\n")
    code = main(["diff", str(catalog), "--kong-admin-url", "https://kong.test:8444", "--ca-cert", str(not_pem)])
    err = capsys.readouterr().err
    assert code == 1 and f"cannot set up TLS from --ca-cert {not_pem}: " in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("failure", "hint"),
    [
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate", "--ca-cert"),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "the server does not speak TLS there"),
    ],
)
def test_a_failed_tls_handshake_is_not_retried_and_says_what_to_do(failure: str, hint: str) -> None:
    tries: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tries.append(1)
        raise httpx.ConnectError(failure)

    with client_for(httpx.MockTransport(handler)) as client, pytest.raises(KongError) as caught:
        client.get("/")
    assert len(tries) == 1 and caught.value.status is None
    assert caught.value.describe().startswith(
        f"GET /: no response: cannot connect to http://kong.test:8001 ({failure}); "
    ) and hint in str(caught.value)
