"""`smctl package`: pack, inspect and safely unpack model.tar.gz."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from smctl.cli.options import in_range
from smctl.cli.output import Output
from smctl.units import human_size

if TYPE_CHECKING:
    from rich.console import Console

    from smctl.archive import Inspection

app = typer.Typer(help="Pack, inspect and safely unpack model.tar.gz.", no_args_is_help=True)


@app.command()
def pack(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(metavar="DIR", help="Folder whose CONTENTS go at the archive root.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Archive to write.")] = Path("model.tar.gz"),
    code: Annotated[Path | None, typer.Option("--code", metavar="CODE_DIR",
                                              help="Folder stored as code/ (inference.py, requirements.txt).")] = None,
    level: Annotated[int, typer.Option("--level", callback=in_range("--level", 1, 9),
                                       help="gzip level 1-9: 1-3 ISA-L (fast), 4-9 zlib-ng (smaller).")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output if it exists.")] = False,
    dereference: Annotated[bool, typer.Option(
        "--dereference", help="Store the content of symlinks pointing outside DIR (links inside stay links).")] = False,
    upload: Annotated[str | None, typer.Option("--upload", metavar="s3://BUCKET/KEY",
                                               help="Upload the archive there (multipart) once written.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="AWS region for --upload.")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="AWS profile for --upload.")] = None,
) -> None:
    """Pack DIR into a reproducible model.tar.gz, SageMaker's layout: DIR's contents at the root."""
    from smctl import archive
    from smctl.aws import s3 as aws

    out: Output = ctx.obj.out
    target = None if upload is None else aws.s3_location(upload)
    if target is not None:  # a bad URI, missing bucket or missing credentials fail before anything is written
        aws.parse_s3_uri(target, default_name=output.name)
        aws.check_bucket(target, region=region, profile=profile)
    plan = archive.plan_pack(source, output, code=code, dereference=dereference, force=force)
    for warning in plan.warnings:
        out.warn(warning)
    with out.progress("packing", plan.total_bytes) as advance:
        result = archive.write_pack(plan, level=level, on_progress=advance)
    payload: dict[str, Any] = result.as_dict()
    if target is not None:
        with out.progress("uploading", result.size) as advance:
            payload["s3_uri"] = aws.upload_file(result.path, target, advance, region=region, profile=profile)
    out.result(payload, lambda c: _render_fields(c, payload))


@app.command()
def inspect(
    ctx: typer.Context,
    archive_path: Annotated[Path, typer.Argument(metavar="ARCHIVE", help="The model.tar.gz to check.")],
) -> None:
    """List the entries of a model.tar.gz and warn about SageMaker's classic packaging mistakes."""
    from smctl import archive
    from smctl.errors import UnsafeArchiveError

    out: Output = ctx.obj.out
    report = archive.inspect_archive(archive_path)
    out.result(report.as_dict(), lambda c: _render_inspection(c, report))
    for f in report.findings:
        if f.severity == "warning":
            out.warn(f"{f.message}\n  Hint: {f.hint}")
        elif f.severity == "info":
            out.info(f"Note: {f.message}. {f.hint}")
    fatal = report.fatal
    if fatal:
        more = f" (and {len(fatal) - 1} more unsafe member(s))" if len(fatal) > 1 else ""
        raise UnsafeArchiveError(f"{archive_path} is unsafe to extract: {fatal[0].message}{more}", fatal[0].hint,
                                 details=report.as_dict())


@app.command()
def unpack(
    ctx: typer.Context,
    archive_path: Annotated[Path, typer.Argument(metavar="ARCHIVE", help="The model.tar.gz to extract.")],
    dest: Annotated[Path, typer.Argument(metavar="DIR", help="A new or empty folder to extract into.")],
) -> None:
    """Extract a model.tar.gz safely: nothing outside DIR, and nothing at all if it fails midway."""
    from smctl import archive

    out: Output = ctx.obj.out
    size = archive_path.stat().st_size if archive_path.is_file() else None
    with out.progress("unpacking", size) as advance:
        result = archive.unpack_archive(archive_path, dest, on_progress=advance)
    payload = result.as_dict()
    out.result(payload, lambda c: _render_fields(c, payload))


def _render_fields(c: Console, payload: dict[str, Any]) -> None:
    for key, value in payload.items():
        if key in ("size", "bytes", "uncompressed_bytes"):
            value = f"{human_size(value)} ({value} bytes)"
        elif key == "seconds":
            value = f"{value:.2f}"
        c.print(f"{key:<19}{value}", markup=False)


def _render_inspection(c: Console, report: Inspection) -> None:
    from rich.table import Table

    table = Table(box=None, show_edge=False, pad_edge=False)
    for name, justify in (("path", "left"), ("type", "left"), ("size", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for m in report.members:
        target = f" -> {m.linkname}" if m.linkname else ""
        table.add_row(m.path + target, m.type, human_size(m.size) if m.type == "file" else "")
    c.print(table)
    t = report.totals()
    c.print(f"{t['entries']} entries: {t['files']} files, {t['dirs']} folders, {t['symlinks']} symlinks, "
            f"{t['hardlinks']} hard links; {human_size(t['bytes'])} in files, "
            f"{human_size(t['compressed_bytes'])} compressed ({t['expansion_ratio']:g}x)", markup=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="package")
