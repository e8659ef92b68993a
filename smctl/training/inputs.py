"""Channel inputs: where each channel's data is on this machine; s3:// channels mirrored into the project cache."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.contract.layout import ChannelConfig
from smctl.errors import UsageError
from smctl.events import OnEvent
from smctl.training.channels import has_files

if TYPE_CHECKING:
    from smctl.training.plan import TrainingJob


@dataclass(frozen=True)
class ChannelInput:
    config: ChannelConfig
    source: str  # a local path or an s3:// URI


def local_source(channel: ChannelInput, project_root: Path) -> Path:
    """Where the channel's files are on this machine; for s3:// the cache folder resolve_channels downloads into."""
    if channel.source.startswith("s3://"):
        from smctl.aws.s3 import S3_CACHE

        bucket, _, key = channel.source[len("s3://"):].partition("/")
        return project_root / S3_CACHE / bucket / key.strip("/")
    return Path(channel.source).expanduser().resolve()


def resolve_channels(job: TrainingJob, on_event: OnEvent, progress: Any = None) -> TrainingJob:
    """Download s3:// channels into the project's cache (a mirror of each prefix); check local ones exist.

    `progress` is an events.ByteProgress: (description, bytes) -> a context manager yielding advance(n).

    Raises:
        UsageError: a channel path is missing or holds no files.
    """
    resolved = []
    for ch in job.channels:
        source = ch.source
        if source.startswith("s3://"):
            from smctl.aws.s3 import S3_CACHE, download_prefix

            cache = job.project_root / S3_CACHE
            on_event("download", {"channel": ch.config.name, "uri": source})
            source = str(download_prefix(source, cache, region=job.region, progress=progress))
        path = Path(source).expanduser()
        if not path.exists():
            raise UsageError(f"channel {ch.config.name!r}: {path} does not exist",
                             f"create it, or point the channel elsewhere: --channel {ch.config.name}=PATH")
        if not has_files(path.resolve()):  # CreateTrainingJob: "No S3 objects found under S3 URL ..."
            where = f"{ch.source} has no objects" if ch.source.startswith("s3://") else f"{path} holds no files"
            mode = " is in Pipe mode but" if ch.config.input_mode == "Pipe" else ":"
            raise UsageError(f"channel {ch.config.name!r}{mode} {where} (SageMaker refuses a channel without data)",
                             f"add data files, point it at data: --channel {ch.config.name}=PATH, or drop the "
                             "channel")
        resolved.append(replace(ch, source=str(path.resolve())))
    return replace(job, channels=tuple(resolved))
