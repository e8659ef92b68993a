"""CreateTrainingJob from the plan local-train runs: one description, two runtimes, so they cannot drift.

What the plan writes into /opt/ml (hyperparameters.json, inputdataconfig.json, resourceconfig.json) is what
SageMaker writes there from this request; tests compare them field by field and validate the request against
botocore's model of the API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smctl.contract import layout
from smctl.training.plan import JobPlan

DEFAULT_MAX_RUNTIME = 86400  # SageMaker's default MaxRuntimeInSeconds (1 day)
DEFAULT_VOLUME_GB = 30  # the SDK's default volume_size


@dataclass(frozen=True)
class CloudTraining:
    """What only the cloud has (or needs): role, where channels and output live in S3, Spot, VPC, volume, tags."""

    role_arn: str = "<role: --role ARN or [aws] role>"
    output_path: str = "<s3://bucket/prefix: --output-path, default s3://sagemaker-REGION-ACCOUNT/>"
    channel_uris: Mapping[str, str] = field(default_factory=dict)  # channel -> S3 URI (local folders: uploaded)
    checkpoint_uri: str | None = None
    max_runtime: int = DEFAULT_MAX_RUNTIME
    volume_size_gb: int = DEFAULT_VOLUME_GB
    volume_kms_key: str | None = None
    output_kms_key: str | None = None
    spot: bool = False
    max_wait: int | None = None
    subnets: Sequence[str] = ()
    security_groups: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    metric_definitions: Mapping[str, str] = field(default_factory=dict)  # name -> regex


def training_job_request(plan: JobPlan, cloud: CloudTraining | None = None) -> dict[str, Any]:
    """The CreateTrainingJob request that runs `plan` on SageMaker (placeholders where `cloud` leaves a gap)."""
    cloud = cloud or CloudTraining()
    job = plan.job
    host = plan.hosts[0]
    algorithm: dict[str, Any] = {"TrainingImage": job.image, "TrainingInputMode": _job_input_mode(plan)}
    if job.entrypoint:
        algorithm["ContainerEntrypoint"] = list(job.entrypoint)
    if job.arguments:
        algorithm["ContainerArguments"] = list(job.arguments)
    if cloud.metric_definitions:
        algorithm["MetricDefinitions"] = [{"Name": k, "Regex": v} for k, v in cloud.metric_definitions.items()]
    request: dict[str, Any] = {
        "TrainingJobName": plan.job_name,
        "AlgorithmSpecification": algorithm,
        "RoleArn": cloud.role_arn,
        "OutputDataConfig": {"S3OutputPath": cloud.output_path,
                             **({"KmsKeyId": cloud.output_kms_key} if cloud.output_kms_key else {})},
        "ResourceConfig": {"InstanceType": plan.instance.name, "InstanceCount": len(plan.hosts),
                           "VolumeSizeInGB": cloud.volume_size_gb,
                           **({"VolumeKmsKeyId": cloud.volume_kms_key} if cloud.volume_kms_key else {})},
        "StoppingCondition": {"MaxRuntimeInSeconds": cloud.max_runtime,
                              **({"MaxWaitTimeInSeconds": cloud.max_wait} if cloud.spot and cloud.max_wait else {})},
        "HyperParameters": json.loads(host.config_files[layout.HYPERPARAMETERS_JSON]),
    }
    channels = [_channel(c.config, cloud.channel_uris.get(c.config.name) or _uri_of(c)) for c in job.channels]
    if channels:
        request["InputDataConfig"] = channels
    if job.environment:
        request["Environment"] = dict(job.environment)
    if plan.checkpoint_dir is not None or cloud.checkpoint_uri:
        request["CheckpointConfig"] = {"S3Uri": cloud.checkpoint_uri or "<s3:// checkpoint URI: --checkpoint-s3>",
                                       "LocalPath": str(layout.CHECKPOINTS)}
    if cloud.spot:
        request["EnableManagedSpotTraining"] = True
    if cloud.subnets or cloud.security_groups:
        request["VpcConfig"] = {"Subnets": list(cloud.subnets), "SecurityGroupIds": list(cloud.security_groups)}
    if cloud.tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in cloud.tags.items()]
    return request


def _channel(cfg: layout.ChannelConfig, uri: str) -> dict[str, Any]:
    """One InputDataConfig entry; what inputdataconfig.json says about the channel, plus where its data is."""
    entry: dict[str, Any] = {
        "ChannelName": cfg.name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                        "S3DataDistributionType": cfg.distribution}},
        "CompressionType": cfg.compression,
        "RecordWrapperType": cfg.record_wrapper,
        "InputMode": cfg.input_mode,
    }
    if cfg.content_type:
        entry["ContentType"] = cfg.content_type
    if cfg.shuffle_seed is not None:
        entry["ShuffleConfig"] = {"Seed": cfg.shuffle_seed}
    return entry


def _uri_of(channel: Any) -> str:
    source = channel.source
    return source.uri if source.is_s3 else f"<uploaded from {source}>"


def _job_input_mode(plan: JobPlan) -> str:
    """AlgorithmSpecification's TrainingInputMode: the channels' mode when they share one, else File (each channel
    says its own InputMode)."""
    modes = {c.config.input_mode for c in plan.job.channels}
    return modes.pop() if len(modes) == 1 else "File"
