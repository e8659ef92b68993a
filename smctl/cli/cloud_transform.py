"""`smctl transform`: the job local-transform runs, as a SageMaker batch transform job, from the same options."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer
from typer import Option as Opt

from smctl.cli.options import PushOption
from smctl.cli.output import Output, event_printer

HELP = "Run the batch transform local-transform runs on SageMaker itself; a local --output gets the results."
WHERE = "PATH|s3://..."


def transform(
    ctx: typer.Context,
    input_: Annotated[str | None, Opt("--input", metavar=WHERE, help="Input folder (uploaded) or s3:// prefix.")
                      ] = None,
    output: Annotated[str | None, Opt("--output", metavar=WHERE, help="Local folder (results downloaded) or s3://"
                                      " prefix (default: [transform] output).")] = None,
    image: Annotated[str | None, Opt("--image", metavar="IMAGE", help="ECR image URI of the serving image.")] = None,
    model: Annotated[str | None, Opt("--model", metavar=WHERE, help="Model folder, model.tar.gz or s3:// URI.")
                     ] = None,
    content_type: Annotated[str | None, Opt("--content-type", metavar="TYPE")] = None,
    accept: Annotated[str | None, Opt("--accept", metavar="TYPE")] = None,
    split_type: Annotated[str | None, Opt("--split-type", metavar="TYPE")] = None,
    strategy: Annotated[str | None, Opt("--strategy", metavar="STRATEGY")] = None,
    max_payload: Annotated[int | None, Opt("--max-payload", metavar="MB")] = None,
    max_concurrent: Annotated[int | None, Opt("--max-concurrent", metavar="N")] = None,
    assemble_with: Annotated[str | None, Opt("--assemble-with", metavar="None|Line")] = None,
    input_filter: Annotated[str | None, Opt("--input-filter", metavar="JSONPATH")] = None,
    output_filter: Annotated[str | None, Opt("--output-filter", metavar="JSONPATH")] = None,
    join_source: Annotated[str | None, Opt("--join-source", metavar="None|Input")] = None,
    compression: Annotated[str | None, Opt("--compression", metavar="None|Gzip")] = None,
    timeout: Annotated[int | None, Opt("--timeout", metavar="SECONDS")] = None,
    retries: Annotated[int | None, Opt("--retries", metavar="N")] = None,
    env: Annotated[list[str] | None, Opt("--env", metavar="KEY=VALUE")] = None,
    instance_type: Annotated[str | None, Opt(
        "--instance-type", metavar="TYPE", help="ml.* type (default: [transform] instance_type).")] = None,
    instance_count: Annotated[int, Opt("--instance-count", metavar="N")] = 1,
    job_name: Annotated[str | None, Opt(
        "--job-name", metavar="NAME", help="Transform job name (default: transform-TIMESTAMP-RANDOM).")] = None,
    role: Annotated[str | None, Opt("--role", metavar="ARN", help="Execution role ([aws] role).")] = None,
    region: Annotated[str | None, Opt("--region", metavar="REGION")] = None,
    bucket: Annotated[str | None, Opt("--bucket", metavar="BUCKET")] = None,
    no_wait: Annotated[bool, Opt("--no-wait", help="Return once the job is created.")] = False,
    push: PushOption = False,
    dry_run: Annotated[bool, Opt("--dry-run", help="Show the request; upload and create nothing.")] = False,
) -> None:
    from smctl.cli.cloud_follow import follow_in_cloud
    from smctl.cli.options import cloud_image, cloud_region, require_role
    from smctl.cli.transform import build_transform_job
    from smctl.cloud import transform as cloud_transform
    from smctl.cloud.transform_request import transform_job_request
    from smctl.project.spec import load_project
    from smctl.transform.job import new_job_name

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    bucket = spec.aws.with_overrides(bucket=bucket).bucket  # --bucket, else [aws] bucket
    job = build_transform_job(
        spec, "transform", job_name=_job_name(job_name) or new_job_name(), image=image, model=model, input_=input_,
        output=output, content_type=content_type, accept=accept, split_type=split_type, strategy=strategy,
        max_payload=max_payload, max_concurrent=max_concurrent, assemble_with=assemble_with, input_filter=input_filter,
        output_filter=output_filter, join_source=join_source, compression=compression, timeout=timeout,
        retries=retries, env=env)
    assert job.image is not None  # build_transform_job requires one without --endpoint
    if instance_type is not None:
        job = replace(job, instance_type=spec.transform.with_overrides(instance_type=instance_type).instance_type)
    if not (push and dry_run):
        job = replace(job, image=cloud_image(out, spec, job.image, push=push, region=region, command="transform"))
    role_arn = require_role(spec, role, "transform job")
    if dry_run:
        request = transform_job_request(job, model_name=f"{job.job_name}-model",
                                        input_uri=str(job.input) if job.input.is_s3 else f"<uploaded from {job.input}>",
                                        output_uri=str(job.output) if job.output and job.output.is_s3
                                        else "<s3://BUCKET/smctl/transform-output/JOB/>",
                                        instance_count=instance_count)
        out.result({"dry_run": True, "request": request}, lambda c: c.print_json(data=request))
        return
    where = cloud_region(spec, region)
    from smctl.cli.jobs import remember

    ct = cloud_transform.CloudTransform(job, role_arn, where, spec.aws.profile, bucket, instance_count, push)
    on_event = event_printer(out)
    sm, request, local = cloud_transform.submit(ct, on_event, out.progress)
    remember(out, spec, "transform job", job.job_name, where)
    if no_wait:
        out.result({"job_name": job.job_name, "status": "InProgress"},
                   lambda c: c.print(f"{job.job_name}: created", markup=False))
        return
    d = follow_in_cloud(
        out, "transform job", job.job_name, lambda sleep: cloud_transform.follow(
            sm, job.job_name, on_event, region=where, profile=spec.aws.profile, sleep=sleep),
        then=f"stop it: smctl stop {job.job_name}")
    files: list[Any] = []
    if d.get("TransformJobStatus") == "Completed" and local is not None:
        from smctl.aws.s3_sync import download_tree

        files = download_tree(request["TransformOutput"]["S3OutputPath"], local, where, spec.aws.profile)
    result = {"job_name": job.job_name, "status": d.get("TransformJobStatus"),
              "failure_reason": d.get("FailureReason"), "output": request["TransformOutput"]["S3OutputPath"],
              "downloaded_to": str(local) if local is not None else None, "files": len(files)}
    out.result(result, lambda c: c.print(
        f"{job.job_name}: {result['status']}; output {result['output']}"
        + (f" ({len(files)} file(s) in {local})" if local is not None else ""), markup=False))
    cloud_transform.raise_for_status(d)


def _job_name(name: str | None) -> str | None:
    """--job-name through SageMaker's rule for TransformJobName. Raises: UsageError naming the flag."""
    from smctl.errors import UsageError
    from smctl.training.plan import JOB_NAME

    if name is not None and not JOB_NAME.match(name):
        raise UsageError(f"--job-name {name!r} is not a valid transform job name",
                         "use 1-63 letters, digits and hyphens, starting with a letter or digit")
    return name


def register(app: typer.Typer) -> None:
    app.command("transform", help=HELP)(transform)
