"""Channel inputs: where each channel's data is on this machine; s3:// channels mirrored into the project cache."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.contract.layout import ChannelConfig
from smctl.contract.location import Location, as_location
from smctl.errors import UsageError
from smctl.events import OnEvent
from smctl.training.channels import has_files

if TYPE_CHECKING:
    from smctl.training.plan import TrainingJob


@dataclass(frozen=True)
class ChannelInput:
    config: ChannelConfig
    source: Location  # a local folder or file, or an S3 prefix

    def __post_init__(self) -> None:
        if not isinstance(self.source, Location):  # the thin entry: text or a Path (relative to the cwd)
            object.__setattr__(self, "source", as_location(self.source, Path()))


def local_source(channel: ChannelInput, project_root: Path) -> Path:
    """Where the channel's files are on this machine; for s3:// the cache folder resolve_channels downloads into."""
    return local_path_of(channel.source, project_root)


def local_path_of(source: Location, project_root: Path) -> Path:
    """Where a local or s3:// source's files are on this machine (s3://: the project cache's mirror)."""
    if source.is_s3:
        from smctl.aws.s3 import S3_CACHE

        return project_root / S3_CACHE / source.bucket / source.key.strip("/")
    return source.path.expanduser().resolve()


def resolve_channels(job: TrainingJob, on_event: OnEvent, progress: Any = None) -> TrainingJob:
    """Download s3:// channels into the project's cache (a mirror of each prefix); check local ones exist.

    `progress` is an events.ByteProgress: (description, bytes) -> a context manager yielding advance(n).

    Raises:
        UsageError: a channel path is missing or holds no files.
    """
    resolved = [replace(ch, source=resolve_source(ch.source, ch.config.name, job.project_root, on_event,
                                                   region=job.region, progress=progress,
                                                   pipe=ch.config.input_mode == "Pipe"))
                for ch in job.channels]
    return replace(job, channels=tuple(resolved))


def resolve_source(source: Location, name: str, project_root: Path, on_event: OnEvent, *, region: str | None,
                   progress: Any = None, pipe: bool = False, kind: str = "channel",
                   flag: str = "--channel") -> Location:
    """A channel's or input's files on this machine: s3:// mirrored into the project's cache, a local path checked.

    Raises:
        UsageError: the path is missing or holds no files.
        SmctlError: an s3:// source cannot be downloaded.
    """
    if source.is_s3:
        from smctl.aws.s3 import S3_CACHE, download_prefix

        on_event("download", {kind: name, "uri": source.uri})
        path = download_prefix(source, project_root / S3_CACHE, region=region, progress=progress)
    else:
        path = source.path.expanduser()
    if not path.exists():
        raise UsageError(f"{kind} {name!r}: {path} does not exist",
                         f"create it, or point the {kind} elsewhere: {flag} {name}=PATH")
    if not has_files(path.resolve()):  # CreateTrainingJob: "No S3 objects found under S3 URL ..."
        where = f"{source} has no objects" if source.is_s3 else f"{path} holds no files"
        mode = " is in Pipe mode but" if pipe else ":"
        raise UsageError(f"{kind} {name!r}{mode} {where} (SageMaker refuses a {kind} without data)",
                         f"add data files, point it at data: {flag} {name}=PATH, or drop the {kind}")
    return Location.from_path(path.resolve())
