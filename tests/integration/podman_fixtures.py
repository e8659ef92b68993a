"""Podman's Docker-compatible API (rootful, started by .ci/setup-host.sh on a socket of smctl's own) as the engine.

`podman_host` yields its DOCKER_HOST; `on_podman` points this test's smctl at it (DOCKER_HOST) and reaps what the
test left there. Under CI=true a missing Podman fails the test, as a missing Docker engine does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, MINE

PODMAN_SOCK = os.environ.get("SMCTL_PODMAN_SOCK", "/tmp/smctl-podman.sock")
IMAGES = Path(__file__).resolve().parents[1] / "images"


def _unavailable(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true; .ci/setup-host.sh should have provided it")
    pytest.skip(f"{what} not available (run `make setup`)")


@pytest.fixture(scope="session")
def podman_host() -> str:
    """DOCKER_HOST for rootful Podman's API service, checked to be Podman (not a Docker engine on that path)."""
    import docker

    host = f"unix://{PODMAN_SOCK}"
    try:
        client = docker.DockerClient(base_url=host, timeout=60)
        components = [c.get("Name", "") for c in client.version().get("Components") or []]
        client.close()
    except Exception as exc:  # noqa: BLE001
        _unavailable(f"Podman's API service at {host} ({exc})")
    if not any(name.startswith("Podman") for name in components):
        pytest.fail(f"{host} answers, but it is not Podman (components: {components})")
    return host


@pytest.fixture(scope="session")
def podman_client(podman_host: str) -> Iterator[object]:
    import docker

    client = docker.DockerClient(base_url=podman_host, timeout=300)
    yield client
    _reap(client)
    client.close()


def _reap(client: object) -> None:
    """Remove this worker's labelled containers, networks and volumes on Podman."""
    import docker.errors

    for c in client.containers.list(all=True, filters=MINE):  # type: ignore[attr-defined]
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True)
    for n in client.networks.list(filters=MINE):  # type: ignore[attr-defined]
        with contextlib.suppress(docker.errors.APIError):
            n.remove()
    for v in client.volumes.list(filters=MINE):  # type: ignore[attr-defined]
        with contextlib.suppress(docker.errors.APIError):
            v.remove(force=True)


@pytest.fixture
def on_podman(podman_host: str, podman_client: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """smctl talks to Podman in this test (DOCKER_HOST); yields a docker-py client of Podman's API."""
    monkeypatch.setenv("DOCKER_HOST", podman_host)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    yield podman_client
    _reap(podman_client)


@pytest.fixture(scope="session")
def podman_probe(podman_client: object) -> str:
    """The training probe image (tests/images/train-probe), built by Podman."""
    tag = "smctl-test-train-probe:latest"
    podman_client.images.build(path=str(IMAGES / "train-probe"), tag=tag, rm=True)  # type: ignore[attr-defined]
    return tag

