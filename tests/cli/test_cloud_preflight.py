"""What SageMaker would refuse after minutes of provisioning is refused before anything is uploaded or created,
against moto's server: an execution role of another account, an S3 location in another region."""

from __future__ import annotations

import boto3
import pytest

from smctl.errors import ExitCode

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
OTHER_ROLE = "arn:aws:iam::999999999999:role/SageMakerExecution"


@pytest.fixture
def project(tmp_path, aws_env):
    (tmp_path / "smctl.toml").write_text('[project]\nname = "churn"\n[aws]\nregion = "us-east-1"\n')
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text(f"1,2\n# {tmp_path}\n")
    s3 = boto3.client("s3", region_name="eu-west-1")
    if "bucket-in-ireland" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="bucket-in-ireland", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return tmp_path


def _jobs() -> tuple[set[str], set[str], set[str]]:
    sm = boto3.client("sagemaker")
    return ({j["TrainingJobName"] for j in sm.list_training_jobs()["TrainingJobSummaries"]},
            {m["ModelName"] for m in sm.list_models()["Models"]},
            {j["TransformJobName"] for j in sm.list_transform_jobs()["TransformJobSummaries"]})


@pytest.mark.parametrize("command", [
    ["train", "--image", IMAGE, "--channel", "training=data"],
    ["deploy", "--image", IMAGE, "--name", "other-account-ep"],
    ["transform", "--image", IMAGE, "--input", "data"],
])
def test_a_role_of_another_account_is_refused_before_anything_is_made(smctl, project, command):
    before = _jobs()
    res = smctl(*command, "--role", OTHER_ROLE, cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert "belongs to account 999999999999" in res.stderr and "arn:aws:iam::123456789012:role/" in res.stderr
    assert "uploading" not in res.stderr
    assert _jobs() == before


@pytest.mark.parametrize("command", [
    ["train", "--image", IMAGE, "--channel", "training=s3://bucket-in-ireland/train/"],
    ["train", "--image", IMAGE, "--channel", "training=data", "--output-path", "s3://bucket-in-ireland/out/"],
    ["deploy", "--image", IMAGE, "--name", "ireland-ep", "--model", "s3://bucket-in-ireland/m/model.tar.gz"],
    ["transform", "--image", IMAGE, "--input", "s3://bucket-in-ireland/in/"],
])
def test_an_s3_location_in_another_region_is_refused_with_the_region_to_use(smctl, project, command):
    before = _jobs()
    res = smctl(*command, "--role", ROLE, cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert "is in eu-west-1, and the job runs in us-east-1" in res.stderr and "--region eu-west-1" in res.stderr
    assert "uploading" not in res.stderr
    assert _jobs() == before
