"""Moving Docker's data-root to a bigger filesystem: the plan (pure), the daemon.json merge, and --fix."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.doctor.disk import FsFacts
from smctl.errors import DataRootFixError, UsageError

DAEMON_JSON = Path("/etc/docker/daemon.json")
GiB = 1024**3
ROOM_FACTOR = 4  # "far more room": at least this many times the free space of the data-root's filesystem


@dataclass(frozen=True)
class MovePlan:
    old_root: str
    new_root: str
    daemon_json: str
    target: FsFacts
    steps: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"old_root": self.old_root, "new_root": self.new_root, "daemon_json": self.daemon_json,
                "target_mount_point": self.target.mount_point, "target_free_bytes": self.target.free_bytes,
                "steps": list(self.steps)}


def plan_move(data_fs: FsFacts, others: list[FsFacts], data_root: str, used_bytes: int,
              daemon_json: Path = DAEMON_JSON, min_free: int = 10 * GiB) -> MovePlan | None:
    """The filesystem with the most room to take Docker's data, if one has far more than where it is now."""
    need = 2 * used_bytes + min_free
    fits = [fs for fs in others if fs.dev_id != data_fs.dev_id and fs.free_bytes >= need
            and fs.free_bytes >= ROOM_FACTOR * max(data_fs.free_bytes, 1)]
    if not fits:
        return None
    target = max(fits, key=lambda fs: fs.free_bytes)
    new_root = str(Path(target.mount_point) / "docker")
    return MovePlan(data_root, new_root, str(daemon_json), target, move_steps(data_root, new_root, daemon_json))


def move_steps(old: str, new: str, daemon_json: Path) -> tuple[str, ...]:
    return (
        "sudo systemctl stop docker docker.socket    # no systemd: stop dockerd",
        f"sudo mkdir -p {new}",
        f'set "data-root": "{new}" in {daemon_json}, merged into what is there '
        f"(smctl doctor --fix data-root={new} does this and keeps a backup)",
        f"sudo rsync -aP {old.rstrip('/')}/ {new}/",
        "sudo systemctl start docker",
        f"docker info -f '{{{{.DockerRootDir}}}}'    # must print {new}",
        f"sudo rm -rf {old}    # only once everything works from the new place",
    )


