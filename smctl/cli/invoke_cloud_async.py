"""`smctl invoke NAME --cloud --async --input s3://...` (or --data, inline): InvokeEndpointAsync on a SageMaker
endpoint; stdout gets where the answer will be (SageMaker writes it later, to the endpoint's S3OutputPath)."""

from __future__ import annotations

from smctl.cli.output import Output


def invoke_async_cloud(out: Output, name: str, where: tuple[str | None, str | None], *, input_uri: str | None,
                       data: str | None, content_type: str | None, accept: str | None,
                       custom_attributes: str | None, inference_id: str | None, timeout: float | None) -> None:
    """Raises: UsageError (neither or both of --input and --data, inline data over 128,000 bytes, a bad
    --inference-id or --timeout), EndpointNotFoundError, AwsError."""
    from smctl.aws.runtime import invoke_endpoint_async
    from smctl.contract import async_inference as contract
    from smctl.errors import UsageError

    if (input_uri is None) == (data is None):
        raise UsageError("--async needs exactly one of --input s3://... and --data",
                         "--input s3://BUCKET/KEY reads the request from S3 (up to 1 GB); --data sends it inline "
                         f"(up to {contract.MAX_INLINE_BODY:,} bytes, as InvokeEndpointAsync's Body)")
    if input_uri is not None and not input_uri.startswith("s3://"):
        raise UsageError(f"--input {input_uri!r} is not an s3:// URI", "pass --input s3://BUCKET/KEY")
    body = None
    if data is not None:
        from smctl.cli.async_invoke import inline_async_body

        payload = inline_async_body(data, content_type)
        body, content_type = payload.body, content_type or payload.content_type
    if inference_id is not None and not contract.INFERENCE_ID.fullmatch(inference_id):
        raise UsageError(f"--inference-id {inference_id!r} is not valid",
                         "use 1-64 printable ASCII characters, not starting with a space")
    if timeout is not None and (timeout != int(timeout) or not 1 <= timeout <= contract.MAX_INVOCATION_TIMEOUT):
        raise UsageError(f"--timeout {timeout:g} is not a whole number of seconds from 1 to "
                         f"{contract.MAX_INVOCATION_TIMEOUT}", "async invocations take InvocationTimeoutSeconds")
    answer = invoke_endpoint_async(name, input_uri, body=body, content_type=content_type, accept=accept,
                                   custom_attributes=custom_attributes, inference_id=inference_id,
                                   invocation_timeout=int(timeout) if timeout is not None else None,
                                   region=where[0], profile=where[1])
    sent = f"input {input_uri}" if input_uri else f"{len(body or b''):,} bytes inline"
    out.info(f"SageMaker endpoint {name}: asynchronous request {answer.inference_id} queued ({sent}); "
             f"errors will go to {answer.failure_location or '(the endpoint config failure path)'}")
    result = {"endpoint": name, "cloud": True, "inference_id": answer.inference_id, "input": input_uri,
              "content_type_sent": content_type,
              "output_location": answer.output_location, "failure_location": answer.failure_location}
    out.result(result, lambda c: c.print(answer.output_location or "", markup=False))
