"""SageMaker Runtime InvokeEndpoint (one request to a cloud endpoint, answered as a local invoke is) and
InvokeEndpointWithResponseStream (the answer's parts as they arrive), InvokeEndpointAsync (a request queued: where its
answer or error will be)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smctl.aws.session import aws_errors, session
from smctl.errors import EndpointNotFoundError, ModelError, ModelStreamError


@dataclass(frozen=True)
class RuntimeAnswer:
    status: int
    body: bytes
    content_type: str | None
    custom_attributes: str | None
    seconds: float
    url: str


def invoke_endpoint(name: str, body: bytes, content_type: str, *, accept: str | None = None,
                    custom_attributes: str | None = None, region: str | None = None, profile: str | None = None,
                    timeout: float = 60.0, target_model: str | None = None) -> RuntimeAnswer:
    """Raises: EndpointNotFoundError, ModelError (the container answered an error: ModelError's status and body),
    AwsError."""
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from smctl.aws.sagemaker import is_not_found

    kwargs: dict[str, Any] = {"EndpointName": name, "Body": body, "ContentType": content_type}
    if accept:
        kwargs["Accept"] = accept
    if custom_attributes:
        kwargs["CustomAttributes"] = custom_attributes
    if target_model:
        kwargs["TargetModel"] = target_model  # a multi-model endpoint's archive, relative to its prefix
    with aws_errors(f"invoking the SageMaker endpoint {name}"):
        rt = session(region, profile).client("sagemaker-runtime", config=Config(read_timeout=timeout,
                                                                                retries={"max_attempts": 1}))
        started = time.monotonic()
        try:
            answer = rt.invoke_endpoint(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            message = str(err.get("Message") or "")
            if err.get("Code") == "ValidationError" and is_not_found(exc):
                raise EndpointNotFoundError(f"there is no SageMaker endpoint {name} in this region",
                                            "list them: aws sagemaker list-endpoints (or set --region)") from exc
            if err.get("Code") == "ModelError":
                raise ModelError(f"endpoint {name}'s container answered an error: {message}",
                                 f"its logs: aws logs tail /aws/sagemaker/Endpoints/{name}") from exc
            raise
        data = answer["Body"].read()
    return RuntimeAnswer(200, data, answer.get("ContentType"), answer.get("CustomAttributes"),
                         time.monotonic() - started, f"sagemaker-runtime:{name}")


@dataclass(frozen=True)
class StreamAnswer:
    content_type: str | None
    custom_attributes: str | None
    first_byte_seconds: float | None  # time to the first PayloadPart with bytes; None for an empty answer
    seconds: float
    size: int
    parts: int
    url: str


def invoke_endpoint_stream(name: str, body: bytes, content_type: str, on_part: Callable[[bytes], None], *,
                           accept: str | None = None, custom_attributes: str | None = None,
                           region: str | None = None, profile: str | None = None,
                           timeout: float = 60.0) -> StreamAnswer:
    """InvokeEndpointWithResponseStream: each PayloadPart's bytes handed to on_part as it arrives.

    Raises: EndpointNotFoundError, ModelError (an error before the stream began), ModelStreamError (the stream
    broke: SageMaker's ModelStreamError, or InternalStreamFailure), AwsError.
    """
    from botocore.config import Config
    from botocore.exceptions import ClientError, EventStreamError

    kwargs: dict[str, Any] = {"EndpointName": name, "Body": body, "ContentType": content_type}
    if accept:
        kwargs["Accept"] = accept
    if custom_attributes:
        kwargs["CustomAttributes"] = custom_attributes
    with aws_errors(f"streaming from the SageMaker endpoint {name}"):
        rt = session(region, profile).client("sagemaker-runtime", config=Config(read_timeout=timeout,
                                                                                retries={"max_attempts": 1}))
        started = time.monotonic()
        first: float | None = None
        size = parts = 0
        try:
            answer = rt.invoke_endpoint_with_response_stream(**kwargs)
            for event in answer["Body"]:
                piece = (event.get("PayloadPart") or {}).get("Bytes") or b""
                if piece and first is None:
                    first = time.monotonic() - started
                size, parts = size + len(piece), parts + 1
                on_part(piece)
        except EventStreamError as exc:
            raise _stream_error(name, exc) from None
        except ClientError as exc:
            _raise_known(name, exc)
            raise
    return StreamAnswer(answer.get("ContentType"), answer.get("CustomAttributes"), first,
                        time.monotonic() - started, size, parts, f"sagemaker-runtime:{name}")


def _stream_error(name: str, exc: Any) -> ModelStreamError:
    err = exc.response.get("Error", {})
    code = str(err.get("Code") or "InternalStreamFailure")
    message = str(err.get("Message") or "")
    logs = f"aws logs tail /aws/sagemaker/Endpoints/{name}"
    if code == "ModelStreamError":
        error_code = str(err.get("ErrorCode") or exc.response.get("ErrorCode") or "StreamBroken")
        return ModelStreamError(f"endpoint {name}'s container stopped its streamed answer midway: {message} "
                                f"(SageMaker: ModelStreamError {error_code})",
                                f"find why in the endpoint's logs: {logs}", error_code=error_code)
    return ModelStreamError(f"SageMaker failed while streaming endpoint {name}'s answer: {message} ({code})",
                            f"send the request again; if it keeps failing, check the endpoint's logs: {logs}",
                            error_code=code)


def _raise_known(name: str, exc: Any) -> None:
    """Raises: EndpointNotFoundError or ModelError for those answers; returns for any other."""
    from smctl.aws.sagemaker import is_not_found

    err = exc.response.get("Error", {})
    if err.get("Code") == "ValidationError" and is_not_found(exc):
        raise EndpointNotFoundError(f"there is no SageMaker endpoint {name} in this region",
                                    "list them: aws sagemaker list-endpoints (or set --region)") from exc
    if err.get("Code") == "ModelError":
        raise ModelError(f"endpoint {name}'s container answered an error: {err.get('Message') or ''}",
                         f"its logs: aws logs tail /aws/sagemaker/Endpoints/{name}") from exc


@dataclass(frozen=True)
class AsyncAnswer:
    inference_id: str
    output_location: str | None
    failure_location: str | None


def invoke_endpoint_async(name: str, input_location: str | None, *, body: bytes | None = None,
                          content_type: str | None = None,
                          accept: str | None = None, custom_attributes: str | None = None,
                          inference_id: str | None = None, invocation_timeout: int | None = None,
                          region: str | None = None, profile: str | None = None) -> AsyncAnswer:
    """Queue one request: its body an S3 object (input_location) or inline. Raises: EndpointNotFoundError,
    AwsError."""
    from botocore.exceptions import ClientError

    from smctl.aws.sagemaker import is_not_found

    kwargs: dict[str, Any] = {"EndpointName": name}
    for key, value in (("InputLocation", input_location), ("Body", body), ("ContentType", content_type),
                       ("Accept", accept), ("CustomAttributes", custom_attributes),
                       ("InferenceId", inference_id), ("InvocationTimeoutSeconds", invocation_timeout)):
        if value is not None:
            kwargs[key] = value
    with aws_errors(f"queueing an asynchronous request to the SageMaker endpoint {name}"):
        rt = session(region, profile).client("sagemaker-runtime")
        try:
            answer = rt.invoke_endpoint_async(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationError" and is_not_found(exc):
                raise EndpointNotFoundError(f"there is no SageMaker endpoint {name} in this region",
                                            "list them: aws sagemaker list-endpoints (or set --region)") from exc
            raise
    return AsyncAnswer(answer["InferenceId"], answer.get("OutputLocation"), answer.get("FailureLocation"))


def cloud_endpoint_exists(name: str, region: str | None, profile: str | None) -> bool | None:
    """Whether SageMaker has an endpoint of this name; None when that cannot be told (no AWS set up, offline)."""
    from botocore.config import Config

    try:
        sm = session(region, profile).client("sagemaker", config=Config(connect_timeout=3, read_timeout=5,
                                                                        retries={"max_attempts": 1}))
        sm.describe_endpoint(EndpointName=name)
        return True
    except Exception as exc:  # noqa: BLE001 - only a clear "not found" answers False; the rest is "cannot tell"
        from smctl.aws.sagemaker import is_not_found

        return False if hasattr(exc, "response") and is_not_found(exc) else None
