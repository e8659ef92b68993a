"""`local-train`: run every host's container of a planned job, wait for them, sync checkpoints, rehearse Spot."""

from __future__ import annotations

import shutil
import threading
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from smctl.contract.failure import FAILURE_REASON_LIMIT, failure_reason
from smctl.engine.labels import LABEL_JOB, LABEL_KIND
from smctl.events import OnEvent
from smctl.training.artifacts import (
    TrainResult,
    collect_artifacts,
    fix_ownership,
    hand_over,
    missing_ancestors,
)
from smctl.training.hosts import JobLog, start_hosts, wait_for_hosts
from smctl.training.plan import JobPlan, with_checkpoints, without_overlays
from smctl.training.rundir import check_writable, clear_run_dir, prepare_host, rmtree

if TYPE_CHECKING:
    from smctl.credentials.endpoint import ContainerCredentials

TRAIN_STOP_GRACE = 120  # SageMaker: SIGTERM, then SIGKILL after 120 s


def run_job(plan: JobPlan, on_event: OnEvent, *, keep: bool = False, stop_after: float | None = None,
            resume: bool = False, stop_grace: float = TRAIN_STOP_GRACE) -> TrainResult:
    """Run the job (see _run_job); when the engine cannot mount overlays, again with read-only channels.

    `stop_grace` is the SIGTERM-to-SIGKILL time when `stop_after` stops the job (`smctl check` uses a short one).
    Whatever happens (Ctrl-C included), an output folder this run made and left empty goes, and what it made in
    the user's folders belongs to the invoking user (sudo's caller when run through sudo).
    """
    from smctl.credentials.endpoint import container_credentials
    from smctl.errors import OverlayUnavailableError

    created = missing_ancestors(plan.run_dir, plan.output_dir, plan.latest_dir, plan.checkpoint_dir)
    result: TrainResult | None = None
    try:
        # Started first (its start-up overlaps the run's preparation), stopped after the containers are gone.
        with container_credentials(plan.credentials, on_event) as creds:
            try:
                result = _run_job(plan, on_event, creds, keep=keep, stop_after=stop_after, resume=resume,
                                  stop_grace=stop_grace)
            except OverlayUnavailableError as exc:
                on_event("warning", {"message": f"{exc.message}; File-mode channels are read-only bind mounts "
                                                "instead (on SageMaker they are writable copies)"})
                result = _run_job(without_overlays(plan), on_event, creds, keep=keep, stop_after=stop_after,
                                  resume=True, stop_grace=stop_grace)
        return result
    finally:
        if result is None or result.model_artifact is None:
            drop_empty_folders(plan.output_dir, created)
        hand_over(plan, created)


def drop_empty_folders(folder: Path, created: list[Path]) -> None:
    """Remove `folder` and its parents up to the topmost one this run created, each only while it is empty."""
    for top in created:
        if folder != top and top not in folder.parents:
            continue
        path = folder
        while True:
            try:
                path.rmdir()
            except OSError:  # not empty (or gone): leave it and everything above it
                return
            if path == top:
                return
            path = path.parent


