"""`local-train`: lay out /opt/ml per host as SageMaker does, run `IMAGE train`, collect the artifacts."""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smctl.contract import layout
from smctl.contract.instances import InstanceType, lookup_instance_type
from smctl.contract.layout import ChannelConfig
from smctl.engine.containers import (
    ContainerSpec,
    Mount,
    list_containers,
    parse_gpus,
    stop_containers,
)
from smctl.engine.labels import LABEL_HOST, LABEL_JOB, LABEL_KIND
from smctl.errors import ContainerFailedError, SmctlError, UsageError
from smctl.events import OnEvent
from smctl.training.channels import epoch_order, has_files, list_channel_files

JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
TRAIN_STOP_GRACE = 120  # SageMaker: SIGTERM, then SIGKILL after 120 s
SHM_BYTES = 1 << 30


@dataclass(frozen=True)
class ChannelInput:
    config: ChannelConfig
    source: str  # a local path or an s3:// URI


@dataclass(frozen=True)
class TrainingJob:
    image: str
    project_root: Path
    job_name: str | None = None
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    hyperparameter_encoding: str = "json"
    channels: Sequence[ChannelInput] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    output_dir: Path | None = None  # artifacts land here, as named (--output-dir)
    output_root: Path | None = None  # else here under <job-name>/, with links to the latest job's artifacts
    checkpoint_dir: Path | None = None
    entrypoint: Sequence[str] | None = None
    arguments: Sequence[str] | None = None
    gpus: str = "auto"
    region: str | None = None
    keep: bool = False
    read_only_channels: bool = False  # File-mode channels as read-only binds instead of writable overlays


@dataclass(frozen=True)
class HostPlan:
    host: str
    root: Path  # the host's /opt/ml on this machine
    container: ContainerSpec
    config_files: dict[str, str]
    pipe_options: dict[str, ChannelConfig]
    pipe_order: dict[str, Callable[[int], list[Path]]]  # Pipe channel -> (epoch -> the files fed through its FIFO)

    @property
    def pipes(self) -> dict[str, list[Path]]:
        """Each Pipe channel's files in epoch 0."""
        return {ch: order(0) for ch, order in self.pipe_order.items()}


@dataclass(frozen=True)
class JobPlan:
    job_name: str
    run_dir: Path
    output_dir: Path
    checkpoint_dir: Path | None
    instance: InstanceType
    hosts: list[HostPlan]
    network: str | None
    job: TrainingJob
    latest_dir: Path | None = None  # where model.tar.gz / output.tar.gz link to this job's artifacts

    def describe(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "run_dir": str(self.run_dir),
            "output_dir": str(self.output_dir),
            "latest_links": str(self.latest_dir) if self.latest_dir else None,
            "network": self.network,
            "hosts": [
                {
                    "host": h.host,
                    "opt_ml": str(h.root),
                    "config_files": {name: text for name, text in h.config_files.items()},
                    "pipe_channels": {ch: [str(f) for f in files] for ch, files in h.pipes.items()},
                    "container": h.container.describe(),
                }
                for h in self.hosts
            ],
        }


@dataclass(frozen=True)
class HostResult:
    host: str
    exit_code: int
    failure: str | None
    oom_killed: bool


@dataclass(frozen=True)
class TrainResult:
    job_name: str
    status: str  # Completed | Failed
    failure_reason: str | None
    seconds: float
    run_dir: Path
    model_artifact: Path | None
    output_artifact: Path | None
    hosts: list[HostResult]
    log_tail: list[str]
    latest_dir: Path | None = None  # holds model.tar.gz / output.tar.gz links to this job's artifacts

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "seconds": round(self.seconds, 3),
            "run_dir": str(self.run_dir),
            "model_artifact": str(self.model_artifact) if self.model_artifact else None,
            "output_artifact": str(self.output_artifact) if self.output_artifact else None,
            "latest_links": str(self.latest_dir) if self.latest_dir and self.model_artifact else None,
            "hosts": [h.__dict__ for h in self.hosts],
        }


