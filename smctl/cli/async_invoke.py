"""Asynchronous inference in the CLI: local-serve's --async-* options and `smctl invoke --async`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from smctl.cli.output import Output

if TYPE_CHECKING:
    from smctl.contract.async_inference import AsyncConfig
    from smctl.serving.invoke import Payload

AsyncOutputOption = Annotated[str | None, typer.Option(
    "--async-output", metavar="s3://BUCKET/PREFIX", help="Serve asynchronous inference: answers go to "
    "PREFIX/<InferenceId>.out (AsyncInferenceConfig S3OutputPath).")]
AsyncFailureOption = Annotated[str | None, typer.Option(
    "--async-failure", metavar="s3://BUCKET/PREFIX", help="Errors go to PREFIX/<InferenceId>-error.out "
    "(S3FailurePath; default: the output path).")]
AsyncConcurrencyOption = Annotated[int | None, typer.Option(
    "--async-max-concurrency", metavar="N", help="Async requests sent to the container at once, 1-1000 "
    "(MaxConcurrentInvocationsPerInstance; default 4).")]
AsyncTimeoutOption = Annotated[int | None, typer.Option(
    "--async-invocation-timeout", metavar="SECONDS", help="Default wait per async request, 1-3600 "
    "(InvocationTimeoutSeconds; default 900).")]

FLAGS = {"output_path": "--async-output", "failure_path": "--async-failure",
         "max_concurrent_invocations": "--async-max-concurrency", "invocation_timeout": "--async-invocation-timeout"}


def async_config(from_file: AsyncConfig | None, output: str | None, failure: str | None, concurrency: int | None,
                 timeout: int | None) -> AsyncConfig | None:
    """[serve.async_inference] with the --async-* flags over it; None when neither sets an output path.

    Raises:
        UsageError: a flag out of SageMaker's bounds (naming the flag), or --async-* without --async-output.
    """
    from smctl.contract.async_inference import build_async_config
    from smctl.errors import AsyncConfigError, UsageError

    given = {"failure_path": failure, "max_concurrent_invocations": concurrency, "invocation_timeout": timeout}
    if from_file is None and output is None:
        named = [FLAGS[k] for k, v in given.items() if v is not None]
        if named:
            raise UsageError(f"{', '.join(named)} given without --async-output",
                             "asynchronous inference needs an output path: add --async-output s3://BUCKET/PREFIX")
        return None
    base: dict[str, Any] = from_file.as_dict() if from_file is not None else {}
    if from_file is not None and base["max_concurrent_invocations"] is None:
        base.pop("max_concurrent_invocations")
    merged = {**base, **{k: v for k, v in {"output_path": output, **given}.items() if v is not None}}
    try:
        return build_async_config(merged.get("output_path"), merged.get("failure_path"),
                                  merged.get("max_concurrent_invocations"), merged.get("invocation_timeout"))
    except AsyncConfigError as err:
        flag = FLAGS[err.key]
        raise UsageError(err.message.replace(err.key, flag, 1), err.hint) from None


def check_async_buckets(config: AsyncConfig, region: str | None, profile: str | None) -> None:
    """Fail before the container starts when an output or failure bucket is missing.

    Raises:
        AwsError: the bucket does not exist, or AWS cannot be reached.
    """
    from smctl.aws.s3 import check_bucket

    for path in {config.output_path.bucket: config.output_path,
                 **({config.failure_path.bucket: config.failure_path} if config.failure_path else {})}.values():
        check_bucket(str(path), region=region, profile=profile)


def inline_async_body(data: str, content_type: str | None) -> Payload:
    """--data for an async request, read as `smctl invoke` reads it, refused over InvokeEndpointAsync's inline limit.

    Raises:
        UsageError: the data cannot be read, or it is over 128,000 bytes.
    """
    from smctl.contract.async_inference import MAX_INLINE_BODY
    from smctl.errors import UsageError
    from smctl.serving.invoke import read_payload

    payload = read_payload(data, content_type)
    if len(payload.body) > MAX_INLINE_BODY:
        raise UsageError(f"--data is {len(payload.body):,} bytes; an inline async request takes at most "
                         f"{MAX_INLINE_BODY:,}",
                         "upload it (aws s3 cp FILE s3://BUCKET/KEY) and pass --input s3://BUCKET/KEY")
    return payload


def invoke_async(out: Output, name: str, *, input_uri: str | None, data: str | None, content_type: str | None,
                 accept: str | None, custom_attributes: str | None, inference_id: str | None,
                 timeout: float | None, region: str | None, profile: str | None) -> None:
    """`smctl invoke NAME --async`: one request run in-process to its end; stdout gets where the answer went.

    Raises:
        UsageError: no --input/--data, both, inline data over 128,000 bytes, an endpoint without async config.
        S3ObjectNotFoundError: the input does not exist. ModelError, InvocationTimeoutError: after the error was
        written to the failure location. AwsError: the output cannot be written.
    """
    from smctl.contract import async_inference as contract
    from smctl.engine.containers import docker_client
    from smctl.errors import UsageError
    from smctl.serving import async_inference as core
    from smctl.serving.invoke import invocations_url
    from smctl.serving.registry import get_endpoint

    if (input_uri is None) == (data is None):
        raise UsageError("--async needs exactly one of --input s3://... and --data",
                         "--input s3://BUCKET/KEY reads the request from S3 (up to 1 GB); --data sends it inline "
                         f"(up to {contract.MAX_INLINE_BODY:,} bytes, as InvokeEndpointAsync's Body)")
    if inference_id is not None and not contract.INFERENCE_ID.fullmatch(inference_id):
        raise UsageError(f"--inference-id {inference_id!r} is not valid",
                         "use 1-64 printable ASCII characters, not starting with a space")
    if timeout is not None and timeout != int(timeout):
        raise UsageError(f"--timeout {timeout:g} is not a whole number of seconds",
                         "async invocations take InvocationTimeoutSeconds: a whole number from 1 to 3600")
    body = ctype = None
    if data is not None:
        payload = inline_async_body(data, content_type)
        body, ctype = payload.body, payload.content_type
    endpoint = get_endpoint(docker_client(), name)
    if endpoint.async_config is None:
        raise core.not_async(name)
    request = core.AsyncRequest(
        endpoint=name, inference_id=inference_id or core.new_inference_id(), input_location=input_uri, body=body,
        content_type=content_type or ctype, accept=accept, custom_attributes=custom_attributes,
        invocation_timeout=int(timeout) if timeout is not None else None)
    out.info(f"async inference {request.inference_id} on {name}: "
             + (f"input {input_uri}" if input_uri else f"{len(body or b''):,} bytes inline"))
    outcome = core.run_async(invocations_url(endpoint.url or ""), endpoint.async_config, request, region=region,
                             profile=profile)
    if outcome.error is not None:
        if outcome.location:
            out.info(f"error written to {outcome.location}")
        raise outcome.error
    out.info(f"HTTP {outcome.status} in {outcome.seconds * 1000:.0f} ms, {outcome.bytes:,} bytes written to "
             f"{outcome.location} (InferenceId {outcome.inference_id})")
    out.result({"endpoint": name, **outcome.as_dict()}, lambda c: c.print(outcome.location, markup=False))
