"""A SIGINT/SIGTERM while the engine creates a container never leaves the container (or its volume) behind."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest

from smctl.engine.containers import ContainerSpec, Mount, job_network, run_container
from tests.helpers import TEST_LABELS

pytestmark = pytest.mark.docker


def _interrupt_when_created(client, kind: str, name: str, signum: int) -> threading.Thread:
    """Send `signum` to this process the moment the engine lists `name`: while smctl is still inside the create
    call (docker-py creates, then inspects) or just after it returned."""

    def listed() -> bool:
        # The engine's own summaries: docker-py's high-level list() inspects each match after listing it, and a
        # container another worker removes in between made that inspect fail with 404 and this watcher die.
        if kind == "container":
            return bool(client.api.containers(all=True, filters={"name": name}))
        return bool(client.api.networks(names=[name]))

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if listed():
                os.kill(os.getpid(), signum)
                return
            time.sleep(0.001)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def sigterm_raises():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are set in the main thread only")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)  # as smctl's entry point does
    # SIGINT as a fresh interpreter has it: an earlier test in this worker must not decide whether SIGINT raises
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGTERM, previous)
    signal.signal(signal.SIGINT, previous_int)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_container_creation_leaves_no_container_or_volume(docker_reaper, sigterm_raises, tmp_path,
                                                                         signum):
    client = docker_reaper
    name = f"smctl-test-create-{uuid.uuid4().hex[:10]}"
    for sub in ("lower", "ov/upper", "ov/work"):
        (tmp_path / sub).mkdir(parents=True)
    spec = ContainerSpec(image="python:3.11-slim", name=name, command=["sleep", "60"], labels=dict(TEST_LABELS),
                         mounts=(Mount(tmp_path / "lower", "/opt/ml/input/data/train", overlay=tmp_path / "ov"),))
    volumes_before = {v.name for v in client.volumes.list()}
    watcher = _interrupt_when_created(client, "container", name, signum)
    with pytest.raises(KeyboardInterrupt), run_container(client, spec, stop_grace=0):
        time.sleep(30)  # the signal lands long before this ends
    watcher.join(timeout=5)
    assert client.containers.list(all=True, filters={"name": name}) == []
    left = {v.name for v in client.volumes.list(filters={"label": "smctl.managed"})} - volumes_before
    assert not [v for v in left if client.volumes.get(v).attrs.get("Labels", {}).get("smctl.test.worker")
                == TEST_LABELS["smctl.test.worker"]]


def test_signal_during_network_creation_leaves_no_network(docker_reaper, sigterm_raises):
    client = docker_reaper
    name = f"smctl-test-net-{uuid.uuid4().hex[:10]}"
    watcher = _interrupt_when_created(client, "network", name, signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), job_network(client, name, dict(TEST_LABELS)):
        time.sleep(30)
    watcher.join(timeout=5)
    assert client.networks.list(filters={"name": name}) == []
