"""`smctl invoke [NAME|URL]`: one request to a local endpoint's /invocations, with SageMaker's limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smctl.cli.options import aws_region
from smctl.cli.output import Output
from smctl.errors import ModelError

MAX_TIMEOUT = 3600  # the longest any SageMaker invocation may take (async and batch transform: InvocationsTimeout)
HELP = "POST a request to an endpoint's /invocations: the body to stdout, status and timing to stderr."


def invoke(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(
        metavar="[NAME|URL]", help="Endpoint name or URL (http://HOST:PORT); default: the only running endpoint.",
        show_default=False)
    ] = None,
    data: Annotated[str | None, typer.Option(
        "--data", "-d", metavar="@FILE|-|TEXT", help="Request body: @FILE, - (stdin) or literal text (sent as "
        "application/json when it parses as JSON, else text/plain).")] = None,
    content_type: Annotated[str | None, typer.Option(
        "--content-type", metavar="TYPE", help="Default: from the file's extension (.csv, .json, .jsonl, .npy, "
        "images...).")] = None,
    accept: Annotated[str | None, typer.Option("--accept", metavar="TYPE", help="Accept header.")] = None,
    custom_attributes: Annotated[str | None, typer.Option(
        "--custom-attributes", metavar="TEXT", help="X-Amzn-SageMaker-Custom-Attributes (<=1024 ASCII characters).")
    ] = None,
    max_payload: Annotated[int | None, typer.Option(
        "--max-payload", metavar="BYTES", help="Body limit in bytes, >= 1 (SageMaker's: 6291456, which it does not "
        "let you change).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", metavar="SECONDS", help=f"Seconds to wait, more than 0 and at most {MAX_TIMEOUT} (SageMaker's: "
        "60, which it does not let you change).")] = None,
    cloud: Annotated[bool, typer.Option("--cloud", help="NAME is a SageMaker endpoint (sagemaker-runtime).")] = False,
    local: Annotated[bool, typer.Option("--local", help="NAME is a local endpoint (SageMaker is not asked).")
                     ] = False,
    region: Annotated[str | None, typer.Option("--region", metavar="REGION", help="For --cloud.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as the container sends it (chunked); "
                                         "time to first byte and total time on stderr.")] = False,
    async_: Annotated[bool, typer.Option("--async", help="Asynchronous inference (InvokeEndpointAsync) on a local "
                                         "endpoint started with --async-output: waits, prints where the answer "
                                         "went; with --cloud, queued on SageMaker's (--input s3:// only).")] = False,
    input_uri: Annotated[str | None, typer.Option("--input", metavar="s3://BUCKET/KEY", help="With --async: the "
                                                  "request body's S3 object (InputLocation).")] = None,
    inference_id: Annotated[str | None, typer.Option("--inference-id", metavar="ID", help="With --async: the "
                                                     "InferenceId (default: a new UUID).")] = None,
    target_container: Annotated[str | None, typer.Option(
        "--target-container", metavar="HOSTNAME", help="The container to reach on a multi-container endpoint in "
        "Direct mode (X-Amzn-SageMaker-Target-Container-Hostname).")] = None,
    target_model: Annotated[str | None, typer.Option(
        "--target-model", metavar="PATH", help="Multi-model endpoint: the archive under its prefix (m1.tar.gz), "
        "loaded on first use.")] = None,
) -> None:
    from smctl.serving import invoke as core

    out: Output = ctx.obj.out
    _check_ranges(max_payload, timeout)
    if stream and (async_ or input_uri is not None):
        from smctl.errors import UsageError

        raise UsageError("--stream and --async were both given: an asynchronous answer goes to S3, not to a stream",
                         "keep --stream to read the answer as it is produced, or --async to queue it")
    if stream:  # response streaming: cli/invoke_stream.py
        from smctl.cli.invoke_stream import invoke_stream

        return invoke_stream(out, target, data, content_type, accept, custom_attributes, max_payload, timeout,
                             where=_where(ctx, target, cloud=cloud, local=local, region=region), local=local,
                             region=region, config=ctx.obj.config, resolve=_resolve, only_in_cloud=_OnlyInCloud,
                             aws=lambda: _aws(ctx, region))
    if async_ or input_uri is not None or inference_id is not None:
        return _invoke_async(ctx, target, async_=async_, cloud=cloud, input_uri=input_uri, data=data,
                             content_type=content_type, accept=accept, custom_attributes=custom_attributes,
                             inference_id=inference_id, timeout=timeout, region=region, local=local)
    if target_model is not None:
        from smctl.cli.multimodel import check_target_flag

        check_target_flag(target_model)
    where = _where(ctx, target, cloud=cloud, local=local, region=region)
    if where is not None and target_container:
        from smctl.cli.pipeline import local_route

        local_route(target, target_container, cloud=True)  # refused: smctl sends it to local endpoints only
    if where is not None:
        _invoke_cloud(out, target or "", where, data, content_type, accept, custom_attributes, timeout,
                      target_model=target_model)
        return
    try:
        url, name = _resolve(target, ask_cloud=not local and target_model is None, region=region, config=ctx.obj.config)
    except _OnlyInCloud:  # not here, but SageMaker has it: that one, as with --cloud
        _invoke_cloud(out, target or "", _aws(ctx, region), data, content_type, accept, custom_attributes, timeout)
        return
    from smctl.cli.payload import local_payload

    payload = local_payload(out, data, content_type, max_payload, timeout)
    if target_model is not None:
        from smctl.cli.multimodel import invoke_target

        return invoke_target(out, name, target_model, payload, accept=accept, custom_attributes=custom_attributes,
                             timeout=timeout or core.TIMEOUT)
    from smctl.cli.pipeline import local_route

    route = local_route(name, target_container)  # a multi-container endpoint's, or None
    if route is not None:
        from smctl.serving.pipeline_route import invoke_route

        result, passed = invoke_route(route, payload, target=target_container, accept=accept,
                                      custom_attributes=custom_attributes, max_payload=max_payload, timeout=timeout)
        out.debug(f"{route.mode} through {' -> '.join(passed)}")
    else:
        try:
            result = core.invoke(url, payload, accept=accept, custom_attributes=custom_attributes,
                                 max_payload=max_payload or core.MAX_PAYLOAD, timeout=timeout or core.TIMEOUT,
                                 endpoint=name)
        except ModelError:
            from smctl.cli.multimodel import refuse_without_target

            refuse_without_target(name)  # a multi-model endpoint needs --target-model: say so, as SageMaker does
            raise
    for warning in result.warnings:
        out.warn(warning)
    out.info(f"HTTP {result.status} in {result.seconds * 1000:.0f} ms, {len(result.body):,} bytes"
             + (f", {result.content_type}" if result.content_type else ""))
    if result.custom_attributes is not None:
        out.info(f"custom attributes: {result.custom_attributes}")
    out.data_bytes(result.body)
    out.result({"endpoint": name, "content_type_sent": payload.content_type, **result.as_dict()})


def _check_ranges(max_payload: int | None, timeout: float | None) -> None:
    """Raises: UsageError naming the flag and its range."""
    from smctl.errors import UsageError

    if max_payload is not None and max_payload < 1:
        raise UsageError(f"--max-payload {max_payload} is not a byte count",
                         "use --max-payload BYTES with BYTES >= 1 (SageMaker's limit: 6291456)")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout {timeout:g} is outside 0-{MAX_TIMEOUT} s",
                         f"use --timeout SECONDS, more than 0 and at most {MAX_TIMEOUT} (SageMaker's: 60)")


def _invoke_async(ctx: typer.Context, target: str | None, *, async_: bool, cloud: bool, **options: Any) -> None:
    """Raises: UsageError for --input/--inference-id without --async, --async with a URL."""
    from smctl.cli.async_invoke import invoke_async
    from smctl.errors import UsageError

    if not async_:
        raise UsageError("--input and --inference-id are for asynchronous inference", "add --async")
    if target and "://" in target:
        raise UsageError("--async invokes an endpoint by name", "smctl invoke NAME --async --input s3://...")
    if cloud:
        from smctl.cli.invoke_cloud_async import invoke_async_cloud

        where = _where(ctx, target, cloud=True, local=options.pop("local"), region=options.pop("region"))
        return invoke_async_cloud(ctx.obj.out, target or "", where or (None, None), **options)
    options.pop("local")
    name = target or _resolve(None)[1] or ""
    where = _aws(ctx, options.pop("region"))
    invoke_async(ctx.obj.out, name, region=where[0], profile=where[1], **options)


class _OnlyInCloud(Exception):
    """The name is no local endpoint's, and SageMaker has an endpoint of that name."""


