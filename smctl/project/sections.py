"""The ProjectSpec smctl.toml describes (project/spec.py reads it): frozen sections, each taking command-line
flags over the file's values through the file's own checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from smctl.contract.async_inference import AsyncConfig
from smctl.contract.hyperparameters import encode_hyperparameters
from smctl.contract.layout import ChannelConfig
from smctl.contract.location import Location
from smctl.errors import UsageError
from smctl.project import checks, schema
from smctl.project.schema import Bad, Ctx

if TYPE_CHECKING:
    from typing import Self  # 3.11; annotations only, so 3.10 never imports it


@dataclass(frozen=True, kw_only=True)
class _Section:
    _name: ClassVar[str] = ""

    def with_overrides(self, flag_names: Mapping[str, str] | None = None, **flags: Any) -> Self:
        """A copy with the given flags applied; None means "flag not given". Values get the file's checks, and
        relative paths resolve against the current folder (where the user typed them). An error names the flag
        --KEY, or flag_names[KEY] where the flag is spelled otherwise.

        Raises:
            UsageError: a flag value fails the key's check, naming the flag.
        """
        fields = {f.name: f for f in schema.SECTIONS[self._name]}
        changes: dict[str, Any] = {}
        for key, value in flags.items():
            if key not in fields or key == "channels":
                raise TypeError(f"[{self._name}] has no overridable key {key!r}")
            if value is None:
                continue
            if isinstance(value, Path):  # typer hands path arguments over as Path; the file's checks take text
                value = str(value)
            try:
                changes[key] = fields[key].check(value, Ctx(Path.cwd()))
            except Bad as bad:
                flag = (flag_names or {}).get(key) or f"--{key.replace('_', '-')}"
                problem = checks.problems_for(flag, value, bad)[0]
                raise UsageError(problem.message, problem.hint) from None
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class ProjectSection(_Section):
    _name: ClassVar[str] = "project"
    name: str
    image: str
    tag: str


@dataclass(frozen=True, kw_only=True)
class BuildSection(_Section):
    _name: ClassVar[str] = "build"
    dockerfile: Path
    context: Path
    platform: str
    build_args: Mapping[str, str]
    serve_dockerfile: Path | None
    serve_image: str | None


@dataclass(frozen=True, kw_only=True)
class AwsSection(_Section):
    _name: ClassVar[str] = "aws"
    region: str | None
    profile: str | None
    ecr_repository: str
    account_id: str | None
    registry: str | None
    role: str | None  # the execution role local runs assume for their containers' credentials (--role)
    bucket: str | None  # the cloud commands' uploads and default output (default: sagemaker-REGION-ACCOUNT)


@dataclass(frozen=True, kw_only=True)
class ChannelSpec:
    """One training channel; `path` is a resolved local path or an S3 prefix."""

    name: str
    path: Location
    content_type: str | None = None
    input_mode: str = "File"
    distribution: str = "FullyReplicated"
    record_wrapper: str = "None"
    compression: str = "None"
    shuffle_seed: int | None = None

    @property
    def is_s3(self) -> bool:
        return self.path.is_s3

    @property
    def source(self) -> Location:
        return self.path

    @property
    def config(self) -> ChannelConfig:
        return ChannelConfig(self.name, self.input_mode, self.distribution, self.record_wrapper,
                             self.content_type, self.compression, self.shuffle_seed)


@dataclass(frozen=True, kw_only=True)
class TrainSection(_Section):
    _name: ClassVar[str] = "train"
    image: str
    instance_type: str
    instance_count: int
    input_mode: str
    hyperparameters: Mapping[str, str | int | float | bool]
    hyperparameter_encoding: str
    environment: Mapping[str, str]
    checkpoint_dir: Path | None
    output_dir: Path
    job_name: str | None
    entrypoint: tuple[str, ...] | None
    arguments: tuple[str, ...] | None
    gpus: str  # auto | all | none | N | id,id: the --gpus flag's form
    keep: bool
    read_only_channels: bool
    channels: tuple[ChannelSpec, ...]

    def channel_inputs(self) -> tuple[ChannelSpec, ...]:
        """The channels in file order; each has `.config` (a layout.ChannelConfig) and `.source` (a Location)."""
        return self.channels

    def encoded_hyperparameters(self) -> dict[str, str]:
        return encode_hyperparameters(self.hyperparameters, self.hyperparameter_encoding)


@dataclass(frozen=True, kw_only=True)
class ServeSection(_Section):
    _name: ClassVar[str] = "serve"
    image: str
    model: Location | None
    port: int
    host: str
    instance_type: str
    environment: Mapping[str, str]
    gpus: str
    startup_timeout: int
    read_only_model: bool
    name: str
    async_inference: AsyncConfig | None = None  # [serve.async_inference]
    containers: tuple[Mapping[str, Any], ...] = ()  # [[serve.containers]] (smctl.serving.pipeline)
    execution_mode: str = "Serial"


@dataclass(frozen=True, kw_only=True)
class TransformSection(_Section):
    _name: ClassVar[str] = "transform"
    image: str
    model: Location | None
    input: Location | None
    output: Location
    content_type: str | None
    accept: str | None
    split_type: str
    strategy: str | None  # SingleRecord | MultiRecord | None (not set: the container or default decides)
    max_payload_mb: int | None
    max_concurrent: int | None
    assemble_with: str
    input_filter: str | None
    output_filter: str | None
    join_source: str
    compression: str
    timeout: int
    retries: int
    environment: Mapping[str, str]
    instance_type: str
    gpus: str


@dataclass(frozen=True, kw_only=True)
class ProcessSection(_Section):
    _name: ClassVar[str] = "process"
    image: str
    instance_type: str
    instance_count: int
    environment: Mapping[str, str]
    inputs: Mapping[str, str]  # NAME -> "PATH[,OPTION=VALUE...]", read as --input (smctl.cli.process)
    outputs: Mapping[str, str]
    code: Path | None
    max_runtime: int
    entrypoint: tuple[str, ...] | None
    arguments: tuple[str, ...] | None
    job_name: str | None
    gpus: str


@dataclass(frozen=True, kw_only=True)
class ProjectSpec:
    root: Path | None  # the folder holding smctl.toml; None without a file
    source: Path | None  # the smctl.toml read; None without a file
    project: ProjectSection
    aws: AwsSection
    build: BuildSection
    train: TrainSection
    serve: ServeSection
    transform: TransformSection
    process: ProcessSection

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: paths as strings, tables as dicts."""
        return _plain(self)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path | Location) else value
