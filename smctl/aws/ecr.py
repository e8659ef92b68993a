"""The ECR side of smctl: repository names and URIs, ensuring a repository exists, registry auth tokens."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from smctl.errors import AwsError, UsageError

# ECR's own rule (CreateRepository API reference): 2-256 characters, lowercase path components.
REPOSITORY_NAME = re.compile(r"(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
REPOSITORY_RULE = ("2-256 characters: lowercase letters, digits and . _ - /, each /-separated part starting and "
                   "ending with a letter or digit")
# AWS-owned and customer registries alike: ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]
REGISTRY_HOST = re.compile(r"(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
ECR_IMAGE = re.compile(rf"^{REGISTRY_HOST.pattern}/")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# Permission names for the calls smctl makes, used when an AccessDenied message does not name one itself.
PERMISSIONS = {
    "DescribeRepositories": "ecr:DescribeRepositories",
    "CreateRepository": "ecr:CreateRepository",
    "GetAuthorizationToken": "ecr:GetAuthorizationToken",
}


@dataclass(frozen=True)
class Registry:
    """An ECR registry host and what its name says: the owning account and the region."""

    host: str
    account: str
    region: str


@dataclass(frozen=True)
class ImageUri:
    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class Repository:
    name: str
    uri: str
    registry_id: str
    created: bool
    scan_on_push: bool
    tag_mutability: str


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for one registry, decoded from an ECR token; kept in memory, never printed (repr hides them)."""

    username: str
    password: str = field(repr=False)
    proxy_endpoint: str
    expires_at: Any = None

    @property
    def host(self) -> str:
        return registry_host(self.proxy_endpoint)

    def docker_auth(self, host: str | None = None) -> dict[str, str]:
        """The dict docker-py's push(auth_config=...) and X-Registry-Config expect."""
        return {"username": self.username, "password": self.password, "serveraddress": host or self.host}


def validate_repository_name(name: str) -> str:
    """Raises: UsageError naming the repository and ECR's naming rule."""
    if not REPOSITORY_NAME.fullmatch(name or ""):
        raise UsageError(f"{name!r} is not a valid ECR repository name: {REPOSITORY_RULE}",
                         "pass --repository with a name such as my-model or team/my-model "
                         "(or set [aws] ecr_repository in smctl.toml)")
    return name


def validate_tag(tag: str) -> str:
    """Raises: UsageError naming the tag and Docker's tag rule."""
    if not TAG.fullmatch(tag or ""):
        raise UsageError(f"{tag!r} is not a valid image tag: up to 128 letters, digits, '_', '.', '-', not "
                         "starting with '.' or '-'", "pass --tag with a tag such as v1 or 2024-06-01")
    return tag


def parse_registry(host: str) -> Registry | None:
    """The ECR registry named by a host (a scheme is ignored), or None when the host is not ECR."""
    bare = registry_host(host)
    m = REGISTRY_HOST.fullmatch(bare)
    return Registry(bare, m["account"], m["region"]) if m else None


def ecr_registry_of_image(image: str) -> Registry | None:
    """The ECR registry an image reference lives in (e.g. an AWS Deep Learning Container base), or None."""
    if not ECR_IMAGE.match(image):
        return None
    return parse_registry(image.split("/", 1)[0])


def parse_image_uri(uri: str) -> ImageUri:
    """`[REGISTRY/]REPOSITORY[:TAG][@DIGEST]` split the way Docker does (a registry has a '.' or ':' or is localhost).

    Raises: UsageError when nothing is left for the repository.
    """
    rest, _, digest = uri.partition("@")
    first, slash, remainder = rest.partition("/")
    registry = None
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    repository, tag = rest, None
    if ":" in rest.rsplit("/", 1)[-1]:
        repository, tag = rest.rsplit(":", 1)
    if not repository:
        raise UsageError(f"{uri!r} is not an image reference", "write it as [REGISTRY/]REPOSITORY[:TAG]")
    return ImageUri(registry, repository, tag or None, digest or None)


def registry_host(endpoint: str) -> str:
    """'https://123.dkr.ecr.us-east-1.amazonaws.com/' -> '123.dkr.ecr.us-east-1.amazonaws.com'."""
    return re.sub(r"^[a-z]+://", "", endpoint.strip()).split("/", 1)[0]


def decode_token(token: str, proxy_endpoint: str, expires_at: Any = None) -> RegistryAuth:
    """An ECR authorizationToken (base64 of 'AWS:password') as a RegistryAuth.

    Raises: AwsError when the token is not what ECR sends.
    """
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        sep, user, password = "", "", ""
    if not sep or not user:
        raise AwsError(f"the ECR authorization token for {registry_host(proxy_endpoint)} is not base64 user:password",
                       "check AWS_ENDPOINT_URL / the ECR endpoint you use; rerun with -v")
    # ECR tokens last 12 hours; the date is deliberately not checked (stand-ins such as moto answer old dates).
    return RegistryAuth(user, password, proxy_endpoint, expires_at)


