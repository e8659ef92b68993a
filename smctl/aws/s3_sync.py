"""S3 for the cloud half: the SDK's default bucket, folders uploaded once (by content), artifacts fetched whole."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from smctl.aws.s3 import PART_SIZE, _download, parse_s3_uri
from smctl.aws.session import aws_errors, client

UPLOAD_WORKERS = 8


def account_id(region: str | None = None, profile: str | None = None) -> str:
    with aws_errors("asking STS who you are (GetCallerIdentity)"):
        return str(client("sts", region, profile).get_caller_identity()["Account"])


def default_bucket(region: str, profile: str | None = None) -> str:
    """sagemaker-REGION-ACCOUNT, created in `region` when missing, as the SageMaker SDK does."""
    name = f"sagemaker-{region}-{account_id(region, profile)}"
    ensure_bucket(name, region, profile)
    return name


def ensure_bucket(name: str, region: str, profile: str | None = None) -> None:
    s3 = client("s3", region, profile)
    with aws_errors(f"checking the bucket {name}", bucket=name):
        try:
            s3.head_bucket(Bucket=name)
            return
        except s3.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **config)


def exists(uri: str, region: str | None = None, profile: str | None = None) -> bool:
    bucket, key = parse_s3_uri(uri)
    s3 = client("s3", region, profile)
    with aws_errors(f"looking for {uri}", bucket=bucket):
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return True
        except s3.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise


def upload_files(files: Sequence[tuple[Path, str]], prefix_uri: str, *, region: str | None = None,
                 profile: str | None = None, on_progress: Callable[[int], None] | None = None) -> None:
    """Upload (path, relative key) pairs under prefix_uri, in parallel, multipart for large files."""
    from boto3.s3.transfer import TransferConfig

    bucket, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
    s3 = client("s3", region, profile)
    config = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=4)
    base = prefix.rstrip("/") + "/" if prefix else ""

    def one(item: tuple[Path, str]) -> None:
        path, key = item
        s3.upload_file(str(path), bucket, base + key, Callback=on_progress, Config=config)

    with aws_errors(f"uploading to {prefix_uri}", bucket=bucket), ThreadPoolExecutor(UPLOAD_WORKERS) as pool:
        list(pool.map(one, files))


def put_text(uri: str, text: str, region: str | None = None, profile: str | None = None) -> None:
    bucket, key = parse_s3_uri(uri)
    with aws_errors(f"writing {uri}", bucket=bucket):
        client("s3", region, profile).put_object(Bucket=bucket, Key=key, Body=text.encode())


def download(uri: str, dest: Path, region: str | None = None, profile: str | None = None,
             advance: Callable[[int], None] | None = None) -> Path:
    """One object to `dest` (through a temp file: never half a file). Raises: AwsError (missing object...)."""
    bucket, key = parse_s3_uri(uri)
    s3: Any = client("s3", region, profile)
    with aws_errors(f"downloading {uri}", bucket=bucket):
        if advance is None:
            _download(s3, bucket, key, dest)
        else:
            _download(s3, bucket, key, dest, advance=advance)
    return dest


def download_tree(prefix_uri: str, dest: Path, region: str | None = None, profile: str | None = None) -> list[Path]:
    """Every object under prefix_uri into dest, by its key relative to the prefix (each through a temp file)."""
    bucket, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
    base = prefix.rstrip("/") + "/" if prefix else ""
    s3: Any = client("s3", region, profile)
    got: list[Path] = []
    with aws_errors(f"downloading {prefix_uri}", bucket=bucket):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(base):]
                if not rel or rel.endswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
                    continue  # folder markers, and keys that would leave dest
                target = dest / rel
                _download(s3, bucket, obj["Key"], target)
                got.append(target)
    return got


def bucket_region(bucket: str, region: str | None = None, profile: str | None = None) -> str | None:
    """The region a bucket lives in; None when that cannot be told (no permission, no such bucket yet)."""
    s3 = client("s3", region, profile)
    try:
        answer = s3.get_bucket_location(Bucket=bucket)
    except Exception:  # noqa: BLE001 - unknown: the job's own call will say what is wrong with the bucket
        return None
    return answer.get("LocationConstraint") or "us-east-1"  # S3 answers None for us-east-1


def prefix_size(uri: str, region: str | None = None, profile: str | None = None, *,
                most: int = 100_000) -> int | None:
    """Total bytes under an s3:// prefix (or one object); None when it cannot be told cheaply: more than `most`
    objects, or S3 will not list it (the job's own call will say what is wrong)."""
    bucket, _, key = uri[5:].partition("/")
    s3 = client("s3", region, profile)
    total = count = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for obj in page.get("Contents") or ():
                total, count = total + int(obj.get("Size") or 0), count + 1
            if count > most:
                return None
    except Exception:  # noqa: BLE001 - not ours to judge here
        return None
    return total


def read_text(uri: str, region: str | None = None, profile: str | None = None) -> str | None:
    """A small object's text; None when it is not there or cannot be read (a cache to skip, not an error)."""
    bucket, key = parse_s3_uri(uri)
    try:
        body = client("s3", region, profile).get_object(Bucket=bucket, Key=key)["Body"]
        return str(body.read(16 << 20).decode("utf-8", errors="replace"))
    except Exception:  # noqa: BLE001 - missing, denied, unreachable: the caller does without
        return None


def newest_object(prefix_uri: str, suffix: str, region: str | None = None,
                  profile: str | None = None) -> str | None:
    """The s3:// URI of the newest object directly under a prefix (not in its sub-folders) whose key ends with
    `suffix`; None when there is none or S3 will not list it."""
    bucket, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
    base = prefix.rstrip("/") + "/" if prefix else ""
    found: tuple[Any, str] | None = None
    try:
        pages = client("s3", region, profile).get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=base, Delimiter="/")
        for page in pages:
            for obj in page.get("Contents") or ():
                if obj["Key"].endswith(suffix) and (found is None or obj["LastModified"] > found[0]):
                    found = (obj["LastModified"], obj["Key"])
    except Exception:  # noqa: BLE001 - nothing to reuse, then
        return None
    return f"s3://{bucket}/{found[1]}" if found else None


def copy_objects(pairs: Sequence[tuple[str, str]], *, region: str | None = None, profile: str | None = None,
                 on_progress: Callable[[int], None] | None = None) -> None:
    """Server-side copies (source s3:// URI, target s3:// URI), in parallel: no byte passes through this machine
    (multipart copies for large objects)."""
    from boto3.s3.transfer import TransferConfig

    if not pairs:
        return
    s3 = client("s3", region, profile)
    config = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=4)

    def one(pair: tuple[str, str]) -> None:
        src_bucket, src_key = parse_s3_uri(pair[0])
        dst_bucket, dst_key = parse_s3_uri(pair[1])
        s3.copy({"Bucket": src_bucket, "Key": src_key}, dst_bucket, dst_key, Callback=on_progress, Config=config)

    with aws_errors(f"copying {len(pairs)} object(s) within S3", bucket=parse_s3_uri(pairs[0][1])[0]), \
            ThreadPoolExecutor(UPLOAD_WORKERS) as pool:
        list(pool.map(one, pairs))
