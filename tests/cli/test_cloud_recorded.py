"""`smctl train`, `deploy` and `transform` through the real CLI where SageMaker answers what moto's server cannot play:
a quota refusal, throttling, credentials that expire mid-wait, an endpoint that fails its health checks, a stopped
job, a job that runs until Ctrl-C. The recorded answers come from tests/recorded_sagemaker.py (each says where its
shape and text come from); every other call, and every other service, is moto's server, whose state the tests read
afterwards (nothing half-created)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import boto3
import pytest

from smctl.errors import ExitCode
from tests.helpers import CLOUD_ROLE, TRAIN_IMAGE, cloud_project, smctl_exe
from tests.recorded_sagemaker import (
    EXPIRED,
    FORWARD,
    IN_PROGRESS_TRANSITIONS,
    PING_FAILED,
    STOPPED_TRANSITIONS,
    THROTTLED,
    endpoint,
    endpoint_not_found,
    error,
    quota_refusal,
    training_job,
    training_not_found,
)

IMAGE = TRAIN_IMAGE
ROLE = CLOUD_ROLE


@pytest.fixture
def project(tmp_path, recorded_sagemaker):
    return cloud_project(tmp_path, IMAGE, {"data/train.csv": f"1,2\n# {tmp_path}\n"})


@pytest.fixture
def moto(aws_env):
    """SageMaker as moto's server holds it, asked directly (not through the stand-in, whose calls stay the CLI's)."""
    return boto3.client("sagemaker", endpoint_url=aws_env)


def _unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() % 10**12}"  # moto's state lasts the session: names never repeat


def _ops(recorded) -> list[str]:
    return [op for op, _ in recorded.calls]


def _models(moto) -> set[str]:
    return {m["ModelName"] for m in moto.list_models(MaxResults=100)["Models"]}


def _configs(moto) -> set[str]:
    return {c["EndpointConfigName"] for c in moto.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]}


def _train(smctl, project, name, *args):
    return smctl("train", "--image", IMAGE, "--role", ROLE, "--job-name", name, "--channel", "training=data", *args,
                 cwd=project)


def _deploy(smctl, project, name, *args):
    return smctl("deploy", "--image", IMAGE, "--role", ROLE, "--model", "s3://bucket-a/m/model.tar.gz", "--name",
                 name, *args, cwd=project)


def _transform(smctl, project, *args):
    return smctl("transform", "--image", IMAGE, "--role", ROLE, "--input", "data", "--output", "s3://bucket-out/r/",
                 *args, cwd=project)


# Quotas: ResourceLimitExceeded ends the command with exit 4, naming the instance type and the quota to raise.


def test_a_training_quota_refusal_names_the_instance_type_and_the_quota(smctl, project, recorded_sagemaker, moto):
    name = _unique("quota")
    recorded_sagemaker.answer("CreateTrainingJob", quota_refusal("ml.p3.2xlarge for training job usage"))
    res = _train(smctl, project, name, "--instance-type", "ml.p3.2xlarge")
    assert res.exit_code == ExitCode.AWS, res.stderr
    assert "ml.p3.2xlarge for training job usage" in res.stderr and "Hint:" in res.stderr
    assert "--instance-type" in res.stderr.split("Hint:")[1]
    assert name not in {j["TrainingJobName"] for j in moto.list_training_jobs()["TrainingJobSummaries"]}


@pytest.mark.parametrize("refused", ["CreateEndpointConfig", "CreateEndpoint"])
def test_an_endpoint_quota_refusal_removes_what_deploy_made_before_it(smctl, project, recorded_sagemaker, moto,
                                                                       refused):
    name = _unique("quota-ep")
    models, configs = _models(moto), _configs(moto)
    recorded_sagemaker.answer(refused, quota_refusal("ml.g4dn.12xlarge for endpoint usage"))
    res = _deploy(smctl, project, name, "--instance-type", "ml.g4dn.12xlarge")
    assert res.exit_code == ExitCode.AWS, res.stderr
    hint = res.stderr.split("Hint:")[1]
    assert "'ml.g4dn.12xlarge for endpoint usage'" in hint and "--instance-type" in hint
    assert "on ml.g4dn.12xlarge" in res.stderr
    assert _models(moto) == models and _configs(moto) == configs  # the model (and config) made first are gone
    assert "CreateModel" in _ops(recorded_sagemaker) and "DeleteModel" in _ops(recorded_sagemaker)


def test_what_deploy_could_not_remove_is_named_with_the_command_that_removes_it(smctl, project, recorded_sagemaker,
                                                                               moto):
    name = _unique("left-ep")
    models, configs = _models(moto), _configs(moto)
    recorded_sagemaker.answer("CreateEndpoint", quota_refusal("ml.m5.xlarge for endpoint usage"))
    recorded_sagemaker.answer("DeleteModel", error("AccessDeniedException", "User is not authorized to perform: "
                                                                            "sagemaker:DeleteModel"))
    res = _deploy(smctl, project, name)
    assert res.exit_code == ExitCode.AWS, res.stderr
    [left] = _models(moto) - models  # the model SageMaker would not delete is still there ...
    assert f"aws sagemaker delete-model --model-name {left}" in res.stderr  # ... and named, with its command
    assert _configs(moto) == configs
    moto.delete_model(ModelName=left)


def test_a_transform_quota_refusal_removes_the_model_it_made(smctl, project, recorded_sagemaker, moto):
    models = _models(moto)
    recorded_sagemaker.answer("CreateTransformJob", quota_refusal("ml.m5.xlarge for transform job usage"))
    res = _transform(smctl, project)
    assert res.exit_code == ExitCode.AWS, res.stderr
    hint = res.stderr.split("Hint:")[1]
    assert "'ml.m5.xlarge for transform job usage'" in hint and "[transform] instance_type" in hint
    assert _models(moto) == models
    assert "DeleteModel" in _ops(recorded_sagemaker)


# Throttling: retried with backoff by botocore's standard mode, then the command goes on as if nothing happened.


@pytest.mark.parametrize(("operation", "answers"), [
    ("CreateTrainingJob", (THROTTLED, THROTTLED, FORWARD)),
    ("DescribeTrainingJob", (training_not_found(), THROTTLED, THROTTLED, FORWARD)),  # the first: is the name free?
])
def test_throttled_training_calls_are_retried_and_the_job_completes(smctl, project, recorded_sagemaker, moto,
                                                                    operation, answers):
    name = _unique("throttled")
    recorded_sagemaker.answer(operation, *answers)
    res = _train(smctl, project, name)
    assert res.exit_code == 0, res.stderr
    assert moto.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Completed"
    ops = _ops(recorded_sagemaker)
    assert ops.count(operation) >= len(answers)  # every throttled answer was followed by a retry
    assert ops.count("CreateTrainingJob") == (3 if operation == "CreateTrainingJob" else 1)


def test_a_throttled_endpoint_wait_is_retried(smctl, project, recorded_sagemaker):
    name = _unique("throttled-ep")
    recorded_sagemaker.answer("DescribeEndpoint", endpoint_not_found(name), THROTTLED, THROTTLED, FORWARD)
    res = _deploy(smctl, project, name)
    assert res.exit_code == 0, res.stderr
    assert _ops(recorded_sagemaker).count("DescribeEndpoint") >= 4
    assert f"{name}: InService" in res.stderr


def test_a_throttled_transform_wait_is_retried(smctl, project, recorded_sagemaker):
    recorded_sagemaker.answer("DescribeTransformJob", THROTTLED, THROTTLED, FORWARD)
    res = _transform(smctl, project)
    assert res.exit_code == 0, res.stderr
    assert _ops(recorded_sagemaker).count("DescribeTransformJob") >= 3


def test_the_log_client_of_a_wait_retries_throttling_as_sagemakers_does(aws_env):
    from smctl.aws import sagemaker
    from smctl.aws.session import client

    # CloudWatch Logs cannot be sent through the stand-in (it is SageMaker's): its retry settings are read instead.
    expected = {"mode": "standard", "total_max_attempts": sagemaker.RETRIES["max_attempts"] + 1}
    assert sagemaker.client()._client_config.retries == expected
    assert client("logs")._client_config.retries == expected
    assert sagemaker.RETRIES["max_attempts"] == 10  # not rewritten by botocore on the way


# Credentials that expire while smctl waits: the job goes on; the message says so and how to pick it up again.


def test_credentials_expiring_while_following_a_training_job(smctl, project, recorded_sagemaker, moto):
    name = _unique("expired")
    recorded_sagemaker.answer("DescribeTrainingJob", training_not_found(), EXPIRED)
    res = _train(smctl, project, name)
    assert res.exit_code == ExitCode.AWS, res.stderr
    assert f"credentials expired while following training job {name}; it goes on in SageMaker" in res.stderr
    assert f"smctl logs {name} --cloud -f" in res.stderr and f"smctl stop {name}" in res.stderr
    assert "aws sso login" in res.stderr
    assert moto.describe_training_job(TrainingJobName=name)  # created, and left to run


def test_credentials_expiring_while_following_a_deploy(smctl, project, recorded_sagemaker, moto):
    name = _unique("expired-ep")
    recorded_sagemaker.answer("DescribeEndpoint", endpoint_not_found(name), EXPIRED)
    res = _deploy(smctl, project, name)
    assert res.exit_code == ExitCode.AWS, res.stderr
    assert f"credentials expired while following endpoint {name}; it goes on in SageMaker" in res.stderr
    assert f"smctl logs {name} --cloud -f" in res.stderr and f"smctl undeploy {name}" in res.stderr
    assert moto.describe_endpoint(EndpointName=name)


def test_credentials_expiring_while_following_a_transform(smctl, project, recorded_sagemaker, moto):
    recorded_sagemaker.answer("DescribeTransformJob", EXPIRED)
    res = _transform(smctl, project)
    assert res.exit_code == ExitCode.AWS, res.stderr
    [name] = [body["TransformJobName"] for op, body in recorded_sagemaker.calls if op == "CreateTransformJob"]
    assert f"credentials expired while following transform job {name}; it goes on in SageMaker" in res.stderr
    assert f"smctl logs {name} --cloud -f" in res.stderr and f"smctl stop {name}" in res.stderr
    assert moto.describe_transform_job(TransformJobName=name)


# Ends that are not success.


def test_an_endpoint_failing_its_health_check_exits_5_naming_the_fix_and_what_is_left(smctl, project,
                                                                                      recorded_sagemaker, moto):
    name = _unique("failed-ep")
    models, configs = _models(moto), _configs(moto)
    recorded_sagemaker.answer("DescribeEndpoint", endpoint_not_found(name),
                              endpoint(name, "Failed", failure_reason=PING_FAILED))
    res = _deploy(smctl, project, name)
    assert res.exit_code == ExitCode.CONTAINER_FAILED, res.stderr
    assert PING_FAILED in res.stderr
    [model] = _models(moto) - models
    [config] = _configs(moto) - configs
    assert f"left in the account: endpoint {name} (Failed), endpoint config {config}, model {model}" in res.stderr
    hint = res.stderr.split("Hint:")[1]
    assert "smctl local-serve" in hint and f"smctl check {IMAGE}" in hint
    assert f"smctl undeploy {name} --yes" in hint
    # The command named removes it all (DescribeEndpoint is moto's again: its endpoint names the real config).
    recorded_sagemaker.answer("DescribeEndpoint", FORWARD)
    assert smctl("undeploy", name, "--yes", cwd=project).exit_code == 0
    assert _models(moto) == models and _configs(moto) == configs


def test_a_stopped_training_job_exits_5_and_says_stopped(smctl, project, recorded_sagemaker):
    name = _unique("stopped")
    recorded_sagemaker.answer("DescribeTrainingJob", training_not_found(),
                              training_job(name, "Stopped", secondary="Stopped", transitions=STOPPED_TRANSITIONS))
    res = _train(smctl, project, name)
    assert res.exit_code == ExitCode.CONTAINER_FAILED, res.stderr
    assert f"training job {name} stopped" in res.stderr
    assert f"{name}: Stopping: Stopping the training job" in res.stderr  # each transition reported once


def test_ctrl_c_while_following_detaches_and_the_job_goes_on(project, recorded_sagemaker, moto):
    name = _unique("ctrl-c")
    recorded_sagemaker.answer("DescribeTrainingJob", training_not_found(),
                              training_job(name, "InProgress", secondary="Starting",
                                           transitions=IN_PROGRESS_TRANSITIONS))
    proc = subprocess.Popen([*smctl_exe(), "train", "--image", IMAGE, "--role", ROLE, "--job-name", name,
                             "--channel", "training=data"], cwd=project, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # SageMaker answers InProgress for ever: this waits until smctl is following
        seen.append(line)
        if f"{name}: Starting" in line:
            proc.send_signal(signal.SIGINT)
            break
    _, rest = proc.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    assert f"detached: training job {name} goes on in SageMaker" in stderr
    assert f"smctl logs {name} --cloud -f" in stderr and f"smctl stop {name}" in stderr
    assert "Traceback" not in stderr
    assert moto.describe_training_job(TrainingJobName=name)  # created, not stopped by smctl
