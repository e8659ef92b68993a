"""`local-serve`: run `IMAGE serve` as a SageMaker endpoint would, wait for /ping, keep it or tear it down."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.contract import layout
from smctl.contract.credentials import CredentialsRequest, session_name
from smctl.contract.instances import InstanceType, lookup_instance_type
from smctl.contract.location import Location, as_location
from smctl.contract.serving import CONTAINER_PORT, MAX_ENV_VALUE, SERVE_STOP_GRACE
from smctl.engine.containers import ContainerSpec, Mount
from smctl.engine.gpus import GpuRequest
from smctl.engine.labels import KIND_SERVE, LABEL_ENDPOINT, LABEL_KIND, LABEL_MODEL, LABEL_RUN_DIR
from smctl.errors import ContainerFailedError, ContainerNameInUseError, PortAllocatedError, UsageError
from smctl.events import OnEvent
from smctl.serving.ports import check_host, check_port
from smctl.serving.registry import (
    check_name,
    container_name,
    remove_run_dir,
    remove_with_notice,
)

if TYPE_CHECKING:
    from smctl.engine.container import Container

FAILED_STOP_GRACE = 3  # a container that never became ready gets no 30 s grace


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
    model_dir, kind = _model_source(config.model, run_dir)
    labels = {LABEL_KIND: KIND_SERVE, LABEL_ENDPOINT: config.name, LABEL_MODEL: str(config.model or "")}
    if kind != "folder":
        labels[LABEL_RUN_DIR] = str(run_dir)
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


def _model_source(model: Location | None, run_dir: Path) -> tuple[Path, str]:
    if model is None:
        return run_dir / "model", "none"
    if model.is_s3:
        return run_dir / "model", "s3"
    path = model.path.expanduser().resolve()
    if path.is_dir():
        return path, "folder"
    if path.is_file():
        return run_dir / "model", "archive"
    raise UsageError(f"model {model} does not exist",
                     "pass --model with a folder, a model.tar.gz or an s3:// URI (or leave it out for no model)")


def prepare_model(plan: EndpointPlan, on_event: OnEvent) -> None:
    """Fill the model folder: extract model.tar.gz safely, or download s3:// model data; a folder is used as is.

    Raises:
        ArchiveError / UnsafeArchiveError: the archive is corrupt or would escape the folder.
    """
    if plan.model_kind == "folder":
        return
    if plan.model_dir.exists():  # a stale copy from a run that was killed: start afresh
        shutil.rmtree(plan.model_dir)
    plan.model_dir.mkdir(parents=True)
    model = plan.config.model
    if plan.model_kind == "none" or model is None:
        return
    if model.is_s3:
        from smctl.aws.s3 import S3_CACHE, download_prefix

        on_event("download", {"message": f"downloading {model} (cached in {S3_CACHE})"})
        cache = plan.config.project_root / S3_CACHE
        archive = download_prefix(model, cache, region=plan.config.region)
        if archive.is_dir():  # uncompressed model data (ModelDataSource, CompressionType None): lands as it is
            shutil.copytree(archive, plan.model_dir, dirs_exist_ok=True)
            return
    else:
        archive = model.path
    on_event("extract", {"message": f"extracting {archive} into {plan.model_dir}"})
    unpack_model(archive, plan.model_dir)
    for message in model_layout_warnings(plan.model_dir, str(model)):
        on_event("warning", {"message": message})


LAYOUT_WARNINGS = ("nested-folder", "empty")  # what makes any container miss its model (the rest is toolkit-specific)


def model_layout_warnings(model_dir: Path, source: str) -> list[str]:
    """`smctl package inspect`'s layout findings for an extracted model (a folder wrapping everything, say)."""
    from smctl.archive.unpack import Member, layout_findings

    members = [Member(str(p.relative_to(model_dir)), "dir" if p.is_dir() else "file", 0)
               for p in sorted(model_dir.rglob("*"))]
    return [f"model {source}: {f.message}; the endpoint still starts, but fix it: {f.hint}"
            for f in layout_findings(members) if f.code in LAYOUT_WARNINGS]