def default_job_name(image: str) -> str:
    base = re.sub(r"[^a-zA-Z0-9-]", "-", image.rsplit("/", 1)[-1].split(":")[0]).strip("-")[:30] or "job"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H-%M-%S")
    return f"{base}-{stamp}-{secrets.token_hex(2)}"


def plan_job(job: TrainingJob, *, engine_has_gpus: bool | None = None) -> JobPlan:
    """Everything that would run, computed without touching the engine or the disk.

    Raises:
        UsageError: a bad job name, instance, channel, hyperparameter or environment.
    """
    job_name = job.job_name or default_job_name(job.image)
    if not JOB_NAME.match(job_name):
        raise UsageError(f"job name {job_name!r} is not valid",
                         "use 1-63 letters, digits and hyphens, starting with a letter or digit")
    if job.instance_count < 1:
        raise UsageError(f"instance count {job.instance_count} is below 1", "use --instance-count 1 or more")
    instance = lookup_instance_type(job.instance_type, "training")
    hps = layout.encode_hyperparameters(job.hyperparameters, job.hyperparameter_encoding)
    for what, flag, items in (("ContainerEntrypoint", "--entrypoint", job.entrypoint),
                              ("ContainerArguments", "--args", job.arguments)):
        _check_container_list(what, flag, items or ())
    env = layout.validate_environment(job.environment)
    channel_configs = [c.config for c in job.channels]
    idc = layout.input_data_config(channel_configs)
    gpus = parse_gpus(job.gpus, instance, engine_has_gpus)

    run_dir = job.project_root / ".smctl" / "runs" / job_name
    if job.output_dir is not None:
        output_dir, latest_dir = job.output_dir, None
    elif job.output_root is not None:  # one folder per job, as SageMaker's <output_path>/<job-name>/
        output_dir, latest_dir = job.output_root / job_name, job.output_root
    else:
        output_dir, latest_dir = run_dir, None
    hosts = layout.host_names(job.instance_count)
    network = f"smctl-{job_name}" if len(hosts) > 1 else None
    sources = {c.config.name: _local_source(c, job.project_root) for c in job.channels}

    host_plans = []
    for index, host in enumerate(hosts):
        root = run_dir / host
        config_files = {
            layout.HYPERPARAMETERS_JSON: layout.dump_config(hps),
            layout.INPUTDATACONFIG_JSON: layout.dump_config(idc),
            layout.RESOURCECONFIG_JSON: layout.dump_config(
                layout.resource_config(host, hosts, job.instance_type)),
        }
        if job.checkpoint_dir:
            config_files[layout.CHECKPOINTCONFIG_JSON] = layout.dump_config(layout.checkpoint_config())
        mounts = [
            Mount(root / "input" / "config", str(layout.INPUT_CONFIG), read_only=True),
            Mount(root / "input" / "data", str(layout.INPUT_DATA)),
            Mount(root / "model", str(layout.MODEL)),
            Mount(root / "output", str(layout.OUTPUT)),
        ]
        if job.checkpoint_dir:
            mounts.append(Mount(root / "checkpoints", str(layout.CHECKPOINTS)))
        pipe_options: dict[str, ChannelConfig] = {}
        pipe_order: dict[str, Callable[[int], list[Path]]] = {}
        for ch in job.channels:
            cfg = ch.config
            src = sources[cfg.name]
            if cfg.input_mode == "Pipe":
                order = functools.partial(epoch_order, list_channel_files(src) if src.exists() else [],
                                          cfg.shuffle_seed, index, len(hosts), cfg.distribution == "ShardedByS3Key")
                pipe_order[cfg.name] = order
                pipe_options[cfg.name] = cfg
                continue
            target = str(layout.INPUT_DATA / cfg.name)
            # File mode is a writable copy on SageMaker: an overlay gives that without copying or touching the
            # user's files (writes land in the host's overlay/ folder). FastFile is a read-only mount there too.
            overlay = root / "overlay" / cfg.name if cfg.input_mode == "File" and not job.read_only_channels else None
            if cfg.distribution == "ShardedByS3Key" and len(hosts) > 1:
                mounts.append(Mount(root / "shards" / cfg.name, target, read_only=overlay is None, overlay=overlay))
            elif src.is_file():
                mounts.append(Mount(src, f"{target}/{src.name}", read_only=True))
            else:
                mounts.append(Mount(src, target, read_only=overlay is None, overlay=overlay))
        environment = {
            "TRAINING_JOB_NAME": job_name,
            "TRAINING_JOB_ARN": f"arn:aws:sagemaker:{job.region or 'local'}:000000000000:training-job/{job_name}",
            **({"AWS_REGION": job.region, "SAGEMAKER_REGION": job.region} if job.region else {}),
            **env,
        }
        command, entrypoint = _invocation(job.entrypoint, job.arguments)
        spec = ContainerSpec(
            image=job.image,
            name=f"smctl-{job_name}-{host}",
            command=command,
            entrypoint=entrypoint,
            environment=environment,
            mounts=tuple(mounts),
            hostname=host,
            labels={LABEL_JOB: job_name, LABEL_KIND: "train", LABEL_HOST: host},
            network=network,
            aliases=(host,) if network else (),
            gpus=gpus,
            mem_limit=instance.memory_bytes or None,
            nano_cpus=cpu_limit(instance),
            shm_size=SHM_BYTES,
        )
        host_plans.append(HostPlan(host, root, spec, config_files, pipe_options, pipe_order))
    return JobPlan(job_name, run_dir, output_dir, job.checkpoint_dir, instance, host_plans, network, job,
                   latest_dir)


