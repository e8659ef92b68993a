"""`smctl deps`: pin what the project's Python code imports into requirements.txt."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from smctl.cli.output import Output
from smctl.errors import ChecksFailedError, UsageError

HELP = "Pin the packages your Python code imports (versions from this environment) into requirements.txt."


def deps_cmd(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Project folder (default: here).")] = Path("."),
    write: Annotated[bool, typer.Option("--write", help="Add the missing pins to requirements.txt.")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Fail (exit 6) when requirements.txt is missing or misses a package the code imports.")
    ] = False,
    requirements: Annotated[Path | None, typer.Option(
        "--requirements", "-r", help="Requirements file (default: DIR/requirements.txt).")] = None,
) -> None:
    from smctl.project import deps

    out: Output = ctx.obj.out
    if write and check:
        raise UsageError("--write and --check exclude each other", "pass --check in CI, --write to update the file")
    report = deps.scan_project(directory, requirements)
    if report.unmapped:
        out.warn(f"imported but not installed here, so not pinned: {', '.join(report.unmapped)} "
                 f"(install them and run again, or add them to {report.requirements.name} by hand)")
    write_cmd = f"smctl deps --write {directory}" + (f" -r {requirements}" if requirements is not None else "")
    if check and not report.exists:
        pins = f"; the code imports {', '.join(p.line for p in report.missing)}" if report.missing else ""
        if requirements is not None:  # a path named on the command line that is not there: exit 2, like the others
            raise UsageError(f"requirements file {requirements} does not exist{pins}",
                             f"check the path given to --requirements, or create the file: `{write_cmd}`")
        raise ChecksFailedError(f"{report.requirements} does not exist{pins}",
                                f"run `{write_cmd}` to write it, and commit it", details=report.as_dict())
    if check and not report.up_to_date:
        raise ChecksFailedError(
            f"{report.requirements} lacks {len(report.missing)} package(s) the code imports: "
            + ", ".join(p.line for p in report.missing),
            f"run `{write_cmd}` and commit the result", details=report.as_dict())
    written = deps.write_requirements(report) if write else False
    payload = {**report.as_dict(), "written": written, "mode": "write" if write else "check" if check else "dry-run"}
    out.result(payload, lambda console: _render(console, payload))


def _render(console: Any, payload: dict[str, Any]) -> None:
    console.print(f"{len(payload['files'])} Python file(s), {len(payload['pins'])} third-party import(s) "
                  f"mapped to installed packages", markup=False)
    if not payload["missing"]:
        if payload["written"]:
            message = f"wrote {payload['requirements']}: nothing to pin"
        elif not payload["requirements_exists"]:
            message = f"{payload['requirements']} does not exist (nothing to pin); run again with --write to create it"
        else:
            message = f"{payload['requirements']} already names them all"
        console.print(message, markup=False)
        return
    verb = "added to" if payload["written"] else "missing from"
    console.print(f"{verb} {payload['requirements']}:", markup=False)
    for line in payload["missing"]:
        console.print(f"  {line}", markup=False)
    if payload["mode"] == "dry-run":
        console.print("run again with --write to add them", markup=False)


def register(app: typer.Typer) -> None:
    app.command("deps", help=HELP)(deps_cmd)
