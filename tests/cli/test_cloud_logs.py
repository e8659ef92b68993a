"""`smctl logs NAME --cloud` against moto's server: a training job's host streams in order, an endpoint's group."""

from __future__ import annotations

import contextlib
import time

import boto3
import pytest

from smctl.errors import ExitCode
from tests.helpers import CLOUD_ROLE, TRAIN_IMAGE, cloud_project

IMAGE = TRAIN_IMAGE
ROLE = CLOUD_ROLE


@pytest.fixture
def project(tmp_path, aws_env):
    return cloud_project(tmp_path, IMAGE)


def _seed(group: str, streams: dict[str, list[str]]) -> None:
    logs = boto3.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    now = int(time.time() * 1000)
    for stream, lines in streams.items():
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])


def test_a_training_jobs_logs_come_per_host_in_order(smctl, project):
    name = f"logs-job-{int(time.time() * 1000)}"
    assert smctl("train", "--image", IMAGE, "--role", ROLE, "--job-name", name, "--no-wait",
                 cwd=project).exit_code == 0
    _seed("/aws/sagemaker/TrainingJobs", {f"{name}/algo-1-1700000000": ["a1", "a2"],
                                          f"{name}/algo-2-1700000000": ["b1"]})
    res = smctl("logs", name, "--cloud", "--follow", cwd=project)  # the job is over (moto): follow ends at once
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "algo-1 | a1\nalgo-1 | a2\nalgo-2 | b1\n"
    assert "training job's logs" in res.stderr


def test_an_endpoints_logs_come_from_its_own_group(smctl, project):
    name = f"logs-ep-{int(time.time() * 1000) % 10**9}"
    assert smctl("deploy", "--image", IMAGE, "--role", ROLE, "--name", name, "--no-wait",
                 cwd=project).exit_code == 0
    _seed(f"/aws/sagemaker/Endpoints/{name}", {"AllTraffic/i-0abc": ["ready"]})
    res = smctl("--json", "logs", name, "--cloud", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert res.json["result"] == {"name": name, "kind": "endpoint", "log_group": f"/aws/sagemaker/Endpoints/{name}",
                                  "lines": 1}


def test_a_name_sagemaker_does_not_know_is_named(smctl, project):
    res = smctl("logs", "nothing-of-that-name", "--cloud", cwd=project)
    assert res.exit_code != 0 and res.exit_code != ExitCode.INTERNAL
    assert "no training, transform or processing job or endpoint named nothing-of-that-name" in res.stderr
