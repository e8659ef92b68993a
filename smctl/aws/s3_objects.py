"""Single S3 objects read and written whole (asynchronous inference's inputs, answers and errors)."""

from __future__ import annotations

from typing import Any

from smctl.aws.s3 import parse_s3_uri
from smctl.aws.session import aws_errors, client
from smctl.errors import S3ObjectNotFoundError, UsageError


def read_object(uri: str, *, max_bytes: int, region: str | None = None, profile: str | None = None,
                s3: Any = None) -> tuple[bytes, str | None]:
    """(the object's bytes, its ContentType).

    Raises:
        S3ObjectNotFoundError: no such key. UsageError: over max_bytes, or a malformed URI.
        AwsError: missing bucket, access denied, no credentials, endpoint unreachable.
    """
    from botocore.exceptions import ClientError

    bucket, key = parse_s3_uri(uri)
    s3 = s3 or client("s3", region, profile)
    with aws_errors(f"reading {uri}", bucket=bucket):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                s3.head_bucket(Bucket=bucket)  # a missing bucket says so (AwsError), not "no such object"
                raise S3ObjectNotFoundError(f"the input {uri} does not exist",
                                            f"upload it first (aws s3 cp FILE {uri}) or fix the key") from None
            raise
        size = int(head.get("ContentLength") or 0)
        if size > max_bytes:
            raise UsageError(f"the input {uri} is {size:,} bytes, over the {max_bytes:,}-byte limit",
                             "asynchronous inference takes inputs of up to 1 GB")
        answer = s3.get_object(Bucket=bucket, Key=key)
        return answer["Body"].read(), head.get("ContentType")


def write_object(uri: str, body: bytes, content_type: str | None = None, *, region: str | None = None,
                 profile: str | None = None, s3: Any = None) -> str:
    """Put `body` at `uri`; return the URI.

    Raises:
        AwsError: missing bucket, access denied, no credentials, endpoint unreachable.
    """
    bucket, key = parse_s3_uri(uri)
    s3 = s3 or client("s3", region, profile)
    extra = {"ContentType": content_type} if content_type else {}
    with aws_errors(f"writing {uri}", bucket=bucket):
        s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    return uri


def s3_client(region: str | None = None, profile: str | None = None) -> Any:
    """One client to share between the reads and writes of many requests (boto3 clients are thread-safe)."""
    return client("s3", region, profile)
