"""Multi-container endpoints (inference pipelines): the plan (up to 15 containers sharing one network namespace,
each on its own SAGEMAKER_BIND_TO_PORT), the route it records on its labels, and the chaining smctl does in the
platform's place (Serial: each response is the next request; Direct: the one container the caller names).

Running it: smctl.serving.pipeline_lifecycle; the runtime API's side: smctl.serving.pipeline_runtime."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from smctl.contract.location import Location
from smctl.contract.serving import CONTAINER_PORT
from smctl.engine.labels import LABEL_KIND, LABEL_RUN_DIR
from smctl.errors import UsageError
from smctl.serving.endpoint import EndpointPlan, ServeConfig, plan_endpoint
from smctl.serving.model_data import model_source
from smctl.serving.pipeline_route import (
    DIRECT,
    KIND_MEMBER,
    LABEL_CONTAINERS,
    LABEL_MEMBER_OF,
    LABEL_MODE,
    SERIAL,
    PipelineRoute,
)
from smctl.serving.registry import container_name

if TYPE_CHECKING:
    from smctl.contract.instances import InstanceType

MAX_CONTAINERS = 15  # CreateModel's Containers: at most 15 (botocore's ContainerDefinitionList max)
BIND_TO_PORT_LABEL = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"
# The docs give the contract (listen on SAGEMAKER_BIND_TO_PORT; extra ports from SAGEMAKER_SAFE_PORT_RANGE, an
# inclusive "XXXX-YYYY"), not the numbers: smctl's are 8080, 8081, ... and a disjoint block of 1000 per container,
# so containers sharing a namespace never collide.
FIRST_BIND_PORT = CONTAINER_PORT
SAFE_RANGE_START, SAFE_RANGE_SIZE = 10000, 1000
HOSTNAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")  # ContainerDefinition.ContainerHostname


@dataclass(frozen=True)
class PipelineContainer:
    """One ContainerDefinition: its image, model, environment and ContainerHostname (None: container-N)."""

    image: str
    model: Location | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    hostname: str | None = None


@dataclass(frozen=True)
class Member:
    hostname: str
    bind_port: int
    plan: EndpointPlan  # its container, model folder and limits

    @property
    def image(self) -> str:
        return self.plan.config.image


@dataclass(frozen=True)
class PipelinePlan:
    config: ServeConfig
    mode: str
    members: tuple[Member, ...]

    @property
    def first(self) -> Member:
        return self.members[0]

    @property
    def instance(self) -> InstanceType:
        return self.first.plan.instance

    def describe(self) -> dict[str, Any]:
        return {"name": self.config.name, "mode": self.mode, "instance_type": self.first.plan.instance.name,
                "containers": [{"hostname": m.hostname, "bind_port": m.bind_port, "model_kind": m.plan.model_kind,
                                "model_dir": str(m.plan.model_dir), **m.plan.container.describe()}
                               for m in self.members]}


def port_environment(index: int) -> dict[str, str]:
    """What SageMaker sets only in multi-container endpoints, for the container at `index` (0-based)."""
    low = SAFE_RANGE_START + index * SAFE_RANGE_SIZE
    return {"SAGEMAKER_BIND_TO_PORT": str(FIRST_BIND_PORT + index),
            "SAGEMAKER_SAFE_PORT_RANGE": f"{low}-{low + SAFE_RANGE_SIZE - 1}"}


def check_count(count: int) -> None:
    """Raises: UsageError with CreateModel's words for more than 15 containers (or none)."""
    if count > MAX_CONTAINERS:
        raise UsageError(f"{count} containers given: 1 validation error detected: Value at 'containers' failed to "
                         f"satisfy constraint: Member must have length less than or equal to {MAX_CONTAINERS}",
                         f"SageMaker runs at most {MAX_CONTAINERS} containers in one endpoint: drop "
                         f"{count - MAX_CONTAINERS} --container (or [[serve.containers]] entries), or merge steps")
    if count < 1:
        raise UsageError("no container given", "pass --container IMAGE once per step (or [[serve.containers]])")


