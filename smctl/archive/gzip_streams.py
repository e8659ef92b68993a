"""Gzip for model archives: a deterministic parallel writer (ISA-L or zlib-ng) and ISA-L's threaded reader."""

from __future__ import annotations

import struct
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any, BinaryIO

ISAL_MAX_LEVEL = 3  # levels 1-3: ISA-L (about 1 GB/s per core); 4-9: zlib-ng, the same trade-offs as gzip -4..-9
BLOCK_SIZE = 1 << 20  # fixed, so the bytes never depend on tarfile's write sizes or on the thread count
WINDOW = 1 << 15  # deflate's window: each block is primed with the last 32 KiB of the one before
READ_BLOCK = 4 << 20

MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


class HashingSink:
    """The archive file: hashes and counts what is written (no second read), keeps the first write error."""

    def __init__(self, f: BinaryIO) -> None:
        import hashlib

        self._f = f
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.error: OSError | None = None

    def write(self, data: bytes) -> None:
        if self.error is not None:
            return
        try:
            self._f.write(data)
        except OSError as exc:
            self.error = exc
        else:
            self.sha256.update(data)
            self.size += len(data)


class ParallelGzipWriter:
    """A write-only gzip stream for tarfile, compressed like pigz: blocks deflated in parallel, written in order.

    Every block gets a fresh compressor (zlib-ng's reused compressors carry state from one block to the next, so
    the bytes would depend on which thread took which block): the same input gives the same bytes whatever the
    thread count. At most 2 x threads blocks are in flight, so memory stays flat whatever the archive size.
    """

    def __init__(self, sink: HashingSink, level: int, threads: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        if level <= ISAL_MAX_LEVEL:
            from isal import isal_zlib as lib
        else:
            from zlib_ng import zlib_ng as lib  # type: ignore[no-redef]
        self._lib: Any = lib
        self._level, self._sink = level, sink
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="smctl-gzip")
        self._pending: deque[tuple[Future[tuple[bytes, int]], int]] = deque()
        self._max_pending = 2 * threads
        self._buf = bytearray()
        self._pos = 0
        self._dictionary = b""
        self._crc = 0
        self._size = 0
        xfl = 2 if level == 9 else 4 if level == 1 else 0
        sink.write(struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, xfl, 255))  # no name, mtime 0, OS unknown

    # ---- the file-like side tarfile uses ----
    def write(self, data: bytes) -> int:
        self.check()
        self._buf += data
        self._pos += len(data)
        while len(self._buf) >= BLOCK_SIZE:
            self._submit(bytes(self._buf[:BLOCK_SIZE]))
            del self._buf[:BLOCK_SIZE]
        return len(data)

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        """Compress what is left and write the trailer (tarfile does not close a stream it was given)."""
        if self._buf:
            self._submit(bytes(self._buf))
            self._buf.clear()
        while self._pending:
            self._write_oldest()
        self._sink.write(b"\x03\x00")  # an empty final deflate block
        self._sink.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        self.check()

    def abort(self) -> None:
        """Stop the compression threads (harmless after close)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def check(self) -> None:
        if self._sink.error is not None:
            raise self._sink.error

    # ---- the blocks ----
    def _submit(self, block: bytes) -> None:
        self._pending.append((self._pool.submit(self._deflate, block, self._dictionary), len(block)))
        self._dictionary = block[-WINDOW:]
        while len(self._pending) > self._max_pending:
            self._write_oldest()

    def _deflate(self, block: bytes, dictionary: bytes) -> tuple[bytes, int]:
        lib = self._lib
        extra = {"zdict": dictionary} if dictionary else {}
        c = lib.compressobj(self._level, lib.DEFLATED, -15, **extra)
        return c.compress(block) + c.flush(lib.Z_SYNC_FLUSH), lib.crc32(block)

    def _write_oldest(self) -> None:
        future, n = self._pending.popleft()
        compressed, crc = future.result()
        self._crc = self._lib.crc32_combine(self._crc, crc, n)
        self._size += n
        self._sink.write(compressed)


def sniff_format(path: Path) -> str:
    """What the file's first bytes say it is: gzip, zip, bzip2, xz, zstd, tar (uncompressed) or unknown."""
    with open(path, "rb") as f:
        head = f.read(512)
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "unknown"


class CountingReader:
    """The compressed file as the decompressor reads it; `pos` is how far it got (for progress bars)."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        n = self._f.readinto(b)  # type: ignore[attr-defined]
        self.pos += n
        return n

    def close(self) -> None:
        self._f.close()


def open_gzip_reader(f: BinaryIO | CountingReader) -> BinaryIO:
    """ISA-L inflate in a background thread: decompression overlaps with the caller's writes."""
    from isal import igzip_threaded

    return igzip_threaded.open(f, "rb", threads=1, block_size=READ_BLOCK)


def gzip_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a corrupt or truncated gzip stream raises while it is read."""
    import zlib

    from isal import isal_zlib

    isal_error: Any = isal_zlib.error  # an exception class, whatever the stubs say
    return (EOFError, zlib.error, isal_error, OSError)

