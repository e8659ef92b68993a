"""AWS event-stream framing (application/vnd.amazon.eventstream), as botocore's eventstream.EventStreamBuffer reads it.

A message: prelude (total length, headers length: two big-endian uint32, then the CRC32 of those 8 bytes),
headers (name length uint8, name, type 7 = string, value length uint16, value), payload, and the CRC32 of
everything before it. InvokeEndpointWithResponseStream's PayloadPart carries its Bytes as the raw payload (the
member is the event payload, a blob), its errors a JSON body {"Message", "ErrorCode"}.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32

CONTENT_TYPE = "application/vnd.amazon.eventstream"
STRING = 7
MAX_PAYLOAD = 24 * 1024 * 1024  # what botocore accepts in one message; bigger parts are split
MAX_PART = 256 * 1024  # smctl's parts: a container chunk bigger than this goes out as several PayloadParts

# ResponseStream's exception events (sagemaker-runtime's service model); ModelStreamError's codes
STREAM_BROKEN = "StreamBroken"
TIME_EXCEEDED = "ModelInvocationTimeExceeded"


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    head = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + head + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", STRING, len(raw_value)) + raw_value


def payload_parts(data: bytes) -> list[bytes]:
    """`PayloadPart` events carrying `data` (several when it is over MAX_PART)."""
    return [encode_message({":event-type": "PayloadPart", ":content-type": "application/octet-stream",
                            ":message-type": "event"}, data[i:i + MAX_PART])
            for i in range(0, max(len(data), 1), MAX_PART)]


def stream_error(error_code: str, message: str) -> bytes:
    """A `ModelStreamError` exception event: boto3 raises EventStreamError (Code ModelStreamError) on it."""
    body = json.dumps({"Message": message, "ErrorCode": error_code}).encode()
    return encode_message({":exception-type": "ModelStreamError", ":content-type": "application/json",
                           ":message-type": "exception"}, body)


def internal_failure(message: str) -> bytes:
    """An `InternalStreamFailure` exception event (smctl itself failed mid-stream)."""
    body = json.dumps({"Message": message}).encode()
    return encode_message({":exception-type": "InternalStreamFailure", ":content-type": "application/json",
                           ":message-type": "exception"}, body)


def decode_messages(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """(headers, payload) of every whole message in `data`, CRCs checked: for tests and the benchmark.

    Raises:
        ValueError: a CRC does not match or a message is cut short.
    """
    out = []
    while data:
        if len(data) < 16:
            raise ValueError(f"{len(data)} bytes left over: a message is cut short")
        total, head_len, prelude_crc = struct.unpack(">III", data[:12])
        if crc32(data[:8]) & 0xFFFFFFFF != prelude_crc or len(data) < total:
            raise ValueError("bad prelude CRC or message cut short")
        (message_crc,) = struct.unpack(">I", data[total - 4:total])
        if crc32(data[:total - 4]) & 0xFFFFFFFF != message_crc:
            raise ValueError("bad message CRC")
        headers, head = {}, data[12:12 + head_len]
        while head:
            n = head[0]
            name = head[1:1 + n].decode()
            if head[1 + n] != STRING:
                raise ValueError(f"header {name} is not a string")
            (size,) = struct.unpack(">H", head[2 + n:4 + n])
            headers[name] = head[4 + n:4 + n + size].decode()
            head = head[4 + n + size:]
        out.append((headers, data[12 + head_len:total - 4]))
        data = data[total:]
    return out
