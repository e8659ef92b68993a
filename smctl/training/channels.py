"""Channel data on the host: which files each host sees (sharding, seeded shuffles)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path


def list_channel_files(path: Path) -> list[Path]:
    """Every regular file of a channel, sorted by its key (path relative to the channel), like S3 listing."""
    if path.is_file():
        return [path]
    return sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.relative_to(path).as_posix())


def has_files(path: Path) -> bool:
    """Whether a channel holds at least one regular file (stops at the first: channels can be large)."""
    if path.is_file():
        return True
    return any(p.is_file() for p in path.rglob("*"))


def epoch_order(files: Sequence[Path], seed: int | None, host_index: int, host_count: int, sharded: bool,
                epoch: int = 0) -> list[Path]:
    """The files one host reads in one epoch: ShuffleConfig's seeded shuffle (a new order every epoch, and with
    ShardedByS3Key a new split across hosts), then this host's share."""
    order = list(files)
    if seed is not None:
        random.Random(f"{seed}/{epoch}").shuffle(order)
    return shard(order, host_index, host_count) if sharded else order


def shard(files: Sequence[Path], host_index: int, host_count: int) -> list[Path]:
    """ShardedByS3Key: host i (0-based) gets every N-th object, so each host holds a disjoint ~1/N share."""
    return [f for i, f in enumerate(files) if i % host_count == host_index]
