"""`smctl local-process`: run a processing job's container exactly as SageMaker Processing would, locally."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from smctl.cli.job_options import (
    EnvOption,
    InstanceCountOption,
    InstanceTypeOption,
    ProcessArgsOption,
    ProcessArguments,
    ProcessCodeOption,
    ProcessEntrypointOption,
    ProcessImageOption,
    ProcessInputOption,
    ProcessJobNameOption,
    ProcessMaxRuntimeOption,
    ProcessOutputOption,
)
from smctl.cli.options import NoCredentialsOption, RoleOption, credentials_request, parse_pairs, require_image
from smctl.cli.output import Output, event_printer

HELP = "Run a processing job (IMAGE, inputs, outputs) exactly as SageMaker Processing would, on the local engine."


def local_process(
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
    gpus: Annotated[str | None, typer.Option("--gpus", metavar="WHICH", help="all | N | ids | none | auto.")] = None,
    region: Annotated[str | None, typer.Option(
        "--region", metavar="REGION", help="AWS region (for s3:// inputs and outputs).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run, run nothing.")] = False,
    role: RoleOption = None,
    no_credentials: NoCredentialsOption = False,
) -> None:
    from smctl.cloud.processing_request import CloudProcessing, processing_job_request
    from smctl.processing.plan import plan_processing
    from smctl.processing.run import prepare_processing, raise_for_failure, run_processing
    from smctl.project.spec import load_project, override

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    reg = override(region, spec.aws.region)
    job = build_processing_job(
        spec, "local-process", arguments=arguments, image=image, input_=input_, output=output, code=code,
        entrypoint=entrypoint, args=args, instance_type=instance_type, instance_count=instance_count, env=env,
        max_runtime=max_runtime, job_name=job_name, gpus=gpus, region=reg,
        credentials=credentials_request(spec, role, no_credentials, region=reg))
    if dry_run:
        plan = plan_processing(job)
        role_arn = plan.credentials.role_arn if plan.credentials and plan.credentials.role_arn else None
        request = processing_job_request(plan, CloudProcessing(role_arn=role_arn) if role_arn else None)
        data = {"dry_run": True, **plan.describe(), "processing_job_config": plan.request, "sagemaker_request": request}
        out.result(data, lambda c: _render_plan(c, data))
        return
    on_event = event_printer(out, download=lambda d: out.info(f"input {d['input']}: {d['uri']} "
                                                                "(mirrored in .smctl/cache/s3)"),
                             upload=lambda d: out.info(f"output {d['output']}: {d['uri']}"))
    plan = prepare_processing(job, on_event, out.progress)
    out.info(f"processing job {plan.job_name}: {len(plan.hosts)} host(s) of {plan.instance.name}, image {job.image}")
    result = run_processing(plan, on_event)
    raise_for_failure(result)
    out.result(result.as_dict(), lambda c: _render_result(c, result))


def build_processing_job(spec: Any, command: str, *, arguments: list[str] | None, image: str | None,
                         input_: list[str] | None, output: list[str] | None, code: Path | None,
                         entrypoint: str | None, args: str | None, instance_type: str | None,
                         instance_count: int | None, env: list[str] | None, max_runtime: int | None,
                         job_name: str | None, region: str | None, gpus: str | None = None,
                         credentials: Any = None) -> Any:
    """The ProcessingJob the flags and smctl.toml's [process] describe, for local-process and process alike.

    Raises: UsageError (no image, --args with arguments after --, a bad --input/--output/--env, --code not a file).
    """
    from smctl.errors import UsageError
    from smctl.processing.plan import ProcessingJob
    from smctl.processing.specs import parse_input, parse_output

    require_image(spec, image, command)
    if args and arguments:
        raise UsageError("--args and arguments after -- were both given", "give the arguments one way")
    base = spec.root or Path.cwd()
    p = spec.process.with_overrides(
        {"arguments": "--args"}, image=image, instance_type=instance_type, instance_count=instance_count,
        max_runtime=max_runtime, job_name=job_name, gpus=gpus, code=code,
        entrypoint=shlex.split(entrypoint) or None if entrypoint else None,
        arguments=(shlex.split(args) or None if args else None) or (arguments or None))
    inputs = {i.config.name: i for i in (parse_input(f"{k}={v}", base) for k, v in p.inputs.items())}
    inputs.update((i.config.name, i) for i in (parse_input(item, Path.cwd()) for item in input_ or []))
    outputs = {o.config.name: o for o in (parse_output(f"{k}={v}", base) for k, v in p.outputs.items())}
    outputs.update((o.config.name, o) for o in (parse_output(item, Path.cwd()) for item in output or []))
    job = ProcessingJob(
        image=p.image, project_root=base, job_name=p.job_name, instance_type=p.instance_type,
        instance_count=p.instance_count, inputs=tuple(inputs.values()), outputs=tuple(outputs.values()),
        environment={**p.environment, **parse_pairs(env or [], "--env")}, entrypoint=p.entrypoint,
        arguments=p.arguments, code=p.code.expanduser().resolve() if p.code else None, max_runtime=p.max_runtime,
        gpus=p.gpus, region=region, credentials=credentials)
    if job.code is not None and not job.code.is_file():
        raise UsageError(f"--code {job.code} is not a file", "point --code at the processing script")
    return job


def _render_plan(console: Any, plan: dict[str, Any]) -> None:
    from smctl.cli.train import render_container

    console.print(f"processing job {plan['job_name']} (run folder {plan['run_dir']})", markup=False)
    console.print(f"AWS credentials for the containers: {plan['credentials'].get('summary', 'none')}", markup=False)
    console.print("on SageMaker this is one CreateProcessingJob request (smctl process sends it): --json shows it "
                  "(sagemaker_request)", markup=False)
    for name, o in plan["outputs"].items():
        console.print(f"output {name}: {o['local_path']} -> {o['destination']} ({o['upload']})", markup=False)
    for host in plan["hosts"]:
        render_container(console, host)
        for name, text in host["config_files"].items():
            console.print(f"  /opt/ml/config/{name}: {text}", markup=False)


def _render_result(console: Any, result: Any) -> None:
    console.print(f"{result.job_name}: {result.status} in {result.seconds:.1f} s", markup=False)
    if result.exit_message:
        console.print(f"  ExitMessage: {result.exit_message}", markup=False)
    for name, dest in result.outputs.items():
        console.print(f"  output {name}: {result.delivered.get(name, 0)} file(s) -> {dest}", markup=False)
    console.print(f"  logs: {result.run_dir / 'logs.txt'}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("local-process", help=HELP)(local_process)
