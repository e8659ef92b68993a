"""The training probe image, shared by the local-train test files (built once per session and worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

IMAGES = Path(__file__).resolve().parents[1] / "images"
PROBE = "smctl-test-train-probe:latest"


@pytest.fixture(scope="session")
def probe_image(docker_client):
    docker_client.images.build(path=str(IMAGES / "train-probe"), tag=PROBE, labels={"smctl.test": "1"}, rm=True)
    return PROBE
