"""MXNet RecordIO framing, as SageMaker wraps records for RecordWrapperType RecordIO and reads them for
SplitType RecordIO."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from smctl.errors import UsageError

RECORDIO_MAGIC = 0xCED7230A
_MAX_PART = (1 << 29) - 1


def recordio_frames(payload: bytes) -> Iterator[bytes]:
    """MXNet RecordIO framing of one object: magic, (cflag<<29 | length), data, padding to 4 bytes."""
    if len(payload) <= _MAX_PART:
        yield _frame(0, payload)
        return
    parts = [payload[i : i + _MAX_PART] for i in range(0, len(payload), _MAX_PART)]
    for n, part in enumerate(parts):
        cflag = 1 if n == 0 else (3 if n == len(parts) - 1 else 2)
        yield _frame(cflag, part)


def _frame(cflag: int, data: bytes) -> bytes:
    header = struct.pack("<II", RECORDIO_MAGIC, (cflag << 29) | len(data))
    return header + data + b"\x00" * (-len(data) % 4)


def read_recordio(data: bytes) -> list[bytes]:
    """Split a RecordIO stream into its records (multi-part records joined).

    Raises:
        UsageError: the data is not RecordIO framed.
    """
    records: list[bytes] = []
    pending = b""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 8:
            raise UsageError(f"truncated RecordIO header at byte {pos}",
                             "is the input complete and really RecordIO framed?")
        magic, lrec = struct.unpack_from("<II", data, pos)
        if magic != RECORDIO_MAGIC:
            raise UsageError(f"bad RecordIO magic at byte {pos}", "is the input really RecordIO framed?")
        cflag, length = lrec >> 29, lrec & _MAX_PART
        start = pos + 8
        if start + length > len(data):
            raise UsageError(f"truncated RecordIO record at byte {pos}",
                             "is the input complete and really RecordIO framed?")
        chunk = data[start : start + length]
        pos = start + length + (-length % 4)
        if cflag == 0:
            records.append(chunk)
        elif cflag in (1, 2):
            pending += chunk
        else:
            records.append(pending + chunk)
            pending = b""
    return records
