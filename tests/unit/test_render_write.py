"""Writing a scaffold: never overwrite without force, and on failure undo exactly what this run did."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smctl.errors import UsageError
from smctl.project.render import ScaffoldOptions, ScaffoldPlan, plan_scaffold
from smctl.project.scaffold import write_scaffold


def _plan(folder: Path) -> ScaffoldPlan:
    return plan_scaffold(ScaffoldOptions(preset="python", name="demo"), folder)


def _snapshot(folder: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every path under folder with its content (None for folders) and mode."""
    out = {}
    for p in sorted(folder.rglob("*")):
        out[p.relative_to(folder).as_posix()] = (None if p.is_dir() else p.read_bytes(), p.stat().st_mode)
    return out


class Boom(Exception):
    pass


def _fail_after(n: int, exc: BaseException):
    seen = []

    def on_event(kind: str, data: dict) -> None:
        seen.append(data["path"])
        if len(seen) == n:
            raise exc
    return on_event


def test_writes_every_planned_file_with_modes_into_a_new_nested_folder(tmp_path):
    folder = tmp_path / "a" / "b" / "project"
    plan = _plan(folder)
    result = write_scaffold(folder, plan)
    assert sorted(result.created) == sorted(f.path for f in plan.files) and result.overwritten == ()
    assert result.created_root
    for f in plan.files:
        target = folder / f.path
        assert target.read_bytes() == f.content
        assert os.access(target, os.X_OK) == f.executable
    assert not list(folder.rglob("*.smctl-tmp"))


def test_empty_folder_and_a_bare_git_folder_count_as_empty(tmp_path):
    (tmp_path / ".git").mkdir()
    write_scaffold(tmp_path, _plan(tmp_path))
    assert (tmp_path / "Dockerfile").is_file()


def test_non_empty_folder_without_force_is_refused_and_nothing_is_written(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM mine\n")
    (tmp_path / "notes.txt").write_text("keep\n")
    before = _snapshot(tmp_path)
    with pytest.raises(UsageError) as info:
        write_scaffold(tmp_path, _plan(tmp_path))
    assert f"folder {tmp_path} is not empty (Dockerfile, notes.txt)" in info.value.message
    assert "--force would overwrite Dockerfile" in info.value.message
    assert "--force" in info.value.hint
    assert _snapshot(tmp_path) == before


def test_force_overwrites_planned_files_and_leaves_the_others_alone(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM mine\n")
    (tmp_path / "notes.txt").write_text("keep\n")
    plan = _plan(tmp_path)
    result = write_scaffold(tmp_path, plan, force=True)
    assert result.overwritten == ("Dockerfile",)
    assert "Dockerfile" not in result.created
    assert (tmp_path / "Dockerfile").read_bytes() == plan.file("Dockerfile").content
    assert (tmp_path / "notes.txt").read_text() == "keep\n"


def test_a_folder_where_a_file_goes_is_refused_even_with_force_before_writing(tmp_path):
    (tmp_path / "Dockerfile").mkdir()
    (tmp_path / "Dockerfile" / "inside").write_text("x")
    before = _snapshot(tmp_path)
    with pytest.raises(UsageError, match="Dockerfile would have to change between file and folder"):
        write_scaffold(tmp_path, _plan(tmp_path), force=True)
    assert _snapshot(tmp_path) == before


def test_a_file_where_a_folder_goes_is_refused(tmp_path):
    (tmp_path / "program").write_text("not a folder")
    with pytest.raises(UsageError, match="program would have to change"):
        write_scaffold(tmp_path, _plan(tmp_path), force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["program"]


def test_failure_midway_in_a_new_folder_removes_everything_it_created(tmp_path):
    folder = tmp_path / "new" / "project"
    with pytest.raises(Boom):
        write_scaffold(folder, _plan(folder), on_event=_fail_after(7, Boom()))
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_midway_in_an_existing_folder_restores_it_exactly(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM mine\n")
    (tmp_path / "Dockerfile").chmod(0o600)
    (tmp_path / "program").mkdir()
    (tmp_path / "program" / "mine.py").write_text("print('mine')\n")
    (tmp_path / "notes.txt").write_text("keep\n")
    before = _snapshot(tmp_path)
    plan = _plan(tmp_path)
    # Fail after the last file: every overwrite and every creation has happened and must be undone.
    with pytest.raises(KeyboardInterrupt):
        write_scaffold(tmp_path, plan, force=True, on_event=_fail_after(len(plan.files), KeyboardInterrupt()))
    assert _snapshot(tmp_path) == before


def test_write_error_midway_undoes_the_run(tmp_path):
    plan = _plan(tmp_path / "p")
    # A planned path the file system refuses (a NUL byte) fails inside the write loop, after other files.
    bad = plan.files[:5] + (type(plan.files[0])("data/bad\0name", b"x"),) + plan.files[5:]
    broken = ScaffoldPlan(plan.preset, plan.name, plan.variant, bad)
    with pytest.raises(ValueError):
        write_scaffold(tmp_path / "p", broken)
    assert list(tmp_path.iterdir()) == []
