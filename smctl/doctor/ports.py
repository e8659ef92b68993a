"""Is a TCP port free on this host, and if not, which processes and containers hold it."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.serving.ports import PROC, ContainerHolder, ProcessHolder, bind_error, containers_publishing, listeners


@dataclass(frozen=True)
class PortFacts:
    port: int
    sources: tuple[str, ...]
    free: bool
    bind_error: str | None = None
    processes: tuple[ProcessHolder, ...] = ()
    containers: tuple[ContainerHolder, ...] = ()


def probe_port(port: int, sources: tuple[str, ...] = ("default",), client: Any = None,
               proc: Path = PROC) -> PortFacts:
    """Try to bind the port as a server would, then name whoever holds it (processes, then containers)."""
    free, error = _try_bind(port)
    processes = () if free else tuple(listeners(port, proc))
    containers = tuple(containers_publishing(client, port)) if client is not None else ()
    return PortFacts(port, sources, free and not containers, error, processes, containers)


def _try_bind(port: int) -> tuple[bool, str | None]:
    exc = bind_error(port, "0.0.0.0")
    if exc is None:
        return True, None
    if exc.errno == errno.EACCES:
        return True, f"binding port {port} needs root here (it is below 1024)"
    return False, exc.strerror or str(exc)
