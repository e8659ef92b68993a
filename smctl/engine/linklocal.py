"""ECS's credentials address (169.254.170.2) on this host, so containers on any network reach smctl there.

The engine gives the address to the host as the gateway of a bridge network of smctl's that no container joins:
a container's packets for it leave through its own network's gateway and arrive at the host, which owns it. One
network serves every run of every smctl on this engine (two cannot hold one gateway); the last run removes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from smctl.contract.credentials import ECS_HOST, HOST_SUBNET
from smctl.engine.labels import LABEL_CREDENTIALS, LABEL_KIND, LABEL_MANAGED
from smctl.errors import CredentialsEndpointError

NETWORK = "smctl-credentials"
KIND = "credentials"
# A run of an smctl that does not share the lock may be removing the network as this one wants it: try again.
ENSURE_ATTEMPTS = 6
ENSURE_PAUSE = 0.25
TCP_LISTEN = "0A"  # /proc/net/tcp's state column
LOCK_FILE = "/tmp/smctl-credentials.lock"  # noqa: S108 - a fixed name every user's smctl finds; it holds nothing


def host_has_address(address: str = ECS_HOST) -> bool:
    """Whether this host owns `address` (a socket can bind it): no engine call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return False
            raise
    return True


def ensure_host_address(client: Any) -> None:
    """Give this host ECS_HOST through smctl's network (created when missing; another smctl may create it too).

    Raises: CredentialsEndpointError: the engine does not run on this host, or the address is someone else's.
    """
    import docker.errors

    refused: Exception | None = None  # the last creation the engine refused because of a network in the way
    for attempt in range(ENSURE_ATTEMPTS):
        if host_has_address():
            return
        if attempt:
            time.sleep(ENSURE_PAUSE)
        try:
            _create_network(client)
        except docker.errors.APIError as exc:
            text = str(exc.explanation or exc)
            # 409/overlap: it exists, or a run (of an smctl that does not share our lock) is removing it.
            if not (exc.status_code in (404, 409) or "already exists" in text or "overlaps" in text):
                raise CredentialsEndpointError(
                    f"the Docker engine would not create the network {NETWORK} ({HOST_SUBNET}, gateway {ECS_HOST}) "
                    f"that gives containers their AWS credentials: {text}",
                    "run without credentials: --no-credentials (or see `smctl doctor`)") from exc
            if not _ours_exists(client):
                refused = exc
                continue
        refused = None  # ours is there: the host owns the address now, unless the engine runs elsewhere
    if host_has_address():
        return
    if refused is not None:
        raise CredentialsEndpointError(
            f"another network holds {HOST_SUBNET} on this engine, so containers cannot reach smctl's AWS "
            f"credentials at {ECS_HOST}: {getattr(refused, 'explanation', None) or refused}",
            "remove that network (docker network ls; e.g. amazon-ecs-local-container-endpoints' network), or "
            "run without credentials: --no-credentials") from refused
    release_host_address(client)  # made on an engine elsewhere (a VM, rootless): of no use, not left behind
    from smctl.engine.client import EngineKind, engine_kind

    if engine_kind(client) is EngineKind.PODMAN:
        why, fix = ("Podman does not put a network's gateway on this host until a container joins it",
                    "pass credentials yourself (--env AWS_...) and use --no-credentials, or use Docker's engine")
    else:
        why, fix = ("the Docker engine does not run on this host (or runs rootless)",
                    "run smctl on the engine's host, or pass credentials yourself and use --no-credentials")
    raise CredentialsEndpointError(
        f"{why}, so its containers cannot reach smctl's AWS credentials endpoint at {ECS_HOST}", fix)


def _create_network(client: Any) -> None:
    from docker.types import IPAMConfig, IPAMPool

    client.networks.create(
        NETWORK, driver="bridge", check_duplicate=True,
        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=HOST_SUBNET, gateway=ECS_HOST)]),
        # Not SMCTL_LABELS: they mark one process's resources for its own sweep, and this network is every
        # run's (a sweep by one would take the address from the others mid-run).
        labels={LABEL_MANAGED: "1", LABEL_KIND: KIND})


