"""A training job and its plan: every host's container, mounts and config files, computed without engine or writes."""

from __future__ import annotations

import functools
import os
import re
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from smctl.contract import layout
from smctl.contract.credentials import CredentialsRequest, session_name
from smctl.contract.hyperparameters import encode_hyperparameters
from smctl.contract.instances import InstanceType, lookup_instance_type
from smctl.contract.layout import ChannelConfig
from smctl.engine.containers import ContainerSpec, Mount
from smctl.engine.gpus import parse_gpus
from smctl.engine.labels import LABEL_HOST, LABEL_JOB, LABEL_KIND
from smctl.errors import UsageError
from smctl.training.channels import epoch_order, list_channel_files
from smctl.training.inputs import ChannelInput, local_source

JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
SHM_BYTES = 1 << 30
HOLDER_KIND = "train-network"  # LABEL_KIND of the containers that hold each host's network identity


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
    credentials: CredentialsRequest | None = None  # None: none; the session name becomes the job name


@dataclass(frozen=True)
class HostPlan:
    host: str
    root: Path  # the host's /opt/ml on this machine
    container: ContainerSpec
    config_files: dict[str, str]
    pipe_options: dict[str, ChannelConfig]
    pipe_order: dict[str, Callable[[int], list[Path]]]  # Pipe channel -> (epoch -> the files fed through its FIFO)
    holder: ContainerSpec | None = None  # multi-host: holds the host's name on the job network for the whole job

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
    credentials: CredentialsRequest | None = None  # the job's, with the job name as STS session name

    @property
    def gpus_from_instance(self) -> bool:
        """Whether the hosts ask for GPUs because `--gpus auto` met a GPU instance type (not a GPU flag)."""
        return self.job.gpus.strip().lower() == "auto" and bool(self.instance.gpus)

    def describe(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "run_dir": str(self.run_dir),
            "output_dir": str(self.output_dir),
            "latest_links": str(self.latest_dir) if self.latest_dir else None,
            "network": self.network,
            "credentials": self.credentials.describe() if self.credentials else {"source": "none", "summary": "none"},
            "hosts": [
                {
                    "host": h.host,
                    "opt_ml": str(h.root),
                    "config_files": {name: text for name, text in h.config_files.items()},
                    "pipe_channels": {ch: [str(f) for f in files] for ch, files in h.pipes.items()},
                    "container": h.container.describe(),
                    "network_holder": h.holder.describe() if h.holder else None,
                }
                for h in self.hosts
            ],
        }


def default_job_name(image: str) -> str:
    name = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":")[0]  # the repository's last part: no tag, no digest
    base = re.sub(r"[^a-zA-Z0-9-]", "-", name).strip("-")[:30] or "job"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H-%M-%S")
    return f"{base}-{stamp}-{secrets.token_hex(2)}"


def plan_job(job: TrainingJob, offered: Collection[str] = ()) -> JobPlan:
    """Everything that would run, computed without touching the engine or the disk.

    `offered`: training instance types beyond smctl's table (a cloud job: botocore's list).

    Raises:
        UsageError: a bad job name, instance, channel, hyperparameter or environment.
    """
    job_name = check_job(job.job_name, job.image, job.instance_count, job.entrypoint, job.arguments)
    instance = lookup_instance_type(job.instance_type, "training", offered)
    hps = encode_hyperparameters(job.hyperparameters, job.hyperparameter_encoding)
    env = layout.validate_environment(job.environment)
    channel_configs = [c.config for c in job.channels]
    idc = layout.input_data_config(channel_configs)
    # `auto` is what SageMaker gives: the instance's GPUs, whatever this engine has. An engine without the NVIDIA
    # runtime refuses them as it refuses --gpus all; CPU instead takes --gpus none, said on purpose.
    gpus = parse_gpus(job.gpus, instance, engine_has_gpus=True)

    run_dir = job.project_root / ".smctl" / "runs" / job_name
    if job.output_dir is not None:
        output_dir, latest_dir = job.output_dir, None
    elif job.output_root is not None:  # one folder per job, as SageMaker's <output_path>/<job-name>/
        output_dir, latest_dir = job.output_root / job_name, job.output_root
    else:
        output_dir, latest_dir = run_dir, None
    hosts = layout.host_names(job.instance_count)
    network = f"smctl-{job_name}" if len(hosts) > 1 else None
    sources = {c.config.name: local_source(c, job.project_root) for c in job.channels}

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
            # File mode is a writable copy on SageMaker: an overlay gives that without copying or touching the
            # user's files (writes land in the host's overlay/ folder). FastFile is a read-only mount there too.
            mounts.append(channel_mount(src, str(layout.INPUT_DATA / cfg.name), root, cfg.name,
                                        writable=cfg.input_mode == "File" and not job.read_only_channels,
                                        sharded=cfg.distribution == "ShardedByS3Key" and len(hosts) > 1))
        environment = {
            "TRAINING_JOB_NAME": job_name,
            "TRAINING_JOB_ARN": f"arn:aws:sagemaker:{job.region or 'local'}:000000000000:training-job/{job_name}",
            **({"AWS_REGION": job.region, "SAGEMAKER_REGION": job.region} if job.region else {}),
            **env,
        }
        command, entrypoint = _invocation(job.entrypoint, job.arguments)
        holder = network_holder(job.image, job_name, host, network, HOLDER_KIND) if network else None
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
            network_of=holder.name if holder else None,
        )
        host_plans.append(HostPlan(host, root, spec, config_files, pipe_options, pipe_order, holder))
    credentials = replace(job.credentials, session_name=session_name(job_name)) if job.credentials else None
    return JobPlan(job_name, run_dir, output_dir, job.checkpoint_dir, instance, host_plans, network, job,
                   latest_dir, credentials)


