"""Build and push without an engine: Dockerfile reading, platform advice, context archive, stream parsing."""

from __future__ import annotations

import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from smctl.engine.build import BuildProgress
from smctl.engine.push import PushProgress
from smctl.errors import BuildFailedError, PushFailedError, UsageError
from smctl.image import build as imaging

DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-cpu-py311"


def test_base_images_substitute_args_declared_before_from():
    text = (f"# syntax comment\nARG BASE={DLC}\nARG TAG=3.11\nFROM ${{BASE}} AS deps\n"
            "FROM --platform=linux/amd64 python:${TAG}-slim \\\n    AS final\nFROM deps\n")
    assert imaging.base_images(text) == [DLC, "python:3.11-slim", "deps"]
    assert imaging.base_images(text, {"TAG": "3.12"})[1] == "python:3.12-slim"


def test_final_stage_copying_the_whole_context_is_detected():
    assert imaging.final_stage_copies_context("FROM a AS deps\nCOPY . /src\nFROM b\nCOPY --from=deps /x /x\n") is False
    assert imaging.final_stage_copies_context("FROM a\nCOPY --chown=1:1 . /opt/program\n") is True
    assert imaging.final_stage_copies_context("FROM a\nCOPY requirements.txt smctl-ca.crt* /tmp/\n") is False


@pytest.mark.parametrize("platform,machine,expected", [
    ("linux/amd64", "x86_64", None),
    ("linux/amd64", "aarch64", "emulation"),
    ("linux/amd64", "arm64", "emulation"),
    ("linux/arm64", "x86_64", "SageMaker runs linux/amd64 images only"),
])
def test_platform_warnings(platform, machine, expected):
    warnings = imaging.platform_warnings(platform, machine)
    assert (warnings == []) if expected is None else (expected in warnings[0])


