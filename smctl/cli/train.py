"""`smctl local-train`: run `IMAGE train` with SageMaker's /opt/ml layout on the local engine."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from smctl.cli.job_options import (
    ArgsOption,
    EntrypointOption,
    EnvOption,
    HpEncodingOption,
    HpOption,
    HyperparametersOption,
    InstanceCountOption,
    InstanceTypeOption,
    JobNameOption,
)
from smctl.cli.options import (
    NoCredentialsOption,
    RoleOption,
    credentials_request,
    parse_channel,
    parse_hyperparameters,
    parse_pairs,
    require_image,
)
from smctl.cli.output import Output, event_printer
from smctl.units import human_size

if TYPE_CHECKING:
    from smctl.project.sections import TrainSection
    from smctl.training.inputs import ChannelInput

MAX_RUNTIME_SECONDS = 28 * 24 * 3600
FLAG_NAMES = {"hyperparameter_encoding": "--hp-encoding", "arguments": "--args"}
HELP = "Run IMAGE train exactly as a SageMaker training job would, on the local Docker engine."


def local_train(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option(
        "--image", metavar="IMAGE", help="Image to train (default: smctl.toml).")] = None,
    hp: HpOption = None,
    hyperparameters: HyperparametersOption = None,
    channel: Annotated[list[str] | None, typer.Option(
        "--channel", metavar="NAME=PATH[,OPT=VALUE...]",
        help="NAME=PATH|s3://..., options after commas: content_type=, mode=File|FastFile|Pipe, "
        "distribution=FullyReplicated|ShardedByS3Key, record_wrapper=None|RecordIO, compression=None|Gzip, "
        "shuffle_seed=N.")] = None,
    instance_type: InstanceTypeOption = None,
    instance_count: InstanceCountOption = None,
    gpus: Annotated[str | None, typer.Option(
        "--gpus", metavar="WHICH", help="all | N | ids (0,1) | none | auto.")] = None,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", metavar="DIR",
        help="Where model.tar.gz and output.tar.gz land (default: .smctl/output/JOB/).")] = None,
    checkpoint_dir: Annotated[Path | None, typer.Option(
        "--checkpoint-dir", metavar="DIR",
        help="Restored to /opt/ml/checkpoints, synced back during and after.")] = None,
    env: EnvOption = None,
    job_name: JobNameOption = None,
    entrypoint: EntrypointOption = None,
    args: ArgsOption = None,
    hp_encoding: HpEncodingOption = None,
    region: Annotated[str | None, typer.Option(
        "--region", metavar="REGION", help="AWS region (for s3:// channels).")] = None,
    simulate_interruption: Annotated[float | None, typer.Option(
        "--simulate-interruption", metavar="SECONDS",
        help="SIGTERM after SECONDS, then resume from checkpoints (Spot).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run, run nothing.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the hosts' model/ and output/ trees.")] = False,
    read_only_channels: Annotated[bool, typer.Option(
        "--read-only-channels", help="Mount File-mode channels read-only instead of as writable overlays.")] = False,
    role: RoleOption = None,
    no_credentials: NoCredentialsOption = False,
) -> None:
    from smctl.project.spec import load_project, override
    from smctl.training.artifacts import raise_for_failure
    from smctl.training.plan import plan_job
    from smctl.training.preflight import prepare
    from smctl.training.run import run_job, run_with_interruption

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    if simulate_interruption is not None:
        _check_interruption(simulate_interruption)
    job = build_job(spec, "local-train", image=image, hp=hp, hyperparameters=hyperparameters, channel=channel,
                    instance_type=instance_type, instance_count=instance_count, gpus=gpus, output_dir=output_dir,
                    checkpoint_dir=checkpoint_dir, env=env, job_name=job_name, entrypoint=entrypoint, args=args,
                    hp_encoding=hp_encoding, region=region, keep=keep, read_only_channels=read_only_channels,
                    credentials=credentials_request(spec, role, no_credentials,
                                                    region=override(region, spec.aws.region)))
    if dry_run:
        plan = plan_job(job)
        if plan.gpus_from_instance:
            out.warn(f"{plan.instance.name} has GPUs: the run asks the engine for them (--gpus auto), as SageMaker "
                     "gives them; an engine without the NVIDIA runtime refuses that, and --gpus none runs on CPU")
        from smctl.cloud.training_request import CloudTraining, training_job_request

        role = plan.credentials.role_arn if plan.credentials and plan.credentials.role_arn else None
        request = training_job_request(plan, CloudTraining(role_arn=role) if role else None)
        out.result({"dry_run": True, **plan.describe(), "sagemaker_request": request},
                   lambda c: _render_plan(c, plan.describe()))
        return
    on_event = event_printer(out, download=lambda d: out.info(f"channel {d['channel']}: {d['uri']} "
                                                                "(mirrored in .smctl/cache/s3)"))
    plan = prepare(job, on_event, out.progress)
    out.info(f"training job {plan.job_name}: {len(plan.hosts)} host(s) of {plan.instance.name}, image {job.image}")
    if simulate_interruption is not None:
        result = run_with_interruption(plan, on_event, after=simulate_interruption, keep=job.keep)
    else:
        result = run_job(plan, on_event, keep=job.keep)
    raise_for_failure(result)
    out.result(result.as_dict(), lambda c: _render_result(c, result))


def build_job(spec: Any, command: str, *, image: str | None, hp: list[str] | None, hyperparameters: Path | None,
              channel: list[str] | None, instance_type: str | None, instance_count: int | None, gpus: str | None,
              output_dir: Path | None, checkpoint_dir: Path | None, env: list[str] | None, job_name: str | None,
              entrypoint: str | None, args: str | None, hp_encoding: str | None, region: str | None,
              keep: bool = False, read_only_channels: bool = False, credentials: Any = None) -> Any:
    """The TrainingJob that flags and smctl.toml describe: what local-train runs and `smctl train` sends.

    Raises: UsageError / ConfigError naming the flag or key.
    """
    from smctl.project.spec import override
    from smctl.training.plan import TrainingJob

    require_image(spec, image, command)
    channels = _channels(spec.train, channel or [])  # first: a channel's own rules come before the other flags'
    t = spec.train.with_overrides(
        FLAG_NAMES, image=image, instance_type=instance_type, hyperparameter_encoding=hp_encoding,
        job_name=job_name, gpus=gpus, checkpoint_dir=checkpoint_dir, entrypoint=_words(entrypoint),
        arguments=_words(args), keep=keep or None, read_only_channels=read_only_channels or None,
        instance_count=instance_count)
    return TrainingJob(
        image=t.image, project_root=spec.root or Path.cwd(), job_name=t.job_name, instance_type=t.instance_type,
        instance_count=t.instance_count,
        hyperparameters={**t.hyperparameters, **parse_hyperparameters(hp or [], hyperparameters)},
        hyperparameter_encoding=t.hyperparameter_encoding, channels=channels,
        environment={**t.environment, **parse_pairs(env or [], "--env")},
        output_dir=output_dir.expanduser().resolve() if output_dir else None,
        output_root=None if output_dir else t.output_dir, checkpoint_dir=t.checkpoint_dir,
        entrypoint=t.entrypoint, arguments=t.arguments, gpus=t.gpus, region=override(region, spec.aws.region),
        keep=t.keep, read_only_channels=t.read_only_channels, credentials=credentials)


def _channels(t: TrainSection, flags: list[str]) -> tuple[ChannelInput, ...]:
    """smctl.toml's channels, each --channel replacing the one of its name (or adding one)."""
    from smctl.training.inputs import ChannelInput

    given = [ChannelInput(*parse_channel(item, t.input_mode)) for item in flags]
    names = {c.config.name for c in given}
    kept = [ChannelInput(c.config, c.source) for c in t.channel_inputs() if c.name not in names]
    return (*kept, *given)


