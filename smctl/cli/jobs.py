"""`smctl jobs` (this project's SageMaker jobs and endpoints, with status) and `smctl stop` (a SageMaker job)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smctl.cli.options import YesOption, in_range
from smctl.cli.output import Output, event_printer

JOBS_HELP = ("This project's SageMaker training, transform and processing jobs and endpoints (those smctl train, "
             "transform, process and deploy created from it), newest first, with their status now.")
STOP_HELP = ("Stop a SageMaker training, transform or processing job (asks first). Endpoints are deleted instead: "
             "smctl undeploy; local endpoints: smctl local-stop.")
COLUMNS = ("kind", "name", "status", "created", "region", "detail")


def jobs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(
        "--limit", metavar="N", help="At most N, newest first (1-1000).", callback=in_range("--limit", 1, 1000))
    ] = 20,
    region: Annotated[str | None, typer.Option(
        "--region", metavar="REGION", help="Only those of this region (default: every region recorded).")] = None,
) -> None:
    from smctl.cloud.jobs import job_rows
    from smctl.cloud.ledger import entries, ledger_path
    from smctl.project.spec import load_project

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    where = spec.aws.with_overrides(region=region).region if region else None
    recorded = [e for e in entries(spec.root) if where is None or e.region == where][:limit]
    rows = [r.as_dict() for r in job_rows(recorded, profile=spec.aws.profile)]

    def render(console: Any) -> None:
        if not rows:
            console.print(f"no SageMaker jobs or endpoints recorded in {ledger_path(spec.root)} (smctl train, "
                          "transform, process and deploy record what they create)", markup=False)
            return
        widths = {c: max(len(c), *(len(_cell(r, c)) for r in rows)) for c in COLUMNS[:-1]}
        console.print("  ".join(c.upper().ljust(widths.get(c, 0)) for c in COLUMNS).rstrip(), markup=False)
        for r in rows:
            console.print("  ".join(_cell(r, c).ljust(widths.get(c, 0)) for c in COLUMNS).rstrip(), markup=False)

    out.result({"jobs": rows}, render)


def _cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    if column == "created" and value:
        return str(value)[:19].replace("T", " ")
    if column == "detail" and value:
        return str(value).splitlines()[0][:100]
    return str(value) if value is not None else "-"


def stop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The SageMaker training, transform or processing job.")],
    yes: YesOption = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job has stopped.")] = False,
    region: Annotated[str | None, typer.Option("--region", metavar="REGION")] = None,
) -> None:
    from smctl.cli.options import confirm, sagemaker_client
    from smctl.cloud.jobs import stop as stop_job
    from smctl.cloud.jobs import what_to_stop

    out: Output = ctx.obj.out
    _, where, sm = sagemaker_client(ctx, region)
    kind, status = what_to_stop(sm, name)
    if not yes:
        confirm(f"stop the {kind} {name} ({status}) in {where}", f"smctl stop {name}")
    result = stop_job(sm, kind, name, status, event_printer(out), wait=wait)
    data = {"kind": result.kind, "name": result.name, "status": result.status, "region": where}
    follow = "" if wait else f"; follow it: smctl logs {name} --cloud -f"
    out.result(data, lambda c: c.print(f"{result.kind} {result.name}: {result.status}{follow}", markup=False))


def register(app: typer.Typer) -> None:
    app.command("jobs", help=JOBS_HELP)(jobs)
    app.command("stop", help=STOP_HELP)(stop)


def remember(out: Output, spec: Any, kind: str, name: str, region: str) -> None:
    """Record a creation in the project's ledger for `smctl jobs`; a ledger that cannot be written is a warning."""
    from smctl.cloud.ledger import ledger_path, record

    if record(spec.root, kind, name, region) is None:
        out.warn(f"could not record the {kind} {name} in {ledger_path(spec.root)}: smctl jobs will not list it "
                 f"(it exists all the same: smctl logs {name} --cloud)")
