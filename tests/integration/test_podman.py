"""The Podman leg: smctl's main flows with DOCKER_HOST at rootful Podman's API service (.ci/setup-host.sh)."""

from __future__ import annotations

import contextlib
import json
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import podman_fixtures

pytestmark = [pytest.mark.docker, pytest.mark.podman]
podman_host = podman_fixtures.podman_host
podman_client = podman_fixtures.podman_client
on_podman = podman_fixtures.on_podman
podman_probe = podman_fixtures.podman_probe


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data" / "train" / "nested").mkdir(parents=True)
    (tmp_path / "data" / "train" / "a.csv").write_text("1,2\n3,4\n")
    (tmp_path / "data" / "train" / "nested" / "b.csv").write_text("5,6\n")
    return tmp_path


def _record(model: str, host: str = "algo-1") -> dict:
    with tarfile.open(model) as tar:
        member = tar.extractfile(f"probe-{host}.json")
        assert member is not None
        return json.load(member)


def test_file_channel_on_podman_shows_the_users_files_through_an_overlay(smctl, on_podman, podman_probe, project):
    res = smctl("--json", "local-train", "--image", podman_probe, "--job-name", "pm-file",
                "--channel", f"training={project / 'data' / 'train'}", "--hp", "action=record", cwd=project)
    assert res.exit_code == 0, res.stderr
    rec = _record(res.json["result"]["model_artifact"])
    assert "file /opt/ml/input/data/training/a.csv" in rec["tree"]
    assert "file /opt/ml/input/data/training/nested/b.csv" in rec["tree"]
    assert any(m[0] == "/opt/ml/input/data/training" and m[1] == "overlay" for m in rec["mounts"])
    assert not res.json["warnings"]
    # the volume made for the overlay went with its container
    assert not on_podman.volumes.list(filters={"label": "smctl.job=pm-file"})
    assert not on_podman.containers.list(all=True, filters={"label": "smctl.job=pm-file"})


def test_an_overlay_that_hides_the_users_files_is_caught_before_the_job(on_podman, podman_probe, project):
    from smctl.engine.volumes import check_overlays
    from smctl.errors import OverlayUnavailableError
    from tests.helpers import TEST_LABELS

    # what Podman 4.3 made of smctl's inline overlay: a volume with no options, i.e. an empty folder
    empty = on_podman.volumes.create(f"smctl-test-empty-{uuid.uuid4().hex[:8]}", labels=TEST_LABELS)
    with pytest.raises(OverlayUnavailableError) as err:
        check_overlays(on_podman, podman_probe, "pm-check", [(empty.name, "/opt/ml/input/data/training",
                                                              project / "data" / "train")])
    assert "Podman mounted the overlay channel(s) of pm-check without the user's files" in err.value.message
    assert err.value.hint == "use read-only channels: --read-only-channels"
    assert not on_podman.containers.list(all=True, filters={"label": "smctl.kind=check"})


def test_a_channel_that_cannot_be_checked_falls_back_to_read_only_with_a_warning(smctl, on_podman, project):
    image = f"smctl-test-no-ls-{uuid.uuid4().hex[:8]}:latest"
    (project / "img").mkdir()
    (project / "img" / "Dockerfile").write_text(
        "FROM python:3.11-slim\nRUN rm /usr/bin/ls && printf '#!/bin/sh\\nfind /opt/ml/input/data\\n' "
        "> /usr/local/bin/train && chmod +x /usr/local/bin/train\n")
    on_podman.images.build(path=str(project / "img"), tag=image, rm=True, labels={"smctl.test": "1"})
    try:
        res = smctl("local-train", "--image", image, "--job-name", "pm-nols",
                    "--channel", f"training={project / 'data' / 'train'}", cwd=project)
        assert res.exit_code == 0, res.stderr
        assert "could not be checked: image" in res.stderr and "has no `ls`" in res.stderr
        assert "File-mode channels are read-only bind mounts instead" in res.stderr
        assert "/opt/ml/input/data/training/nested/b.csv" in res.stderr  # the job saw the files all the same
    finally:
        on_podman.images.remove(image, force=True)