def _check_container_list(what: str, flag: str, items: Sequence[str]) -> None:
    """CreateTrainingJob's limits: at most 100 items of at most 256 characters each."""
    if len(items) > 100:
        raise UsageError(f"{flag} has {len(items)} items; SageMaker's {what} takes at most 100",
                         "move them into a script in the image, or into hyperparameters")
    for item in items:
        if len(item) > 256:
            raise UsageError(f"{flag} item {item[:40]!r}... is {len(item)} characters; SageMaker's {what} takes "
                             "at most 256 per item", "split it, or move it into a script in the image")


def cpu_limit(instance: InstanceType) -> int | None:
    """The instance's vCPUs as a CPU quota, capped at this machine's CPUs (the engine refuses more)."""
    if not instance.vcpus:
        return None
    return min(instance.vcpus, os.cpu_count() or 1) * 10**9


def _invocation(entrypoint: Sequence[str] | None, arguments: Sequence[str] | None) -> tuple[list[str], Any]:
    """CONTRACT §1: `train` replaces CMD; ContainerEntrypoint alone drops `train`; arguments replace it."""
    if entrypoint:
        return list(arguments or []), list(entrypoint)
    return (list(arguments) if arguments else ["train"]), None


def _local_source(channel: ChannelInput, project_root: Path) -> Path:
    """Where the channel's files are on this machine; for s3:// the cache folder resolve_channels downloads into."""
    if channel.source.startswith("s3://"):
        from smctl.aws.s3 import S3_CACHE

        bucket, _, key = channel.source[len("s3://"):].partition("/")
        return project_root / S3_CACHE / bucket / key.strip("/")
    return Path(channel.source).expanduser().resolve()


