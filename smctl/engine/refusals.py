"""The engine's refusals to create or start a container, told apart by the engine's text (here only) and turned
into smctl's typed errors.

Part of engine/, the only docker-py user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smctl.engine.client import EngineKind
from smctl.errors import (
    ContainerFailedError,
    ContainerNameInUseError,
    DockerError,
    GpuUnavailableError,
    OverlayUnavailableError,
    PortAllocatedError,
    SmctlError,
)

if TYPE_CHECKING:
    from smctl.engine.containers import ContainerSpec

ENGINE_HINT = "check the Docker engine with `smctl doctor`; rerun with -v for the details"


def create_failure(spec: ContainerSpec, text: str, status: int | None) -> SmctlError:
    """The typed error for the engine's refusal to create `spec` (HTTP `status`, message `text`)."""
    if status == 409:
        kind = ContainerNameInUseError if "already in use" in text else DockerError
        return kind(f"could not create container {spec.name}: {text}",
                    f"remove the old one (docker rm -f {spec.name}) or pick another name")
    return DockerError(f"could not create container {spec.name}: {text}", ENGINE_HINT)


RLIMIT_FIX = {
    EngineKind.PODMAN: 'set `default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]` under [containers] in '
                       "/etc/containers/containers.conf (rootless: ~/.config/containers/containers.conf), then "
                       "restart Podman's API service",
    EngineKind.DOCKER: 'set "default-ulimits" (nofile and nproc, at or below the host\'s limits) in '
                       "/etc/docker/daemon.json, then restart Docker",
}


ROOTLESS_NETNS_FIX = ("rootless Podman's networks need its rootless network namespace to work for your user "
                      "(slirp4netns, /dev/net/tun open to users, `/` a shared mount); or use rootful Podman's "
                      "service: `sudo systemctl start podman.socket`, DOCKER_HOST=unix:///run/podman/podman.sock")


def host_refusal(text: str, name: str, kind: EngineKind) -> SmctlError | None:
    """The error for a container that no image could start on this host (runc refused its rlimits, rootless
    Podman cannot network it), or None."""
    if "error setting rlimit" in text:
        return DockerError(f"{kind.the_engine} cannot start container {name}: the host refuses the resource limits "
                           f"runc sets (no CAP_SYS_RESOURCE here): {text}", RLIMIT_FIX[kind])
    if "rootless netns" in text:
        return DockerError(f"{kind.the_engine} cannot start container {name}: its network needs the rootless "
                           f"network namespace, which fails here: {text}", ROOTLESS_NETNS_FIX)
    return None


def start_failure(spec: ContainerSpec, text: str, kind: EngineKind = EngineKind.DOCKER) -> SmctlError:
    """The typed error for the engine's refusal to start `spec`, told apart by the engine's text (here only)."""
    refused = host_refusal(text, spec.name, kind)
    if refused is not None:
        return refused
    if "error while mounting volume" in text and any(m.overlay for m in spec.mounts):
        return OverlayUnavailableError(f"{kind.the_engine} could not mount an overlay for {spec.name}: {text}",
                                       "use read-only channels: --read-only-channels")
    if "could not select device driver" in text or "nvidia" in text.lower():
        return GpuUnavailableError(
            f"the Docker engine cannot give GPUs ({spec.gpus.describe()}) to {spec.name}: {text}",
            "install the NVIDIA Container Toolkit and restart Docker, or run without GPUs: --gpus none",
        )
    if "executable file not found" in text or "no such file or directory" in text:
        what = (spec.entrypoint or spec.command or ["?"])[0]
        return ContainerFailedError(
            f"image {spec.image} cannot run {what!r}: {text}",
            f"SageMaker runs `docker run IMAGE {' '.join(spec.command or [])}`: put an executable `{what}` on PATH "
            "(with a #! line, LF line endings and the run bit: chmod +x), or use an exec-form ENTRYPOINT that "
            "takes it",
        )
    if "address already in use" in text or "already allocated" in text:
        return PortAllocatedError(f"could not start container {spec.name}: {text}",
                                  "stop what holds the port (docker ps; ss -ltnp), or choose another one: --port")
    return DockerError(f"could not start container {spec.name}: {text}", ENGINE_HINT)
