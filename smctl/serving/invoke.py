"""`invoke`: POST one request to an endpoint's /invocations with SageMaker's limits, and judge the answer."""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smctl.contract.serving import INVOCATION_TIMEOUT, MAX_CUSTOM_ATTRIBUTES, MAX_PAYLOAD
from smctl.errors import (
    InvocationTimeoutError,
    ModelError,
    PayloadTooLargeError,
    SmctlError,
    UsageError,
)

TIMEOUT = INVOCATION_TIMEOUT

# InvokeEndpoint's headers that SageMaker passes to the container (CONTRACT §2); everything else is stripped.
FORWARDED_HEADERS = (
    "Content-Type",
    "Accept",
    "X-Amzn-SageMaker-Custom-Attributes",
    "X-Amzn-SageMaker-Target-Model",
    "X-Amzn-SageMaker-Target-Variant",
    "X-Amzn-SageMaker-Inference-Id",
    "X-Amzn-SageMaker-Enable-Explanations",
)

class ContainerConnection(http.client.HTTPConnection):
    """An HTTP connection that sends only the headers it is given (plus Host and Content-Length): http.client's
    default `Accept-Encoding: identity` is not one SageMaker passes to a container."""

    def putrequest(self, method: str, url: str, skip_host: bool = False, skip_accept_encoding: bool = False) -> None:
        super().putrequest(method, url, skip_host=skip_host, skip_accept_encoding=True)


class ContainerHTTPSConnection(ContainerConnection, http.client.HTTPSConnection):
    """The same over TLS (an `invoke --url https://...`)."""


CONTENT_TYPES = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/jsonlines",
    ".jsonlines": "application/jsonlines",
    ".npy": "application/x-npy",
    ".npz": "application/x-npz",
    ".txt": "text/plain",
    ".libsvm": "text/libsvm",
    ".recordio": "application/x-recordio-protobuf",
    ".parquet": "application/x-parquet",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".wav": "audio/wav",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Payload:
    body: bytes
    content_type: str
    source: str  # "file NAME" | "stdin" | "literal"
    inferred: bool


@dataclass(frozen=True)
class InvokeResult:
    url: str
    status: int
    body: bytes
    content_type: str | None
    custom_attributes: str | None
    seconds: float
    warnings: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"url": self.url, "status": self.status, "content_type": self.content_type,
                               "custom_attributes": self.custom_attributes, "seconds": round(self.seconds, 4),
                               "bytes": len(self.body)}
        try:
            doc["body"] = self.body.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            doc["body_base64"] = base64.b64encode(self.body).decode("ascii")
        return doc


def infer_content_type(path: Path | None, body: bytes) -> str:
    """The content type of a file from its extension (unknown: application/octet-stream); of a literal, JSON when
    it parses as JSON, else text/plain."""
    if path is not None:
        return CONTENT_TYPES.get(path.suffix.lower(), DEFAULT_CONTENT_TYPE)
    try:
        json.loads(body)
    except ValueError:
        return "text/plain"
    return "application/json"


def read_payload(data: str | None, content_type: str | None = None, stdin: Any = None) -> Payload:
    """--data @FILE | - | 'literal' into bytes plus its content type (given, or inferred).

    Raises:
        UsageError: no data given, or the file cannot be read.
    """
    if data is None:
        raise UsageError("no request body given", "pass --data @FILE, --data - (stdin) or --data 'literal text'")
    path = None
    if data == "-":
        body = (stdin or sys.stdin.buffer).read()
        source = "stdin"
    elif data.startswith("@"):
        path = Path(data[1:]).expanduser()
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"data file {path} does not exist", "check the path after --data @") from None
        except OSError as exc:
            raise UsageError(f"data file {path} cannot be read: {exc.strerror or exc}",
                             "check the file's permissions") from None
        source = f"file {path}"
    else:
        body = data.encode("utf-8")
        source = "literal"
    if content_type:
        return Payload(body, content_type, source, False)
    ctype = DEFAULT_CONTENT_TYPE if data == "-" else infer_content_type(path, body)
    return Payload(body, ctype, source, True)


def check_payload(size: int, max_payload: int) -> None:
    """Raises: PayloadTooLargeError for a body over the limit."""
    if size > max_payload:
        raise PayloadTooLargeError(
            f"request body is {size:,} bytes, over the {max_payload:,}-byte limit"
            + (" that SageMaker enforces" if max_payload == MAX_PAYLOAD else ""),
            "send a smaller body (SageMaker refuses more than 6,291,456 bytes; use batch transform or async "
            "inference for more), or raise smctl's limit with --max-payload BYTES (SageMaker will not)",
        )