def resolve_channels(job: TrainingJob, on_event: OnEvent, progress: Any = None) -> TrainingJob:
    """Download s3:// channels into the project's cache (a mirror of each prefix); check local ones exist.

    `progress` is an events.ByteProgress: (description, bytes) -> a context manager yielding advance(n).

    Raises:
        UsageError: a channel path is missing or holds no files.
    """
    resolved = []
    for ch in job.channels:
        source = ch.source
        if source.startswith("s3://"):
            from smctl.aws.s3 import S3_CACHE, download_prefix

            cache = job.project_root / S3_CACHE
            on_event("download", {"channel": ch.config.name, "uri": source})
            source = str(download_prefix(source, cache, region=job.region, progress=progress))
        path = Path(source).expanduser()
        if not path.exists():
            raise UsageError(f"channel {ch.config.name!r}: {path} does not exist",
                             f"create it, or point the channel elsewhere: --channel {ch.config.name}=PATH")
        if not has_files(path.resolve()):  # CreateTrainingJob: "No S3 objects found under S3 URL ..."
            where = f"{ch.source} has no objects" if ch.source.startswith("s3://") else f"{path} holds no files"
            mode = " is in Pipe mode but" if ch.config.input_mode == "Pipe" else ":"
            raise UsageError(f"channel {ch.config.name!r}{mode} {where} (SageMaker refuses a channel without data)",
                             f"add data files, point it at data: --channel {ch.config.name}=PATH, or drop the "
                             "channel")
        resolved.append(replace(ch, source=str(path.resolve())))
    return replace(job, channels=tuple(resolved))


def prepare_host(plan: JobPlan, host: HostPlan, sources: Mapping[str, Path]) -> None:
    """Write the host's /opt/ml tree: config files, empty model/ and output/data/, shard links."""
    for sub in ("input/config", "input/data", "model", "output/data"):
        (host.root / sub).mkdir(parents=True, exist_ok=True)
    for name, text in host.config_files.items():
        (host.root / "input" / "config" / name).write_text(text)
    for mount in host.container.mounts:
        if mount.overlay is not None:
            for layer in ("upper", "work"):
                (mount.overlay / layer).mkdir(parents=True, exist_ok=True)
        if mount.target.startswith(str(layout.INPUT_DATA) + "/"):
            # pre-create mount points so the engine does not create root-owned folders for us
            rel = mount.target[len(str(layout.INPUT_DATA)) + 1 :]
            point = host.root / "input" / "data" / rel
            if mount.source.is_file():
                point.parent.mkdir(parents=True, exist_ok=True)
                point.touch(exist_ok=True)
            else:
                point.mkdir(parents=True, exist_ok=True)
    if plan.checkpoint_dir:
        (host.root / "checkpoints").mkdir(exist_ok=True)
        if plan.checkpoint_dir.exists() and plan.checkpoint_dir != host.root / "checkpoints":
            shutil.copytree(plan.checkpoint_dir, host.root / "checkpoints", dirs_exist_ok=True)
    index = [h.host for h in plan.hosts].index(host.host)
    for ch in plan.job.channels:
        cfg = ch.config
        if cfg.input_mode != "Pipe" and cfg.distribution == "ShardedByS3Key" and len(plan.hosts) > 1:
            _link_shard(sources[cfg.name], host.root / "shards" / cfg.name, index, len(plan.hosts), cfg.shuffle_seed)


def _link_shard(src: Path, dest: Path, index: int, count: int, seed: int | None) -> None:
    for f in epoch_order(list_channel_files(src), seed, index, count, sharded=True):
        rel = f.relative_to(src) if src.is_dir() else Path(f.name)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


def run_job(plan: JobPlan, on_event: OnEvent, *, keep: bool = False, stop_after: float | None = None,
            resume: bool = False) -> TrainResult:
    """Run the job (see _run_job); when the engine cannot mount overlays, again with read-only channels."""
    from smctl.errors import OverlayUnavailableError

    try:
        return _run_job(plan, on_event, keep=keep, stop_after=stop_after, resume=resume)
    except OverlayUnavailableError as exc:
        on_event("warning", {"message": f"{exc.message}; File-mode channels are read-only bind mounts instead "
                                        "(on SageMaker they are writable copies)"})
        return _run_job(without_overlays(plan), on_event, keep=keep, stop_after=stop_after, resume=True)


