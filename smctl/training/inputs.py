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
    source = channel.source
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
    resolved = []
    for ch in job.channels:
        if ch.source.is_s3:
            from smctl.aws.s3 import S3_CACHE, download_prefix

            cache = job.project_root / S3_CACHE
            on_event("download", {"channel": ch.config.name, "uri": ch.source.uri})
            path = download_prefix(ch.source, cache, region=job.region, progress=progress)
        else:
            path = ch.source.path.expanduser()
        if not path.exists():
            raise UsageError(f"channel {ch.config.name!r}: {path} does not exist",
                             f"create it, or point the channel elsewhere: --channel {ch.config.name}=PATH")
        if not has_files(path.resolve()):  # CreateTrainingJob: "No S3 objects found under S3 URL ..."
            where = f"{ch.source} has no objects" if ch.source.is_s3 else f"{path} holds no files"
            mode = " is in Pipe mode but" if ch.config.input_mode == "Pipe" else ":"
            raise UsageError(f"channel {ch.config.name!r}{mode} {where} (SageMaker refuses a channel without data)",
                             f"add data files, point it at data: --channel {ch.config.name}=PATH, or drop the "
                             "channel")
        resolved.append(replace(ch, source=Location.from_path(path.resolve())))
    return replace(job, channels=tuple(resolved))
