"""The local endpoints that run now, found in the engine by their labels (no state file to go stale)."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.contract.async_inference import AsyncConfig
from smctl.contract.serving import CONTAINER_PORT, ENDPOINT_NAME, SERVE_STOP_GRACE
from smctl.engine.container import ContainerState, ContainerSummary, url_host
from smctl.engine.labels import (
    KIND_SERVE,
    LABEL_ASYNC,
    LABEL_ENDPOINT,
    LABEL_KIND,
    LABEL_MANAGED,
    LABEL_MODEL,
    LABEL_RUN_DIR,
)
from smctl.errors import EndpointNotFoundError, UsageError
from smctl.events import OnEvent

if TYPE_CHECKING:
    from smctl.engine.container import Container

SLOW_STOP_NOTICE = 2.0  # a stop that takes longer than this is waiting on the grace period: say so


@dataclass(frozen=True)
class Endpoint:
    name: str
    image: str
    state: ContainerState
    host: str | None  # where to connect (a wildcard binding already means loopback)
    port: int | None
    model: str
    container_id: str
    container_name: str
    run_dir: Path | None
    exit_code: int | None = None
    async_config: AsyncConfig | None = None  # its asynchronous-inference settings (local-serve --async-output)
    summary: ContainerSummary | None = None  # the engine's list entry: labels (hosting modes read theirs), ports

    @property
    def url(self) -> str | None:
        if self.port is None or self.host is None:
            return None
        return f"http://{url_host(self.host)}:{self.port}"

    def status(self, healthy: bool | None = None) -> str:
        """SageMaker-like status: InService (answers /ping), NotReady (running, no 200 yet), Failed (exited)."""
        if self.state is ContainerState.RUNNING:
            return "InService" if healthy in (True, None) else "NotReady"
        if self.exit_code is not None:
            return f"Failed (exit code {self.exit_code})" if self.exit_code else "Stopped"
        return self.state.capitalize()

    def as_dict(self, healthy: bool | None = None) -> dict[str, Any]:
        return {
            "name": self.name, "image": self.image, "status": self.status(healthy), "state": self.state,
            "url": self.url, "port": self.port, "model": self.model, "container": self.container_name,
            "container_id": self.container_id[:12], "exit_code": self.exit_code,
        }


def container_name(endpoint: str) -> str:
    return f"smctl-endpoint-{endpoint}"


def check_name(name: str) -> str:
    """Raises: UsageError when `name` is not a valid SageMaker endpoint name."""
    if not ENDPOINT_NAME.match(name):
        raise UsageError(f"endpoint name {name!r} is not valid",
                         "use 1-63 letters, digits and hyphens, starting with a letter or digit: --name my-model")
    return name


def list_endpoints(client: Any, name: str | None = None) -> list[Endpoint]:
    """Every endpoint container (running or not), sorted by name; one engine call."""
    from smctl.engine.containers import list_containers

    labels = [f"{LABEL_KIND}={KIND_SERVE}", f"{LABEL_ENDPOINT}={name}" if name else LABEL_ENDPOINT, LABEL_MANAGED]
    found = [_from_summary(c) for c in list_containers(client, labels)]
    return sorted(found, key=lambda e: e.name)


def find_endpoint(client: Any, name: str) -> Endpoint | None:
    found = list_endpoints(client, name)
    return found[0] if found else None


def get_endpoint(client: Any, name: str, *, running: bool = True) -> Endpoint:
    """Raises: EndpointNotFoundError naming the endpoint, with the ones that exist."""
    endpoint = find_endpoint(client, name)
    if endpoint is None or (running and endpoint.state is not ContainerState.RUNNING):
        raise not_found(name, [e.name for e in list_endpoints(client) if e.state is ContainerState.RUNNING],
                        stopped=endpoint is not None)
    return endpoint


def not_found(name: str, running: list[str], *, stopped: bool = False) -> EndpointNotFoundError:
    if stopped:
        return EndpointNotFoundError(f"endpoint {name!r} is not running (its container has exited)",
                                     f"see why with `smctl logs {name}`, then `smctl local-stop {name}` and start it "
                                     "again with smctl local-serve")
    have = f"running endpoints: {', '.join(running)}" if running else "no endpoint is running"
    return EndpointNotFoundError(
        f"endpoint {name!r} does not exist ({have})",
        f"start it with `smctl local-serve --name {name}`, or list them with `smctl endpoints`")


def ping(endpoint: Endpoint, timeout: float = 1.0) -> bool:
    """True when the endpoint answers GET /ping with 200 within `timeout`."""
    if endpoint.port is None or endpoint.host is None or endpoint.state is not ContainerState.RUNNING:
        return False
    from smctl.serving.pipeline_route import is_pipeline, ping_route, route_of

    if is_pipeline(endpoint):  # a multi-container endpoint is healthy when all its containers are
        return ping_route(route_of(endpoint), timeout)  # type: ignore[arg-type]
    from smctl.serving.readiness import ping_once

    return ping_once(endpoint.host, endpoint.port, timeout)[0] == 200


def stop_endpoint(client: Any, endpoint: Endpoint, *, grace: float = SERVE_STOP_GRACE,
                  on_event: OnEvent | None = None) -> None:
    """Stop (SIGTERM, SIGKILL after `grace`) and remove the container, and the model folder smctl made for it."""
    from smctl.engine.containers import find_container
    from smctl.serving.pipeline_route import is_pipeline

    if is_pipeline(endpoint):  # the containers that share the first one's network namespace go first
        from smctl.serving.pipeline_route import members

        for member, member_run_dir in members(client, endpoint.name):
            remove_with_notice(member, endpoint.name, endpoint.image, grace, on_event)
            remove_run_dir(member_run_dir)
    container = find_container(client, endpoint.container_id)
    if container is not None:  # gone already: stopping twice is harmless
        remove_with_notice(container, endpoint.name, endpoint.image, grace, on_event)
    remove_run_dir(endpoint.run_dir)


def remove_with_notice(container: Container, name: str, image: str, grace: float, on_event: OnEvent | None) -> None:
    """Stop and remove; if it is still stopping after SLOW_STOP_NOTICE s, say why the wait may last `grace` s."""
    timer = None
    if on_event is not None and grace > SLOW_STOP_NOTICE:
        message = (f"{name} is still stopping after {SLOW_STOP_NOTICE:g} s: waiting up to {grace:g} s for a graceful "
                   f"stop before SIGKILL, as SageMaker does; an image that ignores SIGTERM always takes the full "
                   f"{grace:g} s (see `smctl check {image}`)")
        timer = threading.Timer(SLOW_STOP_NOTICE, on_event, ("stopping", {"message": message, "endpoint": name}))
        timer.daemon = True
        timer.start()
    try:
        container.remove(stop_grace=grace)
    finally:
        if timer is not None:
            timer.cancel()


def remove_run_dir(run_dir: Path | None) -> None:
    if run_dir is not None and run_dir.name and (run_dir / "model").exists():
        shutil.rmtree(run_dir, ignore_errors=True)


def _from_summary(c: ContainerSummary) -> Endpoint:
    """An Endpoint from the engine's container list entry (docker ps): no per-container inspect needed."""
    address = c.published_address(CONTAINER_PORT)
    run_dir = c.labels.get(LABEL_RUN_DIR)
    return Endpoint(
        name=c.labels.get(LABEL_ENDPOINT, "?"),
        image=c.image or "?",
        state=c.state,
        host=address[0] if address else None,
        port=address[1] if address else None,
        model=c.labels.get(LABEL_MODEL, ""),
        container_id=c.id,
        container_name=c.name,
        run_dir=Path(run_dir) if run_dir else None,
        exit_code=c.exit_code,
        async_config=AsyncConfig.from_label(c.labels.get(LABEL_ASYNC)),
        summary=c,
    )
