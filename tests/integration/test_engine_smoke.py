"""The test bed itself: a real engine runs the base image, publishes a port, and we reach it."""

from __future__ import annotations

import time
import urllib.request

import pytest

from tests.helpers import TEST_LABELS

pytestmark = pytest.mark.docker


def test_container_from_base_image_serves_on_a_published_port(docker_reaper):
    client = docker_reaper
    container = client.containers.run(
        "python:3.11-slim",
        ["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0"],
        detach=True,
        labels=TEST_LABELS,
        ports={"8080/tcp": ("127.0.0.1", None)},
    )
    container.reload()
    host_port = int(container.ports["8080/tcp"][0]["HostPort"])
    deadline = time.monotonic() + 30
    body = b""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{host_port}/", timeout=2) as resp:
                assert resp.status == 200
                body = resp.read()
                break
        except OSError:
            time.sleep(0.2)
    assert b"Directory listing" in body


def test_reaper_finds_test_containers_by_label(docker_reaper):
    client = docker_reaper
    c = client.containers.create("python:3.11-slim", ["true"], labels=TEST_LABELS)
    found = [x.id for x in client.containers.list(all=True, filters={"label": "smctl.test"})]
    assert c.id in found
