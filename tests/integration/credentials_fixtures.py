"""Fixtures for the container credentials tests: the aws-client image, moto's server where containers reach it,
a caller with unique keys, and the probes that find a run's agent, containers and network."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.helpers import TEST_LABELS, WORKER

IMAGES = Path(__file__).resolve().parents[1] / "images"
AGENT_MODULE = "smctl.credentials.agent"
NETWORK = "smctl-credentials"
ROLE = "arn:aws:iam::123456789012:role/SMExec"
ECS_HOST = "169.254.170.2"
HOLDER = "--holds-smctl-credentials"  # in the argv of a test process that holds the network as a run does
# What the image's boto3 needs, copied from this venv: the image cannot reach PyPI.
CLIENT_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3")
CONTEXT_LABEL = "smctl.test.context"


@pytest.fixture(scope="session")
def aws_client_image(docker_client, tmp_path_factory) -> Iterator[str]:
    """tests/images/aws-client with this venv's boto3 in its context; per worker, removed at the end.

    Both test modules hold a copy of this fixture: the second finds the image built from the same files and
    packages (its label says so) and skips the copy and the build.
    """
    import hashlib
    import importlib
    from importlib.metadata import version

    import docker.errors

    digest = hashlib.sha256(repr([version(name) for name in ("boto3", "botocore", "s3transfer", "jmespath",
                                                             "python-dateutil", "urllib3", "six")]).encode())
    for path in sorted(p for p in (IMAGES / "aws-client").iterdir() if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    tag = f"smctl-test-aws-client:{WORKER}"
    try:
        built = docker_client.images.get(tag).labels.get(CONTEXT_LABEL)
    except docker.errors.ImageNotFound:
        built = None
    if built != digest.hexdigest():
        context = tmp_path_factory.mktemp("aws-client")
        shutil.copytree(IMAGES / "aws-client", context, dirs_exist_ok=True)
        for name in CLIENT_PACKAGES:
            package = Path(importlib.import_module(name).__file__).parent  # type: ignore[arg-type]
            shutil.copytree(package, context / "site-packages" / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(importlib.import_module("six").__file__, context / "site-packages")  # type: ignore[arg-type]
        docker_client.images.build(path=str(context), tag=tag, rm=True,
                                   labels={**TEST_LABELS, CONTEXT_LABEL: digest.hexdigest()})
    yield tag
    with contextlib.suppress(Exception):  # in use by a container the reaper has not removed yet
        docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="session")
def bridge_moto(docker_client) -> Iterator[str]:
    """moto's server on the docker0 bridge address: both smctl (on the host) and containers reach it there."""
    from moto.server import ThreadedMotoServer

    gateway = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
    server = ThreadedMotoServer(ip_address=gateway, port=0, verbose=False)
    server.start()
    server._server.handle_error = lambda request, client_address: None  # type: ignore[union-attr]
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Caller:
    """The caller's long-term keys (unique to one test) and an S3 object only moto holds."""

    key: str
    secret: str
    endpoint: str
    bucket: str
    body: str

    def probe_env(self, **extra: object) -> list[str]:
        pairs = {"PROBE_BUCKET": self.bucket, "PROBE_KEY": "probe.txt", **extra}
        return [f for k, v in pairs.items() for f in ("--env", f"{k}={v}")]


def set_caller_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str, key: str, secret: str) -> None:
    """Only these keys and this endpoint where boto3 looks (no profile, no config file, no instance metadata)."""
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    monkeypatch.delenv("SMCTL_CREDENTIALS_REFRESH_BEFORE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def caller(bridge_moto, monkeypatch, docker_reaper) -> Caller:
    import boto3

    unique = uuid.uuid4().hex
    found = Caller(key=f"AKIA{unique[:16].upper()}", secret=f"CallerSecret{unique}", endpoint=bridge_moto,
                   bucket=f"probe-{unique[:12]}", body=f"only in moto {unique}")
    set_caller_environment(monkeypatch, bridge_moto, found.key, found.secret)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=found.bucket)
    s3.put_object(Bucket=found.bucket, Key="probe.txt", Body=found.body.encode())
    return found


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def served(call: dict) -> dict[str, str]:
    """The credentials a probe call used, in plain text (the probe reports them reversed)."""
    return {k: call[f"{k}_reversed"][::-1] for k in ("key", "secret", "token")}


def model_probe(artifact: str | Path) -> list[dict]:
    """The probe calls a training job wrote to /opt/ml/model/probe.json."""
    with tarfile.open(artifact) as tar:
        member = tar.extractfile("probe.json")
        assert member is not None
        return json.load(member)


def agents(parent: int | None = None) -> list[psutil.Process]:
    """Live (not zombie) credentials agents on this host; only the children of `parent` when given."""
    return [p for p in psutil.process_iter(["ppid", "cmdline", "status"])
            if AGENT_MODULE in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE
            and (parent is None or p.info["ppid"] == parent)]


def own_agents() -> set[int]:
    """The pids of the live agents this process started (smctl runs in-process)."""
    return {p.pid for p in agents(parent=os.getpid())}


def new_agents(before: set[int]) -> list[psutil.Process]:
    """This process's live agents that were not in `before` (a detached one of an earlier test may still be
    on its way out)."""
    return [p for p in agents(parent=os.getpid()) if p.pid not in before]


def run_of(container) -> str:
    """The credentials run a container belongs to (its smctl.credentials label)."""
    return container.labels["smctl.credentials"]


def run_containers(client, run: str) -> list:
    return client.containers.list(all=True, filters={"label": f"smctl.credentials={run}"})


def assert_network_released(client, *, ignore: str | None = None) -> None:
    """smctl-credentials is gone, or some run still holds it (its agent, a HOLDER, a listener on 169.254.170.2, or
    a labelled container of a run other than `ignore`).

    Ordered so a concurrent run (pytest -n 2) cannot make it flake: the network seen first, then the holders,
    then the network again. A network that outlived every holder in between is the same network both times.
    """
    first = network_ids(client)
    if not first:
        return
    holders = (agents() or _holders_by_argv() or _listeners()
               or [c for c in client.containers.list(all=True, filters={"label": "smctl.credentials"})
                   if run_of(c) != ignore])
    assert holders or not first & network_ids(client), f"{NETWORK} outlived every run that used it"


def _holders_by_argv() -> list[psutil.Process]:
    """Processes that act as runs without being agents: test_credentials_safety's churn (HOLDER in its argv)."""
    return [p for p in psutil.process_iter(["cmdline"]) if HOLDER in (p.info["cmdline"] or [])]


def _listeners() -> list[object]:
    """Whatever listens on 169.254.170.2 on this host: some run's endpoint."""
    return [c for c in psutil.net_connections("tcp4")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.ip == ECS_HOST]


def network_ids(client, **filters: object) -> set[str]:
    """The ids of networks named exactly smctl-credentials (the engine's name filter matches parts of names)."""
    return {n.id for n in client.networks.list(names=[NETWORK], filters=filters or None) if n.name == NETWORK}


def wait_gone(process: psutil.Process, limit: float = 60) -> int | None:
    """Until `process` exited: its exit status if it is our child (reaped, -N for signal N), else None.

    Fails if it is still there after `limit` seconds.
    """
    try:
        return process.wait(limit)
    except psutil.TimeoutExpired:
        raise AssertionError(f"the credentials agent {process.pid} was still running {limit} s later") from None