def _where(ctx: typer.Context, target: str | None, *, cloud: bool, local: bool,
           region: str | None) -> tuple[str | None, str | None] | None:
    """(region, profile) when the request goes to SageMaker (--cloud); None for a local endpoint or a URL.

    Raises: UsageError for --cloud with --local, or --cloud without a name.
    """
    from smctl.errors import UsageError

    if cloud and local:
        raise UsageError("--cloud and --local were both given", "keep one: --cloud for SageMaker's endpoint NAME, "
                                                                 "--local for the one smctl runs here")
    if not cloud:
        return None
    if not target or "://" in target:
        raise UsageError("--cloud needs the SageMaker endpoint's name", "smctl invoke NAME --cloud --data ...")
    return _aws(ctx, region)


def _aws(ctx: typer.Context, region: str | None) -> tuple[str | None, str | None]:
    from smctl.project.spec import load_project

    spec = load_project(ctx.obj.config)
    return aws_region(spec, region), spec.aws.profile


def _invoke_cloud(out: Output, name: str, where: tuple[str | None, str | None], data: str | None,
                  content_type: str | None, accept: str | None, custom_attributes: str | None,
                  timeout: float | None, target_model: str | None = None) -> None:
    from smctl.aws.runtime import invoke_endpoint
    from smctl.serving import invoke as core

    payload = core.read_payload(data, content_type)
    answer = invoke_endpoint(name, payload.body, payload.content_type, accept=accept,
                             custom_attributes=custom_attributes, region=where[0], profile=where[1],
                             timeout=timeout or core.TIMEOUT, target_model=target_model)
    result = core.InvokeResult(answer.url, answer.status, answer.body, answer.content_type, answer.custom_attributes,
                               answer.seconds)
    out.info(f"SageMaker endpoint {name}: HTTP {result.status} in {result.seconds * 1000:.0f} ms, "
             f"{len(result.body):,} bytes" + (f", {result.content_type}" if result.content_type else ""))
    out.data_bytes(result.body)
    out.result({"endpoint": name, "cloud": True, "content_type_sent": payload.content_type,
                **({"target_model": target_model} if target_model else {}), **result.as_dict()})


