"""S3 for smctl: URIs, transfers with boto3's managed multipart, and a mirrored download cache."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path, PurePosixPath
from typing import Any

from smctl.aws.session import aws_errors, client
from smctl.contract.location import Location
from smctl.errors import AwsError, LocationError, SmctlError, UsageError
from smctl.events import ByteProgress

PART_SIZE = 16 << 20

DOWNLOAD_WORKERS = 8  # objects fetched at once for an s3:// channel
S3_CACHE = Path(".smctl") / "cache" / "s3"  # under the project: s3:// channels and models, mirrored


EXAMPLE = "e.g. s3://my-bucket/models/model.tar.gz"


def s3_location(uri: str | Location) -> Location:
    """The Location of an s3:// URI given as text (a Location passes through); the thin str entry of this module.

    Raises:
        UsageError: not an s3:// URI, or a bad bucket name.
    """
    if isinstance(uri, Location) and uri.is_s3:
        return uri
    try:
        return Location.parse_s3(str(uri))
    except LocationError as err:
        raise UsageError(err.message, f"{err.hint}; {EXAMPLE}" if err.hint else EXAMPLE) from None


def parse_s3_uri(uri: str | Location, *, default_name: str | None = None,
                 allow_prefix: bool = False) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key); a key ending in / gets `default_name` appended.

    Raises:
        UsageError: not an s3:// URI, a bad bucket name, or no key.
    """
    location = s3_location(uri)
    bucket, key, uri = location.bucket, location.key, str(uri)
    example = EXAMPLE
    if (not key or key.endswith("/")) and default_name:
        key += default_name
    if not key and not allow_prefix:
        raise UsageError(f"{uri!r} names a bucket but no object key", example)
    if any(part in (".", "..") for part in key.split("/")):
        raise UsageError(f"{uri!r} has a '.' or '..' path component", example)
    return bucket, key


def check_bucket(s3_uri: str | Location, *, region: str | None = None, profile: str | None = None) -> None:
    """Fail early (before minutes of packing) when the bucket is missing or the credentials are.

    Raises:
        UsageError: a malformed s3:// URI.
        AwsError: no credentials, missing bucket, access denied, endpoint unreachable.
    """
    bucket, _ = parse_s3_uri(s3_uri, allow_prefix=True)
    s3 = client("s3", region, profile)
    with aws_errors(f"checking the bucket of {s3_uri}", bucket=bucket):
        s3.head_bucket(Bucket=bucket)


def upload_file(path: Path, s3_uri: str | Location, on_progress: Callable[[int], None] | None = None, *,
                region: str | None = None, profile: str | None = None) -> str:
    """Upload with boto3's managed multipart transfer; return the object's s3:// URI.

    Raises:
        UsageError: a malformed s3:// URI.
        AwsError: no credentials or region, missing bucket, access denied, endpoint unreachable.
    """
    from boto3.s3.transfer import TransferConfig

    bucket, key = parse_s3_uri(s3_uri, default_name=path.name)
    uri = f"s3://{bucket}/{key}"
    s3 = client("s3", region, profile)
    config = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=8)
    with aws_errors(f"uploading {path} to {uri}", bucket=bucket):
        s3.head_bucket(Bucket=bucket)  # a clear "bucket does not exist" before any byte is sent
        s3.upload_file(str(path), bucket, key, Callback=on_progress, Config=config)
    return uri




def download_prefix(s3_uri: str | Location, cache_dir: Path, *, region: str | None = None, profile: str | None = None,
                    progress: ByteProgress | None = None) -> Path:
    """Download one object, or every object under a prefix, into cache_dir/BUCKET/KEY; return the local path.

    Files already there with the object's size and last-modified time are kept, so a second run downloads nothing;
    files under the prefix whose objects are gone are removed, so the copy mirrors the prefix as it is now.
    `progress` gets the bytes still to fetch and is advanced as they arrive (from several threads).

    Raises:
        UsageError: a malformed s3:// URI.
        AwsError: nothing under the URI, no credentials, missing bucket, access denied.
    """
    bucket, key = parse_s3_uri(s3_uri, allow_prefix=True)
    s3_uri = str(s3_uri)
    s3 = client("s3", region, profile)
    dest = cache_dir / bucket / PurePosixPath(key.rstrip("/") or ".")
    try:
        (cache_dir / bucket).mkdir(parents=True, exist_ok=True)
        with _cache_lock(cache_dir / f".{bucket}.smctl-lock"), aws_errors(f"downloading {s3_uri}", bucket=bucket):
            _mirror(s3, s3_uri, bucket, key, dest, progress)
    except OSError as exc:
        raise SmctlError(f"could not download {s3_uri} into {dest}: {exc.strerror or exc}",
                         "check free space and permissions there (smctl doctor), then run again") from exc
    return dest


