"""What SageMaker would refuse after minutes of provisioning is refused before anything is uploaded or created,
against moto's server (IAM, ECR, S3, SageMaker): an execution role of another account, missing or not trusting
SageMaker; an S3 location or an image in another region; an image ECR does not have, or a multi-platform index;
an instance type not offered for the job's kind; File-mode channels larger than the training volume."""

from __future__ import annotations

import json
import os

import boto3
import pytest

from smctl.cloud.preflight import check_instance_type, check_volume
from smctl.errors import ExitCode
from tests.helpers import CLOUD_ROLE, TRAIN_IMAGE, cloud_project, seed_sagemaker_account

IMAGE = TRAIN_IMAGE
ROLE = CLOUD_ROLE
OTHER_ROLE = "arn:aws:iam::999999999999:role/SageMakerExecution"


@pytest.fixture
def project(tmp_path, aws_env):
    root = cloud_project(tmp_path, IMAGE, {"data/a.csv": f"1,2\n# {tmp_path}\n"})
    s3 = boto3.client("s3", region_name="eu-west-1")
    if "bucket-in-ireland" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="bucket-in-ireland", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return root


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


ALL = [["train", "--image", IMAGE, "--channel", "training=data"],
       ["deploy", "--image", IMAGE, "--name", "preflight-ep"],
       ["transform", "--image", IMAGE, "--input", "data"]]


def _refused(smctl, project, args, code=ExitCode.USAGE):
    before = _jobs()
    res = smctl(*args, cwd=project)
    assert res.exit_code == code, res.stderr
    assert "uploading" not in res.stderr and "Hint:" in res.stderr
    assert _jobs() == before
    return res.stderr


@pytest.mark.parametrize("command", ALL)
def test_an_image_ecr_does_not_have_is_refused_with_the_push_to_do(smctl, project, command):
    missing = [IMAGE.replace(":1", ":never-pushed") if a == IMAGE else a for a in command]
    err = _refused(smctl, project, [*missing, "--role", ROLE])
    assert "ECR has no image algo:never-pushed" in err and f"smctl push (or add --push to smctl {command[0]})" in err


def test_an_image_in_another_regions_ecr_is_refused(smctl, project):
    elsewhere = IMAGE.replace("us-east-1", "eu-west-1")
    err = _refused(smctl, project, ["train", "--image", elsewhere, "--channel", "training=data", "--role", ROLE])
    assert "in ECR of eu-west-1, and the job runs in us-east-1" in err and "smctl push --region us-east-1" in err


def test_a_multi_platform_index_is_refused_as_smctl_push_would(smctl, project):
    index = IMAGE.replace(":1", ":arm-index")
    seed_sagemaker_account(ROLE, index, platform=("linux", "arm64"))
    err = _refused(smctl, project, ["train", "--image", index, "--channel", "training=data", "--role", ROLE],
                   code=ExitCode.CHECKS_FAILED)
    assert "multi-platform index (linux/arm64)" in err and "--provenance=false" in err


def test_a_role_that_does_not_exist_or_does_not_trust_sagemaker_is_refused(smctl, project):
    ghost = "arn:aws:iam::123456789012:role/NoSuchRole"
    err = _refused(smctl, project, ["train", "--image", IMAGE, "--channel", "training=data", "--role", ghost])
    assert f"the role {ghost} does not exist" in err
    iam = boto3.client("iam")
    name = f"ec2-only-{os.getpid()}"
    if name not in [r["RoleName"] for r in iam.list_roles()["Roles"]]:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    for command in ALL:
        err = _refused(smctl, project, [*command, "--role", f"arn:aws:iam::123456789012:role/{name}"])
        assert "does not trust sagemaker.amazonaws.com" in err and "update-assume-role-policy" in err
        assert '"Service": "sagemaker.amazonaws.com"' in err


