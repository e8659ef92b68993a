"""`smctl transform` against moto's server: the CreateTransformJob carries what local-transform's options say (and
what local-transform tells its container), the input lands where the request points, results come home."""

from __future__ import annotations

import boto3
import pytest

from smctl.aws.s3_sync import download_tree
from smctl.cloud.transform_request import transform_job_request
from smctl.contract.location import Location
from smctl.errors import ExitCode
from smctl.transform.job import TransformJob
from smctl.transform.params import ENV_NAMES, UserLimits, batch_environment
from tests.helpers import CLOUD_ROLE, SERVE_IMAGE, cloud_project

IMAGE = SERVE_IMAGE
ROLE = CLOUD_ROLE


@pytest.fixture
def project(tmp_path, aws_env):
    return cloud_project(tmp_path, IMAGE, {"in/a.csv": f"1,2\n3,4\n# {tmp_path}\n"})


def test_transform_creates_the_job_local_transform_would_run(smctl, project):
    res = smctl("--json", "transform", "--image", IMAGE, "--role", ROLE, "--input", "in", "--output",
                "s3://bucket-out/results/", "--content-type", "text/csv", "--accept", "text/csv", "--split-type",
                "Line", "--strategy", "MultiRecord", "--max-payload", "6", "--max-concurrent", "4",
                "--assemble-with", "Line", "--input-filter", "$[1:]", "--output-filter", "$[-1]",
                "--join-source", "Input", "--timeout", "120", "--retries", "1", "--env", "MODE=batch",
                "--instance-count", "2", cwd=project)
    assert res.exit_code == 0, res.stderr
    name = res.json["result"]["job_name"]
    d = boto3.client("sagemaker").describe_transform_job(TransformJobName=name)
    assert d["TransformInput"]["ContentType"] == "text/csv" and d["TransformInput"]["SplitType"] == "Line"
    assert d["TransformOutput"] == {"S3OutputPath": "s3://bucket-out/results/", "Accept": "text/csv",
                                    "AssembleWith": "Line"}
    assert (d["BatchStrategy"], d["MaxPayloadInMB"], d["MaxConcurrentTransforms"]) == ("MultiRecord", 6, 4)
    assert d["DataProcessing"] == {"InputFilter": "$[1:]", "OutputFilter": "$[-1]", "JoinSource": "Input"}
    assert d["TransformResources"]["InstanceCount"] == 2
    assert d["ModelName"] == f"{name}-model"
    uri = d["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, prefix = uri.removeprefix("s3://").split("/", 1)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert keys == [prefix + "a.csv"]


def test_the_batch_settings_the_request_names_are_the_ones_local_transform_gives_its_container(tmp_path):
    limits = UserLimits(max_payload_mb=6, strategy="SingleRecord", max_concurrent=3)
    job = TransformJob(input=Location.parse("s3://b-in/x/", tmp_path), output=Location.parse("s3://b-out/y/", tmp_path),
                       image=IMAGE, limits=limits, job_name="t-1")
    request = transform_job_request(job, model_name="m", input_uri="s3://b-in/x/", output_uri="s3://b-out/y/")
    env = batch_environment(limits)
    assert env[ENV_NAMES["max_payload_mb"]] == str(request["MaxPayloadInMB"])
    assert env[ENV_NAMES["max_concurrent"]] == str(request["MaxConcurrentTransforms"])
    assert env[ENV_NAMES["strategy"]] == {"SingleRecord": "SINGLE_RECORD"}[request["BatchStrategy"]]


def test_results_of_a_local_output_come_home_under_their_relative_names(aws_env, tmp_path):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bucket-results")
    for key in ("job/a.csv.out", "job/sub/b.csv.out"):
        s3.put_object(Bucket="bucket-results", Key=key, Body=key.encode())
    got = download_tree("s3://bucket-results/job/", tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in got) == ["a.csv.out", "sub/b.csv.out"]
    assert (tmp_path / "out" / "sub" / "b.csv.out").read_text() == "job/sub/b.csv.out"


@pytest.mark.parametrize(("args", "words"), [
    (["--image", IMAGE, "--input", "in"], "needs an execution role"),
    (["--image", "serve:1", "--role", ROLE, "--input", "in"], "its images come from Amazon ECR"),
    (["--image", IMAGE, "--role", ROLE], "no input to transform"),
])
def test_what_sagemaker_would_refuse_is_refused_first(smctl, project, args, words):
    res = smctl("transform", *args, cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert words in res.stderr


def test_transform_takes_its_instance_type_and_job_name_as_flags(smctl, project):
    res = smctl("--json", "transform", "--image", IMAGE, "--role", ROLE, "--input", "s3://bucket-b/in/", "--output",
                "s3://bucket-b/out/", "--instance-type", "ml.c5.2xlarge", "--job-name", "nightly-42", "--dry-run",
                cwd=project)
    assert res.exit_code == 0, res.stderr
    request = res.json["result"]["request"]
    assert request["TransformResources"]["InstanceType"] == "ml.c5.2xlarge"
    assert request["TransformJobName"] == "nightly-42" and request["ModelName"] == "nightly-42-model"
    bad = smctl("transform", "--image", IMAGE, "--role", ROLE, "--input", "in", "--job-name", "no_underscores",
                "--dry-run", cwd=project)
    assert bad.exit_code == ExitCode.USAGE and "--job-name" in bad.stderr