def unpack_model(archive: Path, dest: Path) -> None:
    """Extract model.tar.gz into the empty folder `dest` with the package module's safe, all-or-nothing unpack."""
    from smctl.archive import unpack_archive

    unpack_archive(archive, dest)


@contextmanager
def running_endpoint(plan: EndpointPlan, on_event: OnEvent, *, detach: bool = False,
                     client: Any = None) -> Iterator[ReadyEndpoint]:
    """Start the endpoint and wait until /ping answers 200; the container is removed when the block ends,
    whatever happens (Ctrl-C included), unless `detach` and it became ready.

    Raises:
        SmctlError: the image is missing, the name or port is taken, or the model cannot be prepared.
        ContainerFailedError: the container exits while starting, never becomes healthy, or is unreachable.
    """
    from smctl.credentials.endpoint import container_credentials

    client = client or _client()
    if plan.config.port:
        from smctl.serving.ports import ensure_port_free

        ensure_port_free(plan.config.port, plan.config.host, client)
    with container_credentials(plan.credentials, on_event) as creds:  # stopped after the container went
        if creds is not None:
            plan = replace(plan, container=creds.apply(plan.container))
        with _endpoint_container(plan, on_event, client, detach=detach) as ready:
            if detach and creds is not None:
                creds.keep_after_exit()
            yield ready


@contextmanager
def _endpoint_container(plan: EndpointPlan, on_event: OnEvent, client: Any, *,
                        detach: bool) -> Iterator[ReadyEndpoint]:
    from smctl.engine.containers import no_interrupts

    container = None
    ready: ReadyEndpoint | None = None
    keep = False
    made_dir = plan.model_kind != "folder" and not plan.model_dir.exists()
    try:
        if plan.model_kind != "folder":
            plan.model_dir.mkdir(parents=True, exist_ok=True)  # the mount source must exist to create
        container = _create(client, plan)  # claims the name before anything is written for it
        prepare_model(plan, on_event)
        started = time.monotonic()
        _start(client, container, plan)
        ready = wait_until_ready(container, plan, on_event, started=started, keep_streaming=not detach)
        keep = detach
        yield ready
    finally:
        if not keep:
            with no_interrupts():
                if container is not None:
                    grace = SERVE_STOP_GRACE if ready is not None else FAILED_STOP_GRACE
                    if ready is not None:
                        on_event("stopping", {"message": f"stopping endpoint {plan.config.name} (SIGTERM, then "
                                                         f"SIGKILL after {grace} s)"})
                    remove_with_notice(container, plan.config.name, plan.config.image, grace,
                                       on_event if ready is not None else None)
                if plan.model_kind != "folder" and (container is not None or made_dir):
                    remove_run_dir(plan.run_dir)


def _create(client: Any, plan: EndpointPlan) -> Container:
    """Create the container (the engine checks the image and the name in the same call).

    Raises:
        ImageNotFoundError: the image is not in the engine (Hint: smctl build). UsageError: the name is taken.
    """
    from smctl.engine.containers import create_container

    try:
        return create_container(client, plan.container)
    except ContainerNameInUseError:
        _ensure_name_free(client, plan.config.name)
        raise


def _start(client: Any, container: Container, plan: EndpointPlan) -> None:
    """Start; a port taken between our check and the engine's bind still names its holder."""
    from smctl.engine.containers import start_container
    from smctl.serving.ports import find_port_holder, port_in_use

    try:
        start_container(container, plan.container)
    except PortAllocatedError as exc:
        if plan.config.port:
            holder = find_port_holder(plan.config.port, plan.config.host, client)
            if holder is not None:
                raise port_in_use(plan.config.port, plan.config.host, holder) from exc
        raise


def _client() -> Any:
    from smctl.engine.containers import docker_client

    return docker_client()


def _ensure_name_free(client: Any, name: str) -> None:
    from smctl.engine.containers import find_container
    from smctl.errors import ContainerGoneError

    other = find_container(client, container_name(name))
    if other is None:
        return
    try:
        state = other.state()
    except ContainerGoneError:
        return
    raise UsageError(f"endpoint name {name!r} is taken (container {other.name} is {state})",
                     f"pick another name: --name {name}-2, or stop it first: smctl local-stop {name}")


