"""A multi-container endpoint from start to end: check every image's bind-to-port label, create the first container
(it owns the network namespace and publishes every bind port), start the others inside it, wait until every
/ping answers, keep them (detach) or stop and remove them all, Ctrl-C included."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.contract.serving import SERVE_STOP_GRACE
from smctl.errors import ContainerFailedError
from smctl.events import OnEvent
from smctl.serving.endpoint import ReadyEndpoint
from smctl.serving.lifecycle import FAILED_STOP_GRACE
from smctl.serving.pipeline import Member, PipelinePlan, refuse_unlabelled
from smctl.serving.registry import remove_run_dir, remove_with_notice

if TYPE_CHECKING:
    from smctl.engine.container import Container


@dataclass(frozen=True)
class ReadyPipeline:
    endpoint: ReadyEndpoint  # the first container's: the endpoint's URL reaches it
    mode: str
    containers: tuple[dict[str, Any], ...]

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def url(self) -> str:
        return self.endpoint.url

    @property
    def seconds_to_ready(self) -> float:
        return self.endpoint.seconds_to_ready

    def as_dict(self) -> dict[str, Any]:
        return {**self.endpoint.as_dict(), "mode": self.mode, "containers": list(self.containers)}


def check_images(client: Any, plan: PipelinePlan) -> None:
    """Raises: ImageNotFoundError (Hint: smctl build), UsageError for an image without the bind-to-port label."""
    from smctl.engine.images import inspect_image

    for image in dict.fromkeys(m.image for m in plan.members):
        refuse_unlabelled(image, inspect_image(client, image).labels)


@contextmanager
def running_pipeline(plan: PipelinePlan, on_event: OnEvent, *, detach: bool = False,
                     client: Any = None) -> Iterator[ReadyPipeline]:
    """Start every container and wait until each answers /ping; all are removed when the block ends, whatever
    happens (Ctrl-C included), unless `detach` and all became ready.

    Raises:
        UsageError: an image lacks the bind-to-port label. SmctlError: an image is missing, a name or port taken.
        ContainerFailedError: a container exits while starting or never becomes healthy (naming it).
    """
    from smctl.credentials.endpoint import container_credentials
    from smctl.engine.containers import docker_client

    client = client or docker_client()
    check_images(client, plan)
    if plan.config.port:
        from smctl.serving.ports import ensure_port_free

        ensure_port_free(plan.config.port, plan.config.host, client)
    with container_credentials(plan.first.plan.credentials, on_event) as creds:
        if creds is not None:
            plan = replace(plan, members=tuple(replace(m, plan=replace(m.plan, container=creds.apply(m.plan.container)))
                                               for m in plan.members))
        with _containers(plan, on_event, client, detach=detach) as ready:
            if detach and creds is not None:
                creds.keep_after_exit()
            yield ready


@contextmanager
def _containers(plan: PipelinePlan, on_event: OnEvent, client: Any, *, detach: bool) -> Iterator[ReadyPipeline]:
    from smctl.engine.containers import create_container, deferred_interrupts, no_interrupts, start_container
    from smctl.serving import lifecycle
    from smctl.serving.model_data import prepare_model

    made: list[tuple[Member, Container]] = []
    ready: ReadyPipeline | None = None
    keep = False
    muted = [False]
    try:
        for m in plan.members:
            if m.plan.model_kind != "folder":
                m.plan.model_dir.mkdir(parents=True, exist_ok=True)  # the mount source must exist to create
        with deferred_interrupts():
            made.append((plan.first, lifecycle._create(client, plan.first.plan)))  # claims the endpoint's name
        for m in plan.members:
            prepare_model(m.plan, on_event)
        started = time.monotonic()
        lifecycle._start(client, made[0][1], plan.first.plan)
        for m in plan.members[1:]:
            with deferred_interrupts():
                made.append((m, create_container(client, m.plan.container)))
            start_container(made[-1][1], m.plan.container)
        ready = _wait_all(plan, made, on_event, started, muted)
        muted[0] = detach
        keep = detach
        yield ready
    finally:
        if not keep:
            with no_interrupts():
                grace = SERVE_STOP_GRACE if ready is not None else FAILED_STOP_GRACE
                if ready is not None and made:
                    on_event("stopping", {"message": f"stopping endpoint {plan.config.name}: {len(made)} containers "
                                                     f"(SIGTERM, then SIGKILL after {grace} s)"})
                _remove(made[1:], grace, on_event if ready is not None else None)
                _remove(made[:1], grace, on_event if ready is not None else None)
                for m in plan.members:
                    if m.plan.model_kind != "folder":
                        remove_run_dir(m.plan.run_dir)


def _remove(made: list[tuple[Member, Container]], grace: float, on_event: OnEvent | None) -> None:
    """Stop and remove these containers at once (each may take its grace period)."""
    import threading

    threads = [threading.Thread(target=remove_with_notice, args=(c, m.plan.config.name, m.image, grace, on_event))
               for m, c in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _wait_all(plan: PipelinePlan, made: list[tuple[Member, Container]], on_event: OnEvent, started: float,
              muted: list[bool]) -> ReadyPipeline:
    """Stream every container's logs (prefixed by its hostname) and wait until each /ping answers 200."""
    from smctl.engine.container import url_host
    from smctl.engine.containers import stream_logs
    from smctl.serving.readiness import published_address, wait_for_ping

    first = made[0][1]
    for m, c in made:
        def on_line(line: str, prefix: str = m.hostname) -> None:
            if not muted[0]:
                on_event("log", {"line": f"[{prefix}] {line}"})

        stream_logs(c, on_line)
    rows = []
    host, port = published_address(first, lambda c: _exited(c, plan, plan.first))
    for m, c in made:
        address = first.published_address(m.bind_port) if m is not plan.first else (host, port)
        if address is None:
            raise _exited(first, plan, plan.first) if first.state().finished else ContainerFailedError(
                f"endpoint {plan.config.name}: port {m.bind_port} of container {m.hostname} is not published",
                f"report this with the output of `docker inspect {first.name}`")
        seconds = wait_for_ping(c, f"{plan.config.name} (container {m.hostname})", host=address[0], port=address[1],
                                started=started, timeout=plan.config.startup_timeout, on_event=on_event,
                                on_exit=_on_exit(plan, m), log_file=_log_file(plan, m))
        rows.append({"hostname": m.hostname, "image": m.image, "bind_port": m.bind_port, "container": c.name,
                     "url": f"http://{url_host(address[0])}:{address[1]}", "seconds_to_ready": round(seconds, 3)})
    seconds = time.monotonic() - started
    endpoint = ReadyEndpoint(plan.config.name, f"http://{url_host(host)}:{port}", port, host, first.id, first.name,
                             plan.first.image, str(plan.first.plan.config.model or ""), seconds)
    return ReadyPipeline(endpoint, plan.mode, tuple(rows))


