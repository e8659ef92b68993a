"""SageMaker Runtime InvokeEndpoint (one request to a cloud endpoint, answered as a local invoke is) and
InvokeEndpointAsync (a request queued: where its answer or error will be)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from smctl.aws.session import aws_errors, session
from smctl.errors import EndpointNotFoundError, ModelError


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
