"""SageMaker Runtime's InvokeEndpoint on a local port, so boto3's `sagemaker-runtime` client works unchanged.

POST /endpoints/<name>/invocations goes to the endpoint's container with only the headers SageMaker forwards;
a 4xx/5xx from the container comes back as ModelError (HTTP 424), an unknown endpoint as ValidationError (400).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from smctl.errors import RuntimeServerError
from smctl.events import OnEvent
from smctl.serving.invoke import FORWARDED_HEADERS, MAX_PAYLOAD, TIMEOUT, ContainerConnection

DEFAULT_PORT = 8090
ACCOUNT = "000000000000"
INVOKE_PATH = re.compile(r"^/endpoints/([^/?]+)/(invocations|async-invocations|invocations-response-stream)/?$")
REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
CACHE_SECONDS = 1.0


class EndpointDirectory:
    """Endpoint name -> (host, port) of its running container, from the engine's labels, cached for a second."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._table: dict[str, tuple[str, int]] = {}
        self._routes: dict[str, Any] = {}  # multi-container endpoints' routes (smctl.serving.pipeline)
        self._multi: dict[str, Any] = {}  # name -> MultiModelEndpoint, for multi-model endpoints
        self._read_at = 0.0

    def lookup(self, name: str) -> tuple[str, int] | None:
        with self._lock:
            if name not in self._table or time.monotonic() - self._read_at > CACHE_SECONDS:
                self._refresh()
            return self._table.get(name)

    def route(self, name: str) -> Any:
        with self._lock:
            return self._routes.get(name)

    def multi_model(self, name: str) -> Any:
        with self._lock:
            return self._multi.get(name)

    def _refresh(self) -> None:
        from smctl.engine.container import ContainerState
        from smctl.serving.multimodel import MultiModelEndpoint
        from smctl.serving.pipeline_route import route_of
        from smctl.serving.registry import list_endpoints

        table, routes, multi = {}, {}, {}
        for e in list_endpoints(self._client):
            if e.state is ContainerState.RUNNING and e.host is not None and e.port:
                table[e.name] = (e.host, e.port)
                routes[e.name] = route_of(e)
                multi[e.name] = MultiModelEndpoint.from_endpoint(e)
        self._table, self._routes, self._read_at = table, routes, time.monotonic()
        self._multi = {k: v for k, v in multi.items() if v is not None}


class RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, directory: EndpointDirectory, on_event: OnEvent,
                 timeout: float = TIMEOUT) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.directory = directory
        self.on_event = on_event
        self.invoke_timeout = timeout
        self._thread: threading.Thread | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is normal; anything else is reported, never printed here."""
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            self.on_event("warning", {"message": f"runtime API: request from {client_address[0]} failed: "
                                                 f"{type(exc).__name__}: {exc}"})

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host!s}]:{port}" if ":" in str(host) else f"http://{host!s}:{port}"

    def start(self) -> RuntimeServer:
        """Serve in a background thread (the foreground `local-serve --runtime-port` case)."""
        self._thread = threading.Thread(target=self.serve_forever, name="smctl-runtime-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
        self.server_close()


def start_runtime(host: str = "127.0.0.1", port: int = DEFAULT_PORT, on_event: OnEvent | None = None,
                  client: Any = None) -> RuntimeServer:
    """Bind the runtime API (not yet serving: call .start() or .serve_forever()).

    Raises:
        RuntimeServerError: the port is taken, naming who holds it.
    """
    from smctl.engine.containers import docker_client
    from smctl.serving.ports import check_port, find_port_holder, port_in_use

    check_port(port)
    client = client or docker_client()
    try:
        return RuntimeServer(host, port, EndpointDirectory(client), on_event or (lambda kind, data: None))
    except OSError as exc:
        holder = find_port_holder(port, host, client)
        if holder is not None:
            raise port_in_use(port, host, holder, "--runtime-port" if port else "--port") from None
        raise RuntimeServerError(f"cannot serve the runtime API on {host}:{port}: {exc.strerror or exc}",
                                 "pick another port: --port 0 picks a free one") from None


def _header_problem(endpoint: str, headers: dict[str, str]) -> str | None:
    """What InvokeEndpoint refuses before the container sees the request (botocore's model: 1024 ASCII characters
    for ContentType, Accept and CustomAttributes; TargetModel only on multi-model endpoints)."""
    if "X-Amzn-SageMaker-Target-Model" in headers:
        return (f"Endpoint {endpoint} of account {ACCOUNT} is not a multi-model endpoint and does not support "
                "target model header.")
    for header, member in (("Content-Type", "contentType"), ("Accept", "accept"),
                           ("X-Amzn-SageMaker-Custom-Attributes", "customAttributes")):
        value = headers.get(header)
        if value is not None and (len(value) > 1024 or not all(32 <= ord(ch) < 127 for ch in value)):
            return (f"1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must "
                    "have length less than or equal to 1024 and contain only printable ASCII characters")
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle + delayed ACK would add 40 ms
    server: RuntimeServer
    _conns = threading.local()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # each invocation is reported through on_event instead

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._reply(200, b"", {"Content-Type": "text/plain"})
        else:
            self._error(404, "UnknownOperationException", f"no operation at GET {self.path}")

    def do_POST(self) -> None:
        m = INVOKE_PATH.match(self.path.split("?", 1)[0])
        length = int(self.headers.get("Content-Length") or 0)
        if not m:
            self._drain(length)
            return self._error(404, "UnknownOperationException", f"no operation at POST {self.path}")
        name, operation = m.group(1), m.group(2)
        if operation == "invocations-response-stream":  # InvokeEndpointWithResponseStream: serving/streaming.py
            from smctl.serving.streaming import serve_stream

            return serve_stream(self, name, length, ACCOUNT, _header_problem)
        if operation == "async-invocations":
            from smctl.serving.async_inference import handle_async

            return handle_async(self, name, length, ACCOUNT)
        if operation != "invocations":
            self._drain(length)
            return self._error(400, "ValidationError", f"{operation} is not available locally; smctl serves "
                                                       "InvokeEndpoint only")
        request = self.read_request(name, length)
        if request is None:
            return None
        body, target = request
        headers = {h: self.headers[h] for h in FORWARDED_HEADERS if self.headers.get(h) is not None}
        if self.server.directory.multi_model(name) is not None:  # TargetModel: smctl loads, then invokes
            from smctl.serving.multimodel_runtime import runtime_answer

            started = time.monotonic()
            status, reply, reply_headers = runtime_answer(
                self.server.directory.multi_model(name), body, headers, region=self._region(),
                timeout=self.server.invoke_timeout, account=ACCOUNT, header_problem=_header_problem)
            self._event(name, status, started, len(body))
            return self._reply(status, reply, reply_headers)
        problem = _header_problem(name, headers)
        if problem is not None:
            return self._error(400, "ValidationError", problem)
        route = self.server.directory.route(name)
        if route is not None:
            from smctl.serving.pipeline_runtime import answer as pipeline_answer

            return pipeline_answer(self, name, route, body, headers)  # several containers: chained or one picked
        started = time.monotonic()
        try:
            status, resp_headers, resp_body = self._forward(target, body, headers)
        except TimeoutError:
            self._event(name, 0, started, len(body))
            self.server.on_event("warning", {"message": f"endpoint {name}: no answer within "
                                                        f"{self.server.invoke_timeout:g} s; SageMaker returns "
                                                        "ModelError after 60 s"})
            return self._model_error(name, 0, "Your invocation timed out while waiting for a response from "
                                              "container primary.")
        except (OSError, http.client.HTTPException) as exc:
            self._event(name, 0, started, len(body))
            return self._model_error(name, 0, f"cannot reach the container: {exc} (see smctl logs {name})")
        self._event(name, status, started, len(body))
        if status >= 400:
            return self._model_error(name, status, resp_body.decode("utf-8", errors="replace"))
        if len(resp_body) > MAX_PAYLOAD:
            return self._model_error(name, status, f"Response body is {len(resp_body)} bytes; the maximum is "
                                                   f"{MAX_PAYLOAD} bytes.")
        out = {"Content-Type": resp_headers.get("content-type", "application/octet-stream"),
               "x-Amzn-Invoked-Production-Variant": "AllTraffic"}
        attrs = resp_headers.get("x-amzn-sagemaker-custom-attributes")
        if attrs is not None:
            out["X-Amzn-SageMaker-Custom-Attributes"] = attrs
        self._reply(200, resp_body, out)

    def read_request(self, name: str, length: int) -> tuple[bytes, tuple[str, int]] | None:
        """(body, endpoint address) of an invocation, or None once the error SageMaker gives is answered: a body over
        the payload limit (not read: the connection closes), an endpoint that does not exist."""
        if length > MAX_PAYLOAD:
            self.close_connection = True
            self._error(400, "ValidationError", f"Request body is {length} bytes; the maximum is {MAX_PAYLOAD} bytes.")
            return None
        body = self.rfile.read(length)
        target = self.server.directory.lookup(name)
        if target is None:
            self._error(400, "ValidationError", f"Endpoint {name} of account {ACCOUNT} not found.")
            return None
        return body, target

    def _forward(self, target: tuple[str, int], body: bytes,
                 headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """POST to the container over a kept-alive connection (one per thread and endpoint); a stale one is
        replaced once, before any answer arrived."""
        pool: dict[tuple[str, int], http.client.HTTPConnection] = getattr(self._conns, "pool", None) or {}
        self._conns.pool = pool
        for attempt in (1, 2):
            conn = pool.get(target)
            reused = conn is not None
            if conn is None:
                conn = pool[target] = ContainerConnection(*target, timeout=self.server.invoke_timeout)
            try:
                conn.request("POST", "/invocations", body=body, headers=headers)  # only SageMaker's headers
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    conn.close()
                    pool.pop(target, None)
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                pool.pop(target, None)
                if not reused or attempt == 2:
                    raise
            except BaseException:
                conn.close()
                pool.pop(target, None)
                raise
        raise AssertionError("unreachable")

    def _model_error(self, name: str, status: int, message: str, container: str = "primary") -> None:
        kind = "client" if 400 <= status < 500 else "server"
        region = self._region()
        doc = {
            "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
            "LogStreamArn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
            "Message": f"Received {kind} error ({status}) from {container} with message \"{message}\". "
                       f"See its logs: smctl logs {name}",
            "OriginalMessage": message,
            "OriginalStatusCode": status,
        }
        self._reply(424, json.dumps(doc).encode(), {"Content-Type": "application/json",
                                                    "x-amzn-ErrorType": "ModelError"})

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"message": message, "Message": message}).encode()
        self._reply(status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": code})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", _request_id())
        self.end_headers()
        self.wfile.write(body)

    def _drain(self, length: int) -> None:
        if length > MAX_PAYLOAD:
            self.close_connection = True
        else:
            self.rfile.read(length)

    def _region(self) -> str:
        m = REGION_IN_AUTH.search(self.headers.get("Authorization") or "")
        return m.group(1) if m else "local"

    def _event(self, name: str, status: int, started: float, size: int) -> None:
        self.server.on_event("invocation", {"endpoint": name, "status": status, "bytes": size,
                                            "seconds": time.monotonic() - started})


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())
