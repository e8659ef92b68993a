"""`smctl train`: the plan local-train runs, as a SageMaker training job: upload, create, follow, fetch the results.

The job's artifacts land in the run's output folder exactly as a local run lays them out (model.tar.gz and
output.tar.gz), so what comes next (package, local-serve, deploy) does not care where training happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from smctl.aws.sagemaker import TrainingJobState
from smctl.cloud.training_request import CloudTraining, training_job_request
from smctl.errors import ContainerFailedError, UsageError
from smctl.events import ByteProgress, OnEvent
from smctl.training.plan import JobPlan

POLL_SECONDS = 5.0
TAIL = 20


@dataclass(frozen=True)
class CloudTrainJob:
    plan: JobPlan
    cloud: CloudTraining
    region: str
    profile: str | None = None
    bucket: str | None = None  # for uploads and the default output path (default: sagemaker-REGION-ACCOUNT)
    image_pushed: bool = False  # --push has just put the image there (perhaps through a mirror): not looked up


@dataclass
class CloudTrainResult:
    job_name: str
    status: str
    failure_reason: str | None
    seconds: float
    model_artifact: Path | None = None
    output_artifact: Path | None = None
    billable_seconds: int | None = None
    log_tail: list[str] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"job_name": self.job_name, "status": self.status, "failure_reason": self.failure_reason,
                "seconds": round(self.seconds, 3), "billable_seconds": self.billable_seconds,
                "model_artifact": str(self.model_artifact) if self.model_artifact else None,
                "output_artifact": str(self.output_artifact) if self.output_artifact else None}


def prepare_request(job: CloudTrainJob, on_event: OnEvent,
                    progress: ByteProgress | None = None) -> dict[str, Any]:
    """Upload the local channels (once per content), pick the output and checkpoint paths; the request.

    Raises: UsageError (no role), AwsError (bucket, upload).
    """
    from smctl.aws.s3_sync import account_id, ensure_bucket
    from smctl.cloud.preflight import check_job, check_regions, check_role_account, check_volume
    from smctl.cloud.uploads import upload_once
    from smctl.training.inputs import local_source

    if job.cloud.role_arn.startswith("<"):
        raise UsageError("a SageMaker training job needs an execution role",
                         "pass --role arn:aws:iam::ACCOUNT:role/NAME, or set [aws] role in smctl.toml")
    account = account_id(job.region, job.profile)
    check_role_account(job.cloud.role_arn, account)
    given = [c.source.uri for c in job.plan.job.channels if c.source.is_s3]
    given += [u for u in (job.cloud.output_path, job.cloud.checkpoint_uri) if u and u.startswith("s3://")]
    check_regions(given, job.region, profile=job.profile)  # before anything is uploaded
    check_job("training", image=job.plan.job.image, role_arn=job.cloud.role_arn,  # the type: in the plan
              instance_type=None, image_pushed=job.image_pushed, region=job.region, profile=job.profile,
              on_event=on_event, command="train")
    check_volume(_file_mode_bytes(job), job.cloud.volume_size_gb, job.plan.job.instance_type)
    bucket = job.bucket or f"sagemaker-{job.region}-{account}"
    if job.bucket:
        check_regions([f"s3://{bucket}/"], job.region, profile=job.profile)
    else:
        ensure_bucket(bucket, job.region, job.profile)
    base = f"s3://{bucket}/smctl/channels"
    uris = dict(job.cloud.channel_uris)
    for ch in job.plan.job.channels:
        if not ch.source.is_s3 and ch.config.name not in uris:
            uris[ch.config.name] = upload_once(local_source(ch, job.plan.job.project_root), base, ch.config.name,
                                               region=job.region, profile=job.profile, on_event=on_event,
                                               progress=progress)
    cloud = replace(job.cloud, channel_uris=uris)
    if cloud.output_path.startswith("<"):
        cloud = replace(cloud, output_path=f"s3://{bucket}/")
    if job.plan.checkpoint_dir is not None and not cloud.checkpoint_uri:
        cloud = replace(cloud, checkpoint_uri=f"s3://{bucket}/smctl/checkpoints/{job.plan.job_name}/")
    return training_job_request(job.plan, cloud)


def _file_mode_bytes(job: CloudTrainJob) -> int:
    """What File-mode channels copy onto the training volume (an S3 prefix too large to list counts as 0)."""
    from smctl.aws.s3_sync import prefix_size
    from smctl.cloud.uploads import content_files
    from smctl.training.inputs import local_source

    total = 0
    for ch in job.plan.job.channels:
        if ch.config.input_mode != "File":
            continue
        if ch.source.is_s3:
            total += prefix_size(ch.source.uri, job.region, job.profile) or 0
        else:
            total += sum(p.stat().st_size for p, _ in content_files(local_source(ch, job.plan.job.project_root)))
    return total


def start(job: CloudTrainJob, request: dict[str, Any], on_event: OnEvent) -> Any:
    """CreateTrainingJob; the SageMaker client, for follow(). Raises: TrainingJobExistsError, AwsError."""
    from smctl.aws import sagemaker

    sm = sagemaker.client(job.region, job.profile)
    arn = sagemaker.create_training_job(sm, request)
    on_event("created", {"message": f"training job {request['TrainingJobName']} created ({arn})", "arn": arn})
    return sm


def follow(sm: Any, name: str, on_event: OnEvent, *, region: str, profile: str | None = None,
           poll: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep) -> tuple[TrainingJobState, list]:
    """Report status changes and stream every host's log until the job ends; (final state, last log lines)."""
    from smctl.aws import sagemaker
    from smctl.aws.logs import TRAINING_GROUP, LogFollower
    from smctl.aws.session import client

    logs = LogFollower(client("logs", region, profile), TRAINING_GROUP, name)
    tail: list[str] = []
    status: tuple[str, str | None] | None = None
    shown = 0
    while True:
        state = sagemaker.describe_training_job(sm, name)
        for s, message in state.transitions[shown:]:
            on_event("status", {"message": f"{name}: {s}" + (f": {message}" if message else ""), "status": s})
        shown = max(shown, len(state.transitions))
        if (state.status, state.secondary_status) != status and not state.transitions:
            on_event("status", {"message": f"{name}: {state.status} ({state.secondary_status})",
                                "status": state.status})
        status = (state.status, state.secondary_status)
        multi = state.instance_count > 1
        for event in logs.poll():
            line = f"{event.host} | {event.message}" if multi else event.message
            tail = [*tail[-(TAIL - 1):], line]
            on_event("log", {"host": event.host, "line": line})
        if state.done:
            return state, tail
        sleep(poll)


