"""Host ports: is one free, and if not, who holds it (the processes listening on it, the containers publishing it)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.errors import PortInUseError, UsageError

MAX_PORT = 65535
LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp
PROC = Path("/proc")


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


@dataclass(frozen=True)
class ProcessHolder:
    pid: int | None
    name: str | None
    cmdline: str | None
    address: str
    user_visible: bool = True  # False: the socket belongs to another user and we could not see its process


@dataclass(frozen=True)
class ContainerHolder:
    name: str
    id: str  # short id
    image: str
    binding: str  # e.g. 0.0.0.0:8080->8080/tcp
    endpoint: str | None = None  # the smctl endpoint, when the container is one


def check_port(port: int, flag: str = "--port") -> None:
    """Raises: UsageError when `port` is not 0-65535."""
    if not 0 <= port <= MAX_PORT:
        raise UsageError(f"{flag} {port} is out of range 0-{MAX_PORT}",
                         f"use {flag} 1-{MAX_PORT}, or {flag} 0 to pick a free one")


def check_host(host: str, flag: str = "--host") -> str:
    """The address to bind or publish on (localhost as 127.0.0.1).

    Raises: UsageError for anything but an IP address or localhost (the engine would publish it everywhere).
    """
    from smctl.contract.serving import HOST_EXPECTED, HOST_HINT, parse_host

    parsed = parse_host(host)
    if parsed is None:
        raise UsageError(f"{flag} {host!r} is not {HOST_EXPECTED}", HOST_HINT.replace("--host", flag))
    return parsed


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing on this machine listens on host:port (so a container can publish there)."""
    exc = bind_error(port, host)
    if exc is not None and exc.errno not in (errno.EADDRINUSE, errno.EACCES):
        raise exc
    return exc is None


def bind_error(port: int, host: str) -> OSError | None:
    """Bind host:port as a server would (a port in TIME_WAIT is free for a listener): the error, or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc
    return None


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
    found = containers_publishing(client, port)
    return PortHolder("container", found[0].name, found[0].id, found[0].endpoint) if found else None


def process_listening(port: int) -> PortHolder | None:
    """The process listening on `port`; its pid is only visible to root or its owner."""
    found = listeners(port)
    visible = [h for h in found if h.pid is not None]
    if visible:
        return PortHolder("process", visible[0].name, str(visible[0].pid))
    return PortHolder("unknown") if found else None


def containers_publishing(client: Any, port: int) -> list[ContainerHolder]:
    """Running containers that publish `port` on the host (the engine API, not guesses from processes)."""
    from smctl.engine.containers import list_containers
    from smctl.engine.labels import LABEL_ENDPOINT

    # an engine that does not answer publishes nothing we could name: quiet
    running = list_containers(client, all_=False, quiet=True)
    out: dict[str, ContainerHolder] = {}  # IPv4 and IPv6 bindings of one container name it once
    for c in running:
        for p in c.published:
            if p.host_port == port and c.id not in out:
                out[c.id] = ContainerHolder(c.name, c.id[:12], c.image, p.describe(), c.labels.get(LABEL_ENDPOINT))
    return list(out.values())


def listeners(port: int, proc: Path = PROC) -> list[ProcessHolder]:
    """Listening sockets on `port`: psutil first, then /proc/net/tcp + /proc/*/fd for what psutil cannot see."""
    found: dict[tuple[int | None, str], ProcessHolder] = {}
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                addr = f"{conn.laddr.ip}:{port}"
                found[(conn.pid, addr)] = _describe(conn.pid, addr)
    except Exception:  # noqa: BLE001 - AccessDenied on some systems: the /proc scan below still runs
        pass
    if (proc / "net" / "tcp").exists():
        seen_pids = {pid for pid, _ in found}
        for addr, inode in _proc_listen_inodes(port, proc):
            pids = _pids_holding(inode, proc)
            if not pids and not any(a == addr for _, a in found):
                found[(None, addr)] = ProcessHolder(None, None, None, addr, user_visible=False)
            for pid in pids:
                if pid not in seen_pids:
                    found[(pid, addr)] = _describe(pid, addr)
    return sorted(found.values(), key=lambda h: (h.pid or 0, h.address))


def _describe(pid: int, address: str) -> ProcessHolder:
    try:
        import psutil

        p = psutil.Process(pid)
        with p.oneshot():
            return ProcessHolder(pid, p.name(), " ".join(p.cmdline()) or None, address)
    except Exception:  # noqa: BLE001 - the process may have gone or belong to another user
        return ProcessHolder(pid, None, None, address)


def _proc_listen_inodes(port: int, proc: Path) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            out += listening_sockets((proc / "net" / table).read_text(), port)
    return out


def _pids_holding(inode: int, proc: Path) -> list[int]:
    target = f"socket:[{inode}]"
    pids: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(entry / "fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) == target:
                        pids.append(int(entry.name))
                        break
    return pids


def listen_table(text: str) -> list[tuple[str, int, int | None]]:
    """(address, port, inode) of the LISTEN sockets in /proc/net/tcp and/or tcp6 text (inode None if cut off)."""
    out: list[tuple[str, int, int | None]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[3] != LISTEN_STATE or ":" not in parts[1]:
            continue
        ip_hex, _, port_hex = parts[1].rpartition(":")
        try:
            out.append((decode_address(ip_hex), int(port_hex, 16), int(parts[9]) if len(parts) > 9 else None))
        except ValueError:
            continue
    return out


def listening_sockets(tcp_table: str, port: int) -> list[tuple[str, int]]:
    """(address:port, inode) of the LISTEN sockets on `port` in a /proc/net/tcp or tcp6 table."""
    return [(f"{addr}:{p}", inode) for addr, p, inode in listen_table(tcp_table) if p == port and inode is not None]


def decode_address(ip_hex: str, v6: bool | None = None) -> str:
    """/proc/net/tcp's hex address (each 32-bit word little-endian) as text: 0100007F -> 127.0.0.1.

    Raises: ValueError for text that is not an IPv4 (8 hex digits) or IPv6 (32) address.
    """
    raw = bytes.fromhex(ip_hex)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if v6 is None:
        v6 = len(raw) == 16
    return socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, words)


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
