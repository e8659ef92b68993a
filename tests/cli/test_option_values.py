"""Option values: plain ones are converted exactly as typer's own (pydantic) conversion would, without it, and
only the invoked command is built; help, bad values and unknown commands behave as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.models import OptionInfo

from smctl.cli.coercion import NOT_PLAIN, VERIFIED, plain_value, typer_release
from tests.helpers import run_cli

_coercion = pytest.importorskip("typer._coercion", reason="this typer converts options without pydantic adapters")
build_runtime_param, resolve_type_descriptor = _coercion.build_runtime_param, _coercion.resolve_type_descriptor

PLAIN = [
    (str, "ml.m5.xlarge"), (str, ""), (str, " spaced "), (str, "0"),
    (int, "0"), (int, "8080"), (int, "-1"), (int, 7), (int, "123456789012345678901234567890"),
    (float, "240"), (float, "0.5"), (float, "-3.25"), (float, 2), (float, 1.5),
    (bool, True), (bool, False),
    (list[str], ("A=1", "B=two")), (list[str], ["x"]), (list[str], ()),
]
LEFT_TO_TYPER = [
    (int, "08"), (int, "+5"), (int, " 5"), (int, "1_000"), (int, "5.0"), (int, "abc"), (int, True), (int, 5.0),
    (float, "1e3"), (float, "inf"), (float, ".5"), (float, "nan"), (float, True),
    (bool, "true"), (bool, "no"), (str, 5), (str, b"bytes"), (list[str], ("a", 1)), (Path, "model.tar.gz"),
]


def typer_value(annotation: Any, value: Any) -> Any:
    """What typer's own conversion (a pydantic TypeAdapter) makes of `value`."""
    runtime = build_runtime_param(resolve_type_descriptor(annotation, OptionInfo()))
    return runtime._coerce_value(value, param=None, ctx=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("annotation", "value"), PLAIN)
def test_plain_values_come_out_as_typer_makes_them(annotation, value):
    ours = plain_value(value, annotation)
    theirs = typer_value(annotation, value)
    assert ours == theirs
    assert type(ours) is type(theirs)


@pytest.mark.parametrize(("annotation", "value"), LEFT_TO_TYPER)
def test_anything_else_is_left_to_typer(annotation, value):
    assert plain_value(value, annotation) is NOT_PLAIN


@pytest.mark.skipif(typer_release() not in VERIFIED, reason="the plain-value hook is only installed on typer releases "
                    "it was checked against")
def test_a_command_parses_its_options_without_pydantic():
    code = (
        "import sys\n"
        "from smctl.cli.app import run\n"
        "rc = run(['--json', 'local-serve', '--detach', '--runtime-port', '9000', '--image', 'x', '--port', '0',\n"
        "          '--env', 'A=1', '--env', 'B=2', '--startup-timeout', '5', '--read-only-model'])\n"
        "print('RC=%d PYDANTIC=%s' % (rc, 'pydantic' in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "RC=2 PYDANTIC=False"
    assert "--runtime-port serves only while local-serve runs in the foreground" in proc.stdout


def test_a_bad_value_still_gets_typers_message():
    res = run_cli("local-serve", "--port", "abc")
    assert res.exit_code == 2
    assert "Invalid value for '--port'" in res.stderr
    assert "smctl local-serve --help" in res.stderr


def test_help_before_the_command_lists_every_command():
    res = run_cli("--help", "local-serve")
    assert res.exit_code == 0
    assert "local-train" in res.stdout and "doctor" in res.stdout and "package" in res.stdout


def test_a_command_after_global_options_shows_its_own_help():
    res = run_cli("--no-color", "--config", "smctl.toml", "local-serve", "--help")
    assert res.exit_code == 0
    assert "--startup-timeout" in res.stdout
    assert "local-train" not in res.stdout


def test_a_group_runs_through_the_single_command_path():
    res = run_cli("--json", "package", "inspect", "/nonexistent/model.tar.gz")
    assert res.exit_code != 0
    assert "/nonexistent/model.tar.gz" in res.json["error"]["message"]


def test_an_unknown_command_is_still_reported():
    res = run_cli("lcoal-serve")
    assert res.exit_code == 2
    assert "lcoal-serve" in res.stderr
