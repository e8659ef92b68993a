"""Podman's answers, as Podman 4.3.1's Docker-compatible API gave them (recorded on Debian 12), read by the same
code that reads Docker's: build and push streams, /version's components, image names, overlay options."""

from __future__ import annotations

from pathlib import Path

import pytest

from smctl.engine.build import BuildProgress
from smctl.engine.client import EngineKind, kind_from_version
from smctl.engine.container import familiar_name
from smctl.engine.push import PushProgress
from smctl.engine.volumes import overlay_options
from smctl.errors import BuildFailedError

PODMAN_VERSION = {"Platform": {"Name": "linux/amd64/debian-12"}, "Version": "4.3.1", "ApiVersion": "1.41",
                  "Components": [{"Name": "Podman Engine", "Version": "4.3.1", "Details": {"APIVersion": "4.3.1"}},
                                 {"Name": "Conmon", "Version": "conmon version 2.1.6"},
                                 {"Name": "OCI Runtime (runc)", "Version": "runc version 1.1.5+ds1"}]}
DOCKER_VERSION = {"Version": "20.10.24+dfsg1", "ApiVersion": "1.41",
                  "Components": [{"Name": "Engine", "Version": "20.10.24+dfsg1"},
                                 {"Name": "containerd", "Version": "1.6.20~ds1"}]}
SHA = "da078e81ad5b32ca003a52635b0b452ae13e701b7a9056ac47b6ceb0a70857eb"
REBUILD = [
    {"stream": "STEP 1/4: FROM python:3.11-slim\n"},
    {"stream": "STEP 2/4: RUN echo hello\n"},
    {"stream": "--> Using cache 8570ec84357df13a405cf8ebb483146dfa6c8124ae2e015fbad9a017cf013f2b\n"},
    {"stream": "--> 8570ec84357\n"},
    {"stream": "STEP 3/4: RUN echo second\n"},
    {"stream": "--> Using cache " + SHA + "\n"},
    {"stream": "--> da078e81ad5\n"},
    {"stream": 'STEP 4/4: LABEL "smctl.project"="demo"\n'},
    {"stream": "--> Using cache " + SHA + "\n"},
    {"stream": "COMMIT docker.io/library/demo:1\n"},
    {"stream": "--> da078e81ad5\n"},
    {"stream": "[Warning] one or more build args were not consumed: [TARGETARCH TARGETOS TARGETPLATFORM]\n"},
    {"stream": "Successfully tagged docker.io/library/demo:1\n"},
    {"stream": SHA + "\n"},
    {"aux": {"ID": "sha256:" + SHA}},
    {"stream": "Successfully built da078e81ad5b\n"},
    {"stream": "Successfully tagged demo:1\n"},
]


def _feed(chunks: list[dict]) -> tuple[BuildProgress, list[tuple[str, dict]]]:
    events: list[tuple[str, dict]] = []
    progress = BuildProgress(lambda kind, data: events.append((kind, data)))
    for chunk in chunks:
        progress.feed(chunk)
    return progress, events


def test_engine_kind_comes_from_the_version_replys_components():
    assert kind_from_version(PODMAN_VERSION) is EngineKind.PODMAN
    assert kind_from_version(DOCKER_VERSION) is EngineKind.DOCKER
    assert kind_from_version({}) is EngineKind.DOCKER
    assert (EngineKind.PODMAN.product, EngineKind.DOCKER.the_engine) == ("Podman", "the Docker engine")


def test_a_podman_rebuild_counts_its_steps_and_cache_hits_and_shows_no_chatter():
    progress, events = _feed(REBUILD)
    built = progress.result()
    assert (built.steps, built.cache_hits, built.image_id) == (4, 3, "sha256:" + SHA)
    assert [e for e in events if e[0] == "step"][1] == ("step", {"number": 2, "total": 4,
                                                                 "instruction": "RUN echo hello"})
    assert [e for e in events if e[0] in ("output", "warning")] == []  # ids, COMMIT, TARGET* noise: none shown


def test_a_podman_warning_of_its_own_is_shown():
    _, events = _feed([{"stream": "STEP 1/1: FROM x\n"}, {"stream": "[Warning] something real\n"}])
    assert ("warning", {"message": "something real"}) in events


