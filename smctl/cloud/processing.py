"""`smctl process`: the plan local-process runs, as a SageMaker processing job: upload, create, follow, download.

Local inputs (and the --code script) go to S3 once per content, as train's channels do; a local output folder gets
an S3 prefix under the job, whose files are downloaded into the folder when the job completes (each through a
temporary file, as local-process delivers them), so what comes next does not care where the job ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from smctl.aws.sagemaker_processing import ProcessingJobState
from smctl.cloud.processing_request import ROLE_PLACEHOLDER, CloudProcessing, processing_job_request
from smctl.errors import ContainerFailedError, UsageError
from smctl.events import ByteProgress, OnEvent
from smctl.processing.plan import ProcessingPlan

POLL_SECONDS = 5.0
TAIL = 20
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


@dataclass(frozen=True)
class CloudProcessJob:
    plan: ProcessingPlan
    cloud: CloudProcessing
    region: str
    profile: str | None = None
    bucket: str | None = None  # for uploads and local outputs' staging (default: sagemaker-REGION-ACCOUNT)
    image_pushed: bool = False  # --push has just put the image there: not looked up


@dataclass
class CloudProcessResult:
    job_name: str
    status: str
    failure_reason: str | None
    exit_message: str | None
    seconds: float
    outputs: dict[str, str]  # name -> where its files are now (a local folder, or the job's S3 prefix)
    downloaded: dict[str, int] = field(default_factory=dict)  # name -> files downloaded into the local folder
    log_tail: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"job_name": self.job_name, "status": self.status, "failure_reason": self.failure_reason,
                "exit_message": self.exit_message, "seconds": round(self.seconds, 3),
                "outputs": {n: {"destination": d, "files": self.downloaded.get(n)} for n, d in self.outputs.items()}}


def staging_uri(bucket: str, job_name: str, output: str) -> str:
    """Where a local output's files wait in S3 to be downloaded."""
    return f"s3://{bucket}/smctl/processing-output/{job_name}/{output}/"


def prepare_request(job: CloudProcessJob, on_event: OnEvent, progress: ByteProgress | None = None) -> dict[str, Any]:
    """Every check SageMaker would otherwise make after provisioning, then the uploads; the request.

    Raises: UsageError (no role, an empty s3:// input, an unwritable output folder, a check of cloud.preflight),
    AwsError (bucket, upload).
    """
    from smctl.aws.s3_sync import account_id, ensure_bucket
    from smctl.cloud.preflight import check_job, check_regions, check_role_account
    from smctl.cloud.uploads import upload_once
    from smctl.processing.outputs import check_destinations
    from smctl.training.inputs import local_path_of

    plan = job.plan
    if job.cloud.role_arn == ROLE_PLACEHOLDER:
        raise UsageError("a SageMaker processing job needs an execution role",
                         "pass --role arn:aws:iam::ACCOUNT:role/NAME, or set [aws] role in smctl.toml")
    account = account_id(job.region, job.profile)
    check_role_account(job.cloud.role_arn, account)
    given = [i.source.uri for i in plan.job.inputs if i.source.is_s3]
    given += [o.destination.uri for o in plan.job.outputs if o.destination.is_s3]
    check_regions(given, job.region, profile=job.profile)  # before anything is uploaded
    check_job("processing", image=plan.job.image, role_arn=job.cloud.role_arn, instance_type=None,  # in the plan
              image_pushed=job.image_pushed, region=job.region, profile=job.profile, on_event=on_event,
              command="process")
    _check_inputs(job)
    check_destinations(plan.job.outputs, job.region)  # local folders writable, s3:// buckets there
    bucket = job.bucket or f"sagemaker-{job.region}-{account}"
    if job.bucket:
        check_regions([f"s3://{bucket}/"], job.region, profile=job.profile)
    else:
        ensure_bucket(bucket, job.region, job.profile)
    inputs = dict(job.cloud.input_uris)
    for i in plan.job.inputs:
        if not i.source.is_s3 and i.config.name not in inputs:
            inputs[i.config.name] = upload_once(
                local_path_of(i.source, plan.job.project_root), f"s3://{bucket}/smctl/processing-input",
                i.config.name, region=job.region, profile=job.profile, on_event=on_event, progress=progress)
    outputs = dict(job.cloud.output_uris)
    for o in plan.job.outputs:
        if not o.destination.is_s3:
            outputs.setdefault(o.config.name, staging_uri(bucket, plan.job_name, o.config.name))
    return processing_job_request(plan, replace(job.cloud, input_uris=inputs, output_uris=outputs))


