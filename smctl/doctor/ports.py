"""Is a TCP port free on this host, and if not, which process or container holds it."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp


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
    id: str
    image: str
    binding: str  # e.g. 0.0.0.0:8080->8080/tcp


@dataclass(frozen=True)
class PortFacts:
    port: int
    sources: tuple[str, ...]
    free: bool
    bind_error: str | None = None
    processes: tuple[ProcessHolder, ...] = ()
    containers: tuple[ContainerHolder, ...] = ()


def probe_port(port: int, sources: tuple[str, ...] = ("default",), client: Any = None,
               proc: Path = Path("/proc")) -> PortFacts:
    """Try to bind the port as a server would, then name whoever holds it (processes, then containers)."""
    free, bind_error = _try_bind(port)
    processes = () if free else tuple(listeners(port, proc))
    containers = tuple(containers_publishing(client, port)) if client is not None else ()
    return PortFacts(port, sources, free and not containers, bind_error, processes, containers)


def _try_bind(port: int) -> tuple[bool, str | None]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT does not count
        try:
            s.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno == errno.EACCES:
                return True, f"binding port {port} needs root here (it is below 1024)"
            return False, exc.strerror or str(exc)
    return True, None


def listeners(port: int, proc: Path = Path("/proc")) -> list[ProcessHolder]:
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
        for inode, addr in _proc_listen_inodes(port, proc):
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


def _proc_listen_inodes(port: int, proc: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for table, v6 in (("tcp", False), ("tcp6", True)):
        try:
            text = (proc / "net" / table).read_text()
        except OSError:
            continue
        out += [(inode, addr) for addr, inode in listening_sockets(text, port, v6)]
    return out


def listening_sockets(tcp_table: str, port: int, v6: bool = False) -> list[tuple[str, int]]:
    """(address:port, inode) of the LISTEN sockets on `port` in a /proc/net/tcp or tcp6 table."""
    out: list[tuple[str, int]] = []
    for line in tcp_table.splitlines():
        parts = line.split()
        if len(parts) < 10 or parts[3] != LISTEN_STATE or ":" not in parts[1]:
            continue
        ip_hex, _, port_hex = parts[1].partition(":")
        try:
            if int(port_hex, 16) == port:
                out.append((f"{decode_address(ip_hex, v6 or len(ip_hex) == 32)}:{port}", int(parts[9])))
        except ValueError:
            continue
    return out


def decode_address(ip_hex: str, v6: bool = False) -> str:
    """/proc/net/tcp's little-endian hex address as text: 0100007F -> 127.0.0.1."""
    raw = bytes.fromhex(ip_hex)
    if not v6:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


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


def containers_publishing(client: Any, port: int) -> list[ContainerHolder]:
    """Running containers that publish `port` on the host (the engine API, not guesses from processes)."""
    out: list[ContainerHolder] = []
    try:
        running = client.containers.list()
    except Exception:  # noqa: BLE001 - the engine check reports an unreachable engine
        return out
    for c in running:
        for container_port, bindings in (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).items():
            for b in bindings or []:
                if str(b.get("HostPort")) == str(port):
                    image = (c.attrs.get("Config") or {}).get("Image") or c.attrs.get("Image", "")
                    out.append(ContainerHolder(c.name, c.short_id, image,
                                               f"{b.get('HostIp') or '0.0.0.0'}:{port}->{container_port}"))
    # IPv4 and IPv6 bindings of one container name it once
    return list({h.id: h for h in out}.values())
