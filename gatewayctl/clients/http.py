"""What the Kong Admin API and Kuma API clients share: the endpoint and its TLS options, one httpx client
per run sending with retries and a request-rate cap, the call log, and the error a failed call raises.

Each API's module (`kong_admin.py`, `kuma_api.py`) says where its URL and token come from, how the token
is sent and what its error bodies look like. Tokens come only from the environment (argv shows in `ps`)
and are never printed.
"""

from __future__ import annotations

import os
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import certifi
import httpx

from gatewayctl import __version__
from gatewayctl.clients.retry import RETRYABLE_STATUS, RateLimiter, RetryPolicy, retry_after_seconds
from gatewayctl.plan.masking import Masker

Json = Any


@dataclass(frozen=True)
class TlsOptions:
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    insecure: bool = False  # only ever set by an explicit --insecure

    def verify(self) -> bool | ssl.SSLContext:
        """httpx's `verify`: an SSL context built here when there is a CA or a client certificate to load
        (httpx 0.28 deprecates passing their paths); True for httpx's defaults (certifi's CA bundle)."""
        if self.insecure and not self.client_cert:
            return False
        if not self.ca_cert and not self.client_cert:
            return True
        context = ssl.create_default_context(cafile=str(self.ca_cert) if self.ca_cert else certifi.where())
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            context.load_cert_chain(str(self.client_cert), str(self.client_key) if self.client_key else None)
        return context


# What an HTTP header value may hold (RFC 9110 field-value, as h11 checks it), narrowed to ASCII as httpx
# encodes it: visible characters, spaces and tabs only inside.
_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?")


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str | None = None
    tls: TlsOptions = TlsOptions()
    timeout: float = 30.0
    token_env: str = "the token"  # where the token came from, to name it in an error

    @classmethod
    def from_env(
        cls, url: str | None, url_env: str, token_env: str, default: str, tls: TlsOptions, timeout: float = 30.0
    ) -> Endpoint:
        """The flag's URL, else `url_env`, else `default`; the token only from `token_env`. Spaces and line
        breaks around the URL (a pasted CI variable) and the token (a Secret's file ends in a line break) are
        dropped; a URL given empty stays empty, for `problem` to refuse: a CI variable left undefined must not
        send the run to the default, a Kong on localhost."""
        chosen = url if url is not None else os.environ.get(url_env, default)
        token = (os.environ.get(token_env) or "").strip() or None
        return cls(chosen.strip().rstrip("/"), token, tls, timeout, token_env)

    def display(self) -> str:
        """The URL without any user:password part, query or fragment (either may hold a token)."""
        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
            if "://" not in self.url and parts.scheme not in ("http", "https"):  # `localhost:8001`: as typed
                raise ValueError(self.url)
        except ValueError:  # not a valid URL (`problem` says so): its user:password (up to the last @ before the
            # path), query and fragment left out; a ? or # before that @ may be a password's or a query's: neither shown
            scheme, sep, rest = self.url.partition("://")
            rest = rest if sep else self.url
            authority = rest.split("/", 1)[0]
            userinfo, at, host = authority.rpartition("@")
            if at and re.search(r"[?#]", userinfo):
                host = "..."
            shown = re.split(r"[?#]", host + rest[len(authority) :], maxsplit=1)[0]
            return f"{scheme}://{shown}" if sep else shown
        netloc = parts.netloc.rpartition("@")[2]  # host and port as typed: an IPv6 address keeps its [ ]
        return f"{parts.scheme}://{netloc}{parts.path}"

    def problem(self) -> str | None:
        """Why the URL cannot be used, None when it can (checked before any client is made)."""
        if not self.url:
            return "is empty (a CI variable that is not defined?): set it, or unset the variable for the default"
        if any(c.isspace() for c in self.url):
            return "has a space or line break in it"
        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
            httpx.URL(self.url)
        except (ValueError, httpx.InvalidURL):
            return "is not a valid URL (check the host and port)"
        if parts.scheme not in ("http", "https"):
            return "must start with http:// or https://"
        if not parts.hostname:
            return "has no host"
        if ":" not in parts.hostname:  # a name, not an IPv6 address
            try:  # as httpx reads it (xn-- labels) and the resolver is asked (empty labels, 64+ characters)
                httpx.URL(self.url).host.encode("idna")
            except UnicodeError:
                return "has a host name DNS cannot take (an empty label as in a..b, one past 63 characters, a bad xn--)"
        if parts.query or parts.fragment or "?" in self.url or "#" in self.url:  # the API's paths go after it
            return "must not have a query (?...) or fragment (#...): the API's paths are added to it"
        return None

    def token_problem(self) -> str | None:
        """Why the token cannot be sent, never saying what it holds (httpx's and h11's own errors quote the
        header value: a token read from a file with its line break would be printed); None when it can."""
        if self.token is None or _HEADER_VALUE.fullmatch(self.token):
            return None
        return (
            f"{self.token_env} cannot be sent in an HTTP header: it holds a line break, a control character, a"
            " character that is not ASCII or a space at either end (value not shown)"
        )


