"""One container as smctl sees it: state, exit code, OOM, published address, logs, stop and remove.

Part of engine/, the only docker-py user: callers get these objects, never docker-py's.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.compat import StrEnum
from smctl.contract.serving import CONTAINER_PORT
from smctl.errors import ContainerGoneError

LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - engine wildcards, not binds
GONE_HINT = "something else removed it (docker rm, docker system prune...): run the smctl command again"


class ContainerState(StrEnum):
    """The engine's State.Status."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    EXITED = "exited"
    DEAD = "dead"
    REMOVING = "removing"

    @property
    def finished(self) -> bool:
        return self in (ContainerState.EXITED, ContainerState.DEAD)

    @property
    def active(self) -> bool:
        """Running in some form: stopping it needs a signal."""
        return self in (ContainerState.RUNNING, ContainerState.RESTARTING, ContainerState.PAUSED)


def connect_host(host_ip: str | None) -> str:
    """Where to connect for a port the engine published on `host_ip`: a wildcard means this machine's loopback."""
    return LOOPBACK.get(host_ip or "", host_ip or "127.0.0.1")


def url_host(host: str) -> str:
    """`host` as it goes in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host else host


def _state(text: str | None) -> ContainerState:
    try:
        return ContainerState(text or "")
    except ValueError:
        return ContainerState.DEAD  # a status this smctl does not know: treat it as not coming back


class Container:
    """A docker-py container behind smctl's small surface; every engine error comes out typed."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        # (volume, target, lower folder) of each overlay channel smctl made a volume for (engine/volumes.py)
        self.overlays: tuple[tuple[str, str, Path], ...] = ()

    def __repr__(self) -> str:
        return f"Container({self.name!r})"

    @property
    def id(self) -> str:
        return str(self._raw.id)

    @property
    def name(self) -> str:
        return str(self._raw.name)

    @property
    def client(self) -> Any:
        """The docker-py client this container came from."""
        return self._raw.client

    @property
    def labels(self) -> dict[str, str]:
        return dict(self._raw.labels or {})

    @property
    def _state_doc(self) -> dict[str, Any]:
        return self._raw.attrs.get("State") or {}

    def refresh(self) -> Container:
        """Read the engine's current facts; Raises: ContainerGoneError when it was removed."""
        import docker.errors

        try:
            self._raw.reload()
        except docker.errors.NotFound:
            raise ContainerGoneError(f"container {self.name} no longer exists", GONE_HINT) from None
        return self

    def state(self, *, refresh: bool = True) -> ContainerState:
        """The state now (or as last read); Raises: ContainerGoneError when it was removed."""
        if refresh:
            self.refresh()
        return _state(self._state_doc.get("Status"))

    @property
    def exit_code(self) -> int:
        """As of the last refresh; -1 when the engine does not say."""
        return int(self._state_doc.get("ExitCode", -1))

    @property
    def oom_killed(self) -> bool:
        return bool(self._state_doc.get("OOMKilled"))

    @property
    def pid(self) -> int | None:
        """The main process's pid on the engine's host (None when it does not run)."""
        return self._state_doc.get("Pid") or None

    def published_address(self, container_port: int = CONTAINER_PORT) -> tuple[str, int] | None:
        """(host, port) to connect to for `container_port`/tcp (IPv4 preferred), None if not published; refreshes."""
        self.refresh()
        ports = (self._raw.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        bindings = ports.get(f"{container_port}/tcp") or []
        for b in sorted(bindings, key=lambda b: ":" in (b.get("HostIp") or "")):
            if b.get("HostPort"):
                return connect_host(b.get("HostIp")), int(b["HostPort"])
        return None

    def logs(self, tail: int | None = None) -> bytes:
        """stdout and stderr so far (the last `tail` lines); Raises: ContainerGoneError."""
        import docker.errors

        try:
            return bytes(self._raw.logs(stdout=True, stderr=True, tail="all" if tail is None else tail))
        except docker.errors.NotFound:
            raise ContainerGoneError(f"container {self.name} no longer exists", GONE_HINT) from None

    def follow_logs(self, tail: int | None = None) -> Iterator[bytes]:
        """stdout and stderr as they come, until the container stops."""
        yield from self._raw.logs(stream=True, follow=True, stdout=True, stderr=True,
                                  tail="all" if tail is None else tail)

    def log_tail(self, lines: int = 20) -> list[str]:
        """The last log lines (empty when the container is already gone)."""
        try:
            raw = self._raw.logs(tail=lines, stdout=True, stderr=True)
        except Exception:  # noqa: BLE001 - already removed: no logs to show
            return []
        return bytes(raw).decode("utf-8", errors="replace").splitlines()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once it stops, or None if it still runs after `timeout` seconds (or the wait broke)."""
        import requests

        try:
            result = self._raw.wait() if timeout is None else self._raw.wait(timeout=timeout)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None
        return int(result["StatusCode"])

    def start(self) -> None:
        self._raw.start()

    def stop(self, grace: float) -> None:
        """SIGTERM, SIGKILL after `grace` seconds; one already stopped or gone is fine."""
        import docker.errors

        with contextlib.suppress(docker.errors.APIError):
            self._raw.stop(timeout=max(0, int(grace)))

    def kill(self, signal: str = "SIGKILL") -> None:
        self._raw.kill(signal=signal)

    def remove(self, *, stop_grace: float = 10) -> None:
        """Stop (SIGTERM + grace) and remove, with the volumes smctl made for it; removing twice, or a container
        already gone, is harmless."""
        import docker.errors

        from smctl.engine.volumes import container_volumes, remove_volumes

        volumes = [v for v, _, _ in self.overlays]
        try:
            self._raw.reload()
            volumes = sorted({*volumes, *container_volumes(self._raw.client, self._raw.attrs)})
            if _state(self._state_doc.get("Status")).active:
                self._raw.stop(timeout=max(0, int(stop_grace)))
        except docker.errors.NotFound:
            remove_volumes(self._raw.client, volumes)
            return
        except docker.errors.APIError:
            pass
        with contextlib.suppress(docker.errors.NotFound):
            self._raw.remove(force=True, v=True)
        remove_volumes(self._raw.client, volumes)

    def memory_in_use(self) -> int | None:
        """Bytes its processes hold (anonymous memory; page cache, which the kernel reclaims, left out); None when
        the engine does not say (stopped, or no memory accounting)."""
        try:
            doc = self._raw.stats(stream=False, one_shot=True)
        except Exception:  # noqa: BLE001 - gone, or an engine without stats: memory unknown
            return None
        mem = (doc or {}).get("memory_stats") or {}
        stats = mem.get("stats") or {}
        for key in ("anon", "total_rss", "rss"):  # cgroup v2, then v1 (with and without hierarchy)
            if key in stats:
                return int(stats[key])
        if "usage" not in mem:
            return None
        return max(0, int(mem["usage"]) - int(stats.get("inactive_file", stats.get("total_inactive_file", 0))))

    def proc_net_tcp(self) -> str | None:
        """/proc/net/tcp and tcp6 as the container sees them (`cat` inside it); None when unreadable."""
        try:
            res = self._raw.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
        except Exception:  # noqa: BLE001 - no cat in the image, or it just exited: nothing to read
            return None
        if res.exit_code not in (0, 1) or not res.output:
            return None
        return bytes(res.output).decode("ascii", errors="replace")

    def get_archive(self, path: str) -> tuple[Iterator[bytes], dict[str, Any]] | None:
        """(tar stream, stat) of `path` in the container's filesystem; None when nothing is there."""
        import docker.errors

        try:
            stream, stat = self._raw.get_archive(path)
        except docker.errors.NotFound:
            return None
        return stream, dict(stat)

    def export(self, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """The container's whole filesystem as a tar stream."""
        return iter(self._raw.export(chunk_size=chunk_size))


@dataclass(frozen=True)
class Published:
    """One published port of a container listing: the engine's host address and port, and the container's."""

    host_ip: str
    host_port: int
    container_port: int
    protocol: str

    @property
    def host(self) -> str:
        return connect_host(self.host_ip)

    def describe(self) -> str:
        return f"{self.host_ip or '0.0.0.0'}:{self.host_port}->{self.container_port}/{self.protocol}"  # noqa: S104


@dataclass(frozen=True)
class ContainerSummary:
    """A row of the engine's container list (`docker ps`): no per-container inspect needed."""

    id: str
    name: str
    image: str
    labels: dict[str, str]
    state: ContainerState
    exit_code: int | None  # only for an exited container
    published: tuple[Published, ...]

    def published_address(self, container_port: int = CONTAINER_PORT) -> tuple[str, int] | None:
        """(host, port) to connect to for `container_port`/tcp, IPv4 preferred; None if not published."""
        found = [p for p in self.published if p.container_port == container_port and p.protocol == "tcp"]
        for p in sorted(found, key=lambda p: ":" in p.host_ip):
            return p.host, p.host_port
        return None


def familiar_name(reference: str) -> str:
    """An image reference as the docker CLI shows it: Podman's listings spell out docker.io/library/NAME:TAG."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference[len(prefix):]
    return reference


def summary(attrs: dict[str, Any]) -> ContainerSummary:
    """A ContainerSummary from an entry of the engine's container list."""
    exited = re.match(r"Exited \((-?\d+)\)", attrs.get("Status") or "")
    published = tuple(Published(p.get("IP") or "", int(p["PublicPort"]), int(p.get("PrivatePort") or 0),
                                p.get("Type") or "tcp")
                      for p in attrs.get("Ports") or [] if p.get("PublicPort"))
    return ContainerSummary(
        id=attrs.get("Id", ""),
        name=((attrs.get("Names") or [attrs.get("Id", "?")[:12]])[0]).lstrip("/"),
        image=familiar_name(attrs.get("Image") or ""),
        labels=dict(attrs.get("Labels") or {}),
        state=_state(attrs.get("State")),
        exit_code=int(exited.group(1)) if exited else None,
        published=published,
    )