def test_podman_build_counts_cache_hits_and_names_a_failed_step(smctl, on_podman, tmp_path):
    tag = f"smctl-test-pm-build-{uuid.uuid4().hex[:8]}:latest"
    (tmp_path / "Dockerfile").write_text(f"FROM python:3.11-slim\nRUN echo {uuid.uuid4().hex} > /id\n"
                                         "RUN echo second > /second\n")
    try:
        first = smctl("--json", "build", "-t", tag, "--label", "smctl.test=1", cwd=tmp_path)
        second = smctl("--json", "build", "-t", tag, "--label", "smctl.test=1", cwd=tmp_path)
        assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
        assert first.json["result"]["cache_hits"] == 0
        doc = second.json["result"]
        assert doc["steps"] > 3 and doc["cache_hits"] == doc["steps"] - 1  # every step but FROM from the cache
        assert doc["image_id"] == on_podman.images.get(tag).id
        assert "build args were not consumed" not in second.stderr  # Podman's noise about --platform's args

        (tmp_path / "Dockerfile").write_text(
            "FROM python:3.11-slim\nRUN for i in $(seq 1 30); do echo out$i; done; exit 7\n")
        res = smctl("build", "-t", tag, cwd=tmp_path)
        assert res.exit_code == 1
        assert "Error: the build failed at step 2/" in res.stderr and "(RUN for i in" in res.stderr
        assert "the command returned a non-zero code: 7" in res.stderr
        assert "  | out30" in res.stderr and "  | out10\n" not in res.stderr
        assert "Hint: fix that step of your Dockerfile" in res.stderr
    finally:
        with contextlib.suppress(Exception):
            on_podman.images.remove(tag, force=True)


def _checks(res) -> dict[str, dict]:
    doc = res.json["result"] if res.json["ok"] else res.json["error"]["details"]
    return {c["id"]: c for c in doc["checks"]}


def test_doctor_names_podman_and_gives_no_docker_builder_advice(smctl, on_podman, tmp_path):
    res = smctl("--json", "doctor", cwd=tmp_path)
    checks = _checks(res)
    assert checks["docker.engine"]["title"] == "Podman engine"
    assert checks["docker.engine"]["summary"].startswith("Podman 4.")
    assert checks["docker.builder"]["status"] == "ok"
    assert checks["docker.builder"]["summary"].startswith("Podman 4.")
    assert "Docker 4." not in res.stdout and "older than 18.09" not in res.stdout


def test_with_no_engine_answering_doctor_points_at_podmans_socket(smctl, podman_host, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nothing.sock'}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    res = smctl("--json", "doctor", cwd=tmp_path)
    remedy = _checks(res)["docker.engine"]["remedy"]
    assert "systemctl --user start podman.socket" in remedy and "podman system service" in remedy
    assert "/run/podman/podman.sock" in remedy and "$XDG_RUNTIME_DIR/podman/podman.sock" in remedy

    # Podman's rootless socket answers (here: the rootful service, linked where a rootless one listens)
    (tmp_path / "run" / "podman").mkdir(parents=True)
    (tmp_path / "run" / "podman" / "podman.sock").symlink_to(podman_host.removeprefix("unix://"))
    res = smctl("--json", "doctor", cwd=tmp_path)
    found = tmp_path / "run" / "podman" / "podman.sock"
    assert _checks(res)["docker.engine"]["remedy"] == (
        f"Podman's API service answers at {found}: export DOCKER_HOST=unix://{found}")


@pytest.fixture
def podman_image(on_podman) -> object:
    import io

    uid = uuid.uuid4().hex[:10]
    tag = f"smctl-test-pm-push-{uid}:v1"
    on_podman.images.build(fileobj=io.BytesIO(f"FROM python:3.11-slim\nRUN echo {uid} > /id\n".encode()), tag=tag,
                           rm=True, labels={"smctl.test": "1"})
    yield {"image": tag, "repository": f"smctl-test/pm-push-{uid}"}
    for ref in on_podman.images.get(tag).tags:
        with contextlib.suppress(Exception):
            on_podman.images.remove(ref, force=True)


def test_push_through_podman_reaches_the_registry_and_does_not_claim_zero_layers(smctl, aws_env, registry,
                                                                                podman_image):
    import urllib.request

    res = smctl("push", "--image", podman_image["image"], "--repository", podman_image["repository"],
                "--registry", registry)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"{registry}/{podman_image['repository']}@sha256:")
    assert "0 layer(s) uploaded" not in res.stderr and "the engine does not report its layers" in res.stderr
    with urllib.request.urlopen(f"http://{registry}/v2/{podman_image['repository']}/tags/list", timeout=10) as r:
        assert json.loads(r.read())["tags"] == ["v1"]


