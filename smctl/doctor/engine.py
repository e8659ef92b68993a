"""Which Docker engine the docker CLI would talk to (DOCKER_HOST, then the current context) and what it says."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from smctl.errors import DockerError

DEFAULT_HOST = "unix:///var/run/docker.sock"
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Endpoint:
    """Where the engine is, and why there: `source` is DOCKER_HOST, a context name, or the default."""

    host: str
    source: str
    context: str | None = None
    error: str | None = None  # the context is named but cannot be used
    tls_dir: Path | None = None
    skip_tls_verify: bool = False

    @property
    def socket_path(self) -> str | None:
        return urlparse(self.host).path if self.host.startswith("unix://") else None


@dataclass(frozen=True)
class EngineFacts:
    endpoint: Endpoint
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

    @property
    def reachable(self) -> bool:
        return self.failure is None


def docker_config_dir(env: Mapping[str, str]) -> Path:
    return Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path.home() / ".docker"


def resolve_endpoint(env: Mapping[str, str] | None = None, config_dir: Path | None = None) -> Endpoint:
    """The endpoint the docker CLI would use: DOCKER_HOST, else DOCKER_CONTEXT / config.json's currentContext."""
    env = os.environ if env is None else env
    if env.get("DOCKER_HOST"):
        return Endpoint(env["DOCKER_HOST"], "DOCKER_HOST")
    cfg = config_dir or docker_config_dir(env)
    name = env.get("DOCKER_CONTEXT")
    source = "DOCKER_CONTEXT"
    if not name:
        source = f"{cfg / 'config.json'} currentContext"
        try:
            name = json.loads((cfg / "config.json").read_text()).get("currentContext")
        except FileNotFoundError:
            name = None
        except (OSError, ValueError, AttributeError) as exc:
            return Endpoint("", source, error=f"{cfg / 'config.json'} is not valid JSON ({exc})")
    if not name or name == "default":
        return Endpoint(DEFAULT_HOST, "default", context=name)
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta_file = cfg / "contexts" / "meta" / digest / "meta.json"
    try:
        meta = json.loads(meta_file.read_text())
        docker_ep = meta["Endpoints"]["docker"]
        host = docker_ep["Host"]
    except FileNotFoundError:
        return Endpoint("", source, context=name, error=f"context {name!r} does not exist (no {meta_file})")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Endpoint("", source, context=name,
                        error=f"context {name!r} has no usable endpoint in {meta_file}: {exc}")
    tls_dir = cfg / "contexts" / "tls" / digest / "docker"
    return Endpoint(host, f"context {name!r}", context=name, tls_dir=tls_dir if tls_dir.is_dir() else None,
                    skip_tls_verify=bool(docker_ep.get("SkipTLSVerify")))


def reach(endpoint: Endpoint) -> tuple[str | None, str | None]:
    """Open the engine's socket once: (failure kind, text), or (None, None) when something listens."""
    if endpoint.error:
        return "context", endpoint.error
    parsed = urlparse(endpoint.host)
    if parsed.scheme == "unix":
        path = parsed.path
        if not os.path.exists(path):
            return "no_socket", f"{path} does not exist"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: Any = path
    elif parsed.scheme in ("tcp", "http", "https"):
        sock = socket.socket(socket.AF_INET6 if ":" in (parsed.hostname or "") else socket.AF_INET)
        target = (parsed.hostname, parsed.port or 2375)
    else:
        return None, None  # ssh:// and npipe://: let docker-py try
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(target)
    except PermissionError as exc:
        return "permission", f"{target}: {exc.strerror}"
    except FileNotFoundError:
        return "no_socket", f"{target} does not exist"
    except ConnectionRefusedError:
        return "refused", f"{target}: connection refused (nothing is listening)"
    except TimeoutError:
        return "timeout", f"{target}: no answer in {CONNECT_TIMEOUT:.0f} s"
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission", f"{target}: {exc.strerror}"
        return "error", f"{target}: {exc.strerror or exc}"
    finally:
        sock.close()
    return None, None


def open_client(endpoint: Endpoint, timeout: int = 120) -> Any:
    """A docker-py client for exactly this endpoint (TLS material of a context included)."""
    import docker

    if endpoint.source == "DOCKER_HOST":
        return docker.from_env(timeout=timeout)
    tls: Any = False
    if endpoint.tls_dir is not None:
        from docker.tls import TLSConfig

        d = endpoint.tls_dir
        cert = (str(d / "cert.pem"), str(d / "key.pem")) if (d / "cert.pem").exists() else None
        ca = str(d / "ca.pem") if (d / "ca.pem").exists() else None
        tls = TLSConfig(client_cert=cert, ca_cert=ca, verify=not endpoint.skip_tls_verify and ca is not None)
    return docker.DockerClient(base_url=endpoint.host, tls=tls, timeout=timeout)


def remedy_for(failure: str, endpoint: Endpoint) -> str:
    where = f"{endpoint.host} (from {endpoint.source})"
    if failure == "context":
        return ("switch to a context that exists: `docker context ls`, then `docker context use default` "
                "(or unset DOCKER_CONTEXT)")
    if failure == "permission":
        return ("your user may not open the engine's socket: `sudo usermod -aG docker $USER`, then log out and in "
                "(or `newgrp docker`); or run smctl with sudo")
    if endpoint.source == "DOCKER_HOST":
        return f"DOCKER_HOST points to {where}: start that engine, or `unset DOCKER_HOST` to use the default socket"
    return ("start the Docker engine: `sudo systemctl start docker` (without systemd: `sudo dockerd &`; "
            "Docker Desktop: open it)")


def connect_engine() -> Any:
    """Connect to the engine the docker CLI would use.

    Raises:
        DockerError: naming the endpoint and telling a stopped engine, a socket without permission and a
        wrong context apart.
    """
    import docker.errors

    endpoint = resolve_endpoint()
    failure, text = reach(endpoint)
    if failure:
        raise DockerError(_failure_message(failure, text, endpoint), remedy_for(failure, endpoint))
    try:
        client = open_client(endpoint)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerError(f"the Docker engine at {endpoint.host} did not answer: {exc}",
                          remedy_for("error", endpoint)) from exc
    return client


def _failure_message(failure: str, text: str | None, endpoint: Endpoint) -> str:
    what = {
        "context": "the Docker context is wrong",
        "no_socket": "the Docker engine is not running (its socket is missing)",
        "refused": "the Docker engine is not running (connection refused)",
        "permission": "permission denied on the Docker engine's socket",
        "timeout": "the Docker engine does not answer",
    }.get(failure, "the Docker engine cannot be reached")
    return f"{what}: {text} [endpoint from {endpoint.source}]"


def probe_engine(env: Mapping[str, str] | None = None,
                 binfmt_dir: Path = Path("/proc/sys/fs/binfmt_misc")) -> EngineFacts:
    """Everything doctor wants to know about the engine; never raises for an engine that is down."""
    endpoint = resolve_endpoint(env)
    host_arch = platform.machine()
    emulation = probe_amd64_emulation(binfmt_dir) if host_arch in ("aarch64", "arm64") else None
    buildx = probe_buildx()
    failure, text = reach(endpoint)
    if failure:
        return EngineFacts(endpoint, failure, _failure_message(failure, text, endpoint), buildx_version=buildx,
                           host_arch=host_arch, amd64_emulation=emulation)
    try:
        client = open_client(endpoint, timeout=30)
        try:
            version = client.version()
            info = client.info()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any docker-py/requests failure means "not reachable"
        return EngineFacts(endpoint, "error", f"{endpoint.host}: {exc}", buildx_version=buildx,
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
