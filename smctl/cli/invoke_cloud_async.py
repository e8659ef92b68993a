"""`smctl invoke NAME --cloud --async --input s3://...`: InvokeEndpointAsync on a SageMaker endpoint; stdout gets
where the answer will be (SageMaker writes it later, to the endpoint's S3OutputPath)."""

from __future__ import annotations

from smctl.cli.output import Output


def invoke_async_cloud(out: Output, name: str, where: tuple[str | None, str | None], *, input_uri: str | None,
                       data: str | None, content_type: str | None, accept: str | None,
                       custom_attributes: str | None, inference_id: str | None, timeout: float | None) -> None:
    """Raises: UsageError (no --input, --data, a bad --inference-id or --timeout), EndpointNotFoundError,
    AwsError."""
    from smctl.aws.runtime import invoke_endpoint_async
    from smctl.contract import async_inference as contract
    from smctl.errors import UsageError

    if data is not None or input_uri is None:
        raise UsageError("--cloud --async takes the request from S3: --input s3://BUCKET/KEY",
                         "upload it first (aws s3 cp FILE s3://BUCKET/KEY), then pass --input s3://BUCKET/KEY "
                         "instead of --data")
    if not input_uri.startswith("s3://"):
        raise UsageError(f"--input {input_uri!r} is not an s3:// URI", "pass --input s3://BUCKET/KEY")
    if inference_id is not None and not contract.INFERENCE_ID.fullmatch(inference_id):
        raise UsageError(f"--inference-id {inference_id!r} is not valid",
                         "use 1-64 printable ASCII characters, not starting with a space")
    if timeout is not None and (timeout != int(timeout) or not 1 <= timeout <= contract.MAX_INVOCATION_TIMEOUT):
        raise UsageError(f"--timeout {timeout:g} is not a whole number of seconds from 1 to "
                         f"{contract.MAX_INVOCATION_TIMEOUT}", "async invocations take InvocationTimeoutSeconds")
    answer = invoke_endpoint_async(name, input_uri, content_type=content_type, accept=accept,
                                   custom_attributes=custom_attributes, inference_id=inference_id,
                                   invocation_timeout=int(timeout) if timeout is not None else None,
                                   region=where[0], profile=where[1])
    out.info(f"SageMaker endpoint {name}: asynchronous request {answer.inference_id} queued (input {input_uri}); "
             f"errors will go to {answer.failure_location or '(the endpoint config failure path)'}")
    result = {"endpoint": name, "cloud": True, "inference_id": answer.inference_id, "input": input_uri,
              "output_location": answer.output_location, "failure_location": answer.failure_location}
    out.result(result, lambda c: c.print(answer.output_location or "", markup=False))
