"""`smctl local-train`: run `IMAGE train` with SageMaker's /opt/ml layout on the local engine."""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from smctl.cli.options import parse_channel, parse_hyperparameters, parse_pairs, require_image
from smctl.cli.output import Output, event_printer
from smctl.units import human_size

HELP = "Run IMAGE train exactly as a SageMaker training job would, on the local Docker engine."


def local_train(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option("--image", help="Image to train (default: smctl.toml).")] = None,
    hp: Annotated[list[str] | None, typer.Option("--hp", help="Hyperparameter KEY=VALUE (repeatable).")] = None,
    hyperparameters: Annotated[
        Path | None, typer.Option("--hyperparameters", help="JSON file of hyperparameters.")] = None,
    channel: Annotated[list[str] | None, typer.Option(
        "--channel", help="NAME=PATH|s3://..., options after commas: content_type=, mode=File|FastFile|Pipe, "
        "distribution=FullyReplicated|ShardedByS3Key, record_wrapper=None|RecordIO, compression=None|Gzip, "
        "shuffle_seed=N.")] = None,
    instance_type: Annotated[str | None, typer.Option("--instance-type", help="ml.* type: CPU/memory limits.")] = None,
    instance_count: Annotated[int | None, typer.Option("--instance-count", help="Number of hosts.")] = None,
    gpus: Annotated[str | None, typer.Option("--gpus", help="all | N | ids (0,1) | none | auto.")] = None,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", help="Where model.tar.gz and output.tar.gz land (default: .smctl/output/JOB/).")] = None,
    checkpoint_dir: Annotated[Path | None, typer.Option(
        "--checkpoint-dir", help="Restored to /opt/ml/checkpoints, synced back during and after.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="Container environment KEY=VALUE.")] = None,
    job_name: Annotated[str | None, typer.Option("--job-name")] = None,
    entrypoint: Annotated[str | None, typer.Option(
        "--entrypoint", help="ContainerEntrypoint: replaces ENTRYPOINT, and `train` is not passed.")] = None,
    args: Annotated[str | None, typer.Option("--args", help="ContainerArguments: replace `train`.")] = None,
    hp_encoding: Annotated[str | None, typer.Option(
        "--hp-encoding", help="json (framework estimators, the default) or str (generic Estimator).")] = None,
    region: Annotated[str | None, typer.Option("--region", help="AWS region (for s3:// channels).")] = None,
    simulate_interruption: Annotated[float | None, typer.Option(
        "--simulate-interruption", help="SIGTERM after SECONDS, then resume from checkpoints (Spot).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run, run nothing.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the hosts' model/ and output/ trees.")] = False,
    read_only_channels: Annotated[bool, typer.Option(
        "--read-only-channels", help="Mount File-mode channels read-only instead of as writable overlays.")] = False,
) -> None:
    from smctl.training import run as training

    out: Output = ctx.obj.out
    job = _job_from_options(ctx, locals())
    if dry_run:
        plan = training.plan_job(job)
        out.result({"dry_run": True, **plan.describe()}, lambda c: _render_plan(c, plan.describe()))
        return
    training.plan_job(job)  # every input is checked before anything touches the engine or the disk
    job = training.resolve_channels(job, lambda kind, data: out.info(f"channel {data['channel']}: {data['uri']} "
                                                                      "(mirrored in .smctl/cache/s3)"), out.progress)
    on_event = event_printer(out)
    plan = training.plan_job(job, engine_has_gpus=_engine_has_gpus(job))
    out.info(f"training job {plan.job_name}: {len(plan.hosts)} host(s) of {plan.instance.name}, image {job.image}")
    if simulate_interruption is not None:
        result = training.run_with_interruption(plan, on_event, after=simulate_interruption, keep=job.keep)
    else:
        result = training.run_job(plan, on_event, keep=job.keep)
    training.raise_for_failure(result)
    out.result(result.as_dict(), lambda c: _render_result(c, result))


def _job_from_options(ctx: typer.Context, o: dict[str, Any]) -> Any:
    from smctl.project.spec import load_project
    from smctl.training import run as training

    spec = load_project(ctx.obj.config)
    require_image(spec, o["image"], "local-train")
    t = spec.train
    root = spec.root or Path.cwd()
    channels = [training.ChannelInput(c.config, c.source) for c in t.channel_inputs()]
    if o["channel"]:
        mode = t.input_mode
        given = [parse_channel(item, mode) for item in o["channel"]]
        names = {cfg.name for cfg, _ in given}
        channels = [c for c in channels if c.config.name not in names]
        channels += [training.ChannelInput(cfg, src) for cfg, src in given]
    hps = dict(t.hyperparameters)
    hps.update(parse_hyperparameters(o["hp"] or [], o["hyperparameters"]))
    env = dict(t.environment)
    env.update(parse_pairs(o["env"] or [], "--env"))
    image = o["image"] or t.image
    job = training.TrainingJob(
        image=image,
        project_root=root,
        job_name=o["job_name"] or t.job_name,
        instance_type=o["instance_type"] or t.instance_type,
        instance_count=o["instance_count"] if o["instance_count"] is not None else t.instance_count,
        hyperparameters=hps,
        hyperparameter_encoding=o["hp_encoding"] or t.hyperparameter_encoding,
        channels=tuple(channels),
        environment=env,
        output_dir=o["output_dir"],
        output_root=None if o["output_dir"] else t.output_dir,
        checkpoint_dir=o["checkpoint_dir"] or t.checkpoint_dir,
        entrypoint=shlex.split(o["entrypoint"]) if o["entrypoint"] else t.entrypoint,
        arguments=shlex.split(o["args"]) if o["args"] else t.arguments,
        gpus=o["gpus"] or str(t.gpus),
        region=o["region"] or spec.aws.region,
        keep=o["keep"] or t.keep,
        read_only_channels=o["read_only_channels"] or t.read_only_channels,
    )
    if job.output_dir is not None:
        job = replace(job, output_dir=Path(job.output_dir).expanduser().resolve())
    if job.checkpoint_dir is not None:
        job = replace(job, checkpoint_dir=Path(job.checkpoint_dir).expanduser().resolve())
    return job


def _engine_has_gpus(job: Any) -> bool | None:
    """Only `--gpus auto` on a GPU instance type needs to ask the engine."""
    from smctl.contract.instances import lookup_instance_type
    from smctl.engine.containers import docker_client, engine_info

    if job.gpus != "auto" or not lookup_instance_type(job.instance_type).gpus:
        return None
    return engine_info(docker_client())[1]


def _render_plan(console: Any, plan: dict[str, Any]) -> None:
    console.print(f"job {plan['job_name']} (run folder {plan['run_dir']}; artifacts to {plan['output_dir']})",
                  markup=False)
    for host in plan["hosts"]:
        c = host["container"]
        console.print(f"\n[{host['host']}] docker run {c['image']} {' '.join(c['command'] or [])}", markup=False)
        if c["entrypoint"]:
            console.print(f"  entrypoint: {shlex.join(c['entrypoint'])}", markup=False)
        console.print(f"  hostname: {c['hostname']}  network: {c['network'] or 'default bridge'}  gpus: {c['gpus']}"
                      f"  cpus: {c['cpus']}  memory: {c['memory_bytes']}", markup=False)
        for m in c["mounts"]:
            how = f" (overlay: writes go to {m['overlay']})" if m.get("overlay") else " (ro)" if m["read_only"] else ""
            console.print(f"  mount {m['source']} -> {m['target']}{how}", markup=False)
        for k, v in c["environment"].items():
            console.print(f"  env {k}={v}", markup=False)
        for name, text in host["config_files"].items():
            console.print(f"  /opt/ml/input/config/{name}: {text}", markup=False)
        for ch, files in host["pipe_channels"].items():
            console.print(f"  pipe {ch}: {len(files)} file(s)", markup=False)


def _render_result(console: Any, result: Any) -> None:
    console.print(f"{result.job_name}: {result.status} in {result.seconds:.1f} s", markup=False)
    for label, path in (("model", result.model_artifact), ("output", result.output_artifact)):
        if path is not None:
            console.print(f"  {label}: {path} ({human_size(path.stat().st_size)})", markup=False)
    if result.latest_dir is not None and result.model_artifact is not None:
        console.print(f"  latest: {result.latest_dir / 'model.tar.gz'} and output.tar.gz point here", markup=False)
    console.print(f"  logs: {result.run_dir / 'logs.txt'}", markup=False)
