"""`local-process`: prepare a processing job's inputs, run every host's container, deliver its outputs."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.contract import processing as contract
from smctl.contract.failure import failure_reason
from smctl.engine.labels import LABEL_JOB, LABEL_KIND
from smctl.errors import ContainerFailedError, SmctlError, UsageError
from smctl.events import OnEvent
from smctl.processing.outputs import ContinuousUploads, Delivery, check_destinations
from smctl.processing.plan import KIND, ProcessingHost, ProcessingJob, ProcessingPlan, plan_processing
from smctl.training.artifacts import HostResult, fix_ownership, missing_ancestors
from smctl.training.hosts import JobLog, start_hosts, wait_for_hosts
from smctl.training.inputs import local_path_of, resolve_source
from smctl.training.plan import read_only_mounts
from smctl.training.run import TRAIN_STOP_GRACE, drop_empty_folders
from smctl.training.rundir import rmtree, stage_input

if TYPE_CHECKING:
    from smctl.credentials.endpoint import ContainerCredentials


# Why Pipe inputs are refused rather than emulated: training documents its FIFOs (/opt/ml/input/data/<channel>_<epoch>),
# Processing only says "streams input data ... into named pipes" (API ProcessingS3Input), not where they appear.
PIPE_UNDOCUMENTED = ("SageMaker documents that a Processing input in Pipe mode is streamed into named pipes, but not "
                     "where they appear in the container or how they are named, so a local run could not match it")


@dataclass(frozen=True)
class ProcessingResult:
    job_name: str
    status: str  # Completed | Failed | Stopped
    failure_reason: str | None
    exit_message: str | None
    seconds: float
    run_dir: Path
    hosts: list[HostResult]
    log_tail: list[str]
    outputs: dict[str, str]  # name -> destination
    delivered: dict[str, int]  # name -> files delivered

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name, "status": self.status, "failure_reason": self.failure_reason,
            "exit_message": self.exit_message, "seconds": round(self.seconds, 3), "run_dir": str(self.run_dir),
            "outputs": {name: {"destination": dest, "files": self.delivered.get(name, 0)}
                        for name, dest in self.outputs.items()},
            "hosts": [h.__dict__ for h in self.hosts],
        }


def prepare_processing(job: ProcessingJob, on_event: OnEvent, progress: Any = None) -> ProcessingPlan:
    """The plan to run: the job checked, output destinations checked, inputs found (s3:// mirrored).

    Raises:
        UsageError: a bad job, an input that is missing or empty, an unwritable output folder.
        AwsError: an output bucket is missing; an s3:// input cannot be downloaded.
    """
    plan = plan_processing(job)  # every rule is checked before anything touches S3, the engine or the disk
    for i in plan.job.inputs:
        if i.config.input_mode == "Pipe":
            raise UsageError(
                f"input {i.config.name!r}: mode=Pipe is not run by local-process: {PIPE_UNDOCUMENTED}",
                f"run it locally in File mode, the default (drop mode=Pipe and compression=Gzip): --input "
                f"{i.config.name}=PATH; gzipped data is then read as files (open them with gzip in the script)")
    check_destinations(plan.job.outputs, job.region)
    for i in plan.job.inputs:  # s3:// mirrored into the cache, where the plan mounts it from (S3Uri stays s3://)
        resolve_source(i.source, i.config.name, job.project_root, on_event, region=job.region, progress=progress,
                       kind="input", flag="--input")
    # planned again: single-file mounts depend on the sources found
    return plan_processing(replace(plan.job, job_name=plan.job_name))


def run_processing(plan: ProcessingPlan, on_event: OnEvent, *,
                   stop_grace: float = TRAIN_STOP_GRACE) -> ProcessingResult:
    """Run the job; whatever happens (Ctrl-C included), output folders this run made and left empty go.

    Raises:
        SmctlError: the image is missing or the engine fails. A failed job is a result with status Failed.
    """
    from smctl.credentials.endpoint import container_credentials
    from smctl.errors import OverlayUnavailableError

    local = [o.destination.path for o in plan.job.outputs if not o.destination.is_s3]
    created = missing_ancestors(*local)
    result: ProcessingResult | None = None
    try:
        with container_credentials(plan.credentials, on_event) as creds:
            try:
                result = _run(plan, on_event, creds, stop_grace)
            except OverlayUnavailableError as exc:
                on_event("warning", {"message": f"{exc.message}; inputs are read-only bind mounts instead (on "
                                                "SageMaker they are writable copies)"})
                hosts = [replace(h, container=read_only_mounts(h.container)) for h in plan.hosts]
                result = _run(replace(plan, hosts=hosts), on_event, creds, stop_grace)
        return result
    finally:
        for folder in local:
            drop_empty_folders(folder, created)


def _run(plan: ProcessingPlan, on_event: OnEvent, creds: ContainerCredentials | None,
         stop_grace: float) -> ProcessingResult:
    from smctl.engine.containers import docker_client, ensure_image, job_network, reap_containers

    client = docker_client()
    ensure_image(client, plan.job.image)
    _clear_run_dir(client, plan)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stopped = threading.Event()
    delivery = Delivery(plan, on_event)
    continuous = [o for o in plan.job.outputs if o.config.upload_mode == "Continuous"]
    with ExitStack() as stack:
        stack.callback(reap_containers, client, {LABEL_JOB: plan.job_name, LABEL_KIND: KIND})
        log = JobLog(stack.enter_context(open(plan.run_dir / "logs.txt", "a", encoding="utf-8")),
                     len(plan.hosts) > 1, on_event)
        for index, host in enumerate(plan.hosts):
            _prepare_host(plan, host, index)
        stack.callback(fix_ownership, client, plan.job.image, plan.run_dir)
        if plan.network:
            stack.enter_context(job_network(client, plan.network, {LABEL_JOB: plan.job_name}))
        uploads = ContinuousUploads(delivery, continuous).start()
        stack.callback(uploads.stop)
        containers, pumps = start_hosts(client, stack, plan.hosts, creds, log)
        results = wait_for_hosts(stack, containers, pumps, stopped, on_event, stop_after=plan.job.max_runtime,
                                 stop_grace=stop_grace)
    message, client_error = contract.exit_message(
        [p.read_bytes() for h in plan.hosts if (p := h.root / "output" / "message").is_file()])
    failed = [r for r in results if r.exit_code != 0]
    reason = None
    if stopped.is_set():
        status, reason = "Stopped", (f"MaxRuntimeExceeded: the job ran longer than MaxRuntimeInSeconds "
                                     f"({plan.job.max_runtime} s) and was stopped")
    elif failed:
        status, reason = "Failed", failure_reason(failed[0].failure, failed[0].exit_code)
    elif client_error:
        status, reason = "Failed", client_error
    else:
        status = "Completed"
    if status == "Completed":
        delivery.sync(plan.job.outputs)
    elif continuous:
        delivery.sync(continuous)  # what Continuous outputs hold was being uploaded all along
    if uploads.error is not None:
        raise uploads.error
    return ProcessingResult(
        job_name=plan.job_name, status=status, failure_reason=reason, exit_message=message,
        seconds=time.monotonic() - started, run_dir=plan.run_dir, hosts=results, log_tail=list(log.tail),
        outputs={o.config.name: str(o.destination) for o in plan.job.outputs}, delivered=dict(delivery.delivered))


def _prepare_host(plan: ProcessingPlan, host: ProcessingHost, index: int) -> None:
    """Write the host's folders: config files, output/ for the message, each output's folder, staged inputs."""
    (host.root / "config").mkdir(parents=True, exist_ok=True)
    (host.root / "output").mkdir(exist_ok=True)
    for name, text in host.config_files.items():
        (host.root / "config" / name).write_text(text)
    for o in plan.job.outputs:
        (host.root / "outputs" / o.config.name).mkdir(parents=True, exist_ok=True)
    count = len(plan.hosts)
    for i in plan.job.inputs:
        sharded = i.config.distribution == "ShardedByS3Key" and count > 1
        stage_input(host.root, i.config.name, local_path_of(i.source, plan.job.project_root), host.container.mounts,
                    (index, count, None) if sharded else None)


def _clear_run_dir(client: Any, plan: ProcessingPlan) -> None:
    """Raises: UsageError when a job of that name runs now; SmctlError when its old folder cannot be removed."""
    from smctl.engine.containers import list_containers

    if not plan.run_dir.exists():
        return
    if list_containers(client, [f"{LABEL_JOB}={plan.job_name}", f"{LABEL_KIND}={KIND}"], all_=False):
        raise UsageError(f"a processing job named {plan.job_name} is running already",
                         "wait for it to end, or give this run another name: --job-name NAME")
    try:
        rmtree(plan.run_dir)
    except OSError as exc:
        raise SmctlError(f"cannot remove {plan.run_dir} left by an earlier run of job {plan.job_name}: "
                         f"{exc.strerror or exc}", f"remove it (sudo rm -rf {plan.run_dir}) or pick another name: "
                         "--job-name NAME") from None


def raise_for_failure(result: ProcessingResult) -> None:
    """Raises: ContainerFailedError (exit 5) with the FailureReason and the ExitMessage."""
    if result.status == "Completed":
        return
    text = f"processing job {result.job_name} {result.status.lower()}: {result.failure_reason}"
    if result.exit_message:
        text += f"; ExitMessage: {result.exit_message.strip()}"
    raise ContainerFailedError(text, f"see the logs in {result.run_dir / 'logs.txt'} (streamed above)",
                               details=result.as_dict())
