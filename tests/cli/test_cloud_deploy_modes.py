"""`smctl deploy`'s hosting modes against moto's server, through the real CLI: asynchronous inference, a multi-model
endpoint and a multi-container one, read from local-serve's options and [serve] keys; what the options ask is what
SageMaker received (boto3 validated each request against botocore's model first), --dry-run shows it, and what
SageMaker would refuse is refused before anything is created."""

from __future__ import annotations

import uuid

import boto3
import pytest

from smctl.errors import ExitCode
from tests.helpers import CLOUD_ROLE, SERVE_IMAGE, cloud_project

IMAGE = SERVE_IMAGE
ROLE = CLOUD_ROLE


@pytest.fixture
def project(tmp_path, aws_env):
    root = cloud_project(tmp_path, IMAGE, {"model/weights.bin": f"weights of {tmp_path}\n",
                                           "models/m1.tar.gz": f"m1 of {tmp_path}\n",
                                           "models/nested/m2.tar.gz": f"m2 of {tmp_path}\n",
                                           "step2/w.bin": f"step two of {tmp_path}\n"})
    return root


@pytest.fixture
def bucket(aws_env):
    name = f"smctl-modes-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def _models() -> set[str]:
    return {m["ModelName"] for m in boto3.client("sagemaker").list_models()["Models"]}


def _name() -> str:
    return f"modes-{uuid.uuid4().hex[:10]}"


def _deployed(smctl, project, *args):
    res = smctl("--json", "deploy", "--role", ROLE, "--name", _name(), "--no-wait", *args, cwd=project)
    assert res.exit_code == 0, res.stderr
    sm = boto3.client("sagemaker")
    r = res.json["result"]
    return sm.describe_model(ModelName=r["model"]), sm.describe_endpoint_config(EndpointConfigName=r["config"]), res


def test_async_options_become_the_endpoint_configs_async_inference_config(smctl, project, bucket):
    _, config, _ = _deployed(smctl, project, "--image", IMAGE, "--async-output", f"s3://{bucket}/out/",
                             "--async-failure", f"s3://{bucket}/errors/", "--async-max-concurrency", "7")
    assert config["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": f"s3://{bucket}/out/", "S3FailurePath": f"s3://{bucket}/errors/"},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 7}}


def test_serve_async_inference_in_smctl_toml_is_deployed_too(smctl, project, bucket):
    with (project / "smctl.toml").open("a") as f:
        f.write(f'[serve.async_inference]\noutput_path = "s3://{bucket}/answers"\ninvocation_timeout = 60\n')
    _, config, _ = _deployed(smctl, project, "--image", IMAGE, "--async-max-concurrency", "2")
    assert config["AsyncInferenceConfig"] == {"OutputConfig": {"S3OutputPath": f"s3://{bucket}/answers"},
                                              "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}}


def test_a_multi_model_folder_is_uploaded_once_and_its_prefix_is_the_model_data(smctl, project, bucket):
    model, _, first = _deployed(smctl, project, "--image", IMAGE, "--multi-model", "models", "--bucket", bucket)
    container = model["PrimaryContainer"]
    assert container["Mode"] == "MultiModel" and container["Image"] == IMAGE
    prefix = container["ModelDataUrl"]
    assert prefix.startswith(f"s3://{bucket}/smctl/models/multi-model/") and prefix.endswith("/")
    # The archives keep their relative names under the prefix, as TargetModel names them.
    key = prefix.removeprefix(f"s3://{bucket}/")
    found = {o["Key"].removeprefix(key) for o in boto3.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=key)["Contents"]}
    assert found == {"m1.tar.gz", "nested/m2.tar.gz"}
    # An ECR image's label cannot be read cheaply: that is said, not guessed.
    assert any("not in the local Docker engine" in w for w in first.json["warnings"])
    second = smctl("deploy", "--role", ROLE, "--name", _name(), "--no-wait", "--image", IMAGE, "--multi-model",
                   "models", "--bucket", bucket, cwd=project)
    assert second.exit_code == 0, second.stderr
    assert f"is in {prefix} already (unchanged)" in second.stderr


def test_an_s3_multi_model_prefix_is_used_as_it_is(smctl, project, bucket):
    model, _, _ = _deployed(smctl, project, "--image", IMAGE, "--multi-model", f"s3://{bucket}/mm")
    assert model["PrimaryContainer"] == {"Image": IMAGE, "Mode": "MultiModel", "ModelDataUrl": f"s3://{bucket}/mm/"}


def test_containers_become_a_multi_container_model_with_its_execution_mode(smctl, project, bucket):
    model, _, _ = _deployed(
        smctl, project, "--bucket", bucket, "--direct", "--env", "MODE=all", "--env", "SHARED=1",
        "--container", f"{IMAGE},model=s3://{bucket}/one/model.tar.gz,env=STEP=1,env=MODE=a,hostname=prep",
        "--container", f"{IMAGE},model=step2,hostname=predict")
    first, second = model["Containers"]
    assert first == {"Image": IMAGE, "ContainerHostname": "prep", "ModelDataUrl": f"s3://{bucket}/one/model.tar.gz",
                     "Environment": {"MODE": "a", "SHARED": "1", "STEP": "1"}}
    assert second["ContainerHostname"] == "predict" and second["Image"] == IMAGE
    assert second["Environment"] == {"MODE": "all", "SHARED": "1"}  # --env reaches each, under its own env=
    assert second["ModelDataUrl"].startswith(f"s3://{bucket}/smctl/models/model/")  # packed and uploaded
    assert not model.get("PrimaryContainer")  # moto answers {} for the one not sent