def check_custom_attributes(value: str | None) -> None:
    """Raises: UsageError when the value breaks SageMaker's rule (<=1024 visible ASCII characters)."""
    if value is None:
        return
    if len(value) > MAX_CUSTOM_ATTRIBUTES or not all(32 <= ord(ch) < 127 for ch in value):
        raise UsageError(f"--custom-attributes is {len(value)} characters or not plain ASCII",
                         "SageMaker accepts at most 1024 visible US-ASCII characters")


def invocations_url(target: str) -> str:
    """An endpoint URL (http://host:port[/invocations]) normalised to its /invocations URL."""
    parsed = urllib.parse.urlsplit(target)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"{target!r} is not an http(s) URL", "pass an endpoint name or http://HOST:PORT")
    path = parsed.path.rstrip("/")
    if not path.endswith("/invocations"):
        path += "/invocations"
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, parsed.query, ""))


def timing_warnings(seconds: float) -> tuple[str, ...]:
    """A contract warning for an invocation slower than SageMaker allows (only reachable with --timeout > 60)."""
    if seconds > TIMEOUT:
        return (f"the invocation took {seconds:.1f} s; SageMaker gives up after {TIMEOUT:g} s, so this request "
                "fails there",)
    return ()


def invoke(url: str, payload: Payload, *, accept: str | None = None, custom_attributes: str | None = None,
           extra_headers: Mapping[str, str] | None = None, max_payload: int = MAX_PAYLOAD,
           timeout: float = TIMEOUT, endpoint: str | None = None) -> InvokeResult:
    """POST the payload to `url` (an /invocations URL) and return the answer.

    Raises:
        PayloadTooLargeError: the request (or the answer) is over max_payload.
        ModelError: the container answered 4xx/5xx. InvocationTimeoutError: no answer within `timeout`.
        SmctlError: the endpoint cannot be reached.
    """
    check_payload(len(payload.body), max_payload)
    check_custom_attributes(custom_attributes)
    what = f"endpoint {endpoint}" if endpoint else url
    headers = {"Content-Type": payload.content_type, "Content-Length": str(len(payload.body))}
    if accept:
        headers["Accept"] = accept
    if custom_attributes is not None:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    headers.update(extra_headers or {})
    parsed = urllib.parse.urlsplit(url)
    conn_cls = ContainerHTTPSConnection if parsed.scheme == "https" else ContainerConnection
    conn = conn_cls(parsed.hostname or "127.0.0.1", parsed.port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("POST", parsed.path or "/invocations", body=payload.body, headers=headers)
        resp = conn.getresponse()
        body = resp.read(max_payload + 1)
        seconds = time.monotonic() - started
    except TimeoutError:
        raise InvocationTimeoutError(
            f"{what} did not answer within {timeout:g} s"
            + (" (SageMaker's limit: its callers get a ModelError)" if timeout == TIMEOUT else ""),
            "make /invocations answer within 60 s (SageMaker's limit); --timeout SECONDS waits longer here, "
            "but SageMaker will not",
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise SmctlError(f"{what} at {url} cannot be reached: {exc}",
                         "check it runs: smctl endpoints (and its logs: smctl logs NAME)") from None
    finally:
        conn.close()
    if len(body) > max_payload:
        raise ModelError(f"{what} answered more than {max_payload:,} bytes, over the response limit"
                         + (" SageMaker enforces" if max_payload == MAX_PAYLOAD else ""),
                         "return a smaller response (SageMaker's limit is 6,291,456 bytes); --max-payload BYTES "
                         "raises smctl's limit, SageMaker's stays")
    result = InvokeResult(url=url, status=resp.status, body=body, content_type=resp.getheader("Content-Type"),
                          custom_attributes=resp.getheader("X-Amzn-SageMaker-Custom-Attributes"), seconds=seconds,
                          warnings=timing_warnings(seconds), headers=dict(resp.getheaders()))
    if resp.status >= 400:
        raise model_error(result, what, endpoint, payload)
    return result


def model_error(result: InvokeResult, what: str, endpoint: str | None, payload: Payload | None = None
                ) -> ModelError:
    text = result.body[:2000].decode("utf-8", errors="replace")
    kind = "client" if result.status < 500 else "server"
    sent = ""
    if payload is not None and result.status < 500:
        how = f"inferred from the {payload.source}" if payload.inferred else "from --content-type"
        sent = f"; the request was sent as Content-Type {payload.content_type} ({how})"
    hint = f"fix the error shown in the container's logs: smctl logs {endpoint or 'NAME'}"
    if result.status == 415:
        hint = (f"the container does not take {payload.content_type if payload else 'that content type'}: send "
                "the type it expects with --content-type TYPE (e.g. --content-type application/json or text/csv)")
    return ModelError(
        f"{what} answered HTTP {result.status} (SageMaker returns this as ModelError, HTTP 424: "
        f"\"Received {kind} error ({result.status}) from primary\"){sent}; body: {text}",
        hint,
        details={"original_status_code": result.status, "original_message": text,
                 **({"content_type_sent": payload.content_type} if payload is not None else {})},
    )
