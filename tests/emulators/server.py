"""The HTTP plumbing every emulator shares: a threaded server on 127.0.0.1 with the state bound to its handler,
`start`/`running`/`main` around it, the request log and the fault injection (fail the Nth matching request,
drop or reset the connection before or after doing the work, delay, or a seeded share of faulty requests).

Each emulator keeps what is its server's own: routes, error bodies, headers, authentication.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit


class ApiError(Exception):
    """An answer other than success: its status, body and extra headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


# ---------------------------------------------------------------------- faults


@dataclass
class Fault:
    status: int | None = None  # answer this status instead of doing the work
    retry_after: str | None = None
    drop: bool = False  # close the connection without an answer, before doing the work
    drop_after: bool = False  # do the work, then close without an answer (a lost response)
    reset: bool = False  # abort the connection with a TCP RST before doing the work (a connection reset)
    delay: float = 0.0
    body: dict[str, Any] | None = None
    # What sits in front of a server, or a server gone odd, answers: these bytes as they are (an HTML page
    # from a proxy, an empty or truncated body, a redirect with `headers`' Location), with `status` (default
    # 200) and `content_type`, instead of doing the work.
    raw: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] | None = None
    # Do the work, then answer `reshape(payload)` instead of the payload (an answer of the wrong shape).
    reshape: Callable[[Any], Any] | None = None
    # Do the work, then send the headers and this many bytes of the JSON answer and reset the connection.
    cut_after: int | None = None


@dataclass
class FaultRule:
    fault: Fault
    nth: int  # 1-based among matching requests
    method: str | None = None
    path: str | None = None  # prefix
    times: int = 1
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or path.startswith(self.path))


@dataclass
class RandomFaults:
    """A seeded share of requests that fail: Kong's own 500 body, a 503 from whatever sits in front of it,
    429 with Retry-After (`retry_after` seconds), a connection closed before or after doing the work, and
    with `resets` also a TCP reset. The same seed and request order give the same faults."""

    rate: float
    seed: int
    writes_only: bool = True
    retry_after: str = "0"
    resets: bool = False
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def pick(self, method: str) -> Fault | None:
        if self.writes_only and method == "GET":
            return None
        if self.rng.random() >= self.rate:
            return None
        choices = [
            Fault(status=500, body={"message": "An unexpected error occurred"}),
            Fault(status=503, body={"message": "Service Unavailable"}),
            Fault(status=429, retry_after=self.retry_after, body={"message": "API rate limit exceeded"}),
            Fault(drop=True),
            Fault(drop_after=True),
        ]
        if self.resets:
            choices.append(Fault(reset=True))
        return self.rng.choice(choices)


@dataclass
class Request:
    method: str
    path: str
    query: str
    status: int
    user_agent: str
    started: float
    ended: float
    body: bytes = b""  # as sent


