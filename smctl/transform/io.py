"""Where a transform reads and writes: a local folder (or file) or an s3:// prefix, through one small interface.

Local outputs are written to a hidden temporary name in the same folder and renamed, so an interrupted run never
leaves a partial `.out`; S3 objects appear only once put_object completes, which gives the same guarantee.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from smctl.aws.s3 import s3_location
from smctl.aws.session import aws_errors
from smctl.contract.location import Location, as_location
from smctl.errors import UsageError

OUT_SUFFIX = ".out"
PARTIAL_MARK = ".smctl-partial-"


@dataclass(frozen=True)
class InputObject:
    key: str  # path relative to the input location (POSIX), kept for the output name
    size: int
    ref: str  # the absolute local path or the S3 key


class Source(Protocol):
    def describe(self) -> str: ...
    def list(self) -> list[InputObject]: ...
    def read(self, obj: InputObject) -> bytes: ...


class Sink(Protocol):
    def describe(self) -> str: ...
    def exists(self, key: str) -> bool: ...
    def write(self, key: str, chunks: Sequence[bytes]) -> str: ...


class LocalSource:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def list(self) -> list[InputObject]:
        """Every regular file, sorted by relative path like an S3 listing; Raises: UsageError when missing."""
        if self.root.is_file():
            return [InputObject(self.root.name, self.root.stat().st_size, str(self.root))]
        if not self.root.is_dir():
            raise UsageError(f"input {self.root} does not exist",
                             "pass --input with a folder, a file or an s3://bucket/prefix")
        found = [p for p in self.root.rglob("*") if p.is_file()]
        found.sort(key=lambda p: p.relative_to(self.root).as_posix())
        return [InputObject(p.relative_to(self.root).as_posix(), p.stat().st_size, str(p)) for p in found]

    def read(self, obj: InputObject) -> bytes:
        return Path(obj.ref).read_bytes()


class LocalSink:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def path(self, key: str) -> Path:
        return self.root / (key + OUT_SUFFIX)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def write(self, key: str, chunks: Sequence[bytes]) -> str:
        """Write `<key>.out` through a temporary file in the same folder, then rename it into place."""
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}{PARTIAL_MARK}{os.getpid()}-{threading.get_ident()}")
        try:
            with temp.open("wb") as fh:
                fh.writelines(chunks)
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return str(final)


class S3Source:
    def __init__(self, location: Location | str, client: Any) -> None:
        location = s3_location(location)
        self.uri = str(location)
        self.bucket, self.prefix = location.bucket, location.key
        self.client = client

    def describe(self) -> str:
        return self.uri

    def list(self) -> list[InputObject]:
        """Objects under the prefix; keys relative to the prefix's last '/' (s3://b/in/ -> a.csv, x/b.csv)."""
        base = self.prefix if not self.prefix or self.prefix.endswith("/") else self.prefix.rpartition("/")[0]
        base = base + "/" if base and not base.endswith("/") else base
        found = []
        with aws_errors(f"listing {self.uri}", bucket=self.bucket):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                               Prefix=self.prefix):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        found.append(InputObject(item["Key"][len(base):], int(item["Size"]), item["Key"]))
        return sorted(found, key=lambda o: o.key)

    def read(self, obj: InputObject) -> bytes:
        with aws_errors(f"reading s3://{self.bucket}/{obj.ref}", bucket=self.bucket):
            return self.client.get_object(Bucket=self.bucket, Key=obj.ref)["Body"].read()


class S3Sink:
    def __init__(self, location: Location | str, client: Any) -> None:
        location = s3_location(location)
        self.uri = str(location)
        self.bucket, self.prefix = location.bucket, location.key.rstrip("/")
        self.client = client
        self._existing: set[str] | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.uri

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}{OUT_SUFFIX}" if self.prefix else f"{key}{OUT_SUFFIX}"

    def exists(self, key: str) -> bool:
        with self._lock:
            if self._existing is None:
                self._existing = set()
                with aws_errors(f"listing {self.uri}", bucket=self.bucket):
                    pages = self.client.get_paginator("list_objects_v2").paginate(
                        Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else "")
                    for page in pages:
                        self._existing.update(item["Key"] for item in page.get("Contents", []))
            return self.object_key(key) in self._existing

    def write(self, key: str, chunks: Sequence[bytes]) -> str:
        target = self.object_key(key)
        with aws_errors(f"writing s3://{self.bucket}/{target}", bucket=self.bucket):
            self.client.put_object(Bucket=self.bucket, Key=target, Body=b"".join(chunks))
        return f"s3://{self.bucket}/{target}"


def open_locations(input_: Location | str | Path, output: Location | str | Path, *, region: str | None = None,
                   profile: str | None = None) -> tuple[Source, Sink]:
    """The source and sink for a job (text or a Path is parsed into a Location first).

    Raises:
        UsageError: the output lies inside the input, or a malformed location.
    """
    src, dst = as_location(input_, Path()), as_location(output, Path())
    check_not_nested(src, dst)
    client = s3_client(region, profile) if src.is_s3 or dst.is_s3 else None
    source: Source = S3Source(src, client) if src.is_s3 else LocalSource(src.path)
    sink: Sink = S3Sink(dst, client) if dst.is_s3 else LocalSink(dst.path)
    return source, sink


def check_not_nested(input_: Location | str | Path, output: Location | str | Path) -> None:
    """Raises: UsageError when the output is the input or inside it (later runs would read the .out files)."""
    # comparing needs no valid bucket name: the S3 calls that follow report a bad one
    src, dst = as_location(input_, Path(), check_bucket=False), as_location(output, Path(), check_bucket=False)
    if src.is_s3 and dst.is_s3:
        ip, op = src.key.strip("/"), dst.key.strip("/")
        nested = src.bucket == dst.bucket and (not ip or op == ip or op.startswith(ip + "/"))
    elif not src.is_s3 and not dst.is_s3:
        root, target = src.path.resolve(), dst.path.resolve()
        nested = root.is_dir() and target.is_relative_to(root)
    else:
        nested = False
    if nested:
        raise UsageError(f"output {output} is inside the input {input_}",
                         "choose an output outside the input (a later run would read the .out files as input): "
                         "--output OTHER_FOLDER")


def s3_client(region: str | None, profile: str | None) -> Any:
    from smctl.aws.session import client

    return client("s3", region, profile)