def read_daemon_json(path: Path) -> dict[str, Any]:
    """The daemon configuration ({} when the file is missing). Raises: UsageError for a file that is not an object."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", "run as root (sudo)") from exc
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc})", f"fix {path} by hand first: dockerd refuses it too") \
            from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path} does not hold a JSON object", f"fix {path} by hand first")
    return data


def merge_daemon_json(path: Path, data_root: str, now: dt.datetime | None = None) -> tuple[Path | None, dict]:
    """Set "data-root" in daemon.json, keeping every other key; back up the old file first; atomic write.

    Returns (the backup's path or None when there was no file, the merged configuration).
    """
    merged = read_daemon_json(path)
    merged.pop("graph", None)  # the deprecated name of data-root: dockerd refuses both at once
    merged["data-root"] = data_root
    backup = None
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}.smctl-backup-{stamp}")
        shutil.copy2(path, backup)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(merged, indent=2) + "\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return backup, merged


@dataclass(frozen=True)
class FixPlan:
    old_root: str
    new_root: str
    daemon_json: Path
    stop: tuple[str, ...]
    start: tuple[str, ...]


def validate_fix(target: Path, old_root: str, client: Any, daemon_json: Path = DAEMON_JSON) -> FixPlan:
    """Every refusal before anything is touched.

    Raises:
        UsageError: the path is missing, not a folder, on the data-root's filesystem or inside it.
        DataRootFixError: containers are running, not root, rsync missing, no way to stop the engine.
    """
    if not target.exists():
        raise UsageError(f"--fix data-root={target}: {target} does not exist",
                         f"create it on the bigger filesystem first: sudo mkdir -p {target}")
    if not target.is_dir():
        raise UsageError(f"--fix data-root={target}: {target} is not a folder", "pass a folder")
    new = target.resolve()
    old = Path(old_root)
    if old.exists() and (new == old.resolve() or new.is_relative_to(old.resolve())):
        raise UsageError(f"--fix data-root={target} is inside the current data-root {old_root}",
                         "pick a folder on another filesystem")
    if old.exists() and os.stat(new).st_dev == os.stat(old).st_dev:
        raise UsageError(f"--fix data-root={target}: {target} is on the same filesystem as {old_root}; "
                         "moving there frees nothing", "pick a folder on the bigger filesystem `smctl doctor` names")
    from smctl.engine.containers import list_containers

    running = list_containers(client, all_=False)
    if running:
        names = " ".join(c.name for c in running[:10])
        raise DataRootFixError(f"{len(running)} container(s) are running ({names}): refusing to stop Docker",
                               f"stop them first: docker stop {names}")
    read_daemon_json(daemon_json)  # refuse a broken file now, not after Docker is stopped
    if os.geteuid() != 0:
        raise DataRootFixError("--fix data-root needs root (it stops Docker and edits its configuration)",
                               f"sudo smctl doctor --fix data-root={target}")
    if shutil.which("rsync") is None:
        raise DataRootFixError("rsync is not installed; it copies the data-root with owners and modes kept",
                               "sudo apt-get install -y rsync (or your system's package manager)")
    stop, start = service_commands()
    return FixPlan(old_root, str(new), daemon_json, stop, start)


def service_commands() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """How to stop and start Docker here. Raises: DataRootFixError when neither systemd nor an init script runs it."""
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        return ("systemctl", "stop", "docker.socket", "docker"), ("systemctl", "start", "docker")
    # The init script only controls a dockerd it started (its pidfile); a hand-started dockerd would keep running.
    if shutil.which("service") and Path("/etc/init.d/docker").exists() and Path("/var/run/docker-ssd.pid").exists():
        return ("service", "docker", "stop"), ("service", "docker", "start")
    raise DataRootFixError("Docker is not run by systemd or an init script here, so smctl cannot restart it",
                           "apply the plan `smctl doctor` prints by hand: stop dockerd, edit daemon.json, rsync, "
                           "start dockerd")


@dataclass(frozen=True)
class FixResult:
    old_root: str
    new_root: str
    backup: str | None
    data_root_now: str | None

    @property
    def verified(self) -> bool:
        return self.data_root_now == self.new_root


def apply_fix(plan: FixPlan, on_event: Callable[[str], None], engine_info: Callable[[], dict]) -> FixResult:
    """Stop Docker, copy the data, point daemon.json at it, start Docker, read DockerRootDir back.

    Raises:
        DataRootFixError: a step failed (Docker is started again with its old configuration when it can be).
    """
    on_event("stopping Docker: " + " ".join(plan.stop))
    _run(plan.stop)
    try:
        on_event(f"copying {plan.old_root}/ to {plan.new_root}/ (rsync -aP)")
        _run(("rsync", "-aP", f"{plan.old_root.rstrip('/')}/", f"{plan.new_root}/"), quiet=True)
        backup, _ = merge_daemon_json(plan.daemon_json, plan.new_root)
        on_event(f"set data-root in {plan.daemon_json}" + (f" (backup: {backup})" if backup else ""))
    except BaseException:
        on_event("a step failed: starting Docker again with its old configuration")
        subprocess.run(plan.start, check=False)
        raise
    on_event("starting Docker: " + " ".join(plan.start))
    _run(plan.start)
    now = None
    for _ in range(60):
        try:
            now = engine_info().get("DockerRootDir")
            break
        except Exception:  # noqa: BLE001 - the engine is still starting
            time.sleep(1)
    return FixResult(plan.old_root, plan.new_root, str(backup) if backup else None, now)


def _run(cmd: tuple[str, ...], quiet: bool = False) -> None:
    proc = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:] if quiet else []
        raise DataRootFixError(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}" +
                               (": " + " / ".join(tail) if tail else ""),
                               "check the output above; the old data-root was left in place")