def _resolve(target: str | None, *, ask_cloud: bool = False, region: str | None = None,
             config: Any = None) -> tuple[str, str | None]:
    """(invocations URL, endpoint name or None) for a name, a URL, or nothing (the only running endpoint).

    A name that is a SageMaker endpoint too is refused (both named), never guessed; one that is only SageMaker's
    says so with --cloud (the local lookup's error otherwise).
    """
    from smctl.serving.invoke import invocations_url

    if target and "://" in target:
        return invocations_url(target), None
    from smctl.engine.container import ContainerState
    from smctl.engine.containers import docker_client
    from smctl.serving.registry import get_endpoint, list_endpoints

    client = docker_client()
    if target is None:
        running = [e for e in list_endpoints(client) if e.state is ContainerState.RUNNING]
        if len(running) != 1:
            from smctl.errors import UsageError

            names = ", ".join(e.name for e in running) or "none is running"
            raise UsageError(f"which endpoint? {len(running)} are running ({names})",
                             "name it: smctl invoke NAME --data ... (start one with smctl local-serve)")
        endpoint: Any = running[0]
    else:
        from smctl.errors import EndpointNotFoundError, UsageError

        try:
            endpoint = get_endpoint(client, target)
        except EndpointNotFoundError as exc:
            if ask_cloud and _in_cloud(target, region, config):
                raise _OnlyInCloud from exc
            raise
        if ask_cloud and _in_cloud(target, region, config):
            raise UsageError(f"{target} is both a local endpoint and a SageMaker endpoint",
                             f"say which: smctl invoke {target} --local, or smctl invoke {target} --cloud")
    return invocations_url(endpoint.url), endpoint.name


def _in_cloud(name: str, region: str | None, config: Any) -> bool:
    """True only when SageMaker says it has the endpoint (no AWS set up, offline: False, the local one is used)."""
    from smctl.aws.runtime import cloud_endpoint_exists
    from smctl.project.spec import load_project

    spec = load_project(config)
    return bool(cloud_endpoint_exists(name, aws_region(spec, region), spec.aws.profile))


def register(app: typer.Typer) -> None:
    app.command("invoke", help=HELP)(invoke)