def _ours_exists(client: Any) -> bool:
    import docker.errors

    try:
        net = client.networks.get(NETWORK)
    except docker.errors.NotFound:
        return False
    return (net.attrs.get("Labels") or {}).get(LABEL_KIND) == KIND


def host_listens(address: str = ECS_HOST) -> bool:
    """Whether a process of this host listens on `address` (another run's endpoint): /proc/net/tcp, Linux only."""
    wanted = f"{struct.unpack('=I', socket.inet_aton(address))[0]:08X}"  # as the kernel prints it: native order
    try:
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.readlines()[1:]]
    except OSError:
        return False
    return any(len(row) > 3 and row[1].split(":")[0] == wanted and row[3] == TCP_LISTEN for row in rows)


@contextmanager
def host_address(client: Any) -> Iterator[Callable[[], None]]:
    """Hold ECS_HOST for this block: a shared lock on LOCK_FILE counts the agents using it (they are all on this
    host: the host owns the address); the block's end removes the network when no other agent holds the lock.

    Yields the callable that gives the address back if it went anyway (someone removed the network by hand).
    Raises: CredentialsEndpointError (from ensure_host_address).
    """
    import fcntl

    fd = _open_lock()
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits while the last agent of an earlier run removes the network
        ensure_host_address(client)
        yield lambda: ensure_host_address(client) if not host_has_address() else None
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # another agent holds it: the address stays for that run
        else:
            # An endpoint still listening belongs to a run whose smctl does not share this lock (another user's
            # /tmp, an older smctl): it keeps the address too.
            with contextlib.suppress(Exception):  # the engine went away: nothing more to tidy
                if not host_listens():
                    release_host_address(client)
        os.close(fd)


def _open_lock() -> int:
    """LOCK_FILE, shared by every user's smctl on this host (it holds nothing: only its lock counts)."""
    flags = os.O_RDONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(LOCK_FILE, flags, 0o644)
    except OSError as exc:
        raise CredentialsEndpointError(f"cannot open {LOCK_FILE}, which counts the runs using smctl's credentials "
                                       f"network: {exc}", f"remove {LOCK_FILE} or make it readable") from exc
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o644)  # another user's smctl opens it read-only (flock needs no more)
    return fd


def release_host_address(client: Any) -> bool:
    """Remove smctl's network (only when it is smctl's); True if it is gone."""
    import docker.errors

    try:
        net = client.networks.get(NETWORK)
    except docker.errors.NotFound:
        return True
    if (net.attrs.get("Labels") or {}).get(LABEL_KIND) != KIND:
        return False  # not ours: leave it
    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        net.remove()
        return True
    return False


def bridge_gateway(client: Any) -> str | None:
    """The host's address on the engine's default bridge (docker0): where any container reaches this host."""
    try:
        configs = client.networks.get("bridge").attrs.get("IPAM", {}).get("Config") or []
    except Exception:  # noqa: BLE001 - no default bridge (Podman names it otherwise): nothing to offer
        return None
    return next((c["Gateway"] for c in configs if c.get("Gateway") and ":" not in c["Gateway"]), None)


def run_addresses(client: Any, run: str) -> set[str]:
    """The IP addresses of this run's containers (by their credentials label), on every network they joined."""
    rows = client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_CREDENTIALS}={run}"})
    found: set[str] = set()
    for c in rows:
        networks = ((c.attrs.get("NetworkSettings") or {}).get("Networks") or {}).values()
        found.update(n.get("IPAddress") for n in networks if n.get("IPAddress"))
    return found


def running_count(client: Any, run: str) -> int:
    """How many of this run's containers are not yet gone (created, running, restarting, paused)."""
    rows = client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_CREDENTIALS}={run}"})
    return sum(1 for c in rows if (c.attrs.get("State") or "") not in ("exited", "dead", "removing"))