def test_serve_containers_in_smctl_toml_and_dry_run_show_the_requests(smctl, project):
    with (project / "smctl.toml").open("a") as f:
        f.write(f'[serve]\nexecution_mode = "Direct"\n[[serve.containers]]\nimage = "{IMAGE}"\nhostname = "a"\n'
                f'[[serve.containers]]\nimage = "{IMAGE}"\nhostname = "b"\nmodel = "step2"\n')
    before = _models()
    res = smctl("--json", "deploy", "--role", ROLE, "--dry-run", cwd=project)
    assert res.exit_code == 0, res.stderr
    requests = res.json["result"]["requests"]
    assert requests["CreateModel"]["InferenceExecutionConfig"] == {"Mode": "Direct"}
    assert [c["ContainerHostname"] for c in requests["CreateModel"]["Containers"]] == ["a", "b"]
    assert requests["uploads"] == [str(project / "step2")]
    assert _models() == before


def test_dry_run_shows_async_and_multi_model(smctl, project):
    res = smctl("--json", "deploy", "--image", IMAGE, "--role", ROLE, "--multi-model", "s3://bucket-a/mm/",
                "--async-output", "s3://bucket-a/out", "--dry-run", cwd=project)
    assert res.exit_code == 0, res.stderr
    requests = res.json["result"]["requests"]
    assert requests["CreateModel"]["PrimaryContainer"]["ModelDataUrl"] == "s3://bucket-a/mm/"
    assert requests["CreateEndpointConfig"]["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": "s3://bucket-a/out"}}


@pytest.mark.parametrize(("args", "words"), [
    (["--image", IMAGE, "--multi-model", "s3://bucket-a/mm/", "--model", "model"],
     "--model and --multi-model were both given"),
    (["--image", IMAGE, "--container", IMAGE], "--image cannot be combined with a multi-container endpoint"),
    (["--container", IMAGE, "--model", "model"], "--model cannot be combined with a multi-container endpoint"),
    (["--container", IMAGE, "--multi-model", "s3://bucket-a/mm/"], "--multi-model and a multi-container endpoint"),
    (["--image", IMAGE, "--direct"], "--direct needs a multi-container endpoint"),
    (["--image", IMAGE, "--serverless-memory", "2048", "--async-output", "s3://bucket-a/out"],
     "--serverless-memory and asynchronous inference"),
    (["--image", IMAGE, "--serverless-memory", "2048", "--multi-model", "s3://bucket-a/mm/"],
     "--serverless-memory and a multi-model endpoint"),
    (["--image", IMAGE, "--async-failure", "s3://bucket-a/err"], "--async-failure given without --async-output"),
    (["--image", IMAGE, "--async-output", "s3://bucket-a/o", "--async-max-concurrency", "0"],
     "--async-max-concurrency must be a whole number from 1 to 1000"),
    (["--image", IMAGE, "--multi-model", "no-such-folder"], "--multi-model no-such-folder: no such folder"),
    (["--container", f"{IMAGE},hostname=bad_name"], "hostname=bad_name': hostname must be 1-63"),
])
def test_contradictions_are_refused_before_anything_is_created(smctl, project, args, words):
    before = _models()
    res = smctl("deploy", "--role", ROLE, "--name", "refused-modes", *args, cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert words in res.stderr
    assert "Hint:" in res.stderr
    assert _models() == before


def test_an_async_path_in_another_region_is_refused(smctl, project):
    other = f"smctl-eu-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket=other, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    before = _models()
    res = smctl("deploy", "--image", IMAGE, "--role", ROLE, "--name", "wrong-region", "--async-output",
                f"s3://{other}/out", cwd=project)
    assert res.exit_code != 0
    assert other in res.stderr and "eu-west-1" in res.stderr
    assert _models() == before


def test_every_containers_image_must_be_in_ecr(smctl, project):
    missing = "123456789012.dkr.ecr.us-east-1.amazonaws.com/not-pushed:9"
    before = _models()
    res = smctl("deploy", "--role", ROLE, "--name", "missing-step", "--container", IMAGE, "--container", missing,
                cwd=project)
    assert res.exit_code != 0
    assert "ECR has no image not-pushed:9" in res.stderr
    assert _models() == before


@pytest.fixture
def unlabelled_image(project):
    """A local image named as an ECR URI, with neither capability label; removed afterwards."""
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    tag = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/smctl-test-nolabel:{uuid.uuid4().hex[:8]}"
    (project / "img").mkdir()
    (project / "img" / "Dockerfile").write_text("FROM scratch\nLABEL smctl.test=deploy-modes\n")
    client.images.build(path=str(project / "img"), tag=tag, rm=True)
    try:
        yield tag
    finally:
        client.images.remove(tag, force=True)
        client.close()


@pytest.mark.parametrize(("mode", "label"), [
    ("multi-model", "com.amazonaws.sagemaker.capabilities.multi-models"),
    ("container", "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"),
])
def test_a_local_image_without_the_modes_label_is_refused_as_local_serve_refuses_it(smctl, project, unlabelled_image,
                                                                                     mode, label):
    args = (["--image", unlabelled_image, "--multi-model", "s3://bucket-a/mm/"] if mode == "multi-model" else
            ["--container", IMAGE, "--container", unlabelled_image])
    res = smctl("deploy", "--role", ROLE, *args, "--dry-run", cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert f"does not contain required {label}=true" in res.stderr
    assert "Hint:" in res.stderr
