"""Running containers for smctl's jobs: created, labelled, streamed, and always removed (Ctrl-C included).

Part of engine/, the only docker-py user.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smctl.engine.container import Container, ContainerSummary, summary
from smctl.engine.gpus import GpuRequest
from smctl.engine.interrupts import deferred_interrupts, no_interrupts
from smctl.engine.labels import LABEL_KIND, LABEL_MANAGED, LABEL_PROCESS, extra_labels, process_id
from smctl.engine.refusals import ENGINE_HINT, create_failure, host_refusal, start_failure
from smctl.errors import ContainerGoneError, DockerError, OverlayUnavailableError

BUILD_HINT = "build it first: smctl build (or pass --image with an image that `docker images` lists)"


@dataclass(frozen=True)
class Mount:
    """A bind mount of `source`; with `overlay`, a writable overlay instead: `source` stays untouched as the lower
    layer and every write lands in `overlay`/upper (the engine's `local` volume driver mounts it)."""

    source: Path
    target: str
    read_only: bool = False
    overlay: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "target": self.target, "read_only": self.read_only,
                **({"overlay": str(self.overlay)} if self.overlay else {})}

    def engine_mount(self, volume: str | None = None) -> Any:
        """A bind mount, or for an overlay the named `volume` made for it (engine/volumes.py)."""
        from docker.types import Mount as DockerMount

        if self.overlay is None:
            return DockerMount(self.target, str(self.source), type="bind", read_only=self.read_only)
        assert volume is not None, "an overlay mounts the volume created for it"
        return DockerMount(self.target, volume, type="volume")


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    name: str
    command: list[str] | None
    entrypoint: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    hostname: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    aliases: tuple[str, ...] = ()
    gpus: GpuRequest = GpuRequest()
    mem_limit: int | None = None
    nano_cpus: int | None = None
    shm_size: int | None = None
    ports: dict[str, Any] = field(default_factory=dict)
    # Join this (running) container's network namespace: its address, hostname and aliases serve this container
    # too, and outlive it. hostname/network/aliases above then describe that identity rather than set it.
    network_of: str | None = None

    def describe(self) -> dict[str, Any]:
        """What would run, for --dry-run."""
        return {
            "image": self.image,
            "name": self.name,
            "hostname": self.hostname,
            "entrypoint": self.entrypoint,
            "command": self.command,
            "environment": self.environment,
            "mounts": [m.as_dict() for m in self.mounts],
            "network": self.network,
            "aliases": list(self.aliases),
            "gpus": self.gpus.describe(),
            "memory_bytes": self.mem_limit,
            "cpus": self.nano_cpus / 1e9 if self.nano_cpus else None,
            "shm_bytes": self.shm_size,
            "labels": self.labels,
        }


def docker_client() -> Any:
    """Connect to the engine; Raises: DockerError with the fix when it is unreachable."""
    from smctl.engine.client import engine

    return engine()


def get_container(client: Any, ident: str) -> Container:
    """The container with this id or name; Raises: ContainerGoneError when there is none."""
    import docker.errors

    try:
        return Container(client.containers.get(ident))
    except docker.errors.NotFound:
        raise ContainerGoneError(f"container {ident} does not exist",
                                 "list smctl's containers: docker ps -a --filter label=smctl.managed") from None


def find_container(client: Any, ident: str) -> Container | None:
    """The container with this id or name, or None."""
    try:
        return get_container(client, ident)
    except ContainerGoneError:
        return None


def list_containers(client: Any, labels: list[str] | str | None = None, *, all_: bool = True,
                    quiet: bool = False) -> list[ContainerSummary]:
    """The engine's container list (`docker ps`), filtered by labels; one engine call.

    With `quiet`, an engine that does not answer lists nothing instead of raising.
    """
    try:
        rows = client.containers.list(all=all_, sparse=True, filters={"label": labels} if labels else None)
    except Exception:
        if quiet:
            return []
        raise
    return [summary(c.attrs) for c in rows]


def engine_info(client: Any) -> tuple[int | None, bool]:
    """(CPUs the engine has, whether it has an NVIDIA runtime)."""
    info = client.info()
    return info.get("NCPU"), "nvidia" in (info.get("Runtimes") or {})