def _check_inputs(job: CloudProcessJob) -> None:
    """Raises: UsageError for an s3:// input with nothing under it (SageMaker fails the job with a ClientError
    once the instances are up); VolumeTooSmallError when File-mode inputs outgrow the ML storage volume they are
    downloaded to."""
    from smctl.aws.s3_sync import exists as object_exists
    from smctl.aws.s3_sync import prefix_size
    from smctl.cloud.preflight import GIB, NVME_FAMILIES, VolumeTooSmallError
    from smctl.cloud.uploads import content_files
    from smctl.training.inputs import local_path_of

    total = 0
    for i in job.plan.job.inputs:
        if not i.source.is_s3:
            size = sum(p.stat().st_size for p, _ in content_files(local_path_of(i.source, job.plan.job.project_root)))
        else:
            uri = i.source.uri
            found = prefix_size(uri, job.region, job.profile)  # None: too many objects to list, or no answer
            size = found or 0
            if found == 0 and not object_exists(uri, job.region, job.profile):
                raise UsageError(f"input {i.config.name!r}: nothing is stored under {uri}, and SageMaker fails a "
                                 "processing job whose input has no objects", f"check the URI (aws s3 ls {uri}), or "
                                 f"give a local folder: --input {i.config.name}=PATH")
        total += size if i.config.input_mode == "File" else 0
    volume = job.cloud.volume_size_gb
    if total > volume * GIB and not NVME_FAMILIES.match(job.plan.instance.name):
        need = -(-total * 12 // (10 * GIB)) + 1
        raise VolumeTooSmallError(
            f"the File-mode inputs hold {total / GIB:.1f} GiB, more than the {volume} GB ML storage volume they are "
            "copied to", f"give the job room: --volume-size {need}; or stream an input: --input NAME=PATH,mode=Pipe")


def start(job: CloudProcessJob, request: dict[str, Any], on_event: OnEvent) -> Any:
    """CreateProcessingJob; the SageMaker client, for follow(). Raises: ProcessingJobExistsError, AwsError."""
    from smctl.aws import sagemaker
    from smctl.aws.sagemaker_processing import create_processing_job

    sm = sagemaker.client(job.region, job.profile)
    arn = create_processing_job(sm, request)
    on_event("created", {"message": f"processing job {request['ProcessingJobName']} created ({arn})", "arn": arn})
    return sm


def follow(sm: Any, name: str, on_event: OnEvent, *, region: str, profile: str | None = None,
           hosts: int | None = None, poll: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep
           ) -> tuple[ProcessingJobState, list[str]]:
    """Report status changes and stream every host's log until the job ends; (final state, last log lines).
    `hosts`: the request's InstanceCount (else DescribeProcessingJob's): lines are host-prefixed when several."""
    from smctl.aws.logs import LogFollower
    from smctl.aws.sagemaker_processing import describe_processing_job
    from smctl.aws.session import client

    logs = LogFollower(client("logs", region, profile), LOG_GROUP, name)
    tail: list[str] = []
    status = None
    while True:
        state = describe_processing_job(sm, name)  # asked before reading: lines written before the end are kept
        if state.status != status:
            status = state.status
            on_event("status", {"message": f"{name}: {status}", "status": status})
        for event in logs.poll():
            line = f"{event.host} | {event.message}" if (hosts or state.instance_count) > 1 else event.message
            tail = [*tail[-(TAIL - 1):], line]
            on_event("log", {"host": event.host, "line": line})
        if state.done:
            return state, tail
        sleep(poll)


def download_outputs(job: CloudProcessJob, state: ProcessingJobState, request: dict[str, Any],
                     on_event: OnEvent) -> dict[str, int]:
    """The local outputs' files from their S3 prefixes: every one when the job completed; the Continuous ones
    (uploaded as they appeared) when it did not, as local-process delivers them. Files downloaded, by output."""
    from smctl.aws.s3_sync import download_tree

    uris = {o["OutputName"]: o["S3Output"] for o in (request.get("ProcessingOutputConfig") or {}).get("Outputs", [])}
    got: dict[str, int] = {}
    for o in job.plan.job.outputs:
        if o.destination.is_s3 or (state.status != "Completed" and o.config.upload_mode != "Continuous"):
            continue
        uri = uris[o.config.name]["S3Uri"]
        files = download_tree(uri, o.destination.path, job.region, job.profile)
        got[o.config.name] = len(files)
        on_event("download", {"message": f"output {o.config.name}: {len(files)} file(s) from {uri} into "
                                         f"{o.destination.path}", "output": o.config.name, "files": len(files)})
    return got


def result_of(job: CloudProcessJob, state: ProcessingJobState, tail: list[str], started: float,
              downloaded: dict[str, int]) -> CloudProcessResult:
    outputs = {o.config.name: str(o.destination) for o in job.plan.job.outputs}
    return CloudProcessResult(state.name, state.status, state.failure_reason, state.exit_message,
                              time.monotonic() - started, outputs, downloaded, tail)


def raise_for_status(result: CloudProcessResult) -> None:
    """Raises: ContainerFailedError (exit 5) for a Failed or Stopped job: FailureReason, ExitMessage, last lines."""
    if result.status == "Completed":
        return
    stopped = result.status == "Stopped"
    reason = result.failure_reason or ("stopped by a StopProcessingJob (smctl stop, the console) or at its "
                                       "--max-runtime" if stopped else "(no reason given)")
    text = f"processing job {result.job_name} {result.status.lower()}: {reason}"
    if result.exit_message:
        text += f"; ExitMessage: {result.exit_message.strip()}"
    last = "\n".join(result.log_tail[-5:])
    raise ContainerFailedError(
        text + (f"\nlast log lines:\n{last}" if last else ""),
        f"read the whole log: smctl logs {result.job_name} --cloud; "
        + ("if it hit the limit, give it longer: --max-runtime SECONDS" if stopped else
           "reproduce it here first: smctl local-process with the same options"), details=result.as_dict())

