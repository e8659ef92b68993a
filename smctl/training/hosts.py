"""A job's hosts on the engine, shared by training and processing: start them, log them, wait for them."""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from smctl.engine.containers import ContainerSpec
from smctl.events import OnEvent
from smctl.training.artifacts import HostResult

if TYPE_CHECKING:
    from smctl.credentials.endpoint import ContainerCredentials


class JobHost(Protocol):
    """What running a host needs from a training or processing plan's host."""

    @property
    def host(self) -> str: ...
    @property
    def root(self) -> Path: ...  # the host's /opt/ml on this machine
    @property
    def container(self) -> ContainerSpec: ...
    @property
    def holder(self) -> ContainerSpec | None: ...


class JobLog:
    """Every host's log lines: into the run's logs.txt, reported as "log" events, the last 50 kept for errors."""

    def __init__(self, file: TextIO, multi: bool, on_event: OnEvent) -> None:
        self.file, self.multi, self.on_event = file, multi, on_event
        self.tail: list[str] = []
        self._lock = threading.Lock()

    def on_line(self, host: str, line: str) -> None:
        text = f"{host} | {line}" if self.multi else line
        with self._lock:
            self.file.write(text + "\n")
            self.file.flush()
            self.tail.append(text)
            del self.tail[:-50]
        self.on_event("log", {"host": host, "line": text})


def start_hosts(client: Any, stack: ExitStack, hosts: Sequence[JobHost], creds: ContainerCredentials | None,
                log: JobLog) -> tuple[list[tuple[Any, Any]], list[threading.Thread]]:
    """Start every host's network holder, then its container with its logs pumped; `stack` stops and removes them.

    Raises:
        SmctlError: a container cannot be created or started.
    """
    from smctl.engine.containers import run_container, stop_containers, stream_logs

    # Every host's name resolves before any algorithm starts, and until the job ends (SageMaker's instances
    # are all up first and stay up): one small holder per host owns the name; the algorithm joins it.
    for host in hosts:
        if host.holder is not None:
            _start_holder(client, stack, creds.apply(host.holder) if creds else host.holder)
    containers = []
    pumps = []
    for host in hosts:
        spec = creds.apply(host.container) if creds else host.container
        container = stack.enter_context(run_container(client, spec, stop_grace=10))
        containers.append((host, container))
        pumps.append(stream_logs(container, functools.partial(log.on_line, host.host)))
    # Unwinding (Ctrl-C included) stops every host at once, rather than one grace period after another.
    stack.callback(stop_containers, [c for _, c in containers], grace=10)
    return containers, pumps


def wait_for_hosts(stack: ExitStack, containers: list[tuple[Any, Any]], pumps: list[threading.Thread],
                   stopped: threading.Event, on_event: OnEvent, *, stop_after: float | None,
                   stop_grace: float) -> list[HostResult]:
    """Wait for the started hosts to end (`stopped` is set after `stop_after` seconds), then for their last lines."""
    on_event("started", {"message": f"started {', '.join(h.host for h, _ in containers)}"})
    if stop_after is not None:
        timer = threading.Timer(stop_after, stopped.set)
        timer.daemon = True
        timer.start()
        stack.callback(timer.cancel)
    try:
        results = wait_all(containers, stopped, on_event, stop_grace)
    except KeyboardInterrupt:
        on_event("stopped", {"message": "interrupted: stopping every host (SIGTERM, SIGKILL after 10 s), then "
                             "removing the containers"})
        raise
    for pump in pumps:  # the log streams end with their containers: wait for the last lines
        pump.join(timeout=5)
    return results


def _start_holder(client: Any, stack: ExitStack, spec: ContainerSpec) -> None:
    """Raises: ContainerFailedError naming the missing `sleep` when the image cannot run the holder."""
    from smctl.engine.containers import run_container
    from smctl.errors import ContainerFailedError

    try:
        stack.enter_context(run_container(client, spec, stop_grace=0))
    except ContainerFailedError as exc:
        raise ContainerFailedError(
            f"image {spec.image} cannot run `sleep`, which holds host {spec.hostname}'s name on the job network "
            f"of a multi-host job: {exc.message}",
            "add coreutils (or busybox) to the image, or run on one host: --instance-count 1") from None


def wait_all(containers: list[tuple[Any, Any]], stop: threading.Event, on_event: OnEvent,
             stop_grace: float) -> list[HostResult]:
    """Wait for every host (one waiter thread each); when one fails, SageMaker stops the others."""
    done: queue.Queue[tuple[Any, Any]] = queue.Queue()

    def waiter(host: Any, container: Any) -> None:
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
            grace = stop_grace if stop.is_set() else 10
            on_event("stopped", {"message": f"stopping {', '.join(pending)} (SIGTERM, SIGKILL after {grace:g} s)"})
            for c in pending.values():
                threading.Thread(target=c.stop, kwargs={"grace": grace}, daemon=True).start()
    return [results[h.host] for h, _ in containers]


def _host_result(host: JobHost, container: Any) -> HostResult:
    container.refresh()
    failure_file = host.root / "output" / "failure"
    failure = failure_file.read_text(errors="replace") if failure_file.exists() else None
    return HostResult(host.host, container.exit_code, failure, container.oom_killed)
