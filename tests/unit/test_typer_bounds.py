"""pyproject's typer range matches what the code needs: TyperException and the releases coercion.py was checked on."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from smctl.cli.coercion import VERIFIED
from smctl.compat import tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _typer_requirement() -> str:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return next(d for d in deps if re.match(r"typer\b", d))


def test_typer_upper_bound_is_the_release_after_the_last_verified_one():
    major, minor = max(VERIFIED)
    assert f"<{major}.{minor + 1}" in _typer_requirement()


def test_typer_floor_has_the_exception_base_the_error_handler_catches():
    assert ">=0.26" in _typer_requirement()
    assert issubclass(typer.BadParameter, typer.TyperException)