class RemoteError(Exception):
    """A call failed. `status` is None when the server was not reached (connection error)."""

    def __init__(self, method: str, path: str, status: int | None, body: Json, detail: str, attempts: int) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        self.detail = detail
        self.attempts = attempts
        super().__init__(self.describe())

    @property
    def rejected(self) -> bool:
        """The server understood and refused the request (4xx other than 429): retrying cannot help."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        tries = f" after {self.attempts} tries" if self.attempts > 1 else ""
        return f"{self.method} {self.path}: {what}{tries}: {self.detail}"


@dataclass
class CallLog:
    """Counts of what was sent, for reports and tests."""

    reads: int = 0
    writes: int = 0
    retries: int = 0
    # Called after every attempt with (method, path without query, status or None when no answer, seconds);
    # `gatewayctl watch` turns them into its request-duration histogram.
    observers: list[Callable[[str, str, int | None, float], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str, retry: bool, read: bool = False) -> None:
        """One attempt; `read`: a request that changes nothing though it is no GET (Kong's schema validation)."""
        with self._lock:
            if retry:
                self.retries += 1
            elif method == "GET" or read:
                self.reads += 1
            else:
                self.writes += 1

    def observe(self, method: str, path: str, status: int | None, seconds: float) -> None:
        for observer in self.observers:
            observer(method, path, status, seconds)


class ApiClient:
    """One HTTP API, shared by worker threads (httpx.Client is thread-safe). Subclasses set the error
    class, how the token is sent and how an error body reads."""

    error: ClassVar[type[RemoteError]] = RemoteError

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        retry: RetryPolicy | None = None,
        rps: float | None = None,
        pool: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.retry = retry or RetryPolicy()
        self.limiter = RateLimiter(rps)
        self.sleep = sleep
        self.log = CallLog()
        self.run_id = uuid.uuid4().hex[:12]
        # What this client sends that is secret, masked in every error it raises: a proxy's page or a
        # library's message may quote the token or the URL's password back.
        self._credentials = Masker.of([*([endpoint.token] if endpoint.token else []), *url_credentials(endpoint.url)])
        headers = {"User-Agent": f"gatewayctl/{__version__} (run {self.run_id})", "Accept": "application/json"}
        base_url = endpoint.url
        if endpoint.token:
            headers.update(self.token_headers(endpoint.token))
            if "Authorization" in headers:  # httpx would replace it with Basic auth from a user:password@ URL
                base_url = _without_userinfo(base_url)
        limits = httpx.Limits(max_connections=max(pool, 1) + 2, max_keepalive_connections=max(pool, 1) + 2)
        self._client = httpx.Client(
            base_url=base_url,
            headers=headers,
            verify=endpoint.tls.verify(),
            timeout=endpoint.timeout,
            limits=limits,
            transport=transport,
            trust_env=False,
        )

    def token_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def error_detail(self, body: Json) -> str | None:
        """The server's own sentence in an error body, when it has one."""
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body["message"])
        return None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Json = None,
        params: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
        retry: bool = True,
        read: bool = False,
        any_404: bool = False,
    ) -> httpx.Response:
        """Send with retries; return the response when its status is in `ok`, else raise `self.error`.
        `retry=False`: one try, for a write whose answer means something only the first time (a lock's create).
        `read=True`: counted as a read though it is no GET (it changes nothing on the server).
        A 404 in `ok` must be the API's own answer (`_check_not_found`), unless `any_404` (an optional endpoint
        a proxy may block)."""
        target = path + ("?" + urlencode(params) if params else "")
        attempts = self.retry.attempts if retry else 1
        attempt = 0
        while True:
            self.limiter.acquire()
            self.log.count(method, retry=attempt > 0, read=read)
            attempt += 1
            started = time.monotonic()
            try:
                response, undecodable = self._send(method, target, json)
            except httpx.TransportError as exc:
                self.log.observe(method, path, None, time.monotonic() - started)
                reason = _transport_reason(exc, self.endpoint.display())
                hint = _tls_hint(exc)
                reason = self._credentials.text(reason)
                if hint:  # a TLS handshake refused for what it is: trying again cannot change it
                    raise self.error(method, target, None, None, f"{reason}; {hint}", attempt) from None
                if attempt >= attempts:
                    raise self.error(method, target, None, None, reason, attempt) from None
                self.sleep(self.retry.backoff(attempt - 1))
                continue
            self.log.observe(method, path, response.status_code, time.monotonic() - started)
            if response.status_code in ok and undecodable is None:
                if response.status_code == 404 and not any_404:
                    self._check_not_found(response, target)
                return response
            if undecodable is None:
                body = json_or_none(response)
                detail = self._credentials.text(self.error_detail(body) or _first_line(response))
            else:  # never the API's own answer: it sends no Content-Encoding it cannot decode
                body, where = None, self.endpoint.display()
                detail = f"the answer's body cannot be decoded ({undecodable}): is {where} the right URL?"
            if response.status_code in RETRYABLE_STATUS and attempt < attempts:
                wait = self.retry.backoff(attempt - 1)
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                if asked is not None:
                    if asked > self.retry.max_retry_after:
                        cap = self.retry.max_retry_after
                        detail += (
                            f" (the server asked to retry after {asked:.0f} s, longer than the {cap:.0f} s waited)"
                        )
                        raise self.error(method, target, response.status_code, body, detail, attempt)
                    wait = max(wait, asked)
                self.sleep(wait)
                continue
            raise self.error(method, target, response.status_code, body, detail, attempt)

    def _send(self, method: str, target: str, json: Json) -> tuple[httpx.Response, str | None]:
        """The answer, read whole, and why its body cannot be decoded (None when it can): a body marked gzip
        that is not (a proxy's) raises httpx's DecodingError, which is no TransportError, while reading."""
        response = self._client.send(self._client.build_request(method, target, json=json), stream=True)
        try:
            response.read()
            return response, None
        except httpx.DecodingError as exc:
            return response, self._credentials.text(_short(exc))
        finally:
            response.close()

    def get(self, path: str, params: dict[str, str] | None = None) -> Json:
        return self._json(self.request("GET", path, params=params, ok=(200,)), path)

    def get_dated(self, path: str) -> tuple[Json, float | None]:
        """GET, with the server's clock when it answered (its Date header, seconds since 1970), None without one."""
        response = self.request("GET", path, ok=(200,))
        try:
            date = parsedate_to_datetime(response.headers.get("Date", "")).timestamp()
        except (TypeError, ValueError):
            date = None
        return self._json(response, path), date

    def get_optional(self, path: str) -> Json | None:
        """GET, None on 404."""
        response = self.request("GET", path, ok=(200, 404))
        return None if response.status_code == 404 else self._json(response, path)

    def entity(self, response: httpx.Response, path: str) -> dict[str, Any]:
        """The object a write or read of one entity answers, with its id; any other answer (a proxy's page, an
        empty or cut body) does not show the write was made: this API's error, naming the call."""
        answer = self._json(response, path)
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str) or not answer["id"]:
            detail = (
                f"the answer is not the entity written or read (no id): is {self.endpoint.display()} the right URL?"
            )
            raise self.error(response.request.method, path, response.status_code, None, detail, 1)
        return answer

    def _check_not_found(self, response: httpx.Response, target: str) -> None:
        """A 404 taken as "there is none" (a lock free, a delete already done) must be the API's own answer, a
        JSON object (Kong's `{"message": "Not found"}`, Kuma's error); a proxy's page says nothing about what
        the API holds: this API's error, naming the call, so that nothing is counted as absent or deleted."""
        if not isinstance(json_or_none(response), dict):
            where = self.endpoint.display()
            detail = f"a 404 that is not the API's answer ({_first_line(response)}): is {where} the right URL?"
            raise self.error(response.request.method, target, 404, None, detail, 1)

    def _json(self, response: httpx.Response, path: str) -> Json:
        """The answer's JSON; an answer that is not JSON means that something else listens at the URL (a web
        page, a proxy port): this API's error, naming the call, rather than a decoding traceback."""
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type") or "no content type"
            detail = f"the answer is not JSON ({kind}): is {self.endpoint.display()} the right URL?"
            raise self.error(response.request.method, path, response.status_code, None, detail, 1) from None