def fetch_artifacts(state: TrainingJobState, dest: Path, *, region: str, profile: str | None = None,
                    latest_dir: Path | None = None, on_event: OnEvent | None = None) -> tuple[Path | None, Path | None]:
    """model.tar.gz and output.tar.gz of a finished job into `dest`, as local-train lays them out (`latest_dir`: the
    links that name the latest job's, as a local run leaves them)."""
    from smctl.aws import s3_sync
    from smctl.training.artifacts import link_latest

    got: list[Path | None] = []
    output_uri = f"{(state.output_path or '').rstrip('/')}/{state.name}/output/output.tar.gz"
    for uri, name in ((state.model_artifact, "model.tar.gz"), (output_uri if state.output_path else None,
                                                               "output.tar.gz")):
        if uri and s3_sync.exists(uri, region, profile):
            got.append(s3_sync.download(uri, dest / name, region, profile))
        else:
            got.append(None)
    if latest_dir is not None:
        for path in got:
            if path is not None:
                link_latest(latest_dir / path.name, path, on_event or (lambda kind, data: None))
    return got[0], got[1]


def result_of(state: TrainingJobState, tail: list[str], started: float, artifacts: tuple[Path | None, Path | None],
              request: dict[str, Any]) -> CloudTrainResult:
    return CloudTrainResult(state.name, state.status, state.failure_reason, time.monotonic() - started,
                            artifacts[0], artifacts[1], state.billable_seconds, tail, request)


def raise_for_status(result: CloudTrainResult) -> None:
    """Raises: ContainerFailedError (exit 5) for a Failed or Stopped job, with the FailureReason and last lines."""
    if result.status == "Completed":
        return
    last = "\n".join(result.log_tail[-5:])
    stopped = result.status == "Stopped"
    reason = result.failure_reason or ("stopped by a StopTrainingJob (smctl stop, the console) or at its "
                                       "--max-runtime / --max-wait" if stopped else "(no reason given)")
    raise ContainerFailedError(
        f"training job {result.job_name} {result.status.lower()}: {reason}"
        + (f"\nlast log lines:\n{last}" if last else ""),
        f"read the whole log: smctl logs {result.job_name} --cloud; "
        + ("if it hit the limit, give it longer: --max-runtime SECONDS (Spot: --max-wait)" if stopped else
           "reproduce it here first: smctl local-train with the same options"), details=result.as_dict())
