"""The HTTP endpoint containers ask for credentials: one secret path, one token, only the run's own containers."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CredentialsServer(ThreadingHTTPServer):
    """GET `path` with `Authorization: token` from an allowed address answers fetch(); the rest 403/404/405."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, path: str, token: str, fetch: Callable[[], dict[str, str]],
                 allowed: Callable[[str], bool]) -> None:
        super().__init__(address, _Handler)
        self.path = path
        self.token = token
        self.fetch = fetch
        self.allowed = allowed
        self.served = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is its own business: nothing is printed (stderr is the user's terminal)."""


class _Handler(BaseHTTPRequestHandler):
    server: CredentialsServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        if self.path.split("?", 1)[0] != srv.path:
            return self._send(404, {"message": "not found"})
        if not hmac.compare_digest(self.headers.get("Authorization", "").encode(), srv.token.encode()):
            return self._send(403, {"message": "missing or wrong authorization token"})
        if not srv.allowed(self.client_address[0]):
            return self._send(403, {"message": f"{self.client_address[0]} is not a container of this run"})
        try:
            body = srv.fetch()
        except Exception as exc:  # noqa: BLE001 - the container's SDK shows this text; the secret is never in it
            return self._send(500, {"message": f"smctl could not get credentials: {getattr(exc, 'message', exc)}"})
        srv.served += 1
        self._send(200, body)

    def do_POST(self) -> None:  # noqa: N802
        self._send(405, {"message": "only GET"})

    do_PUT = do_DELETE = do_POST  # noqa: N815

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - nothing is logged (stderr is not ours)
        pass


class AddressBook:
    """Which source addresses belong to the run: looked up on a miss, at most once per `min_interval` seconds."""

    def __init__(self, lookup: Callable[[], set[str]], min_interval: float = 0.25) -> None:
        self._lookup = lookup
        self._known: set[str] = set()
        self._lock = threading.Lock()
        self._last = 0.0
        self._min_interval = min_interval

    def __call__(self, address: str) -> bool:
        if address in self._known:
            return True
        with self._lock:
            wait = self._last + self._min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                self._known = self._lookup()
            except Exception:  # noqa: BLE001 - the engine did not answer: refuse this time
                return False
            finally:
                self._last = time.monotonic()
            return address in self._known
