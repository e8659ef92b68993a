"""CreateTransformJob from the job local-transform runs: the same split, strategy, payload, concurrency, assembly,
filters, join, compression, content types, timeout and retries. Pure: the model name and S3 URIs come in."""

from __future__ import annotations

from typing import Any

from smctl.transform.job import TransformJob


def transform_job_request(job: TransformJob, *, model_name: str, input_uri: str, output_uri: str,
                          instance_count: int = 1) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TransformJobName": job.job_name,
        "ModelName": model_name,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "CompressionType": job.compression,
            "SplitType": job.split_type,
            **({"ContentType": job.content_type} if job.content_type else {}),
        },
        "TransformOutput": {"S3OutputPath": output_uri, "AssembleWith": job.assemble_with,
                            **({"Accept": job.accept} if job.accept else {})},
        "TransformResources": {"InstanceType": job.instance_type, "InstanceCount": instance_count},
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": job.timeout, "InvocationsMaxRetries": job.retries},
    }
    limits = job.limits
    if limits.strategy:
        request["BatchStrategy"] = limits.strategy
    if limits.max_payload_mb is not None:
        request["MaxPayloadInMB"] = limits.max_payload_mb
    if limits.max_concurrent is not None:
        request["MaxConcurrentTransforms"] = limits.max_concurrent
    processing = {k: v for k, v in (("InputFilter", job.input_filter), ("OutputFilter", job.output_filter),
                                    ("JoinSource", job.join_source if job.join_source != "None" else None)) if v}
    if processing:
        request["DataProcessing"] = processing
    if job.environment:
        request["Environment"] = dict(job.environment)
    return request