def without_overlays(plan: JobPlan) -> JobPlan:
    """The same plan with every overlay channel mounted read-only, as --read-only-channels plans it."""
    hosts = []
    for h in plan.hosts:
        mounts = tuple(replace(m, read_only=True, overlay=None) if m.overlay else m for m in h.container.mounts)
        hosts.append(replace(h, container=replace(h.container, mounts=mounts)))
    return replace(plan, hosts=hosts, job=replace(plan.job, read_only_channels=True))


def _run_job(plan: JobPlan, on_event: OnEvent, *, keep: bool = False, stop_after: float | None = None,
             resume: bool = False) -> TrainResult:
    """Run every host's container to completion and collect the artifacts; cleanup is always done.

    Every host starts from an empty /opt/ml, as on SageMaker: what an earlier run of the same job name left in the
    run folder is removed first (with `resume`, the run folder's checkpoints and logs stay: a Spot restart).
    stop_after stops the job like a Spot interruption (SIGTERM, SIGKILL after 120 s); its status is Stopped.

    Raises:
        SmctlError: the image is missing or the engine fails. A failed job is a TrainResult with status Failed.
    """
    from smctl.engine.containers import docker_client, ensure_image, job_network, run_container, stream_logs
    from smctl.training.pipe_feeder import PipeFeeder

    client = docker_client()
    ensure_image(client, plan.job.image)
    clear_run_dir(client, plan, on_event, resume=resume)
    check_writable(plan.output_dir, "output folder", "--output-dir")
    if plan.checkpoint_dir:
        check_writable(plan.checkpoint_dir, "checkpoint folder", "--checkpoint-dir")
    sources = {c.config.name: Path(c.source) for c in plan.job.channels}
    started = time.monotonic()
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    lock = threading.Lock()
    multi = len(plan.hosts) > 1
    stopped = threading.Event()

    with ExitStack() as stack:
        log = stack.enter_context(open(plan.run_dir / "logs.txt", "a", encoding="utf-8"))

        def on_line(host: str, line: str) -> None:
            text = f"{host} | {line}" if multi else line
            with lock:
                log.write(text + "\n")
                log.flush()
                tail.append(text)
                del tail[:-50]
            on_event("log", {"host": host, "line": text})

        for host in plan.hosts:
            prepare_host(plan, host, sources)
        stack.callback(_fix_ownership, client, plan)
        if plan.checkpoint_dir:
            syncer = CheckpointSync(plan)
            stack.callback(syncer.stop)
            syncer.start()
        if plan.network:
            stack.enter_context(job_network(client, plan.network, {LABEL_JOB: plan.job_name}))
        for host in plan.hosts:
            for ch, order in host.pipe_order.items():
                opts = host.pipe_options[ch]
                feeder = PipeFeeder(host.root / "input" / "data", ch, order(0), record_wrapper=opts.record_wrapper,
                                    compression=opts.compression, order=order).start()
                stack.callback(feeder.stop)
        containers = []
        pumps = []
        for host in plan.hosts:
            container = stack.enter_context(run_container(client, host.container, stop_grace=10))
            containers.append((host, container))
            pumps.append(stream_logs(container, functools.partial(on_line, host.host)))
        # Unwinding (Ctrl-C included) stops every host at once, rather than one grace period after another.
        stack.callback(stop_containers, [c for _, c in containers], grace=10)
        on_event("started", {"message": f"started {', '.join(h.host for h in plan.hosts)}"})
        if stop_after is not None:
            timer = threading.Timer(stop_after, stopped.set)
            timer.daemon = True
            timer.start()
            stack.callback(timer.cancel)
        try:
            results = _wait_all(containers, stopped, on_event)
        except KeyboardInterrupt:
            on_event("stopped", {"message": "interrupted: stopping every host (SIGTERM, SIGKILL after 10 s), then "
                                 "removing the containers"})
            raise
        for pump in pumps:  # the log streams end with their containers: wait for the last lines
            pump.join(timeout=5)
    failed = [r for r in results if r.exit_code != 0]
    model_artifact = output_artifact = None
    reason = None
    if stopped.is_set():
        status = "Stopped"
    elif failed:
        status = "Failed"
        first = failed[0]
        reason = layout.failure_reason(first.failure, first.exit_code)
        if first.oom_killed:
            reason = (f"OutOfMemoryError: {first.host} used more than the {plan.instance.memory_gib:g} GiB memory "
                      f"of {plan.instance.name} and was killed (exit code {first.exit_code}). "
                      + (first.failure or ""))[: layout.FAILURE_REASON_LIMIT]
    else:
        status = "Completed"
        model_artifact, output_artifact = collect_artifacts(plan, on_event)
        if not keep:
            for host in plan.hosts:
                for sub in ("model", "output/data", "shards", "overlay"):
                    rmtree(host.root / sub, ignore_errors=True)
    return TrainResult(
        job_name=plan.job_name, status=status, failure_reason=reason, seconds=time.monotonic() - started,
        run_dir=plan.run_dir, model_artifact=model_artifact, output_artifact=output_artifact,
        hosts=results, log_tail=list(tail), latest_dir=plan.latest_dir,
    )


