"""`smctl doctor`: is this machine ready to run SageMaker containers? Every check runs; the table says what to fix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from smctl.cli.output import Output
from smctl.errors import ChecksFailedError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from smctl.doctor.model import Report

ICONS = {"ok": ("✔", "green"), "warn": ("!", "yellow"), "fail": ("✖", "red"), "skip": ("-", "dim")}
FIXES = ("data-root",)


def doctor(
    ctx: typer.Context,
    port: Annotated[list[int] | None, typer.Option(
        "--port", min=1, max=65535, metavar="PORT",
        help="Also check this host port (repeatable; 8080 and [serve] port always).")
    ] = None,
    online: Annotated[bool, typer.Option(
        "--online", help="Also call AWS: STS GetCallerIdentity and ECR GetAuthorizationToken; with a role, "
        "AssumeRole, its trust policy and its permissions (IAM GetRole, SimulatePrincipalPolicy).")] = False,
    role: Annotated[str | None, typer.Option(
        "--role", metavar="ARN", help="The execution role to check (default: smctl.toml [aws] role); without "
        "--online only named.")] = None,
    fix: Annotated[list[str] | None, typer.Option(
        "--fix", metavar="data-root=PATH",
        help="Apply a fix instead of checking: data-root=PATH moves Docker's data (root, asks first).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before applying --fix.")] = False,
    daemon_json: Annotated[Path, typer.Option(
        "--daemon-json", metavar="PATH", help="The engine's daemon.json that --fix edits.")
    ] = Path("/etc/docker/daemon.json"),
) -> None:
    """Check Docker, ports, disk space, GPU, AWS credentials and the project; exit 6 if any check fails."""
    out: Output = ctx.obj.out
    if fix:
        _fix(out, fix, yes, daemon_json)
        return
    from smctl.cli.options import check_role
    from smctl.doctor.runner import DoctorOptions, run_doctor

    opts = DoctorOptions(cwd=Path.cwd(), config=ctx.obj.config, ports=tuple(port or ()), online=online,
                         daemon_json=daemon_json, role=check_role(role))
    report = run_doctor(opts, lambda what: out.debug(f"checking {what}"))
    finish(out, report, "fix what the table says, then rerun `smctl doctor`")


def finish(out: Output, report: Report, hint: str, pass_word: str = "ok") -> None:
    """Render the report; raise ChecksFailedError (exit 6, the report in its details) if any check failed."""
    payload = report.as_dict()
    out.result(payload, lambda console: render(console, report, verbose=out.verbose, pass_word=pass_word))
    if report.failed:
        failed = [c.id for c in report.checks if c.status.value == "fail"]
        raise ChecksFailedError(f"{len(failed)} of {len(report.checks)} checks failed: {', '.join(failed)}",
                                hint, details=payload)


def render(console: Console, report: Report, *, verbose: bool = False, pass_word: str = "ok") -> None:
    """A rich table on a terminal; aligned plain lines otherwise (pipes, logs, grep)."""
    rows = []
    for c in report.checks:
        word = pass_word if c.status.value == "ok" else c.status.value
        lines = list(c.details) if (verbose or c.status.value in ("warn", "fail")) else []
        rows.append((c.status.value, word, c.title, c.summary, lines, c.remedy))
    if console.is_terminal:
        _table(console, rows)
    else:
        for status, word, title, summary, lines, remedy in rows:
            console.print(f"{word.upper():<5} {title}: {summary}", markup=False)
            for line in lines:
                console.print(f"      {line}", markup=False)
            if remedy and status in ("warn", "fail"):
                console.print("      fix: " + remedy.replace("\n", "\n      "), markup=False)
    counts = report.counts()
    tail = ", ".join(f"{n} {'passed' if k == 'ok' and pass_word == 'pass' else k}" for k, n in counts.items() if n)
    console.print(tail, markup=False)


def _table(console: Console, rows: list[Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", expand=False, show_lines=False)
    table.add_column("", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("result")
    for status, word, title, summary, lines, remedy in rows:
        icon, colour = ICONS[status]
        cell = escape(summary)
        for line in lines:
            cell += f"\n[dim]{escape(line)}[/dim]"
        if remedy and status in ("warn", "fail"):
            cell += f"\n[bold]fix:[/bold] {escape(remedy)}"
        table.add_row(f"[{colour}]{icon} {word}[/{colour}]", escape(title), cell)
    console.print(table)


def _fix(out: Output, fixes: list[str], yes: bool, daemon_json: Path) -> None:
    from smctl.doctor import data_root
    from smctl.engine.client import data_root as engine_data_root
    from smctl.engine.client import engine

    target = parse_fix(fixes)
    client = engine(timeout=120)
    try:
        old = engine_data_root(client)
        plan = data_root.validate_fix(target, old, client, daemon_json)
    finally:
        client.close()
    out.info(f"Move Docker's data-root from {old} to {plan.new_root}:")
    for i, step in enumerate(data_root.move_steps(old, plan.new_root, daemon_json)[:-1], 1):
        out.info(f"  {i}. {step}")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("--fix data-root stops Docker and edits its configuration: it needs a confirmation, "
                             "and there is no terminal to ask on", "add --yes to apply it without asking")
        if not typer.confirm("Stop Docker and move its data now?", default=False, err=True):
            out.info("nothing changed")
            out.result({"fixed": False, "old_root": old, "new_root": plan.new_root})
            return
    result = data_root.apply_fix(plan, out.info, lambda: _engine_info())
    payload = {"fixed": result.verified, "old_root": result.old_root, "new_root": result.new_root,
               "backup": result.backup, "data_root_now": result.data_root_now}
    if not result.verified:
        raise data_root.DataRootFixError(
            f"Docker came back with data-root {result.data_root_now}, not {result.new_root}",
            f"check {daemon_json}" + (f" (the old one is {result.backup})" if result.backup else ""),
            details=payload)
    out.result(payload, lambda c: c.print(f"Docker now keeps its data in {result.new_root}; once all is well: "
                                          f"sudo rm -rf {old}", markup=False))


def _engine_info() -> dict:
    from smctl.engine.client import engine, server_facts

    client = engine(timeout=120)
    try:
        return server_facts(client)[1]
    finally:
        client.close()


def parse_fix(fixes: list[str]) -> Path:
    """`--fix data-root=PATH` -> PATH. Raises: UsageError for another or a malformed fix."""
    if len(fixes) != 1:
        raise UsageError("give one --fix at a time", "smctl doctor --fix data-root=PATH")
    key, sep, value = fixes[0].partition("=")
    if key not in FIXES or not sep or not value.strip():
        raise UsageError(f"unknown fix {fixes[0]!r}", f"the fixes are: {', '.join(f + '=PATH' for f in FIXES)}")
    return Path(value.strip()).expanduser()


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
