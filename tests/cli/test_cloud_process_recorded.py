"""`smctl process` and `smctl stop` where SageMaker answers what moto's server cannot play: a processing job that
fails (FailureReason and ExitMessage), one that is stopped, one that runs until Ctrl-C or `smctl stop`. moto
completes every processing job the moment it is created, so DescribeProcessingJob's answers come from
tests/recorded_sagemaker.py (processing_job: the shape of service-2.json's DescribeProcessingJobResponse); every other
call is moto's server (CreateProcessingJob included), whose state the tests read afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import boto3
import pytest

from smctl.errors import ExitCode
from tests.helpers import CLOUD_ROLE, TRAIN_IMAGE, cloud_project, smctl_exe
from tests.recorded_sagemaker import FORWARD, processing_job

IMAGE = TRAIN_IMAGE
ROLE = CLOUD_ROLE
BUCKET = "sagemaker-us-east-1-123456789012"
# The FailureReason SageMaker gives a processing job whose container exits non-zero (byoc: "AlgorithmError: ...").
FAILED_REASON = "AlgorithmError: See job logs for more information"


@pytest.fixture
def project(tmp_path, recorded_sagemaker):
    return cloud_project(tmp_path, IMAGE, {"data/raw/a.csv": f"1,2\n# {tmp_path}\n"})


@pytest.fixture
def moto(aws_env):
    """SageMaker as moto's server holds it, asked directly (not through the stand-in)."""
    return boto3.client("sagemaker", endpoint_url=aws_env)


def _unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() % 10**12}"


def _stage(job: str, output: str, files: dict[str, bytes]) -> None:
    """What SageMaker uploaded of an output before the job ended."""
    s3 = boto3.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    for key, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"smctl/processing-output/{job}/{output}/{key}", Body=body)


def _process(smctl, project, name, *args):
    return smctl("process", "--image", IMAGE, "--role", ROLE, "--job-name", name, "--input", "raw=data/raw",
                 *args, cwd=project)


def test_a_failed_job_exits_5_with_its_failure_reason_and_exit_message(smctl, project, recorded_sagemaker):
    name = _unique("failed")
    recorded_sagemaker.answer("DescribeProcessingJob", FORWARD,  # the name is free: moto says so
                              processing_job(name, "InProgress"),
                              processing_job(name, "Failed", failure_reason=FAILED_REASON,
                                             exit_message="bad column 'age' in a.csv"))
    _stage(name, "live", {"progress.txt": b"50%\n"})
    _stage(name, "final", {"result.csv": b"never complete\n"})
    res = _process(smctl, project, name, "--output", f"live={project / 'live'},upload=Continuous",
                   "--output", f"final={project / 'final'}")
    assert res.exit_code == ExitCode.CONTAINER_FAILED, res.stderr
    assert f"processing job {name} failed: {FAILED_REASON}" in res.stderr
    assert "ExitMessage: bad column 'age' in a.csv" in res.stderr
    assert f"smctl logs {name} --cloud" in res.stderr and "smctl local-process" in res.stderr
    assert f"{name}: InProgress" in res.stderr and f"{name}: Failed" in res.stderr  # each status once
    # As local-process delivers them: the Continuous output's files (uploaded as they appeared), no EndOfJob one.
    assert (project / "live" / "progress.txt").read_bytes() == b"50%\n"
    assert not (project / "final").exists()


def test_a_stopped_job_exits_5_and_says_how_to_give_it_longer(smctl, project, recorded_sagemaker):
    name = _unique("stopped")
    recorded_sagemaker.answer("DescribeProcessingJob", FORWARD, processing_job(name, "Stopped"))
    res = _process(smctl, project, name)
    assert res.exit_code == ExitCode.CONTAINER_FAILED, res.stderr
    assert f"processing job {name} stopped" in res.stderr and "--max-runtime" in res.stderr


def test_ctrl_c_while_following_detaches_and_the_job_goes_on(project, recorded_sagemaker, moto):
    name = _unique("ctrl-c")
    recorded_sagemaker.answer("DescribeProcessingJob", FORWARD, processing_job(name, "InProgress"))
    proc = subprocess.Popen([*smctl_exe(), "process", "--image", IMAGE, "--role", ROLE, "--job-name", name,
                             "--input", "raw=data/raw"], cwd=project, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # SageMaker answers InProgress for ever: this waits until smctl is following
        seen.append(line)
        if f"{name}: InProgress" in line:
            proc.send_signal(signal.SIGINT)
            break
    _, rest = proc.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    assert f"detached: processing job {name} goes on in SageMaker" in stderr
    assert f"smctl logs {name} --cloud -f" in stderr and f"smctl stop {name}" in stderr
    assert "Traceback" not in stderr
    assert moto.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "Completed"  # not stopped


def test_stop_asks_sagemaker_to_stop_a_running_processing_job(smctl, project, recorded_sagemaker, moto):
    name = _unique("running")
    assert _process(smctl, project, name, "--no-wait").exit_code == 0  # in moto's SageMaker, for StopProcessingJob
    recorded_sagemaker.answer("DescribeProcessingJob", processing_job(name, "InProgress"),
                              processing_job(name, "Stopping"), processing_job(name, "Stopped"))
    res = smctl("--json", "stop", name, "--yes", "--wait", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert res.json["result"] == {"kind": "processing job", "name": name, "status": "Stopped", "region": "us-east-1"}
    assert [b for op, b in recorded_sagemaker.calls if op == "StopProcessingJob"] == [{"ProcessingJobName": name}]
    assert moto.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "Stopped"
