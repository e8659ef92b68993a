"""The runtime API's side of a multi-container endpoint: InvokeEndpoint passes every container in turn (Serial) or
reaches the one TargetContainerHostname names (Direct), as smctl.serving.pipeline.invoke_route does for the CLI."""

from __future__ import annotations

import http.client
import time
from typing import Any

from smctl.errors import UsageError
from smctl.serving.invoke import MAX_PAYLOAD
from smctl.serving.pipeline_route import TARGET_CONTAINER_HEADER, PipelineRoute, select_hops


def answer(handler: Any, name: str, route: PipelineRoute, body: bytes, headers: dict[str, str]) -> None:
    """Answer one InvokeEndpoint through `handler` (the runtime API's request handler): 200 with the last
    container's answer, ModelError (424) naming the container that failed, ValidationError (400) for a bad target."""
    target = handler.headers.get(TARGET_CONTAINER_HEADER)
    try:
        hops = select_hops(route, target)
    except UsageError as err:
        return handler._error(400, "ValidationError", err.message)
    started = time.monotonic()
    request, resp_headers = body, {"content-type": headers.get("Content-Type", "application/octet-stream")}
    for hop in hops:
        if hop.address is None:
            return handler._model_error(name, 0, "the container publishes no port", hop.hostname)
        sent = {**headers, "Content-Type": resp_headers.get("content-type", headers.get("Content-Type", ""))}
        try:
            status, resp_headers, request = handler._forward(hop.address, request, sent)
        except TimeoutError:
            handler._event(name, 0, started, len(body))
            return handler._model_error(name, 0, f"Your invocation timed out while waiting for a response from "
                                                 f"container {hop.hostname}.", hop.hostname)
        except (OSError, http.client.HTTPException) as exc:
            handler._event(name, 0, started, len(body))
            return handler._model_error(name, 0, f"cannot reach container {hop.hostname}: {exc} (see smctl logs "
                                                 f"{name})", hop.hostname)
        if status >= 400:
            handler._event(name, status, started, len(body))
            return handler._model_error(name, status, request.decode("utf-8", errors="replace"), hop.hostname)
        if len(request) > MAX_PAYLOAD:
            handler._event(name, status, started, len(body))
            return handler._model_error(name, status, f"Response body is {len(request)} bytes; the maximum is "
                                                      f"{MAX_PAYLOAD} bytes.", hop.hostname)
    handler._event(name, 200, started, len(body))
    out = {"Content-Type": resp_headers.get("content-type", "application/octet-stream"),
           "x-Amzn-Invoked-Production-Variant": "AllTraffic"}
    attrs = resp_headers.get("x-amzn-sagemaker-custom-attributes")
    if attrs is not None:
        out["X-Amzn-SageMaker-Custom-Attributes"] = attrs
    handler._reply(200, request, out)
