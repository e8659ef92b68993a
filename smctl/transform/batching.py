"""BatchStrategy: which records of one object travel together, never past MaxPayloadInMB (counted in bytes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smctl.errors import RecordTooLargeError

MB = 1024 * 1024
STRATEGIES = ("SingleRecord", "MultiRecord")


@dataclass(frozen=True)
class Batch:
    """Records [first, first + count) of one object, `size` bytes on the wire."""

    index: int
    first: int
    count: int
    size: int


def plan_batches(sizes: Sequence[int], strategy: str, limit: int | None) -> list[Batch]:
    """Greedy packing in input order: SingleRecord one record per batch; MultiRecord as many whole records as fit
    in `limit` bytes (None: no limit, everything in one batch).

    Raises:
        RecordTooLargeError: a record alone exceeds `limit`.
    """
    if limit is not None:
        for n, size in enumerate(sizes):
            if size > limit:
                raise RecordTooLargeError(n + 1, size, limit)
    if strategy == "SingleRecord":
        return [Batch(i, i, 1, size) for i, size in enumerate(sizes)]
    if limit is None:
        return [Batch(0, 0, len(sizes), sum(sizes))] if sizes else []
    batches: list[Batch] = []
    first = 0
    total = 0
    for i, size in enumerate(sizes):
        if i > first and total + size > limit:
            batches.append(Batch(len(batches), first, i - first, total))
            first, total = i, 0
        total += size
    if first < len(sizes):
        batches.append(Batch(len(batches), first, len(sizes) - first, total))
    return batches
