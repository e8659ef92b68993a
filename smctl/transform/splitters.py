"""SplitType framing over the bytes of one object: None, Line, RecordIO (MXNet) and TFRecord, record-exact.

Each splitter returns the records as SageMaker sends them: with BatchStrategy MultiRecord a binary record keeps its
framing and padding (the container splits the batch again); with SingleRecord the bare payload is sent. A Line
record keeps its line ending (\\n or \\r\\n; the last line may have none), so a MultiRecord batch is a byte-exact
run of the input.
"""

from __future__ import annotations

import struct

from smctl.contract.recordio import RECORDIO_MAGIC
from smctl.errors import SplitError

SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
_RECORDIO_LENGTH = (1 << 29) - 1
_TFRECORD_MASK_DELTA = 0xA282EAD8


def split_records(data: bytes, split_type: str, *, framed: bool) -> list[bytes]:
    """The records of one object; `framed` keeps RecordIO/TFRecord framing (MultiRecord), else bare payloads.

    Raises:
        SplitError: RecordIO or TFRecord framing is broken (bad magic, truncated, CRC mismatch).
    """
    if split_type == "None":
        return [data] if data else []
    if split_type == "Line":
        return split_lines(data)
    if split_type == "RecordIO":
        return [data[a:b] if framed else payload for a, b, payload in recordio_spans(data)]
    if split_type == "TFRecord":
        return [data[a:b] if framed else payload for a, b, payload in tfrecord_spans(data)]
    raise ValueError(f"unknown split type {split_type!r}")


def split_lines(data: bytes) -> list[bytes]:
    """Lines with their own endings kept (\\r\\n stays whole: only \\n ends a record); no empty tail record."""
    lines = data.split(b"\n")
    last = lines.pop()
    records = [line + b"\n" for line in lines]
    if last:
        records.append(last)
    return records


def strip_line_ending(record: bytes) -> bytes:
    if record.endswith(b"\r\n"):
        return record[:-2]
    return record[:-1] if record.endswith(b"\n") else record


def recordio_spans(data: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, payload) per logical record; a multi-part record (cflag 1, 2..., 3) is one span."""
    spans: list[tuple[int, int, bytes]] = []
    pos = 0
    start = 0
    parts: list[bytes] = []
    size = len(data)
    while pos < size:
        number = len(spans) + 1
        if size - pos < 8:
            raise SplitError(f"truncated RecordIO header ({size - pos} bytes left)", number, pos)
        magic, lrecord = struct.unpack_from("<II", data, pos)
        if magic != RECORDIO_MAGIC:
            raise SplitError(f"bad RecordIO magic 0x{magic:08x} (expected 0x{RECORDIO_MAGIC:08x})", number, pos)
        cflag, length = lrecord >> 29, lrecord & _RECORDIO_LENGTH
        body = pos + 8
        if body + length > size:
            raise SplitError(f"truncated RecordIO record: {length} bytes announced, {size - body} present",
                             number, pos)
        if not parts:
            start = pos
        if cflag in (1, 2) and (cflag == 1) != (not parts):
            raise SplitError(f"RecordIO continuation flag {cflag} out of sequence", number, pos)
        chunk = data[body : body + length]
        pos = min(body + length + (-length % 4), size)  # writers pad to 4 bytes; a missing final pad is tolerated
        if cflag == 0:
            if parts:
                raise SplitError("RecordIO record starts before the previous multi-part record ended", number, start)
            spans.append((start, pos, chunk))
        elif cflag in (1, 2):
            parts.append(chunk)
        else:
            if not parts:
                raise SplitError("RecordIO end-of-record flag without a start", number, start)
            spans.append((start, pos, b"".join([*parts, chunk])))
            parts = []
    if parts:
        raise SplitError("RecordIO multi-part record is not finished at the end of the data", len(spans) + 1, start)
    return spans


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C (Castagnoli): rotate right by 15, add a constant."""
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _TFRECORD_MASK_DELTA) & 0xFFFFFFFF


def tfrecord_spans(data: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, payload) per TFRecord: uint64 length, masked crc of it, data, masked crc of data; CRCs checked."""
    spans: list[tuple[int, int, bytes]] = []
    pos = 0
    size = len(data)
    while pos < size:
        number = len(spans) + 1
        if size - pos < 12:
            raise SplitError(f"truncated TFRecord header ({size - pos} bytes left)", number, pos)
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack_from("<I", data, pos + 8)
        if masked_crc32c(header) != length_crc:
            raise SplitError("TFRecord length CRC mismatch (not TFRecord data, or corrupt)", number, pos)
        body = pos + 12
        end = body + length + 4
        if end > size:
            raise SplitError(f"truncated TFRecord: {length} bytes announced, {max(0, size - body - 4)} present",
                             number, pos)
        payload = data[body : body + length]
        (data_crc,) = struct.unpack_from("<I", data, body + length)
        if masked_crc32c(payload) != data_crc:
            raise SplitError("TFRecord data CRC mismatch (corrupt record)", number, pos)
        spans.append((pos, end, payload))
        pos = end
    return spans


def tfrecord_frame(payload: bytes) -> bytes:
    """One record in TFRecord framing (what tf.io.TFRecordWriter writes)."""
    header = struct.pack("<Q", len(payload))
    return (header + struct.pack("<I", masked_crc32c(header)) + payload
            + struct.pack("<I", masked_crc32c(payload)))