def test_a_plain_http_registry_gets_podmans_fix(smctl, aws_env, registry, podman_image):
    plain = registry.replace("127.0.0.1", "localhost")  # the same registry, under a name registries.conf does not mark
    res = smctl("push", "--image", podman_image["image"], "--repository", podman_image["repository"],
                "--registry", plain)
    assert res.exit_code != 0
    assert f"Error: the registry {plain} speaks plain http, and Podman expects https" in res.stderr
    hint = res.stderr[res.stderr.index("Hint:"):].replace("\n", " ")
    assert f'location = "{plain}"' in hint and "insecure = true" in hint and "registries.conf" in hint
    assert "restart Podman's API service" in hint


@pytest.fixture
def podman_without_ulimits(podman_host, tmp_path, monkeypatch) -> Iterator[str]:
    """A second rootful Podman service (same storage) whose containers.conf lacks the default_ulimits these hosts
    need: every container it starts fails as on a host that drops CAP_SYS_RESOURCE."""
    import subprocess
    import time

    conf = tmp_path / "containers.conf"
    conf.write_text("[containers]\n")
    sock = tmp_path / "podman.sock"
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                            env={**os.environ, "CONTAINERS_CONF": str(conf)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.1)
        monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_host_refusing_runcs_rlimits_gets_the_containers_conf_fix(smctl, on_podman, podman_probe, project,
                                                                    podman_without_ulimits):
    res = smctl("local-train", "--image", podman_probe, "--job-name", "pm-rlimit",
                "--channel", f"training={project / 'data' / 'train'}", cwd=project)
    assert res.exit_code == 3, res.stderr
    assert "Error: Podman cannot start container smctl-pm-rlimit-algo-1: the host refuses the resource limits" \
        in res.stderr
    assert "read-only bind mounts instead" not in res.stderr  # not mistaken for an overlay the engine cannot mount
    assert 'Hint: set `default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]` under [containers] in ' \
           "/etc/containers/containers.conf" in res.stderr


def test_without_a_credentials_endpoint_on_podman_the_warning_says_why(smctl, on_podman, podman_probe, project,
                                                                       monkeypatch):
    for var, value in (("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEEXAMPLE00"), ("AWS_SECRET_ACCESS_KEY", "x"),
                       ("AWS_SESSION_TOKEN", "y"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)  # temporary credentials are served as they are: no STS call
    res = smctl("local-train", "--image", podman_probe, "--job-name", "pm-creds", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert "Warning: the containers run without AWS credentials: Podman does not put a network's gateway on this " \
           "host until a container joins it" in res.stderr


def test_podman_builds_a_dockerfile_from_outside_the_context_with_its_labels(smctl, on_podman, tmp_path):
    tag = f"smctl-test-pm-outside-{uuid.uuid4().hex[:8]}:latest"
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "f.txt").write_text("hi\n")
    (tmp_path / "Dockerfile.x").write_text("FROM python:3.11-slim\nCOPY f.txt /f.txt\n")
    before = (tmp_path / "Dockerfile.x").read_text()
    try:
        res = smctl("--json", "build", "ctx", "-f", "Dockerfile.x", "-t", tag, "--label", "smctl.test=1",
                    cwd=tmp_path)
        assert res.exit_code == 0, res.stderr
        labels = on_podman.images.get(tag).labels
        assert labels["smctl.test"] == "1" and labels["smctl.project"] == tmp_path.name.replace("_", "-")
        assert (tmp_path / "Dockerfile.x").read_text() == before  # the LABEL line went into the archive only
    finally:
        with contextlib.suppress(Exception):
            on_podman.images.remove(tag, force=True)
