"""`smctl runtime`: the SageMaker Runtime API (InvokeEndpoint) on a local port, for every local endpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from smctl.cli.output import Output

HELP = "Serve SageMaker Runtime's InvokeEndpoint locally, so boto3 invoke_endpoint reaches local endpoints."


def runtime(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(
        "--port", metavar="PORT", help="Port to listen on, 0-65535 (0: any free one).")] = 8090,
    host: Annotated[str, typer.Option(
        "--host", metavar="HOST", help="IP address to listen on (0.0.0.0: every interface, reachable from the "
        "network).")] = "127.0.0.1",
) -> None:
    from smctl.cli.serve import endpoint_events, warn_if_every_interface
    from smctl.serving.ports import check_host, check_port
    from smctl.serving.runtime_api import start_runtime

    out: Output = ctx.obj.out
    check_port(port)
    host = check_host(host)
    warn_if_every_interface(out, host, "runtime API")
    server = start_runtime(host, port, on_event=endpoint_events(out))
    out.info(f"SageMaker Runtime API ready at {server.url}; boto3.client('sagemaker-runtime', "
             f"endpoint_url='{server.url}') reaches every endpoint of `smctl endpoints`. Ctrl-C stops it.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C is how this command is meant to end: exit 0, not an error
        out.info(f"SageMaker Runtime API at {server.url} stopped (Ctrl-C)")
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.command("runtime", help=HELP)(runtime)
