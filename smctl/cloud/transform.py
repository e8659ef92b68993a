"""`smctl transform`: the job local-transform runs, as a SageMaker batch transform: model, input uploaded (once per
content), CreateTransformJob, followed to the end; a local --output folder gets the results downloaded."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.cloud.endpoint_request import CloudEndpoint, model_request
from smctl.cloud.transform_request import transform_job_request
from smctl.errors import ContainerFailedError
from smctl.events import ByteProgress, OnEvent
from smctl.transform.job import TransformJob

POLL_SECONDS = 10.0
TERMINAL = ("Completed", "Failed", "Stopped")
LOG_GROUP = "/aws/sagemaker/TransformJobs"


@dataclass(frozen=True)
class CloudTransform:
    job: TransformJob
    role_arn: str
    region: str
    profile: str | None = None
    bucket: str | None = None
    instance_count: int = 1
    image_pushed: bool = False  # --push has just put the image there: not looked up


def locations(ct: CloudTransform, bucket: str, on_event: OnEvent,
              progress: ByteProgress | None = None) -> tuple[str, str, Path | None]:
    """(input S3 URI, output S3 URI, local folder the results go to or None): local input uploaded once."""
    from smctl.cloud.uploads import upload_once

    job = ct.job
    if job.input.is_s3:
        input_uri = job.input.uri
    else:
        input_uri = upload_once(job.input.path, f"s3://{bucket}/smctl/transform-input", "input", region=ct.region,
                                profile=ct.profile, on_event=on_event, progress=progress)
    if job.output is not None and job.output.is_s3:
        return input_uri, job.output.uri, None
    local = job.output.path if job.output is not None else job.project_root / ".smctl" / "transform" / job.job_name
    return input_uri, f"s3://{bucket}/smctl/transform-output/{job.job_name}/", local


def submit(ct: CloudTransform, on_event: OnEvent,
           progress: ByteProgress | None = None) -> tuple[Any, dict[str, Any], Path | None]:
    """Model (image + model data) and CreateTransformJob; (client, request, local results folder)."""
    from smctl.aws import sagemaker
    from smctl.aws import sagemaker_hosting as hosting
    from smctl.aws.s3_sync import account_id, default_bucket
    from smctl.cloud.deploy import upload_model
    from smctl.cloud.preflight import check_job, check_regions, check_role_account

    job = ct.job
    assert job.image is not None
    check_role_account(ct.role_arn, account_id(ct.region, ct.profile))
    check_job("transform", image=job.image, role_arn=ct.role_arn, instance_type=job.instance_type, region=ct.region,
              profile=ct.profile, on_event=on_event, command="transform", image_pushed=ct.image_pushed)
    check_regions([loc.uri for loc in (job.input, job.output, job.model) if loc is not None and loc.is_s3]
                  + ([f"s3://{ct.bucket}/"] if ct.bucket else []), ct.region, profile=ct.profile)
    bucket = ct.bucket or default_bucket(ct.region, ct.profile)
    input_uri, output_uri, local = locations(ct, bucket, on_event, progress)
    ep = upload_model(CloudEndpoint(name=job.job_name, image=job.image, role_arn=ct.role_arn), job.model, bucket,
                      region=ct.region, profile=ct.profile, on_event=on_event, progress=progress)
    sm = sagemaker.client(ct.region, ct.profile)
    model_name = f"{job.job_name[:56]}-model"
    hosting.create(sm, "create_model", model_request(ep, model_name), f"the model {model_name}")
    request = transform_job_request(job, model_name=model_name, input_uri=input_uri, output_uri=output_uri,
                                    instance_count=ct.instance_count)
    try:
        hosting.create(sm, "create_transform_job", request, f"the transform job {job.job_name}")
    except BaseException:
        hosting.delete_quietly(sm, "delete_model", ModelName=model_name)
        raise
    on_event("created", {"message": f"transform job {job.job_name} created (model {model_name}): {input_uri} -> "
                                    f"{output_uri}"})
    return sm, request, local


def follow(sm: Any, name: str, on_event: OnEvent, *, region: str, profile: str | None = None,
           poll: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Status changes and the job's logs until it ends; the last DescribeTransformJob answer."""
    from smctl.aws.logs import LogFollower
    from smctl.aws.session import aws_errors, client

    logs = LogFollower(client("logs", region, profile), LOG_GROUP, name)
    last = None
    while True:
        with aws_errors(f"describing the transform job {name}"):
            d = sm.describe_transform_job(TransformJobName=name)
        if d["TransformJobStatus"] != last:
            last = d["TransformJobStatus"]
            on_event("status", {"message": f"{name}: {last}", "status": last})
        for event in logs.poll():
            on_event("log", {"host": event.host, "line": f"{event.host} | {event.message}"})
        if last in TERMINAL:
            return dict(d)
        sleep(poll)


def raise_for_status(d: dict[str, Any]) -> None:
    if d.get("TransformJobStatus") == "Completed":
        return
    name = d.get("TransformJobName", "?")
    raise ContainerFailedError(
        f"transform job {name} {str(d.get('TransformJobStatus', '')).lower()}: "
        f"{d.get('FailureReason') or '(no reason given)'}",
        f"reproduce it here first: smctl local-transform with the same options; its logs: aws logs tail {LOG_GROUP} "
        f"--log-stream-name-prefix {name}")
