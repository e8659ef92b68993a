"""SageMaker's control plane for training jobs: create, describe, stop; its refusals as errors with the fix.

boto3 validates every request against botocore's model of the API before sending it; throttling is retried
with backoff (the standard retry mode, 10 attempts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from smctl.aws.session import RETRIES, aws_errors
from smctl.errors import AwsError, UsageError

TERMINAL = ("Completed", "Failed", "Stopped")


class TrainingJobExistsError(UsageError):
    """CreateTrainingJob: a job of that name exists in the account and region (names are never reused)."""


class ResourceLimitError(AwsError):
    """A service quota refused the request (ResourceLimitExceeded)."""


@dataclass(frozen=True)
class TrainingJobState:
    """What DescribeTrainingJob says, in the terms the waiter reports."""

    name: str
    status: str
    secondary_status: str | None = None
    transitions: tuple[tuple[str, str], ...] = ()  # (status, message), oldest first
    failure_reason: str | None = None
    model_artifact: str | None = None  # s3:// URI of model.tar.gz
    output_path: str | None = None  # OutputDataConfig.S3OutputPath
    instance_count: int = 1
    billable_seconds: int | None = None
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


def client(region: str | None = None, profile: str | None = None) -> Any:
    from botocore.config import Config

    from smctl.aws.session import session

    with aws_errors("creating the SageMaker client"):  # a copy: botocore rewrites the retries dict it is given
        return session(region, profile).client("sagemaker", config=Config(retries=dict(RETRIES)))


def create_training_job(sm: Any, request: dict[str, Any]) -> str:
    """Start the job; its ARN. Raises: TrainingJobExistsError, ResourceLimitError, AwsError (with the fix)."""
    from botocore.exceptions import ClientError, ParamValidationError

    name = request.get("TrainingJobName", "?")
    if training_job_exists(sm, name):  # checked here: not every endpoint refuses a second job of one name
        raise TrainingJobExistsError(f"a training job named {name} exists already (SageMaker never reuses a name)",
                                     "pick another: --job-name NAME (or leave it out: smctl makes a new one)")
    with aws_errors(f"creating the training job {name}"):
        try:
            return str(sm.create_training_job(**request)["TrainingJobArn"])
        except ClientError as exc:
            raise _create_error(exc, name, request) from exc
        except ParamValidationError as exc:  # botocore's own check of the request, before anything is sent
            raise UsageError(f"SageMaker would refuse the training job {name}: {exc}",
                             "fix the option the message names (smctl local-train --dry-run --json shows the "
                             "request)") from exc


def training_job_exists(sm: Any, name: str) -> bool:
    """Whether a job of this name exists in the account and region (SageMaker never reuses a name)."""
    return describe_named(sm, "training job", name) is not None


def describe_training_job(sm: Any, name: str) -> TrainingJobState:
    with aws_errors(f"describing the training job {name}"):
        d = sm.describe_training_job(TrainingJobName=name)
    return state_of(d)


def state_of(d: dict[str, Any]) -> TrainingJobState:
    """A TrainingJobState from a DescribeTrainingJob answer (moto's, AWS's, or a recorded one)."""
    transitions = tuple((t.get("Status", ""), t.get("StatusMessage", "")) for t in d.get("SecondaryStatusTransitions")
                        or ())
    return TrainingJobState(
        name=d["TrainingJobName"], status=d["TrainingJobStatus"], secondary_status=d.get("SecondaryStatus"),
        transitions=transitions, failure_reason=d.get("FailureReason"),
        model_artifact=(d.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
        output_path=(d.get("OutputDataConfig") or {}).get("S3OutputPath"),
        instance_count=int((d.get("ResourceConfig") or {}).get("InstanceCount") or 1),
        billable_seconds=d.get("BillableTimeInSeconds"), started=d.get("TrainingStartTime"),
        ended=d.get("TrainingEndTime"), raw=d)


def _create_error(exc: Any, name: str, request: dict[str, Any]) -> AwsError | UsageError:
    err = exc.response.get("Error", {})
    code, message = str(err.get("Code", "")), str(err.get("Message") or "")
    if code == "ResourceInUse" or "already exists" in message.lower():
        return TrainingJobExistsError(f"a training job named {name} exists already (SageMaker never reuses a name)",
                                      "pick another: --job-name NAME (or leave it out: smctl makes a new one)")
    if code == "ResourceLimitExceeded":
        itype = request.get("ResourceConfig", {}).get("InstanceType", "the instance type")
        return ResourceLimitError(f"SageMaker refused the training job {name}: {message}",
                                  f"ask for a higher quota for {itype} training (Service Quotas console, service "
                                  "SageMaker), or use another instance type: --instance-type")
    if code in ("AccessDeniedException", "AccessDenied") and "PassRole" in message:
        return AwsError(f"you may not pass the role {request.get('RoleArn')} to SageMaker: {message}",
                        "allow iam:PassRole on that role for your identity (condition iam:PassedToService "
                        "sagemaker.amazonaws.com)")
    if code == "ValidationException":
        return AwsError(f"SageMaker refused the training job {name}: {message}",
                        "fix the field the message names (smctl local-train --dry-run --json shows the request)")
    return AwsError(f"creating the training job {name} failed: {code}: {message}",
                    "rerun with -v for details")


_DESCRIBE = {  # kind -> (operation, name parameter, status key)
    "training job": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "transform job": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
    "processing job": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
    "endpoint": ("describe_endpoint", "EndpointName", "EndpointStatus"),
}


def describe_named(sm: Any, kind: str, name: str) -> dict[str, Any] | None:
    """DescribeTrainingJob / DescribeTransformJob / DescribeProcessingJob / DescribeEndpoint of `name`; None when
    there is none."""
    from botocore.exceptions import ClientError

    operation, param, _ = _DESCRIBE[kind]
    with aws_errors(f"looking for the {kind} {name}"):
        try:
            return dict(getattr(sm, operation)(**{param: name}))
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise


def is_not_found(exc: Any) -> bool:
    """Whether a SageMaker ClientError says the thing named does not exist (AWS's words, then moto's)."""
    text = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return "not found" in text or "could not find" in text or "does not exist" in text


def find_named(sm: Any, name: str) -> tuple[str, dict[str, Any]] | None:
    """(kind, description) of the training job, transform job, processing job or endpoint called `name`, in that
    order."""
    for kind in _DESCRIBE:
        found = describe_named(sm, kind, name)
        if found is not None:
            return kind, found
    return None


def status_named(sm: Any, kind: str, name: str) -> str | None:
    found = describe_named(sm, kind, name)
    return str(found.get(_DESCRIBE[kind][2])) if found else None


_STOP = {"training job": ("stop_training_job", "TrainingJobName"),
         "transform job": ("stop_transform_job", "TransformJobName"),
         "processing job": ("stop_processing_job", "ProcessingJobName")}


def stop_job(sm: Any, kind: str, name: str) -> None:
    """StopTrainingJob / StopTransformJob / StopProcessingJob. Raises: UsageError (not running any more), AwsError."""
    from botocore.exceptions import ClientError

    operation, param = _STOP[kind]
    with aws_errors(f"stopping the {kind} {name}"):
        try:
            getattr(sm, operation)(**{param: name})
        except ClientError as exc:
            err = exc.response.get("Error", {})
            if str(err.get("Code")) == "ValidationException":  # AWS's answer for a job that is no longer running
                raise UsageError(f"SageMaker will not stop the {kind} {name}: {err.get('Message')}",
                                 f"see its state: smctl jobs, or smctl logs {name} --cloud") from exc
            if is_not_found(exc):
                raise UsageError(f"SageMaker has no {kind} named {name}",
                                 "list this project's jobs: smctl jobs (and check --region)") from exc
            raise


def offered_instance_types(shape: str) -> tuple[str, ...]:
    """The instance types botocore's model of the API lists for a shape (TrainingInstanceType...), no client needed."""
    import botocore.session

    try:
        return tuple(botocore.session.get_session().get_service_model("sagemaker").shape_for(shape).enum)
    except Exception:  # noqa: BLE001 - an older botocore without the shape: nothing more is offered
        return ()