def hostnames(containers: Sequence[PipelineContainer]) -> list[str]:
    """Each container's ContainerHostname: CreateModel's rules (all or none given, unique, the pattern); none given:
    container-1..N by position.

    Raises: UsageError naming the hostname."""
    given = [c.hostname for c in containers if c.hostname]
    if not given:
        return [f"container-{i}" for i in range(1, len(containers) + 1)]
    if len(given) != len(containers):
        raise UsageError("some containers have a hostname and some do not",
                         "SageMaker needs a ContainerHostname on every container once one has it: add hostname=NAME "
                         "to each --container (or to each [[serve.containers]])")
    for name in given:
        if not HOSTNAME.fullmatch(name):
            raise UsageError(f"container hostname {name!r} is not valid",
                             "use 1-63 letters, digits and hyphens, starting with a letter or digit")
    dupes = sorted({n for n in given if given.count(n) > 1})
    if dupes:
        raise UsageError(f"container hostname {dupes[0]!r} is used twice", "give every container its own hostname")
    return list(given)


def check_mode(mode: str) -> str:
    if mode not in (SERIAL, DIRECT):
        raise UsageError(f"inference execution mode {mode!r} is not known",
                         "use Serial (the default: each response feeds the next container) or Direct (--direct)")
    return mode


def member_name(endpoint: str, hostname: str) -> str:
    return f"{container_name(endpoint)}--{hostname}"


def plan_pipeline(config: ServeConfig, containers: Sequence[PipelineContainer], mode: str = SERIAL, *,
                  engine_cpus: int | None = None, engine_has_gpus: bool | None = None) -> PipelinePlan:
    """Each container planned as plan_endpoint plans one, then joined: the first owns the network namespace and
    publishes every container's bind port (its own on --port), the others join it (network_mode container:FIRST).

    Raises: UsageError: too many containers, bad hostnames or mode, or what plan_endpoint refuses.
    """
    check_count(len(containers))
    check_mode(mode)
    names = hostnames(containers)
    route = ",".join(f"{h}={FIRST_BIND_PORT + i}" for i, h in enumerate(names))
    members: list[Member] = []
    for i, (c, hostname) in enumerate(zip(containers, names, strict=True)):
        env = {**config.environment, **c.environment, **port_environment(i)}
        plan = plan_endpoint(replace(config, image=c.image, model=c.model, environment=env),
                             engine_cpus=engine_cpus, engine_has_gpus=engine_has_gpus)
        run_dir = plan.run_dir / hostname  # each container's model gets its own folder
        model_dir, kind = model_source(plan.config.model, run_dir)
        labels = {k: v for k, v in plan.container.labels.items() if k != LABEL_RUN_DIR}
        if kind != "folder":
            labels[LABEL_RUN_DIR] = str(run_dir)
        mount = dataclasses.replace(plan.container.mounts[0], source=model_dir)
        if i == 0:
            ports = {f"{FIRST_BIND_PORT + j}/tcp": (plan.container.ports[f"{CONTAINER_PORT}/tcp"][0],
                                                    (config.port or None) if j == 0 else None)
                     for j in range(len(containers))}
            spec = replace(plan.container, ports=ports, mounts=(mount,),
                           labels={**labels, LABEL_MODE: mode, LABEL_CONTAINERS: route})
        else:
            spec = replace(plan.container, name=member_name(config.name, hostname), ports={}, mounts=(mount,),
                           network_of=container_name(config.name),
                           labels={**labels, LABEL_KIND: KIND_MEMBER, LABEL_MEMBER_OF: config.name})
        members.append(Member(hostname, FIRST_BIND_PORT + i,
                              replace(plan, container=spec, run_dir=run_dir, model_dir=model_dir, model_kind=kind)))
    return PipelinePlan(replace(config, image=containers[0].image), mode, tuple(members))


def refuse_unlabelled(image: str, labels: Mapping[str, str]) -> None:
    """Raises: UsageError with CreateModel's message when the image does not declare the bind-to-port contract."""
    if str(labels.get(BIND_TO_PORT_LABEL, "")).lower() != "true":
        raise UsageError(f"Your Ecr Image {image} does not contain required {BIND_TO_PORT_LABEL}=true Docker "
                         "label(s) (SageMaker's CreateModel refuses it in a multi-container endpoint)",
                         "make the server listen on $SAGEMAKER_BIND_TO_PORT (8080 when unset), add "
                         f"`LABEL {BIND_TO_PORT_LABEL}=true` to its Dockerfile and rebuild (smctl build)")


def find_route(client: Any, name: str) -> PipelineRoute | None:
    """The route of the running endpoint `name`, or None when it runs one container (or does not run)."""
    from smctl.serving.registry import find_endpoint

    endpoint = find_endpoint(client, name)
    from smctl.serving.pipeline_route import route_of

    return None if endpoint is None else route_of(endpoint)
