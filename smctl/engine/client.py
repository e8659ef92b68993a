"""The connection to the Docker engine the docker CLI would use (DOCKER_HOST, else the current context), with errors
that tell a stopped engine, a denied socket, a wrong DOCKER_HOST and a wrong context apart."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from smctl.compat import StrEnum
from smctl.errors import DockerError

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Long enough for a quiet `RUN` step or a slow layer upload between two progress messages.
DEFAULT_TIMEOUT = 600
CONNECT_TIMEOUT = 5.0
START = ("start the Docker engine: `sudo systemctl start docker` (without systemd: `sudo dockerd &`; "
         "Docker Desktop: open it)")
FAILURES = {
    "no_socket": "is not running (its socket is missing)",
    "refused": "is not running (connection refused)",
    "timeout": f"does not answer within {CONNECT_TIMEOUT:g} s",
}


@dataclass(frozen=True)
class EngineAddress:
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


def engine(timeout: int = DEFAULT_TIMEOUT) -> Any:
    """A docker-py client for the engine the docker CLI would use, checked with a ping.

    Raises: DockerError naming the endpoint and where it came from, with the fix.
    """
    import docker.errors

    endpoint = resolve_endpoint()
    failure, detail = reach(endpoint)
    if failure:
        raise engine_failure(failure, detail, endpoint)
    try:
        version, podman = _ping(endpoint)
    except TimeoutError:  # it accepts connections but does not answer: hung, not absent
        raise engine_failure("timeout", None, endpoint) from None
    try:
        client = open_client(endpoint, timeout, version=version)
        if version is None:
            client.ping()
        else:  # the ping's headers told the engines apart already: no /version round trip for engine_kind()
            client._smctl_engine_kind = EngineKind.PODMAN if podman else EngineKind.DOCKER
    except docker.errors.DockerException as exc:
        raise engine_error(exc, endpoint) from None
    return client


def docker_config_dir(env: Mapping[str, str]) -> Path:
    return Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else Path.home() / ".docker"


def resolve_endpoint(env: Mapping[str, str] | None = None, config_dir: Path | None = None) -> EngineAddress:
    """The endpoint the docker CLI would use: DOCKER_HOST, else DOCKER_CONTEXT / config.json's currentContext."""
    env = os.environ if env is None else env
    if env.get("DOCKER_HOST"):
        return EngineAddress(env["DOCKER_HOST"], "DOCKER_HOST")
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
            return EngineAddress("", source, error=f"{cfg / 'config.json'} is not valid JSON ({exc})")
    if not name or name == "default":
        return EngineAddress(DEFAULT_HOST, "default", context=name)
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta_file = cfg / "contexts" / "meta" / digest / "meta.json"
    try:
        meta = json.loads(meta_file.read_text())
        docker_ep = meta["Endpoints"]["docker"]
        host = docker_ep["Host"]
    except FileNotFoundError:
        return EngineAddress("", source, context=name, error=f"context {name!r} does not exist (no {meta_file})")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return EngineAddress("", source, context=name,
                        error=f"context {name!r} has no usable endpoint in {meta_file}: {exc}")
    tls_dir = cfg / "contexts" / "tls" / digest / "docker"
    return EngineAddress(host, f"context {name!r}", context=name, tls_dir=tls_dir if tls_dir.is_dir() else None,
                    skip_tls_verify=bool(docker_ep.get("SkipTLSVerify")))


def reach(endpoint: EngineAddress) -> tuple[str | None, str | None]:
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
    except TimeoutError:
        return "timeout", f"{target}: no answer in {CONNECT_TIMEOUT:g} s"
    except OSError as exc:
        return _os_failure(exc) or "error", f"{target}: {exc.strerror or exc}"
    finally:
        sock.close()
    return None, None


