"""The command table `smctl --help` lists from, and what start-up imports: a command's module only when it runs."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import typer

from smctl.cli.app import app
from smctl.cli.commands import COMMANDS

# Libraries no `smctl --help` or `--version` needs: each costs 10-80 ms to import.
HEAVY = ("docker", "requests", "urllib3", "boto3", "botocore", "jinja2", "rich", "pydantic", "zlib_ng", "isal")
START_UP = {"smctl", "smctl.cli", "smctl.cli.app", "smctl.cli.coercion", "smctl.cli.commands", "smctl.cli.output",
            "smctl.errors", "smctl.events"}


def _defined_by(module: str) -> list[tuple[str, str]]:
    """(name, one-line help) of each command `module`'s register() defines, in its order."""
    probe = typer.Typer(rich_markup_mode=None, add_completion=False)
    probe.callback()(lambda: None)
    importlib.import_module(module).register(probe)
    group = typer.main.get_command(probe)
    return [(name, group.commands[name].get_short_help_str(10**6))  # type: ignore[attr-defined]
            for name in group.commands]  # type: ignore[attr-defined]


def test_the_table_names_every_command_its_module_defines_with_its_help():
    defined = {name: (module, summary) for module in dict.fromkeys(e.module for e in COMMANDS.values())
               for name, summary in _defined_by(module)}
    assert {name: (e.module, e.summary) for name, e in COMMANDS.items()} == defined


def test_the_root_help_from_the_table_is_the_help_with_every_command_built():
    lazy = typer.main.get_command(app)
    with lazy.make_context("smctl", ["--help"], resilient_parsing=True) as ctx:
        from_table = lazy.get_help(ctx)
    built = typer.main.get_command(app)
    for name in list(built.commands):  # type: ignore[attr-defined]
        built.commands[name]  # type: ignore[attr-defined]  # noqa: B018 - builds it
    with built.make_context("smctl", ["--help"], resilient_parsing=True) as ctx:
        from_commands = built.get_help(ctx)
    assert "Commands:" in from_table and "local-train " in from_table
    assert from_table == from_commands


def _modules_after(argv: list[str]) -> set[str]:
    """The modules `run(argv)` leaves imported, in a fresh interpreter."""
    code = ("import sys\nfrom smctl.cli.app import run\nrc = run(sys.argv[1:])\n"
            "print('MODULES=' + ' '.join(sorted(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False)
    assert proc.returncode in (0, 2), proc.stderr  # 2: `smctl` alone shows the help with the usage error code
    return set(proc.stdout.strip().splitlines()[-1].removeprefix("MODULES=").split())


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["--json", "--version"]],
                         ids=["help", "version", "no-args", "json-version"])
def test_help_and_version_import_no_heavy_library_and_no_command(argv):
    modules = _modules_after(argv)
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []
    assert sorted(m for m in modules if m.startswith("smctl")) == sorted(START_UP)


def test_a_command_imports_its_own_module_and_no_other_command():
    modules = _modules_after(["local-train", "--help"])
    commands = {e.module for e in COMMANDS.values()} & modules
    assert commands == {"smctl.cli.train"}
    assert "docker" not in modules and "rich" not in modules