def _on_exit(plan: PipelinePlan, member: Member) -> Callable[[Container], Exception]:
    return lambda c: _exited(c, plan, member)


def _log_file(plan: PipelinePlan, member: Member) -> Path:
    return plan.config.project_root / ".smctl" / "logs" / f"{plan.config.name}-{member.hostname}.log"


def _exited(container: Container, plan: PipelinePlan, member: Member) -> ContainerFailedError:
    from smctl.serving.readiness import describe_logs, failure_logs

    code = container.exit_code
    oom = " (killed: out of memory for " + member.plan.instance.name + ")" if container.oom_killed else ""
    excerpt, saved = failure_logs(container, _log_file(plan, member))
    return ContainerFailedError(
        f"endpoint {plan.config.name}: container {member.hostname} ({member.image}) exited with code {code} while "
        f"starting{oom}" + describe_logs(excerpt, saved),
        f"SageMaker runs `docker run {member.image} serve` with SAGEMAKER_BIND_TO_PORT={member.bind_port}: fix the "
        "error above, rebuild (smctl build) and run smctl local-serve again",
        details={"container": member.hostname, "exit_code": code, "log_excerpt": excerpt,
                 "log_file": str(saved) if saved else None, "oom_killed": container.oom_killed},
    )


def wait_for_exit(ready: ReadyPipeline, on_event: OnEvent, *, poll: float = 0.5) -> None:
    """Block while every container runs (Ctrl-C raises KeyboardInterrupt here).

    Raises:
        ContainerFailedError: a container exited on its own (naming it), or was removed by something else.
    """
    from smctl.engine.containers import docker_client, find_container
    from smctl.serving.readiness import LOG_TAIL, removed_error, state_or_fail

    client = docker_client()
    watched = []
    for row in ready.containers:
        container = find_container(client, row["container"])
        if container is None:
            raise removed_error(ready.name, row["container"], "while serving")
        watched.append((row["hostname"], container))
    while True:
        time.sleep(poll)
        for hostname, container in watched:
            if state_or_fail(container, ready.name, "while serving").finished:
                code = container.exit_code
                tail = "\n".join(f"  {line}" for line in container.log_tail(LOG_TAIL))
                raise ContainerFailedError(
                    f"endpoint {ready.name}: container {hostname} exited with code {code} while serving"
                    + (f"; its last log lines:\n{tail}" if tail else ""),
                    "fix the error in its logs, then start it again with smctl local-serve",
                    details={"exit_code": code, "container": hostname},
                )


running_endpoint = running_pipeline  # local-serve runs either lifecycle module the same way
