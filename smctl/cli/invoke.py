"""`smctl invoke [NAME|URL]`: one request to a local endpoint's /invocations, with SageMaker's limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smctl.cli.output import Output

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
) -> None:
    from smctl.serving import invoke as core

    out: Output = ctx.obj.out
    _check_ranges(max_payload, timeout)
    url, name = _resolve(target)
    if max_payload is not None and max_payload != core.MAX_PAYLOAD:
        out.warn(f"--max-payload {max_payload}: SageMaker's limit stays {core.MAX_PAYLOAD:,} bytes")
    if timeout is not None and timeout != core.TIMEOUT:
        out.warn(f"--timeout {timeout:g}: SageMaker still gives up after {core.TIMEOUT:g} s")
    payload = core.read_payload(data, content_type)
    if payload.inferred:
        out.debug(f"content type {payload.content_type} (inferred from the {payload.source})")
    result = core.invoke(url, payload, accept=accept, custom_attributes=custom_attributes,
                         max_payload=max_payload or core.MAX_PAYLOAD, timeout=timeout or core.TIMEOUT,
                         endpoint=name)
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


def _resolve(target: str | None) -> tuple[str, str | None]:
    """(invocations URL, endpoint name or None) for a name, a URL, or nothing (the only running endpoint)."""
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
        endpoint = get_endpoint(client, target)
    return invocations_url(endpoint.url), endpoint.name


def register(app: typer.Typer) -> None:
    app.command("invoke", help=HELP)(invoke)
