"""Response streaming: read a container's /invocations answer as it arrives (chunked or not), for `smctl invoke
--stream` and the runtime API's InvokeEndpointWithResponseStream (`POST /endpoints/NAME/invocations-response-stream`).

The container side is plain HTTP: the answer is sent over time (Transfer-Encoding: chunked, or a body that
arrives slowly). A 4xx/5xx before the first byte is SageMaker's ModelError (HTTP 424); a connection that closes
before the answer is complete is ModelStreamError StreamBroken; an answer that does not finish within the
invocation timeout is ModelStreamError ModelInvocationTimeExceeded.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from smctl.errors import InvocationTimeoutError, ModelStreamError, SmctlError
from smctl.serving import eventstream
from smctl.serving.invoke import MAX_PAYLOAD, TIMEOUT, ContainerConnection, ContainerHTTPSConnection

READ_SIZE = 64 * 1024
ERROR_BODY_LIMIT = MAX_PAYLOAD
# InvokeEndpointWithResponseStream's request headers that reach a single container (its Accept arrives as
# X-Amzn-SageMaker-Accept and is passed on as Accept)
STREAM_HEADERS = (
    "Content-Type",
    "X-Amzn-SageMaker-Custom-Attributes",
    "X-Amzn-SageMaker-Target-Variant",
    "X-Amzn-SageMaker-Inference-Id",
    "X-Amzn-SageMaker-Session-Id",
)


@dataclass
class ContainerStream:
    """An answer being received: status and headers now, the body part by part through parts()."""

    url: str
    status: int
    headers: dict[str, str]  # lower-cased names
    started: float
    first_byte: float | None
    _conn: http.client.HTTPConnection
    _resp: http.client.HTTPResponse
    _deadline: float

    def parts(self) -> Iterator[bytes]:
        """Each piece of the body as soon as it arrives.

        Raises:
            ModelStreamError: the connection closed before the answer was complete (StreamBroken), or the answer
                did not finish before the deadline (ModelInvocationTimeExceeded).
        """
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(self.url)
            if self._conn.sock is not None:
                self._conn.sock.settimeout(remaining)
            try:
                data = self._resp.read1(READ_SIZE)
            except TimeoutError:
                raise _timed_out(self.url) from None
            except (http.client.IncompleteRead, OSError, http.client.HTTPException) as exc:
                raise _broken(self.url, f"{type(exc).__name__}: {exc}") from None
            if not data:
                if self._resp.length:  # Content-Length promised more than arrived
                    raise _broken(self.url, f"the connection closed {self._resp.length} bytes short")
                return
            if self.first_byte is None:
                self.first_byte = time.monotonic()
            yield data

    def error_body(self) -> bytes:
        """The body of a 4xx/5xx answer (at most ERROR_BODY_LIMIT bytes)."""
        try:
            return self._resp.read(ERROR_BODY_LIMIT)
        except (OSError, http.client.HTTPException):
            return b""

    def close(self) -> None:
        self._conn.close()


def open_stream(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = TIMEOUT) -> ContainerStream:
    """POST to an /invocations URL and return once the status line and headers are in.

    Raises:
        InvocationTimeoutError: no answer began within `timeout`. SmctlError: the container cannot be reached.
    """
    parsed = urllib.parse.urlsplit(url)
    conn_cls = ContainerHTTPSConnection if parsed.scheme == "https" else ContainerConnection
    conn = conn_cls(parsed.hostname or "127.0.0.1", parsed.port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("POST", parsed.path or "/invocations", body=body,
                     headers={**headers, "Content-Length": str(len(body))})
        resp = conn.getresponse()
    except TimeoutError:
        conn.close()
        raise InvocationTimeoutError(f"{url} did not begin its answer within {timeout:g} s",
                                     "send the first part sooner (SageMaker gives up after 60 s)") from None
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise SmctlError(f"{url} cannot be reached: {exc}",
                         "check it runs: smctl endpoints (and its logs: smctl logs NAME)") from None
    return ContainerStream(url, resp.status, {k.lower(): v for k, v in resp.getheaders()}, started, None, conn,
                           resp, started + timeout)


def _timed_out(url: str) -> ModelStreamError:
    return ModelStreamError(f"{url} did not finish sending its streamed answer in the allotted time",
                            "finish the stream within the invocation timeout (SageMaker: \"Your model primary did "
                            "not complete sending the inference response in the allotted time\")",
                            error_code=eventstream.TIME_EXCEEDED)


def _broken(url: str, why: str) -> ModelStreamError:
    return ModelStreamError(f"{url} stopped its streamed answer midway ({why})",
                            "the container closed the connection before the last chunk: see its logs "
                            "(smctl logs NAME)", error_code=eventstream.STREAM_BROKEN)


def container_headers(request_headers: Any) -> dict[str, str]:
    """The headers of an InvokeEndpointWithResponseStream request that SageMaker passes to the container."""
    out = {h: request_headers[h] for h in STREAM_HEADERS if request_headers.get(h) is not None}
    accept = request_headers.get("X-Amzn-SageMaker-Accept")
    if accept is not None:
        out["Accept"] = accept
    return out


def serve_stream(handler: Any, name: str, length: int) -> None:
    """The runtime API's InvokeEndpointWithResponseStream, on the runtime API's request handler (runtime_api._Handler):
    checks as InvokeEndpoint does, then one PayloadPart event per piece the container sends, as it arrives."""
    from smctl.serving.runtime_api import ACCOUNT, _header_problem

    if length > MAX_PAYLOAD:
        handler.close_connection = True
        return handler._error(400, "ValidationError", f"Request body is {length} bytes; the maximum is "
                                                      f"{MAX_PAYLOAD} bytes.")
    body = handler.rfile.read(length)
    target = handler.server.directory.lookup(name)
    if target is None:
        return handler._error(400, "ValidationError", f"Endpoint {name} of account {ACCOUNT} not found.")
    headers = container_headers(handler.headers)
    problem = _header_problem(name, headers)
    if problem is not None:
        return handler._error(400, "ValidationError", problem)
    host, port = target
    url = f"http://[{host}]:{port}/invocations" if ":" in host else f"http://{host}:{port}/invocations"
    started = time.monotonic()
    try:
        stream = open_stream(url, body, headers, timeout=handler.server.invoke_timeout)
    except InvocationTimeoutError:
        handler._event(name, 0, started, len(body))
        return handler._model_error(name, 0, "Your invocation timed out while waiting for a response from "
                                             "container primary.")
    except SmctlError as exc:
        handler._event(name, 0, started, len(body))
        return handler._model_error(name, 0, f"{exc.message} (see smctl logs {name})")
    try:
        if stream.status >= 400:
            handler._event(name, stream.status, started, len(body))
            return handler._model_error(name, stream.status, stream.error_body().decode("utf-8", errors="replace"))
        _relay(handler, name, stream)
        handler._event(name, stream.status, started, len(body))
    finally:
        stream.close()


def _relay(handler: Any, name: str, stream: ContainerStream) -> None:
    """200 with the response headers SageMaker sends, then the event stream in HTTP chunks, one per event."""
    handler.send_response(200)
    handler.send_header("Content-Type", eventstream.CONTENT_TYPE)
    handler.send_header("X-Amzn-SageMaker-Content-Type",
                        stream.headers.get("content-type", "application/octet-stream"))
    handler.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
    attrs = stream.headers.get("x-amzn-sagemaker-custom-attributes")
    if attrs is not None:
        handler.send_header("X-Amzn-SageMaker-Custom-Attributes", attrs)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("x-amzn-RequestId", _request_id())
    handler.end_headers()

    def chunk(data: bytes) -> None:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        handler.wfile.flush()

    try:
        for piece in stream.parts():
            for event in eventstream.payload_parts(piece):
                chunk(event)
    except ModelStreamError as exc:
        handler.server.on_event("warning", {"message": f"endpoint {name}: {exc.message} ({exc.error_code})"})
        message = ("Your model primary did not complete sending the inference response in the allotted time."
                   if exc.error_code == eventstream.TIME_EXCEEDED else
                   f"The model primary closed the connection before the response was complete. See its logs: "
                   f"smctl logs {name}")
        chunk(eventstream.stream_error(exc.error_code, message))
    chunk(b"")  # the terminating chunk: boto3 sees the end of the stream


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())