def clear_run_dir(client: Any, plan: JobPlan, on_event: OnEvent, *, resume: bool = False) -> None:
    """Remove what an earlier run of this job name left, so no stale model, output or failure file leaks in.

    Raises:
        UsageError: a job of that name is running now.
        SmctlError: the old files cannot be removed.
    """
    run_dir = plan.run_dir
    if not run_dir.is_dir():
        return
    stale = [p for p in run_dir.glob("algo-*") if p.is_dir()]
    if not resume:
        stale += [p for p in (run_dir / "logs.txt", run_dir / "checkpoints") if p.exists() or p.is_symlink()]
        if plan.latest_dir is not None:  # the per-job artifacts of the earlier run (never a named --output-dir)
            stale += [p for p in (plan.output_dir / "model.tar.gz", plan.output_dir / "output.tar.gz") if p.exists()]
    # never anything that holds, or lies inside, the user's checkpoint or output folder (symlinks resolved)
    keep = [p.resolve() for p in (plan.job.checkpoint_dir, plan.job.output_dir) if p is not None]
    stale = [p for p in stale if not any(_overlaps(p, k) for k in keep)]
    if not stale:
        return
    if not resume:
        running = list_containers(client, [f"{LABEL_JOB}={plan.job_name}", f"{LABEL_KIND}=train"], all_=False)
        if running:
            raise UsageError(f"a training job named {plan.job_name} is running already ({running[0].name})",
                             "wait for it to end, or give this run another name: --job-name NAME")
        on_event("info", {"message": f"job name {plan.job_name} was used before: its old run folder "
                                     f"{run_dir} is emptied first (pick a new --job-name to keep old runs)"})
    for path in stale:
        _remove(client, plan, path)
    if plan.latest_dir is not None:
        for name in ("model.tar.gz", "output.tar.gz"):  # links to the artifacts just removed would dangle
            link = plan.latest_dir / name
            if link.is_symlink() and not link.exists():
                link.unlink()


def _overlaps(path: Path, protected: Path) -> bool:
    """Whether removing `path` would touch `protected` (the same place, inside it, or holding it)."""
    p = path.resolve() if not path.is_symlink() else path.parent.resolve() / path.name
    return p == protected or p in protected.parents or protected in p.parents


def _remove(client: Any, plan: JobPlan, path: Path) -> None:
    def rm() -> None:
        if path.is_dir() and not path.is_symlink():
            rmtree(path)
        else:
            path.unlink(missing_ok=True)

    try:
        rm()
    except PermissionError:  # root-owned files of a run that was killed before it could hand them back
        from smctl.engine.containers import chown_tree

        try:
            chown_tree(client, plan.job.image, path, os.getuid(), os.getgid())
            rm()
        except (OSError, SmctlError) as exc:
            raise SmctlError(f"cannot remove {path} left by an earlier run of job {plan.job_name}: {exc}",
                             f"remove it (sudo rm -rf {path}) or pick another name: --job-name NAME") from None
    except OSError as exc:
        raise SmctlError(f"cannot remove {path} left by an earlier run of job {plan.job_name}: "
                         f"{exc.strerror or exc}",
                         f"remove it (rm -rf {path}) or pick another name: --job-name NAME") from None


