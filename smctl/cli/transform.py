"""`smctl local-transform`: a SageMaker batch transform job against `IMAGE serve` (or a running local endpoint)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from smctl.cli.options import NoCredentialsOption, RoleOption, credentials_request, parse_pairs, require_image
from smctl.cli.output import OnEvent, Output, event_printer
from smctl.units import human_size

HELP = "Run a SageMaker batch transform job locally: split, batch, invoke, and assemble one .out per input file."
Opt = typer.Option
WHERE = "PATH|s3://..."


def local_transform(
    ctx: typer.Context,
    input_: Annotated[str | None, Opt("--input", metavar=WHERE, help="Input folder, file or s3://prefix.")] = None,
    output: Annotated[str | None, Opt(
        "--output", metavar=WHERE, help="Output folder or s3://prefix (one <name>.out each).")] = None,
    image: Annotated[str | None, Opt(
        "--image", metavar="IMAGE", help="Serving image to start (default: smctl.toml).")] = None,
    endpoint: Annotated[str | None, Opt(
        "--endpoint", metavar="NAME", help="Use this running local endpoint instead.")] = None,
    model: Annotated[str | None, Opt(
        "--model", metavar=WHERE, help="Model folder, model.tar.gz or s3:// URI.")] = None,
    content_type: Annotated[str | None, Opt(
        "--content-type", metavar="TYPE", help="ContentType sent with each request.")] = None,
    accept: Annotated[str | None, Opt("--accept", metavar="TYPE", help="Accept sent with each request.")] = None,
    split_type: Annotated[str | None, Opt(
        "--split-type", metavar="TYPE", help="None | Line | RecordIO | TFRecord.")] = None,
    strategy: Annotated[str | None, Opt(
        "--strategy", metavar="STRATEGY", help="SingleRecord | MultiRecord.")] = None,
    max_payload: Annotated[int | None, Opt(
        "--max-payload", metavar="MB", help="MaxPayloadInMB, 0-100 (0: no limit, chunked).")] = None,
    max_concurrent: Annotated[int | None, Opt(
        "--max-concurrent", metavar="N", help="MaxConcurrentTransforms, >= 0 (0: the container decides).")] = None,
    assemble_with: Annotated[str | None, Opt("--assemble-with", metavar="None|Line", help="None | Line.")] = None,
    input_filter: Annotated[str | None, Opt(
        "--input-filter", metavar="JSONPATH", help="JSONPath of what to send, e.g. '$[1:]'.")] = None,
    output_filter: Annotated[str | None, Opt(
        "--output-filter", metavar="JSONPATH", help="JSONPath of what to keep.")] = None,
    join_source: Annotated[str | None, Opt("--join-source", metavar="None|Input", help="None | Input.")] = None,
    compression: Annotated[str | None, Opt(
        "--compression", metavar="None|Gzip", help="None | Gzip (input).")] = None,
    timeout: Annotated[int | None, Opt(
        "--timeout", metavar="SECONDS", help="Seconds per request (1-3600, default 600).")] = None,
    retries: Annotated[int | None, Opt(
        "--retries", metavar="N", help="Retries per request (0-3, default 3).")] = None,
    env: Annotated[list[str] | None, Opt(
        "--env", metavar="KEY=VALUE", help="Container environment variable (repeatable).")] = None,
    resume: Annotated[bool, Opt("--resume", help="Skip input files whose .out already exists.")] = False,
    role: RoleOption = None,
    no_credentials: NoCredentialsOption = False,
) -> None:
    from smctl.errors import UsageError
    from smctl.project.spec import load_project
    from smctl.transform.job import new_job_name, plan_transform, raise_for_failures, run_transform

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    if image and endpoint:
        raise UsageError("--image and --endpoint were both given", "use --image to start a container for the job, "
                         "or --endpoint NAME to use one that runs already (smctl endpoints lists them)")
    if endpoint and (role or no_credentials):
        raise UsageError(f"--{'role' if role else 'no-credentials'} applies to the job's own container, not to the "
                         f"running endpoint {endpoint}", "drop it: the endpoint keeps the credentials it was started "
                         "with (smctl local-serve --role ARN), or drop --endpoint")
    job_name = new_job_name()
    job = build_transform_job(
        spec, "local-transform", job_name=job_name, endpoint=endpoint, image=image, model=model, input_=input_,
        output=output, content_type=content_type, accept=accept, split_type=split_type, strategy=strategy,
        max_payload=max_payload, max_concurrent=max_concurrent, assemble_with=assemble_with,
        input_filter=input_filter, output_filter=output_filter, join_source=join_source, compression=compression,
        timeout=timeout, retries=retries, env=env, resume=resume,
        credentials=None if endpoint else credentials_request(spec, role, no_credentials, name=job_name))
    plan = plan_transform(job)
    out.info(f"{len(plan.objects)} file(s), {human_size(plan.total_bytes)} from {plan.source.describe()} "
             f"-> {plan.sink.describe()}")
    stop = threading.Event()
    with out.progress("transforming", total=plan.total_bytes) as advance:
        try:
            result = run_transform(plan, _event_printer(out, advance), stop)
        finally:
            stop.set()
    out.result(result.as_dict(), lambda c: _render(c, result))
    raise_for_failures(result)


def build_transform_job(spec: Any, command: str, *, job_name: str, endpoint: str | None = None, image: str | None,
                        model: str | None, input_: str | None, output: str | None, content_type: str | None,
                        accept: str | None, split_type: str | None, strategy: str | None, max_payload: int | None,
                        max_concurrent: int | None, assemble_with: str | None, input_filter: str | None,
                        output_filter: str | None, join_source: str | None, compression: str | None,
                        timeout: int | None, retries: int | None, env: list[str] | None, resume: bool = False,
                        credentials: Any = None) -> Any:
    """The TransformJob flags and smctl.toml describe: what local-transform runs and `smctl transform` sends.

    Raises: UsageError / ConfigError naming the flag or key.
    """
    from smctl.errors import UsageError
    from smctl.project.spec import override
    from smctl.transform.job import TransformJob
    from smctl.transform.params import check_user_limits

    if not endpoint:
        require_image(spec, image, command)
    t = spec.transform.with_overrides(
        image=image, model=model, input=input_, output=output, content_type=content_type, accept=accept,
        split_type=split_type, assemble_with=assemble_with, input_filter=input_filter, output_filter=output_filter,
        join_source=join_source, compression=compression, timeout=timeout, retries=retries)
    if t.input is None:
        raise UsageError("no input to transform", "pass --input FOLDER|s3://bucket/prefix, or set [transform] "
                                                  "input in smctl.toml")
    limits = check_user_limits(override(max_payload, t.max_payload_mb), override(strategy, t.strategy),
                               override(max_concurrent, t.max_concurrent))
    return TransformJob(
        input=t.input, output=t.output, image=None if endpoint else t.image, endpoint=endpoint,
        model=t.model, content_type=t.content_type, accept=t.accept, split_type=t.split_type,
        assemble_with=t.assemble_with, compression=t.compression, input_filter=t.input_filter,
        output_filter=t.output_filter, join_source=t.join_source, limits=limits, timeout=t.timeout,
        retries=t.retries, environment={**t.environment, **parse_pairs(env or [], "--env")},
        resume=resume, project_root=spec.root or Path.cwd(), instance_type=t.instance_type, gpus=t.gpus,
        region=spec.aws.region, profile=spec.aws.profile, job_name=job_name, credentials=credentials)


def _event_printer(out: Output, advance: Any) -> OnEvent:
    return event_printer(
        out, progress=lambda d: advance(d["bytes"]),
        file_failed=lambda d: out.info(f"failed: {d['file']}: {d['reason']}"),
        file_done=lambda d: out.debug(f"file done: {d['file']}"), skipped=lambda d: out.debug(f"skipped: {d['file']}"))


def _render(console: Any, result: Any) -> None:
    s = result.stats
    rate = f" ({s.records / s.seconds:,.0f} records/s)" if s.seconds > 0 and s.records else ""
    console.print(f"{result.job_name}: {len(s.transformed)} of {s.files} file(s) transformed, {len(s.skipped)} "
                  f"skipped, {len(s.failed)} failed; {s.records:,} records in {s.requests:,} request(s) "
                  f"({s.retries} retried) in {s.seconds:.1f} s{rate}", markup=False)
    params = ", ".join(f"{k} {v['value']} ({v['source']})" for k, v in result.parameters.as_dict().items())
    console.print(f"  parameters: {params}", markup=False)
    console.print(f"  output: {result.output} ({human_size(s.bytes_written)} written)", markup=False)
    for f in s.failed:
        console.print(f"  failed: {f.key}: {f.reason}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("local-transform", help=HELP)(local_transform)
