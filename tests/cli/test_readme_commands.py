"""Every `smctl ...` line in the README's shell examples parses against the real CLI: names, options, values."""

from __future__ import annotations

import contextlib
import re
import shlex
from pathlib import Path

import pytest
import typer

from smctl.cli.app import app

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    text = README.read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("sudo "):
                line = line[len("sudo "):]
            if line.startswith("smctl "):
                commands.append(line)
    return commands


def _parse(argv: list[str]) -> None:
    """Parse argv down to the leaf command without running it (click's own parser, resilient_parsing off)."""
    command = typer.main.get_command(app)
    ctx = command.make_context("smctl", list(argv))
    while hasattr(command, "commands") and (ctx._protected_args or ctx.args):
        name, *rest = [*ctx._protected_args, *ctx.args]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r}"
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub


COMMANDS = readme_commands()


def test_the_readme_shows_every_command():
    shown = {shlex.split(c, comments=True)[1] for c in COMMANDS}
    registered = {c.name for c in typer.main.get_command(app).commands.values()}  # type: ignore[attr-defined]
    assert registered <= shown | {"--version"}, f"not shown in the README: {sorted(registered - shown)}"


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses(line):
    argv = shlex.split(line, comments=True)[1:]
    argv = [a for a in argv if a not in ("--json", "-v", "--verbose", "--no-color")]
    if argv[-1:] in (["--install-completion"], ["--show-completion"]):
        return  # handled by typer before parsing; covered by typer itself
    with contextlib.suppress(typer.Exit):  # --help or --version: parsed fine
        _parse(argv)
