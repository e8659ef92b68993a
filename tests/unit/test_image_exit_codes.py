"""Where image and registry failures land in the README's exit-code table: a missing local image is usage (2), a
registry the engine cannot reach is DOCKER (3), or AWS (4) when it is ECR, an image SageMaker refuses is 6."""

from __future__ import annotations

import socket

import pytest

from smctl.engine.push import PushProgress
from smctl.errors import ExitCode, ImageNotFoundError, NotSingleImageError, UsageError, WrongPlatformError
from smctl.image import registry
from smctl.image.push import _require_sagemaker_platform

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
REFUSED = 'Get "https://{h}/v2/": dial tcp: connect: connection refused'


def test_missing_local_image_is_a_usage_error_like_a_missing_path():
    err = ImageNotFoundError("image demo:1 is not in the local Docker engine", "build it first: smctl build")
    assert isinstance(err, UsageError) and err.exit_code is ExitCode.USAGE


@pytest.mark.parametrize("host,code", [("127.0.0.1:1", ExitCode.DOCKER), ("registry.example.com", ExitCode.DOCKER),
                                       (ECR, ExitCode.AWS)])
def test_unreachable_registry_exits_docker_or_aws_for_ecr(host, code):
    err = PushProgress(f"{host}/m:v1", host, lambda kind, data: None).failure(REFUSED.format(h=host))
    assert err.reason == "unreachable"
    assert err.exit_code is code


def test_refused_ecr_login_is_an_aws_error():
    err = PushProgress(f"{ECR}/m:v1", ECR, lambda kind, data: None).failure("no basic auth credentials")
    assert err.reason == "auth" and err.exit_code is ExitCode.AWS


def test_manifest_read_from_an_unreachable_registry_exits_docker():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(registry.RegistryReadError) as info:
        registry.read_manifest(f"127.0.0.1:{port}", "m", "v1", timeout=5)
    assert info.value.exit_code is ExitCode.DOCKER


def test_images_sagemaker_would_refuse_are_failed_checks():
    with pytest.raises(WrongPlatformError) as info:
        _require_sagemaker_platform("demo:1", "linux/arm64")
    assert info.value.exit_code is ExitCode.CHECKS_FAILED
    index = registry.Manifest("u", registry.OCI_INDEX, "sha256:" + "c" * 64, 10)
    with pytest.raises(NotSingleImageError) as info2:
        registry.check_single_image(index, "r/m:v1")
    assert info2.value.exit_code is ExitCode.CHECKS_FAILED
