"""CreateModel, CreateEndpointConfig and CreateEndpoint from what local-serve runs: image, model, environment,
instance type and count (or serverless memory and concurrency), and its hosting modes: asynchronous inference
(AsyncInferenceConfig), a multi-model endpoint (Mode MultiModel) and a multi-container one (Containers[] with
InferenceExecutionConfig). Pure: the names and S3 URIs come in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_VARIANT = "AllTraffic"  # the SDK's variant name


@dataclass(frozen=True)
class CloudContainer:
    """One ContainerDefinition of a multi-container endpoint (Containers[])."""

    image: str
    hostname: str
    model_uri: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


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
    async_inference: Mapping[str, Any] | None = None  # AsyncConfig.cloud_request(): an asynchronous endpoint
    multi_model: bool = False  # Mode MultiModel: model_uri is the prefix the archives are under
    containers: tuple[CloudContainer, ...] = ()  # a multi-container endpoint (then image/model_uri are unused)
    execution_mode: str = "Serial"  # InferenceExecutionConfig.Mode of a multi-container endpoint


def model_request(ep: CloudEndpoint, model_name: str) -> dict[str, Any]:
    request: dict[str, Any] = {"ModelName": model_name}
    if ep.containers:
        request["Containers"] = [  # --env reaches every container, under its own env= (as local-serve runs it)
            _container(c.image, c.model_uri, {**ep.environment, **c.environment}, ContainerHostname=c.hostname)
            for c in ep.containers]
        request["InferenceExecutionConfig"] = {"Mode": ep.execution_mode}
    else:
        request["PrimaryContainer"] = _container(ep.image, ep.model_uri, ep.environment,
                                                 **({"Mode": "MultiModel"} if ep.multi_model else {}))
    return {**request, "ExecutionRoleArn": ep.role_arn, **_tags(ep)}


def _container(image: str, model_uri: str | None, environment: Mapping[str, str], **more: str) -> dict[str, Any]:
    container: dict[str, Any] = {"Image": image, **more}
    if model_uri:
        container["ModelDataUrl"] = model_uri
    if environment:
        container["Environment"] = dict(environment)
    return container


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
    if ep.async_inference:
        request["AsyncInferenceConfig"] = dict(ep.async_inference)
    if ep.data_capture_uri:
        request["DataCaptureConfig"] = {
            "EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": ep.data_capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    return request


def endpoint_request(ep: CloudEndpoint, config_name: str) -> dict[str, Any]:
    return {"EndpointName": ep.name, "EndpointConfigName": config_name, **_tags(ep)}


def _tags(ep: CloudEndpoint) -> dict[str, Any]:
    return {"Tags": [{"Key": k, "Value": v} for k, v in ep.tags.items()]} if ep.tags else {}
