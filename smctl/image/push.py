"""`smctl push`: ensure the ECR repository, log in (in memory), push, and prove the registry holds one
linux/amd64 image manifest, as SageMaker needs.

The local image keeps its HOST/REPOSITORY:TAG tag afterwards, as `docker push` leaves it: a later push of
the same image is then a no-op for the engine, and `docker images` shows what was pushed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from smctl.aws import ecr
from smctl.errors import AwsError, WrongPlatformError
from smctl.events import OnEvent

SAGEMAKER_PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class PushRequest:
    image: str  # the local image
    repository: str  # the ECR repository name
    tag: str
    region: str | None = None
    profile: str | None = None
    registry: str | None = None  # push there instead of the token's proxyEndpoint host
    no_ecr: bool = False  # with a non-ECR registry: never call ECR, even when AWS is set up
    immutable_tags: bool = False
    login_config: bool = False  # also store the login in the docker CLI's config.json


@dataclass(frozen=True)
class PushResult:
    image_uri: str  # HOST/REPOSITORY:TAG
    digest: str
    digest_uri: str  # HOST/REPOSITORY@DIGEST: what SageMaker should be given
    registry: str
    repository: str
    repository_created: bool
    scan_on_push: bool
    tag_mutability: str
    media_type: str
    platform: str
    layers_pushed: int | None  # None: the engine did not say (Podman)
    layers_existing: int | None
    auth_retried: bool
    seconds: float
    login_config: str | None = None
    ecr_uri: str | None = None  # ECR's REPOSITORY_URI:TAG (a --registry mirror too): what a SageMaker job names

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": round(self.seconds, 2)}

    @property
    def layers_text(self) -> str:
        if self.layers_pushed is None:
            return "the engine does not report its layers"
        return f"{self.layers_pushed} layer(s) uploaded, {self.layers_existing} already there"


def _ecr_session(req: PushRequest, on_event: OnEvent) -> Any:
    """The ECR session, or None for a plain push: --registry names a registry that is not ECR and either
    --no-ecr was given or no AWS credentials/region are set up (pushing to any registry needs no AWS)."""
    plain_allowed = req.registry is not None and ecr.parse_registry(req.registry) is None
    if plain_allowed and req.no_ecr:
        return None
    try:
        return ecr.session(req.region, req.profile)
    except AwsError as err:
        if not plain_allowed:
            raise
        on_event("warning", {"message": f"{err.message}: pushing to {req.registry} with your docker login only "
                             "(no ECR repository, no ECR token)"})
        return None


def _push_plain(req: PushRequest, on_event: OnEvent, started: float) -> PushResult:
    """Push to a registry that is not ECR with the engine's own credentials (`docker login`), then verify."""
    from smctl.engine.client import engine
    from smctl.engine.images import inspect_image, tag_image, untag_image
    from smctl.engine.push import push_reference
    from smctl.image import registry

    assert req.registry is not None
    host = req.registry
    target = f"{host}/{req.repository}"
    client = engine()
    try:
        info = inspect_image(client, req.image)
        _require_sagemaker_platform(req.image, info.platform)
        tag_was_there = f"{target}:{req.tag}" in info.tags
        tag_image(client, info.id, f"{target}:{req.tag}")
        on_event("pushing", {"image": f"{target}:{req.tag}", "registry": host})
        try:
            pushed = push_reference(client, target, req.tag, host, None, on_event)
        except BaseException:
            if not tag_was_there:
                untag_image(client, f"{target}:{req.tag}")
            raise
        try:
            manifest = registry.read_manifest(host, req.repository, req.tag)
            registry.check_single_image(manifest, f"{target}:{req.tag}")
            media_type = manifest.media_type
        except registry.RegistryReadError as err:  # a registry that wants a token to read: the push itself worked
            on_event("warning", {"message": f"pushed, but could not read the manifest back: {err.message}"})
            media_type = "unknown"
    finally:
        client.close()
    return PushResult(
        image_uri=f"{target}:{req.tag}", digest=pushed.digest, digest_uri=f"{target}@{pushed.digest}",
        registry=host, repository=req.repository, repository_created=False, scan_on_push=False,
        tag_mutability="", media_type=media_type, platform=info.platform, layers_pushed=pushed.layers_pushed,
        layers_existing=pushed.layers_existing, auth_retried=False, seconds=time.monotonic() - started,
    )