def url_credentials(url: str) -> list[str]:
    """What `url` carries that may be secret: the password of a user:password@ and the query's values (a
    `?token=`). A URL urlsplit cannot read (`http://[::1`) gives its whole user:password part too."""
    try:
        parts = urlsplit(url)
        return [v for v in (parts.password, *(v for _, v in parse_qsl(parts.query))) if v]
    except ValueError:
        userinfo = url.partition("://")[2].rpartition("@")[0]
        query = url.partition("?")[2].partition("#")[0]
        return [v for v in (userinfo, userinfo.partition(":")[2], *(v for _, v in parse_qsl(query))) if v]


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=netloc).geturl()


def json_or_none(response: httpx.Response) -> Json:
    try:
        return response.json()
    except ValueError:
        return None


def _first_line(response: httpx.Response) -> str:
    """What an answer without the API's own error body says: where a redirect points (not followed: the
    Admin API never redirects, so whatever does is not it, and a token must not go to another host), the
    title or text of an HTML page (a proxy's), else its first line."""
    location = response.headers.get("Location")
    if response.is_redirect and location:
        where = _without_query(location)
        return f"{response.reason_phrase} to {where} (redirects are not followed: is that the API's URL?)"
    text = response.text.strip()
    if text.startswith("<"):  # an HTML page: its title, else its words
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.S | re.I)
        text = title.group(1) if title else re.sub(r"<[^>]*>", " ", text)
        text = " ".join(text.split())
    line = text.splitlines()[0][:200] if text else ""
    return line or response.reason_phrase or "error"


def _without_query(url: str) -> str:
    """A URL without user:password, query and fragment (where a redirect points may carry a token)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return parts._replace(netloc=netloc, query="", fragment="").geturl()
    except ValueError:
        return "another URL"


def _transport_reason(exc: httpx.TransportError, url: str) -> str:
    # Nothing answered: name where it was sent (without credentials), which a URL defaulted or taken from
    # the environment does not show anywhere else.
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {url} ({_short(exc)})"
    if isinstance(exc, httpx.TimeoutException):
        return f"{url} timed out"
    return f"connection to {url} failed ({_short(exc) or type(exc).__name__})"


def _tls_hint(exc: httpx.TransportError) -> str | None:
    """What to do about a TLS handshake that failed for good (None for anything else)."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "pass the CA that signed the server's certificate with --ca-cert (or --insecure, explicitly)"
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return "the server does not speak TLS there: use http://, or the API's TLS port"
    return None


def _short(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__