def rmtree(path: Path, *, ignore_errors: bool = False) -> None:
    """shutil.rmtree that first opens up folders with no permissions (overlayfs leaves its work/work at mode 000)."""
    try:
        for dirpath, dirnames, _ in os.walk(path):
            for name in dirnames:
                sub = os.path.join(dirpath, name)
                if not os.path.islink(sub) and os.stat(sub).st_mode & 0o700 != 0o700:
                    os.chmod(sub, 0o700)
    except OSError:
        if not ignore_errors:
            raise
    shutil.rmtree(path, ignore_errors=ignore_errors)


def check_writable(folder: Path, what: str, flag: str) -> None:
    """Raises: UsageError when `folder` cannot be created or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".smctl-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{what} {folder} is not writable: {exc.strerror or exc}",
                         f"choose a folder you can write to: {flag} PATH") from None


def run_with_interruption(plan: JobPlan, on_event: OnEvent, *, after: float, keep: bool = False) -> TrainResult:
    """Spot rehearsal: stop the job after `after` seconds, then run it again with the checkpoints restored."""
    if plan.checkpoint_dir is None:
        plan = replace(plan, checkpoint_dir=plan.run_dir / "checkpoints")
        plan = _with_checkpoints(plan)
    first = run_job(plan, on_event, keep=True, stop_after=after)
    if first.status != "Stopped":
        return first
    on_event("resumed", {"message": f"interrupted after {after:g} s; resuming from {plan.checkpoint_dir}"})
    return run_job(plan, on_event, keep=keep, resume=True)


def _with_checkpoints(plan: JobPlan) -> JobPlan:
    hosts = []
    for h in plan.hosts:
        files = dict(h.config_files)
        files[layout.CHECKPOINTCONFIG_JSON] = layout.dump_config(layout.checkpoint_config())
        mounts = h.container.mounts + (Mount(h.root / "checkpoints", str(layout.CHECKPOINTS)),)
        hosts.append(replace(h, config_files=files, container=replace(h.container, mounts=mounts)))
    return replace(plan, hosts=hosts)


class CheckpointSync:
    """Copies every host's /opt/ml/checkpoints back to the checkpoint folder while the job runs and at the end."""

    def __init__(self, plan: JobPlan, interval: float = 5.0) -> None:
        self.plan = plan
        self.interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="smctl-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            self.sync()

    def sync(self) -> None:
        dest = self.plan.checkpoint_dir
        assert dest is not None
        dest.mkdir(parents=True, exist_ok=True)
        for host in self.plan.hosts:
            src = host.root / "checkpoints"
            if src.is_dir():
                shutil.copytree(src, dest, dirs_exist_ok=True)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=30)
        self.sync()


def _wait_all(containers: list[tuple[HostPlan, Any]], stop: threading.Event, on_event: OnEvent) -> list[HostResult]:
    """Wait for every host (one waiter thread each); when one fails, SageMaker stops the others."""
    done: queue.Queue[tuple[HostPlan, Any]] = queue.Queue()

    def waiter(host: HostPlan, container: Any) -> None:
        with contextlib.suppress(Exception):  # the container vanished: its state is read below
            container.wait()
        done.put((host, container))

    for host, container in containers:
        threading.Thread(target=waiter, args=(host, container), daemon=True, name=f"smctl-wait-{host.host}").start()
    pending = {h.host: c for h, c in containers}
    results: dict[str, HostResult] = {}
    stopping = False
    while pending:
        try:
            finished, container = done.get(timeout=0.25)
            results[finished.host] = _host_result(finished, container)
            del pending[finished.host]
        except queue.Empty:
            pass
        if pending and not stopping and (stop.is_set() or any(r.exit_code for r in results.values())):
            stopping = True
            grace = TRAIN_STOP_GRACE if stop.is_set() else 10
            on_event("stopped", {"message": f"stopping {', '.join(pending)} (SIGTERM, SIGKILL after {grace} s)"})
            for c in pending.values():
                threading.Thread(target=c.stop, kwargs={"grace": grace}, daemon=True).start()
    return [results[h.host] for h, _ in containers]