def _require_sagemaker_platform(image: str, platform: str | None) -> None:
    """Raises: WrongPlatformError for an image SageMaker would not run."""
    if platform != SAGEMAKER_PLATFORM:
        raise WrongPlatformError(f"image {image} is {platform or 'of unknown platform'}; SageMaker runs "
                                 f"{SAGEMAKER_PLATFORM} only", "rebuild it with `smctl build` (--platform linux/amd64, "
                                 "the default), then push again")


def check_request(req: PushRequest) -> None:
    """Raises: UsageError naming the repository name or tag and the rule it breaks."""
    ecr.validate_repository_name(req.repository)
    ecr.validate_tag(req.tag)


def push_image(req: PushRequest, on_event: OnEvent) -> PushResult:
    """Push the local image to ECR (or --registry) and verify what the registry holds.

    Raises: UsageError, AwsError, ImageNotFoundError, WrongPlatformError, PushFailedError, RegistryReadError,
    NotSingleImageError, DockerError.
    """
    from smctl.engine.client import engine
    from smctl.engine.images import inspect_image, tag_image, untag_image
    from smctl.engine.login import save_login
    from smctl.engine.push import push_reference
    from smctl.errors import PushFailedError
    from smctl.image import registry

    check_request(req)
    started = time.monotonic()
    sess = _ecr_session(req, on_event)  # region and credentials are checked before anything else
    if sess is None:
        return _push_plain(req, on_event, started)
    client = engine()
    try:
        info = inspect_image(client, req.image)
        _require_sagemaker_platform(req.image, info.platform)
        api = ecr.client(sess)
        repo = ecr.ensure_repository(api, req.repository, immutable_tags=req.immutable_tags)
        on_event("repository", {"name": repo.name, "uri": repo.uri, "created": repo.created})
        if req.immutable_tags and repo.tag_mutability != "IMMUTABLE" and not repo.created:
            on_event("warning", {"message": f"repository {repo.name} already exists with MUTABLE tags; "
                                 "--immutable-tags only applies when smctl creates it"})
        auth = ecr.authorization(api)
        host = req.registry or auth.host
        target = f"{host}/{repo.name}"
        tag_was_there = f"{target}:{req.tag}" in info.tags
        tag_image(client, info.id, f"{target}:{req.tag}")
        on_event("pushing", {"image": f"{target}:{req.tag}", "registry": host})
        retried = False
        try:
            try:
                pushed = push_reference(client, target, req.tag, host, auth.docker_auth(host), on_event)
            except PushFailedError as err:
                if err.reason != "auth":
                    raise
                # ECR tokens last 12 hours; a refused login gets one fresh token and one more try, no more
                on_event("retry", {"message": f"{host} refused the login; retrying once with a new ECR token"})
                auth, retried = ecr.authorization(api), True
                pushed = push_reference(client, target, req.tag, host, auth.docker_auth(host), on_event)
        except BaseException:
            if not tag_was_there:  # a failed push leaves no stray HOST/REPO:TAG behind
                untag_image(client, f"{target}:{req.tag}")
            raise
        manifest = registry.read_manifest(host, repo.name, req.tag, auth.username, auth.password)
        registry.check_single_image(manifest, f"{target}:{req.tag}")
        if manifest.digest != pushed.digest:
            on_event("warning", {"message": f"the registry reports digest {manifest.digest} for {target}:{req.tag}"
                                 f" but the push ended with {pushed.digest}: another push may have raced this one"})
        saved = None
        if req.login_config:
            path = save_login(host, auth.username, auth.password)
            if path is None:
                on_event("warning", {"message": f"a docker credential helper handles {host}: the login was not "
                                     "stored; run `aws ecr get-login-password | docker login --username AWS "
                                     f"--password-stdin {host}`"})
            saved = str(path) if path else None
    finally:
        client.close()
    return PushResult(
        image_uri=f"{target}:{req.tag}", digest=pushed.digest, digest_uri=f"{target}@{pushed.digest}",
        registry=host, repository=repo.name, repository_created=repo.created, scan_on_push=repo.scan_on_push,
        tag_mutability=repo.tag_mutability, media_type=manifest.media_type, platform=info.platform,
        layers_pushed=pushed.layers_pushed, layers_existing=pushed.layers_existing, auth_retried=retried,
        seconds=time.monotonic() - started, login_config=saved, ecr_uri=f"{repo.uri}:{req.tag}",
    )
