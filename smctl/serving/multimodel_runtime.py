"""InvokeEndpoint on a multi-model endpoint, answered as SageMaker Runtime does: ValidationError (bad or missing
TargetModel, no such archive), ModelNotReadyException (429), ModelError (424) for the container's errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from smctl.errors import ModelDataNotFoundError, ModelNotReadyError, SmctlError, TargetModelError
from smctl.serving.multimodel import MultiModelEndpoint, invoke_target
from smctl.serving.multimodel_api import TARGET_HEADER

Answer = tuple[int, bytes, dict[str, str]]


def runtime_answer(mme: MultiModelEndpoint, body: bytes, headers: Mapping[str, str], *, region: str, timeout: float,
                   account: str, header_problem: Callable[[str, dict[str, str]], str | None]) -> Answer:
    """(status, body, headers) for the runtime API to send; `header_problem` is its own check of the headers."""
    target = headers.get(TARGET_HEADER)
    if not target:
        return _error(400, "ValidationError", f"Request {_request_id()} is missing a target model header.")
    problem = header_problem(mme.name, {k: v for k, v in headers.items() if k != TARGET_HEADER})
    if problem is not None:
        return _error(400, "ValidationError", problem)
    try:
        result = invoke_target(mme, target, body, {k: v for k, v in headers.items() if k != TARGET_HEADER},
                               timeout=timeout)
    except TargetModelError as exc:
        return _error(400, "ValidationError", exc.message)
    except ModelDataNotFoundError as exc:
        return _error(400, "ValidationError", f"Failed to download model data for target model {target} from "
                                              f"{exc.details.get('url')}. Please ensure that there is an object "
                                              "located at the URL.")
    except ModelNotReadyError as exc:
        return _error(429, "ModelNotReadyException", exc.message)
    except SmctlError as exc:
        return _model_error(mme.name, int(exc.details.get("status") or 500), exc.message, region, account)
    if result.status >= 400:
        return _model_error(mme.name, result.status, result.body.decode("utf-8", errors="replace"), region, account)
    out = {"Content-Type": result.headers.get("content-type", "application/octet-stream"),
           "x-Amzn-Invoked-Production-Variant": "AllTraffic"}
    attrs = result.headers.get("x-amzn-sagemaker-custom-attributes")
    if attrs is not None:
        out["X-Amzn-SageMaker-Custom-Attributes"] = attrs
    return 200, result.body, out


def _error(status: int, code: str, message: str) -> Answer:
    return status, json.dumps({"message": message, "Message": message}).encode(), {
        "Content-Type": "application/json", "x-amzn-ErrorType": code}


def _model_error(name: str, status: int, message: str, region: str, account: str) -> Answer:
    kind = "client" if 400 <= status < 500 else "server"
    doc = {"ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
           "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{name}",
           "Message": f"Received {kind} error ({status}) from model with message \"{message}\". "
                      f"See its logs: smctl logs {name}",
           "OriginalMessage": message, "OriginalStatusCode": status}
    return 424, json.dumps(doc).encode(), {"Content-Type": "application/json", "x-amzn-ErrorType": "ModelError"}


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())
