"""What a training job leaves: its result, model.tar.gz and output.tar.gz (and their latest links), its failure."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.contract import layout
from smctl.errors import ContainerFailedError
from smctl.events import OnEvent
from smctl.training.plan import JobPlan


@dataclass(frozen=True)
class HostResult:
    host: str
    exit_code: int
    failure: str | None
    oom_killed: bool


@dataclass(frozen=True)
class TrainResult:
    job_name: str
    status: str  # Completed | Failed
    failure_reason: str | None
    seconds: float
    run_dir: Path
    model_artifact: Path | None
    output_artifact: Path | None
    hosts: list[HostResult]
    log_tail: list[str]
    latest_dir: Path | None = None  # holds model.tar.gz / output.tar.gz links to this job's artifacts

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "seconds": round(self.seconds, 3),
            "run_dir": str(self.run_dir),
            "model_artifact": str(self.model_artifact) if self.model_artifact else None,
            "output_artifact": str(self.output_artifact) if self.output_artifact else None,
            "latest_links": str(self.latest_dir) if self.latest_dir and self.model_artifact else None,
            "hosts": [h.__dict__ for h in self.hosts],
        }


def collect_artifacts(plan: JobPlan, on_event: OnEvent) -> tuple[Path, Path]:
    """model/ -> model.tar.gz and output/data/ -> output.tar.gz, every host's files merged (algo-1's kept)."""
    from smctl.archive import pack_trees

    plan.output_dir.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for sub, name in (("model", "model.tar.gz"), ("output/data", "output.tar.gz")):
        dest = plan.output_dir / name
        clashes = pack_trees([h.root / sub for h in plan.hosts], dest)
        for clash in clashes:
            on_event("warning", {"message": f"{name}: {clash} was written by several hosts; algo-1's copy kept"})
        artifacts.append(dest)
    if plan.latest_dir is not None:
        for dest in artifacts:
            _link_latest(plan.latest_dir / dest.name, dest, on_event)
    return artifacts[0], artifacts[1]


def _link_latest(link: Path, target: Path, on_event: OnEvent) -> None:
    """Point `link` at `target` (relative, swapped in atomically) so the latest job's artifact has a fixed path."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(os.path.relpath(target, link.parent), tmp)
        os.replace(tmp, link)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        on_event("warning", {"message": f"could not point {link} at {target}: {exc.strerror or exc}; "
                                        f"use {target}"})


def fix_ownership(client: Any, plan: JobPlan) -> None:
    """Files the container wrote as root become the invoking user's (sudo's caller when run through sudo)."""
    from smctl.engine.containers import chown_tree

    uid = int(os.environ.get("SUDO_UID", os.getuid()))
    gid = int(os.environ.get("SUDO_GID", os.getgid()))
    for root in (plan.run_dir, plan.checkpoint_dir):
        if root is not None and root.exists():
            chown_tree(client, plan.job.image, root, uid, gid)


def raise_for_failure(result: TrainResult) -> None:
    """Raises: ContainerFailedError (exit 5) with the FailureReason and the last log lines."""
    if result.status == "Completed":
        return
    last = "\n".join(result.log_tail[-15:])
    hint = f"see the logs in {result.run_dir / 'logs.txt'}" + (f"; last lines:\n{last}" if last else "")
    if wrote_into_a_channel(result.log_tail, result.failure_reason):
        hint = (f"{layout.INPUT_DATA}/<channel> was read-only: FastFile channels are on SageMaker too, File-mode "
                "ones only here with --read-only-channels or an engine that cannot mount overlays; write what you "
                f"unpack or derive to /tmp or /opt/ml/output instead; {hint}")
    raise ContainerFailedError(f"training job {result.job_name} failed: {result.failure_reason}", hint,
                               details=result.as_dict())


def wrote_into_a_channel(log_tail: Sequence[str], failure_reason: str | None) -> bool:
    """Did the algorithm fail writing into a read-only channel folder (EROFS under /opt/ml/input/data)?"""
    for line in [*log_tail, *(failure_reason or "").splitlines()]:
        if "Read-only file system" in line and str(layout.INPUT_DATA) in line:
            return True
    return False
