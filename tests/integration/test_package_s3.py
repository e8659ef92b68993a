"""`smctl package pack --upload` and smctl.aws.s3 against moto's real S3 server (through AWS_ENDPOINT_URL)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from smctl.aws import s3 as aws
from smctl.aws.session import client
from smctl.errors import AwsError, ExitCode, UsageError


def s3_client():
    import boto3

    return boto3.client("s3")  # AWS_ENDPOINT_URL from the aws_env fixture sends it to moto


def make_model(root: Path, size: int) -> Path:
    m = root / "model"
    m.mkdir()
    (m / "weights.bin").write_bytes(os.urandom(size))
    return m


def test_pack_upload_is_multipart_and_reads_back_identical(smctl, tmp_path, aws_env):
    s3 = s3_client()
    s3.create_bucket(Bucket="smctl-models")
    src = make_model(tmp_path, 40 << 20)  # several 16 MiB parts
    res = smctl("--json", "package", "pack", src, "-o", tmp_path / "model.tar.gz",
                "--upload", "s3://smctl-models/runs/1/model.tar.gz")
    doc = json.loads(res.stdout)
    assert doc["ok"] is True, res.stdout
    assert doc["result"]["s3_uri"] == "s3://smctl-models/runs/1/model.tar.gz"
    obj = s3.get_object(Bucket="smctl-models", Key="runs/1/model.tar.gz")
    assert "-" in obj["ETag"]  # a multipart upload's ETag is "<md5 of md5s>-<parts>"
    body = obj["Body"].read()
    assert hashlib.sha256(body).hexdigest() == doc["result"]["sha256"]
    assert body == (tmp_path / "model.tar.gz").read_bytes()


def test_upload_to_a_prefix_appends_the_file_name(tmp_path, aws_env):
    s3_client().create_bucket(Bucket="smctl-prefix")
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + os.urandom(1000))
    seen: list[int] = []
    uri = aws.upload_file(archive, "s3://smctl-prefix/models/", seen.append)
    assert uri == "s3://smctl-prefix/models/model.tar.gz"
    assert sum(seen) == 1002
    head = s3_client().head_object(Bucket="smctl-prefix", Key="models/model.tar.gz")
    assert head["ContentLength"] == 1002


def test_upload_to_a_missing_bucket_names_it(smctl, tmp_path, aws_env):
    src = make_model(tmp_path, 1000)
    res = smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz",
                "--upload", "s3://no-such-bucket-xyz/m.tar.gz")
    assert res.exit_code == ExitCode.AWS
    assert "the S3 bucket 'no-such-bucket-xyz' does not exist" in res.stderr
    assert "aws s3 mb s3://no-such-bucket-xyz" in res.stderr
    assert "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # checked before packing


def test_upload_without_credentials_is_an_aws_error_with_a_hint(smctl, tmp_path, no_aws_env):
    src = make_model(tmp_path, 1000)
    res = smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz", "--upload", "s3://some-bucket/m.tar.gz")
    assert res.exit_code == ExitCode.AWS == 4
    assert "no AWS credentials found" in res.stderr
    assert "aws configure" in res.stderr and "AWS_PROFILE" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.mark.parametrize("uri", ["https://bucket/key", "s3://", "s3://UPPER/key", "s3://b/key", "s3://bucket/../x"])
def test_bad_s3_uri_is_a_usage_error_before_anything_is_written(smctl, tmp_path, uri):
    src = make_model(tmp_path, 1000)
    res = smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz", "--upload", uri)
    assert res.exit_code == ExitCode.USAGE
    assert "s3://" in res.stderr and "Hint:" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_parse_s3_uri():
    assert aws.parse_s3_uri("s3://my.bucket-1/a/b.tar.gz") == ("my.bucket-1", "a/b.tar.gz")
    assert aws.parse_s3_uri("s3://bucket", default_name="model.tar.gz") == ("bucket", "model.tar.gz")
    assert aws.parse_s3_uri("s3://bucket/", allow_prefix=True) == ("bucket", "")
    with pytest.raises(UsageError, match="no object key"):
        aws.parse_s3_uri("s3://bucket/")


def test_unknown_profile_is_an_aws_error(aws_env, monkeypatch):
    with pytest.raises(AwsError, match="profile 'ghost' does not exist"):
        client("s3", profile="ghost")


def test_download_prefix_mirrors_objects_and_skips_what_it_has(tmp_path, aws_env):
    s3 = s3_client()
    s3.create_bucket(Bucket="smctl-data")
    for key, body in (("train/a.csv", b"1,2\n"), ("train/sub/b.csv", b"3,4\n"), ("train.csv", b"other")):
        s3.put_object(Bucket="smctl-data", Key=key, Body=body)
    local = aws.download_prefix("s3://smctl-data/train", tmp_path / "cache")
    assert local == tmp_path / "cache" / "smctl-data" / "train"
    assert sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()) == ["a.csv", "sub/b.csv"]
    single = aws.download_prefix("s3://smctl-data/train.csv", tmp_path / "cache")
    assert single.read_bytes() == b"other"
    with pytest.raises(AwsError, match="no objects under s3://smctl-data/nothing"):
        aws.download_prefix("s3://smctl-data/nothing/", tmp_path / "cache")


def test_download_prefix_reports_the_bytes_it_fetches(tmp_path, aws_env):
    import contextlib
    import threading

    s3 = s3_client()
    s3.create_bucket(Bucket="smctl-progress")
    bodies = {f"data/part-{i}.bin": bytes([i]) * (1000 + i) for i in range(5)}
    for key, body in bodies.items():
        s3.put_object(Bucket="smctl-progress", Key=key, Body=body)
    seen: dict[str, int] = {"total": -1, "advanced": 0, "bars": 0}
    lock = threading.Lock()

    @contextlib.contextmanager
    def progress(description: str, total: int):
        assert description == "downloading s3://smctl-progress/data/"
        seen["total"], seen["bars"] = total, seen["bars"] + 1

        def advance(n: int) -> None:
            with lock:
                seen["advanced"] += n

        yield advance

    aws.download_prefix("s3://smctl-progress/data/", tmp_path / "cache", progress=progress)
    assert seen == {"total": sum(map(len, bodies.values())), "advanced": sum(map(len, bodies.values())), "bars": 1}
    aws.download_prefix("s3://smctl-progress/data/", tmp_path / "cache", progress=progress)
    assert seen["bars"] == 1  # nothing left to fetch: no bar at all


def test_download_prefix_refuses_keys_that_would_land_outside_the_cache(tmp_path, aws_env):
    s3 = s3_client()
    s3.create_bucket(Bucket="smctl-evil")
    outside = tmp_path / "outside" / "pwned.txt"
    for key in ("data/ok.csv", f"data/{outside}", "data/./dot.csv", "data/a//b.csv"):
        s3.put_object(Bucket="smctl-evil", Key=key, Body=b"x")
    local = aws.download_prefix("s3://smctl-evil/data/", tmp_path / "cache")
    assert not outside.exists()
    assert [str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()] == ["ok.csv"]


def test_a_changed_single_object_of_the_same_size_is_fetched_again(tmp_path, aws_env):
    import time

    s3 = s3_client()
    s3.create_bucket(Bucket="smctl-one")
    s3.put_object(Bucket="smctl-one", Key="train.csv", Body=b"AAAA")
    first = aws.download_prefix("s3://smctl-one/train.csv", tmp_path / "cache")
    assert first.read_bytes() == b"AAAA"
    time.sleep(1.1)  # S3's LastModified has one-second resolution
    s3.put_object(Bucket="smctl-one", Key="train.csv", Body=b"BBBB")
    assert aws.download_prefix("s3://smctl-one/train.csv", tmp_path / "cache").read_bytes() == b"BBBB"


def test_two_downloads_of_one_prefix_at_once_both_complete(tmp_path, aws_env):
    from concurrent.futures import ThreadPoolExecutor

    s3 = s3_client()
    s3.create_bucket(Bucket="smctl-race")
    bodies = {f"p/part-{i}.bin": bytes([i]) * 200_000 for i in range(6)}
    for key, body in bodies.items():
        s3.put_object(Bucket="smctl-race", Key=key, Body=body)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: aws.download_prefix("s3://smctl-race/p/", tmp_path / "cache"), range(2)))
    local = results[0]
    assert results[1] == local
    assert {f"p/{p.name}": p.read_bytes() for p in local.iterdir()} == bodies  # no .part left, nothing pruned


def test_no_region_is_an_aws_error_with_a_hint(no_aws_env):
    with pytest.raises(AwsError) as err:
        client("sagemaker")
    assert "no AWS region" in err.value.message
    assert "--region" in (err.value.hint or "") and "AWS_REGION" in (err.value.hint or "")


def test_unreachable_endpoint_is_an_aws_error(smctl, tmp_path, aws_env, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    src = make_model(tmp_path, 1000)
    res = smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz", "--upload", "s3://some-bucket/m.tar.gz")
    assert res.exit_code == ExitCode.AWS
    assert "cannot reach the AWS endpoint" in res.stderr and "AWS_ENDPOINT_URL" in res.stderr
