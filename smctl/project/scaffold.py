"""Write a planned project to disk safely: never over a non-empty folder without force, undo exactly this run."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from smctl.errors import SmctlError, UsageError
from smctl.events import OnEvent
from smctl.project.render import ScaffoldPlan

IGNORED_IN_TARGET = frozenset({".git"})  # a fresh `git init` still counts as an empty folder


@dataclass(frozen=True)
class ScaffoldResult:
    root: Path
    created: tuple[str, ...]
    overwritten: tuple[str, ...]
    created_root: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"directory": str(self.root), "created": list(self.created), "overwritten": list(self.overwritten)}


def find_conflicts(folder: Path, plan: ScaffoldPlan, *, force: bool) -> list[str]:
    """What stops writing `plan` into `folder`. Raises: UsageError naming the folder and what is in the way."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder", "choose another DIR for smctl init")
    existing = sorted(p.name for p in folder.iterdir() if p.name not in IGNORED_IN_TARGET) if folder.is_dir() else []
    in_the_way = []  # a folder (or file) where the plan needs the other kind: even --force will not remove it
    for f in plan.files:
        parts = PurePosixPath(f.path).parts
        for i in range(1, len(parts) + 1):
            target = folder.joinpath(*parts[:i])
            wants_dir = i < len(parts)
            if target.exists() and target.is_dir() != wants_dir:
                in_the_way.append(PurePosixPath(*parts[:i]).as_posix())
    if in_the_way:
        names = ", ".join(sorted(set(in_the_way)))
        raise UsageError(f"cannot write the project into {folder}: {names} would have to change between file and "
                         "folder", f"move {names} away and run smctl init again")
    conflicts = [f.path for f in plan.files if (folder / f.path).exists()]
    if existing and not force:
        shown = _some(existing)
        overwrite = f"; --force would overwrite {_some(conflicts)}" if conflicts else ""
        raise UsageError(f"folder {folder} is not empty ({shown}){overwrite}",
                         "choose an empty or new folder, or pass --force to write into this one",
                         details={"existing": existing, "would_overwrite": conflicts})
    return conflicts


def _some(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def write_scaffold(folder: Path, plan: ScaffoldPlan, *, force: bool = False,
                   on_event: OnEvent | None = None) -> ScaffoldResult:
    """Write every planned file (temp file + rename); on any failure, Ctrl-C included, undo exactly this run.

    Raises: UsageError when the folder is not empty (without force) or a path is in the way.
    """
    emit = on_event or (lambda kind, data: None)
    folder = folder.expanduser().absolute()
    conflicts = set(find_conflicts(folder, plan, force=force))
    created_dirs: list[Path] = []
    created: list[str] = []
    saved: dict[str, tuple[bytes, int]] = {}  # overwritten file -> its old content and mode, restored on failure
    temp: Path | None = None
    try:
        for f in plan.files:
            target = folder / f.path
            _make_dirs(target.parent, created_dirs)
            if f.path in conflicts:
                saved[f.path] = (target.read_bytes(), target.stat().st_mode & 0o7777)
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".smctl-tmp")
            temp = Path(name)
            with os.fdopen(fd, "wb") as out:
                out.write(f.content)
            os.chmod(temp, 0o755 if f.executable else 0o644)
            os.replace(temp, target)
            temp = None
            if f.path not in conflicts:
                created.append(f.path)
            emit("wrote", {"path": f.path, "overwritten": f.path in conflicts})
    except OSError as exc:
        _undo(folder, temp, created, saved, created_dirs)
        where = exc.filename or folder
        raise SmctlError(f"cannot write the project into {folder}: {exc.strerror or exc} ({where})",
                         "choose a folder you can write to: smctl init DIR") from None
    except BaseException:
        _undo(folder, temp, created, saved, created_dirs)
        raise
    return ScaffoldResult(folder, tuple(created), tuple(sorted(conflicts)), created_root=folder in created_dirs)


def _make_dirs(folder: Path, created: list[Path]) -> None:
    """mkdir -p that records every folder it creates, outermost first."""
    if folder.is_dir():
        return
    _make_dirs(folder.parent, created)
    folder.mkdir()
    created.append(folder)


def _undo(folder: Path, temp: Path | None, created: list[str], saved: dict[str, tuple[bytes, int]],
          created_dirs: list[Path]) -> None:
    """Remove what this run created and put back what it overwrote; never touch anything else."""
    if temp is not None:
        temp.unlink(missing_ok=True)
    for path in created:
        (folder / path).unlink(missing_ok=True)
    for path, (content, mode) in saved.items():
        target = folder / path
        target.write_bytes(content)
        os.chmod(target, mode)
    for d in reversed(created_dirs):
        with contextlib.suppress(OSError):  # not empty: something else wrote there meanwhile, so it is not ours
            d.rmdir()