def _host_result(host: HostPlan, container: Any) -> HostResult:
    container.refresh()
    failure_file = host.root / "output" / "failure"
    failure = failure_file.read_text(errors="replace") if failure_file.exists() else None
    return HostResult(host.host, container.exit_code, failure, container.oom_killed)


def collect_artifacts(plan: JobPlan, on_event: OnEvent) -> tuple[Path, Path]:
    """model/ -> model.tar.gz and output/data/ -> output.tar.gz, every host's files merged (algo-1's kept)."""
    from smctl.archive import pack_trees

    plan.output_dir.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for sub, name in (("model", "model.tar.gz"), ("output/data", "output.tar.gz")):
        dest = plan.output_dir / name
        clashes = pack_trees([h.root / sub for h in plan.hosts], dest)
        for clash in clashes:
            on_event("warning", {"message": f"{name}: {clash} was written by several hosts; algo-1's copy kept"})
        artifacts.append(dest)
    if plan.latest_dir is not None:
        for dest in artifacts:
            _link_latest(plan.latest_dir / dest.name, dest, on_event)
    return artifacts[0], artifacts[1]


def _link_latest(link: Path, target: Path, on_event: OnEvent) -> None:
    """Point `link` at `target` (relative, swapped in atomically) so the latest job's artifact has a fixed path."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(os.path.relpath(target, link.parent), tmp)
        os.replace(tmp, link)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        on_event("warning", {"message": f"could not point {link} at {target}: {exc.strerror or exc}; "
                                        f"use {target}"})


def _fix_ownership(client: Any, plan: JobPlan) -> None:
    """Files the container wrote as root become the invoking user's (sudo's caller when run through sudo)."""
    from smctl.engine.containers import chown_tree

    uid = int(os.environ.get("SUDO_UID", os.getuid()))
    gid = int(os.environ.get("SUDO_GID", os.getgid()))
    for root in (plan.run_dir, plan.checkpoint_dir):
        if root is not None and root.exists():
            chown_tree(client, plan.job.image, root, uid, gid)


def raise_for_failure(result: TrainResult) -> None:
    """Raises: ContainerFailedError (exit 5) with the FailureReason and the last log lines."""
    if result.status == "Completed":
        return
    last = "\n".join(result.log_tail[-15:])
    hint = f"see the logs in {result.run_dir / 'logs.txt'}" + (f"; last lines:\n{last}" if last else "")
    if wrote_into_a_channel(result.log_tail, result.failure_reason):
        hint = (f"{layout.INPUT_DATA}/<channel> was read-only: FastFile channels are on SageMaker too, File-mode "
                "ones only here with --read-only-channels or an engine that cannot mount overlays; write what you "
                f"unpack or derive to /tmp or /opt/ml/output instead; {hint}")
    raise ContainerFailedError(f"training job {result.job_name} failed: {result.failure_reason}", hint,
                               details=result.as_dict())


def wrote_into_a_channel(log_tail: Sequence[str], failure_reason: str | None) -> bool:
    """Did the algorithm fail writing into a read-only channel folder (EROFS under /opt/ml/input/data)?"""
    for line in [*log_tail, *(failure_reason or "").splitlines()]:
        if "Read-only file system" in line and str(layout.INPUT_DATA) in line:
            return True
    return False


__all__ = ["ChannelInput", "TrainingJob", "plan_job", "resolve_channels", "run_job", "SmctlError"]
