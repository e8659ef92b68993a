"""`smctl process`: the job local-process runs, on SageMaker (CreateProcessingJob), from the same options and
smctl.toml [process]."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from smctl.cli.job_options import (
    CloudDryRunOption,
    EnvOption,
    InstanceCountOption,
    InstanceTypeOption,
    NoWaitOption,
    OutputKmsOption,
    ProcessArgsOption,
    ProcessArguments,
    ProcessCodeOption,
    ProcessEntrypointOption,
    ProcessImageOption,
    ProcessInputOption,
    ProcessJobNameOption,
    ProcessMaxRuntimeOption,
    ProcessOutputOption,
    SecurityGroupOption,
    SubnetOption,
    TagOption,
    VolumeKmsOption,
    VolumeSizeOption,
)
from smctl.cli.options import PushOption, cloud_image, cloud_region, parse_pairs
from smctl.cli.output import Output, event_printer
from smctl.cli.process import build_processing_job

HELP = ("Run the processing job local-process runs on SageMaker itself: upload the inputs, create, follow the logs, "
        "download the outputs.")


def process(
    ctx: typer.Context,
    arguments: ProcessArguments = None,
    image: ProcessImageOption = None,
    input_: ProcessInputOption = None,
    output: ProcessOutputOption = None,
    code: ProcessCodeOption = None,
    entrypoint: ProcessEntrypointOption = None,
    args: ProcessArgsOption = None,
    instance_type: InstanceTypeOption = None,
    instance_count: InstanceCountOption = None,
    env: EnvOption = None,
    max_runtime: ProcessMaxRuntimeOption = None,
    job_name: ProcessJobNameOption = None,
    region: Annotated[str | None, typer.Option("--region", metavar="REGION")] = None,
    role: Annotated[str | None, typer.Option(
        "--role", metavar="ARN", help="The job's execution role (default: smctl.toml [aws] role).")] = None,
    bucket: Annotated[str | None, typer.Option(
        "--bucket", metavar="BUCKET", help="For uploads and local outputs' staging (default: sagemaker-REGION-"
        "ACCOUNT, created when missing).")] = None,
    volume_size: VolumeSizeOption = 30,
    volume_kms_key: VolumeKmsOption = None,
    output_kms_key: OutputKmsOption = None,
    subnet: SubnetOption = None,
    security_group: SecurityGroupOption = None,
    tag: TagOption = None,
    no_wait: NoWaitOption = False,
    push: PushOption = False,
    dry_run: CloudDryRunOption = False,
) -> None:
    import time

    from smctl.cli.cloud_follow import follow_in_cloud
    from smctl.cli.jobs import remember
    from smctl.cli.options import aws_region, check_range
    from smctl.cloud import processing as cloud_processing
    from smctl.cloud.preflight import instance_type_for
    from smctl.cloud.processing_request import ROLE_PLACEHOLDER, CloudProcessing, processing_job_request
    from smctl.processing.plan import plan_processing
    from smctl.project.spec import load_project

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    bucket = spec.aws.with_overrides(bucket=bucket).bucket  # --bucket, else [aws] bucket
    check_range(volume_size, "--volume-size", 1, 16384)  # ClusterConfig.VolumeSizeInGB
    job = build_processing_job(
        spec, "process", arguments=arguments, image=image, input_=input_, output=output, code=code,
        entrypoint=entrypoint, args=args, instance_type=instance_type, instance_count=instance_count, env=env,
        max_runtime=max_runtime, job_name=job_name, region=aws_region(spec, region))
    if not (push and dry_run):  # a dry run pushes nothing
        job = replace(job, image=cloud_image(out, spec, job.image, push=push, region=region, command="process"))
    offered, warning = instance_type_for("processing", job.instance_type)
    if warning:
        out.warn(warning)
    plan = plan_processing(job, offered)
    cloud = CloudProcessing(
        role_arn=spec.aws.with_overrides(role=role).role or ROLE_PLACEHOLDER, volume_size_gb=volume_size,
        volume_kms_key=volume_kms_key, output_kms_key=output_kms_key, subnets=tuple(subnet or ()),
        security_groups=tuple(security_group or ()), tags=parse_pairs(tag or [], "--tag"))
    if dry_run:
        request = processing_job_request(plan, cloud)
        out.result({"dry_run": True, "request": request}, lambda c: c.print_json(data=request))
        return
    where = cloud_region(spec, region)
    cjob = cloud_processing.CloudProcessJob(plan, cloud, where, spec.aws.profile, bucket, image_pushed=push)
    on_event = event_printer(out)
    request = cloud_processing.prepare_request(cjob, on_event, out.progress)
    started = time.monotonic()
    sm = cloud_processing.start(cjob, request, on_event)
    name = plan.job_name
    remember(out, spec, "processing job", name, where)
    if no_wait:
        out.result({"job_name": name, "status": "InProgress"},
                   lambda c: c.print(f"{name}: created; follow it: smctl logs {name} --cloud -f", markup=False))
        return
    state, tail = follow_in_cloud(
        out, "processing job", name, lambda sleep: cloud_processing.follow(
            sm, name, on_event, region=where, profile=spec.aws.profile, hosts=len(plan.hosts), sleep=sleep),
        then=f"stop it: smctl stop {name}")
    downloaded = cloud_processing.download_outputs(cjob, state, request, on_event)
    result = cloud_processing.result_of(cjob, state, tail, started, downloaded)
    out.result(result.as_dict(), lambda c: _render(c, result))
    cloud_processing.raise_for_status(result)


def _render(console: Any, result: Any) -> None:
    console.print(f"{result.job_name}: {result.status} in {result.seconds:.1f} s", markup=False)
    if result.exit_message:
        console.print(f"  ExitMessage: {result.exit_message}", markup=False)
    for name, dest in result.outputs.items():
        count = result.downloaded.get(name)
        console.print(f"  output {name}: " + (f"{count} file(s) -> {dest}" if count is not None else dest),
                      markup=False)


def register(app: typer.Typer) -> None:
    app.command("process", help=HELP)(process)
