"""`smctl local-serve`, `endpoints`, `local-stop` and `logs`: local SageMaker endpoints on the Docker engine."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from smctl.cli import pipeline as pipeline_cli
from smctl.cli.async_invoke import (
    AsyncConcurrencyOption,
    AsyncFailureOption,
    AsyncOutputOption,
    AsyncTimeoutOption,
)
from smctl.cli.options import NoCredentialsOption, RoleOption, credentials_request, parse_pairs, require_image
from smctl.cli.output import OnEvent, Output, event_printer

SERVE_HELP = "Run IMAGE serve as a SageMaker endpoint would, and wait until /ping answers."


def local_serve(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option(
        "--image", metavar="IMAGE", help="Image to serve (default: smctl.toml).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", metavar="PATH|s3://...", help="Model folder, model.tar.gz or s3:// URI, at /opt/ml/model (a "
        "folder is mounted as is: writes reach it).")
    ] = None,
    port: Annotated[int | None, typer.Option(
        "--port", metavar="PORT", help="Host port for the container's 8080, 0-65535 (0: any free one).")] = None,
    host: Annotated[str | None, typer.Option(
        "--host", metavar="HOST", help="IP address to publish on (default 127.0.0.1; 0.0.0.0: every interface, "
        "reachable from the network).")] = None,
    env: Annotated[list[str] | None, typer.Option(
        "--env", metavar="KEY=VALUE", help="Container environment variable (repeatable).")] = None,
    instance_type: Annotated[str | None, typer.Option(
        "--instance-type", metavar="ml.TYPE", help="ml.* type: CPU/memory limits.")] = None,
    gpus: Annotated[str | None, typer.Option(
        "--gpus", metavar="GPUS", help="all | N | ids (0,1) | none | auto.")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", metavar="NAME", help="Endpoint name (default: smctl.toml / project).")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Leave it running in the background.")] = False,
    startup_timeout: Annotated[int | None, typer.Option(
        "--startup-timeout", metavar="SECONDS", help="Seconds to wait for /ping, 60-3600 as SageMaker's "
        "ContainerStartupHealthCheckTimeoutInSeconds (default: 240).")] = None,
    read_only_model: Annotated[bool | None, typer.Option(
        "--read-only-model/--writable-model", help="Mount /opt/ml/model read-only, as SageMaker may.")] = None,
    runtime_port: Annotated[int | None, typer.Option(
        "--runtime-port", metavar="PORT", help="Also serve the SageMaker Runtime API (boto3 invoke_endpoint) on "
        "this port of 127.0.0.1.")] = None,
    role: RoleOption = None,
    no_credentials: NoCredentialsOption = False,
    async_output: AsyncOutputOption = None,
    async_failure: AsyncFailureOption = None,
    async_max_concurrency: AsyncConcurrencyOption = None,
    async_invocation_timeout: AsyncTimeoutOption = None,
    containers: Annotated[list[str] | None, typer.Option(
        "--container", metavar=pipeline_cli.CONTAINER_METAVAR, help=pipeline_cli.CONTAINER_HELP)] = None,
    direct: Annotated[bool, typer.Option("--direct", help=pipeline_cli.DIRECT_HELP)] = False,
    multi_model: Annotated[str | None, typer.Option(
        "--multi-model", metavar="s3://PREFIX/|DIR", help="A multi-model endpoint: model archives under this S3 "
        "prefix or folder, loaded on first invocation (smctl invoke --target-model m1.tar.gz).")] = None,
) -> None:
    from smctl.cli.async_invoke import async_config, check_async_buckets
    from smctl.errors import UsageError
    from smctl.project.spec import load_project
    from smctl.serving import endpoint as serving
    from smctl.serving import lifecycle

    out: Output = ctx.obj.out
    if detach and runtime_port is not None:
        raise UsageError("--runtime-port serves only while local-serve runs in the foreground",
                         "drop --detach, or serve the runtime API for detached endpoints: smctl runtime --port PORT")
    spec = load_project(ctx.obj.config)
    members = pipeline_cli.pipeline_containers(spec, containers, direct=direct, image=image, model=model)
    if not members:
        require_image(spec, image, "local-serve")
    from smctl.serving.ports import check_port

    if port is not None:
        check_port(port)
    s = spec.serve.with_overrides(image=image, model=model, instance_type=instance_type, gpus=gpus, name=name,
                                  port=port, host=host, startup_timeout=startup_timeout)
    if runtime_port is not None:
        check_port(runtime_port, "--runtime-port")
    warn_if_every_interface(out, s.host, "endpoint")
    environment = {**s.environment, **parse_pairs(env or [], "--env")}
    asynchronous = async_config(s.async_inference, async_output, async_failure, async_max_concurrency,
                                async_invocation_timeout)
    config = serving.ServeConfig(
        image=s.image, name=s.name, project_root=spec.root or Path.cwd(), model=None if multi_model else s.model,
        port=s.port, host=s.host, environment=environment, instance_type=s.instance_type,
        gpus=s.gpus, startup_timeout=s.startup_timeout,
        read_only_model=s.read_only_model if read_only_model is None else read_only_model, region=spec.aws.region,
        credentials=credentials_request(spec, role, no_credentials), async_inference=asynchronous,
        multi_model=multi_model,
    )
    from smctl.engine.containers import docker_client

    client = docker_client()
    if multi_model is not None:
        from smctl.cli.multimodel import check_serve

        check_serve(client, config, model)
    cpus, has_gpus = serving.engine_facts(client) if serving.needs_engine_facts(config) else (None, None)
    if members:  # a multi-container endpoint: same flow, its own plan and lifecycle
        from smctl.serving import pipeline_lifecycle as lifecycle  # type: ignore[no-redef]

        plan = pipeline_cli.plan_pipeline(out, config, members, direct=direct, mode=s.execution_mode, cpus=cpus,
                                          has_gpus=has_gpus)
        config = plan.config
    else:
        plan = serving.plan_endpoint(config, engine_cpus=cpus, engine_has_gpus=has_gpus)
    if asynchronous is not None:
        check_async_buckets(asynchronous, spec.aws.region, spec.aws.profile)
        out.info(f"asynchronous inference: answers to {asynchronous.output_location('<InferenceId>')}, errors to "
                 f"{asynchronous.failure_location('<InferenceId>')}, {asynchronous.concurrency} at once")
    where = f"{config.host}:{config.port}" if config.port else f"{config.host}:(any free port)"
    out.info(f"starting endpoint {config.name}: docker run {config.image} serve on {where}, "
             f"model {config.model or '(none)'}, {plan.instance.name}")
    on_event = endpoint_events(out)
    with lifecycle.running_endpoint(plan, on_event, detach=detach, client=client) as ready:
        out.info(f"endpoint {ready.name} ready at {ready.url} after {ready.seconds_to_ready:.1f} s "
                 f"(try: smctl invoke {ready.name} --data '...')")
        out.result(ready.as_dict(), lambda c: c.print(ready.url, markup=False))
        if detach:
            out.info(f"running in the background; stop it with: smctl local-stop {ready.name}")
            return
        runtime = None
        if runtime_port is not None:
            from smctl.serving.runtime_api import start_runtime

            runtime = start_runtime(port=runtime_port, on_event=on_event).start()
            out.info(f"SageMaker Runtime API at {runtime.url} (boto3: endpoint_url='{runtime.url}')")
        out.info("serving in the foreground; Ctrl-C stops and removes the container")
        try:
            lifecycle.wait_for_exit(ready, on_event)
        finally:
            if runtime is not None:
                runtime.stop()


def endpoints(ctx: typer.Context) -> None:
    """List the local endpoints: name, image, URL, status, model."""
    from smctl.engine.container import ContainerState
    from smctl.engine.containers import docker_client
    from smctl.serving.registry import list_endpoints, ping

    out: Output = ctx.obj.out
    found = list_endpoints(docker_client())
    rows = [e.as_dict(healthy=ping(e, timeout=0.5) if e.state is ContainerState.RUNNING else None) for e in found]
    from smctl.cli.multimodel import add_loaded_models

    notes = add_loaded_models(found, rows)

    def render(console: Any) -> None:
        if not rows:
            console.print("no local endpoints (start one with smctl local-serve)", markup=False)
            return
        cols = ("name", "image", "url", "status", "model")
        widths = {c: max(len(c), *(len(str(r[c] or "-")) for r in rows)) for c in cols}
        console.print("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip(), markup=False)
        for r in rows:
            console.print("  ".join(str(r[c] or "-").ljust(widths[c]) for c in cols).rstrip(), markup=False)
        for note in notes:
            console.print(note, markup=False)

    out.result({"endpoints": rows}, render)


def local_stop(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(
        metavar="NAME", help="Endpoint names (see smctl endpoints).", show_default=False)] = None,
    all_: Annotated[bool, typer.Option(
        "--all", help="Stop every smctl endpoint on this Docker engine, other projects' included.")] = False,
) -> None:
    """Stop and remove local endpoints (SIGTERM, then SIGKILL after 30 s, as SageMaker)."""
    from smctl.engine.containers import docker_client
    from smctl.errors import EndpointNotFoundError, UsageError
    from smctl.serving.registry import get_endpoint, list_endpoints, stop_endpoint

    out: Output = ctx.obj.out
    if not names and not all_:
        raise UsageError("name the endpoint to stop", "smctl local-stop NAME, or --all (see smctl endpoints)")
    client = docker_client()
    missing: list[EndpointNotFoundError] = []
    if all_:
        targets = list_endpoints(client)
        if targets:
            out.info(f"--all stops every smctl endpoint on this Docker engine, other projects' included: "
                     f"{', '.join(e.name for e in targets)}")
    else:
        targets = []
        for n in dict.fromkeys(names or []):  # as `docker rm a b`: stop what exists, then report the rest
            try:
                targets.append(get_endpoint(client, n, running=False))
            except EndpointNotFoundError as err:
                missing.append(err)
    on_event = endpoint_events(out)
    threads = [threading.Thread(target=stop_endpoint, args=(client, e), kwargs={"on_event": on_event})
               for e in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stopped = [e.name for e in targets]
    empty = "no local endpoints to stop" if all_ else ""
    out.result({"stopped": stopped, "all": all_}, lambda c: c.print(
        "\n".join(f"stopped {n}" for n in stopped) or empty, markup=False, end="\n" if stopped or all_ else ""))
    if missing:
        done = f" (stopped: {', '.join(stopped)})" if stopped else " (nothing was stopped)"
        raise EndpointNotFoundError("; ".join(err.message for err in missing) + done, missing[0].hint,
                                    details={"stopped": stopped, "not_found": [n for n in dict.fromkeys(names or [])
                                                                               if n not in stopped]})


def logs(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Endpoint name.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    tail: Annotated[int | None, typer.Option("--tail", metavar="N", help="Only the last N lines (N >= 0).")] = None,
    cloud: Annotated[bool, typer.Option(
        "--cloud", help="NAME is a SageMaker training, transform or processing job or endpoint: its CloudWatch "
        "logs.")] = False,
    region: Annotated[str | None, typer.Option("--region", metavar="REGION", help="For --cloud.")] = None,
) -> None:
    """Print an endpoint's container logs (stdout and stderr); with --cloud, a SageMaker job's or endpoint's.

    A multi-container endpoint shows every container's, each line prefixed with its hostname."""
    from smctl.engine.containers import docker_client
    from smctl.errors import UsageError
    from smctl.serving.endpoint_logs import follow_logs, log_sources, read_logs
    from smctl.serving.registry import get_endpoint

    out: Output = ctx.obj.out
    if tail is not None and tail < 0:
        raise UsageError(f"--tail {tail} is negative", "use --tail N with N >= 0 (leave it out for every line)")
    if cloud:
        _cloud_logs(ctx, out, name, follow=follow, region=region)
        return
    client = docker_client()
    sources = log_sources(client, get_endpoint(client, name, running=False))
    if follow and not out.json_mode:
        follow_logs(sources, out.data_bytes, tail)
        return
    text = read_logs(sources, tail)
    out.data_bytes(text)
    out.result({"name": name, "logs": text.decode("utf-8", errors="replace"),
                "containers": [hostname for hostname, _ in sources if hostname]})


