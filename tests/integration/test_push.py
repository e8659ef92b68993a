"""`smctl push`: ECR API on moto's server, image bytes to the real registry on 127.0.0.1:5000."""

from __future__ import annotations

import contextlib
import io
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from smctl.errors import ExitCode
from tests.helpers import TEST_LABELS

pytestmark = pytest.mark.docker
MANIFEST_TYPES = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def docker_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and DOCKER_CONFIG in a temp folder, so a write to ~/.docker/config.json would show."""
    home = tmp_path / "home"
    (home / "docker-config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / "docker-config"))
    return home


@pytest.fixture
def local_image(docker_client, registry) -> Iterator[dict[str, str]]:
    """A small, unique image built with the engine (not smctl), and a unique repository name; all of it removed
    afterwards: the local tags and, best effort, the manifests pushed to the registry."""
    uid = uuid.uuid4().hex[:10]
    tag = f"smctl-test-push-{uid}:v1"
    dockerfile = f"FROM python:3.11-slim\nRUN echo {uid} > /id\n".encode()
    docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, labels=TEST_LABELS, rm=True)
    info = {"image": tag, "repository": f"smctl-test/push-{uid}", "uid": uid}
    yield info
    for ref in [tag, *(t for t in _tags_of(docker_client, tag) if info["repository"] in t)]:
        with contextlib.suppress(Exception):
            docker_client.images.remove(ref, force=True)
    _delete_from_registry(registry, info["repository"])


def _tags_of(client, ref: str) -> list[str]:
    try:
        return list(client.images.get(ref).tags)
    except Exception:  # noqa: BLE001
        return []


def _delete_from_registry(registry: str, repository: str) -> None:
    """Best effort: works when the registry has storage.delete enabled (as .ci/setup-host.sh configures it)."""
    try:
        tags = _get_json(f"http://{registry}/v2/{repository}/tags/list").get("tags") or []
        for tag in tags:
            _, headers = _get_manifest(registry, repository, tag)
            req = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/"
                                         f"{headers['Docker-Content-Digest']}", method="DELETE")
            urllib.request.urlopen(req, timeout=10).close()
    except Exception:  # noqa: BLE001
        pass


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _get_manifest(registry: str, repository: str, tag: str) -> tuple[dict, dict]:
    req = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}",
                                 headers={"Accept": MANIFEST_TYPES})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read()), dict(resp.headers)


def _ecr():
    import boto3

    return boto3.client("ecr")  # aws_env points it at moto's server


def test_push_creates_the_repository_pushes_and_verifies_the_manifest(smctl, aws_env, registry, local_image,
                                                                      docker_home):
    repo = local_image["repository"]

    res = smctl("push", "--image", local_image["image"], "--repository", repo, "--registry", registry)

    assert res.exit_code == 0, res.stderr
    uri, _, digest = res.stdout.strip().partition("@")
    assert uri == f"{registry}/{repo}" and digest.startswith("sha256:")
    assert res.stdout == f"{registry}/{repo}@{digest}\n"
    assert f"ECR repository {repo}: created (scan on push)" in res.stderr
    found = _ecr().describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert found["imageScanningConfiguration"]["scanOnPush"] is True
    assert found["imageTagMutability"] == "MUTABLE"
    assert _get_json(f"http://{registry}/v2/{repo}/tags/list")["tags"] == ["v1"]
    manifest, headers = _get_manifest(registry, repo, "v1")
    assert headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert headers["Docker-Content-Digest"] == digest
    assert "manifests" not in manifest  # one image, not an index
    assert list((docker_home / "docker-config").iterdir()) == []  # the login stayed in memory
    assert not (docker_home / ".docker").exists()


def test_second_push_with_json_reuses_repository_and_layers(smctl, aws_env, registry, local_image, docker_home):
    repo = local_image["repository"]
    args = ["push", "--image", local_image["image"], "--repository", repo, "--tag", "v2", "--registry", registry]
    first = smctl("--json", *args, "--immutable-tags")
    second = smctl("--json", *args, "--login-config")

    assert first.exit_code == 0, first.stderr
    one = first.json["result"]
    assert one["repository_created"] is True and one["tag_mutability"] == "IMMUTABLE"
    assert one["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert one["platform"] == "linux/amd64"
    assert one["image_uri"] == f"{registry}/{repo}:v2"
    assert one["digest_uri"] == f"{registry}/{repo}@{one['digest']}"
    assert _ecr().describe_repositories(repositoryNames=[repo])["repositories"][0]["imageTagMutability"] == \
        "IMMUTABLE"
    assert second.exit_code == 0, second.stderr
    two = second.json["result"]
    assert two["repository_created"] is False
    assert two["digest"] == one["digest"]
    assert two["layers_pushed"] == 0 and two["layers_existing"] >= 1
    config = json.loads((docker_home / "docker-config" / "config.json").read_text())  # asked for: written
    assert set(config["auths"]) == {registry}


def test_smctl_toml_supplies_image_repository_and_registry(smctl, aws_env, registry, local_image, tmp_path):
    name, tag = local_image["image"].split(":")
    (tmp_path / "smctl.toml").write_text(
        f'[project]\nimage = "{name}"\ntag = "{tag}"\n'
        f'[aws]\necr_repository = "{local_image["repository"]}"\nregistry = "{registry}"\n')

    res = smctl("--json", "push", cwd=tmp_path)

    assert res.exit_code == 0, res.stderr
    assert res.json["result"]["image_uri"] == f"{registry}/{local_image['repository']}:{tag}"


def test_push_without_region_or_credentials_is_exit_4(smctl, no_aws_env, tmp_path):
    args = ["push", "--image", "smctl-test-none:v1", "--repository", "smctl-test/none"]
    no_region = smctl(*args, cwd=tmp_path)
    no_credentials = smctl(*args, "--region", "us-east-1", cwd=tmp_path)

    assert no_region.exit_code == ExitCode.AWS == 4
    assert "Error: no AWS region is configured" in no_region.stderr
    assert "--region" in no_region.stderr
    assert no_credentials.exit_code == ExitCode.AWS
    assert "Error: no AWS credentials were found" in no_credentials.stderr
    assert "aws configure" in no_credentials.stderr


def test_invalid_repository_name_is_a_usage_error_naming_the_rule(smctl, tmp_path):
    res = smctl("push", "--image", "smctl-test-none:v1", "--repository", "My_Model", cwd=tmp_path)

    assert res.exit_code == ExitCode.USAGE
    assert "Error: 'My_Model' is not a valid ECR repository name: 2-256 characters: lowercase letters" in res.stderr
    assert "--repository" in res.stderr


def test_image_not_built_yet_hints_smctl_build(smctl, aws_env, docker_client, tmp_path):
    res = smctl("push", "--image", f"smctl-test-absent-{uuid.uuid4().hex[:8]}:v1", "--repository",
                "smctl-test/absent", cwd=tmp_path)

    assert res.exit_code == ExitCode.USAGE == 2  # a name that does not exist, like a missing path
    assert "is not in the local Docker engine" in res.stderr
    assert "Hint: build it first with `smctl build`" in res.stderr


def test_unreachable_registry_is_named_in_the_error(smctl, aws_env, local_image):
    res = smctl("push", "--image", local_image["image"], "--repository", local_image["repository"],
                "--registry", "127.0.0.1:1")

    assert res.exit_code == ExitCode.DOCKER == 3  # the engine cannot reach the registry (an ECR one: 4)
    assert "Error: the registry 127.0.0.1:1 cannot be reached from the Docker engine" in res.stderr
    assert "--registry" in res.stderr
    assert "Traceback" not in res.stderr


def test_any_registry_without_aws_pushes_with_no_ecr_call(smctl, no_aws_env, registry, local_image, docker_home):
    """`--registry HOST` needs no AWS at all when HOST is not ECR: no repository, no token, still verified."""
    repo = local_image["repository"]
    res = smctl("push", "--image", local_image["image"], "--repository", repo, "--registry", registry)
    assert res.exit_code == 0, res.stderr
    assert "pushing to" in res.stderr and "with your docker login only" in res.stderr
    assert res.stdout.startswith(f"{registry}/{repo}@sha256:")
    assert _get_json(f"http://{registry}/v2/{repo}/tags/list")["tags"] == ["v1"]


def test_no_ecr_skips_ecr_even_with_aws_set_up(smctl, aws_env, registry, local_image, docker_home):
    repo = local_image["repository"]
    res = smctl("--json", "push", "--image", local_image["image"], "--repository", repo, "--registry", registry,
                "--no-ecr")
    assert res.exit_code == 0, res.stderr
    assert res.json["result"]["repository_created"] is False
    with pytest.raises(_ecr().exceptions.RepositoryNotFoundException):
        _ecr().describe_repositories(repositoryNames=[repo])
    assert _get_json(f"http://{registry}/v2/{repo}/tags/list")["tags"] == ["v1"]


def test_train_push_pushes_the_local_image_and_names_its_ecr_uri_in_the_job(smctl, aws_env, registry, local_image,
                                                                            docker_home, tmp_path):
    """`smctl train --push`: the project's local image goes to the ECR repository (bytes to the registry that
    mirrors it here), and CreateTrainingJob names ECR's repository URI, as SageMaker pulls it."""
    import boto3

    from tests.helpers import seed_sagemaker_account

    role = "arn:aws:iam::123456789012:role/SageMakerExecution"
    seed_sagemaker_account(role)
    name, tag = local_image["image"].split(":")
    (tmp_path / "smctl.toml").write_text(
        f'[project]\nname = "pushed"\nimage = "{name}"\ntag = "{tag}"\n'
        f'[aws]\nregion = "us-east-1"\nrole = "{role}"\necr_repository = "{local_image["repository"]}"\n'
        f'registry = "{registry}"\n')
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text(f"{local_image['uid']}\n")
    refused = smctl("train", "--channel", "training=data", "--no-wait", cwd=tmp_path)
    assert refused.exit_code == ExitCode.USAGE and "smctl train --push" in refused.stderr

    job = f"pushed-{local_image['uid']}"
    res = smctl("train", "--push", "--channel", "training=data", "--job-name", job, "--no-wait", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    uri = _ecr().describe_repositories(repositoryNames=[local_image["repository"]])["repositories"][0]["repositoryUri"]
    described = boto3.client("sagemaker").describe_training_job(TrainingJobName=job)
    assert described["AlgorithmSpecification"]["TrainingImage"] == f"{uri}:{tag}"
    assert _get_json(f"http://{registry}/v2/{local_image['repository']}/tags/list")["tags"] == [tag]
    assert f"the job uses {uri}:{tag}" in res.stderr
