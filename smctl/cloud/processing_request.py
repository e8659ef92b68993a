"""CreateProcessingJob from the plan local-process runs: one description, two runtimes, so they cannot drift.

The request is processingjobconfig.json (what local-process writes for the container, contract.processing_job_config)
with the cloud's URIs, role, volume, keys, VPC and tags: tests compare the two field by field and validate the
request against botocore's model of the API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smctl.contract import processing as contract
from smctl.processing.plan import ProcessingPlan

ROLE_PLACEHOLDER = "<role: --role ARN or [aws] role>"


@dataclass(frozen=True)
class CloudProcessing:
    """What only the cloud has (or needs): role, where inputs and outputs are in S3, volume, keys, VPC, tags."""

    role_arn: str = ROLE_PLACEHOLDER
    input_uris: Mapping[str, str] = field(default_factory=dict)  # input -> S3 URI (a local source: uploaded)
    output_uris: Mapping[str, str] = field(default_factory=dict)  # output -> S3 URI (a local folder: staged there)
    volume_size_gb: int = contract.VOLUME_SIZE_GB
    volume_kms_key: str | None = None
    output_kms_key: str | None = None
    subnets: Sequence[str] = ()
    security_groups: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


def processing_job_request(plan: ProcessingPlan, cloud: CloudProcessing | None = None) -> dict[str, Any]:
    """The CreateProcessingJob request that runs `plan` on SageMaker (placeholders where `cloud` leaves a gap)."""
    cloud = cloud or CloudProcessing()
    job = plan.job
    request = contract.processing_job_config(
        job_name=plan.job_name, arn="", image=job.image, entrypoint=job.entrypoint, arguments=job.arguments,
        inputs=[(i.config, cloud.input_uris.get(i.config.name) or _uri(i.source, "uploaded from")) for i in job.inputs],
        outputs=[(o.config, cloud.output_uris.get(o.config.name) or _uri(o.destination, "staged for"))
                 for o in job.outputs],
        instance_type=plan.instance.name, instance_count=len(plan.hosts), environment=job.environment,
        max_runtime=job.max_runtime, role_arn=cloud.role_arn)
    del request["ProcessingJobArn"]  # SageMaker's answer, not part of the request
    cluster = request["ProcessingResources"]["ClusterConfig"]
    cluster["VolumeSizeInGB"] = cloud.volume_size_gb
    if cloud.volume_kms_key:
        cluster["VolumeKmsKeyId"] = cloud.volume_kms_key
    if not job.inputs:
        del request["ProcessingInputs"]
    if job.outputs:
        if cloud.output_kms_key:
            request["ProcessingOutputConfig"]["KmsKeyId"] = cloud.output_kms_key
    else:
        del request["ProcessingOutputConfig"]  # at least one output when given
    if not request["Environment"]:
        del request["Environment"]
    if cloud.subnets or cloud.security_groups:
        request["NetworkConfig"]["VpcConfig"] = {"Subnets": list(cloud.subnets),
                                                 "SecurityGroupIds": list(cloud.security_groups)}
    if cloud.tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in cloud.tags.items()]
    return request


def _uri(location: Any, what: str) -> str:
    return location.uri if location.is_s3 else f"<{what} {location}>"
