"""The container a transform talks to: started for the job through smctl.serving (endpoint: the plan, lifecycle:
the run; the one place to swap), or a running local endpoint found by its labels; plus GET /execution-parameters."""

from __future__ import annotations

import dataclasses
import http.client
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from smctl.contract.credentials import CredentialsRequest
from smctl.contract.location import Location
from smctl.contract.serving import PING_TIMEOUT
from smctl.events import OnEvent

KIND_TRANSFORM = "transform"
EXECUTION_PARAMETERS_TIMEOUT = 2.0  # like a /ping: no answer in time means "no parameters"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    name: str  # the container (started here) or the endpoint (--endpoint)
    started: bool  # True when this job started (and will remove) the container
    chain: tuple[tuple[str, str, int], ...] = ()  # a pipeline's (hostname, host, port) in order; () for one container


@contextmanager
def job_container(*, image: str, job_name: str, project_root: Path, model: Location | None,
                  environment: Mapping[str, str], instance_type: str, gpus: str, region: str | None,
                  on_event: OnEvent, credentials: CredentialsRequest | None = None) -> Iterator[Target]:
    """Run `IMAGE serve` for this job on a free loopback port and wait for /ping; removed when the block ends,
    Ctrl-C included. The container is labelled smctl.kind=transform and smctl.job=JOB_NAME.

    Raises:
        SmctlError / ContainerFailedError: from smctl.serving.endpoint (missing image, crash, never healthy).
    """
    from smctl.engine.labels import LABEL_JOB, LABEL_KIND
    from smctl.serving import endpoint as serving
    from smctl.serving.lifecycle import running_endpoint

    config = serving.ServeConfig(image=image, name=job_name, project_root=project_root, model=model, port=0,
                                 host="127.0.0.1", environment=dict(environment), instance_type=instance_type,
                                 gpus=gpus, region=region, instance_use="transform", credentials=credentials)
    cpus, has_gpus = serving.engine_facts()
    plan = serving.plan_endpoint(config, engine_cpus=cpus, engine_has_gpus=has_gpus)
    labels = {**plan.container.labels, LABEL_KIND: KIND_TRANSFORM, LABEL_JOB: job_name}
    plan = dataclasses.replace(plan, container=dataclasses.replace(plan.container, labels=labels))
    on_event("starting", {"message": f"starting {image} serve for {job_name} ({plan.instance.name}, model "
                                     f"{model or '(none)'})"})
    with running_endpoint(plan, on_event) as ready:
        yield Target(ready.host, ready.port, ready.container_name, started=True)


def running_endpoint_target(name: str) -> Target:
    """A running local endpoint (smctl local-serve), found by its labels; Raises: EndpointNotFoundError."""
    from smctl.engine.containers import docker_client
    from smctl.serving.registry import get_endpoint

    endpoint = get_endpoint(docker_client(), name)
    if endpoint.port is None or endpoint.host is None:
        from smctl.errors import ContainerFailedError

        raise ContainerFailedError(f"endpoint {name!r} publishes no port", f"restart it: smctl local-stop {name}, "
                                   "then smctl local-serve")
    from smctl.transform.pipeline import chain_of

    return Target(endpoint.host, endpoint.port, name, started=False, chain=chain_of(endpoint))


def get_execution_parameters(host: str, port: int) -> bytes | None:
    """The body of GET /execution-parameters when it answers 200, else None (404 or no answer is fine)."""
    conn = http.client.HTTPConnection(host, port, timeout=EXECUTION_PARAMETERS_TIMEOUT)
    try:
        conn.request("GET", "/execution-parameters")
        resp = conn.getresponse()
        body = resp.read()
        return body if resp.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def answers_ping(host: str, port: int) -> bool:
    """True when GET /ping answers 200 within 2 s (asked after a failure: is the container still there?)."""
    from smctl.serving.readiness import ping_once

    return ping_once(host, port, PING_TIMEOUT)[0] == 200
