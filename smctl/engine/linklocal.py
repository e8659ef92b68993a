"""ECS's credentials address (169.254.170.2) on this host, so containers on any network reach smctl there.

The engine gives the address to the host as the gateway of a bridge network of smctl's that no container joins:
a container's packets for it leave through its own network's gateway and arrive at the host, which owns it. One
network serves every run of every smctl on this engine (two cannot hold one gateway); the last run removes it.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import time
from typing import Any

from smctl.contract.credentials import ECS_HOST, HOST_SUBNET
from smctl.engine.labels import LABEL_CREDENTIALS, LABEL_KIND, LABEL_MANAGED
from smctl.errors import CredentialsEndpointError

NETWORK = "smctl-credentials"
KIND = "credentials"
# Another run may be removing the network as this one wants it (it saw no other run's container yet): try again.
ENSURE_ATTEMPTS = 6
ENSURE_PAUSE = 0.25
TCP_LISTEN = "0A"  # /proc/net/tcp's state column


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
            # 409/overlap: it exists, or a run that just ended is removing it (404: removed while we created).
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
    raise CredentialsEndpointError(
        f"the Docker engine does not run on this host (or runs rootless), so its containers cannot reach "
        f"smctl's AWS credentials endpoint at {ECS_HOST}",
        "run smctl on the engine's host, or pass credentials yourself and use --no-credentials")


def _create_network(client: Any) -> None:
    from docker.types import IPAMConfig, IPAMPool

    client.networks.create(
        NETWORK, driver="bridge", check_duplicate=True,
        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=HOST_SUBNET, gateway=ECS_HOST)]),
        # Not SMCTL_LABELS: they mark one process's resources for its own sweep, and this network is every
        # run's (a sweep by one would take the address from the others mid-run).
        labels={LABEL_MANAGED: "1", LABEL_KIND: KIND})


def host_listens(address: str = ECS_HOST) -> bool:
    """Whether a process of this host listens on `address` (another run's endpoint): /proc/net/tcp, Linux only."""
    wanted = f"{struct.unpack('=I', socket.inet_aton(address))[0]:08X}"  # as the kernel prints it: native order
    try:
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.readlines()[1:]]
    except OSError:
        return False
    return any(len(row) > 3 and row[1].split(":")[0] == wanted and row[3] == TCP_LISTEN for row in rows)


def _ours_exists(client: Any) -> bool:
    import docker.errors

    try:
        net = client.networks.get(NETWORK)
    except docker.errors.NotFound:
        return False
    return (net.attrs.get("Labels") or {}).get(LABEL_KIND) == KIND


def release_host_address(client: Any, *, ignore: str | None = None) -> bool:
    """Remove smctl's network when no other run still wants it; True if it went.

    Another run wants it while its endpoint listens on the address (from before its first container exists) or
    while one of its containers exists (a detached endpoint's agent may be gone). Call it after closing your own
    endpoint.
    """
    import docker.errors

    if host_listens():
        return False
    rows = client.containers.list(all=True, sparse=True, filters={"label": LABEL_CREDENTIALS})
    if any((c.attrs.get("Labels") or {}).get(LABEL_CREDENTIALS) != ignore for c in rows):
        return False
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
