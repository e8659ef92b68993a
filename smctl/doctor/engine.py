"""What doctor wants to know about the engine the docker CLI would talk to (found by engine.client)."""

from __future__ import annotations

import platform
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from smctl.engine.client import (
    EngineAddress,
    EngineKind,
    failure_message,
    kind_from_version,
    open_client,
    reach,
    resolve_endpoint,
    server_facts,
)


@dataclass(frozen=True)
class EngineFacts:
    endpoint: EngineAddress
    failure: str | None = None  # context | no_socket | refused | permission | timeout | error
    error_text: str | None = None
    server_version: str | None = None
    api_version: str | None = None
    os_type: str | None = None
    arch: str | None = None
    storage_driver: str | None = None
    data_root: str | None = None
    runtimes: tuple[str, ...] = ()
    default_runtime: str | None = None
    cdi_spec_dirs: tuple[str, ...] = ()
    containers_running: int = 0
    buildx_version: str | None = None
    host_arch: str = field(default_factory=platform.machine)
    amd64_emulation: bool | None = None  # None: not asked (the host is amd64)
    kind: EngineKind = EngineKind.DOCKER

    @property
    def reachable(self) -> bool:
        return self.failure is None


def probe_engine(env: Mapping[str, str] | None = None,
                 binfmt_dir: Path = Path("/proc/sys/fs/binfmt_misc")) -> EngineFacts:
    """Everything doctor wants to know about the engine; never raises for an engine that is down."""
    endpoint = resolve_endpoint(env)
    host_arch = platform.machine()
    emulation = probe_amd64_emulation(binfmt_dir) if host_arch in ("aarch64", "arm64") else None
    buildx = probe_buildx()
    failure, text = reach(endpoint)
    if failure:
        return EngineFacts(endpoint, failure, failure_message(failure, text, endpoint), buildx_version=buildx,
                           host_arch=host_arch, amd64_emulation=emulation)
    try:
        client = open_client(endpoint, timeout=30)
        try:
            version, info = server_facts(client)
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any docker-py/requests failure means "not reachable"
        return EngineFacts(endpoint, "error", failure_message("error", str(exc), endpoint), buildx_version=buildx,
                           host_arch=host_arch, amd64_emulation=emulation)
    return EngineFacts(
        endpoint,
        server_version=version.get("Version"),
        api_version=version.get("ApiVersion"),
        os_type=info.get("OSType"),
        arch=info.get("Architecture"),
        storage_driver=info.get("Driver"),
        data_root=info.get("DockerRootDir"),
        runtimes=tuple(sorted(info.get("Runtimes") or {})),
        default_runtime=info.get("DefaultRuntime"),
        cdi_spec_dirs=tuple(info.get("CDISpecDirs") or ()),
        containers_running=int(info.get("ContainersRunning") or 0),
        buildx_version=buildx,
        host_arch=host_arch,
        amd64_emulation=emulation,
        kind=kind_from_version(version),
    )


def probe_buildx() -> str | None:
    """`docker buildx version` output, or None when the docker CLI or its buildx plugin is missing."""
    exe = shutil.which("docker")
    if not exe:
        return None
    try:
        proc = subprocess.run([exe, "buildx", "version"], capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def probe_amd64_emulation(binfmt_dir: Path) -> bool:
    """True when binfmt_misc has an enabled qemu-x86_64 handler (amd64 images can run on this arm64 host)."""
    for name in ("qemu-x86_64", "qemu-x86_64-static"):
        try:
            text = (binfmt_dir / name).read_text()
        except OSError:
            continue
        if text.splitlines() and text.splitlines()[0].strip() == "enabled":
            return True
    return False