@contextmanager
def job_network(client: Any, name: str, labels: dict[str, str]) -> Iterator[None]:
    """A user-defined bridge network for a multi-host job, removed at the end whatever happens; containers still
    carrying the job's labels then are swept first (the engine refuses to remove a network with containers on it)."""
    net = None
    try:
        with deferred_interrupts():  # created and owned by this block at once: a Ctrl-C cannot fall in between
            net = client.networks.create(name, driver="bridge",
                                         labels={**extra_labels(), LABEL_MANAGED: "1", **labels})
        yield
    finally:
        with no_interrupts():
            if net is not None:
                reap_containers(client, labels, network=net.id)
                _remove_network(net)


@contextmanager
def run_container(client: Any, spec: ContainerSpec, *, stop_grace: float = 10) -> Iterator[Container]:
    """Create and start a container; on exit stop it (SIGTERM, then SIGKILL after stop_grace) and remove it.
    A signal during creation waits until the container is owned by this block (deferred_interrupts)."""
    container = None
    try:
        with deferred_interrupts():
            container = create_container(client, spec)
        if container.overlays and _overlays_unproven(client):
            _check_overlays(client, spec, container)
        start_container(container, spec)
        yield container
    finally:
        with no_interrupts():
            if container is not None:
                remove_container(container, stop_grace=stop_grace)


def _overlays_unproven(client: Any) -> bool:
    """Docker's local volume driver mounts an overlay with its options or fails the start with mount(2)'s error,
    so a channel there is never silently empty and needs no check container (it would cost every job one more
    container start). Podman 4.3 has been seen to drop the options and mount an empty folder: checked."""
    from smctl.engine.client import EngineKind, engine_kind

    return engine_kind(client) is not EngineKind.DOCKER


def _check_overlays(client: Any, spec: ContainerSpec, container: Container) -> None:
    """Raises: OverlayUnavailableError (engine/volumes.check_overlays); the host's refusal to start any container."""
    from smctl.engine.client import engine_kind
    from smctl.engine.volumes import check_overlays

    try:
        check_overlays(client, spec.image, spec.name, container.overlays)
    except OverlayUnavailableError as exc:
        refused = host_refusal(exc.engine_message or "", spec.name, engine_kind(client))
        if refused is not None:  # no container could start here: not the overlay's fault
            raise refused from None
        raise


def create_container(client: Any, spec: ContainerSpec) -> Container:
    """Raises: ImageNotFoundError (Hint: smctl build), ContainerNameInUseError, DockerError."""
    from smctl.engine.volumes import create_overlay_volumes, remove_volumes

    overlays = [m for m in spec.mounts if m.overlay is not None]
    volumes = iter(create_overlay_volumes(client, spec.name, [(m.source, m.overlay) for m in overlays if m.overlay],
                                          spec.labels))
    made = {m.target: next(volumes) for m in overlays}
    try:
        container = _create(client, spec, [m.engine_mount(made.get(m.target)) for m in spec.mounts])
    except BaseException:
        remove_volumes(client, list(made.values()))
        raise
    container.overlays = tuple((made[m.target], m.target, m.source) for m in overlays)
    return container


def _create(client: Any, spec: ContainerSpec, mounts: list[Any]) -> Container:
    import docker.errors

    kwargs: dict[str, Any] = {
        "name": spec.name,
        "command": spec.command,
        "entrypoint": spec.entrypoint,
        "environment": spec.environment,
        "mounts": mounts,
        "hostname": spec.hostname,
        "labels": {**extra_labels(), LABEL_MANAGED: "1", LABEL_PROCESS: process_id(), **spec.labels},
        "device_requests": spec.gpus.device_requests() or None,
        "detach": True,
        "privileged": False,
    }
    if spec.network_of:
        kwargs["network_mode"] = f"container:{spec.network_of}"
        del kwargs["hostname"]  # the engine refuses a hostname with a shared network namespace: it comes with it
    elif spec.network:
        kwargs["network"] = spec.network
        kwargs["networking_config"] = {
            spec.network: client.api.create_endpoint_config(aliases=list(spec.aliases) or None)
        }
    if spec.mem_limit:
        kwargs["mem_limit"] = spec.mem_limit
        kwargs["memswap_limit"] = spec.mem_limit  # no swap: an OOM on SageMaker is an OOM here
    if spec.nano_cpus:
        kwargs["nano_cpus"] = spec.nano_cpus
    if spec.shm_size:
        kwargs["shm_size"] = spec.shm_size
    if spec.ports:
        kwargs["ports"] = spec.ports
    try:
        return Container(client.containers.create(spec.image, **kwargs))
    except docker.errors.ImageNotFound as exc:
        ensure_image(client, spec.image)  # names the image, Hint: smctl build
        raise DockerError(f"could not create container {spec.name}: {exc.explanation or exc}", ENGINE_HINT) from exc
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        err = create_failure(spec, text, exc.status_code)
        err.engine_message = text
        raise err from exc


