"""Shared test helpers: run the smctl CLI in-process, labels for every Docker resource tests create."""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEST_LABEL = "smctl.test"
# One id per pytest process (each xdist worker, each concurrent run): reapers only touch their own resources.
WORKER = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
WORKER_LABEL = "smctl.test.worker"
TEST_LABELS = {TEST_LABEL: "1", WORKER_LABEL: WORKER}


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str | os.PathLike, cwd: Path | None = None, expect_internal: bool = False) -> CliResult:
    """Run `smctl ARGS` in this process through the real entry point (error handler included).

    An internal error (exit 70) fails the test unless expected: the handler must never hide a bug.
    """
    from smctl.cli.app import run

    out, err = io.StringIO(), io.StringIO()
    old_cwd = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            code = run([os.fspath(a) for a in args])
    finally:
        os.chdir(old_cwd)
    result = CliResult(code, out.getvalue(), err.getvalue())
    if code == 70 and not expect_internal:
        raise AssertionError(f"smctl {' '.join(map(str, args))} hit an internal error:\n{result.stderr}")
    return result


def smctl_exe() -> list[str]:
    """The command line that runs smctl as a subprocess of this interpreter."""
    return [sys.executable, "-m", "smctl"]


def create_cloud_endpoint(name: str, role: str = "arn:aws:iam::123456789012:role/SageMakerExecution") -> None:
    """A SageMaker endpoint NAME (model NAME-m, config NAME-c) on whatever AWS boto3 points at (moto's server)."""
    import boto3

    sm = boto3.client("sagemaker")
    sm.create_model(ModelName=f"{name}-m", ExecutionRoleArn=role,
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1"})
    sm.create_endpoint_config(EndpointConfigName=f"{name}-c", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": f"{name}-m", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-c")


SAGEMAKER_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def seed_sagemaker_account(role_arn: str, *images: str, platform: tuple[str, str] | None = None) -> None:
    """What a real account has before `smctl train` / deploy / transform: the execution role (trusting SageMaker)
    in IAM and each image URI in ECR, as one image manifest (`platform`: pushed as an index of that os/arch
    instead). In moto's server, which lives all session: seeding twice is harmless."""
    import hashlib

    import boto3

    iam = boto3.client("iam")
    with suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=role_arn.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))
    for image in images:
        host, _, rest = image.partition("/")
        repository, _, tag = rest.partition(":")
        ecr = boto3.client("ecr", region_name=host.split(".")[3])
        with suppress(ecr.exceptions.RepositoryAlreadyExistsException):
            ecr.create_repository(repositoryName=repository)
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        manifest: dict[str, Any] = {
            "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                       "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
            "layers": []}
        if platform is not None:
            manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 500,
                 "digest": "sha256:" + hashlib.sha256(image.encode()).hexdigest(),
                 "platform": {"os": platform[0], "architecture": platform[1]}}]}
        with suppress(ecr.exceptions.ImageAlreadyExistsException):
            ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag,
                          imageManifestMediaType=manifest["mediaType"])


CLOUD_ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"  # moto's account
TRAIN_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:1"
SERVE_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1"


def cloud_project(root: Path, image: str, files: dict[str, str] | None = None) -> Path:
    """A project folder for the cloud commands (smctl.toml in us-east-1, `files` by relative path), with the role and
    `image` seeded in moto's IAM and ECR. File contents should be unique to the test: moto's S3 lives all session."""
    seed_sagemaker_account(CLOUD_ROLE, image)
    (root / "smctl.toml").write_text('[project]\nname = "churn"\n[aws]\nregion = "us-east-1"\n')
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root