def pinged_api_version(endpoint: EngineAddress) -> str | None:
    """The engine's API version, from one GET /_ping on its unix socket: a client given it skips docker-py's
    GET /version (about 7 ms of engine work; seconds on Podman). None for other endpoints, or when the answer is
    not a clear 200.

    Raises: TimeoutError when the socket accepts the connection but no answer comes within CONNECT_TIMEOUT.
    """
    return _ping(endpoint)[0]


def _ping(endpoint: EngineAddress) -> tuple[str | None, bool]:
    """(pinged_api_version, whether Podman answered: its ping carries a Libpod-Api-Version header)."""
    import http.client

    found = endpoint.socket_path
    if found is None:
        return None, False
    path: str = found

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(CONNECT_TIMEOUT)
            self.sock.connect(path)

    conn = UnixConnection("localhost", timeout=CONNECT_TIMEOUT)
    try:
        conn.request("GET", "/_ping")
        resp = conn.getresponse()
        version = (resp.getheader("Api-Version") or "").strip()
        podman = bool(resp.getheader("Libpod-Api-Version"))
        ok = resp.status == 200
    except TimeoutError:
        raise
    except (OSError, http.client.HTTPException):
        return None, False
    finally:
        conn.close()
    return (version, podman) if ok and re.fullmatch(r"[0-9]+\.[0-9]+", version) else (None, False)


def open_client(endpoint: EngineAddress, timeout: int = 120, version: str | None = None) -> Any:
    """A docker-py client for exactly this endpoint (TLS material of a context included); without `version`,
    docker-py asks the engine for it."""
    import docker

    if endpoint.source == "DOCKER_HOST":
        return docker.from_env(timeout=timeout, version=version)
    tls: Any = False
    if endpoint.tls_dir is not None:
        from docker.tls import TLSConfig

        d = endpoint.tls_dir
        cert = (str(d / "cert.pem"), str(d / "key.pem")) if (d / "cert.pem").exists() else None
        ca = str(d / "ca.pem") if (d / "ca.pem").exists() else None
        tls = TLSConfig(client_cert=cert, ca_cert=ca, verify=not endpoint.skip_tls_verify and ca is not None)
    return docker.DockerClient(base_url=endpoint.host, tls=tls, timeout=timeout, version=version)


def engine_error(exc: BaseException, endpoint: EngineAddress | None = None) -> DockerError:
    """The DockerError for a failed talk with the engine, by the OS error underneath docker-py's."""
    return engine_failure(_failure_kind(exc), _short(exc), endpoint or resolve_endpoint())


def engine_failure(failure: str, detail: str | None, endpoint: EngineAddress) -> DockerError:
    return DockerError(failure_message(failure, detail, endpoint),
                       remedy_for(failure, endpoint) + "; `smctl doctor` checks the whole setup")


def failure_message(failure: str, detail: str | None, endpoint: EngineAddress) -> str:
    """What is wrong with the engine at `endpoint`, for a failure kind of reach() or engine_error()."""
    if failure == "context":
        return f"the Docker context is wrong: {detail} (from {endpoint.source})"
    where = f"{endpoint.host} ({'the default socket' if endpoint.source == 'default' else endpoint.source})"
    if failure == "permission":
        return f"permission denied on the Docker engine's socket {where}"
    return f"the Docker engine at {where} {FAILURES.get(failure) or f'cannot be reached ({detail})'}"


PODMAN_ROOTFUL_SOCKET = "/run/podman/podman.sock"
PODMAN_START = ("Podman: `systemctl --user start podman.socket` (rootless, $XDG_RUNTIME_DIR/podman/podman.sock) or "
                f"`sudo systemctl start podman.socket` (rootful, {PODMAN_ROOTFUL_SOCKET}); without systemd "
                "`podman system service --time=0 unix://SOCKET &`; then export DOCKER_HOST=unix://SOCKET")


def podman_sockets(env: Mapping[str, str] | None = None) -> list[str]:
    """Where Podman's API service usually listens: rootless ($XDG_RUNTIME_DIR/podman/podman.sock), then rootful."""
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return [f"{runtime}/podman/podman.sock", PODMAN_ROOTFUL_SOCKET]


