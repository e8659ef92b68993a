"""Host ports: is one free, and if not, who holds it (a process, or a container publishing it)."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Any

from smctl.errors import SmctlError, UsageError

MAX_PORT = 65535


class PortInUseError(SmctlError):
    """The host port an endpoint should publish on is taken."""


@dataclass(frozen=True)
class PortHolder:
    kind: str  # "container" | "process" | "unknown"
    name: str | None = None
    ident: str | None = None  # container id or pid
    endpoint: str | None = None  # the smctl endpoint, when the container is one

    def describe(self) -> str:
        if self.kind == "container":
            what = f"smctl endpoint {self.endpoint!r} (container " if self.endpoint else "container "
            return f"{what}{self.name}, id {(self.ident or '')[:12]}" + (")" if self.endpoint else "")
        if self.kind == "process" and self.name == "docker-proxy":
            return f"a Docker container (its docker-proxy has pid {self.ident})"
        if self.kind == "process":
            return f"process {self.name or '?'} (pid {self.ident})"
        return "another program (run `ss -ltnp` as root to see which)"

    def fix(self) -> str:
        if self.kind == "container" and self.endpoint:
            return f"smctl local-stop {self.endpoint}"
        if self.kind == "container":
            return f"docker rm -f {self.name}"
        if self.kind == "process" and self.name == "docker-proxy":
            return "find it with `docker ps`, then `docker rm -f NAME`"
        if self.kind == "process":
            return f"kill {self.ident}"
        return "stop the program that listens on it"


def check_port(port: int) -> None:
    """Raises: UsageError when `port` is not 0-65535."""
    if not 0 <= port <= MAX_PORT:
        raise UsageError(f"port {port} is out of range", "use --port 1-65535, or --port 0 to pick a free one")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing on this machine listens on host:port (so a container can publish there)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free for a listener
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def find_port_holder(port: int, host: str = "127.0.0.1", client: Any = None) -> PortHolder | None:
    """Who holds host:port: a container publishing it (asked of the engine), a listening process, or None."""
    if client is not None:
        holder = container_publishing(client, port)
        if holder is not None:
            return holder
    if port_is_free(port, host):
        return None
    return process_listening(port) or PortHolder("unknown")


def container_publishing(client: Any, port: int) -> PortHolder | None:
    """The running container that publishes `port` on the host, if any."""
    from smctl.endpoints import LABEL_ENDPOINT

    for c in client.containers.list(sparse=True):
        for p in c.attrs.get("Ports") or []:
            if p.get("PublicPort") == port:
                names = c.attrs.get("Names") or [c.id[:12]]
                labels = c.attrs.get("Labels") or {}
                return PortHolder("container", names[0].lstrip("/"), c.id, labels.get(LABEL_ENDPOINT))
    return None


def process_listening(port: int) -> PortHolder | None:
    """The process listening on `port` (psutil); its pid is only visible to root or its owner."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, PermissionError):
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return PortHolder("unknown")
            try:
                name = psutil.Process(conn.pid).name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                name = None
            return PortHolder("process", name, str(conn.pid))
    return None


def ensure_port_free(port: int, host: str, client: Any, flag: str = "--port") -> None:
    """Raises: PortInUseError naming who holds the port and how to free it."""
    holder = find_port_holder(port, host, client)
    if holder is not None:
        raise port_in_use(port, host, holder, flag)


def port_in_use(port: int, host: str, holder: PortHolder, flag: str = "--port") -> PortInUseError:
    return PortInUseError(
        f"port {port} on {host} is already in use by {holder.describe()}",
        f"pick another port ({flag} 0 picks a free one), or free it: {holder.fix()}",
        details={"port": port, "holder": holder.kind, "name": holder.name, "id": holder.ident},
    )
