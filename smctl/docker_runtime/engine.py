"""The connection to the Docker engine, with an error that tells a stopped engine, a denied socket and a wrong
DOCKER_HOST apart."""

from __future__ import annotations

import errno
import os
from typing import Any

from smctl.errors import DockerError

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Long enough for a quiet `RUN` step or a slow layer upload between two progress messages.
DEFAULT_TIMEOUT = 600


def engine(timeout: int = DEFAULT_TIMEOUT) -> Any:
    """A docker-py client for the engine DOCKER_HOST (or the default socket) names, checked with a ping.

    Raises: DockerError naming the endpoint, with the fix.
    """
    import docker

    host = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise engine_error(exc, host) from None
    return client


def engine_error(exc: BaseException, host: str) -> DockerError:
    """The DockerError for a failed connection to `host`, by the OS error underneath docker-py's."""
    kind = _failure_kind(exc)
    source = "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else "the default socket"
    doctor = "; `smctl doctor` checks the whole setup"
    if kind == "permission":
        return DockerError(
            f"permission denied on the Docker engine's socket {host}",
            "add your user to the docker group: `sudo usermod -aG docker $USER`, then log in again "
            f"(or `newgrp docker`){doctor}",
        )
    what = {"missing": "is not running (its socket does not exist)",
            "refused": "is not running (connection refused)"}.get(kind, f"cannot be reached ({_short(exc)})")
    hint = "start the engine: `sudo systemctl start docker` (without systemd: `sudo dockerd &`)"
    if os.environ.get("DOCKER_HOST"):
        hint += f", or fix DOCKER_HOST={host} (`unset DOCKER_HOST` uses {DEFAULT_HOST})"
    return DockerError(f"the Docker engine at {host} ({source}) {what}", hint + doctor)


def _failure_kind(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, *[a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)]):
            if isinstance(candidate, PermissionError) or getattr(candidate, "errno", None) in (errno.EACCES,
                                                                                              errno.EPERM):
                return "permission"
            if isinstance(candidate, FileNotFoundError):
                return "missing"
            if isinstance(candidate, ConnectionRefusedError):
                return "refused"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if "Permission denied" in text:
        return "permission"
    if "No such file or directory" in text:
        return "missing"
    if "Connection refused" in text:
        return "refused"
    return "other"


def _short(exc: BaseException) -> str:
    text = str(exc).replace("Error while fetching server API version: ", "")
    return text if len(text) <= 200 else text[:197] + "..."
