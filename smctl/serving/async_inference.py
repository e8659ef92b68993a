"""Asynchronous inference on a local endpoint: read the input from S3 (or take it inline), POST it to the
container's /invocations within the invocation timeout, write the answer to S3OutputPath/<InferenceId>.out or the
error to S3FailurePath/<InferenceId>-error.out. The runtime API queues requests per endpoint, at most
MaxConcurrentInvocationsPerInstance at once; `smctl invoke --async` runs one in-process and waits."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smctl.contract import async_inference as contract
from smctl.contract.async_inference import AsyncConfig
from smctl.errors import (
    InvocationTimeoutError,
    ModelError,
    S3ObjectNotFoundError,
    SmctlError,
)
from smctl.events import OnEvent

if TYPE_CHECKING:
    from smctl.serving.registry import Endpoint

DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class AsyncRequest:
    endpoint: str
    inference_id: str
    input_location: str | None = None  # exactly one of input_location and body
    body: bytes | None = None
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None
    invocation_timeout: int | None = None  # None: the endpoint's (default 900 s)
    request_ttl: int = contract.REQUEST_TTL
    filename: str | None = None
    extension: str | None = None


@dataclass(frozen=True)
class AsyncOutcome:
    inference_id: str
    location: str  # where the answer, or the error, was written ("" when nothing could be written)
    succeeded: bool
    status: int  # the container's HTTP status (0: no answer)
    seconds: float
    bytes: int = 0
    error: SmctlError | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"inference_id": self.inference_id, "succeeded": self.succeeded,
                "output_location" if self.succeeded else "failure_location": self.location,
                "status": self.status, "seconds": round(self.seconds, 4), "bytes": self.bytes,
                **({"error": self.error.message} if self.error is not None else {})}


def new_inference_id() -> str:
    return str(uuid.uuid4())


def locations(config: AsyncConfig, request: AsyncRequest) -> tuple[str, str]:
    """(OutputLocation, FailureLocation) of one request."""
    return (config.output_location(request.inference_id, request.filename, request.extension),
            config.failure_location(request.inference_id, request.extension))


def not_async(name: str) -> SmctlError:
    from smctl.errors import UsageError

    return UsageError(f"endpoint {name!r} is not configured for asynchronous inference",
                      f"start it with an output path: smctl local-serve --name {name} --async-output "
                      "s3://BUCKET/PREFIX (or [serve.async_inference] output_path in smctl.toml)")


def run_async(url: str, config: AsyncConfig, request: AsyncRequest, *, s3: Any = None, region: str | None = None,
              profile: str | None = None, enqueued: float | None = None) -> AsyncOutcome:
    """Run one request to its end; the outcome says where its answer or error went (errors are returned, never
    raised, so a queue worker survives them)."""
    from smctl.aws.s3_objects import read_object, write_object
    from smctl.serving.invoke import Payload, invoke

    output, failure = locations(config, request)
    started = time.monotonic()
    timeout = request.invocation_timeout or config.invocation_timeout

    def fail(error: SmctlError, text: str, status: int = 0) -> AsyncOutcome:
        try:
            write_object(failure, text.encode(), "text/plain", s3=s3, region=region, profile=profile)
        except SmctlError as exc:
            return AsyncOutcome(request.inference_id, "", False, status, time.monotonic() - started,
                                error=SmctlError(f"{error.message}; and its error could not be written to {failure}: "
                                                 f"{exc.message}", exc.hint))
        return AsyncOutcome(request.inference_id, failure, False, status, time.monotonic() - started, error=error)

    if enqueued is not None and time.monotonic() - enqueued > request.request_ttl:
        return fail(SmctlError(f"request {request.inference_id} waited over {request.request_ttl} s in the queue",
                               "send fewer requests at once, or raise RequestTTLSeconds"),
                    f"Request expired: it waited more than {request.request_ttl} seconds in the queue.")
    try:
        if request.input_location is not None:
            body, stored_type = read_object(request.input_location, max_bytes=contract.MAX_INPUT, s3=s3,
                                            region=region, profile=profile)
        else:
            body, stored_type = request.body or b"", None
    except S3ObjectNotFoundError as exc:
        return fail(exc, f"Failed to download the input from {request.input_location}: the object does not exist.")
    except SmctlError as exc:
        return fail(exc, f"Failed to download the input from {request.input_location}: {exc.message}")
    content_type = request.content_type or stored_type or DEFAULT_CONTENT_TYPE
    headers = {contract.H_INFERENCE_ID: request.inference_id}
    try:
        result = invoke(url, Payload(body, content_type, "input", False), accept=request.accept,
                        custom_attributes=request.custom_attributes, extra_headers=headers,
                        max_payload=contract.MAX_INPUT, timeout=timeout, endpoint=request.endpoint)
    except ModelError as exc:
        status = int(exc.details.get("original_status_code") or 0)
        return fail(exc, str(exc.details.get("original_message") or exc.message), status)
    except InvocationTimeoutError:
        err = InvocationTimeoutError(
            f"endpoint {request.endpoint} did not answer inference {request.inference_id} within {timeout} s",
            "make /invocations answer sooner, or allow more time: --invocation-timeout SECONDS (at most 3600)")
        return fail(err, f"Invocation timed out: the model did not answer within {timeout} seconds.")
    except SmctlError as exc:
        return fail(exc, f"The model container could not be reached: {exc.message}")
    try:
        write_object(output, result.body, result.content_type, s3=s3, region=region, profile=profile)
    except SmctlError as exc:
        return fail(exc, f"Failed to upload the inference response to {output}: {exc.message}", result.status)
    return AsyncOutcome(request.inference_id, output, True, result.status, time.monotonic() - started,
                        len(result.body))


class AsyncQueues:
    """One queue per endpoint container, drained by MaxConcurrentInvocationsPerInstance workers. Requests still
    queued when smctl stops are lost (SageMaker keeps them for up to RequestTTLSeconds)."""

    def __init__(self, on_event: OnEvent, client: Any = None) -> None:
        self._on_event = on_event
        self._client = client
        self._lock = threading.Lock()
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._s3: Any = None

    def find(self, name: str) -> Endpoint | None:
        from smctl.engine.container import ContainerState
        from smctl.serving.registry import find_endpoint

        if self._client is None:
            from smctl.engine.containers import docker_client

            self._client = docker_client()
        endpoint = find_endpoint(self._client, name)
        return endpoint if endpoint is not None and endpoint.state is ContainerState.RUNNING else None

    def submit(self, endpoint: Endpoint, config: AsyncConfig, request: AsyncRequest) -> None:
        with self._lock:
            pool = self._pools.get(endpoint.container_id)
            if pool is None:
                pool = self._pools[endpoint.container_id] = ThreadPoolExecutor(
                    config.concurrency, thread_name_prefix=f"smctl-async-{endpoint.name}")
            if self._s3 is None:
                from smctl.aws.s3_objects import s3_client

                self._s3 = s3_client()
        from smctl.serving.invoke import invocations_url

        pool.submit(self._run, invocations_url(endpoint.url or ""), config, request, time.monotonic())

    def _run(self, url: str, config: AsyncConfig, request: AsyncRequest, enqueued: float) -> None:
        try:
            outcome = run_async(url, config, request, s3=self._s3, enqueued=enqueued)
        except Exception as exc:  # noqa: BLE001 - a worker reports and survives whatever one request does
            self._on_event("warning", {"message": f"async inference {request.inference_id} on {request.endpoint} "
                                                  f"failed: {type(exc).__name__}: {exc}"})
            return
        self._on_event("invocation", {"endpoint": request.endpoint, "status": outcome.status,
                                      "bytes": outcome.bytes, "seconds": outcome.seconds, "async": True})
        if outcome.error is not None:
            where = f"; error written to {outcome.location}" if outcome.location else ""
            self._on_event("warning", {"message": f"async inference {request.inference_id} on {request.endpoint}: "
                                                  f"{outcome.error.message}{where}"})

    def shutdown(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.shutdown(wait=False, cancel_futures=True)
            self._pools.clear()


def handle_async(handler: Any, name: str, length: int, account: str) -> None:
    """InvokeEndpointAsync for the runtime API's request handler: checks, queues, answers 202 at once."""
    server = handler.server
    if length > contract.MAX_INLINE_BODY:
        handler.close_connection = True
        return handler._error(400, "ValidationError", "1 validation error detected: Value at 'body' failed to "
                              f"satisfy constraint: Member must have length less than or equal to "
                              f"{contract.MAX_INLINE_BODY}")
    body = handler.rfile.read(length)
    headers = {k: v for k, v in handler.headers.items()}
    problem = contract.request_problem(headers, len(body))
    if problem is not None:
        return handler._error(400, "ValidationError", problem)
    queues = _queues(server)
    endpoint = queues.find(name)
    if endpoint is None:
        return handler._error(400, "ValidationError", f"Endpoint {name} of account {account} not found.")
    config = endpoint.async_config
    if config is None:
        return handler._error(400, "ValidationError", f"Endpoint {name} of account {account} is not configured "
                                                      "for asynchronous inference.")
    request = AsyncRequest(
        endpoint=name, inference_id=headers.get(contract.H_INFERENCE_ID) or new_inference_id(),
        input_location=headers.get(contract.H_INPUT) or None, body=None if headers.get(contract.H_INPUT) else body,
        content_type=headers.get(contract.H_CONTENT_TYPE), accept=headers.get(contract.H_ACCEPT),
        custom_attributes=headers.get(contract.H_CUSTOM_ATTRIBUTES),
        invocation_timeout=int(headers[contract.H_TIMEOUT]) if headers.get(contract.H_TIMEOUT) else None,
        request_ttl=int(headers.get(contract.H_TTL) or contract.REQUEST_TTL),
        filename=headers.get(contract.H_FILENAME), extension=headers.get(contract.H_EXTENSION))
    output, failure = locations(config, request)
    queues.submit(endpoint, config, request)
    answer = {contract.H_OUTPUT: output, "Content-Type": "application/json"}
    if config.failure_path is not None:
        answer[contract.H_FAILURE] = failure
    handler._reply(202, json.dumps({"InferenceId": request.inference_id}).encode(), answer)


_QUEUES_LOCK = threading.Lock()


def _queues(server: Any) -> AsyncQueues:
    """The runtime server's queues, made on its first async request."""
    with _QUEUES_LOCK:
        queues = getattr(server, "async_queues", None)
        if queues is None:
            queues = server.async_queues = AsyncQueues(server.on_event)
        return queues
