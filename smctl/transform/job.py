"""A batch transform job end to end: check everything, start the container (or use an endpoint), settle the
parameters, run, and report. The CLI calls plan_transform, then run_transform, then raise_for_failures."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smctl.contract.credentials import CredentialsRequest
from smctl.contract.location import Location
from smctl.errors import ContainerFailedError, SmctlError, TransformDataError, UsageError
from smctl.events import OnEvent
from smctl.transform.dataproc import DataProcessing, plan_processing
from smctl.transform.io import InputObject, Sink, Source, open_locations
from smctl.transform.params import (
    Resolved,
    RunSettings,
    UserLimits,
    batch_environment,
    parse_execution_parameters,
    resolve,
)
from smctl.transform.runner import Runner, RunStats
from smctl.transform.splitters import SPLIT_TYPES

MAX_LISTED_FAILURES = 20


@dataclass(frozen=True)
class TransformJob:
    input: Location
    output: Location
    image: str | None = None
    endpoint: str | None = None  # use this running local endpoint instead of starting the image
    model: Location | None = None
    content_type: str | None = None
    accept: str | None = None
    split_type: str = "None"
    assemble_with: str = "None"
    compression: str = "None"
    input_filter: str | None = None
    output_filter: str | None = None
    join_source: str = "None"
    limits: UserLimits = UserLimits()
    timeout: int = 600
    retries: int = 3
    environment: Mapping[str, str] = field(default_factory=dict)
    resume: bool = False
    project_root: Path = Path(".")
    instance_type: str = "ml.m5.xlarge"
    gpus: str = "auto"
    region: str | None = None
    profile: str | None = None
    job_name: str = ""
    credentials: CredentialsRequest | None = None  # for the job's own container (not an --endpoint's)


@dataclass(frozen=True)
class TransformPlan:
    job: TransformJob
    source: Source
    sink: Sink
    objects: tuple[InputObject, ...]
    processing: DataProcessing | None

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)


@dataclass(frozen=True)
class TransformResult:
    job_name: str
    container: str
    input: str
    output: str
    parameters: Resolved
    execution_parameters: Mapping[str, Any] | None
    processing: DataProcessing | None
    stats: RunStats

    def as_dict(self) -> dict[str, Any]:
        return {"job_name": self.job_name, "container": self.container, "input": self.input, "output": self.output,
                "parameters": self.parameters.as_dict(),
                "execution_parameters": dict(self.execution_parameters) if self.execution_parameters is not None
                else None,
                "data_processing": self.processing.as_dict() if self.processing else None,
                **self.stats.as_dict()}


def new_job_name() -> str:
    return f"transform-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def plan_transform(job: TransformJob) -> TransformPlan:
    """Every check that needs no container: values, filters, locations, and a non-empty input listing.

    Raises:
        UsageError: a bad value, an output inside the input, an input that is missing or empty.
        AwsError: an s3:// location cannot be listed, or the output bucket cannot be reached.
    """
    if job.split_type not in SPLIT_TYPES:
        raise UsageError(f"--split-type {job.split_type!r} is not a split type",
                         f"use one of: {', '.join(SPLIT_TYPES)}")
    if not job.image and not job.endpoint:
        raise UsageError("no image to run", "pass --image IMAGE (or set [transform] image in smctl.toml), or use "
                                            "a running endpoint: --endpoint NAME")
    processing = plan_processing(content_type=job.content_type, accept=job.accept, input_filter=job.input_filter,
                                 join_source=job.join_source, output_filter=job.output_filter,
                                 split_type=job.split_type, assemble_with=job.assemble_with)
    source, sink = open_locations(job.input, job.output, region=job.region, profile=job.profile)
    check_output(job.output, region=job.region, profile=job.profile)
    objects = tuple(source.list())
    if not objects:
        raise UsageError(f"input {job.input} holds no files",
                         "put the data to transform there, or point --input at another folder or s3:// prefix")
    return TransformPlan(job, source, sink, objects, processing)


def check_output(output: Location, *, region: str | None, profile: str | None) -> None:
    """Fail before any container starts (not after predicting everything) when the output cannot be written.

    Raises:
        AwsError: the bucket is missing, inaccessible or S3 unreachable (exit 4).
        UsageError: a local output that is a file, or inside a folder this user cannot write.
    """
    if output.is_s3:
        from smctl.aws.s3 import check_bucket

        check_bucket(output, region=region, profile=profile)
        return
    target = output.path.expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise UsageError(f"output {output} is a file, not a folder", "pass --output FOLDER or s3://bucket/prefix")
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"output {output} cannot be written: {existing} is not a folder this user can write to",
                         "pass --output with a folder you can write to, or an s3://bucket/prefix")


def run_transform(plan: TransformPlan, on_event: OnEvent, stop: threading.Event | None = None) -> TransformResult:
    """Start the container (or reach the endpoint), settle the parameters, transform every object.

    Raises:
        UsageError: the parameters in force break SageMaker's limits.
        ContainerFailedError / SmctlError: the container cannot start or never becomes healthy.
    """
    from smctl.transform import endpoint

    job = plan.job
    name = job.job_name or new_job_name()
    if job.endpoint:
        target = endpoint.running_endpoint_target(job.endpoint)
        set_here = any(v is not None for v in (job.limits.max_payload_mb, job.limits.strategy,
                                               job.limits.max_concurrent))
        on_event("warning", {"message": f"endpoint {job.endpoint} runs without SAGEMAKER_BATCH=true"
                                        + (" and the batch variables you set" if set_here else "")
                                        + ": a container that answers batch jobs differently (AWS's XGBoost image "
                                        "does) answers as for real-time requests; leave out --endpoint to run the "
                                        "job in its own container, as SageMaker does"})
        return _run(plan, target, name, on_event, stop)
    env = {**job.environment, **batch_environment(job.limits)}
    assert job.image is not None
    with endpoint.job_container(image=job.image, job_name=name, project_root=job.project_root, model=job.model,
                                environment=env, instance_type=job.instance_type, gpus=job.gpus,
                                region=job.region, credentials=job.credentials, on_event=on_event) as target:
        return _run(plan, target, name, on_event, stop)


def _run(plan: TransformPlan, target: Any, name: str, on_event: OnEvent,
         stop: threading.Event | None) -> TransformResult:
    from smctl.transform.endpoint import answers_ping, get_execution_parameters

    job = plan.job
    body = get_execution_parameters(target.host, target.port)
    found: dict[str, Any] = {}
    if body is not None:
        found, problems = parse_execution_parameters(body)
        for problem in problems:
            on_event("warning", {"message": problem})
    resolved = resolve(job.limits, found)
    settings = RunSettings(
        split_type=job.split_type, strategy=resolved.strategy.value, payload_limit=resolved.payload_limit,
        max_concurrent=resolved.max_concurrent.value, content_type=job.content_type, accept=job.accept,
        assemble_with=job.assemble_with, compression=job.compression, timeout=job.timeout, retries=job.retries,
        resume=job.resume, processing=plan.processing)
    summary = ", ".join(f"{k} {v['value']} ({v['source']})" for k, v in resolved.as_dict().items())
    on_event("parameters", {"message": summary, **resolved.as_dict()})
    runner = Runner(plan.source, plan.sink, settings, target.host, target.port, on_event, stop,
                    healthy=lambda: answers_ping(target.host, target.port), chain=target.chain)
    stats = runner.run(plan.objects)
    return TransformResult(name, target.name, plan.source.describe(), plan.sink.describe(), resolved,
                           found if body is not None else None, plan.processing, stats)


def raise_for_failures(result: TransformResult) -> None:
    """Raises: ContainerFailedError (exit 5) when requests kept failing; TransformDataError (exit 2) when only the
    data was at fault; SmctlError when only writing failed. Each lists the failed files."""
    failed = result.stats.failed
    if not failed:
        return
    listed = "\n".join(f"  - {f.key}: {f.reason}" for f in failed[:MAX_LISTED_FAILURES])
    more = f"\n  ... and {len(failed) - MAX_LISTED_FAILURES} more" if len(failed) > MAX_LISTED_FAILURES else ""
    message = (f"{len(failed)} of {result.stats.files} file(s) failed and got no .out "
               f"({len(result.stats.transformed)} transformed):\n{listed}{more}")
    kinds = {f.kind for f in failed}
    details = result.as_dict()
    if "container" in kinds:
        raise ContainerFailedError(message, "fix the container (its log lines are above), or allow more: --timeout "
                                   "SECONDS / --retries N; then rerun with --resume to do only the files left",
                                   details=details)
    if "data" in kinds:
        raise TransformDataError(message, "fix the records named above, or the options that read them "
                                 "(--content-type, --split-type, --input-filter, --max-payload); then rerun with "
                                 "--resume", details=details)
    raise SmctlError(message, f"check that {result.output} is writable and has space; then rerun with --resume",
                     details=details)