def answering_podman_socket(env: Mapping[str, str] | None = None) -> str | None:
    """The first of Podman's usual sockets that accepts a connection, or None."""
    for path in podman_sockets(env):
        if os.path.exists(path) and reach(EngineAddress(f"unix://{path}", "podman"))[0] is None:
            return path
    return None


def remedy_for(failure: str, endpoint: EngineAddress) -> str:
    if failure in ("no_socket", "refused", "timeout"):
        found = answering_podman_socket()
        if found and endpoint.host != f"unix://{found}":
            return f"Podman's API service answers at {found}: export DOCKER_HOST=unix://{found}"
        return f"{_docker_remedy(failure, endpoint)}; {PODMAN_START}"
    return _docker_remedy(failure, endpoint)


def _docker_remedy(failure: str, endpoint: EngineAddress) -> str:
    if failure == "context":
        return ("switch to a context that exists: `docker context ls`, then `docker context use default` "
                "(or unset DOCKER_CONTEXT)")
    if failure == "permission":
        return ("add your user to the docker group: `sudo usermod -aG docker $USER`, then log out and in "
                "(or `newgrp docker`)")
    if endpoint.source == "DOCKER_HOST":
        return f"{START}, or fix DOCKER_HOST={endpoint.host} (`unset DOCKER_HOST` uses {DEFAULT_HOST})"
    if endpoint.context:
        return f"{START}, or switch to another context: `docker context use default`"
    return START


def _os_failure(exc: BaseException) -> str | None:
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM):
        return "permission"
    if isinstance(exc, FileNotFoundError):
        return "no_socket"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    return None


def _failure_kind(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, *[a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)]):
            kind = _os_failure(candidate)
            if kind:
                return kind
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if "Permission denied" in text:
        return "permission"
    if "No such file or directory" in text:
        return "no_socket"
    if "Connection refused" in text:
        return "refused"
    return "error"


def _short(exc: BaseException) -> str:
    text = str(exc).replace("Error while fetching server API version: ", "")
    return text if len(text) <= 200 else text[:197] + "..."


def server_facts(client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The engine's answers to /version and /info (`docker version`, `docker info`)."""
    return client.version(), client.info()


def data_root(client: Any) -> str:
    """Where the engine keeps images, containers and volumes (`docker info`'s DockerRootDir)."""
    return client.info()["DockerRootDir"]


def disk_usage(client: Any) -> dict[str, Any]:
    """The engine's own accounting of its disk use (`docker system df`)."""
    return client.df()


class EngineKind(StrEnum):
    """Which engine answers the Docker API: told once, from the components of its /version reply."""

    DOCKER = "docker"
    PODMAN = "podman"

    @property
    def product(self) -> str:
        return "Podman" if self is EngineKind.PODMAN else "Docker"

    @property
    def the_engine(self) -> str:
        """How messages name it: "the Docker engine", "Podman"."""
        return "Podman" if self is EngineKind.PODMAN else "the Docker engine"


def kind_from_version(version: Mapping[str, Any]) -> EngineKind:
    """Podman's compatible API lists a "Podman Engine" component (and a Libpod API version); Docker lists "Engine"."""
    names = [str(c.get("Name", "")) for c in version.get("Components") or [] if isinstance(c, Mapping)]
    if any(n.lower().startswith("podman") for n in names):
        return EngineKind.PODMAN
    return EngineKind.DOCKER


def engine_kind(client: Any) -> EngineKind:
    """The engine behind `client`, asked once per client (its /version reply) and remembered on it."""
    kind = getattr(client, "_smctl_engine_kind", None)
    if kind is None:
        try:
            kind = kind_from_version(client.version())
        except Exception:  # noqa: BLE001 - an engine that cannot say is treated as Docker's, the API's owner
            kind = EngineKind.DOCKER
        client._smctl_engine_kind = kind
    return EngineKind(kind)
