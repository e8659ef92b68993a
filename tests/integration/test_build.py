"""`smctl build` against the real engine: labels, build args, cache hits, custom CA, and every failure's message."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from smctl import __version__
from smctl.errors import ExitCode
from smctl.project.checks import sanitise_name
from tests.helpers import TEST_LABELS

pytestmark = pytest.mark.docker
FAKE_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakeCAforTests\n-----END CERTIFICATE-----\n"


@pytest.fixture
def image_tags(docker_client) -> Iterator[list[str]]:
    """Unique tags for the test's images; every one is removed afterwards, whatever happened."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        with contextlib.suppress(Exception):  # a build that failed left nothing to remove
            docker_client.images.remove(tag, force=True)


def new_tag(tags: list[str]) -> str:
    tag = f"smctl-test-build-{uuid.uuid4().hex[:10]}:1"
    tags.append(tag)
    return tag


def label_args() -> list[str]:
    return [a for k, v in TEST_LABELS.items() for a in ("--label", f"{k}={v}")]


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_build_labels_the_image_and_passes_build_args(smctl, docker_client, image_tags, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f'FROM python:3.11-slim\nARG GREETING=unset\nRUN echo "{uuid.uuid4().hex} greeting=$GREETING"\n')
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "Dockerfile")
    git(tmp_path, "commit", "-q", "-m", "first")
    head = git(tmp_path, "rev-parse", "HEAD")
    tag = new_tag(image_tags)

    res = smctl("-v", "--json", "build", "-t", tag, "--build-arg", "GREETING=hello-from-test", *label_args(),
                cwd=tmp_path)

    assert res.exit_code == 0, res.stderr
    assert " greeting=hello-from-test\n" in res.stderr  # the RUN's output, shown with -v
    doc = res.json["result"]
    assert doc["tags"] == [tag]
    assert doc["platform"] == "linux/amd64"
    assert doc["size"] > 0 and doc["steps"] >= 3
    labels = docker_client.images.get(tag).labels
    assert labels["smctl.project"] == sanitise_name(tmp_path.name)  # no smctl.toml: the folder's name
    assert labels["smctl.version"] == __version__
    assert labels["smctl.git-commit"] == head
    assert labels["smctl.test"] == "1"

    (tmp_path / "notes.txt").write_text("uncommitted\n")
    res = smctl("--json", "build", "-t", tag, *label_args(), "--build-arg", "GREETING=hello-from-test", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    assert docker_client.images.get(tag).labels["smctl.git-commit"] == f"{head}-dirty"


def test_rebuild_shows_steps_and_counts_cache_hits(smctl, docker_client, image_tags, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM python:3.11-slim\nRUN echo {uuid.uuid4().hex} > /id\n"
                                         "RUN echo second > /second\n")
    tag = new_tag(image_tags)

    first = smctl("build", "-t", tag, *label_args(), cwd=tmp_path)
    second = smctl("--json", "build", "-t", tag, *label_args(), cwd=tmp_path)

    assert first.exit_code == 0, first.stderr
    assert "Step 1/" in first.stderr and ": FROM python:3.11-slim" in first.stderr
    assert "Using cache" not in first.stderr
    assert first.stdout.startswith(f"{tag}  sha256:")
    assert second.exit_code == 0, second.stderr
    doc = second.json["result"]
    assert doc["cache_hits"] == doc["steps"] - 1  # every step but FROM comes from the cache
    assert doc["image_id"] == docker_client.images.get(tag).id


def test_ca_cert_is_seen_by_a_build_stage_but_absent_from_the_image(smctl, docker_client, image_tags, tmp_path):
    context = tmp_path / "project"
    context.mkdir()
    (context / "requirements.txt").write_text("")
    (context / "Dockerfile").write_text(
        "FROM python:3.11-slim AS deps\n"
        "COPY requirements.txt smctl-ca.crt* /tmp/build/\n"
        "RUN grep -q 'BEGIN CERTIFICATE' /tmp/build/smctl-ca.crt && echo seen > /tmp/ca-seen\n"
        "FROM python:3.11-slim\n"
        "COPY --from=deps /tmp/ca-seen /ca-seen\n"
        # the final image's whole filesystem, as its last step sees it: the marker, and no certificate anywhere
        "RUN cat /ca-seen && echo \"found:$(find / -xdev -name 'smctl-ca.crt*' | tr '\\n' ' ')\"\n")
    ca = tmp_path / "corp-ca.pem"
    ca.write_text(FAKE_PEM)
    before = sorted(p.name for p in context.iterdir())
    tag = new_tag(image_tags)

    res = smctl("-v", "build", "--no-cache", "-t", tag, "--ca-cert", ca, *label_args(), cwd=context)

    assert res.exit_code == 0, res.stderr
    assert "Using cache" not in res.stderr  # --no-cache: every RUN ran, so its output is there to check
    assert "\nseen\nfound:\n" in res.stderr  # the deps stage saw the CA; the final image holds none of it
    assert sorted(p.name for p in context.iterdir()) == before  # the user's folder is untouched


def test_failing_run_step_exits_1_with_the_step_and_its_last_lines(smctl, docker_client, image_tags, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11-slim\nRUN for i in $(seq 1 30); do echo out$i; done; exit 7\n")

    res = smctl("build", "-t", new_tag(image_tags), *label_args(), cwd=tmp_path)

    assert res.exit_code == ExitCode.ERROR == 1
    assert "Error: the build failed at step 2/" in res.stderr
    assert "returned a non-zero code: 7" in res.stderr
    assert "  | out30" in res.stderr and "  | out11" in res.stderr
    assert "  | out10\n" not in res.stderr  # only the last 20 lines
    assert res.stderr.count("for i in $(seq 1 30)") == 2  # once in the live step line, once in the error
    assert "Hint: fix that step of your Dockerfile" in res.stderr
    assert "Traceback" not in res.stderr


def test_context_argument_builds_that_folder_with_its_dockerfile(smctl, docker_client, image_tags, tmp_path):
    ctx = tmp_path / "elsewhere"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY marker.txt /marker.txt\n")
    (ctx / "marker.txt").write_text("from the context argument\n")
    tag = new_tag(image_tags)

    res = smctl("build", "elsewhere", "-t", tag, *label_args(), cwd=tmp_path)

    assert res.exit_code == 0, res.stderr
    out = docker_client.containers.run(tag, ["cat", "/marker.txt"], remove=True, labels=dict(TEST_LABELS))
    assert out == b"from the context argument\n"
    missing = smctl("build", "nowhere", "-t", tag, cwd=tmp_path)
    assert missing.exit_code == ExitCode.USAGE
    assert "nowhere" in missing.stderr


def test_missing_dockerfile_names_the_path_and_hints_init(smctl, tmp_path):
    res = smctl("build", "-t", "smctl-test-nothing:1", cwd=tmp_path)

    assert res.exit_code == ExitCode.USAGE
    assert f"Error: no Dockerfile at {tmp_path.resolve() / 'Dockerfile'}" in res.stderr
    assert "smctl init" in res.stderr and "--file" in res.stderr


def test_missing_ca_cert_from_env_names_the_file(smctl, tmp_path, monkeypatch):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    monkeypatch.setenv("SMCTL_CA_CERT", str(tmp_path / "absent.pem"))

    res = smctl("build", "-t", "smctl-test-nothing:1", cwd=tmp_path)

    assert res.exit_code == ExitCode.USAGE
    assert f"CA certificate {tmp_path / 'absent.pem'} cannot be read" in res.stderr
    assert "--ca-cert" in res.stderr


def test_engine_down_is_exit_3_with_the_fix(smctl, tmp_path, monkeypatch):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")

    res = smctl("build", "-t", "smctl-test-nothing:1", cwd=tmp_path)

    assert res.exit_code == ExitCode.DOCKER == 3
    assert f"the Docker engine at unix://{tmp_path}/no-engine.sock (DOCKER_HOST) is not running" in res.stderr
    assert "sudo systemctl start docker" in res.stderr and "smctl doctor" in res.stderr
    assert "Traceback" not in res.stderr


def test_ecr_base_image_without_credentials_is_exit_4_naming_the_image(smctl, tmp_path, no_aws_env):
    base = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-cpu-py311"
    (tmp_path / "Dockerfile").write_text(f"ARG BASE={base}\nFROM ${{BASE}}\n")

    res = smctl("build", "-t", "smctl-test-nothing:1", cwd=tmp_path)

    assert res.exit_code == ExitCode.AWS == 4
    assert f"the base image {base} is on ECR" in res.stderr
    assert "no AWS credentials" in res.stderr


def test_smctl_toml_supplies_tag_dockerfile_and_build_args(smctl, docker_client, image_tags, tmp_path):
    name = new_tag(image_tags).split(":")[0]
    image_tags.append(f"{name}:v3")
    (tmp_path / "smctl.toml").write_text(
        f'[project]\nname = "toml-project"\nimage = "{name}"\ntag = "v3"\n'
        '[build]\ndockerfile = "docker/Dockerfile.cpu"\nbuild_args = { MSG = "from-toml" }\n')
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile.cpu").write_text(
        f'FROM python:3.11-slim\nARG MSG\nRUN echo "{uuid.uuid4().hex} msg=$MSG"\n')

    from_file = smctl("-v", "--json", "build", *label_args(), cwd=tmp_path)
    flag_wins = smctl("-v", "--json", "build", "--build-arg", "MSG=from-flag", *label_args(), cwd=tmp_path)

    assert from_file.exit_code == 0, from_file.stderr
    assert from_file.json["result"]["tags"] == [f"{name}:v3"]
    assert from_file.json["result"]["dockerfile"] == str(tmp_path.resolve() / "docker" / "Dockerfile.cpu")
    assert " msg=from-toml\n" in from_file.stderr
    assert docker_client.images.get(f"{name}:v3").labels["smctl.project"] == "toml-project"
    assert flag_wins.exit_code == 0, flag_wins.stderr
    assert " msg=from-flag\n" in flag_wins.stderr


def test_registry_logins_for_a_build_stay_in_memory(docker_client, image_tags, tmp_path, monkeypatch):
    from smctl.engine.build import BuildOptions, add_registry_auths, run_build
    from smctl.engine.client import engine
    from smctl.image import build as imaging

    home = tmp_path / "home"
    (home / "docker-config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / "docker-config"))
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM python:3.11-slim\n")
    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    client = engine()
    try:
        add_registry_auths(client, {host: {"username": "AWS", "password": "pw", "serveraddress": host}})
        assert host in client.api._auth_configs.get_all_credentials()  # sent with the build as X-Registry-Config
        with imaging.context_archive(context, context / "Dockerfile") as (archive, name):
            built = run_build(client, archive, BuildOptions(tag=new_tag(image_tags), dockerfile=name,
                                                                  labels=TEST_LABELS), lambda kind, data: None)
    finally:
        client.close()
    assert built.image_id.startswith("sha256:")
    assert list(home.rglob("*")) == [home / "docker-config"]  # nothing written anywhere under HOME
