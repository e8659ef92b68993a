"""`smctl train`: the job local-train runs, on SageMaker (CreateTrainingJob), from the same options and smctl.toml."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from smctl.cli.job_options import (
    ArgsOption,
    CloudDryRunOption,
    EntrypointOption,
    EnvOption,
    HpEncodingOption,
    HpOption,
    HyperparametersOption,
    InstanceCountOption,
    InstanceTypeOption,
    JobNameOption,
    NoWaitOption,
    OutputKmsOption,
    SecurityGroupOption,
    SubnetOption,
    TagOption,
    VolumeKmsOption,
    VolumeSizeOption,
)
from smctl.cli.options import PushOption, cloud_image, cloud_region, parse_pairs
from smctl.cli.output import Output, event_printer

HELP = "Run the training job local-train runs on SageMaker itself: upload, create, follow the logs, fetch the model."


def train(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option(
        "--image", metavar="IMAGE", help="ECR image URI (default: smctl.toml).")] = None,
    hp: HpOption = None,
    hyperparameters: HyperparametersOption = None,
    channel: Annotated[list[str] | None, typer.Option(
        "--channel", metavar="NAME=PATH[,OPT=VALUE...]",
        help="As local-train's: a local PATH is uploaded (once per content), s3:// is used as it is.")] = None,
    instance_type: InstanceTypeOption = None,
    instance_count: InstanceCountOption = None,
    env: EnvOption = None,
    job_name: JobNameOption = None,
    entrypoint: EntrypointOption = None,
    args: ArgsOption = None,
    hp_encoding: HpEncodingOption = None,
    region: Annotated[str | None, typer.Option("--region", metavar="REGION")] = None,
    role: Annotated[str | None, typer.Option(
        "--role", metavar="ARN", help="The job's execution role (default: smctl.toml [aws] role).")] = None,
    output_path: Annotated[str | None, typer.Option(
        "--output-path", metavar="s3://...", help="S3OutputPath (default: s3://sagemaker-REGION-ACCOUNT/).")] = None,
    bucket: Annotated[str | None, typer.Option(
        "--bucket", metavar="BUCKET", help="For uploads and the default output (default: sagemaker-REGION-"
        "ACCOUNT, created when missing).")] = None,
    checkpoint_s3: Annotated[str | None, typer.Option("--checkpoint-s3", metavar="s3://...")] = None,
    max_runtime: Annotated[int, typer.Option("--max-runtime", metavar="SECONDS")] = 86400,
    spot: Annotated[bool, typer.Option("--spot", help="Managed Spot training.")] = False,
    max_wait: Annotated[int | None, typer.Option(
        "--max-wait", metavar="SECONDS", help="Spot: the longest wait plus run (>= --max-runtime).")] = None,
    volume_size: VolumeSizeOption = 30,
    volume_kms_key: VolumeKmsOption = None,
    output_kms_key: OutputKmsOption = None,
    subnet: SubnetOption = None,
    security_group: SecurityGroupOption = None,
    tag: TagOption = None,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", metavar="NAME=REGEX", help="Metric definition from the logs (repeatable).")] = None,
    no_wait: NoWaitOption = False,
    push: PushOption = False,
    dry_run: CloudDryRunOption = False,
) -> None:
    from smctl.cli.cloud_follow import follow_in_cloud
    from smctl.cli.jobs import remember
    from smctl.cli.train import build_job
    from smctl.cloud import training as cloud_training
    from smctl.cloud.training_request import CloudTraining, training_job_request
    from smctl.errors import UsageError
    from smctl.project.spec import load_project
    from smctl.training.plan import plan_job

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    bucket = spec.aws.with_overrides(bucket=bucket).bucket  # --bucket, else [aws] bucket
    job = build_job(spec, "train", image=image, hp=hp, hyperparameters=hyperparameters, channel=channel,
                    instance_type=instance_type, instance_count=instance_count, gpus=None, output_dir=None,
                    checkpoint_dir=None, env=env, job_name=job_name, entrypoint=entrypoint, args=args,
                    hp_encoding=hp_encoding, region=region)
    if not (push and dry_run):  # a dry run pushes nothing
        job = replace(job, image=cloud_image(out, spec, job.image, push=push, region=region, command="train"))
    from smctl.cloud.preflight import instance_type_for

    offered, warning = instance_type_for("training", job.instance_type)
    if warning:
        out.warn(warning)
    plan = plan_job(job, offered)
    if max_wait is not None and not spot:
        raise UsageError("--max-wait applies to Spot training only (MaxWaitTimeInSeconds)",
                         "add --spot for Managed Spot training, or drop --max-wait")
    if spot and max_wait is not None and max_wait < max_runtime:
        raise UsageError(f"--max-wait {max_wait} is shorter than --max-runtime {max_runtime}",
                         f"Spot waits count too: --max-wait {max_runtime} or more")
    role_arn = spec.aws.with_overrides(role=role).role
    defaults = CloudTraining()
    cloud = CloudTraining(
        role_arn=role_arn or defaults.role_arn, output_path=output_path or defaults.output_path,
        checkpoint_uri=checkpoint_s3, max_runtime=max_runtime, volume_size_gb=volume_size,
        volume_kms_key=volume_kms_key, output_kms_key=output_kms_key, spot=spot,
        max_wait=(max_wait or max_runtime * 2) if spot else None, subnets=tuple(subnet or ()),
        security_groups=tuple(security_group or ()), tags=parse_pairs(tag or [], "--tag"),
        metric_definitions=parse_pairs(metric or [], "--metric"))
    if dry_run:
        out.result({"dry_run": True, "request": training_job_request(plan, cloud)},
                   lambda c: c.print_json(data=training_job_request(plan, cloud)))
        return
    where = cloud_region(spec, region)
    cjob = cloud_training.CloudTrainJob(plan, cloud, where, spec.aws.profile, bucket, image_pushed=push)
    on_event = event_printer(out)
    request = cloud_training.prepare_request(cjob, on_event, out.progress)
    import time

    started = time.monotonic()
    sm = cloud_training.start(cjob, request, on_event)
    remember(out, spec, "training job", plan.job_name, where)
    name = plan.job_name
    if no_wait:
        out.result({"job_name": name, "status": "InProgress"},
                   lambda c: c.print(f"{name}: created; follow it: smctl logs {name} --cloud -f", markup=False))
        return
    state, tail = follow_in_cloud(
        out, "training job", name, lambda sleep: cloud_training.follow(sm, name, on_event, region=where,
                                                                       profile=spec.aws.profile, sleep=sleep),
        then=f"stop it: smctl stop {name}")
    artifacts = (cloud_training.fetch_artifacts(state, plan.output_dir, region=where, profile=spec.aws.profile,
                                                latest_dir=plan.latest_dir, on_event=on_event)
                 if state.status == "Completed" else (None, None))
    result = cloud_training.result_of(state, tail, started, artifacts, request)
    out.result(result.as_dict(), lambda c: _render(c, result))
    cloud_training.raise_for_status(result)


def _render(console: Any, result: Any) -> None:
    console.print(f"{result.job_name}: {result.status} in {result.seconds:.1f} s"
                  + (f" ({result.billable_seconds} billable seconds)" if result.billable_seconds else ""), markup=False)
    for label, path in (("model", result.model_artifact), ("output", result.output_artifact)):
        if path:
            console.print(f"  {label}: {path}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("train", help=HELP)(train)