def _check_interruption(seconds: float) -> None:
    """Raises: UsageError unless 0 < seconds <= SageMaker's longest MaxRuntimeInSeconds (28 days)."""
    from smctl.errors import UsageError

    if not (math.isfinite(seconds) and 0 < seconds <= MAX_RUNTIME_SECONDS):
        raise UsageError(f"--simulate-interruption must be a number of seconds above 0, got {seconds:g}",
                         f"use a value above 0 and at most {MAX_RUNTIME_SECONDS} (28 days, SageMaker's longest "
                         "MaxRuntimeInSeconds): --simulate-interruption 30")


def _words(text: str | None) -> list[str] | None:
    """--entrypoint/--args as the shell would split them; None (smctl.toml decides) when not given or blank."""
    return shlex.split(text) or None if text else None


def _render_plan(console: Any, plan: dict[str, Any]) -> None:
    console.print(f"job {plan['job_name']} (run folder {plan['run_dir']}; artifacts to {plan['output_dir']})",
                  markup=False)
    console.print(f"AWS credentials for the containers: {plan['credentials'].get('summary', 'none')}", markup=False)
    console.print("on SageMaker this is one CreateTrainingJob request: --json shows it (sagemaker_request)",
                  markup=False)
    for host in plan["hosts"]:
        render_container(console, host)
        for name, text in host["config_files"].items():
            console.print(f"  /opt/ml/input/config/{name}: {text}", markup=False)
        for ch, files in host["pipe_channels"].items():
            console.print(f"  pipe {ch}: {len(files)} file(s)", markup=False)


def render_container(console: Any, host: dict[str, Any]) -> None:
    """One host of a --dry-run plan: its docker run, entrypoint, limits, network holder, mounts and environment."""
    c = host["container"]
    console.print(f"\n[{host['host']}] docker run {c['image']} {' '.join(c['command'] or [])}", markup=False)
    if c["entrypoint"]:
        console.print(f"  entrypoint: {shlex.join(c['entrypoint'])}", markup=False)
    console.print(f"  hostname: {c['hostname']}  network: {c['network'] or 'default bridge'}  gpus: {c['gpus']}"
                  f"  cpus: {c['cpus']}  memory: {c['memory_bytes']}", markup=False)
    if host["network_holder"]:
        holder = host["network_holder"]
        console.print(f"  network identity held for the whole job by {holder['name']} "
                      f"({shlex.join(holder['entrypoint'])}); the algorithm joins its network", markup=False)
    for m in c["mounts"]:
        how = f" (overlay: writes go to {m['overlay']})" if m.get("overlay") else " (ro)" if m["read_only"] else ""
        console.print(f"  mount {m['source']} -> {m['target']}{how}", markup=False)
    for k, v in c["environment"].items():
        console.print(f"  env {k}={v}", markup=False)


def _render_result(console: Any, result: Any) -> None:
    console.print(f"{result.job_name}: {result.status} in {result.seconds:.1f} s", markup=False)
    for label, path in (("model", result.model_artifact), ("output", result.output_artifact)):
        if path is not None:
            console.print(f"  {label}: {path} ({human_size(path.stat().st_size)})", markup=False)
    if result.latest_dir is not None and result.model_artifact is not None:
        console.print(f"  latest: {result.latest_dir / 'model.tar.gz'} and output.tar.gz point here", markup=False)
    console.print(f"  logs: {result.run_dir / 'logs.txt'}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("local-train", help=HELP)(local_train)
