"""A processing job and its plan: every host's container, mounts and config files, computed without engine or writes."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from smctl.contract import processing as contract
from smctl.contract.credentials import CredentialsRequest, session_name
from smctl.contract.instances import InstanceType, lookup_instance_type
from smctl.contract.layout import RESOURCECONFIG_JSON, dump_config, host_names
from smctl.contract.location import Location
from smctl.engine.containers import ContainerSpec, Mount
from smctl.engine.gpus import parse_gpus
from smctl.engine.labels import LABEL_HOST, LABEL_JOB, LABEL_KIND
from smctl.errors import UsageError
from smctl.training.inputs import local_path_of
from smctl.training.plan import (
    SHM_BYTES,
    channel_mount,
    check_job,
    cpu_limit,
    network_holder,
)

KIND = "process"  # LABEL_KIND of a processing job's containers
HOLDER_KIND = "process-network"
SCRIPT_COMMAND = ("python3",)  # the SDK's ScriptProcessor default command


@dataclass(frozen=True)
class ProcessingInput:
    config: contract.InputConfig
    source: Location  # a local folder or file, or an S3 prefix


@dataclass(frozen=True)
class ProcessingOutput:
    config: contract.OutputConfig
    destination: Location  # a local folder, or an S3 prefix


@dataclass(frozen=True)
class ProcessingJob:
    """What CreateProcessingJob describes (plus where local inputs and outputs are); one for local and cloud."""

    image: str
    project_root: Path
    job_name: str | None = None
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    inputs: Sequence[ProcessingInput] = ()
    outputs: Sequence[ProcessingOutput] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    entrypoint: Sequence[str] | None = None
    arguments: Sequence[str] | None = None
    code: Path | None = None  # a script staged as input `code` and run with `entrypoint` (default python3)
    max_runtime: int = contract.DEFAULT_MAX_RUNTIME
    gpus: str = "auto"
    region: str | None = None
    credentials: CredentialsRequest | None = None


@dataclass(frozen=True)
class ProcessingHost:
    host: str
    root: Path  # the host's run folder: config/, output/ (/opt/ml/output), outputs/NAME, overlay/, shards/
    container: ContainerSpec
    config_files: dict[str, str]  # /opt/ml/config/NAME -> text
    holder: ContainerSpec | None = None


@dataclass(frozen=True)
class ProcessingPlan:
    job_name: str
    run_dir: Path
    instance: InstanceType
    hosts: list[ProcessingHost]
    network: str | None
    job: ProcessingJob  # with --code folded into inputs, entrypoint and arguments
    request: dict[str, Any]  # processingjobconfig.json
    credentials: CredentialsRequest | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "run_dir": str(self.run_dir),
            "network": self.network,
            "credentials": self.credentials.describe() if self.credentials else {"source": "none", "summary": "none"},
            "outputs": {o.config.name: {"local_path": str(o.config.local_path), "destination": str(o.destination),
                                        "upload": o.config.upload_mode} for o in self.job.outputs},
            "hosts": [
                {"host": h.host, "run_folder": str(h.root), "config_files": dict(h.config_files),
                 "container": h.container.describe(),
                 "network_holder": h.holder.describe() if h.holder else None}
                for h in self.hosts
            ],
        }


def with_code(job: ProcessingJob) -> ProcessingJob:
    """--code SCRIPT as the SDK's ScriptProcessor does it: input `code` at /opt/ml/processing/input/code/, run
    as ContainerEntrypoint [command..., /opt/ml/processing/input/code/SCRIPT] (command: --entrypoint or python3)."""
    if job.code is None:
        return job
    target = contract.default_input_path(contract.CODE_INPUT)
    code = ProcessingInput(contract.InputConfig(contract.CODE_INPUT, target), Location.from_path(job.code))
    entrypoint = [*(job.entrypoint or SCRIPT_COMMAND), str(target / job.code.name)]
    return replace(job, inputs=(*job.inputs, code), entrypoint=entrypoint, code=None)


def plan_processing(job: ProcessingJob, offered: Collection[str] = ()) -> ProcessingPlan:
    """Everything that would run, computed without touching the engine or the disk (`offered`: processing instance
    types beyond smctl's table, for a cloud job: botocore's list).

    Raises:
        UsageError: a bad job name, instance, input, output, environment, runtime or app specification.
    """
    if job.code is not None and any(i.config.name == contract.CODE_INPUT for i in job.inputs):
        raise UsageError("--code stages the script as input 'code', and an input of that name is given too",
                         "rename that input: --input OTHER=PATH")
    job = with_code(job)
    job_name = check_job(job.job_name, job.image, job.instance_count, job.entrypoint, job.arguments)
    instance = lookup_instance_type(job.instance_type, "processing", offered)
    contract.validate_io([i.config for i in job.inputs], [o.config for o in job.outputs])
    env = contract.validate_environment(job.environment)
    contract.check_max_runtime(job.max_runtime)
    gpus = parse_gpus(job.gpus, instance, engine_has_gpus=True)

    run_dir = job.project_root / ".smctl" / "processing" / job_name
    hosts = host_names(job.instance_count)
    network = f"smctl-{job_name}" if len(hosts) > 1 else None
    region = job.region or "local"
    credentials = replace(job.credentials, session_name=session_name(job_name)) if job.credentials else None
    request = contract.processing_job_config(
        job_name=job_name, arn=f"arn:aws:sagemaker:{region}:000000000000:processing-job/{job_name}",
        image=job.image, entrypoint=job.entrypoint, arguments=job.arguments,
        inputs=[(i.config, _uri(i.source, job.project_root)) for i in job.inputs],
        outputs=[(o.config, _uri(o.destination, job.project_root)) for o in job.outputs],
        instance_type=instance.name, instance_count=len(hosts), environment=env, max_runtime=job.max_runtime,
        role_arn=credentials.role_arn if credentials else None)

    host_plans = []
    for host in hosts:
        root = run_dir / host
        config_files = {
            contract.PROCESSINGJOBCONFIG_JSON: dump_config(request),
            RESOURCECONFIG_JSON: dump_config(contract.resource_config(host, hosts)),
        }
        mounts = [Mount(root / "config", str(contract.CONFIG), read_only=True),
                  Mount(root / "output", str(contract.MESSAGE.parent))]
        for i in job.inputs:
            cfg = i.config
            mounts.append(channel_mount(local_path_of(i.source, job.project_root), str(cfg.local_path), root,
                                        cfg.name, writable=True,
                                        sharded=cfg.distribution == "ShardedByS3Key" and len(hosts) > 1))
        for o in job.outputs:
            mounts.append(Mount(root / "outputs" / o.config.name, str(o.config.local_path)))
        holder = network_holder(job.image, job_name, host, network, HOLDER_KIND) if network else None
        spec = ContainerSpec(
            image=job.image, name=f"smctl-{job_name}-{host}",
            command=list(job.arguments) if job.arguments else None,
            entrypoint=list(job.entrypoint) if job.entrypoint else None,
            environment={**({"AWS_REGION": job.region} if job.region else {}), **env},
            mounts=tuple(mounts), hostname=host,
            labels={LABEL_JOB: job_name, LABEL_KIND: KIND, LABEL_HOST: host},
            network=network, aliases=(host,) if network else (), gpus=gpus,
            mem_limit=instance.memory_bytes or None, nano_cpus=cpu_limit(instance), shm_size=SHM_BYTES,
            network_of=holder.name if holder else None,
        )
        host_plans.append(ProcessingHost(host, root, spec, config_files, holder))
    return ProcessingPlan(job_name, run_dir, instance, host_plans, network, job, request, credentials)


def _uri(location: Location, project_root: Path) -> str:
    """An S3Uri as the container sees it: s3:// as given, a local path as file:// (as the SDK's local mode)."""
    return location.uri if location.is_s3 else PurePosixPath(local_path_of(location, project_root)).as_uri()