def wait_until_ready(container: Container, plan: EndpointPlan, on_event: OnEvent, *, started: float,
                     keep_streaming: bool = True) -> ReadyEndpoint:
    """Poll /ping (2 s per try) until 200 while streaming the logs; fail fast when the container exits or binds
    where SageMaker cannot reach it.

    Raises:
        ContainerFailedError: exited while starting, bound to the wrong address, or not healthy in time.
    """
    from smctl.engine.container import url_host
    from smctl.engine.containers import stream_logs
    from smctl.serving.readiness import published_address, wait_for_ping

    muted = [False]

    def on_line(line: str) -> None:
        if not muted[0]:
            on_event("log", {"line": line})

    stream_logs(container, on_line)
    try:
        host, port = published_address(container, lambda c: _exited(c, plan))
        seconds = wait_for_ping(container, plan.config.name, host=host, port=port, started=started,
                                timeout=plan.config.startup_timeout, on_event=on_event,
                                on_exit=lambda c: _exited(c, plan), log_file=startup_log(plan))
    finally:
        muted[0] = not keep_streaming
    return ReadyEndpoint(plan.config.name, f"http://{url_host(host)}:{port}", port, host, container.id, container.name,
                         plan.config.image, str(plan.config.model or ""), seconds)


def startup_log(plan: EndpointPlan) -> Path:
    """Where a failed start's whole container log is kept (outside the run folder, which is removed)."""
    return plan.config.project_root / ".smctl" / "logs" / f"{plan.config.name}.log"


def _exited(container: Container, plan: EndpointPlan) -> ContainerFailedError:
    from smctl.serving.readiness import describe_logs, failure_logs

    code = container.exit_code
    oom = " (killed: out of memory for " + plan.instance.name + ")" if container.oom_killed else ""
    excerpt, saved = failure_logs(container, startup_log(plan))
    return ContainerFailedError(
        f"endpoint {plan.config.name}: the container exited with code {code} while starting{oom}"
        + describe_logs(excerpt, saved),
        f"SageMaker runs `docker run {plan.config.image} serve`: fix the error above, rebuild (smctl build) "
        "and run smctl local-serve again",
        details={"exit_code": code, "log_excerpt": excerpt, "log_file": str(saved) if saved else None,
                 "oom_killed": container.oom_killed},
    )


def wait_for_exit(ready: ReadyEndpoint, on_event: OnEvent, *, poll: float = 0.5) -> None:
    """Block while the endpoint runs (Ctrl-C raises KeyboardInterrupt here).

    Raises:
        ContainerFailedError: the container exited on its own, or was removed by something else.
    """
    from smctl.engine.containers import find_container
    from smctl.serving.readiness import LOG_TAIL, removed_error, state_or_fail

    container = find_container(_client(), ready.container_id)
    if container is None:
        raise removed_error(ready.name, ready.container_name, "while serving")
    while True:
        time.sleep(poll)
        if state_or_fail(container, ready.name, "while serving").finished:
            code = container.exit_code
            tail = "\n".join(f"  {line}" for line in container.log_tail(LOG_TAIL))
            raise ContainerFailedError(
                f"endpoint {ready.name}: the container exited with code {code} while serving"
                + (f"; its last log lines:\n{tail}" if tail else ""),
                "fix the error in its logs, then start it again with smctl local-serve",
                details={"exit_code": code},
            )


def needs_engine_facts(config: ServeConfig) -> bool:
    """Whether plan_endpoint needs engine_facts(): CPUs to cap to the engine's, or --gpus auto on a GPU type."""
    try:
        instance = lookup_instance_type(config.instance_type)
    except UsageError:
        return False  # plan_endpoint reports it
    return bool(instance.vcpus) or (config.gpus.strip().lower() == "auto" and bool(instance.gpus))


def engine_facts(client: Any | None = None) -> tuple[int | None, bool]:
    """(CPUs the engine has, whether it has an NVIDIA runtime) for plan_endpoint."""
    from smctl.engine.containers import engine_info

    return engine_info(client or _client())
