"""CreateModel, CreateEndpointConfig and CreateEndpoint from what local-serve runs: image, model, environment,
instance type and count (or serverless memory and concurrency). Pure: the names and S3 URIs come in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_VARIANT = "AllTraffic"  # the SDK's variant name


@dataclass(frozen=True)
class CloudEndpoint:
    name: str
    image: str
    role_arn: str
    model_uri: str | None = None  # s3://.../model.tar.gz (None: the image carries its model)
    environment: Mapping[str, str] = field(default_factory=dict)
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    variant: str = DEFAULT_VARIANT
    serverless_memory_mb: int | None = None  # serverless when set (1024-6144 in 1 GB steps)
    serverless_max_concurrency: int = 5
    startup_timeout: int | None = None  # ContainerStartupHealthCheckTimeoutInSeconds (60-3600)
    data_capture_uri: str | None = None  # s3:// prefix: request and response payloads captured there
    tags: Mapping[str, str] = field(default_factory=dict)


def model_request(ep: CloudEndpoint, model_name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"Image": ep.image}
    if ep.model_uri:
        container["ModelDataUrl"] = ep.model_uri
    if ep.environment:
        container["Environment"] = dict(ep.environment)
    return {"ModelName": model_name, "PrimaryContainer": container, "ExecutionRoleArn": ep.role_arn,
            **_tags(ep)}


def endpoint_config_request(ep: CloudEndpoint, config_name: str, model_name: str) -> dict[str, Any]:
    variant: dict[str, Any] = {"VariantName": ep.variant, "ModelName": model_name}
    if ep.serverless_memory_mb:
        variant["ServerlessConfig"] = {"MemorySizeInMB": ep.serverless_memory_mb,
                                       "MaxConcurrency": ep.serverless_max_concurrency}
    else:
        variant.update(InstanceType=ep.instance_type, InitialInstanceCount=ep.instance_count,
                       InitialVariantWeight=1.0)
        if ep.startup_timeout:
            variant["ContainerStartupHealthCheckTimeoutInSeconds"] = ep.startup_timeout
    request: dict[str, Any] = {"EndpointConfigName": config_name, "ProductionVariants": [variant], **_tags(ep)}
    if ep.data_capture_uri:
        request["DataCaptureConfig"] = {
            "EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": ep.data_capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    return request


def endpoint_request(ep: CloudEndpoint, config_name: str) -> dict[str, Any]:
    return {"EndpointName": ep.name, "EndpointConfigName": config_name, **_tags(ep)}


def _tags(ep: CloudEndpoint) -> dict[str, Any]:
    return {"Tags": [{"Key": k, "Value": v} for k, v in ep.tags.items()]} if ep.tags else {}
