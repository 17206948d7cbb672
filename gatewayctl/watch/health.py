"""The watch's HTTP side: `/metrics` (the watch's own registry, text or OpenMetrics as the scraper asks),
`/healthz` (liveness: the process answers and the loop is not stuck) and `/readyz` (readiness: a catalog
is loaded and the last check reached every remote, or this replica is a follower)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder


@dataclass
class Health:
    """What the probes answer from; written by the loop, read by the HTTP threads."""

    stuck_after: float  # seconds without a heartbeat before /healthz fails
    clock: Callable[[], float] = time.monotonic
    catalog_loaded: bool = False
    reached: bool = False  # the last check reached every remote
    follower: bool = False
    problem: str = "starting"
    _beat: float = field(default=0.0)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._beat = self.clock()

    def beat(self) -> None:
        with self._lock:
            self._beat = self.clock()

    def live(self) -> tuple[bool, str]:
        with self._lock:
            idle = self.clock() - self._beat
        if idle > self.stuck_after:
            return False, f"the watch loop has not moved for {idle:.0f} s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            if not self.catalog_loaded:
                return False, "no catalog loaded"
            if self.follower:
                return True, "ok (follower)"
            if not self.reached:
                return False, self.problem or "the last check did not reach every remote"
        return True, "ok"

    def update(self, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self, key, value)


class MetricsServer:
    """A small threaded HTTP server; `port` is the bound one (0 asks for any free port)."""

    def __init__(self, address: str, port: int, registry: CollectorRegistry, health: Health) -> None:
        handler = type("BoundHandler", (_Handler,), {"registry": registry, "health": health})
        self.server = ThreadingHTTPServer((address, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="watch-metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    registry: CollectorRegistry
    health: Health

    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not worth a line
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(self.registry), content_type)
        elif path in ("/healthz", "/readyz"):
            ok, why = self.health.live() if path == "/healthz" else self.health.ready()
            self._send(200 if ok else 503, (why + "\n").encode(), "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
