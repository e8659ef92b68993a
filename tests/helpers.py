"""Shared test helpers: run the smctl CLI in-process, labels for every Docker resource tests create."""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
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
