"""ECR's pure rules: repository names, registry hosts and image URIs, tokens, permission names, registry URLs."""

from __future__ import annotations

import base64

import pytest

from smctl.aws import ecr
from smctl.errors import AwsError, UsageError
from smctl.image import registry


@pytest.mark.parametrize("name", ["ab", "my-model", "team/my-model", "a.b_c-d/e", "x" * 256, "a1/b2/c3"])
def test_valid_repository_names_pass(name):
    assert ecr.validate_repository_name(name) == name


@pytest.mark.parametrize("name", ["a", "My-Model", "my_model_", "-model", "team//model", "model/", "/model",
                                  "my model", "a" * 257, "model:tag", ""])
def test_invalid_repository_names_name_the_rule(name):
    with pytest.raises(UsageError) as info:
        ecr.validate_repository_name(name)
    assert repr(name) in info.value.message
    assert "lowercase letters, digits and . _ - /" in info.value.message
    assert "--repository" in (info.value.hint or "")


@pytest.mark.parametrize("tag,ok", [("v1", True), ("2024.06.01-rc_1", True), ("x" * 128, True),
                                    (".hidden", False), ("-x", False), ("a/b", False), ("x" * 129, False)])
def test_tags_follow_dockers_rule(tag, ok):
    if ok:
        assert ecr.validate_tag(tag) == tag
    else:
        with pytest.raises(UsageError, match="not a valid image tag"):
            ecr.validate_tag(tag)


def test_registry_host_gives_account_and_region():
    reg = ecr.parse_registry("https://763104351884.dkr.ecr.eu-west-1.amazonaws.com/")
    assert reg == ecr.Registry("763104351884.dkr.ecr.eu-west-1.amazonaws.com", "763104351884", "eu-west-1")
    china = ecr.parse_registry("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn")
    assert china is not None and china.region == "cn-north-1"
    fips = ecr.parse_registry("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com")
    assert fips is not None and fips.region == "us-gov-west-1"
    assert ecr.parse_registry("127.0.0.1:5000") is None
    assert ecr.parse_registry("docker.io") is None


def test_only_aws_ecr_images_need_an_ecr_login():
    dlc = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-cpu-py311"
    assert ecr.ecr_registry_of_image(dlc) == ecr.Registry("763104351884.dkr.ecr.us-east-1.amazonaws.com",
                                                          "763104351884", "us-east-1")
    for other in ("python:3.11-slim", "public.ecr.aws/docker/library/python:3.11",
                  "example.com/763104351884.dkr.ecr.us-east-1.amazonaws.com/x",
                  "12345.dkr.ecr.us-east-1.amazonaws.com/x"):
        assert ecr.ecr_registry_of_image(other) is None


@pytest.mark.parametrize("uri,expected", [
    ("my-model", (None, "my-model", None, None)),
    ("my-model:v1", (None, "my-model", "v1", None)),
    ("team/my-model:v1", (None, "team/my-model", "v1", None)),
    ("127.0.0.1:5000/team/m:v1", ("127.0.0.1:5000", "team/m", "v1", None)),
    ("localhost/m", ("localhost", "m", None, None)),
    ("1.dkr.ecr.us-east-1.amazonaws.com/m@sha256:" + "a" * 64,
     ("1.dkr.ecr.us-east-1.amazonaws.com", "m", None, "sha256:" + "a" * 64)),
    ("host:5000/m:v1@sha256:" + "b" * 64, ("host:5000", "m", "v1", "sha256:" + "b" * 64)),
])
def test_image_uris_split_the_way_docker_does(uri, expected):
    parsed = ecr.parse_image_uri(uri)
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.digest) == expected


def test_token_decodes_to_user_and_password_hidden_from_repr():
    token = base64.b64encode(b"AWS:s3cr3t-pass:with-colon").decode()
    auth = ecr.decode_token(token, "https://123456789012.dkr.ecr.us-east-1.amazonaws.com", "2015-01-01")
    assert (auth.username, auth.password) == ("AWS", "s3cr3t-pass:with-colon")
    assert auth.host == "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert "s3cr3t" not in repr(auth)  # an old expiresAt (moto's) is accepted as it is
    assert auth.docker_auth("127.0.0.1:5000") == {"username": "AWS", "password": "s3cr3t-pass:with-colon",
                                                  "serveraddress": "127.0.0.1:5000"}


@pytest.mark.parametrize("token", ["not base64!", base64.b64encode(b"no-colon").decode()])
def test_malformed_token_is_an_aws_error(token):
    with pytest.raises(AwsError, match="not base64 user:password"):
        ecr.decode_token(token, "https://1.dkr.ecr.us-east-1.amazonaws.com")


def test_missing_permission_comes_from_the_message_or_the_operation():
    message = ("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:CreateRepository on "
               "resource: arn:aws:ecr:us-east-1:123456789012:repository/m")
    assert ecr.missing_permission("DescribeRepositories", message) == "ecr:CreateRepository"
    assert ecr.missing_permission("GetAuthorizationToken", "Access denied") == "ecr:GetAuthorizationToken"


def test_access_denied_names_the_permission_and_the_fix():
    import botocore.exceptions

    exc = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDeniedException",
                   "Message": "User: x is not authorized to perform: ecr:CreateRepository on resource: y"}},
        "CreateRepository")
    err = ecr.aws_error(exc, "CreateRepository", "ECR repository my-model")
    assert isinstance(err, AwsError)
    assert err.message == "access denied to ECR repository my-model: your AWS identity lacks ecr:CreateRepository"
    assert "add ecr:CreateRepository to your IAM policy" in (err.hint or "")


@pytest.mark.parametrize("host,url", [
    ("127.0.0.1:5000", "http://127.0.0.1:5000/v2/a/b/manifests/v1"),
    ("127.8.9.10", "http://127.8.9.10/v2/a/b/manifests/v1"),
    ("localhost:5000", "http://localhost:5000/v2/a/b/manifests/v1"),
    ("[::1]:5000", "http://[::1]:5000/v2/a/b/manifests/v1"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com",
     "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/a/b/manifests/v1"),
    ("10.0.0.5:5000", "https://10.0.0.5:5000/v2/a/b/manifests/v1"),
])
def test_manifest_url_uses_http_only_on_loopback(host, url):
    assert registry.manifest_url(host, "a/b", "v1") == url


def test_index_manifests_are_refused_with_the_fix():
    index = registry.Manifest("u", registry.OCI_INDEX, "sha256:" + "c" * 64, 10)
    with pytest.raises(registry.NotSingleImageError, match="multi-platform index") as info:
        registry.check_single_image(index, "r/m:v1")
    assert "--provenance=false" in (info.value.hint or "")
    registry.check_single_image(registry.Manifest("u", registry.DOCKER_MANIFEST, "d", 1), "r/m:v1")
    registry.check_single_image(registry.Manifest("u", registry.OCI_MANIFEST, "d", 1), "r/m:v1")