def _cloud_logs(ctx: typer.Context, out: Output, name: str, *, follow: bool, region: str | None) -> None:
    from smctl.aws import sagemaker
    from smctl.aws.session import client
    from smctl.cli.cloud_follow import interrupts_remembered
    from smctl.cli.options import cloud_region
    from smctl.cloud.logs import find_source, print_logs
    from smctl.project.spec import load_project

    spec = load_project(ctx.obj.config)
    where = cloud_region(spec, region)
    source = find_source(sagemaker.client(where, spec.aws.profile), name)
    out.info(f"{name}: the {source.kind}'s logs ({source.group})")
    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "log":  # the logs are the command's data: stdout, as a local endpoint's are
            out.data_bytes(f"{data['line']}\n".encode())

    with interrupts_remembered() as sleep:  # Ctrl-C ends `-f` even if a library call loses the KeyboardInterrupt
        lines = print_logs(source, client("logs", where, spec.aws.profile), on_event, follow=follow, sleep=sleep)
    out.result({"name": name, "kind": source.kind, "log_group": source.group, "lines": lines})


def warn_if_every_interface(out: Output, host: str, what: str) -> None:
    """0.0.0.0 / :: is allowed, but the user should know the network can reach it now."""
    from smctl.contract.serving import is_every_interface

    if is_every_interface(host):
        out.warn(f"the {what} is published on every interface ({host}): anyone who can reach this machine over "
                 "the network can call it (--host 127.0.0.1 keeps it on this machine)")


def endpoint_events(out: Output) -> OnEvent:
    """Prints an endpoint's (and the runtime API's) events; each invocation only with -v."""
    return event_printer(out, invocation=lambda d: out.debug(
        f"invocation {d['endpoint']}: HTTP {d['status']} in {d['seconds'] * 1000:.0f} ms"))


def register(app: typer.Typer) -> None:
    app.command("local-serve", help=SERVE_HELP)(local_serve)
    app.command("endpoints")(endpoints)
    app.command("local-stop")(local_stop)
    app.command("logs")(logs)
