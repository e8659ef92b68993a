"""POST /invocations for the runner: one keep-alive http.client connection per worker thread, retries with a
short back-off, a timeout per call, and Transfer-Encoding: chunked when MaxPayloadInMB is 0."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from smctl.errors import InvocationError
from smctl.serving.invoke import ContainerConnection

if TYPE_CHECKING:
    from smctl.transform.params import RunSettings

CHUNK = 1 << 20  # Transfer-Encoding: chunked piece size when MaxPayloadInMB is 0
BACKOFF = (0.2, 0.5, 1.0)  # seconds before retry 1, 2, 3


class Stopped(Exception):
    """The run is being stopped (Ctrl-C, or the container is gone): no more attempts."""


class Invoker:
    """POST /invocations with the job's headers; one keep-alive connection per calling thread."""

    def __init__(self, host: str, port: int, settings: RunSettings, stop: threading.Event) -> None:
        self.host, self.port, self.settings, self.stop = host, port, settings, stop
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self.headers = {k: v for k, v in (("Content-Type", settings.content_type), ("Accept", settings.accept)) if v}

    def invoke(self, payload: bytes, content_type: str | None = None) -> tuple[bytes, int]:
        """(body, attempts); Raises: InvocationError after 1 + retries failed attempts, Stopped on Ctrl-C."""
        attempts = 0
        while True:
            if self.stop.is_set():
                raise Stopped
            attempts += 1
            try:
                return self._once(payload, content_type), attempts
            except InvocationError as exc:
                if self.stop.is_set():
                    raise Stopped from exc
                if attempts > self.settings.retries:
                    raise InvocationError(f"{exc} (after {attempts} attempt(s))") from None
            self.stop.wait(BACKOFF[min(attempts, len(BACKOFF)) - 1])

    def _once(self, payload: bytes, content_type: str | None = None) -> bytes:
        for first_try in (True, False):
            reused = getattr(self._local, "used", False)
            try:
                return self._send(payload, content_type)
            except _StaleConnection:
                if not (first_try and reused):
                    raise InvocationError("the container closed the connection without answering") from None
                # an idle keep-alive connection the server had dropped: one more try on a fresh one
        raise AssertionError("unreachable")

    def _send(self, payload: bytes, content_type: str | None = None) -> bytes:
        conn = self._conn()
        limit = self.settings.payload_limit
        headers = {**self.headers, "Content-Type": content_type} if content_type else self.headers
        try:
            if limit is None:
                conn.request("POST", "/invocations", body=_chunks(payload),
                             headers={**headers, "Transfer-Encoding": "chunked"}, encode_chunked=True)
            else:
                conn.request("POST", "/invocations", body=payload, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except TimeoutError:
            self._drop()
            raise InvocationError(f"no answer within {self.settings.timeout:g} s (--timeout)") from None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self._drop()
            raise _StaleConnection from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise InvocationError(f"connection to the container failed: {type(exc).__name__}: {exc}") from None
        self._local.used = True
        self._local.content_type = resp.getheader("Content-Type")  # the next container's, in a pipeline
        if resp.will_close:
            self._drop()
        if not 200 <= resp.status < 300:
            text = body[:300].decode("utf-8", errors="replace").strip()
            raise InvocationError(f"HTTP {resp.status} {resp.reason}" + (f": {text}" if text else ""))
        return body

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = ContainerConnection(self.host, self.port, timeout=self.settings.timeout)
            self._local.conn, self._local.used = conn, False
            with self._lock:
                self._all.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn, self._local.used = None, False

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class _StaleConnection(Exception):
    pass


def _chunks(payload: bytes) -> Iterator[bytes]:
    view = memoryview(payload)
    for start in range(0, len(payload), CHUNK):
        yield bytes(view[start : start + CHUNK])