def missing_permission(operation: str, message: str) -> str:
    """The IAM action an AccessDenied is about: named in the message when AWS says it, else the operation's."""
    m = re.search(r"perform:\s*([a-z0-9-]+:[A-Za-z0-9]+)", message)
    return m[1] if m else PERMISSIONS.get(operation, f"ecr:{operation}")


# ---- boto3 ------------------------------------------------------------------------------------------------------

def session(region: str | None = None, profile: str | None = None) -> Any:
    """smctl.aws.session's session, checked up front: a region and credentials exist.

    Raises: AwsError naming what is missing (profile, region, credentials), with the fix.
    """
    from smctl.aws import session as aws

    sess = aws.session(region, profile)
    if not sess.region_name:
        raise AwsError("no AWS region is configured", f"{aws.REGION_HINT}, or set [aws] region in smctl.toml")
    with aws.aws_errors("loading AWS credentials"):
        credentials = sess.get_credentials()
    if credentials is None:
        raise AwsError("no AWS credentials were found (environment, ~/.aws, SSO or instance role)",
                       f"{aws.CREDENTIALS_HINT}; or pass --profile")
    return sess


def client(sess: Any) -> Any:
    return sess.client("ecr")


def ensure_repository(ecr: Any, name: str, *, immutable_tags: bool = False) -> Repository:
    """The repository, created (scan on push; IMMUTABLE tags when asked) when it does not exist.

    Raises: AwsError, naming the missing IAM permission on AccessDenied.
    """
    try:
        found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        created = False
    except ecr.exceptions.RepositoryNotFoundException:
        found, created = None, True
    except Exception as exc:  # noqa: BLE001 - every botocore failure is mapped in one place
        raise aws_error(exc, "DescribeRepositories", f"ECR repository {name}") from None
    if found is None:
        try:
            found = ecr.create_repository(
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
                imageTagMutability="IMMUTABLE" if immutable_tags else "MUTABLE",
            )["repository"]
        except ecr.exceptions.RepositoryAlreadyExistsException:  # created meanwhile by someone else
            found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
            created = False
        except Exception as exc:  # noqa: BLE001
            raise aws_error(exc, "CreateRepository", f"ECR repository {name}") from None
    return Repository(
        name=found["repositoryName"], uri=found["repositoryUri"], registry_id=found["registryId"],
        created=created, scan_on_push=bool(found.get("imageScanningConfiguration", {}).get("scanOnPush")),
        tag_mutability=found.get("imageTagMutability", "MUTABLE"),
    )


def authorization(ecr: Any, registry_id: str | None = None) -> RegistryAuth:
    """A fresh registry login from ecr:GetAuthorizationToken (for another account's registry with registry_id).

    Raises: AwsError, naming the missing IAM permission on AccessDenied.
    """
    kwargs = {"registryIds": [registry_id]} if registry_id else {}
    what = f"the ECR registry of account {registry_id}" if registry_id else "your ECR registry"
    try:
        data = ecr.get_authorization_token(**kwargs)["authorizationData"][0]
    except Exception as exc:  # noqa: BLE001
        raise aws_error(exc, "GetAuthorizationToken", what) from None
    return decode_token(data["authorizationToken"], data["proxyEndpoint"], data.get("expiresAt"))


def login_registry(registry: Registry, profile: str | None = None) -> RegistryAuth:
    """A login to an ECR registry (an AWS-owned base-image registry) in its own region, with the user's credentials.

    Raises: AwsError.
    """
    sess = session(registry.region, profile)
    auth = authorization(client(sess), registry.account)
    return RegistryAuth(auth.username, auth.password, f"https://{registry.host}", auth.expires_at)


def aws_error(exc: BaseException, operation: str, what: str) -> Exception:
    """A botocore failure as an AwsError that names the object and the fix; anything else is returned unchanged."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code", "")), str(err.get("Message", ""))
        if code in ("AccessDeniedException", "AccessDenied"):
            permission = missing_permission(operation, message)
            return AwsError(f"access denied to {what}: your AWS identity lacks {permission}",
                            f"add {permission} to your IAM policy (or use a --profile that has it)",
                            details={"permission": permission, "aws_message": message})
        if code in ("UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
                    "InvalidClientTokenId"):
            return AwsError(f"AWS rejected your credentials for {what}: {message or code}",
                            "refresh them: `aws sso login`, `aws configure`, or another --profile")
        return AwsError(f"{operation} failed for {what}: {code}: {message}",
                        "check the region (--region) and the repository name")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return AwsError("no AWS credentials were found", "run `aws configure` or `aws sso login`, or pass --profile")
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return AwsError(f"cannot reach the ECR API for {what}: {exc}",
                        "check the network, the region (--region) and AWS_ENDPOINT_URL if set")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return AwsError(f"{operation} failed for {what}: {exc}", "rerun with -v for details")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
