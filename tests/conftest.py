"""Fixtures that talk to real local services: Docker engine, registry on 127.0.0.1:5000, moto's server."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import TEST_LABEL, TEST_LABELS, WORKER, WORKER_LABEL, CliResult, run_cli

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REGISTRY = os.environ.get("SMCTL_TEST_REGISTRY", "127.0.0.1:5000")
# smctl adds SMCTL_LABELS to every container and network it creates, so the reaper finds them too.
os.environ["SMCTL_LABELS"] = ",".join(f"{k}={v}" for k, v in TEST_LABELS.items())


MINE = {"label": f"{WORKER_LABEL}={WORKER}"}
__all__ = ["TEST_LABEL", "WORKER", "WORKER_LABEL", "IN_CI", "free_port"]


def _unavailable(what: str) -> None:
    """A missing service fails under CI (no Docker test may skip there) and skips on a laptop."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true; .ci/setup-host.sh should have provided it")
    pytest.skip(f"{what} not available (run `make setup`)")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        _unavailable(f"a Docker engine ({exc})")
    yield client
    _reap(client)
    client.close()


def _reap(client: object, *, print_logs: bool = False) -> None:
    """Remove this process's labelled containers, networks and volumes (other workers keep theirs)."""
    import docker.errors

    for c in client.containers.list(all=True, filters=MINE):  # type: ignore[attr-defined]
        try:
            if print_logs:
                logs = c.logs(tail=200).decode(errors="replace")
                print(f"\n--- logs of container {c.name} ({c.image.tags or c.image.id}) ---\n{logs}")
            c.remove(force=True)
        except docker.errors.APIError:  # already gone, or its removal is in progress
            pass
    for n in client.networks.list(filters=MINE):  # type: ignore[attr-defined]
        with contextlib.suppress(docker.errors.APIError):
            n.remove()
    for v in client.volumes.list(filters=MINE):  # type: ignore[attr-defined]
        with contextlib.suppress(docker.errors.APIError):
            v.remove(force=True)


@pytest.fixture
def docker_reaper(docker_client: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """Per-test: on failure print the logs of the test's containers, then remove them all."""
    yield docker_client
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    _reap(docker_client, print_logs=failed)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def registry() -> str:
    """A real registry (Debian's docker-registry) that the engine trusts without TLS."""
    try:
        urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=3).close()
    except OSError as exc:
        _unavailable(f"the registry at {REGISTRY} ({exc})")
    return REGISTRY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LISTENER = ("import socket, sys, time\n"
            "s = socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen()\n"
            "print('ready', flush=True); time.sleep(600)\n")


@pytest.fixture
def held_port() -> Iterator[tuple[int, int]]:
    """A real process listening on a free port: yields (port, pid)."""
    import subprocess
    import sys

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", LISTENER, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield port, proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def tmpfs(tmp_path: object) -> Iterator[object]:
    """mount(options) -> a fresh tmpfs folder; unmounted after the test."""
    mounted: list = []

    from pathlib import Path

    def mount(options: str) -> Path:
        point = Path(str(tmp_path)) / f"fs{len(mounted)}"
        point.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's real HTTP server on loopback, standing in for the AWS endpoints (ECR, S3, STS, SageMaker)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # A client that hangs up mid-answer makes socketserver print a traceback to sys.stderr, which a CLI test may be
    # capturing at that moment (its assertion on empty stderr then fails for a reason that is not smctl's).
    server._server.handle_error = lambda request, client_address: None  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at moto's server with dummy credentials; returns the endpoint URL."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return moto_server


@pytest.fixture
def recorded_sagemaker(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A RecordedSageMaker (tests/recorded_sagemaker.py) in front of moto's server for this test: SageMaker's client
    comes here (botocore takes AWS_ENDPOINT_URL_SAGEMAKER over AWS_ENDPOINT_URL), every other service goes to moto."""
    from tests.recorded_sagemaker import RecordedSageMaker

    server = RecordedSageMaker(aws_env).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """No credentials and no region anywhere boto3 looks (EC2 metadata disabled too)."""
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def smctl() -> object:
    """Run the smctl CLI in-process through its real entry point: `smctl("package", "pack", ...)`."""

    def _run(*args: object, cwd: object = None, expect_internal: bool = False) -> CliResult:
        return run_cli(*args, cwd=cwd, expect_internal=expect_internal)  # type: ignore[arg-type]

    return _run


@pytest.fixture
def caller_denied_assume_role(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An IAM user allowed everything but sts:AssumeRole is the caller; moto enforces IAM policies meanwhile."""
    import boto3

    iam = boto3.client("iam")
    user = f"smctl-test-{uuid.uuid4().hex[:10]}"
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    iam.put_user_policy(UserName=user, PolicyName="all-but-assume-role", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                               {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    previous = _reset_auth(aws_env, "0")
    try:
        yield arn
    finally:
        _reset_auth(aws_env, previous)


def _reset_auth(endpoint: str, count: str) -> str:
    """moto's switch for IAM authorization: requests after the first `count` are checked against IAM policies."""
    req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=count.encode(), method="POST",
                                 headers={"Content-Type": "text/plain"})  # a form body would be parsed away
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(json.loads(resp.read())["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"])
