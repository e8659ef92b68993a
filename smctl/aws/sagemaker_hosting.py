"""SageMaker's control plane for endpoints: model, endpoint config, endpoint; describe; delete what a failed
deploy made. Every request is validated by boto3 against botocore's model before it is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smctl.aws.session import aws_errors
from smctl.errors import AwsError

TERMINAL = ("InService", "Failed", "OutOfService")


@dataclass(frozen=True)
class EndpointState:
    name: str
    status: str
    failure_reason: str | None = None
    config_name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


def state_of(d: dict[str, Any]) -> EndpointState:
    return EndpointState(d["EndpointName"], d["EndpointStatus"], d.get("FailureReason"), d.get("EndpointConfigName"),
                         d)


def create(sm: Any, operation: str, request: dict[str, Any], what: str) -> None:
    """sm.<operation>(**request). Raises: AwsError with the fix (quota, PassRole, validation)."""
    from botocore.exceptions import ClientError

    with aws_errors(f"creating {what}"):
        try:
            getattr(sm, operation)(**request)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "")), str(err.get("Message") or "")
            if code == "ResourceLimitExceeded":
                raise AwsError(f"SageMaker refused {what}: {message}",
                               "ask for a higher endpoint quota (Service Quotas, service SageMaker), or use another "
                               "instance type: --instance-type") from exc
            if "PassRole" in message:
                raise AwsError(f"you may not pass the role to SageMaker for {what}: {message}",
                               "allow iam:PassRole on the role for your identity") from exc
            raise


def endpoint_exists(sm: Any, name: str) -> bool:
    return describe_endpoint(sm, name) is not None


def describe_endpoint(sm: Any, name: str) -> EndpointState | None:
    from smctl.aws.sagemaker import describe_named

    found = describe_named(sm, "endpoint", name)
    return state_of(found) if found is not None else None


def delete_quietly(sm: Any, operation: str, **kwargs: str) -> str | None:
    """Delete one thing a failed deploy made; the error text when it could not be (the caller names it)."""
    try:
        getattr(sm, operation)(**kwargs)
        return None
    except Exception as exc:  # noqa: BLE001 - reported to the user with the command that removes it
        return str(exc)
