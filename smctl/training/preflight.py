"""Before a run: the job checked, its channels found (s3:// ones mirrored) and planned for this engine."""

from __future__ import annotations

from typing import Any

from smctl.events import OnEvent
from smctl.training.inputs import resolve_channels
from smctl.training.plan import JobPlan, TrainingJob, plan_job


def prepare(job: TrainingJob, on_event: OnEvent, progress: Any = None) -> JobPlan:
    """The plan to run: `job` checked, its channels resolved (s3:// downloaded, reported as "download" events).

    `progress` is an events.ByteProgress for the downloads.

    Raises:
        UsageError: a bad job, or a channel that is missing or holds no files.
        SmctlError: an s3:// channel cannot be downloaded.
    """
    plan_job(job)  # every input is checked before anything touches S3, the engine or the disk
    job = resolve_channels(job, on_event, progress)
    # planned again: Pipe file lists and single-file mounts depend on the resolved sources
    return plan_job(job)
