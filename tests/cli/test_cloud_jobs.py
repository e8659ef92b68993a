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
from tests.helpers import seed_sagemaker_account

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


@pytest.fixture
def project(tmp_path, aws_env):
    seed_sagemaker_account(ROLE, IMAGE)
    (tmp_path / "smctl.toml").write_text('[project]\nname = "churn"\n[aws]\nregion = "us-east-1"\n')
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text(f"1,2\n# {tmp_path}\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_text(f"weights of {tmp_path}\n")
    return tmp_path


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
