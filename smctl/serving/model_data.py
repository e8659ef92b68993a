"""The model an endpoint serves, on the host: a folder used as it is, a model.tar.gz extracted safely, s3:// model
data downloaded (cached) then extracted; and the layout findings any container would trip over."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from smctl.contract.location import Location
from smctl.errors import UsageError
from smctl.events import OnEvent

if TYPE_CHECKING:
    from smctl.serving.endpoint import EndpointPlan


def model_source(model: Location | None, run_dir: Path) -> tuple[Path, str]:
    if model is None:
        return run_dir / "model", "none"
    if model.is_s3:
        return run_dir / "model", "s3"
    path = model.path.expanduser().resolve()
    if path.is_dir():
        return path, "folder"
    if path.is_file():
        return run_dir / "model", "archive"
    raise UsageError(f"model {model} does not exist",
                     "pass --model with a folder, a model.tar.gz or an s3:// URI (or leave it out for no model)")


def prepare_model(plan: EndpointPlan, on_event: OnEvent) -> None:
    """Fill the model folder: extract model.tar.gz safely, or download s3:// model data; a folder is used as is.

    Raises:
        ArchiveError / UnsafeArchiveError: the archive is corrupt or would escape the folder.
    """
    if plan.model_kind == "folder":
        return
    if plan.model_dir.exists():  # a stale copy from a run that was killed: start afresh
        shutil.rmtree(plan.model_dir)
    plan.model_dir.mkdir(parents=True)
    model = plan.config.model
    if plan.model_kind == "none" or model is None:
        return
    if model.is_s3:
        from smctl.aws.s3 import S3_CACHE, download_prefix

        on_event("download", {"message": f"downloading {model} (cached in {S3_CACHE})"})
        cache = plan.config.project_root / S3_CACHE
        archive = download_prefix(model, cache, region=plan.config.region)
        if archive.is_dir():  # uncompressed model data (ModelDataSource, CompressionType None): lands as it is
            shutil.copytree(archive, plan.model_dir, dirs_exist_ok=True)
            return
    else:
        archive = model.path
    on_event("extract", {"message": f"extracting {archive} into {plan.model_dir}"})
    unpack_model(archive, plan.model_dir)
    for message in model_layout_warnings(plan.model_dir, str(model)):
        on_event("warning", {"message": message})


LAYOUT_WARNINGS = ("nested-folder", "empty")  # what makes any container miss its model (the rest is toolkit-specific)


def model_layout_warnings(model_dir: Path, source: str) -> list[str]:
    """`smctl package inspect`'s layout findings for an extracted model (a folder wrapping everything, say)."""
    from smctl.archive.unpack import Member, layout_findings

    members = [Member(str(p.relative_to(model_dir)), "dir" if p.is_dir() else "file", 0)
               for p in sorted(model_dir.rglob("*"))]
    return [f"model {source}: {f.message}; the endpoint still starts, but fix it: {f.hint}"
            for f in layout_findings(members) if f.code in LAYOUT_WARNINGS]


def unpack_model(archive: Path, dest: Path) -> None:
    """Extract model.tar.gz into the empty folder `dest` with the package module's safe, all-or-nothing unpack."""
    from smctl.archive import unpack_archive

    unpack_archive(archive, dest)
