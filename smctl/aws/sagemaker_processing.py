"""SageMaker's control plane for processing jobs: create and describe; its refusals as errors with the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smctl.aws.sagemaker import TERMINAL, ResourceLimitError, describe_named
from smctl.aws.session import aws_errors
from smctl.errors import AwsError, UsageError


class ProcessingJobExistsError(UsageError):
    """CreateProcessingJob: a job of that name exists in the account and region (names are never reused)."""


@dataclass(frozen=True)
class ProcessingJobState:
    """What DescribeProcessingJob says, in the terms the waiter reports."""

    name: str
    status: str  # InProgress | Completed | Failed | Stopping | Stopped
    failure_reason: str | None = None
    exit_message: str | None = None
    instance_count: int = 1
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


def processing_state_of(d: dict[str, Any]) -> ProcessingJobState:
    """A ProcessingJobState from a DescribeProcessingJob answer (moto's, AWS's, or a recorded one)."""
    cluster = (d.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    return ProcessingJobState(name=d["ProcessingJobName"], status=d["ProcessingJobStatus"],
                              failure_reason=d.get("FailureReason"), exit_message=d.get("ExitMessage"),
                              instance_count=int(cluster.get("InstanceCount") or 1), raw=d)


def describe_processing_job(sm: Any, name: str) -> ProcessingJobState:
    with aws_errors(f"describing the processing job {name}"):
        return processing_state_of(dict(sm.describe_processing_job(ProcessingJobName=name)))


def create_processing_job(sm: Any, request: dict[str, Any]) -> str:
    """Start the job; its ARN. Raises: ProcessingJobExistsError, ResourceLimitError, UsageError, AwsError."""
    from botocore.exceptions import ClientError, ParamValidationError

    name = request.get("ProcessingJobName", "?")
    taken = ProcessingJobExistsError(f"a processing job named {name} exists already (SageMaker never reuses a name)",
                                     "pick another: --job-name NAME (or leave it out: smctl makes a new one)")
    if describe_named(sm, "processing job", name) is not None:  # not every endpoint refuses a second one
        raise taken
    with aws_errors(f"creating the processing job {name}"):
        try:
            return str(sm.create_processing_job(**request)["ProcessingJobArn"])
        except ParamValidationError as exc:  # botocore's own check of the request, before anything is sent
            raise UsageError(f"SageMaker would refuse the processing job {name}: {exc}",
                             "fix the option the message names (smctl process --dry-run shows the request)") from exc
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "")), str(err.get("Message") or "")
            if code == "ResourceInUse" or "already exists" in message.lower():
                raise taken from exc
            if code == "ResourceLimitExceeded":
                itype = request["ProcessingResources"]["ClusterConfig"]["InstanceType"]
                raise ResourceLimitError(f"SageMaker refused the processing job {name}: {message}",
                                         f"ask for a higher quota for {itype} for processing job usage (Service "
                                         "Quotas console, service SageMaker), or use another instance type: "
                                         "--instance-type") from exc
            if "PassRole" in message:
                raise AwsError(f"you may not pass the role {request.get('RoleArn')} to SageMaker: {message}",
                               "allow iam:PassRole on that role for your identity (condition iam:PassedToService "
                               "sagemaker.amazonaws.com)") from exc
            if code == "ValidationException":
                raise AwsError(f"SageMaker refused the processing job {name}: {message}",
                               "fix the field the message names (smctl process --dry-run shows the request)") from exc
            raise
