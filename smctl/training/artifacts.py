"""What a training job leaves: its result, model.tar.gz and output.tar.gz (and their latest links), its failure."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.contract import layout
from smctl.errors import ArchiveError, ContainerFailedError
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
    """model/ -> model.tar.gz and output/data/ -> output.tar.gz, every host's files merged (algo-1's kept).

    Both archives land together or neither does: each is packed into a temp file beside its final name, and only
    when both are complete are they renamed into place (an earlier pair stays whole when the disk fills up).

    Raises:
        ArchiveError: the output folder is full or not writable (Hint: --output-dir).
    """
    from smctl.archive import pack_trees

    plan.output_dir.mkdir(parents=True, exist_ok=True)
    pairs = []  # (temp, final)
    try:
        for sub, name in (("model", "model.tar.gz"), ("output/data", "output.tar.gz")):
            dest = plan.output_dir / name
            tmp = plan.output_dir / f".{name}.{os.getpid()}.partial"
            pairs.append((tmp, dest))
            clashes = pack_trees([h.root / sub for h in plan.hosts], tmp)
            for clash in clashes:
                on_event("warning", {"message": f"{name}: {clash} was written by several hosts; algo-1's copy kept"})
        for tmp, dest in pairs:
            os.replace(tmp, dest)
    except ArchiveError as exc:
        raise ArchiveError(f"{exc.message}; the job's model.tar.gz and output.tar.gz were not written "
                           f"(an earlier pair in {plan.output_dir} is kept as it was)",
                           "free some space there (or fix its permissions), or write the artifacts elsewhere: "
                           "--output-dir PATH") from None
    finally:
        for tmp, _ in pairs:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    artifacts = [dest for _, dest in pairs]
    if plan.latest_dir is not None:
        for dest in artifacts:
            link_latest(plan.latest_dir / dest.name, dest, on_event)
    return artifacts[0], artifacts[1]


def link_latest(link: Path, target: Path, on_event: OnEvent) -> None:
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


def invoking_user() -> tuple[int, int]:
    """Who ran smctl: sudo's caller (SUDO_UID/SUDO_GID) when run through sudo, else this process's user."""
    return int(os.environ.get("SUDO_UID", os.getuid())), int(os.environ.get("SUDO_GID", os.getgid()))


def fix_ownership(client: Any, image: str, *roots: Path | None) -> None:
    """Files the container wrote as root become the invoking user's (sudo's caller when run through sudo)."""
    from smctl.engine.containers import chown_tree

    if os.geteuid() == 0:
        return  # as root, hand_over() does it, sparing the hard links to the user's channel files
    uid, gid = invoking_user()
    for root in roots:
        if root is not None and root.exists():
            chown_tree(client, image, root, uid, gid)


def missing_ancestors(*paths: Path | None) -> list[Path]:
    """For each path, its topmost folder that does not exist yet: what creating the path will add."""
    tops = []
    for path in paths:
        if path is None or path.exists():
            continue
        top = path
        while not top.parent.exists() and top.parent != top:
            top = top.parent
        tops.append(top)
    return tops


def hand_over(plan: JobPlan, created: Sequence[Path]) -> None:
    """Run as root (through sudo), give everything smctl made in the user's folders to the invoking user: the
    folders it created, the run folder, the archives and the latest links (the links themselves, lchown)."""
    uid, gid = invoking_user()
    if os.geteuid() != 0 or (uid, gid) == (0, 0):
        return
    trees = [*created, plan.run_dir]
    if plan.checkpoint_dir is not None:
        trees.append(plan.checkpoint_dir)
    singles = [plan.output_dir / "model.tar.gz", plan.output_dir / "output.tar.gz"]
    if plan.latest_dir is not None:
        singles += [plan.latest_dir / "model.tar.gz", plan.latest_dir / "output.tar.gz"]
    for path in [*trees, *singles]:
        with contextlib.suppress(FileNotFoundError):
            _lchown(path, uid, gid)
    for tree in trees:
        for dirpath, dirnames, filenames in os.walk(tree):
            for name in (*dirnames, *filenames):
                with contextlib.suppress(FileNotFoundError):
                    _lchown(Path(dirpath, name), uid, gid, linked_ok=False)


def _lchown(path: Path, uid: int, gid: int, *, linked_ok: bool = True) -> None:
    st = os.lstat(path)
    if not linked_ok and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        return  # a hard link to a user's channel file (shards/, single/): its owner is not ours to change
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.lchown(path, uid, gid)


def raise_for_failure(result: TrainResult) -> None:
    """Raises: ContainerFailedError (exit 5) with the FailureReason; the logs, streamed already, are not repeated."""
    if result.status == "Completed":
        return
    hint = f"see the logs in {result.run_dir / 'logs.txt'} (streamed above)"
    if wrote_into_a_channel(result.log_tail, result.failure_reason):
        hint = (f"{layout.INPUT_DATA}/<channel> was read-only: FastFile channels are on SageMaker too, File-mode "
                "ones only here with --read-only-channels or an engine that cannot mount overlays; write what you "
                f"unpack or derive to /tmp or /opt/ml/output instead; {hint}")
    raise ContainerFailedError(f"training job {result.job_name} failed: {_reason_once(result)}", hint,
                               details=result.as_dict())


def _reason_once(result: TrainResult) -> str:
    """The FailureReason, or only its last line when the algorithm printed it (a traceback) in the streamed log."""
    reason = result.failure_reason or ""
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    streamed = {line.split(" | ", 1)[-1].strip() for line in result.log_tail}
    if len(lines) > 1 and sum(line in streamed for line in lines) * 2 >= len(lines):
        return f"{lines[-1]} (the full FailureReason is in the log above)"
    return reason


def wrote_into_a_channel(log_tail: Sequence[str], failure_reason: str | None) -> bool:
    """Did the algorithm fail writing into a read-only channel folder (EROFS under /opt/ml/input/data)?"""
    for line in [*log_tail, *(failure_reason or "").splitlines()]:
        if "Read-only file system" in line and str(layout.INPUT_DATA) in line:
            return True
    return False
