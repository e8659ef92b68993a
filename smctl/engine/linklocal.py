"""ECS's credentials address (169.254.170.2) on this host, so containers on any network reach smctl there.

The engine gives the address to the host as the gateway of a bridge network of smctl's that no container joins:
a container's packets for it leave through its own network's gateway and arrive at the host, which owns it. One
network serves every run of every smctl on this engine (two cannot hold one gateway); the last run removes it.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from typing import Any

from smctl.contract.credentials import ECS_HOST, HOST_SUBNET
from smctl.engine.labels import LABEL_CREDENTIALS, LABEL_KIND, LABEL_MANAGED
from smctl.errors import CredentialsEndpointError

NETWORK = "smctl-credentials"
KIND = "credentials"


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
    from docker.types import IPAMConfig, IPAMPool

    if host_has_address():
        return
    try:
        client.networks.create(
            NETWORK, driver="bridge", check_duplicate=True,
            ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=HOST_SUBNET, gateway=ECS_HOST)]),
            # Not SMCTL_LABELS: they mark one process's resources for its own sweep, and this network is every
            # run's (a sweep by one would take the address from the others mid-run).
            labels={LABEL_MANAGED: "1", LABEL_KIND: KIND})
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        if not (exc.status_code == 409 or "already exists" in text or "overlaps" in text):
            raise CredentialsEndpointError(
                f"the Docker engine would not create the network {NETWORK} ({HOST_SUBNET}, gateway {ECS_HOST}) "
                f"that gives containers their AWS credentials: {text}",
                "run without credentials: --no-credentials (or see `smctl doctor`)") from exc
        if not _ours_exists(client):
            raise CredentialsEndpointError(
                f"another network holds {HOST_SUBNET} on this engine, so containers cannot reach smctl's AWS "
                f"credentials at {ECS_HOST}: {text}",
                "remove that network (docker network ls; e.g. amazon-ecs-local-container-endpoints' network), or "
                "run without credentials: --no-credentials") from exc
    if not host_has_address():
        raise CredentialsEndpointError(
            f"the Docker engine does not run on this host (or runs rootless), so its containers cannot reach "
            f"smctl's AWS credentials endpoint at {ECS_HOST}",
            "run smctl on the engine's host, or pass credentials yourself and use --no-credentials")


def _ours_exists(client: Any) -> bool:
    import docker.errors

    try:
        net = client.networks.get(NETWORK)
    except docker.errors.NotFound:
        return False
    return (net.attrs.get("Labels") or {}).get(LABEL_KIND) == KIND


def release_host_address(client: Any, *, ignore: str | None = None) -> bool:
    """Remove smctl's network when no container of another run still wants credentials; True if it went."""
    import docker.errors

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