def fetch_object(s3_uri: str | Location, cache_dir: Path, *, region: str | None = None,
                 profile: str | None = None) -> Path | None:
    """Download one object into cache_dir/BUCKET/KEY (kept while its size and time match); None when no object has
    that key (a multi-model endpoint's TargetModel that is not there).

    Raises:
        UsageError: a malformed s3:// URI. AwsError: no credentials, missing bucket, access denied.
    """
    bucket, key = parse_s3_uri(s3_uri)
    s3 = client("s3", region, profile)
    dest = cache_dir / bucket / PurePosixPath(key)
    try:
        (cache_dir / bucket).mkdir(parents=True, exist_ok=True)
        with _cache_lock(cache_dir / f".{bucket}.smctl-lock"), aws_errors(f"downloading {s3_uri}", bucket=bucket):
            head = _object_head(s3, bucket, key)
            if head is None:
                return None
            if not _cached(dest, head[0], head[1]):
                _download(s3, bucket, key, dest, head[1])
    except OSError as exc:
        raise SmctlError(f"could not download {s3_uri} into {dest}: {exc.strerror or exc}",
                         "check free space and permissions there (smctl doctor), then run again") from exc
    return dest


@contextmanager
def _cache_lock(path: Path) -> Iterator[None]:
    """One smctl at a time lists, prunes and fills a bucket's cache folder (two runs may share a prefix); the lock
    file sits beside the folder, so it is never part of a channel."""
    import fcntl

    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _mirror(s3: Any, s3_uri: str, bucket: str, key: str, dest: Path, progress: ByteProgress | None) -> None:
    """Make dest the image of the object, or of every object under the prefix."""
    head = _object_head(s3, bucket, key) if key and not key.endswith("/") else None
    if head is not None:
        jobs = [(key, head[0], head[1], dest)]
    else:
        prefix = key.rstrip("/") + "/" if key else ""
        jobs = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if not rel or any(part in ("", ".", "..") for part in rel.split("/")):
                    continue  # folder markers, and keys that would land outside the cache or on another key's file
                jobs.append((obj["Key"], obj["Size"], obj.get("LastModified"), dest / rel))
        if not jobs:
            raise AwsError(f"no objects under {s3_uri}", f"check the URI: aws s3 ls {s3_uri}")
        _prune(dest, {path for _, _, _, path in jobs})
    todo = [job for job in jobs if not _cached(job[3], job[1], job[2])]
    total = sum(size for _, size, _, _ in todo)
    bar = progress(f"downloading {s3_uri}", total) if progress and todo else nullcontext(_ignore)
    with bar as advance, ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS) as pool:
        futures = [pool.submit(_download, s3, bucket, k, path, when, advance) for k, _, when, path in todo]
        for done in futures:
            done.result()


def _ignore(n: int) -> None:
    return None


def _prune(root: Path, keep: set[Path]) -> None:
    """Remove files under root that are not in `keep` (objects deleted since the last download), then empty
    folders."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif path not in keep:
            path.unlink(missing_ok=True)


def _object_head(s3: Any, bucket: str, key: str) -> tuple[int, Any] | None:
    """(size, last-modified) of the object, or None when there is no object of that key (a prefix, then)."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        return int(head["ContentLength"]), head.get("LastModified")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _cached(dest: Path, size: int, modified: Any) -> bool:
    """Whether the copy at dest has the object's size and last-modified time (a changed object is fetched again)."""
    if not dest.is_file():
        return False
    st = dest.stat()
    return st.st_size == size and (modified is None or st.st_mtime == modified.timestamp())


def _download(s3: Any, bucket: str, key: str, dest: Path, modified: Any = None,
              advance: Callable[[int], None] = _ignore) -> None:
    """Fetch one object to dest through a temp file, stamped with the object's last-modified time."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    try:
        s3.download_file(bucket, key, tmp, Callback=advance)
        if modified is not None:
            os.utime(tmp, (modified.timestamp(), modified.timestamp()))
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