@pytest.mark.parametrize(("command", "words"), [
    (["train", "--image", IMAGE, "--channel", "training=data", "--instance-type", "ml.inf2.xlarge"],
     "SageMaker offers ml.inf2.xlarge for hosting and transform jobs, not for training"),
    (["train", "--image", IMAGE, "--channel", "training=data", "--instance-type", "m5.xlarge"], "ml.m5.xlarge"),
    (["transform", "--image", IMAGE, "--input", "data"], "offers ml.t2.medium for hosting jobs, not for transform"),
    (["deploy", "--image", IMAGE, "--name", "ep-trn", "--instance-type", "ml.c5n.xlarge"], "not for hosting"),
])
def test_an_instance_type_not_offered_for_the_jobs_kind_is_refused(smctl, project, command, words):
    with (project / "smctl.toml").open("a") as f:
        f.write('[transform]\ninstance_type = "ml.t2.medium"\n')
    err = _refused(smctl, project, [*command, "--role", ROLE])
    assert words in err


def test_a_training_type_beyond_smctls_own_table_goes_through(smctl, project):
    res = smctl("--json", "train", "--image", IMAGE, "--channel", "training=data", "--instance-type",
                "ml.trn1.32xlarge", "--role", ROLE, "--dry-run", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert res.json["result"]["request"]["ResourceConfig"]["InstanceType"] == "ml.trn1.32xlarge"


def test_an_instance_type_newer_than_botocore_is_only_a_warning(smctl, project):
    res = smctl("train", "--image", IMAGE, "--channel", "training=data", "--instance-type", "ml.zz9.48xlarge",
                "--role", ROLE, "--dry-run", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert "ml.zz9.48xlarge is not among the training instance types" in res.stderr


def test_file_mode_channels_larger_than_the_volume_are_refused_with_the_size_that_fits(smctl, project):
    big = project / "big"
    big.mkdir()
    with (big / "sparse.bin").open("wb") as f:  # 3 GiB of apparent size, no disk used
        f.truncate(3 << 30)
    args = ["train", "--image", IMAGE, "--role", ROLE, "--volume-size", "2"]
    err = _refused(smctl, project, [*args, "--channel", "training=big"])
    assert "hold 3.0 GiB, more than the 2 GB training volume" in err and "--volume-size 5" in err
    streamed = smctl(*args, "--channel", "training=big,mode=FastFile", "--dry-run", cwd=project)
    assert streamed.exit_code == 0, streamed.stderr


def test_instance_type_and_volume_rules():
    offered = {"training": ("ml.m5.xlarge", "ml.p4d.24xlarge"), "hosting": ("ml.t2.medium", "ml.m5.xlarge")}
    assert check_instance_type("training", "ml.m5.xlarge", offered) is None
    assert check_instance_type("processing", "ml.anything", offered) is None  # a kind this botocore lacks
    assert "did you mean ml.m5.xlarge" in (check_instance_type("training", "ml.m5.xlarg", offered) or "")
    check_volume(10 << 30, 5, "ml.p4d.24xlarge")  # NVMe instance storage: VolumeSizeInGB does not apply
    check_volume(10 << 30, 5, "ml.g5.2xlarge")
    check_volume(5 << 30, 5, "ml.m5.xlarge")
    with pytest.raises(Exception, match="more than the 5 GB") as err:
        check_volume(10 << 30, 5, "ml.m5.xlarge")
    assert "--volume-size 13" in (err.value.hint or "")


def test_every_instance_type_sagemaker_offers_is_one_smctl_toml_accepts(tmp_path):
    from smctl.aws.sagemaker import offered_instance_types
    from smctl.cloud.preflight import JOB_KINDS
    from smctl.project.checks import INSTANCE_TYPE, Ctx

    offered = {t for shape in JOB_KINDS.values() for t in offered_instance_types(shape)}
    assert "ml.c7i-flex.large" in offered or len(offered) > 200
    assert [t for t in sorted(offered) if INSTANCE_TYPE(t, Ctx(tmp_path)) != t] == []
