"""`local-serve`'s plan: what endpoint would run (container, model folder, limits), checked without the engine.

Running it: smctl.serving.lifecycle; its model on the host: smctl.serving.model_data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.contract import layout
from smctl.contract.async_inference import AsyncConfig
from smctl.contract.credentials import CredentialsRequest, session_name
from smctl.contract.instances import InstanceType, lookup_instance_type
from smctl.contract.location import Location, as_location
from smctl.contract.serving import CONTAINER_PORT, MAX_ENV_VALUE
from smctl.engine.containers import ContainerSpec, Mount
from smctl.engine.gpus import GpuRequest
from smctl.engine.labels import KIND_SERVE, LABEL_ASYNC, LABEL_ENDPOINT, LABEL_KIND, LABEL_MODEL, LABEL_RUN_DIR
from smctl.errors import UsageError
from smctl.serving.model_data import model_source
from smctl.serving.ports import check_host, check_port
from smctl.serving.registry import (
    check_name,
    container_name,
)

if TYPE_CHECKING:
    pass

@dataclass(frozen=True)
class ServeConfig:
    image: str
    name: str
    project_root: Path
    model: Location | None = None  # a Path or text is parsed into one (the thin entry for library callers)
    port: int = 8080
    host: str = "127.0.0.1"
    environment: Mapping[str, str] = field(default_factory=dict)
    instance_type: str = "ml.m5.xlarge"
    gpus: str = "auto"
    instance_use: str = "hosting"  # or "transform": which API's instance types are offered
    startup_timeout: float = 240
    read_only_model: bool = False
    region: str | None = None
    credentials: CredentialsRequest | None = None  # None: none; the session name becomes the endpoint name
    async_inference: AsyncConfig | None = None  # AsyncInferenceConfig: kept on the container as a label
    multi_model: str | None = None  # s3:// prefix or folder of model archives: a multi-model endpoint

    def __post_init__(self) -> None:
        model: Location | Path | str | None = self.model
        if model is not None and not isinstance(model, Location):
            object.__setattr__(self, "model", as_location(model, Path()) if str(model) else None)


@dataclass(frozen=True)
class EndpointPlan:
    config: ServeConfig
    container: ContainerSpec
    run_dir: Path
    model_dir: Path  # the host folder mounted at /opt/ml/model
    model_kind: str  # none | folder | archive | s3
    instance: InstanceType
    credentials: CredentialsRequest | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.config.name, "run_dir": str(self.run_dir), "model_dir": str(self.model_dir),
                "model_kind": self.model_kind, "instance_type": self.instance.name,
                "container": self.container.describe()}


@dataclass(frozen=True)
class ReadyEndpoint:
    name: str
    url: str
    port: int
    host: str
    container_id: str
    container_name: str
    image: str
    model: str
    seconds_to_ready: float

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "port": self.port, "host": self.host,
                "container": self.container_name, "container_id": self.container_id[:12], "image": self.image,
                "model": self.model, "seconds_to_ready": round(self.seconds_to_ready, 3)}


def plan_endpoint(config: ServeConfig, *, engine_cpus: int | None = None,
                  engine_has_gpus: bool | None = None) -> EndpointPlan:
    """What would run, computed without touching the engine or writing to disk.

    Raises:
        UsageError: a bad name, port, timeout, instance type, GPU request, environment or model path.
    """
    from smctl.engine.gpus import parse_gpus

    check_name(config.name)
    check_port(config.port)
    host = check_host(config.host)
    if config.startup_timeout <= 0:
        raise UsageError(f"startup timeout {config.startup_timeout:g} s is not positive",
                         "use --startup-timeout SECONDS (SageMaker allows 60-3600; the default is 240)")
    instance = lookup_instance_type(config.instance_type, config.instance_use)
    gpus: GpuRequest = parse_gpus(config.gpus, instance, engine_has_gpus)
    env = check_environment(config.environment)
    run_dir = config.project_root / ".smctl" / "endpoints" / config.name
    model_dir, kind = model_source(config.model, run_dir)
    labels = {LABEL_KIND: KIND_SERVE, LABEL_ENDPOINT: config.name, LABEL_MODEL: str(config.model or "")}
    if kind != "folder":
        labels[LABEL_RUN_DIR] = str(run_dir)
    if config.async_inference is not None:
        labels[LABEL_ASYNC] = config.async_inference.to_label()
    cpus = instance.vcpus
    if engine_cpus and cpus > engine_cpus:
        cpus = engine_cpus  # the engine refuses more CPUs than the machine has
    spec = ContainerSpec(
        image=config.image,
        name=container_name(config.name),
        command=["serve"],
        environment=env,
        mounts=(Mount(model_dir, str(layout.MODEL), read_only=config.read_only_model),),
        labels=labels,
        gpus=gpus,
        mem_limit=instance.memory_bytes or None,
        nano_cpus=cpus * 10**9 if cpus else None,
        ports={f"{CONTAINER_PORT}/tcp": (host, config.port or None)},
    )
    if config.multi_model is not None:
        from smctl.serving.multimodel import multi_model_container

        spec = multi_model_container(spec, config.multi_model, run_dir, instance.memory_bytes, config.region)
    credentials = replace(config.credentials, session_name=session_name(config.name)) if config.credentials else None
    return EndpointPlan(config, spec, run_dir, model_dir, kind, instance, credentials)


def check_environment(env: Mapping[str, str]) -> dict[str, str]:
    """CreateModel's rules for a container's Environment; Raises: UsageError naming the variable."""
    if len(env) > layout.MAX_ENVIRONMENT:
        raise UsageError(f"{len(env)} environment variables given; SageMaker accepts at most "
                         f"{layout.MAX_ENVIRONMENT}", "pass fewer --env values (or environment entries in smctl.toml)")
    for key, value in env.items():
        if not layout.ENV_KEY.match(key):
            raise UsageError(f"environment variable name {key!r} is not valid", "names match [a-zA-Z_][a-zA-Z0-9_]*")
        if len(str(value)) > MAX_ENV_VALUE:
            raise UsageError(f"environment variable {key} is {len(str(value))} characters; SageMaker allows "
                             f"{MAX_ENV_VALUE}", f"shorten {key}'s value, or ship long settings in the model instead")
    return {k: str(v) for k, v in env.items()}


def needs_engine_facts(config: ServeConfig) -> bool:
    """Whether plan_endpoint needs engine_facts(): CPUs to cap to the engine's, or --gpus auto on a GPU type."""
    try:
        instance = lookup_instance_type(config.instance_type)
    except UsageError:
        return False  # plan_endpoint reports it
    return bool(instance.vcpus) or (config.gpus.strip().lower() == "auto" and bool(instance.gpus))


def engine_facts(client: Any | None = None) -> tuple[int | None, bool]:
    """(CPUs the engine has, whether it has an NVIDIA runtime) for plan_endpoint."""
    from smctl.engine.containers import docker_client, engine_info

    return engine_info(client or docker_client())