def _run_job(plan: JobPlan, on_event: OnEvent, creds: ContainerCredentials | None, *, keep: bool = False,
             stop_after: float | None = None, resume: bool = False,
             stop_grace: float = TRAIN_STOP_GRACE) -> TrainResult:
    """Run every host's container to completion and collect the artifacts; cleanup is always done.

    Every host starts from an empty /opt/ml, as on SageMaker: what an earlier run of the same job name left in the
    run folder is removed first (with `resume`, the run folder's checkpoints and logs stay: a Spot restart).
    stop_after stops the job like a Spot interruption (SIGTERM, SIGKILL after 120 s); its status is Stopped.

    Raises:
        SmctlError: the image is missing or the engine fails. A failed job is a TrainResult with status Failed.
    """
    from smctl.engine.containers import docker_client, ensure_image, job_network, reap_containers
    from smctl.training.pipe_feeder import PipeFeeder

    client = docker_client()
    ensure_image(client, plan.job.image)
    clear_run_dir(client, plan, on_event, resume=resume)
    check_writable(plan.output_dir, "output folder", "--output-dir")
    if plan.checkpoint_dir:
        check_writable(plan.checkpoint_dir, "checkpoint folder", "--checkpoint-dir")
    sources = {c.config.name: c.source.path for c in plan.job.channels}
    started = time.monotonic()
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    stopped = threading.Event()

    with ExitStack() as stack:
        # Last step of cleanup: sweep the job's containers by label, whatever an interrupt cut short.
        stack.callback(reap_containers, client, {LABEL_JOB: plan.job_name, LABEL_KIND: "train"})
        log = JobLog(stack.enter_context(open(plan.run_dir / "logs.txt", "a", encoding="utf-8")),
                     len(plan.hosts) > 1, on_event)

        for host in plan.hosts:
            prepare_host(plan, host, sources)
        stack.callback(fix_ownership, client, plan.job.image, plan.run_dir, plan.checkpoint_dir)
        if plan.checkpoint_dir:
            syncer = CheckpointSync(plan)
            stack.callback(syncer.stop)
            syncer.start()
        if plan.network:
            stack.enter_context(job_network(client, plan.network, {LABEL_JOB: plan.job_name}))
        for host in plan.hosts:
            for ch, order in host.pipe_order.items():
                opts = host.pipe_options[ch]
                feeder = PipeFeeder(host.root / "input" / "data", ch, order(0), record_wrapper=opts.record_wrapper,
                                    compression=opts.compression, order=order).start()
                stack.callback(feeder.stop)
        containers, pumps = start_hosts(client, stack, plan.hosts, creds, log)
        results = wait_for_hosts(stack, containers, pumps, stopped, on_event, stop_after=stop_after,
                                 stop_grace=stop_grace)
    failed = [r for r in results if r.exit_code != 0]
    model_artifact = output_artifact = None
    reason = None
    if stopped.is_set():
        status = "Stopped"
    elif failed:
        status = "Failed"
        first = failed[0]
        reason = failure_reason(first.failure, first.exit_code)
        if first.oom_killed:
            reason = (f"OutOfMemoryError: {first.host} used more than the {plan.instance.memory_gib:g} GiB memory "
                      f"of {plan.instance.name} and was killed (exit code {first.exit_code}). "
                      + (first.failure or ""))[: FAILURE_REASON_LIMIT]
    else:
        status = "Completed"
        model_artifact, output_artifact = collect_artifacts(plan, on_event)
        if not keep:
            for host in plan.hosts:
                for sub in ("model", "output/data", "shards", "single", "overlay"):
                    rmtree(host.root / sub, ignore_errors=True)
    return TrainResult(
        job_name=plan.job_name, status=status, failure_reason=reason, seconds=time.monotonic() - started,
        run_dir=plan.run_dir, model_artifact=model_artifact, output_artifact=output_artifact,
        hosts=results, log_tail=list(log.tail), latest_dir=plan.latest_dir,
    )


def run_with_interruption(plan: JobPlan, on_event: OnEvent, *, after: float, keep: bool = False) -> TrainResult:
    """Spot rehearsal: stop the job after `after` seconds, then run it again with the checkpoints restored."""
    if plan.checkpoint_dir is None:
        plan = replace(plan, checkpoint_dir=plan.run_dir / "checkpoints")
        plan = with_checkpoints(plan)
    first = run_job(plan, on_event, keep=True, stop_after=after)
    if first.status != "Stopped":
        return first
    on_event("resumed", {"message": f"interrupted after {after:g} s; resuming from {plan.checkpoint_dir}"})
    return run_job(plan, on_event, keep=keep, resume=True)


class CheckpointSync:
    """Copies every host's /opt/ml/checkpoints back to the checkpoint folder while the job runs and at the end."""

    def __init__(self, plan: JobPlan, interval: float = 5.0) -> None:
        self.plan = plan
        self.interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="smctl-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            self.sync()

    def sync(self) -> None:
        dest = self.plan.checkpoint_dir
        assert dest is not None
        dest.mkdir(parents=True, exist_ok=True)
        for host in self.plan.hosts:
            src = host.root / "checkpoints"
            if src.is_dir():
                shutil.copytree(src, dest, dirs_exist_ok=True)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=30)
        self.sync()
