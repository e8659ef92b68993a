"""One description, two runtimes: the CreateTrainingJob request built from local-train's plan agrees, field by
field, with the config files local-train writes into /opt/ml, and passes botocore's own validation."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from smctl.cloud.training_request import CloudTraining, training_job_request
from smctl.contract import layout
from smctl.contract.layout import ChannelConfig
from smctl.training.inputs import ChannelInput
from smctl.training.plan import TrainingJob, plan_job


def _validate(operation: str, request: dict) -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def _job(tmp_path: Path, **overrides) -> TrainingJob:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.csv").write_text("1,2\n")
    (tmp_path / "ckpt").mkdir()
    channels = (
        ChannelInput(ChannelConfig("train", input_mode="File", distribution="ShardedByS3Key",
                                   content_type="text/csv", compression="None", shuffle_seed=7), tmp_path / "train"),
        ChannelInput(ChannelConfig("stream", input_mode="Pipe", record_wrapper="RecordIO",
                                   content_type="application/x-recordio", compression="Gzip"), "s3://bucket-a/stream/"),
        ChannelInput(ChannelConfig("lazy", input_mode="FastFile"), "s3://bucket-a/lazy/"),
    )
    fields = dict(image="123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:1", project_root=tmp_path,
                  job_name="churn-7", instance_type="ml.c5.2xlarge", instance_count=3,
                  hyperparameters={"epochs": 10, "lr": 0.5, "layers": [64, 32], "name": "x"},
                  hyperparameter_encoding="json", channels=channels, environment={"MODE": "full", "SEED": "3"},
                  checkpoint_dir=tmp_path / "ckpt", entrypoint=["python3", "-m", "algo"],
                  arguments=["--fast", "yes"], region="us-east-1")
    fields.update(overrides)
    return TrainingJob(**fields)


FULL_CLOUD = CloudTraining(
    role_arn="arn:aws:iam::123456789012:role/SageMakerExecution",
    output_path="s3://bucket-a/output/", channel_uris={"train": "s3://bucket-a/smctl/train/0123abcd/"},
    checkpoint_uri="s3://bucket-a/ckpt/churn-7/", max_runtime=7200, volume_size_gb=50,
    volume_kms_key="alias/volume", output_kms_key="alias/output", spot=True, max_wait=10800,
    subnets=("subnet-0abc",), security_groups=("sg-0abc",), tags={"team": "ml"},
    metric_definitions={"loss": "loss=([0-9.]+)"})


def test_every_option_makes_a_request_botocore_accepts(tmp_path):
    request = training_job_request(plan_job(_job(tmp_path)), FULL_CLOUD)
    _validate("CreateTrainingJob", request)
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 10800}
    assert request["VpcConfig"] == {"Subnets": ["subnet-0abc"], "SecurityGroupIds": ["sg-0abc"]}
    assert request["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == "alias/volume"
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://bucket-a/output/", "KmsKeyId": "alias/output"}


def test_the_request_and_the_files_in_opt_ml_agree_field_by_field(tmp_path):
    plan = plan_job(_job(tmp_path))
    request = training_job_request(plan, FULL_CLOUD)
    for host in plan.hosts:
        files = {name: json.loads(text) for name, text in host.config_files.items()}
        # Hyperparameters: SageMaker writes the request's strings into hyperparameters.json as they are.
        assert files[layout.HYPERPARAMETERS_JSON] == request["HyperParameters"]
        assert all(isinstance(v, str) for v in request["HyperParameters"].values())
        # Channels: inputdataconfig.json is the request's InputDataConfig, per channel.
        idc = files[layout.INPUTDATACONFIG_JSON]
        assert list(idc) == [c["ChannelName"] for c in request["InputDataConfig"]]
        for channel in request["InputDataConfig"]:
            written = idc[channel["ChannelName"]]
            assert written["TrainingInputMode"] == channel["InputMode"]
            assert written["S3DistributionType"] == channel["DataSource"]["S3DataSource"]["S3DataDistributionType"]
            assert written["RecordWrapperType"] == channel["RecordWrapperType"]
            assert written.get("ContentType") == channel.get("ContentType")
        # Instances: resourceconfig.json's type and hosts are the request's ResourceConfig.
        rc = files[layout.RESOURCECONFIG_JSON]
        assert rc["current_instance_type"] == request["ResourceConfig"]["InstanceType"]
        assert len(rc["hosts"]) == request["ResourceConfig"]["InstanceCount"]
        # Checkpoints: the same local path in the request and in checkpointconfig.json.
        assert files[layout.CHECKPOINTCONFIG_JSON]["LocalPath"] == request["CheckpointConfig"]["LocalPath"]
        # The container: entrypoint, arguments and the user's environment as the request states them.
        spec = host.container
        assert spec.entrypoint == request["AlgorithmSpecification"]["ContainerEntrypoint"]
        assert spec.command == request["AlgorithmSpecification"]["ContainerArguments"]
        assert {k: spec.environment[k] for k in request["Environment"]} == request["Environment"]
        assert spec.environment["TRAINING_JOB_NAME"] == request["TrainingJobName"]
        assert spec.image == request["AlgorithmSpecification"]["TrainingImage"]


def test_channel_options_reach_the_request(tmp_path):
    request = training_job_request(plan_job(_job(tmp_path)), FULL_CLOUD)
    by_name = {c["ChannelName"]: c for c in request["InputDataConfig"]}
    assert by_name["train"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://bucket-a/smctl/train/0123abcd/"
    assert by_name["train"]["ShuffleConfig"] == {"Seed": 7}
    assert by_name["stream"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://bucket-a/stream/"
    assert by_name["stream"]["CompressionType"] == "Gzip"
    assert "ShuffleConfig" not in by_name["stream"]
    assert by_name["lazy"]["InputMode"] == "FastFile"
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"  # mixed: each channel says its own


@pytest.mark.parametrize("encoding", ["json", "str"])
def test_hyperparameters_are_encoded_alike_for_both_runtimes(tmp_path, encoding):
    plan = plan_job(_job(tmp_path, hyperparameter_encoding=encoding))
    request = training_job_request(plan)
    assert json.loads(plan.hosts[0].config_files[layout.HYPERPARAMETERS_JSON]) == request["HyperParameters"]
    _validate("CreateTrainingJob", {**request, "RoleArn": "arn:aws:iam::123456789012:role/R",
                                    "OutputDataConfig": {"S3OutputPath": "s3://bucket-a/o/"}})


def test_a_plain_job_asks_for_nothing_it_did_not_configure(tmp_path):
    job = TrainingJob(image="algo:1", project_root=tmp_path, job_name="plain-1")
    request = training_job_request(plan_job(job))
    for absent in ("InputDataConfig", "Environment", "CheckpointConfig", "EnableManagedSpotTraining", "VpcConfig",
                   "Tags"):
        assert absent not in request
    assert "ContainerEntrypoint" not in request["AlgorithmSpecification"]
    assert request["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
