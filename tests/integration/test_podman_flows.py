"""The Podman leg, main flows: local-train (Pipe, two hosts, Ctrl-C), local-serve + invoke, local-transform, check,
each through the CLI with DOCKER_HOST at rootful Podman's API service."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator

import pytest

from tests.helpers import WORKER, smctl_exe
from tests.integration import podman_fixtures

pytestmark = [pytest.mark.docker, pytest.mark.podman]
podman_host = podman_fixtures.podman_host
podman_client = podman_fixtures.podman_client
on_podman = podman_fixtures.on_podman
podman_probe = podman_fixtures.podman_probe
IMAGES = podman_fixtures.IMAGES


@pytest.fixture(scope="session")
def podman_images(podman_client, tmp_path_factory) -> Iterator[dict[str, str]]:
    """serve-ok, transform-recorder and check-good built by Podman, removed at the end."""
    tags = {name: f"smctl-test-pm-{name}:{WORKER}" for name in ("serve-ok", "transform-recorder", "check-good")}
    podman_client.images.build(path=str(IMAGES / "serve-ok"), tag=tags["serve-ok"], rm=True)
    podman_client.images.build(path=str(IMAGES / "transform-recorder"), tag=tags["transform-recorder"], rm=True)
    # Podman's compatible build takes docker-py's inline Dockerfile (one outside the context) for a path: copy it in
    check = tmp_path_factory.mktemp("check-good") / "context"
    shutil.copytree(IMAGES / "check-common", check)
    shutil.copy(IMAGES / "check-good" / "Dockerfile", check / "Dockerfile")
    podman_client.images.build(path=str(check), tag=tags["check-good"], rm=True)
    yield tags
    for tag in tags.values():
        with contextlib.suppress(Exception):
            podman_client.images.remove(tag, force=True)


def _records(model: str) -> dict[str, dict]:
    with tarfile.open(model) as tar:
        return {m.name: json.load(tar.extractfile(m)) for m in tar.getmembers()  # type: ignore[arg-type]
                if m.name.startswith("probe-")}


def _job_left(client, job: str) -> list:
    return [*client.containers.list(all=True, filters={"label": f"smctl.job={job}"}),
            *client.volumes.list(filters={"label": f"smctl.job={job}"}),
            *client.networks.list(filters={"label": f"smctl.job={job}"})]


def test_two_hosts_with_a_pipe_and_a_sharded_file_channel(smctl, on_podman, podman_probe, tmp_path):
    pipe = tmp_path / "pipe"
    pipe.mkdir()
    (pipe / "a.bin").write_bytes(os.urandom(200_000))
    (pipe / "b.bin").write_bytes(b"tail")
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(4):
        (shards / f"part-{i}.csv").write_text(str(i))
    res = smctl("--json", "local-train", "--image", podman_probe, "--job-name", "pm-two",
                "--instance-count", "2", "--hp", "action=pipe", "--hp", "channel=train", "--hp", "epochs=2",
                "--channel", f"train={pipe},mode=Pipe",
                "--channel", f"extra={shards},distribution=ShardedByS3Key", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    records = _records(res.json["result"]["model_artifact"])
    want = hashlib.sha256((pipe / "a.bin").read_bytes() + b"tail").hexdigest()
    seen = []
    for host in ("algo-1", "algo-2"):
        rec = records[f"probe-{host}.json"]
        assert rec["epochs"] == [{"bytes": 200_004, "sha256": want}] * 2
        assert all(rec["peers"].values()), rec["peers"]  # each host resolves both names
        seen += [t.rsplit("/", 1)[1] for t in rec["tree"] if t.startswith("file /opt/ml/input/data/extra/")]
    assert sorted(seen) == [f"part-{i}.csv" for i in range(4)]  # two halves through two overlays
    assert not _job_left(on_podman, "pm-two")


def test_ctrl_c_stops_and_removes_the_jobs_containers_network_and_volumes(on_podman, podman_probe, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("1\n")
    proc = subprocess.Popen([*smctl_exe(), "local-train", "--image", podman_probe, "--job-name", "pm-ctrlc",
                             "--instance-count", "2", "--hp", "action=sleep", "--channel",
                             f"training={tmp_path / 'data'}"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        running = on_podman.containers.list(filters={"label": ["smctl.job=pm-ctrlc", "smctl.kind=train"]})
        if len(running) == 2:
            break
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Error: interrupted; everything smctl started was stopped and removed" in err
    assert "Traceback" not in err
    assert not _job_left(on_podman, "pm-ctrlc")


def test_serve_invoke_endpoints_doctor_and_stop(smctl, on_podman, podman_images, tmp_path):
    name = f"pm-{WORKER.replace('gw', '')}"
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w")
    try:
        res = smctl("--json", "local-serve", "--image", podman_images["serve-ok"], "--name", name, "--detach",
                    "--model", model, "--port", "0", cwd=tmp_path)
        assert res.exit_code == 0, res.stderr
        ready = res.json["result"]
        assert ready["url"] == f"http://127.0.0.1:{ready['port']}"
        res = smctl("invoke", name, "--data", "hello world")
        assert (res.exit_code, res.stdout) == (0, "HELLO WORLD"), res.stderr
        seen = json.loads(smctl("--json", "invoke", name, "--data", "__model__").json["result"]["body"])
        assert seen["files"] == ["weights.bin"]
        rows = {e["name"]: e for e in smctl("--json", "endpoints").json["result"]["endpoints"]}
        assert rows[name]["status"] == "InService"
        assert rows[name]["image"] == podman_images["serve-ok"]  # as the user named it, not docker.io/library/...
        # doctor names the endpoint holding the port, and not Podman's conmon (which holds it for the container)
        doc = smctl("--json", "doctor", "--port", str(ready["port"]), cwd=tmp_path).json
        check = next(c for c in (doc.get("result") or doc["error"]["details"])["checks"]
                     if c["id"] == f"port.{ready['port']}")
        assert len(check["details"]) == 1, check["details"]
        assert check["details"][0].startswith(f"smctl endpoint {name} (container ")
        assert f"image {podman_images['serve-ok']}) publishes 127.0.0.1:{ready['port']}->8080/tcp" in \
            check["details"][0]
    finally:
        res = smctl("local-stop", name)
    assert (res.exit_code, res.stdout) == (0, f"stopped {name}\n")
    assert not on_podman.containers.list(all=True, filters={"label": f"smctl.endpoint={name}"})


def test_local_transform(smctl, on_podman, podman_images, tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "model").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(b"a,b\nc,d\n")
    (tmp_path / "in" / "sub" / "b.csv").write_bytes(b"e,f\n")
    res = smctl("--json", "local-transform", "--image", podman_images["transform-recorder"], "--input",
                tmp_path / "in", "--output", tmp_path / "out", "--model", tmp_path / "model", "--split-type", "Line",
                "--content-type", "text/csv", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "out" / "a.csv.out").read_bytes() == b"A,B\nC,D\n"
    assert (tmp_path / "out" / "sub" / "b.csv.out").read_bytes() == b"E,F\n"
    assert not on_podman.containers.list(all=True, filters={"label": f"smctl.job={res.json['result']['job_name']}"})


def test_check_passes_a_good_image(smctl, on_podman, podman_images, tmp_path):
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "a.csv").write_text("1,2\n")
    res = smctl("--json", "check", podman_images["check-good"], "--sample", sample, "--startup-timeout", "20",
                "--stop-timeout", "5", cwd=tmp_path)
    assert res.exit_code == 0, res.stdout + res.stderr
    checks = res.json["result"]["checks"]
    assert checks and {c["status"] for c in checks} == {"ok"}, [c for c in checks if c["status"] != "ok"]
    assert not on_podman.containers.list(all=True, filters={"ancestor": podman_images["check-good"]})


