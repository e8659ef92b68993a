"""Location: a local path or an S3 URI, parsed once where the value enters smctl and a type afterwards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from smctl.errors import LocationError

S3_SCHEME = "s3://"
BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
BUCKET_RULE = "bucket names are 3-63 characters: lower-case letters, digits, dots and hyphens"
URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")  # any scheme: only s3:// is a location, others are refused

EXPECTED_ANY = "a local path or an s3:// URI"
EXPECTED_S3 = "an s3://bucket/prefix URI"


@dataclass(frozen=True, eq=False)
class Location:
    """A local path, or an S3 bucket and key (a prefix when it ends in '/' or names no object)."""

    local: Path | None = None
    bucket: str = ""
    key: str = ""

    @classmethod
    def from_path(cls, path: Path) -> Location:
        return cls(local=Path(path))

    @classmethod
    def parse(cls, text: str, base_dir: Path) -> Location:
        """An s3:// URI, or a path joined to base_dir (`~` expanded; symlinks are left to callers that may read
        the disk).

        Raises:
            LocationError: another URL scheme, an empty string, or a bad bucket name.
        """
        if text.startswith(S3_SCHEME):
            return cls.parse_s3(text)
        if not text or URL.match(text):
            raise LocationError(f"{text!r} is not {EXPECTED_ANY}", "give a folder or file path, or s3://BUCKET/KEY",
                                expected=EXPECTED_ANY)
        return cls(local=base_dir / Path(text).expanduser())

    @classmethod
    def parse_s3(cls, uri: str, *, check_bucket: bool = True) -> Location:
        """s3://bucket/key (the key may be empty or a prefix); check_bucket=False only splits it.

        Raises:
            LocationError: not an s3:// URI, or a bad bucket name.
        """
        if not uri.startswith(S3_SCHEME):
            raise LocationError(f"{uri!r} is not an S3 URI (it must start with s3://)", "write it as s3://BUCKET/KEY",
                                expected=EXPECTED_S3)
        bucket, _, key = uri[len(S3_SCHEME):].partition("/")
        if check_bucket and (not BUCKET.fullmatch(bucket) or ".." in bucket):
            raise LocationError(f"{bucket!r} in {uri!r} is not a valid S3 bucket name", BUCKET_RULE,
                                expected=EXPECTED_S3)
        return cls(bucket=bucket, key=key)

    @property
    def is_s3(self) -> bool:
        return self.local is None

    @property
    def path(self) -> Path:
        """The local path; Raises: ValueError for an S3 location (check is_s3 first)."""
        if self.local is None:
            raise ValueError(f"{self} is an S3 location, not a local path")
        return self.local

    @property
    def uri(self) -> str:
        """s3://bucket/key; Raises: ValueError for a local path."""
        if self.local is not None:
            raise ValueError(f"{self} is a local path, not an S3 URI")
        return f"{S3_SCHEME}{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return self.uri if self.local is None else str(self.local)

    def __repr__(self) -> str:
        return f"Location({str(self)!r})"

    # Equal to the plain value it stands for (its Path, or its URI text), so code still holding str | Path
    # (training's channels, older callers and tests) compares and hashes the same either way.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Location):
            return (self.local, self.bucket, self.key) == (other.local, other.bucket, other.key)
        if isinstance(other, Path):
            return self.local == other
        if isinstance(other, str):
            return self.local is None and self.uri == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.local if self.local is not None else self.uri)


def as_location(value: Location | Path | str, base_dir: Path, *, check_bucket: bool = True) -> Location:
    """A Location from one, a Path or text: the thin entry for APIs that still take str | Path.

    Raises:
        LocationError: text that is neither a local path nor a well-formed s3:// URI.
    """
    if isinstance(value, Location):
        return value
    if isinstance(value, Path):
        return Location.from_path(base_dir / value)
    if not check_bucket and value.startswith(S3_SCHEME):
        return Location.parse_s3(value, check_bucket=False)
    return Location.parse(value, base_dir)
