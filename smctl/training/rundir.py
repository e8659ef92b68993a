"""A job's run folder: each host's /opt/ml tree written before the run, and what an earlier run left removed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smctl.contract import layout
from smctl.engine.containers import Mount, list_containers
from smctl.engine.labels import LABEL_JOB, LABEL_KIND
from smctl.errors import SmctlError, UsageError
from smctl.events import OnEvent
from smctl.training.channels import epoch_order, list_channel_files
from smctl.training.plan import HostPlan, JobPlan


def prepare_host(plan: JobPlan, host: HostPlan, sources: Mapping[str, Path]) -> None:
    """Write the host's /opt/ml tree: config files, empty model/ and output/data/, shard and single-file links."""
    index = [h.host for h in plan.hosts].index(host.host)
    for ch in plan.job.channels:
        cfg = ch.config
        sharded = cfg.input_mode != "Pipe" and cfg.distribution == "ShardedByS3Key" and len(plan.hosts) > 1
        stage_input(host.root, cfg.name, sources[cfg.name], host.container.mounts,
                    (index, len(plan.hosts), cfg.shuffle_seed) if sharded else None)
    for sub in ("input/config", "input/data", "model", "output/data"):
        (host.root / sub).mkdir(parents=True, exist_ok=True)
    for name, text in host.config_files.items():
        (host.root / "input" / "config" / name).write_text(text)
    for mount in host.container.mounts:
        if mount.target.startswith(str(layout.INPUT_DATA) + "/"):
            # pre-create mount points so the engine does not create root-owned folders for us
            rel = mount.target[len(str(layout.INPUT_DATA)) + 1 :]
            point = host.root / "input" / "data" / rel
            if mount.source.is_file():
                point.parent.mkdir(parents=True, exist_ok=True)
                point.touch(exist_ok=True)
            else:
                point.mkdir(parents=True, exist_ok=True)
    if plan.checkpoint_dir:
        (host.root / "checkpoints").mkdir(exist_ok=True)
        if plan.checkpoint_dir.exists() and plan.checkpoint_dir != host.root / "checkpoints":
            shutil.copytree(plan.checkpoint_dir, host.root / "checkpoints", dirs_exist_ok=True)


def stage_input(root: Path, name: str, src: Path, mounts: Sequence[Mount],
                shard: tuple[int, int, int | None] | None) -> None:
    """Put an input's files where its mount (plan.channel_mount) reads them: a single file linked into
    single/NAME/, this host's share (index, count, seed) linked into shards/NAME/, overlay layers made."""
    staged = root / "single" / name
    if any(m.source == staged for m in mounts):
        staged.mkdir(parents=True, exist_ok=True)
        _link_or_copy(src, staged / src.name)
    if shard is not None:
        _link_shard(src, root / "shards" / name, *shard)
    for mount in mounts:
        if mount.overlay is not None and mount.overlay.parent == root / "overlay" and mount.overlay.name == name:
            for layer in ("upper", "work"):
                (mount.overlay / layer).mkdir(parents=True, exist_ok=True)


def _link_shard(src: Path, dest: Path, index: int, count: int, seed: int | None) -> None:
    for f in epoch_order(list_channel_files(src), seed, index, count, sharded=True):
        rel = f.relative_to(src) if src.is_dir() else Path(f.name)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(f, target)


def _link_or_copy(src: Path, target: Path) -> None:
    """A hard link to `src` (nothing copied), or a copy where the run folder is on another filesystem."""
    target.unlink(missing_ok=True)
    try:
        os.link(src, target)
    except OSError:
        shutil.copy2(src, target)


def clear_run_dir(client: Any, plan: JobPlan, on_event: OnEvent, *, resume: bool = False) -> None:
    """Remove what an earlier run of this job name left, so no stale model, output or failure file leaks in.

    Raises:
        UsageError: a job of that name is running now.
        SmctlError: the old files cannot be removed.
    """
    run_dir = plan.run_dir
    if not run_dir.is_dir():
        return
    stale = [p for p in run_dir.glob("algo-*") if p.is_dir()]
    if not resume:
        stale += [p for p in (run_dir / "logs.txt", run_dir / "checkpoints") if p.exists() or p.is_symlink()]
        if plan.latest_dir is not None:  # the per-job artifacts of the earlier run (never a named --output-dir)
            stale += [p for p in (plan.output_dir / "model.tar.gz", plan.output_dir / "output.tar.gz") if p.exists()]
    # never anything that holds, or lies inside, the user's checkpoint or output folder (symlinks resolved)
    keep = [p.resolve() for p in (plan.job.checkpoint_dir, plan.job.output_dir) if p is not None]
    stale = [p for p in stale if not any(_overlaps(p, k) for k in keep)]
    if not stale:
        return
    if not resume:
        running = list_containers(client, [f"{LABEL_JOB}={plan.job_name}", f"{LABEL_KIND}=train"], all_=False)
        if running:
            raise UsageError(f"a training job named {plan.job_name} is running already ({running[0].name})",
                             "wait for it to end, or give this run another name: --job-name NAME")
        on_event("info", {"message": f"job name {plan.job_name} was used before: its old run folder "
                                     f"{run_dir} is emptied first (pick a new --job-name to keep old runs)"})
    for path in stale:
        _remove(client, plan, path)
    if plan.latest_dir is not None:
        for name in ("model.tar.gz", "output.tar.gz"):  # links to the artifacts just removed would dangle
            link = plan.latest_dir / name
            if link.is_symlink() and not link.exists():
                link.unlink()


def _overlaps(path: Path, protected: Path) -> bool:
    """Whether removing `path` would touch `protected` (the same place, inside it, or holding it)."""
    p = path.resolve() if not path.is_symlink() else path.parent.resolve() / path.name
    return p == protected or p in protected.parents or protected in p.parents


def _remove(client: Any, plan: JobPlan, path: Path) -> None:
    def rm() -> None:
        if path.is_dir() and not path.is_symlink():
            rmtree(path)
        else:
            path.unlink(missing_ok=True)

    try:
        rm()
    except PermissionError:  # root-owned files of a run that was killed before it could hand them back
        from smctl.engine.containers import chown_tree

        try:
            chown_tree(client, plan.job.image, path, os.getuid(), os.getgid())
            rm()
        except (OSError, SmctlError) as exc:
            raise SmctlError(f"cannot remove {path} left by an earlier run of job {plan.job_name}: {exc}",
                             f"remove it (sudo rm -rf {path}) or pick another name: --job-name NAME") from None
    except OSError as exc:
        raise SmctlError(f"cannot remove {path} left by an earlier run of job {plan.job_name}: "
                         f"{exc.strerror or exc}",
                         f"remove it (rm -rf {path}) or pick another name: --job-name NAME") from None


def rmtree(path: Path, *, ignore_errors: bool = False) -> None:
    """shutil.rmtree that first opens up folders with no permissions (overlayfs leaves its work/work at mode 000)."""
    try:
        for dirpath, dirnames, _ in os.walk(path):
            for name in dirnames:
                sub = os.path.join(dirpath, name)
                if not os.path.islink(sub) and os.stat(sub).st_mode & 0o700 != 0o700:
                    os.chmod(sub, 0o700)
    except OSError:
        if not ignore_errors:
            raise
    shutil.rmtree(path, ignore_errors=ignore_errors)


def check_writable(folder: Path, what: str, flag: str) -> None:
    """Raises: UsageError when `folder` cannot be created or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".smctl-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{what} {folder} is not writable: {exc.strerror or exc}",
                         f"choose a folder you can write to: {flag} PATH") from None