def test_context_archive_honours_dockerignore_adds_the_ca_and_leaves_the_folder_alone(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / ".dockerignore").write_text("# comment\ndata/\n*.tar.gz\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.csv").write_text("1,2\n")
    (tmp_path / "model.tar.gz").write_bytes(b"x")
    (tmp_path / "train.py").write_text("print(1)\n")
    before = sorted(p.name for p in tmp_path.iterdir())

    with imaging.context_archive(tmp_path, tmp_path / "Dockerfile", "PEM\n") as (archive, name), \
            tarfile.open(fileobj=archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        ca = tar.extractfile("smctl-ca.crt").read()  # type: ignore[union-attr]

    assert name == "Dockerfile"
    assert set(members) == {"Dockerfile", ".dockerignore", "train.py", "smctl-ca.crt"}
    assert ca == b"PEM\n" and members["smctl-ca.crt"].mtime == 0  # fixed metadata: the COPY stays cached
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_dockerfile_outside_the_context_travels_inside_the_archive(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "app.py").write_text("")
    dockerfile = tmp_path / "docker" / "Dockerfile.gpu"
    dockerfile.parent.mkdir()
    dockerfile.write_text("FROM python:3.11-slim\n")

    with imaging.context_archive(context, dockerfile) as (archive, name), tarfile.open(fileobj=archive) as tar:
        names = set(tar.getnames())
        ignore = tar.extractfile(".dockerignore").read().decode()  # type: ignore[union-attr]

    assert name.startswith(".dockerfile.") and name in names and "app.py" in names
    assert name in ignore.splitlines()  # hidden from `COPY . .`, as docker-py does


def test_check_request_names_the_bad_input(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    good = imaging.BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tags=("m:v1",), project="p")
    imaging.check_request(good)
    with pytest.raises(UsageError, match="'Bad:Tag' is not a valid image tag"):
        imaging.check_request(replace(good, tags=("Bad:Tag",)))
    with pytest.raises(UsageError, match=f"the build context {tmp_path / 'nope'} is not a folder"):
        imaging.check_request(replace(good, context=tmp_path / "nope"))
    (tmp_path / "ca.der").write_bytes(b"0\x82\x01")
    with pytest.raises(UsageError, match="is not PEM") as info:
        imaging.check_request(replace(good, ca_cert=tmp_path / "ca.der"))
    assert "openssl x509 -inform der" in (info.value.hint or "")


def test_build_progress_counts_steps_and_cache_hits_across_split_chunks():
    events: list[tuple[str, dict]] = []
    progress = BuildProgress(lambda kind, data: events.append((kind, data)))
    for chunk in [{"stream": "Step 1/3 : FROM python:3.11-slim\n"}, {"stream": " ---> 3471e1e034d2\n"},
                  {"stream": "Step 2/3 : RUN echo hi\n"}, {"stream": " ---> Using cache\n"},
                  {"stream": "Step 3/3 : RUN pip install x\n"}, {"stream": " ---> Running in abc\n"},
                  {"stream": "Collecting "}, {"stream": "x\n\x1b[91mwarning on stderr\n\x1b[0m"},
                  {"aux": {"ID": "sha256:" + "d" * 64}}, {"stream": "Successfully built dddddddddddd\n"}]:
        progress.feed(chunk)
    built = progress.result()
    assert (built.image_id, built.steps, built.cache_hits) == ("sha256:" + "d" * 64, 3, 1)
    assert [d["line"] for k, d in events if k == "output"] == ["Collecting x", "warning on stderr"]
    assert [d["number"] for k, d in events if k == "step"] == [1, 2, 3]


def test_build_error_chunk_raises_with_step_and_tail():
    progress = BuildProgress(lambda kind, data: None, tail=3)
    progress.feed({"stream": "Step 2/4 : RUN make\n"})
    for i in range(5):
        progress.feed({"stream": f"line {i}\n"})
    with pytest.raises(BuildFailedError) as info:
        progress.feed({"errorDetail": {"code": 2, "message": "The command '/bin/sh -c make' returned a non-zero "
                                       "code: 2"}, "error": "The command ..."})
    err = info.value
    assert err.message.startswith("the build failed at step 2/4 (RUN make): the command returned a non-zero code: 2")
    assert err.message.endswith("  | line 2\n  | line 3\n  | line 4")
    assert err.details["exit_code"] == 2 and err.details["output_tail"] == ["line 2", "line 3", "line 4"]
    assert "fix that step of your Dockerfile" in (err.hint or "")


def test_failed_run_step_shows_its_command_once():
    command = "pip install --no-cache-dir numpy==1.26.4 pandas==2.2.2 && python -c 'import numpy, pandas'"
    progress = BuildProgress(lambda kind, data: None)
    progress.feed({"stream": f"Step 3/5 : RUN {command}\n"})
    with pytest.raises(BuildFailedError) as info:
        progress.feed({"errorDetail": {"code": 1, "message": f"The command '/bin/sh -c {command}' returned a "
                                       "non-zero code: 1"}, "error": "The command ..."})
    shown = info.value.message + "\n" + (info.value.hint or "")
    assert shown.count("pip install --no-cache-dir") == 1, shown
    assert "non-zero code: 1" in info.value.message


@pytest.mark.parametrize("error,reason", [
    ("unauthorized: authentication required", "auth"),
    ("denied: Your authorization token has expired. Reauthenticate and try again.", "auth"),
    ("no basic auth credentials", "auth"),
    ('Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', "unreachable"),
    ("tag invalid: The image tag 'v1' already exists in the 'm' repository and cannot be overwritten because "
     "the repository is immutable.", "other"),
    ("blob upload unknown", "other"),
])
def test_push_errors_are_classified_for_the_retry(error, reason):
    progress = PushProgress("h/m:v1", "h", lambda kind, data: None)
    with pytest.raises(PushFailedError) as info:
        progress.feed({"errorDetail": {"message": error}, "error": error})
    assert info.value.reason == reason
    assert "h" in info.value.message


def test_push_progress_reads_digest_and_layer_states():
    progress = PushProgress("h/m:v1", "h", lambda kind, data: None)
    digest = "sha256:" + "e" * 64
    for chunk in [{"status": "The push refers to repository [h/m]"}, {"status": "Preparing", "id": "a1"},
                  {"status": "Preparing", "id": "b2"}, {"status": "Pushing", "id": "a1", "progressDetail": {}},
                  {"status": "Pushed", "id": "a1"}, {"status": "Layer already exists", "id": "b2"},
                  {"status": f"v1: digest: {digest} size: 741"}, {"aux": {"Tag": "v1", "Digest": digest, "Size": 741}}]:
        progress.feed(chunk)
    pushed = progress.result()
    assert (pushed.digest, pushed.size, pushed.layers_pushed, pushed.layers_existing) == (digest, 741, 1, 1)


def test_save_login_writes_atomically_and_keeps_other_entries(tmp_path: Path):
    from smctl.engine.login import save_login

    config = tmp_path / "config.json"
    config.write_text('{"auths": {"other.example": {"auth": "eA=="}}, "proxies": {}}')
    assert save_login("h:5000", "AWS", "pw", config) == config
    text = config.read_text()
    assert '"other.example"' in text and '"h:5000"' in text and '"proxies"' in text
    assert config.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left
    helper = tmp_path / "helper.json"
    helper.write_text('{"credsStore": "desktop"}')
    assert save_login("h:5000", "AWS", "pw", helper) is None
    assert helper.read_text() == '{"credsStore": "desktop"}'


def test_ecr_base_without_aws_credentials_uses_an_existing_docker_login(no_aws_env, tmp_path, monkeypatch):
    host = DLC.split("/")[0]
    (tmp_path / "config.json").write_text(f'{{"credHelpers": {{"{host}": "ecr-login"}}}}')
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    events: list[tuple[str, dict]] = []

    auths = imaging.ecr_base_logins(f"FROM {DLC}\n", {}, None, lambda kind, data: events.append((kind, data)))

    assert auths == {}
    assert events[0] == ("login", {"registry": host, "image": DLC})
    assert events[1][0] == "warning" and "using the login in your docker config" in events[1][1]["message"]
