"""Containers get AWS credentials as on SageMaker: through smctl's endpoint, the caller's or a role's, refreshed.

The aws-client image calls STS and S3 (moto's server, reached on the docker0 bridge address) with boto3 and no
credentials of its own; tests/integration/test_credentials_safety.py covers leaks, clean-up and refusals.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.helpers import WORKER, WORKER_LABEL
from tests.integration import credentials_fixtures, serving_fixtures
from tests.integration.credentials_fixtures import (
    ROLE,
    model_probe,
    new_agents,
    own_agents,
    served,
    set_caller_environment,
    unique_name,
)

pytestmark = pytest.mark.docker
aws_client_image = credentials_fixtures.aws_client_image
bridge_moto = credentials_fixtures.bridge_moto
caller = credentials_fixtures.caller
endpoint_name = serving_fixtures.endpoint_name

ACCOUNT = "123456789012"
NO_CREDENTIALS_LINE = "no AWS credentials found: containers run without any"


def _expected_arn(role: str | None, session: str) -> str:
    """Who the container is: moto's caller (any long-term key) or the role's session named after the run."""
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/SMExec/{session}" if role else f"arn:aws:sts::{ACCOUNT}:user/moto"


def _assert_endpoint_credentials(call: dict, caller, arn: str) -> None:
    """One probe call reached STS and S3 with credentials from the endpoint, none in its environment."""
    assert call.get("arn") == arn, call
    assert call["body"] == caller.body
    assert call["method"] == "container-role"
    assert call["secret_in_env"] == []
    assert call["region"] == "us-east-1"
    creds = served(call)
    assert creds["token"], "temporary credentials come with a session token"
    assert (creds["key"], creds["secret"]) != (caller.key, caller.secret)  # never the caller's long-term keys


def _flags(role: str | None) -> list[str]:
    return ["--role", role] if role else []


ROLES = pytest.mark.parametrize("role", [None, ROLE], ids=["caller", "role"])


@ROLES
def test_training_container_calls_sts_and_s3_with_endpoint_credentials(smctl, aws_client_image, caller, tmp_path,
                                                                      role):
    job = unique_name("cred-train")
    res = smctl("--json", "local-train", "--image", aws_client_image, "--job-name", job, *caller.probe_env(),
                *_flags(role), cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    (call,) = model_probe(res.json["result"]["model_artifact"])
    _assert_endpoint_credentials(call, caller, _expected_arn(role, job))
    if role:
        assert served(call)["key"].startswith("ASIA")


@ROLES
def test_endpoint_container_calls_sts_and_s3_inside_a_request(smctl, aws_client_image, caller, tmp_path,
                                                              endpoint_name, role):
    name = endpoint_name("cred")
    res = smctl("--json", "local-serve", "--image", aws_client_image, "--name", name, "--detach", "--port", "0",
                *caller.probe_env(), *_flags(role), cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    try:
        answer = smctl("--json", "invoke", name, "--data", "{}", "--content-type", "application/json")
        assert answer.exit_code == 0, answer.stderr
        call = json.loads(answer.json["result"]["body"])
    finally:
        assert smctl("local-stop", name).exit_code == 0
    _assert_endpoint_credentials(call, caller, _expected_arn(role, name))


@ROLES
def test_transform_container_calls_sts_and_s3_for_each_file(smctl, aws_client_image, caller, tmp_path, role):
    (tmp_path / "in").mkdir()
    for name in ("a.json", "b.json"):
        (tmp_path / "in" / name).write_text("{}")
    res = smctl("--json", "local-transform", "--image", aws_client_image, "--input", tmp_path / "in",
                "--output", tmp_path / "out", "--content-type", "application/json", *caller.probe_env(),
                *_flags(role), cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    job = res.json["result"]["job_name"]
    for name in ("a.json", "b.json"):
        call = json.loads((tmp_path / "out" / f"{name}.out").read_text())
        _assert_endpoint_credentials(call, caller, _expected_arn(role, job))


def test_credentials_are_fetched_again_when_fewer_than_refresh_before_seconds_are_left(
        smctl, aws_client_image, caller, tmp_path, monkeypatch):
    # Served credentials live an hour: with 100000 s to spare, every request to the endpoint needs new ones.
    monkeypatch.setenv("SMCTL_CREDENTIALS_REFRESH_BEFORE", "100000")
    job = unique_name("cred-refresh")
    res = smctl("--json", "local-train", "--image", aws_client_image, "--job-name", job, "--role", ROLE,
                *caller.probe_env(PROBE_CALLS=3), cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    calls = model_probe(res.json["result"]["model_artifact"])
    assert len(calls) == 3
    for call in calls:
        _assert_endpoint_credentials(call, caller, _expected_arn(ROLE, job))
    assert len({served(call)["key"] for call in calls}) == 3, "the same credentials were served again"


@pytest.fixture
def enforcing_moto(tmp_path) -> Iterator[tuple[str, str, str]]:
    """A moto_server that enforces IAM, with one user and no policy: (endpoint, key, secret) of that user."""
    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The first two actions (create the user and its key) need no signature; every later one does.
    log = (tmp_path / "moto.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "2"}, stdout=log, stderr=log)
    try:
        for _ in range(300):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x")
        iam.create_user(UserName="no-assume")
        key = iam.create_access_key(UserName="no-assume")["AccessKey"]
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        proc.kill()
        proc.wait()
        log.close()


def test_role_that_cannot_be_assumed_fails_before_any_container(smctl, aws_client_image, enforcing_moto,
                                                                monkeypatch, tmp_path, docker_client, docker_reaper):
    set_caller_environment(monkeypatch, *enforcing_moto)
    mine = {"label": ["smctl.managed", f"{WORKER_LABEL}={WORKER}"]}
    before = {c.id for c in docker_client.containers.list(all=True, filters=mine)}
    job = unique_name("cred-refused")
    since, started_with = int(time.time()) - 1, own_agents()
    res = smctl("local-train", "--image", aws_client_image, "--job-name", job, "--role", ROLE, cwd=tmp_path)
    until = int(time.time()) + 1
    assert res.exit_code == 4, res.stderr
    assert f"Error: you cannot assume the role {ROLE}: AccessDenied" in res.stderr
    assert "Hint: add your identity (`aws sts get-caller-identity`) to the role's trust policy" in res.stderr
    created = docker_client.events(since=since, until=until, decode=True,
                                   filters={"type": "container", "event": "create", "label": f"smctl.job={job}"})
    assert list(created) == []
    assert {c.id for c in docker_client.containers.list(all=True, filters=mine)} <= before
    assert new_agents(started_with) == []


def test_without_any_aws_configuration_the_job_runs_and_says_so_once(smctl, aws_client_image, no_aws_env, tmp_path,
                                                                    docker_reaper):
    res = smctl("local-train", "--image", aws_client_image, "--job-name", unique_name("cred-none"),
                "--entrypoint", "sh -c 'env | sort'", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    said = [line for line in res.stderr.splitlines() if "no AWS credentials" in line]
    assert len(said) == 1 and said[0].startswith(NO_CREDENTIALS_LINE), res.stderr
    assert "TRAINING_JOB_NAME=" in res.stderr  # the container's environment was printed...
    assert "AWS_CONTAINER_" not in res.stderr  # ...without an endpoint


def test_no_credentials_flag_gives_the_container_no_endpoint_and_says_nothing(smctl, aws_client_image, caller,
                                                                              tmp_path):
    started_with = own_agents()
    res = smctl("local-train", "--image", aws_client_image, "--job-name", unique_name("cred-off"),
                "--no-credentials", "--entrypoint", "sh -c 'env | sort'", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    assert "TRAINING_JOB_NAME=" in res.stderr
    assert "AWS_CONTAINER_" not in res.stderr
    assert "AWS credentials" not in res.stderr
    assert new_agents(started_with) == []


@ROLES
def test_dry_run_names_the_credentials_source_and_no_secret(smctl, aws_client_image, caller, tmp_path, role):
    job = unique_name("cred-plan")
    args = ("local-train", "--image", aws_client_image, "--job-name", job, "--dry-run", *_flags(role))
    text = smctl(*args, cwd=tmp_path)
    doc = smctl("--json", *args, cwd=tmp_path)
    assert (text.exit_code, doc.exit_code) == (0, 0), text.stderr + doc.stderr
    plan = doc.json["result"]["credentials"]
    if role:
        summary = f"role {ROLE} (session {job}), refreshed before expiry"
        assert (plan["source"], plan["role_arn"], plan["session_name"]) == ("role", ROLE, job)
    else:
        summary = "the caller's, from the AWS credential chain, as session credentials refreshed before expiry"
        assert (plan["source"], plan["profile"]) == ("caller", None)
    assert plan["summary"] == summary
    assert plan["environment"] == ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert f"AWS credentials for the containers: {summary}\n" in text.stdout + text.stderr
    everything = text.stdout + text.stderr + doc.stdout + doc.stderr
    assert caller.key not in everything and caller.secret not in everything


def test_half_a_key_pair_is_an_aws_error_before_any_container(smctl, aws_client_image, caller, monkeypatch,
                                                              tmp_path):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    job, started_with = unique_name("cred-half"), own_agents()
    res = smctl("local-train", "--image", aws_client_image, "--job-name", job, cwd=tmp_path)
    assert res.exit_code == 4, res.stderr
    assert ("Error: reading your AWS credentials failed: Partial credentials found in env, missing: "
            "AWS_SECRET_ACCESS_KEY\n") in res.stderr
    assert "--no-credentials" in res.stderr
    assert "started algo-1" not in res.stderr
    assert new_agents(started_with) == []


def test_an_agent_that_dies_before_answering_is_a_clear_error(smctl, aws_client_image, caller, monkeypatch,
                                                              tmp_path):
    monkeypatch.setenv("PYTHONHOME", "/nonexistent")  # this process runs on; a new interpreter cannot start
    res = smctl("local-train", "--image", aws_client_image, "--job-name", unique_name("cred-dead"), cwd=tmp_path)
    assert res.exit_code == 3, res.stderr
    assert "Error: smctl's AWS credentials endpoint did not start: " in res.stderr
    assert "Hint: rerun with -v; or run without credentials: --no-credentials" in res.stderr
    assert "started algo-1" not in res.stderr


def test_every_host_of_a_multi_host_job_gets_the_roles_credentials(smctl, aws_client_image, caller, tmp_path):
    job = unique_name("cred-hosts")
    res = smctl("local-train", "--image", aws_client_image, "--job-name", job, "--instance-count", "2",
                "--role", ROLE, *caller.probe_env(), cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    probes = {line.split(" | ", 1)[0]: json.loads(line.split("PROBE ", 1)[1])
              for line in res.stderr.splitlines() if " | PROBE [" in line}
    assert sorted(probes) == ["algo-1", "algo-2"]
    for (call,) in probes.values():
        _assert_endpoint_credentials(call, caller, _expected_arn(ROLE, job))


def test_role_flag_is_refused_for_a_running_endpoint(smctl, tmp_path):
    res = smctl("local-transform", "--endpoint", "some-endpoint", "--role", ROLE, "--input", tmp_path, cwd=tmp_path)
    assert res.exit_code == 2, res.stderr
    assert "Error: --role applies to the job's own container, not to the running endpoint some-endpoint" in res.stderr