def start_container(container: Container, spec: ContainerSpec) -> None:
    """Raises: OverlayUnavailableError, GpuUnavailableError, ContainerFailedError (nothing to exec),
    PortAllocatedError, DockerError."""
    import docker.errors

    from smctl.engine.client import engine_kind

    try:
        container.start()
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        err = start_failure(spec, text, engine_kind(container.client))
        err.engine_message = text
        raise err from exc


def remove_container(container: Container, *, stop_grace: float = 10) -> None:
    """Stop (SIGTERM + grace) and remove; removing twice, or a container already gone, is harmless."""
    container.remove(stop_grace=stop_grace)


def stop_containers(containers: list[Container], *, grace: float) -> None:
    """SIGTERM every container at once, SIGKILL those still running after `grace` seconds."""
    threads = [threading.Thread(target=c.stop, args=(grace,), daemon=True) for c in containers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=grace + 30)


def _remove_network(net: Any) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        net.remove()


def stream_logs(container: Container, on_line: Callable[[str], None]) -> threading.Thread:
    """Follow a container's output in a thread, one decoded line at a time."""

    def pump() -> None:
        buf = b""
        try:
            for chunk in container.follow_logs():
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", errors="replace"))
        except Exception:  # noqa: BLE001 - the container went away; its exit is handled by the waiter
            pass
        if buf:
            on_line(buf.decode("utf-8", errors="replace"))

    t = threading.Thread(target=pump, name=f"smctl-logs-{container.name}", daemon=True)
    t.start()
    return t


def reap(client: Any, label: str = LABEL_MANAGED, value: str | None = None) -> int:
    """Remove every container and network carrying the label; returns how many containers went."""
    flt = {"label": f"{label}={value}" if value else label}
    containers = [Container(c) for c in client.containers.list(all=True, filters=flt)]
    for c in containers:
        c.remove(stop_grace=0)
    for net in client.networks.list(filters=flt):
        _remove_network(net)
    return len(containers)


def reap_containers(client: Any, labels: dict[str, str], network: str | None = None) -> int:
    """Remove the containers this process made that carry `labels` (and are on `network`); returns how many."""
    flt: dict[str, Any] = {"label": [f"{LABEL_PROCESS}={process_id()}", *(f"{k}={v}" for k, v in labels.items())]}
    if network:
        flt["network"] = network
    with no_interrupts():
        containers = [Container(c) for c in client.containers.list(all=True, filters=flt)]
        for c in containers:
            c.remove(stop_grace=0)
    return len(containers)


def chown_tree(client: Any, image: str, path: Path, uid: int, gid: int) -> None:
    """Give `path` (recursively) to uid:gid. As root we do it here; otherwise a short container does it as root."""
    import os

    if os.geteuid() == 0:
        for dirpath, dirnames, filenames in os.walk(path):
            for name in (*dirnames, *filenames):
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                if (st.st_uid, st.st_gid) != (uid, gid):
                    os.lchown(p, uid, gid)
        return
    spec = ContainerSpec(
        image=image,
        name=f"smctl-chown-{os.getpid()}-{abs(hash(str(path))) % 10**8}",
        entrypoint=["chown", "-R", f"{uid}:{gid}", "/smctl-chown"],
        command=[],
        mounts=(Mount(path, "/smctl-chown"),),
        labels={LABEL_KIND: "chown"},
    )
    with run_container(client, spec, stop_grace=0) as container:
        container.wait(timeout=120)


def ensure_image(client: Any, image: str) -> None:
    """Raises: ImageNotFoundError naming the image, Hint: smctl build."""
    from smctl.engine.images import inspect_image

    inspect_image(client, image, hint=BUILD_HINT)