@pytest.mark.parametrize("error,expected,hint", [
    ('building at STEP "RUN echo out1; exit 7": while running runtime: exit status 7\n',
     "the build failed at step 2/2 (RUN echo out1; exit 7): the command returned a non-zero code: 7",
     "fix that step of your Dockerfile"),
    ('building at STEP "COPY nothere /x": checking on sources under "/var/tmp/libpod_builder1/build": copier: '
     'stat: "/nothere": no such file or directory',
     'the build failed at step 2/2 (COPY nothere /x): checking on sources under "/var/tmp/libpod_builder1/build": '
     'copier: stat: "/nothere": no such file or directory', "check the path in that COPY/ADD"),
    ('building at STEP "FOO ": Build error: Unknown instruction: "FOO" &imagebuilder.Step{Env:[]string{"A=b"}, '
     'Command:"foo", Original:"FOO bar"}',
     'the build failed at step 2/2 (FOO bar): Build error: Unknown instruction: "FOO"', "fix that line"),
])
def test_a_failed_podman_step_is_named_with_its_error(error, expected, hint):
    step = error.split('"')[1].strip()
    instruction = "FOO bar" if step == "FOO" else step
    progress, _ = _feed([{"stream": "STEP 1/2: FROM python:3.11-slim\n"}, {"stream": f"STEP 2/2: {instruction}\n"},
                         {"stream": "out1\n"}])
    with pytest.raises(BuildFailedError) as err:
        progress.feed({"errorDetail": {"message": error}, "error": error})
    assert err.value.message.splitlines()[0] == expected
    assert hint in err.value.hint


def test_podmans_push_stream_names_no_layers_and_smctl_does_not_count_zero():
    progress = PushProgress("127.0.0.1:5000/m:v1", "127.0.0.1:5000", lambda kind, data: None, EngineKind.PODMAN)
    progress.feed({"status": "The push refers to repository [127.0.0.1:5000/m:v1]"})
    progress.feed({"status": "v1: digest: sha256:" + "1" * 64 + " size: 581"})
    pushed = progress.result()
    assert (pushed.digest, pushed.size, pushed.layers_pushed, pushed.layers_existing) == \
        ("sha256:" + "1" * 64, 581, None, None)


@pytest.mark.parametrize("kind,fix", [(EngineKind.PODMAN, 'location = "localhost:5000"` `insecure = true`'),
                                      (EngineKind.DOCKER, '"insecure-registries" in /etc/docker/daemon.json')])
def test_a_plain_http_registry_gets_the_engines_own_fix(kind, fix):
    text = ('trying to reuse blob sha256:28fb at destination: pinging container registry localhost:5000: Get '
            '"https://localhost:5000/v2/": http: server gave HTTP response to HTTPS client')
    err = PushProgress("localhost:5000/m:v1", "localhost:5000", lambda kind, data: None, kind).failure(text)
    assert err.message.startswith(f"the registry localhost:5000 speaks plain http, and {kind.the_engine} expects")
    assert fix in err.hint and err.reason == "unreachable"


@pytest.mark.parametrize("listed,shown", [("docker.io/library/demo:1", "demo:1"), ("docker.io/me/demo:1", "me/demo:1"),
                                          ("localhost/demo:1", "localhost/demo:1"), ("demo:1", "demo:1"),
                                          ("127.0.0.1:5000/x/demo:1", "127.0.0.1:5000/x/demo:1")])
def test_image_names_are_shown_as_the_docker_cli_shows_them(listed, shown):
    assert familiar_name(listed) == shown


def test_overlay_options_escape_the_separators_overlayfs_uses():
    opts = overlay_options(Path("/data/a,b:c"), Path("/runs/j/overlay/training"))
    assert opts == {"type": "overlay", "device": "overlay",
                    "o": "lowerdir=/data/a\\,b\\:c,upperdir=/runs/j/overlay/training/upper,"
                         "workdir=/runs/j/overlay/training/work"}


def _podman_facts(**kw):
    from smctl.doctor.engine import EngineFacts
    from smctl.engine.client import EngineAddress

    return EngineFacts(EngineAddress("unix:///run/podman/podman.sock", "DOCKER_HOST"), server_version="4.3.1",
                       api_version="1.41", os_type="linux", arch="amd64", kind=EngineKind.PODMAN, **kw)


def test_doctor_names_podman_and_holds_it_to_no_docker_version_floor():
    from smctl.doctor.judges import judge_builder, judge_engine
    from smctl.doctor.model import Status

    engine = judge_engine(_podman_facts(storage_driver="overlay"))
    assert (engine.status, engine.title, engine.summary) == (
        Status.OK, "Podman engine", "Podman 4.3.1 (API 1.41), linux/amd64, overlay")
    builder = judge_builder(_podman_facts(buildx_version="github.com/docker/buildx v0.10"))
    assert builder.status is Status.OK and builder.summary.startswith("Podman 4.3.1 builds linux/amd64 images")
    assert "buildx" not in " ".join(builder.details)
    vfs = judge_engine(_podman_facts(storage_driver="vfs"))
    assert vfs.status is Status.WARN and "/etc/containers/storage.conf" in (vfs.remedy or "")

