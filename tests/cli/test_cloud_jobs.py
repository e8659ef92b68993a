"""`smctl jobs` and `smctl stop` against moto's server: what train, transform and deploy create is listed with its
status asked from SageMaker; stop refuses what it must not stop, naming the command that does."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from smctl.cloud.jobs import row_of
from smctl.cloud.ledger import Entry, entries, record
from smctl.errors import ExitCode
from tests.helpers import CLOUD_ROLE, TRAIN_IMAGE, cloud_project

IMAGE = TRAIN_IMAGE
ROLE = CLOUD_ROLE


@pytest.fixture
def project(tmp_path, aws_env):
    return cloud_project(tmp_path, IMAGE, {"data/train.csv": f"1,2\n# {tmp_path}\n",
                                           "model/weights.bin": f"weights of {tmp_path}\n"})


def _unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() % 10**12}"


def test_jobs_lists_what_this_project_created_newest_first_with_sagemakers_status(smctl, project, tmp_path):
    job, endpoint = _unique("churn"), _unique("ep")
    assert smctl("train", "--image", IMAGE, "--role", ROLE, "--job-name", job, "--channel", "training=data",
                 "--no-wait", cwd=project).exit_code == 0
    assert smctl("deploy", "--image", IMAGE, "--role", ROLE, "--model", "model", "--name", endpoint, "--no-wait",
                 cwd=project).exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "smctl.toml").write_text('[project]\nname = "other"\n')

    res = smctl("--json", "jobs", cwd=project)
    assert res.exit_code == 0, res.stderr
    rows = res.json["result"]["jobs"]
    assert [(r["kind"], r["name"]) for r in rows] == [("endpoint", endpoint), ("training job", job)]
    described = boto3.client("sagemaker").describe_training_job(TrainingJobName=job)
    assert rows[1]["status"] == described["TrainingJobStatus"] and rows[1]["region"] == "us-east-1"
    assert rows[1]["instance_type"] == described["ResourceConfig"]["InstanceType"]
    assert rows[0]["status"] == boto3.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointStatus"]

    text = smctl("jobs", "--limit", "1", cwd=project)
    assert text.exit_code == 0 and endpoint in text.stdout and job not in text.stdout
    assert text.stdout.splitlines()[0].split()[:3] == ["KIND", "NAME", "STATUS"]
    assert smctl("--json", "jobs", cwd=other).json["result"]["jobs"] == []  # another project's record is its own

    assert smctl("undeploy", endpoint, "--yes", cwd=project).exit_code == 0
    after = smctl("--json", "jobs", cwd=project).json["result"]["jobs"]
    assert after[0]["name"] == endpoint and after[0]["status"] == "Deleted"


def test_the_record_survives_junk_and_lists_a_redeploy_once(tmp_path):
    record(tmp_path, "endpoint", "ep-1", "us-east-1")
    with (tmp_path / ".smctl" / "cloud.jsonl").open("a") as f:
        f.write("not json\n" + json.dumps({"kind": "nonsense", "name": "x", "region": "r", "created": "t"}) + "\n")
    record(tmp_path, "training job", "job-1", "eu-west-1")
    record(tmp_path, "endpoint", "ep-1", "us-east-1")
    found = entries(tmp_path)
    assert [(e.kind, e.name, e.region) for e in found] == [("endpoint", "ep-1", "us-east-1"),
                                                            ("training job", "job-1", "eu-west-1")]
    assert entries(tmp_path / "nowhere") == []


def test_a_row_reports_the_failure_reason_and_a_running_jobs_secondary_status():
    entry = Entry("training job", "j", "us-east-1", "2026-12-01T10:00:00+00:00")
    failed = row_of(entry, {"TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: exit 1",
                            "ResourceConfig": {"InstanceType": "ml.m5.xlarge"}})
    assert (failed.status, failed.detail, failed.instance_type) == ("Failed", "AlgorithmError: exit 1",
                                                                    "ml.m5.xlarge")
    running = row_of(entry, {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Downloading"})
    assert (running.status, running.detail, running.ended) == ("InProgress", "Downloading", None)


def test_stop_refuses_an_ended_job_an_endpoint_and_an_unknown_name(smctl, project):
    job, endpoint = _unique("done"), _unique("ep")
    assert smctl("train", "--image", IMAGE, "--role", ROLE, "--job-name", job, "--channel", "training=data",
                 "--no-wait", cwd=project).exit_code == 0
    assert smctl("deploy", "--image", IMAGE, "--role", ROLE, "--model", "model", "--name", endpoint, "--no-wait",
                 cwd=project).exit_code == 0
    ended = smctl("stop", job, "--yes", cwd=project)  # moto completes a job at once
    assert ended.exit_code == ExitCode.USAGE and "has already ended: Completed" in ended.stderr
    ep = smctl("stop", endpoint, "--yes", cwd=project)
    assert ep.exit_code == ExitCode.USAGE and f"smctl undeploy {endpoint}" in ep.stderr
    unknown = smctl("stop", "no-such-job-7", "--yes", cwd=project)
    assert unknown.exit_code == ExitCode.USAGE and "smctl local-stop no-such-job-7" in unknown.stderr
    assert "smctl jobs" in unknown.stderr


# Stopping a running job: moto has neither StopTrainingJob nor StopTransformJob, and completes every job at once,
# so these run against the recorded-answer stand-in (tests/recorded_sagemaker.py): the request smctl sends is
# checked from what the stand-in saw; the answers are the shapes of AWS's API reference.
def _transform_job(name: str, status: str) -> tuple[int, dict]:
    return 200, {"TransformJobName": name, "TransformJobStatus": status, "ModelName": f"{name}-model",
                 "TransformJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:transform-job/{name}",
                 "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}}},
                 "TransformOutput": {"S3OutputPath": "s3://b/out/"},
                 "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
                 "CreationTime": 1700000000.0}


def test_stop_asks_sagemaker_to_stop_a_running_training_job_and_waits_for_it(smctl, project, recorded_sagemaker):
    from tests.recorded_sagemaker import training_job

    job = _unique("running")
    recorded_sagemaker.answer("DescribeTrainingJob", training_job(job, "InProgress", secondary="Training"))
    no_tty = smctl("stop", job, cwd=project)  # stdin is not a terminal here
    assert no_tty.exit_code == ExitCode.USAGE and f"smctl stop {job} --yes" in no_tty.stderr
    assert [op for op, _ in recorded_sagemaker.calls] == ["DescribeTrainingJob"]  # looked, stopped nothing

    recorded_sagemaker.answer("DescribeTrainingJob", training_job(job, "InProgress", secondary="Training"),
                              training_job(job, "Stopping", secondary="Stopping"),
                              training_job(job, "Stopped", secondary="Stopped"))
    recorded_sagemaker.answer("StopTrainingJob", (200, {}))

    res = smctl("--json", "stop", job, "--yes", "--wait", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert res.json["result"] == {"kind": "training job", "name": job, "status": "Stopped", "region": "us-east-1"}
    stops = [body for op, body in recorded_sagemaker.calls if op == "StopTrainingJob"]
    assert stops == [{"TrainingJobName": job}]
    waits = [op for op, _ in recorded_sagemaker.calls if op == "DescribeTrainingJob"]
    assert len(waits) == 4  # the look before, then Stopping, Stopped (the first one was the no-terminal run)


def test_stop_ends_a_transform_job_and_passes_on_sagemakers_refusal(smctl, project, recorded_sagemaker):
    from tests.recorded_sagemaker import error, training_not_found

    job = _unique("batch")
    recorded_sagemaker.answer("DescribeTrainingJob", training_not_found())
    recorded_sagemaker.answer("DescribeTransformJob", _transform_job(job, "InProgress"))
    recorded_sagemaker.answer("StopTransformJob", (200, {}),
                              error("ValidationException", f"Transform job {job} is not in progress"))
    res = smctl("stop", job, "-y", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert f"transform job {job}: Stopping; follow it: smctl logs {job} --cloud -f" in res.stdout
    assert [b for op, b in recorded_sagemaker.calls if op == "StopTransformJob"] == [{"TransformJobName": job}]
    again = smctl("stop", job, "-y", cwd=project)  # it ended between our look and our stop
    assert again.exit_code == ExitCode.USAGE and "is not in progress" in again.stderr and "smctl jobs" in again.stderr