class EmulatorState:
    """What the shared handler needs of an emulator's state: a lock, the request log, the fault plan and an
    added latency. Each emulator's state extends it with its store."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.lock = threading.RLock()
        self.requests: list[Any] = []  # Request, or the emulator's own record of a request
        self.rules: list[FaultRule] = []
        self.random_faults: RandomFaults | None = None

    def fail(
        self, nth: int = 1, *, method: str | None = None, path: str | None = None, times: int = 1, **fault: Any
    ) -> None:
        """Fail the `nth` request matching method and path prefix (and the `times - 1` after it) with `fault`."""
        self.rules.append(FaultRule(Fault(**fault), nth, method, path, times))

    def pick_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.seen += 1
                    if rule.nth <= rule.seen < rule.nth + rule.times:
                        return rule.fault
            if self.random_faults:
                return self.random_faults.pick(method)
        return None


# ---------------------------------------------------------------------- HTTP

S = TypeVar("S", bound=EmulatorState)


def first_values(query: str) -> dict[str, str]:
    """A query string as one value per name (the first), blank values kept."""
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


class BaseHandler(BaseHTTPRequestHandler):
    """GET, POST, PUT and DELETE go to `handle_method`; a server that also takes PATCH adds `do_PATCH`
    (without it the request gets http.server's 501, as a method the server does not route)."""

    # TCP_NODELAY, as the real servers answer (nginx's tcp_nodelay for Kong; Go's net/http, which sets it on
    # every connection, for Kuma and the kube-apiserver): without it a response's body, sent after its
    # headers, waits for the client's delayed ACK, 40 ms per keep-alive request on Linux.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests read the request log instead

    def do_GET(self) -> None:
        self.handle_method("GET")

    def do_POST(self) -> None:
        self.handle_method("POST")

    def do_PUT(self) -> None:
        self.handle_method("PUT")

    def do_DELETE(self) -> None:
        self.handle_method("DELETE")

    def handle_method(self, method: str) -> None:
        raise NotImplementedError

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, data: bytes, content_type: str | None, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def reply_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self.reply(status, json.dumps(payload).encode(), "application/json", headers or {})

    def cut_short(self, status: int, data: bytes, sent: int) -> None:
        """Announce all of `data`, send its first `sent` bytes, then reset the connection (dies mid-body)."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:sent])
        self.wfile.flush()
        self.hang_up(reset=True)

    def hang_up(self, *, reset: bool = False) -> None:
        """Close the connection without an answer; with `reset`, abort it with a TCP RST."""
        if reset:
            # SO_LINGER 0: close() sends RST instead of FIN, which the client sees as "connection reset"
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True


class EmulatorHandler(BaseHandler, Generic[S]):
    """One request through the shared steps: latency, the fault plan, the emulator's `answer`, the request
    log (written before answering, so a client that has its answer sees it logged), and the emulator's `send`
    for an answer or an `ApiError`."""

    protocol_version = "HTTP/1.1"
    state: S  # set on the subclass made per server

    def answer(self, method: str, path: str, query: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        """(status, payload, headers) for a request the fault plan let through; raises ApiError."""
        raise NotImplementedError

    def send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        raise NotImplementedError

    def fault_error(self, fault: Fault) -> ApiError:
        """The answer to an injected status."""
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return ApiError(fault.status or 500, fault.body or {"message": "injected"}, headers)

    def record(self, method: str, path: str, query: str, status: int, started: float, body: bytes = b"") -> None:
        with self.state.lock:
            agent = self.headers.get("User-Agent", "")
            self.state.requests.append(Request(method, path, query, status, agent, started, time.monotonic(), body))

    def handle_method(self, method: str) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        raw = self.read_body()
        state = self.state
        if state.latency:
            time.sleep(state.latency)
        fault = state.pick_fault(method, path)
        try:
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and (fault.drop or fault.reset):
                self.record(method, path, parts.query, 0, started, raw)
                self.hang_up(reset=fault.reset and not fault.drop)
                return
            if fault and fault.raw is not None:
                self.record(method, path, parts.query, fault.status or 200, started, raw)
                self.reply(fault.status or 200, fault.raw, fault.content_type, fault.headers or {})
                return
            if fault and fault.status:
                raise self.fault_error(fault)
            status, payload, headers = self.answer(method, path, parts.query, raw)
            lost = fault is not None and (fault.drop_after or fault.cut_after is not None)
            self.record(method, path, parts.query, 0 if lost else status, started, raw)
            if fault and fault.drop_after:
                self.hang_up()
                return
            if fault and fault.reshape:
                payload = fault.reshape(payload)
            if fault and fault.cut_after is not None:
                self.cut_short(status, json.dumps(payload).encode(), fault.cut_after)
                return
            self.send(status, payload, headers)
        except ApiError as exc:
            self.record(method, path, parts.query, exc.status, started, raw)
            self.send(exc.status, exc.body, exc.headers)


# ---------------------------------------------------------------------- server


class TrackingServer(ThreadingHTTPServer):
    """A server that knows its connections and handler threads, so that stopping it can close the connections
    clients kept alive and wait for their threads: a finished test's threads (and the garbage they leave) do
    not spill into the next one."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.handler_threads: list[threading.Thread] = []
        self.connections: list[socket.socket] = []

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
        self.handler_threads = [t for t in self.handler_threads if t.is_alive()] + [thread]
        self.connections = [c for c in self.connections if c.fileno() != -1] + [request]
        thread.start()

    def hang_up(self) -> None:
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for handler in list(self.handler_threads):
            handler.join(timeout=2)


T = TypeVar("T")


@dataclass
class Emulator(Generic[T]):
    """A running emulator: its state (any kind), server and serving thread."""

    state: T
    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        scheme = "https" if isinstance(self.server.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://{host!s}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        if isinstance(self.server, TrackingServer):
            self.server.hang_up()


def serve(
    handler: type[BaseHTTPRequestHandler],
    state: Any,
    port: int,
    name: str,
    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
    tls: ssl.SSLContext | None = None,
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """A server on 127.0.0.1:`port` (0: any free port) whose handler sees `state`, serving on a daemon thread;
    over TLS with `tls` (a server-side context: Kong's admin_listen `ssl`, or Kuma's 5682)."""
    bound = type(f"Bound{handler.__name__}", (handler,), {"state": state})
    server = server_class(("127.0.0.1", port), bound)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    # polling for shutdown every 50 ms rather than socketserver's 500: stopping an emulator (once per test)
    # waits for the next poll
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    return server, thread


E = TypeVar("E", bound=Emulator[Any])


def running(start: Callable[[T | None], E], state: T | None) -> AbstractContextManager[E]:
    """`start(state)` on entering, stopped on leaving."""

    @contextmanager
    def run() -> Iterator[E]:
        emulator = start(state)
        try:
            yield emulator
        finally:
            emulator.stop()

    return run()


def arguments(description: str, port: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port)
    return parser


def add_fault_arguments(parser: argparse.ArgumentParser, *, faulty_reads: bool) -> None:
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that fail (5xx, 429, ...)")
    parser.add_argument("--seed", type=int, default=1)
    if faulty_reads:
        parser.add_argument("--faulty-reads", action="store_true", help="inject faults into GETs too")


def serve_until_interrupted(emulator: Emulator[Any], banner: str) -> None:
    print(f"{banner}; Ctrl-C stops it")
    try:
        emulator.thread.join()
    except KeyboardInterrupt:
        emulator.stop()