def channel_mount(src: Path, target: str, root: Path, name: str, *, writable: bool, sharded: bool) -> Mount:
    """How a channel (or a processing input) at `src` appears at `target`: writable means as a writable copy,
    through an overlay (no copying; writes land in root/overlay/NAME); sharded means this host's share only,
    linked into root/shards/NAME by rundir.stage_input."""
    overlay = root / "overlay" / name if writable else None
    if sharded:
        return Mount(root / "shards" / name, target, read_only=overlay is None, overlay=overlay)
    if src.is_file() and overlay is not None:
        # overlayfs layers folders: a single file is linked into single/NAME/ (rundir.stage_input), so the
        # channel is writable as a File-mode channel is on SageMaker, and the file stays untouched
        return Mount(root / "single" / name, target, overlay=overlay)
    if src.is_file():
        return Mount(src, f"{target}/{src.name}", read_only=True)
    return Mount(src, target, read_only=overlay is None, overlay=overlay)


def network_holder(image: str, job_name: str, host: str, network: str, kind: str) -> ContainerSpec:
    """A small container that owns `host`'s name and address on the job network from before any algorithm starts
    until the job ends, as SageMaker's instances do; the host's algorithm container joins its network namespace."""
    return ContainerSpec(
        image=image,
        name=f"smctl-{job_name}-{host}-network",
        command=[],
        entrypoint=["sleep", "2147483647"],
        hostname=host,
        labels={LABEL_JOB: job_name, LABEL_KIND: kind, LABEL_HOST: host},
        network=network,
        aliases=(host,),
    )


def check_job(job_name: str | None, image: str, instance_count: int, entrypoint: Sequence[str] | None,
              arguments: Sequence[str] | None) -> str:
    """The job's name (generated from the image when not given), checked with its host count and app specification.

    Raises:
        UsageError: a bad name, fewer than 1 host, or ContainerEntrypoint / ContainerArguments over the limits.
    """
    name = job_name or default_job_name(image)
    if not JOB_NAME.match(name):
        raise UsageError(f"job name {name!r} is not valid",
                         "use 1-63 letters, digits and hyphens, starting with a letter or digit")
    if instance_count < 1:
        raise UsageError(f"instance count {instance_count} is below 1", "use --instance-count 1 or more")
    for what, flag, items in (("ContainerEntrypoint", "--entrypoint", entrypoint),
                              ("ContainerArguments", "--args", arguments)):
        check_container_list(what, flag, items or ())
    return name


def check_container_list(what: str, flag: str, items: Sequence[str]) -> None:
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


def without_overlays(plan: JobPlan) -> JobPlan:
    """The same plan with every overlay channel mounted read-only, as --read-only-channels plans it."""
    hosts = [replace(h, container=read_only_mounts(h.container)) for h in plan.hosts]
    return replace(plan, hosts=hosts, job=replace(plan.job, read_only_channels=True))


def read_only_mounts(spec: ContainerSpec) -> ContainerSpec:
    """The same container with every overlay mount a read-only bind of its lower layer (no overlayfs needed)."""
    mounts = tuple(replace(m, read_only=True, overlay=None) if m.overlay else m for m in spec.mounts)
    return replace(spec, mounts=mounts)


def with_checkpoints(plan: JobPlan) -> JobPlan:
    """The same plan with /opt/ml/checkpoints mounted and checkpointconfig.json written on every host."""
    hosts = []
    for h in plan.hosts:
        files = dict(h.config_files)
        files[layout.CHECKPOINTCONFIG_JSON] = layout.dump_config(layout.checkpoint_config())
        mounts = h.container.mounts + (Mount(h.root / "checkpoints", str(layout.CHECKPOINTS)),)
        hosts.append(replace(h, config_files=files, container=replace(h.container, mounts=mounts)))
    return replace(plan, hosts=hosts)
