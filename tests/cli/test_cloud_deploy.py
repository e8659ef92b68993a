"""`smctl deploy` / `smctl undeploy` against moto's server (SageMaker, S3, STS): the three requests carry what the
options ask (boto3 validates each against botocore's model), the model lands where ModelDataUrl points, once per
content; a failed deploy leaves nothing half-made; undeploy removes endpoint, config and model."""

from __future__ import annotations

import tarfile

import boto3
import pytest

from smctl.errors import ExitCode
from tests.helpers import CLOUD_ROLE, SERVE_IMAGE, cloud_project

IMAGE = SERVE_IMAGE
ROLE = CLOUD_ROLE


@pytest.fixture
def project(tmp_path, aws_env):
    return cloud_project(tmp_path, IMAGE, {"model/weights.bin": f"weights of {tmp_path}\n"})


def _models() -> set[str]:
    return {m["ModelName"] for m in boto3.client("sagemaker").list_models()["Models"]}


def _configs() -> set[str]:
    return {c["EndpointConfigName"] for c in boto3.client("sagemaker").list_endpoint_configs()["EndpointConfigs"]}


def test_deploy_creates_model_config_and_endpoint_from_the_options(smctl, project, tmp_path):
    name = f"ep-{tmp_path.name[-20:].replace('_', '-')}".strip("-")
    res = smctl("--json", "deploy", "--image", IMAGE, "--role", ROLE, "--model", "model", "--name", name,
                "--env", "MODE=fast", "--instance-type", "ml.c5.large", "--instance-count", "2",
                "--startup-timeout", "600", "--tag", "team=ml", cwd=project)
    assert res.exit_code == 0, res.stderr
    r = res.json["result"]
    assert r["status"] == "InService"
    sm = boto3.client("sagemaker")
    model = sm.describe_model(ModelName=r["model"])
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["Environment"] == {"MODE": "fast"}
    variant = sm.describe_endpoint_config(EndpointConfigName=r["config"])["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.large", 2)
    assert variant["ModelName"] == r["model"]
    assert sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == r["config"]
    # The folder was packed in SageMaker's layout and uploaded where ModelDataUrl points.
    url = model["PrimaryContainer"]["ModelDataUrl"]
    bucket, key = url.removeprefix("s3://").split("/", 1)
    archive = project / "got.tar.gz"
    boto3.client("s3").download_file(bucket, key, str(archive))
    with tarfile.open(archive) as tar:
        assert "weights.bin" in [m.name.removeprefix("./") for m in tar.getmembers()]


def test_an_unchanged_model_is_not_uploaded_again(smctl, project):
    args = ("deploy", "--image", IMAGE, "--role", ROLE, "--model", "model", "--no-wait")
    first = smctl(*args, "--name", "same-model-a", cwd=project)
    assert first.exit_code == 0, first.stderr
    assert "model: uploading" in first.stderr
    # A reproducible pack gives the same archive again: found uploaded, whichever endpoint it is for.
    second = smctl(*args, "--name", "same-model-b", cwd=project)
    assert second.exit_code == 0, second.stderr
    assert "already (unchanged)" in second.stderr and "model: uploading" not in second.stderr


def test_serverless_and_dry_run_print_the_requests_and_create_nothing(smctl, project):
    before = _models()
    res = smctl("--json", "deploy", "--image", IMAGE, "--role", ROLE, "--model", "s3://bucket-a/m/model.tar.gz",
                "--name", "dry-ep", "--serverless-memory", "2048", "--serverless-concurrency", "3", "--dry-run",
                cwd=project)
    assert res.exit_code == 0, res.stderr
    variant = res.json["result"]["requests"]["CreateEndpointConfig"]["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 3}
    assert "InstanceType" not in variant
    assert _models() == before


def test_a_failed_deploy_leaves_no_model_or_config_behind(smctl, project):
    args = ("deploy", "--image", IMAGE, "--role", ROLE, "--model", "s3://bucket-a/m/model.tar.gz", "--name",
            "fails-on-update", "--no-wait")
    assert smctl(*args, cwd=project).exit_code == 0
    models, configs = _models(), _configs()
    # The endpoint exists, so this is an UpdateEndpoint, which moto's server does not implement: the call fails
    # after the new model and config were created, and both must be gone again.
    res = smctl(*args, cwd=project)
    assert res.exit_code == ExitCode.AWS, res.stderr
    assert _models() == models and _configs() == configs


def test_undeploy_removes_endpoint_config_and_model(smctl, project):
    res = smctl("--json", "deploy", "--image", IMAGE, "--role", ROLE, "--name", "to-remove", cwd=project)
    assert res.exit_code == 0, res.stderr
    r = res.json["result"]
    refused = smctl("undeploy", "to-remove", cwd=project)  # no terminal to ask: refused, nothing removed
    assert refused.exit_code == ExitCode.USAGE and "--yes" in refused.stderr
    done = smctl("undeploy", "to-remove", "--yes", cwd=project)
    assert done.exit_code == 0, done.stderr
    assert r["model"] not in _models() and r["config"] not in _configs()
    again = smctl("undeploy", "to-remove", "--yes", cwd=project)
    assert again.exit_code != 0 and "no SageMaker endpoint to-remove" in again.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["--image", IMAGE], "needs an execution role"),
    (["--image", "serve:1", "--role", ROLE], "its images come from Amazon ECR"),
    (["--image", IMAGE, "--role", ROLE, "--serverless-memory", "1000"], "--serverless-memory"),
])
def test_what_sagemaker_would_refuse_is_refused_first(smctl, project, args, words):
    before = _models()
    res = smctl("deploy", *args, "--name", "refused-ep", cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert words in res.stderr
    assert _models() == before


def test_deploy_reads_the_startup_timeout_from_smctl_toml_and_refuses_what_serverless_cannot_take(smctl, project):
    with (project / "smctl.toml").open("a") as f:
        f.write("[serve]\nstartup_timeout = 900\n")
    res = smctl("--json", "deploy", "--image", IMAGE, "--role", ROLE, "--model", "s3://bucket-b/m/model.tar.gz",
                "--dry-run", cwd=project)
    assert res.exit_code == 0, res.stderr
    requests = res.json["result"]["requests"]
    variant = requests["CreateEndpointConfig"]["ProductionVariants"][0]
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 900
    assert requests["CreateModel"]["PrimaryContainer"]["ModelDataUrl"] == "s3://bucket-b/m/model.tar.gz"
    both = smctl("deploy", "--image", IMAGE, "--role", ROLE, "--serverless-memory", "2048", "--instance-type",
                 "ml.c5.xlarge", "--dry-run", cwd=project)
    assert both.exit_code == ExitCode.USAGE and "--instance-type and --serverless-memory" in both.stderr
