"""`smctl deploy` and `smctl undeploy`: what local-serve runs, as a SageMaker endpoint; and its removal."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from smctl.cli.async_invoke import AsyncConcurrencyOption, AsyncFailureOption, AsyncOutputOption
from smctl.cli.deploy_modes import ContainerOption, DirectOption, MultiModelOption
from smctl.cli.options import PushOption, YesOption, parse_pairs
from smctl.cli.output import Output, event_printer

HELP = "Deploy what local-serve runs as a SageMaker endpoint (model, config, endpoint) and wait until InService."
UNDEPLOY_HELP = "Delete a SageMaker endpoint with its endpoint config and model (asks first)."


def deploy(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option("--image", metavar="IMAGE", help="ECR image URI.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", metavar="PATH|s3://...", help="A folder (packed), a model.tar.gz (uploaded) or s3:// (as is).")
    ] = None,
    env: Annotated[list[str] | None, typer.Option("--env", metavar="KEY=VALUE")] = None,
    instance_type: Annotated[str | None, typer.Option("--instance-type", metavar="ml.TYPE")] = None,
    instance_count: Annotated[int, typer.Option("--instance-count", metavar="N")] = 1,
    name: Annotated[str | None, typer.Option("--name", metavar="NAME", help="Endpoint name.")] = None,
    role: Annotated[str | None, typer.Option("--role", metavar="ARN", help="Execution role ([aws] role).")] = None,
    region: Annotated[str | None, typer.Option("--region", metavar="REGION")] = None,
    bucket: Annotated[str | None, typer.Option("--bucket", metavar="BUCKET")] = None,
    serverless_memory: Annotated[int | None, typer.Option(
        "--serverless-memory", metavar="MB", help="Serverless inference with this memory (1024-6144).")] = None,
    serverless_concurrency: Annotated[int, typer.Option("--serverless-concurrency", metavar="N")] = 5,
    startup_timeout: Annotated[int | None, typer.Option("--startup-timeout", metavar="SECONDS")] = None,
    variant: Annotated[str, typer.Option("--variant", metavar="NAME")] = "AllTraffic",
    data_capture: Annotated[str | None, typer.Option("--data-capture", metavar="s3://...")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", metavar="KEY=VALUE")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once the endpoint is being created.")] = False,
    push: PushOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the three requests; create nothing.")] = False,
    async_output: AsyncOutputOption = None,
    async_failure: AsyncFailureOption = None,
    async_max_concurrency: AsyncConcurrencyOption = None,
    multi_model: MultiModelOption = None,
    containers: ContainerOption = None,
    direct: DirectOption = False,
) -> None:
    from smctl.cli import deploy_modes
    from smctl.cli.cloud_follow import follow_in_cloud
    from smctl.cli.options import cloud_image, cloud_region, require_role
    from smctl.cloud import deploy as cloud_deploy
    from smctl.cloud.endpoint_request import (
        CloudEndpoint,
        endpoint_config_request,
        endpoint_request,
        model_request,
    )
    from smctl.errors import UsageError
    from smctl.project.spec import load_project

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    bucket = spec.aws.with_overrides(bucket=bucket).bucket  # --bucket, else [aws] bucket
    s = spec.serve.with_overrides(image=image, model=model, instance_type=instance_type, name=name,
                                  startup_timeout=startup_timeout)
    modes = deploy_modes.read_modes(spec, s, async_flags=(async_output, async_failure, async_max_concurrency),
                                    multi_model=multi_model, containers=containers, direct=direct, image=image,
                                    model=model, serverless=serverless_memory is not None)
    if modes.containers:
        s = replace(s, model=None)  # each container has its own
    elif not s.image:
        raise UsageError("no image to deploy", "pass --image ECR_URI, or set [serve] image in smctl.toml")
    deploy_modes.check_labels(out, modes, s.image)
    if modes.multi_model is not None:
        s = replace(s, model=None)  # the archives under the prefix are the models
    if not (push and dry_run):
        if not modes.containers:
            s = replace(s, image=cloud_image(out, spec, s.image, push=push, region=region, command="deploy"))
        modes = deploy_modes.cloud_images(out, spec, modes, push=push, region=region)
    role_arn = require_role(spec, role, "endpoint")
    deploy_modes.check_serverless(serverless_memory, instance_type=instance_type, startup_timeout=startup_timeout,
                                  instance_count=instance_count)
    ep = CloudEndpoint(name=s.name, image=s.image, role_arn=role_arn,
                       environment={**s.environment, **parse_pairs(env or [], "--env")},
                       instance_type=s.instance_type, instance_count=instance_count, variant=variant,
                       serverless_memory_mb=serverless_memory, serverless_max_concurrency=serverless_concurrency,
                       startup_timeout=_startup_timeout(spec, startup_timeout), data_capture_uri=data_capture,
                       tags=parse_pairs(tag or [], "--tag"), async_inference=modes.async_inference,
                       multi_model=modes.multi_model is not None, containers=modes.containers,
                       execution_mode=modes.execution_mode)
    if dry_run:
        if s.model is not None and s.model.is_s3:  # used as it is: the request names it already
            ep = replace(ep, model_uri=s.model.uri)
        if modes.multi_model is not None and modes.multi_model.startswith("s3://"):
            ep = replace(ep, model_uri=modes.multi_model)
        names = f"{s.name}-<timestamp>"
        requests = {"CreateModel": model_request(ep, names),
                    "CreateEndpointConfig": endpoint_config_request(ep, names, names),
                    "CreateEndpoint": endpoint_request(ep, names), "model": str(s.model) if s.model else None,
                    "uploads": _uploads(modes)}
        out.result({"dry_run": True, "requests": requests}, lambda c: c.print_json(data=requests))
        return
    from smctl.aws import sagemaker
    from smctl.aws.s3_sync import default_bucket
    from smctl.cli.jobs import remember

    where = cloud_region(spec, region)
    from smctl.aws.s3_sync import account_id
    from smctl.cloud.preflight import check_image, check_job, check_regions, check_role_account

    check_role_account(role_arn, account_id(where, spec.aws.profile))
    images = list(dict.fromkeys(c.image for c in ep.containers)) or [ep.image]  # every container's is pulled
    check_job("hosting", image=images[0], role_arn=role_arn,
              instance_type=None if serverless_memory else ep.instance_type, region=where, profile=spec.aws.profile,
              on_event=event_printer(out), command="deploy", image_pushed=push)
    for other in images[1:] if not push else []:
        check_image(other, where, profile=spec.aws.profile, command="deploy")
    check_regions([u for u in (s.model.uri if s.model is not None and s.model.is_s3 else None, data_capture,
                               f"s3://{bucket}/" if bucket else None, *modes.s3_uris) if u], where,
                  profile=spec.aws.profile)
    on_event = event_printer(out)
    if (s.model is not None and not s.model.is_s3) or modes.uploads:
        bucket = bucket or default_bucket(where, spec.aws.profile)
    up: dict[str, Any] = {"region": where, "profile": spec.aws.profile, "on_event": on_event, "progress": out.progress}
    ep = cloud_deploy.upload_model(ep, s.model, bucket or "", **up)
    if modes.multi_model is not None:
        ep = cloud_deploy.upload_multi_model(ep, modes.multi_model, bucket or "", **up)
    if modes.containers:
        ep = cloud_deploy.upload_container_models(ep, modes.container_models, bucket or "", **up)
    sm = sagemaker.client(where, spec.aws.profile)
    made = cloud_deploy.deploy(sm, ep, on_event)
    remember(out, spec, "endpoint", ep.name, where)
    if no_wait:
        out.result({"endpoint": ep.name, "model": made.model_name, "config": made.config_name},
                   lambda c: c.print(f"{ep.name}: {'updating' if made.updated else 'creating'}", markup=False))
        return
    state = follow_in_cloud(
        out, "endpoint", ep.name, lambda sleep: cloud_deploy.follow(sm, ep.name, variant, on_event, region=where,
                                                                    profile=spec.aws.profile, sleep=sleep),
        then=f"remove it: smctl undeploy {ep.name}",
        goes_on=f"goes on being {'updated' if made.updated else 'created'}")
    result = {"endpoint": ep.name, "status": state.status, "failure_reason": state.failure_reason,
              "model": made.model_name, "config": made.config_name, "model_data": ep.model_uri}
    out.result(result, lambda c: _render(c, result))
    cloud_deploy.raise_for_state(state, made, s.image)


def undeploy(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The SageMaker endpoint.")],
    yes: YesOption = False,
    region: Annotated[str | None, typer.Option("--region", metavar="REGION")] = None,
) -> None:
    from smctl.cli.options import confirm, sagemaker_client
    from smctl.cloud.undeploy import remove_endpoint, what_to_remove

    out: Output = ctx.obj.out
    _, _, sm = sagemaker_client(ctx, region)
    plan = what_to_remove(sm, name)
    if not yes:
        confirm(f"delete endpoint {name}, config {plan.config} and model(s) {', '.join(plan.models) or '(none)'}",
                f"smctl undeploy {name}")
    removed = remove_endpoint(sm, plan)
    out.result({"removed": removed}, lambda c: c.print(f"removed {', '.join(removed)}", markup=False))


def _render(console: Any, r: dict[str, Any]) -> None:
    console.print(f"{r['endpoint']}: {r['status']} (model {r['model']}, config {r['config']})", markup=False)
    if r.get("model_data"):
        console.print(f"  model data: {r['model_data']}", markup=False)


def _uploads(modes: Any) -> list[str]:
    """What a real deploy would upload for the modes (a dry run names it, as `model` names a local model)."""
    found = [modes.multi_model] if modes.multi_model and not modes.multi_model.startswith("s3://") else []
    return found + [str(m) for m in modes.container_models if m is not None and not m.is_s3]


def _startup_timeout(spec: Any, flag: int | None) -> int | None:
    """--startup-timeout, else [serve] startup_timeout when smctl.toml sets it to other than local-serve's default;
    None leaves SageMaker's own default."""
    from smctl.project.schema import SECTIONS

    if flag is not None:
        return flag
    default = next(f.default for f in SECTIONS["serve"] if f.name == "startup_timeout")
    value = spec.serve.startup_timeout
    return int(value) if value is not None and value != default else None


def register(app: typer.Typer) -> None:
    app.command("deploy", help=HELP)(deploy)
    app.command("undeploy", help=UNDEPLOY_HELP)(undeploy)
