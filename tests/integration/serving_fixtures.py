"""Fixtures for the serving tests: the serve-* images (built once per xdist worker) and endpoint clean-up."""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import TEST_LABELS, WORKER, smctl_exe

IMAGES = Path(__file__).resolve().parents[1] / "images"
FAULTS = ("crash", "never-healthy", "error500", "localhost", "slow")


def image_tag(kind: str) -> str:
    return f"smctl-test-serve-{kind}:{WORKER}"


@pytest.fixture(scope="session")
def serve_images(docker_client) -> Iterator[dict[str, str]]:
    """serve-ok and its faulty variants, labelled as this test process's; removed at the end."""
    labels = TEST_LABELS
    tags = {"ok": image_tag("ok")}
    docker_client.images.build(path=str(IMAGES / "serve-ok"), tag=tags["ok"], labels=labels, rm=True)
    for fault in FAULTS:
        tags[fault] = image_tag(fault)
        docker_client.images.build(path=str(IMAGES / f"serve-{fault}"), tag=tags[fault], labels=labels, rm=True,
                                   buildargs={"BASE": tags["ok"]})
    yield tags
    for tag in reversed(list(tags.values())):
        with contextlib.suppress(Exception):  # already gone: the other module's copy of this fixture removed it
            docker_client.images.remove(tag, force=True)


@pytest.fixture
def endpoint_name(docker_client, request) -> Iterator[object]:
    """endpoint_name("ok") -> a name unique to this worker; every endpoint named so is removed afterwards (with its
    logs printed when the test failed). Only these: the other worker's containers are left alone."""
    made: list[str] = []

    def make(suffix: str) -> str:
        name = f"t{WORKER.replace('gw', '')}-{suffix}-{len(made)}"  # WORKER: gw0-PID or main-PID
        made.append(name)
        return name

    yield make
    report = getattr(request.node, "rep_call", None)
    for name in made:
        for c in endpoint_containers(docker_client, name):
            if report is not None and report.failed:
                print(f"\n--- logs of {c.name} ---\n{c.logs(tail=100).decode(errors='replace')}")
            c.remove(force=True)


def endpoint_containers(client, name: str) -> list:
    """Every container (any state) of the endpoint `name`, found by label as smctl finds them."""
    return client.containers.list(all=True, filters={"label": ["smctl.kind=serve", f"smctl.endpoint={name}"]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Foreground:
    """`python -m smctl ARGS` as a subprocess whose merged output is read by a thread (no blocking reads)."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen([*smctl_exe(), *args], cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, needle: str, limit: float = 60) -> None:
        """Until a line holds `needle`; fails on exit or after `limit` seconds, showing the output."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if needle in line:
                return
        self.proc.kill()
        raise AssertionError(f"{needle!r} never appeared; output:\n{self.output()}")

    def finish(self, limit: float = 60) -> int:
        code = self.proc.wait(timeout=limit)
        while True:
            line = self.lines.get(timeout=5)
            if line is None:
                return code
            self.seen.append(line)

    def output(self) -> str:
        return "".join(self.seen)
