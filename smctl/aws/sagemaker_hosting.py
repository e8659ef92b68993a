"""SageMaker's control plane for endpoints: model, endpoint config, endpoint; describe; delete what a failed
deploy made. Every request is validated by boto3 against botocore's model before it is sent."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from smctl.aws.sagemaker import ResourceLimitError
from smctl.aws.session import aws_errors
from smctl.errors import AwsError

TERMINAL = ("InService", "Failed", "OutOfService")
# SageMaker names the quota it applied: "The account-level service limit 'ml.m5.large for endpoint usage' is ..."
_QUOTA = re.compile(r"service limit '([^']+)'")
# (quota kind, where the instance type is set): every create here but the transform job's is an endpoint's
_USAGE = {"create_transform_job": ("transform job usage", "--instance-type (or [transform] instance_type)")}
_ENDPOINT_USAGE = ("endpoint usage", "--instance-type")


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


def create(sm: Any, operation: str, request: dict[str, Any], what: str, *, instance_type: str | None = None) -> None:
    """sm.<operation>(**request); `instance_type` names the quota when the request does not (CreateEndpoint).

    Raises: ResourceLimitError (the quota to raise), AwsError with the fix (PassRole, validation)."""
    from botocore.exceptions import ClientError

    with aws_errors(f"creating {what}"):
        try:
            getattr(sm, operation)(**request)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "")), str(err.get("Message") or "")
            if code == "ResourceLimitExceeded":
                raise limit_error(operation, request, what, message, instance_type) from exc
            if "PassRole" in message:
                raise AwsError(f"you may not pass the role to SageMaker for {what}: {message}",
                               "allow iam:PassRole on the role for your identity") from exc
            raise


def limit_error(operation: str, request: dict[str, Any], what: str, message: str,
                instance_type: str | None) -> ResourceLimitError:
    """ResourceLimitExceeded as an error that names the instance type and the quota to raise."""
    variants = request.get("ProductionVariants") or [{}]
    itype = (instance_type or variants[0].get("InstanceType")
             or (request.get("TransformResources") or {}).get("InstanceType"))
    usage, setting = _USAGE.get(operation, _ENDPOINT_USAGE)
    found = _QUOTA.search(message)
    quota = found.group(1) if found else f"{itype} for {usage}" if itype else None
    named = f"quota '{quota}'" if quota else "quota (the one named above)"
    return ResourceLimitError(f"SageMaker refused {what}{f' on {itype}' if itype else ''}: {message}",
                              f"ask for a higher {named} (Service Quotas console, Amazon SageMaker; or aws "
                              "service-quotas list-service-quotas --service-code sagemaker), or use another instance "
                              f"type: {setting}")


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
