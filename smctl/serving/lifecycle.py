"""An endpoint's container from start to end: create (claiming the name), prepare the model, start, wait for /ping
while streaming the logs, keep it (detach) or stop and remove it, Ctrl-C included."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.contract.serving import SERVE_STOP_GRACE
from smctl.errors import ContainerFailedError, ContainerNameInUseError, PortAllocatedError, UsageError
from smctl.events import OnEvent
from smctl.serving.endpoint import EndpointPlan, ReadyEndpoint
from smctl.serving.model_data import prepare_model
from smctl.serving.registry import container_name, remove_run_dir, remove_with_notice

if TYPE_CHECKING:
    from smctl.engine.container import Container

FAILED_STOP_GRACE = 3  # a container that never became ready gets no 30 s grace


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
