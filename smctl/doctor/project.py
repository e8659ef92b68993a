"""The project in this folder: smctl.toml, its Dockerfile, its images, its port and GPUs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProjectFacts:
    config_path: str | None = None  # None: no smctl.toml here
    error: str | None = None
    error_hint: str | None = None
    dockerfile: str | None = None
    dockerfile_exists: bool = False
    images: tuple[str, ...] = ()
    images_missing: tuple[str, ...] = ()
    images_known: bool = False  # False: the engine could not be asked
    serve_port: int | None = None
    needs_gpu: str | None = None  # why the project needs GPUs
    aws_region: str | None = None  # [aws] region and profile: smctl's commands use them
    aws_profile: str | None = None
    aws_role: str | None = None  # [aws] role: the execution role local runs' containers get
    ecr_repository: str | None = None
    account_id: str | None = None
    s3_reads: tuple[tuple[str, str, str], ...] = ()  # (the key that names it, bucket, key): what jobs read
    s3_writes: tuple[tuple[str, str, str], ...] = ()  # ... and write


def probe_project(explicit: Path | None, cwd: Path, client: Any = None) -> ProjectFacts:
    """Load smctl.toml and look for its Dockerfile and images; never raises for a bad file."""
    from smctl.errors import SmctlError
    from smctl.project import spec as spec_module

    try:
        config = spec_module.find_config(cwd, explicit)
    except SmctlError as err:  # --config names a file that is not there
        return ProjectFacts(str(explicit), error=err.message, error_hint=err.hint)
    if config is None:
        return ProjectFacts()
    try:
        spec = spec_module.load_spec(config)
    except SmctlError as err:
        return ProjectFacts(str(config), error=err.message, error_hint=err.hint)
    dockerfile = Path(spec.build.dockerfile)
    images = tuple(dict.fromkeys((spec.train.image, spec.serve.image)))
    missing = _missing_images(client, images)
    return ProjectFacts(
        str(config),
        dockerfile=str(dockerfile),
        dockerfile_exists=dockerfile.is_file(),
        images=images,
        images_missing=missing or (),
        images_known=missing is not None,
        serve_port=spec.serve.port or None,  # 0 means "any free port": nothing to check
        needs_gpu=_gpu_reason(spec),
        aws_region=spec.aws.region,
        aws_profile=spec.aws.profile,
        aws_role=spec.aws.role,
        ecr_repository=spec.aws.ecr_repository,
        account_id=spec.aws.account_id,
        s3_reads=_s3((f"[train.channels.{c.name}]", c.path) for c in spec.train.channels) +
        _s3((("[serve] model", spec.serve.model), ("[transform] model", spec.transform.model),
             ("[transform] input", spec.transform.input))),
        s3_writes=_s3((("[transform] output", spec.transform.output),)),
    )


def _s3(named: Any) -> tuple[tuple[str, str, str], ...]:
    """The s3:// locations among (key, Location | None) pairs, as (key, bucket, key prefix)."""
    return tuple((why, loc.bucket, loc.key) for why, loc in named if loc is not None and loc.is_s3)


def _gpu_reason(spec: Any) -> str | None:
    from smctl.contract.instances import INSTANCE_TYPES

    for section in ("train", "serve"):
        part = getattr(spec, section)
        itype = INSTANCE_TYPES.get(part.instance_type)
        if part.gpus not in ("auto", "none", "0") and part.gpus:
            return f"smctl.toml [{section}] gpus = {part.gpus!r}"
        if itype is not None and itype.gpus and part.gpus != "none":
            return f"smctl.toml [{section}] uses the GPU instance type {part.instance_type}"
    return None


def _missing_images(client: Any, images: tuple[str, ...]) -> tuple[str, ...] | None:
    if client is None:
        return None
    from smctl.engine.images import image_exists

    try:
        return tuple(image for image in images if not image_exists(client, image))
    except Exception:  # noqa: BLE001 - the engine check reports why the engine cannot be asked
        return None
