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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from smctl.errors import InvocationTimeoutError, ModelStreamError, SmctlError
from smctl.serving import eventstream
from smctl.serving.invoke import MAX_PAYLOAD, TIMEOUT, ContainerConnection, ContainerHTTPSConnection, Payload

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
    what: str  # how errors name it: "endpoint NAME", or the URL

    @property
    def _timeout(self) -> float:
        return self._deadline - self.started

    def parts(self) -> Iterator[bytes]:
        """Each piece of the body as soon as it arrives.

        Raises:
            ModelStreamError: the connection closed before the answer was complete (StreamBroken), or the answer
                did not finish before the deadline (ModelInvocationTimeExceeded).
        """
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(self.what, self._timeout)
            if self._conn.sock is not None:
                self._conn.sock.settimeout(remaining)
            try:
                data = self._resp.read1(READ_SIZE)
            except TimeoutError:
                raise _timed_out(self.what, self._timeout) from None
            except http.client.IncompleteRead:
                raise _broken(self.what, "the connection closed before the last chunk") from None
            except (OSError, http.client.HTTPException) as exc:
                raise _broken(self.what, f"{type(exc).__name__}: {exc}") from None
            if not data:
                if self._resp.length:  # Content-Length promised more than arrived
                    raise _broken(self.what, f"the connection closed {self._resp.length} bytes short")
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


def open_stream(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = TIMEOUT,
                what: str | None = None) -> ContainerStream:
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
        raise InvocationTimeoutError(f"{what or url} did not begin its answer within {timeout:g} s",
                                     "send the first part sooner (SageMaker gives up after 60 s)") from None
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise SmctlError(f"{what} at {url} cannot be reached: {exc}" if what else f"{url} cannot be reached: {exc}",
                         "check it runs: smctl endpoints (and its logs: smctl logs NAME)") from None
    return ContainerStream(url, resp.status, {k.lower(): v for k, v in resp.getheaders()}, started, None, conn,
                           resp, started + timeout, what or url)


@dataclass(frozen=True)
class StreamResult:
    url: str
    status: int
    content_type: str | None
    custom_attributes: str | None
    first_byte_seconds: float | None  # time to the first body byte; None for an empty answer
    seconds: float
    size: int
    parts: int

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "content_type": self.content_type,
                "custom_attributes": self.custom_attributes, "bytes": self.size, "parts": self.parts,
                "first_byte_seconds": None if self.first_byte_seconds is None else round(self.first_byte_seconds, 4),
                "seconds": round(self.seconds, 4)}


def invoke_stream(url: str, payload: Payload, on_part: Callable[[bytes], None], *, accept: str | None = None,
                  custom_attributes: str | None = None, max_payload: int = MAX_PAYLOAD, timeout: float = TIMEOUT,
                  endpoint: str | None = None) -> StreamResult:
    """POST the payload to an /invocations URL and hand each piece of the answer to on_part as it arrives.

    Raises:
        PayloadTooLargeError: the request is over max_payload. ModelError: the container answered 4xx/5xx before
            streaming. ModelStreamError: the stream broke or did not finish within `timeout`.
        InvocationTimeoutError: no answer began within `timeout`. SmctlError: the endpoint cannot be reached.
    """
    from smctl.serving.invoke import InvokeResult, check_custom_attributes, check_payload, model_error

    check_payload(len(payload.body), max_payload)
    check_custom_attributes(custom_attributes)
    what = f"endpoint {endpoint}" if endpoint else url
    headers = {"Content-Type": payload.content_type}
    if accept:
        headers["Accept"] = accept
    if custom_attributes is not None:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    stream = open_stream(url, payload.body, headers, timeout=timeout, what=what)
    try:
        if stream.status >= 400:
            body = stream.error_body()
            result = InvokeResult(url, stream.status, body, stream.headers.get("content-type"), None,
                                  time.monotonic() - stream.started, headers=stream.headers)
            raise model_error(result, what, endpoint, payload)
        size = parts = 0
        for piece in stream.parts():
            size, parts = size + len(piece), parts + 1
            on_part(piece)
    finally:
        stream.close()
    first = None if stream.first_byte is None else stream.first_byte - stream.started
    return StreamResult(url, stream.status, stream.headers.get("content-type"),
                        stream.headers.get("x-amzn-sagemaker-custom-attributes"), first,
                        time.monotonic() - stream.started, size, parts)


def _timed_out(what: str, timeout: float) -> ModelStreamError:
    return ModelStreamError(f"{what} did not finish sending its streamed answer within {timeout:g} s "
                            "(SageMaker: ModelStreamError ModelInvocationTimeExceeded)",
                            "make the container end its answer sooner (see its logs: smctl logs "
                            f"{_name(what)}); --timeout SECONDS waits longer here",
                            error_code=eventstream.TIME_EXCEEDED)


def _broken(what: str, why: str) -> ModelStreamError:
    return ModelStreamError(f"{what} stopped its streamed answer midway: {why} (SageMaker: ModelStreamError "
                            "StreamBroken)", f"find why the server stopped in the container's logs: smctl logs "
                            f"{_name(what)}", error_code=eventstream.STREAM_BROKEN)


def _name(what: str) -> str:
    return what.removeprefix("endpoint ") if what.startswith("endpoint ") else "NAME"


def container_headers(request_headers: Any) -> dict[str, str]:
    """The headers of an InvokeEndpointWithResponseStream request that SageMaker passes to the container."""
    out = {h: request_headers[h] for h in STREAM_HEADERS if request_headers.get(h) is not None}
    accept = request_headers.get("X-Amzn-SageMaker-Accept")
    if accept is not None:
        out["Accept"] = accept
    return out


def serve_stream(handler: Any, name: str, length: int, account: str,
                 header_problem: Callable[[str, dict[str, str]], str | None]) -> None:
    """The runtime API's InvokeEndpointWithResponseStream, on the runtime API's request handler (runtime_api._Handler):
    checks as InvokeEndpoint does (header_problem), then one PayloadPart event per piece the container sends."""
    request = handler.read_request(name, length)
    if request is None:
        return None
    body, target = request
    headers = container_headers(handler.headers)
    problem = header_problem(name, headers)
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
